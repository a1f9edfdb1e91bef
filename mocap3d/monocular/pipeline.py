"""One camera's 2D keypoints (+ an optional lifted 3D) -> metric world 3D keypoints (pure, no files).

:func:`reconstruct` chains: undistortion, the frames to keep (person seen),
metric scale (participant height, or the lifted skeleton's own metric scale),
placement (:mod:`.placement`: root translation, floor, world frame) and the
model fit (:mod:`.refine`). The output is what triangulation gives: keypoint
trajectories in metres, Y up, over the kept frames, derived keypoints included.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..camera import Camera
from ..errors import Mocap3dError
from ..logs import get_logger
from .placement import DEPTH_BONES, FOOT_POINTS, WorldFrame, depth_from_bones, root_translation, world_frame
from .refine import FitResult, RefineOptions, check_model, fit_model, fit_summary
from .swaps import correct_swaps, swap_summary

log = get_logger("monocular")


@dataclass
class Lifted:
    """A lifted 3D on the trial's keypoints: xyz (F, K, 3) root-relative camera axes, NaN missing."""

    xyz: np.ndarray
    confidence: np.ndarray
    metric: bool
    method: str


@dataclass
class MonocularResult:
    """World 3D keypoints of one camera's person.

    Attributes:
        points: (F', M, 3) metres, Y up, over the kept frames; names: M keypoints.
        frames: (F',) frame numbers kept; fit: the model fit; frame: world frame (camera extrinsics).
        height: participant height used (m) and its source in ``report``.
    """

    points: np.ndarray
    names: list[str]
    frames: np.ndarray
    fit: FitResult
    frame: WorldFrame
    height: float
    report: dict[str, Any] = field(default_factory=dict)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a 1D mask."""
    d = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def keep_section(seen: np.ndarray, max_gap: int, min_frames: int, frames: np.ndarray) -> tuple[int, int, list[str]]:
    """Longest section of frames where the person is seen, bridging gaps of <= ``max_gap`` frames.

    Returns (start, stop) indices and the reasons frames were dropped.
    """
    bridged = seen.copy()
    for a, b in _runs(~seen):
        if b - a <= max_gap and a > 0 and b < len(seen):
            bridged[a:b] = True
    runs = _runs(bridged)
    if not runs:
        raise Mocap3dError("the person is never seen well enough (6 keypoints above the likelihood threshold) "
                           "in this camera; check the pose estimation output")
    a, b = max(runs, key=lambda r: r[1] - r[0])
    why = []
    if a > 0 or b < len(seen):
        missing = [f"{frames[x]}-{frames[y - 1]}" for x, y in _runs(~seen) if y - x > max_gap]
        why.append(f"kept frames {frames[a]}-{frames[b - 1]} (the longest stretch with the person seen); the person "
                   f"is missing for more than {max_gap} frames at {', '.join(missing) or 'the ends'}")
    if b - a < min_frames:
        raise Mocap3dError(f"the person is seen for {b - a} consecutive frame(s) at most (frames {frames[a]}-"
                           f"{frames[b - 1]}), fewer than {min_frames}: missing for long stretches. Check the video "
                           "framing and the pose estimation")
    return int(a), int(b), why


def add_mid_points(x: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Append mid-hip 'Hip' and 'Neck' (mean of the shoulders) when the skeleton lacks them: (F, K', D)."""
    extra, out = [], list(names)
    for name, (a, b) in (("Hip", ("LHip", "RHip")), ("Neck", ("LShoulder", "RShoulder"))):
        if name not in names and a in names and b in names:
            extra.append((x[:, names.index(a)] + x[:, names.index(b)]) / 2)
            out.append(name)
    return (np.concatenate([x, np.stack(extra, 1)], 1) if extra else x), out


