"""BlazePose's lite / full / heavy landmark models: selection, fetching from the npm tarball (a fake one, offline),
caching, offline errors, and the converted lite and heavy models against TFLite's interpreter when their files are
already on this machine."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mocap3d.errors import ConfigError, FileFormatError, Mocap3dError
from mocap3d.pose import blazepose_models as bm

REF = Path(__file__).parent / "data" / "tflite_reference_npm.npz"
FAKE = {"lite": b"fake lite model " * 10, "full": b"fake full model " * 20, "heavy": b"fake heavy model " * 40}


def make_tgz(path: Path, members: dict[str, bytes]) -> Path:
    """A gzipped tarball holding ``package/<name>`` for each member."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_npm(tmp_path, monkeypatch) -> str:
    """A fake @mediapipe/pose tarball as a file:// URL; the module's checksums are the fake files' ones."""
    tgz = make_tgz(tmp_path / "pose-0.5.tgz", {bm.file_name(v): d for v, d in FAKE.items()} | {"README.md": b"x"})
    monkeypatch.setattr(bm, "NPM_SHA256", hashlib.sha256(tgz.read_bytes()).hexdigest())
    monkeypatch.setattr(bm, "MODEL_SHA256", {v: hashlib.sha256(d).hexdigest() for v, d in FAKE.items()})
    monkeypatch.setenv("MOCAP3D_MODEL_DIR", str(tmp_path / "models"))
    return tgz.as_uri()


def test_heavy_is_fetched_checked_cached_and_reused(fake_npm, tmp_path):
    path = bm.landmark_tflite("heavy", url=fake_npm)
    assert path == tmp_path / "models" / "pose_landmark_heavy.tflite" and path.read_bytes() == FAKE["heavy"]
    # the lite model of the same tarball is kept too, the tarball itself is not; no temporary file left
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["pose_landmark_heavy.tflite",
                                                                       "pose_landmark_lite.tflite"]
    stamp = path.stat().st_mtime_ns
    gone = (tmp_path / "nowhere.tgz").as_uri()                      # no second download: the cache answers
    assert bm.landmark_tflite("HEAVY", url=gone) == path and path.stat().st_mtime_ns == stamp
    assert bm.landmark_tflite("lite", url=gone).read_bytes() == FAKE["lite"]


