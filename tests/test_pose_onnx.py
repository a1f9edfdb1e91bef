"""ONNX top-down pose backend and tracker, on tiny ONNX graphs built here with the published signatures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mocap3d.config import default_config  # noqa: E402
from mocap3d.errors import ConfigError, Mocap3dError  # noqa: E402
from mocap3d.pose import run_pose  # noqa: E402
from mocap3d.pose.onnx_models import (MEAN, STD, TopDownEstimator, box_to_center_scale, crop_matrix,  # noqa: E402
                                      decode_detections, decode_simcc, fetch_model, letterbox, nms, parse_mode,
                                      preprocess_crop)
from mocap3d.pose.tracking import Tracker, box_iou, keypoint_distance, order_by_id  # noqa: E402
from mocap3d.project import Trial  # noqa: E402
from mocap3d.skeletons import COCO_17, HALPE_26  # noqa: E402


def _const_model(path: Path, input_shape: list, outputs: dict[str, np.ndarray]) -> Path:
    """A graph with input 'input' whose outputs are constants (+ 0 * mean(input), so the input is used)."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value, f"{name}_c"))
        if value.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_c"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.INT64, list(value.shape)))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                              outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _simcc_model(path: Path, bins_x: np.ndarray, bins_y: np.ndarray, W: int = 192, H: int = 256,
                 vx: float = 0.9, vy: float = 0.8) -> Path:
    """RTMPose signature: input (1, 3, H, W); simcc_x (1, K, 2W), simcc_y (1, K, 2H) peaking at the given bins."""
    K = len(bins_x)
    sx = np.full((1, K, 2 * W), 0.01, np.float32)
    sy = np.full((1, K, 2 * H), 0.01, np.float32)
    sx[0, np.arange(K), bins_x] = vx
    sy[0, np.arange(K), bins_y] = vy
    # Output order swapped on purpose: outputs are picked by name.
    return _const_model(path, [1, 3, H, W], {"simcc_y": sy, "simcc_x": sx})


