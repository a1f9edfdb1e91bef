"""``mocap3d convert INPUT OUTPUT``: file conversions chosen by extension, looked up lazily.

A conversion is either *direct* (a function ``f(input, output)`` in
:data:`DIRECT`) or goes through our core type: a reader in :data:`READERS`
returns a :class:`Markers3D` / :class:`CameraRig` / :class:`Keypoints2D`, and a
writer of the same kind in :data:`WRITERS` saves it. Functions are imported
only when used; one that does not exist yet raises StageNotBuiltError naming
it, so nothing is faked. Add a format by adding a line to these tables.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import Mocap3dError
from .logs import get_logger

log = get_logger("convert")

# format -> (kind, extensions (lower case; first is the usual one), description)
FORMATS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "trc": ("markers", (".trc",), "OpenSim marker file (m, Y up)"),
    "c3d": ("markers", (".c3d",), "C3D points (Z-up lab files are turned Y up when read)"),
    "calibration": ("calibration", (".toml",), "mocap3d/Pose2Sim calibration TOML"),
    "anipose": ("calibration", (), "AniPose calibration TOML"),
    "caliscope": ("calibration", (), "Caliscope calibration TOML"),
    "freemocap": ("calibration", (), "FreeMoCap calibration TOML (mm)"),
    "qualisys": ("calibration", (".qca.txt",), "Qualisys .qca.txt"),
    "vicon": ("calibration", (".xcp",), "Vicon .xcp"),
    "opencap": ("calibration", (".pickle", ".pkl"), "OpenCap camera .pickle"),
    "easymocap": ("calibration", (".yml", ".yaml"), "EasyMocap intri.yml/extri.yml"),
    "biocv": ("calibration", (".calib",), "bioCV calibration"),
    "optitrack": ("calibration", (), "OptiTrack calibration"),
    "openpose": ("keypoints", ("",), "OpenPose JSON folder (one file per frame)"),
    "alphapose": ("keypoints", (".json",), "AlphaPose results JSON"),
    "mmpose": ("keypoints", (), "MMPose predictions JSON"),
    "dlc": ("keypoints", (".h5", ".csv"), "DeepLabCut .h5/.csv"),
    "mediapipe": ("keypoints", (".npy", ".npz"), "MediaPipe landmarks"),
}

_CALIB_CONV = "mocap3d.calibration.converters"
_HERE = "mocap3d.conversions"
# format -> (module, function, keyword arguments); fn(path, **kw) -> core object
READERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "trc": ("mocap3d.io.trc", "read_trc", {}),
    "c3d": ("mocap3d.io.c3d", "read_c3d", {"to_y_up": True}),
    "calibration": ("mocap3d.io.calibration_toml", "read_calibration", {}),
    **{f: (_HERE, "read_calibration_variant", {"fmt": f}) for f in ("anipose", "caliscope", "freemocap")},
    **{f: (_HERE, "read_calibration_converter", {"fmt": f})
       for f in ("qualisys", "vicon", "opencap", "easymocap", "biocv", "optitrack")},
    "openpose": ("mocap3d.io.openpose", "read_openpose_folders", {}),
}
# format -> (module, function, keyword arguments); fn(obj, path, **kw)
WRITERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "trc": ("mocap3d.io.trc", "write_trc", {}),
    "c3d": ("mocap3d.io.c3d", "write_c3d", {}),
    "calibration": ("mocap3d.io.calibration_toml", "write_calibration", {}),
    **{f: (_CALIB_CONV, f"write_{f}", {}) for f in ("qualisys", "opencap", "easymocap")},
    "openpose": ("mocap3d.io.openpose", "write_openpose_folders", {}),
}
# (from, to) -> (module, function); fn(input, output)
DIRECT: dict[tuple[str, str], tuple[str, str]] = {
    ("alphapose", "openpose"): ("mocap3d.io.importers", "alphapose_to_openpose"),
    ("mmpose", "openpose"): ("mocap3d.io.importers", "mmpose_to_openpose"),
    ("dlc", "openpose"): ("mocap3d.io.importers", "dlc_to_openpose"),
    ("mediapipe", "openpose"): ("mocap3d.io.importers", "mediapipe_to_openpose"),
}


def _siblings(path: Path, pattern: str) -> list[Path]:
    """``path`` if it is a folder's files matching ``pattern``; a file stands for all such files beside it."""
    folder = path if path.is_dir() else path.parent
    files = sorted(folder.glob(pattern))
    if not files:
        raise Mocap3dError(f"{folder}: no {pattern} file found")
    return files


