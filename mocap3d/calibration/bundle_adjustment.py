"""Bundle adjustment of several cameras over every shared board or scene observation.

Unknowns: each camera's pose (Rodrigues, translation; world -> camera),
optionally its intrinsics (fx, fy, cx, cy and distortion), and the pose of
each rigid point group (a board at one instant, board -> world) that is not
fixed. Fixed groups (the reference board, measured scene points) define the
world frame, which therefore stays where it was. Residuals are pixel
differences; ``scipy.optimize.least_squares`` runs with a sparse Jacobian
pattern and a robust loss (``soft_l1`` with a 1 px scale by default).

Quick start::

    prob = BAProblem(cameras, groups=[scene_pts], group_poses=[(zeros, zeros)],
                     fixed_groups=[True], obs_cam=c, obs_group=g, obs_point=p, obs_uv=uv)
    result = bundle_adjust(prob, refine_intrinsics=False)
    rig = result.cameras
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from ..camera import Camera, rodrigues_to_matrix
from ..errors import Mocap3dError
from ..logs import get_logger

log = get_logger("calibration")


def distort_vectorized(xy: np.ndarray, dist: np.ndarray, fisheye: bool) -> np.ndarray:
    """Distorted normalized coords (M, 2) of ideal ones (M, 2) with per-point coefficients dist (M, D)."""
    x, y = xy[:, 0], xy[:, 1]
    d = np.zeros((len(xy), 5))
    d[:, :min(5, dist.shape[1])] = dist[:, :5]
    if fisheye:
        r = np.hypot(x, y)
        th = np.arctan(r)
        th2 = th * th
        thd = th * (1 + th2 * (d[:, 0] + th2 * (d[:, 1] + th2 * (d[:, 2] + th2 * d[:, 3]))))
        scale = np.divide(thd, r, out=np.ones_like(r), where=r > 1e-12)
        return xy * scale[:, None]
    k1, k2, p1, p2, k3 = d.T
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def transform(rvec: np.ndarray, tvec: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Points (M, 3) moved by per-point Rodrigues (M, 3) and translations (M, 3)."""
    R = rodrigues_to_matrix(rvec)
    return np.einsum("mij,mj->mi", R, X) + tvec


@dataclass
class BAProblem:
    """Observations of rigid point groups by cameras.

    Attributes:
        cameras: initial cameras (intrinsics and world -> camera poses).
        groups: local coordinates of each group's points, list of (Ng, 3) metres.
        group_poses: initial (rvec, tvec) group -> world per group.
        fixed_groups: True where a group's pose is known (defines the world frame).
        obs_cam, obs_group, obs_point: (M,) indices of camera, group, point within group.
        obs_uv: (M, 2) observed pixels.
        fixed_cameras: True where a camera's pose must not move (default: none).
    """

    cameras: Sequence[Camera]
    groups: Sequence[np.ndarray]
    group_poses: Sequence[tuple[np.ndarray, np.ndarray]]
    fixed_groups: Sequence[bool]
    obs_cam: np.ndarray
    obs_group: np.ndarray
    obs_point: np.ndarray
    obs_uv: np.ndarray
    fixed_cameras: Sequence[bool] | None = None


@dataclass
class BAResult:
    """Adjusted cameras and group poses, with residuals before and after (pixels)."""

    cameras: list[Camera]
    group_poses: list[tuple[np.ndarray, np.ndarray]]
    rms_before_px: float
    rms_after_px: float
    residuals_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    per_camera_rms_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    success: bool = True


def _n_intr(cam: Camera) -> int:
    return 4 + (4 if cam.fisheye else max(4, min(5, cam.distortions.size)))