def _expected(bins_x, bins_y, box, W=192, H=256):
    """Image px of SimCC bins for a person box, written out longhand (mmpose top-down convention)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = (x1 - x0) * 1.25, (y1 - y0) * 1.25
    if w > h * W / H:
        h = w * H / W
    else:
        w = h * W / H
    px_per_input = w / W
    return np.stack([cx + (np.asarray(bins_x) / 2 - W / 2) * px_per_input,
                     cy + (np.asarray(bins_y) / 2 - H / 2) * px_per_input], -1)


# ----------------------------------------------------------------------------- pure parts
def test_center_scale_matrix_and_crop_put_the_box_on_the_input():
    c, s = box_to_center_scale(np.array([100, 50, 196, 306]), (192, 256))
    assert np.allclose(c, [148, 178]) and np.allclose(s, [240, 320])  # 96x256 * 1.25 -> widened to 3:4
    m = crop_matrix(c, s, (192, 256))
    assert np.allclose(m @ [28, 18, 1], [0, 0]) and np.allclose(m @ [268, 338, 1], [192, 256])
    img = np.zeros((480, 640, 3), np.uint8)
    img[178, 148] = (255, 0, 0)  # a blue (BGR) pixel at the box centre
    inp = preprocess_crop(img, m, (192, 256))
    assert inp.shape == (1, 3, 256, 192) and inp.dtype == np.float32
    y, x = np.unravel_index(np.argmax(inp[0, 2]), (256, 192))  # channel 2 = blue in RGB order
    assert abs(x - 96) <= 1 and abs(y - 128) <= 1
    assert np.allclose(inp[0, :, 0, 0], -MEAN / STD)  # black -> -mean/std


def test_decode_simcc_argmax_split_ratio_and_min_score():
    sx = np.zeros((1, 2, 384))
    sy = np.zeros((1, 2, 512))
    sx[0, 0, 101], sy[0, 0, 7] = 0.7, 0.9
    sx[0, 1, 0], sy[0, 1, 511] = 0.95, 0.6
    kp = decode_simcc(sx, sy)
    assert np.allclose(kp[0], [[50.5, 3.5, 0.7], [0.0, 255.5, 0.6]])


def test_letterbox_nms_and_detection_decoding():
    img = np.full((720, 1280, 3), 200, np.uint8)
    inp, ratio = letterbox(img, (640, 640))
    assert ratio == 0.5 and inp.shape == (1, 3, 640, 640)
    assert inp[0, 0, 359, 639] == 200 and inp[0, 0, 360, 0] == 114  # image on top, grey padding below
    dets = np.array([[[100, 50, 200, 300, 0.9], [105, 55, 205, 305, 0.6], [400, 100, 450, 200, 0.8],
                      [0, 0, 50, 50, 0.95], [300, 300, 350, 350, 0.2]]], np.float32)
    labels = np.array([[0, 0, 0, 1, 0]])
    out = decode_detections([dets, labels], ratio)
    assert np.allclose(out, [[200, 100, 400, 600, 0.9], [800, 200, 900, 400, 0.8]])
    assert list(nms(np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]), np.array([0.5, 0.9, 0.1]))) == [1, 2]


# ----------------------------------------------------------------------------- ONNX sessions
def test_top_down_estimator_with_detector_decodes_exact_image_coordinates(tmp_path):
    K = len(COCO_17.names)
    rng = np.random.default_rng(0)
    bins_x, bins_y = rng.integers(0, 384, K), rng.integers(0, 512, K)
    pose = _simcc_model(tmp_path / "pose.onnx", bins_x, bins_y)
    dets = np.array([[[100, 50, 200, 300, 0.9], [105, 55, 205, 305, 0.6], [400, 100, 450, 200, 0.8]]], np.float32)
    det = _const_model(tmp_path / "det.onnx", [1, 3, 640, 640], {"dets": dets, "labels": np.zeros((1, 3), np.int64)})
    est = TopDownEstimator(pose, COCO_17, det, det_frequency=2, device="cpu")
    assert est.pose_size == (192, 256) and est.det_size == (640, 640)
    img = np.zeros((720, 1280, 3), np.uint8)
    kp = est(img)
    assert kp.shape == (2, K, 3)
    for p, box in enumerate([(200, 100, 400, 600), (800, 200, 900, 400)]):
        assert np.allclose(kp[p, :, :2], _expected(bins_x, bins_y, box), atol=1e-9)
        assert np.allclose(kp[p, :, 2], 0.8)  # min(0.9, 0.8)
    est(img), est(img)  # frame 1 reuses keypoint boxes, frame 2 detects again
    assert est.detector_calls == 2


def test_wrong_keypoint_count_and_bad_models_say_what_to_do(tmp_path):
    pose = _simcc_model(tmp_path / "pose.onnx", np.zeros(5, int), np.zeros(5, int))
    est = TopDownEstimator(pose, COCO_17)
    with pytest.raises(Mocap3dError, match="gives 5 keypoints but pose_model COCO_17"):
        est(np.zeros((64, 48, 3), np.uint8))
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(Mocap3dError, match="cannot load"):
        TopDownEstimator(tmp_path / "bad.onnx", COCO_17)


def test_model_fetch_local_cached_and_offline_url(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCAP3D_MODEL_DIR", str(tmp_path / "cache"))
    local = _simcc_model(tmp_path / "p.onnx", np.zeros(3, int), np.zeros(3, int))
    assert fetch_model(local) == local
    with pytest.raises(Mocap3dError, match="not found.*BLAZEPOSE"):
        fetch_model(tmp_path / "missing.onnx")
    url = "http://127.0.0.1:9/models/rtmpose-test-halpe26.onnx"  # nothing listens on port 9: offline
    with pytest.raises(Mocap3dError, match=r"rtmpose-test-halpe26\.onnx cannot be fetched.*BLAZEPOSE"):
        fetch_model(url)
    assert not (tmp_path / "cache" / "rtmpose-test-halpe26.onnx").exists()  # no partial file left
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "rtmpose-test-halpe26.onnx").write_bytes(local.read_bytes())
    assert fetch_model(url) == tmp_path / "cache" / "rtmpose-test-halpe26.onnx"  # cached: no network needed


def test_parse_mode_presets_dicts_and_refusals():
    assert parse_mode("balanced", HALPE_26)["pose_model"].endswith("halpe26_700e-256x192-4d3e73dd_20230605.onnx")
    d = parse_mode("""{'pose_model': '/m.onnx', 'pose_input_size': [192, 256]}""", COCO_17)
    assert d == {"pose_model": "/m.onnx", "pose_input_size": [192, 256]}
    assert parse_mode({"pose_model": "/m.onnx"}, COCO_17)["pose_model"] == "/m.onnx"
    with pytest.raises(ConfigError, match="no published model for COCO_17.*BLAZEPOSE"):
        parse_mode("balanced", COCO_17)
    assert parse_mode({"pose_class": "RTMO", "pose_model": "x.onnx"}, COCO_17)["pose_class"] == "RTMO"
    with pytest.raises(ConfigError, match="RTMPose.*RTMO"):
        parse_mode({"pose_class": "ViTPose", "pose_model": "x.onnx"}, COCO_17)


def _rtmo_model(path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """An RTMO-signature graph: dets (1, 4, 5) and keypoints (1, 4, 17, 3) in 640x640 canvas px."""
    dets = np.array([[[100, 50, 300, 600, 0.9], [105, 55, 305, 590, 0.8],      # one person, found twice
                      [400, 60, 600, 620, 0.7], [0, 0, 50, 50, 0.2]]], np.float32)
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(0, 640, (1, 4, 17, 2)), rng.uniform(-0.2, 1.3, (1, 4, 17, 1))], -1)
    return _const_model(path, [1, 3, 640, 640], {"dets": dets, "keypoints": kps.astype(np.float32)}), dets, kps


def test_rtmo_one_stage_model_gives_each_person_once_in_image_px(tmp_path):
    from mocap3d.pose.onnx_models import OneStageEstimator, estimator_from_config
    path, dets, kps = _rtmo_model(tmp_path / "rtmo.onnx")
    cfg = {"pose_model": "COCO_17", "mode": {"pose_model": str(path)}}        # recognized by its outputs
    est = estimator_from_config(cfg, COCO_17)
    assert isinstance(est, OneStageEstimator)
    image = np.zeros((720, 1280, 3), np.uint8)                                 # canvas px = image px * 0.5
    persons = est(image)
    assert persons.shape == (2, 17, 3)                                         # duplicate merged, 0.2 dropped
    np.testing.assert_allclose(persons[0, :, :2], kps[0, 0, :, :2] / 0.5, rtol=1e-6)
    np.testing.assert_allclose(persons[1, :, :2], kps[0, 2, :, :2] / 0.5, rtol=1e-6)
    np.testing.assert_allclose(persons[..., 2], np.clip(kps[0, [0, 2], :, 2], 0, 1), rtol=1e-6)
    explicit = estimator_from_config({"mode": {"pose_class": "RTMO", "pose_model": str(path),
                                               "det_score_threshold": 0.75}}, COCO_17)
    assert explicit(image).shape[0] == 1
    with pytest.raises(Mocap3dError, match="17 keypoints but pose_model HALPE_26"):
        estimator_from_config(cfg, HALPE_26)(image)
    simcc = _simcc_model(tmp_path / "simcc.onnx", np.zeros(17, int), np.zeros(17, int))
    with pytest.raises(Mocap3dError, match="not an RTMO export"):
        estimator_from_config({"mode": {"pose_class": "RTMO", "pose_model": str(simcc)}}, COCO_17)


# ----------------------------------------------------------------------------- tracker
def _person(x: float, y: float, K: int = 4) -> np.ndarray:
    return np.array([[x + 10 * k, y + 20 * k, 0.9] for k in range(K)])


def test_tracker_keeps_ids_when_detection_order_changes_and_retires_lost_tracks():
    tr = Tracker(max_distance_px=50, min_iou=0.2, max_unseen_frames=2)
    a, b = _person(0, 0), _person(300, 0)
    assert list(tr.update(np.stack([a, b]))) == [0, 1]
    assert list(tr.update(np.stack([b + [5, 0, 0], a + [5, 0, 0]]))) == [1, 0]  # order swapped, ids kept
    assert list(tr.update(np.stack([a + [10, 0, 0]]))) == [0]  # b unseen 1
    assert list(tr.update(np.stack([a + [15, 0, 0], b + [10, 0, 0]]))) == [0, 1]  # b back within 2 frames
    for _ in range(3):
        tr.update(np.stack([a]))
    assert list(tr.update(np.stack([a, b]))) == [0, 2]  # b unseen 3 > 2 frames: a new id
    assert list(tr.update(np.stack([a + [200, 0, 0]]))) == [3]  # jumped too far, no overlap: new person


def test_box_iou_keypoint_distance_and_order_by_id():
    assert np.allclose(box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [5, 5, 6, 6]])), [[1 / 7, 0]])
    a = _person(0, 0)[None]
    b = _person(3, 4)[None]
    b[0, 0, 2] = 0.0  # ignored keypoint
    assert np.allclose(keypoint_distance(a, b, 0.3), [[5.0]])
    out = order_by_id([a, np.zeros((0, 4, 3))], [np.array([2]), np.array([], int)], 4)
    assert out.shape == (2, 3, 4, 3) and np.allclose(out[0, 2], a[0]) and np.isnan(out[0, :2]).all()
    assert np.isnan(out[1]).all()


# ----------------------------------------------------------------------------- stage with the ONNX backend
def test_run_pose_with_a_local_onnx_model_writes_halpe26_json(tmp_path):
    from mocap3d.io.openpose import read_openpose_folders
    K = len(HALPE_26.names)
    bins_x, bins_y = 2 * (60 + 3 * np.arange(K)), 2 * (40 + 6 * np.arange(K))
    model = _simcc_model(tmp_path / "halpe.onnx", bins_x, bins_y)
    videos = tmp_path / "videos"
    videos.mkdir()
    vw = cv2.VideoWriter(str(videos / "camA.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, (96, 128))
    for _ in range(3):
        vw.write(np.full((128, 96, 3), 90, np.uint8))
    vw.release()
    cfg = default_config()
    cfg["pose"].update(pose_model="Body_with_feet", mode={"pose_model": str(model)}, parallel_workers_pose=1,
                       device="cpu")
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert report["pose_model"] == "HALPE_26" and report["backend"] == "onnxruntime"
    cam = report["cameras"][0]
    assert cam["frames"] == 3 and cam["frames_with_detection"] == 3 and cam["fps"] == pytest.approx(50.0)
    assert cam["mean_confidence"] == pytest.approx(0.8)
    kp = read_openpose_folders(tmp_path / "pose", skeleton=HALPE_26)
    assert kp.data.shape == (1, 3, 1, K, 3)
    expected = _expected(bins_x, bins_y, (0, 0, 96, 128))  # no detector: the whole frame is the person
    assert np.allclose(kp.data[0, :, 0, :, :2], expected[None], atol=1e-6)
    cfg["pose"]["backend"] = "openvino"
    cfg["pose"]["overwrite_pose"] = True
    with pytest.raises(ConfigError, match="onnxruntime only"):
        run_pose(Trial(tmp_path, tmp_path, cfg))


def test_run_pose_one_worker_process_per_video(tmp_path):
    from mocap3d.io.openpose import read_openpose_folders
    K = len(COCO_17.names)
    bins_x, bins_y = 2 * (50 + 4 * np.arange(K)), 2 * (30 + 9 * np.arange(K))
    model = _simcc_model(tmp_path / "coco.onnx", bins_x, bins_y)
    videos = tmp_path / "videos"
    videos.mkdir()
    sizes = {"c1": (96, 128), "c2": (120, 80)}
    for cam, (w, h) in sizes.items():
        vw = cv2.VideoWriter(str(videos / f"{cam}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
        for _ in range(4):
            vw.write(np.full((h, w, 3), 128, np.uint8))
        vw.release()
    cfg = default_config()
    cfg["pose"].update(pose_model="COCO_17", mode={"pose_model": str(model)}, parallel_workers_pose=2, device="cpu")
    report = run_pose(Trial(tmp_path, tmp_path, cfg))
    assert report["workers"] == 2 and [c["frames"] for c in report["cameras"]] == [4, 4]
    kp = read_openpose_folders(tmp_path / "pose", skeleton=COCO_17)
    for c, (w, h) in enumerate(sizes.values()):
        assert np.allclose(kp.data[c, :, 0, :, :2], _expected(bins_x, bins_y, (0, 0, w, h))[None], atol=1e-6)
