"""Importers of other 2D pose detectors' outputs into :class:`Keypoints2D` / OpenPose JSON folders.

Each source gives one camera. ``<source>_to_keypoints(...)`` returns a
one-camera Keypoints2D (x, y px, likelihood; NaN when missing or at zero
confidence); ``<source>_to_openpose(input, output_dir, ...)`` writes
``output_dir/<name>_<frame:06d>.json`` OpenPose files.

Formats:

* AlphaPose: one JSON list of detections ``{"image_id": "12.jpg",
  "keypoints": [x, y, score, ...], "score": s, "idx": id, ...}``; the frame
  is the last number of ``image_id``; persons keep their order in each frame
  (or sorted by ``idx`` with ``by_idx=True``).
* DeepLabCut: ``.h5`` (``pandas.read_hdf``) or ``.csv`` (3 header rows, or 4
  for multi-animal) with columns ``(scorer, [individuals,] bodyparts,
  coords)``, coords ``x, y, likelihood``; rows are frames (the index, or the
  last number of an image path). Individuals become persons.
* MMPose: the inferencer's JSON: a list of ``{"frame_id": i, "instances":
  [{"keypoints": [[x, y], ...], "keypoint_scores": [...]}]}`` (also a dict
  with ``instance_info`` as the demos write, or a bare list of instances for
  one image).
* MediaPipe: normalized landmarks (x, y in [0, 1] of the image width and
  height) with ``visibility`` as likelihood: an array (F, K, 3 or 4) = x, y,
  [z,] visibility; a JSON list of frames, each a list of ``{"x", "y",
  "visibility"}`` (or ``{"landmarks": [...]}``); a CSV with columns
  ``<name>_x, <name>_y, <name>_visibility``; or a ``.npy``/``.npz`` array.
  The video's ``image_size`` (width, height) is always required.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import Mocap3dError, file_error
from ..keypoints import Keypoints2D
from ..skeletons import Skeleton, get_skeleton
from .openpose import frame_number, write_openpose_camera

_BY_COUNT = {17: "COCO_17", 26: "HALPE_26", 133: "COCO_133", 25: "BODY_25", 33: "BLAZEPOSE"}


def _names(n_kpts: int, skeleton: Skeleton | str | None) -> list[str]:
    if isinstance(skeleton, str):
        skeleton = get_skeleton(skeleton)
    if skeleton is None and n_kpts in _BY_COUNT:
        skeleton = get_skeleton(_BY_COUNT[n_kpts])
    if skeleton is None:
        return [str(i) for i in range(n_kpts)]
    if len(skeleton.names) != n_kpts:
        raise ValueError(f"skeleton {skeleton.name} has {len(skeleton.names)} keypoints but the data has {n_kpts}")
    return list(skeleton.names)


def _assemble(frames: dict[int, list[np.ndarray]], n_kpts: int, names: list[str], camera: str,
              rate: float) -> Keypoints2D:
    """One-camera Keypoints2D from {frame: [persons (K, 3)]}; likelihood <= 0 -> NaN."""
    order = np.array(sorted(frames), dtype=int)
    P = max((len(v) for v in frames.values()), default=0)
    data = np.full((1, len(order), max(P, 1), n_kpts, 3), np.nan)
    for f, frame in enumerate(order):
        for p, person in enumerate(frames[frame]):
            data[0, f, p] = person
    data[~(data[..., 2] > 0)] = np.nan
    return Keypoints2D(data, [camera], names, order, rate)


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise file_error(path, f"invalid or truncated JSON ({getattr(e, 'msg', e)})", "Re-export the file",
                         line=getattr(e, "lineno", None)) from None


# --- AlphaPose ----------------------------------------------------------------
def alphapose_to_keypoints(path: str | os.PathLike, skeleton: Skeleton | str | None = None,
                           camera: str | None = None, rate: float = 30.0, by_idx: bool = False) -> Keypoints2D:
    """AlphaPose results JSON -> one-camera Keypoints2D (see module docstring)."""
    path = Path(path)
    doc = _load_json(path)
    if not isinstance(doc, list):
        raise file_error(path, "top level is not a list of detections", "Give AlphaPose's results JSON")
    frames: dict[int, list[tuple[float, np.ndarray]]] = {}
    n_kpts = None
    for i, det in enumerate(doc):
        if not isinstance(det, dict) or "image_id" not in det or "keypoints" not in det:
            raise file_error(path, f"detection [{i}] lacks image_id or keypoints", "Give AlphaPose's results JSON")
        frame = frame_number(str(det["image_id"]))
        if frame is None:
            raise file_error(path, f"detection [{i}] image_id {det['image_id']!r} has no frame number",
                             "Name images with their frame number")
        kp = np.asarray(det["keypoints"], dtype=float)
        if kp.ndim != 1 or len(kp) % 3 or (n_kpts is not None and len(kp) != 3 * n_kpts):
            raise file_error(path, f"detection [{i}] has {kp.size} keypoint values, expected triplets"
                             + (f" of {n_kpts}" if n_kpts else ""), "Check the AlphaPose output")
        n_kpts = len(kp) // 3
        idx = det.get("idx", 0)
        idx = float(np.ravel(idx)[0]) if np.size(idx) else 0.0
        frames.setdefault(frame, []).append((idx, kp.reshape(n_kpts, 3)))
    if by_idx:
        frames = {f: sorted(v, key=lambda t: t[0]) for f, v in frames.items()}
    n_kpts = n_kpts or 0
    persons = {f: [kp for _, kp in v] for f, v in frames.items()}
    return _assemble(persons, n_kpts, _names(n_kpts, skeleton), camera or path.stem, rate)


def alphapose_to_openpose(path: str | os.PathLike, output_dir: str | os.PathLike, **kwargs) -> Path:
    """Convert an AlphaPose results JSON into an OpenPose JSON folder; returns the folder."""
    kp = alphapose_to_keypoints(path, **kwargs)
    return write_openpose_camera(kp, output_dir)


# --- DeepLabCut ---------------------------------------------------------------
def _read_dlc_table(path: Path):
    import pandas as pd
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    try:
        if path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
            df = pd.read_hdf(path)
        else:
            with open(path, newline="") as fh:
                head = [next(csv.reader([fh.readline()])) for _ in range(4)]
            n_header = 4 if head[3] and head[3][0].strip().lower() == "coords" else 3
            df = pd.read_csv(path, header=list(range(n_header)), index_col=0)
    except Exception as e:  # pandas/PyTables raise many types for foreign or damaged files
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        why = type(e).__name__ + (f": {first}" if first and "back trace" not in first else "")
        raise file_error(path, f"cannot read DeepLabCut table ({why})", "Give DeepLabCut's .h5 or .csv output") from None
    if not hasattr(df, "columns") or df.columns.nlevels not in (3, 4):
        raise file_error(path, "columns are not (scorer, [individuals,] bodyparts, coords)",
                         "Give DeepLabCut's .h5 or .csv output")
    return df


def dlc_to_keypoints(path: str | os.PathLike, camera: str | None = None, rate: float = 30.0) -> Keypoints2D:
    """DeepLabCut .h5/.csv -> one-camera Keypoints2D; individuals become persons, bodyparts keypoints."""
    path = Path(path)
    df = _read_dlc_table(path)
    cols = df.columns
    coords_level = cols.nlevels - 1
    coords = list(dict.fromkeys(cols.get_level_values(coords_level)))
    if not {"x", "y"} <= set(coords):
        raise file_error(path, f"coords level has {coords}, expected x, y, likelihood", "Check the DLC output")
    if cols.nlevels == 4:
        individuals = list(dict.fromkeys(cols.get_level_values(1)))
    else:
        individuals = [None]
    bodyparts = list(dict.fromkeys(cols.get_level_values(coords_level - 1)))
    scorer = cols.get_level_values(0)[0]
    F, K, P = len(df), len(bodyparts), len(individuals)
    data = np.full((1, F, P, K, 3), np.nan)
    values = df.to_numpy(dtype=float)
    col_index = {c: i for i, c in enumerate(cols)}
    for p, ind in enumerate(individuals):
        for k, bp in enumerate(bodyparts):
            for j, coord in enumerate(("x", "y", "likelihood")):
                key = (scorer, bp, coord) if ind is None else (scorer, ind, bp, coord)
                if key in col_index:
                    data[0, :, p, k, j] = values[:, col_index[key]]
                elif coord == "likelihood":
                    data[0, :, p, k, j] = np.where(np.isfinite(data[0, :, p, k, 0]), 1.0, np.nan)
    data[~(data[..., 2] > 0) | ~np.isfinite(data[..., :2]).all(-1)] = np.nan
    frames = []
    for i, idx in enumerate(df.index):
        if isinstance(idx, tuple):
            idx = idx[-1]
        if isinstance(idx, (int, np.integer)):
            frames.append(int(idx))
        else:
            n = frame_number(str(idx))
            frames.append(n if n is not None else i)
    frames_arr = np.array(frames, dtype=int)
    if len(np.unique(frames_arr)) != F:
        frames_arr = np.arange(F)
    return Keypoints2D(data, [camera or path.stem], bodyparts, frames_arr, rate)


def dlc_to_openpose(path: str | os.PathLike, output_dir: str | os.PathLike, **kwargs) -> Path:
    """Convert a DeepLabCut .h5/.csv into an OpenPose JSON folder; returns the folder."""
    return write_openpose_camera(dlc_to_keypoints(path, **kwargs), output_dir)


# --- MMPose -------------------------------------------------------------------
def _mmpose_frames(path: Path, doc: Any) -> list[tuple[int, list[dict]]]:
    if isinstance(doc, dict) and "instance_info" in doc:
        doc = doc["instance_info"]
    if isinstance(doc, dict) and "predictions" in doc:
        doc = doc["predictions"]
    if not isinstance(doc, list):
        raise file_error(path, "expected a list of frames with 'instances'", "Give MMPose's predictions JSON")
    if all(isinstance(d, dict) and "keypoints" in d for d in doc):  # one image: a list of instances
        return [(0, doc)]
    out = []
    for i, fr in enumerate(doc):
        if isinstance(fr, list):  # [[instances of frame 0], ...]
            out.append((i, fr))
            continue
        if not isinstance(fr, dict) or "instances" not in fr:
            raise file_error(path, f"frame [{i}] has no 'instances'", "Give MMPose's predictions JSON")
        out.append((int(fr.get("frame_id", i)), fr["instances"]))
    return out


def mmpose_to_keypoints(path: str | os.PathLike, skeleton: Skeleton | str | None = None,
                        camera: str | None = None, rate: float = 30.0) -> Keypoints2D:
    """MMPose predictions JSON -> one-camera Keypoints2D (see module docstring)."""
    path = Path(path)
    frames: dict[int, list[np.ndarray]] = {}
    n_kpts = None
    for frame, instances in _mmpose_frames(path, _load_json(path)):
        people = frames.setdefault(frame, [])
        for j, inst in enumerate(instances):
            try:
                xy = np.asarray(inst["keypoints"], dtype=float).reshape(-1, 2)
                sc = np.asarray(inst.get("keypoint_scores", np.ones(len(xy))), dtype=float).ravel()
            except (KeyError, ValueError, TypeError):
                raise file_error(path, f"frame {frame} instance {j}: keypoints are not [[x, y], ...]",
                                 "Give MMPose's predictions JSON") from None
            if len(sc) != len(xy) or (n_kpts is not None and len(xy) != n_kpts):
                raise file_error(path, f"frame {frame} instance {j}: {len(xy)} keypoints and {len(sc)} scores"
                                 + (f", expected {n_kpts}" if n_kpts else ""), "Check the MMPose output")
            n_kpts = len(xy)
            people.append(np.column_stack([xy, sc]))
    n_kpts = n_kpts or 0
    return _assemble(frames, n_kpts, _names(n_kpts, skeleton), camera or path.stem, rate)


def mmpose_to_openpose(path: str | os.PathLike, output_dir: str | os.PathLike, **kwargs) -> Path:
    """Convert an MMPose predictions JSON into an OpenPose JSON folder; returns the folder."""
    return write_openpose_camera(mmpose_to_keypoints(path, **kwargs), output_dir)


# --- MediaPipe ----------------------------------------------------------------
def mediapipe_array_to_keypoints(landmarks: np.ndarray, image_size: tuple[int, int], camera: str = "cam01",
                                 rate: float = 30.0, frames: Sequence[int] | None = None,
                                 skeleton: Skeleton | str | None = "BLAZEPOSE") -> Keypoints2D:
    """Normalized landmarks (F, K, 3|4) = x, y, [z,] visibility, or (F, P, K, 3|4) -> pixels.

    x is multiplied by the image width, y by the height; visibility becomes the
    likelihood. All-NaN landmarks (no person found) stay NaN.
    """
    arr = np.asarray(landmarks, dtype=float)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"MediaPipe landmarks must be (F, K, 3|4) or (F, P, K, 3|4), got {arr.shape}")
    w, h = image_size
    F, P, K, _ = arr.shape
    data = np.empty((1, F, P, K, 3))
    data[0, ..., 0] = arr[..., 0] * w
    data[0, ..., 1] = arr[..., 1] * h
    data[0, ..., 2] = arr[..., -1]
    data[~(data[..., 2] > 0) | ~np.isfinite(data[..., :2]).all(-1)] = np.nan
    names = _names(K, skeleton) if skeleton is not None else [str(i) for i in range(K)]
    fr = np.arange(F) if frames is None else np.asarray(frames, dtype=int)
    return Keypoints2D(data, [camera], names, fr, rate)


def _mediapipe_landmark(path: Path, lm: Any, where: str) -> list[float]:
    try:
        return [float(lm["x"]), float(lm["y"]), float(lm.get("visibility", lm.get("likelihood", 1.0)))]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise file_error(path, f"{where} is not a landmark {{x, y, visibility}}", "Check the MediaPipe export") from None


def read_mediapipe(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Landmarks (F, K, 3) = x, y, visibility (normalized), frame numbers and names from a JSON or CSV export."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _read_mediapipe_csv(path)
    doc = _load_json(path)
    if not isinstance(doc, list):
        raise file_error(path, "expected a list of frames", "Give a list of frames of landmarks")
    rows, frames, K = [], [], None
    for i, fr in enumerate(doc):
        frame = i
        if isinstance(fr, dict):
            frame = int(fr.get("frame", fr.get("frame_id", i)))
            fr = fr.get("landmarks", fr.get("pose_landmarks"))
        if fr is None or len(fr) == 0:
            rows.append(None)
        else:
            if not isinstance(fr, list):
                raise file_error(path, f"frame [{i}] landmarks are not a list", "Check the MediaPipe export")
            vals = [_mediapipe_landmark(path, lm, f"frame [{i}] landmark [{k}]") for k, lm in enumerate(fr)]
            if K is not None and len(vals) != K:
                raise file_error(path, f"frame [{i}] has {len(vals)} landmarks, expected {K}", "Check the export")
            K = len(vals)
            rows.append(vals)
        frames.append(frame)
    K = K or 0
    arr = np.array([r if r is not None else np.full((K, 3), np.nan) for r in rows], dtype=float).reshape(-1, K, 3)
    return arr, np.array(frames, dtype=int), None


def _read_mediapipe_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise file_error(path, "empty file", "Give a CSV with <name>_x, <name>_y, <name>_visibility") from None
        body = list(reader)
    cols = {c.strip(): i for i, c in enumerate(header)}
    names = [c[:-2] for c in header if c.strip().endswith("_x") and f"{c.strip()[:-2]}_y" in cols]
    if not names:
        raise file_error(path, "no <name>_x/<name>_y column pairs", "Give a CSV with <name>_x, <name>_y, "
                         "<name>_visibility", line=1)
    frame_col = next((cols[c] for c in ("frame", "frame_id", "Frame#") if c in cols), None)
    F, K = len(body), len(names)
    arr = np.full((F, K, 3), np.nan)
    frames = np.arange(F)
    for r, row in enumerate(body):
        try:
            get = lambda c: float(row[cols[c]]) if row[cols[c]].strip() else np.nan  # noqa: E731
            for k, n in enumerate(names):
                vis = f"{n}_visibility" if f"{n}_visibility" in cols else f"{n}_likelihood"
                arr[r, k] = [get(f"{n}_x"), get(f"{n}_y"), get(vis) if vis in cols else 1.0]
            if frame_col is not None:
                frames[r] = int(float(row[frame_col]))
        except (ValueError, IndexError):
            raise file_error(path, "malformed or truncated row", "Fix the CSV", line=r + 2) from None
    return arr, frames, names


def mediapipe_to_keypoints(source: str | os.PathLike | np.ndarray, image_size: tuple[int, int] | None = None,
                           camera: str | None = None, rate: float = 30.0) -> Keypoints2D:
    """MediaPipe landmarks -> one-camera Keypoints2D in pixels.

    ``source``: an array (F, K, 3|4), a ``.npy``/``.npz`` file holding one, or a
    JSON or CSV export (see module docstring). ``image_size`` (width, height)
    of the video is required: MediaPipe's x, y are fractions of it.
    """
    if image_size is None:
        raise Mocap3dError(f"{source if not isinstance(source, np.ndarray) else 'MediaPipe landmarks'}: "
                           "give image_size=(width, height) of the video; MediaPipe x, y are normalized to [0, 1]")
    if isinstance(source, np.ndarray):
        return mediapipe_array_to_keypoints(source, image_size, camera or "cam01", rate)
    path = Path(source)
    if path.suffix.lower() in (".npy", ".npz"):
        if not path.is_file():
            raise file_error(path, "file not found", "Check the path")
        try:
            loaded = np.load(path)
            arr = loaded[loaded.files[0]] if path.suffix.lower() == ".npz" else loaded
        except (OSError, ValueError, IndexError) as e:
            raise file_error(path, f"cannot read the array ({e})", "Save landmarks with numpy.save") from None
        try:
            return mediapipe_array_to_keypoints(arr, image_size, camera or path.stem, rate)
        except ValueError as e:
            raise file_error(path, str(e), "Save an array (frames, 33, 3 or 4)") from None
    arr, frames, names = read_mediapipe(path)
    kp = mediapipe_array_to_keypoints(arr, image_size, camera or path.stem, rate, frames,
                                      skeleton="BLAZEPOSE" if arr.shape[1] == 33 and names is None else None)
    if names is not None:
        kp.keypoints = list(names)
    return kp


def mediapipe_to_openpose(source: str | os.PathLike | np.ndarray, output_dir: str | os.PathLike,
                          image_size: tuple[int, int] | None = None, **kwargs) -> Path:
    """Convert MediaPipe landmarks into an OpenPose JSON folder (``image_size`` required); returns the folder."""
    return write_openpose_camera(mediapipe_to_keypoints(source, image_size, **kwargs), output_dir)
