"""Temporal refinement: each keypoint's trajectory as the most likely path.

Per keypoint we minimize, over the trajectory ``Y`` (F, 3),

    sum_f (X_f - Y_f)^T I_f (X_f - Y_f) / sigma^2  +  sum_f |Y_{f-1} - 2 Y_f + Y_{f+1}|^2 / s_a^2

where ``X_f`` is the triangulated point, ``I_f`` the information matrix of its
cameras (:func:`~mocap3d.triangulation.core.information_px`), ``sigma`` the
keypoint's pixel noise estimated from its reprojection residuals, and
``s_a = acceleration * dt^2`` the expected change of velocity per frame. Well
seen points barely move; points seen by two nearly opposite cameras (poorly
constrained along their common axis) are pulled along that axis only, towards
their neighbours. It is a banded linear solve per keypoint: cost linear in
frames.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solveh_banded


def second_difference_diagonals(F: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonals (main, first, second) of D^T D for the (F-2, F) second-difference D."""
    d0, d1, d2 = np.zeros(F), np.zeros(F), np.zeros(F)
    r = np.arange(max(F - 2, 0))
    np.add.at(d0, r, 1.0)
    np.add.at(d0, r + 1, 4.0)
    np.add.at(d0, r + 2, 1.0)
    np.add.at(d1, r, -2.0)
    np.add.at(d1, r + 1, -2.0)
    d2[r] = 1.0
    return d0, d1, d2


def refine_trajectory(X: np.ndarray, info: np.ndarray, prior_weight: float) -> np.ndarray:
    """Most likely trajectory (F, 3) of one keypoint.

    Args:
        X: (F, 3) measured points, NaN = missing (no information).
        info: (F, 3, 3) measurement information (1/m^2, already divided by sigma^2).
        prior_weight: 1 / s_a^2 in 1/m^2.

    Returns:
        (F, 3) refined points; NaN where X was NaN.
    """
    F = X.shape[0]
    ok = np.isfinite(X).all(-1) & np.isfinite(info).all((-1, -2))
    if ok.sum() < 3 or F < 3:
        return X.copy()
    I = np.where(ok[:, None, None], info, 0.0)
    Xz = np.where(ok[:, None], X, 0.0)
    b = np.einsum("fij,fj->fi", I, Xz).ravel()
    d0, d1, d2 = second_difference_diagonals(F)
    n = 3 * F
    ab = np.zeros((7, n))
    main = (prior_weight * d0[:, None] + np.diagonal(I, axis1=1, axis2=2)).ravel()
    main += 1e-9 * max(main.max(), 1.0)
    ab[6] = main
    up1 = np.zeros((F, 3))
    up1[:, 1], up1[:, 2] = I[:, 0, 1], I[:, 1, 2]
    ab[5] = up1.ravel()
    up2 = np.zeros((F, 3))
    up2[:, 2] = I[:, 0, 2]
    ab[4] = up2.ravel()
    up3 = np.zeros((F, 3))
    up3[1:] = prior_weight * d1[:-1, None]
    ab[3] = up3.ravel()
    up6 = np.zeros((F, 3))
    up6[2:] = prior_weight * d2[:-2, None]
    ab[0] = up6.ravel()
    Y = solveh_banded(ab, b, lower=False, check_finite=False).reshape(F, 3)
    Y[~ok] = np.nan
    return Y


def refine_points(points: np.ndarray, info_px: np.ndarray, sigma_px: np.ndarray, rate: float,
                  acceleration: float) -> np.ndarray:
    """Refine every keypoint's trajectory.

    Args:
        points: (F, K, 3) metres, NaN = missing.
        info_px: (F, K, 3, 3) information for 1 px noise (px^2/m^2).
        sigma_px: (K,) pixel noise of each keypoint.
        rate: frame rate, Hz.
        acceleration: expected keypoint acceleration (m/s^2); <= 0 disables.

    Returns:
        (F, K, 3) refined points.
    """
    if acceleration <= 0:
        return points.copy()
    s_a = acceleration / rate ** 2
    out = np.empty_like(points)
    for k in range(points.shape[1]):
        sig = max(float(sigma_px[k]), 0.3) if np.isfinite(sigma_px[k]) else 1.0
        out[:, k] = refine_trajectory(points[:, k], info_px[:, k] / sig ** 2, 1.0 / s_a ** 2)
    return out


def noise_sigma_px(cam_error_px: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Per-keypoint pixel noise (K,) from reprojection residuals (C, F, K) of the used cameras.

    A point seen by n cameras leaves 2n - 3 degrees of freedom in its 2n
    residual coordinates; the median of the per-point residual variance is used.
    """
    n = used.sum(0)
    ss = np.where(used, np.nan_to_num(cam_error_px) ** 2, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n >= 2, ss / np.maximum(2 * n - 3, 1), np.nan)
    # the median of a chi2(2n-3)/(2n-3) is a bit below 1: correct roughly for 3-4 cameras
    return np.sqrt(np.nanmedian(var, axis=0) / 0.85) if np.isfinite(var).any() else np.full(used.shape[2], np.nan)
