"""The 17 Human3.6M joints (MotionBERT's input and output layout) built from the pipeline's 2D keypoints.

Joint order (MotionBERT, as in its ``halpe2h36m``): 0 pelvis (``Hip``), 1-3 right
hip, knee, ankle, 4-6 left hip, knee, ankle, 7 spine (mean of neck and pelvis),
8 thorax (``Neck``), 9 nose, 10 head top, 11-13 left shoulder, elbow, wrist,
14-16 right shoulder, elbow, wrist.

From each skeleton:

* ``Hip`` = the detector's own mid-hip (HALPE_26 ``Hip``, BODY_25 ``CHip``), else
  the mean of ``LHip`` and ``RHip`` (COCO_17, COCO_133, BODY_25B, BLAZEPOSE);
* ``Neck`` = the detector's ``Neck`` (HALPE_26, BODY_25, BODY_25B), else the mean
  of the shoulders;
* ``Spine`` = mean of ``Neck`` and ``Hip``, all three channels (x, y and the
  confidence), as MotionBERT's ``halpe2h36m`` does;
* ``Head`` = the detector's head top (HALPE_26, BODY_25B ``Head``); skeletons
  without one use the common COCO -> H36M estimate (as in GAST-Net's
  ``coco_h36m``): x = mean of the eyes and ears, y = the nose reflected about
  the eyes' mid-point (2 * mean eye y - nose y), confidence the mean of the
  eyes' and ears';
* the other joints are the keypoints of the same name.

A derived joint is missing (NaN) when one of its parts is.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import Mocap3dError

H36M_NAMES = ("Hip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Neck", "Nose", "Head",
              "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist")
N_JOINTS = len(H36M_NAMES)
ROOT = 0
# Left/right joints swapped by a horizontal flip (MotionBERT's flip_data).
LEFT = (4, 5, 6, 11, 12, 13)
RIGHT = (1, 2, 3, 14, 15, 16)
FLIP_ORDER = np.arange(N_JOINTS)
FLIP_ORDER[list(LEFT + RIGHT)] = RIGHT + LEFT


def _missing(points: np.ndarray) -> np.ndarray:
    """(..., 3) -> NaN-filled copy where x, y or the confidence is not finite, or the confidence is <= 0."""
    out = np.array(points, dtype=float)
    bad = ~np.isfinite(out).all(-1) | ~(out[..., 2] > 0)
    out[bad] = np.nan
    return out


def to_h36m(keypoints: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(frames, K, 3) x px, y px, likelihood -> (frames, 17, 3) H36M joints, NaN where missing.

    Raises :class:`Mocap3dError` naming the keypoints a skeleton lacks.
    """
    names = list(names)
    kp = _missing(keypoints)
    idx = {n: i for i, n in enumerate(names) if n}

    def get(*options: str | tuple[str, ...]) -> np.ndarray | None:
        for opt in options:
            parts = (opt,) if isinstance(opt, str) else opt
            if all(p in idx for p in parts):
                return kp[:, [idx[p] for p in parts]].mean(1)
        return None

    out = np.full((kp.shape[0], N_JOINTS, 3), np.nan)
    lacking = []
    for j, n in enumerate(H36M_NAMES):
        if n == "Hip":
            v = get("Hip", "CHip", ("LHip", "RHip"))
        elif n == "Neck":
            v = get("Neck", ("LShoulder", "RShoulder"))
        elif n == "Spine":
            continue
        elif n == "Head":
            v = get("Head")
            if v is None and all(p in idx for p in ("LEye", "REye", "LEar", "REar", "Nose")):
                face = kp[:, [idx[p] for p in ("LEye", "REye", "LEar", "REar")]]
                v = np.stack([face[:, :, 0].mean(1), 2 * face[:, :2, 1].mean(1) - kp[:, idx["Nose"], 1],
                              face[:, :, 2].mean(1)], -1)
        else:
            v = get(n)
        if v is None:
            lacking.append(n)
        else:
            out[:, j] = v
    if lacking:
        raise Mocap3dError(f"the MotionBERT lifter needs the H36M joints {', '.join(lacking)}, which the keypoints "
                           f"({', '.join(n for n in names if n)}) cannot give; use a HALPE_26, COCO_17, COCO_133, "
                           f"BODY_25(B) or BLAZEPOSE pose model, or monocular.lifter = 'none'")
    out[:, H36M_NAMES.index("Spine")] = 0.5 * (out[:, H36M_NAMES.index("Neck")] + out[:, ROOT])
    return out


def flip(data: np.ndarray) -> np.ndarray:
    """Horizontal flip of (..., 17, C) joints: x (channel 0) negated, left and right joints swapped."""
    out = np.array(data, copy=True)
    out[..., 0] *= -1
    return out[..., FLIP_ORDER, :]
