"""Extrinsic calibration from the 2D keypoints of the person every camera films.

Cameras with known intrinsics are posed from one person's keypoints alone
(no board, no measured scene points): :func:`calibrate_from_keypoints`.

1. Correspondences: the same keypoint at the same frame in two or more cameras,
   likelihood >= ``likelihood_threshold``, undistorted to ideal normalized
   coordinates by each camera's lens model.
2. Initialization: the camera pair sharing the most correspondences whose
   relative pose has a usable baseline (median ray angle >= 2 deg) gives an
   essential matrix (MAGSAC, whose final local optimization matters: a plain
   RANSAC 5-point model was 15 deg off on a near-planar walk) and a relative
   pose, refined by a small bundle adjustment; the points are triangulated and
   each further camera is posed by PnP RANSAC on them (refined on its inliers),
   the points being re-triangulated after each camera.
3. Bundle adjustment of every camera pose (but the first of the pair) and every
   3D point over <= ``max_frames`` evenly spread frames: pixel residuals with the
   full lens model, robust ``soft_l1`` loss, sparse Jacobian; observations more
   than ``outlier_px`` off are dropped, the points re-triangulated and the
   adjustment run again.
4. Metric scale: the reconstruction is known up to scale. It is scaled so that
   the median leg length (hip-knee + knee-ankle, both sides, all frames)
   equals ``LEG_FRACTION`` x the person's height, with the de Leva (1996) male
   thigh (422.2 mm) and shank (434.0 mm) lengths for a 1.741 m stature, the
   source of our own model (``mocap3d.kinematics.anthropometry``):
   ``LEG_FRACTION`` = 856.2 / 1741 = 0.4918; then, when the skeleton has
   shoulders and a head keypoint, so that the stature estimated from the
   whole body's median segment lengths equals the height
   (:func:`.body_frame.metric_scale`): a detector's hip keypoints alone can sit
   far from these proportions (BlazePose on Pose2Sim's demo: 7.5 %). The scale
   error is the person's own deviation from the proportions assumed (plus the
   offset between the detector's keypoints and the joint centres), typically
   a few percent; a wrong height gives the same relative error.
5. World frame (metres): up = median direction from the mid-ankles to the
   mid-shoulders (the person stands or walks upright), made orthogonal to the
   median left-right axis (hips + shoulders) and, when the pelvis travels along
   a line (level ground), to that line, which removes the forward lean of the
   trunk (10 deg in our synthetic walk); when it travels over an area, the
   normal of the pelvis' plane. A person who does not travel (squat, standing)
   keeps the forward lean in the up axis (11 deg on our synthetic squat); floor (up = 0) at the
   ``floor_percentile`` % of the heights of the foot keypoints (heels, toes,
   ankles: keypoints sit ~1-2 cm above the sole, so the floor is about that
   high; without heel/toe keypoints, the ankles' minus ``ANKLE_FRACTION`` x
   height, our model's ankle height); origin = horizontal mean of the pelvis (mid-hips) trajectory; X = the
   principal horizontal direction of the pelvis trajectory, pointing the way
   the person moves, when it spans more than ``min_travel_m``, else the
   horizontal direction from camera 0 to the origin. ``up = 'Y'``: X, Y up,
   Z = X x Y (OpenSim); ``up = 'Z'``: X, Y = Z x X, Z up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from threadpoolctl import threadpool_limits

from ..camera import Camera, CameraRig, matrix_to_rodrigues, rodrigues_to_matrix, triangulate_normalized
from ..errors import Mocap3dError
from ..logs import get_logger
from .body_frame import ANKLE_FRACTION, FOOT_KEYPOINTS, LEG_FRACTION, leg_length, metric_scale, world_frame
from .bundle_adjustment import distort_vectorized

log = get_logger("calibration")

MIN_POINTS = 30          # correspondences needed to start from a pair, and per camera in the end
MIN_ANGLE_DEG = 2.0      # median triangulation angle of a usable initial pair
OFFSET_ROUNDS = 6        # offsets estimated with the rig, then the rig adjusted on the resampled keypoints...
OFFSET_TOLERANCE = 0.05  # ...until no offset moves by more than this (frames)
OUTLIER_MEDIANS = 4.0    # outlier threshold: at least this many times the median residual of the first adjustment


@dataclass
class KeypointCalibration:
    """Result of :func:`calibrate_from_keypoints`.

    Attributes:
        rig: posed cameras (world frame of the module docstring, metres).
        rms_px: (C,) bundle-adjustment reprojection RMS per camera, pixels (robust
            inliers: residuals below ``outlier_px``).
        n_observations: (C,) keypoint observations of each camera used by the adjustment.
        n_points: 3D points (frame, keypoint) adjusted.
        n_outliers: observations with a residual above ``outlier_px`` after the adjustment.
        scale: metres per unit of the unscaled reconstruction (baseline of the initial pair = 1).
        leg_length_m: median hip-knee-ankle length after scaling (LEG_FRACTION x height when
            ``scale_from`` is 'leg').
        init_pair: names of the two cameras that initialized the reconstruction.
        points: (F, K, 3) triangulated keypoints of every frame in the world frame (m); NaN = not seen.
        up_axis: 'Y' or 'Z'.
        scale_from: 'stature' (whole-body segment lengths) or 'leg' (step 4 of the module docstring).
        offsets_frames: (C,) time offsets estimated and applied (frames; camera c's frame n is common
            frame n + offset), zeros when not estimated.
        swapped: (C, F) camera-frames whose left/right labels were exchanged (limb groups, any).
    """

    rig: CameraRig
    rms_px: np.ndarray
    n_observations: np.ndarray
    n_points: int
    n_outliers: int
    scale: float
    leg_length_m: float
    init_pair: tuple[str, str]
    points: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3)))
    up_axis: str = "Y"
    scale_from: str = "leg"
    offsets_frames: np.ndarray = field(default_factory=lambda: np.zeros(0))
    swapped: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), bool))

    def summary(self) -> dict:
        """JSON-able diagnostics."""
        return {"rms_px": dict(zip(self.rig.names, np.round(self.rms_px, 3).tolist())),
                "n_observations": dict(zip(self.rig.names, self.n_observations.tolist())),
                "n_points": self.n_points, "n_outliers": self.n_outliers, "scale": self.scale,
                "leg_length_m": self.leg_length_m, "leg_fraction_of_height": LEG_FRACTION,
                "init_pair": list(self.init_pair), "up_axis": self.up_axis, "scale_from": self.scale_from,
                "offsets_frames": dict(zip(self.rig.names, np.round(self.offsets_frames, 3).tolist())),
                "swapped_frames": dict(zip(self.rig.names, self.swapped.sum(1).astype(int).tolist()))}


# --------------------------------------------------------------------------- helpers
def _extrinsics(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[R | t] (C, 3, 4) from R (C, 3, 3) and t (C, 3)."""
    return np.concatenate([R, t[:, :, None]], axis=2)


