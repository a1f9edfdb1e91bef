"""Marker augmentation: 43 anatomical ``*_study`` markers from video keypoints with OpenCap's LSTM v0.3.

Facts of the published models (OpenCap ``utilsAugmenter.py``/``utils.py``, and
Pose2Sim's ONNX conversion in ``Pose2Sim/MarkerAugmenter/LSTM/v0.3_{lower,upper}``;
OpenCap's ``versions.txt``: "v0.3 ... midHip is ref"):

- Two models. Lower body: 15 keypoints in the order of :data:`LOWER` ``features``,
  35 markers out. Upper body: 7 keypoints, 8 markers out. 43 markers in all.
- Inputs per frame: each keypoint minus the reference point (midpoint of RHip
  and LHip), divided by the participant's height (m); then two features,
  height (m) and mass (kg); then ``(x - mean.npy) / std.npy``. The sequence
  (1, F, D) goes through the LSTM (ONNX input ``inputs``, output ``output_0``).
- Outputs (1, F, 3 * markers) are multiplied by height and the reference point
  is added back. Positions in metres, Y up, as in the ``.trc``.
- With feet on the floor, every Y is shifted so that the lowest augmented
  marker over the trial sits 1 cm above 0 (OpenCap's offset).

The model files are Apache-2.0 (Stanford OpenCap) and are never committed
here: :func:`resolve_model_dirs` finds them (config path, user cache, public
URL, or the ``pose2sim`` wheel on PyPI, which carries the same files).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, Mocap3dError
from .logs import get_logger, write_report
from .markers import Markers3D

log = get_logger("augmentation")

MODEL_VERSION = "v0.3"
FILES = ("model.onnx", "mean.npy", "std.npy")
#: sha256 of the published v0.3 files (identical in Pose2Sim's GitHub tree and its 0.10.49 wheel).
SHA256 = {
    "lower": {"model.onnx": "8dbd686784f6c6e3b42fdfe968a8808a789bdcaff284e3dd9e8c321bbca4e52c",
              "mean.npy": "e8783601a37f827c728bb1f2bbb143d66f59c92a3268306697cfc2932e99888f",
              "std.npy": "e7bcbe84f460666696fb500663a281c418ed20205aab9d8e1b18fd8568c77436"},
    "upper": {"model.onnx": "c674fbf1eafbc30f82141137e4ca6bea8a5578b0c30ce954fc6384f776570b7e",
              "mean.npy": "d919b25a44f3a9438a69f0627ee3067d914796e4c42d3c48d0b3680ff2bbd7af",
              "std.npy": "7da7519963969616fb06b06b507f4615d72602cb078b20ca23f5e8c8bfbcd57e"},
}
PUBLIC_URL = "https://raw.githubusercontent.com/perfanalytics/pose2sim/main/Pose2Sim/MarkerAugmenter/LSTM/{folder}/{file}"
#: pose2sim wheels carrying the ONNX files: first in 0.10.21 (May 2025); 0.10.49 checked byte for byte.
PYPI_REQUIREMENTS = ("pose2sim==0.10.49", "pose2sim>=0.10.21")
WHEEL_FOLDER = "Pose2Sim/MarkerAugmenter/LSTM/{folder}/"


@dataclass(frozen=True)
class ModelSpec:
    """One augmenter: keypoint names in, marker names out (order = the model's columns)."""

    part: str
    features: tuple[str, ...]
    responses: tuple[str, ...]

    @property
    def folder(self) -> str:
        return f"{MODEL_VERSION}_{self.part}"


LOWER = ModelSpec("lower", (
    "Neck", "RShoulder", "LShoulder", "RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle",
    "RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe"), (
    "r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study", "r_knee_study", "r_mknee_study",
    "r_ankle_study", "r_mankle_study", "r_toe_study", "r_5meta_study", "r_calc_study", "L_knee_study",
    "L_mknee_study", "L_ankle_study", "L_mankle_study", "L_toe_study", "L_calc_study", "L_5meta_study",
    "r_shoulder_study", "L_shoulder_study", "C7_study", "r_thigh1_study", "r_thigh2_study",
    "r_thigh3_study", "L_thigh1_study", "L_thigh2_study", "L_thigh3_study", "r_sh1_study",
    "r_sh2_study", "r_sh3_study", "L_sh1_study", "L_sh2_study", "L_sh3_study", "RHJC_study", "LHJC_study"))
UPPER = ModelSpec("upper", ("Neck", "RShoulder", "LShoulder", "RElbow", "LElbow", "RWrist", "LWrist"), (
    "r_lelbow_study", "r_melbow_study", "r_lwrist_study", "r_mwrist_study",
    "L_lelbow_study", "L_melbow_study", "L_lwrist_study", "L_mwrist_study"))
MODELS = {"lower": LOWER, "upper": UPPER}

#: Other skeletons' names for the keypoints the models need (first present wins).
ALIASES = {
    "RBigToe": ("RBigToe", "RFootIndex"), "LBigToe": ("LBigToe", "LFootIndex"),
    "Neck": ("Neck",), "RHip": ("RHip",), "LHip": ("LHip",),
}
#: Keypoints computed as midpoints when absent (OpenCap/Pose2Sim: Neck = mid-shoulders).
MIDPOINTS = {"Neck": ("RShoulder", "LShoulder")}


# --------------------------------------------------------------------------- weights
def cache_dir() -> Path:
    """User cache for the model files: ``$MOCAP3D_CACHE/lstm`` or ``~/.cache/mocap3d/lstm`` (XDG aware)."""
    root = os.environ.get("MOCAP3D_CACHE")
    if root:
        return Path(root).expanduser() / "lstm"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mocap3d" / "lstm"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete(folder: Path, part: str, check_hash: bool = True) -> bool:
    if not all((folder / f).is_file() for f in FILES):
        return False
    return not check_hash or all(_sha256(folder / f) == SHA256[part][f] for f in FILES)


def _candidates(user_dir: Path, folder: str) -> list[Path]:
    return [user_dir / folder, user_dir / "LSTM" / folder, user_dir / "MarkerAugmenter" / "LSTM" / folder, user_dir]


def _download_url(part: str, dest: Path, timeout: float) -> None:
    folder = MODELS[part].folder
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=dest.parent))
    try:
        for f in FILES:
            with urllib.request.urlopen(PUBLIC_URL.format(folder=folder, file=f), timeout=timeout) as r:
                (tmp / f).write_bytes(r.read())
        _install(tmp, part, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(src: Path, part: str, dest: Path) -> None:
    """Check hashes of ``src`` files and move them into ``dest`` (atomic per folder)."""
    if not _complete(src, part):
        raise Mocap3dError(f"downloaded {part} model files do not match the published v0.3 sha256")
    staging = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(src, staging)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)


