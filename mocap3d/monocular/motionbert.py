"""MotionBERT lifter (ONNX): 2D keypoints -> 17 H36M joints in 3D. Being written."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import StageNotBuiltError


def lift_motionbert(keypoints: np.ndarray, names: Sequence[str], *, image_size: tuple[int, int],
                    model: str | None) -> "object":
    raise StageNotBuiltError("monocular.lifter = 'motionbert' is not built yet; use 'blazepose' or 'none'")
