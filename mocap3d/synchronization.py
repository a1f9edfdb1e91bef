"""Time offsets between unsynchronized cameras, from the people they film.

Convention (that of :class:`~mocap3d.keypoints.Keypoints2D`): camera ``c``'s
frame ``n`` happens at common time ``n + offsets[c]`` frames. The core
functions return offsets relative to a reference camera (the one with the
most detections); :func:`synchronize` and the stage shell shift them so that
the camera that started first has offset 0 (all offsets >= 0).

Two methods, each giving an offset (frames, sub-frame) and a confidence per camera:

* ``motion`` (Pose2Sim's idea, no calibration needed): the summed vertical
  image speed of ``keypoints_to_consider`` (likelihood >=
  ``likelihood_threshold_synchronization``, Butterworth ``filter_cutoff`` Hz,
  ``filter_order``) is cross-correlated with the reference camera's (Pearson r
  per lag, optionally only around ``approx_time_maxspeed`` +-
  ``time_range_around_maxspeed`` s); the best lag is refined to sub-frame by a
  parabola through the peak. Confidence = peak correlation. Needs clear
  motion and several seconds.
* ``calibration``: with calibrated cameras, the right offset is the one for
  which the views agree geometrically. For every candidate integer lag the
  Sampson (epipolar) distances between the reference camera and camera c are
  averaged over keypoints and overlapping frames (the best-matching person
  pair per frame, so bystanders do not matter); then, on the person of
  interest only (the data shifted by those lags is associated across views),
  each camera's offset is refined on a 0.1-frame grid by triangulation
  consistency: the other cameras triangulate the person, and camera c's
  (low-passed) 2D tracks, linearly interpolated at the candidate fractional
  frames, are compared with the reprojections (epipolar distances with two
  cameras); a parabola through the grid minimum gives the sub-frame value. Confidence = 1 - best cost /
  median cost over lags. Works on clips of 1-2 seconds.

The stage shell writes ``pose-sync/``: OpenPose JSON on the common clock
(frame g of camera c = its 2D keypoints at its own frame ``g - offsets[c]``,
linearly interpolated between its two neighbouring frames when the offset is
fractional; where one neighbour is missing, or a left/right pair is
exchanged between the two neighbours, the nearer frame's value), and
``synchronization_report.json`` with the offsets and confidences.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .camera import CameraRig
from .config import options_from_section
from .errors import ConfigError, FileFormatError, Mocap3dError
from .filtering.iir import butter, filtfilt
from .keypoints import Keypoints2D, require_detections
from .logs import get_logger, write_report
from .sync_offsets import (apply_offsets, match_slots, offsets_are_worse, resample_camera,  # noqa: F401
                           triangulation_check)
from .triangulation.swaps import essential_matrices, sampson_px

log = get_logger("synchronization")
METHODS = ("auto", "motion", "calibration")


@dataclass
class SyncOptions:
    """[synchronization] settings (Pose2Sim's keys plus ours)."""

    keypoints_to_consider: Any = "all"
    approx_time_maxspeed: Any = "auto"
    time_range_around_maxspeed: float = 2.0
    likelihood_threshold_synchronization: float = 0.4
    filter_cutoff: float = 6.0
    filter_order: int = 4
    synchronization_method: str = "auto"
    sync_person: Any = "auto"
    subframe_interpolation: bool = True
    fallback_if_worse: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SyncOptions":
        o = options_from_section(cls, config.get("synchronization"))
        if o.synchronization_method not in METHODS:
            raise ConfigError(f"synchronization.synchronization_method = {o.synchronization_method!r}; "
                              f"use one of {', '.join(METHODS)}")
        if not (isinstance(o.sync_person, int) and o.sync_person >= 0) and o.sync_person != "auto":
            raise ConfigError(f"synchronization.sync_person = {o.sync_person!r}; use 'auto' or a person index >= 0")
        if not o.time_range_around_maxspeed > 0:
            raise ConfigError("synchronization.time_range_around_maxspeed must be > 0 (seconds)")
        return o


@dataclass
class SyncResult:
    """Offsets (C,) in frames (reference camera 0), confidences (C,) in [0, 1], method, reference index."""

    offsets: np.ndarray
    confidence: np.ndarray
    method: str
    reference: int
    costs: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def max_lag(n_frames: int, rate: float, seconds: float) -> int:
    """Largest lag searched (frames): ``seconds`` but leaving a third of the clip overlapping."""
    return int(max(1, min(round(seconds * rate), n_frames - max(10, n_frames // 3))))


def parabolic_peak(y_minus: np.ndarray, y0: np.ndarray, y_plus: np.ndarray) -> np.ndarray:
    """Sub-sample offset in [-0.5, 0.5] of the extremum of the parabola through three samples."""
    den = y_minus - 2 * y0 + y_plus
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(np.abs(den) > 1e-15, 0.5 * (y_minus - y_plus) / den, 0.0)
    return np.clip(np.nan_to_num(d), -0.5, 0.5)


def select_person(data: np.ndarray, person: Any, threshold: float) -> np.ndarray:
    """(C, F, K, 3): per camera and frame, slot ``person`` or ('auto') the largest confident detection."""
    if person != "auto":
        if person >= data.shape[2]:
            raise ConfigError(f"synchronization.sync_person = {person} but the JSON files hold at most "
                              f"{data.shape[2]} person(s)")
        return data[:, :, person]
    ok = (np.nan_to_num(data[..., 2]) >= threshold)[..., None] & np.isfinite(data[..., :2])
    xy = np.where(ok, data[..., :2], np.nan)
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ext = np.nanmax(xy, axis=3) - np.nanmin(xy, axis=3)  # (C, F, P, 2)
            size = np.nan_to_num(np.hypot(ext[..., 0], ext[..., 1])) * np.nan_to_num(np.nanmean(
                np.where(ok[..., 0], data[..., 2], np.nan), axis=3))
    best = np.argmax(size, axis=2)  # (C, F)
    return np.take_along_axis(data, best[:, :, None, None, None], axis=2)[:, :, 0]


def keypoint_indices(names: Sequence[str], which: Any) -> list[int]:
    if which in ("all", None):
        return [i for i, n in enumerate(names) if n]
    which = [which] if isinstance(which, str) else list(which)
    missing = [w for w in which if w not in names]
    if missing:
        raise ConfigError(f"synchronization.keypoints_to_consider: {missing} not in the skeleton "
                          f"({', '.join(n for n in names if n)})")
    return [list(names).index(w) for w in which]


# --------------------------------------------------------------------------- motion method
def vertical_speed(person: np.ndarray, kps: list[int], threshold: float, rate: float, cutoff: float,
                   order: int) -> np.ndarray:
    """Summed vertical image speed (C, F) px/frame of the chosen keypoints, low-pass filtered."""
    y = np.where(np.nan_to_num(person[..., kps, 2]) >= threshold, person[..., kps, 1], np.nan)  # (C, F, k)
    C, F, k = y.shape
    t = np.arange(F)
    yf = np.full_like(y, np.nan)
    b, a = butter(order, min(cutoff / (rate / 2), 0.99)) if cutoff and cutoff > 0 else (None, None)
    cols, series = [], []
    for c in range(C):
        for j in range(k):
            ok = np.isfinite(y[c, :, j])
            if ok.sum() >= max(3 * order + 2, 10):
                cols.append((c, j, ok))
                series.append(np.interp(t, t[ok], y[c, ok, j]))
    if cols:
        filled = np.column_stack(series)                            # (F, columns), filtered in one call
        if b is not None and F > 3 * max(len(a), len(b)):
            filled = filtfilt(b, a, filled, axis=0)
        for (c, j, ok), s in zip(cols, filled.T):
            s = s.copy()
            s[: np.argmax(ok)] = np.nan
            s[F - np.argmax(ok[::-1]):] = np.nan
            yf[c, :, j] = s
    speed = np.diff(yf, axis=1, prepend=np.nan)
    with np.errstate(invalid="ignore"):
        out = np.nansum(speed, axis=2)
    out[~np.isfinite(speed).any(axis=2)] = np.nan
    return out


def lagged_correlation(ref: np.ndarray, sig: np.ndarray, lags: np.ndarray, min_overlap: int) -> np.ndarray:
    """Pearson r between ref[n] and sig[n - lag] for every lag (NaN if overlap too short)."""
    F = ref.shape[0]
    r = np.full(lags.shape, np.nan)
    for i, L in enumerate(lags):
        a = ref[max(L, 0): F + min(L, 0)]
        b = sig[max(-L, 0): F - max(L, 0)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < min_overlap:
            continue
        a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        r[i] = (a * b).sum() / den if den > 0 else np.nan
    return r


def sync_by_motion(data: np.ndarray, names: Sequence[str], rate: float, opts: SyncOptions) -> SyncResult:
    """Offsets by cross-correlating vertical keypoint speeds (see module docstring)."""
    C, F = data.shape[:2]
    person = select_person(data, opts.sync_person, opts.likelihood_threshold_synchronization)
    kps = keypoint_indices(names, opts.keypoints_to_consider)
    speed = vertical_speed(person, kps, opts.likelihood_threshold_synchronization, rate,
                           float(opts.filter_cutoff), int(opts.filter_order))
    if opts.approx_time_maxspeed not in ("auto", None):
        times = list(opts.approx_time_maxspeed)
        if len(times) != C:
            raise ConfigError(f"synchronization.approx_time_maxspeed has {len(times)} times for {C} cameras")
        t = np.arange(F) / rate
        for c, tc in enumerate(times):
            speed[c, np.abs(t - float(tc)) > opts.time_range_around_maxspeed] = np.nan
    ref = int(np.argmax(np.isfinite(speed).sum(1)))
    L = max_lag(F, rate, opts.time_range_around_maxspeed)
    lags = np.arange(-L, L + 1)
    offsets, conf = np.zeros(C), np.ones(C)
    curves = {}
    for c in range(C):
        if c == ref:
            continue
        r = lagged_correlation(speed[ref], speed[c], lags, max(10, F // 4))
        if not np.isfinite(r).any():
            raise Mocap3dError(f"synchronization: camera {c} has too few frames with keypoints above "
                               f"likelihood_threshold_synchronization={opts.likelihood_threshold_synchronization} "
                               "overlapping the reference camera; lower the threshold or use another method")
        i = int(np.nanargmax(r))
        frac = parabolic_peak(r[i - 1], r[i], r[i + 1]) if 0 < i < len(r) - 1 and np.isfinite(r[[i - 1, i + 1]]).all() else 0.0
        offsets[c] = lags[i] + float(frac)
        conf[c] = float(np.clip(r[i], 0, 1))
        curves[c] = r
    return SyncResult(offsets, conf, "motion", ref, {"lags": lags, "correlation": curves})


# --------------------------------------------------------------------------- calibration method
def shift_tracks(person: np.ndarray, shift: float) -> np.ndarray:
    """Tracks (F, ..., 2) resampled at frames ``n - shift`` (linear interpolation, NaN outside)."""
    F = person.shape[0]
    pos = np.arange(F) - shift
    i0 = np.floor(pos).astype(int)
    a = pos - i0
    ok0 = (i0 >= 0) & (i0 < F)
    ok1 = (i0 + 1 >= 0) & (i0 + 1 < F)
    p0 = np.where(ok0.reshape((F,) + (1,) * (person.ndim - 1)), person[np.clip(i0, 0, F - 1)], np.nan)
    if abs(a[0]) < 1e-9:
        return p0
    p1 = np.where(ok1.reshape((F,) + (1,) * (person.ndim - 1)), person[np.clip(i0 + 1, 0, F - 1)], np.nan)
    w = a.reshape((F,) + (1,) * (person.ndim - 1))
    return (1 - w) * p0 + w * p1


def _pair_cost(xa: np.ndarray, xb: np.ndarray, E: np.ndarray, f: float, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the best person pair's mean capped squared Sampson distance, and validity.

    xa: (F, Pa, K, 2), xb: (F, Pb, K, 2) ideal normalized coordinates (NaN missing).
    """
    Fa, Pa, K, _ = xa.shape
    Pb = xb.shape[1]
    A = np.broadcast_to(xa[:, :, None], (Fa, Pa, Pb, K, 2))
    B = np.broadcast_to(xb[:, None], (Fa, Pa, Pb, K, 2))
    d = sampson_px(A[None], B[None], E[None], np.array([f]))[0]  # (F, Pa, Pb, K)
    ok = np.isfinite(d)
    d2 = np.minimum(np.where(ok, d, 0.0), cap) ** 2
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(n >= 3, d2.sum(-1) / np.maximum(n, 1), np.inf)
    best = m.reshape(Fa, -1).min(1)
    return best, np.isfinite(best)


def _lag_cost(xa, xb, E, f, shift, cap, min_overlap) -> float:
    cost, ok = _pair_cost(xa, shift_tracks(xb, shift), E, f, cap)
    return float(cost[ok].mean()) if ok.sum() >= min_overlap else np.nan


def track_slots(data: np.ndarray) -> np.ndarray:
    """One camera's persons (F, P, K, 3) reordered so that each slot follows one person in time."""
    F, P = data.shape[:2]
    if P == 1:
        return data
    out = data.copy()
    last = out[0].copy()
    for f in range(1, F):
        p = match_slots(last[None], data[f][None])[0]
        out[f] = data[f][p]
        seen = np.isfinite(out[f, :, :, 0]).any(-1)
        last[seen] = out[f][seen]
    return out


def smooth_tracks(uv: np.ndarray, rate: float, cutoff: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass of tracks (F, ..., 2) along frames, NaN gaps kept."""
    if not cutoff or cutoff <= 0 or cutoff >= rate / 2:
        return uv
    F = uv.shape[0]
    flat = uv.reshape(F, -1)
    out = np.full_like(flat, np.nan)
    b, a = butter(int(order), cutoff / (rate / 2))
    t = np.arange(F)
    ok = np.isfinite(flat)
    cols = np.flatnonzero(ok.sum(0) > 3 * max(len(a), len(b)))
    if cols.size == 0:
        return uv
    filled = np.empty((F, cols.size))
    for j, col in enumerate(cols):
        filled[:, j] = np.interp(t, t[ok[:, col]], flat[ok[:, col], col])
    out[:, cols] = np.where(ok[:, cols], filtfilt(b, a, filled, axis=0), np.nan)
    return out.reshape(uv.shape)


def _prepared_tracks(rig: CameraRig, data: np.ndarray, rate: float, opts: SyncOptions) -> np.ndarray:
    """Ideal normalized tracks (C, F, P, K, 2): confident keypoints, low-passed, undistorted.

    The low-pass matters: interpolating raw noisy tracks at fractional frames
    averages their noise, which would bias the cost towards half-frame shifts.
    """
    lik = np.nan_to_num(data[..., 2])
    uv = np.where((lik >= opts.likelihood_threshold_synchronization)[..., None], data[..., :2], np.nan)
    uv = np.stack([smooth_tracks(uv[c], rate, float(opts.filter_cutoff), int(opts.filter_order))
                   for c in range(data.shape[0])])
    return rig.undistort_points(uv)


def _reprojection_costs(xy: np.ndarray, c: int, residual: np.ndarray, grid: np.ndarray, ext: np.ndarray,
                        focal: float, cap: float, min_overlap: int) -> np.ndarray:
    """Triangulation consistency of camera c at residual shifts ``residual[c] + grid``.

    The other cameras' tracks (C, F, 1, K, 2), each resampled at its own
    residual, are triangulated; camera c's track is resampled at every
    candidate shift and compared with the reprojections (mean capped squared
    pixel distance over keypoints and frames).
    """
    from .camera import triangulate_normalized
    from .triangulation.core import project_normalized
    C, F = xy.shape[:2]
    others = [d for d in range(C) if d != c]
    obs = np.stack([shift_tracks(xy[d], residual[d]) for d in others])[:, :, 0]  # (C-1, F, K, 2)
    X = triangulate_normalized(obs, ext[others])  # (F, K, 3)
    proj, _ = project_normalized(X.reshape(-1, 3), ext[[c]])
    proj = proj[0].reshape(X.shape[:2] + (2,))
    out = np.full(grid.shape, np.nan)
    for i, g in enumerate(grid):
        mine = shift_tracks(xy[c], residual[c] + g)[:, 0]  # (F, K, 2)
        d = np.linalg.norm(mine - proj, axis=-1) * focal
        ok = np.isfinite(d)
        frames_ok = ok.sum(1) >= 3
        if frames_ok.sum() < min_overlap:
            continue
        out[i] = float((np.minimum(d[ok], cap) ** 2).mean())
    return out


def sync_by_calibration(rig: CameraRig, data: np.ndarray, rate: float, opts: SyncOptions,
                        cap_px: float = 20.0, refine_cap_px: float = 6.0) -> SyncResult:
    """Offsets from the geometric agreement of the views (see module docstring).

    1. Integer lags of every camera against the reference camera (best person
       pair per frame). 2. The data shifted by those lags is associated
       (:func:`mocap3d.association.associate_arrays`, single person) so that the
       sub-frame refinement compares the person of interest only.

    Epipolar distances are capped (``cap_px`` for the lag search,
    ``refine_cap_px`` for the refinement, where a tight cap keeps swapped or
    badly detected keypoints from blurring the minimum).
    """
    C, F, P, K, _ = data.shape
    if opts.sync_person != "auto":
        data = data[:, :, [int(opts.sync_person)]]
    tracked = np.stack([track_slots(data[c]) for c in range(C)]) if data.shape[2] > 1 else data
    xy = _prepared_tracks(rig, tracked, rate, opts)
    ext = rig.extrinsics()
    focal = np.array([c.focal for c in rig])
    counts = np.isfinite(xy[..., 0]).sum((1, 2, 3))
    ref = int(np.argmax(counts))
    L = max_lag(F, rate, opts.time_range_around_maxspeed)
    lags = np.arange(-L, L + 1)
    min_overlap = max(5, F // 4)
    offsets, conf = np.zeros(C), np.ones(C)
    curves: dict[int, np.ndarray] = {}
    at_limit: list[int] = []
    E_all = {(c, d): essential_matrices(ext, np.array([c]), np.array([d]))[0]
             for c in range(C) for d in range(C) if c != d}
    # 1. integer lags against the reference camera
    for c in range(C):
        if c == ref:
            continue
        f = (focal[ref] + focal[c]) / 2
        cost = np.array([_lag_cost(xy[ref], xy[c], E_all[(ref, c)], f, L_, cap_px, min_overlap) for L_ in lags])
        if not np.isfinite(cost).any():
            raise Mocap3dError(f"synchronization: cameras {rig.names[ref]} and {rig.names[c]} never see the same "
                               f"person with likelihood >= {opts.likelihood_threshold_synchronization} over "
                               f"{min_overlap} frames; check the calibration or use synchronization_method='motion'")
        i = int(np.nanargmin(cost))
        offsets[c] = lags[i]
        conf[c] = float(np.clip(1 - cost[i] / np.nanmedian(cost), 0, 1))
        curves[c] = cost
        if abs(lags[i]) == L:
            at_limit.append(c)
    # 2. the person of interest on the integer-aligned clock
    shifted = np.stack([resample_camera(data[c], offsets[c], subframe=False) for c in range(C)])
    if shifted.shape[2] > 1:
        from .association import AssociationOptions, associate_arrays
        assoc, rep = associate_arrays(rig, shifted, [str(k) for k in range(K)], rate, AssociationOptions(
            multi_person=False, likelihood_threshold_association=opts.likelihood_threshold_synchronization))
        shifted = assoc if rep["persons"] else np.stack([track_slots(shifted[c]) for c in range(C)])
    xy = _prepared_tracks(rig, shifted, rate, opts)
    # 3. sub-frame refinement of each camera against all others (sweeps)
    residual = np.zeros(C)
    grid = np.round(np.arange(-0.7, 0.71, 0.1), 6)
    use_3d = C >= 3 and xy.shape[2] == 1
    for _ in range(3 if C > 2 else 1):
        for c in range(C):
            if c == ref:
                continue
            if use_3d:
                costs = _reprojection_costs(xy, c, residual, grid, ext, focal[c], refine_cap_px, min_overlap)
            else:
                costs = np.zeros(grid.shape)
                for d in range(C):
                    if d == c:
                        continue
                    f = (focal[d] + focal[c]) / 2
                    base = residual[c] - residual[d]
                    costs += np.array([_lag_cost(xy[d], xy[c], E_all[(d, c)], f, base + g, refine_cap_px,
                                                 min_overlap) for g in grid])
            if not np.isfinite(costs).any():
                continue
            i = int(np.nanargmin(costs))
            frac = parabolic_peak(costs[i - 1], costs[i], costs[i + 1]) * 0.1 if 0 < i < len(grid) - 1 else 0.0
            residual[c] += grid[i] + float(frac)
    offsets = offsets + residual
    offsets -= offsets[ref]
    if at_limit:
        log.warning("synchronization: the best lag of %s is the largest searched (%d frames, the fewest frames "
                    "overlapping): the views probably never show the same person", ", ".join(rig.names[c] for c in at_limit), L)
    return SyncResult(offsets, conf, "calibration", ref, {"lags": lags, "cost": curves, "at_limit": at_limit})


# --------------------------------------------------------------------------- shell
def synchronize(kp: Keypoints2D, rig: CameraRig | None, opts: SyncOptions) -> SyncResult:
    """Offsets of ``kp``'s cameras with the configured method ('auto' = calibration if a rig is given)."""
    method = opts.synchronization_method
    if method == "auto":
        method = "calibration" if rig is not None else "motion"
    if method == "calibration":
        if rig is None:
            raise Mocap3dError("synchronization_method = 'calibration' needs a calibration file; "
                               "run the calibration stage first or use 'motion'")
        res = sync_by_calibration(rig, kp.data, kp.rate, opts)
    else:
        res = sync_by_motion(kp.data, kp.keypoints, kp.rate, opts)
    # Common clock = that of the camera that started first: every offset >= 0, so frame numbers stay >= 0.
    res.offsets = res.offsets - res.offsets.min()
    return res


def has_extrinsics(rig: CameraRig, min_spread_m: float = 1e-3) -> bool:
    """False when all camera centres coincide (a calibration holding intrinsics only)."""
    centres = np.array([c.position for c in rig])
    return bool(np.ptp(centres, axis=0).max() > min_spread_m)


def load_inputs(trial) -> tuple[Keypoints2D, CameraRig | None, Path | None, SyncOptions]:
    """A trial's 2D keypoints (``pose/``), its calibration (None when not used) and its [synchronization] options."""
    from .io.openpose import read_openpose_folders
    from .triangulation.inputs import frame_rate, load_rig, load_skeleton, rig_for_pose
    config = trial.config
    opts = SyncOptions.from_config(config)
    skeleton = load_skeleton(config)
    rate = frame_rate(config, trial)
    rig, calib = None, None
    if opts.synchronization_method != "motion":
        try:
            rig, calib = load_rig(trial)
            if not has_extrinsics(rig):
                raise Mocap3dError(f"{calib}: every camera sits at the same place (intrinsics only, no extrinsics "
                                   "yet, e.g. before extrinsics_method = 'keypoints')")
        except Mocap3dError as err:
            if opts.synchronization_method == "calibration":
                raise
            rig, calib = None, None
            # a damaged calibration file deserves a warning; no calibration (yet) is an ordinary case
            (log.warning if isinstance(err, FileFormatError) else log.info)(
                "no usable calibration (%s): synchronizing by motion", err)
    if rig is not None:
        rig = rig_for_pose(rig, trial.pose_dir)
    cams = rig.names if rig is not None else None
    kp = read_openpose_folders(trial.pose_dir, cameras=cams, skeleton=skeleton, rate=rate)
    require_detections(kp, trial.pose_dir)
    return kp, rig, calib, opts


def run_synchronization(trial) -> dict[str, Any]:
    """Stage shell: pose/ -> pose-sync/ (OpenPose JSON on the common clock) + synchronization_report.json."""
    from .io.openpose import write_openpose_folders
    kp, rig, calib, opts = load_inputs(trial)
    rate = kp.rate
    res = synchronize(kp, rig, opts)
    check, fell_back, found_offsets = None, False, None
    if rig is not None and opts.fallback_if_worse and np.ptp(res.offsets) > 0:
        check = {"with_offsets": triangulation_check(rig, kp, res.offsets, opts),
                 "without_offsets": triangulation_check(rig, kp, np.zeros(kp.n_cameras), opts)}
        fell_back = offsets_are_worse(check["with_offsets"], check["without_offsets"])
        if fell_back:
            log.warning("synchronization: the offsets found (%s frames) triangulate worse than no offsets "
                        "(mean reprojection error of the observations %.2f px against %.2f px): no offsets applied "
                        "(set fallback_if_worse = false to force them)", ", ".join(f"{o:+.2f}" for o in res.offsets),
                        check["with_offsets"]["observed_px"], check["without_offsets"]["observed_px"])
            found_offsets = res.offsets.tolist()
            res.offsets = np.zeros(kp.n_cameras)
    synced = apply_offsets(kp, res.offsets, bool(opts.subframe_interpolation))
    out_dir = Path(trial.pose_sync_dir)
    write_openpose_folders(synced, out_dir, replace=True)
    low = [kp.cameras[c] for c in range(kp.n_cameras) if res.confidence[c] < 0.3 and c != res.reference]
    report = {"stage": "synchronization", "method": res.method, "input": str(trial.pose_dir),
              "calibration": str(calib) if calib else None, "reference_camera": kp.cameras[res.reference],
              "offsets_frames": dict(zip(kp.cameras, res.offsets.tolist())),
              "offsets_seconds": dict(zip(kp.cameras, (res.offsets / rate).tolist())),
              "confidence": dict(zip(kp.cameras, res.confidence.tolist())),
              "low_confidence_cameras": low,
              "at_search_limit": [kp.cameras[c] for c in res.costs.get("at_limit", [])],
              "triangulation_check": check, "fell_back_to_no_offsets": fell_back,
              "offsets_found_frames": dict(zip(kp.cameras, found_offsets)) if found_offsets else None,
              "convention": "camera frame n happens at common frame n + offset; pose-sync frame g of a camera "
                            "is its frame g - offset, linearly interpolated when fractional (nearer frame if a neighbour is missing)",
              "frames_out": [int(synced.frames[0]), int(synced.frames[-1])],
              "subframe_interpolation": bool(opts.subframe_interpolation),
              "settings": {k: v for k, v in vars(opts).items() if k != "extra"}}
    if low:
        log.warning("low synchronization confidence for %s: check the offsets in the report", ", ".join(low))
    write_report(out_dir, "synchronization", report)
    log.info("offsets (frames): %s", ", ".join(f"{c} {o:+.2f}" for c, o in zip(kp.cameras, res.offsets)))
    return report
