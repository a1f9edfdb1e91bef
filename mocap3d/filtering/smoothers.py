"""Model-based smoothers on time series (F, ...) at ``rate`` Hz, NaN-aware.

- :func:`kalman`: constant-acceleration Kalman filter + Rauch-Tung-Striebel smoother.
- :func:`acc_minimizing`: Whittaker-Henderson smoother (second-difference penalty).
- :func:`gcv_spline`: cubic smoothing spline, smoothing chosen by generalized
  cross-validation (GCV) per column, or from a cut-off frequency.

Penalised smoothers map a cut-off ``fc`` (Hz) to a penalty ``lam`` on
unit-spaced samples by ``lam = (rate / (2 pi fc)) ** 4``: their transfer
function is about ``1 / (1 + lam * w**4)`` (w in rad/frame), so the gain is
0.5 at ``fc``, like a zero-phase Butterworth at its cut-off.
"""
from __future__ import annotations

import logging

import numpy as np

from .runs import Block, apply_on_runs

log = logging.getLogger("mocap3d.filtering")


def cutoff_to_lambda(cutoff: float | np.ndarray, rate: float) -> float | np.ndarray:
    """Penalty weight (unit sample spacing) whose half-gain frequency is ``cutoff`` Hz."""
    return (rate / (2 * np.pi * np.asarray(cutoff, dtype=float))) ** 4


def lambda_to_cutoff(lam: float | np.ndarray, rate: float) -> float | np.ndarray:
    """Inverse of :func:`cutoff_to_lambda`: half-gain frequency in Hz."""
    return rate / (2 * np.pi * np.asarray(lam, dtype=float) ** 0.25)


