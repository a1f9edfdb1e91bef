"""Operations on :class:`~mocap3d.markers.Markers3D`: resample, scale, rotate, change up axis, combine.

All functions are pure: they return a new Markers3D and leave the input untouched.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from .camera import rodrigues_to_matrix
from .errors import Mocap3dError
from .markers import Markers3D

_AXES = {"x": 0, "y": 1, "z": 2}


def resample(markers: Markers3D, rate: float) -> Markers3D:
    """Markers resampled to ``rate`` Hz by linear interpolation over the same time span.

    Gaps (NaN) stay gaps: a new sample is NaN when either neighbouring
    original sample is NaN. An integer down-sampling factor keeps exactly every
    n-th frame.
    """
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    F = markers.n_frames
    duration = (F - 1) / markers.rate if F else 0.0
    n_new = int(np.floor(duration * rate + 1e-9)) + 1 if F else 0
    t_new = np.arange(n_new) / rate  # relative to the first frame
    pos = t_new * markers.rate  # fractional index into the old frames
    i0 = np.clip(np.floor(pos + 1e-9).astype(int), 0, max(F - 1, 0))
    i1 = np.minimum(i0 + 1, F - 1)
    w = np.clip(pos - i0, 0.0, 1.0)[:, None, None]
    w = np.where(w < 1e-9, 0.0, w)
    a, b = markers.data[i0], markers.data[i1]
    data = np.where(w == 0.0, a, (1 - w) * a + w * b)
    return Markers3D(data, markers.names, rate, markers.start_time, markers.first_frame)


def scale(markers: Markers3D, factor: float) -> Markers3D:
    """Positions multiplied by ``factor`` (e.g. 0.001 to turn millimetres into metres)."""
    return Markers3D(markers.data * float(factor), markers.names, markers.rate, markers.start_time,
                     markers.first_frame)


def rotation_matrix(axis: Literal["x", "y", "z"] | str, angle_deg: float) -> np.ndarray:
    """Right-handed rotation (3, 3) of ``angle_deg`` degrees about a coordinate axis."""
    key = axis.lower()
    if key not in _AXES:
        raise ValueError(f"axis must be x, y or z, got {axis!r}")
    v = np.zeros(3)
    v[_AXES[key]] = np.deg2rad(angle_deg)
    return rodrigues_to_matrix(v)


def rotate(markers: Markers3D, axis: str, angle_deg: float) -> Markers3D:
    """Positions rotated by ``angle_deg`` degrees about the world ``axis`` (right-hand rule)."""
    R = rotation_matrix(axis, angle_deg)
    return Markers3D(markers.data @ R.T, markers.names, markers.rate, markers.start_time, markers.first_frame)


def zup_to_yup(markers: Markers3D, convention: Literal["pose2sim", "x_forward"] = "pose2sim") -> Markers3D:
    """Z-up coordinates to Y-up (both right-handed).

    ``convention``:
        * ``"pose2sim"`` (default, what Pose2Sim's ``trc_Zup_to_Yup`` and
          triangulation do): new (X, Y, Z) = old (Y, Z, X). The old Y axis
          becomes X (forward in OpenSim), and Z becomes up.
        * ``"x_forward"``: keep X, rotate -90 deg about X: new (X, Y, Z) =
          old (X, Z, -Y). For labs whose X axis points forward (OpenSim: X
          forward, Y up, Z right).
    """
    d = markers.data
    if convention == "pose2sim":
        new = d[..., [1, 2, 0]]
    elif convention == "x_forward":
        new = np.stack([d[..., 0], d[..., 2], -d[..., 1]], axis=-1)
    else:
        raise ValueError(f"convention must be 'pose2sim' or 'x_forward', got {convention!r}")
    return Markers3D(new, markers.names, markers.rate, markers.start_time, markers.first_frame)


def combine(a: Markers3D, b: Markers3D, suffix: str = "_2") -> Markers3D:
    """Markers of ``a`` and ``b`` side by side, matched by time.

    Both must have the same rate. The result spans the union of their times;
    frames one file lacks are NaN for its markers. A name present in both gets
    ``suffix`` appended in ``b``. Frame numbers follow the file that starts first.
    """
    if not np.isclose(a.rate, b.rate, rtol=1e-9):
        raise Mocap3dError(f"cannot combine markers at {a.rate} Hz and {b.rate} Hz: resample one first "
                           "(trc_desample)")
    rate = a.rate
    ia0 = int(round(a.start_time * rate))
    ib0 = int(round(b.start_time * rate))
    for m, i0 in ((a, ia0), (b, ib0)):
        if abs(m.start_time * rate - i0) > 1e-3:
            raise Mocap3dError(f"start time {m.start_time} s is not on the {rate} Hz frame grid; resample first")
    lo = min(ia0, ib0)
    hi = max(ia0 + a.n_frames, ib0 + b.n_frames)
    Ma, Mb = len(a.names), len(b.names)
    data = np.full((hi - lo, Ma + Mb, 3), np.nan)
    data[ia0 - lo:ia0 - lo + a.n_frames, :Ma] = a.data
    data[ib0 - lo:ib0 - lo + b.n_frames, Ma:] = b.data
    names_b = [n + suffix if n in a.names else n for n in b.names]
    first = a.first_frame if ia0 == lo else b.first_frame  # numbering of the file that starts first
    return Markers3D(data, list(a.names) + names_b, rate, lo / rate, first)