def _reproj_norm(X: np.ndarray, R: np.ndarray, t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Normalized-coordinate error (C, N) of points X (N, 3) against xy (C, N, 2); inf behind a camera."""
    Xc = np.einsum("cij,nj->cni", R, X) + t[:, None, :]
    z = Xc[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.linalg.norm(Xc[..., :2] / z[..., None] - xy, axis=-1)
    return np.where(z > 0, err, np.inf)


def _triangulate(xy: np.ndarray, valid: np.ndarray, R: np.ndarray, t: np.ndarray, posed: np.ndarray,
                 max_err: np.ndarray, passes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) from the posed cameras' valid observations, and the observations kept (C, N).

    A point whose error exceeds ``max_err`` (C,) (normalized units) in some camera loses its
    worst observation and is triangulated again (up to ``passes`` times); NaN if still bad or < 2 views.
    """
    use = valid & posed[:, None]
    ext = _extrinsics(R, t)
    for _ in range(passes):
        X = triangulate_normalized(np.where(use[..., None], xy, np.nan), ext, use.astype(float))
        err = _reproj_norm(np.nan_to_num(X), R, t, np.nan_to_num(xy))
        bad = use & ~(err <= max_err[:, None])
        pts = np.flatnonzero(bad.any(0))
        if not len(pts):
            break
        worst = np.argmax(np.where(use, err / max_err[:, None], -1.0), axis=0)
        use[worst[pts], pts] = False
    drop = bad.any(0) | (use.sum(0) < 2)
    X[drop] = np.nan
    use[:, drop] = False
    return X, use


def _pair_pose(xa: np.ndarray, xb: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray, float, int] | None:
    """Relative pose (R, t |t|=1) of camera b from camera a, median ray angle (deg) and inliers, or None."""
    pa, pb = np.ascontiguousarray(xa, np.float64), np.ascontiguousarray(xb, np.float64)
    E, mask = cv2.findEssentialMat(pa, pb, np.eye(3), method=cv2.USAC_MAGSAC, prob=0.999, threshold=thr)
    if E is None or E.shape != (3, 3):
        return None
    n, R, t, mask = cv2.recoverPose(E, pa, pb, np.eye(3), mask=mask)
    inl = mask.ravel() > 0
    if n < MIN_POINTS:
        return None
    Rs = np.stack([np.eye(3), R])
    ts = np.stack([np.zeros(3), t.ravel()])
    X = triangulate_normalized(np.stack([pa[inl], pb[inl]]), _extrinsics(Rs, ts))
    ra = X / np.linalg.norm(X, axis=1, keepdims=True)
    cb = -R.T @ t.ravel()
    rb = (X - cb) / np.linalg.norm(X - cb, axis=1, keepdims=True)
    angle = float(np.degrees(np.nanmedian(np.arccos(np.clip(np.sum(ra * rb, 1), -1, 1)))))
    return R, t.ravel(), angle, int(n)


# --------------------------------------------------------------------------- initialization
def _refine(xy: np.ndarray, use: np.ndarray, R: np.ndarray, t: np.ndarray, X: np.ndarray, posed: np.ndarray,
            fixed: int, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bundle-adjust the posed cameras and points in normalized coordinates (unit cameras); returns R, t."""
    idx = np.flatnonzero(posed)
    cams = [Camera(str(i), (1, 1), np.eye(3), np.zeros(4), matrix_to_rodrigues(R[i]), t[i]) for i in idx]
    out, _, _ = bundle_adjust_points(cams, xy[idx], use[idx], X, int(np.flatnonzero(idx == fixed)[0]),
                                     f_scale_px=float(np.median(thr)) / 2, max_nfev=15)
    R, t = R.copy(), t.copy()
    for i, c in zip(idx, out):
        R[i], t[i] = c.R, c.translation
    return R, t


def initialize(xy: np.ndarray, valid: np.ndarray, focal: np.ndarray, names: Sequence[str],
               threshold_px: float = 4.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """Initial poses of every camera, up to scale.

    Args:
        xy: (C, N, 2) ideal normalized coordinates of N correspondences (any value where not valid).
        valid: (C, N) usable observations.
        focal: (C,) focal lengths (px) converting ``threshold_px`` to normalized units.
        names: camera names (for messages).
        threshold_px: RANSAC / outlier threshold, pixels.

    Returns:
        R (C, 3, 3), t (C, 3) world -> camera with the first camera of the pair at
        the origin and a unit baseline, points X (N, 3) (NaN = not triangulated),
        and the initial pair (a, b).
    """
    C = len(xy)
    thr = threshold_px / np.asarray(focal, float)   # (C,) normalized units
    shared = np.einsum("an,bn->ab", valid.astype(int), valid.astype(int))
    pairs = sorted(((shared[a, b], a, b) for a in range(C) for b in range(a + 1, C)), reverse=True)
    best = None
    for n, a, b in pairs:
        if n < MIN_POINTS:
            break
        m = valid[a] & valid[b]
        res = _pair_pose(xy[a, m], xy[b, m], float(np.sqrt(thr[a] * thr[b])))
        if res is None:
            log.info("keypoint calibration: pair %s-%s rejected (essential matrix failed)", names[a], names[b])
            continue
        if res[2] < MIN_ANGLE_DEG:
            log.info("keypoint calibration: pair %s-%s rejected (baseline too short: median ray angle %.1f deg)",
                     names[a], names[b], res[2])
            continue
        best = (a, b, res)
        break
    if best is None:
        raise Mocap3dError(f"no camera pair shares {MIN_POINTS}+ confident keypoints with a usable baseline "
                           f"(most shared: {int(pairs[0][0]) if pairs else 0}); check that the person is seen by "
                           "the cameras at the same frames (run 'mocap3d sync') and lower likelihood_threshold")
    a, b, (Rb, tb, angle, n_in) = best
    log.info("keypoint calibration: initial pair %s-%s (%d shared, %d inliers, median ray angle %.1f deg)",
             names[a], names[b], shared[a, b], n_in, angle)
    R = np.tile(np.eye(3), (C, 1, 1))
    t = np.zeros((C, 3))
    R[b], t[b] = Rb, tb
    posed = np.zeros(C, bool)
    posed[[a, b]] = True
    X, use = _triangulate(xy, valid, R, t, posed, 2 * thr)
    R, t = _refine(xy, use, R, t, X, posed, a, thr)   # the RANSAC essential matrix comes from 5 points
    X, _ = _triangulate(xy, valid, R, t, posed, 2 * thr)
    while not posed.all():
        seen = valid & np.isfinite(X).all(1)[None]
        counts = np.where(posed, -1, seen.sum(1))
        c = int(np.argmax(counts))
        if counts[c] < MIN_POINTS:
            raise Mocap3dError(f"camera {names[c]}: only {counts[c]} confident keypoints shared with the posed "
                               f"cameras (>= {MIN_POINTS} needed); it must see the person at the same frames")
        obj = np.ascontiguousarray(X[seen[c]], np.float64)
        img = np.ascontiguousarray(xy[c, seen[c]], np.float64)
        ok, rvec, tvec, inl = cv2.solvePnPRansac(obj, img, np.eye(3), None, iterationsCount=500,
                                                 reprojectionError=float(thr[c]), confidence=0.999,
                                                 flags=cv2.SOLVEPNP_EPNP)
        if not ok or inl is None or len(inl) < MIN_POINTS // 2:
            raise Mocap3dError(f"camera {names[c]}: PnP on the triangulated keypoints failed")
        inl = inl.ravel()
        for _ in range(3):  # refine on the inliers, then take the inliers of the refined pose
            rvec, tvec = cv2.solvePnPRefineLM(obj[inl], img[inl], np.eye(3), None, rvec, tvec)
            e = _reproj_norm(obj, rodrigues_to_matrix(rvec.ravel())[None], tvec.reshape(1, 3), img[None])[0]
            inl = np.flatnonzero(e <= thr[c])
            if len(inl) < MIN_POINTS // 2:
                raise Mocap3dError(f"camera {names[c]}: PnP on the triangulated keypoints failed")
        R[c], t[c] = rodrigues_to_matrix(rvec.ravel()), tvec.ravel()
        posed[c] = True
        log.info("keypoint calibration: %s posed by PnP (%d of %d inliers)", names[c], len(inl), len(obj))
        X, use = _triangulate(xy, valid, R, t, posed, 2 * thr)
        if len(inl) < 0.8 * len(obj):  # many PnP outliers: the points are off, adjust before going on
            R, t = _refine(xy, use, R, t, X, posed, a, thr)
            X, _ = _triangulate(xy, valid, R, t, posed, 2 * thr)
    return R, t, X, (a, b)


# --------------------------------------------------------------------------- bundle adjustment
def bundle_adjust_points(cameras: Sequence[Camera], uv: np.ndarray, valid: np.ndarray, X: np.ndarray,
                         fixed: int | Sequence[int], f_scale_px: float = 1.5, max_nfev: int = 60,
                         hold_centres: bool = False) -> tuple[list[Camera], np.ndarray, np.ndarray]:
    """Adjust camera poses (all but the ``fixed`` cameras) and free 3D points together.

    Args:
        cameras: posed cameras (intrinsics fixed).
        uv: (C, N, 2) observed pixels (distorted).
        valid: (C, N) observations to use.
        X: (N, 3) initial points (rows with NaN are left out and stay NaN).
        fixed: index (or indices) of the cameras whose poses are held (one defines the frame; the
            scale stays free); every camera: the points alone are adjusted (triangulation with the
            full lens model).
        f_scale_px: robust loss scale, pixels.
        hold_centres: the other cameras keep their centres and turn only (3 parameters each); with
            three or more cameras the centres set the frame and the scale. For measuring how well
            keypoints pin the centres: the cost with a reference rig's centres held against the
            cost of the free adjustment.

    Returns:
        Adjusted cameras, points (N, 3) and pixel residual norms (C, N) (NaN where not used).
    """
    C, N = valid.shape
    keep = np.isfinite(X).all(1) & (valid.sum(0) >= 2)
    pid = np.cumsum(keep) - 1
    ci, pi = np.nonzero(valid & keep[None])
    obs = uv[ci, pi]
    M, P = len(ci), int(keep.sum())
    held = {int(fixed)} if np.ndim(fixed) == 0 else {int(c) for c in fixed}
    free = [c for c in range(C) if c not in held]
    width = 3 if hold_centres else 6
    col = {c: width * k for k, c in enumerate(free)}
    n_cam = width * len(free)
    K = np.array([c.matrix for c in cameras])
    dist = np.zeros((C, 5))
    for c, cam in enumerate(cameras):
        dist[c, :min(5, cam.distortions.size)] = cam.distortions[:5]
    fish = np.array([c.fisheye for c in cameras])
    r0 = np.array([c.rotation for c in cameras])
    t0 = np.array([c.translation for c in cameras])
    centres = np.array([c.position for c in cameras])

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, t = r0.copy(), t0.copy()
        for c, o in col.items():
            r[c] = p[o:o + 3]
            t[c] = -rodrigues_to_matrix(r[c]) @ centres[c] if hold_centres else p[o + 3:o + 6]
        return r, t, p[n_cam:].reshape(P, 3)

    per_cam = [(c, np.flatnonzero(ci == c)) for c in range(C)]
    per_cam = [(c, o, pid[pi[o]], np.broadcast_to(dist[c], (len(o), 5))) for c, o in per_cam if len(o)]

    def residuals(p: np.ndarray) -> np.ndarray:
        r, t, pts = unpack(p)
        Rm = rodrigues_to_matrix(r)
        out = np.empty((M, 2))
        for c, o, rows, d in per_cam:  # observations are sorted by camera: one matrix product each
            Xc = pts[rows] @ Rm[c].T + t[c]
            z = np.where(Xc[:, 2] > 1e-6, Xc[:, 2], 1e-6)
            xd = distort_vectorized(Xc[:, :2] / z[:, None], d, bool(fish[c]))
            k = K[c]
            out[o, 0] = k[0, 0] * xd[:, 0] + k[0, 1] * xd[:, 1] + k[0, 2]
            out[o, 1] = k[1, 1] * xd[:, 1] + k[1, 2]
        return (out - obs).ravel()

    rows = np.repeat(np.arange(2 * M), 3)
    cols = (n_cam + 3 * np.repeat(pid[pi], 2)[:, None] + np.arange(3)).ravel()
    rr, cc = [rows], [cols]
    for c, o in col.items():
        r = np.flatnonzero(ci == c)
        r2 = np.concatenate([2 * r, 2 * r + 1])
        rr.append(np.repeat(r2, width))
        cc.append(np.tile(np.arange(o, o + width), len(r2)))
    rr_, cc_ = np.concatenate(rr), np.concatenate(cc)
    sparsity = coo_matrix((np.ones(len(rr_), int), (rr_, cc_)), shape=(2 * M, n_cam + 3 * P)).tocsr()
    sparsity.data[:] = 1
    p0 = np.concatenate([np.concatenate([[*r0[c], *t0[c]][:width] for c in free]) if free else np.zeros(0),
                         X[keep].ravel()])
    # lsmr's vector products gain nothing from BLAS threads; on 2 shared cores they cost 2.3x the wall time
    with threadpool_limits(1, user_api="blas"):
        sol = least_squares(residuals, p0, jac_sparsity=sparsity, loss="soft_l1", f_scale=f_scale_px,
                            x_scale="jac", method="trf", tr_solver="lsmr", max_nfev=max_nfev, xtol=1e-8, ftol=1e-8)
    r, t, pts = unpack(sol.x)
    out = [cam.copy(rotation=r[c], translation=t[c]) for c, cam in enumerate(cameras)]
    Xo = np.full((N, 3), np.nan)
    Xo[keep] = pts
    err = np.full((C, N), np.nan)
    err[ci, pi] = np.linalg.norm(sol.fun.reshape(M, 2), axis=1)
    return out, Xo, err


# --------------------------------------------------------------------------- main entry
def _observations(cams: Sequence[Camera], kp: np.ndarray, likelihood_threshold: float, max_frames: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (C, N, 2), usable observations (C, N) and ideal normalized coordinates (C, N, 2) of the
    (frame, keypoint) points of <= ``max_frames`` evenly spread frames seen by 2+ cameras, and the
    usable mask of every frame (C, F, K)."""
    C = kp.shape[0]
    valid = np.isfinite(kp).all(-1) & (kp[..., 2] >= likelihood_threshold)
    frames = np.flatnonzero((valid.sum(0) >= 2).any(1))
    if len(frames) > max_frames:
        frames = frames[np.round(np.linspace(0, len(frames) - 1, max_frames)).astype(int)]
    uv = kp[:, frames, :, :2].reshape(C, -1, 2)
    v = valid[:, frames].reshape(C, -1)
    v &= v.sum(0)[None] >= 2
    xy = np.stack([c.undistort_points(np.nan_to_num(p)) for c, p in zip(cams, uv)])
    return uv, v, xy, valid


def _adjust(cams: list[Camera], uv: np.ndarray, v: np.ndarray, xy: np.ndarray, fixed: int, max_err: np.ndarray,
            passes: Sequence[int] = (30, 60)) -> tuple[list[Camera], np.ndarray, np.ndarray]:
    """Adjust; re-triangulate every point with the adjusted poses (outliers out); adjust again (step 3).
    ``passes``: the evaluations allowed to each adjustment."""
    C = len(cams)
    prev = None
    for nfev in passes:
        Rc = np.stack([c.R for c in cams])
        tc = np.stack([c.translation for c in cams])
        X, use = _triangulate(xy, v, Rc, tc, np.ones(C, bool), max_err)
        if prev is not None and np.array_equal(use, prev):
            break
        cams, X, err = bundle_adjust_points(cams, uv, use, X, fixed, max_nfev=nfev)
        prev = use
    return cams, X, err


def calibrate_from_keypoints(cameras: Sequence[Camera], keypoints: np.ndarray, names: Sequence[str],
                             height_m: float, likelihood_threshold: float = 0.5, max_frames: int = 300,
                             up: str = "Y", threshold_px: float = 4.0, outlier_px: float = 10.0,
                             fix_swaps: bool = True, max_offset_frames: float = 0.0,
                             rate: float = 60.0) -> KeypointCalibration:
    """Pose cameras of known intrinsics from one person's 2D keypoints (module docstring).

    Args:
        cameras: (C) cameras with intrinsics (their poses are ignored).
        keypoints: (C, F, K, 3) pixels x, y and likelihood of one person on a common
            frame clock (synchronized, or within ``max_offset_frames``); NaN = missing.
        names: (K,) keypoint names (hips, knees, ankles, shoulders needed).
        height_m: the person's stature, metres (sets the metric scale).
        likelihood_threshold: keypoints below it are not used.
        max_frames: frames (evenly spread) in the bundle adjustment.
        up: world up axis 'Y' (OpenSim) or 'Z'.
        threshold_px: RANSAC threshold of the initialization, pixels.
        outlier_px: residual above which an observation counts as an outlier, pixels; raised to
            ``OUTLIER_MEDIANS`` x the median residual of the first adjustment when that is larger
            (noisy detectors).
        fix_swaps: undo left/right swaps found with the first rig, then adjust again
            (:func:`.keypoint_consistency.fix_swaps`).
        max_offset_frames: > 0: the cameras' time offsets (up to this many frames) are
            estimated with the first rig, the keypoints resampled on the common clock and
            the rig adjusted again, twice (:func:`.keypoint_consistency.estimate_offsets`).
        rate: frame rate, Hz (for the offsets' low-pass).

    Returns:
        :class:`KeypointCalibration`.
    """
    from . import keypoint_consistency as kc
    kp = np.asarray(keypoints, float)
    C, F, K, _ = kp.shape
    names = list(names)
    if C < 2 or len(cameras) != C or len(names) != K:
        raise Mocap3dError(f"keypoint calibration needs >= 2 cameras with keypoints (got {C} keypoint arrays for "
                           f"{len(cameras)} cameras, {K} keypoints for {len(names)} names)")
    if not np.isfinite(height_m) or not 0.3 <= height_m <= 3.0:
        raise Mocap3dError(f"participant height {height_m} m is implausible; set project.participant_height (m)")
    up = up.upper()
    cams = [c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in cameras]
    uv, v, xy, valid = _observations(cams, kp, likelihood_threshold, max_frames)
    focal = np.array([c.focal for c in cams])
    R, t, X, (a, b) = initialize(xy, v, focal, [c.name for c in cams], threshold_px)
    cams = [c.copy(rotation=matrix_to_rodrigues(R[i]), translation=t[i]) for i, c in enumerate(cams)]
    max_err = outlier_px / focal
    cams, X, err = _adjust(cams, uv, v, xy, a, max_err)
    # The detector's noise sets the outlier threshold: 1 px synthetic noise keeps ``outlier_px``; BlazePose on
    # phones (median residual ~5 px) would lose a third of its observations to a 10 px threshold.
    noise_px = float(np.nanmedian(err))
    wider = OUTLIER_MEDIANS * noise_px > outlier_px
    if wider:
        log.info("keypoint calibration: median residual %.1f px: outlier threshold %.1f -> %.1f px", noise_px,
                 outlier_px, OUTLIER_MEDIANS * noise_px)
        outlier_px = OUTLIER_MEDIANS * noise_px
        max_err = outlier_px / focal
    swapped = np.zeros((C, F), bool)
    offsets = np.zeros(C)
    if fix_swaps:
        kp, swapped = kc.fix_swaps(cams, kp, names, outlier_px, likelihood_threshold)
        if swapped.any():
            log.info("keypoint calibration: left/right swaps undone in %s camera-frames (%s)", int(swapped.sum()),
                     ", ".join(f"{c.name} {n}" for c, n in zip(cams, swapped.sum(1)) if n))
    raw = kp
    if max_offset_frames > 0:   # integer steps with each camera re-posed, then sub-frame with the adjusted rig
        offsets = kc.search_offsets(cams, raw, offsets, names, max_offset_frames, likelihood_threshold, outlier_px)
        if np.any(offsets):
            kp = kc.resample(raw, offsets, names)
            uv, v, xy, valid = _observations(cams, kp, likelihood_threshold, max_frames)
            cams, X, err = _adjust(cams, uv, v, xy, a, max_err, passes=(20,))
    for _ in range(OFFSET_ROUNDS if max_offset_frames > 0 else 0):
        new, ref = kc.estimate_offsets(cams, raw, rate, max_offset_frames, likelihood_threshold)
        log.info("keypoint calibration: time offsets %s frames (reference %s)",
                 ", ".join(f"{c.name} {o:+.2f}" for c, o in zip(cams, new)), cams[ref].name)
        done = np.abs(new - offsets).max() < OFFSET_TOLERANCE
        offsets = new
        if done:
            break
        kp = kc.resample(raw, offsets, names)
        uv, v, xy, valid = _observations(cams, kp, likelihood_threshold, max_frames)
        cams, X, err = _adjust(cams, uv, v, xy, a, max_err, passes=(20,))   # a short one: the offsets move next
    if wider or swapped.any() or np.any(offsets):
        uv, v, xy, valid = _observations(cams, kp, likelihood_threshold, max_frames)
        cams, X, err = _adjust(cams, uv, v, xy, a, max_err)
    used = np.isfinite(err)
    inl = used & (err <= outlier_px)
    rms = np.array([np.sqrt(np.mean(err[c][inl[c]] ** 2)) if inl[c].any() else np.nan for c in range(C)])
    n_obs = used.sum(1)
    med = np.array([np.nanmedian(err[c]) if used[c].any() else np.nan for c in range(C)])
    if np.nanmax(med) > 4.0:  # median residual: 1-3.5 px from detectors; unsynchronized cameras add more
        log.warning("keypoint calibration: median reprojection error up to %.1f px (%s; RMS %s px): are the cameras "
                    "synchronized (run 'mocap3d sync' or set keypoints_max_offset_frames) and the intrinsics right?",
                    np.nanmax(med), ", ".join(f"{c.name} {r:.1f}" for c, r in zip(cams, med)),
                    ", ".join(f"{r:.1f}" for r in rms))
    for c in range(C):
        if n_obs[c] < MIN_POINTS:
            raise Mocap3dError(f"camera {cams[c].name}: {n_obs[c]} keypoints survive the bundle adjustment "
                               f"(>= {MIN_POINTS} needed)")
    # Every frame triangulated with the adjusted (unscaled) rig, for the scale and the world frame.
    xy_all = np.stack([c.undistort_points(np.nan_to_num(p)) for c, p in zip(cams, kp[..., :2].reshape(C, -1, 2))])
    Xall, _ = _triangulate(xy_all, valid.reshape(C, -1), np.stack([c.R for c in cams]),
                           np.stack([c.translation for c in cams]), np.ones(C, bool), max_err)
    Xall = Xall.reshape(F, K, 3)
    scale, scale_from = metric_scale(Xall, names, height_m)
    Xall *= scale
    cams = [c.copy(translation=c.translation * scale) for c in cams]
    A, bvec = world_frame(Xall, names, cams[0].position, up, ankle_height_m=ANKLE_FRACTION * height_m)
    out = []
    for c in cams:
        Rn = c.R @ A.T
        out.append(c.copy(rotation=matrix_to_rodrigues(Rn), translation=c.translation - Rn @ bvec))
    Xw = Xall @ A.T + bvec
    result = KeypointCalibration(CameraRig(out), rms, n_obs, int(np.isfinite(X).all(1).sum()),
                                 int(np.sum(used & ~inl)), float(scale), leg_length(Xw, names),
                                 (cams[a].name, cams[b].name), Xw, up, scale_from, offsets, swapped)
    log.info("keypoint calibration: %d points, RMS %s px, scale %.4f m/unit from the %s (%.2f m tall; leg %.3f m "
             "= %.4f x height)", result.n_points, ", ".join(f"{r:.2f}" for r in rms), scale,
             "stature estimated from the segment lengths" if scale_from == "stature" else "leg length", height_m,
             result.leg_length_m, result.leg_length_m / height_m)
    return result


__all__ = ["FOOT_KEYPOINTS", "KeypointCalibration", "LEG_FRACTION", "bundle_adjust_points", "calibrate_from_keypoints",
           "initialize", "leg_length", "world_frame"]