def test_a_corrupted_cached_copy_is_fetched_again(fake_npm, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pose_landmark_heavy.tflite").write_bytes(b"truncated")
    assert bm.landmark_tflite("heavy", url=fake_npm).read_bytes() == FAKE["heavy"]


def test_offline_error_is_one_line_naming_the_url_and_the_way_out(fake_npm, tmp_path):
    for url in ((tmp_path / "missing.tgz").as_uri(), "http://127.0.0.1:9/pose.tgz"):   # no file; port closed
        with pytest.raises(Mocap3dError) as err:
            bm.landmark_tflite("heavy", url=url, timeout=5)
        msg = str(err.value)
        assert "\n" not in msg and url in msg and "blazepose_model_file" in msg and "npm pack" in msg
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_a_tarball_with_another_checksum_is_refused_and_not_kept(fake_npm, tmp_path, monkeypatch):
    monkeypatch.setattr(bm, "NPM_SHA256", "0" * 64)
    with pytest.raises(Mocap3dError, match="SHA-256") as err:
        bm.landmark_tflite("heavy", url=fake_npm)
    assert fake_npm in str(err.value)
    assert not list((tmp_path / "models").iterdir())


def test_offline_file_given_by_hand(fake_npm, tmp_path):
    tgz = Path(fake_npm.removeprefix("file://"))
    # the npm tarball: its model goes to the cache
    assert bm.landmark_tflite("heavy", local=tgz).read_bytes() == FAKE["heavy"]
    # a .tflite is used where it is, whatever its checksum
    own = tmp_path / "my_heavy.tflite"
    own.write_bytes(b"another version")
    assert bm.landmark_tflite("heavy", local=own) == own
    with pytest.raises(Mocap3dError, match="not found"):
        bm.landmark_tflite("heavy", local=tmp_path / "absent.tflite")
    # the tarball given again: the cached copy, right, is not written again
    stamp = (tmp_path / "models" / "pose_landmark_heavy.tflite").stat().st_mtime_ns
    assert bm.landmark_tflite("heavy", local=tgz).stat().st_mtime_ns == stamp
    # a tarball without the model, or with another file under its name
    for p in (tmp_path / "models").iterdir():
        p.unlink()
    bad = make_tgz(tmp_path / "other.tgz", {"pose_landmark_lite.tflite": b"not the lite model"})
    with pytest.raises(Mocap3dError, match="no package/pose_landmark_heavy.tflite"):
        bm.landmark_tflite("heavy", local=bad)
    with pytest.raises(Mocap3dError, match="another @mediapipe/pose version"):
        bm.landmark_tflite("lite", local=bad)


def test_full_comes_from_the_mediapipe_wheel_and_unknown_names_are_refused(fake_npm, monkeypatch):
    from mocap3d.pose import blazepose_onnx
    wheel = blazepose_onnx.mediapipe_model("pose_landmark_full.tflite")
    if wheel is not None:
        assert bm.landmark_tflite("full", url="file:///nowhere") == wheel
    monkeypatch.setattr(blazepose_onnx, "mediapipe_model", lambda name: None)   # no mediapipe: npm's copy
    assert bm.landmark_tflite("full", url=fake_npm).read_bytes() == FAKE["full"]
    with pytest.raises(ConfigError, match="blazepose_model"):
        bm.landmark_tflite("medium")


def test_pose_stage_selects_the_configured_model(fake_npm, tmp_path, monkeypatch):
    """[pose] blazepose_model reaches the estimator (a stand-in records its model), the runtime is checked,
    and a model that cannot be had is an error, not a silent fall-back to the full model."""
    from mocap3d.config import default_config
    from mocap3d.pose import blazepose_onnx, make_estimator, model_of
    cfg = dict(default_config()["pose"])
    assert cfg["blazepose_model"] == "full" and cfg["blazepose_model_file"] == ""
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(FileFormatError, match="junk.tflite"):      # the converter's error reaches the user
        make_estimator(cfg | {"blazepose_model": "heavy", "blazepose_model_file": str(junk)})

    class Recorder:
        def __init__(self, model=None, **kw):
            self.model_name = Path(model).name if model else "pose_landmark_full.tflite"
            self.model = model

    monkeypatch.setattr(blazepose_onnx, "BlazePoseOnnx", Recorder)
    monkeypatch.setattr(bm, "NPM_URL", fake_npm)
    est, _, multi = make_estimator(cfg | {"blazepose_model": "heavy"})
    assert not multi and Path(est.model).read_bytes() == FAKE["heavy"]
    assert model_of(est) == "pose_landmark_heavy.tflite"
    for bad in ({"blazepose_runtime": "mediapipe"}, {"max_image_side": 640}):
        with pytest.raises(ConfigError, match="onnxruntime only"):
            make_estimator(cfg | {"blazepose_model": "lite"} | bad)
    Path(est.model).unlink()
    monkeypatch.setattr(bm, "NPM_URL", (tmp_path / "nowhere.tgz").as_uri())
    with pytest.raises(Mocap3dError, match="nowhere.tgz"):
        make_estimator(cfg | {"blazepose_model": "heavy"})


# ----------------------------------------------------------------------------- the real lite and heavy models
def npm_model(variant: str) -> Path:
    """The real ``pose_landmark_<variant>.tflite`` if this machine already has it in the model cache, else skip."""
    path = bm.model_dir() / bm.file_name(variant)
    if not path.is_file() or bm.sha256(path) != bm.MODEL_SHA256[variant]:
        pytest.skip(f"{path} not here (fetched by the first run with pose.blazepose_model = '{variant}')")
    return path


@pytest.mark.parametrize("variant", ["lite", "heavy"])
def test_converted_npm_model_matches_tflite(variant):
    """Converted lite / heavy landmark models against ai-edge-litert's reference kernels (tests/data)."""
    import onnx
    from test_tflite_onnx import io_signature, model_input, run

    from mocap3d.pose.blazepose_onnx import OUTPUTS
    from mocap3d.pose.tflite_onnx import convert_tflite
    ref = dict(np.load(REF))
    model = convert_tflite(npm_model(variant), list(OUTPUTS))
    onnx.checker.check_model(model)
    assert io_signature(model) == {"input_1": [1, 256, 256, 3], "Identity": [1, 195], "Identity_1": [1, 1],
                                   "Identity_3": [1, 64, 64, 39], "Identity_4": [1, 117]}
    out = run(model, {"input_1": model_input(256, ref)})
    # summation order only: landmark px (range +-300) within 2e-3 px, heatmap logits within 5e-3, world m 1e-4
    np.testing.assert_allclose(out["Identity"], ref[f"{variant}_Identity"], rtol=2e-5, atol=2e-3)
    np.testing.assert_allclose(out["Identity_1"], ref[f"{variant}_Identity_1"], rtol=0, atol=1e-5)
    heat = out["Identity_3"][0]
    np.testing.assert_allclose(heat[8::16, 8::16, :], ref[f"{variant}_heat_grid"], rtol=0, atol=5e-3)
    np.testing.assert_allclose(heat.max(axis=(0, 1)), ref[f"{variant}_heat_max"], rtol=0, atol=5e-3)
    np.testing.assert_allclose(out["Identity_4"], ref[f"{variant}_Identity_4"], rtol=0, atol=1e-4)


def test_pose_report_names_the_heavy_model(tmp_path, monkeypatch):
    """A short video through the pose stage with blazepose_model = 'heavy': keypoints on the person, the
    report names the model."""
    pytest.importorskip("cv2")
    heavy = npm_model("heavy")
    from test_pose import _assert_on_grace_hopper, _has_mediapipe, _photo, _write_video
    if _has_mediapipe():
        pytest.skip(_has_mediapipe())
    from mocap3d.config import default_config
    from mocap3d.pose import run_pose
    from mocap3d.project import Trial
    monkeypatch.setenv("MOCAP3D_MODEL_DIR", str(tmp_path / "models"))
    (tmp_path / "videos").mkdir()
    _write_video(tmp_path / "videos" / "cam01.mp4", [_photo()] * 2)
    cfg = default_config()
    cfg["pose"].update(parallel_workers_pose=1, blazepose_model="heavy", blazepose_model_file=str(heavy))
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    on_disk = json.loads((tmp_path / "pose" / "pose_report.json").read_text())
    assert on_disk["landmark_model"] == "pose_landmark_heavy.tflite" == report["cameras"][0]["landmark_model"]
    from mocap3d.io.openpose import read_openpose_folders
    from mocap3d.skeletons import BLAZEPOSE
    kp = read_openpose_folders(tmp_path / "pose", skeleton=BLAZEPOSE, rate=25.0)
    for f in range(2):
        _assert_on_grace_hopper(kp.data[0, f, 0], tol=10)
