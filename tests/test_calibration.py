"""Calibration on rendered boards with known truth: intrinsics, extrinsics, bundle adjustment, shell."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap3d.camera import Camera, matrix_to_rodrigues, rodrigues_to_matrix
from mocap3d.calibration.boards import Board, Detection, detect_board, grid_irregularity
from mocap3d.calibration.extrinsics import board_reference, pose_cameras, read_scene_points, write_scene_points
from mocap3d.calibration.intrinsics import calibrate_intrinsics
from mocap3d.calibration.render import look_at_board, pixel_rays, render_board

SIZE = (800, 600)
K_TRUE = np.array([[600.0, 0, 402.0], [0, 601.0, 297.0], [0, 0, 1]])
D_TRUE = np.array([-0.1, 0.04, 0.0005, -0.0003])
INTR_BOARD = Board("checkerboard", (6, 9), 0.025)
EXT_BOARD = Board("checkerboard", (5, 8), 0.10)
FLOOR = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])     # board -> world for a floor board, Y up


def _look_at(pos: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = target - pos
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 1, 0])
    x /= np.linalg.norm(x)
    R = np.array([x, np.cross(z, x), z])
    return matrix_to_rodrigues(R), -R @ pos


def _views(cam: Camera, board: Board, n: int, seed: int, dist=(0.28, 0.45), rays=None) -> list[Detection]:
    rng = np.random.default_rng(seed)
    rows, cols = board.grid
    ctr = np.array([(cols - 1) / 2, (rows - 1) / 2, 0]) * board.square_size
    rays = pixel_rays(cam, 2) if rays is None else rays
    dets = []
    for i in range(n):
        tilt = rng.uniform(-35, 35, 3)
        d = rng.uniform(*dist)
        rv, tv = look_at_board(d, tilt, rng.uniform(-0.08, 0.08, 2) * d / 0.45, ctr)
        det = detect_board(render_board(cam, board, rv, tv, rays=rays, seed=i), board, f"v{i}")
        if det is not None:
            dets.append(det)
    return dets


@pytest.fixture(scope="module")
def pinhole_views():
    cam = Camera("c", SIZE, K_TRUE, D_TRUE)
    rays = pixel_rays(cam, 2)
    return cam, rays, _views(cam, INTR_BOARD, 12, 1, rays=rays)


def _corrupt(views: list[Detection]) -> list[Detection]:
    bad = views[3]
    swap = bad.corners.copy()
    swap[[10, 11]] = swap[[11, 10]]
    row = bad.corners.copy().reshape(6, 9, 2)
    row[2] = row[2][::-1]
    # smooth warp: regular grid (passes the order check) but inconsistent with any pose
    centre = bad.corners.mean(0)
    warp = centre + (bad.corners - centre) * np.array([1.06, 0.96])
    return views + [Detection(swap, bad.ids, bad.image_size, "bad_swap"),
                    Detection(row.reshape(-1, 2), bad.ids, bad.image_size, "bad_row"),
                    Detection(warp, bad.ids, bad.image_size, "bad_warp")]


def test_checkerboard_detection_matches_projection(pinhole_views):
    cam, rays, _ = pinhole_views
    rv, tv = look_at_board(0.45, (20, -15, 10), (0, 0), np.array([4, 2.5, 0]) * 0.025)
    img = render_board(cam, INTR_BOARD, rv, tv, rays=rays)
    det = detect_board(img, INTR_BOARD)
    truth = cam.copy(rotation=rv, translation=tv).project(INTR_BOARD.object_points)
    assert np.abs(det.corners - truth).max() < 0.3          # canonical order = object point order
    assert grid_irregularity(det, INTR_BOARD) < 0.1
    # rotated a quarter turn in the image: found as a (w, h) grid, still mapped to our order
    rv2 = matrix_to_rodrigues(rodrigues_to_matrix(np.array([0, 0, np.pi / 2])) @ rodrigues_to_matrix(rv))
    det2 = detect_board(render_board(cam, INTR_BOARD, rv2, rodrigues_to_matrix(np.array([0, 0, np.pi / 2])) @ tv,
                                     rays=rays), INTR_BOARD)
    truth2 = cam.copy(rotation=rv2, translation=rodrigues_to_matrix(np.array([0, 0, np.pi / 2])) @ tv).project(
        INTR_BOARD.object_points)
    assert np.abs(det2.corners - truth2).max() < 0.3


def test_pinhole_intrinsics_with_bad_views(pinhole_views):
    cam, _, views = pinhole_views
    assert len(views) >= 10
    res = calibrate_intrinsics(_corrupt(views), INTR_BOARD, SIZE)
    K = res.matrix
    assert abs(K[0, 0] / K_TRUE[0, 0] - 1) < 0.005 and abs(K[1, 1] / K_TRUE[1, 1] - 1) < 0.005
    assert np.abs(K[:2, 2] - K_TRUE[:2, 2]).max() < 2.0
    assert abs(res.distortions[0] - D_TRUE[0]) < 0.01
    assert np.abs(res.distortions[2:4] - D_TRUE[2:4]).max() < 0.001
    # distortion recovered as a mapping wherever the board was seen (k1/k2 trade off at the edges)
    uv = np.concatenate([d.corners for d in views])
    est = res.camera("c")
    assert np.abs(est.normalized_to_pixels(est.distort(cam.undistort_points(uv))) - uv).max() < 0.5
    rejected = {s for s, _ in res.rejected}
    assert {"bad_swap", "bad_row", "bad_warp"} <= rejected
    assert not rejected & {d.source for d in views}          # no good view lost
    assert res.rms_px < 0.2


def test_fisheye_intrinsics():
    cam = Camera("f", (640, 480), [[300, 0, 324], [0, 300, 238], [0, 0, 1]], [0.05, -0.01, 0.003, -0.001],
                 fisheye=True)
    views = _views(cam, INTR_BOARD, 8, 1, dist=(0.2, 0.3))
    res = calibrate_intrinsics(views, INTR_BOARD, (640, 480), fisheye=True)
    assert abs(res.matrix[0, 0] / 300 - 1) < 0.005 and abs(res.matrix[1, 1] / 300 - 1) < 0.005
    assert np.abs(res.matrix[:2, 2] - [324, 238]).max() < 2.0
    # distortion recovered as a mapping wherever the board was seen (k3/k4 trade off)
    est = res.camera("f")
    uv = np.concatenate([d.corners for d in views])
    assert np.abs(est.normalized_to_pixels(est.distort(cam.undistort_points(uv))) - uv).max() < 1.0  # includes the f/cx/cy error; no model: > 20 px


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


def test_board_extrinsics_and_bundle_adjustment(pinhole_views):
    _, rays, views = pinhole_views
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


def test_charuco_intrinsics():
    cam = Camera("c", (640, 480), [[500, 0, 322], [0, 501, 236], [0, 0, 1]], [-0.1, 0.04, 0.0005, -0.0003])
    board = Board("charuco", (7, 10), 0.022, 0.016, "DICT_4X4_50")
    views = _views(cam, board, 8, 2, dist=(0.25, 0.4))
    assert len(views) >= 6
    res = calibrate_intrinsics(views, board, (640, 480))
    assert abs(res.matrix[0, 0] / 500 - 1) < 0.005 and abs(res.matrix[1, 1] / 501 - 1) < 0.005
    assert np.abs(res.matrix[:2, 2] - [322, 236]).max() < 2.0
    assert abs(res.distortions[0] + 0.1) < 0.01


def test_video_frames_every_n_seconds(tmp_path: Path):
    from mocap3d.calibration.intrinsics import detect_views, load_views
    cam = Camera("c", (320, 240), [[260, 0, 160], [0, 260, 120], [0, 0, 1]])
    board = Board("checkerboard", (4, 5), 0.02)
    rays = pixel_rays(cam, 1)
    writer = cv2.VideoWriter(str(tmp_path / "cam01.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(25):                                          # 2.5 s at 10 fps
        rv, tv = look_at_board(0.3, (10 + i, -10, i), (0, 0), np.array([2.0, 1.5, 0]) * 0.02)
        img = render_board(cam, board, rv, tv, supersample=1, rays=rays, seed=i)
        writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.release()
    views = list(load_views(tmp_path, None, every_n_sec=1.0))
    assert [v[0] for v in views] == ["cam01.avi@0.000s", "cam01.avi@1.000s", "cam01.avi@2.000s"]
    dets, missed, size = detect_views(views, board)
    assert size == (320, 240) and len(dets) == 3 and not missed
