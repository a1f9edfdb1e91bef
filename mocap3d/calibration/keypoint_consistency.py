"""Keypoints made consistent across views for the keypoint calibration (:mod:`.from_keypoints`).

Once a first rig is adjusted (up to scale), two detector/recording faults that
a robust loss only partly absorbs are undone, and the rig is adjusted again:

* left/right swaps: a detector that labels a person's left limbs as right in
  some camera-frames (BlazePose on Pose2Sim's demo: cam02, frames 35 and 40-85,
  whole body) gives observations a shoulder width off. They are found and
  undone with the triangulation stage's method
  (:func:`mocap3d.triangulation.swaps.correct_swaps`: epipolar agreement per
  limb group, camera and frame).
* time offsets: unsynchronized cameras pair different instants, and a rig
  adjusted on them absorbs part of the offsets (on a slow or short clip a
  wrong clock and a wrongly posed camera explain the keypoints almost as
  well), so a method that keeps the rig fixed confirms it. First, integer
  offsets are searched camera by camera with that camera re-posed at every
  candidate (:func:`search_offsets`: PnP against the points the other cameras
  triangulate, lowest capped reprojection error); then the offsets
  (frames, sub-frame) are estimated with the adjusted rig by the synchronization
  stage's geometric method (:func:`mocap3d.synchronization.sync_by_calibration`:
  integer lags by epipolar distance, then sub-frame refinement by triangulation
  consistency) within +-``max_offset_frames``, and every camera's keypoints are
  resampled on the common clock (:func:`mocap3d.sync_offsets.resample_camera`).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..camera import Camera, CameraRig, rodrigues_to_matrix
from ..logs import get_logger

log = get_logger("calibration")


def fix_swaps(cams: Sequence[Camera], kp: np.ndarray, names: Sequence[str], threshold_px: float,
              likelihood_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (C, F, K, 3) with detected left/right swaps undone, and the camera-frames swapped (C, F).

    Args:
        cams: posed cameras (any scale).
        kp: (C, F, K, 3) pixels x, y and likelihood; NaN = missing.
        names: (K,) keypoint names (pairs ``L<X>`` / ``R<X>``).
        threshold_px: reprojection threshold of the tie-breaking triangulation, pixels.
        likelihood_threshold: keypoints below it do not vote.
    """
    from ..triangulation.swaps import apply_group_swaps, correct_swaps, swap_groups
    groups = swap_groups(names)
    C, F, K, _ = kp.shape
    if not groups:
        return kp, np.zeros((C, F), bool)
    rig = CameraRig(list(cams))
    xy = rig.undistort_points(np.nan_to_num(kp[..., :2]).reshape(C, -1, 2)).reshape(C, F, K, 2)
    w = np.where(np.isfinite(kp).all(-1) & (kp[..., 2] >= likelihood_threshold), kp[..., 2], 0.0)
    focal = np.array([[c.matrix[0, 0], c.matrix[1, 1]] for c in cams])
    _, _, swapped = correct_swaps(xy, w, rig.extrinsics(), focal, groups, threshold_px)
    out = kp.copy()
    for g, pairs in enumerate(groups):
        uv, lik = apply_group_swaps(out[..., :2], out[..., 2], swapped[:, :, g], pairs)
        out = np.concatenate([uv, lik[..., None]], axis=-1)
    return out, swapped.any(-1)


def estimate_offsets(cams: Sequence[Camera], kp: np.ndarray, rate: float, max_offset_frames: float,
                     likelihood_threshold: float) -> tuple[np.ndarray, int]:
    """Time offsets (C,) in frames of every camera relative to the reference camera, and its index.

    Convention of :mod:`mocap3d.synchronization`: camera c's frame n happens at
    common frame ``n + offsets[c]``.

    Args:
        cams: posed cameras (any scale).
        kp: (C, F, K, 3) one person's keypoints on the cameras' own frame numbers.
        rate: frame rate, Hz (the tracks are low-passed at the synchronization default, 6 Hz).
        max_offset_frames: largest offset searched, frames.
        likelihood_threshold: keypoints below it are not used.
    """
    from ..synchronization import SyncOptions, sync_by_calibration
    opts = SyncOptions(time_range_around_maxspeed=max(1.0, float(max_offset_frames)) / float(rate),
                       likelihood_threshold_synchronization=likelihood_threshold)
    res = sync_by_calibration(CameraRig(list(cams)), kp[:, :, None], float(rate), opts)
    return np.asarray(res.offsets, float), int(res.reference)


