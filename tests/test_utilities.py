"""utilities/ scripts: every one answers -h, is importable, and a few run for real."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mocap3d.io.c3d import read_c3d
from mocap3d.io.openpose import read_openpose_camera
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers import Markers3D

UTILITIES = Path(__file__).resolve().parents[1] / "utilities"
SCRIPTS = ["c3d_to_trc", "trc_to_c3d", "trc_desample", "trc_scale", "trc_rotate", "trc_Zup_to_Yup",
           "trc_combine", "alphapose_to_openpose", "dlc_to_openpose", "mmpose_to_openpose"]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"utilities_{name}", UTILITIES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name, capsys):
    mod = _load(name)
    with pytest.raises(SystemExit) as e:
        mod.main(["-h"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "--input" in out and len(mod.__doc__.strip()) > 40


def test_runs_as_a_script():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(UTILITIES.parent), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, str(UTILITIES / "trc_scale.py"), "-h"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and "--scale" in r.stdout


def _trc(tmp_path, name="a.trc", rate=100.0, start=0.0, F=10):
    rng = np.random.default_rng(8)
    m = Markers3D(rng.normal(size=(F, 2, 3)), ["Hip", "Knee"], rate, start_time=start, first_frame=1)
    return m, write_trc(m, tmp_path / name)


def test_trc_c3d_round_trip_through_scripts(tmp_path):
    m, p = _trc(tmp_path)
    assert _load("trc_to_c3d").main(["-i", str(p)]) == 0
    c3d_path = tmp_path / "a.c3d"
    np.testing.assert_allclose(read_c3d(c3d_path).data, m.data, atol=1e-6)
    assert _load("c3d_to_trc").main(["-i", str(c3d_path), "-o", str(tmp_path / "b.trc")]) == 0
    np.testing.assert_allclose(read_trc(tmp_path / "b.trc").data, m.data, atol=1e-6)  # Y up: left alone


def test_trc_operations_scripts(tmp_path):
    m, p = _trc(tmp_path)
    assert _load("trc_desample").main(["-i", str(p), "-f", "50"]) == 0
    d = read_trc(tmp_path / "a_50Hz.trc")
    assert d.rate == 50 and d.n_frames == 5
    np.testing.assert_allclose(d.data, m.data[::2], atol=1e-9)
    assert _load("trc_scale").main(["-i", str(p), "-s", "1000"]) == 0
    np.testing.assert_allclose(read_trc(tmp_path / "a_scaled.trc").data, m.data * 1000, rtol=1e-9)
    assert _load("trc_rotate").main(["-i", str(p), "-a", "z", "-d", "90"]) == 0
    r = read_trc(tmp_path / "a_rotz90.trc").data
    np.testing.assert_allclose(r[..., 0], -m.data[..., 1], atol=1e-9)  # x' = -y
    np.testing.assert_allclose(r[..., 1], m.data[..., 0], atol=1e-9)  # y' = x
    assert _load("trc_Zup_to_Yup").main(["-i", str(p)]) == 0
    np.testing.assert_allclose(read_trc(tmp_path / "a_Yup.trc").data, m.data[..., [1, 2, 0]], atol=1e-9)
    m2, p2 = _trc(tmp_path, "b.trc", start=0.05)
    out = tmp_path / "ab.trc"
    assert _load("trc_combine").main(["-i", str(p), str(p2), "-o", str(out)]) == 0
    c = read_trc(out)
    assert c.names == ["Hip", "Knee", "Hip_2", "Knee_2"] and c.n_frames == 15
    np.testing.assert_allclose(c.data[5:15, 2:], m2.data, atol=1e-9)
    assert np.isnan(c.data[10:, :2]).all() and np.isnan(c.data[:5, 2:]).all()


def test_importer_scripts(tmp_path):
    kps = np.random.default_rng(9).uniform(1, 500, (17, 3))
    kps[:, 2] = 0.9
    p = tmp_path / "alphapose-results.json"
    p.write_text(json.dumps([{"image_id": f"{f}.jpg", "keypoints": kps.ravel().tolist(), "score": 1, "idx": 1}
                             for f in range(3)]))
    assert _load("alphapose_to_openpose").main(["-i", str(p), "-o", str(tmp_path / "cam01_json")]) == 0
    kp = read_openpose_camera(tmp_path / "cam01_json")
    assert kp.data.shape == (1, 3, 1, 17, 3)
    np.testing.assert_allclose(kp.data[0, 2, 0], kps)
    frames = [{"frame_id": 0, "instances": [{"keypoints": kps[:, :2].tolist(), "keypoint_scores": kps[:, 2].tolist()}]}]
    pm = tmp_path / "mm.json"
    pm.write_text(json.dumps(frames))
    assert _load("mmpose_to_openpose").main(["-i", str(pm)]) == 0
    np.testing.assert_allclose(read_openpose_camera(tmp_path / "mm_json").data[0, 0, 0], kps)


def test_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.trc"
    bad.write_text("garbage\n")
    assert _load("trc_scale").main(["-i", str(bad), "-s", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad.trc" in err and "\n" not in err
    assert not (tmp_path / "bad_scaled.trc").exists()
    _, p = _trc(tmp_path)
    _, p2 = _trc(tmp_path, "c.trc", rate=60.0)
    assert _load("trc_combine").main(["-i", str(p), str(p2), "-o", str(tmp_path / "x.trc")]) == 1
    assert "resample" in capsys.readouterr().err
