"""evaluate: metrics on known perturbations of the truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mocap3d.camera import CameraRig
from mocap3d.evaluation import MISSING, compare_rigs, run_evaluation, similarity_align
from mocap3d.evaluation_table import format_table
from mocap3d.io.calibration_toml import write_calibration
from mocap3d.io.mot import Table, read_mot, write_mot
from mocap3d.io.openpose import write_openpose_folders
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers import Markers3D
from mocap3d.synthetic import make_capture, write_capture


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    cap = make_capture(4, "walking", 40, 30.0, offsets=[0, 2, -1, 3], second_person=True, occlusion=False, seed=3)
    folder = tmp_path_factory.mktemp("eval") / "trial"
    write_capture(cap, folder)
    return cap, folder


def test_missing_stages_are_reported_missing(trial):
    cap, folder = trial
    m = run_evaluation(folder, write=False)
    for k in ("synchronization", "association", "keypoints3d", "markers3d", "joint_angles"):
        assert m[k]["status"] == MISSING, k
    # the trial ships the true calibration: zero error, honestly
    assert m["calibration"]["mean_position_mm"] < 1e-6
    assert "not evaluated" in format_table(m)


def test_known_perturbations(trial, tmp_path):
    cap, folder = trial
    gt = folder / "ground_truth"
    res = tmp_path / "res"
    # calibration: camera 2 moved 30 mm along X, camera 3 rotated 1 deg, camera 4 focal +2 %
    cams = [c.copy() for c in cap.rig]
    cams[1] = cams[1].copy(translation=cams[1].translation - cams[1].R @ np.array([0.03, 0, 0]))
    from mocap3d.camera import matrix_to_rodrigues, rodrigues_to_matrix
    R = rodrigues_to_matrix(np.radians([0, 1.0, 0])) @ cams[2].R
    cams[2] = cams[2].copy(rotation=matrix_to_rodrigues(R), translation=-R @ cams[2].position)
    K = cams[3].matrix.copy()
    K[:2, :2] *= 1.02
    cams[3] = cams[3].copy(matrix=K)
    write_calibration(CameraRig(cams), res / "calibration" / "Calib.toml")
    # sync: reference cam02 (true offset 2), clock origin moved by -2 frames; cam03 -0.5 and cam04 +0.5 off
    truth_off = np.array([0, 2, -1, 3.0])
    est = truth_off - 2
    est[2] -= 0.5
    est[3] += 0.5
    sync = {"reference_camera": "cam02", "offsets_frames": dict(zip(cap.rig.names, est.tolist()))}
    (res / "pose-sync").mkdir(parents=True)
    (res / "pose-sync" / "synchronization_report.json").write_text(json.dumps(sync))
    # association on pose/ (raw frames): identities = truth, but camera 1 frames 0-9 get them flipped
    ids = np.asarray(cap.identities).copy()
    ids[0, :10] = 1 - ids[0, :10]
    (res / "pose-associated").mkdir()
    (res / "pose-associated" / "association_report.json").write_text(json.dumps(
        {"input": str(folder / "pose"), "identity_of_input_person": {c: ids[i].tolist() for i, c in enumerate(cap.rig.names)}}))
    # 3D: truth on cam02's clock (shift 2 frames) + 10 mm along Y
    kp = read_trc(gt / "keypoints.trc")
    shifted = Markers3D(kp.data[2:] + [0, 0.010, 0], kp.names, kp.rate, 0.0, 1)
    write_trc(shifted, res / "pose-3d" / "trial_0-37.trc")
    # joint angles: +2 deg on knee_angle_r, -3 deg on one frame of hip_flexion_l
    mot = read_mot(gt / "coordinates.mot")
    data = mot.data[2:].copy()
    data[:, mot.columns.index("knee_angle_r")] += 2.0
    data[5, mot.columns.index("hip_flexion_l")] -= 3.0
    write_mot(Table(mot.times[2:] - mot.times[2], mot.columns, data), res / "kinematics" / "trial.mot")

    m = run_evaluation(res, gt)
    c = m["calibration"]["per_camera"]
    assert c["cam01"]["position_mm"] < 1e-6 and c["cam01"]["reprojection_px"] < 1e-6
    assert abs(c["cam02"]["position_mm"] - 30) < 1e-6
    assert abs(c["cam03"]["orientation_deg"] - 1.0) < 1e-6
    assert abs(c["cam04"]["focal_pct"] - 2.0) < 1e-6 and c["cam04"]["reprojection_px"] > 1
    s = m["synchronization"]
    assert s["reference_camera"] == "cam02"
    assert abs(s["clock_bias_frames"] + 2) < 1e-9
    assert abs(s["max_abs_error_frames"] - 0.5) < 1e-9 and abs(s["mean_abs_error_frames"] - 0.25) < 1e-9
    a = m["association"]
    expected = 1 - (10 * 2) / np.sum(cap.identities >= 0)
    assert abs(a["identity_accuracy"] - expected) < 1e-9
    k = m["keypoints3d"]
    assert abs(k["mpjpe_mm"] - 10.0) < 1e-6 and abs(k["p95_mm"] - 10.0) < 1e-6 and k["frac_over_50mm"] == 0
    assert all(abs(v - 10.0) < 1e-6 for v in k["per_keypoint_mm"].values())
    j = m["joint_angles"]["per_coordinate"]
    assert abs(j["knee_angle_r"]["rmse"] - 2.0) < 1e-6 and abs(j["knee_angle_r"]["max"] - 2.0) < 1e-6
    n = len(data)
    assert abs(j["hip_flexion_l"]["rmse"] - 3.0 / np.sqrt(n)) < 1e-6 and abs(j["hip_flexion_l"]["max"] - 3.0) < 1e-6
    assert j["ankle_angle_r"]["rmse"] < 1e-6
    assert (res / "evaluation" / "metrics.json").is_file()
    assert (res / "evaluation" / "joint_angles.png").read_bytes()[:4] == b"\x89PNG"
    table = format_table(m)
    assert "MPJPE" in table and "10.0" in table


def test_similarity_alignment_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    from mocap3d.camera import rodrigues_to_matrix
    R = rodrigues_to_matrix(np.array([0.3, -0.2, 0.5]))
    s, R_hat, t = similarity_align(X, 1.5 * X @ R.T + [1, 2, 3])
    assert abs(s - 1.5) < 1e-9
    np.testing.assert_allclose(R_hat, R, atol=1e-9)
    np.testing.assert_allclose(t, [1, 2, 3], atol=1e-9)


def test_association_on_synchronized_frames(trial, tmp_path):
    cap, folder = trial
    res = tmp_path / "res"
    names = cap.rig.names
    est_off = np.array([0.0, 2.0, -1.0, 3.5])  # cam04 half a frame late: its slots blend two raw frames
    (res / "pose-sync").mkdir(parents=True)
    (res / "pose-sync" / "synchronization_report.json").write_text(json.dumps(
        {"reference_camera": "cam01", "offsets_frames": dict(zip(names, est_off.tolist()))}))
    frames = np.arange(0, 45)  # common-clock frames written by the sync stage
    from mocap3d.keypoints import Keypoints2D
    dummy = Keypoints2D(np.full((4, len(frames), 2, 26, 3), 1.0), names, [str(i) for i in range(26)], frames, 30.0)
    write_openpose_folders(dummy, res / "pose-sync")
    ids_true = np.asarray(cap.identities)
    ids, mixed = {}, 0
    for c, cam in enumerate(names):
        x = frames - est_off[c]
        n0 = np.floor(x).astype(int)
        table = np.full((len(frames), 2), -1)
        for f, n in enumerate(n0):
            if 0 <= n < 40 and (x[f] == n or n + 1 < 40):
                table[f] = ids_true[c, n]
                if x[f] != n:
                    mixed += int(np.sum(ids_true[c, n] != ids_true[c, n + 1]))
        ids[cam] = table.tolist()
    (res / "pose-associated").mkdir()
    (res / "pose-associated" / "association_report.json").write_text(json.dumps(
        {"input": str(res / "pose-sync"), "identity_of_input_person": ids}))
    a = run_evaluation(res, folder / "ground_truth", write=False)["association"]
    assert mixed > 0
    assert a["mixed_by_interpolation"] == mixed
    assert a["identity_accuracy"] == 1.0


def _moved_world(cap, A: np.ndarray, b: np.ndarray) -> CameraRig:
    """The true rig expressed in a world ``X_est = A X_true + b``."""
    from mocap3d.camera import matrix_to_rodrigues
    cams = []
    for c in cap.rig:
        Re = c.R @ A.T
        cams.append(c.copy(rotation=matrix_to_rodrigues(Re), translation=c.translation - Re @ b))
    return CameraRig(cams)


def test_world_alignment_separates_frame_from_error(trial, tmp_path):
    """Calibration and 3D result in another world (a board placed anywhere): raw errors are the
    transform's own effect, errors after alignment ~0, pelvis global coordinates not comparable."""
    from mocap3d.camera import rodrigues_to_matrix
    cap, folder = trial
    gt = folder / "ground_truth"
    res = tmp_path / "res"
    A = rodrigues_to_matrix(np.radians([3.0, 75.0, -2.0]))
    b = np.array([1.2, -0.05, -2.0])
    write_calibration(_moved_world(cap, A, b), res / "calibration" / "Calib_board.toml")
    kp = read_trc(gt / "keypoints.trc")
    write_trc(Markers3D(kp.data @ A.T + b, kp.names, kp.rate, 0.0, 1), res / "pose-3d" / "trial_0-39.trc")
    mot = read_mot(gt / "coordinates.mot")
    data = mot.data.copy()
    data[:, mot.columns.index("pelvis_rotation")] += 75.0  # what IK in the moved world roughly reports
    data[:, mot.columns.index("knee_angle_r")] += 1.5
    write_mot(Table(mot.times - mot.times[0], mot.columns, data), res / "kinematics" / "trial.mot")

    m = run_evaluation(res, gt, write=False, print_table=False)
    c = m["calibration"]
    for cam in cap.rig:
        moved = np.linalg.norm(A @ cam.position + b - cam.position) * 1000
        assert abs(c["per_camera"][cam.name]["position_mm"] - moved) < 1e-6
    al = c["aligned"]
    assert al["frames_differ"]
    assert abs(al["rotation_deg"] - np.degrees(np.linalg.norm(np.radians([3.0, 75.0, -2.0])))) < 1e-6
    np.testing.assert_allclose(al["rotation"], A.T, atol=1e-9)
    np.testing.assert_allclose(al["translation"], -A.T @ b, atol=1e-9)
    assert al["mean_position_mm"] < 1e-6 and al["mean_orientation_deg"] < 1e-4
    assert al["mean_reprojection_px"] < 1e-6 and c["mean_reprojection_px"] > 50
    k = m["keypoints3d"]
    ok = np.isfinite(kp.data).all(-1)
    raw = np.linalg.norm(kp.data @ A.T + b - kp.data, axis=-1)[ok].mean() * 1000
    assert abs(k["raw"]["mpjpe_mm"] - raw) < 1e-6 and raw > 1000
    assert k["world"] == "aligned" and k["mpjpe_mm"] < 1e-6 and k["aligned"]["mpjpe_mm"] < 1e-6
    j = m["joint_angles"]
    assert set(j["not_comparable"]) >= {"pelvis_rotation", "pelvis_tx", "pelvis_tz"}
    assert j["per_coordinate"]["pelvis_rotation"]["comparable"] is False
    assert abs(j["per_coordinate"]["pelvis_rotation"]["rmse"] - 75.0) < 1e-6  # raw error kept
    assert abs(j["per_coordinate"]["knee_angle_r"]["rmse"] - 1.5) < 1e-6
    comparable = [v["rmse"] for n, v in j["per_coordinate"].items() if v["unit"] == "deg" and "pelvis" not in n]
    assert abs(j["mean_rmse_deg"] - np.mean(comparable)) < 1e-9
    table = format_table(m)
    assert "world aligned to truth: rotation 75." in table and "not comparable" in table


