"""Triangulation against synthetic captures with known truth (mocap3d.synthetic)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mocap3d.camera import CameraRig
from mocap3d.errors import Mocap3dError
from mocap3d.synthetic import make_rig
from mocap3d.synthetic.capture import make_capture
from mocap3d.synthetic.corruptions import swap_left_right
from mocap3d.triangulation import (TriangulationOptions, reject_outlier_cameras, swap_groups,
                                   triangulate_person, triangulate_points, world_up_axis)
from mocap3d.triangulation.core import focal_lengths
from mocap3d.triangulation.gaps import fill_gaps, interpolate_gaps, section_to_keep, zup_to_yup

N_FRAMES = 300


def close_rig():
    """4 GoPro-like cameras 4-5 m from a 1 m capture area (the geometry of a lab or gym setup)."""
    return make_rig(4, walkway_length=1.0, kinds=["gopro_linear"] * 4, seed=0)


def errors_mm(res, cap):
    truth = cap.keypoints3d
    T = truth.data[:, [truth.names.index(n) for n in res.names]]
    a, b = res.keep
    return np.linalg.norm(res.points - T[a:b], axis=-1) * 1000, T[a:b]


def corrupted_capture(seed=3):
    """1.5 px noise, 10% missed detections, 5% L/R swaps in cameras 2 and 3 (several frames in both at once)."""
    cap = make_capture(4, "squat", n_frames=N_FRAMES, rate=60, rig=close_rig(), noise_px=1.5, missing=0.10,
                       seed=seed)
    rng = np.random.default_rng(seed)
    C, F = cap.keypoints2d.data.shape[:2]
    mask = np.zeros((C, F, 1), bool)
    mask[1:3] = rng.random((2, F, 1)) < 0.05
    mask[1:3, [40, 41, 150, 151, 152, 260]] = True  # two of four cameras swapped together
    cap.keypoints2d.data = swap_left_right(cap.keypoints2d.data, mask, cap.skeleton.swap_pairs())
    return cap, mask[..., 0]


def no_output_options(**kw):
    return TriangulationOptions(interp_if_gap_smaller_than=0, fill_large_gaps_with="nan", **kw)


def test_clean_1px_median_within_pose2sim_floor():
    cap = make_capture(4, "squat", n_frames=N_FRAMES, rate=60, rig=close_rig(), noise_px=1.0, seed=1)
    kp = cap.keypoints2d
    res = triangulate_person(cap.rig, kp.data[:, :, 0], kp.keypoints, kp.frames, kp.rate, no_output_options())
    e, _ = errors_mm(res, cap)
    assert res.keep == (0, N_FRAMES)
    assert np.isfinite(e).all()
    assert np.median(e) <= 2.1
    # per-frame only (no temporal refinement) equals plain weighted DLT at this noise
    res0 = triangulate_person(cap.rig, kp.data[:, :, 0], kp.keypoints, kp.frames, kp.rate,
                              no_output_options(acceleration_prior=0))
    e0, _ = errors_mm(res0, cap)
    assert np.median(e0) <= 2.6
    assert np.median(e) < np.median(e0)


def test_corrupted_capture_meets_quality_bars():
    cap, swapped = corrupted_capture()
    kp = cap.keypoints2d
    res = triangulate_person(cap.rig, kp.data[:, :, 0], kp.keypoints, kp.frames, kp.rate,
                             TriangulationOptions())
    e, T = errors_mm(res, cap)
    assert res.keep == (0, N_FRAMES)
    assert np.isfinite(e).all()
    assert np.median(e) <= 3.5
    assert np.percentile(e, 95) <= 5.0
    assert e.max() <= 50.0
    # every injected swap was found, and no other
    found = res.raw.swapped.any(-1)
    assert (found == swapped).all()
    # no swapped limb in the output
    for l, r in swap_groups(res.names)[0] + swap_groups(res.names)[1] + swap_groups(res.names)[2]:
        own = np.linalg.norm(res.points[:, l] - T[:, l], axis=-1) + np.linalg.norm(res.points[:, r] - T[:, r], axis=-1)
        cross = np.linalg.norm(res.points[:, l] - T[:, r], axis=-1) + np.linalg.norm(res.points[:, r] - T[:, l], axis=-1)
        assert (own < cross).all(), res.names[l]
    rep = res.report
    assert sum(rep["swaps_corrected"].values()) == swapped.sum()
    assert rep["swaps_corrected"]["cam01"] == 0 and rep["swaps_corrected"]["cam04"] == 0


def test_plain_dlt_fails_where_robust_triangulation_does_not():
    cap, _ = corrupted_capture(seed=4)
    kp = cap.keypoints2d
    lik = kp.data[:, :, 0, :, 2]
    plain = cap.rig.triangulate(kp.data[:, :, 0, :, :2], np.where(lik >= 0.3, lik, 0))
    T = cap.keypoints3d.data[:, [cap.keypoints3d.names.index(n) for n in kp.keypoints]]
    e_plain = np.linalg.norm(plain - T, axis=-1) * 1000
    res = triangulate_person(cap.rig, kp.data[:, :, 0], kp.keypoints, kp.frames, kp.rate, TriangulationOptions())
    e, _ = errors_mm(res, cap)
    assert np.nanpercentile(e_plain, 95) > 20 > np.percentile(e, 95)


def test_outlier_camera_rejection_with_many_cameras():
    rig = make_rig(16, seed=2, distortion=False)
    rng = np.random.default_rng(0)
    X = rng.uniform([-1, 0.2, -0.5], [1, 1.8, 0.5], (500, 3))
    uv = rig.project(X) + rng.normal(0, 0.5, (16, 500, 2))
    bad = rng.random((16, 500)) < 0.2  # 20% gross outliers, up to ~8 per point
    uv[bad] += rng.uniform(60, 200, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
    xy = rig.undistort_points(uv)
    Xh, used, err = reject_outlier_cameras(xy, np.ones((16, 500)), rig.extrinsics(), focal_lengths(rig), 15.0, 2)
    ok = np.isfinite(Xh).all(-1)
    assert ok.mean() > 0.98
    assert np.median(np.linalg.norm(Xh[ok] - X[ok], axis=-1)) < 0.002
    assert (used & bad).sum() <= 0.01 * bad.sum()   # outliers excluded
    assert (~used & ~bad).sum() <= 0.02 * (~bad).sum()  # good cameras kept


def test_min_cameras_and_reasons():
    cap = make_capture(3, "squat", n_frames=40, rate=60, rig=close_rig().subset([0, 1, 2]), noise_px=0.5, seed=0)
    kp = cap.keypoints2d
    data = kp.data[:, :, 0].copy()
    data[1:, 10:20, 0] = np.nan  # Nose seen by one camera only in frames 10-19
    res = triangulate_points(cap.rig, data[..., :2], data[..., 2], min_cameras=2)
    assert np.isnan(res.points[10:20, 0]).all() and (res.reason[10:20, 0] == 1).all()
    res3 = triangulate_points(cap.rig, data[..., :2], data[..., 2], min_cameras=3)
    assert (res3.reason[:, 1:][np.isfinite(data[..., 0]).all(0)[:, 1:]] == 0).all()


def test_failure_message_names_cameras_keypoints_frames_threshold():
    cap = make_capture(4, "squat", n_frames=60, rate=60, rig=close_rig(), noise_px=0.5, seed=0)
    kp = cap.keypoints2d
    data = kp.data[:, :, 0].copy()
    data[..., 2] = 0.2  # every detection below the likelihood threshold
    with pytest.raises(Mocap3dError) as err:
        triangulate_person(cap.rig, data, kp.keypoints, kp.frames + 100, kp.rate, TriangulationOptions())
    msg = str(err.value)
    for part in ("cam01", "cam04", "Nose", "100-159", "likelihood_threshold_triangulation=0.3", "min_chunk_size"):
        assert part in msg


def test_gap_functions():
    F = 50
    t = np.arange(F, dtype=float)
    P = np.stack([np.stack([t, t ** 2 / 50, np.sin(t / 5)], -1)] * 2, 1)  # (F, 2, 3)
    Q = P.copy()
    Q[10:14, 0] = np.nan    # gap 4: interpolated
    Q[20:40, 1] = np.nan    # gap 20 > 5: left
    Q[:3, 0] = np.nan       # leading: never interpolated
    out, filled = interpolate_gaps(Q, 5, "cubic")
    assert filled[10:14, 0].all() and not filled[20:40, 1].any() and not filled[:3, 0].any()
    assert np.abs(out[10:14, 0] - P[10:14, 0]).max() < 0.05
    lin, _ = interpolate_gaps(Q, 5, "linear")
    assert np.allclose(lin[10:14, 0, 0], t[10:14])
    last = fill_gaps(out, "last_value")
    assert np.allclose(last[20:40, 1], out[19, 1]) and np.allclose(last[:3, 0], out[3, 0])
    assert np.isnan(fill_gaps(out, "nan")[25, 1]).all() and (fill_gaps(out, "zeros")[25, 1] == 0).all()
    valid = np.zeros(100, bool)
    valid[5:8] = valid[20:60] = valid[70:85] = True
    assert section_to_keep(valid, "all", 10) == (20, 85)
    assert section_to_keep(valid, "largest", 10) == (20, 60)
    assert section_to_keep(valid, "first", 10) == (20, 60)
    assert section_to_keep(valid, "last", 10) == (70, 85)
    assert section_to_keep(valid, "all", 50) == (0, 0)


def test_world_up_axis_and_yup_conversion():
    assert world_up_axis(close_rig()) == "Y"
    # the same cameras in a Z-up world (x, y, z) -> (z, x, y): rotate world by R_zup
    Rz = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)  # maps Y-up coords to Z-up coords
    from mocap3d.camera import matrix_to_rodrigues
    cams = [c.copy(rotation=matrix_to_rodrigues(c.R @ Rz.T)) for c in close_rig()]
    assert world_up_axis(CameraRig(cams)) == "Z"
    p = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(zup_to_yup(p), [[2.0, 3.0, 1.0]])


def test_run_triangulation_writes_trc_c3d_and_report(tmp_path):
    from mocap3d.io.trc import read_trc
    from mocap3d.project import discover
    from mocap3d.synthetic.writer import write_capture
    cap = make_capture(4, "squat", n_frames=120, rate=60, rig=close_rig(), noise_px=1.0, missing=0.05, seed=5)
    write_capture(cap, tmp_path / "trial")
    trial = discover(tmp_path / "trial")[0]
    from mocap3d.triangulation import run_triangulation
    report = run_triangulation(trial)
    trcs = sorted((tmp_path / "trial" / "pose-3d").glob("*.trc"))
    assert [p.name for p in trcs] == ["trial_0-119.trc"]
    assert (tmp_path / "trial" / "pose-3d" / "trial_0-119.c3d").is_file()
    m = read_trc(trcs[0])
    T = cap.keypoints3d
    e = np.linalg.norm(m.data - T.data[:, [T.names.index(n) for n in m.names]], axis=-1) * 1000
    assert np.median(e) < 3.0 and e.max() < 30
    saved = json.loads((tmp_path / "trial" / "pose-3d" / "triangulation_report.json").read_text())
    person = saved["persons"][0]
    assert set(person["reprojection_error_px"]["per_camera"]) == set(cap.rig.names)
    assert 0.3 < person["reprojection_error_px"]["mean"] < 3
    assert 0 < person["reprojection_error_mm"]["mean"] < 10
    assert report["world_up_axis"] == "Y"


def test_up_axis_recorded_by_the_calibration_beats_rolled_cameras(tmp_path):
    """'auto' trusts [metadata] up_axis: portrait cameras rolled 90 deg in a Y-up world must not look Z-up."""
    import numpy as np
    from mocap3d.camera import Camera, CameraRig, matrix_to_rodrigues
    from mocap3d.io.calibration_toml import read_calibration_metadata, write_calibration
    from mocap3d.triangulation.pipeline import world_up_axis
    cams = []
    for i in range(4):  # a row of phones on one side of the walkway, all held in portrait
        pos = np.array([4.0, 1.2, -1.5 + i])
        z = np.array([0.0, 1.0, 0.0]) - pos
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, -1, 0]); x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        R = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]]) @ R  # rolled 90 deg: image up is horizontal
        cams.append(Camera(f"cam{i}", (1080, 1920), np.diag([1500, 1500, 1.0]) + [[0, 0, 540], [0, 0, 960], [0, 0, 0]],
                           rotation=matrix_to_rodrigues(R), translation=-R @ pos))
    rig = CameraRig(cams)
    path = write_calibration(rig, tmp_path / "Calib.toml", metadata={"up_axis": "Y"})
    recorded = read_calibration_metadata(path)["up_axis"]
    assert world_up_axis(rig, "auto") == "Z"  # the cameras alone mislead
    assert world_up_axis(rig, "auto", recorded=recorded) == "Y"
    assert world_up_axis(rig, "Z", recorded=recorded) == "Z"  # an explicit setting wins


def test_pose_folders_of_fewer_cameras_select_those_cameras(tmp_path):
    """Removing a bad camera's pose folder leaves it out; unknown folder names are not guessed at."""
    import numpy as np
    from mocap3d.camera import Camera, CameraRig
    from mocap3d.triangulation.inputs import rig_for_pose
    rig = CameraRig([Camera(f"cam0{i}", (640, 480), np.eye(3)) for i in range(1, 5)])
    for cam in ("cam01", "cam03", "cam04"):
        (tmp_path / f"{cam}_json").mkdir()
        (tmp_path / f"{cam}_json" / f"{cam}_000000.json").write_text('{"people": []}')
    assert rig_for_pose(rig, tmp_path).names == ["cam01", "cam03", "cam04"]
    (tmp_path / "phone_json").mkdir()
    (tmp_path / "phone_json" / "phone_000000.json").write_text('{"people": []}')
    assert rig_for_pose(rig, tmp_path).names == rig.names  # 4 folders, one unknown: left to the reader


