"""Robust multi-camera triangulation: weighted DLT with outlier-camera rejection.

Everything works on whole arrays of points at once (frames x keypoints
flattened to ``N``). The outlier rejection drops, for every point whose mean
reprojection error exceeds the threshold, its worst camera, then
re-triangulates only those points; it stops after at most ``C - min_cameras``
rounds, so the cost grows as ``O(C^2)`` per point instead of trying every
subset of cameras.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import CameraRig, triangulate_normalized

#: Reason codes of a dropped point (``TriangulationResult.reason``).
REASON_OK = 0
REASON_FEW_CAMERAS = 1      # fewer than min_cameras observations above the likelihood threshold
REASON_REPROJECTION = 2     # still above the reprojection threshold with min_cameras cameras
REASON_UNCERTAIN = 3        # camera geometry too weak (e.g. two nearly opposite views)
REASON_NAMES = {REASON_OK: "ok", REASON_FEW_CAMERAS: "fewer cameras than min_cameras_for_triangulation",
                REASON_REPROJECTION: "reprojection error above reproj_error_threshold_triangulation",
                REASON_UNCERTAIN: "3D uncertainty above max_uncertainty_mm_per_px"}


@dataclass
class TriangulationResult:
    """Output of :func:`triangulate_points`; ``F`` frames, ``K`` keypoints, ``C`` cameras.

    Attributes:
        points: (F, K, 3) world points, metres; NaN where dropped.
        error_px: (F, K) mean reprojection error of the cameras used, pixels.
        cam_error_px: (C, F, K) reprojection error of every observed camera
            (used or excluded) against the final point, pixels.
        cam_error_mm: (C, F, K) the same error back-projected at the point's
            depth, millimetres.
        used: (C, F, K) cameras that contributed to the point.
        observed: (C, F, K) cameras with an observation above the likelihood threshold.
        reason: (F, K) reason code (REASON_*), 0 when triangulated.
        swapped: (C, F, G) left/right groups swapped per camera and frame
            (all False when swap correction is off).
    """

    points: np.ndarray
    error_px: np.ndarray
    cam_error_px: np.ndarray
    cam_error_mm: np.ndarray
    used: np.ndarray
    observed: np.ndarray
    reason: np.ndarray
    swapped: np.ndarray

    @property
    def excluded(self) -> np.ndarray:
        """(C, F, K) observed cameras rejected as outliers."""
        return self.observed & ~self.used


def focal_lengths(rig: CameraRig) -> np.ndarray:
    """(C, 2) focal lengths fx, fy in pixels."""
    return np.array([[c.matrix[0, 0], c.matrix[1, 1]] for c in rig])


def project_normalized(points: np.ndarray, extrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ideal normalized projections (C, N, 2) and depths (C, N) of points (N, 3)."""
    pc = np.einsum("cij,nj->cni", extrinsics[:, :, :3], points) + extrinsics[:, None, :, 3]
    z = pc[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        xy = pc[..., :2] / np.where(z > 1e-9, z, np.nan)[..., None]
    return xy, z


def reprojection_px(points: np.ndarray, xy: np.ndarray, extrinsics: np.ndarray,
                    focal: np.ndarray) -> np.ndarray:
    """Reprojection error (C, N) in (undistorted) pixels of points (N, 3) against ideal xy (C, N, 2)."""
    proj, _ = project_normalized(points, extrinsics)
    d = (proj - xy) * focal[:, None, :]
    return np.hypot(d[..., 0], d[..., 1])


def information_px(points: np.ndarray, used: np.ndarray, extrinsics: np.ndarray,
                   focal: np.ndarray) -> np.ndarray:
    """Information matrices (N, 3, 3) ``sum_c J_c^T J_c`` in px^2/m^2 of points (N, 3).

    ``J_c`` (2, 3) is the derivative of camera c's pixel projection; only the
    used cameras (C, N) count. Its inverse is the 3D covariance for 1 px noise.
    """
    pc = np.einsum("cij,nj->cni", extrinsics[:, :, :3], points) + extrinsics[:, None, :, 3]
    z = pc[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = pc[..., 0] / z, pc[..., 1] / z
        R = extrinsics[:, :, :3]
        a = (R[:, None, 0, :] - x[..., None] * R[:, None, 2, :]) / z[..., None] * focal[:, None, 0, None]
        b = (R[:, None, 1, :] - y[..., None] * R[:, None, 2, :]) / z[..., None] * focal[:, None, 1, None]
    m = (used & np.isfinite(z))[..., None]
    a, b = np.where(m, a, 0.0), np.where(m, b, 0.0)
    return np.einsum("cni,cnj->nij", a, a) + np.einsum("cni,cnj->nij", b, b)


def uncertainty_mm_per_px(points: np.ndarray, used: np.ndarray, extrinsics: np.ndarray,
                          focal: np.ndarray) -> np.ndarray:
    """Worst-direction 3D standard deviation (N,) in mm for 1 px of image noise.

    Large for two nearly opposite or nearly parallel views, ~2-5 mm/px for
    well spread cameras a few metres away.
    """
    info = information_px(np.nan_to_num(points), used, extrinsics, focal)
    lam = np.linalg.eigvalsh(info)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lam > 0, 1000.0 / np.sqrt(np.maximum(lam, 1e-30)), np.inf)


def _masked_mean(err: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = mask.sum(0)
    s = np.where(mask, err, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def reject_outlier_cameras(xy: np.ndarray, weights: np.ndarray, extrinsics: np.ndarray, focal: np.ndarray,
                           threshold_px: float, min_cameras: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate points, dropping their worst camera while its error is too high.

    A camera is dropped while the largest reprojection error of a point exceeds
    ``threshold_px`` (so that one bad view among many is caught even when the
    mean stays low); the point is accepted if its mean error is within it.

    Args:
        xy: (C, N, 2) ideal normalized coordinates; NaN = missing.
        weights: (C, N) weights; 0 excludes a camera.
        extrinsics: (C, 3, 4) ``[R | t]``.
        focal: (C, 2) focal lengths, pixels.
        threshold_px: reprojection error (px) above which the worst camera is dropped.
        min_cameras: never go below this many cameras.

    Returns:
        points (N, 3) (NaN if fewer than ``max(2, min_cameras)`` cameras remain or the
        error stays above threshold), used (C, N) bool, mean error (N,) px.
    """
    C, N = weights.shape
    min_cameras = max(2, int(min_cameras))
    used = np.isfinite(xy).all(-1) & np.isfinite(weights) & (weights > 0)
    w = np.where(used, weights, 0.0)
    X = triangulate_normalized(xy, extrinsics, w)
    err = reprojection_px(X, xy, extrinsics, focal)
    mean = _masked_mean(err, used)
    worst_err = np.where(used, err, -np.inf).max(0)
    todo = np.flatnonzero((worst_err > threshold_px) & (used.sum(0) > min_cameras))
    for _ in range(C):
        if todo.size == 0:
            break
        e = np.where(used[:, todo], err[:, todo], -np.inf)
        worst = np.argmax(e, axis=0)
        used[worst, todo] = False
        sub_w = np.where(used[:, todo], w[:, todo], 0.0)
        X[todo] = triangulate_normalized(xy[:, todo], extrinsics, sub_w)
        err[:, todo] = reprojection_px(X[todo], xy[:, todo], extrinsics, focal)
        mean[todo] = _masked_mean(err[:, todo], used[:, todo])
        worst_err = np.where(used[:, todo], err[:, todo], -np.inf).max(0)
        keep = (worst_err > threshold_px) & (used[:, todo].sum(0) > min_cameras)
        todo = todo[keep]
    ok = (used.sum(0) >= min_cameras) & (mean <= threshold_px)
    X[~ok] = np.nan
    return X, used, mean


_BLOCK_POINTS = 20000  # points per block: keeps the working arrays in cache, so cost stays linear


def _block_frames(C: int, K: int) -> int:
    return max(1, _BLOCK_POINTS // max(1, C * K) * C)


def _blockwise_rejection(xy, w, ext, focal, threshold, min_cameras):
    """:func:`reject_outlier_cameras` on blocks of points (same result, bounded memory)."""
    N = w.shape[1]
    parts = [reject_outlier_cameras(xy[:, a:a + _BLOCK_POINTS], w[:, a:a + _BLOCK_POINTS], ext, focal,
                                    threshold, min_cameras) for a in range(0, max(N, 1), _BLOCK_POINTS)]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts], axis=1),
            np.concatenate([p[2] for p in parts]))


def triangulate_points(rig: CameraRig, uv: np.ndarray, likelihood: np.ndarray, *,
                       likelihood_threshold: float = 0.3, reproj_threshold_px: float = 15.0,
                       min_cameras: int = 2, swap_groups: list[list[tuple[int, int]]] | None = None,
                       handle_swaps: bool = True, max_uncertainty: float = np.inf) -> TriangulationResult:
    """Robust triangulation of one person's keypoints over time.

    Args:
        rig: calibrated cameras, in the order of ``uv``.
        uv: (C, F, K, 2) distorted pixel coordinates; NaN = missing.
        likelihood: (C, F, K) confidences; below ``likelihood_threshold`` = missing.
        likelihood_threshold: detections below it are ignored.
        reproj_threshold_px: mean reprojection error (px) above which the worst
            camera is dropped, and with which a point is finally accepted.
        min_cameras: smallest number of cameras a point may be triangulated from (>= 2).
        swap_groups: left/right keypoint index pairs, grouped by limb (see
            :func:`mocap3d.triangulation.swaps.swap_groups`); None = no swap correction.
        handle_swaps: correct per-camera, per-frame left/right swaps.
        max_uncertainty: points whose worst-direction 3D standard deviation
            exceeds this many mm per pixel of image noise are dropped (they are
            then interpolated like any gap); inf keeps them all.

    Returns:
        A :class:`TriangulationResult`.
    """
    from .swaps import correct_swaps

    uv = np.asarray(uv, dtype=float)
    C, F, K, _ = uv.shape
    lik = np.nan_to_num(np.asarray(likelihood, dtype=float), nan=0.0)
    w = np.where(lik >= likelihood_threshold, np.maximum(lik, 1e-6), 0.0)
    w = np.where(np.isfinite(uv).all(-1), w, 0.0)
    xy = np.concatenate([rig.undistort_points(uv[:, a:a + _block_frames(C, K)])
                         for a in range(0, F, _block_frames(C, K))], axis=1) if F else rig.undistort_points(uv)
    ext = rig.extrinsics()
    focal = focal_lengths(rig)
    groups = swap_groups if (handle_swaps and swap_groups) else []
    swapped = np.zeros((C, F, len(groups)), bool)
    if groups:
        xy, w, swapped = correct_swaps(xy, w, ext, focal, groups, reproj_threshold_px, min_cameras)
    observed = w > 0
    X, used, mean = _blockwise_rejection(xy.reshape(C, F * K, 2), w.reshape(C, F * K), ext, focal,
                                         reproj_threshold_px, min_cameras)
    X = X.reshape(F, K, 3)
    used = used.reshape(C, F, K)
    mean = mean.reshape(F, K)
    reason = np.zeros((F, K), np.int8)
    few = observed.sum(0) < max(2, min_cameras)
    reason[few] = REASON_FEW_CAMERAS
    reason[~few & ~np.isfinite(X).all(-1)] = REASON_REPROJECTION
    if np.isfinite(max_uncertainty):
        unc = uncertainty_mm_per_px(X.reshape(-1, 3), used.reshape(C, -1), ext, focal).reshape(F, K)
        weak = (reason == REASON_OK) & ~(unc <= max_uncertainty)
        reason[weak] = REASON_UNCERTAIN
        X[weak] = np.nan
    used &= (reason == REASON_OK)[None]
    # Final per-camera errors in distorted pixels and in mm at the point's depth.
    proj = rig.project(X)  # (C, F, K, 2)
    obs_uv = uv.copy()
    if groups:  # report against the swap-corrected observations
        obs_uv = _apply_swaps_uv(uv, swapped, groups)
    cam_err = np.linalg.norm(proj - obs_uv, axis=-1)
    cam_err = np.where(observed, cam_err, np.nan)
    _, depth = project_normalized(X.reshape(-1, 3), ext)
    cam_err_mm = cam_err * depth.reshape(C, F, K) / focal.mean(1)[:, None, None] * 1000.0
    error_px = _masked_mean(np.nan_to_num(cam_err), used)
    error_px[reason != REASON_OK] = np.nan
    return TriangulationResult(X, error_px, cam_err, cam_err_mm, used, observed, reason, swapped)


def _apply_swaps_uv(uv: np.ndarray, swapped: np.ndarray, groups: list[list[tuple[int, int]]]) -> np.ndarray:
    out = uv.copy()
    for g, pairs in enumerate(groups):
        s = swapped[:, :, g]
        for l, r in pairs:
            out[:, :, l][s], out[:, :, r][s] = uv[:, :, r][s], uv[:, :, l][s]
    return out