def test_same_world_keeps_raw_errors_and_pelvis(trial, tmp_path):
    """A calibration in the truth's world, a 40 mm offset of the 3D result: raw is the headline."""
    cap, folder = trial
    gt = folder / "ground_truth"
    res = tmp_path / "res"
    write_calibration(cap.rig, res / "calibration" / "Calib.toml")
    kp = read_trc(gt / "keypoints.trc")
    write_trc(Markers3D(kp.data + [0.04, 0, 0], kp.names, kp.rate, 0.0, 1), res / "pose-3d" / "trial_0-39.trc")
    mot = read_mot(gt / "coordinates.mot")
    data = mot.data.copy()
    data[:, mot.columns.index("pelvis_rotation")] += 2.0
    write_mot(Table(mot.times - mot.times[0], mot.columns, data), res / "kinematics" / "trial.mot")
    m = run_evaluation(res, gt, write=False, print_table=False)
    assert not m["calibration"]["aligned"]["frames_differ"]
    k = m["keypoints3d"]
    assert k["world"] == "truth" and abs(k["mpjpe_mm"] - 40.0) < 1e-6 and abs(k["aligned"]["mpjpe_mm"] - 40) < 1e-6
    j = m["joint_angles"]
    assert j["not_comparable"] == [] and abs(j["per_coordinate"]["pelvis_rotation"]["rmse"] - 2.0) < 1e-6


