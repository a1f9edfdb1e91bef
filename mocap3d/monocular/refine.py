"""Model-based refinement: fit the scaled OpenSim model to one camera's 2D keypoints.

Per frame, the fast IK solver (:class:`mocap3d.kinematics.lm_solver.LMSolver`)
minimizes, over the model's coordinates (joint limits kept):

* reprojection residuals ``sqrt(likelihood) * (projection - keypoint) / sigma_px`` (pixels);
* the lifter's 3D as a soft prior ``(model marker - lifted) / sigma_prior`` (metres, optional);
* foot contact: the height of each sole point (heel, metatarsal heads, toe
  tip) in the frames where it is on the floor ``/ sigma_contact`` (second pass only);
* temporal smoothness: coordinate tasks toward the previous frame's
  coordinates (first pass; looser on the foot's joints, which move fast),
  then toward the zero-phase low-passed first-pass coordinates (second
  pass, no lag).

Between the passes the floor height is re-measured on the model's soles and
the feet in contact are found (low and slow sole points).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import Mocap3dError
from ..logs import get_logger, progress
from .placement import WorldFrame

log = get_logger("monocular")

_ROOT = ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz")
_FOOT = ("ankle_angle_", "subtalar_angle_", "mtp_angle_")     # coordinate name prefixes of the foot's joints


@dataclass
class RefineOptions:
    """Weights of the model fit (the [monocular] refinement keys)."""

    sigma_px: float = 2.0            # px, keypoint noise at likelihood 1
    sigma_prior_m: float = 0.05      # m, lifted 3D prior
    sigma_contact_m: float = 0.01    # m, sole height in contact
    sigma_temporal_deg: float = 6.0  # deg per frame, first pass (translations: /100 m)
    # deg per frame, first pass, the foot's joints (ankle, subtalar, mtp): seen through the shortest segments (heel,
    # toes), a prior of 6 deg per frame held them back: early in swing the ankle lagged its truth by 3-7 frames
    # (up to 13 deg on the synthetic 45 deg view, 2D only; far ankle RMSE 3.4 -> 2.8 deg over 8 captures)
    sigma_temporal_foot_deg: float = 12.0
    sigma_smooth_deg: float = 2.0    # deg, second pass toward the low-passed first pass
    smooth_cutoff_hz: float = 6.0
    contact_height_m: float = 0.03
    contact_speed_m_s: float = 0.4
    likelihood_threshold: float = 0.3
    two_passes: bool = True
    final_smoothing: bool = True     # zero-phase low-pass of the coordinates at smooth_cutoff_hz
    refit_above_deg: float = 3.0     # no lifter: redo the first pass when the world frame turns more than this
    robust_px: float = 10.0          # px, Cauchy scale of the second pass's keypoint weights (0 = off)
    # Solver iterations per frame. First passes (their first frame: 200): two steps from the previous frame track
    # the motion (one loses up to 0.9 deg on synthetic running). Second pass: one step from the smoothed first
    # pass (more change the angles by < 0.1 deg on synthetic walking and running, < 0.5 deg on real video).
    max_iter_first: int = 2
    max_iter_second: int = 1
    depth_hypotheses: bool = False   # per leg, depth-mirrored alternatives chosen over the clip (.hypotheses)
    hypothesis_min_shift_m: float = 0.05   # m, an alternative only where it moves the knee/ankle more than this
    hypothesis_switch_cost: float = 4.0    # cost units (squared sigmas) for changing a leg's branch
    hypothesis_sigma_angle_deg: float = 2.5  # deg, pull of a candidate's hip and knee angles to the lifter's
    # Weak priors (coordinate, degrees, sigma degrees) on what keypoints do not show. The three hip keypoints
    # are collinear, so how the trunk's lean splits between pelvis tilt and lumbar extension is not seen: adult
    # walking means (anterior pelvic tilt ~10 deg, Perry & Burnfield 2010; lumbar ~4 deg flexed) decide it and
    # stop it drifting from frame to frame. Subtalar inversion trades with ankle flexion when the foot is seen
    # obliquely (heel and toes only): a prior at neutral keeps the ankle angle from taking the swing. The toes
    # (mtp) likewise trade with the ankle when the foot is small in the image: a weak prior at neutral (they
    # reach ~30 deg only at push-off).
    posture_prior_deg: tuple[tuple[str, float, float], ...] = (
        ("pelvis_tilt", -10.0, 5.0), ("lumbar_extension", -4.0, 5.0),
        ("subtalar_angle_r", 0.0, 3.0), ("subtalar_angle_l", 0.0, 3.0),
        ("mtp_angle_r", 0.0, 20.0), ("mtp_angle_l", 0.0, 20.0))


@dataclass
class FitResult:
    """Model fit of one camera.

    Attributes:
        q: (F, NQ) state Q vectors; coordinates: names of the model's coordinates;
        values: (F, N) coordinate values (rad, m) in coordinate-set order.
        markers: (F, M, 3) model keypoint positions in the world (m, Y up).
        reprojection_px: (F, M) distance projection - keypoint (NaN where not seen).
        contacts: (F, 2) right / left foot on the floor.
        floor_shift_m: floor height found on the soles after the first pass (m, moved to 0).
        iterations: mean solver iterations per frame and pass.
    """

    q: np.ndarray
    coordinates: list[str]
    values: np.ndarray
    markers: np.ndarray
    reprojection_px: np.ndarray
    contacts: np.ndarray
    frame: WorldFrame
    floor_shift_m: float = 0.0
    iterations: list[float] = field(default_factory=list)
    branches: dict | None = None     # depth hypotheses: frames with alternatives / switched per leg (or None)


def _ground_names(model) -> list[str]:
    ms = model.getMarkerSet()
    return [ms.get(i).getName() for i in range(ms.getSize()) if ms.get(i).getName().startswith("_ground_")]


def fit_model(model, names: Sequence[str], uv: np.ndarray, conf: np.ndarray, K: np.ndarray, frame: WorldFrame,
              root_world: np.ndarray, rate: float, prior: np.ndarray | None = None,
              opts: RefineOptions | None = None, show_progress: bool = True,
              reframe: Callable[[np.ndarray], WorldFrame] | None = None) -> FitResult:
    """Fit ``model`` (scaled, carrying markers ``names`` and ``_ground_*`` sole points) to one camera.

    Args:
        names: (M,) keypoint names (markers of the model).
        uv: (F, M, 2) undistorted pixels, NaN = missing; conf: (F, M) likelihood.
        K: (3, 3) camera matrix; frame: world frame (camera extrinsics).
        root_world: (F, 3) first guess of the mid-hip position (world, m), for the first frame.
        prior: (F, M, 3) lifted 3D placed in the world (m), NaN = none.
        reframe: camera-axes keypoints (F, M, 3) -> a new world frame, applied after the first pass.
    """
    from ..filtering.filters import butterworth
    from ..kinematics.forward import default_q, q_indices
    from ..kinematics.lm_solver import LMSolver
    opts = opts or RefineOptions()
    F, M = uv.shape[:2]
    ground = _ground_names(model)
    all_names = list(names) + ground
    w = np.r_[np.full(M, 1 / opts.sigma_prior_m ** 2), np.full(len(ground), 1 / opts.sigma_contact_m ** 2)]
    solver = LMSolver(model, all_names, w, tol=1e-6, max_iter=20, rel_cost_tol=1e-4, normalize=False)
    solver.set_camera(K, frame.R, frame.t)
    cs = model.getCoordinateSet()
    coords = [cs.get(i).getName() for i in range(cs.getSize())]
    qidx = q_indices(model, solver.state, coords)
    transl = np.array([cs.get(i).getMotionType() != 1 for i in range(cs.getSize())])
    seen = np.isfinite(uv).all(-1) & (conf >= opts.likelihood_threshold)
    G = len(ground)
    px = np.concatenate([np.where(seen[..., None], uv, np.nan), np.full((F, G, 2), np.nan)], 1)
    pw = np.concatenate([np.sqrt(np.where(seen, conf, 0.0)) / opts.sigma_px, np.zeros((F, G))], 1)
    obs = np.full((F, M + len(ground), 3), np.nan)
    if prior is not None:
        obs[:, :M] = prior
    # first frame: default pose facing +X, mid-hip on the placed root
    q0 = default_q(model, solver.state)
    hip = list(names).index("Hip") if "Hip" in names else None
    start = int(np.flatnonzero(np.isfinite(root_world).all(1))[0])
    if hip is not None:
        shift = root_world[start] - solver.positions(q0)[hip]
        q0[qidx[[coords.index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]]] += shift
    sig_all = np.where(transl, opts.sigma_temporal_deg / 100, np.radians(opts.sigma_temporal_deg))
    sig_t = np.where([c.startswith(_FOOT) for c in coords], np.radians(opts.sigma_temporal_foot_deg), sig_all)
    post_w, post_v = np.zeros(len(coords)), np.zeros(len(coords))
    for c, v, sd in opts.posture_prior_deg:
        if c in coords:
            post_w[coords.index(c)] = 1 / np.radians(sd) ** 2
            post_v[coords.index(c)] = np.radians(v)
    prior_tasks = (post_w, post_v)
    order = list(range(start, F)) + list(range(start - 1, -1, -1))
    q1, track = _pass(solver, order, q0, obs, px, pw, qidx, 1 / sig_t ** 2, None,
                      "model fit 1/2" if show_progress else None, prior_tasks, max_iter=opts.max_iter_first)
    iters = [float(np.mean(solver.iterations))]
    branches = None
    if opts.depth_hypotheses:
        from .hypotheses import choose_branches
        q1, track, branches = choose_branches(
            solver, q1, track, obs, px, pw, qidx, coords, list(names), frame.to_camera, frame.to_world,
            1 / sig_all ** 2, prior_tasks, opts.hypothesis_min_shift_m, opts.hypothesis_switch_cost,
            opts.hypothesis_sigma_angle_deg,
            desc="depth hypotheses" if show_progress else None)
    root_idx = qidx[[coords.index(c) for c in _ROOT]] if all(c in coords for c in _ROOT) else None
    # track: (F, M + G, 3) model keypoints and soles
    if reframe is not None and root_idx is not None:
        # the world frame again, from the fitted model's keypoints (better than the placement's first 3D)
        new = reframe(frame.to_camera(track[:, :M]))
        RT, tT = new.R.T @ frame.R, new.R.T @ (frame.t - new.t)              # old world -> new world
        q1 = move_root(q1, root_idx, RT, tT)
        track = track @ RT.T + tT
        if prior is not None:
            obs[:, :M] = obs[:, :M] @ RT.T + tT
        frame = new
        turn = float(np.degrees(np.arccos(np.clip((np.trace(RT) - 1) / 2, -1, 1))))
        # Without a lifter the first pass's split of unseen directions was made in a tilted world: redo it. With
        # one, the lifted 3D (turned with the world) held those directions; the second pass applies the posture
        # priors in the new world (redoing it moved real-video angles by < 0.5 deg, at a third of the fit's time).
        if turn > opts.refit_above_deg and prior is None:
            solver.set_camera(K, frame.R, frame.t)
            # warm-started from the first pass moved into the new world: one step per frame
            q1, track = _pass(solver, order, q1[start], obs, px, pw, qidx, 1 / sig_t ** 2, None,
                              "model fit 1/2 (new world frame)" if show_progress else None, prior_tasks, guesses=q1,
                              max_iter=1)
    # floor and contacts from the soles of the first pass
    soles = track[:, M:]
    y = soles[..., 1]
    low = np.nanpercentile(np.nanmin(y, 1), 10)
    shift_floor = float(low)
    frame = WorldFrame(frame.R, frame.t + shift_floor * frame.R[:, 1], frame.travel_m, frame.walking,
                       frame.view_angle_deg, frame.floor_points)
    q1[:, qidx[coords.index("pelvis_ty")]] -= shift_floor
    track[..., 1] -= shift_floor
    down = _contacts(track[:, M:], rate, opts)                          # (F, G) sole points on the floor
    half = len(ground) // 2
    contacts = np.stack([down[:, :half].any(1), down[:, half:].any(1)], 1)
    if opts.robust_px > 0:   # Cauchy weights from the first pass: a keypoint far from the model counts less
        r = np.linalg.norm(_project(track[:, :M], K, frame) - np.nan_to_num(uv), axis=-1)
        pw[:, :M] *= np.where(seen, 1 / np.sqrt(1 + (r / opts.robust_px) ** 2), 0.0)
    if opts.two_passes and F >= 12:
        solver.set_camera(K, frame.R, frame.t)
        if prior is not None:
            obs[:, :M, 1] -= shift_floor
        # only the sole points that are themselves on the floor: the heel rises before the toes leave it
        obs[:, M:, 1] = np.where(down, 0.0, np.nan)
        smooth = butterworth(q1, rate, min(opts.smooth_cutoff_hz, rate / 2.5))
        sig_s = np.where(transl, opts.sigma_smooth_deg / 100, np.radians(opts.sigma_smooth_deg))
        solver.iterations = []
        q, _ = _pass(solver, order, smooth[start], obs, px, pw, qidx, 1 / sig_s ** 2, smooth,
                     "model fit 2/2" if show_progress else None, prior_tasks, max_iter=opts.max_iter_second)
        iters.append(float(np.mean(solver.iterations)))
    else:
        q = q1
    if opts.final_smoothing and F >= 12:
        q = butterworth(q, rate, min(opts.smooth_cutoff_hz, rate / 2.5))
    markers = _marker_track(solver, q, slice(0, M))
    proj = _project(markers, K, frame)
    err = np.where(seen, np.linalg.norm(proj - np.nan_to_num(uv), axis=-1), np.nan)
    return FitResult(q, coords, q[:, qidx], markers, err, contacts, frame, shift_floor, iters, branches)


def _pass(solver, order: list[int], q0: np.ndarray, obs: np.ndarray, px: np.ndarray, pw: np.ndarray,
          qidx: np.ndarray, task_w: np.ndarray, targets: np.ndarray | None, desc: str | None,
          prior: tuple[np.ndarray, np.ndarray], guesses: np.ndarray | None = None, max_iter: int = 20
          ) -> tuple[np.ndarray, np.ndarray]:
    """One sweep over ``order`` (forward from the start frame, then backward): Q vectors (F, NQ) and the
    model markers there (F, M, 3) (the solver's own, no extra forward kinematics).

    Coordinate tasks: ``task_w`` toward the previous frame (or ``targets``) plus the
    posture prior (weights, values) per coordinate, combined into one task each.
    ``guesses`` (F, NQ): start each frame there (an earlier pass) instead of at the previous frame.
    """
    pw_, pv = prior
    w_all = task_w + pw_
    F = obs.shape[0]
    q = np.full((F, len(q0)), np.nan)
    pts = np.full(obs.shape, np.nan)
    it = progress(order, desc=desc, unit="frame") if desc else order
    start = order[0]
    for f in it:
        nb = f - 1 if f > start else f + 1
        first = not (0 <= nb < F and np.isfinite(q[nb]).all())
        if targets is not None:
            guess = target = targets[f]
        else:
            target = q0 if first else q[nb]
            guess = target if guesses is None else guesses[f]
        solver.set_coordinate_tasks(qidx, w_all, (task_w * target[qidx] + pw_ * pv) / w_all)
        if not (np.isfinite(px[f]).any() or np.isfinite(obs[f]).any()):
            q[f] = guess
            pts[f] = solver.positions(guess)
            continue
        q[f], _ = solver.solve(guess, obs[f], 200 if first and targets is None and guesses is None else max_iter,
                               pixels=px[f], pixel_weights=pw[f])
        pts[f] = solver.points
    return q, pts


def move_root(q: np.ndarray, root_idx: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Q vectors (F, NQ) with the pelvis moved by the rigid map x -> R x + t of the world.

    ``root_idx``: Q indices of pelvis_tilt, _list, _rotation, _tx, _ty, _tz; the
    pelvis orientation is Rz(tilt) Rx(list) Ry(rotation) (intrinsic ZXY, as in
    gait2392's ground_pelvis joint) and its origin (tx, ty, tz).
    """
    from scipy.spatial.transform import Rotation
    out = q.copy()
    rot = Rotation.from_euler("ZXY", q[:, root_idx[:3]])
    out[:, root_idx[:3]] = np.unwrap(Rotation.from_matrix(R @ rot.as_matrix()).as_euler("ZXY"), axis=0)
    out[:, root_idx[3:]] = q[:, root_idx[3:]] @ R.T + t
    return out


def _marker_track(solver, q: np.ndarray, sl: slice) -> np.ndarray:
    return np.stack([solver.positions(qf)[sl] for qf in q])


def _project(points: np.ndarray, K: np.ndarray, frame: WorldFrame) -> np.ndarray:
    xc = frame.to_camera(points)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([K[0, 0] * xc[..., 0] / xc[..., 2] + K[0, 2], K[1, 1] * xc[..., 1] / xc[..., 2] + K[1, 2]], -1)


def _contacts(soles: np.ndarray, rate: float, opts: RefineOptions) -> np.ndarray:
    """(F, G) sole points on the floor: low (< contact_height_m) and slow (< contact_speed_m_s)."""
    F, G = soles.shape[:2]
    speed = np.zeros((F, G))
    if F > 2:
        v = np.gradient(soles[..., [0, 2]], axis=0) * rate
        speed = np.linalg.norm(v, axis=-1)
    return (soles[..., 1] < opts.contact_height_m) & (speed < opts.contact_speed_m_s)


def fit_summary(fit: FitResult) -> dict:
    """JSON-ready numbers of a fit."""
    e = fit.reprojection_px
    ok = np.isfinite(e)
    return {"reprojection_error_px": {"mean": float(np.nanmean(e)) if ok.any() else None,
                                      "median": float(np.nanmedian(e)) if ok.any() else None,
                                      "p95": float(np.nanpercentile(e, 95)) if ok.any() else None},
            "floor_shift_m": fit.floor_shift_m,
            "contact_fraction": {"right": float(fit.contacts[:, 0].mean()), "left": float(fit.contacts[:, 1].mean())},
            "solver_iterations_per_frame": fit.iterations, "depth_branches": fit.branches}


def check_model(model, names: Sequence[str]) -> list[str]:
    """Keypoint names the model carries (raises when fewer than 6)."""
    ms = model.getMarkerSet()
    on = [n for n in names if ms.contains(n)]
    if len(on) < 6:
        raise Mocap3dError(f"only {len(on)} keypoints of the skeleton are on the model; the monocular fit needs 6")
    return on
