"""NaN-aware plumbing shared by all filters: runs of valid samples, gap filling, Hampel.

Every filter works on an array ``x`` of shape (F, ...) sampled at ``rate`` Hz,
time along axis 0. Columns (everything after axis 0, flattened) are independent
signals. A NaN marks a missing sample: each contiguous run of valid samples is
filtered on its own and gaps stay NaN, unless :func:`fill_gaps` bridged them first.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Block = np.ndarray  # (L, N) float array without NaN


def as_columns(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``x`` (F, ...) as a float (F, N) array of columns; also return the original shape."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        raise ValueError("a time series needs at least one axis (frames)")
    return x.reshape(x.shape[0], -1), x.shape


def runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges of consecutive True values in a 1-D mask."""
    v = np.concatenate(([False], np.asarray(valid, bool), [False]))
    edges = np.flatnonzero(np.diff(v.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _mask_groups(valid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group columns of a (F, N) validity mask that share the same pattern: [(columns, mask)]."""
    if valid.all():
        return [(np.arange(valid.shape[1]), np.ones(valid.shape[0], dtype=bool))]
    patterns, inverse = np.unique(valid.T, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    return [(np.flatnonzero(inverse == g), patterns[g]) for g in range(len(patterns))]


def apply_on_runs(x: np.ndarray, func: Callable[[Block], Block], min_len: int = 1) -> np.ndarray:
    """Apply ``func`` to every NaN-free run of every column of ``x`` (F, ...).

    Columns sharing the same missing-sample pattern are passed together as one
    (L, N) block, so ``func`` must treat columns independently. Runs shorter
    than ``min_len`` samples are returned unchanged. The output has the shape of
    ``x``; NaN stay NaN.
    """
    cols, shape = as_columns(x)
    out = cols.copy()
    if cols.size == 0:
        return out.reshape(shape)
    for idx, mask in _mask_groups(np.isfinite(cols)):
        for start, stop in runs(mask):
            if stop - start >= max(min_len, 1):
                out[start:stop, idx] = func(cols[start:stop][:, idx])
    return out.reshape(shape)


def short_run_samples(x: np.ndarray, min_len: int) -> np.ndarray:
    """Per column (N,), how many valid samples lie in runs shorter than ``min_len`` (left unfiltered)."""
    cols, _ = as_columns(x)
    valid = np.isfinite(cols)
    counts = np.zeros(cols.shape[1], dtype=int)
    for idx, mask in _mask_groups(valid):
        counts[idx] = sum(stop - start for start, stop in runs(mask) if stop - start < min_len)
    return counts


def fill_gaps(x: np.ndarray, max_gap: int, kind: str = "linear") -> np.ndarray:
    """Interpolate interior NaN gaps of at most ``max_gap`` frames (F, ...).

    ``kind``: 'linear', 'cubic' (C2 spline through all valid samples of the
    column) or 'pchip' (shape-preserving). Leading/trailing gaps and longer gaps
    stay NaN. ``max_gap <= 0`` returns a copy.
    """
    from scipy.interpolate import CubicSpline, PchipInterpolator

    cols, shape = as_columns(x)
    out = cols.copy()
    if max_gap <= 0:
        return out.reshape(shape)
    if kind not in ("linear", "cubic", "pchip"):
        raise ValueError(f"unknown interpolation kind {kind!r}; use 'linear', 'cubic' or 'pchip'")
    t = np.arange(cols.shape[0], dtype=float)
    for j in range(cols.shape[1]):
        valid = np.isfinite(cols[:, j])
        gaps = [(a, b) for a, b in runs(~valid) if a > 0 and b < len(valid) and b - a <= max_gap]
        if not gaps:
            continue
        fill = np.concatenate([np.arange(a, b) for a, b in gaps])
        tv, yv = t[valid], cols[valid, j]
        if kind == "linear" or len(tv) < 4:
            out[fill, j] = np.interp(t[fill], tv, yv)
        elif kind == "cubic":
            out[fill, j] = CubicSpline(tv, yv)(t[fill])
        else:
            out[fill, j] = PchipInterpolator(tv, yv)(t[fill])
    return out.reshape(shape)


def sliding_windows(block: Block, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``width`` samples around each sample of a (L, N) block, shifted inside at the edges.

    Returns ``(windows (L, width, N), offsets (L, width))`` where ``offsets`` is
    the index of each window sample minus the centre index (0 = the sample itself).
    Requires ``L >= width``.
    """
    n = block.shape[0]
    centre = np.arange(n)
    start = np.clip(centre - width // 2, 0, n - width)
    index = start[:, None] + np.arange(width)[None, :]
    return block[index], index - centre[:, None]


def _edge_reference(win: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Robust local line of shifted windows (M, W, N), evaluated at their sample (offset 0): (M, N).

    Theil-Sen slope (median of pairwise slopes); level at the sample = median of
    ``win - slope * offset``. A single outlier moves neither median much.
    """
    i, j = np.triu_indices(win.shape[1], 1)
    slope = np.median((win[:, j] - win[:, i]) / (off[:, j] - off[:, i])[:, :, None], axis=1)
    return np.median(win - slope[:, None, :] * off[:, :, None], axis=1)


def hampel(x: np.ndarray, window: int = 7, n_sigma: float = 2.0) -> tuple[np.ndarray, int]:
    """Hampel outlier rejection on (F, ...): replace a sample by its window median when it is outlying.

    A sample is an outlier when ``|x - median| > n_sigma * 1.4826 * MAD`` over a
    centred window of ``window`` samples; windows with MAD = 0 reject nothing.
    The first and last ``window // 2`` samples of a run have no centred window:
    there the window is shifted inside the run and its median lies up to
    ``window // 2`` frames away in time, so on a moving marker (a foot in swing)
    it is off by the local speed x that lag (e.g. 170 mm at 30 Hz) and would reject
    good samples. There a sample is an outlier only if it is also farther than
    the threshold from a robust line through the shifted window (evaluated at
    the sample; no simple local model explains it), and it is replaced by that
    line's value. Runs shorter than ``window`` are left as they
    are. Returns the cleaned array and the number of replaced samples.
    """
    if window < 3:
        raise ValueError(f"Hampel window must be >= 3 samples, got {window}")
    replaced = [0]

    def _block(b: Block) -> Block:
        win, off = sliding_windows(b, window)
        med = np.median(win, axis=1)
        mad = np.median(np.abs(win - med[:, None, :]), axis=1)
        bad = (mad > 0) & (np.abs(b - med) > n_sigma * 1.4826 * mad)
        edge = np.flatnonzero(off[:, 0] != -(window // 2))
        trend = _edge_reference(win[edge], off[edge])
        bad[edge] &= np.abs(b[edge] - trend) > n_sigma * 1.4826 * mad[edge]
        med[edge] = trend
        replaced[0] += int(bad.sum())
        return np.where(bad, med, b)

    out = apply_on_runs(x, _block, min_len=window)
    return out, replaced[0]
