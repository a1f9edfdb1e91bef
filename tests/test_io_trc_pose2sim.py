"""Reading .trc files as Pose2Sim 0.10.49 and OpenSim users have them.

Pose2Sim's triangulation writes the header below and pandas rows (``to_csv``,
tab separated, empty fields for NaN, no trailing tab); its filtering copies the
five header lines unchanged (NumFrames included) and drops the last row.
Its BLAZEPOSE skeleton names the left knee ``Lknee``.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from mocap3d.errors import FileFormatError
from mocap3d.io.trc import read_trc
from mocap3d.synthetic.capture import make_capture


def pose2sim_filtered_trc(path, names, data, rate, first_frame):
    """The file Pose2Sim 0.10.49 writes: triangulation.make_trc's header, filtering's rows without the last."""
    F, M = data.shape[:2]
    header = ["PathFileType\t4\t(X/Y/Z)\t" + path.name,
              "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
              "\t".join(map(str, [rate, rate, F, M, "m", rate, first_frame, F])),
              "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t\t",
              "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(M)) + "\t"]
    rows = []
    for f in range(F - 1):                                   # filtering drops the last row
        frame = first_frame + f
        vals = ["" if np.isnan(v) else repr(float(v)) for v in data[f].ravel()]
        rows.append("\t".join([str(frame), repr(frame / rate)] + vals))
    path.write_text("\n".join(header) + "\n" + "\n".join(rows) + "\n")
    return path


def test_pose2sim_filtered_file_reads_as_its_rows_with_one_warning(tmp_path, caplog):
    cap = make_capture(2, "walking", n_frames=30, rate=60, skeleton="BLAZEPOSE", seed=0)
    truth = cap.keypoints3d
    names = ["Lknee" if n == "LKnee" else n for n in truth.names]
    data = truth.data.copy()
    data[5, 3] = np.nan                                       # a missing marker: an empty field
    path = pose2sim_filtered_trc(tmp_path / "Demo_0-29_filt_butterworth.trc", names, data, 60, 0)
    with caplog.at_level(logging.WARNING, logger="mocap3d"):
        m = read_trc(path)
    assert m.n_frames == 29 and m.first_frame == 0 and m.rate == 60
    np.testing.assert_allclose(m.data[:29], data[:29], equal_nan=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "NumFrames = 30" in warnings[0] and "29" in warnings[0]
    assert m.names == names                                    # the file reader keeps the file's names

    from mocap3d.stage_inputs import read_markers
    staged = read_markers(path)                                # what the stages read
    assert "LKnee" in staged.names and "Lknee" not in staged.names
    np.testing.assert_allclose(staged["LKnee"], data[:29, truth.names.index("LKnee")])


def test_num_markers_disagreeing_with_the_columns_is_read_as_the_data_says(tmp_path, caplog):
    cap = make_capture(2, "walking", n_frames=10, rate=30, seed=0)
    from mocap3d.io.trc import write_trc
    path = write_trc(cap.keypoints3d, tmp_path / "a.trc")
    lines = path.read_text().splitlines(keepends=True)
    vals = lines[2].split("\t")
    vals[3] = str(int(vals[3]) + 4)                               # NumMarkers wrong
    lines[2] = "\t".join(vals)
    path.write_text("".join(lines))
    with caplog.at_level(logging.WARNING, logger="mocap3d"):
        m = read_trc(path)
    assert m.names == cap.keypoints3d.names and m.n_frames == 10
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "NumMarkers" in warnings[0]


def test_columns_disagreeing_with_the_marker_names_still_stop(tmp_path):
    cap = make_capture(2, "walking", n_frames=10, rate=30, seed=0)
    from mocap3d.io.trc import write_trc
    path = write_trc(cap.keypoints3d.select(cap.keypoints3d.names[:3]), tmp_path / "a.trc")
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + "Extra\t\t\t\n"
    path.write_text("".join(lines))
    with pytest.raises(FileFormatError, match=r"a\.trc, line 4: 4 marker names.*rows hold 3 markers"):
        read_trc(path)
