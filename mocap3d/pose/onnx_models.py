"""ONNX pose models: top-down RTMPose (SimCC heads) with person detectors (YOLOX/RTMDet, mmdeploy export),
and one-stage RTMO.

Facts used (mmpose/mmdeploy conventions of the published RTMPose models):

* pose model input ``(1, 3, H, W)`` float32 RGB, normalized by mean
  (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375); the person box is
  padded by 1.25, widened or heightened to the input's aspect ratio, and warped
  (no rotation) to the input size;
* outputs ``simcc_x (1, K, W * r)`` and ``simcc_y (1, K, H * r)`` with split ratio
  r = 2: a keypoint lies at ``argmax / r`` input pixels, its score is the smaller
  of the two maxima (clipped to [0, 1] here);
* detector input ``(1, 3, h, w)`` float32 BGR, the image resized keeping its aspect
  ratio into the top-left corner of a canvas of grey 114; first output
  ``(1, N, 5)`` boxes x0, y0, x1, y1, score in that canvas, an optional second
  output ``(1, N)`` class labels (0 = person);
* RTMO (one stage, mmdeploy export): the detector's input (640x640 canvas, BGR,
  not normalized) and outputs ``dets (1, N, 5)`` as above and ``keypoints
  (1, N, K, 3)`` x, y, score in the canvas; people overlapping by IoU > 0.45 are
  merged by non-maximum suppression.

Models are local paths or URLs, downloaded once into ``~/.cache/mocap3d/models``
(``MOCAP3D_MODEL_DIR`` overrides); a model that is neither on disk nor
downloadable raises :class:`Mocap3dError` naming it and the offline BlazePose.
"""
from __future__ import annotations

import ast
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, Mocap3dError
from ..logs import atomic_path, get_logger
from ..skeletons import Skeleton
from .tracking import boxes_of

log = get_logger("pose")
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
PADDING = 1.25
SIMCC_SPLIT_RATIO = 2.0
_HF = "https://huggingface.co/datasets/DavidPagnon/rtmlib_models/resolve/main/mmpose/rtmposev1/onnx_sdk/"
# Published (Pose2Sim documentation) 'balanced' models; other presets must be given as a dictionary.
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("HALPE_26", "balanced"): {
        "det_model": _HF + "yolox_m_8xb8-300e_humanart-c2c7a14a.onnx", "det_input_size": [640, 640],
        "pose_model": _HF + "rtmpose-m_simcc-body7_pt-body7-halpe26_700e-256x192-4d3e73dd_20230605.onnx",
        "pose_input_size": [192, 256]},
}
OFFLINE_HINT = ("offline alternative: pose_model = 'BLAZEPOSE' (ships with mediapipe), or a local .onnx path "
                "in mode = {pose_model = '/path/model.onnx'}")


# ----------------------------------------------------------------------------- model files
def model_dir() -> Path:
    """Cache folder of downloaded models."""
    return Path(os.environ.get("MOCAP3D_MODEL_DIR", Path.home() / ".cache" / "mocap3d" / "models")).expanduser()


def fetch_model(spec: str | os.PathLike, what: str = "pose model", timeout: float = 20.0,
                hint: str = OFFLINE_HINT) -> Path:
    """Local path of model ``spec`` (a file path or an http(s) URL, downloaded once into :func:`model_dir`).

    A ``.zip`` (rtmlib's packaging) is unpacked and its ``.onnx`` file returned; ``hint``
    ends the error messages (the offline alternative).
    """
    s = str(spec)
    if not s.lower().startswith(("http://", "https://")):
        p = Path(s).expanduser()
        if not p.is_file():
            raise Mocap3dError(f"{what} {s!r} not found. Give an existing .onnx path or a URL; {hint}")
        return _unzip(p) if p.suffix.lower() == ".zip" else p
    name = s.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "model.onnx"
    target = model_dir() / name
    if not target.is_file():
        log.info("downloading %s %s -> %s", what, s, target)
        try:
            with atomic_path(target) as tmp, urllib.request.urlopen(s, timeout=timeout) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise Mocap3dError(f"{what} {name} cannot be fetched from {s} ({exc}); "
                               f"download it by hand into {model_dir()} or use a local path; {hint}") from None
    return _unzip(target) if target.suffix.lower() == ".zip" else target


