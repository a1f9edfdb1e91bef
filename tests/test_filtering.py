"""Filters against references on synthetic signals: scipy's zero-phase response, exact solutions, RMSE gains."""
import numpy as np
import pytest
from scipy import ndimage, signal

from mocap3d.errors import ConfigError
from mocap3d.filtering import (acc_minimizing, butter_coefficients, butterworth, butterworth_on_speed,
                               cutoff_to_lambda, fill_gaps, filter_array, gaussian, gcv_spline, hampel, kalman,
                               lambda_to_cutoff, loess, median, one_euro, settings_from_config)
from mocap3d.filtering.runs import runs

RATE = 100.0


def _signal(n=500, seed=0, noise=0.005, cols=6):
    """Smooth motion (content <= 2.5 Hz, metres) + white noise: (clean, noisy), each (n, cols)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    phases = rng.uniform(0, 2 * np.pi, (3, cols))
    clean = (0.10 * np.sin(2 * np.pi * 1.0 * t[:, None] + phases[0])
             + 0.04 * np.sin(2 * np.pi * 2.5 * t[:, None] + phases[1])
             + 0.3 * t[:, None] * np.cos(phases[2]))
    return clean, clean + rng.normal(0, noise, clean.shape)


def _rmse(a, b):
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def test_runs_split_on_nan():
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == [(0, 2), (3, 4), (6, 9)]
    assert runs(np.zeros(3, bool)) == []


def test_butterworth_equals_scipy_zero_phase_and_half_gain_at_cutoff():
    _, noisy = _signal()
    b, a = signal.butter(2, 6.0 / (RATE / 2))
    np.testing.assert_allclose(butterworth(noisy, RATE, 6.0, 4), signal.filtfilt(b, a, noisy, axis=0), atol=1e-12)
    # zero-phase response |H|^2: 0.5 at the cut-off, ~1 well below, ~0 well above
    t = np.arange(4000) / RATE
    for f, expected, tol in ((6.0, 0.5, 0.01), (1.0, 1.0, 0.01), (25.0, 0.0, 0.01)):
        y = butterworth(np.sin(2 * np.pi * f * t), RATE, 6.0, 4)[1000:-1000]
        assert np.sqrt(2) * np.std(y) == pytest.approx(expected, abs=tol)
    with pytest.raises(ValueError):
        butter_coefficients(60.0, RATE)


def test_nan_gaps_stay_gaps_and_runs_are_filtered_separately():
    clean, noisy = _signal(cols=3)
    x = noisy.copy()
    x[200:230, :2] = np.nan        # a gap in two columns
    x[:5, 2] = np.nan              # a leading gap in the third
    for func in (butterworth, kalman, gcv_spline, acc_minimizing, one_euro, loess, gaussian, median):
        y = func(x, RATE)
        assert np.array_equal(np.isnan(y), np.isnan(x)), func.__name__
        if func is not one_euro:   # first-order at 4-5 Hz: blunts this 2.5 Hz content (tested below)
            assert _rmse(y, clean) < _rmse(x, clean), func.__name__
    b, a = butter_coefficients(6.0, RATE)
    y = butterworth(x, RATE)
    np.testing.assert_allclose(y[230:, 0], signal.filtfilt(b, a, x[230:, 0]), atol=1e-12)
    np.testing.assert_allclose(y[:200, 1], signal.filtfilt(b, a, x[:200, 1]), atol=1e-12)
    # a run too short for filtfilt's padding is left as it is
    x2 = noisy[:, 0].copy()
    x2[7] = np.nan                 # run of 7 frames <= padlen 9
    np.testing.assert_array_equal(butterworth(x2, RATE)[:7], x2[:7])


def test_fill_gaps_only_short_interior_gaps():
    x = np.arange(40, dtype=float) * 0.1
    x[[0, 1]] = np.nan            # leading: stays
    x[10:13] = np.nan             # 3 frames: filled
    x[20:30] = np.nan             # 10 frames: stays
    y = fill_gaps(x, max_gap=5)
    assert np.isnan(y[:2]).all() and np.isnan(y[20:30]).all()
    np.testing.assert_allclose(y[10:13], np.arange(10, 13) * 0.1)
    settings = settings_from_config({"interp_if_gap_smaller_than": 5, "type": "butterworth", "reject_outliers": False})
    out, info = filter_array(x[:, None], RATE, settings)
    assert info["gap_samples_filled"] == 3 and np.isfinite(out[2:20]).all()


def test_kalman_smoother_lowers_rmse_and_is_unit_free():
    clean, noisy = _signal(noise=0.01)
    smooth = kalman(noisy, RATE, trust_ratio=500)
    causal = kalman(noisy, RATE, trust_ratio=500, smooth=False)
    raw = _rmse(noisy, clean)
    assert _rmse(smooth, clean) < 0.45 * raw
    assert _rmse(smooth, clean) < _rmse(causal, clean)
    np.testing.assert_allclose(kalman(noisy * 1000, RATE), smooth * 1000, rtol=1e-6, atol=1e-6)
    # more trust in measurements follows the data more closely
    assert _rmse(kalman(noisy, RATE, trust_ratio=1e5), noisy) < _rmse(smooth, noisy)


def test_whittaker_solves_its_normal_equations():
    _, noisy = _signal(n=60, cols=2)
    lam = float(cutoff_to_lambda(6.0, RATE))
    D = np.diff(np.eye(60), 2, axis=0)
    expected = np.linalg.solve(np.eye(60) + lam * D.T @ D, noisy)
    np.testing.assert_allclose(acc_minimizing(noisy, RATE, 6.0), expected, atol=1e-10)
    t = np.arange(4000) / RATE   # gain at the cut-off is 0.5 (interior)
    y = acc_minimizing(np.sin(2 * np.pi * 6.0 * t), RATE, 6.0)[1000:-1000]
    assert np.sqrt(2) * np.std(y) == pytest.approx(0.5, abs=0.02)
    assert lambda_to_cutoff(cutoff_to_lambda(7.5, RATE), RATE) == pytest.approx(7.5)


def test_gcv_auto_picks_a_sensible_cutoff():
    clean, noisy = _signal(n=600, noise=0.005, cols=4)
    cutoffs = []
    y = gcv_spline(noisy, RATE, "auto", cutoffs_out=cutoffs)
    assert len(cutoffs) == 4
    # signal content ends at 2.5 Hz, noise is white: the cut-off lies above the content, well below Nyquist
    assert all(3.0 < c < 15.0 for c in cutoffs), cutoffs
    # close to the best fixed cut-off an oracle knowing the truth would pick
    grid = np.geomspace(2, 20, 15)
    errors = [_rmse(gcv_spline(noisy, RATE, float(f)), clean) for f in grid]
    best = min(errors)
    assert _rmse(y, clean) < 1.25 * best
    assert _rmse(y, clean) < 0.5 * _rmse(noisy, clean)
    # smoothing_factor > 1 smooths more
    more = []
    gcv_spline(noisy, RATE, "auto", smoothing_factor=10, cutoffs_out=more)
    np.testing.assert_allclose(np.array(more), np.array(cutoffs) / 10 ** 0.25, rtol=1e-6)


def test_gcv_fixed_cutoff_is_the_spline_with_that_penalty():
    from scipy.interpolate import make_smoothing_spline
    _, noisy = _signal(n=100, cols=1)
    t = np.arange(100.0)
    ref = make_smoothing_spline(t, noisy[:, 0], lam=float(cutoff_to_lambda(5.0, RATE)))(t)
    np.testing.assert_allclose(gcv_spline(noisy, RATE, 5.0)[:, 0], ref, atol=1e-9)


def test_hampel_removes_spikes_and_leaves_the_rest():
    clean, noisy = _signal(noise=0.002)
    x = noisy.copy()
    spikes = [(50, 0), (51, 0), (300, 3), (0, 1), (499, 2)]
    for f, c in spikes:
        x[f, c] += 0.5
    y, n = hampel(x, window=7, n_sigma=2)
    for f, c in spikes:   # a 0.5 m spike becomes the window median: off by the local slope (<= 15 mm/frame) x <= 3 frames
        assert abs(y[f, c] - clean[f, c]) < 0.035
    assert n >= len(spikes)
    changed = y != x
    assert changed.sum() == n and changed.mean() < 0.1     # few false rejections on smooth noisy data
    assert np.abs(y - clean).max() < 0.035


def test_one_euro_is_zero_phase_and_denoises():
    t = np.arange(1000) / RATE
    clean = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    noisy = clean + np.random.default_rng(1).normal(0, 0.003, t.shape)
    y = one_euro(noisy, RATE)   # Config.toml defaults: 4 Hz, beta 1.5, 1 Hz
    assert _rmse(y, clean) < 0.6 * _rmse(noisy, clean)
    lags = [_rmse(np.roll(y, k)[50:-50], clean[50:-50]) for k in range(-5, 6)]
    assert int(np.argmin(lags)) == 5          # best alignment at lag 0: no phase lag


def test_loess_is_local_linear():
    line = 0.3 + 0.02 * np.arange(50)
    np.testing.assert_allclose(loess(line, RATE, 7), line, atol=1e-12)     # exact on lines, edges included
    x = np.random.default_rng(2).normal(size=30)
    y = loess(x, RATE, 5)
    # interior point: tricube weights on offsets -2..2 with h = 2 (the farthest neighbours weigh 0)
    w = (1 - (np.abs(np.arange(-2, 3)) / 2) ** 3) ** 3
    assert y[10] == pytest.approx(np.sum(w * x[8:13]) / w.sum())
    # first point: window 0..4 shifted inside, weighted linear fit evaluated at 0
    t = np.arange(5.0)
    w0 = (1 - (t / 4) ** 3) ** 3
    A = np.stack([np.ones(5), t], 1) * np.sqrt(w0)[:, None]
    coef = np.linalg.lstsq(A, x[:5] * np.sqrt(w0), rcond=None)[0]
    assert y[0] == pytest.approx(coef[0])


def test_gaussian_and_median_match_ndimage():
    _, noisy = _signal(cols=2)
    np.testing.assert_allclose(gaussian(noisy, RATE, 2.0), ndimage.gaussian_filter1d(noisy, 2.0, axis=0, mode="nearest"))
    x = np.ones(20)
    x[7] = 9.0
    np.testing.assert_array_equal(median(x, RATE, 3), np.ones(20))
    with pytest.raises(ValueError):
        median(x, RATE, 4)


def test_butterworth_on_speed_keeps_level_and_shape():
    clean, noisy = _signal(noise=0.002)
    y = butterworth_on_speed(noisy, RATE, 10.0, 4)
    assert _rmse(y, clean) < _rmse(noisy, clean)
    np.testing.assert_allclose(y.mean(0), noisy.mean(0), atol=1e-12)


def test_settings_from_pose2sim_config_and_errors():
    s = settings_from_config({"type": "LOESS", "loess": {"nb_values_used": 9}, "reject_outliers": False})
    assert (s.filter_type, s.params["nb_values_used"], s.reject_outliers) == ("loess", 9, False)
    s = settings_from_config({"type": "gcv_spline", "gcv_spline": {"cut_off_frequency": "auto", "smoothing_factor": 2}})
    assert s.params == {"cut_off_frequency": "auto", "smoothing_factor": 2.0}
    with pytest.raises(ConfigError, match="filtering.type"):
        settings_from_config({"type": "wavelet"})
    with pytest.raises(ConfigError, match="filtering.butterworth"):
        filter_array(np.zeros((100, 1)), 30.0, settings_from_config({"butterworth": {"cut_off_frequency": 20}}))


def test_causal_kalman_converges_to_the_riccati_steady_state_gain():
    from scipy.linalg import solve_discrete_are
    from mocap3d.filtering.smoothers import _kalman_model
    F, Q = _kalman_model(RATE, 500.0)
    H = np.array([[1.0, 0.0, 0.0]])
    P = solve_discrete_are(F.T, H.T, Q + 1e-15 * np.eye(3), np.eye(1))      # steady-state predicted covariance
    K = P @ H.T / (H @ P @ H.T + 1.0)
    A = (np.eye(3) - K @ H) @ F
    impulse = np.zeros(400)
    impulse[300] = 1.0                              # long after the start: the filter has converged
    y = kalman(impulse, RATE, 500.0, smooth=False)
    expected = [(H @ np.linalg.matrix_power(A, j) @ K).item() for j in range(100)]
    np.testing.assert_allclose(y[300:], expected, atol=1e-9)
    # the RTS smoother is symmetric in time around the impulse (zero phase)
    s = kalman(impulse, RATE, 500.0)
    np.testing.assert_allclose(s[290:300][::-1], s[301:311], atol=1e-6)


def test_gcv_auto_agrees_with_scipys_exact_gcv_spline():
    from scipy.interpolate import make_smoothing_spline
    clean, noisy = _signal(n=400, noise=0.005, cols=2, seed=5)
    t = np.arange(400.0)
    ours = gcv_spline(noisy, RATE, "auto")
    for j in range(2):
        centre = np.median(noisy[:, j])
        ref = make_smoothing_spline(t, (noisy[:, j] - centre) / 0.05)(t) * 0.05 + centre   # lam by scipy's GCV
        assert _rmse(ours[:, j], ref) < 0.04 * 0.005            # < 4 % of the noise level apart
        assert _rmse(ours[:, j], clean[:, j]) < 0.5 * _rmse(noisy[:, j], clean[:, j])


def test_hampel_keeps_the_run_edges_of_a_fast_marker():
    # a foot-like marker at 30 Hz (up to 0.16 m/frame, curving) with 2 mm noise and no outlier: the shifted
    # edge windows' median lies up to 3 frames away; the edge samples must not be pulled toward it
    t = np.arange(60) / 30.0
    clean = np.column_stack([0.5 * np.sin(2 * np.pi * 1.5 * t + p) for p in np.linspace(0, 3, 12)])
    noisy = clean + np.random.default_rng(4).normal(0, 0.002, clean.shape)
    y, _ = hampel(noisy, window=7, n_sigma=2)
    assert np.abs(y - clean).max() < 0.03