def fetch_from_pypi(parts: tuple[str, ...] = ("lower", "upper"), timeout: float = 30.0) -> Path:
    """Download the ``pose2sim`` wheel with pip and extract the v0.3 model folders into :func:`cache_dir`."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix="mocap3d-pose2sim-") as tmp:
        for req in PYPI_REQUIREMENTS:
            cmd = [sys.executable, "-m", "pip", "download", req, "--no-deps", "--only-binary=:all:",
                   "--timeout", str(int(timeout)), "--retries", "1", "-q", "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("pose2sim-*.whl"))
            if proc.returncode == 0 and wheels:
                break
            errors.append(f"{req}: {(proc.stderr or proc.stdout).strip().splitlines()[-1:] or 'no wheel'}")
        else:
            raise Mocap3dError("could not download the pose2sim wheel from PyPI (" + "; ".join(map(str, errors)) + ")")
        with zipfile.ZipFile(wheels[-1]) as z:
            for part in parts:
                folder = MODELS[part].folder
                out = Path(tmp) / folder
                out.mkdir()
                for f in FILES:
                    name = WHEEL_FOLDER.format(folder=folder) + f
                    if name not in z.namelist():
                        raise Mocap3dError(f"{wheels[-1].name} has no {name}; set markerAugmentation.model_dir")
                    (out / f).write_bytes(z.read(name))
                _install(out, part, root / folder)
    log.info("LSTM %s model files extracted from %s into %s", MODEL_VERSION, wheels[-1].name, root)
    return root


def resolve_model_dirs(section: dict[str, Any] | None = None, parts: tuple[str, ...] = ("lower", "upper"),
                       allow_download: bool | None = None) -> dict[str, Path]:
    """Folder holding ``model.onnx``, ``mean.npy``, ``std.npy`` for each part.

    Order: ``markerAugmentation.model_dir`` (a folder containing ``v0.3_lower/``,
    ``LSTM/v0.3_lower/`` ..., used as is), the user cache (hash-checked), then,
    if downloads are allowed, the public URL and the ``pose2sim`` wheel on PyPI
    (both hash-checked, saved to the cache). Raises :class:`Mocap3dError` saying
    what was tried.
    """
    section = section or {}
    allow = section.get("allow_download", True) if allow_download is None else allow_download
    found: dict[str, Path] = {}
    user = str(section.get("model_dir", "") or "").strip()
    for part in parts:
        folder = MODELS[part].folder
        if user:
            hits = [c for c in _candidates(Path(user).expanduser(), folder) if _complete(c, part, check_hash=False)]
            if not hits:
                raise ConfigError(f"markerAugmentation.model_dir = {user!r} has no {folder}/ with {', '.join(FILES)}")
            found[part] = hits[0]
        elif _complete(cache_dir() / folder, part):
            found[part] = cache_dir() / folder
    missing = [p for p in parts if p not in found]
    if missing and allow:
        cache_dir().mkdir(parents=True, exist_ok=True)
        tried = []
        try:
            for part in missing:
                _download_url(part, cache_dir() / MODELS[part].folder, timeout=10.0)
        except Exception as exc:  # network errors of every kind: fall back to PyPI
            tried.append(f"public URL ({type(exc).__name__})")
            try:
                fetch_from_pypi(tuple(missing))
            except Mocap3dError as exc2:
                tried.append(str(exc2))
        for part in missing:
            if _complete(cache_dir() / MODELS[part].folder, part):
                found[part] = cache_dir() / MODELS[part].folder
        if tried:
            log.info("model sources tried: %s", "; ".join(tried))
    missing = [p for p in parts if p not in found]
    if missing:
        raise Mocap3dError(
            f"LSTM {MODEL_VERSION} model files for {', '.join(missing)} not found in {cache_dir()}"
            + ("" if allow else " (downloads disabled: markerAugmentation.allow_download = false)")
            + "; run `pip download pose2sim --no-deps` and set markerAugmentation.model_dir to its "
              "Pose2Sim/MarkerAugmenter folder, or allow downloads")
    return found


@dataclass
class Augmenter:
    """A loaded model: its spec, standardization vectors (D,), and an onnxruntime session."""

    spec: ModelSpec
    mean: np.ndarray
    std: np.ndarray
    session: Any

    @classmethod
    def load(cls, spec: ModelSpec, folder: Path) -> "Augmenter":
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        mean = np.load(folder / "mean.npy", allow_pickle=False).astype(float)
        std = np.load(folder / "std.npy", allow_pickle=False).astype(float)
        if mean.shape != (3 * len(spec.features) + 2,) or std.shape != mean.shape:
            raise Mocap3dError(f"{folder}: mean/std have shape {mean.shape}/{std.shape}, expected "
                               f"({3 * len(spec.features) + 2},) for the {spec.part} model")
        return cls(spec, mean, std, session)

    def predict(self, features: np.ndarray, reference: np.ndarray, height: float, mass: float) -> np.ndarray:
        """Markers (F, responses, 3) from keypoints (F, features, 3) and the reference point (F, 3), metres."""
        F = len(features)
        x = ((features - reference[:, None, :]) / height).reshape(F, -1)
        x = np.concatenate((x, np.full((F, 1), height), np.full((F, 1), mass)), axis=1)
        x = ((x - self.mean) / self.std).astype(np.float32)[None]
        y = self.session.run(["output_0"], {"inputs": x})[0][0]
        return y.reshape(F, -1, 3).astype(float) * height + reference[:, None, :]


def load_augmenters(section: dict[str, Any] | None = None, parts: tuple[str, ...] = ("lower", "upper"),
                    allow_download: bool | None = None) -> dict[str, Augmenter]:
    """Resolve and load the models of ``parts``."""
    dirs = resolve_model_dirs(section, parts, allow_download)
    return {p: Augmenter.load(MODELS[p], dirs[p]) for p in parts}


# --------------------------------------------------------------------------- core
def keypoint(markers: Markers3D, name: str) -> np.ndarray | None:
    """Trajectory (F, 3) of keypoint ``name`` under any alias, or a midpoint of its substitutes, else None."""
    for alias in ALIASES.get(name, (name,)):
        if alias in markers.names and not np.isnan(markers[alias]).all():
            return markers[alias]
    if name in MIDPOINTS and all(n in markers.names for n in MIDPOINTS[name]):
        a, b = (markers[n] for n in MIDPOINTS[name])
        return (a + b) / 2
    return None


def missing_keypoints(markers: Markers3D, spec: ModelSpec) -> list[str]:
    """Keypoints the model needs that ``markers`` lacks (after aliases and midpoints), reference included."""
    need = list(dict.fromkeys(spec.features + ("RHip", "LHip")))
    return [n for n in need if keypoint(markers, n) is None]


def _fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of NaN samples in (F, K, 3); ends take the nearest value."""
    out = x.copy()
    flat = out.reshape(len(out), -1)
    t = np.arange(len(out))
    for j in np.flatnonzero(np.isnan(flat).any(axis=0)):
        ok = ~np.isnan(flat[:, j])
        flat[~ok, j] = np.interp(t[~ok], t[ok], flat[ok, j])
    return out


