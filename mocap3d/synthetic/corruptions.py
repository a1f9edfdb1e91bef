"""Corrupt ideal 2D projections the way real pose detectors do.

Every function is pure, vectorized and seeded by the ``rng`` it receives. The
2D array layout is Keypoints2D's: (C cameras, F frames, P persons, K
keypoints, 3) = x px, y px, likelihood; NaN = not detected.

* :func:`occlusion` -- which keypoints are hidden behind a body segment
  (capsules around the skeleton's bones, of the same or another person).
* :func:`confidence` -- likelihood in [0, 1]: high when visible, low when
  occluded, dropping within ``border_frac`` of the image border.
* :func:`add_noise` -- Gaussian pixel noise, larger for occluded keypoints.
* :func:`drop_random` / :func:`drop_runs` -- missed keypoints (single) and
  missed persons over runs of frames.
* :func:`swap_left_right` -- left/right swaps in single frames and in runs.
* :func:`shuffle_persons` -- detectors list persons in any order.
"""
from __future__ import annotations

import numpy as np

# Capsule radii (m) around bones: trunk bones are wide, limb bones narrow.
TRUNK_RADIUS = 0.13
LIMB_RADIUS = 0.05
HEAD_RADIUS = 0.09


def bone_capsules(names: list[str], parents: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Bones (S, 2) as keypoint index pairs and their radii (S,) in metres."""
    bones, radii = [], []
    for child, parent in parents.items():
        if child in names and parent in names:
            bones.append((names.index(parent), names.index(child)))
            pair = {child, parent}
            trunk = pair in ({"Hip", "Neck"}, {"CHip", "Neck"})
            head = bool(pair & {"Head", "Nose"})
            radii.append(TRUNK_RADIUS if trunk else HEAD_RADIUS if head else LIMB_RADIUS)
    return np.array(bones, int).reshape(-1, 2), np.array(radii, float)


def occlusion(uv: np.ndarray, depth: np.ndarray, bones: np.ndarray, radii: np.ndarray,
              focal: np.ndarray) -> np.ndarray:
    """Mask (C, F, P, K) of keypoints hidden behind a bone capsule.

    Args:
        uv: ideal pixels (C, F, P, K, 2).
        depth: camera-frame depth (C, F, P, K) in metres.
        bones: (S, 2) keypoint index pairs (applied to every person).
        radii: (S,) capsule radii in metres.
        focal: (C,) focal lengths in pixels.

    A keypoint is occluded when the projection of a capsule of a bone not
    ending at that keypoint covers it and the capsule is at least one radius
    nearer the camera at that place.
    """
    C, F, P, K, _ = uv.shape
    S = len(bones)
    if S == 0:
        return np.zeros((C, F, P, K), bool)
    pts = uv.reshape(C, F, P * K, 2)
    d = depth.reshape(C, F, P * K)
    a, b = uv[:, :, :, bones[:, 0]], uv[:, :, :, bones[:, 1]]          # (C, F, P, S, 2)
    da, db = depth[:, :, :, bones[:, 0]], depth[:, :, :, bones[:, 1]]
    a, b = a.reshape(C, F, 1, P * S, 2), b.reshape(C, F, 1, P * S, 2)
    da, db = da.reshape(C, F, 1, P * S), db.reshape(C, F, 1, P * S)
    ab = b - a
    t = np.einsum("cfnsi,cfnsi->cfns", pts[:, :, :, None] - a, ab) / np.maximum(np.einsum("cfnsi,cfnsi->cfns", ab, ab), 1e-9)
    t = np.clip(t, 0, 1)
    closest = a + t[..., None] * ab
    dist = np.linalg.norm(pts[:, :, :, None] - closest, axis=-1)        # (C, F, PK, PS)
    seg_depth = da + t * (db - da)
    r = np.tile(radii, P)[None, None, None, :]
    r_px = focal[:, None, None, None] * r / np.maximum(seg_depth, 1e-3)
    covers = (dist < r_px) & (seg_depth < d[..., None] - r)
    # a bone never hides its own end points
    own = np.zeros((P * K, P * S), bool)
    for p in range(P):
        for s, (i, j) in enumerate(bones):
            own[p * K + i, p * S + s] = own[p * K + j, p * S + s] = True
    covers &= ~own
    return np.any(covers, axis=-1).reshape(C, F, P, K)


def confidence(uv: np.ndarray, occluded: np.ndarray, sizes: np.ndarray, rng: np.random.Generator,
               visible: tuple[float, float] = (0.75, 0.95), occluded_factor: float = 0.45,
               border_frac: float = 0.05) -> np.ndarray:
    """Likelihoods (C, F, P, K) in [0, 1].

    Visible keypoints draw from ``visible`` (uniform); occluded ones are
    multiplied by ``occluded_factor``; within ``border_frac`` of the smaller
    image side from the border the likelihood falls linearly to 30 %.
    Keypoints outside the image get NaN (not detected).
    """
    conf = rng.uniform(*visible, size=occluded.shape)
    conf = np.where(occluded, conf * occluded_factor, conf)
    w, h = sizes[:, 0][:, None, None, None], sizes[:, 1][:, None, None, None]
    x, y = uv[..., 0], uv[..., 1]
    edge = np.minimum(np.minimum(x, w - 1 - x), np.minimum(y, h - 1 - y))
    band = border_frac * np.minimum(w, h)
    conf = conf * np.clip(0.3 + 0.7 * edge / band, 0.3, 1.0)
    return np.where((edge >= 0) & np.isfinite(edge), conf, np.nan)


def add_noise(uv: np.ndarray, sigma_px: float, occluded: np.ndarray, rng: np.random.Generator,
              occluded_gain: float = 3.0) -> np.ndarray:
    """Pixels (..., 2) plus Gaussian noise of ``sigma_px`` (x ``occluded_gain`` where occluded)."""
    if sigma_px <= 0:
        return uv.copy()
    s = np.where(occluded, sigma_px * occluded_gain, sigma_px)[..., None]
    return uv + rng.normal(0.0, 1.0, uv.shape) * s


def run_mask(shape: tuple[int, int], n_runs: int, length: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Boolean (N, F) with ``n_runs`` runs of ``length`` [lo, hi] frames in each of N rows."""
    N, F = shape
    mask = np.zeros((N, F), bool)
    if n_runs <= 0 or F == 0:
        return mask
    lo, hi = length
    for row in range(N):
        for _ in range(n_runs):
            L = int(rng.integers(lo, hi + 1))
            start = int(rng.integers(0, max(1, F - L + 1)))
            mask[row, start:start + L] = True
    return mask


def drop_random(data: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Mask (C, F, P, K) of keypoints to drop, each with probability ``rate``."""
    return rng.random(data.shape[:4]) < rate


def drop_runs(data: np.ndarray, n_runs: int, rng: np.random.Generator,
              length: tuple[int, int] = (3, 12)) -> np.ndarray:
    """Mask (C, F, P) of whole persons missed over ``n_runs`` runs per camera and person."""
    C, F, P = data.shape[:3]
    m = run_mask((C * P, F), n_runs, length, rng)
    return m.reshape(C, P, F).transpose(0, 2, 1)


def swap_mask(shape: tuple[int, int, int], rate: float, n_runs: int, rng: np.random.Generator,
              length: tuple[int, int] = (3, 10)) -> np.ndarray:
    """Mask (C, F, P) of left/right swapped detections: single frames with probability
    ``rate`` plus ``n_runs`` runs per camera and person."""
    C, F, P = shape
    single = rng.random(shape) < rate
    runs = run_mask((C * P, F), n_runs, length, rng).reshape(C, P, F).transpose(0, 2, 1)
    return single | runs


def swap_left_right(data: np.ndarray, mask: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Copy of data (C, F, P, K, 3) with keypoint pairs exchanged where mask (C, F, P)."""
    out = data.copy()
    if not pairs:
        return out
    li, ri = np.array(pairs).T
    sel = out[mask]                                  # (N, K, 3)
    sel[:, li], sel[:, ri] = data[mask][:, ri], data[mask][:, li]
    out[mask] = sel
    return out


def shuffle_persons(data: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Randomly reorder persons in each (camera, frame).

    Returns the shuffled data (C, F, P, K, 3) and identities (C, F, P): the
    true person index in each slot.
    """
    C, F, P = data.shape[:3]
    perm = np.argsort(rng.random((C, F, P)), axis=-1)
    out = np.take_along_axis(data, perm[..., None, None], axis=2)
    return out, perm
