"""Left/right swap correction, per camera, frame and limb group.

Detectors often label a person's left limbs as right ones in some views. For
every pair of cameras and every frame we measure, with the epipolar (Sampson)
distance, whether the two views agree better as they are or with one of them
left/right swapped. That gives a signed agreement ``a[c, d]`` per frame; the
swap labels ``s_c = +-1`` maximizing ``sum a[c, d] s_c s_d`` split the cameras
into two consistent groups (exhaustive over ``2^(C-1)`` labelings up to 10
cameras, spectral relaxation above). The larger group is taken as right; when
both are equally large (e.g. 2 of 4 cameras swapped together) the choice whose
3D left/right points continue the neighbouring frames' trajectories wins.
"""
from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

from .core import reject_outlier_cameras

_LEGS = ("Hip", "Knee", "Ankle", "Toe", "Heel", "Foot")
_ARMS = ("Shoulder", "Elbow", "Wrist", "Hand", "Thumb", "Index", "Middle", "Ring", "Pinky")
_EXHAUSTIVE_MAX_CAMERAS = 10
#: A camera is only relabelled when the swap lowers its epipolar error by this much (px).
MIN_GAIN_PX = 3.0
#: Frames around a tie used to build its 3D reference trajectory.
TIE_WINDOW = 15
#: Weight of the other limb groups' evidence in a group's swap decision.
BODY_WEIGHT = 0.5
#: Per keypoint pair, a difference of epipolar distances below this (px) is noise, not evidence.
DEAD_ZONE_PX = 3.0


def lr_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (left, right) of keypoints named ``L<X>`` / ``R<X>``."""
    names = list(names)
    out = []
    for i, n in enumerate(names):
        if len(n) > 1 and n[0] == "L" and n[1].isupper() and "R" + n[1:] in names:
            out.append((i, names.index("R" + n[1:])))
    return out


def swap_groups(names: Sequence[str]) -> list[list[tuple[int, int]]]:
    """Left/right pairs grouped by limb: legs, arms, then head/other.

    Each group is swapped as a whole in a camera-frame (a detector that confuses
    the sides usually confuses a whole limb chain).
    """
    groups: dict[str, list[tuple[int, int]]] = {"legs": [], "arms": [], "head": []}
    for l, r in lr_pairs(names):
        n = names[l]
        key = "legs" if any(k in n for k in _LEGS) else "arms" if any(k in n for k in _ARMS) else "head"
        groups[key].append((l, r))
    return [g for g in groups.values() if g]


def essential_matrices(extrinsics: np.ndarray, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """Essential matrices (Q, 3, 3) with ``x_d^T E x_c = 0`` for camera pairs (ci, di)."""
    R, t = extrinsics[:, :, :3], extrinsics[:, :, 3]
    Rrel = R[di] @ np.transpose(R[ci], (0, 2, 1))
    trel = t[di] - np.einsum("qij,qj->qi", Rrel, t[ci])
    tx = np.zeros_like(Rrel)
    tx[:, 0, 1], tx[:, 0, 2] = -trel[:, 2], trel[:, 1]
    tx[:, 1, 0], tx[:, 1, 2] = trel[:, 2], -trel[:, 0]
    tx[:, 2, 0], tx[:, 2, 1] = -trel[:, 1], trel[:, 0]
    return tx @ Rrel


def sampson_px(xc: np.ndarray, xd: np.ndarray, E: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """Sampson epipolar distance in pixels.

    Args:
        xc, xd: (Q, ..., 2) ideal normalized points in cameras c and d.
        E: (Q, 3, 3) essential matrices; focal: (Q,) pixels per normalized unit.

    Returns:
        (Q, ...) distances, pixels (NaN where a point is missing).
    """
    Q = E.shape[0]
    shape = xc.shape[:-1]
    x1, y1 = xc[..., 0].reshape(Q, -1), xc[..., 1].reshape(Q, -1)
    x2, y2 = xd[..., 0].reshape(Q, -1), xd[..., 1].reshape(Q, -1)
    e = [[E[:, i, j, None] for j in range(3)] for i in range(3)]
    # E @ [x1, y1, 1] and E^T @ [x2, y2, 1], written out (much faster than einsum on 3x3)
    a0 = e[0][0] * x1 + e[0][1] * y1 + e[0][2]
    a1 = e[1][0] * x1 + e[1][1] * y1 + e[1][2]
    a2 = e[2][0] * x1 + e[2][1] * y1 + e[2][2]
    b0 = e[0][0] * x2 + e[1][0] * y2 + e[2][0]
    b1 = e[0][1] * x2 + e[1][1] * y2 + e[2][1]
    num = np.abs(x2 * a0 + y2 * a1 + a2)
    den = np.sqrt(a0 * a0 + a1 * a1 + b0 * b0 + b1 * b1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = num / den * focal[:, None]
    return d.reshape(shape)


def camera_pairs(C: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ci, di) of all unordered camera pairs c < d."""
    ci, di = np.triu_indices(C, 1)
    return ci, di


