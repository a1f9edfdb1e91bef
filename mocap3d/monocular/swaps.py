"""Left/right swap correction for one camera (the monocular counterpart of :mod:`..triangulation.swaps`).

With one camera there is no second view to vote, and in a side view the 2D
alone is nearly symmetric. Two kinds of evidence are combined per limb group
(legs, arms, head: :func:`~mocap3d.triangulation.swaps.swap_groups`):

* chirality of the lifted 3D (per frame): the body's forward direction from
  side-independent cues (heel -> toe of both feet, the bent knees ahead of
  the hip-ankle lines) against ``up x (right - left)``. Correct labels give a
  positive product; swapped labels (2D and 3D swapped together, as BlazePose
  does) a negative one. In a side view this is the depth ordering of the near
  and far limbs;
* temporal continuity (between frames) of the 2D keypoints and of the lifted
  3D: a swap run starts and ends with a jump of every left/right point onto
  the other side's previous position.

A Viterbi pass over frames picks, per group, the swapped/kept label sequence of
least total cost (a switch costs :data:`SWITCH_COST`, so one noisy frame does
not flip). A clear jump outweighs many frames of chirality: on Pose2Sim's demo
BlazePose swaps its 3D depth order together with the labels for whole runs
(its mirror-image body then has the right chirality), so the chirality mostly
decides stretches without a clear jump (the clip's start). Without a lifter
only the continuity and a small prior for the detector's own labels remain.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..triangulation.swaps import apply_group_swaps, swap_groups

#: Cost of a change of the swap state between consecutive frames (units: capped evidence terms).
SWITCH_COST = 1.0
#: Cost per frame of relabelling (the detector is right more often than not).
SWAP_PRIOR = 0.1
#: Chirality evidence is ``c / (CHIRALITY_SCALE * trunk)``, capped at +-CHIRALITY_CAP per frame.
CHIRALITY_SCALE = 0.05
CHIRALITY_CAP = 1.0
#: Continuity evidence: difference of summed jumps / (CONTINUITY_SCALE * trunk), capped at +-CONTINUITY_CAP.
#: A clear jump of every left/right point onto the other side's previous place (a swap run's ends) outweighs
#: many frames of chirality: the lifter's depth ordering can be wrong over whole runs.
CONTINUITY_SCALE = 0.1
CONTINUITY_CAP = 30.0
#: Weight of the other groups' evidence (chirality and continuity) in a group's costs (detectors mostly swap whole sides).
BODY_WEIGHT = 0.5


def _idx(names: list[str], *cands: str) -> list[int]:
    return [names.index(n) for n in cands if n in names]


def _mean(x: np.ndarray, idx: list[int]) -> np.ndarray:
    """(F, D) NaN-mean of keypoints ``idx`` of x (F, K, D) (NaN when none)."""
    if not idx:
        return np.full((x.shape[0], x.shape[-1]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x[:, idx], axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / n


def trunk_length(x: np.ndarray, names: list[str]) -> float:
    """Median mid-shoulder to mid-hip distance of x (F, K, D), in x's units (NaN when unknown)."""
    d = np.linalg.norm(_mean(x, _idx(names, "LShoulder", "RShoulder")) - _mean(x, _idx(names, "LHip", "RHip")), axis=-1)
    return float(np.nanmedian(d)) if np.isfinite(d).any() else np.nan


