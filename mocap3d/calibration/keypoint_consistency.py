"""Keypoints made consistent across views for the keypoint calibration (:mod:`.from_keypoints`).

Once a first rig is adjusted (up to scale), two detector/recording faults that
a robust loss only partly absorbs are undone, and the rig is adjusted again:

* left/right swaps: a detector that labels a person's left limbs as right in
  some camera-frames (BlazePose on Pose2Sim's demo: cam02, frames 35 and 40-85,
  whole body) gives observations a shoulder width off. They are found and
  undone with the triangulation stage's method
  (:func:`mocap3d.triangulation.swaps.correct_swaps`: epipolar agreement per
  limb group, camera and frame).
* time offsets: unsynchronized cameras pair different instants. The offsets
  (frames, sub-frame) are estimated with the rig by the synchronization
  stage's geometric method (:func:`mocap3d.synchronization.sync_by_calibration`:
  integer lags by epipolar distance, then sub-frame refinement by triangulation
  consistency) within +-``max_offset_frames``, and every camera's keypoints are
  resampled on the common clock (:func:`mocap3d.sync_offsets.resample_camera`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..camera import Camera, CameraRig
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


def resample(kp: np.ndarray, offsets: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Keypoints (C, F, K, 3) on the common clock: frame g of camera c = its frame ``g - offsets[c]``
    (linear interpolation; NaN outside its recording)."""
    from ..sync_offsets import resample_camera
    from ..triangulation.swaps import lr_pairs
    pairs = lr_pairs(names)
    return np.stack([resample_camera(k[:, None], float(o), True, pairs)[:, 0] for k, o in zip(kp, offsets)])


__all__ = ["estimate_offsets", "fix_swaps", "resample"]