def augment(markers: Markers3D, height_m: float, mass_kg: float, models: dict[str, Augmenter],
            keep_inputs: bool = True) -> tuple[Markers3D, dict[str, Any]]:
    """Add the ``*_study`` markers predicted by each model whose keypoints are all present.

    Args:
        markers: keypoints (F, K, 3) in metres, Y up, with Pose2Sim names
            (BLAZEPOSE's FootIndex serves as BigToe; Neck defaults to mid-shoulders).
        height_m, mass_kg: participant height and mass (model features).
        models: loaded augmenters by part (``lower``/``upper``).
        keep_inputs: also keep the input markers in the result (as Pose2Sim does).

    Returns the augmented markers and info: models run, models skipped with
    their missing keypoints, frames output as NaN (a needed keypoint was missing
    there; the LSTM ran on inputs interpolated across such gaps).
    Raises :class:`Mocap3dError` naming the missing keypoints if no model can run.
    """
    if not (0.5 < height_m < 2.6):
        raise Mocap3dError(f"participant height {height_m} m is implausible; set project.participant_height (m)")
    if not (10 < mass_kg < 400):
        raise Mocap3dError(f"participant mass {mass_kg} kg is implausible; set project.participant_mass (kg)")
    info: dict[str, Any] = {"ran": [], "skipped": {}, "nan_frames": 0}
    names, blocks = (list(markers.names), [markers.data]) if keep_inputs else ([], [])
    bad = np.zeros(markers.n_frames, dtype=bool)
    for part, model in models.items():
        missing = missing_keypoints(markers, model.spec)
        if missing:
            info["skipped"][part] = missing
            log.warning("%s-body augmentation skipped: keypoints %s missing", part, ", ".join(missing))
            continue
        feats = np.stack([keypoint(markers, n) for n in model.spec.features], axis=1)
        ref = (keypoint(markers, "RHip") + keypoint(markers, "LHip")) / 2
        gaps = np.isnan(feats).any(axis=(1, 2)) | np.isnan(ref).any(axis=1)
        if gaps.all():
            info["skipped"][part] = ["no frame with all keypoints"]
            continue
        pred = model.predict(_fill_nan(feats), _fill_nan(ref[:, None])[:, 0], height_m, mass_kg)
        pred[gaps] = np.nan
        bad |= gaps
        names += list(model.spec.responses)
        blocks.append(pred)
        info["ran"].append(part)
    if not info["ran"]:
        raise Mocap3dError("marker augmentation needs keypoints that are missing: " + "; ".join(
            f"{p} body: {', '.join(m)}" for p, m in info["skipped"].items()) + " (use a skeleton with feet, "
            "e.g. HALPE_26, for the lower body)")
    info["nan_frames"] = int(bad.sum())
    return Markers3D(np.concatenate(blocks, axis=1), names, markers.rate, markers.start_time,
                     markers.first_frame), info


