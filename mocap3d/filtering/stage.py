"""The filtering stage: config -> filter, ``.trc``/``.mot`` files in and out, plots, report.

Config keys are Pose2Sim's ``[filtering]`` keys (``type``, ``reject_outliers``,
``filter``, ``make_c3d``, ``save_filt_plots``, one sub-table per filter type)
plus ours: ``outlier_window``, ``outlier_n_sigma``,
``interp_if_gap_smaller_than``, ``interpolation``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, Mocap3dError
from ..logs import get_logger, write_report
from ..markers import Markers3D
from . import filters, smoothers
from .plots import save_filter_plots
from .runs import fill_gaps, hampel, short_run_samples

log = get_logger("filtering")

#: filter type -> (function, default parameters). Defaults equal mocap3d/Config.toml's.
FILTERS: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any]]] = {
    "butterworth": (filters.butterworth, {"cut_off_frequency": 6.0, "order": 4}),
    "butterworth_on_speed": (filters.butterworth_on_speed, {"cut_off_frequency": 10.0, "order": 4}),
    "kalman": (smoothers.kalman, {"trust_ratio": 500.0, "smooth": True}),
    "one_euro": (filters.one_euro, {"cut_off_frequency": 4.0, "beta": 1.5, "d_cut_off_frequency": 1.0}),
    "gcv_spline": (smoothers.gcv_spline, {"cut_off_frequency": "auto", "smoothing_factor": 1.0}),
    "acc_minimizing": (smoothers.acc_minimizing, {"cut_off_frequency": 6.0}),
    "loess": (filters.loess, {"nb_values_used": 5}),
    "gaussian": (filters.gaussian, {"sigma_kernel": 1.0}),
    "median": (filters.median, {"kernel_size": 3}),
}

_INT_PARAMS = {"order", "nb_values_used", "kernel_size"}


@dataclass
class FilterSettings:
    """What to do to a time series, parsed from a ``[filtering]`` config section."""

    filter_type: str = "butterworth"
    params: dict[str, Any] = field(default_factory=dict)
    do_filter: bool = True
    reject_outliers: bool = True
    outlier_window: int = 7
    outlier_n_sigma: float = 2.0
    max_gap: int = 0
    interpolation: str = "linear"

    def describe(self) -> str:
        steps = []
        if self.reject_outliers:
            steps.append(f"Hampel outlier rejection (window {self.outlier_window}, {self.outlier_n_sigma} sigma)")
        if self.max_gap > 0:
            steps.append(f"{self.interpolation} interpolation of gaps <= {self.max_gap} frames")
        if self.do_filter:
            steps.append(f"{self.filter_type} {self.params}")
        return ", then ".join(steps) or "nothing"


def settings_from_config(section: dict[str, Any] | None, filter_type: str | None = None) -> FilterSettings:
    """Parse a ``[filtering]`` section (Pose2Sim keys); ``filter_type`` overrides ``type``.

    Raises :class:`ConfigError` naming the key for unknown types and bad values.
    """
    section = dict(section or {})
    ftype = str(filter_type or section.get("type", "butterworth")).strip().lower()
    if ftype not in FILTERS:
        raise ConfigError(f"filtering.type = {ftype!r} is not a filter; use one of {', '.join(FILTERS)}")
    sub = section.get(ftype, section.get(ftype.upper(), {})) or {}
    if not isinstance(sub, dict):
        raise ConfigError(f"[filtering.{ftype}] must be a table of parameters, got {sub!r}")
    params = dict(FILTERS[ftype][1])
    for key, value in sub.items():
        if key not in params:
            log.warning("filtering.%s.%s is not a parameter of %s; ignored", ftype, key, ftype)
            continue
        default = params[key]
        try:
            if isinstance(default, bool):
                params[key] = bool(value)
            elif key in _INT_PARAMS:
                params[key] = int(value)
            elif isinstance(value, str) and isinstance(default, str):
                params[key] = value
            else:
                params[key] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"filtering.{ftype}.{key} = {value!r} is not valid; default is {default!r}") from None
    try:
        return FilterSettings(
            filter_type=ftype, params=params,
            do_filter=bool(section.get("filter", True)),
            reject_outliers=bool(section.get("reject_outliers", True)),
            outlier_window=int(section.get("outlier_window", 7)),
            outlier_n_sigma=float(section.get("outlier_n_sigma", 2.0)),
            max_gap=int(section.get("interp_if_gap_smaller_than", 0)),
            interpolation=str(section.get("interpolation", "linear")).lower(),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[filtering]: {exc}; see the defaults in mocap3d/Config.toml") from None


def filter_array(x: np.ndarray, rate: float, settings: FilterSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """Outlier rejection, optional gap filling, then the filter, on (F, ...) at ``rate`` Hz.

    Returns the result (same shape, NaN where gaps remain) and a dict of counts:
    ``outliers_replaced``, ``gap_samples_filled``, ``unfiltered_samples``
    (valid samples in runs too short for the filter) and, for gcv_spline,
    ``gcv_cutoffs_hz`` (min, median, max equivalent cut-off).
    """
    info: dict[str, Any] = {}
    y = np.asarray(x, dtype=float)
    if settings.reject_outliers:
        y, info["outliers_replaced"] = hampel(y, settings.outlier_window, settings.outlier_n_sigma)
    if settings.max_gap > 0:
        before = int(np.isnan(y).sum())
        try:
            y = fill_gaps(y, settings.max_gap, settings.interpolation)
        except ValueError as exc:
            raise ConfigError(f"filtering.interpolation: {exc}") from None
        info["gap_samples_filled"] = before - int(np.isnan(y).sum())
    if settings.do_filter:
        func, _ = FILTERS[settings.filter_type]
        params = dict(settings.params)
        cutoffs: list[float] = []
        if settings.filter_type == "gcv_spline":
            params["cutoffs_out"] = cutoffs
        try:
            y = func(y, rate, **params)
            min_len = filters.min_samples(settings.filter_type, rate, settings.params)
        except ValueError as exc:
            raise ConfigError(f"[filtering.{settings.filter_type}]: {exc}") from None
        info["unfiltered_samples"] = int(short_run_samples(y, min_len).sum())
        if cutoffs:
            info["gcv_cutoffs_hz"] = [float(np.min(cutoffs)), float(np.median(cutoffs)), float(np.max(cutoffs))]
    return y, info


def filter_markers(markers: Markers3D, settings: FilterSettings) -> tuple[Markers3D, dict[str, Any]]:
    """Filter every marker trajectory; names, rate and times are kept."""
    data, info = filter_array(markers.data, markers.rate, settings)
    return Markers3D(data, markers.names, markers.rate, markers.start_time, markers.first_frame), info


def table_rate(times: np.ndarray) -> float:
    """Sampling rate (Hz) of a table from its time column (F,)."""
    dt = np.diff(np.asarray(times, dtype=float))
    if len(dt) == 0 or not np.all(dt > 0):
        raise Mocap3dError("time column must have >= 2 strictly increasing values to know the sampling rate")
    return float(1.0 / np.median(dt))


def filter_table(times: np.ndarray, data: np.ndarray, settings: FilterSettings) -> tuple[np.ndarray, dict]:
    """Filter the columns of a (F, N) table (e.g. IK joint angles) sampled at ``times`` (F,) s."""
    return filter_array(data, table_rate(times), settings)


def filter_mot_file(path_in: str | Path, config: dict[str, Any], path_out: str | Path | None = None,
                    filter_type: str | None = None, plots_dir: str | Path | None = None) -> Path:
    """Filter a ``.mot``/``.sto`` file with ``config['filtering']``; write ``<stem>_filt_<type>.mot``.

    ``filter_type`` overrides ``filtering.type`` (e.g. kinematics' ``ik_filter_type``).
    With ``plots_dir``, one before/after PNG (a panel per column) is saved there.
    """
    from ..io.mot import Table, read_mot, write_mot

    settings = settings_from_config(config.get("filtering", {}), filter_type)
    path_in = Path(path_in)
    table = read_mot(path_in)
    data, info = filter_table(table.times, table.data, settings)
    out = Path(path_out) if path_out else path_in.with_name(f"{path_in.stem}_filt_{settings.filter_type}{path_in.suffix}")
    write_mot(Table(table.times, table.columns, data, table.in_degrees, table.name, dict(table.metadata)), out)
    if plots_dir is not None:
        save_filter_plots(table.times, table.data[:, :, None], data[:, :, None], table.columns,
                          Path(plots_dir), out.stem, axes=("",), unit="deg (m for translations)" if table.in_degrees else "rad (m for translations)",
                          title=f"{out.name}: raw (thin) and {settings.describe()} (thick)")
    log.info("filtered %s -> %s (%s) %s", path_in.name, out.name, settings.describe(), info)
    return out


def _check_frame_range(markers: Markers3D, frame_range: Any, name: str) -> None:
    """Warn when ``name`` holds frames outside ``frame_range``: triangulation applies the range, not filtering."""
    if not isinstance(frame_range, (list, tuple)) or len(frame_range) != 2 or not markers.n_frames:
        return
    first, last = int(markers.frame_numbers[0]), int(markers.frame_numbers[-1])
    if first < frame_range[0] or last >= frame_range[1]:
        log.warning("%s holds frames %d-%d, outside project.frame_range = %s: filtered as it is (the file name "
                    "says its frames). Rerun triangulation to change the frames", name, first, last,
                    list(frame_range))


def trc_inputs(pose3d_dir: Path) -> list[Path]:
    """Triangulated ``.trc`` files of the current run to filter (see :mod:`mocap3d.stage_inputs`)."""
    from ..stage_inputs import current_raw_trc
    return current_raw_trc(pose3d_dir)


def run_filtering(trial) -> dict[str, Any]:
    """Filter every ``pose-3d/*.trc`` of ``trial`` into ``pose-3d/<name>_filt_<type>.trc`` (+ ``.c3d``).

    Writes ``pose-3d/filtering_report.json`` and returns the report.
    """
    from ..io.trc import write_trc
    from ..stage_inputs import fingerprint, read_markers

    cfg = trial.config.get("filtering", {})
    settings = settings_from_config(cfg)
    folder = Path(trial.pose3d_dir)
    inputs = trc_inputs(folder) if folder.is_dir() else []
    if not inputs:
        raise Mocap3dError(f"{folder}: no .trc to filter (files ending in _filt_*.trc or containing LSTM are "
                           "outputs, not inputs); run triangulation first")
    report: dict[str, Any] = {"settings": settings.describe(), "files": []}
    if not settings.do_filter and not settings.reject_outliers:
        log.warning("filtering.filter and filtering.reject_outliers are both false: nothing written")
        report["skipped"] = "filter and reject_outliers are false"
        write_report(folder, "filtering", report)
        return report
    make_c3d = bool(cfg.get("make_c3d", True))
    plots = bool(cfg.get("save_filt_plots", False))
    for path in inputs:
        markers = read_markers(path)
        _check_frame_range(markers, trial.config.get("project", {}).get("frame_range", "auto"), path.name)
        filtered, info = filter_markers(markers, settings)
        out = path.with_name(f"{path.stem}_filt_{settings.filter_type}.trc")
        write_trc(filtered, out)
        entry: dict[str, Any] = {"input": path.name, "input_sha1": fingerprint(path), "output": out.name,
                                 "frames": markers.n_frames,
                                 "markers": len(markers.names), "rate": markers.rate,
                                 "missing_samples": int(np.isnan(markers.data[..., 0]).sum()), **info}
        if make_c3d:
            from ..io.c3d import write_c3d
            entry["c3d"] = write_c3d(filtered, out.with_suffix(".c3d")).name
        if plots:
            entry["plots"] = [p.name for p in save_filter_plots(
                markers.times, markers.data, filtered.data, markers.names, folder / "filtering_plots", out.stem,
                title=f"{out.name}: raw (thin) and filtered (thick), {settings.describe()}")]
        log.info("%s -> %s: %s; %s", path.name, out.name, settings.describe(), info)
        report["files"].append(entry)
    report["report_path"] = str(write_report(folder, "filtering", report))
    return report
