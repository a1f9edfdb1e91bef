"""BlazePose (mediapipe 0.10.14 pose solution, full model): offline single-person 2D keypoints.

The full BlazePose model (``model_complexity=1``) ships inside the mediapipe
wheel, so this backend needs no download. Output keypoints follow
:data:`mocap3d.skeletons.BLAZEPOSE` (33 landmarks, mediapipe's order) in
pixels of the frame given, with mediapipe's ``visibility`` as likelihood.
"""
from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from ..errors import Mocap3dError
from ..skeletons import BLAZEPOSE

N_KEYPOINTS = len(BLAZEPOSE.names)  # 33


def import_mediapipe() -> Any:
    """The ``mediapipe`` module, or a Mocap3dError saying how to install it."""
    import warnings
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        with _pyplot_deferred():
            import mediapipe as mp  # noqa: PLC0415
            _ = mp.solutions.pose
    except Exception as exc:  # ImportError, or protobuf >= 5 breaking mediapipe 0.10.14
        raise Mocap3dError(f"BlazePose needs mediapipe ({type(exc).__name__}: {exc}). "
                           "Install it with: pip install mocap3d[video]  "
                           "(mediapipe==0.10.14 with protobuf<5)") from exc
    return mp


class _DeferredPyplot(types.ModuleType):
    """Stands for ``matplotlib.pyplot`` in mediapipe's drawing helpers; imports the real one on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("matplotlib.pyplot"), name)


@contextmanager
def _pyplot_deferred() -> Iterator[None]:
    """While importing mediapipe, keep ``matplotlib.pyplot`` from loading.

    ``mediapipe.solutions`` imports pyplot at import time for one 3D plotting
    helper that mocap3d never calls; loading it costs 0.25-0.4 s per worker
    process (measured on 2 cores). A placeholder module takes its place during
    the import and is removed afterwards, so a later ``import matplotlib.pyplot``
    (or that helper) gets the real module.
    """
    if "matplotlib.pyplot" in sys.modules:
        yield
        return
    stub = _DeferredPyplot("matplotlib.pyplot")
    stub.__spec__ = None
    sys.modules["matplotlib.pyplot"] = stub
    try:
        yield
    finally:
        if sys.modules.get("matplotlib.pyplot") is stub:
            del sys.modules["matplotlib.pyplot"]


def scale_for(size: tuple[int, int], max_side: int | None) -> float:
    """Factor (<= 1) bringing the long side of ``size`` (w, h) down to ``max_side`` px."""
    if not max_side:
        return 1.0
    return min(1.0, float(max_side) / max(size))


class BlazePose:
    """One mediapipe Pose graph per video (it tracks the person between frames).

    Mediapipe's landmark smoothing is off: it lags fast motion (measured: a
    person shifted 8 px per frame was followed by 1-5 px per frame), which would
    bias synchronization; mocap3d filters later, in 3D.

    Args:
        max_side: frames whose long side exceeds this (px) are shrunk before
            inference; keypoints are scaled back to the original pixels. None
            (default) feeds full frames: mediapipe shrinks them to its 224/256 px
            inputs itself, and measured on 1080x1920 frames it is no slower fed
            full frames (24.8 ms) than 360x640 ones (27.0 ms), while our resize
            costs 2 to 6 ms. Re-measured: shrinking 1080x1920 frames to 960 px
            (INTER_AREA) saves ~1 ms per frame in all but moves keypoints with
            visibility > 0.5 by 8 px (median; 95th percentile 52 px), so the
            default stays full frames.
        static: True to detect afresh in every image (photos, crops of
            several people); False to track between consecutive frames.
        min_detection_confidence, min_tracking_confidence: mediapipe thresholds in [0, 1].
    """

    skeleton = BLAZEPOSE

    def __init__(self, max_side: int | None = None, static: bool = False,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        mp = import_mediapipe()
        self.max_side = max_side
        self._pose = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=1,
                                            smooth_landmarks=False, enable_segmentation=False,
                                            min_detection_confidence=min_detection_confidence,
                                            min_tracking_confidence=min_tracking_confidence)
        self.world = np.zeros((0, N_KEYPOINTS, 4))

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The RGB uint8 image mediapipe reads, from a BGR uint8 image (H, W, 3) (shrunk to ``max_side`` if set).

        Separate from :meth:`__call__` so that the decoding thread can do it while
        the previous frame is inferred (1.5-2.5 ms per 1080x1920 frame).
        """
        import cv2
        h, w = image.shape[:2]
        s = scale_for((w, h), self.max_side)
        small = image if s == 1.0 else cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        return rgb

    def __call__(self, image: np.ndarray, prepared: np.ndarray | None = None) -> np.ndarray:
        """Keypoints (P, 33, 3) = x px, y px, likelihood of a BGR uint8 image (H, W, 3); P is 0 or 1.

        ``prepared``: ``self.prepare(image)`` if already computed. ``self.world`` then
        holds mediapipe's ``pose_world_landmarks`` of the same persons (P, 33, 4): x, y, z
        in metres, hip-centred, image axes (x right, y down, z away from the camera), visibility.
        """
        h, w = image.shape[:2]
        result = self._pose.process(self.prepare(image) if prepared is None else prepared)
        if result.pose_landmarks is None:
            self.world = np.zeros((0, N_KEYPOINTS, 4))
            return np.zeros((0, N_KEYPOINTS, 3))
        world = result.pose_world_landmarks
        self.world = np.full((1, N_KEYPOINTS, 4), np.nan)
        if world is not None:
            self.world[0, :, :3] = [(p.x, p.y, p.z) for p in world.landmark]
        lm = result.pose_landmarks.landmark
        arr = np.array([(p.x, p.y, p.visibility) for p in lm], dtype=float)  # normalized to the image
        arr[:, 0] *= w  # normalized coordinates -> original pixels (the scale cancels out)
        arr[:, 1] *= h
        arr[:, 2] = np.clip(arr[:, 2], 0.0, 1.0)
        self.world[0, :, 3] = arr[:, 2]                  # the landmarks' visibility, as the onnxruntime backend's
        return arr[None]

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> "BlazePose":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class BlazePoseMulti:
    """Several people: a person detector finds boxes, BlazePose runs on each padded crop.

    Args:
        schedule: a :class:`mocap3d.pose.onnx_models.BoxSchedule` (detector every
            ``det_frequency`` frames, boxes of the previous keypoints in between).
        padding: each box is enlarged by this factor around its centre before cropping.
        pose: the single-person estimator run on each crop in static mode (default: mediapipe's
            graph, :class:`BlazePose`).

    Each crop is processed in static mode (BlazePose's own detector finds the
    person in it), so crops of different people do not disturb each other.
    """

    skeleton = BLAZEPOSE

    def __init__(self, schedule: Any, padding: float = 1.25, max_side: int | None = None, pose: Any = None) -> None:
        self.schedule, self.padding = schedule, float(padding)
        self._pose = pose if pose is not None else BlazePose(max_side=max_side, static=True)
        self.world = np.zeros((0, N_KEYPOINTS, 4))   # world landmarks (P, 33, 4) of the last call, as BlazePose's

    def crop_box(self, box: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Integer crop x0, y0, x1, y1 px: ``box`` padded around its centre, clipped to the image (w, h)."""
        c = (np.asarray(box[:2], float) + box[2:4]) / 2
        half = (np.asarray(box[2:4], float) - box[:2]) * self.padding / 2
        x0, y0 = np.floor(np.maximum(c - half, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(c + half, size)).astype(int)
        return int(x0), int(y0), int(x1), int(y1)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (P, 33, 3) image px, one row per box where BlazePose found a person."""
        h, w = image.shape[:2]
        found, world = [], []
        for box in self.schedule.boxes(image):
            x0, y0, x1, y1 = self.crop_box(box, (w, h))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            kp = self._pose(np.ascontiguousarray(image[y0:y1, x0:x1]))
            if len(kp):
                kp[0, :, 0] += x0
                kp[0, :, 1] += y0
                found.append(kp[0])
                # hip-centred and unrotated by a crop's translation: the crop's world landmarks are the image's
                inner = getattr(self._pose, "world", None)
                world.append(inner[0] if inner is not None and len(inner) else np.full((N_KEYPOINTS, 4), np.nan))
        persons = np.stack(found) if found else np.zeros((0, N_KEYPOINTS, 3))
        self.world = np.stack(world) if world else np.zeros((0, N_KEYPOINTS, 4))
        self.schedule.update(persons)
        return persons

    def close(self) -> None:
        self._pose.close()
