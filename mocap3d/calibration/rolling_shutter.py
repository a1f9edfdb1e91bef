"""Rolling shutter in the keypoint calibration (:mod:`.from_keypoints`).

A phone reads its sensor line by line: within one frame, a point at pixel
coordinate u along the readout axis (x or y of the image as stored) is captured
at the frame's time + ``readout * (u / size - 0.5)`` (``readout``: frames from the
first line to the last; negative when the sensor is read from the far side).
To first order a moving keypoint is then seen ``readout * (u / size - 0.5) * v``
pixels off its position at the frame's time, ``v`` being its image velocity
(pixels per frame, central differences of the camera's own track). The
bundle adjustment estimates one ``readout`` per camera with that displacement
(:func:`.from_keypoints.bundle_adjust_points` ``motion``), and the keypoints are
brought back to their frame's time (:func:`correct`) for the triangulation.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..camera import Camera

AXES = {"x": 0, "y": 1}


def readout_motion(cams: Sequence[Camera], kp: np.ndarray, axis: str) -> np.ndarray:
    """Displacement (C, F, K, 2) px of each keypoint per frame of readout time; 0 where unknown.

    Args:
        cams: (C) cameras (their image sizes).
        kp: (C, F, K, 3+) pixels x, y (and likelihood); NaN = missing.
        axis: 'x' or 'y', the image axis the sensor lines are read along.
    """
    a = AXES[axis.lower()]
    size = np.array([c.size[a] for c in cams], float)
    xy = kp[..., :2]
    vel = np.full(xy.shape, np.nan)
    vel[:, 1:-1] = (xy[:, 2:] - xy[:, :-2]) / 2
    tau = xy[..., a] / size[:, None, None] - 0.5
    return np.nan_to_num(tau[..., None] * vel)


def correct(cams: Sequence[Camera], kp: np.ndarray, readout: np.ndarray, axis: str) -> np.ndarray:
    """Keypoints (C, F, K, 3) moved to their frame's time: pixels minus ``readout`` (C,) frames x the
    displacement of :func:`readout_motion`."""
    out = kp.copy()
    out[..., :2] -= np.asarray(readout, float)[:, None, None, None] * readout_motion(cams, kp, axis)
    return out


__all__ = ["AXES", "correct", "readout_motion"]
