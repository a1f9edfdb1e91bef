"""File readers of the add-on: ``.trc``, ``Calib*.toml``, ``*_bodies.npz``, and a trial folder's layout.

Only numpy and the standard library (``tomllib``): this runs inside Blender's
own Python, where neither mocap3d nor OpenSim is installed.

Axis convention: OpenSim and the ``.trc`` are Y up, Blender is Z up. A point
``(x, y, z)`` of OpenSim's ground is ``(x, -z, y)`` in Blender (a +90 deg
rotation about X, :data:`AXES`); a body's or camera's world matrix ``T`` becomes
``AXES4 @ T``. Units stay metres.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])   # OpenSim (Y up) -> Blender (Z up)
AXES4 = np.eye(4)
AXES4[:3, :3] = AXES
BODIES_FORMAT = "mocap3d.body_transforms"
BODIES_VERSION = 1
UNITS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2, "dm": 0.1}
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class AddonError(Exception):
    """Bad input: the message names the file and what to do."""


def to_blender(points: np.ndarray) -> np.ndarray:
    """(..., 3) OpenSim ground points (Y up) -> Blender world (Z up): ``(x, -z, y)``."""
    return np.asarray(points, dtype=float) @ AXES.T


@dataclass
class Trc:
    """A ``.trc``: ``data`` (F, M, 3) in metres (OpenSim axes), NaN when missing."""

    path: Path
    names: list[str]
    times: np.ndarray
    data: np.ndarray
    rate: float
    units: str
    messages: list[str] = field(default_factory=list)


def read_trc(path: str | Path) -> Trc:
    """Read an OpenSim ``.trc`` (tab separated); millimetres and centimetres are converted to metres."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise AddonError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(lines) < 6:
        raise AddonError(f"{path}: not a .trc file (fewer than 6 lines)")
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    header = dict(zip([k.strip() for k in keys], [v.strip() for v in values]))
    try:
        rate = float(header.get("DataRate") or header["CameraRate"])
    except (KeyError, ValueError) as exc:
        raise AddonError(f"{path}: line 3 has no DataRate; is this a .trc file?") from exc
    units = header.get("Units", "m") or "m"
    if units not in UNITS:
        raise AddonError(f"{path}: Units = {units!r}; expected one of {', '.join(UNITS)}")
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    rows = []
    for i, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.rstrip("\n").split("\t")
        row = np.full(2 + 3 * len(names), np.nan)
        for j, c in enumerate(cells[:len(row)]):
            c = c.strip()
            if c:
                try:
                    row[j] = float(c)
                except ValueError as exc:
                    raise AddonError(f"{path}: line {i} column {j + 1}: {c!r} is not a number") from exc
        rows.append(row)
    if not rows:
        raise AddonError(f"{path}: no frame")
    arr = np.array(rows)
    data = arr[:, 2:].reshape(len(arr), len(names), 3) * UNITS[units]
    times = arr[:, 1]
    if not np.all(np.isfinite(times)):
        times = np.arange(len(arr)) / rate
    messages = []
    if units != "m":
        messages.append(f"{path.name}: Units = {units}; markers converted to metres")
    return Trc(path, names, times, data, rate, units, messages)


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a Rodrigues vector."""
    rvec = np.asarray(rvec, dtype=float).ravel()
    theta = float(np.linalg.norm(rvec))
    if theta < 1e-15:
        return np.eye(3)
    k = rvec / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


@dataclass
class CameraSpec:
    """One camera of a calibration: OpenCV conventions (``x_cam = R X + t``, pixels, metres)."""

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray
    R: np.ndarray
    t: np.ndarray
    fisheye: bool

    def blender_matrix(self) -> np.ndarray:
        """(4, 4) world matrix of the Blender camera (looks down its -Z, Y up in the image)."""
        M = np.eye(4)
        M[:3, :3] = AXES @ self.R.T @ np.diag([1.0, -1.0, -1.0])
        M[:3, 3] = AXES @ (-self.R.T @ self.t)
        return M

    def lens(self, sensor_width: float = 36.0) -> dict[str, float | str]:
        """Blender camera settings: focal length (mm) for ``sensor_width``, sensor fit and lens shift.

        Blender has one focal length: ``fx`` is used (``fy`` for portrait images); fx != fy is not
        represented. Lens distortion is not represented either (the video background keeps it).
        A positive shift moves the view (not the image content) right / up, in units of the larger side.

        Pixel ``(u, v)`` in OpenCV's convention (pixel centres at integers) sits at
        ``(u + 0.5, v + 0.5)`` in Blender's frame (edges at 0 and width), hence the half pixel.
        """
        w, h = self.size
        big = max(w, h)
        horizontal = w >= h  # Blender's shift is in units of the fitted (larger) side
        f_px = self.matrix[0, 0] if horizontal else self.matrix[1, 1]
        cx, cy = self.matrix[0, 2], self.matrix[1, 2]
        return {"lens": f_px * sensor_width / big, "sensor_width": sensor_width, "sensor_height": sensor_width,
                "sensor_fit": "HORIZONTAL" if horizontal else "VERTICAL",
                "shift_x": (w / 2 - cx - 0.5) / big, "shift_y": (cy + 0.5 - h / 2) / big}


ZUP_TO_YUP = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # (X, Y, Z) -> (Y, Z, X), as the .trc


def up_axis(cams: list[CameraSpec], recorded: str | None = None) -> str:
    """'Y' or 'Z': the calibration world's vertical axis, as mocap3d's triangulation decides it: the
    recorded one (triangulation report, or the TOML's ``[metadata] up_axis``), else the cameras' mean image-up."""
    if str(recorded).upper() in ("Y", "Z"):
        return str(recorded).upper()
    up = -np.mean([c.R[1] for c in cams], axis=0)
    return "Y" if abs(up[1]) >= abs(up[2]) else "Z"


def read_calibration(path: str | Path, up: str | None = None) -> list[CameraSpec]:
    """Cameras of a Pose2Sim/AniPose calibration TOML, in the ``.trc``'s world (Y up).

    A Z-up calibration world (``up`` = 'Z', default the TOML's ``[metadata] up_axis``, else guessed from
    the cameras) is turned like the triangulation turns its points: (X, Y, Z) -> (Y, Z, X)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AddonError(f"{path}: not a readable calibration TOML ({exc})") from exc
    cams = []
    for key, tab in doc.items():
        if not isinstance(tab, dict) or "matrix" not in tab:
            continue
        try:
            K = np.array(tab["matrix"], dtype=float).reshape(3, 3)
            size = tuple(int(round(float(s))) for s in tab["size"])
            R = np.array(tab["rotation"], dtype=float)
            R = rodrigues(R) if R.size == 3 else R.reshape(3, 3)
            t = np.array(tab["translation"], dtype=float).ravel()
        except (KeyError, ValueError, TypeError) as exc:
            raise AddonError(f"{path}: camera [{key}] needs size, matrix, rotation and translation ({exc})") from exc
        if np.abs(t).max() > 100:  # millimetres (some converters): metres are what the scene uses
            t = t / 1000.0
        cams.append(CameraSpec(str(tab.get("name", key)), (size[0], size[1]), K,
                               np.array(tab.get("distortions", [0, 0, 0, 0]), dtype=float), R, t,
                               bool(tab.get("fisheye", False))))
    if not cams:
        raise AddonError(f"{path}: no camera table (with a 'matrix') in this file")
    meta = doc.get("metadata", {}) if isinstance(doc.get("metadata"), dict) else {}
    if up_axis(cams, up or meta.get("up_axis")) == "Z":
        for c in cams:
            c.R = c.R @ ZUP_TO_YUP.T   # x_cam = R X = R P^T (P X)
    return cams


def read_bodies(path: str | Path) -> dict[str, np.ndarray]:
    """A ``*_bodies.npz`` written by mocap3d's kinematics (see its format_version)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise AddonError(f"{path}: not a readable body transforms file ({exc})") from exc
    if str(d.get("format", "")) != BODIES_FORMAT:
        raise AddonError(f"{path}: not a mocap3d body transforms file (format {d.get('format')!r})")
    version = int(d.get("format_version", 0))
    if version > BODIES_VERSION:
        raise AddonError(f"{path}: format_version {version} is newer than this add-on reads ({BODIES_VERSION}); "
                         "update the add-on")
    T = d["transforms"]
    if T.ndim != 4 or T.shape[1:] != (len(d["body_names"]), 4, 4) or len(T) != len(d["times"]):
        raise AddonError(f"{path}: transforms {T.shape} do not match {len(d['times'])} frames and "
                         f"{len(d['body_names'])} bodies")
    return d


def _person_key(stem: str) -> str:
    base = stem[:-len("_LSTM")] if stem.endswith("_LSTM") else stem
    return base.split("_filt")[0]


def _rank(stem: str) -> tuple[int, int]:
    return (0 if stem.endswith("_LSTM") else 1, 0 if "_filt" in stem else 1)


@dataclass
class TrialFiles:
    """What a trial folder holds for Blender."""

    folder: Path
    trc: list[Path]
    bodies: list[Path]
    calibration: Path | None
    videos: list[Path]
    messages: list[str] = field(default_factory=list)
    offsets: dict[str, float] = field(default_factory=dict)   # camera -> frames to add to reach the .trc clock
    up_axis: str | None = None                                # calibration world's up axis used for the .trc


def find_trial_files(folder: str | Path) -> TrialFiles:
    """The markers (per person: augmented > filtered > raw ``.trc``), body transforms, calibration, videos.

    The calibration is ``calibration/Calib*.toml`` of the trial or of a parent folder (a session).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AddonError(f"trial folder not found: {folder}")
    groups: dict[str, list[Path]] = {}
    for p in sorted((folder / "pose-3d").glob("*.trc")):
        if not p.name.startswith("."):
            groups.setdefault(_person_key(p.stem), []).append(p)
    trc = [min(g, key=lambda p: _rank(p.stem)) for _, g in sorted(groups.items())]
    bodies = sorted(p for p in (folder / "kinematics").glob("*_bodies.npz") if not p.name.startswith("."))
    calib = None
    for d in [folder, *folder.parents][:4]:
        found = sorted((d / "calibration").glob("Calib*.toml"))
        if found:
            calib = found[0]
            break
    videos = sorted(p for p in (folder / "videos").glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    files = TrialFiles(folder, trc, bodies, calib, videos, offsets=read_sync_offsets(folder),
                       up_axis=_report(folder / "pose-3d" / "triangulation_report.json").get("world_up_axis"))
    if not trc and not bodies:
        raise AddonError(f"{folder}: no pose-3d/*.trc and no kinematics/*_bodies.npz; run the pipeline first "
                         "(mocap3d run), or import single files")
    if not bodies:
        mots = sorted((folder / "kinematics").glob("*.mot"))
        files.messages.append(f"{folder.name}: no kinematics/*_bodies.npz, so no model: markers only"
                              + ("; run 'mocap3d blender' (it writes them from the .mot)" if mots else
                                 "; run 'mocap3d kinematics' first"))
    return files


def _report(path: Path) -> dict:
    import json
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def read_sync_offsets(folder: str | Path) -> dict[str, float]:
    """Per-camera offsets (frames) of ``pose-sync/synchronization_report.json``: camera frame ``n`` is at the
    time ``(n + offset) / rate`` of the synchronized data (the ``.trc``). Empty when not synchronized."""
    try:
        offsets = _report(Path(folder) / "pose-sync" / "synchronization_report.json").get("offsets_frames") or {}
        return {str(k): float(v) for k, v in offsets.items()}
    except (AttributeError, TypeError, ValueError):
        return {}


def match_videos(cameras: list[CameraSpec], videos: list[Path]) -> dict[str, Path]:
    """Video of each camera: same name (``cam01.mp4`` or ``cam01_xxx.mp4`` for ``cam01``), else by the number
    in the names. Raises :class:`AddonError` when videos are there but do not match the cameras one to one."""
    if not videos:
        return {}
    out: dict[str, Path] = {}
    for c in cameras:
        hits = [v for v in videos if v.stem == c.name] or \
               [v for v in videos if re.match(rf"{re.escape(c.name)}(\b|_)", v.stem)]
        if len(hits) == 1:
            out[c.name] = hits[0]
    if len(out) < len(cameras):
        def number(s: str) -> int | None:
            m = re.findall(r"\d+", s)
            return int(m[-1]) if m else None
        by_num = {number(v.stem): v for v in videos}
        for c in cameras:
            if c.name not in out and number(c.name) in by_num and len(by_num) == len(videos):
                out[c.name] = by_num[number(c.name)]
    used = set(out.values())
    if len(out) != len(cameras) or len(used) != len(out) or len(videos) != len(cameras):
        names = ", ".join(c.name for c in cameras)
        files = ", ".join(v.name for v in videos)
        raise AddonError(f"the calibration's cameras ({names}) do not match the videos ({files}); name each video "
                         "like its camera (cam01.mp4 for cam01), or import without videos")
    return out


def quaternions(R: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (w, x, y, z) of rotation matrices (..., 3, 3)."""
    R = np.asarray(R, dtype=float)
    tr = np.trace(R, axis1=-2, axis2=-1)
    cands = np.stack([1 + tr, 1 + R[..., 0, 0] - R[..., 1, 1] - R[..., 2, 2],
                      1 - R[..., 0, 0] + R[..., 1, 1] - R[..., 2, 2], 1 - R[..., 0, 0] - R[..., 1, 1] + R[..., 2, 2]], -1)
    k = np.argmax(cands, axis=-1)
    q = np.empty(R.shape[:-2] + (4,))
    s = np.sqrt(np.maximum(np.take_along_axis(cands, k[..., None], -1)[..., 0], 1e-300)) * 2  # 4 * |component|
    r21, r12, r02, r20, r10, r01 = R[..., 2, 1], R[..., 1, 2], R[..., 0, 2], R[..., 2, 0], R[..., 1, 0], R[..., 0, 1]
    q[..., 0] = np.select([k == 0, k == 1, k == 2, k == 3], [s / 4, (r21 - r12) / s, (r02 - r20) / s, (r10 - r01) / s])
    q[..., 1] = np.select([k == 0, k == 1, k == 2, k == 3], [(r21 - r12) / s, s / 4, (r01 + r10) / s, (r02 + r20) / s])
    q[..., 2] = np.select([k == 0, k == 1, k == 2, k == 3], [(r02 - r20) / s, (r01 + r10) / s, s / 4, (r12 + r21) / s])
    q[..., 3] = np.select([k == 0, k == 1, k == 2, k == 3], [(r10 - r01) / s, (r02 + r20) / s, (r12 + r21) / s, s / 4])
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def continuous(q: np.ndarray) -> np.ndarray:
    """(F, 4) quaternions with signs flipped so that consecutive ones lie in the same hemisphere."""
    q = q.copy()
    for f in range(1, len(q)):
        if np.dot(q[f], q[f - 1]) < 0:
            q[f] = -q[f]
    return q


def frames_of(times: np.ndarray, rate: float, first: int = 1) -> np.ndarray:
    """Blender frame numbers of times (s): frame ``first`` at t = 0."""
    return np.round(np.asarray(times, dtype=float) * rate).astype(int) + first
