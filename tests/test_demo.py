"""The shipped Demo: it is what ``make_demo`` writes, and its calibration inputs meet the calibration bars.

Bars (calibration issue): focal length within 0.5 %, principal point within
2 px, camera position within 1 cm and orientation within 0.2 deg, against
``Demo/ground_truth/Calib_true.toml``.
"""
from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap3d.calibration import run_calibration
from mocap3d.calibration.converters import write_qualisys
from mocap3d.camera import CameraRig, matrix_to_rodrigues
from mocap3d.io.calibration_toml import read_calibration, read_calibration_metadata
from mocap3d.project import Trial
from mocap3d.triangulation import world_up_axis
from mocap3d.triangulation.gaps import zup_to_yup

DEMO = Path(__file__).resolve().parents[1] / "Demo"
NUMBER = re.compile(r"(-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")

pytestmark = pytest.mark.skipif(not DEMO.is_dir(), reason="Demo/ is not in this checkout")


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra @ Rb.T) - 1) / 2, -1, 1))))


def _same_text(a: str, b: str, tol: float = 1e-6) -> bool:
    """Equal texts, numbers compared to ``tol`` (relative and absolute): robust to last-digit float formatting."""
    pa, pb = NUMBER.split(a), NUMBER.split(b)
    if len(pa) != len(pb):
        return False
    for i, (x, y) in enumerate(zip(pa, pb)):
        if i % 2 == 0:
            if x != y:
                return False
        elif not np.isclose(float(x), float(y), rtol=tol, atol=tol):
            return False
    return True


def _distances(rig: CameraRig) -> np.ndarray:
    """Distances (C, C) between camera centres, metres."""
    p = np.array([c.position for c in rig])
    return np.linalg.norm(p[:, None] - p[None], axis=-1)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_shipped_demo_is_what_make_demo_writes(tmp_path: Path):
    """Every file of Demo/ (pose JSON, calibration images, scene points, config, truth) is regenerated
    identically: images to 1 grey level, numbers to 1e-6."""
    from mocap3d.synthetic.demo import make_demo
    new = make_demo(tmp_path / "Demo")
    assert _files(new) == _files(DEMO)
    for rel in sorted(_files(DEMO)):
        a, b = DEMO / rel, new / rel
        if a.suffix == ".png":
            ia, ib = cv2.imread(str(a), cv2.IMREAD_UNCHANGED), cv2.imread(str(b), cv2.IMREAD_UNCHANGED)
            assert ia.shape == ib.shape, rel
            assert np.abs(ia.astype(int) - ib.astype(int)).max() <= 1, rel
        else:
            assert _same_text(a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8")), rel


def _demo_calibration_trial(tmp_path: Path) -> Trial:
    shutil.copytree(DEMO / "calibration", tmp_path / "calibration")
    cfg = tomllib.loads((DEMO / "Config.toml").read_text(encoding="utf-8"))
    return Trial(tmp_path, tmp_path, {"calibration": cfg["calibration"]})


def test_demo_calibration_meets_the_bars(tmp_path: Path):
    """The calibration stage on the Demo's board images and scene points, against the true calibration."""
    report = run_calibration(_demo_calibration_trial(tmp_path))
    out = Path(report["calibration_file"])
    rig, truth = read_calibration(out), read_calibration(DEMO / "ground_truth" / "Calib_true.toml")
    assert rig.names == truth.names
    for e, t in zip(rig, truth):
        assert abs(e.matrix[0, 0] / t.matrix[0, 0] - 1) < 0.005 and abs(e.matrix[1, 1] / t.matrix[1, 1] - 1) < 0.005
        assert np.abs(e.matrix[:2, 2] - t.matrix[:2, 2]).max() < 2.0
        assert np.linalg.norm(e.position - t.position) < 0.01
        assert _angle_deg(e.R, t.R) < 0.2
        # lens model: a ray of the central 80 % of the image lands within 2 px of its true pixel
        w, h = t.size
        uv = np.stack(np.meshgrid(np.linspace(0.1 * w, 0.9 * w, 7), np.linspace(0.1 * h, 0.9 * h, 7)), -1).reshape(-1, 2)
        rays = t.copy(rotation=np.zeros(3), translation=np.zeros(3)).undistort_points(uv)
        back = e.copy(rotation=np.zeros(3), translation=np.zeros(3)).project(np.column_stack([rays, np.ones(len(rays))]))
        assert np.abs(back - uv).max() < 2.0
    assert all(c["intrinsics"]["views_used"] == 8 for c in report["cameras"])
    # the world is Y up, said by the file and seen by triangulation (-> Y-up .trc)
    assert read_calibration_metadata(out)["up_axis"] == "Y"
    assert world_up_axis(rig) == "Y"


def test_demo_floor_board_is_found_by_every_camera(tmp_path: Path):
    """The board method on the Demo's floor mat: every camera posed, reprojection below 1 px, Y up, and the
    board-defined world matches the truth up to a rotation about the vertical and a shift on the floor."""
    trial = _demo_calibration_trial(tmp_path)
    trial.config["calibration"]["calculate"]["extrinsics"]["extrinsics_method"] = "board"
    report = run_calibration(trial)
    rig = read_calibration(report["calibration_file"])
    truth = read_calibration(DEMO / "ground_truth" / "Calib_true.toml")
    assert read_calibration_metadata(report["calibration_file"])["up_axis"] == "Y"
    assert world_up_axis(rig) == "Y"
    assert max(c["extrinsics_rms_px"] for c in report["cameras"]) < 1.0
    # camera heights above the floor and distances between cameras do not depend on the floor frame; one mat
    # seen at 8-20 deg gives its corners to 0.4-1 px only: 4 cm (0.4 %) here, against 2 mm with the scene points
    np.testing.assert_allclose([c.position[1] for c in rig], [c.position[1] for c in truth], atol=0.03)
    np.testing.assert_allclose(_distances(rig), _distances(truth), atol=0.06)


def test_zup_qualisys_calibration_gives_yup_trc(tmp_path: Path):
    """The Demo's true rig in a Z-up lab frame, converted from a Qualisys export: the calibration says Z up,
    triangulation sees Z up, and its .trc axes (Y, Z, X) give back the Y-up Demo coordinates."""
    truth = read_calibration(DEMO / "ground_truth" / "Calib_true.toml")
    M = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])          # X_zup = M @ X_yup (inverse of (Y, Z, X))
    zup = CameraRig([c.copy(rotation=matrix_to_rodrigues(c.R @ M.T), translation=c.translation.copy())
                     for c in truth])
    calib = tmp_path / "calibration"
    calib.mkdir()
    write_qualisys(zup, calib / "lab.qca.txt")
    report = run_calibration(Trial(tmp_path, tmp_path, {"calibration": {
        "calibration_type": "convert", "convert": {"convert_from": "qualisys"}}}))
    rig = read_calibration(report["calibration_file"])
    assert read_calibration_metadata(report["calibration_file"])["up_axis"] == "Z"
    assert world_up_axis(rig) == "Z"
    X = np.array([[0.3, 1.2, -0.4], [-1.5, 0.1, 0.5]])          # Y-up Demo coordinates, metres
    uv = rig.project(X @ M.T)
    np.testing.assert_allclose(zup_to_yup(rig.triangulate(uv)), X, atol=2e-3)   # k3 is not in a Qualisys file


