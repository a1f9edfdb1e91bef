"""Extrinsic calibration on rendered boards and scene points with known truth: board world frame,
bundle adjustment, and the run_calibration shell."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap3d.camera import Camera, matrix_to_rodrigues, rodrigues_to_matrix
from mocap3d.calibration.boards import Board, Detection, detect_board
from mocap3d.calibration.extrinsics import board_reference, pose_cameras, read_scene_points, write_scene_points
from mocap3d.calibration.intrinsics import calibrate_intrinsics
from mocap3d.calibration.render import look_at, look_at_board, pixel_rays, random_board_views, render_board

SIZE = (800, 600)
K_TRUE = np.array([[600.0, 0, 402.0], [0, 600.0, 297.0], [0, 0, 1]])   # square pixels
D_TRUE = np.array([-0.1, 0.04, 0.0005, -0.0003])
INTR_BOARD = Board("checkerboard", (6, 9), 0.025)
EXT_BOARD = Board("checkerboard", (5, 8), 0.10)
FLOOR = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])     # board -> world for a floor board, Y up
_look_at = look_at


def _floor_scene():
    ctr = FLOOR @ np.array([3.5, 2.0, 0]) * 0.1
    cams = []
    for i, ang in enumerate([20, 110, 200, 290]):
        a = np.radians(ang)
        r, t = _look_at(ctr + np.array([1.9 * np.cos(a), 1.9 + 0.1 * i, 1.9 * np.sin(a)]), ctr)
        cams.append(Camera(f"cam{i + 1}", SIZE, K_TRUE, D_TRUE, r, t))
    return cams


def _render_in(cam: Camera, R_bw: np.ndarray, t_bw: np.ndarray, rays, seed=0) -> np.ndarray:
    return render_board(cam, EXT_BOARD, matrix_to_rodrigues(cam.R @ R_bw), cam.R @ t_bw + cam.translation,
                        rays=rays, seed=seed)


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(matrix_to_rodrigues(Ra @ Rb.T))))


def test_board_extrinsics_and_bundle_adjustment():
    rays = pixel_rays(Camera("c", SIZE, K_TRUE, D_TRUE), 2)
    views = random_board_views(Camera("c", SIZE, K_TRUE, D_TRUE), INTR_BOARD, 10, 1, rays=rays)
    intr = calibrate_intrinsics(views, INTR_BOARD, SIZE)            # same lens model for all 4 cameras
    truth = _floor_scene()
    est = [c.copy(matrix=intr.matrix, distortions=intr.distortions, rotation=np.zeros(3), translation=np.zeros(3))
           for c in truth]
    dets = [detect_board(_render_in(c, FLOOR, np.zeros(3), rays), EXT_BOARD, c.name) for c in truth]
    W, uv = board_reference(est, dets, EXT_BOARD, "horizontal", "Y")
    assert np.allclose(W, EXT_BOARD.object_points @ FLOOR.T)       # world frame: floor board, Y up
    rng = np.random.default_rng(0)
    extra = []
    for k in range(4):                                              # the board moved around, seen by all
        Rb = rodrigues_to_matrix(rng.uniform(-0.3, 0.3, 3) * [0.3, 1, 0.3]) @ FLOOR
        tb = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0, 0.5), rng.uniform(-0.6, 0.6)])
        pix = []
        for c in truth:
            d = detect_board(_render_in(c, Rb, tb, rays, seed=k), EXT_BOARD)
            p = None
            if d is not None:
                p = np.full((len(EXT_BOARD.object_points), 2), np.nan)
                p[d.ids] = d.corners
            pix.append(p)
        extra.append((EXT_BOARD.object_points, pix))
    res = pose_cameras(est, W, uv, extra, bundle=True)
    assert res.ba.rms_after_px < 0.3
    for c, e in zip(truth, res.rig):
        assert np.linalg.norm(e.position - c.position) < 0.01
        assert _angle_deg(e.R, c.R) < 0.2


def test_scene_points_extrinsics(tmp_path: Path):
    truth = _floor_scene()
    rng = np.random.default_rng(3)
    obj = np.column_stack([rng.uniform(-1, 1, 10), rng.uniform(0, 1.5, 10), rng.uniform(-1, 1, 10)])
    uv = [c.project(obj) + rng.normal(0, 0.3, (10, 2)) for c in truth]
    uv[1][2] = np.nan                                                # a point camera 2 does not see
    path = write_scene_points(tmp_path / "scene_points.toml", [c.name for c in truth], uv)
    back = read_scene_points(path, [c.name for c in truth], len(obj))
    assert np.allclose(np.nan_to_num(back[1], nan=-1), np.nan_to_num(uv[1], nan=-1))
    est = [c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in truth]
    res = pose_cameras(est, obj, back, bundle=True)
    for c, e in zip(truth, res.rig):
        assert np.linalg.norm(e.position - c.position) < 0.01
        assert _angle_deg(e.R, c.R) < 0.2
    # Pose2Sim's Image_points.json is read too
    p2s = {"extrinsics": [{"cam_name": f"{c.name}.png", "image_points_2d": np.nan_to_num(u, nan=0).tolist(),
                           "object_points_3d": obj.tolist()} for c, u in zip(truth, uv)]}
    (tmp_path / "Image_points.json").write_text(json.dumps(p2s))
    got = read_scene_points(tmp_path / "Image_points.json", [c.name for c in truth], len(obj))
    assert np.allclose(got[0], uv[0])


def test_run_calibration_scene(tmp_path: Path):
    pytest.importorskip("mocap3d.io.calibration_toml")
    from mocap3d.io.calibration_toml import read_calibration, write_calibration
    from mocap3d.calibration import run_calibration
    from mocap3d.project import Trial
    truth = _floor_scene()
    calib = tmp_path / "calibration"
    # intrinsics reused from an existing file (overwrite_intrinsics = false)
    from mocap3d.camera import CameraRig
    write_calibration(CameraRig([c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in truth]),
                      calib / "Calib_intrinsics.toml")
    for c in truth:
        (calib / "extrinsics" / c.name).mkdir(parents=True)
        cv2.imwrite(str(calib / "extrinsics" / c.name / "ext.png"), np.zeros((600, 800, 3), np.uint8))
    rng = np.random.default_rng(5)
    obj = np.column_stack([rng.uniform(-1, 1, 8), rng.uniform(0, 1.5, 8), rng.uniform(-1, 1, 8)])
    write_scene_points(calib / "scene_points.toml", [c.name for c in truth], [c.project(obj) for c in truth])
    config = {"calibration": {"calibration_type": "calculate", "calculate": {
        "intrinsics": {"overwrite_intrinsics": False},
        "extrinsics": {"calculate_extrinsics": True, "extrinsics_method": "scene",
                       "scene": {"object_coords_3d": obj.tolist()}}}}}
    report = run_calibration(Trial(tmp_path, tmp_path, config))
    rig = read_calibration(calib / "Calib_scene.toml")
    for c, e in zip(truth, rig):
        assert np.linalg.norm(e.position - c.position) < 1e-4
    saved = json.loads((calib / "calibration_report.json").read_text())
    assert [c["name"] for c in saved["cameras"]] == [c.name for c in truth]
    assert all(c["extrinsics_rms_px"] < 0.01 for c in saved["cameras"])
    assert report["warnings"] == []


@pytest.mark.parametrize("up", ["Y", "Z"])
def test_vertical_board_world_frame(up):
    """A wall board: world up = the board axis that looks up in the cameras; cameras end up in front of it."""
    wall = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])   # board -> world (Y up): x right, y down, z towards -Z
    origin = np.array([0.0, 1.5, 0.0])
    cams = []
    for i, x in enumerate([-1.5, 0.0, 1.2]):
        r, t = _look_at(np.array([x, 1.6 + 0.2 * i, 3.0]), origin + [0.3, -0.2, 0])
        cams.append(Camera(f"c{i}", SIZE, K_TRUE, D_TRUE, r, t))
    obj = EXT_BOARD.object_points
    dets = [Detection(c.project(obj @ wall.T + origin), np.arange(len(obj)), SIZE) for c in cams]
    W, uv = board_reference(cams, dets, EXT_BOARD, "vertical", up)
    res = pose_cameras([c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in cams], W, uv, bundle=False)
    k = 1 if up == "Y" else 2
    for c, e in zip(cams, res.rig):
        assert e.position[k] > 0                                   # cameras above the board origin (which is high)
        assert np.isclose(e.position[k], c.position[1] - origin[1], atol=1e-6)   # heights preserved
        assert np.isclose(np.linalg.norm(e.position), np.linalg.norm(c.position - origin), atol=1e-6)
    if up == "Z":
        assert all(e.position[1] < 0 for e in res.rig)             # Y points from the cameras into the wall
    else:
        assert all(e.position[2] > 0 for e in res.rig)             # Z points from the wall to the cameras


def test_run_calibration_board(tmp_path: Path):
    """The shell end to end: intrinsics from image folders (Pose2Sim names), floor board extrinsics, BA, report."""
    pytest.importorskip("mocap3d.io.calibration_toml")
    from mocap3d.calibration import run_calibration
    from mocap3d.io.calibration_toml import read_calibration, read_calibration_metadata
    from mocap3d.project import Trial
    size = (640, 480)
    K = np.array([[480.0, 0, 318], [0, 480, 243], [0, 0, 1]])
    ctr = FLOOR @ np.array([3.5, 2.0, 0]) * 0.1
    truth = []
    for i, ang in enumerate([30, 150]):
        a = np.radians(ang)
        r, t = _look_at(ctr + np.array([1.5 * np.cos(a), 1.5, 1.5 * np.sin(a)]), ctr)
        truth.append(Camera(f"cam0{i + 1}", size, K, [-0.08, 0.02, 0.0, 0.0], r, t))
    calib = tmp_path / "calibration"
    for c in truth:
        rays = pixel_rays(c, 2)
        folder = calib / "intrinsics" / f"int_{c.name}_img"
        folder.mkdir(parents=True)
        rng = np.random.default_rng(7)
        for v in range(8):
            rv, tv = look_at_board(rng.uniform(0.25, 0.4), rng.uniform(-35, 35, 3), rng.uniform(-0.05, 0.05, 2),
                                   np.array([4, 2.5, 0]) * 0.025)
            cv2.imwrite(str(folder / f"img{v:02d}.png"), render_board(c, INTR_BOARD, rv, tv, rays=rays, seed=v))
        ext = calib / "extrinsics" / f"ext_{c.name}_img"
        ext.mkdir(parents=True)
        cv2.imwrite(str(ext / "0_floor.png"), render_board(c, EXT_BOARD, matrix_to_rodrigues(c.R @ FLOOR),
                                                           c.translation, rays=rays))
        for k, (dx, dz, tilt) in enumerate([(0.3, -0.4, 0.2), (-0.4, 0.3, -0.15)]):
            Rb = rodrigues_to_matrix(np.array([0, tilt, 0])) @ FLOOR
            img = render_board(c, EXT_BOARD, matrix_to_rodrigues(c.R @ Rb), c.R @ np.array([dx, 0.05, dz]) + c.translation,
                               rays=rays, seed=k)
            cv2.imwrite(str(ext / f"{k + 1}_moved.png"), img)
    cfg = {"calibration": {"calibration_type": "calculate", "calculate": {
        "intrinsics": {"overwrite_intrinsics": True, "intrinsics_extension": "png", "intrinsics_corners_nb": [6, 9],
                       "intrinsics_square_size": 25},
        "extrinsics": {"extrinsics_method": "board", "extrinsics_extension": "png", "world_up_axis": "Y",
                       "board": {"board_position": "horizontal", "extrinsics_corners_nb": [5, 8],
                                 "extrinsics_square_size": 100}}}}}
    report = run_calibration(Trial(tmp_path, tmp_path, cfg))
    rig = read_calibration(calib / "Calib_board.toml")
    assert rig.names == ["cam01", "cam02"]
    assert read_calibration_metadata(calib / "Calib_board.toml")["up_axis"] == "Y"
    for c, e in zip(truth, rig):
        assert abs(e.matrix[0, 0] / c.matrix[0, 0] - 1) < 0.005
        assert np.linalg.norm(e.position - c.position) < 0.01
        assert _angle_deg(e.R, c.R) < 0.2
    entries = report["cameras"]
    assert all(e["intrinsics_rms_px"] < 0.5 and e["extrinsics_rms_mm"] < 10 for e in entries)
    assert all(e["intrinsics"]["views_used"] == 8 for e in entries)
    assert report["warnings"] == []
    assert sorted(p.name for p in (calib / "debug").iterdir()) == ["cam01_extrinsics.png", "cam02_extrinsics.png"]
