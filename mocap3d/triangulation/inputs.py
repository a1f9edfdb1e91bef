"""Reading a trial's inputs for the sync / association / triangulation shells."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..camera import CameraRig
from ..errors import ConfigError, Mocap3dError
from ..keypoints import Keypoints2D, require_detections
from ..logs import get_logger
from ..project import VIDEO_EXTENSIONS
from ..skeletons import Skeleton, get_skeleton

log = get_logger("triangulation")


def calibration_file(folder: Path) -> Path:
    """The calibration TOML of a folder (a name with 'calib' preferred, newest first)."""
    if not folder.is_dir():
        raise Mocap3dError(f"{folder}: calibration folder not found. Run the calibration stage or copy a "
                           f"Calib*.toml there")
    tomls = sorted(folder.glob("*.toml"), key=lambda p: (("calib" not in p.name.lower()), -p.stat().st_mtime))
    if not tomls:
        raise Mocap3dError(f"{folder}: no .toml calibration file. Run the calibration stage or copy a Calib*.toml there")
    same_kind = [p for p in tomls if ("calib" in p.name.lower()) == ("calib" in tomls[0].name.lower())]
    if len(same_kind) > 1:
        why = "the newest" + (" whose name holds 'calib'" if "calib" in tomls[0].name.lower() else "")
        log.warning("%s holds %d calibration files (%s): using %s, %s. Move the others out of the folder to "
                    "choose", folder, len(same_kind), ", ".join(p.name for p in same_kind), tomls[0].name, why)
    return tomls[0]


def load_rig(trial) -> tuple[CameraRig, Path]:
    """The trial's calibrated cameras and the file they came from."""
    from ..io.calibration_toml import read_calibration
    path = calibration_file(Path(trial.calibration_dir))
    return read_calibration(path), path


def rig_for_pose(rig: CameraRig, pose_dir: Path) -> CameraRig:
    """The calibrated cameras that have 2D keypoints in ``pose_dir``.

    All of them normally. When ``pose_dir`` holds fewer camera folders and each
    is named after a calibrated camera (``<cam>_json``), only those cameras are
    used, in calibration order, with a warning: dropping a bad camera's folder
    is enough to leave it out. Anything else is left to the reader to judge.
    """
    pose_dir = Path(pose_dir)
    if not pose_dir.is_dir():
        return rig
    names = [d.name[:-5] if d.name.endswith("_json") else d.name for d in pose_dir.iterdir()
             if d.is_dir() and any(n.endswith(".json") for n in os.listdir(d))]
    if 2 <= len(names) < len(rig) and set(names) <= set(rig.names):
        kept = [n for n in rig.names if n in names]
        log.warning("%s has keypoints of %d of the %d calibrated cameras: using %s (left out: %s)", pose_dir,
                    len(kept), len(rig), ", ".join(kept), ", ".join(n for n in rig.names if n not in kept))
        return rig.subset(kept)
    return rig


def load_skeleton(config: Mapping[str, Any]) -> Skeleton:
    """Skeleton of ``[pose] pose_model`` (default HALPE_26), CUSTOM from ``[pose.CUSTOM]``."""
    pose = config.get("pose", {}) or {}
    return get_skeleton(str(pose.get("pose_model", "HALPE_26")), pose.get("CUSTOM"))


def frame_rate(config: Mapping[str, Any], trial=None) -> float:
    """``[project] frame_rate``; 'auto' reads the first video's rate, else 60 Hz."""
    rate = (config.get("project", {}) or {}).get("frame_rate", "auto")
    if rate in (None, "auto"):
        if trial is not None and Path(trial.videos_dir).is_dir():
            vids = sorted(p for p in Path(trial.videos_dir).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
            if vids:
                import cv2
                cap = cv2.VideoCapture(str(vids[0]))
                fps = cap.get(cv2.CAP_PROP_FPS)
                cap.release()
                if fps and fps > 0:
                    return float(fps)
        return 60.0
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        raise ConfigError(f"project.frame_rate = {rate!r}; use 'auto' or a positive number of frames per second")
    return float(rate)


def load_keypoints(pose_dir: Path, rig: CameraRig, skeleton: Skeleton, rate: float) -> Keypoints2D:
    """OpenPose folders of ``pose_dir`` in calibration camera order, names from ``skeleton``."""
    from ..io.openpose import read_openpose_folders
    kp = read_openpose_folders(pose_dir, cameras=rig.names, skeleton=skeleton, rate=rate)
    if kp.n_frames == 0:
        raise Mocap3dError(f"{pose_dir}: no frame found in the JSON folders")
    require_detections(kp, pose_dir)
    return kp


def offsets_file(folder: Path) -> Path:
    return Path(folder) / "synchronization_report.json"


def read_sync_offsets(folder: Path, cameras: list[str]) -> np.ndarray | None:
    """Offsets (C,) saved by the synchronization stage in ``folder``, or None."""
    import json
    path = offsets_file(folder)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    offs = doc.get("offsets_frames", {})
    if not all(c in offs for c in cameras):
        return None
    return np.array([float(offs[c]) for c in cameras])