def _repose_cost(cam: Camera, X: np.ndarray, uv: np.ndarray, ok: np.ndarray, cap_px: float) -> float:
    """Mean capped squared reprojection error (px^2) of camera ``cam`` re-posed by PnP on points X (N, 3)
    seen at pixels uv (N, 2) where ``ok``; inf with fewer than 12 points or when PnP fails."""
    if ok.sum() < 12:
        return np.inf
    obj = np.ascontiguousarray(X[ok], np.float64)
    img = np.ascontiguousarray(cam.undistort_points(uv[ok]), np.float64)
    thr = cap_px / cam.focal
    found, rvec, tvec, _ = cv2.solvePnPRansac(obj, img, np.eye(3), None, iterationsCount=200,
                                              reprojectionError=thr, confidence=0.999, flags=cv2.SOLVEPNP_EPNP)
    if not found:
        return np.inf
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, np.eye(3), None, rvec, tvec)
    Xc = obj @ rodrigues_to_matrix(rvec.ravel()).T + tvec.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.linalg.norm(Xc[:, :2] / Xc[:, 2:] - img, axis=1) * cam.focal
    err = np.where(Xc[:, 2] > 0, err, cap_px)
    return float(np.mean(np.minimum(np.nan_to_num(err, nan=cap_px), cap_px) ** 2))


def search_offsets(cams: Sequence[Camera], kp: np.ndarray, offsets: np.ndarray, names: Sequence[str],
                   max_offset_frames: float, likelihood_threshold: float, cap_px: float,
                   sweeps: int = 2) -> np.ndarray:
    """Integer offset steps (frames) found camera by camera, each camera re-posed at every candidate.

    For each camera (but the one with most detections, the reference) and every integer lag within
    +-``max_offset_frames`` of its current offset, the other cameras (at their current offsets)
    triangulate the person, the camera's shifted keypoints pose it by PnP and the lag with the lowest
    capped reprojection error (:func:`_repose_cost`) is kept; ``sweeps`` passes over the cameras.

    Args:
        cams: posed cameras (any scale); kp: (C, F, K, 3) keypoints on their own frame numbers.
        offsets: (C,) current offsets (frames); names: (K,) keypoint names.
        cap_px: reprojection errors are capped at this (px).

    Returns:
        (C,) offsets (frames), the reference camera's unchanged.
    """
    C = len(cams)
    ok_lik = np.isfinite(kp).all(-1) & (kp[..., 2] >= likelihood_threshold)
    order = np.argsort(-ok_lik.sum((1, 2)), kind="stable")
    offsets = np.asarray(offsets, float).copy()
    M = int(np.floor(max_offset_frames))
    for _ in range(sweeps):
        moved = False
        for c in order[1:]:
            others = [d for d in range(C) if d != c]
            cur = resample(kp, offsets, names)
            w = np.where(np.isfinite(cur).all(-1) & (cur[..., 2] >= likelihood_threshold), 1.0, 0.0)[others]
            X = CameraRig([cams[d] for d in others]).triangulate(np.nan_to_num(cur[others, ..., :2]), w)
            costs = []
            for lag in range(-M, M + 1):
                mine = resample(kp[c:c + 1], offsets[c:c + 1] + lag, names)[0]
                ok = np.isfinite(X).all(-1) & np.isfinite(mine).all(-1) & (np.nan_to_num(mine[..., 2]) >= likelihood_threshold)
                costs.append(_repose_cost(cams[c], X.reshape(-1, 3), np.nan_to_num(mine[..., :2]).reshape(-1, 2),
                                          ok.ravel(), cap_px))
            best = int(np.argmin(costs)) - M
            if best and np.isfinite(costs[best + M]):
                offsets[c] += best
                moved = True
        if not moved:
            break
    return offsets


def resample(kp: np.ndarray, offsets: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Keypoints (C, F, K, 3) on the common clock: frame g of camera c = its frame ``g - offsets[c]``
    (linear interpolation; NaN outside its recording)."""
    from ..sync_offsets import resample_camera
    from ..triangulation.swaps import lr_pairs
    pairs = lr_pairs(names)
    return np.stack([resample_camera(k[:, None], float(o), True, pairs)[:, 0] for k, o in zip(kp, offsets)])


__all__ = ["estimate_offsets", "fix_swaps", "resample", "search_offsets"]
