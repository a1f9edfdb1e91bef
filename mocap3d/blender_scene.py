"""``mocap3d blender TRIAL``: the trial's ``.blend``, its animated model (glTF) and a preview render, headless.

Runs the add-on of ``blender_addon/`` in Blender's Python: the ``bpy`` module
when it imports in this environment (``pip install "mocap3d[blender]"``, run in
a child process so Blender's state never mixes with ours), else a ``blender``
executable on PATH (``--background --python-expr``). Before that, a
``kinematics/<stem>.mot`` with its ``<stem>_scaled.osim`` but no
``<stem>_bodies.npz`` (a run older than that file) gets one, with OpenSim here.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import Mocap3dError
from .logs import atomic_path, get_logger
from .resources import _find

log = get_logger("blender")
ERROR_TAG = "MOCAP3D_BLENDER_ERROR:"


def addon_dir() -> Path:
    """The add-on folder (``blender_addon/`` of a checkout, ``mocap3d/blender_addon`` in a wheel)."""
    return _find("blender_addon")


def load_addon(name: str = "mocap3d_blender"):
    """The add-on as a Python package named ``name`` (for bpy in this process: tests, benchmarks).

    Importing it loads nothing from ``bpy``; call its ``register()`` to add the operators."""
    if name in sys.modules:
        return sys.modules[name]
    d = addon_dir()
    spec = importlib.util.spec_from_file_location(name, d / "__init__.py", submodule_search_locations=[str(d)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def addon_zip(path: str | os.PathLike) -> Path:
    """Zip the add-on as ``mocap3d_blender/...``: installable as an extension (Blender 4.2+) or a legacy add-on."""
    import zipfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = addon_dir()
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.iterdir()):
            if f.suffix in (".py", ".toml"):
                zf.write(f, f"mocap3d_blender/{f.name}")
    return path


def ensure_body_transforms(trial_dir: str | os.PathLike) -> list[Path]:
    """Write ``kinematics/<stem>_bodies.npz`` where a ``.mot`` and its ``_scaled.osim`` lack it; returns them."""
    kin = Path(trial_dir) / "kinematics"
    written = []
    for mot in sorted(kin.glob("*.mot")):
        out = mot.with_name(f"{mot.stem}_bodies.npz")
        model = kin / f"{mot.stem}_scaled.osim"
        if model.is_file() and (not out.is_file() or out.stat().st_mtime < mot.stat().st_mtime):
            from .kinematics.body_transforms import transforms_from_mot
            written.append(transforms_from_mot(model, mot, out))
            log.info("wrote %s from %s and %s", out.name, mot.name, model.name)
    return written


def blender_command() -> list[str] | None:
    """How to run a Python script in Blender: this Python with ``bpy``, else ``blender`` on PATH, else None."""
    if importlib.util.find_spec("bpy") is not None:
        return [sys.executable, "-c"]
    exe = shutil.which("blender")
    if exe:
        return [exe, "--background", "--factory-startup", "--python-exit-code", "3", "--python-expr"]
    return None


def blender_script(trial: Path, out_dir: Path, camera: str | None, percent: int, movie: bool,
                   formats: tuple[str, ...], frame_step: int) -> str:
    """The Python run inside Blender: load the add-on, import the trial, save, export, render, report."""
    args = {"addon": str(addon_dir()), "trial": str(trial), "out": str(out_dir), "camera": camera,
            "percent": int(percent), "movie": bool(movie), "formats": list(formats), "step": int(frame_step),
            "tag": ERROR_TAG}
    return f"""
import importlib.util, json, sys
from pathlib import Path
A = json.loads({json.dumps(json.dumps(args))})
spec = importlib.util.spec_from_file_location("mocap3d_blender", Path(A["addon"]) / "__init__.py",
                                              submodule_search_locations=[A["addon"]])
addon = importlib.util.module_from_spec(spec)
sys.modules["mocap3d_blender"] = addon
spec.loader.exec_module(addon)
import bpy
from mocap3d_blender import export, scene
from mocap3d_blender.readers import AddonError
try:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    out = Path(A["out"])
    name = Path(A["trial"]).name
    res = scene.import_trial(A["trial"])
    files = {{"blend": str(export.save_blend(out / (name + ".blend")))}}
    has_model = any("mocap3d_body" in o for o in bpy.data.objects)
    for ext in A["formats"]:
        if has_model:
            files[ext] = str(export.export_model(out / (name + "." + ext)))
    cam = A["camera"]
    if cam is None:
        cams = sorted(o.name for o in bpy.data.objects if "mocap3d_camera" in o)
        cam = cams[0] if cams else None
    renders = export.render_preview(out, cam or None, A["percent"], A["movie"], None, A["step"])
    files.update({{k: str(v) for k, v in renders.items()}})
    (out / "blender_report.json").write_text(json.dumps({{"messages": res.messages, "files": files,
                                                         "camera": cam or "free camera"}}, indent=1))
except AddonError as exc:
    print(A["tag"], exc, flush=True)
    sys.exit(3)
"""


def export_trial(trial: str | os.PathLike, out_dir: str | os.PathLike | None = None, camera: str | None = None,
                 percent: int = 25, movie: bool = True, formats: tuple[str, ...] = ("glb",), frame_step: int = 1,
                 timeout: float = 1800.0) -> dict[str, Any]:
    """Write ``<trial>/blender/<trial>.blend``, ``<trial>.glb`` and ``preview.png`` / ``preview.mp4``.

    Args:
        camera: capture camera to render from (default the first; a free camera when there is none);
            ``"free"`` for the free camera.
        percent: render size in percent of the camera's image size.

    Returns:
        ``{"messages": [...], "files": {kind: path}, "camera": name}`` (also in ``blender_report.json``).
    """
    trial = Path(trial).resolve()
    if not trial.is_dir():
        raise Mocap3dError(f"trial folder not found: {trial}")
    cmd = blender_command()
    if cmd is None:
        raise Mocap3dError("Blender not found: install the bpy module (pip install \"mocap3d[blender]\", "
                           "Python 3.11) or put a 'blender' executable (4.2 or newer) on PATH")
    ensure_body_transforms(trial)
    out = Path(out_dir).resolve() if out_dir else trial / "blender"
    out.mkdir(parents=True, exist_ok=True)
    (out / "blender_report.json").unlink(missing_ok=True)
    script = blender_script(trial, out, "" if camera == "free" else camera, percent, movie, tuple(formats),
                            frame_step)
    log.info("Blender (%s): %s -> %s", Path(cmd[0]).name, trial.name, out)
    try:
        proc = subprocess.run(cmd + [script], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise Mocap3dError(f"Blender did not finish {trial.name} within {timeout:.0f} s") from exc
    text = proc.stdout + proc.stderr
    for line in text.splitlines():
        if line.startswith(ERROR_TAG):
            raise Mocap3dError(line[len(ERROR_TAG):].strip())
    report_path = out / "blender_report.json"
    if proc.returncode != 0 or not report_path.is_file():
        tail = " | ".join(line for line in text.splitlines()[-6:] if line.strip())
        raise Mocap3dError(f"Blender failed on {trial.name} (exit code {proc.returncode}): {tail}")
    report = json.loads(report_path.read_text())
    for m in report["messages"]:
        log.warning("%s", m)
    return report