@pytest.mark.parametrize("frames", [3, 7, 60])
def test_temporal_refinement_solvers_match_the_dense_solution(frames):
    """Both block-banded solvers (numpy frame loop for short clips, scipy's banded solver for long ones) give the
    minimizer of the refinement's quadratic cost: the dense normal equations' solution, for every keypoint."""
    from mocap3d.triangulation.temporal import (refine_trajectories, second_difference_diagonals, solve_block_banded,
                                                solve_block_banded_scipy)
    rng = np.random.default_rng(frames)
    K, w = 4, 3e4
    X = np.cumsum(rng.normal(0, 0.01, (frames, K, 3)), 0)
    A = rng.normal(0, 1, (frames, K, 3, 2))
    info = 1e5 * A @ A.swapaxes(-1, -2) + 10 * np.eye(3)          # two cameras: weak along their baseline
    X[0, 3] = np.nan                                               # a missing frame carries no information
    refined = refine_trajectories(X, info, w)
    assert np.isnan(refined[0, 3]).all() and np.isfinite(refined[1:]).all()
    D = np.zeros((frames - 2, frames))
    for r in range(frames - 2):
        D[r, r:r + 3] = (1, -2, 1)
    for k in range(K):
        ok = np.isfinite(X[:, k]).all(-1)
        I = np.where(ok[:, None, None], info[:, k], 0.0)
        H = np.zeros((3 * frames, 3 * frames))
        for f in range(frames):
            H[3 * f:3 * f + 3, 3 * f:3 * f + 3] = I[f]
        H += w * np.kron(D.T @ D, np.eye(3))
        b = np.einsum("fij,fj->fi", I, np.where(ok[:, None], X[:, k], 0.0)).ravel()
        dense = np.linalg.solve(H, b).reshape(frames, 3)
        np.testing.assert_allclose(refined[ok, k], dense[ok], atol=1e-7)    # 0.1 um: the solver adds a 1e-9 ridge
    d0, d1, d2 = (w * d for d in second_difference_diagonals(frames))
    diag = info + d0[:, None, None, None] * np.eye(3)
    args = (diag, d1, d2, rng.normal(0, 1, (frames, K, 3)))
    np.testing.assert_allclose(solve_block_banded(*args), solve_block_banded_scipy(*args), rtol=1e-9, atol=1e-12)