def bundle_adjust(problem: BAProblem, refine_intrinsics: bool = False, loss: str = "soft_l1",
                  f_scale_px: float = 1.0, max_nfev: int = 200) -> BAResult:
    """Refine camera poses (and optionally intrinsics) and free group poses together.

    Args:
        problem: observations and initial values.
        refine_intrinsics: also adjust fx, fy, cx, cy and the distortion coefficients.
        loss: scipy robust loss ('linear', 'huber', 'soft_l1', 'cauchy').
        f_scale_px: residual scale (pixels) where the robust loss starts to bite.
    """
    cams = list(problem.cameras)
    C, G = len(cams), len(problem.groups)
    fixed_cam = np.zeros(C, bool) if problem.fixed_cameras is None else np.asarray(problem.fixed_cameras, bool)
    fixed_grp = np.asarray(problem.fixed_groups, bool)
    if not fixed_grp.any() and not fixed_cam.any():
        raise Mocap3dError("bundle adjustment needs a fixed board/scene or a fixed camera to keep the world frame")
    ci, gi, pi = (np.asarray(a, int) for a in (problem.obs_cam, problem.obs_group, problem.obs_point))
    uv = np.asarray(problem.obs_uv, float)
    ok = np.isfinite(uv).all(1)
    ci, gi, pi, uv = ci[ok], gi[ok], pi[ok], uv[ok]
    M = len(ci)
    offsets = np.cumsum([0] + [len(g) for g in problem.groups])
    local = np.concatenate([np.asarray(g, float).reshape(-1, 3) for g in problem.groups])[offsets[gi] + pi]

    # Parameter layout: [cam poses (6 each, free cams)] [intrinsics (free)] [group poses (6 each, free groups)]
    free_cams = np.flatnonzero(~fixed_cam)
    free_grps = np.flatnonzero(~fixed_grp)
    n_intr = np.array([_n_intr(c) for c in cams])
    cam_off = {c: 6 * k for k, c in enumerate(free_cams)}
    base = 6 * len(free_cams)
    intr_off = {}
    if refine_intrinsics:
        for c in range(C):
            intr_off[c] = base
            base += n_intr[c]
    grp_off = {g: base + 6 * k for k, g in enumerate(free_grps)}
    n_par = base + 6 * len(free_grps)

    def pack() -> np.ndarray:
        x = np.zeros(n_par)
        for c, o in cam_off.items():
            x[o:o + 3], x[o + 3:o + 6] = cams[c].rotation, cams[c].translation
        for c, o in intr_off.items():
            K, n = cams[c].matrix, n_intr[c]
            d = np.zeros(n - 4)
            d[:min(n - 4, cams[c].distortions.size)] = cams[c].distortions[:n - 4]
            x[o:o + n] = np.concatenate([[K[0, 0], K[1, 1], K[0, 2], K[1, 2]], d])
        for g, o in grp_off.items():
            x[o:o + 3], x[o + 3:o + 6] = problem.group_poses[g]
        return x

    cam_r = np.array([c.rotation for c in cams])
    cam_t = np.array([c.translation for c in cams])
    intr = np.zeros((C, 4 + 5))
    for c, cam in enumerate(cams):
        K = cam.matrix
        intr[c, :4] = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        intr[c, 4:4 + min(5, cam.distortions.size)] = cam.distortions[:5]
    grp_r = np.array([np.asarray(p[0], float) for p in problem.group_poses]).reshape(G, 3)
    grp_t = np.array([np.asarray(p[1], float) for p in problem.group_poses]).reshape(G, 3)
    fish = np.array([c.fisheye for c in cams])

    def unpack(x: np.ndarray):
        cr, ct, it, gr, gt = cam_r.copy(), cam_t.copy(), intr.copy(), grp_r.copy(), grp_t.copy()
        for c, o in cam_off.items():
            cr[c], ct[c] = x[o:o + 3], x[o + 3:o + 6]
        for c, o in intr_off.items():
            it[c, :n_intr[c]] = x[o:o + n_intr[c]]
        for g, o in grp_off.items():
            gr[g], gt[g] = x[o:o + 3], x[o + 3:o + 6]
        return cr, ct, it, gr, gt

    def residuals(x: np.ndarray) -> np.ndarray:
        cr, ct, it, gr, gt = unpack(x)
        Xw = transform(gr[gi], gt[gi], local)
        Xc = transform(cr[ci], ct[ci], Xw)
        z = np.where(np.abs(Xc[:, 2]) > 1e-9, Xc[:, 2], 1e-9)
        xy = Xc[:, :2] / z[:, None]
        out = np.empty((M, 2))
        for flag in (False, True):
            m = fish[ci] == flag
            if m.any():
                out[m] = distort_vectorized(xy[m], it[ci[m], 4:], flag)
        k = it[ci]
        proj = np.stack([k[:, 0] * out[:, 0] + k[:, 2], k[:, 1] * out[:, 1] + k[:, 3]], -1)
        return (proj - uv).ravel()

    blocks = [(ci == c, o, 6) for c, o in cam_off.items()]
    blocks += [(ci == c, o, n_intr[c]) for c, o in intr_off.items()]
    blocks += [(gi == g, o, 6) for g, o in grp_off.items()]
    rr, cc = [], []
    for mask, o, n in blocks:
        r = np.flatnonzero(mask)
        r2 = np.concatenate([2 * r, 2 * r + 1])
        rr.append(np.repeat(r2, n))
        cc.append(np.tile(np.arange(o, o + n), len(r2)))
    rr = np.concatenate(rr) if rr else np.zeros(0, int)
    cc = np.concatenate(cc) if cc else np.zeros(0, int)
    sparsity = coo_matrix((np.ones(len(rr), int), (rr, cc)), shape=(2 * M, n_par)).tocsr()
    sparsity.data[:] = 1

    x0 = pack()
    r0 = residuals(x0).reshape(M, 2)
    rms0 = float(np.sqrt(np.mean(np.sum(r0 ** 2, 1)))) if M else np.nan
    if n_par == 0 or M == 0:
        return BAResult(cams, list(problem.group_poses), rms0, rms0, np.linalg.norm(r0, axis=1))
    sol = least_squares(residuals, x0, jac_sparsity=sparsity, loss=loss, f_scale=f_scale_px,
                        x_scale="jac", method="trf", max_nfev=max_nfev, xtol=1e-10, ftol=1e-10, gtol=1e-10)
    cr, ct, it, gr, gt = unpack(sol.x)
    out_cams = []
    for c, cam in enumerate(cams):
        K = cam.matrix.copy()
        K[0, 0], K[1, 1], K[0, 2], K[1, 2] = it[c, :4]
        dist = it[c, 4:n_intr[c]] if c in intr_off else cam.distortions
        out_cams.append(cam.copy(matrix=K, distortions=np.array(dist, float), rotation=cr[c], translation=ct[c]))
    res = sol.fun.reshape(M, 2)
    err = np.linalg.norm(res, axis=1)
    per_cam = np.array([np.sqrt(np.mean(err[ci == c] ** 2)) if np.any(ci == c) else np.nan for c in range(C)])
    rms1 = float(np.sqrt(np.mean(err ** 2)))
    log.info("bundle adjustment: %d observations, %d parameters, RMS %.3f -> %.3f px", M, n_par, rms0, rms1)
    return BAResult(out_cams, [(gr[g], gt[g]) for g in range(G)], rms0, rms1, err, per_cam, bool(sol.success))
