"""Numpy replacements of the scipy functions the stages from 2D keypoints to the .mot used (Butterworth design,
zero-phase filtering, small assignments, linear gap interpolation) against scipy's own results."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from mocap3d.filtering import iir


@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("wn", [0.02, 0.2, 0.5, 0.95])
def test_butter_is_scipys(order, wn):
    b, a = iir.butter(order, wn)
    b_ref, a_ref = signal.butter(order, wn)
    np.testing.assert_allclose(b, b_ref, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(a, a_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("order, wn", [(1, 0.3), (2, 0.1), (2, 0.4), (4, 0.05)])
def test_filtfilt_is_scipys_on_every_axis(order, wn):
    rng = np.random.default_rng(order)
    b, a = signal.butter(order, wn)
    x = rng.normal(size=(4, 90, 3)).cumsum(axis=1)
    for axis in (1, -2):
        np.testing.assert_allclose(iir.filtfilt(b, a, x, axis=axis), signal.filtfilt(b, a, x, axis=axis),
                                   rtol=0, atol=1e-10)
    one = x[0, :, 0]
    np.testing.assert_allclose(iir.filtfilt(b, a, one), signal.filtfilt(b, a, one), rtol=0, atol=1e-10)
    long = rng.normal(size=(iir.SCIPY_FROM + 5, 2))                # handed to scipy itself: same result
    np.testing.assert_allclose(iir.filtfilt(b, a, long, axis=0), signal.filtfilt(b, a, long, axis=0), atol=1e-12)


def test_filtfilt_refuses_short_signals_and_keeps_a_constant():
    b, a = iir.butter(2, 0.2)
    with pytest.raises(ValueError, match="more than 9 samples"):
        iir.filtfilt(b, a, np.ones(9))
    np.testing.assert_allclose(iir.filtfilt(b, a, np.full(40, 3.5)), 3.5, atol=1e-12)
    with pytest.raises(ValueError, match="cut-off"):
        iir.butter(2, 1.2)


def test_stages_from_2d_to_mot_do_not_import_heavy_scipy_packages():
    """scipy.signal (with scipy.stats), scipy.optimize and scipy.interpolate cost about 1.5 s of CPU to
    import together, more than the stages' work on a short trial."""
    heavy = ("scipy.signal", "scipy.stats", "scipy.optimize", "scipy.interpolate")
    code = ("import sys, mocap3d.synchronization, mocap3d.association, mocap3d.triangulation, mocap3d.filtering, "
            f"mocap3d.augmentation, mocap3d.kinematics.stage; print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_min_cost_assignment_is_scipys():
    """Small assignments are scored exhaustively (association's tracks): same optimum as scipy's."""
    from scipy.optimize import linear_sum_assignment

    from mocap3d.association import min_cost_assignment
    rng = np.random.default_rng(3)
    for _ in range(300):
        n, m = rng.integers(1, 9, size=2)                              # 8 x 8 goes to scipy itself
        cost = rng.random((n, m))
        rows, cols = min_cost_assignment(cost)
        r_ref, c_ref = linear_sum_assignment(cost)
        np.testing.assert_array_equal(rows, r_ref)
        np.testing.assert_array_equal(cols, c_ref)
    rows, cols = min_cost_assignment(np.zeros((0, 3)))
    assert rows.size == cols.size == 0


def test_linear_gap_interpolation_is_scipys():
    from scipy.interpolate import interp1d

    from mocap3d.triangulation.gaps import interpolate_gaps
    rng = np.random.default_rng(4)
    pts = rng.normal(size=(30, 4, 3))
    pts[[3, 4, 10, 20, 21, 22], 1] = np.nan
    out, filled = interpolate_gaps(pts, 5, "linear")
    ok = np.isfinite(pts[:, 1]).all(-1)
    t = np.arange(30)
    np.testing.assert_array_equal(out[~ok, 1], interp1d(t[ok], pts[ok, 1], axis=0)(t[~ok]))
    assert filled[:, 1].sum() == 6 and not filled[:, [0, 2, 3]].any()
    cubic, _ = interpolate_gaps(pts, 5, "cubic")
    np.testing.assert_allclose(cubic[~ok, 1], interp1d(t[ok], pts[ok, 1], kind="cubic", axis=0)(t[~ok]))
