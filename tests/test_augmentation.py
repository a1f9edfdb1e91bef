"""LSTM marker augmentation: the published preprocessing, keypoint mapping, weights sources, accuracy on a synthetic capture."""
import shutil

import numpy as np
import pytest

from mocap3d.augmentation import (LOWER, UPPER, Augmenter, augment, augmentation_inputs, cache_dir, estimate_height,
                                  feet_on_floor, load_augmenters, missing_keypoints, resolve_model_dirs,
                                  run_augmentation)
from mocap3d.errors import ConfigError, Mocap3dError
from mocap3d.markers import Markers3D
from mocap3d.project import Trial

HALPE = ["Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
         "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "Head", "Neck", "Hip", "LBigToe", "RBigToe",
         "LSmallToe", "RSmallToe", "LHeel", "RHeel"]


def _random_keypoints(names, frames=20, seed=0):
    rng = np.random.default_rng(seed)
    return Markers3D(rng.normal(0, 0.3, (frames, len(names), 3)) + [0, 1, 0], names, 60.0)


class _RecordingSession:
    """Stands in for onnxruntime: records the input, returns a known output."""

    def __init__(self, n_out, value):
        self.n_out, self.value, self.inputs = n_out, value, None

    def run(self, names, feeds):
        assert names == ["output_0"] and list(feeds) == ["inputs"]
        self.inputs = feeds["inputs"]
        F = self.inputs.shape[1]
        return [np.broadcast_to(self.value(F), (1, F, 3 * self.n_out)).astype(np.float32)]


def _fake(spec, value=lambda F: np.zeros(1)):
    D = 3 * len(spec.features) + 2
    mean, std = np.linspace(-0.1, 0.1, D), np.linspace(0.5, 2.0, D)
    return Augmenter(spec, mean, std, _RecordingSession(len(spec.responses), value))


def test_inputs_and_outputs_follow_the_published_recipe():
    kp = _random_keypoints(HALPE)
    model = _fake(LOWER, lambda F: np.tile([0.1, 0.2, -0.3], len(LOWER.responses)))
    out, info = augment(kp, 1.8, 65.0, {"lower": model})
    mid = (kp["RHip"] + kp["LHip"]) / 2                               # reference: midpoint of the hips
    feats = np.stack([kp[n] for n in LOWER.features], 1)              # published order
    expected = np.concatenate([((feats - mid[:, None]) / 1.8).reshape(20, -1),
                               np.full((20, 1), 1.8), np.full((20, 1), 65.0)], 1)
    expected = (expected - model.mean) / model.std
    np.testing.assert_allclose(model.session.inputs[0], expected, rtol=1e-5, atol=1e-5)
    assert model.session.inputs.shape == (1, 20, 47) and model.session.inputs.dtype == np.float32
    # outputs: times height, plus the reference point; inputs kept first, responses appended in order
    assert out.names == HALPE + list(LOWER.responses) and info["ran"] == ["lower"]
    np.testing.assert_allclose(out["r.ASIS_study"], mid + 1.8 * np.array([0.1, 0.2, -0.3]), atol=1e-6)


def test_skeleton_mapping_and_missing_keypoints_are_named():
    coco17 = [n for n in HALPE[:17]]
    kp = _random_keypoints(coco17)
    assert missing_keypoints(kp, LOWER) == ["RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe"]
    assert missing_keypoints(kp, UPPER) == []          # Neck = mid-shoulders
    out, info = augment(kp, 1.7, 70.0, {"lower": _fake(LOWER), "upper": _fake(UPPER)})
    assert info["ran"] == ["upper"] and "RHeel" in info["skipped"]["lower"]
    assert out.names[-8:] == list(UPPER.responses)
    blaze = _random_keypoints(["LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist", "LHip", "RHip",
                               "LKnee", "RKnee", "LAnkle", "RAnkle", "LHeel", "RHeel", "LFootIndex", "RFootIndex"])
    assert missing_keypoints(blaze, LOWER) == ["RSmallToe", "LSmallToe"]   # FootIndex serves as BigToe
    with pytest.raises(Mocap3dError, match="RSmallToe"):
        augment(blaze, 1.7, 70.0, {"lower": _fake(LOWER)})
    up = _fake(UPPER)
    augment(kp, 1.7, 70.0, {"upper": up})
    neck = (kp["RShoulder"] + kp["LShoulder"]) / 2
    mid = (kp["RHip"] + kp["LHip"]) / 2
    np.testing.assert_allclose(up.session.inputs[0, :, :3], (((neck - mid) / 1.7) - up.mean[:3]) / up.std[:3], atol=1e-5)


