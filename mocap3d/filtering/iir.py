"""Low-pass Butterworth design and zero-phase filtering in numpy (``scipy.signal``'s results).

``scipy.signal`` costs about a second of CPU to import (it brings ``scipy.stats``
and parses its docstrings), more than the filtering itself on a 100-frame
trial; the synchronization and filtering stages need only these two functions.
:func:`butter` is ``scipy.signal.butter(order, wn)`` (digital low-pass,
bilinear transform with pre-warping) and :func:`filtfilt` is
``scipy.signal.filtfilt(b, a, x, axis)`` with its defaults (odd extension of
``3 * max(len(a), len(b))`` samples, steady-state initial conditions); both agree
with scipy to rounding (tests compare them). The recursion runs in Python over
the samples (vectorized over columns): signals longer than :data:`SCIPY_FROM`
samples go to ``scipy.signal`` itself, whose import then costs little next to
the work.
"""
from __future__ import annotations

import numpy as np

#: Signals with more samples than this are filtered by ``scipy.signal.filtfilt`` (same result, compiled loop).
SCIPY_FROM = 1000


def butter(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital low-pass Butterworth ``(b, a)`` of ``order``; ``wn`` the cut-off over the Nyquist frequency (0-1)."""
    if not 0 < wn < 1:
        raise ValueError(f"Butterworth cut-off must be in (0, 1) of the Nyquist frequency, got {wn}")
    if order < 1:
        raise ValueError(f"Butterworth order must be >= 1, got {order}")
    fs2 = 4.0                                                      # 2 * fs with fs = 2 (normalized)
    warped = fs2 * np.tan(np.pi * wn / 2.0)                        # pre-warped analog cut-off
    poles = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order)) * warped
    gain = warped ** order
    z_poles = (fs2 + poles) / (fs2 - poles)                        # bilinear transform; zeros all at -1
    gain = gain * np.real(1.0 / np.prod(fs2 - poles))
    b = gain * np.real(np.poly(-np.ones(order)))
    a = np.real(np.poly(z_poles))
    return b, a


def _initial_state(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Steady-state of the filter's delays for a unit step input ((n - 1,), ``scipy.signal.lfilter_zi``)."""
    n = len(a)
    companion = np.zeros((n - 1, n - 1))
    companion[0] = -a[1:]
    companion[np.arange(1, n - 1), np.arange(n - 2)] = 1.0
    return np.linalg.solve(np.eye(n - 1) - companion.T, b[1:] - a[1:] * b[0])


def _lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Direct form II transposed along axis 0 of x (N, C), delays z (n - 1, C) (modified); returns y (N, C)."""
    y = np.empty_like(x)
    bm, am = b[1:-1, None], a[1:-1, None]
    for i in range(len(x)):
        xi = x[i]
        yi = b[0] * xi + z[0]
        z[:-1] = bm * xi + z[1:] - am * yi
        z[-1] = b[-1] * xi - a[-1] * yi
        y[i] = yi
    return y


def filtfilt(b: np.ndarray, a: np.ndarray, x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Zero-phase forward-backward IIR filter of ``x`` along ``axis`` (needs more than ``3 * len(a)`` samples)."""
    x = np.asarray(x, float)
    if x.shape[axis] > SCIPY_FROM:
        from scipy.signal import filtfilt as compiled
        return compiled(b, a, x, axis=axis)
    b, a = np.asarray(b, float), np.asarray(a, float)
    n = max(len(a), len(b))
    b, a = np.pad(b, (0, n - len(b))) / a[0], np.pad(a, (0, n - len(a))) / a[0]
    x = np.moveaxis(x, axis, 0)
    shape = x.shape
    x = x.reshape(shape[0], -1)
    edge = 3 * n
    if shape[0] <= edge:
        raise ValueError(f"filtfilt needs more than {edge} samples along the axis, got {shape[0]}")
    ext = np.concatenate((2 * x[:1] - x[edge:0:-1], x, 2 * x[-1:] - x[-2:-edge - 2:-1]))
    if n == 1:
        y = b[0] ** 2 * ext
    else:
        zi = _initial_state(b, a)[:, None]
        y = _lfilter(b, a, ext, zi * ext[0])
        y = _lfilter(b, a, y[::-1], zi * y[-1])[::-1]
    return np.moveaxis(y[edge:-edge].reshape(shape), 0, axis)
