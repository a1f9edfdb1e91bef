"""OpenSim .trc: round trip, OpenSim's own readers, Pose2Sim and mm files, bad input."""
import numpy as np
import opensim as osim
import pytest

from mocap3d.errors import FileFormatError
from mocap3d.io.trc import read_trc, read_trc_header, write_trc
from mocap3d.markers import Markers3D


def _markers(F=6, rate=60.0):
    rng = np.random.default_rng(1)
    d = rng.normal(scale=0.8, size=(F, 3, 3))
    d[1, 0] = np.nan
    d[F - 1, 2] = np.nan  # last marker of the last row missing: trailing fields
    return Markers3D(d, ["Hip", "RKnee", "LKnee"], rate, start_time=0.5, first_frame=31)


def test_round_trip(tmp_path):
    m = _markers(rate=29.97)
    back = read_trc(write_trc(m, tmp_path / "a.trc"))
    assert back.names == m.names and back.rate == 29.97 and back.first_frame == 31
    assert back.start_time == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_array_equal(np.isnan(back.data), np.isnan(m.data))
    np.testing.assert_allclose(back.data, m.data, atol=1e-9, rtol=0)
    head = read_trc_header(tmp_path / "a.trc")
    assert head["Units"] == "m" and head["NumFrames"] == 6 and head["NumMarkers"] == 3


def test_opensim_reads_ours(tmp_path):
    m = _markers()
    p = str(write_trc(m, tmp_path / "a.trc"))
    table = osim.TimeSeriesTableVec3(p)
    assert list(table.getColumnLabels()) == m.names
    assert table.getTableMetaDataAsString("Units") == "m"
    assert table.getNumRows() == m.n_frames
    np.testing.assert_allclose(list(table.getIndependentColumn()), m.times, atol=1e-9)
    for j, name in enumerate(m.names):
        col = table.getDependentColumn(name)
        got = np.array([[col[i][k] for k in range(3)] for i in range(m.n_frames)])
        np.testing.assert_allclose(got, m.data[:, j], atol=1e-9)  # NaN where NaN
    md = osim.MarkerData(p)
    assert md.getNumFrames() == m.n_frames and md.getUnits().getAbbreviation() == "m"
    assert [md.getMarkerNames().get(i) for i in range(3)] == m.names
    assert md.getDataRate() == pytest.approx(60.0)
    v = md.getFrame(2).getMarker(1)
    np.testing.assert_allclose([v[0], v[1], v[2]], m.data[2, 1], atol=1e-9)


def test_reads_opensim_written_trc(tmp_path):
    m = _markers()
    table = osim.TimeSeriesTableVec3()
    table.setColumnLabels(m.names)
    for i in range(m.n_frames):
        row = osim.RowVectorVec3(3)
        for j in range(3):
            row[j] = osim.Vec3(*m.data[i, j])
        table.appendRow(float(m.times[i]), row)
    table.addTableMetaDataString("DataRate", "60")
    table.addTableMetaDataString("Units", "mm")
    p = str(tmp_path / "os.trc")
    osim.TRCFileAdapter.write(table, p)
    back = read_trc(p)
    assert back.names == m.names and back.rate == 60.0
    np.testing.assert_allclose(back.data, m.data / 1000, atol=1e-9)  # file in mm -> metres


def test_reads_pose2sim_layout_and_mm(tmp_path):
    # Pose2Sim writes Frame# from the first frame index (0 here), empty fields for NaN and trailing tabs.
    names = ["Hip", "Nose"]
    header = ["PathFileType\t4\t(X/Y/Z)\tDemo_0-2.trc",
              "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
              "30\t30\t3\t2\tmm\t30\t0\t3",
              "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t\t",
              "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(2)) + "\t"]
    rows = ["0\t0.0\t10.0\t900.0\t-5.0\t12.5\t1500.0\t3.0",
            "1\t0.03333333333333333\t\t\t\t12.0\t1501.0\t3.5",
            "2\t0.06666666666666667\t11.0\t901.0\t-4.0\t\t\t"]
    p = tmp_path / "Demo_0-2.trc"
    p.write_text("\n".join(header + rows) + "\n")
    m = read_trc(p)
    assert m.first_frame == 0 and m.rate == 30.0 and m.names == names
    np.testing.assert_allclose(m.data[0], [[0.01, 0.9, -0.005], [0.0125, 1.5, 0.003]])
    assert np.isnan(m.data[1, 0]).all() and np.isnan(m.data[2, 1]).all()
    np.testing.assert_allclose(m.data[2, 0], [0.011, 0.901, -0.004])


@pytest.mark.parametrize("mutate, pattern", [
    (lambda t: t[: t.rindex("\t") - 3], r"a\.trc, line 11: truncated row"),
    (lambda t: t.replace("\n33\t", "\n33\tabc", 1), r"a\.trc, line 8: non-numeric value"),
    (lambda t: t.replace("\tm\t", "\tinch\t", 1), r"a\.trc, line 3: Units = 'inch'"),
    (lambda t: t.replace("LKnee", "", 1), r"a\.trc, line 4: 2 marker names but NumMarkers = 3"),
    (lambda t: "\n".join(t.split("\n")[:3]), r"a\.trc: truncated header"),
    (lambda t: "hello\n" + t, r"a\.trc, line 1: first line"),
])
def test_bad_trc_names_file_and_line(tmp_path, mutate, pattern):
    p = write_trc(_markers(), tmp_path / "a.trc")
    p.write_text(mutate(p.read_text()))
    with pytest.raises(FileFormatError, match=pattern):
        read_trc(p)


def test_fewer_rows_than_num_frames_is_read_with_a_warning(tmp_path, caplog):
    p = write_trc(_markers(), tmp_path / "a.trc")
    p.write_text("\n".join(p.read_text().split("\n")[:8]) + "\n")
    with caplog.at_level("WARNING", logger="mocap3d"):
        m = read_trc(p)
    assert m.n_frames == 3 and "NumFrames = 6" in caplog.text and "3 rows" in caplog.text


def test_failed_write_keeps_previous_file(tmp_path):
    p = write_trc(_markers(), tmp_path / "a.trc")
    before = p.read_text()
    with pytest.raises(ValueError):
        write_trc(Markers3D(np.zeros((2, 1, 3)), ["bad\tname"], 30.0), p)
    assert p.read_text() == before
