"""OpenPose JSON folders: ``pose/<cam>_json/<name>_<frame>.json``, one file per frame.

Each file is ``{"version": 1.3, "people": [{"person_id": [-1],
"pose_keypoints_2d": [x0, y0, c0, x1, y1, c1, ...], ...}]}``. The frame index is
the LAST number in the file name (``cam01_000012_keypoints.json`` -> 12).
A keypoint with confidence 0 (OpenPose writes ``0, 0, 0`` for undetected
points) is read as NaN. A person's optional ``pose_keypoints_3d`` [x, y, z, c, ...]
(BlazePose's world landmarks, metres) is read into ``Keypoints2D.data3d`` when
some file has a non-empty one; files without it are read as fast as before. Persons are padded with NaN to the largest count
found, frames to the union of all cameras' frames.
"""
from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import Mocap3dError, file_error
from ..keypoints import Keypoints2D
from ..logs import atomic_folder, atomic_write, get_logger
from ..skeletons import Skeleton

log = get_logger("io")
# The last number of a name; "_-12" (written for frames before a synced clock's zero) is negative.
_LAST_NUMBER = re.compile(r"((?<=_)-)?(\d+)(?!.*\d)")
_PEOPLE_RE = re.compile(rb'"people"\s*:\s*\[')
_POSE_RE = re.compile(rb'"pose_keypoints_2d"\s*:\s*\[([^\]]*)\]')
_POSE3D_RE = re.compile(rb'"pose_keypoints_3d"\s*:\s*\[([^\]]*)\]')
_KEY3D = b'"pose_keypoints_3d"'
_EMPTY_FIELDS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                 "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d")


def _number(m: re.Match) -> int:
    return -int(m.group(2)) if m.group(1) else int(m.group(2))


def frame_number(filename: str | os.PathLike) -> int | None:
    """The last number in a file name's stem, or None if it has none."""
    m = _LAST_NUMBER.search(Path(filename).stem)
    return _number(m) if m else None