def feet_on_floor(augmented: Markers3D, offset: float = 0.01) -> tuple[Markers3D, float]:
    """Shift Y so the lowest ``*_study`` marker over the trial is at ``offset`` m; returns the shift applied."""
    study = [i for i, n in enumerate(augmented.names) if n.endswith("_study")]
    shift = offset - float(np.nanmin(augmented.data[:, study, 1]))
    data = augmented.data.copy()
    data[..., 1] += shift
    return Markers3D(data, augmented.names, augmented.rate, augmented.start_time, augmented.first_frame), shift


def estimate_height(markers: Markers3D) -> float | None:
    """Standing height (m) from segment lengths, or None if the needed keypoints are missing.

    Sum of per-segment median lengths over the trial: heel-ankle, ankle-knee,
    knee-hip, hip-shoulder (means of both sides), plus mid-shoulder to Head x
    1.008 or to Nose x 1.5 (Pose2Sim's factors). Without a head keypoint, leg
    length (heel-ankle + shank + thigh) / 0.530, the greater-trochanter height
    to stature ratio of Winter (2009). Medians make it robust to frames with errors.
    """
    def seg(a: str, b: str) -> float | None:
        pa, pb = keypoint(markers, a), keypoint(markers, b)
        if pa is None or pb is None:
            return None
        d = np.linalg.norm(pa - pb, axis=1)
        return float(np.nanmedian(d)) if np.isfinite(d).any() else None

    def both(a: str, b: str) -> float | None:
        vals = [v for v in (seg("R" + a, "R" + b), seg("L" + a, "L" + b)) if v is not None]
        return float(np.mean(vals)) if vals else None

    foot, shank, thigh, trunk = both("Heel", "Ankle"), both("Ankle", "Knee"), both("Knee", "Hip"), both("Hip", "Shoulder")
    if shank is None or thigh is None:
        return None
    foot = 0.10 if foot is None else foot
    leg = foot + shank + thigh
    mid = (keypoint(markers, "RShoulder") + keypoint(markers, "LShoulder")) / 2 \
        if keypoint(markers, "RShoulder") is not None and keypoint(markers, "LShoulder") is not None else None
    head = None
    for name, factor in (("Head", 1.008), ("Nose", 1.5)):
        if mid is not None and keypoint(markers, name) is not None:
            d = np.linalg.norm(keypoint(markers, name) - mid, axis=1)
            if np.isfinite(d).any():
                head = factor * float(np.nanmedian(d))
                break
    if trunk is None or head is None:
        return leg / 0.530
    return leg + trunk + head


