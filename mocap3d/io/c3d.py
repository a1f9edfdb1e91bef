"""C3D marker files (points only, no analogs), via ``ezc3d``.

Written files hold ``POINT:RATE``, ``POINT:LABELS``, ``POINT:UNITS = "mm"``
(values in millimetres, converted from our metres), float storage
(``POINT:SCALE < 0``), and residual ``-1`` for missing points, as the C3D
specification requires; ``POINT:X_SCREEN = "+X"`` and ``POINT:Y_SCREEN = "+Y"``
declare our Y-up convention. They read identically with ``ezc3d`` and with the
``c3d`` package.

Reading accepts any point units (``mm``, ``cm``, ``m``) and returns metres;
a point with a negative residual (or NaN coordinates) is NaN. Lab systems
(Vicon, Qualisys) usually record Z up: :func:`c3d_info` reports the vertical
axis from ``POINT:Y_SCREEN``, and ``read_c3d(path, to_y_up=True)`` (or
:func:`mocap3d.markers_ops.zup_to_yup`) rotates Z-up data to Y-up.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import file_error
from ..logs import atomic_path, get_logger
from ..markers import Markers3D

log = get_logger("io")
_UNITS = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "dm": 0.1}


def _param(c: Any, group: str, name: str, default: Any = None) -> Any:
    try:
        value = c["parameters"][group][name]["value"]
    except KeyError:
        return default
    return value


def _open(path: Path) -> Any:
    import ezc3d
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    try:
        return ezc3d.c3d(str(path))
    except Exception as e:  # ezc3d raises RuntimeError / IOError with its own text
        raise file_error(path, f"not a readable C3D file ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                         "Re-export the file from the capture software") from None


def _header_frame_count(path: Path) -> int | None:
    """Frame count declared by the raw C3D header (ezc3d shrinks it to what it could read).

    None when unknown: 16-bit overflow (> 65535 frames, stored in TRIAL instead).
    """
    with open(path, "rb") as fh:
        head = fh.read(512)
        if len(head) < 12 or head[1] != 0x50:
            return None
        fh.seek((head[0] - 1) * 512 + 3)
        proc = fh.read(1)
    order = ">" if proc == bytes([86]) else "<"  # 84 Intel, 85 DEC: little endian; 86 MIPS: big endian
    first, last = np.frombuffer(head[6:10], dtype=f"{order}u2")
    if last == 0xFFFF or last < first:
        return None
    return int(last) - int(first) + 1


def c3d_info(path: str | os.PathLike) -> dict:
    """Header facts of a C3D: ``rate``, ``units``, ``labels``, ``n_frames``,
    ``first_frame`` (1-based), ``x_screen``, ``y_screen`` and ``up_axis``
    (``"Y"`` or ``"Z"``, from ``POINT:Y_SCREEN``; ``None`` if absent)."""
    path = Path(path)
    c = _open(path)
    return _info(c)


def _info(c: Any) -> dict:
    y_screen = str((_param(c, "POINT", "Y_SCREEN", [""]) or [""])[0]).strip().upper()
    x_screen = str((_param(c, "POINT", "X_SCREEN", [""]) or [""])[0]).strip().upper()
    up = y_screen[-1] if y_screen[-1:] in ("X", "Y", "Z") else None
    return {"rate": float(c["header"]["points"]["frame_rate"]),
            "units": str((_param(c, "POINT", "UNITS", ["mm"]) or ["mm"])[0]).strip(),
            "labels": [str(s).strip() for s in _param(c, "POINT", "LABELS", [])],
            "n_frames": int(c["data"]["points"].shape[2]),
            "first_frame": int(c["header"]["points"]["first_frame"]) + 1,
            "x_screen": x_screen, "y_screen": y_screen, "up_axis": up}


def read_c3d(path: str | os.PathLike, to_y_up: bool = False, convention: str = "pose2sim") -> Markers3D:
    """Read the points of a C3D into :class:`Markers3D` (metres).

    Args:
        path: the ``.c3d`` file.
        to_y_up: if the file declares Z up (``POINT:Y_SCREEN = +Z``), rotate
            to Y up with :func:`mocap3d.markers_ops.zup_to_yup`.
        convention: its axis mapping, ``"pose2sim"`` (X,Y,Z <- Y,Z,X) or
            ``"x_forward"`` (X,Y,Z <- X,Z,-Y).
    """
    path = Path(path)
    c = _open(path)
    info = _info(c)
    pts = np.asarray(c["data"]["points"], dtype=float)  # (4, M, F)
    if pts.ndim != 3 or pts.shape[0] < 3:
        raise file_error(path, f"unexpected point array shape {pts.shape}", "Re-export the file")
    expected = _header_frame_count(path)
    if expected is not None and pts.shape[2] < expected:
        raise file_error(path, f"truncated: header says {expected} frames, found {pts.shape[2]}",
                         "Re-export the file from the capture software")
    M = pts.shape[1]
    labels = info["labels"][:M]
    if len(labels) < M:  # more points than LABELS (LABELS2 in long files)
        extra = [str(s).strip() for s in _param(c, "POINT", "LABELS2", [])]
        labels = (labels + extra)[:M]
        labels += [f"M{i + 1:03d}" for i in range(len(labels), M)]
    unit = info["units"].lower()
    if unit not in _UNITS:
        raise file_error(path, f"POINT:UNITS = {info['units']!r} unknown", "Expected mm, cm or m")
    xyz = np.transpose(pts[:3], (2, 1, 0)) * _UNITS[unit]  # (F, M, 3)
    try:
        res = np.asarray(c["data"]["meta_points"]["residuals"], dtype=float)[0].T  # (F, M)
        xyz[res < 0] = np.nan
    except (KeyError, IndexError):
        pass
    if not info["rate"] > 0:
        raise file_error(path, f"point rate {info['rate']} is not positive", "Re-export the file with a frame rate")
    first = info["first_frame"]
    markers = Markers3D(xyz, labels, info["rate"], (first - 1) / info["rate"], first)
    if to_y_up and info["up_axis"] == "Z":
        from ..markers_ops import zup_to_yup
        markers = zup_to_yup(markers, convention)  # type: ignore[arg-type]
    elif info["up_axis"] == "Z":
        log.info("%s declares Z up (POINT:Y_SCREEN=%s); pass to_y_up=True to convert", path, info["y_screen"])
    return markers


def write_c3d(markers: Markers3D, path: str | os.PathLike, y_up: bool = True) -> Path:
    """Write ``markers`` to a C3D file (millimetres, float, no analogs), atomically.

    ``y_up`` sets the screen axes (``+X``/``+Y`` for Y up, ``+X``/``+Z`` for Z up).
    """
    import ezc3d
    path = Path(path)
    F, M, _ = markers.data.shape
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [float(markers.rate)]
    c["parameters"]["POINT"]["LABELS"]["value"] = list(markers.names)
    c["parameters"]["POINT"]["DESCRIPTIONS"]["value"] = [""] * M
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c.add_parameter("POINT", "X_SCREEN", ["+X"])
    c.add_parameter("POINT", "Y_SCREEN", ["+Y" if y_up else "+Z"])
    c["parameters"]["ANALOG"]["RATE"]["value"] = [0.0]
    pts = np.ones((4, M, F))
    xyz = np.transpose(markers.data, (2, 1, 0)) * 1000.0  # (3, M, F) mm
    missing = np.isnan(xyz).any(axis=0)
    pts[:3] = np.where(missing, 0.0, xyz)
    c["data"]["points"] = pts
    residuals = np.zeros((1, M, F))
    residuals[0][missing] = -1.0
    c["data"]["meta_points"]["residuals"] = residuals
    c["data"]["meta_points"]["camera_masks"] = np.zeros((7, M, F), dtype=bool)
    c["header"]["points"]["first_frame"] = max(int(markers.first_frame) - 1, 0)
    with atomic_path(path) as tmp:
        c.write(str(tmp))
    return path