def test_existing_zup_calibration_keeps_its_up_axis(tmp_path: Path):
    """Nothing to calculate and a Z-up Calib*.toml already there: the stage reports Z up, not Y."""
    from mocap3d.io.calibration_toml import write_calibration
    calib = tmp_path / "calibration"
    calib.mkdir()
    write_calibration(read_calibration(DEMO / "ground_truth" / "Calib_true.toml"), calib / "Calib_lab.toml",
                      {"up_axis": "Z"})
    report = run_calibration(Trial(tmp_path, tmp_path, {"calibration": {
        "calibration_type": "calculate", "calculate": {"intrinsics": {"overwrite_intrinsics": False},
                                                       "extrinsics": {"calculate_extrinsics": False}}}}))
    assert report["up_axis"] == "Z"


def test_mocap3d_demo_end_to_end(tmp_path):
    """`mocap3d demo`: every stage runs on the shipped Demo and lands near its truth.

    Bounds sit above the values measured when they were set (position 1.5 mm,
    sync 0.01 frame, MPJPE 6.0 mm, knee 1.2 deg, ankle 2.4-2.9 deg, cadence 0.24 %) so that a
    regression in any stage fails here.
    """
    from mocap3d.synthetic.demo import run_demo
    out = run_demo(tmp_path / "demo")
    assert all(v == "ok" for v in out["stages"].values()), out["stages"]
    m = out["metrics"]
    assert m["calibration"]["mean_position_mm"] < 10
    assert m["synchronization"]["max_abs_error_frames"] < 0.2
    assert m["association"]["identity_accuracy"] >= 0.99
    assert m["keypoints3d"]["mpjpe_mm"] < 9 and m["keypoints3d"]["frac_over_50mm"] == 0
    rmse = {k: v["rmse"] for k, v in m["joint_angles"]["per_coordinate"].items()}
    for side in "rl":
        assert rmse[f"knee_angle_{side}"] < 2.0
        assert rmse[f"hip_flexion_{side}"] < 2.5
        assert rmse[f"ankle_angle_{side}"] <= 3.0                # the Demo's ankle bar
    g = m["gait"]                       # measured: cadence -0.24 %, stride -0.08 %, heel strikes 4.5 / 8.1 ms
    assert g["status"] == "ok" and "gait" in out["stages"]
    for key in ("cadence_steps_per_min", "speed_m_per_s", "stride_length_m", "step_length_m"):
        assert abs(g[key]["error_percent"]) < 1.0, (key, g[key])
    assert g["heel_strike_ms"]["max_abs"] < 1000 / 30        # within one frame at 30 Hz