# --------------------------------------------------------------------------- Kalman
def _kalman_model(rate: float, trust_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Transition F (3, 3) and process noise Q (3, 3) of a constant-acceleration model.

    Measurement noise variance is 1; process noise is a discrete white
    acceleration increment of standard deviation ``trust_ratio`` (in measurement
    noise units), i.e. ``Q = trust_ratio**2 * g g^T`` with ``g = [dt^2/2, dt, 1]``.
    Only the ratio matters: the gains do not depend on the signal's units.
    """
    dt = 1.0 / rate
    F = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    g = np.array([dt * dt / 2, dt, 1.0])
    return F, trust_ratio ** 2 * np.outer(g, g)


def _kalman_block(y: Block, F: np.ndarray, Q: np.ndarray, smooth: bool) -> Block:
    """Kalman filter (and RTS smoother) of every column of a (L, N) block.

    All columns share the model and have no missing sample, so covariances and
    gains are computed once and applied to the (3, N) states of all columns.
    """
    n, dt = len(y), F[0, 1]
    P = np.diag([1.0, 1.0 / dt ** 2, 1.0 / dt ** 4]) * 1e4     # diffuse prior on speed and acceleration
    x = np.zeros((3, y.shape[1]))
    x[0] = y[0]
    xs_pred, xs_filt = np.empty((n, 3, y.shape[1])), np.empty((n, 3, y.shape[1]))
    Ps_pred, Ps_filt = np.empty((n, 3, 3)), np.empty((n, 3, 3))
    for k in range(n):
        if k:
            x, P = F @ x, F @ P @ F.T + Q
        xs_pred[k], Ps_pred[k] = x, P
        gain = P[:, 0] / (P[0, 0] + 1.0)
        x = x + gain[:, None] * (y[k] - x[0])[None, :]
        P = P - np.outer(gain, P[0])
        P = (P + P.T) / 2
        xs_filt[k], Ps_filt[k] = x, P
    if not smooth:
        return xs_filt[:, 0]
    xs = xs_filt[-1]
    out = np.empty_like(y)
    out[-1] = xs[0]
    for k in range(n - 2, -1, -1):
        C = np.linalg.solve(Ps_pred[k + 1], F @ Ps_filt[k]).T   # P_filt F^T P_pred^-1
        xs = xs_filt[k] + C @ (xs - xs_pred[k + 1])
        out[k] = xs[0]
    return out


def kalman(x: np.ndarray, rate: float, trust_ratio: float = 500.0, smooth: bool = True) -> np.ndarray:
    """Constant-acceleration Kalman filter on (F, ...), with RTS smoother if ``smooth``.

    ``trust_ratio`` = process noise / measurement noise (Pose2Sim's key): larger
    values follow the measurements more closely. ``smooth=False`` gives the
    causal (real-time) filter, which lags.
    """
    if trust_ratio <= 0:
        raise ValueError(f"kalman trust_ratio must be > 0, got {trust_ratio}")
    F, Q = _kalman_model(rate, float(trust_ratio))
    return apply_on_runs(x, lambda blk: _kalman_block(blk, F, Q, bool(smooth)), min_len=2)


# --------------------------------------------------------------------------- Whittaker
def _second_difference_gram(n: int) -> np.ndarray:
    """Upper banded form (3, n) of D^T D, D the (n-2, n) second-difference operator (n >= 3)."""
    c = np.array([1.0, -2.0, 1.0])
    rows = np.arange(n - 2)[:, None]
    ab = np.zeros((3, n))
    for lag in range(3):           # ab[2 - lag, j] = (D^T D)[j - lag, j]
        for i in range(3 - lag):
            np.add.at(ab[2 - lag], (rows + i + lag).ravel(), c[i] * c[i + lag])
    return ab


def whittaker(blk: Block, lam: float) -> Block:
    """Solve (I + lam D^T D) z = y for every column of a (L >= 3, N) block."""
    from scipy.linalg import solveh_banded   # imported here: scipy costs ~0.3 s of start-up on the 2D -> .mot path
    ab = lam * _second_difference_gram(len(blk))
    ab[-1] += 1.0
    return solveh_banded(ab, blk)


def acc_minimizing(x: np.ndarray, rate: float, cut_off_frequency: float = 6.0) -> np.ndarray:
    """Whittaker-Henderson (acceleration-minimizing) smoother on (F, ...).

    Minimizes ``sum (z - y)^2 + lam * sum (second difference of z)^2`` with
    ``lam`` from ``cut_off_frequency`` (see module docstring). Smooth speeds and
    accelerations, natural (linear) behaviour at the ends of each run.
    """
    if not 0 < cut_off_frequency < rate / 2:
        raise ValueError(f"acc_minimizing cut_off_frequency={cut_off_frequency} Hz must be in (0, {rate / 2:g}) Hz")
    lam = float(cutoff_to_lambda(cut_off_frequency, rate))
    return apply_on_runs(x, lambda blk: whittaker(blk, lam), min_len=3)


# --------------------------------------------------------------------------- GCV spline
GCV_CUTOFF_RANGE = (1.0, 30.0)  # Hz, search range of the automatic cut-off


def gcv_lambdas(blk: Block, rate: float, cutoff_range: tuple[float, float] = GCV_CUTOFF_RANGE,
                n_grid: int = 121) -> np.ndarray:
    """GCV-optimal penalty per column of a (L, N) block (unit sample spacing).

    The GCV score ``L * RSS / (L - trace(H))^2`` is evaluated for a smoother
    diagonalised by the DCT (second-difference penalty, reflective ends; exact
    trace), after removing each column's straight line, which the penalty
    ignores. The minimum is searched on a log grid of cut-offs within
    ``cutoff_range`` (upper bound capped below Nyquist) and refined parabolically.
    """
    from scipy.fft import dct
    n = len(blk)
    t = np.arange(n, dtype=float)
    design = np.stack([np.ones(n), t - t.mean()], axis=1)
    coef, *_ = np.linalg.lstsq(design, blk, rcond=None)
    power = dct(blk - design @ coef, type=2, norm="ortho", axis=0) ** 2        # (L, N)
    eig = (2 - 2 * np.cos(np.pi * np.arange(n) / n)) ** 2                       # (L,)
    lo, hi = cutoff_range[0], min(cutoff_range[1], 0.45 * rate)
    log_lams = np.log(cutoff_to_lambda(np.geomspace(hi, lo, n_grid), rate))     # increasing
    gain = 1.0 / (1.0 + np.exp(log_lams)[:, None] * eig[None, :])               # (G, L)
    rss = ((1 - gain) ** 2) @ power                                             # (G, N)
    score = n * rss / (n - gain.sum(1))[:, None] ** 2
    best = np.argmin(score, axis=0)
    inner = np.clip(best, 1, n_grid - 2)
    cols = np.arange(blk.shape[1])
    s0, s1, s2 = score[inner - 1, cols], score[inner, cols], score[inner + 1, cols]
    step = log_lams[1] - log_lams[0]
    curv = s0 - 2 * s1 + s2
    shift = np.where(curv > 0, 0.5 * (s0 - s2) / np.where(curv > 0, curv, 1.0), 0.0)
    refined = log_lams[inner] + np.clip(shift, -1, 1) * step
    return np.exp(np.where(best == inner, refined, log_lams[best]))


def smoothing_spline(blk: Block, lam: float | np.ndarray) -> Block:
    """Cubic smoothing spline at unit-spaced samples of each column of a (L >= 3, N) block.

    Minimizes ``sum (y - g)^2 + lam * integral g''^2`` (``lam`` scalar or (N,)),
    the problem of ``scipy.interpolate.make_smoothing_spline``, solved by
    Reinsch's banded equations: ``(R + lam Q^T Q) gamma = Q^T y`` and
    ``g = y - lam Q gamma``, with Q the second-difference operator and R
    tridiagonal (2/3, 1/6) for unit spacing. O(L) per column.
    """
    from scipy.linalg import solveh_banded
    n = len(blk)
    lams = np.broadcast_to(np.asarray(lam, dtype=float), (blk.shape[1],))
    qty = blk[2:] - 2 * blk[1:-1] + blk[:-2]                       # Q^T y, (L-2, N)
    out = np.empty_like(blk)
    for value in np.unique(lams):
        cols = np.flatnonzero(lams == value)
        ab = np.zeros((3, n - 2))
        ab[0, 2:] = value
        ab[1, 1:] = 1 / 6 - 4 * value
        ab[2] = 2 / 3 + 6 * value
        gamma = solveh_banded(ab, qty[:, cols])
        q_gamma = np.zeros((n, len(cols)))                         # Q gamma
        q_gamma[:-2] += gamma
        q_gamma[1:-1] -= 2 * gamma
        q_gamma[2:] += gamma
        out[:, cols] = blk[:, cols] - value * q_gamma
    return out


def gcv_spline(x: np.ndarray, rate: float, cut_off_frequency: float | str = "auto",
               smoothing_factor: float = 1.0, cutoffs_out: list | None = None) -> np.ndarray:
    """Cubic smoothing spline on each valid run of each column of (F, ...).

    ``cut_off_frequency='auto'``: penalty chosen per column and run by GCV
    (:func:`gcv_lambdas`), multiplied by ``smoothing_factor`` (>1 smoother, <1
    closer to the data). A number (Hz): penalty from that cut-off, the factor
    is ignored. The equivalent cut-offs used (Hz) are appended to ``cutoffs_out``.
    """
    auto = isinstance(cut_off_frequency, str)
    if auto and cut_off_frequency.lower() != "auto":
        raise ValueError(f"gcv_spline cut_off_frequency must be 'auto' or a number of Hz, got {cut_off_frequency!r}")
    if not auto and not 0 < float(cut_off_frequency) < rate / 2:
        raise ValueError(f"gcv_spline cut_off_frequency={cut_off_frequency} Hz must be in (0, {rate / 2:g}) Hz")
    if smoothing_factor <= 0:
        raise ValueError(f"gcv_spline smoothing_factor must be > 0, got {smoothing_factor}")

    def _block(blk: Block) -> Block:
        if auto:
            lams = gcv_lambdas(blk, rate) * smoothing_factor
        else:
            lams = np.full(blk.shape[1], float(cutoff_to_lambda(float(cut_off_frequency), rate)))
        if cutoffs_out is not None:
            cutoffs_out.extend(np.atleast_1d(lambda_to_cutoff(lams, rate)).tolist())
        return smoothing_spline(blk, lams)

    return apply_on_runs(x, _block, min_len=5)
