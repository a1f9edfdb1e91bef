"""2D keypoints of several cameras: the :class:`Keypoints2D` container."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Keypoints2D:
    """Detections of every camera, frame, person and keypoint.

    Attributes:
        data: (cameras, frames, persons, keypoints, 3) = x px, y px,
            likelihood in [0, 1]; NaN where nothing was detected.
        cameras: camera names, in calibration order.
        keypoints: keypoint names by detector index (``Skeleton.names``).
        frames: (frames,) frame indices shared by all cameras (from the
            trailing number of the OpenPose JSON file names).
        rate: frame rate in Hz.
        offsets: (cameras,) time offset of each camera in frames, to add to
            its frame index to reach the common clock (0 once synchronized).
        data3d: None, or (cameras, frames, persons, keypoints, 4) = x, y, z in
            metres, confidence: the detector's own 3D of each keypoint (BlazePose's
            world landmarks: hip-centred, image axes x right, y down, z away from
            the camera); NaN where missing. Read from and written to the OpenPose
            JSON's ``pose_keypoints_3d``.
    """

    data: np.ndarray
    cameras: list[str]
    keypoints: list[str]
    frames: np.ndarray
    rate: float
    offsets: np.ndarray = field(default=None)  # type: ignore[assignment]
    data3d: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=float)
        if self.data.ndim != 5 or self.data.shape[-1] != 3:
            raise ValueError(f"Keypoints2D data must be (cameras, frames, persons, keypoints, 3), got {self.data.shape}")
        self.frames = np.asarray(self.frames, dtype=int)
        if self.offsets is None:
            self.offsets = np.zeros(len(self.cameras))
        self.offsets = np.asarray(self.offsets, dtype=float)
        C, F, _, K, _ = self.data.shape
        if len(self.cameras) != C or len(self.frames) != F or len(self.keypoints) != K:
            raise ValueError(f"Keypoints2D: data {self.data.shape} does not match {len(self.cameras)} cameras, "
                             f"{len(self.frames)} frames, {len(self.keypoints)} keypoints")
        if self.data3d is not None:
            self.data3d = np.asarray(self.data3d, dtype=float)
            if self.data3d.shape != self.data.shape[:4] + (4,):
                raise ValueError(f"Keypoints2D data3d must be {self.data.shape[:4] + (4,)} (x, y, z, c), "
                                 f"got {self.data3d.shape}")

    @property
    def n_cameras(self) -> int:
        return self.data.shape[0]

    @property
    def n_frames(self) -> int:
        return self.data.shape[1]

    @property
    def n_persons(self) -> int:
        return self.data.shape[2]

    @property
    def xy(self) -> np.ndarray:
        """Pixel coordinates (C, F, P, K, 2)."""
        return self.data[..., :2]

    @property
    def likelihood(self) -> np.ndarray:
        """Confidences (C, F, P, K); NaN for missing detections."""
        return self.data[..., 2]

    @property
    def times(self) -> np.ndarray:
        """Time of each frame in seconds (F,)."""
        return self.frames / self.rate

    def select_cameras(self, keys: list[int | str]) -> "Keypoints2D":
        idx = [k if isinstance(k, int) else self.cameras.index(k) for k in keys]
        return Keypoints2D(self.data[idx], [self.cameras[i] for i in idx], list(self.keypoints),
                           self.frames.copy(), self.rate, self.offsets[idx].copy(),
                           None if self.data3d is None else self.data3d[idx])


def require_detections(kp: Keypoints2D, where: object) -> None:
    """Stop with one line when no camera, or only one, has any detection (nothing to sync, associate or triangulate)."""
    from .errors import Mocap3dError
    seen = np.isfinite(kp.data[..., 2]).any(axis=(1, 2, 3))
    if seen.sum() >= 2:
        return
    if not seen.any():
        raise Mocap3dError(f"{where}: no keypoint detected in any camera ({kp.n_frames} frames of "
                           f"{', '.join(kp.cameras)}). Run pose estimation again and check that the videos show the "
                           "person (and [pose] pose_model)")
    only = kp.cameras[int(np.flatnonzero(seen)[0])]
    none = ", ".join(c for c, s in zip(kp.cameras, seen) if not s)
    raise Mocap3dError(f"{where}: only {only} has detections ({none}: none in {kp.n_frames} frames); at least two "
                       "cameras must see the person. Check the pose estimation of those cameras (their videos, "
                       "[pose] pose_model)")
