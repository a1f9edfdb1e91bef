"""Temporal refinement: each keypoint's trajectory as the most likely path.

Per keypoint we minimize, over the trajectory ``Y`` (F, 3),

    sum_f (X_f - Y_f)^T I_f (X_f - Y_f) / sigma^2  +  sum_f |Y_{f-1} - 2 Y_f + Y_{f+1}|^2 / s_a^2

where ``X_f`` is the triangulated point, ``I_f`` the information matrix of its
cameras (:func:`~mocap3d.triangulation.core.information_px`), ``sigma`` the
keypoint's pixel noise estimated from its reprojection residuals, and
``s_a = acceleration * dt^2`` the expected change of velocity per frame. Well
seen points barely move; points seen by two nearly opposite cameras (poorly
constrained along their common axis) are pulled along that axis only, towards
their neighbours. It is a block-banded linear solve per keypoint (all keypoints at once): cost
linear in frames.
"""
from __future__ import annotations

import numpy as np

#: Clips up to this many frames are solved by the numpy frame loop (no scipy import: the 2D -> .mot run of a
#: short trial starts ~0.3 CPU-s faster); longer ones by scipy's banded solver (the loop costs ~0.07 ms per
#: frame and person more).
NUMPY_SOLVER_MAX_FRAMES = 1000


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


def solve_block_banded(diag: np.ndarray, sub1: np.ndarray, sub2: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve symmetric positive definite block-banded systems, a batch of them at once.

    The matrix of system k has 3x3 blocks ``A[i, i] = diag[i, k]``, ``A[i + 1, i] =
    sub1[i] * I3`` and ``A[i + 2, i] = sub2[i] * I3`` (their transposes
    above the diagonal): block Cholesky with forward substitution in one pass
    over the frames, then back substitution, vectorized over the batch.

    Args:
        diag: (F, K, 3, 3) diagonal blocks; sub1: (F,) (last entry unused);
            sub2: (F,) (last two unused), shared by the K systems; rhs: (F, K, 3).

    Returns:
        (F, K, 3) solutions. Raises numpy.linalg.LinAlgError if a system is not positive definite.
    """
    F = diag.shape[0]
    inv = np.empty_like(diag)                      # L_ii^-1
    low1 = np.zeros_like(diag)                     # L_{i, i-1}
    low2 = np.zeros_like(diag)                     # L_{i, i-2}
    z = np.zeros_like(rhs)
    eye = np.eye(3)

    def mv(M: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (M @ v[..., None])[..., 0]

    for i in range(F):
        S = diag[i] - low1[i] @ low1[i].swapaxes(-1, -2) - low2[i] @ low2[i].swapaxes(-1, -2)
        inv[i] = np.linalg.inv(np.linalg.cholesky(S))
        inv_t = inv[i].swapaxes(-1, -2)
        acc = rhs[i].copy()
        if i >= 1:
            acc -= mv(low1[i], z[i - 1])
        if i >= 2:
            acc -= mv(low2[i], z[i - 2])
        z[i] = mv(inv[i], acc)
        if i + 1 < F:                              # column i below the diagonal
            low1[i + 1] = (sub1[i] * eye - low2[i + 1] @ low1[i].swapaxes(-1, -2)) @ inv_t
        if i + 2 < F:
            low2[i + 2] = sub2[i] * inv_t
    y = np.empty_like(rhs)
    for i in range(F - 1, -1, -1):
        acc = z[i].copy()
        if i + 1 < F:
            acc -= mv(low1[i + 1].swapaxes(-1, -2), y[i + 1])
        if i + 2 < F:
            acc -= mv(low2[i + 2].swapaxes(-1, -2), y[i + 2])
        y[i] = mv(inv[i].swapaxes(-1, -2), acc)
    return y


def solve_block_banded_scipy(diag: np.ndarray, sub1: np.ndarray, sub2: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """:func:`solve_block_banded` by ``scipy.linalg.solveh_banded``, one system at a time (same arguments).

    For long clips: its cost per frame is far lower than the frame loop's, and
    its import (~0.3 CPU-s) then matters little.
    """
    from scipy.linalg import solveh_banded
    F, K = rhs.shape[:2]
    out = np.empty_like(rhs)
    for k in range(K):
        ab = np.zeros((7, 3 * F))                  # upper form: ab[6 - j, m] = A[m - j, m]
        ab[6] = np.diagonal(diag[:, k], axis1=-2, axis2=-1).ravel()
        up1 = np.zeros((F, 3))
        up1[:, 1], up1[:, 2] = diag[:, k, 0, 1], diag[:, k, 1, 2]
        ab[5] = up1.ravel()
        up2 = np.zeros((F, 3))
        up2[:, 2] = diag[:, k, 0, 2]
        ab[4] = up2.ravel()
        ab[3] = np.concatenate([np.zeros(3), np.repeat(sub1[:-1], 3)])
        ab[0] = np.concatenate([np.zeros(6), np.repeat(sub2[:-2], 3)])
        out[:, k] = solveh_banded(ab, rhs[:, k].ravel(), lower=False, check_finite=False).reshape(F, 3)
    return out


def refine_trajectories(X: np.ndarray, info: np.ndarray, prior_weight: float) -> np.ndarray:
    """Most likely trajectories (F, K, 3) of K keypoints.

    Args:
        X: (F, K, 3) measured points, NaN = missing (no information).
        info: (F, K, 3, 3) measurement information (1/m^2, already divided by sigma^2).
        prior_weight: 1 / s_a^2 in 1/m^2.

    Returns:
        (F, K, 3) refined points; NaN where X was NaN; keypoints measured in
        fewer than 3 frames (or clips under 3 frames) as they were.
    """
    F, K = X.shape[:2]
    ok = np.isfinite(X).all(-1) & np.isfinite(info).all((-1, -2))
    solve = ok.sum(0) >= 3 if F >= 3 else np.zeros(K, bool)
    if not solve.any():
        return X.copy()
    I = np.where(ok[..., None, None], info, 0.0)[:, solve]
    b = np.einsum("fkij,fkj->fki", I, np.where(ok[..., None], X, 0.0)[:, solve])
    d0, d1, d2 = (prior_weight * d for d in second_difference_diagonals(F))
    diag = I + d0[:, None, None, None] * np.eye(3)
    main = np.diagonal(diag, axis1=-2, axis2=-1)                       # (F, K', 3)
    diag = diag + (1e-9 * np.maximum(main.max((0, 2)), 1.0))[None, :, None, None] * np.eye(3)
    solver = solve_block_banded if F <= NUMPY_SOLVER_MAX_FRAMES else solve_block_banded_scipy
    Y = solver(diag, d1, d2, b)
    out = X.copy()
    out[:, solve] = np.where(ok[:, solve, None], Y, np.nan)
    return out


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
    sig = np.where(np.isfinite(sigma_px), np.maximum(sigma_px, 0.3), 1.0)
    return refine_trajectories(points, info_px / sig[None, :, None, None] ** 2, 1.0 / s_a ** 2)


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
