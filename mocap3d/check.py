"""``mocap3d check TRIAL``: validate a trial's inputs and say what each stage would read, writing nothing.

Every stage of ``[project] stages`` is looked at in order: its input files are
read and validated with the readers the stage uses (calibration TOML, OpenPose
JSON with keypoint validation, ``.trc`` with the units check, videos' first
frame), and one line says what it would read, or why it cannot. Inputs that an
earlier stage of the same run makes are not read (they do not exist yet or
will be replaced): the line says so. No file is written (no log file either).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from .config_schema import canonical_stage
from .errors import Mocap3dError
from .logs import get_logger
from .project import Trial

log = get_logger("check")

# stage -> the stages before it whose outputs it reads
_MAKES_2D = ("pose", "synchronization", "association")
_MAKES_3D = ("triangulation", "filtering", "augmentation")


def _names(paths: list[Path], limit: int = 4) -> str:
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _calibration(trial: Trial, earlier: set[str]) -> str:
    from .io.calibration_toml import read_calibration
    from .triangulation.inputs import calibration_file
    cal = trial.config.get("calibration", {}) or {}
    ctype = cal.get("calibration_type", "convert")
    try:
        path = calibration_file(trial.calibration_dir)
    except Mocap3dError:
        if ctype == "calculate":
            return f"would calculate a calibration from {trial.calibration_dir} (intrinsics/, extrinsics/)"
        raise
    rig = read_calibration(path)
    return f"{path.name}: {len(rig)} cameras ({', '.join(rig.names)}); calibration_type = '{ctype}'"


def _pose(trial: Trial, earlier: set[str]) -> str:
    from .pose.video import check_inputs, list_inputs
    if Path(trial.videos_dir).is_dir():
        inputs = list_inputs(trial.videos_dir)
        check_inputs(inputs)
        return f"{len(inputs)} video(s) in {trial.videos_dir.name}/: {_names(inputs)} (first frames decoded)"
    if Path(trial.pose_dir).is_dir():
        return f"no videos/; the JSON files already in {trial.pose_dir.name}/ would be used"
    raise Mocap3dError(f"{trial.path}: no videos/ and no pose/ folder. Put the videos in videos/")


def _keypoints(trial: Trial, folder: Path, with_calibration: bool) -> str:
    from .keypoints import require_detections
    from .io.openpose import read_openpose_folders
    from .triangulation.inputs import frame_rate, load_rig, load_skeleton, rig_for_pose
    cams = None
    if with_calibration:
        rig, _ = load_rig(trial)
        cams = rig_for_pose(rig, folder).names
    kp = read_openpose_folders(folder, cameras=cams, skeleton=load_skeleton(trial.config),
                               rate=frame_rate(trial.config, trial))
    require_detections(kp, folder)
    return (f"{folder.name}/: {kp.n_cameras} cameras ({', '.join(kp.cameras)}), {kp.n_frames} frames "
            f"{int(kp.frames[0])}-{int(kp.frames[-1])}, up to {kp.n_persons} person(s) per frame")


def _sync(trial: Trial, earlier: set[str]) -> str:
    if "pose" in earlier:
        return f"the JSON that pose writes into {trial.pose_dir.name}/"
    return _keypoints(trial, trial.pose_dir, with_calibration=False)


def _two_d(trial: Trial, earlier: set[str], stage: str) -> str:
    made = [s for s in _MAKES_2D if s in earlier]
    if made:
        return f"the 2D keypoints that {made[-1]} writes in this run, with the calibration"
    folder = trial.pose_sync_dir if stage == "association" and Path(trial.pose_sync_dir).is_dir() else None
    folder = folder or (trial.pose_dir if stage == "association" else trial.latest_pose_dir())
    return _keypoints(trial, folder, with_calibration=True)


def _three_d(trial: Trial, earlier: set[str], stage: str) -> str:
    from .stage_inputs import augmentation_inputs, current_raw_trc, read_markers, select_trc_files
    use_lstm = stage == "kinematics" and bool((trial.config.get("kinematics", {}) or {}).get("use_augmentation", True))
    made = [s for s in _MAKES_3D if s in earlier and (s != "augmentation" or use_lstm)]
    if made:
        return f"the .trc files that {made[-1]} writes in this run"
    folder = Path(trial.pose3d_dir)
    if stage == "filtering":
        files = current_raw_trc(folder) if folder.is_dir() else []
        if not files:
            raise Mocap3dError(f"{folder}: no .trc to filter; run triangulation first")
    elif stage == "augmentation":
        files = augmentation_inputs(folder)
    else:
        files, _ = select_trc_files(folder, use_augmentation=use_lstm)
    frames = []
    for f in files:
        m = read_markers(f)
        frames.append(f"{f.name} ({m.n_frames} frames, {len(m.names)} markers)")
    return "; ".join(frames)


CHECKS: dict[str, Callable[[Trial, set[str]], str]] = {
    "calibration": _calibration,
    "pose": _pose,
    "synchronization": _sync,
    "association": lambda t, e: _two_d(t, e, "association"),
    "triangulation": lambda t, e: _two_d(t, e, "triangulation"),
    "filtering": lambda t, e: _three_d(t, e, "filtering"),
    "augmentation": lambda t, e: _three_d(t, e, "augmentation"),
    "kinematics": lambda t, e: _three_d(t, e, "kinematics"),
    "gait": lambda t, e: _three_d(t, e, "gait"),
}


def check_trial(trial: Trial, stages: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """(stage, ok, what it would read or why it cannot) for each stage of ``trial``, in order."""
    plan = [canonical_stage(s) for s in (stages or trial.config["project"]["stages"])]
    out: list[tuple[str, bool, str]] = []
    earlier: set[str] = set()
    for stage in plan:
        fn = CHECKS.get(stage)
        if fn is None:
            out.append((stage, True, "no input check for this stage"))
            continue
        try:
            out.append((stage, True, fn(trial, earlier)))
        except Mocap3dError as exc:
            out.append((stage, False, " ".join(str(exc).split())))
        earlier.add(stage)
    return out


def run_check(project: str | os.PathLike = ".", config: Any = None, overrides: Any = None,
              verbose: bool = False, quiet: bool = False) -> list[tuple[str, str, bool, str]]:
    """Check every trial of ``project``; print one line per trial and stage; Mocap3dError if any cannot run."""
    from .project import discover
    from .runner import configure_logging
    configure_logging(None, "INFO", verbose, quiet)        # console only: check writes no log file
    trials = discover(project, overrides=overrides, config=config, require_calibration=False)
    rows = []
    for trial in trials:
        for stage, ok, text in check_trial(trial):
            rows.append((trial.id, stage, ok, text))
            print(f"{trial.id}  {stage:<15} {'ok     ' if ok else 'PROBLEM'}  {text}")
    bad = [r for r in rows if not r[2]]
    if bad:
        raise Mocap3dError(f"{len(bad)} stage(s) cannot run as the inputs are; first: {bad[0][0]} {bad[0][1]}: "
                           f"{bad[0][3]}")
    return rows
