"""OpenSim .mot/.sto: round trip, OpenSim's TimeSeriesTable and Storage, bad input."""
import numpy as np
import opensim as osim
import pytest

from mocap3d.errors import FileFormatError
from mocap3d.io.mot import Table, read_mot, write_mot


def _table(in_degrees=True):
    rng = np.random.default_rng(2)
    t = np.arange(5) / 100.0
    data = rng.normal(scale=30, size=(5, 3))
    data[2, 1] = np.nan
    return Table(t, ["pelvis_tilt", "knee_angle_r", "pelvis_tx"], data, in_degrees, "Coordinates")


@pytest.mark.parametrize("suffix", [".mot", ".sto"])
def test_round_trip(tmp_path, suffix):
    tab = _table()
    back = read_mot(write_mot(tab, tmp_path / f"ik{suffix}"))
    assert back.columns == tab.columns and back.in_degrees and back.name == "Coordinates"
    np.testing.assert_allclose(back.times, tab.times, atol=1e-12)
    np.testing.assert_allclose(back.data, tab.data, atol=1e-9, rtol=0)
    np.testing.assert_allclose(back["knee_angle_r"][[0, 1]], tab.data[[0, 1], 1], atol=1e-9)


@pytest.mark.parametrize("in_degrees", [True, False])
def test_opensim_reads_ours_with_units(tmp_path, in_degrees):
    tab = _table(in_degrees)
    p = str(write_mot(tab, tmp_path / "ik.mot"))
    ts = osim.TimeSeriesTable(p)
    assert list(ts.getColumnLabels()) == tab.columns
    assert ts.getTableMetaDataAsString("inDegrees") == ("yes" if in_degrees else "no")
    col = ts.getDependentColumn("pelvis_tilt")
    np.testing.assert_allclose([col[i] for i in range(5)], tab.data[:, 0], atol=1e-9)
    knee = ts.getDependentColumn("knee_angle_r")
    assert np.isnan(knee[2]) and knee[1] == pytest.approx(tab.data[1, 1], abs=1e-9)
    # The legacy Storage reader cannot read NaN (documented): check it on a gap-free table.
    tab.data[2, 1] = 7.0
    p = str(write_mot(tab, tmp_path / "ik_full.mot"))
    sto = osim.Storage(p)
    assert sto.isInDegrees() == in_degrees and sto.getSize() == 5
    arr = osim.ArrayDouble()
    sto.getDataColumn("pelvis_tx", arr)
    np.testing.assert_allclose([arr.get(i) for i in range(5)], tab.data[:, 2], atol=1e-9)
    times = osim.ArrayDouble()
    sto.getTimeColumn(times)
    np.testing.assert_allclose([times.get(i) for i in range(5)], tab.times, atol=1e-12)


def test_reads_opensim_written_files(tmp_path):
    tab = _table()
    tab.data[2, 1] = 1.0
    ts = osim.TimeSeriesTable()
    ts.setColumnLabels(tab.columns)
    for i, t in enumerate(tab.times):
        ts.appendRow(float(t), osim.RowVector(tab.data[i].tolist()))
    ts.addTableMetaDataString("inDegrees", "yes")
    p = str(tmp_path / "os.sto")
    osim.STOFileAdapter.write(ts, p)
    back = read_mot(p)
    assert back.columns == tab.columns and back.in_degrees
    np.testing.assert_allclose(back.data, tab.data, atol=1e-6)
    # The legacy Storage writer (what OpenSim tools print)
    sto = osim.Storage(str(write_mot(tab, tmp_path / "ours.mot")))
    sto.printResult(sto, "legacy", str(tmp_path), -1, ".mot")
    back = read_mot(tmp_path / "legacy.mot")
    assert back.in_degrees and back.columns == tab.columns
    np.testing.assert_allclose(back.data, tab.data, atol=1e-6)


@pytest.mark.parametrize("mutate, pattern", [
    (lambda t: t.replace("endheader\n", ""), r"ik\.mot: no 'endheader'"),
    (lambda t: t[: t.rindex("\t")], r"ik\.mot, line 12: 3 values, expected 4"),
    (lambda t: "\n".join(t.split("\n")[:9]) + "\n", r"ik\.mot, line \d+: truncated: nRows = 5 but 2 rows"),
    (lambda t: t.replace("time\t", "t\t"), r"ik\.mot, line 7: first column must be 'time'"),
    (lambda t: t.replace("\n0.01\t", "\n0.01x\t"), r"ik\.mot, line 9: non-numeric"),
])
def test_bad_mot_names_file_and_line(tmp_path, mutate, pattern):
    p = write_mot(_table(), tmp_path / "ik.mot")
    p.write_text(mutate(p.read_text()))
    with pytest.raises(FileFormatError, match=pattern):
        read_mot(p)
