"""Trial and session folders (the layout of DESIGN.md): discovery and frame ranges.

Layouts understood by :func:`discover`:

- a session: ``session/Config.toml``, ``session/calibration/`` and trial folders,
  each with its own ``Config.toml`` (or a ``videos/`` or ``pose/`` folder), directly
  in the session or nested under participant folders (any folder between the
  session and a trial; its ``Config.toml``, if any, applies to its trials);
- a single trial: a folder with ``calibration/`` and ``videos/`` or ``pose/`` (a
  Pose2Sim project folder with ``Config.toml``, ``calibration/`` and ``pose/``).

A trial folder given directly inside a session inherits the Config.toml of its
participant and session folders and uses the session's calibration.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .config import CONFIG_NAME, Overrides, build_config, config_chain, warn_unknown
from .errors import ConfigError, Mocap3dError
from .logs import get_logger

# Video files a trial's videos/ folder may hold (every stage that looks for videos uses this).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")

log = get_logger("project")

# Folders that belong to a trial (or hold truth the pipeline never reads) and are never searched for trials.
STAGE_FOLDERS = frozenset({"calibration", "videos", "pose", "pose-sync", "pose-associated", "pose-3d",
                           "kinematics", "gait", "logs", "ground_truth", "__pycache__"})
TRIAL_MARKERS = ("videos", "pose")   # a folder holding one of these is a trial
MAX_DEPTH = 6


@dataclass
class Trial:
    """One trial folder and its merged configuration.

    Attributes:
        path: the trial folder (holds videos/, pose/, pose-3d/, ...).
        session: the session folder (equal to ``path`` for a single trial).
        config: merged configuration (defaults < session < participant < trial
            < overrides), a nested dict keyed like Pose2Sim's Config.toml.
        config_files: the Config.toml files merged, outermost first.
    """

    path: Path
    session: Path
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    config_files: list[Path] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str:
        """Path relative to the session with '/' separators ('P01/T02'); the name for a single trial."""
        if self.path == self.session:
            return self.path.name
        try:
            return self.path.relative_to(self.session).as_posix()
        except ValueError:
            return self.path.name

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def calibration_dir(self) -> Path:
        """``calibration/`` of the trial if present, else of the nearest participant folder, else of the session."""
        for folder in self._folders_up():
            if (folder / "calibration").is_dir():
                return folder / "calibration"
        return self.session / "calibration"

    def _folders_up(self) -> list[Path]:
        """The trial folder, then each parent up to and including the session."""
        out = [self.path]
        try:
            rel = self.path.relative_to(self.session)
        except ValueError:
            return out + [self.session]
        parents = [self.session.joinpath(*rel.parts[:i]) for i in range(len(rel.parts) - 1, -1, -1)]
        return out + [p for p in parents if p != self.path]

    @property
    def frame_range(self) -> Any:
        """``[project] frame_range`` of this trial ('all', 'auto' or [start, end])."""
        return self.config.get("project", {}).get("frame_range", "all")

    @property
    def log_file(self) -> Path | None:
        """The session log file from ``[logging] log_file`` (None when disabled)."""
        name = self.config.get("logging", {}).get("log_file", "logs.txt")
        if not name:
            return None
        p = Path(name).expanduser()
        return p if p.is_absolute() else self.session / p

    @property
    def videos_dir(self) -> Path:
        return self.path / "videos"

    @property
    def pose_dir(self) -> Path:
        return self.path / "pose"

    @property
    def pose_sync_dir(self) -> Path:
        return self.path / "pose-sync"

    @property
    def pose_associated_dir(self) -> Path:
        return self.path / "pose-associated"

    @property
    def pose3d_dir(self) -> Path:
        return self.path / "pose-3d"

    @property
    def kinematics_dir(self) -> Path:
        return self.path / "kinematics"

    def latest_pose_dir(self) -> Path:
        """The most processed 2D folder: pose-associated/, else pose-sync/, else pose/."""
        for d in (self.pose_associated_dir, self.pose_sync_dir, self.pose_dir):
            if d.is_dir() and any(d.iterdir()):
                return d
        return self.pose_dir


# --------------------------------------------------------------------------- discovery
def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.as_posix())]


def _is_trial_like(folder: Path) -> bool:
    return (folder / CONFIG_NAME).is_file() or any((folder / m).is_dir() for m in TRIAL_MARKERS)


def _candidate_dirs(root: Path) -> list[Path]:
    """Sub-folders of ``root`` (not root) with a Config.toml or a videos/ or pose/ folder."""
    found = []
    base_depth = len(root.parts)
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in STAGE_FOLDERS
                             and not d.endswith("_json") and len(here.parts) - base_depth < MAX_DEPTH)
        if here != root and _is_trial_like(here):
            found.append(here)
    return found


def _leaves(candidates: list[Path]) -> list[Path]:
    """Candidates that contain no other candidate (trials, not participants)."""
    cset = set(candidates)
    parents = {p for c in candidates for p in c.parents if p in cset}
    return sorted((c for c in candidates if c not in parents), key=_natural_key)


def session_root(folder: Path) -> Path:
    """The outermost folder of the contiguous chain of Config.toml above ``folder`` (itself if none)."""
    chain = config_chain(folder)
    return chain[0].parent if chain else folder


def _resolve_folder(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise Mocap3dError(f"project folder not found: {p}. Give the path of a session or trial folder")
    p = p.resolve()
    if p.is_file():
        if p.name.lower().endswith(".toml"):
            return p.parent
        raise Mocap3dError(f"{p} is a file; give the session or trial folder (the one with Config.toml)")
    return p


def find_trial_dirs(path: str | os.PathLike) -> tuple[Path, list[Path], bool]:
    """(session folder, trial folders, whether ``path`` itself is the single trial)."""
    root = _resolve_folder(path)
    session = session_root(root)
    trials = _leaves(_candidate_dirs(root))
    if trials:
        return session, trials, False
    if _is_trial_like(root) or (root / "calibration").is_dir():
        return session, [root], True
    raise Mocap3dError(
        f"no trial found in {root}: looked for sub-folders with a {CONFIG_NAME} or a videos/ or pose/ folder "
        f"(session layout) and for videos/ or pose/ in the folder itself (single trial)")


def _matches(trial_id: str, entry: str) -> bool:
    entry = entry.replace("\\", "/").strip().strip("/")
    if not entry:
        return False
    if trial_id == entry or trial_id.startswith(entry + "/"):
        return True
    return "/" not in entry and trial_id.rsplit("/", 1)[-1] == entry


def apply_exclusions(trials: list[Trial], exclude: list[str]) -> list[Trial]:
    """Drop trials named in ``exclude_from_batch`` ('participant/trial', 'trial' or 'participant')."""
    if not exclude:
        return trials
    for entry in exclude:
        if not any(_matches(t.id, entry) for t in trials):
            log.warning("exclude_from_batch entry %r matches no trial (trials: %s)", entry,
                        ", ".join(t.id for t in trials))
    kept = [t for t in trials if not any(_matches(t.id, e) for e in exclude)]
    dropped = [t.id for t in trials if t not in kept]
    if dropped:
        log.info("excluded by exclude_from_batch: %s", ", ".join(dropped))
    if not kept:
        raise Mocap3dError(f"all {len(trials)} trial(s) are excluded by [project] exclude_from_batch = {exclude}; "
                           "remove entries from that list")
    return kept


def discover(path: str | os.PathLike = ".", overrides: Overrides = None,
             config: Mapping[str, Any] | str | os.PathLike | None = None,
             require_calibration: bool = True) -> list[Trial]:
    """Every trial of a session folder (or the single trial a folder is), with its merged config.

    Each trial's config is: defaults < session < participant(s) < trial
    Config.toml < ``config`` (dict or TOML file) < ``overrides``. Trials listed in
    the session's ``[project] exclude_from_batch`` are dropped (not when ``path``
    is itself the trial). Unknown config keys are listed in one warning.
    Raises Mocap3dError for a missing folder, no trial, or no calibration/
    folder (when ``require_calibration``).
    """
    session, dirs, single = find_trial_dirs(path)
    trials: list[Trial] = []
    unknown: set[str] = set()
    for d in dirs:
        files = config_chain(d, top=session)
        cfg, unk = build_config(files, config, overrides)
        unknown.update(unk)
        trials.append(Trial(path=d, session=session, config=cfg, config_files=files))
    if not single:
        root = _resolve_folder(path)
        batch_cfg, _ = build_config(config_chain(root, top=session), config, overrides)
        trials = apply_exclusions(trials, batch_cfg["project"].get("exclude_from_batch", []))
    warn_unknown(unknown)
    if require_calibration:
        for t in trials:
            if not t.calibration_dir.is_dir() and camera_count(t) != 1:   # one phone: default intrinsics
                looked = ", ".join(str(f / "calibration") for f in t._folders_up())
                raise Mocap3dError(f"no calibration folder for trial {t.id}: looked for {looked}. "
                                   "Create calibration/ with a calibration file or calibration inputs")
    log.debug("discovered %d trial(s) in %s: %s", len(trials), session, ", ".join(t.id for t in trials))
    return trials


# --------------------------------------------------------------------------- one camera
_MULTI_CAMERA_STAGES = ("synchronization", "association")


def camera_count(trial: Trial) -> int:
    """Cameras of a trial: JSON folders of its most processed 2D folder, else its videos (0 when neither)."""
    pose = trial.latest_pose_dir()
    if pose.is_dir():
        n = sum(1 for d in pose.iterdir() if d.is_dir() and any(p.suffix == ".json" for p in d.iterdir()))
        if n:
            return n
    vids = trial.videos_dir
    return sum(1 for p in vids.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS) if vids.is_dir() else 0


def stage_plan(trial: Trial, plan: list[str]) -> list[str]:
    """The stages to run on ``trial``: ``plan`` as is, except for a one-camera trial.

    With one camera, 'triangulation' becomes 'monocular', synchronization and
    association are left out (no other camera to synchronize or match), and so
    is calibration when the trial has no calibration/ folder (the monocular
    stage then uses a default field of view).
    """
    if "triangulation" not in plan or camera_count(trial) != 1:
        return plan
    drop = set(_MULTI_CAMERA_STAGES) | ({"calibration"} if not trial.calibration_dir.is_dir() else set())
    out = [("monocular" if s == "triangulation" else s) for s in plan if s not in drop]
    out = [s for i, s in enumerate(out) if s not in out[:i]]
    log.info("[%s] one camera: running %s (instead of %s)", trial.id, ", ".join(out), ", ".join(plan))
    return out


# --------------------------------------------------------------------------- frame ranges
def frame_bounds(frame_range: Any, n_frames: int, first_frame: int = 0) -> tuple[int, int]:
    """Positions ``(start, stop)`` into an array of ``n_frames`` frames numbered from ``first_frame``.

    ``frame_range`` is 'all', 'auto' (all frames here: trimming by reprojection
    error is the triangulation's job), [] or [start, end] in frame numbers, end
    excluded (Pose2Sim's convention). A range reaching past the data is clipped;
    one that selects no frame raises Mocap3dError.
    """
    if isinstance(frame_range, str) or frame_range is None or len(frame_range) == 0:
        if frame_range not in (None, "all", "auto") and not isinstance(frame_range, (list, tuple)):
            raise ConfigError(f"project.frame_range = {frame_range!r} is not allowed; expected 'all', 'auto' "
                              "or [start, end]")
        return 0, n_frames
    if len(frame_range) != 2:
        raise ConfigError(f"project.frame_range = {list(frame_range)} is not allowed; expected [start, end]")
    start, end = (int(v) for v in frame_range)
    lo, hi = max(start - first_frame, 0), min(end - first_frame, n_frames)
    if lo >= hi:
        last = first_frame + n_frames - 1
        raise Mocap3dError(f"project.frame_range = [{start}, {end}] selects no frame: the data holds frames "
                           f"{first_frame} to {last}. Change frame_range or use 'all'")
    if (start - first_frame) < 0 or (end - first_frame) > n_frames:
        log.info("frame_range [%d, %d] clipped to the available frames [%d, %d]", start, end,
                 first_frame + lo, first_frame + hi)
    return lo, hi


def apply_frame_range(data: np.ndarray, frame_range: Any, axis: int = 0, first_frame: int = 0) -> np.ndarray:
    """The frames of ``data`` (frames along ``axis``) that ``frame_range`` selects (a view)."""
    data = np.asarray(data)
    lo, hi = frame_bounds(frame_range, data.shape[axis], first_frame)
    index: list[Any] = [slice(None)] * data.ndim
    index[axis] = slice(lo, hi)
    return data[tuple(index)]


def frame_mask(frames: np.ndarray, frame_range: Any) -> np.ndarray:
    """Boolean mask (F,) of the frame numbers ``frames`` inside ``frame_range`` (end excluded)."""
    frames = np.asarray(frames)
    if isinstance(frame_range, str) or frame_range is None or len(frame_range) == 0:
        return np.ones(frames.shape, dtype=bool)
    start, end = (int(v) for v in frame_range)
    mask = (frames >= start) & (frames < end)
    if not mask.any():
        lo, hi = (int(frames.min()), int(frames.max())) if frames.size else (0, -1)
        raise Mocap3dError(f"project.frame_range = [{start}, {end}] selects no frame: the data holds frames "
                           f"{lo} to {hi}. Change frame_range or use 'all'")
    return mask
