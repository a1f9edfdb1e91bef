"""MotionBERT lifter (Zhu et al. 2023, DSTformer) on onnxruntime: 2D keypoints -> 17 H36M joints in 3D.

Inference follows the published in-the-wild script (``infer_wild.py`` with
``lib/data/dataset_wild.py`` and ``lib/utils/utils_data.py`` of MotionBERT):

1. the 17 H36M joints are built from the 2D keypoints (:func:`mocap3d.monocular.h36m.to_h36m`),
   channels x px, y px, confidence;
2. the WHOLE clip is normalized by one square box (``crop_scale`` with scale
   range [1, 1]): the box spans all keypoints whose confidence is not 0, its side
   is the larger of their x and y extents, it is centred on them, and it maps to
   [-1, 1]; every channel is then clipped to [-1, 1];
3. the clip is cut into chunks of 243 frames (the last one shorter), each run
   as a (1, T, 17, 3) input; the confidence is the third input channel;
4. each chunk is also run flipped (x negated, left/right joints swapped) and the
   flipped-back output is averaged with the direct one;
5. the output (1, T, 17, 3) is made root-relative (joint 0, the pelvis, subtracted).

Two choices for inputs the published script never meets: a missing keypoint
(NaN) gets confidence 0 and x, y linearly interpolated over time from its
detected frames (the box centre if never detected); a model exported with a
fixed number of frames T gets chunks of T frames, the last one padded with its
last frame (padding outputs discarded).

Units and axes of the result: MotionBERT's normalized output is multiplied by
half the box side, so x, y, z are in image PIXELS at the person's depth (z in
the same units: a root-relative depth dZ appears as dZ * f / Z_root px), with the
camera's axes, x right, y down, z away from the camera. Multiply by
``Z_root / f`` (person distance over focal length in px) for metres.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, Mocap3dError
from ..logs import get_logger
from .h36m import H36M_NAMES, N_JOINTS, ROOT, flip, to_h36m
from .lifters import Lifted3D

log = get_logger("monocular")
CLIP_LEN = 243
MIN_VALID = 4      # crop_scale gives up below 4 confident keypoints in the whole clip


def normalization_box(h36m: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower corner (xs, ys) px and side (px) of the clip's square box (``crop_scale``'s, ratio 1).

    ``h36m``: (frames, 17, 3) with NaN where missing; the box spans every joint
    with a finite, non-zero confidence.
    """
    valid = np.isfinite(h36m).all(-1) & (np.nan_to_num(h36m[..., 2]) != 0)
    xy = h36m[..., :2][valid]
    if len(xy) < MIN_VALID:
        raise Mocap3dError(f"MotionBERT lifter: only {len(xy)} confident H36M joints in the whole clip (needs "
                           f"{MIN_VALID}); the person is not detected in this camera")
    lo, hi = xy.min(0), xy.max(0)
    side = float(max(hi - lo))
    if side == 0:
        raise Mocap3dError("MotionBERT lifter: every confident keypoint is at the same pixel; cannot normalize")
    return (lo + hi - side) / 2, side