def read_calibration_converter(path: str | os.PathLike, fmt: str) -> Any:
    """A calibration in another program's format -> CameraRig, via mocap3d.calibration.converters.

    Multi-file formats take a folder (or one of its files): OpenCap (every ``*.pickle``),
    bioCV (every ``*.calib``), EasyMocap (``intri.yml`` and ``extri.yml``).
    """
    from .runner import lookup
    path = Path(path)
    fn = lookup(_CALIB_CONV, f"read_{fmt}", f"converter {fmt} -> calibration")
    if fmt == "opencap":
        args: tuple = (_siblings(path, "*.pickle"),)
    elif fmt == "biocv":
        args = (_siblings(path, "*.calib"),)
    elif fmt == "easymocap":
        folder = path if path.is_dir() else path.parent
        args = (folder / "intri.yml", folder / "extri.yml")
    else:
        args = (path,)
    if isinstance(args[0], list):
        log.info("%s: reading %d files: %s", fmt, len(args[0]), ", ".join(p.name for p in args[0]))
    out = fn(*args)
    return out[0] if isinstance(out, tuple) else out   # some readers also return metadata


def read_calibration_variant(path: str | os.PathLike, fmt: str) -> Any:
    """AniPose / Caliscope / FreeMoCap TOML -> CameraRig (FreeMoCap translations in mm)."""
    from .runner import lookup
    try:
        return lookup(_CALIB_CONV, "read_toml_variant", f"converter {fmt}")(path, fmt)
    except Mocap3dError as exc:
        if "not built yet" not in str(exc):
            raise
    from .io.calibration_toml import read_calibration
    return read_calibration(path, translation_units="mm" if fmt == "freemocap" else "auto")


def guess_format(path: str | os.PathLike, kind: str | None = None) -> str | None:
    """The format of ``path`` from its extension (a folder is 'openpose'); None when unknown."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or (not p.suffix and not p.exists()):
        return "openpose" if kind in (None, "keypoints") else None
    best = None
    for fmt, (k, exts, _) in FORMATS.items():
        if kind and k != kind:
            continue
        for ext in exts:
            if ext and name.endswith(ext) and (best is None or len(ext) > best[1]):
                best = (fmt, len(ext))
    return best[0] if best else None


def _check_format(fmt: str, option: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise Mocap3dError(f"{option} {fmt!r}: unknown format; known: {', '.join(FORMATS)}")
    return fmt


def plan(input_path: str | os.PathLike, output_path: str | os.PathLike,
         from_format: str | None = None, to_format: str | None = None) -> tuple[str, str]:
    """(from, to) formats for a conversion, from the options or the extensions."""
    src = _check_format(from_format, "--from") if from_format else guess_format(input_path)
    if src is None:
        raise Mocap3dError(f"{input_path}: cannot tell the format from the extension; give --from "
                           f"({', '.join(FORMATS)})")
    dst = _check_format(to_format, "--to") if to_format else guess_format(output_path, FORMATS[src][0])
    if dst is None:
        raise Mocap3dError(f"{output_path}: cannot tell the output format from the extension; give --to "
                           f"({', '.join(f for f, v in FORMATS.items() if v[0] == FORMATS[src][0])})")
    if FORMATS[src][0] != FORMATS[dst][0]:
        raise Mocap3dError(f"cannot convert {src} ({FORMATS[src][0]}) into {dst} ({FORMATS[dst][0]})")
    return src, dst


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike,
            from_format: str | None = None, to_format: str | None = None) -> Path:
    """Convert ``input_path`` into ``output_path``; returns the output path."""
    from .runner import lookup
    inp, out = Path(input_path), Path(output_path)
    if not inp.exists():
        raise Mocap3dError(f"{inp}: input not found")
    src, dst = plan(inp, out, from_format, to_format)
    if inp.resolve() == out.resolve():
        raise Mocap3dError(f"{out}: output is the input file; choose another output path")
    what = f"converter {src} -> {dst}"
    if (src, dst) in DIRECT:
        module, func = DIRECT[(src, dst)]
        lookup(module, func, what)(inp, out)
    else:
        if src not in READERS or dst not in WRITERS:
            side = "reading " + src if src not in READERS else "writing " + dst
            raise Mocap3dError(f"{what}: no converter for {side}; readable: {', '.join(READERS)}; "
                               f"writable: {', '.join(WRITERS)}")
        rmod, rfunc, rkw = READERS[src]
        wmod, wfunc, wkw = WRITERS[dst]
        reader, writer = lookup(rmod, rfunc, what), lookup(wmod, wfunc, what)
        obj = reader(inp, **rkw)
        writer(obj, out, **wkw)
    log.info("converted %s (%s) -> %s (%s)", inp, src, out, dst)
    return out


def formats_help() -> str:
    """One line per format, for --help."""
    return "\n".join(f"  {f:<12} {kind:<12} {', '.join(e for e in exts if e) or '(--from/--to)':<16} {desc}"
                     for f, (kind, exts, desc) in FORMATS.items())