def _unzip(path: Path) -> Path:
    out = path.with_suffix("")
    if not out.is_dir():
        with zipfile.ZipFile(path) as z:
            z.extractall(out)
    found = sorted(out.rglob("*.onnx"))
    if not found:
        raise Mocap3dError(f"{path}: no .onnx file inside the archive. Give the .onnx model itself")
    return found[0]


def parse_mode(mode: Any, skeleton: Skeleton) -> dict[str, Any]:
    """Model files and input sizes of ``[pose] mode`` (preset name, inline table, or Pose2Sim's dict string)."""
    if isinstance(mode, str) and mode.strip().startswith("{"):
        try:
            mode = ast.literal_eval(mode.strip())
        except (ValueError, SyntaxError) as exc:
            raise ConfigError(f"pose.mode: cannot read the dictionary {mode!r} ({exc})") from None
    if isinstance(mode, Mapping):
        out = dict(mode)
        if "pose_model" not in out:
            raise ConfigError("pose.mode dictionary needs a 'pose_model' (local .onnx path or URL)")
        if str(out.get("pose_class", "RTMPose")).lower() not in ("rtmpose", "rtmo"):
            raise ConfigError(f"pose.mode pose_class = {out['pose_class']!r}: mocap3d runs RTMPose (top-down, SimCC) "
                              f"and RTMO (one stage) models; {OFFLINE_HINT}")
        return out
    key = (skeleton.name, str(mode).lower())
    if key not in PRESETS:
        raise ConfigError(f"pose.mode = {mode!r} has no published model for {skeleton.name} in mocap3d; give "
                          f"mode = {{pose_model = 'path or URL of an RTMPose .onnx', pose_input_size = [192, 256]}}; "
                          f"{OFFLINE_HINT}")
    return dict(PRESETS[key])


def make_session(path: Path, device: str = "auto", threads: int = 0) -> Any:
    """An onnxruntime InferenceSession on ``device`` ('auto', 'cpu', 'cuda')."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise Mocap3dError("ONNX pose models need onnxruntime: pip install mocap3d[video]") from exc
    available = ort.get_available_providers()
    device = str(device).lower()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError("pose.device = 'cuda' but onnxruntime has no CUDA provider; use 'auto' or 'cpu'")
    providers = (["CUDAExecutionProvider"] if device in ("auto", "cuda") and "CUDAExecutionProvider" in available
                 else []) + ["CPUExecutionProvider"]
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for a corrupt or foreign file
        raise Mocap3dError(f"{path}: onnxruntime cannot load the model ({exc}). Check the file") from None


def _input_size(session: Any, given: Any, default: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the model input: its static shape, else ``given`` [w, h], else ``default``."""
    shape = session.get_inputs()[0].shape
    if len(shape) == 4 and all(isinstance(v, int) and v > 0 for v in shape[2:]):
        return int(shape[3]), int(shape[2])
    if given is not None:
        return int(given[0]), int(given[1])
    return default


# ----------------------------------------------------------------------------- pose model (pure parts)
def box_to_center_scale(box: np.ndarray, input_size: tuple[int, int], padding: float = PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Center (2,) and scale (2,) px of a box x0, y0, x1, y1, padded and fixed to the input's aspect ratio w/h."""
    box = np.asarray(box, float)
    center = (box[:2] + box[2:4]) / 2
    w, h = (box[2:4] - box[:2]) * padding
    aspect = input_size[0] / input_size[1]
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h])


