"""Gap interpolation, trimming and gap filling of 3D trajectories (F, K, 3)."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

INTERPOLATIONS = ("linear", "slinear", "quadratic", "cubic", "none")
SECTIONS = ("all", "largest", "first", "last")
FILLS = ("last_value", "nan", "zeros")


def nan_runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a 1D bool array."""
    m = np.concatenate([[False], np.asarray(missing, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def interpolate_gaps(points: np.ndarray, max_gap: int, method: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Interpolate interior gaps of at most ``max_gap`` frames.

    Args:
        points: (F, K, 3) trajectories, NaN = missing.
        max_gap: largest gap (frames) to fill (Pose2Sim's interp_if_gap_smaller_than).
        method: 'linear', 'slinear', 'quadratic', 'cubic' or 'none'.

    Returns:
        interpolated copy, and (F, K) mask of the frames filled.
    """
    if method not in INTERPOLATIONS:
        raise ConfigError(f"triangulation.interpolation = {method!r}; use one of {', '.join(INTERPOLATIONS)}")
    out = points.copy()
    filled = np.zeros(points.shape[:2], bool)
    if method == "none" or max_gap <= 0:
        return out, filled
    order = {"linear": 1, "slinear": 1, "quadratic": 3, "cubic": 4}[method]
    t = np.arange(points.shape[0])
    for k in range(points.shape[1]):
        ok = np.isfinite(points[:, k]).all(-1)
        if ok.sum() < max(2, order) or ok.all():
            continue
        first, last = np.flatnonzero(ok)[[0, -1]]
        mask = np.zeros_like(ok)
        for a, b in nan_runs(~ok):
            if a > first and b <= last and b - a <= max_gap:
                mask[a:b] = True
        if not mask.any():
            continue
        out[mask, k] = _interpolate(t[ok], points[ok, k], t[mask], method)
        filled[mask, k] = True
    return out, filled


def _interpolate(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, method: str) -> np.ndarray:
    """``scipy.interpolate.interp1d(x, y, kind=method, axis=0)(x_new)`` for sorted x (N,), y (N, D).

    The linear kinds are computed here as scipy does (same formula, same values): importing
    scipy.interpolate costs about half a second of CPU, more than a trial's triangulation.
    """
    if method not in ("linear", "slinear"):
        from scipy.interpolate import interp1d
        return interp1d(x, y, kind=method, axis=0, assume_sorted=True)(x_new)
    hi = np.clip(np.searchsorted(x, x_new), 1, len(x) - 1)
    lo = hi - 1
    slope = (y[hi] - y[lo]) / (x[hi] - x[lo])[:, None]
    return slope * (x_new - x[lo])[:, None] + y[lo]


def section_to_keep(valid: np.ndarray, how: str = "all", min_chunk_size: int = 10) -> tuple[int, int]:
    """Frame range (start, stop) to keep from per-frame validity (F,).

    Runs of at least ``min_chunk_size`` valid frames count; ``how`` keeps from
    the first to the last of them ('all'), the largest, the first or the last.
    Returns (0, 0) when no run is long enough.
    """
    if how not in SECTIONS:
        raise ConfigError(f"triangulation.sections_to_keep = {how!r}; use one of {', '.join(SECTIONS)}")
    runs = [(int(a), int(b)) for a, b in nan_runs(valid) if b - a >= max(1, int(min_chunk_size))]
    if not runs:
        return 0, 0
    if how == "all":
        return runs[0][0], runs[-1][1]
    if how == "largest":
        return max(runs, key=lambda r: r[1] - r[0])
    return runs[0] if how == "first" else runs[-1]


def fill_gaps(points: np.ndarray, how: str = "last_value") -> np.ndarray:
    """Fill the remaining NaN of (F, K, 3) with the last (then next) valid value, zeros, or leave NaN."""
    if how not in FILLS:
        raise ConfigError(f"triangulation.fill_large_gaps_with = {how!r}; use one of {', '.join(FILLS)}")
    if how == "nan":
        return points.copy()
    if how == "zeros":
        return np.nan_to_num(points, nan=0.0)
    out = points.copy()
    F = out.shape[0]
    ok = np.isfinite(out).all(-1)  # (F, K)
    idx = np.where(ok, np.arange(F)[:, None], -1)
    prev = np.maximum.accumulate(idx, axis=0)
    idx_next = np.where(ok, np.arange(F)[:, None], F)
    nxt = np.minimum.accumulate(idx_next[::-1], axis=0)[::-1]
    src = np.where(prev >= 0, prev, nxt)
    has = src < F
    k = np.broadcast_to(np.arange(out.shape[1]), src.shape)
    out[has] = points[src[has], k[has]]
    return np.nan_to_num(out, nan=0.0)


def add_derived(points: np.ndarray, names: list[str], derived: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, list[str]]:
    """Append derived keypoints (mean of their sources) missing from ``names``."""
    extra, new_names = [], list(names)
    for name, sources in derived.items():
        if name in names or not all(s in names for s in sources):
            continue
        extra.append(np.mean([points[:, names.index(s)] for s in sources], axis=0))
        new_names.append(name)
    if extra:
        points = np.concatenate([points, np.stack(extra, 1)], axis=1)
    return points, new_names


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """Calibration world (Z up) to OpenSim .trc axes (Y up): (X, Y, Z) -> (Y, Z, X)."""
    return points[..., [1, 2, 0]]
