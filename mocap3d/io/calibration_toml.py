"""Calibration TOML files: Pose2Sim's ``Calib*.toml`` and the AniPose, Caliscope, FreeMoCap variants.

Our format (that of Pose2Sim) has one table per camera, in camera order::

    [cam01]
    name = "cam01"
    size = [ 1920, 1080]                 # width, height in pixels
    matrix = [ [ fx, 0.0, cx], [ 0.0, fy, cy], [ 0.0, 0.0, 1.0]]
    distortions = [ k1, k2, p1, p2]      # or fisheye k1..k4
    rotation = [ rx, ry, rz]             # Rodrigues vector, world -> camera
    translation = [ tx, ty, tz]          # metres, world -> camera
    fisheye = false

    [metadata]
    adjusted = false
    error = 0.0

Reading rules (a table is a camera when it holds ``matrix`` and ``distortions``;
every other table, e.g. ``[metadata]``, ``[charuco]``, ``[point_estimates]``,
``[capture_volume]``, is ignored):

* AniPose (``aniposelib.CameraGroup.dump``): tables ``cam_0``, ``cam_1``...
  with ``name``; an optional ``fisheye = true``.
* Caliscope: ``[cam_N]`` tables (``config.toml``) or ``[cameras.N]`` sub-tables
  (``camera_array.toml``) without ``name`` (the camera is named ``cam_N``),
  ``rotation`` as a 3x3 matrix (converted to Rodrigues) and extra keys
  (``error``, ``grid_count``, ``exposure``, ``port``...) that are ignored.
  Cameras without ``rotation``/``translation`` (not posed) are skipped.
* FreeMoCap: AniPose layout whose translations are in the unit of the ChArUco
  square size, entered in MILLIMETRES. Rule: ``translation_units="auto"``
  treats translations as millimetres when ``[metadata]`` has a key
  ``charuco_square_size`` (written only by FreeMoCap), or, for files of unknown
  origin, when any camera lies farther than 100 units from the origin (no
  capture volume is 100 m wide; 100 mm is too close). Pass ``"m"`` or ``"mm"``
  to force the unit.

Cameras keep the file order (Caliscope's ``[cameras.N]`` are sorted by N).
"""
from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..camera import Camera, CameraRig, matrix_to_rodrigues
from ..errors import file_error
from ..logs import atomic_write, get_logger

log = get_logger("io")

