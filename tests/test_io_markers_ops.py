"""markers_ops: resample, scale, rotate, Z-up to Y-up, combine, against hand-computed truth."""
import numpy as np
import pytest

from mocap3d.errors import Mocap3dError
from mocap3d.markers import Markers3D
from mocap3d.markers_ops import combine, resample, rotate, rotation_matrix, scale, zup_to_yup


def _linear(F=11, rate=100.0, start=0.2):
    t = start + np.arange(F) / rate
    data = np.stack([np.column_stack([t, 2 * t, -t]), np.column_stack([t ** 0, t * 0, 3 * t])], axis=1)
    return Markers3D(data, ["A", "B"], rate, start_time=start, first_frame=21)


def test_resample_linear_is_exact_on_linear_motion():
    m = _linear()
    up = resample(m, 250.0)  # 0.1 s span -> 26 samples at 250 Hz
    assert up.n_frames == 26 and up.rate == 250.0 and up.start_time == m.start_time
    t = up.times
    np.testing.assert_allclose(up["A"], np.column_stack([t, 2 * t, -t]), atol=1e-12)
    down = resample(m, 50.0)  # integer factor: every other frame exactly
    np.testing.assert_array_equal(down.data, m.data[::2])


def test_resample_keeps_gaps():
    m = _linear()
    m.data[4, 0] = np.nan
    up = resample(m, 200.0)
    nan_rows = np.nonzero(np.isnan(up.data[:, 0, 0]))[0]
    np.testing.assert_array_equal(nan_rows, [7, 8, 9])  # samples touching old frame 4 (t = 3.5, 4, 4.5 old frames)
    assert not np.isnan(up.data[:, 1]).any()


def test_scale_and_rotate():
    m = _linear()
    np.testing.assert_array_equal(scale(m, 1e-3).data, m.data * 1e-3)
    r = rotate(m, "z", 90)
    np.testing.assert_allclose(r.data[..., 0], -m.data[..., 1], atol=1e-12)
    np.testing.assert_allclose(r.data[..., 1], m.data[..., 0], atol=1e-12)
    np.testing.assert_allclose(r.data[..., 2], m.data[..., 2], atol=1e-12)
    R = rotation_matrix("x", 30)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(rotate(rotate(m, "x", 30), "x", -30).data, m.data, atol=1e-12)
    with pytest.raises(ValueError):
        rotate(m, "w", 10)


def test_zup_to_yup_conventions_are_proper_rotations():
    m = _linear()
    p = zup_to_yup(m)
    np.testing.assert_array_equal(p.data, m.data[..., [1, 2, 0]])  # Pose2Sim: X<-Y, Y<-Z, Z<-X
    x = zup_to_yup(m, "x_forward")
    np.testing.assert_allclose(x.data, rotate(m, "x", -90).data, atol=1e-12)
    # both keep handedness: det of the axis map is +1
    P = np.eye(3)[[1, 2, 0]]
    assert np.linalg.det(P) == pytest.approx(1.0)
    up = np.array([[[0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(zup_to_yup(Markers3D(up, ["u"], 1.0), "x_forward").data[0, 0], [0, 1, 0])


def test_combine_by_time():
    a = _linear(F=5, start=0.0)
    b = Markers3D(np.ones((4, 1, 3)), ["A"], 100.0, start_time=0.03)
    c = combine(a, b)
    assert c.names == ["A", "B", "A_2"] and c.n_frames == 7 and c.start_time == 0.0
    np.testing.assert_array_equal(c.data[:5, :2], a.data)
    np.testing.assert_array_equal(c.data[3:7, 2], 1.0)
    assert np.isnan(c.data[:3, 2]).all() and np.isnan(c.data[5:, :2]).all()
    early = combine(b, a)  # the earlier file need not come first
    assert early.start_time == 0.0 and early.n_frames == 7 and early.first_frame == a.first_frame == 21
    with pytest.raises(Mocap3dError, match="60.0 Hz"):
        combine(a, Markers3D(np.ones((2, 1, 3)), ["Z"], 60.0))