def test_nan_frames_come_out_nan_and_bad_participants_are_refused():
    kp = _random_keypoints(HALPE)
    kp.data[5:8, HALPE.index("RKnee")] = np.nan
    out, info = augment(kp, 1.7, 70.0, {"lower": _fake(LOWER), "upper": _fake(UPPER)})
    lower = [out.names.index(n) for n in LOWER.responses]
    upper = [out.names.index(n) for n in UPPER.responses]
    assert np.isnan(out.data[5:8][:, lower]).all() and np.isfinite(out.data[5:8][:, upper]).all()
    assert np.isfinite(np.delete(out.data[:, lower], [5, 6, 7], axis=0)).all() and info["nan_frames"] == 3
    with pytest.raises(Mocap3dError, match="height"):
        augment(kp, 170.0, 70.0, {"lower": _fake(LOWER)})


def test_feet_on_floor_puts_the_lowest_marker_at_1cm():
    kp = _random_keypoints(HALPE)
    out, _ = augment(kp, 1.7, 70.0, {"lower": _fake(LOWER, lambda F: np.tile([0, -0.55, 0], 35))})
    moved, shift = feet_on_floor(out)
    study = [i for i, n in enumerate(moved.names) if n.endswith("_study")]
    assert np.nanmin(moved.data[:, study, 1]) == pytest.approx(0.01)
    np.testing.assert_allclose(moved.data[..., 1] - out.data[..., 1], shift)


def test_height_estimate_on_synthetic_keypoints():
    from mocap3d.synthetic import make_capture
    cap = make_capture(2, "walking", n_frames=60, rate=60, height=1.68, seed=1)
    assert estimate_height(cap.keypoints3d) == pytest.approx(1.68, rel=0.03)
    legs_only = cap.keypoints3d.select([n for n in cap.keypoints3d.names if n not in ("Head", "Nose")])
    assert estimate_height(legs_only) == pytest.approx(1.68, rel=0.05)     # Winter: hip height = 0.530 stature


def test_resolver_order_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCAP3D_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(Mocap3dError, match="downloads disabled"):
        resolve_model_dirs({"allow_download": False})
    with pytest.raises(ConfigError, match="model_dir"):
        resolve_model_dirs({"model_dir": str(tmp_path)})
    user = tmp_path / "MarkerAugmenter" / "LSTM"
    for part in ("lower", "upper"):
        (user / f"v0.3_{part}").mkdir(parents=True)
        for f in ("model.onnx", "mean.npy", "std.npy"):
            (user / f"v0.3_{part}" / f).write_bytes(b"x")
    found = resolve_model_dirs({"model_dir": str(tmp_path / "MarkerAugmenter")})
    assert found == {p: user / f"v0.3_{p}" for p in ("lower", "upper")}
    # a cache whose files do not match the published hashes is not trusted
    shutil.copytree(user, tmp_path / "empty_cache" / "lstm")
    with pytest.raises(Mocap3dError):
        resolve_model_dirs({"allow_download": False})


# ---------------------------------------------------------------- with the published weights
@pytest.fixture(scope="module")
def models():
    """The real models: user cache, else public URL / PyPI (CI); skipped only when no source is reachable."""
    try:
        return load_augmenters({})
    except Mocap3dError as exc:
        pytest.skip(f"LSTM v0.3 weights unavailable (not in {cache_dir()}, public URL and PyPI unreachable): {exc}")