def list_json_frames(cam_dir: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Frame numbers (sorted) and JSON file paths of one camera folder."""
    cam_dir = str(cam_dir)
    if not os.path.isdir(cam_dir):
        raise file_error(cam_dir, "pose folder not found", "Run pose estimation or check pose_dir")
    entries = []
    for e in os.scandir(cam_dir):
        if e.name.endswith(".json") and e.is_file():
            m = _LAST_NUMBER.search(e.name[:-5])
            if m is None:
                raise file_error(e.path, "no frame number in the file name", "Name files like <name>_<frame>.json")
            entries.append((_number(m), e.path))
    entries.sort()
    frames = np.array([f for f, _ in entries], dtype=int)
    dup = frames[1:][np.diff(frames) == 0] if len(frames) > 1 else frames[:0]
    if len(dup):
        raise file_error(cam_dir, f"two files for frame {int(dup[0])}", "Keep one JSON file per frame")
    return frames, [p for _, p in entries]


def _read_many(paths: list[str]) -> list[bytes]:
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            out.append(fh.read())
    return out


def _read_all(paths: list[str], pool: ThreadPoolExecutor, chunk: int = 256) -> list[bytes]:
    """File contents in order, read by the pool's threads in chunks (overlaps disk waits)."""
    parts = pool.map(_read_many, [paths[i:i + chunk] for i in range(0, len(paths), chunk)])
    return [raw for part in parts for raw in part]


def _json_people(path: str, raw: bytes, field: str = "pose_keypoints_2d", size: int = 3) -> list[list[float]]:
    """The ``field`` lists (``pose_keypoints_2d`` triplets) of one file, through the json module (validating)."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        line = getattr(e, "lineno", None)
        raise file_error(path, f"invalid or truncated JSON ({getattr(e, 'msg', e)})",
                         "Re-run pose estimation for this frame or delete the file", line=line) from None
    people = doc.get("people") if isinstance(doc, dict) else None
    if not isinstance(people, list):
        raise file_error(path, "no 'people' list", "Expected OpenPose JSON {\"people\": [...]}")
    out = []
    what = "x, y, c triplets" if size == 3 else "x, y, z, c quadruplets"
    for i, person in enumerate(people):
        kp = person.get(field, [] if size == 4 else None) if isinstance(person, dict) else None
        if not isinstance(kp, list) or len(kp) % size or not all(isinstance(v, (int, float)) for v in kp):
            raise file_error(path, f"people[{i}].{field} is not a list of {what}",
                             "Re-run pose estimation for this frame")
        out.append(kp)
    return out


def _people_3d(path: str, raw: bytes, n_people: int) -> list[bytes]:
    """The comma-separated ``pose_keypoints_3d`` contents of each person (b"" where empty)."""
    found = [f.strip() for f in _POSE3D_RE.findall(raw)]
    if len(found) != n_people or len(found) != raw.count(_KEY3D):
        found = [",".join(map(repr, map(float, kp))).encode() for kp in _json_people(path, raw, "pose_keypoints_3d", 4)]
    return found


def _values(items: list[bytes], per_person: int, files: list[str], counts: np.ndarray, raws: list[bytes],
            field: str) -> np.ndarray:
    """(len(items), per_person) floats from comma-separated person lists (b"" = all NaN)."""
    L = np.array([f.count(b",") + 1 if f else 0 for f in items], dtype=int)
    blank = b",".join([b"nan"] * per_person)
    items = [f if f else blank for f in items]
    L[L == 0] = per_person
    bad = np.nonzero(L != per_person)[0]
    if len(bad):
        f = int(np.searchsorted(np.cumsum(counts), bad[0], side="right"))
        size = 3 if field == "pose_keypoints_2d" else 4
        if L[bad[0]] % size:
            raise file_error(files[f], f"{field} holds {L[bad[0]]} values, not a multiple of {size} (x, y"
                             f"{', z' if size == 4 else ''}, likelihood per keypoint): the file is damaged",
                             "Re-run pose estimation for this frame or delete the file")
        raise file_error(files[f], f"{field}: {L[bad[0]] // size} keypoints per person, expected {per_person // size}",
                         "Set pose.pose_model to the model that wrote these files")
    try:
        vals = np.fromstring(b",".join(items).decode("ascii"), sep=",")
    except (ValueError, UnicodeDecodeError):
        vals = np.zeros(0)
    if vals.size != len(items) * per_person:  # a non-numeric value somewhere: find its file
        for i, raw in enumerate(raws):
            _json_people(files[i], raw, field, 3 if field == "pose_keypoints_2d" else 4)
        raise file_error(files[0], f"unreadable {field} values", "Re-run pose estimation")
    return vals.reshape(len(items), per_person)


def _fast_people(raw: bytes) -> list[bytes] | None:
    """The comma-separated contents of each ``pose_keypoints_2d`` list, or None to use the json module.

    Only for files that look complete (end with ``}``) and whose every person
    has a non-empty list; anything unusual falls back to full JSON parsing.
    """
    body = raw.rstrip()
    if not body.endswith(b"}") or not _PEOPLE_RE.search(body):
        return None
    found = _POSE_RE.findall(body)
    if len(found) != body.count(b'"pose_keypoints_2d"') or not all(f.strip() for f in found):
        return None
    return found


def _parse_camera(files: list[str], pool: ThreadPoolExecutor,
                  n_kpts: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Persons per file (n_files,), keypoints (n_persons, K, 3) and 3D keypoints (n_persons, K, 4)
    of one camera folder; the 3D is None when no file has a non-empty ``pose_keypoints_3d``."""
    raws = _read_all(files, pool)
    items: list[bytes] = []
    items3d: list[bytes] = []
    counts = np.zeros(len(files), dtype=int)
    lengths = []
    for i, raw in enumerate(raws):
        found = _fast_people(raw)
        if found is None:  # validating path (raises on malformed files)
            found = [",".join(map(repr, map(float, kp))).encode() for kp in _json_people(files[i], raw)]
        counts[i] = len(found)
        items.extend(found)
        lengths.extend(f.count(b",") + 1 if f else 0 for f in found)
        n3 = raw.count(_KEY3D)
        if n3 and n3 != raw.count(_KEY3D + b":[]"):   # some non-empty 3D list (our writer is compact)
            if not items3d:
                items3d = [b""] * (len(items) - len(found))
            items3d.extend(_people_3d(files[i], raw, len(found)))
        elif items3d:
            items3d.extend([b""] * len(found))
    L = np.array(lengths, dtype=int)
    if n_kpts is None:
        n_kpts = int(L.max()) // 3 if len(L) else 0
    if not items:
        return counts, np.zeros((0, n_kpts, 3)), None
    if (L == 0).any() or (L != 3 * n_kpts).any():  # an empty pose (e.g. hands only) is all missing
        vals = _values(items, 3 * n_kpts, files, counts, raws, "pose_keypoints_2d")
    else:
        try:
            vals = np.fromstring(b",".join(items).decode("ascii"), sep=",")
        except (ValueError, UnicodeDecodeError):
            vals = np.zeros(0)
        if vals.size != len(items) * 3 * n_kpts:
            vals = _values(items, 3 * n_kpts, files, counts, raws, "pose_keypoints_2d")
    vals3d = _values(items3d, 4 * n_kpts, files, counts, raws, "pose_keypoints_3d") if any(items3d) else None
    return (counts, vals.reshape(len(items), n_kpts, 3),
            None if vals3d is None else vals3d.reshape(len(items), n_kpts, 4))


