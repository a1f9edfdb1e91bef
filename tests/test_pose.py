"""Pose stage: frame sources, BlazePose on a real photograph, run_pose writing OpenPose JSON."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
import matplotlib  # noqa: E402

from mocap3d.config import default_config  # noqa: E402
from mocap3d.errors import ConfigError, Mocap3dError  # noqa: E402
from mocap3d.pose import filter_persons, n_workers, run_pose, skeleton_of  # noqa: E402
from mocap3d.pose.video import FrameSource, list_inputs, rotate_image  # noqa: E402
from mocap3d.project import Trial  # noqa: E402
from mocap3d.skeletons import BLAZEPOSE  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
K = {n: i for i, n in enumerate(BLAZEPOSE.names)}


def _has_mediapipe() -> str | None:
    try:
        import mediapipe as mp
        _ = mp.solutions.pose
    except Exception as exc:  # noqa: BLE001
        return f"mediapipe not importable ({type(exc).__name__}: {exc}); pip install mocap3d[video]"
    return None


needs_mediapipe = pytest.mark.skipif(_has_mediapipe() is not None, reason=str(_has_mediapipe()))
needs_photo = pytest.mark.skipif(not PHOTO.is_file(), reason=f"matplotlib sample photograph missing: {PHOTO}")


def _photo() -> np.ndarray:
    img = cv2.imread(str(PHOTO))
    assert img is not None and img.shape == (600, 512, 3)
    return img


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened(), f"cv2 cannot write {path}"
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def _shifted(img: np.ndarray, dx: int) -> np.ndarray:
    """The photo translated right by dx px (edge pixels repeated)."""
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def _assert_on_grace_hopper(kp: np.ndarray, dx: float = 0.0, tol: float = 0.0) -> None:
    """Keypoints (33, 3) on the photograph, whose face spans x 180-350, y 130-330 px and whose
    shoulders meet the bottom image corners near y 420 px (she faces the camera: her left is image right)."""
    x, y, c = kp[:, 0] - dx, kp[:, 1], kp[:, 2]
    for name in ("Nose", "LEye", "REye", "LEar", "REar", "LMouth", "RMouth"):
        i = K[name]
        assert 180 - tol < x[i] < 350 + tol and 130 - tol < y[i] < 330 + tol, (name, x[i], y[i])
        assert c[i] > 0.9, (name, c[i])
    for name in ("LShoulder", "RShoulder"):
        i = K[name]
        assert 360 < y[i] < 520 and -20 < x[i] < 532 and c[i] > 0.9, (name, x[i], y[i], c[i])
    assert y[K["LEye"]] < y[K["Nose"]] < y[K["LMouth"]] < y[K["LShoulder"]]
    assert y[K["REye"]] < y[K["Nose"]] < y[K["RMouth"]] < y[K["RShoulder"]]
    # Left/right as the subject sees them: her left side is on the image's right.
    for left, right in (("LShoulder", "RShoulder"), ("LEye", "REye"), ("LEar", "REar"), ("LMouth", "RMouth")):
        assert x[K[left]] > x[K[right]], (left, right)
    assert x[K["RShoulder"]] < x[K["Nose"]] < x[K["LShoulder"]]
    # Hips are below the frame: BlazePose must not claim them visible.
    assert c[K["LHip"]] < 0.5 and c[K["RHip"]] < 0.5
    assert y[K["LHip"]] > 600 and y[K["RHip"]] > 600


# ----------------------------------------------------------------------------- frame sources
def test_rotate_image_turns_clockwise():
    img = np.zeros((2, 3), np.uint8)
    img[0, 2] = 255  # top-right
    r = rotate_image(img, 90)
    assert r.shape == (3, 2) and r[2, 1] == 255  # top-right -> bottom-right after 90 deg clockwise
    assert np.array_equal(rotate_image(rotate_image(img, 90), 270), img)
    assert np.array_equal(rotate_image(img, 180), img[::-1, ::-1])
    with pytest.raises(ConfigError):
        rotate_image(img, 45)


def test_video_frame_source_fps_count_range_and_rotation(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(8)]
    for f, i in zip(frames, range(8)):
        f[:8, :8] = 255  # a white top-left corner to follow the rotation
    v = _write_video(tmp_path / "cam1.avi", frames, fps=25.0, fourcc="MJPG")
    src = FrameSource(v)
    assert src.fps == pytest.approx(25.0) and src.n_total == 8 and src.size == (64, 48)
    got = list(src)
    assert [i for i, _ in got] == list(range(8))
    assert [round(float(img[20:40, 20:40].mean()) / 20) for _, img in got] == list(range(8))
    sub = FrameSource(v, frame_range=[2, 5])
    assert [i for i, _ in sub] == [2, 3, 4]
    rot = FrameSource(v, rotate=90)
    assert rot.size == (48, 64)
    _, img = next(iter(rot))
    assert img[:8, -8:].mean() > 200 and img[-8:, :8].mean() < 100  # top-left corner went top-right


def test_image_folder_source_and_inputs(tmp_path):
    folder = tmp_path / "videos" / "camB"
    folder.mkdir(parents=True)
    for i in (10, 2, 1):  # natural order: 1, 2, 10
        cv2.imwrite(str(folder / f"img_{i}.png"), np.full((10, 12, 3), i, np.uint8))
    _write_video(tmp_path / "videos" / "camA.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2)
    (tmp_path / "videos" / "notes.txt").write_text("x")
    assert [p.name for p in list_inputs(tmp_path / "videos")] == ["camA.mp4", "camB"]
    src = FrameSource(folder, default_fps=50)
    assert src.fps == 50 and src.n_total == 3 and src.size == (12, 10)
    assert [int(img[0, 0, 0]) for _, img in src] == [1, 2, 10]
    with pytest.raises(Mocap3dError, match="videos folder not found"):
        list_inputs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Mocap3dError, match="no video"):
        list_inputs(tmp_path / "empty")


# ----------------------------------------------------------------------------- core helpers
def test_filter_persons_by_mean_of_good_keypoints():
    p = np.zeros((3, 4, 3))
    p[0, :, 2] = [0.9, 0.8, 0.1, 0.0]   # good ones average 0.85 -> kept
    p[1, :, 2] = [0.4, 0.35, 0.3, 0.2]  # good ones average 0.35 -> dropped
    p[2, :, 2] = [0.1, 0.2, 0.0, 0.0]   # no good keypoint -> dropped
    kept = filter_persons(p, 0.5, 0.3)
    assert len(kept) == 1 and np.array_equal(kept[0], p[0])
    assert len(filter_persons(p, 0.3, 0.3)) == 2


def test_worker_count_and_model_choice():
    assert n_workers("auto", 1) == 1 and n_workers(False, 5) == 1 and n_workers(3, 2) == 2
    assert n_workers("auto", 64) == os.cpu_count()
    with pytest.raises(ConfigError):
        n_workers("many", 2)
    assert skeleton_of({}) is BLAZEPOSE and skeleton_of({"pose_model": "mediapipe"}) is BLAZEPOSE
    assert skeleton_of({"pose_model": "Body_with_feet"}).name == "HALPE_26"
    assert default_config()["pose"]["pose_model"] == "BLAZEPOSE"


# ----------------------------------------------------------------------------- BlazePose
@needs_mediapipe
@needs_photo
def test_blazepose_keypoints_land_on_the_person_in_the_photograph():
    from mocap3d.pose.blazepose import BlazePose
    img = _photo()
    with BlazePose(max_side=640, static=True) as est:
        kp = est(img)
    assert kp.shape == (1, 33, 3)
    _assert_on_grace_hopper(kp[0])
    # A frame 3x larger is shrunk to 640 px for inference and the keypoints come back in its pixels.
    big = cv2.resize(img, (512 * 3, 600 * 3), interpolation=cv2.INTER_CUBIC)
    with BlazePose(max_side=640, static=True) as est:
        kb = est(big)[0]
    face = [K[n] for n in ("Nose", "LEye", "REye", "LShoulder", "RShoulder")]
    assert np.abs(kb[face, :2] / 3 - kp[0, face, :2]).max() < 8.0  # BlazePose noise; a wrong scale is 100s of px


@needs_mediapipe
@needs_photo
def test_run_pose_on_videos_image_folder_and_portrait_video(tmp_path):
    from mocap3d.io.openpose import read_openpose_folders
    img = _photo()
    videos = tmp_path / "videos"
    videos.mkdir()
    shifts = [0, 8, 16, 24]
    _write_video(videos / "cam01.mp4", [_shifted(img, d) for d in shifts], fps=25.0)
    # A phone held sideways: the stored frames are the scene turned 90 deg counter-clockwise.
    _write_video(videos / "cam02.avi", [rotate_image(img, 270)] * 3, fps=30.0, fourcc="MJPG")
    (videos / "cam03").mkdir()
    for i in range(2):
        cv2.imwrite(str(videos / "cam03" / f"frame_{i:03d}.jpg"), img)
    cfg = default_config()
    cfg["pose"].update(parallel_workers_pose=1, save_video="to_video")
    cfg["pose"]["rotate"] = 0
    trial = Trial(tmp_path, tmp_path, cfg)
    # cam02 needs rotate = 90 to be upright; run it on its own config first to check the manual rotation.
    cfg_rot = default_config()
    cfg_rot["pose"].update(parallel_workers_pose=1, rotate=90)
    from mocap3d.pose import estimate_camera
    r2 = estimate_camera(videos / "cam02.avi", tmp_path / "pose", cfg_rot["pose"])
    assert r2["size"] == [512, 600] and r2["fps"] == pytest.approx(30.0)
    report = run_pose(trial)
    assert report["skipped_cameras"] == ["cam02"]  # already done above
    by_cam = {c["camera"]: c for c in report["cameras"]}
    assert by_cam["cam01"]["frames"] == 4 and by_cam["cam01"]["frames_with_detection"] == 4
    assert by_cam["cam01"]["fps"] == pytest.approx(25.0) and by_cam["cam03"]["frames"] == 2
    assert 0.3 < by_cam["cam01"]["mean_confidence"] <= 1.0
    assert (tmp_path / "pose" / "cam01_pose.mp4").stat().st_size > 1000
    on_disk = json.loads((tmp_path / "pose" / "pose_report.json").read_text())
    assert on_disk["pose_model"] == "BLAZEPOSE"
    assert on_disk["backend"] == "onnxruntime" and by_cam["cam01"]["backend"] == "onnxruntime"
    assert on_disk["landmark_model"] == "pose_landmark_full.tflite" == by_cam["cam01"]["landmark_model"]

    kp = read_openpose_folders(tmp_path / "pose", skeleton=BLAZEPOSE, rate=25.0)
    assert kp.cameras == ["cam01", "cam02", "cam03"] and kp.data.shape[2:] == (1, 33, 3)
    # BlazePose's world landmarks are kept (pose_keypoints_3d): metres, upright in every camera (y down)
    assert kp.data3d is not None and np.isfinite(kp.data3d[:, :2]).all()
    np.testing.assert_array_equal(kp.data3d[..., 3], kp.data[..., 2])
    assert (kp.data3d[:, :2, 0, K["Nose"], 1] < kp.data3d[:, :2, 0, K["LHip"], 1] - 0.3).all()
    c1 = kp.data[0, :4, 0]
    for f, d in enumerate(shifts):
        _assert_on_grace_hopper(c1[f], dx=d, tol=10)
    # The face follows the 24 px shift from first to last frame. BlazePose jitters between frames,
    # even on identical images, as its crop moves: here the hips are far below the frame, so its
    # crop is ~2000 px wide and one pixel of the model's 256 px input is 8 image px (over 8 shifted
    # copies of the photo the mean face height ranged 221-229 px with mediapipe's graph, 222-228 px
    # on onnxruntime).
    face = [K[n] for n in ("Nose", "LEye", "REye", "LEar", "REar", "LMouth", "RMouth")]
    assert np.median(c1[3, face, 0] - c1[0, face, 0]) == pytest.approx(24, abs=8)
    dy = np.abs(c1[3, face, 1] - c1[0, face, 1])
    assert np.median(dy) < 12 and dy.max() < 16, dy
    for cam in (1, 2):  # the rotated portrait video and the image folder, upright
        for f in range(2):
            _assert_on_grace_hopper(kp.data[cam, f, 0], tol=10)

    # frame_range and overwrite_pose: only cam01 frames 1..2 recomputed when overwriting.
    cfg["pose"].update(overwrite_pose=True, save_video="none")
    cfg["project"]["frame_range"] = [1, 3]
    (videos / "cam02.avi").unlink()
    import shutil
    shutil.rmtree(videos / "cam03")
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert [c["frames"] for c in report["cameras"]] == [2]
    names = sorted(os.listdir(tmp_path / "pose" / "cam01_json"))
    assert names == ["cam01_000001.json", "cam01_000002.json"]


def test_run_pose_without_videos_keeps_existing_json_or_says_what_is_missing(tmp_path):
    cfg = default_config()
    with pytest.raises(Mocap3dError, match="videos folder not found"):
        run_pose(Trial(tmp_path, tmp_path, cfg))
    cam = tmp_path / "pose" / "cam1_json"
    cam.mkdir(parents=True)
    (cam / "cam1_000000.json").write_text('{"version": 1.3, "people": []}')
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert report["cameras"] == [] and "no videos" in report["skipped"]
    assert (cam / "cam1_000000.json").read_text() == '{"version": 1.3, "people": []}'


def test_prefetch_yields_everything_in_order_and_reraises_errors():
    from mocap3d.pose.video import prefetch
    assert list(prefetch(((i, np.full(2, i)) for i in range(50)), depth=3))[-1][0] == 49
    assert [i for i, _ in prefetch(iter([(i, None) for i in range(7)]), depth=2)] == list(range(7))

    def broken():
        yield 0, None
        raise ValueError("bad frame 1")
    with pytest.raises(ValueError, match="bad frame 1"):
        list(prefetch(broken()))
    it = prefetch((i, None) for i in range(1000))
    next(it)
    it.close()  # stopping early does not hang


def _constant_detector(path: Path, dets: np.ndarray) -> Path:
    """A detector graph with the mmdeploy end2end signature whose boxes are constants."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], keepdims=0), helper.make_node("Mul", ["m", "zero"], ["z"]),
             helper.make_node("Add", ["d", "z"], ["dets"]), helper.make_node("Identity", ["l"], ["labels"])]
    graph = helper.make_graph(
        nodes, "det", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, list(dets.shape)),
         helper.make_tensor_value_info("labels", TensorProto.INT64, list(dets.shape[:2]))],
        [numpy_helper.from_array(np.array(0, np.float32), "zero"), numpy_helper.from_array(dets.astype(np.float32), "d"),
         numpy_helper.from_array(np.zeros(dets.shape[:2], np.int64), "l")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@needs_mediapipe
@needs_photo
def test_multi_person_blazepose_locates_people_then_runs_per_person(tmp_path):
    pytest.importorskip("onnxruntime")
    img = _photo()
    two = np.concatenate([img, img[:, ::-1]], axis=1)  # 1024 x 600: the photo and its mirror image
    # Detector canvas 640x640 holds the frame at ratio 0.625: the halves are [0, 320] and [320, 640].
    det = _constant_detector(tmp_path / "det.onnx", np.array([[[330, 10, 630, 370, 0.9], [10, 10, 310, 370, 0.8]]]))
    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / "cam1.avi", [two] * 3, fps=30.0, fourcc="MJPG")
    cfg = default_config()
    cfg["pose"].update(mode={"det_model": str(det)}, parallel_workers_pose=1, det_frequency=2)
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert report["cameras"][0]["persons_tracked"] == 2
    from mocap3d.io.openpose import read_openpose_folders
    both = read_openpose_folders(tmp_path / "pose", skeleton=BLAZEPOSE)
    kp = both.data[0]
    assert kp.shape[:3] == (3, 2, 33)
    # each person's world landmarks stay with that person: the mirror image's are the photo's mirrored
    w = both.data3d[0]
    assert np.isfinite(w).all()
    photo_w, mirror_w = w[:, 1, [11, 12], 0], w[:, 0, [12, 11], 0]     # shoulders' x, left/right swapped
    np.testing.assert_allclose(mirror_w, -photo_w, atol=0.05)
    for f in range(3):
        # id 0 = the first detection (the mirror image on the right), id 1 = the photo on the left.
        _assert_on_grace_hopper(kp[f, 1], tol=10)
        mirrored = kp[f, 0].copy()
        mirrored[:, 0] = 1023 - mirrored[:, 0]  # back into the photo's pixels; left/right sides swap
        swapped = mirrored.copy()
        for a, b in BLAZEPOSE.swap_pairs():
            swapped[[a, b]] = mirrored[[b, a]]
        _assert_on_grace_hopper(swapped, tol=10)


