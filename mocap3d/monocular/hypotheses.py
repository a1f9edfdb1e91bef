"""Depth-mirrored leg hypotheses, chosen over the whole clip by dynamic programming.

One camera sees a thigh or a shank only up to the sign of its depth: a knee
on the hip's side of the camera ray can sit in front of or behind the hip
(same pixel, same bone length), and so can the ankle relative to the knee.
A fit that tracks frame to frame from the previous frame keeps whichever
branch it started on; which one that is depends on where it started (run
backward in time, the same inputs give other legs).

Here, after the tracked first pass, each leg gets per frame up to three
alternatives built from the tracked model keypoints (camera axes):

* thigh flip: the knee moved to the other point of its camera ray at the
  thigh's length from the hip; the ankle then put at the shank's length from
  the new knee on its own ray (the root nearer its tracked depth); the foot
  points follow the ankle;
* thigh and shank flip: the same with the ankle's other root;
* shank flip: the ankle moved to the other point of its ray at the shank's
  length from the knee; the foot points follow.

An alternative is built only where its joint moves by more than
``min_shift_m`` (a segment square to the camera ray has one solution). The
model's leg is fitted to each alternative (its keypoints as 3D targets, the
rest of the body held by strong coordinate tasks), then every candidate, the
tracked one included, takes a few solver steps on the frame's real cost with
the rest of the body still held and without the temporal term. Candidates thus
differ in the leg only and are compared on the leg's own cost: its keypoints'
reprojection and lifted-3D prior, its coordinates' posture prior, and the
distance of its hip (trunk-thigh) and knee angles to the lifter's
(``sigma_angle_deg``; angles do not depend on where the lifted skeleton was
placed). Joint limits are hard bounds of the solver. Per leg, a Viterbi pass
(:func:`best_path`) over frames picks the sequence of candidates minimizing the
sum of those costs plus the temporal term between consecutive frames'
coordinates (the first pass's own smoothness weights) plus ``switch_cost``
where a leg coordinate jumps by more than 20 degrees. Cost grows only where
alternatives exist.
"""
from __future__ import annotations

import numpy as np

from ..logs import progress

# leg chains: hip, knee, ankle, then the foot points that follow the ankle (those present are used)
_FOOT = ("Heel", "BigToe", "SmallToe", "FootIndex")
_LEG_COORDS = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle", "subtalar_angle")


def other_root(p: np.ndarray, parent: np.ndarray, length: float) -> np.ndarray | None:
    """The other point on the camera ray through ``p`` (camera axes, m) at ``length`` from ``parent``.

    Points on the ray are ``s * u`` (u = p / |p|); ``|s u - parent| = length`` has two roots
    ``s = u.parent +- sqrt((u.parent)^2 - |parent|^2 + length^2)``: returns the one farther from ``p``
    (None when the ray misses the sphere).
    """
    u = p / np.linalg.norm(p)
    b = float(u @ parent)
    disc = b * b - float(parent @ parent) + length * length
    if disc < 0:
        return None
    r = np.sqrt(disc)
    s = float(np.linalg.norm(p))
    s2 = b - r if abs(b + r - s) < abs(b - r - s) else b + r
    return s2 * u


def leg_alternatives(cam: np.ndarray, chain: list[int], feet: list[int], lengths: tuple[float, float],
                     min_shift_m: float) -> list[np.ndarray]:
    """Depth-mirrored keypoints of one leg in one frame.

    Args:
        cam: (M, 3) model keypoints in camera axes (m); chain: indices of hip, knee, ankle;
        feet: indices of the foot points; lengths: thigh and shank lengths (m).
    Returns:
        (M, 3) keypoint arrays (only the leg's rows changed): thigh flip (ankle at the depth nearer its own),
        thigh and shank flip, shank flip, each where it moves its joint by more than ``min_shift_m``.
    """
    h, k, a = (cam[i] for i in chain)
    out = []

    def put(k2: np.ndarray, a2: np.ndarray) -> None:
        x = cam.copy()
        x[chain[1]], x[chain[2]] = k2, a2
        x[feet] += a2 - a
        out.append(x)

    k2 = other_root(k, h, lengths[0])
    if k2 is not None and np.linalg.norm(k2 - k) > min_shift_m:
        far = other_root(a, k2, lengths[1])          # the ankle's two depths seen from the new knee
        near = None if far is None else other_root(far, k2, lengths[1])
        if far is None or near is None:
            put(k2, a + (k2 - k))
        else:
            if np.linalg.norm(near - a) > np.linalg.norm(far - a):
                near, far = far, near
            put(k2, near)                            # thigh flip, ankle kept near its depth
            if np.linalg.norm(far - near) > min_shift_m:
                put(k2, far)                         # thigh and shank flipped
    a2 = other_root(a, k, lengths[1])
    if a2 is not None and np.linalg.norm(a2 - a) > min_shift_m:
        put(k, a2)                                   # shank flip
    return out


