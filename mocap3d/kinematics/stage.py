"""Kinematics stage shell: ``pose-3d/*.trc`` -> ``kinematics/`` (scaled .osim, .mot, marker errors).

Input choice per person: ``*_LSTM.trc`` when ``kinematics.use_augmentation``
and such files exist, else the filtered ``*_filt_*.trc``, else the raw
``.trc``. Several persons (files) run in parallel processes.
"""
from __future__ import annotations

import csv
import io
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Mocap3dError
from ..logs import atomic_path, atomic_write, get_logger, write_report
from .ik import IKResult, _ranges

log = get_logger("kinematics")


def select_trc_files(pose3d_dir: Path, use_augmentation: bool = True) -> tuple[list[Path], str]:
    """The .trc file to process for each person of the current run and which kinds were chosen.

    Per person the preference is augmented (when ``use_augmentation``) > filtered
    > raw, each only if made from the current run's files
    (:func:`mocap3d.stage_inputs.select_trc_files`).
    """
    from ..stage_inputs import select_trc_files as current_files
    return current_files(pose3d_dir, use_augmentation)


def write_marker_errors(result: IKResult, path: Path) -> Path:
    """CSV: time, rms_mm, max_mm, then one column per marker (mm; empty when missing)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["time", "rms_mm", "max_mm"] + result.marker_names)
    rms, mx = result.rms_error * 1000, result.max_error * 1000
    for f, t in enumerate(result.times):
        row = [f"{t:.6f}", f"{rms[f]:.4f}", f"{mx[f]:.4f}"]
        row += ["" if not np.isfinite(e) else f"{e * 1000:.4f}" for e in result.marker_errors[f]]
        w.writerow(row)
    with atomic_write(path, newline="") as fh:
        fh.write(buf.getvalue())
    return path


def write_ik_mot(result: IKResult, path: Path) -> Path:
    """The IK coordinates as an OpenSim ``.mot`` (degrees, inDegrees=yes)."""
    from ..io.mot import Table, write_mot
    return write_mot(Table(result.times, result.coordinates, result.degrees(), True, "Coordinates"), path)


def _write_individual_setups(out: Path, stem: str, osim_path: Path, trc: Path, mot: Path,
                             weights: dict[str, float], factors: dict[str, float], mass: float,
                             ik: bool, scale: bool, axes: dict | None = None) -> list[Path]:
    import opensim as osim
    axes = axes or {}
    written = []
    if ik:
        tool = osim.InverseKinematicsTool()
        tool.setName(stem)
        tool.set_model_file(str(osim_path.name))
        tool.set_marker_file(os.path.relpath(trc, out))
        tool.set_output_motion_file(mot.name)
        tool.set_accuracy(1e-6)
        for n, wt in weights.items():
            task = osim.IKMarkerTask()
            task.setName(n)
            task.setApply(wt > 0)
            task.setWeight(wt)
            tool.upd_IKTaskSet().cloneAndAppend(task)
        p = out / f"{stem}_ik_setup.xml"
        with atomic_path(p) as tmp:
            tool.printToXML(str(tmp))
        written.append(p)
    if scale and factors:
        tool = osim.ScaleTool()
        tool.setName(stem)
        tool.setSubjectMass(mass)
        scaler = tool.getModelScaler()
        order = osim.ArrayStr()
        order.append("manualScale")
        scaler.setScalingOrder(order)
        for b, f in factors.items():
            sc = osim.Scale()
            sc.setSegmentName(b)
            sc.setScaleFactors(osim.Vec3(*map(float, axes.get(b, (f, f, f)))))
            sc.setApply(True)
            scaler.getScaleSet().cloneAndAppend(sc)
        tool.getMarkerPlacer().setApply(False)
        p = out / f"{stem}_scaling_setup.xml"
        with atomic_path(p) as tmp:
            tool.printToXML(str(tmp))
        written.append(p)
    return written


def process_trc(trc: str | Path, out_dir: str | Path, config: dict[str, Any], person: int = 0,
                base_dir: str | Path | None = None) -> dict[str, Any]:
    """Scale, IK and write the outputs of one person's ``.trc``; returns its report entry."""
    from ..stage_inputs import read_markers
    from .model_builder import write_model
    from .pipeline import kinematics_from_markers, options_from_config
    from .scaling import pelvis_axes
    t0 = time.perf_counter()
    trc, out = Path(trc), Path(out_dir)
    kin = config.get("kinematics", {}) or {}
    opts = options_from_config(config, person, Path(base_dir) if base_dir else trc.parent.parent)
    static = kin.get("static_trial", "") or ""
    if static:
        sp = Path(static) if Path(static).is_absolute() else Path(base_dir or trc.parent.parent) / static
        opts.static_markers = read_markers(sp)
    markers = read_markers(trc)
    stem = trc.stem
    scaled, result = kinematics_from_markers(markers, opts, show_progress=True)
    osim_path = write_model(scaled.model, out / f"{stem}_scaled.osim")
    mot = write_ik_mot(result, out / f"{stem}.mot")
    errors_csv = write_marker_errors(result, out / f"{stem}_marker_errors.csv")
    from .body_transforms import write_body_transforms
    bodies = write_body_transforms(scaled.model, result.times, result.values, result.coordinates,
                                   out / f"{stem}_bodies.npz", mot.name)
    written = [osim_path, mot, errors_csv, bodies]
    if kin.get("filter_ik", False):
        from ..filtering import filter_mot_file
        written.append(filter_mot_file(mot, config, filter_type=kin.get("ik_filter_type", "butterworth")))
    weights = result.weights
    written += _write_individual_setups(out, stem, osim_path, trc, mot, weights, scaled.factors, opts.mass,
                                        not kin.get("remove_individual_ik_setup", True),
                                        not kin.get("remove_individual_scaling_setup", True),
                                        pelvis_axes(scaled.factors, scaled.how))
    per_marker = np.nanmean(result.marker_errors, axis=0) * 1000 if result.marker_errors.size else []
    report = {
        "trc": str(trc), "person": person, "model": opts.osim_model or f"mocap3d_{opts.variant}",
        "marker_set": scaled.markerset, "frames": int(len(result.times)),
        "frames_not_solved": _ranges(np.flatnonzero(~result.solved)),
        "markers_used": result.marker_names, "markers_ignored": result.ignored_markers,
        "markers_missing_frames": result.missing,
        "marker_weights": result.weights, "measured_weights": result.weighting,
        "scale_factors": {k: round(v, 5) for k, v in scaled.factors.items()},
        "scaling_groups": scaled.how, "scaling_frames_used": scaled.frames_used,
        "markers_placed_mm": {k: round(v * 1000, 2) for k, v in scaled.moved_markers.items()},
        "height_m": {"given": opts.height, "estimated": round(scaled.estimated_height, 4)},
        "mass_kg": opts.mass,
        "marker_error_mm": {"rms_mean": float(np.nanmean(result.rms_error) * 1000),
                            "rms_max": float(np.nanmax(result.rms_error) * 1000),
                            "max": float(np.nanmax(result.max_error) * 1000),
                            "per_marker_mean": dict(zip(result.marker_names, np.round(per_marker, 3)))},
        "outputs": [str(p) for p in written], "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("%s: %d frames, marker RMS %.1f mm (max %.1f mm), %s", trc.name, len(result.times),
             report["marker_error_mm"]["rms_mean"], report["marker_error_mm"]["max"], osim_path.name)
    return report