def bone_lengths(model, names: Sequence[str]) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Depth bones' lengths (m) and foot keypoints' standing heights above the soles (m) on the model."""
    from ..kinematics.forward import default_q
    from ..kinematics.lm_solver import LMSolver
    ms = model.getMarkerSet()
    need = sorted({n for pair in DEPTH_BONES for n in pair} | set(FOOT_POINTS))
    mk = [n for n in need if ms.contains(n)] + [ms.get(i).getName() for i in range(ms.getSize())
                                                 if ms.get(i).getName().startswith("_ground_")]
    solver = LMSolver(model, mk, np.ones(len(mk)), clamp=False)
    pos = dict(zip(mk, solver.positions(default_q(model, solver.state))))
    floor = min(p[1] for n, p in pos.items() if n.startswith("_ground_"))
    lengths = {(a, b): float(np.linalg.norm(pos[a] - pos[b])) for a, b in DEPTH_BONES if a in pos and b in pos}
    feet = {n: float(pos[n][1] - floor) for n in FOOT_POINTS if n in pos}
    return lengths, feet


def _bone_ratios(xyz: np.ndarray, names: list[str], lengths: dict[tuple[str, str], float]) -> np.ndarray:
    """(F, B) lifted bone length / model bone length (NaN where a bone is missing)."""
    xyz, nm = add_mid_points(xyz, names)
    cols = [np.linalg.norm(xyz[:, nm.index(a)] - xyz[:, nm.index(b)], axis=-1) / L
            for (a, b), L in lengths.items() if a in nm and b in nm]
    if not cols:
        raise Mocap3dError("the lifted 3D has none of the hips, knees, ankles, shoulders: cannot measure its size")
    return np.stack(cols, 1)


def lifted_height(lifted: Lifted, names: list[str], lengths: dict[tuple[str, str], float], model_height: float
                  ) -> float:
    """Participant height (m) implied by a metric lifted skeleton: model height x median bone-length ratio."""
    r = _bone_ratios(lifted.xyz, names, lengths)
    if not np.isfinite(r).any():
        raise Mocap3dError("the lifted 3D has no complete bone: cannot measure its size")
    return float(model_height * np.nanmedian(np.nanmedian(r, 0)))


def lift_scale(lifted: Lifted, names: list[str], lengths: dict[tuple[str, str], float], rate: float) -> np.ndarray:
    """(F,) factor taking the lifted 3D to the model's size: one number for a metric lifter, else per frame
    (MotionBERT's units are pixels at the person's depth, which change as the person walks), low-passed."""
    r = _bone_ratios(lifted.xyz, names, lengths)
    if lifted.metric:
        return np.full(len(r), 1.0 / np.nanmedian(np.nanmedian(r, 0)))
    return 1.0 / _smooth_depth(np.nanmedian(r, 1), rate)


def reconstruct(keypoints: np.ndarray, names: Sequence[str], frames: np.ndarray, camera: Camera, rate: float,
                model, height: float, lifted: Lifted | None = None, opts: RefineOptions | None = None,
                max_gap_frames: int = 30, min_frames: int = 10, show_progress: bool = True,
                fix_swaps: bool = True) -> MonocularResult:
    """World 3D keypoints from one camera.

    Args:
        keypoints: (F, K, 3) x px, y px, likelihood (NaN = missing), the camera's own pixels (distorted).
        names: K keypoint names; frames: (F,) frame numbers; camera: intrinsics (extrinsics ignored).
        model: OpenSim model scaled to ``height`` carrying the keypoint markers and ``_ground_*`` soles.
        lifted: root-relative 3D in camera axes (scaled here to the model), or None (2D only).
        fix_swaps: undo the detector's left/right swaps first (:mod:`.swaps`).
    """
    opts = opts or RefineOptions()
    names = list(names)
    swapped = None
    if fix_swaps:
        keypoints, xyz, lconf, swapped = correct_swaps(keypoints, names, None if lifted is None else lifted.xyz,
                                                       None if lifted is None else lifted.confidence,
                                                       opts.likelihood_threshold)
        if lifted is not None:
            lifted = Lifted(xyz, lconf, lifted.metric, lifted.method)
    on_model = check_model(model, names)
    conf = np.where(np.isfinite(keypoints[..., :2]).all(-1), np.nan_to_num(keypoints[..., 2]), 0.0)
    seen = (conf >= opts.likelihood_threshold).sum(1) >= 6
    a, b, why = keep_section(seen, max_gap_frames, min_frames, np.asarray(frames))
    kp, conf = keypoints[a:b], conf[a:b]
    xn = camera.undistort_points(kp[..., :2])                                   # (F, K, 2) ideal normalized
    xn[conf < opts.likelihood_threshold] = np.nan
    lengths, feet = bone_lengths(model, names)
    if lifted is not None:
        rel = lifted.xyz[a:b]
        scale_f = lift_scale(Lifted(rel, lifted.confidence[a:b], lifted.metric, lifted.method), names, lengths, rate)
        rel = rel * scale_f[:, None, None]
        scale = float(np.median(scale_f))
        cam_rel, nm = add_mid_points(rel, names)
        cam_rel = cam_rel - cam_rel[:, nm.index("Hip")][:, None]
        xn_all, _ = add_mid_points(xn, names)
        w_all, _ = add_mid_points(conf[..., None], names)
        w = np.where(np.isfinite(xn_all).all(-1), w_all[..., 0], 0.0)
        w[:, len(names):] = 0.0                                                  # derived points are not observed
        root = root_translation(cam_rel, xn_all, w)
        cam = cam_rel + root[:, None]
    else:
        scale = None
        z = depth_from_bones(xn, names, lengths, conf, opts.likelihood_threshold)
        z = _smooth_depth(z, rate)
        cam0 = np.concatenate([xn * z[:, None, None], np.broadcast_to(z[:, None, None], xn.shape[:2] + (1,))], -1)
        cam, nm = add_mid_points(cam0, names)
    frame = world_frame(cam, nm, feet, rate, depth_known=lifted is not None)
    if frame.view_angle_deg > 60:
        log.warning("frontal view: the walking direction is %.0f deg from the image plane, so distances along it come "
                    "from the body's image size only (depth is ambiguous); lengths and speed are less reliable than "
                    "from a side view", frame.view_angle_deg)
    world = frame.to_world(cam)
    root_world = world[:, nm.index("Hip")]
    idx = [names.index(n) for n in on_model]
    extras = [n for n in ("Hip", "Neck") if n not in on_model and _on(model, n)]   # derived: fitted, not observed
    fit_names = on_model + extras
    F = len(xn)
    uv = np.concatenate([camera.normalized_to_pixels(xn)[:, idx], np.full((F, len(extras), 2), np.nan)], 1)
    w_fit = np.concatenate([conf[:, idx], np.zeros((F, len(extras)))], 1)
    prior = None
    if lifted is not None:
        prior = np.concatenate([world[:, [nm.index(n) for n in on_model]], np.full((F, len(extras), 3), np.nan)], 1)

    def reframe(cam_fit: np.ndarray) -> WorldFrame:
        return world_frame(cam_fit, fit_names, feet, rate)

    fit = fit_model(model, fit_names, uv, w_fit, camera.matrix, frame, root_world, rate, prior, opts,
                    show_progress, reframe)
    out_names, pts = fit_names, fit.markers
    report = {"frames_in": int(len(frames)), "frames_kept": [int(frames[a]), int(frames[b - 1])],
              "n_frames_kept": int(b - a), "frames_dropped": why,
              "frames_person_not_seen_in_kept": int((~seen[a:b]).sum()),
              "left_right_swaps": None if swapped is None else swap_summary(swapped[a:b], names),
              "lift_scale": scale, "world": {"travel_m": frame.travel_m, "walking": frame.walking,
                                             "view_angle_deg": frame.view_angle_deg,
                                             "depth_ambiguous_frontal_view": bool(frame.view_angle_deg > 60),
                                             "floor_frames": frame.floor_points,
                                             "camera_rotation_world_to_camera": fit.frame.R,
                                             "camera_position_world_m": -fit.frame.R.T @ fit.frame.t},
              **fit_summary(fit)}
    return MonocularResult(pts, out_names, np.asarray(frames)[a:b], fit, fit.frame, height, report)


def _on(model, name: str) -> bool:
    return bool(model.getMarkerSet().contains(name))


def _smooth_depth(z: np.ndarray, rate: float) -> np.ndarray:
    """A slowly varying series (F,) (depth, scale) gap-filled and low-passed (1 Hz zero-phase)."""
    from ..filtering.filters import butterworth
    ok = np.isfinite(z)
    if not ok.any():
        raise Mocap3dError("the distance to the camera (or the lifted skeleton's size) could not be estimated in any "
                           "frame: the hips, knees, ankles and shoulders are not seen together")
    idx = np.arange(len(z))
    filled = np.interp(idx, idx[ok], z[ok])
    if len(z) > 15 and rate > 2.5:
        filled = butterworth(filled, rate, min(1.0, rate / 3))
    return filled
