"""BlazePose full on onnxruntime: mediapipe's landmark model without its segmentation head, twice as fast.

The landmark model (``pose_landmark_full.tflite``, inside the mediapipe wheel)
is converted once to ONNX by :mod:`mocap3d.pose.tflite_onnx`, keeping only the
outputs mocap3d uses (landmarks, pose presence, heatmap): mediapipe's graph
always computes the segmentation mask, which is more than half of the model's
cost (one core: ~10.5 ms per inference here against ~20 ms in mediapipe). The
converted file is cached in ``~/.cache/mocap3d/models`` (``MOCAP3D_CACHE``),
never shipped.

Tracking follows BlazePose's published design (Bazarevsky et al. 2020, and the
parameters of mediapipe's pose graphs): the person's region of interest (ROI)
in frame t+1 is derived from two auxiliary landmarks of frame t (hip centre and
a point giving body size and tilt), enlarged 1.25 times and squared; the crop is
warped to 256x256, the landmarks are refined with the model's heatmaps (7x7
window) and projected back. When the pose presence falls below 0.5, or on the
first frame, a person detector gives the ROI: mediapipe's own pose detector
graph (its ``pose_rect_from_detection`` output).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import Mocap3dError
from ..logs import atomic_write, get_logger
from ..skeletons import BLAZEPOSE

log = get_logger("pose")

N_KEYPOINTS = len(BLAZEPOSE.names)  # 33 (the model outputs 39: 33 + hip centre, body-size point + 4 unused)
INPUT = 256                          # model input side (px)
HEATMAP_KERNEL = 7                   # refinement window (heatmap px)
REFINE_MIN_CONFIDENCE = 0.5
ROI_SCALE = 1.25                     # ROI enlargement from the auxiliary landmarks (mediapipe 0.10.14's graph)
PRESENCE_THRESHOLD = 0.5
# The auxiliary landmarks are smoothed with a one-euro filter before the next ROI is derived (mediapipe's
# pose graph: min cutoff 0.01 Hz, beta 1.0, derivative cutoff 1.0 Hz, velocities in object sizes per second).
AUX_MIN_CUTOFF, AUX_BETA, AUX_DCUTOFF = 0.01, 1.0, 1.0
OUTPUTS = ("Identity", "Identity_1", "Identity_3")   # landmarks (1, 195), presence (1, 1), heatmap (1, 64, 64, 39)


@dataclass(frozen=True)
class Roi:
    """A rotated square region in image pixels: centre (cx, cy), size (w, h), rotation (rad, clockwise on screen)."""

    cx: float
    cy: float
    w: float
    h: float
    rotation: float

    def corner_and_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-left corner (2,) and the ROI's x and y edge vectors (2,) in image px."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        ex, ey = np.array([c, s]) * self.w, np.array([-s, c]) * self.h
        return np.array([self.cx, self.cy]) - ex / 2 - ey / 2, ex, ey


class OneEuro:
    """One-euro filter (Casiez et al. 2012) of a vector sampled at ``rate`` Hz; velocities scaled by ``1 / scale``."""

    def __init__(self, rate: float, min_cutoff: float = AUX_MIN_CUTOFF, beta: float = AUX_BETA,
                 dcutoff: float = AUX_DCUTOFF) -> None:
        self.rate, self.min_cutoff, self.beta, self.dcutoff = float(rate), min_cutoff, beta, dcutoff
        self.raw: np.ndarray | None = None
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: np.ndarray, scale: float) -> np.ndarray:
        x = np.asarray(x, float)
        if self.raw is None:
            self.raw, self.value, self.speed = x.copy(), x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self.raw) * self.rate / max(scale, 1e-6)
        a = self._alpha(self.dcutoff)
        self.speed = a * dx + (1 - a) * self.speed
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.speed))
        self.value = a * x + (1 - a) * self.value
        self.raw = x.copy()
        return self.value.copy()

    def reset(self) -> None:
        self.raw = self.value = self.speed = None


def roi_from_alignment(start: np.ndarray, end: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """ROI centred on ``start``, side 2 |end - start| x ``scale``, turned so that ``end`` points up (px in, px out)."""
    d = np.asarray(end, float) - np.asarray(start, float)
    side = 2.0 * float(np.hypot(*d)) * scale
    rot = np.pi / 2 - np.arctan2(-d[1], d[0])
    rot = (rot + np.pi) % (2 * np.pi) - np.pi
    return Roi(float(start[0]), float(start[1]), side, side, float(rot))


def roi_from_normalized(rect: Any, size: tuple[int, int]) -> Roi:
    """ROI from a mediapipe ``NormalizedRect`` (fractions of the image ``size`` (w, h)), squared on its long side."""
    w, h = rect.width * size[0], rect.height * size[1]
    side = max(w, h)
    return Roi(rect.x_center * size[0], rect.y_center * size[1], side, side, rect.rotation)


def crop_matrix(roi: Roi, side: int = INPUT) -> np.ndarray:
    """(2, 3) affine map from model-input px (x, y) to image px, for ``cv2.warpAffine`` with ``WARP_INVERSE_MAP``.

    Input pixel (i, j) samples the image at corner + (i / side) x-edge + (j / side) y-edge,
    the convention under which the model's outputs divided by ``side`` are ROI fractions.
    """
    corner, ex, ey = roi.corner_and_axes()
    return np.column_stack([ex / side, ey / side, corner])


def refine_with_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = REFINE_MIN_CONFIDENCE) -> np.ndarray:
    """Landmarks (L, 2) as ROI fractions, moved to the confidence-weighted mean of their heatmap window.

    ``heatmap``: (H, W, L) logits. A landmark moves only when its window's highest
    confidence (sigmoid) reaches ``min_confidence``; windows are clipped at the edges
    and landmarks outside the heatmap keep their place. Weighted mean of the window's
    pixel indices over the heatmap size, as in the model's training pipeline.
    """
    H, W, L = heatmap.shape
    r = (kernel - 1) // 2
    col = np.floor(xy[:, 0] * W).astype(int)
    row = np.floor(xy[:, 1] * H).astype(int)
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H)
    offs = np.arange(-r, r + 1)
    rows = row[:, None] + offs[None]                                   # (L, k) heatmap indices, may leave it
    cols = col[:, None] + offs[None]
    valid = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]   # clipped window
    logits = heatmap[np.clip(rows, 0, H - 1)[:, :, None], np.clip(cols, 0, W - 1)[:, None, :],
                     np.arange(L)[:, None, None]]                      # (L, k, k)
    win = np.where(valid, 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0))), 0.0)
    total = win.sum((1, 2))
    ok = inside & (win.max((1, 2)) >= min_confidence) & (total > 0)
    out = xy.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok, 0] = (win.sum(1) * cols).sum(1)[ok] / total[ok] / W
        out[ok, 1] = (win.sum(2) * rows).sum(1)[ok] / total[ok] / H
    return out


def decode(raw: np.ndarray, heatmap: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs -> (landmarks (39, 2) image px, visibility (39,) in [0, 1]).

    ``raw``: (195,) = 39 x (x, y, z, visibility logit, presence logit) in input px.
    """
    lm = raw.reshape(-1, 5)
    frac = refine_with_heatmap(lm[:, :2] / INPUT, heatmap)
    corner, ex, ey = roi.corner_and_axes()
    px = corner + frac[:, :1] * ex + frac[:, 1:2] * ey
    return px, 1.0 / (1.0 + np.exp(-lm[:, 3]))


