"""One person's 2D keypoints -> cleaned 3D trajectories (pure, no files).

Steps: robust triangulation (:mod:`.core`, with swap correction from
:mod:`.swaps`), temporal refinement (:mod:`.temporal`), gap interpolation,
trimming to the valid section, filling, derived keypoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..camera import CameraRig
from ..config import options_from_section
from ..errors import ConfigError, Mocap3dError
from .core import (REASON_FEW_CAMERAS, REASON_NAMES, REASON_OK, REASON_REPROJECTION, REASON_UNCERTAIN,
                   TriangulationResult, focal_lengths, information_px, triangulate_points)
from .gaps import add_derived, fill_gaps, interpolate_gaps, nan_runs, section_to_keep
from .swaps import swap_groups
from .temporal import noise_sigma_px, refine_points


@dataclass
class TriangulationOptions:
    """The [triangulation] settings (Pose2Sim's keys, plus ours)."""

    reproj_error_threshold_triangulation: float = 15.0
    likelihood_threshold_triangulation: float = 0.3
    min_cameras_for_triangulation: int = 2
    interp_if_gap_smaller_than: int = 20
    interpolation: str = "linear"
    remove_incomplete_frames: bool = False
    sections_to_keep: str = "all"
    min_chunk_size: int = 10
    fill_large_gaps_with: str = "last_value"
    handle_LR_swap: bool = True
    acceleration_prior: float = 20.0
    max_uncertainty_mm_per_px: float = float("inf")
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TriangulationOptions":
        """Options from a full config dict (reads ``config['triangulation']``)."""
        opts = options_from_section(cls, config.get("triangulation"))
        for key in ("reproj_error_threshold_triangulation", "likelihood_threshold_triangulation",
                    "acceleration_prior"):
            val = getattr(opts, key)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val < 0:
                raise ConfigError(f"triangulation.{key} = {val!r}; use a number >= 0")
        for key in ("min_cameras_for_triangulation", "interp_if_gap_smaller_than", "min_chunk_size"):
            val = getattr(opts, key)
            if isinstance(val, bool) or not isinstance(val, int) or val < 0:
                raise ConfigError(f"triangulation.{key} = {val!r}; use an integer >= 0")
        if opts.max_uncertainty_mm_per_px in (None, "none", "inf", 0):
            opts.max_uncertainty_mm_per_px = float("inf")
        return opts


@dataclass
class PersonTriangulation:
    """3D result of one person.

    Attributes:
        points: (F', M, 3) final trajectories in the calibration's world frame,
            metres, over the kept frames (with derived keypoints appended).
        names: M marker names.
        frames: (F',) frame indices kept.
        raw: the robust triangulation over all input frames.
        interpolated: (F', K) keypoint frames filled by interpolation.
        filled: (F', K) keypoint frames filled by ``fill_large_gaps_with``.
        keep: (start, stop) indices of the kept frames in the input.
        report: JSON-ready summary.
    """

    points: np.ndarray
    names: list[str]
    frames: np.ndarray
    raw: TriangulationResult
    interpolated: np.ndarray
    filled: np.ndarray
    keep: tuple[int, int]
    report: dict[str, Any]


def _runs_text(mask: np.ndarray, frames: np.ndarray, limit: int = 8) -> list[str]:
    runs = nan_runs(mask)
    out = [f"{frames[a]}:{frames[b - 1]}" for a, b in runs[:limit]]
    if len(runs) > limit:
        out.append(f"... ({len(runs) - limit} more)")
    return out


def _report(res: TriangulationResult, cams: list[str], names: list[str], frames: np.ndarray,
            keep: tuple[int, int], interp: np.ndarray, filled: np.ndarray, groups) -> dict[str, Any]:
    a, b = keep
    sl = slice(a, b)
    ok = res.reason[sl] == REASON_OK
    used = res.used[:, sl]
    with np.errstate(invalid="ignore"):
        err_px = np.where(used, res.cam_error_px[:, sl], np.nan)
        err_mm = np.where(used, res.cam_error_mm[:, sl], np.nan)
        per_kp_px = np.nanmean(err_px, axis=(0, 1))
        per_kp_mm = np.nanmean(err_mm, axis=(0, 1))
        per_cam_px = np.nanmean(err_px, axis=(1, 2))
        per_cam_mm = np.nanmean(err_mm, axis=(1, 2))
        observed = res.observed[:, sl]
        excl = (observed & ~res.used[:, sl]).sum((1, 2)) / np.maximum(observed.sum((1, 2)), 1)
    dropped = {}
    for code in (REASON_FEW_CAMERAS, REASON_REPROJECTION, REASON_UNCERTAIN):
        m = res.reason[sl] == code
        if m.any():
            dropped[REASON_NAMES[code]] = {
                names[k]: _runs_text(m[:, k], frames[sl]) for k in range(len(names)) if m[:, k].any()}
    return {
        "frames_in": int(len(frames)),
        "frames_kept": [int(frames[a]), int(frames[b - 1])] if b > a else None,
        "n_frames_kept": int(b - a),
        "frames_trimmed": int(len(frames) - (b - a)),
        "points_triangulated_fraction": float(ok.mean()) if ok.size else 0.0,
        "reprojection_error_px": {"mean": float(np.nanmean(err_px)) if np.isfinite(err_px).any() else None,
                                  "per_keypoint": dict(zip(names, per_kp_px)),
                                  "per_camera": dict(zip(cams, per_cam_px))},
        "reprojection_error_mm": {"mean": float(np.nanmean(err_mm)) if np.isfinite(err_mm).any() else None,
                                  "per_keypoint": dict(zip(names, per_kp_mm)),
                                  "per_camera": dict(zip(cams, per_cam_mm))},
        "camera_exclusion_rate": dict(zip(cams, excl)),
        "swaps_corrected": {cam: int(res.swapped[c, sl].any(-1).sum()) for c, cam in enumerate(cams)},
        "swaps_corrected_by_group": {"+".join(names[l][1:] for l, _ in g): int(res.swapped[:, sl, i].sum())
                                     for i, g in enumerate(groups)},
        "frames_interpolated": {names[k]: _runs_text(interp[:, k], frames[sl])
                                for k in range(len(names)) if interp[:, k].any()},
        "frames_filled_not_interpolated": {names[k]: _runs_text(filled[:, k], frames[sl])
                                           for k in range(len(names)) if filled[:, k].any()},
        "points_dropped": dropped,
    }


def explain_failure(res: TriangulationResult, cams: list[str], names: list[str], frames: np.ndarray,
                    opts: TriangulationOptions, person: str = "the person", valid: np.ndarray | None = None) -> str:
    """A one-line message saying which cameras, keypoints, frames and thresholds dropped everything.

    ``valid`` (F,): frames with triangulated points; when some are, the cause is
    that no run of them is ``min_chunk_size`` long.
    """
    rng = f"{frames[0]}-{frames[-1]}" if len(frames) else "none"
    if valid is not None and valid.any():
        edges = np.diff(np.r_[0, valid.astype(int), 0])
        longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
        return (f"Cannot triangulate {person} in frames {rng}: {int(valid.sum())} of {len(valid)} frame(s) are "
                f"triangulated but the longest run has {longest} frame(s), fewer than min_chunk_size="
                f"{opts.min_chunk_size}. Fix: give more frames, or lower triangulation.min_chunk_size (e.g. "
                f"--set triangulation.min_chunk_size={max(1, longest)})")
    obs = res.observed.mean((1, 2))
    worst_cams = ", ".join(f"{c} ({100 * o:.0f}% detected)" for c, o in sorted(zip(cams, obs), key=lambda x: x[1]))
    codes, counts = np.unique(res.reason, return_counts=True)
    main = int(codes[np.argmax(counts)]) if codes.size else REASON_FEW_CAMERAS
    kp_fail = (res.reason != REASON_OK).mean(0)
    worst_kp = ", ".join(names[k] for k in np.argsort(-kp_fail)[:5])
    if main == REASON_FEW_CAMERAS:
        why = (f"too few cameras see it with likelihood >= likelihood_threshold_triangulation="
               f"{opts.likelihood_threshold_triangulation} (min_cameras_for_triangulation="
               f"{opts.min_cameras_for_triangulation})")
        fix = "lower likelihood_threshold_triangulation, check pose estimation or the person association"
    elif main == REASON_REPROJECTION:
        why = (f"the reprojection error stays above reproj_error_threshold_triangulation="
               f"{opts.reproj_error_threshold_triangulation} px")
        fix = "check the calibration and the camera order, or raise reproj_error_threshold_triangulation"
    else:
        why = f"the camera geometry is too weak (max_uncertainty_mm_per_px={opts.max_uncertainty_mm_per_px})"
        fix = "raise max_uncertainty_mm_per_px"
    return (f"Cannot triangulate {person} in frames {rng}: {why}; no run of min_chunk_size={opts.min_chunk_size} "
            f"valid frames. Cameras: {worst_cams}. Keypoints most affected: {worst_kp}. Fix: {fix}")


def triangulate_person(rig: CameraRig, data: np.ndarray, names: list[str], frames: np.ndarray, rate: float,
                       opts: TriangulationOptions, derived: Mapping[str, tuple[str, ...]] | None = None,
                       person: str = "the person") -> PersonTriangulation:
    """Triangulate and clean one person.

    Args:
        rig: cameras in the order of ``data``.
        data: (C, F, K, 3) x px, y px, likelihood; NaN = missing.
        names: K keypoint names (empty names are ignored in the output).
        frames: (F,) frame indices; rate: Hz.
        opts: settings; derived: ``{name: sources}`` keypoints to add (Skeleton.derived).

    Raises:
        Mocap3dError: no section of ``min_chunk_size`` valid frames (message names
        the cameras, keypoints, frames and thresholds responsible).
    """
    groups = swap_groups(names) if opts.handle_LR_swap else []
    res = triangulate_points(rig, data[..., :2], data[..., 2],
                             likelihood_threshold=opts.likelihood_threshold_triangulation,
                             reproj_threshold_px=opts.reproj_error_threshold_triangulation,
                             min_cameras=opts.min_cameras_for_triangulation, swap_groups=groups,
                             handle_swaps=opts.handle_LR_swap, max_uncertainty=opts.max_uncertainty_mm_per_px)
    C, F, K = res.used.shape
    pts = res.points
    if opts.acceleration_prior > 0 and F >= 3:
        sigma = noise_sigma_px(res.cam_error_px, res.used)
        info = information_px(np.nan_to_num(pts.reshape(-1, 3)), res.used.reshape(C, -1), rig.extrinsics(),
                              focal_lengths(rig)).reshape(F, K, 3, 3)
        pts = refine_points(pts, info, sigma, rate, float(opts.acceleration_prior))
    real = [k for k, n in enumerate(names) if n]
    ok = np.isfinite(pts[:, real]).all(-1)
    valid = ok.all(1) if opts.remove_incomplete_frames else ok.any(1)
    keep = section_to_keep(valid, opts.sections_to_keep, opts.min_chunk_size)
    if keep[1] - keep[0] <= 0:
        raise Mocap3dError(explain_failure(res, rig.names, names, frames, opts, person, valid))
    a, b = keep
    sub = pts[a:b]
    sub, interp = interpolate_gaps(sub, int(opts.interp_if_gap_smaller_than), opts.interpolation)
    still = ~np.isfinite(sub).all(-1)
    sub = fill_gaps(sub, opts.fill_large_gaps_with)
    filled = still & np.isfinite(sub).all(-1)
    out_names = [names[k] for k in real]
    sub = sub[:, real]
    sub, out_names = add_derived(sub, out_names, dict(derived or {}))
    report = _report(res, rig.names, names, frames, keep, interp, filled, groups)
    return PersonTriangulation(sub, out_names, frames[a:b], res, interp, filled, keep, report)


def world_up_axis(rig: CameraRig, setting: str = "auto", recorded: str | None = None) -> str:
    """'Y' or 'Z': the calibration world's vertical axis.

    'auto' takes ``recorded`` (the calibration file's ``[metadata] up_axis``)
    when it is Y or Z, else the mean "image up" direction of the cameras
    (upright cameras' -y image axis in world coordinates), Y or Z whichever is
    closer; that guess fails when most cameras are rolled 90 degrees.
    """
    s = str(setting).upper()
    if s in ("Y", "Z"):
        return s
    if s != "AUTO":
        raise ConfigError(f"triangulation.world_up_axis = {setting!r}; use 'auto', 'Y' or 'Z'")
    if str(recorded).upper() in ("Y", "Z"):
        return str(recorded).upper()
    up = -np.mean([c.R[1] for c in rig], axis=0)  # image y points down
    return "Y" if abs(up[1]) >= abs(up[2]) else "Z"
