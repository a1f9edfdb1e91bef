"""Classic low-pass filters on time series (F, ...) sampled at ``rate`` Hz, NaN-aware.

Each function filters every NaN-free run of every column separately (see
:mod:`mocap3d.filtering.runs`) and returns an array of the input's shape.
Runs too short for a filter are returned unchanged; :func:`min_samples`
tells how short is too short.
"""
from __future__ import annotations

import numpy as np

from .iir import butter, filtfilt
from .runs import Block, apply_on_runs, sliding_windows


def _check_cutoff(cutoff: float, rate: float, name: str = "cut_off_frequency") -> None:
    if not 0 < cutoff < rate / 2:
        raise ValueError(f"{name}={cutoff} Hz must be in (0, {rate / 2:g}) Hz (half the {rate:g} Hz frame rate)")


def butter_coefficients(cutoff: float, rate: float, order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Low-pass Butterworth (b, a) for a zero-phase filter of total order ``order``.

    As in Pose2Sim (and Winter's convention), ``order`` is the order of the
    forward-backward cascade: the designed filter has order ``order // 2`` and is
    run twice, so the cut-off is where the zero-phase gain is 0.5 (-6 dB).
    """
    _check_cutoff(cutoff, rate)
    if order < 2 or order % 2:
        raise ValueError(f"Butterworth order must be an even integer >= 2 (forward + backward passes), got {order}")
    return butter(order // 2, cutoff / (rate / 2))


def _padlen(b: np.ndarray, a: np.ndarray) -> int:
    return 3 * max(len(a), len(b))  # scipy.signal.filtfilt's default padding


def butterworth(x: np.ndarray, rate: float, cut_off_frequency: float = 6.0, order: int = 4) -> np.ndarray:
    """Zero-phase low-pass Butterworth (``scipy.signal.filtfilt``) on each valid run of (F, ...)."""
    b, a = butter_coefficients(cut_off_frequency, rate, order)
    return apply_on_runs(x, lambda blk: filtfilt(b, a, blk, axis=0), min_len=_padlen(b, a) + 1)


def butterworth_on_speed(x: np.ndarray, rate: float, cut_off_frequency: float = 10.0,
                         order: int = 4) -> np.ndarray:
    """Differentiate, zero-phase Butterworth the speed, integrate it back.

    Keeps sharp movements better than filtering positions. The integration
    constant makes the run's mean equal to the raw mean (Pose2Sim starts from
    the first, noisy, sample instead); a slow drift can remain.
    """
    b, a = butter_coefficients(cut_off_frequency, rate, order)

    def _block(blk: Block) -> Block:
        speed = filtfilt(b, a, np.diff(blk, axis=0), axis=0)
        shape = np.concatenate((np.zeros((1, blk.shape[1])), np.cumsum(speed, axis=0)))
        return shape + (blk - shape).mean(axis=0)

    return apply_on_runs(x, _block, min_len=_padlen(b, a) + 2)


def gaussian(x: np.ndarray, rate: float, sigma_kernel: float = 1.0) -> np.ndarray:
    """Gaussian-weighted moving average, ``sigma_kernel`` in frames; edges use the nearest sample."""
    if sigma_kernel <= 0:
        raise ValueError(f"gaussian sigma_kernel must be > 0 frames, got {sigma_kernel}")
    from scipy import ndimage
    return apply_on_runs(x, lambda blk: ndimage.gaussian_filter1d(blk, sigma_kernel, axis=0, mode="nearest"))


def median(x: np.ndarray, rate: float, kernel_size: int = 3) -> np.ndarray:
    """Running median over ``kernel_size`` frames (odd); edges use the nearest sample, not zeros."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"median kernel_size must be a positive odd number of frames, got {kernel_size}")
    from scipy import ndimage
    return apply_on_runs(x, lambda blk: ndimage.median_filter(blk, size=(kernel_size, 1), mode="nearest"))


def loess(x: np.ndarray, rate: float, nb_values_used: int = 5) -> np.ndarray:
    """LOESS: local linear regression with tricube weights on the ``nb_values_used`` nearest frames.

    Cleveland's definition (as in statsmodels' ``lowess`` with
    ``frac = nb_values_used / run length`` and no robustness iterations): the
    bandwidth is the distance to the farthest of the neighbours, which gets weight 0.
    """
    k = int(nb_values_used)
    if k < 3:
        raise ValueError(f"loess nb_values_used must be >= 3 frames, got {nb_values_used}")

    def _block(blk: Block) -> Block:
        win, offsets = sliding_windows(blk, k)
        t = offsets.astype(float)                                    # (L, k)
        h = np.abs(t).max(axis=1, keepdims=True)
        w = np.clip(1 - (np.abs(t) / h) ** 3, 0, None) ** 3
        s0, s1, s2 = w.sum(1), (w * t).sum(1), (w * t * t).sum(1)    # (L,)
        t0 = np.einsum("lk,lkn->ln", w, win)
        t1 = np.einsum("lk,lkn->ln", w * t, win)
        det = s0 * s2 - s1 ** 2
        return (s2[:, None] * t0 - s1[:, None] * t1) / det[:, None]

    return apply_on_runs(x, _block, min_len=k)


def _euro_alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    r = 2 * np.pi * cutoff * dt
    return r / (r + 1)


def _one_euro_pass(blk: Block, dt: float, min_cutoff: float, beta: float, d_cutoff: float) -> Block:
    """One causal One-Euro pass over a (L, N) block (Casiez et al. 2012)."""
    out = np.empty_like(blk)
    out[0] = prev = blk[0]
    dprev = np.zeros(blk.shape[1])
    a_d = _euro_alpha(d_cutoff, dt)
    for i in range(1, len(blk)):
        dx = a_d * (blk[i] - prev) / dt + (1 - a_d) * dprev
        a = _euro_alpha(min_cutoff + beta * np.abs(dx), dt)
        prev = out[i] = a * blk[i] + (1 - a) * prev
        dprev = dx
    return out


def one_euro(x: np.ndarray, rate: float, cut_off_frequency: float = 4.0, beta: float = 1.5,
             d_cut_off_frequency: float = 1.0) -> np.ndarray:
    """Zero-phase One-Euro filter: a causal pass then a pass backwards over its output.

    ``cut_off_frequency`` (Hz) is the minimum cut-off, raised by ``beta`` times
    the (``d_cut_off_frequency``-smoothed) speed in signal units per second.
    """
    if cut_off_frequency <= 0 or d_cut_off_frequency <= 0 or beta < 0:
        raise ValueError("one_euro needs cut_off_frequency > 0, d_cut_off_frequency > 0 and beta >= 0")
    dt = 1.0 / rate

    def _block(blk: Block) -> Block:
        fwd = _one_euro_pass(blk, dt, cut_off_frequency, beta, d_cut_off_frequency)
        return _one_euro_pass(fwd[::-1], dt, cut_off_frequency, beta, d_cut_off_frequency)[::-1]

    return apply_on_runs(x, _block, min_len=2)


def min_samples(filter_type: str, rate: float, params: dict) -> int:
    """Shortest valid run (frames) that ``filter_type`` filters; shorter runs pass through unchanged."""
    if filter_type in ("butterworth", "butterworth_on_speed"):
        b, a = butter_coefficients(params.get("cut_off_frequency", 6.0), rate, params.get("order", 4))
        return _padlen(b, a) + (1 if filter_type == "butterworth" else 2)
    if filter_type == "loess":
        return int(params.get("nb_values_used", 5))
    if filter_type in ("gcv_spline",):
        return 5
    if filter_type in ("acc_minimizing",):
        return 3
    if filter_type in ("kalman", "one_euro"):
        return 2
    return 1