def model_file(name: str = "pose_landmark_full.tflite") -> Path:
    """A BlazePose model file inside the installed mediapipe package (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise Mocap3dError("BlazePose needs mediapipe's model files: pip install mocap3d[video] "
                           "(mediapipe==0.10.14 with protobuf<5)")
    sub = "pose_landmark" if "landmark" in name else "pose_detection"
    path = Path(list(spec.submodule_search_locations)[0]) / "modules" / sub / name
    if not path.is_file():
        raise Mocap3dError(f"{path} is missing from the mediapipe installation; reinstall mediapipe==0.10.14")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("MOCAP3D_CACHE", Path.home() / ".cache" / "mocap3d")) / "models"


def converted_model(tflite: Path, outputs: tuple[str, ...] = OUTPUTS) -> Path:
    """The ONNX conversion of ``tflite`` keeping ``outputs``, cached by the source file's hash."""
    digest = hashlib.sha256(tflite.read_bytes()).hexdigest()[:16]
    tag = hashlib.sha256(",".join(outputs).encode()).hexdigest()[:6]
    path = cache_dir() / f"{tflite.stem}-{digest}-{tag}.onnx"
    if path.is_file():
        return path
    from .tflite_onnx import convert_tflite
    model = convert_tflite(tflite, list(outputs))
    with atomic_write(path, "wb") as fh:
        fh.write(model.SerializeToString())
    log.info("converted %s to %s (outputs %s)", tflite.name, path, ", ".join(outputs))
    return path


