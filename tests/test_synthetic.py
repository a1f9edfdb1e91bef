"""Ground-truth generator: geometry, time offsets, corruption rates, files, boards."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mocap3d.io.openpose import read_openpose_folders
from mocap3d.io.trc import read_trc
from mocap3d.io.calibration_toml import read_calibration
from mocap3d.skeletons import HALPE_26
from mocap3d.synthetic import make_capture, make_rig, read_truth, sees_volume, walkway_volume, write_capture
from mocap3d.synthetic.body import body_points, floor_height, grounded
from mocap3d.synthetic.motion import make_motion, walking


@pytest.mark.parametrize("n, fisheye", [(4, False), (16, False), (6, True)])
def test_every_camera_sees_the_walkway(n, fisheye):
    rig = make_rig(n, fisheye=fisheye, seed=3)
    vol = walkway_volume(6.0)
    assert len(rig) == n
    for cam in rig:
        assert sees_volume(cam, vol, margin=20), cam.name
        d = np.linalg.norm(cam.position[[0, 2]])
        assert 3.0 - 1e-9 <= d <= 8.0 + 1e-9
        assert 0.8 <= cam.position[1] <= 1.8


def test_rig_is_seeded():
    a, b = make_rig(5, seed=7), make_rig(5, seed=7)
    for ca, cb in zip(a, b):
        np.testing.assert_array_equal(ca.matrix, cb.matrix)
        np.testing.assert_array_equal(ca.rotation, cb.rotation)
    assert not np.allclose(make_rig(5, seed=8)[0].rotation, a[0].rotation)


@pytest.mark.parametrize("fisheye", [False, True])
def test_projection_matches_opencv(fisheye):
    rig = make_rig(4, fisheye=fisheye, seed=1)
    X = np.random.default_rng(0).uniform([-3, 0, -0.5], [3, 2, 0.5], (50, 3))
    for cam in rig:
        if fisheye:
            ref = cv2.fisheye.projectPoints(X[None], cam.rotation, cam.translation, cam.matrix, cam.distortions)[0][0]
        else:
            ref = cv2.projectPoints(X, cam.rotation, cam.translation, cam.matrix, cam.distortions)[0][:, 0]
        np.testing.assert_allclose(cam.project(X), ref, atol=1e-6)


def test_walking_curves_follow_stated_normative_facts():
    period = 120.0 / (65 + 35 * 1.3)
    m = walking(np.arange(200) * period / 200, speed=1.3)
    pct = np.arange(200) / 2
    hip, knee, ankle = m["hip_flexion_r"], m["knee_angle_r"], m["ankle_angle_r"]
    assert abs(hip.max() - 34) < 2 and 82 <= pct[hip.argmax()] <= 92
    assert abs(hip.min() + 10) < 2 and 45 <= pct[hip.argmin()] <= 55
    assert abs(knee.max() - 60) < 2 and 68 <= pct[knee.argmax()] <= 76
    assert abs(ankle.min() + 18) < 2 and 58 <= pct[ankle.argmin()] <= 68
    # left = right shifted by half a cycle
    np.testing.assert_allclose(np.roll(m["knee_angle_l"], 100), knee, atol=1e-9)
    np.testing.assert_allclose(np.diff(m["pelvis_tx"]) * 200 / period, 1.3, rtol=1e-9)


def test_forward_kinematics_scales_with_height_and_keeps_lengths():
    m = make_motion("walking", 30, 30.0)
    names = ["RHip", "RKnee", "RAnkle", "Head", "RHeel"]
    for h in (1.60, 1.90):
        P = body_points(m, names, h)
        thigh = np.linalg.norm(P[:, 0] - P[:, 1], axis=-1)
        assert np.ptp(thigh) < 1e-3  # rigid segment (full model: <1 cm knee roll-back)
        assert abs(thigh.mean() / h - 0.422 / 1.741) < 0.01
        assert -0.01 < np.nanmin(P[:, 4, 1]) < 0.06  # heel near the floor


@pytest.mark.parametrize("name", ["walking", "squat", "jump"])
def test_feet_meet_the_floor(name):
    from mocap3d.synthetic.motion import MOTIONS
    t = np.arange(60) / 20.0
    m = grounded(lambda tt: MOTIONS[name](tt), t, 1.7)
    h = floor_height(m, 1.7)
    contact = np.ones(len(t), bool)
    if name == "jump":
        contact = (t <= m.events["take_off"][0]) | (t >= m.events["landing"][0])
        assert h[~contact].max() > 0.2  # airborne
    np.testing.assert_allclose(h[contact], 0.0, atol=1e-9)  # soft-min on the floor
    from mocap3d.synthetic.body import ground_points
    lowest = body_points(m, list(ground_points()), 1.7)[..., 1].min(1)
    assert np.all((lowest[contact] > -0.001) & (lowest[contact] < 0.007))  # a sole point on the floor


def test_offsets_are_applied_exactly():
    rate, F = 50.0, 40
    offsets = [0.0, 2.0, -3.25, 0.5]
    cap = make_capture(4, "walking", F, rate, offsets=offsets, occlusion=False, seed=2)
    np.testing.assert_array_equal(cap.offsets, offsets)
    duration = (F - 1) / rate
    names = list(HALPE_26.names)
    for c, cam in enumerate(cap.rig):
        t = (np.arange(F) + offsets[c]) / rate
        motion = grounded(lambda tt: walking(tt, speed=1.3, height=1.75, x0=-1.3 * duration / 2), t, 1.75)
        X = body_points(motion, names, 1.75)
        uv = cam.project(X)
        obs = cap.keypoints2d.data[c, :, 0, :, :2]
        ok = np.isfinite(obs[..., 0])
        assert ok.mean() > 0.95
        np.testing.assert_allclose(obs[ok], uv[ok], atol=1e-9)


def test_corruption_rates_match_request():
    cap = make_capture(4, "walking", 200, 50.0, swaps=0.10, missing=0.05, occlusion=False, seed=5)
    assert abs(cap.swapped.mean() - 0.10) < 0.025
    nan = np.isnan(cap.keypoints2d.data[..., 0])
    assert abs(nan.mean() - 0.05) < 0.015
    runs = make_capture(2, "walking", 100, 50.0, swap_runs=2, missing_runs=2, occlusion=False, seed=6)
    assert 2 * 2 * 3 <= runs.swapped.sum() <= 2 * 2 * 10
    whole = np.isnan(runs.keypoints2d.data[..., 0]).all(-1)
    assert 2 * 2 * 3 <= whole.sum() <= 2 * 2 * 12


def test_swapped_detections_carry_the_other_side():
    cap = make_capture(3, "walking", 60, 30.0, swaps=0.2, occlusion=False, seed=4)
    names = list(cap.keypoints3d.names)
    X = cap.keypoints3d.data
    li, ri = names.index("LKnee"), names.index("RKnee")
    k = HALPE_26.index("LKnee")
    for c, cam in enumerate(cap.rig):
        sw = cap.swapped[c, :, 0]
        obs = cap.keypoints2d.data[c, :, 0, k, :2]
        np.testing.assert_allclose(obs[sw], cam.project(X[sw, ri]), atol=1e-9)
        np.testing.assert_allclose(obs[~sw], cam.project(X[~sw, li]), atol=1e-9)


def test_noise_and_confidence():
    cap = make_capture(4, "walking", 60, 30.0, noise_px=2.0, seed=8)
    X = cap.keypoints3d.data[:, : len(HALPE_26.names)]
    err = np.stack([cam.project(X) for cam in cap.rig]) - cap.keypoints2d.data[:, :, 0, :, :2]
    conf = cap.keypoints2d.data[:, :, 0, :, 2]
    visible = conf > 0.5
    assert abs(np.nanstd(err[visible]) - 2.0) < 0.2
    assert np.nanstd(err[conf < 0.4]) > 3.0  # occluded keypoints are noisier
    assert 0.02 < np.nanmean(conf < 0.5) < 0.4


def test_second_person_identities():
    cap = make_capture(3, "walking", 40, 30.0, second_person=True, occlusion=False, seed=9)
    assert cap.keypoints2d.n_persons == 2
    ids = cap.identities
    assert np.all(np.sort(ids, axis=-1) == [0, 1])
    assert (ids[..., 0] == 1).mean() > 0.2  # slots really shuffled
    c, f = 0, 20
    for slot in range(2):
        p = ids[c, f, slot]
        uv = cap.rig[c].project(cap.persons[p].data[f, : len(HALPE_26.names)])
        obs = cap.keypoints2d.data[c, f, slot, :, :2]
        ok = np.isfinite(obs[:, 0])
        np.testing.assert_allclose(obs[ok], uv[ok], atol=1e-9)


def test_write_capture_round_trip(tmp_path):
    cap = make_capture(3, "walking", 30, 30.0, noise_px=1.0, max_offset=2, trim_frames=3, seed=10)
    write_capture(cap, tmp_path / "trial")
    kp = read_openpose_folders(tmp_path / "trial" / "pose", cap.rig.names, HALPE_26, 30.0)
    idx = np.searchsorted(cap.keypoints2d.frames, kp.frames)
    ref = cap.keypoints2d.data[:, idx]
    np.testing.assert_array_equal(np.isnan(kp.data), np.isnan(ref))
    np.testing.assert_allclose(kp.data[np.isfinite(ref)], ref[np.isfinite(ref)], atol=6e-4)  # 0.001 px rounding
    truth = read_truth(tmp_path / "trial" / "ground_truth")
    np.testing.assert_allclose(list(truth["offsets"].values()), cap.offsets)
    trc = read_trc(tmp_path / "trial" / "ground_truth" / "keypoints.trc")
    np.testing.assert_allclose(trc.data, cap.keypoints3d.data, atol=1e-9)
    rig = read_calibration(tmp_path / "trial" / "calibration" / "Calib.toml")
    for a, b in zip(rig, cap.rig):
        np.testing.assert_allclose(a.matrix, b.matrix)
        np.testing.assert_allclose(a.position, b.position, atol=1e-9)


def test_rendered_board_corners_match_truth():
    from mocap3d.synthetic.boards import Board, floor_board_views, intrinsic_views
    rig = make_rig(4, seed=0)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    for v in intrinsic_views(rig[1], 2, seed=3):
        ok, c = cv2.findChessboardCorners(v.image, (9, 6))
        assert ok
        c = cv2.cornerSubPix(v.image, c, (7, 7), (-1, -1), crit).reshape(-1, 2)
        if np.linalg.norm(c[0] - v.image_points[0]) > np.linalg.norm(c[-1] - v.image_points[0]):
            c = c[::-1]
        assert np.abs(c - v.image_points).max() < 0.5
    board = Board(charuco=True)
    v = intrinsic_views(rig[0], 1, board, seed=4)[0]
    cc, ids, _, _ = cv2.aruco.CharucoDetector(board._charuco()).detectBoard(v.image)
    assert ids is not None and len(ids) > 30
    assert np.abs(cc.reshape(-1, 2) - v.image_points[ids.ravel()]).max() < 0.5
    floor = floor_board_views(rig.subset([2]))[0]
    assert np.allclose(floor.object_points[:, 1], 0.0)
    np.testing.assert_allclose(rig[2].project(floor.object_points), floor.image_points)


def test_shipped_demo_matches_the_generator():
    from pathlib import Path
    from mocap3d.synthetic.demo import demo_capture
    demo = Path(__file__).resolve().parents[1] / "Demo"
    if not demo.is_dir():
        pytest.skip("Demo/ is not in this checkout")
    cap = demo_capture()
    truth = read_truth(demo / "ground_truth")
    np.testing.assert_allclose(list(truth["offsets"].values()), cap.offsets)
    np.testing.assert_array_equal(truth["identities"], cap.identities)
    assert not list((demo / "calibration").glob("Calib*.toml"))  # the pipeline must calibrate
    kp = read_openpose_folders(demo / "pose", cap.rig.names, HALPE_26, 30.0)
    ref = cap.keypoints2d.data[:, np.searchsorted(cap.keypoints2d.frames, kp.frames)]
    np.testing.assert_allclose(kp.data[np.isfinite(ref)], ref[np.isfinite(ref)], atol=6e-4)
    true_rig = read_calibration(demo / "ground_truth" / "Calib_true.toml")
    for a, b in zip(true_rig, cap.rig):
        np.testing.assert_allclose(a.position, b.position, atol=1e-9)