def _fill(parsed: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], frame_idx: list[np.ndarray],
          n_frames: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays (C, F, P, K, 3) as read (see :func:`clean_keypoints`) and 3D (C, F, P, K, 4) or None (confidence
    <= 0 -> NaN) from parsed cameras."""
    P = max((int(c.max()) for c, _, _ in parsed if len(c)), default=0)
    K = max((v.shape[1] for _, v, _ in parsed), default=0)
    if len({v.shape[1] for c, v, _ in parsed if len(v)}) > 1:
        raise Mocap3dError("cameras have different keypoint counts "
                           f"{[v.shape[1] for _, v, _ in parsed]}: all must come from the same pose model")
    data = np.full((len(parsed), n_frames, max(P, 1), K, 3), np.nan)
    data3d = np.full(data.shape[:4] + (4,), np.nan) if any(v3 is not None for _, _, v3 in parsed) else None
    for c, (counts, vals, vals3d) in enumerate(parsed):
        if not len(vals):
            continue
        fi = np.repeat(frame_idx[c], counts)
        pi = np.arange(len(vals)) - np.repeat(np.cumsum(counts) - counts, counts)
        data[c, fi, pi] = vals
        if vals3d is not None:
            data3d[c, fi, pi] = vals3d
    if data3d is not None:
        data3d[~(data3d[..., 3] > 0)] = np.nan
    return data, data3d


MAX_PIXELS = 1e5    # no image is this large: coordinates beyond it are corrupt


def clean_keypoints(data: np.ndarray, cameras: Sequence[str], frames: np.ndarray, where: str | os.PathLike
                    ) -> np.ndarray:
    """Validate read keypoints (C, F, P, K, 3) in place: impossible values are dropped or clipped, with a count.

    Non-finite coordinates or beyond :data:`MAX_PIXELS`, and negative likelihoods,
    make the keypoint missing; likelihoods above 1 are clipped to 1. One warning
    per camera and kind names the folder, the count and the frames. A keypoint
    with likelihood 0 (OpenPose's "not detected") is missing, silently.
    """
    xy, c = data[..., :2], data[..., 2]
    present = np.isfinite(c) & (c != 0)
    checks = (("impossible coordinates (not finite or beyond 100000 px)",
               present & ~(np.abs(xy) < MAX_PIXELS).all(-1), "dropped"),
              ("negative likelihoods", present & (c < 0), "dropped"),
              ("likelihoods above 1", present & (c > 1), "clipped to 1"))
    for what, mask, action in checks:
        for ci in np.flatnonzero(mask.any(axis=(1, 2, 3))):
            bad_frames = frames[mask[ci].any(axis=(1, 2))]
            log.warning("%s, camera %s: %d keypoints with %s in %d frames (first: frame %d): %s. Check the pose "
                        "detector's output", where, cameras[ci], int(mask[ci].sum()), what, len(bad_frames),
                        int(bad_frames[0]), action)
    bad = checks[0][1] | checks[1][1]
    data[checks[2][1], 2] = 1.0
    data[bad] = np.nan
    data[~(data[..., 2] > 0)] = np.nan
    return data


def _resolve_cameras(pose_dir: Path, cameras: Sequence[str] | None, warn_unused: bool = True
                     ) -> tuple[list[str], list[Path]]:
    if not pose_dir.is_dir():
        raise file_error(pose_dir, "pose folder not found", "Run pose estimation first or check the project folder")
    dirs = sorted((Path(e.path) for e in os.scandir(pose_dir) if e.is_dir() and
                   any(n.endswith(".json") for n in os.listdir(e.path))), key=lambda p: p.name)
    if not dirs:
        raise file_error(pose_dir, "no camera subfolder with .json files", "Expected pose/<cam>_json/*.json")
    names = [d.name[:-5] if d.name.endswith("_json") else d.name for d in dirs]
    if cameras is None:
        return names, dirs
    cameras = list(cameras)
    if all(c in names for c in cameras):
        extra = [n for n in names if n not in cameras]
        if extra and warn_unused:
            log.warning("%s: camera folder(s) %s not in the calibration (%s): their keypoints are not used. Add "
                        "the camera(s) to the calibration or move the folder(s) out of %s", pose_dir,
                        ", ".join(extra), ", ".join(cameras), pose_dir.name)
        return cameras, [dirs[names.index(c)] for c in cameras]
    if len(cameras) == len(dirs):  # Pose2Sim pairs sorted pose folders with calibration order
        return cameras, dirs
    raise Mocap3dError(f"{pose_dir}: {len(dirs)} camera folders ({', '.join(names)}) but {len(cameras)} "
                       f"calibrated cameras ({', '.join(cameras)}). Make pose/ and the calibration match")


def read_openpose_folders(pose_dir: str | os.PathLike, cameras: Sequence[str] | None = None,
                          skeleton: Skeleton | None = None, rate: float = 30.0,
                          frame_range: tuple[int, int] | None = None, workers: int = 8,
                          warn_unused: bool = True) -> Keypoints2D:
    """Read every ``<cam>_json`` subfolder of ``pose_dir`` into one :class:`Keypoints2D`.

    Args:
        pose_dir: folder holding one subfolder of JSON files per camera.
        cameras: camera names in calibration order. Folders named ``<cam>_json``
            (or ``<cam>``) are picked by name; otherwise, if the counts match,
            sorted folders are paired with the names in order (as Pose2Sim does).
        skeleton: keypoint names; its length is checked against the files.
        rate: frame rate in Hz.
        frame_range: keep frames ``start <= f < stop`` only.
        workers: threads reading files.
        warn_unused: warn about camera folders not in ``cameras`` (off when one camera is chosen on purpose).

    Returns:
        Keypoints2D with data (C, F, P, K, 3) over the union of frames.
    """
    names, dirs = _resolve_cameras(Path(pose_dir), cameras, warn_unused)
    listed = [list_json_frames(d) for d in dirs]
    if frame_range is not None:
        lo, hi = frame_range
        listed = [(fr[(fr >= lo) & (fr < hi)], [p for f, p in zip(fr, ps) if lo <= f < hi]) for fr, ps in listed]
    frames = np.unique(np.concatenate([fr for fr, _ in listed])) if listed else np.zeros(0, int)
    files = [ps for _, ps in listed]
    n_kpts = len(skeleton.names) if skeleton else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parsed = [_parse_camera(ps, pool, n_kpts) for ps in files]
    frame_idx = [np.searchsorted(frames, fr) for fr, _ in listed]
    data, data3d = _fill(parsed, frame_idx, len(frames))
    data = clean_keypoints(data, names, frames, pose_dir)
    K = data.shape[3]
    kp_names = list(skeleton.names) if skeleton else [str(i) for i in range(K)]
    counts = {n: len(fr) for n, (fr, _) in zip(names, listed)}
    if len(set(counts.values())) > 1:
        log.info("%s: cameras have different frame counts %s; padded with NaN", pose_dir, counts)
    return Keypoints2D(data, names, kp_names, frames, rate, data3d=data3d)


def read_openpose_camera(cam_dir: str | os.PathLike, skeleton: Skeleton | None = None, rate: float = 30.0,
                         name: str | None = None) -> Keypoints2D:
    """Read one camera folder of JSON files: Keypoints2D with one camera."""
    cam_dir = Path(cam_dir)
    frames, files = list_json_frames(cam_dir)
    if not files:
        raise file_error(cam_dir, "no .json files", "Run pose estimation for this camera")
    with ThreadPoolExecutor(max_workers=8) as pool:
        parsed = _parse_camera(files, pool, len(skeleton.names) if skeleton else None)
    data, data3d = _fill([parsed], [np.arange(len(frames))], len(frames))
    K = data.shape[3]
    if name is None:
        name = cam_dir.name[:-5] if cam_dir.name.endswith("_json") else cam_dir.name
    data = clean_keypoints(data, [name], frames, cam_dir)
    return Keypoints2D(data, [name], list(skeleton.names) if skeleton else [str(i) for i in range(K)], frames, rate,
                       data3d=data3d)


def openpose_document(persons: np.ndarray, persons3d: np.ndarray | None = None) -> dict:
    """The JSON document of one frame from persons (P, K, 3); NaN -> 0, 0, 0.

    Trailing all-missing persons are dropped; inner ones are kept as zeros so
    that person indices survive a round trip. ``persons3d`` (P, K, 4) x, y, z, c
    fills ``pose_keypoints_3d`` (NaN -> 0, 0, 0, 0; a person without any 3D keeps []).
    """
    persons = np.asarray(persons, dtype=float)
    present = np.isfinite(persons[..., 2]).any(axis=-1) if persons.size else np.zeros(0, bool)
    n = int(np.nonzero(present)[0][-1]) + 1 if present.any() else 0
    people = []
    for p in range(n):
        kp = np.where(np.isfinite(persons[p]).all(axis=-1, keepdims=True), persons[p], 0.0)
        person = {"person_id": [-1], "pose_keypoints_2d": kp.ravel().tolist()}
        person.update({k: [] for k in _EMPTY_FIELDS})
        if persons3d is not None and np.isfinite(persons3d[p]).all(-1).any():
            k3 = np.where(np.isfinite(persons3d[p]).all(axis=-1, keepdims=True), persons3d[p], 0.0)
            person["pose_keypoints_3d"] = k3.ravel().tolist()
        people.append(person)
    return {"version": 1.3, "people": people}


def write_openpose_camera(kp: Keypoints2D, folder: str | os.PathLike, camera: int | str = 0,
                          prefix: str | None = None, atomic: bool = True) -> Path:
    """Write one camera of ``kp`` as ``folder/<prefix>_<frame:06d>.json`` files.

    ``prefix`` defaults to the camera name. Each file is written atomically
    unless ``atomic`` is False (for a folder that is itself swapped in whole,
    see :func:`mocap3d.logs.atomic_folder`). Returns ``folder``.
    """
    folder = Path(folder)
    c = camera if isinstance(camera, int) else kp.cameras.index(camera)
    stem = kp.cameras[c] if prefix is None else prefix
    folder.mkdir(parents=True, exist_ok=True)
    for f, frame in enumerate(kp.frames):
        doc = openpose_document(kp.data[c, f], None if kp.data3d is None else kp.data3d[c, f])
        path = folder / f"{stem}_{int(frame):06d}.json"
        with (atomic_write(path, encoding="utf-8") if atomic else open(path, "w", encoding="utf-8")) as fh:
            fh.write(json.dumps(doc, separators=(",", ":")))
    return folder


def write_openpose_folders(kp: Keypoints2D, pose_dir: str | os.PathLike, prefix: str = "",
                           replace: bool = False) -> list[Path]:
    """Write ``pose_dir/<cam>_json/<prefix><cam>_<frame:06d>.json`` for every camera and frame.

    Each file is written atomically; with ``replace``, each camera folder is
    written whole into a new folder that then replaces the old one (a stage's
    own output: no file of an earlier run survives). Returns the camera folders.
    """
    pose_dir = Path(pose_dir)
    out = []
    for c, cam in enumerate(kp.cameras):
        folder = pose_dir / f"{cam}_json"
        if replace:
            with atomic_folder(folder) as tmp:
                write_openpose_camera(kp, tmp, c, f"{prefix}{cam}", atomic=False)
        else:
            write_openpose_camera(kp, folder, c, f"{prefix}{cam}")
        out.append(folder)
    return out