#: Farthest plausible camera distance from the world origin, in metres.
MAX_CAMERA_DISTANCE_M = 100.0
_UNIT_SCALE = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise file_error(path, "calibration file not found", "Check calibration/ holds a Calib*.toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise file_error(path, f"not a text file ({e.reason})", "Give a calibration .toml file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib says "(at line L, column C)" or "(at end of document)" for a truncated file.
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else text.count("\n") + 1
        what = re.sub(r"\s*\(at [^)]*\)", "", msg)
        if "end of document" in msg:
            what += " at end of file (truncated?)"
        raise file_error(path, f"invalid TOML: {what}", "Fix or re-export the calibration file", line=line) from None


_CAMERA_KEYS = ("matrix", "distortions", "rotation", "translation", "size", "fisheye")


def _camera_tables(doc: Mapping[str, Any], path: Path | None = None) -> list[tuple[str, Mapping[str, Any]]]:
    """(table name, table) of every camera table, in camera order.

    A table holding camera keys (three or more of matrix, distortions, rotation,
    translation, size, fisheye) without ``matrix`` or ``distortions`` is a
    damaged camera, not another table: FileFormatError naming it.
    """
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in doc.items():
        if not isinstance(value, Mapping):
            continue
        if "matrix" in value and "distortions" in value:
            tables.append((key, value))
        elif sum(k in value for k in _CAMERA_KEYS) >= 3:
            missing = next(k for k in ("matrix", "distortions") if k not in value)
            raise file_error(path or "calibration", f"camera table [{key}] has no key '{missing}'",
                             "Add it or re-export the calibration (a camera is never dropped silently)")
        elif key == "cameras":  # Caliscope camera_array.toml: [cameras.0], [cameras.1]...
            subs = [(k, v) for k, v in value.items() if isinstance(v, Mapping) and "matrix" in v]
            subs.sort(key=lambda kv: (0, int(kv[0])) if str(kv[0]).isdigit() else (1, str(kv[0])))
            tables.extend((f"cam_{k}" if str(k).isdigit() else str(k), v) for k, v in subs)
    return tables


def _array(path: Path, table: str, cam: Mapping[str, Any], key: str, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
    if key not in cam:
        raise file_error(path, f"camera table [{table}] has no key '{key}'", "Re-export the calibration")
    try:
        arr = np.asarray(cam[key], dtype=float)
    except (TypeError, ValueError):
        raise file_error(path, f"[{table}] {key} is not numeric: {cam[key]!r}", "Re-export the calibration") from None
    if arr.shape not in shapes or not np.all(np.isfinite(arr)):
        raise file_error(path, f"[{table}] {key} has shape {arr.shape} or non-finite values, expected "
                         + " or ".join(str(s) for s in shapes), "Re-export the calibration")
    return arr


def _rotation(path: Path, table: str, cam: Mapping[str, Any]) -> np.ndarray:
    rot = _array(path, table, cam, "rotation", ((3,), (3, 1), (1, 3), (3, 3)))
    if rot.shape == (3, 3):  # Caliscope stores the rotation matrix
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5):
            raise file_error(path, f"[{table}] rotation 3x3 is not a rotation matrix", "Re-export the calibration")
        return matrix_to_rodrigues(rot)
    return rot.reshape(3)


def translation_scale(doc: Mapping[str, Any], translations: np.ndarray, units: str = "auto") -> float:
    """Factor turning the file's translations into metres (rule in the module docstring)."""
    if units != "auto":
        if units not in _UNIT_SCALE:
            raise ValueError(f"translation_units must be 'auto', 'm', 'mm' or 'cm', got {units!r}")
        return _UNIT_SCALE[units]
    meta = doc.get("metadata", {})
    if isinstance(meta, Mapping) and "charuco_square_size" in meta:
        return 1e-3
    if len(translations) and np.max(np.linalg.norm(translations, axis=-1)) > MAX_CAMERA_DISTANCE_M:
        return 1e-3
    return 1.0


def read_calibration(path: str | os.PathLike, translation_units: str = "auto") -> CameraRig:
    """Read a calibration TOML (Pose2Sim, AniPose, Caliscope or FreeMoCap) into a :class:`CameraRig`.

    Args:
        path: the ``.toml`` file.
        translation_units: ``"auto"`` (see module docstring), ``"m"``, ``"mm"`` or ``"cm"``.

    Returns:
        The cameras in file order, translations in metres.
    """
    path = Path(path)
    doc = _load_toml(path)
    cameras: list[Camera] = []
    translations: list[np.ndarray] = []
    for table, cam in _camera_tables(doc, path):
        if "rotation" not in cam or "translation" not in cam:
            log.warning("%s: camera [%s] has no extrinsics (not posed); skipped", path, table)
            continue
        if cam.get("ignore") is True:
            log.warning("%s: camera [%s] is marked ignore=true by Caliscope; kept", path, table)
        matrix = _array(path, table, cam, "matrix", ((3, 3),))
        dist = _array(path, table, cam, "distortions", tuple((n,) for n in range(0, 15)) + ((1, 4), (1, 5)))
        size = _array(path, table, cam, "size", ((2,),))
        rot = _rotation(path, table, cam)
        trans = _array(path, table, cam, "translation", ((3,), (3, 1), (1, 3))).reshape(3)
        name = cam.get("name", table)
        if not isinstance(name, str) or not name:
            raise file_error(path, f"[{table}] name must be a non-empty string, got {name!r}", "Fix the name key")
        fisheye = cam.get("fisheye", False)
        if not isinstance(fisheye, bool):
            raise file_error(path, f"[{table}] fisheye must be true or false, got {fisheye!r}", "Fix the fisheye key")
        cameras.append(Camera(name, (int(round(size[0])), int(round(size[1]))), matrix, dist.ravel(), rot,
                              trans, fisheye))
        translations.append(trans)
    if not cameras:
        raise file_error(path, "no camera table found (a camera table needs matrix, distortions, size, "
                         "rotation, translation)", "Give a Pose2Sim/AniPose/Caliscope/FreeMoCap calibration file")
    scale = translation_scale(doc, np.array(translations), translation_units)
    if scale != 1.0:
        log.info("%s: translations read as %s and converted to metres", path,
                 {1e-3: "millimetres", 1e-2: "centimetres"}.get(scale, scale))
        for c in cameras:
            c.translation = c.translation * scale
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise file_error(path, f"duplicate camera names {names}", "Give each camera table a unique name")
    return CameraRig(cameras)


def read_calibration_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``[metadata]`` table of a calibration TOML (empty dict if absent)."""
    path = Path(path)
    meta = _load_toml(path).get("metadata", {})
    return dict(meta) if isinstance(meta, Mapping) else {}


def _fmt(value: Any) -> str:
    """A TOML literal for a scalar, string or (nested) list; floats round-trip exactly."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[ " + ", ".join(_fmt(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(name: str) -> str:
    bare = name and all(ch.isalnum() or ch in "-_" for ch in name)
    return name if bare else _fmt(name)


def format_calibration(rig: CameraRig, metadata: Mapping[str, Any] | None = None) -> str:
    """The TOML text of :func:`write_calibration`."""
    lines: list[str] = []
    for cam in rig:
        lines += [f"[{_key(cam.name)}]",
                  f"name = {_fmt(cam.name)}",
                  f"size = {_fmt([int(cam.size[0]), int(cam.size[1])])}",
                  f"matrix = {_fmt(np.asarray(cam.matrix, float))}",
                  f"distortions = {_fmt(np.asarray(cam.distortions, float))}",
                  f"rotation = {_fmt(np.asarray(cam.rotation, float))}",
                  f"translation = {_fmt(np.asarray(cam.translation, float))}",
                  f"fisheye = {_fmt(bool(cam.fisheye))}", ""]
    meta = {"adjusted": False, "error": 0.0}
    meta.update(metadata or {})
    lines.append("[metadata]")
    for k, v in meta.items():
        if isinstance(v, Mapping):
            raise TypeError(f"metadata[{k!r}] is a table; only scalars and lists are written")
        lines.append(f"{_key(str(k))} = {_fmt(v)}")
    return "\n".join(lines) + "\n"


def write_calibration(rig: CameraRig, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``rig`` as a Pose2Sim calibration TOML (atomically); returns the path.

    ``metadata`` entries (scalars or lists) are added to ``[metadata]``, whose
    defaults are ``adjusted = false`` and ``error = 0.0`` (Pose2Sim's).
    """
    path = Path(path)
    names = [c.name for c in rig]
    if "metadata" in names:
        raise ValueError("a camera cannot be named 'metadata'")
    text = format_calibration(rig, metadata)
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write(text)
    return path