def fill_missing(h36m: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Missing joints (NaN) -> confidence 0, x, y interpolated over frames (``centre`` if never seen)."""
    out = np.array(h36m, dtype=float)
    missing = ~np.isfinite(out).all(-1)
    out[missing, 2] = 0.0
    frames = np.arange(out.shape[0])
    for j in np.flatnonzero(missing.any(0)):
        seen = ~missing[:, j]
        for c in range(2):
            out[missing[:, j], j, c] = (np.interp(frames[missing[:, j]], frames[seen], out[seen, j, c])
                                        if seen.any() else centre[c])
    return out


def normalize(h36m: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(frames, 17, 3) px -> (normalized float32 input in [-1, 1], box corner (2,) px, box side px)."""
    corner, side = normalization_box(h36m)
    filled = fill_missing(h36m, corner + side / 2)
    filled[..., :2] = ((filled[..., :2] - corner) / side - 0.5) * 2
    return np.clip(filled, -1, 1).astype(np.float32), corner, side


def chunks(n_frames: int, clip_len: int = CLIP_LEN) -> list[slice]:
    """Consecutive slices of ``clip_len`` frames covering ``n_frames`` (the last one shorter)."""
    return [slice(s, min(s + clip_len, n_frames)) for s in range(0, n_frames, clip_len)]


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class MotionBertOnnx:
    """A MotionBERT ONNX model: input (N, T, 17, 3) normalized x, y, confidence -> output (N, T, 17, 3)."""

    def __init__(self, path: str | os.PathLike, threads: int = 0) -> None:
        from ..pose.onnx_models import make_session
        self.path = Path(path)
        self.session = make_session(self.path, "cpu", threads)
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        expected = ("expected one input and one output of shape (1, T, 17, 3) = (batch, frames, H36M joints, "
                    "x y confidence) -> (1, T, 17, 3); see the README's MotionBERT export recipe")
        problem = None
        if len(ins) != 1 or len(outs) < 1:
            problem = f"it has {len(ins)} inputs and {len(outs)} outputs"
        else:
            for what, shape in (("input", ins[0].shape), ("output", outs[0].shape)):
                if len(shape) != 4:
                    problem = f"its {what} has shape {list(shape)} (rank {len(shape)})"
                elif _static(shape[2]) not in (None, N_JOINTS) or _static(shape[3]) not in (None, 3):
                    problem = f"its {what} has shape {list(shape)} ({shape[2]} joints x {shape[3]} channels)"
                if problem:
                    break
        if problem:
            raise Mocap3dError(f"MotionBERT model {self.path}: {problem}; {expected}")
        self.input, self.output = ins[0].name, outs[0].name
        self.batch = _static(ins[0].shape[0])
        self.clip_len = _static(ins[0].shape[1]) or CLIP_LEN
        self.fixed_length = _static(ins[0].shape[1]) is not None

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            y = self.session.run([self.output], {self.input: x})[0]
        except Exception as exc:  # onnxruntime's own error types
            raise Mocap3dError(f"MotionBERT model {self.path} fails on an input of shape {list(x.shape)} ({exc}); "
                               "expected (1, T, 17, 3) -> (1, T, 17, 3)") from None
        if y.shape != x.shape:
            raise Mocap3dError(f"MotionBERT model {self.path}: output shape {list(y.shape)} for input "
                               f"{list(x.shape)}; expected the same shape (batch, frames, 17, 3)")
        return y

    def predict(self, clip: np.ndarray) -> np.ndarray:
        """(T, 17, 3) normalized clip (one chunk) -> (T, 17, 3) flip-averaged, root-relative output."""
        T = len(clip)
        if self.fixed_length and T < self.clip_len:
            clip = np.concatenate([clip, np.repeat(clip[-1:], self.clip_len - T, 0)])
        both = np.stack([clip, flip(clip)]).astype(np.float32)
        y = self._run(both) if self.batch is None else np.concatenate([self._run(b[None]) for b in both])
        out = (0.5 * (y[0] + flip(y[1])))[:T].astype(float)
        return out - out[:, ROOT:ROOT + 1]

    def __call__(self, normalized: np.ndarray) -> np.ndarray:
        """(frames, 17, 3) normalized input -> (frames, 17, 3) root-relative output, chunk by chunk."""
        out = np.empty(normalized.shape, dtype=float)
        for s in chunks(len(normalized), self.clip_len):
            out[s] = self.predict(normalized[s])
        return out


def lift_motionbert(keypoints: np.ndarray, names: Sequence[str], *, image_size: tuple[int, int],
                    model: str | os.PathLike | None, threads: int = 0) -> Lifted3D:
    """Lift one person's (frames, K, 3) keypoints with MotionBERT (see the module docstring for units and axes).

    ``image_size`` (width, height) px is not needed by the whole-clip box normalization; it
    is kept for the lifters' common signature.
    """
    if not model:
        raise ConfigError("monocular.lifter = 'motionbert' needs monocular.motionbert_model (a .onnx path or URL); "
                          "the README section 'MotionBERT lifter' shows how to export the published checkpoint")
    from ..pose.onnx_models import fetch_model
    path = fetch_model(model, "MotionBERT model", hint="export it as the README's 'MotionBERT lifter' section shows, "
                       "or use monocular.lifter = 'blazepose' or 'none'")
    net = MotionBertOnnx(path, threads)
    h36m = to_h36m(keypoints, names)
    normalized, _, side = normalize(h36m)
    xyz = net(normalized) * (side / 2)
    missing = ~np.isfinite(h36m).all(-1)
    xyz[missing] = np.nan
    conf = np.where(missing, 0.0, np.clip(np.nan_to_num(h36m[..., 2]), 0, 1))
    return Lifted3D(list(H36M_NAMES), xyz, conf, False, "motionbert")