def _set_rotation_metadata(path: Path, degrees: int) -> None:
    """Write a display rotation into an mp4's track header matrix (ISO/IEC 14496-12 'tkhd', version 0),
    the way phones store portrait recordings; 90 = shown turned 90 degrees clockwise."""
    import struct
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data[i + 4] == 0, "expected a version-0 tkhd box"
    m0 = i + 4 + 4 + 20 + 8 + 8  # box type, version/flags, 5 x 32-bit fields, reserved 8, layer..reserved 8
    assert struct.unpack(">9i", data[m0:m0 + 36]) == (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)
    a, b = {90: (0, 65536), 180: (-65536, 0), 270: (0, -65536)}[degrees]
    data[m0:m0 + 36] = struct.pack(">9i", a, b, 0, -b, a, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))


def test_rotation_metadata_of_a_video_is_applied(tmp_path):
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(2)]
    for f in frames:
        f[:8, :8] = 255  # top-left corner
    v = _write_video(tmp_path / "phone.mp4", frames)
    _set_rotation_metadata(v, 90)
    src = FrameSource(v)
    assert src.metadata_rotation == 90 and src.size == (48, 64)
    img = next(iter(src))[1]
    assert img[:8, -8:].mean() > 200 and img[:8, :8].mean() < 50  # shown turned clockwise: top-left -> top-right
    both = FrameSource(v, rotate=270)  # a manual rotation adds to the metadata's
    assert both.size == (64, 48) and next(iter(both))[1][:8, :8].mean() > 200