# --------------------------------------------------------------------------- stage shell
def _per_person(value: Any, i: int, key: str) -> Any:
    """Pose2Sim style: a number, 'auto', or a list with one value per person/file (last repeats)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"project.{key} is an empty list; give one value per person")
        return value[min(i, len(value) - 1)]
    return value


def _height(markers: Markers3D, value: Any, default: float) -> tuple[float, str]:
    if isinstance(value, str) and value.strip().lower() == "auto" or value in (None, 0):
        est = estimate_height(markers)
        if est is None or not np.isfinite(est) or not 1.0 < est < 2.4:
            log.warning("could not estimate the participant's height (got %s); using %.2f m", est, default)
            return default, "default"
        return est, "estimated"
    try:
        return float(value), "config"
    except (TypeError, ValueError):
        raise ConfigError(f"project.participant_height = {value!r}: use 'auto' or metres (e.g. 1.72)") from None


def augmentation_inputs(pose3d_dir: Path) -> list[Path]:
    """Per person of the current run, its filtered ``.trc`` if any, else the raw one (:mod:`mocap3d.stage_inputs`)."""
    from .stage_inputs import augmentation_inputs as current_inputs
    return current_inputs(pose3d_dir)


def run_augmentation(trial) -> dict[str, Any]:
    """Augment each ``pose-3d`` ``.trc`` of ``trial`` into ``<name>_LSTM.trc`` (+ ``.c3d``).

    Height and mass come from ``[project] participant_height`` ('auto' =
    estimated from segment lengths) and ``participant_mass`` (lists: one per
    file, in name order). Writes ``pose-3d/augmentation_report.json``.
    """
    from .io.trc import write_trc
    from .stage_inputs import fingerprint, read_markers

    cfg = trial.config.get("markerAugmentation", {})
    project = trial.config.get("project", {})
    folder = Path(trial.pose3d_dir)
    inputs = augmentation_inputs(folder) if folder.is_dir() else []
    if not inputs:
        raise Mocap3dError(f"{folder}: no .trc to augment; run triangulation (and filtering) first")
    models = load_augmenters(cfg)
    default_height = float(trial.config.get("kinematics", {}).get("default_height", 1.7))
    report: dict[str, Any] = {"model": f"LSTM {MODEL_VERSION}", "files": []}
    for i, path in enumerate(inputs):
        markers = read_markers(path)
        height, source = _height(markers, _per_person(project.get("participant_height", "auto"), i,
                                                      "participant_height"), default_height)
        mass_value = _per_person(project.get("participant_mass", 70.0), i, "participant_mass")
        try:
            mass = float(mass_value) if mass_value not in (None, 0) else 70.0
        except (TypeError, ValueError):
            raise ConfigError(f"project.participant_mass = {mass_value!r}: use kilograms (e.g. 70.0)") from None
        out_markers, info = augment(markers, height, mass, models)
        entry: dict[str, Any] = {"input": path.name, "input_sha1": fingerprint(path),
                                 "height_m": round(height, 4), "height_source": source,
                                 "mass_kg": mass, **info}
        if cfg.get("feet_on_floor", False):
            out_markers, entry["y_shift_m"] = feet_on_floor(out_markers)
        out = path.with_name(f"{path.stem}_LSTM.trc")
        write_trc(out_markers, out)
        entry["output"] = out.name
        if cfg.get("make_c3d", True):
            from .io.c3d import write_c3d
            entry["c3d"] = write_c3d(out_markers, out.with_suffix(".c3d")).name
        log.info("%s -> %s (height %.3f m %s, mass %.1f kg, models %s)", path.name, out.name, height, source,
                 mass, "+".join(info["ran"]))
        report["files"].append(entry)
    report["report_path"] = str(write_report(folder, "augmentation", report))
    return report