def test_z_up_calibration_is_mapped_to_trc_axes(trial, tmp_path):
    """A Z-up calibration world: the .trc holds (Y, Z, X) of it; the alignment must account for that."""
    cap, folder = trial
    gt = folder / "ground_truth"
    res = tmp_path / "res"
    M = np.eye(3)[[1, 2, 0]]  # .trc (Y up) = M @ Z-up world
    write_calibration(_moved_world(cap, M.T, np.zeros(3)), res / "calibration" / "Calib.toml")
    (res / "pose-3d").mkdir(parents=True)
    (res / "pose-3d" / "triangulation_report.json").write_text(json.dumps({"world_up_axis": "Z"}))
    kp = read_trc(gt / "keypoints.trc")
    write_trc(Markers3D(kp.data + [0, 0, 0.01], kp.names, kp.rate, 0.0, 1), res / "pose-3d" / "trial_0-39.trc")
    m = run_evaluation(res, gt, write=False, print_table=False)
    assert m["calibration"]["aligned"]["frames_differ"]  # 120 deg between the calibration worlds
    k = m["keypoints3d"]
    assert abs(k["aligned"]["mpjpe_mm"] - 10.0) < 1e-6 and abs(k["raw"]["mpjpe_mm"] - 10.0) < 1e-6