def test_single_thread_decoding_gives_the_same_upright_frames(tmp_path):
    """Pool workers decode with one FFmpeg thread: same pixels, rotation metadata and frame range still applied."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    v = _write_video(tmp_path / "phone.mp4", frames)
    _set_rotation_metadata(v, 90)
    default, single = list(FrameSource(v)), list(FrameSource(v, decode_threads=1))
    assert [i for i, _ in single] == list(range(6)) and single[0][1].shape == (64, 48, 3)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(default, single))
    assert [i for i, _ in FrameSource(v, frame_range=[2, 4], decode_threads=1)] == [2, 3]


@needs_mediapipe
@needs_photo
def test_portrait_phone_video_with_rotation_metadata_gives_upright_keypoints(tmp_path):
    from mocap3d.pose import estimate_camera
    img = _photo()
    v = _write_video(tmp_path / "phone.mp4", [rotate_image(img, 270)] * 2)  # stored sideways
    _set_rotation_metadata(v, 90)
    cfg = default_config()["pose"]
    r = estimate_camera(v, tmp_path / "pose", cfg)
    assert r["metadata_rotation"] == 90 and r["size"] == [512, 600] and r["frames_with_detection"] == 2
    from mocap3d.io.openpose import read_openpose_camera
    kp = read_openpose_camera(tmp_path / "pose" / "phone_json", BLAZEPOSE).data[0]
    for f in range(2):
        _assert_on_grace_hopper(kp[f, 0], tol=10)


@needs_mediapipe
@needs_photo
def test_low_confidence_people_are_dropped_and_output_format_none_writes_no_json(tmp_path):
    from mocap3d.pose import estimate_camera
    (tmp_path / "cam").mkdir()
    cv2.imwrite(str(tmp_path / "cam" / "f_0.png"), _photo())
    cfg = default_config()["pose"]
    cfg.update(average_likelihood_threshold_pose=1.01, output_format="none")  # nobody can reach it
    r = estimate_camera(tmp_path / "cam", tmp_path / "pose", cfg)
    assert r["frames"] == 1 and r["frames_with_detection"] == 0 and r["detections_dropped"] == 1
    assert not (tmp_path / "pose" / "cam_json").exists()