def _best_labels(M: np.ndarray) -> np.ndarray:
    """Labels (F, C) in {-1, +1} maximizing ``s^T M s`` per frame (M (F, C, C) symmetric)."""
    F, C, _ = M.shape
    if C <= _EXHAUSTIVE_MAX_CAMERAS:
        labels = np.array([(1,) + p for p in product((1, -1), repeat=C - 1)], float)  # (L, C)
        score = np.einsum("lc,fcl->fl", labels, M @ labels.T)
        return labels[np.argmax(score, axis=1)]
    _, vecs = np.linalg.eigh(M)
    s = np.where(vecs[..., -1] >= 0, 1.0, -1.0)
    for _ in range(C):  # greedy single flips until no flip helps
        gain = -s * np.einsum("fcd,fd->fc", M, s)  # score change of flipping c is 4*gain
        worst = np.argmax(gain, axis=1)
        flip = gain[np.arange(F), worst] > 0
        if not flip.any():
            break
        s[np.flatnonzero(flip), worst[flip]] *= -1
    return s


def group_evidence(xy: np.ndarray, w: np.ndarray, extrinsics: np.ndarray, focal: np.ndarray,
                   pairs: list[tuple[int, int]], cap_px: float) -> np.ndarray:
    """Signed pairwise agreement (F, C, C) of the cameras for one limb group.

    ``M[f, c, d] > 0`` when cameras c and d agree better as they are than with
    one of them left/right swapped (difference of summed epipolar distances,
    pixels, minus a noise dead zone).

    Args:
        xy: (C, F, K, 2) ideal normalized coordinates; w: (C, F, K) weights.
        extrinsics: (C, 3, 4); focal: (C, 2) pixels.
        pairs: the group's (left, right) keypoint indices.
        cap_px: each epipolar distance is capped at this value (robustness).
    """
    C, F = w.shape[:2]
    ci, di = camera_pairs(C)
    E = essential_matrices(extrinsics, ci, di)
    f = (focal.mean(1)[ci] + focal.mean(1)[di]) / 2
    L = [l for l, _ in pairs]
    R = [r for _, r in pairs]
    xl, xr = xy[:, :, L], xy[:, :, R]
    ok = (w[:, :, L] > 0) & (w[:, :, R] > 0)
    valid = ok[ci] & ok[di]  # (Q, F, n)

    # epipolar lines E x_c of camera c's points and E^T x_d of camera d's, computed once each
    e = E[:, :, :, None, None]  # (Q, 3, 3, 1, 1) against (Q, F, n)

    def line_c(x):
        x = x[ci]
        return [e[:, i, 0] * x[..., 0] + e[:, i, 1] * x[..., 1] + e[:, i, 2] for i in range(3)]

    def line_d(x):
        x = x[di]
        return [e[:, 0, j] * x[..., 0] + e[:, 1, j] * x[..., 1] + e[:, 2, j] for j in range(2)], x

    lc = {"l": line_c(xl), "r": line_c(xr)}
    ld = {"l": line_d(xl), "r": line_d(xr)}
    fq = f[:, None, None]

    def dist(sc, sd):
        a, (b, x2) = lc[sc], ld[sd]
        num = np.abs(x2[..., 0] * a[0] + x2[..., 1] * a[1] + a[2])
        den = np.sqrt(a[0] ** 2 + a[1] ** 2 + b[0] ** 2 + b[1] ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = num / den * fq
        return np.minimum(np.nan_to_num(d, nan=cap_px), cap_px)

    same = dist("l", "l") + dist("r", "r")
    swap = dist("l", "r") + dist("r", "l")
    a = np.where(valid, swap - same, 0.0).sum(-1)  # (Q, F): > 0 when c and d agree
    dead = DEAD_ZONE_PX * valid.sum(-1)  # evidence within noise level counts as none
    a = np.sign(a) * np.maximum(np.abs(a) - dead, 0.0)
    M = np.zeros((F, C, C))
    M[:, ci, di] = a.T
    M[:, di, ci] = a.T
    return M


def labels_from_evidence(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Swap labels from pairwise agreement M (F, C, C).

    Returns swapped (C, F) bool relative to the larger consistent group of
    cameras, and tie (F,) frames where both groups have the same size.
    """
    s = _best_labels(M).T  # (C, F)
    has = (M != 0).any(-1).T  # (C, F) cameras with any evidence
    n_plus = (has & (s > 0)).sum(0)
    n_minus = (has & (s < 0)).sum(0)
    major = np.where(n_minus > n_plus, -1.0, 1.0)
    tie = (n_plus == n_minus) & (n_plus > 0)
    swapped = has & (s != major)
    support = np.abs(np.einsum("fcd,df->cf", M, s))  # only relabel when the swap clearly helps
    swapped &= support >= MIN_GAIN_PX
    return swapped, tie


def apply_group_swaps(xy: np.ndarray, w: np.ndarray, swapped: np.ndarray,
                      pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Copies of xy (C, F, K, 2) and w (C, F, K) with the group's pairs exchanged where swapped (C, F)."""
    xy, w = xy.copy(), w.copy()
    for l, r in pairs:
        xy[:, :, [l, r]] = np.where(swapped[:, :, None, None], xy[:, :, [r, l]], xy[:, :, [l, r]])
        w[:, :, [l, r]] = np.where(swapped[:, :, None], w[:, :, [r, l]], w[:, :, [l, r]])
    return xy, w


def _interp_reference(X: np.ndarray, good: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-keypoint linear interpolation (F, n, 3) of X (frames ``t``) over the frames where ``good`` and finite."""
    ref = np.full_like(X, np.nan)
    for k in range(X.shape[1]):
        ok = good & np.isfinite(X[:, k]).all(-1)
        if ok.sum() == 0:
            continue
        for j in range(3):
            ref[:, k, j] = np.interp(t, t[ok], X[ok, k, j])
    return ref


def _near(tie: np.ndarray) -> np.ndarray:
    """(F,) frames within TIE_WINDOW of a tied frame (also when F is shorter than the window)."""
    full = np.convolve(tie.astype(float), np.ones(2 * TIE_WINDOW + 1), mode="full")
    return full[TIE_WINDOW:TIE_WINDOW + len(tie)] > 0


def resolve_ties(xy: np.ndarray, w: np.ndarray, extrinsics: np.ndarray, focal: np.ndarray,
                 swapped: np.ndarray, tie: np.ndarray, pairs: list[tuple[int, int]],
                 threshold_px: float, min_cameras: int) -> np.ndarray:
    """Choose, on tied frames, the side labelling that continues the 3D trajectories.

    Returns the updated swapped (C, F).
    """
    if not tie.any():
        return swapped
    C, F = w.shape[:2]
    L = [l for l, _ in pairs]
    R = [r for _, r in pairs]
    if not (~tie).any():
        return swapped
    # only frames within a window of a tie are needed (the reference comes from their untied neighbours)
    fr = np.flatnonzero(_near(tie))
    xs, ws = apply_group_swaps(xy[:, fr], w[:, fr], swapped[:, fr], pairs)
    idx = L + R
    n = len(L)
    X, _, _ = reject_outlier_cameras(xs[:, :, idx].reshape(C, -1, 2), ws[:, :, idx].reshape(C, -1),
                                     extrinsics, focal, threshold_px, min_cameras)
    X = X.reshape(len(fr), 2 * n, 3)
    ref = _interp_reference(X, ~tie[fr], fr)
    d_keep = np.linalg.norm(X - ref, axis=-1)
    d_flip = np.linalg.norm(X[:, np.r_[n:2 * n, 0:n]] - ref, axis=-1)
    both = np.isfinite(d_keep) & np.isfinite(d_flip)
    keep = np.where(both, d_keep, 0).sum(1)
    flip = np.where(both, d_flip, 0).sum(1)
    do_flip = np.zeros(F, bool)
    do_flip[fr] = tie[fr] & (flip < keep)
    has = (w[:, :, L] > 0).any(-1) | (w[:, :, R] > 0).any(-1)
    swapped = swapped.copy()
    swapped[:, do_flip] = has[:, do_flip] & ~swapped[:, do_flip]
    return swapped


def correct_swaps(xy: np.ndarray, w: np.ndarray, extrinsics: np.ndarray, focal: np.ndarray,
                  groups: list[list[tuple[int, int]]], threshold_px: float,
                  min_cameras: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detect and undo left/right swaps of every camera, frame and limb group.

    Args:
        xy: (C, F, K, 2) ideal normalized coordinates; w: (C, F, K) weights.
        extrinsics: (C, 3, 4); focal: (C, 2) pixels.
        groups: limb groups of (left, right) index pairs (:func:`swap_groups`).
        threshold_px: the triangulation reprojection threshold (caps distances at twice it).

    Returns:
        corrected xy, corrected w, swapped (C, F, G) bool.
    """
    C, F = w.shape[:2]
    out = np.zeros((C, F, len(groups)), bool)
    cap = 2.0 * float(threshold_px)
    Ms = [group_evidence(xy, w, extrinsics, focal, pairs, cap) for pairs in groups]
    total = np.sum(Ms, axis=0)
    for g, pairs in enumerate(groups):
        # A group's own evidence, plus half of the other groups' (detectors mostly swap
        # whole sides; a group with little evidence of its own, e.g. the eyes, follows the body).
        swapped, tie = labels_from_evidence(Ms[g] + BODY_WEIGHT * (total - Ms[g]))
        swapped = resolve_ties(xy, w, extrinsics, focal, swapped, tie, pairs, threshold_px, min_cameras)
        out[:, :, g] = swapped
    for g, pairs in enumerate(groups):
        xy, w = apply_group_swaps(xy, w, out[:, :, g], pairs)
    return xy, w, out
