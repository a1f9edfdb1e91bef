"""Filtering stage shell: .trc in, _filt_<type>.trc/.c3d/plots/report out; .mot filtering for IK."""
import json

import numpy as np
import pytest

from mocap3d.errors import Mocap3dError
from mocap3d.filtering import filter_markers, filter_mot_file, filter_table, run_filtering, settings_from_config
from mocap3d.markers import Markers3D
from mocap3d.project import Trial


def _markers(frames=120, rate=60.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    base = np.stack([np.sin(2 * np.pi * 0.8 * t), 1 + 0.2 * np.cos(2 * np.pi * 1.1 * t), 0.5 * t], 1)
    data = base[:, None, :] + np.array([[0, 0, 0], [0.1, 0.4, 0], [0, 0.8, 0.1]])[None]
    noisy = data + rng.normal(0, 0.004, data.shape)
    noisy[30:34, 1] = np.nan
    noisy[70, 2, 1] += 0.3                                    # a spike
    return Markers3D(noisy, ["RAnkle", "RKnee", "RHip"], rate, 0.0, 1), data


def test_run_filtering_writes_filtered_trc_c3d_plots_and_report(tmp_path):
    from mocap3d.io.c3d import read_c3d
    from mocap3d.io.trc import read_trc, write_trc
    noisy, clean = _markers()
    pose3d = tmp_path / "pose-3d"
    write_trc(noisy, pose3d / "trial_0-120.trc")
    write_trc(noisy, pose3d / "trial_0-120_LSTM.trc")       # outputs of later stages are not inputs
    config = {"filtering": {"type": "butterworth", "reject_outliers": True, "make_c3d": True,
                            "save_filt_plots": True, "butterworth": {"cut_off_frequency": 6, "order": 4}}}
    report = run_filtering(Trial(tmp_path, tmp_path, config))
    (entry,) = report["files"]
    assert entry["input"] == "trial_0-120.trc" and entry["output"] == "trial_0-120_filt_butterworth.trc"
    out = read_trc(pose3d / entry["output"])
    expected, _ = filter_markers(noisy, settings_from_config(config["filtering"]))
    np.testing.assert_allclose(out.data, expected.data, atol=1e-9, equal_nan=True)
    assert np.isnan(out.data[30:34, 1]).all() and entry["missing_samples"] == 4
    assert entry["outliers_replaced"] >= 1 and abs(out.data[70, 2, 1] - clean[70, 2, 1]) < 0.02
    c3d = read_c3d(pose3d / "trial_0-120_filt_butterworth.c3d")
    np.testing.assert_allclose(c3d.data, out.data, atol=1e-5, equal_nan=True)
    assert [p.name for p in (pose3d / "filtering_plots").glob("*.png")] == entry["plots"] == \
        ["trial_0-120_filt_butterworth_filtering.png"]
    saved = json.loads((pose3d / "filtering_report.json").read_text())
    assert saved["files"][0]["output"] == entry["output"]
    # a second run does not take its own output as input
    assert [f["input"] for f in run_filtering(Trial(tmp_path, tmp_path, config))["files"]] == ["trial_0-120.trc"]


def test_run_filtering_without_input_names_the_folder(tmp_path):
    with pytest.raises(Mocap3dError, match="pose-3d"):
        run_filtering(Trial(tmp_path, tmp_path, {}))


def test_filter_mot_file_matches_filter_table(tmp_path):
    from mocap3d.io.mot import Table, read_mot, write_mot
    t = np.arange(200) / 100.0
    rng = np.random.default_rng(3)
    angles = np.stack([30 * np.sin(2 * np.pi * t), 10 * np.cos(2 * np.pi * 2 * t)], 1)
    noisy = angles + rng.normal(0, 1.0, angles.shape)
    src = write_mot(Table(t, ["knee_angle_r", "hip_flexion_r"], noisy), tmp_path / "ik.mot")
    config = {"filtering": {"type": "butterworth", "reject_outliers": False}}
    out = filter_mot_file(src, config, filter_type="gcv_spline", plots_dir=tmp_path / "plots")
    assert out.name == "ik_filt_gcv_spline.mot"
    table = read_mot(out)
    expected, _ = filter_table(t, noisy, settings_from_config(config["filtering"], "gcv_spline"))
    np.testing.assert_allclose(table.data, expected, atol=1e-6)
    assert table.columns == ["knee_angle_r", "hip_flexion_r"] and table.in_degrees
    assert np.sqrt(np.mean((table.data - angles) ** 2)) < 0.6 * np.sqrt(np.mean((noisy - angles) ** 2))
    assert len(list((tmp_path / "plots").glob("*.png"))) == 1


def test_filtering_needs_no_calibration_folder(tmp_path):
    """Stages that do not use cameras run on a trial that has only pose-3d/."""
    import numpy as np
    import mocap3d
    from mocap3d.io.trc import read_trc, write_trc
    from mocap3d.markers import Markers3D
    t = np.arange(120) / 60
    data = np.stack([np.sin(2 * np.pi * t), 1 + 0 * t, 0 * t], -1)[:, None].repeat(2, 1)
    (tmp_path / "Config.toml").write_text("[project]\n")
    write_trc(Markers3D(data, ["A", "B"], 60.0), tmp_path / "pose-3d" / "walk.trc")
    mocap3d.filtering(tmp_path, quiet=True)
    out = read_trc(tmp_path / "pose-3d" / "walk_filt_butterworth.trc")
    assert out.data.shape == data.shape and np.abs(out.data - data).max() < 0.01
