"""C3D: round trip, read by both ezc3d and c3d, files written by others (Z up), bad input."""
import warnings

import c3d
import ezc3d
import numpy as np
import pytest

from mocap3d.errors import FileFormatError
from mocap3d.io.c3d import c3d_info, read_c3d, write_c3d
from mocap3d.markers import Markers3D
from mocap3d.markers_ops import zup_to_yup

FLOAT32_M = 1e-7  # float32 millimetres: ~6e-5 mm at 1 m


def _markers():
    rng = np.random.default_rng(4)
    d = rng.normal(scale=0.5, size=(7, 4, 3)) + [0, 1, 0]
    d[2, 1] = np.nan
    d[6, 3] = np.nan
    return Markers3D(d, ["Hip", "RKnee", "LKnee", "Nose"], 100.0, start_time=0.0, first_frame=1)


def test_round_trip(tmp_path):
    m = _markers()
    back = read_c3d(write_c3d(m, tmp_path / "a.c3d"))
    assert back.names == m.names and back.rate == 100.0 and back.first_frame == 1
    np.testing.assert_array_equal(np.isnan(back.data), np.isnan(m.data))
    np.testing.assert_allclose(back.data, m.data, atol=FLOAT32_M, rtol=0)
    info = c3d_info(tmp_path / "a.c3d")
    assert info["units"] == "mm" and info["up_axis"] == "Y" and info["n_frames"] == 7


def test_ezc3d_reads_ours(tmp_path):
    m = _markers()
    c = ezc3d.c3d(str(write_c3d(m, tmp_path / "a.c3d")))
    assert c["parameters"]["POINT"]["LABELS"]["value"] == m.names
    assert c["parameters"]["POINT"]["UNITS"]["value"] == ["mm"]
    assert c["parameters"]["POINT"]["RATE"]["value"][0] == 100.0
    assert c["data"]["analogs"].size == 0
    pts = c["data"]["points"]  # (4, M, F) millimetres
    res = c["data"]["meta_points"]["residuals"][0]  # (M, F)
    ok = ~np.isnan(m.data).any(-1).T
    np.testing.assert_allclose(pts[:3].transpose(2, 1, 0)[ok.T], m.data[ok.T] * 1000, atol=1e-3)
    assert (res[~ok] == -1).all() and (res[ok] >= 0).all()


def test_c3d_package_reads_ours(tmp_path):
    m = _markers()
    p = write_c3d(m, tmp_path / "a.c3d")
    with open(p, "rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No analog data found in file."
        r = c3d.Reader(fh)
        assert r.point_rate == 100.0 and r.analog_used == 0
        assert [s.strip() for s in r.point_labels] == m.names
        assert r.get("POINT:UNITS").string_value.strip() == "mm"
        frames = [(i, pts.copy()) for i, pts, _ in r.read_frames()]
    assert [i for i, _ in frames] == list(range(1, 8))
    for f, (_, pts) in enumerate(frames):  # (M, 5): x y z residual cameras
        for j in range(4):
            if np.isnan(m.data[f, j]).any():
                assert pts[j, 3] == -1
            else:
                assert pts[j, 3] >= 0
                np.testing.assert_allclose(pts[j, :3], m.data[f, j] * 1000, atol=1e-3)


def test_reads_zup_file_written_by_c3d_package(tmp_path):
    # A lab-style file: Z up, metres, float, written by another library.
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(5, 2, 3)) + [0, 0, 1]
    w = c3d.Writer(point_rate=200.0, analog_rate=0.0, point_scale=-1.0, point_units="m  ")
    w.set_point_labels(["LASI", "RASI"])
    w.set_screen_axis(X="+X", Y="+Z")
    for f in range(5):
        pts = np.zeros((2, 5), dtype=np.float32)
        pts[:, :3] = xyz[f]
        if f == 3:
            pts[1, 3] = -1  # missing
        w.add_frames([(pts, np.zeros((0, 0)))])
    p = tmp_path / "lab.c3d"
    with open(p, "wb") as fh:
        w.write(fh)
    info = c3d_info(p)
    assert info["up_axis"] == "Z" and info["rate"] == 200.0 and info["units"] == "m"
    m = read_c3d(p)
    assert m.names == ["LASI", "RASI"] and np.isnan(m.data[3, 1]).all()
    np.testing.assert_allclose(m.data[0], xyz[0], atol=1e-6)
    y_up = read_c3d(p, to_y_up=True)
    np.testing.assert_allclose(y_up.data, zup_to_yup(m).data, equal_nan=True)
    np.testing.assert_allclose(y_up.data[0, :, 1], xyz[0, :, 2], atol=1e-6)  # old Z is the new Y


def test_bad_c3d(tmp_path):
    p = tmp_path / "junk.c3d"
    p.write_bytes(b"not a c3d file at all" * 10)
    with pytest.raises(FileFormatError, match=r"junk\.c3d: not a readable C3D"):
        read_c3d(p)
    good = write_c3d(_markers(), tmp_path / "a.c3d").read_bytes()
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(good[:600])
    with pytest.raises(FileFormatError, match=r"cut\.c3d"):
        read_c3d(cut)
    big = write_c3d(Markers3D(np.ones((50, 4, 3)), list("abcd"), 100.0), tmp_path / "big.c3d").read_bytes()
    cut.write_bytes(big[:-1000])  # frames missing at the end
    with pytest.raises(FileFormatError, match=r"cut\.c3d: truncated: header says 50 frames, found 40"):
        read_c3d(cut)
    with pytest.raises(FileFormatError, match="not found"):
        read_c3d(tmp_path / "none.c3d")