def crop_matrix(center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Affine (2, 3) mapping image px to model-input px: the box ``center +- scale/2`` onto the input."""
    s = input_size[0] / scale[0]  # equal to input_size[1] / scale[1] once the aspect ratio is fixed
    return np.array([[s, 0, input_size[0] / 2 - s * center[0]], [0, s, input_size[1] / 2 - s * center[1]]])


def preprocess_crop(image: np.ndarray, matrix: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Model input (1, 3, H, W) float32: the BGR image warped by ``matrix``, as RGB, normalized."""
    import cv2
    crop = cv2.warpAffine(image, matrix, input_size, flags=cv2.INTER_LINEAR)
    rgb = crop[..., ::-1].astype(np.float32)
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = SIMCC_SPLIT_RATIO) -> np.ndarray:
    """Keypoints (N, K, 3) = x, y in model-input px, score, from simcc_x (N, K, Wr) and simcc_y (N, K, Hr)."""
    x_idx, y_idx = simcc_x.argmax(-1), simcc_y.argmax(-1)
    score = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    out = np.stack([x_idx / split_ratio, y_idx / split_ratio, score], -1).astype(float)
    out[score <= 0, :2] = np.nan
    return out


def to_image(kp_input: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Keypoints (K, 3) from model-input px back to image px by the inverse of ``matrix``."""
    out = kp_input.copy()
    s, tx, ty = matrix[0, 0], matrix[0, 2], matrix[1, 2]
    out[:, 0] = (kp_input[:, 0] - tx) / s
    out[:, 1] = (kp_input[:, 1] - ty) / s
    return out


# ----------------------------------------------------------------------------- detector (pure parts)
def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Detector input (1, 3, h, w) float32 BGR and the resize ratio (canvas px per image px)."""
    import cv2
    w, h = input_size
    ratio = min(w / image.shape[1], h / image.shape[0])
    nw, nh = int(round(image.shape[1] * ratio)), int(round(image.shape[0] * ratio))
    canvas = np.full((h, w, 3), 114, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None].astype(np.float32), ratio


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.45) -> np.ndarray:
    """Indices of the boxes (N, 4) kept by greedy non-maximum suppression, best score first."""
    from .tracking import box_iou
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for i in order:
        if not keep or box_iou(boxes[i:i + 1], boxes[keep]).max() < iou_threshold:
            keep.append(int(i))
    return np.array(keep, dtype=int)


def decode_detections(outputs: list[np.ndarray], ratio: float, score_threshold: float = 0.3,
                      iou_threshold: float = 0.45) -> np.ndarray:
    """Person boxes (P, 5) = x0, y0, x1, y1 image px, score from a detector's outputs (see module doc)."""
    dets = np.asarray(outputs[0], float).reshape(-1, np.asarray(outputs[0]).shape[-1])
    if dets.shape[-1] < 5:
        raise Mocap3dError(f"detector output {np.asarray(outputs[0]).shape} is not (1, N, 5) boxes + score; "
                           "export the detector with mmdeploy (end2end)")
    keep = dets[:, 4] > score_threshold
    if len(outputs) > 1:
        labels = np.asarray(outputs[1]).reshape(-1)
        if labels.shape[0] == dets.shape[0]:
            keep &= labels == 0
    dets = dets[keep]
    dets = dets[nms(dets[:, :4], dets[:, 4], iou_threshold)] if len(dets) else dets
    out = dets[:, :5].copy()
    out[:, :4] /= ratio
    return out


# ----------------------------------------------------------------------------- detector
class PersonDetector:
    """YOLOX/RTMDet-style ONNX person detector: ``__call__(image BGR) -> boxes (P, 4)`` image px."""

    def __init__(self, model: str | os.PathLike, input_size: Any = None, device: str = "auto", threads: int = 0,
                 score_threshold: float = 0.3, iou_threshold: float = 0.45) -> None:
        self.session = make_session(fetch_model(model, "person detector"), device, threads)
        self.input_size = _input_size(self.session, input_size, (640, 640))
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        inp, ratio = letterbox(image, self.input_size)
        outputs = self.session.run(None, {self.session.get_inputs()[0].name: inp})
        self.calls += 1
        return decode_detections(outputs, ratio, self.score_threshold, self.iou_threshold)[:, :4]


