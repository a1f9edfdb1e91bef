"""Synchronization against synthetic captures with known offsets."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mocap3d.errors import ConfigError, Mocap3dError
from mocap3d.synchronization import (SyncOptions, apply_offsets, parabolic_peak, resample_camera,
                                     sync_by_calibration, sync_by_motion)
from mocap3d.synthetic.capture import make_capture
from mocap3d.triangulation import TriangulationOptions, triangulate_person


def relative(res):
    """Offsets relative to camera 0 (the synthetic truth's clock)."""
    return res.offsets - res.offsets[0]


@pytest.mark.parametrize("offsets", [[0, -15, 7, 15], [0, 15, -9, -15], [0, 1, -1, 0]])
def test_integer_offsets_recovered_exactly_on_2s_clip(offsets):
    cap = make_capture(4, "walking", n_frames=120, rate=60, noise_px=1.0, offsets=offsets, seed=1)
    res = sync_by_calibration(cap.rig, cap.keypoints2d.data, 60.0, SyncOptions())
    est = relative(res)
    assert (np.round(est) == np.array(offsets)).all()
    assert np.abs(est - offsets).max() <= 0.2
    assert (res.confidence > 0.5).all()


def test_subframe_offsets_within_0_2_frame_on_1_5s_clip():
    truth = np.array([0.0, -12.4, 6.7, 14.25])
    cap = make_capture(4, "walking", n_frames=90, rate=60, noise_px=1.0, offsets=truth, seed=2)
    res = sync_by_calibration(cap.rig, cap.keypoints2d.data, 60.0, SyncOptions())
    assert np.abs(relative(res) - truth).max() <= 0.2


def test_offsets_with_a_second_person_in_view():
    truth = np.array([0.0, 11.0, -13.0, 5.0])
    cap = make_capture(4, "walking", n_frames=120, rate=60, noise_px=1.0, offsets=truth, second_person=True,
                       seed=3)
    res = sync_by_calibration(cap.rig, cap.keypoints2d.data, 60.0, SyncOptions())
    assert (np.round(relative(res)) == truth).all()
    assert np.abs(relative(res) - truth).max() <= 0.2


def test_motion_method_on_a_jump():
    truth = np.array([0.0, -14.3, 9.6, 3.2])
    cap = make_capture(4, "jump", n_frames=240, rate=60, noise_px=1.0, offsets=truth, seed=4)
    res = sync_by_motion(cap.keypoints2d.data, cap.keypoints2d.keypoints, 60.0, SyncOptions())
    assert np.abs(relative(res) - truth).max() <= 0.3
    assert (res.confidence > 0.8).all()


def test_parabolic_peak_and_resampling():
    x = np.arange(-3, 4, dtype=float)
    y = -(x - 0.3) ** 2
    assert parabolic_peak(y[2], y[3], y[4]) == pytest.approx(0.3)
    t = np.arange(20, dtype=float)
    data = np.zeros((20, 1, 1, 3))
    data[:, 0, 0, 0] = 3 * t
    data[:, 0, 0, 2] = 1
    out = resample_camera(data, 2.5)
    assert np.allclose(out[3:, 0, 0, 0], 3 * (t[3:] - 2.5))
    assert np.isnan(out[:2, 0, 0, 0]).all() and out[2, 0, 0, 0] == 0.0  # half a frame before: nearest frame
    data[7, 0, 0] = np.nan  # a missing neighbour: the nearer frame's value if it exists
    out = resample_camera(data, 2.5)
    assert out[9, 0, 0, 0] == pytest.approx(3 * 6) and out[10, 0, 0, 0] == pytest.approx(3 * 8)
    assert np.allclose(out[[8, 11], 0, 0, 0], 3 * (t[[8, 11]] - 2.5))


def test_detector_3d_keypoints_follow_the_2d_through_resampling():
    """BlazePose's world landmarks (Keypoints2D.data3d) are shifted and blended with the 2D's weights."""
    from mocap3d.keypoints import Keypoints2D
    F, K = 12, 2
    t = np.arange(F, dtype=float)
    data = np.ones((2, F, 1, K, 3))
    data[..., 0] = 10 * t[None, :, None, None]
    d3 = np.ones((2, F, 1, K, 4))
    d3[..., 2] = 0.1 * t[None, :, None, None]                       # z grows 0.1 m per frame
    kp = Keypoints2D(data, ["a", "b"], ["LHip", "RHip"], np.arange(F), 30.0, data3d=d3)
    assert apply_offsets(Keypoints2D(data, ["a", "b"], ["LHip", "RHip"], np.arange(F), 30.0), [0, 2]).data3d is None
    out = apply_offsets(kp, np.array([0.0, 2.5]))
    g = out.frames
    np.testing.assert_allclose(out.data[1, 4:F, 0, 0, 0], 10 * (g[4:F] - 2.5))
    np.testing.assert_allclose(out.data3d[1, 4:F, 0, 0, 2], 0.1 * (g[4:F] - 2.5))
    np.testing.assert_array_equal(np.isnan(out.data3d[..., 2]), np.isnan(out.data[..., 0]))


def test_bad_sync_person_rejected():
    with pytest.raises(ConfigError):
        SyncOptions.from_config({"synchronization": {"sync_person": "tallest"}})
    with pytest.raises(ConfigError):
        SyncOptions.from_config({"synchronization": {"synchronization_method": "audio"}})


def test_synchronized_triangulation_keeps_every_frame_seen_by_two_cameras():
    truth = np.array([0.0, -15.0, 8.0, 12.0])
    cap = make_capture(4, "walking", n_frames=200, rate=60, noise_px=1.0, offsets=truth, trim_frames=20, seed=6)
    kp = cap.keypoints2d
    res = sync_by_calibration(cap.rig, kp.data, 60.0, SyncOptions())
    est = relative(res)
    synced = apply_offsets(kp, est)
    # common frames g seen by each camera: g - offset within its recorded frames
    g = synced.frames
    seen = np.stack([np.isin(np.round(g - truth[c]).astype(int), kp.frames[cap.recorded[c]]) for c in range(4)])
    need = g[seen.sum(0) >= 2]
    out = triangulate_person(cap.rig, synced.data[:, :, 0], synced.keypoints, synced.frames, 60.0,
                             TriangulationOptions())
    assert set(need) <= set(out.frames.tolist())
    T = cap.keypoints3d
    inside = (out.frames >= 0) & (out.frames < 200)
    idx = [T.names.index(n) for n in out.names]
    e = np.linalg.norm(out.points[inside] - T.data[out.frames[inside]][:, idx], axis=-1) * 1000
    assert np.median(e) < 6.0


def test_run_synchronization_then_triangulation(tmp_path):
    from mocap3d.project import discover
    from mocap3d.synthetic.writer import write_capture
    from mocap3d.triangulation import run_triangulation
    from mocap3d.synchronization import run_synchronization
    truth = np.array([0.0, 6.0, -10.0, 3.0])
    cap = make_capture(4, "walking", n_frames=100, rate=60, noise_px=1.0, offsets=truth, seed=7)
    write_capture(cap, tmp_path / "t")
    trial = discover(tmp_path / "t")[0]
    rep = run_synchronization(trial)
    saved = json.loads((tmp_path / "t" / "pose-sync" / "synchronization_report.json").read_text())
    offs = np.array([saved["offsets_frames"][c] for c in cap.rig.names])
    assert (np.round(offs - offs[0]) == truth).all()
    assert rep["method"] == "calibration" and not rep["fell_back_to_no_offsets"]
    check = rep["triangulation_check"]
    assert check["with_offsets"]["observed_px"] < check["without_offsets"]["observed_px"]
    assert 116 <= len(list((tmp_path / "t" / "pose-sync" / "cam01_json").glob("*.json"))) <= 117
    tri = run_triangulation(trial)
    assert tri["input"].endswith("pose-sync")
    assert tri["persons"][0]["n_frames_kept"] >= 100


def test_resampling_never_blends_across_a_left_right_swap():
    t = np.arange(10, dtype=float)
    data = np.zeros((10, 1, 2, 3))
    data[:, 0, 0, 0] = 100 + t   # LWrist
    data[:, 0, 1, 0] = 200 + t   # RWrist
    data[..., 2] = 1
    data[6:, 0, [0, 1]] = data[6:, 0, [1, 0]]  # detector swaps sides from frame 6 on
    out = resample_camera(data, 0.3, pairs=[(0, 1)])
    # frame 6 sits between frames 5 (unswapped) and 6 (swapped): nearer frame 6 (0.3 away), no blend
    assert out[6, 0, 0, 0] == pytest.approx(200 + 6) and out[6, 0, 1, 0] == pytest.approx(100 + 6)
    assert out[4, 0, 0, 0] == pytest.approx(100 + 3.7)  # elsewhere, linear interpolation


def test_intrinsics_only_calibration_is_not_used_for_synchronization(tmp_path):
    """A Calib file whose cameras all sit at the origin (intrinsics only, e.g. before the keypoint
    calibration) is not a calibration: 'auto' synchronizes by motion, 'calibration' says why it cannot."""
    from mocap3d.camera import CameraRig
    from mocap3d.io.calibration_toml import write_calibration
    from mocap3d.project import discover
    from mocap3d.synchronization import has_extrinsics, run_synchronization
    from mocap3d.synthetic.writer import write_capture
    cap = make_capture(3, "jump", n_frames=90, rate=60, noise_px=0.5, seed=2)
    folder = tmp_path / "t"
    write_capture(cap, folder)
    assert has_extrinsics(cap.rig)
    bare = CameraRig([c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in cap.rig])
    assert not has_extrinsics(bare)
    for f in (folder / "calibration").glob("Calib*.toml"):
        f.unlink()
    write_calibration(bare, folder / "calibration" / "Calib_intrinsics.toml")
    rep = run_synchronization(discover(folder)[0])
    assert rep["method"] == "motion" and rep["calibration"] is None
    trial = discover(folder, {"synchronization": {"synchronization_method": "calibration"}})[0]
    with pytest.raises(Mocap3dError, match="same place"):
        run_synchronization(trial)


def test_offsets_that_triangulate_worse_than_none_are_not_applied(tmp_path):
    """Pose2Sim's Demo_MultiPerson failure, synthetic: synchronized cameras, two people, and one person
    detected per camera, the other person in cam03. No lag makes cam03 agree with the others, the lag
    search returns nonsense, and the stage must keep the recording as it is (and say so)."""
    from mocap3d.project import discover
    from mocap3d.synchronization import run_synchronization
    from mocap3d.synthetic.writer import write_capture
    cap = make_capture(4, "walking", n_frames=100, rate=60, noise_px=1.0, offsets=[0, 0, 0, 0],
                       second_person=True, seed=3)
    d = cap.keypoints2d.data                                  # (C, F, 2 persons, K, 3)
    d[2, :, 0] = d[2, :, 1]                                   # cam03 detects the other person only
    d[:, :, 1] = np.nan
    write_capture(cap, tmp_path / "t")
    rep = run_synchronization(discover(tmp_path / "t")[0])
    found, none = rep["triangulation_check"]["with_offsets"], rep["triangulation_check"]["without_offsets"]
    assert found["observed_px"] > 2 * none["observed_px"] and none["observed_px"] < 2.5
    assert rep["fell_back_to_no_offsets"] and set(rep["offsets_frames"].values()) == {0.0}
    saved = json.loads((tmp_path / "t" / "pose-sync" / "synchronization_report.json").read_text())
    assert saved["fell_back_to_no_offsets"] and set(saved["offsets_frames"].values()) == {0.0}
