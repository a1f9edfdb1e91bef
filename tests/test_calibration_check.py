"""Checking a calibration against 2D keypoints: moved camera, wrong camera order."""
from __future__ import annotations

import numpy as np

from mocap3d.camera import Camera, CameraRig, matrix_to_rodrigues
from mocap3d.calibration.check import check_calibration


def _rig(n: int) -> CameraRig:
    cams = []
    for i in range(n):
        a = 2 * np.pi * i / n + 0.3 + 0.25 * np.sin(3.7 * i)           # irregular ring: no symmetry
        r = 4 + 0.8 * np.cos(2.3 * i)
        pos = np.array([r * np.cos(a), 1.0 + 0.15 * i, r * np.sin(a)])
        z = -pos / np.linalg.norm(pos)
        x = np.cross(z, [0, 1, 0]); x /= np.linalg.norm(x)
        R = np.array([x, np.cross(z, x), z])
        cams.append(Camera(f"cam{i + 1:02d}", (1280, 720), [[1000, 0, 640], [0, 1000, 360], [0, 0, 1]],
                           [-0.05, 0.01, 0, 0], matrix_to_rodrigues(R), -R @ pos))
    return CameraRig(cams)


def _keypoints(rig: CameraRig, seed: int = 0):
    rng = np.random.default_rng(seed)
    F, K = 60, 17
    X = rng.normal(0, 0.4, (F, K, 3)) + np.array([0, 1.0, 0])
    uv = rig.project(X) + rng.normal(0, 1.0, (len(rig), F, K, 2))
    conf = rng.uniform(0.5, 1, (len(rig), F, K))
    return uv, conf


def test_good_calibration_passes():
    rig = _rig(5)
    uv, conf = _keypoints(rig)
    res = check_calibration(rig, uv, conf)
    assert res["suspect_cameras"] == []
    assert max(res["median_error_px"]) < 3.0


def test_moved_camera_is_flagged():
    rig = _rig(5)
    uv, conf = _keypoints(rig)
    moved = CameraRig([c.copy() for c in rig])
    from mocap3d.camera import rodrigues_to_matrix
    turn = rodrigues_to_matrix(np.radians([0, 2, 0]))                 # camera 3 turned by 2 degrees
    moved[2].rotation = matrix_to_rodrigues(turn @ moved[2].R)
    moved[2].translation = turn @ moved[2].translation
    res = check_calibration(moved, uv, conf)
    assert res["suspect_cameras"] == ["cam03"]
    assert res["order_is_wrong"] is False
    assert res["median_error_px"][2] > 20 and max(np.delete(res["median_error_px"], 2)) < 3


def test_wrong_order_is_found():
    rig = _rig(6)
    uv, conf = _keypoints(rig)
    perm = [0, 4, 2, 3, 1, 5]                                          # two pose folders swapped
    res = check_calibration(rig, uv[perm], conf[perm])
    assert set(res["suspect_cameras"]) == {"cam02", "cam05"}
    assert res["suggested_order"] == [0, 4, 2, 3, 1, 5]
    perm = [1, 2, 3, 4, 5, 0]                                          # every folder shifted: no camera trusted
    res = check_calibration(rig, uv[perm], conf[perm])
    assert [perm[k] for k in res["suggested_order"]] == list(range(6))
    assert res["suggested_order_error_px"] < 3.0


def test_wrong_order_many_cameras():
    rig = _rig(12)
    uv, conf = _keypoints(rig, seed=1)
    perm = list(range(12))
    perm[3], perm[9] = perm[9], perm[3]
    res = check_calibration(rig, uv[perm], conf[perm])
    assert sorted(res["suspect_cameras"]) == ["cam04", "cam10"]
    assert res["suggested_order"] == perm                  # stream perm[c] belongs to camera c


def test_check_trial_shell(tmp_path):
    """Shell: calibration file + OpenPose folders in, calibration_check_report.json out; swapped folders found."""
    import json
    import pytest
    pytest.importorskip("mocap3d.io.openpose")
    from mocap3d.io.calibration_toml import write_calibration
    from mocap3d.io.openpose import write_openpose_folders
    from mocap3d.keypoints import Keypoints2D
    from mocap3d.project import Trial
    from mocap3d.calibration.check import check_trial_calibration
    rig = _rig(4)
    uv, conf = _keypoints(rig)
    perm = [0, 2, 1, 3]                                     # folders of cam02 and cam03 swapped
    data = np.concatenate([uv[perm], conf[perm][..., None]], -1)[:, :, None]   # (C, F, 1, K, 3)
    kp = Keypoints2D(data, rig.names, [f"k{i}" for i in range(17)], np.arange(60), 30.0)
    write_openpose_folders(kp, tmp_path / "pose")
    write_calibration(rig, tmp_path / "calibration" / "Calib_scene.toml")
    res = check_trial_calibration(Trial(tmp_path, tmp_path, {}))
    assert res["suggested_order"] == perm and res["order_is_wrong"]
    saved = json.loads((tmp_path / "calibration_check_report.json").read_text())
    assert {"cam02", "cam03"} <= set(saved["suspect_cameras"]) and "rename" in saved["hint"]
    # the calibration_tools script over the same trial
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "calibration_tools" / "check_calibration.py"
    spec = importlib.util.spec_from_file_location("check_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path)]) == 0
    assert mod.main([str(tmp_path / "nope")]) == 1