class BoxSchedule:
    """Boxes per frame: the detector's every ``det_frequency`` frames, else those of the previous keypoints."""

    def __init__(self, detector: PersonDetector | None, det_frequency: int = 1, min_likelihood: float = 0.3) -> None:
        self.detector, self.det_frequency = detector, max(1, int(det_frequency))
        self.min_likelihood = min_likelihood
        self._frame, self._boxes = 0, np.zeros((0, 4))

    def boxes(self, image: np.ndarray) -> np.ndarray:
        """Person boxes (P, 4) for this frame (the whole frame when there is no detector)."""
        h, w = image.shape[:2]
        if self.detector is None:
            boxes = np.array([[0, 0, w, h]], float)
        elif self._frame % self.det_frequency == 0 or not len(self._boxes):
            boxes = self.detector(image)
        else:
            boxes = self._boxes
        self._frame += 1
        return boxes

    def update(self, persons: np.ndarray) -> None:
        """Remember the boxes of this frame's keypoints (P, K, 3) for the next frames."""
        b = boxes_of(persons, self.min_likelihood)
        self._boxes = b[np.isfinite(b).all(-1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]


# ----------------------------------------------------------------------------- estimator
class TopDownEstimator:
    """Person detector (optional) + RTMPose: ``__call__(image BGR) -> (P, K, 3)`` in image px.

    Without a detector the whole frame is one person box. With one, it runs
    every ``det_frequency`` frames; in between, each person's box is the box of
    their previous keypoints (likelihood > 0.3).
    """

    def __init__(self, pose_model: Any, skeleton: Skeleton, det_model: str | os.PathLike | None = None,
                 pose_input_size: Any = None, det_input_size: Any = None, det_frequency: int = 1,
                 device: str = "auto", threads: int = 0) -> None:
        self.skeleton = skeleton
        self.pose = pose_model if hasattr(pose_model, "run") else make_session(
            fetch_model(pose_model, f"{skeleton.name} pose model"), device, threads)
        self.pose_size = _input_size(self.pose, pose_input_size, (192, 256))
        self.det = PersonDetector(det_model, det_input_size, device, threads) if det_model else None
        self.det_size = self.det.input_size if self.det is not None else None
        self.schedule = BoxSchedule(self.det, det_frequency)
        outs = [o.name for o in self.pose.get_outputs()]
        self._out_order = [outs.index("simcc_x"), outs.index("simcc_y")] if {"simcc_x", "simcc_y"} <= set(outs) else [0, 1]

    @property
    def detector_calls(self) -> int:
        return self.det.calls if self.det is not None else 0

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Keypoints (P, K, 3) image px of the persons in ``boxes`` (P, 4)."""
        out = np.full((len(boxes), len(self.skeleton.names), 3), np.nan)
        name = self.pose.get_inputs()[0].name
        for p, box in enumerate(boxes):
            center, scale = box_to_center_scale(box, self.pose_size)
            m = crop_matrix(center, scale, self.pose_size)
            res = self.pose.run(None, {name: preprocess_crop(image, m, self.pose_size)})
            kp = decode_simcc(np.asarray(res[self._out_order[0]]), np.asarray(res[self._out_order[1]]))[0]
            if kp.shape[0] != out.shape[1]:
                raise Mocap3dError(f"pose model gives {kp.shape[0]} keypoints but pose_model {self.skeleton.name} has "
                                   f"{out.shape[1]}; set pose.pose_model to the model's skeleton")
            kp[:, 2] = np.clip(kp[:, 2], 0, 1)
            out[p] = to_image(kp, m)
        return out

    def __call__(self, image: np.ndarray) -> np.ndarray:
        boxes = self.schedule.boxes(image)
        persons = self.estimate(image, boxes) if len(boxes) else np.zeros((0, len(self.skeleton.names), 3))
        self.schedule.update(persons)
        return persons


# ----------------------------------------------------------------------------- one-stage (RTMO)
def is_one_stage(session: Any) -> bool:
    """True for an RTMO-style model: a (1, N, K, 3) keypoint output next to (1, N, 5) boxes."""
    ranks = sorted(len(o.shape) for o in session.get_outputs())
    return ranks == [3, 4]


def decode_one_stage(dets: np.ndarray, keypoints: np.ndarray, ratio: float, score_threshold: float = 0.5,
                     iou_threshold: float = 0.45) -> np.ndarray:
    """Keypoints (P, K, 3) image px of the people an RTMO model found (``dets`` (1, N, 5), ``keypoints``
    (1, N, K, 3) in canvas px, see module doc), best box score first."""
    d = np.asarray(dets, float).reshape(-1, np.asarray(dets).shape[-1])
    k = np.asarray(keypoints, float).reshape(d.shape[0], -1, 3)
    keep = np.flatnonzero(d[:, 4] >= score_threshold)
    if len(keep):
        keep = keep[nms(d[keep, :4], d[keep, 4], iou_threshold)]
    out = k[keep].copy()
    out[..., :2] /= ratio
    out[..., 2] = np.clip(out[..., 2], 0, 1)
    return out


class OneStageEstimator:
    """RTMO: people and their keypoints in one pass, ``__call__(image BGR) -> (P, K, 3)`` image px."""

    def __init__(self, pose_model: Any, skeleton: Skeleton, input_size: Any = None,
                 device: str = "auto", threads: int = 0, score_threshold: float = 0.5) -> None:
        self.skeleton = skeleton
        self.session = pose_model if hasattr(pose_model, "run") else make_session(
            fetch_model(pose_model, f"{skeleton.name} RTMO model"), device, threads)
        if not is_one_stage(self.session):
            raise Mocap3dError(f"{pose_model}: not an RTMO export (outputs (1, N, 5) boxes and (1, N, K, 3) "
                               "keypoints); use pose_class = 'RTMPose' for top-down models")
        self.input_size = _input_size(self.session, input_size, (640, 640))
        outs = self.session.get_outputs()
        self._order = [next(i for i, o in enumerate(outs) if len(o.shape) == r) for r in (3, 4)]
        self.score_threshold = float(score_threshold)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        inp, ratio = letterbox(image, self.input_size)
        res = self.session.run(None, {self.session.get_inputs()[0].name: inp})
        persons = decode_one_stage(res[self._order[0]], res[self._order[1]], ratio, self.score_threshold)
        if persons.shape[1] != len(self.skeleton.names) and len(persons):
            raise Mocap3dError(f"RTMO model gives {persons.shape[1]} keypoints but pose_model {self.skeleton.name} "
                               f"has {len(self.skeleton.names)}; set pose.pose_model to the model's skeleton")
        return persons


def estimator_from_config(pose_cfg: Mapping[str, Any], skeleton: Skeleton, threads: int = 0) -> Any:
    """The ONNX estimator of ``[pose]``: RTMO when ``mode`` says ``pose_class = 'RTMO'`` or the model is a
    one-stage export, else top-down RTMPose (:class:`TopDownEstimator`)."""
    backend = str(pose_cfg.get("backend", "auto")).lower()
    if backend not in ("auto", "onnxruntime"):
        raise ConfigError(f"pose.backend = {backend!r}: mocap3d runs ONNX models with onnxruntime only; "
                          "use 'auto' or 'onnxruntime'")
    m = parse_mode(pose_cfg.get("mode", "balanced"), skeleton)
    device = str(pose_cfg.get("device", "auto"))
    session = make_session(fetch_model(m["pose_model"], f"{skeleton.name} pose model"), device, threads)
    kind = str(m.get("pose_class", "")).lower()
    if kind == "rtmo" or (kind != "rtmpose" and is_one_stage(session)):
        return OneStageEstimator(session, skeleton, m.get("pose_input_size"),
                                 score_threshold=float(m.get("det_score_threshold", 0.5)))
    return TopDownEstimator(session, skeleton, m.get("det_model"), m.get("pose_input_size"), m.get("det_input_size"),
                            int(pose_cfg.get("det_frequency", 4)), device, threads)
