"""Putting cameras on a common clock, and checking that offsets help.

:func:`apply_offsets` resamples every camera's keypoints at its frames
``g - offsets[c]`` (the convention of :mod:`mocap3d.synchronization`);
:func:`triangulation_check` measures how well the shifted views triangulate,
so that the synchronization stage can refuse offsets that make things worse.
"""
from __future__ import annotations

import warnings
from itertools import permutations
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .camera import CameraRig
from .keypoints import Keypoints2D

if TYPE_CHECKING:
    from .synchronization import SyncOptions


# --------------------------------------------------------------------------- applying offsets
def match_slots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Permutation (F, P) of b's person slots that best matches a's (mean 2D distance), per frame."""
    F, P = a.shape[:2]
    if P == 1:
        return np.zeros((F, 1), int)
    perms = np.array(list(permutations(range(P)))) if P <= 4 else None
    if perms is None:  # many persons: keep slots as they are
        return np.broadcast_to(np.arange(P), (F, P)).copy()
    d = np.linalg.norm(a[:, :, None, :, :2] - b[:, None, :, :, :2], axis=-1)  # (F, P, P, K)
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nan_to_num(np.nanmean(d, -1), nan=1e6)  # (F, P, P)
    cost = m[:, np.arange(P)[None, :], perms].sum(-1)  # (F, n_perms)
    return perms[np.argmin(cost, axis=1)]


def resample_camera(data: np.ndarray, shift: float, subframe: bool = True,
                    pairs: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """Camera data (F, P, K, 3) resampled at its frames ``n - shift`` (see module docstring).

    Extra channels after x, y, likelihood (e.g. a detector's 3D) are resampled alike.

    Fractional shifts interpolate matched person slots linearly; where a keypoint
    is missing at one of the two neighbouring frames, the nearer frame's value
    is used if it exists (so the first and last recorded frames are kept).
    Outside the recording: NaN. With left/right keypoint ``pairs``, a pair
    whose sides are exchanged between the two neighbouring frames (a detector
    swap starting or ending there) is not blended: the nearer frame is used.
    """
    if not subframe:
        shift = float(np.round(shift))
    F = data.shape[0]
    pos = np.arange(F) - shift
    i0 = np.floor(pos + 1e-9).astype(int)
    a = pos - i0
    in0 = (i0 >= 0) & (i0 < F)
    p0 = np.where(in0[:, None, None, None], data[np.clip(i0, 0, F - 1)], np.nan)
    if np.all(np.abs(a) < 1e-6):
        return p0
    in1 = (i0 + 1 >= 0) & (i0 + 1 < F)
    p1 = np.where(in1[:, None, None, None], data[np.clip(i0 + 1, 0, F - 1)], np.nan)
    perm = match_slots(p0, p1)
    p1 = np.take_along_axis(p1, perm[:, :, None, None], axis=1)
    w = a[:, None, None, None]
    both = (1 - w) * p0 + w * p1
    if len(pairs):
        li, ri = np.array(pairs).T
        d = lambda a, b: np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)  # noqa: E731
        crossed = d(p0[:, :, li], p1[:, :, ri]) + d(p0[:, :, ri], p1[:, :, li]) < \
            d(p0[:, :, li], p1[:, :, li]) + d(p0[:, :, ri], p1[:, :, ri])  # (F, P, n)
        flag = np.zeros(both.shape[:3], bool)
        flag[:, :, li] |= crossed
        flag[:, :, ri] |= crossed
        both[flag] = np.nan  # fall back to the nearer frame below
    f0 = np.isfinite(p0).all(-1, keepdims=True) & (w <= 0.5 + 1e-9)
    f1 = np.isfinite(p1).all(-1, keepdims=True) & (w >= 0.5 - 1e-9)
    nearest = np.where(f0, p0, np.where(f1, p1, np.nan))
    ok = np.isfinite(both).all(-1, keepdims=True)
    return np.where(ok, both, nearest)


def apply_offsets(kp: Keypoints2D, offsets: np.ndarray, subframe: bool = True) -> Keypoints2D:
    """Keypoints on the common clock: frame g of camera c = its frame ``g - offsets[c]``.

    The output frames span every frame any camera recorded once shifted.
    """
    offsets = np.asarray(offsets, float)
    first, last = int(kp.frames[0]), int(kp.frames[-1])
    lo = int(np.floor(first + offsets.min()))
    hi = int(np.ceil(last + offsets.max()))
    frames = np.arange(lo, hi + 1)
    C, _, P, K, _ = kp.data.shape
    from .triangulation.swaps import lr_pairs
    pairs = lr_pairs(kp.keypoints)
    # the detector's 3D (kp.data3d) rides along as channels 3-6, resampled with the same weights and choices
    values = kp.data if kp.data3d is None else np.concatenate([kp.data, kp.data3d], axis=-1)
    n = values.shape[-1]
    # place every camera on a dense frame grid first (input frames may have holes)
    dense = np.full((C, last - first + 1, P, K, n), np.nan)
    dense[:, kp.frames - first] = values
    pad_before = first - lo
    out = np.full((C, len(frames), P, K, n), np.nan)
    for c in range(C):
        grid = np.full((len(frames), P, K, n), np.nan)
        grid[pad_before: pad_before + dense.shape[1]] = dense[c]
        out[c] = resample_camera(grid, offsets[c], subframe, pairs)
    return Keypoints2D(out[..., :3], list(kp.cameras), list(kp.keypoints), frames, kp.rate, np.zeros(C),
                       None if kp.data3d is None else out[..., 3:])


# --------------------------------------------------------------------------- guard against wrong offsets
def triangulation_check(rig: CameraRig, kp: Keypoints2D, offsets: np.ndarray, opts: SyncOptions,
                        cap_px: float = 50.0) -> dict[str, Any]:
    """How well the cameras triangulate the person of interest once shifted by ``offsets`` (frames, (C,)).

    The keypoints are put on the common clock (:func:`apply_offsets`), kept on
    the frames every camera recorded, the person of interest is associated
    across views (single person) and triangulated
    robustly as the triangulation stage does. Returns ``observed_px``: the
    mean reprojection error (px) of every observation against the triangulated
    points, used or excluded by the triangulation's outlier rejection, each
    capped at ``cap_px`` (the criterion: a camera put out of time has its
    observations excluded, which lowers the error of the cameras used but not
    this one); ``per_camera_px``: the same per camera (NaN when it observes
    none); ``mean_px``: the triangulation's own mean error (cameras used);
    ``points``: how many (frame, keypoint) points were triangulated.
    """
    from .association import AssociationOptions, associate_arrays
    from .triangulation.core import triangulate_points
    from .triangulation.swaps import swap_groups
    offsets = np.asarray(offsets, float)
    shift = offsets - offsets.min()
    synced = apply_offsets(kp, shift, bool(opts.subframe_interpolation))
    # only the frames every camera recorded: offsets that shift a camera's wrong detections out of the
    # others' time range must not look better for it
    both = (synced.frames >= kp.frames[0] + np.ceil(shift.max())) & (synced.frames <= kp.frames[-1])
    synced = Keypoints2D(synced.data[:, both], synced.cameras, synced.keypoints, synced.frames[both], synced.rate,
                         np.zeros(kp.n_cameras))
    assoc, rep = associate_arrays(rig, synced.data, list(kp.keypoints), kp.rate, AssociationOptions(
        multi_person=False, likelihood_threshold_association=opts.likelihood_threshold_synchronization))
    nan = float("nan")
    if not rep["persons"]:
        return {"mean_px": nan, "points": 0, "per_camera_px": [nan] * len(rig)}
    d = assoc[:, :, 0]
    res = triangulate_points(rig, d[..., :2], d[..., 2], likelihood_threshold=opts.likelihood_threshold_synchronization,
                             swap_groups=swap_groups(kp.keypoints))
    ok = np.isfinite(res.points).all(-1)
    err = np.where(res.observed, np.minimum(res.cam_error_px, cap_px), np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_cam = np.nanmean(err.reshape(len(rig), -1), axis=1)
    seen = np.isfinite(err)
    return {"mean_px": float(res.error_px[ok].mean()) if ok.any() else nan, "points": int(ok.sum()),
            "observed_px": float(err[seen].mean()) if seen.any() else nan,
            "per_camera_px": [float(v) for v in per_cam]}


def offsets_are_worse(found: Mapping[str, Any], none: Mapping[str, Any]) -> bool:
    """True when the offsets triangulate worse than no offsets (:func:`triangulation_check`): a higher
    mean reprojection error of the observations (or no point at all where the unshifted data gives some)."""
    if not found["points"]:
        return bool(none["points"])
    return bool(none["points"]) and found["observed_px"] > none["observed_px"]
