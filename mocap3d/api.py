"""Python API: the same verbs as the ``mocap3d`` command line.

Quick start::

    import mocap3d

    mocap3d.run("path/to/session")                      # every enabled stage, every trial
    mocap3d.triangulation("path/to/trial", frame_range=[10, 300])
    mocap3d.filtering("Session", filtering={"type": "kalman"})
    mocap3d.run(config_dict)                            # a Pose2Sim-style config dict
    mocap3d.demo("demo_run")                            # copy the Demo capture and run it
    mocap3d.evaluate("demo_run", "demo_run/ground_truth")
    mocap3d.convert("walk.c3d", "walk.trc")

Every stage verb takes ``project`` (a session or trial folder, default the
current directory, or a config dict whose ``[project] project_dir`` names the
folder), ``config`` (an extra dict or Config.toml applied over the folder's
Config.toml files) and keyword overrides: a section name with a dict
(``triangulation={...}``), a key that is unique among the defaults
(``frame_range=[0, 90]``) or a dotted path (``**{"filtering.butterworth.order": 2}``).
The layers apply as defaults < session < participant < trial < config < overrides.
Each verb returns one :class:`~mocap3d.runner.StageResult` per trial and stage
(``.status``, ``.seconds``, ``.report``: the stage's report dict) and raises
:class:`~mocap3d.errors.Mocap3dError` with a one-line message on bad input.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import Mocap3dError
from .runner import StageResult, call_tool, execute

Project = str | os.PathLike | Mapping[str, Any]
ConfigArg = Mapping[str, Any] | str | os.PathLike | None


def run(project: Project = ".", config: ConfigArg = None, stages: Sequence[str] | None = None,
        verbose: bool = False, quiet: bool = False, *, workers: int | None = None, scheduler: str | None = None,
        client: Any = None, retries: int | None = None, force: bool = False, **overrides: Any) -> list[StageResult]:
    """Run the enabled stages (``[project] stages``, or ``stages``) in order on every trial.

    Batches (README "Batches and clusters"): ``workers`` local Dask worker
    processes, or ``scheduler`` (address of a running Dask scheduler; default
    ``$MOCAP3D_SCHEDULER`` or ``[batch] scheduler``), or ``client`` (a connected
    ``distributed.Client``) run the trials in parallel; ``retries`` resubmits a
    trial whose worker was lost; trials whose outputs are up to date are skipped
    unless ``force``. Without any of these the trials run one after another here.
    """
    batch = {"workers": workers, "scheduler": scheduler, "client": client, "retries": retries, "force": force,
             "verbose": verbose}
    return execute(project, list(stages) if stages else None, config, overrides, verbose, quiet, batch=batch)


def _stage(name: str, project: Project, config: ConfigArg, verbose: bool, quiet: bool,
           overrides: dict[str, Any]) -> list[StageResult]:
    return execute(project, [name], config, overrides, verbose, quiet)


def calibration(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
                **overrides: Any) -> list[StageResult]:
    """Calibrate the cameras (or convert a calibration) into ``calibration/Calib*.toml``."""
    return _stage("calibration", project, config, verbose, quiet, overrides)


def pose(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
         **overrides: Any) -> list[StageResult]:
    """2D pose estimation of ``videos/`` into ``pose/<cam>_json/``."""
    return _stage("pose", project, config, verbose, quiet, overrides)


def synchronization(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
                    **overrides: Any) -> list[StageResult]:
    """Per-camera time offsets from keypoint motion, into ``pose-sync/``."""
    return _stage("synchronization", project, config, verbose, quiet, overrides)


def association(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
                **overrides: Any) -> list[StageResult]:
    """Person association across cameras (and over time), into ``pose-associated/``."""
    return _stage("association", project, config, verbose, quiet, overrides)


def triangulation(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
                  **overrides: Any) -> list[StageResult]:
    """Robust triangulation of the 2D keypoints into ``pose-3d/*.trc`` (+ .c3d)."""
    return _stage("triangulation", project, config, verbose, quiet, overrides)


def monocular(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
              **overrides: Any) -> list[StageResult]:
    """One camera's 2D keypoints to metric world 3D (lifter + model fit) into ``pose-3d/*.trc`` (+ .c3d)."""
    return _stage("monocular", project, config, verbose, quiet, overrides)


def filtering(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
              **overrides: Any) -> list[StageResult]:
    """Filter the 3D keypoints into ``pose-3d/*_filt_*.trc``."""
    return _stage("filtering", project, config, verbose, quiet, overrides)


def augmentation(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
                 **overrides: Any) -> list[StageResult]:
    """LSTM marker augmentation into ``pose-3d/*_LSTM.trc``."""
    return _stage("augmentation", project, config, verbose, quiet, overrides)


def kinematics(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
               **overrides: Any) -> list[StageResult]:
    """OpenSim scaling and inverse kinematics into ``kinematics/*.osim`` and ``*.mot``."""
    return _stage("kinematics", project, config, verbose, quiet, overrides)


def gait(project: Project = ".", config: ConfigArg = None, verbose: bool = False, quiet: bool = False,
         **overrides: Any) -> list[StageResult]:
    """Gait events, cadence, step and stride lengths, speed and support times into ``gait/``."""
    return _stage("gait", project, config, verbose, quiet, overrides)


# The command-line verbs as aliases.
sync = synchronization
associate = association
triangulate = triangulation
augment = augmentation
filter = filtering  # noqa: A001 - mirrors `mocap3d filter`; not exported by `from mocap3d import *`


def demo(directory: str | os.PathLike | None = None, regenerate: bool = False, **kwargs: Any) -> Any:
    """Copy the bundled Demo capture into ``directory`` (a temporary folder by default) and run it.

    Dispatches to ``mocap3d.synthetic.run_demo``; extra keywords go to it.
    """
    return call_tool("mocap3d.synthetic", "run_demo", "demo", directory, regenerate=regenerate, **kwargs)


def evaluate(result_dir: str | os.PathLike, truth_dir: str | os.PathLike | None = None) -> Any:
    """Compare a processed capture with its ground truth (default ``<result_dir>/ground_truth``)."""
    result = Path(result_dir)
    truth = Path(truth_dir) if truth_dir is not None else result / "ground_truth"
    if not result.is_dir():
        raise Mocap3dError(f"result folder not found: {result}")
    if not truth.is_dir():
        how = "" if truth_dir is not None else "; give it with --truth TRUTH_DIR (truth_dir=...)"
        raise Mocap3dError(f"ground-truth folder not found: {truth}{how}")
    return call_tool("mocap3d.evaluation", "run_evaluation", "evaluate", result, truth)


def convert(input_path: str | os.PathLike, output_path: str | os.PathLike, from_format: str | None = None,
            to_format: str | None = None) -> Path:
    """Convert a file (``.c3d`` <-> ``.trc``, calibrations, AlphaPose/DLC/MMPose -> OpenPose JSON...)."""
    from .conversions import convert as _convert
    return _convert(input_path, output_path, from_format, to_format)


def blender(project: Project = ".", out_dir: str | os.PathLike | None = None, camera: str | None = None,
            percent: int = 25, movie: bool = True, formats: Sequence[str] = ("glb",)) -> list[dict[str, Any]]:
    """Each trial's ``blender/<trial>.blend``, animated model (glTF) and preview render, headless.

    ``camera``: capture camera of the preview (default the first, ``"free"`` for a free camera);
    ``percent``: render size in percent of that camera's image. See :mod:`mocap3d.blender_scene`.
    """
    from .blender_scene import export_trial
    from .project import find_trial_dirs
    if isinstance(project, Mapping):
        raise Mocap3dError("blender takes a trial or session folder, not a config dict")
    _, trials, _ = find_trial_dirs(project)
    if out_dir is not None and len(trials) > 1:
        raise Mocap3dError(f"{project} holds {len(trials)} trials; --out works for one trial only")
    return [export_trial(t, out_dir, camera, percent, movie, tuple(formats)) for t in trials]


VERBS = ("run", "calibration", "pose", "synchronization", "association", "triangulation", "monocular", "filtering",
         "augmentation", "kinematics", "gait", "sync", "associate", "triangulate", "augment", "filter",
         "demo", "evaluate", "convert", "blender")