def onnx_session(path: Path, threads: int = 1) -> Any:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class MediapipeDetector:
    """Person ROI from mediapipe's pose detector graph (static mode: detection on every call)."""

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        from .blazepose import import_mediapipe
        mp = import_mediapipe()
        from mediapipe.python.solution_base import SolutionBase
        self._graph = SolutionBase(
            binary_graph_path="mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb",
            side_inputs={"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": False,
                         "smooth_segmentation": False, "use_prev_landmarks": False},
            calculator_params={"posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                               min_detection_confidence},
            outputs=["pose_rect_from_detection"])
        _ = mp

    def __call__(self, rgb: np.ndarray) -> Roi | None:
        rect = self._graph.process(rgb).pose_rect_from_detection
        if rect is None or rect.width <= 0 or rect.height <= 0:
            return None
        return roi_from_normalized(rect, (rgb.shape[1], rgb.shape[0]))

    def close(self) -> None:
        self._graph.close()


class BlazePoseOnnx:
    """Single-person BlazePose full, tracked between frames; same interface as :class:`BlazePose`.

    Args:
        model: ONNX landmark model (default: mediapipe's, converted and cached).
        detector: callable RGB image -> :class:`Roi` or None (default: mediapipe's detector graph).
        static: True to detect afresh in every image.
        rate: frame rate (Hz) of the video, for the smoothing of the ROI.
        threads: onnxruntime threads (1: mocap3d runs one process per video).
    """

    skeleton = BLAZEPOSE

    def __init__(self, model: str | os.PathLike | None = None, detector: Callable[[np.ndarray], Roi | None] | None = None,
                 static: bool = False, rate: float = 30.0, threads: int = 1,
                 min_detection_confidence: float = 0.5) -> None:
        import cv2
        self._cv2 = cv2
        path = Path(model) if model else converted_model(model_file())
        self._session = onnx_session(path, threads)
        self._input = self._session.get_inputs()[0].name
        self._detector = detector or MediapipeDetector(min_detection_confidence)
        self.static = static
        self.roi: Roi | None = None
        self.detections = 0
        self._aux = OneEuro(rate)

    def landmarks(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray, float]:
        """Landmarks (39, 2) px, visibility (39,), pose presence of the person in ``roi`` of a BGR image.

        Only the 256x256 crop is converted to RGB (the full frame never is).
        """
        cv2 = self._cv2
        crop = cv2.warpAffine(image, crop_matrix(roi), (INPUT, INPUT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] * np.float32(1 / 255)
        raw, presence, heatmap = self._session.run(list(OUTPUTS), {self._input: x})
        px, vis = decode(raw[0], heatmap[0], roi)
        return px, vis, float(presence.ravel()[0])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (P, 33, 3) = x px, y px, visibility of a BGR uint8 image (H, W, 3); P is 0 or 1."""
        roi = None if self.static else self.roi
        if roi is None:
            roi = self._detector(self._cv2.cvtColor(image, self._cv2.COLOR_BGR2RGB))
            self.detections += 1
            if roi is None:
                return self._lost()
        px, vis, presence = self.landmarks(image, roi)
        if presence < PRESENCE_THRESHOLD:
            return self._lost()
        aux = px[33:35]
        aux = self._aux(aux, scale=float(np.abs(aux[1] - aux[0]).mean()))
        self.roi = roi_from_alignment(aux[0], aux[1])
        return np.concatenate([px[:N_KEYPOINTS], vis[:N_KEYPOINTS, None]], axis=1)[None]

    def _lost(self) -> np.ndarray:
        self.roi = None
        self._aux.reset()
        return np.zeros((0, N_KEYPOINTS, 3))

    def close(self) -> None:
        if hasattr(self._detector, "close"):
            self._detector.close()

    def __enter__(self) -> "BlazePoseOnnx":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