def test_published_models_have_the_documented_shapes(models):
    for part, spec in (("lower", LOWER), ("upper", UPPER)):
        m = models[part]
        assert m.mean.shape == (3 * len(spec.features) + 2,)
        (inp,), (out,) = m.session.get_inputs(), m.session.get_outputs()
        assert (inp.name, inp.shape[-1], out.name, out.shape[-1]) == ("inputs", m.mean.shape[0], "output_0",
                                                                     3 * len(spec.responses))
        # height and mass features were standardized around an adult population
        assert 1.5 < m.mean[-2] < 1.9 and 55 < m.mean[-1] < 85
    assert len(LOWER.responses) + len(UPPER.responses) == 43


#: Technical cluster markers and virtual joint centres: their placement is a lab's choice, not anatomy.
TECHNICAL = ("thigh1", "thigh2", "thigh3", "sh1", "sh2", "sh3", "HJC")


@pytest.fixture(scope="module")
def synthetic_result(models):
    from mocap3d.synthetic import make_capture
    cap = make_capture(2, "walking", n_frames=180, rate=60, seed=0)
    out, info = augment(cap.keypoints3d, cap.height[0], 70.0, models)
    names = [n for n in LOWER.responses + UPPER.responses if n in cap.markers.names]
    err = out.select(names).data - cap.markers.select(names).data          # (F, M, 3) m
    return err, names, info


def test_augmented_markers_follow_the_true_motion(synthetic_result):
    err, names, info = synthetic_result
    assert info["ran"] == ["lower", "upper"] and len(names) == 43
    dynamic = np.linalg.norm(err - err.mean(0), axis=2)                    # error once each marker's bias is removed
    print(f"dynamic error {1000 * dynamic.mean():.1f} mm over {len(names)} markers")
    assert dynamic.mean() < 0.020


def test_anatomical_markers_match_the_model_markers_within_25mm(synthetic_result):
    err, names, _ = synthetic_result
    dist = np.linalg.norm(err, axis=2).mean(axis=0)                        # (M,) mean error per marker
    anatomical = np.array([not any(t in n for t in TECHNICAL) for n in names])
    print(f"mean error: {1000 * dist[anatomical].mean():.1f} mm over {anatomical.sum()} anatomical markers, "
          f"{1000 * dist.mean():.1f} mm over all {len(names)}")
    assert anatomical.sum() == 29
    assert dist[anatomical].mean() <= 0.025


def test_run_augmentation_writes_lstm_trc(tmp_path, models):
    from mocap3d.io.trc import read_trc, write_trc
    from mocap3d.synthetic import make_capture
    cap = make_capture(2, "squat", n_frames=40, rate=60, height=1.8, seed=2)
    pose3d = tmp_path / "pose-3d"
    write_trc(cap.keypoints3d, pose3d / "trial_0-40.trc")
    write_trc(cap.keypoints3d, pose3d / "trial_0-40_filt_butterworth.trc")
    assert augmentation_inputs(pose3d) == [pose3d / "trial_0-40_filt_butterworth.trc"]
    config = {"project": {"participant_height": "auto", "participant_mass": [82.0]},
              "markerAugmentation": {"feet_on_floor": True, "make_c3d": True}}
    report = run_augmentation(Trial(tmp_path, tmp_path, config))
    (entry,) = report["files"]
    assert entry["output"] == "trial_0-40_filt_butterworth_LSTM.trc" and entry["mass_kg"] == 82.0
    assert entry["height_source"] == "estimated" and entry["height_m"] == pytest.approx(1.8, rel=0.03)
    out = read_trc(pose3d / entry["output"])
    assert len(out.names) == len(cap.keypoints3d.names) + 43 and out.n_frames == 40
    study = [i for i, n in enumerate(out.names) if n.endswith("_study")]
    assert np.nanmin(out.data[:, study, 1]) == pytest.approx(0.01, abs=1e-6)
    assert (pose3d / "trial_0-40_filt_butterworth_LSTM.c3d").is_file()
    assert (pose3d / "augmentation_report.json").is_file()
