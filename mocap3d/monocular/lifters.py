"""3D lifters: one person's 2D keypoints in one camera -> root-relative 3D in camera axes.

Every lifter returns a :class:`Lifted3D` in the same frame:

* axes are the CAMERA's (OpenCV convention): x to the right of the image,
  y down the image, z away from the camera (depth grows with distance);
* the origin is the mid-hip point (mean of ``LHip`` and ``RHip``, or the
  lifter's own pelvis/root joint) in every frame: the output is root-relative,
  the root's own translation is for the monocular stage to find;
* units are metres when ``metric`` is True (BlazePose world landmarks), else
  the lifter's own units: MotionBERT's are image pixels at the person's depth
  (z too: a depth difference dZ reads dZ * f / Z_root px), so multiplying by
  ``Z_root / f`` (distance of the person over the focal length in px) gives metres.

Lifters (``[monocular] lifter`` in Config.toml):

* ``blazepose``: BlazePose's own 3D world landmarks, kept by the pose stage in
  the OpenPose JSON as ``pose_keypoints_3d``. mediapipe documents them as
  real-world 3D coordinates in metres with the origin at the centre of the hips;
  they are rotated only by the person's region-of-interest rotation, so their
  axes are the image's: x right, y down, z away from the camera (smaller z =
  closer to the camera, like the normalized landmarks' depth). Only the origin is
  moved (to the exact mean of the two hips).
* ``motionbert``: MotionBERT (Zhu et al. 2023) as an ONNX file, see
  :mod:`mocap3d.monocular.motionbert`.
* ``none``: no lifter (:func:`lift` returns None); the stage works from 2D alone.
* ``auto``: ``blazepose`` when the JSON carries ``pose_keypoints_3d``, else
  ``none`` with a warning naming why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, Mocap3dError
from ..logs import get_logger

log = get_logger("monocular")

LIFTERS = ("auto", "blazepose", "motionbert", "none")

# Pipeline keypoints that are the mean of lifted joints when the lifter does not output them itself
# (the skeletons' own derived points: mid-hip, mid-shoulders).
_DERIVED = {"Hip": ("LHip", "RHip"), "CHip": ("LHip", "RHip"), "Neck": ("LShoulder", "RShoulder")}
# Same anatomical point under another name (pipeline name -> lifted name).
_ALIASES = {"CHip": "Hip", "LBigToe": "LFootIndex", "RBigToe": "RFootIndex",
            "LFootIndex": "LBigToe", "RFootIndex": "RBigToe"}


@dataclass
class Lifted3D:
    """Root-relative 3D of one person in one camera.

    Attributes:
        names: joint names of the lifted skeleton (the pipeline's names: e.g. the
            33 BlazePose names, or the 17 H36M joints of :data:`mocap3d.monocular.h36m.H36M_NAMES`).
        xyz: (frames, joints, 3) root-relative positions, origin = mid-hip in every
            frame, CAMERA axes: x right, y down, z away from the camera (OpenCV);
            metres when ``metric`` else pixels at the person's depth; NaN where missing.
        confidence: (frames, joints) in [0, 1]; 0 where ``xyz`` is NaN.
        metric: True when ``xyz`` is in metres (BlazePose world landmarks); False
            for MotionBERT's pixel units (see the module docstring), to be scaled by the stage.
        method: the lifter that produced it, ``'blazepose'`` or ``'motionbert'``.
    """

    names: list[str]
    xyz: np.ndarray
    confidence: np.ndarray
    metric: bool
    method: str

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.xyz = np.asarray(self.xyz, dtype=float)
        self.confidence = np.asarray(self.confidence, dtype=float)
        F = self.xyz.shape[0] if self.xyz.ndim == 3 else -1
        if self.xyz.ndim != 3 or self.xyz.shape[1:] != (len(self.names), 3) or self.confidence.shape != (F, len(self.names)):
            raise ValueError(f"Lifted3D: xyz {self.xyz.shape} / confidence {self.confidence.shape} do not match "
                             f"(frames, {len(self.names)}, 3) / (frames, {len(self.names)})")

    @property
    def n_frames(self) -> int:
        return self.xyz.shape[0]


def resolve_method(method: str | None, has_3d: bool) -> str:
    """The lifter to run: ``method`` checked, ``'auto'`` -> ``'blazepose'`` if 3D landmarks exist, else ``'none'``."""
    m = (method or "auto").strip().lower()
    if m not in LIFTERS:
        raise ConfigError(f"monocular.lifter = {method!r} is unknown; use one of {', '.join(LIFTERS)}")
    if m == "auto":
        if has_3d:
            return "blazepose"
        log.warning("monocular.lifter = 'auto': the 2D keypoints carry no 3D landmarks (pose_keypoints_3d; only "
                    "BlazePose writes them, and only since mocap3d kept them), so no lifter is used ('none'); "
                    "rerun pose with pose_model = 'BLAZEPOSE' or set lifter = 'motionbert' with motionbert_model")
        return "none"
    return m


def lift(method: str, keypoints: np.ndarray, names: Sequence[str], *, image_size: tuple[int, int],
         keypoints_3d: np.ndarray | None = None, model: str | None = None,
         rate: float | None = None) -> Lifted3D | None:
    """Lift one person's 2D keypoints in one camera to root-relative 3D (see the module docstring for axes/units).

    Args:
        method: ``'auto'`` | ``'blazepose'`` | ``'motionbert'`` | ``'none'``.
        keypoints: (frames, K, 3) x px, y px, likelihood; NaN where missing.
        names: the K keypoint names (the trial skeleton's ``names``).
        image_size: (width, height) of the video in px.
        keypoints_3d: (frames, K, 4) BlazePose world landmarks x, y, z (m), c as read
            from ``pose_keypoints_3d`` (same keypoint order as ``keypoints``): the
            reader's ``Keypoints2D.data3d[camera, :, person]``; None when it has none.
        model: MotionBERT ONNX path or URL (``monocular.motionbert_model``).
        rate: frame rate in Hz (informative; MotionBERT works on frame indices).

    Returns:
        :class:`Lifted3D`, or None for ``'none'`` (and for ``'auto'`` without 3D landmarks).
    """
    keypoints = np.asarray(keypoints, dtype=float)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (len(names), 3):
        raise ValueError(f"lift: keypoints must be (frames, {len(names)}, 3), got {keypoints.shape}")
    has_3d = keypoints_3d is not None and bool(np.isfinite(np.asarray(keypoints_3d, dtype=float)[..., :3]).any())
    m = resolve_method(method, has_3d)
    if m == "none":
        return None
    if m == "blazepose":
        if not has_3d:
            raise Mocap3dError("monocular.lifter = 'blazepose' needs BlazePose's 3D world landmarks "
                               "(pose_keypoints_3d in the pose JSON files), and these keypoints have none; rerun pose "
                               "with pose_model = 'BLAZEPOSE', or set lifter = 'motionbert' or 'none'")
        return lift_blazepose(keypoints, names, keypoints_3d)
    from .motionbert import lift_motionbert
    return lift_motionbert(keypoints, names, image_size=image_size, model=model)


def _mid_hip(xyz: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(frames, 3) mean of LHip and RHip (or the 'Hip'/'CHip' joint when the hips are absent)."""
    if "LHip" in names and "RHip" in names:
        return 0.5 * (xyz[:, names.index("LHip")] + xyz[:, names.index("RHip")])
    for n in ("Hip", "CHip"):
        if n in names:
            return xyz[:, names.index(n)]
    raise Mocap3dError(f"the lifted skeleton has no hips (joints: {', '.join(names)}); cannot make it root-relative")


def lift_blazepose(keypoints: np.ndarray, names: Sequence[str], keypoints_3d: np.ndarray) -> Lifted3D:
    """BlazePose world landmarks (frames, K, 4) -> :class:`Lifted3D` (metres, origin moved to the mid-hip).

    BlazePose's world axes already are the camera's (x right, y down, z away), so
    no rotation is applied. Confidence: the landmark's ``c`` (its visibility, as
    the pose stage writes it), else the 2D likelihood; 0 where xyz is missing.
    """
    names = list(names)
    w = np.asarray(keypoints_3d, dtype=float)
    if w.ndim != 3 or w.shape[:2] != keypoints.shape[:2] or w.shape[2] not in (3, 4):
        raise ValueError(f"lift: keypoints_3d must be (frames, K, 4) like keypoints {keypoints.shape[:2]}, got {w.shape}")
    xyz = w[..., :3].copy()
    conf = w[..., 3].copy() if w.shape[2] == 4 else np.full(xyz.shape[:2], np.nan)
    conf = np.where(np.isfinite(conf), conf, keypoints[..., 2])
    xyz -= _mid_hip(xyz, names)[:, None]
    missing = ~np.isfinite(xyz).all(-1)
    xyz[missing] = np.nan
    conf = np.where(missing | ~np.isfinite(conf), 0.0, np.clip(conf, 0.0, 1.0))
    return Lifted3D([n for n in names], xyz, conf, True, "blazepose")


def lifted_to_skeleton(lifted: Lifted3D, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The lifted 3D of each of the trial skeleton's keypoints, where the lifter has the same point.

    A keypoint takes the lifted joint of the same name (``CHip`` = ``Hip``,
    ``BigToe`` = BlazePose's ``FootIndex``), or the mean of the lifted joints its
    skeleton derives it from (``Hip``/``CHip`` = mean of the hips, ``Neck`` = mean
    of the shoulders) when the lifter lacks it; otherwise NaN. H36M's ``Spine``
    has no pipeline equivalent and is not used; its ``Neck`` (thorax) and ``Head`` (head
    top) match the skeletons' ``Neck`` and ``Head``.

    Returns:
        xyz (frames, len(names), 3) in the lifted frame and units (NaN where no
        match), confidence (frames, len(names)) (0 where no match).
    """
    F = lifted.n_frames
    xyz = np.full((F, len(names), 3), np.nan)
    conf = np.zeros((F, len(names)))
    idx = {n: i for i, n in enumerate(lifted.names)}
    for j, n in enumerate(names):
        src = n if n in idx else _ALIASES.get(n)
        if src in idx:
            xyz[:, j], conf[:, j] = lifted.xyz[:, idx[src]], lifted.confidence[:, idx[src]]
        elif n in _DERIVED and all(p in idx for p in _DERIVED[n]):
            parts = [idx[p] for p in _DERIVED[n]]
            xyz[:, j] = lifted.xyz[:, parts].mean(1)
            conf[:, j] = lifted.confidence[:, parts].min(1)
    conf[~np.isfinite(xyz).all(-1)] = 0.0
    return xyz, conf
