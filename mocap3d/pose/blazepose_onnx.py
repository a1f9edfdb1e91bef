"""BlazePose full on onnxruntime: mediapipe's landmark model without its segmentation head, twice as fast.

The landmark model (``pose_landmark_full.tflite``, inside the mediapipe wheel)
is converted once to ONNX by :mod:`mocap3d.pose.tflite_onnx`, keeping only the
outputs mocap3d uses (landmarks, pose presence, heatmap): mediapipe's graph
always computes the segmentation mask, which is more than half of the model's
cost (one core: ~10.5 ms per inference here against ~20 ms in mediapipe). The
converted file is cached in ``~/.cache/mocap3d/models`` (``MOCAP3D_MODEL_DIR``),
never shipped.

Tracking follows BlazePose's published design (Bazarevsky et al. 2020, and the
parameters of mediapipe's pose graphs): the person's region of interest (ROI)
in frame t+1 is derived from two auxiliary landmarks of frame t (hip centre and
a point giving body size and tilt), enlarged 1.25 times and squared; the crop is
warped to 256x256, the landmarks are refined with the model's heatmaps (7x7
window) and projected back. When the pose presence falls below 0.5, or on the
first frame, BlazePose's person detector (``pose_detection.tflite``, converted
the same way; SSD anchors, weighted non-maximum suppression) gives the ROI from
its hip centre and body-size keypoints. mediapipe itself is never imported:
only its model files are read.
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
from .onnx_models import make_session, model_dir

log = get_logger("pose")

N_KEYPOINTS = len(BLAZEPOSE.names)  # 33 (the model outputs 39: 33 + hip centre, body-size point + 4 unused)
INPUT = 256                          # model input side (px)
HEATMAP_KERNEL = 7                   # refinement window (heatmap px)
REFINE_MIN_CONFIDENCE = 0.5
ROI_SCALE = 1.25                     # ROI enlargement from the auxiliary landmarks (mediapipe 0.10.14's graph)
DET_ROI_SCALE = 1.25                 # ... and from the detector's hip centre and body-size point
PRESENCE_THRESHOLD = 0.5
# The auxiliary landmarks are smoothed with a one-euro filter before the next ROI is derived (mediapipe's
# pose graph: min cutoff 0.01 Hz, beta 1.0, derivative cutoff 1.0 Hz, velocities in object sizes per second).
AUX_MIN_CUTOFF, AUX_BETA, AUX_DCUTOFF = 0.01, 1.0, 1.0
# landmarks (1, 195), presence (1, 1), heatmap (1, 64, 64, 39), world landmarks (1, 117) = 39 x (x, y, z) metres
OUTPUTS = ("Identity", "Identity_1", "Identity_3", "Identity_4")


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


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float64 (logits beyond +-60 saturate instead of overflowing)."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60.0, 60.0)))


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
    win = np.where(valid, sigmoid(logits), 0.0)
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
    return px, sigmoid(lm[:, 3])


def world_to_image_axes(world: np.ndarray, roi: Roi) -> np.ndarray:
    """World landmarks (N, 3) m in the ROI's axes -> the image's axes (x right, y down, z away from the camera).

    As mediapipe's world-landmark projection: only the ROI's rotation is applied
    (x, y turned by it, z unchanged); the hip-centred origin and metres are kept.
    """
    _, ex, ey = roi.corner_and_axes()
    axes = np.stack([ex / np.linalg.norm(ex), ey / np.linalg.norm(ey)])   # rows: ROI x and y in image axes
    out = np.array(world, dtype=float)
    out[:, :2] = world[:, :2] @ axes
    return out


def mediapipe_model(name: str) -> Path | None:
    """A BlazePose model file inside the installed mediapipe package (found without importing it), or None."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    sub = "pose_landmark" if "landmark" in name else "pose_detection"
    path = Path(list(spec.submodule_search_locations)[0]) / "modules" / sub / name
    return path if path.is_file() else None


def model_file(name: str = "pose_landmark_full.tflite") -> Path:
    """A BlazePose model file inside the installed mediapipe package, or a Mocap3dError saying how to get it."""
    path = mediapipe_model(name)
    if path is not None:
        return path
    if importlib.util.find_spec("mediapipe") is None:
        raise Mocap3dError("BlazePose needs mediapipe's model files: pip install mocap3d[video] "
                           "(mediapipe==0.10.14 with protobuf<5)")
    raise Mocap3dError(f"{name} is missing from the mediapipe installation; reinstall mediapipe==0.10.14")


def converted_model(tflite: Path, outputs: tuple[str, ...] = OUTPUTS) -> Path:
    """The ONNX conversion of ``tflite`` keeping ``outputs``, cached by the source file's hash."""
    digest = hashlib.sha256(tflite.read_bytes()).hexdigest()[:16]
    tag = hashlib.sha256(",".join(outputs).encode()).hexdigest()[:6]
    path = model_dir() / f"{tflite.stem}-{digest}-{tag}.onnx"
    if path.is_file():
        return path
    from .tflite_onnx import convert_tflite
    model = convert_tflite(tflite, list(outputs))
    try:
        with atomic_write(path, "wb") as fh:
            fh.write(model.SerializeToString())
    except OSError as exc:
        raise Mocap3dError(f"cannot write the converted model to {path.parent} ({exc.strerror}); set MOCAP3D_MODEL_DIR "
                           "to a writable folder") from exc
    log.info("converted %s to %s (outputs %s)", tflite.name, path, ", ".join(outputs))
    return path