def test_principal_point_error(trial, tmp_path):
    cap, folder = trial
    cams = [c.copy() for c in cap.rig]
    K = cams[1].matrix.copy()
    K[0, 2] += 3.0
    K[1, 2] -= 4.0
    cams[1] = cams[1].copy(matrix=K)
    pts = read_trc(folder / "ground_truth" / "keypoints.trc").data[::10].reshape(-1, 3)
    c = compare_rigs(CameraRig(cams), cap.rig, pts[np.isfinite(pts).all(1)])
    assert abs(c["per_camera"]["cam02"]["principal_point_px"] - 5.0) < 1e-9
    assert c["per_camera"]["cam01"]["principal_point_px"] == 0.0
    assert abs(c["mean_principal_point_px"] - 5.0 / 4) < 1e-9
    assert "principal point (px, mean)" in format_table({"calibration": c})


def test_current_mot_is_the_last_runs_not_the_newest_file(tmp_path):
    """``evaluate`` compares the .mot named by the last kinematics report, not a newer stray or filtered copy."""
    import json
    import os

    from mocap3d.evaluation import current_mot
    kin = tmp_path / "kinematics"
    kin.mkdir()
    for i, name in enumerate(("T_0-59.mot", "T_0-59_filt_butterworth.mot", "T_10-50.mot")):
        (kin / name).write_text("x")
        os.utime(kin / name, (1000 + i, 1000 + i))
    assert current_mot(kin).name == "T_10-50.mot"                     # no report: the newest file
    report = {"persons": [{"person": 1, "outputs": ["/elsewhere/kinematics/T_10-50.mot"]},
                          {"person": 0, "outputs": ["/moved/kinematics/T_0-59_scaled.osim",
                                                    "/moved/kinematics/T_0-59.mot",
                                                    "/moved/kinematics/T_0-59_filt_butterworth.mot"]}]}
    (kin / "kinematics_report.json").write_text(json.dumps(report))
    assert current_mot(kin).name == "T_0-59.mot"
    (kin / "T_0-59.mot").unlink()
    assert current_mot(kin) is None                                    # named but gone: not another run's file