def _workers(setting: Any, n_jobs: int) -> int:
    if setting in (False, None, 0, 1) or n_jobs < 2:
        return 1
    if setting == "auto" or setting is True:
        return max(1, min(n_jobs, os.cpu_count() or 1))
    return max(1, min(int(setting), n_jobs))


def kinematics_inputs(trial) -> tuple[list[Path], str]:
    """The persons' ``.trc`` files of the trial (one per person) and their kinds; creates ``kinematics/``."""
    kin = trial.config.get("kinematics", {}) or {}
    files, kind = select_trc_files(trial.pose3d_dir, bool(kin.get("use_augmentation", True)))
    trial.kinematics_dir.mkdir(parents=True, exist_ok=True)
    return files, kind


def _outcome(trc: Path, run: Any) -> tuple[dict[str, Any] | None, str]:
    """``(report entry, '')`` from ``run()``, or ``(None, one-line error)`` on a Mocap3dError (logged)."""
    try:
        return run(), ""
    except Mocap3dError as exc:
        log.error("%s: %s", trc.name, exc)
        return None, str(exc)


def kinematics_person(trial, trc: str | Path, person: int) -> tuple[dict[str, Any] | None, str]:
    """Scale and IK one person's ``.trc`` of the trial: ``(report entry, '')`` or ``(None, error)``.

    Other exceptions propagate (they fail the stage, as in :func:`run_kinematics`).
    """
    import opensim as osim
    osim.Logger.setLevelString("warn")
    trc = Path(trc)
    return _outcome(trc, lambda: process_trc(trc, trial.kinematics_dir, trial.config, person, trial.path))


def write_kinematics_report(trial, files: list[Path], kind: str, workers: int,
                            outcomes: list[tuple[dict[str, Any] | None, str]], seconds: float) -> dict[str, Any]:
    """Write ``kinematics_report.json`` from the persons' outcomes (in ``files`` order); Mocap3dError if all failed."""
    persons = [r for r, _ in outcomes if r is not None]
    errors = {Path(f).name: e for f, (r, e) in zip(files, outcomes) if r is None}
    report = {"stage": "kinematics", "input_kind": kind, "inputs": [str(f) for f in files],
              "workers": workers, "persons": persons, "errors": errors, "seconds": round(seconds, 3)}
    write_report(trial.kinematics_dir, "kinematics", report)
    if not persons:
        raise Mocap3dError(f"kinematics failed for every .trc of {trial.pose3d_dir}: "
                           + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return report


def run_kinematics(trial) -> dict[str, Any]:
    """Stage shell: scale and IK every person's ``.trc`` of ``trial.pose3d_dir`` into ``trial.kinematics_dir``.

    Writes per person ``<trc stem>_scaled.osim``, ``<stem>.mot`` (degrees),
    ``<stem>_marker_errors.csv`` (mm), ``<stem>_bodies.npz`` (body transforms per
    frame, see :mod:`.body_transforms`), and ``kinematics_report.json``.
    The three steps (:func:`kinematics_inputs`, :func:`kinematics_person`,
    :func:`write_kinematics_report`) are public so that a Dask batch runs the persons as tasks.
    """
    t0 = time.perf_counter()
    files, kind = kinematics_inputs(trial)
    kin = trial.config.get("kinematics", {}) or {}
    n_workers = _workers(kin.get("parallel_workers_kinematics", "auto"), len(files))
    log.info("kinematics of %d person(s) from %s .trc files, %d worker(s)", len(files), kind, n_workers)
    if n_workers == 1:
        outcomes = [kinematics_person(trial, f, i) for i, f in enumerate(files)]
    else:
        import opensim as osim
        osim.Logger.setLevelString("warn")
        out, config = trial.kinematics_dir, trial.config
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futures = {f: pool.submit(process_trc, f, out, config, i, trial.path) for i, f in enumerate(files)}
            outcomes = [_outcome(f, fut.result) for f, fut in futures.items()]
    return write_kinematics_report(trial, files, kind, n_workers, outcomes, time.perf_counter() - t0)