# ----------------------------------------------------------------------------- person detector
DET_INPUT = 224                      # detector input side (px), letterboxed, values in [-1, 1]
DET_STRIDES = (8, 16, 32, 32, 32)   # SSD layers; two anchors per cell and layer, unit size (2254 anchors)
DET_NMS_IOU = 0.3
DET_OUTPUTS = ("Identity", "Identity_1")   # boxes + keypoints (1, 2254, 12), score logits (1, 2254, 1)


def ssd_anchors(side: int = DET_INPUT, strides: tuple[int, ...] = DET_STRIDES) -> np.ndarray:
    """Anchor centres (N, 2) as fractions of the input: per group of equal strides, row-major cells,
    two anchors per layer of the group in each cell."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = int(np.ceil(side / strides[i]))
        yy, xx = np.mgrid[0:n, 0:n]
        centres = np.stack([(xx.ravel() + 0.5) / n, (yy.ravel() + 0.5) / n], 1)
        out.append(np.repeat(centres, 2 * (j - i), axis=0))
        i = j
    return np.concatenate(out)


def letterbox_matrix(size: tuple[int, int], side: int = DET_INPUT) -> tuple[np.ndarray, float, np.ndarray]:
    """(2, 3) map from the square input's px to image px for an image ``size`` (w, h) fitted with borders,
    and (scale, offset) such that image px = input px * scale + offset."""
    w, h = size
    scale = max(w, h) / side
    offset = np.array([(w - max(w, h)) / 2, (h - max(w, h)) / 2])
    return np.array([[scale, 0, offset[0]], [0, scale, offset[1]]]), scale, offset


def decode_detections(boxes: np.ndarray, scores: np.ndarray, anchors: np.ndarray, min_score: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw SSD outputs -> (boxes (D, 4) x0, y0, x1, y1, keypoints (D, 4, 2), scores (D,)), input fractions.

    ``boxes``: (N, 12) = centre offset x, y, width, height, 4 keypoints x, y (input px);
    ``scores``: (N,) logits. Only anchors scoring >= ``min_score`` are kept.
    """
    s = sigmoid(scores)
    keep = s >= min_score
    b, a = boxes[keep] / DET_INPUT, anchors[keep]
    c, wh = b[:, :2] + a, b[:, 2:4]
    kp = b[:, 4:12].reshape(-1, 4, 2) + a[:, None]
    return np.concatenate([c - wh / 2, c + wh / 2], 1), kp, s[keep]


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_min: float = DET_NMS_IOU) -> tuple[np.ndarray, np.ndarray]:
    """Every person: (keypoints (D, 4, 2), scores (D,)), best first (weighted non-maximum suppression).

    Repeatedly, the best-scoring remaining detection and those overlapping it by
    IoU > ``iou_min`` form one person, whose keypoints are their score-weighted mean.
    """
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    left = np.argsort(-scores)
    kps, best = [], []
    while left.size:
        top = left[0]
        lo = np.maximum(boxes[left, :2], boxes[top, :2])
        hi = np.minimum(boxes[left, 2:], boxes[top, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        near = inter / np.maximum(area[left] + area[top] - inter, 1e-12) > iou_min
        near[0] = True
        w = scores[left[near]] / scores[left[near]].sum()
        kps.append(np.tensordot(w, keypoints[left[near]], axes=1))
        best.append(scores[top])
        left = left[~near]
    return np.array(kps).reshape(-1, 4, 2), np.array(best, float)


def best_detection(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                   iou_min: float = DET_NMS_IOU) -> np.ndarray | None:
    """Keypoints (4, 2) of the best-scoring person (the first of :func:`weighted_nms`), or None."""
    kps, _ = weighted_nms(boxes, keypoints, scores, iou_min)
    return kps[0] if len(kps) else None


class PoseDetector:
    """BlazePose's person detector (``pose_detection.tflite`` of the mediapipe wheel, on onnxruntime).

    Returns the ROI of the most confident person, from the hip centre and the
    body-size point the detector predicts, like the landmark model's own ROI.
    """

    def __init__(self, min_score: float = 0.5, model: str | os.PathLike | None = None, threads: int = 1) -> None:
        import cv2
        self._cv2 = cv2
        path = Path(model) if model else converted_model(model_file("pose_detection.tflite"), DET_OUTPUTS)
        self._session = make_session(path, "cpu", threads)
        self._input = self._session.get_inputs()[0].name
        self._anchors = ssd_anchors()
        self.min_score = float(min_score)

    def detect_all(self, image: np.ndarray) -> list[Roi]:
        """ROIs (image px) of every person found in a BGR uint8 image (H, W, 3), most confident first."""
        cv2 = self._cv2
        h, w = image.shape[:2]
        m, scale, offset = letterbox_matrix((w, h))
        crop = cv2.warpAffine(image, m, (DET_INPUT, DET_INPUT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] * np.float32(2 / 255) - np.float32(1)
        boxes, scores = self._session.run(list(DET_OUTPUTS), {self._input: x})
        kps, _ = weighted_nms(*decode_detections(boxes[0], scores[0, :, 0], self._anchors, self.min_score))
        px = kps * DET_INPUT * scale + offset
        return [roi_from_alignment(p[0], p[1], DET_ROI_SCALE) for p in px]

    def __call__(self, image: np.ndarray) -> Roi | None:
        """ROI (image px) of the most confident person in a BGR uint8 image (H, W, 3), or None."""
        rois = self.detect_all(image)
        return rois[0] if rois else None


class BlazePoseOnnx:
    """Single-person BlazePose (lite, full or heavy), tracked between frames; same interface as :class:`BlazePose`.

    Args:
        model: ONNX landmark model, or a ``.tflite`` one (converted and cached); default: the full model
            of the mediapipe wheel (see :func:`mocap3d.pose.blazepose_models.landmark_tflite` for the others).
        detector: callable BGR image -> :class:`Roi` or None (default: :class:`PoseDetector`).
        static: True to detect afresh in every image.
        rate: frame rate (Hz) of the video, for the smoothing of the ROI.
        threads: onnxruntime threads (1: mocap3d runs one process per video).
        min_detection_confidence: person detector score threshold in [0, 1].
    """

    skeleton = BLAZEPOSE

    def __init__(self, model: str | os.PathLike | None = None,
                 detector: Callable[[np.ndarray], Roi | None] | None = None, static: bool = False,
                 rate: float = 30.0, threads: int = 1, min_detection_confidence: float = 0.5) -> None:
        import cv2
        self._cv2 = cv2
        path = Path(model) if model else model_file()
        self.model_name = path.name                                 # the landmark model run, for the reports
        if path.suffix.lower() == ".tflite":
            path = converted_model(path)
        self._session = make_session(path, "cpu", threads)
        self._input = self._session.get_inputs()[0].name
        have = {o.name for o in self._session.get_outputs()}
        self._outputs = [o for o in OUTPUTS if o in have]          # a model given without world landmarks runs too
        self.world = np.zeros((0, N_KEYPOINTS, 4))
        self.last_world: np.ndarray | None = None
        self._detector = detector or PoseDetector(min_detection_confidence, threads=threads)
        self.static = static
        self.roi: Roi | None = None
        self.detections = 0
        self._aux = OneEuro(rate)

    def landmarks(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray, float]:
        """Landmarks (39, 2) px, visibility (39,), pose presence of the person in ``roi`` of a BGR image.

        Only the 256x256 crop is converted to RGB (the full frame never is). The
        world landmarks (39, 3) m, image axes, are left in ``self.last_world``.
        """
        cv2 = self._cv2
        crop = cv2.warpAffine(image, crop_matrix(roi), (INPUT, INPUT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] * np.float32(1 / 255)
        raw, presence, heatmap, *world = self._session.run(self._outputs, {self._input: x})
        px, vis = decode(raw[0], heatmap[0], roi)
        self.last_world = world_to_image_axes(world[0].reshape(-1, 3), roi) if world else None
        return px, vis, float(presence.ravel()[0])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (P, 33, 3) = x px, y px, visibility of a BGR uint8 image (H, W, 3); P is 0 or 1.

        ``self.world`` then holds the same persons' world landmarks (P, 33, 4): x, y, z
        in metres, hip-centred, image axes (x right, y down, z away from the camera),
        and the visibility (NaN when the model has no world output).
        """
        roi = None if self.static else self.roi
        if roi is None:
            roi = self._detector(image)
            self.detections += 1
            if roi is None:
                return self._lost()
        px, vis, presence = self.landmarks(image, roi)
        if presence < PRESENCE_THRESHOLD:
            return self._lost()
        if not self.static:
            aux = self._aux(px[33:35], scale=float(np.abs(px[34] - px[33]).mean()))
            self.roi = roi_from_alignment(aux[0], aux[1])
        world = self.last_world[:N_KEYPOINTS] if self.last_world is not None else np.full((N_KEYPOINTS, 3), np.nan)
        self.world = np.concatenate([world, vis[:N_KEYPOINTS, None]], axis=1)[None]
        return np.concatenate([px[:N_KEYPOINTS], vis[:N_KEYPOINTS, None]], axis=1)[None]

    def _lost(self) -> np.ndarray:
        self.roi = None
        self._aux.reset()
        self.world = np.zeros((0, N_KEYPOINTS, 4))
        return np.zeros((0, N_KEYPOINTS, 3))

    def close(self) -> None:
        if hasattr(self._detector, "close"):
            self._detector.close()

    def __enter__(self) -> "BlazePoseOnnx":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