def leg_angles(x: np.ndarray, names: list[str], side: str) -> np.ndarray:
    """(F, 2) hip angle (trunk to thigh) and knee flexion (deg, 0 = straight) of one leg from keypoints (F, M, 3).

    Both depend on the leg's depth branch but not on where the skeleton is placed or how it is scaled,
    so a lifter's 3D gives them even when its depth placement is off. NaN where a keypoint is missing.
    """
    def ang(u, v):
        with np.errstate(invalid="ignore"):
            c = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        return np.degrees(np.arccos(np.clip(c, -1, 1)))
    g = {n: x[:, names.index(n)] for n in ("LHip", "RHip", "LShoulder", "RShoulder") if n in names}
    h, k, a = (x[:, names.index(side + n)] for n in ("Hip", "Knee", "Ankle"))
    if len(g) == 4:
        trunk = (g["LShoulder"] + g["RShoulder"] - g["LHip"] - g["RHip"]) / 2
        hip = 180 - ang(trunk, k - h)
    else:
        hip = np.full(len(x), np.nan)
    return np.stack([hip, 180 - ang(h - k, a - k)], -1)


def best_path(unary: list[np.ndarray], pair: list[np.ndarray]) -> np.ndarray:
    """Index per frame minimizing sum unary[f][i_f] + sum pair[f][i_{f-1}, i_f] (pair[0] unused)."""
    acc = unary[0].copy()
    back = []
    for f in range(1, len(unary)):
        tot = acc[:, None] + pair[f]
        back.append(np.argmin(tot, 0))
        acc = tot.min(0) + unary[f]
    path = [int(np.argmin(acc))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return np.array(path[::-1])


def choose_branches(solver, q: np.ndarray, pts: np.ndarray, obs: np.ndarray, px: np.ndarray, pw: np.ndarray,
                    qidx: np.ndarray, coords: list[str], names: list[str], to_camera, to_world,
                    task_w: np.ndarray, prior: tuple[np.ndarray, np.ndarray], min_shift_m: float = 0.05,
                    switch_cost: float = 4.0, sigma_angle_deg: float = 2.5, max_iter: int = 2, polish_iter: int = 1,
                    desc: str | None = None, iter_no_prior: tuple[int, int] = (6, 4)) -> tuple[np.ndarray, np.ndarray, dict]:
    """Per leg, the sequence of depth branches of least cost (module docstring).

    Args:
        q: (F, NQ) tracked first-pass Q vectors; pts: (F, M', 3) the solver's markers there (world, m), the
            first M = len(names) are keypoints.
        obs, px, pw: the pass's 3D targets (F, M', 3), pixels (F, M', 2) and pixel weights (F, M').
        to_camera / to_world: world <-> camera axes maps of (..., 3) arrays.
        task_w: (N,) temporal weights per coordinate (1/rad^2, 1/m^2); prior: posture prior (weights, values).
        max_iter, polish_iter: solver steps toward an alternative, then on the frame's cost (every candidate);
            ``iter_no_prior`` replaces both when there is no lifted 3D (no angle term to decide).
    Returns:
        Q vectors (F, NQ), their markers (F, M', 3), and a summary per leg: frames with alternatives, frames
        where another candidate than the tracked one was kept.
    """
    F, M = q.shape[0], len(names)
    pw_, pv = prior
    if not np.isfinite(obs[:, :M]).any():
        # no lifter: candidates differ by little more than perspective, so they are compared well converged
        max_iter, polish_iter = iter_no_prior
    sw = solver.sqrt_w
    K, R, t = solver.camera

    def cost(qf: np.ndarray, f: int, p: np.ndarray, rows: list[int], lc: list[int]) -> float:
        """The frame's cost on one leg: its keypoints' reprojection and prior, its coordinates' posture prior."""
        p, x, o, w = p[rows], px[f, rows], obs[f, rows], pw[f, rows]
        xc = p @ R.T + t
        uv = np.stack([K[0, 0] * xc[:, 0] / xc[:, 2] + K[0, 2], K[1, 1] * xc[:, 1] / xc[:, 2] + K[1, 2]], 1)
        e_px = np.where(np.isfinite(x).all(1), w ** 2 * np.sum((uv - np.nan_to_num(x)) ** 2, 1), 0.0)
        e3 = sw[rows] ** 2 * np.sum(np.where(np.isfinite(o), p - np.nan_to_num(o), 0.0) ** 2, 1)
        e_post = pw_[lc] * (qf[qidx[lc]] - pv[lc]) ** 2
        return float(e_px.sum() + e3.sum() + e_post.sum())

    summary = {"frames_with_alternatives": {}, "frames_switched": {}}
    out_q, out_p = q.copy(), pts.copy()
    for side in "RL":
        chain = [names.index(side + n) if side + n in names else -1 for n in ("Hip", "Knee", "Ankle")]
        if min(chain) < 0:
            continue
        feet = [names.index(side + n) for n in _FOOT if side + n in names]
        leg = [*chain, *feet]
        lc = [coords.index(f"{c}_{side.lower()}") for c in _LEG_COORDS if f"{c}_{side.lower()}" in coords]
        cam = to_camera(out_p[:, :M])
        lengths = (float(np.nanmedian(np.linalg.norm(cam[:, chain[1]] - cam[:, chain[0]], axis=-1))),
                   float(np.nanmedian(np.linalg.norm(cam[:, chain[2]] - cam[:, chain[1]], axis=-1))))
        hold = np.ones(len(coords), bool)
        hold[lc] = False
        hold_w = np.where(hold, 100 * task_w, pw_)
        cands_q, cands_p, unary = [], [], []
        it = progress(range(F), desc=f"{desc} ({side})", unit="frame") if desc else range(F)
        n_alt = 0
        for f in it:
            qs, ps = [out_q[f]], [out_p[f]]
            alts = leg_alternatives(cam[f], chain, feet, lengths, min_shift_m) if np.isfinite(cam[f, chain]).all() \
                else []
            if alts:
                n_alt += 1
                # the rest of the body held where it is: only the leg's coordinates move, so candidates
                # differ only in the leg and compare on the leg's own cost
                solver.set_coordinate_tasks(qidx, hold_w, np.where(hold, out_q[f, qidx], pv))
                qs, ps = [], []
                for alt in [None, *alts]:
                    qa = out_q[f]
                    if alt is not None:
                        o = np.full_like(obs[f], np.nan)
                        o[leg] = to_world(alt[leg])
                        qa, _ = solver.solve(qa, o, max_iter)
                    # every candidate (the tracked one too) polished the same way, without a temporal term
                    qa, _ = solver.solve(qa, obs[f], polish_iter, pixels=px[f], pixel_weights=pw[f])
                    qs.append(qa)
                    ps.append(solver.points.copy())
            cands_q.append(np.array(qs))
            cands_p.append(np.array(ps))
            u = np.array([cost(qc, f, pc, leg, lc) for qc, pc in zip(qs, ps)])
            if sigma_angle_deg > 0 and len(qs) > 1:
                lift = leg_angles(obs[f][None, :M], names, side)[0]
                if np.isfinite(lift).all():
                    cand = leg_angles(np.array(ps)[:, :M], names, side)
                    u = u + np.sum(((cand - lift) / sigma_angle_deg) ** 2, -1)
            unary.append(u)
        if n_alt == 0:
            continue
        pair = [np.zeros((1, len(cands_q[0])))]
        for f in range(1, F):
            a, b = cands_q[f - 1][:, qidx], cands_q[f][:, qidx]
            d = a[:, None, :] - b[None, :, :]
            cst = np.sum(task_w * d ** 2, -1)
            # plus a constant where a leg coordinate jumps by more than 20 deg (a change of branch): no flickering
            dl = np.abs(d[..., lc]).max(-1)
            pair.append(cst + switch_cost * (dl > np.radians(20)))
        path = best_path(unary, pair)
        chosen = np.flatnonzero(path > 0)
        for f in chosen:
            out_q[f] = cands_q[f][path[f]]
            out_p[f] = cands_p[f][path[f]]
        summary["frames_with_alternatives"][side] = n_alt
        summary["frames_switched"][side] = int(len(chosen))
    return out_q, out_p, summary