def forward_up(xyz: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Side-independent unit forward (F, 3) and up (F, 3) directions of a lifted 3D (F, K, 3).

    Up: mid-hip -> mid-shoulder. Forward: heel -> toe of both feet plus the knees' offset ahead of the
    hip-ankle lines (both sums are unchanged by a left/right swap), made orthogonal to up.
    """
    up = _unit(_mean(xyz, _idx(names, "LShoulder", "RShoulder")) - _mean(xyz, _idx(names, "LHip", "RHip")))
    fwd = np.zeros(xyz.shape[:1] + (3,))
    for s in "LR":
        toe = _mean(xyz, _idx(names, f"{s}BigToe", f"{s}SmallToe", f"{s}FootIndex", f"{s}Toe"))
        heel = _mean(xyz, _idx(names, f"{s}Heel"))
        fwd += np.nan_to_num(_unit(toe - heel))
        hip, knee, ank = (_mean(xyz, _idx(names, f"{s}{j}")) for j in ("Hip", "Knee", "Ankle"))
        fwd += np.nan_to_num(knee - (hip + ank) / 2) / max(trunk_length(xyz, names), 1e-9)
    fwd = fwd - np.sum(fwd * np.nan_to_num(up), -1, keepdims=True) * np.nan_to_num(up)
    return _unit(fwd), up


def chirality(xyz: np.ndarray, names: list[str], pairs: list[tuple[int, int]]) -> np.ndarray:
    """(F,) signed chirality of a group: ``(up x (right - left)) . forward``, in xyz's units; > 0 for
    correct labels, < 0 for swapped ones, NaN when unknown.

    Only the group's girdle pairs (hips, shoulders) are used when it has them: they are side by side,
    whereas knees and feet are also apart along the stride, which leaks into the product.
    """
    fwd, up = forward_up(xyz, names)
    girdle = [(l, r) for l, r in pairs if names[l][1:] in ("Hip", "Shoulder")] or pairs
    lat = _mean(xyz, [r for _, r in girdle]) - _mean(xyz, [l for l, _ in girdle])
    return np.sum(np.cross(up, lat) * fwd, -1)


def jumps(x: np.ndarray, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Summed displacements (F,) from the previous frame with the labels kept and crossed (0 at frame 0).

    x: (F, K, D), NaN missing; pairs with a point missing in either frame are left out of both sums.
    """
    L, R = [l for l, _ in pairs], [r for _, r in pairs]
    a, b = x[:-1], x[1:]
    same = np.linalg.norm(b[:, L] - a[:, L], axis=-1) + np.linalg.norm(b[:, R] - a[:, R], axis=-1)
    cross = np.linalg.norm(b[:, L] - a[:, R], axis=-1) + np.linalg.norm(b[:, R] - a[:, L], axis=-1)
    ok = np.isfinite(same) & np.isfinite(cross)
    z = np.zeros((1,))
    return np.r_[z, np.where(ok, same, 0).sum(1)], np.r_[z, np.where(ok, cross, 0).sum(1)]


def viterbi(unary: np.ndarray, stay: np.ndarray, switch: np.ndarray) -> np.ndarray:
    """Least-cost two-state path (F,) bool (True = swapped).

    Args:
        unary: (F, 2) costs of keeping / swapping each frame's labels.
        stay, switch: (F,) costs of frame t having the same / the other state as frame t-1 (index 0 unused).
    """
    F = len(unary)
    cost = unary[0].copy()
    back = np.zeros((F, 2), int)
    for t in range(1, F):
        same = cost + stay[t]
        other = cost[::-1] + switch[t]
        back[t] = np.where(same <= other, [0, 1], [1, 0])
        cost = np.minimum(same, other) + unary[t]
    path = np.zeros(F, bool)
    path[-1] = bool(np.argmin(cost))
    for t in range(F - 1, 0, -1):
        path[t - 1] = bool(back[t, int(path[t])])
    return path


def _capped(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(x), -CONTINUITY_CAP, CONTINUITY_CAP)


def detect_swaps(xy: np.ndarray, names: Sequence[str], lifted: np.ndarray | None = None) -> np.ndarray:
    """Frames where the detector swapped the person's sides, per limb group.

    Args:
        xy: (F, K, 2) image coordinates (any units), NaN where missing or unreliable.
        names: K keypoint names; lifted: (F, K, 3) root-relative lifted 3D (any units) or None.

    Returns:
        (F, G) bool, groups as :func:`~mocap3d.triangulation.swaps.swap_groups` (legs, arms, head).
    """
    names = list(names)
    groups = swap_groups(names)
    F = len(xy)
    out = np.zeros((F, len(groups)), bool)
    if F == 0 or not groups:
        return out
    s2 = trunk_length(xy, names)
    s3 = trunk_length(lifted, names) if lifted is not None else np.nan
    chir, cont = [], []
    for pairs in groups:
        c = chirality(lifted, names, pairs) / (CHIRALITY_SCALE * s3) if np.isfinite(s3) else np.zeros(F)
        chir.append(np.clip(np.nan_to_num(c), -CHIRALITY_CAP, CHIRALITY_CAP))
        d = np.zeros(F)
        for x, s in ((xy, s2), (lifted, s3)):
            if x is not None and np.isfinite(s):
                same, cross = jumps(x, pairs)
                d += _capped((cross - same) / (CONTINUITY_SCALE * s))   # > 0: the labels as they are continue
        cont.append(d)
    tc, td = np.sum(chir, 0), np.sum(cont, 0)
    for g in range(len(groups)):
        c = chir[g] + BODY_WEIGHT * (tc - chir[g])
        d = cont[g] + BODY_WEIGHT * (td - cont[g])
        unary = np.stack([np.maximum(-c, 0), np.maximum(c, 0) + SWAP_PRIOR], 1)
        out[:, g] = viterbi(unary, np.maximum(-d, 0), np.maximum(d, 0) + SWITCH_COST)
    return out


def correct_swaps(keypoints: np.ndarray, names: Sequence[str], lifted: np.ndarray | None = None,
                  lifted_conf: np.ndarray | None = None, likelihood_threshold: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Undo left/right swaps of one camera's detections (2D and lifted 3D together).

    Args:
        keypoints: (F, K, 3) x px, y px, likelihood; lifted: (F, K, 3) or None; lifted_conf: (F, K) or None.
        likelihood_threshold: keypoints below it are not used as evidence (they are still swapped).

    Returns:
        corrected keypoints, lifted, lifted_conf (copies), and swapped (F, G) bool per limb group.
    """
    names = list(names)
    xy = keypoints[..., :2].copy()
    xy[~(np.nan_to_num(keypoints[..., 2]) >= likelihood_threshold)] = np.nan
    swapped = detect_swaps(xy, names, lifted)
    kp, l3, lc = keypoints, lifted, lifted_conf
    for g, pairs in enumerate(swap_groups(names)):
        sw = swapped[None, :, g]
        kp = apply_group_swaps(kp[None], kp[None, ..., 2], sw, pairs)[0][0]
        if l3 is not None:
            c = lc if lc is not None else np.ones(l3.shape[:2])
            l3n, lcn = apply_group_swaps(l3[None], c[None], sw, pairs)
            l3, lc = l3n[0], (lcn[0] if lc is not None else None)
    return kp, l3, lc, swapped


def swap_summary(swapped: np.ndarray, names: Sequence[str]) -> dict:
    """Report entry: frames relabelled per limb group and in any group."""
    keys = [("legs" if any("Knee" in names[l] or "Ankle" in names[l] for l, _ in g) else
             "arms" if any("Elbow" in names[l] or "Wrist" in names[l] for l, _ in g) else "head")
            for g in swap_groups(list(names))]
    return {"frames_swapped_any_group": int(swapped.any(1).sum()),
            "frames_swapped": {k: int(swapped[:, i].sum()) for i, k in enumerate(keys)},
            "method": "per limb group: chirality of the lifted 3D + continuity of the 2D and 3D, Viterbi over frames"}
