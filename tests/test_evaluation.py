"""evaluate: metrics on known perturbations of the truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mocap3d.camera import CameraRig
from mocap3d.evaluation import MISSING, compare_rigs, format_table, run_evaluation, similarity_align
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
