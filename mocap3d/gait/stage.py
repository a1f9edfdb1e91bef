"""Gait stage shell: ``pose-3d/*.trc`` (+ ``kinematics/*.mot``) -> ``gait/``.

Per person (``<stem>`` = the filtered ``.trc`` stem): ``<stem>_gait.json`` (events,
per-cycle table, summary, symmetry), ``<stem>_cycles.csv``, ``<stem>_gait.png``
(foot trajectories and events, or a figure saying why there is no gait), the
normalized joint-angle curves ``<stem>_curves.png`` / ``.csv`` when the
kinematics stage wrote a ``.mot``, the workbook ``<stem>_gait.xlsx`` with the
same tables as ``<stem>_csv/*.csv``, and the one-page ``<stem>_gait.html``;
then ``gait_report.json``. A trial without gait, or markers without hips or
feet, is reported as such (a line in the report and the log), not as an error.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Mocap3dError
from ..logs import atomic_write, get_logger, write_report
from .analysis import MODES, analyze
from .plots import message_figure, plot_trajectories

log = get_logger("gait")


EVENT_CUT_OFF = 15.0      # Hz, default low-pass of the raw .trc on which events are timed
MAX_EVENT_DEVIATION = 0.03  # m: raw keypoints farther than this from the filtered ones are outliers


def gait_options(config: dict[str, Any]) -> dict[str, Any]:
    """The ``[gait]`` settings with their defaults."""
    g = dict(config.get("gait", {}) or {})
    mode = g.get("mode", "auto")
    if mode not in MODES:
        raise Mocap3dError(f"[gait] mode = {mode!r}; use one of {', '.join(MODES)}")
    cut = g.get("event_cut_off_frequency", EVENT_CUT_OFF)
    if isinstance(cut, bool) or not isinstance(cut, (int, float)) or cut < 0:
        raise Mocap3dError(f"[gait] event_cut_off_frequency = {cut!r}; use a number of Hz >= 0 (0: the filtered .trc)")
    return {"mode": mode, "event_cut_off_frequency": float(cut)}


def event_markers(trc: Path, markers, cut_off: float):
    """The raw ``.trc`` of the current run that ``trc`` was filtered from, Hampel-cleaned (3 sigma) and
    low-passed at ``cut_off`` Hz (Butterworth, zero phase), for timing the events, with the samples farther
    than :data:`MAX_EVENT_DEVIATION` from the filtered ``markers`` left out; None when there is none
    (``trc`` is raw, the raw file is missing or has other frames) or ``cut_off`` is 0."""
    from ..filtering.stage import FilterSettings, filter_markers
    from ..stage_inputs import current_raw_trc, read_markers
    if cut_off <= 0 or "_filt" not in trc.stem:
        return None
    raws = [p for p in current_raw_trc(trc.parent) if trc.stem.startswith(p.stem + "_filt")]
    if not raws:
        return None
    raw = read_markers(raws[0])
    if raw.n_frames != markers.n_frames or raw.names != markers.names:
        return None
    settings = FilterSettings("butterworth", {"cut_off_frequency": min(cut_off, 0.45 * raw.rate), "order": 4},
                              reject_outliers=True, outlier_n_sigma=3.0)
    em = filter_markers(raw, settings)[0]
    far = np.linalg.norm(em.data - markers.data, axis=-1) > MAX_EVENT_DEVIATION
    em.data[far] = np.nan          # outliers of the raw file that the filtering stage removed
    return em, raws[0]


def analyze_trial_file(trc: Path, markers, opts: dict[str, Any]) -> dict[str, Any]:
    """:func:`analyze` with the events timed on the lightly filtered raw file when there is one; the filtered
    file alone when that finds fewer complete cycles (noise breaking the contacts, said in the warnings)."""
    found = event_markers(trc, markers, opts["event_cut_off_frequency"])
    plain = None
    if found is not None:
        em, raw = found
        report = analyze(markers, opts["mode"], events_from=em)
        report["events_from"] = f"{raw.name} low-passed at {opts['event_cut_off_frequency']:g} Hz"
        plain = analyze(markers, opts["mode"])
        n = lambda r: len(r.get("cycles", [])) if r["status"] == "ok" else -1
        if n(plain) > n(report):
            plain["warnings"].append(f"events timed on {trc.name}: {report['events_from']} gave fewer complete "
                                     f"cycles ({max(n(report), 0)} against {n(plain)})")
            report = plain | {"events_from": trc.name}
        return report
    return analyze(markers, opts["mode"]) | {"events_from": trc.name}


def write_cycles_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    """The per-cycle table as CSV (one row per cycle, labelled columns with units)."""
    from .cycles import LABELS
    keys = [k for k in LABELS if any(k in r for r in rows)]
    with atomic_write(path, encoding="utf-8", newline="") as fh:
        fh.write(",".join(LABELS[k] for k in keys) + "\n")
        for r in rows:
            fh.write(",".join(_cell(r.get(k)) for k in keys) + "\n")
    return path


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else f"{v:.4f}"
    return str(v)


def log_summary(name: str, report: dict[str, Any]) -> None:
    """One log line per person: the headline numbers, or why there are none; then the warnings."""
    if report["status"] == "ok":
        s = report["summary"]
        extra = (f", contact {s['contact_time_s'] * 1000:.0f} ms, flight {s['flight_time_s'] * 1000:.0f} ms, "
                 f"{s.get('foot_strike_pattern')} strike" if report["mode"] == "running" and s.get("flight_time_s")
                 is not None else f", stance {s['stance_percent']:.1f} %")
        log.info("%s: %s, %d+%d cycles, cadence %.1f steps/min, speed %.2f m/s, stride %.2f m%s", name,
                 report["mode"], s["cycles"]["right"], s["cycles"]["left"], s["cadence_steps_per_min"],
                 s["speed_m_per_s"], s["stride_length_m"], extra)
    else:
        log.warning("%s: no gait analysed (%s)", name, report["reason"])
    for w in report.get("warnings", []):
        log.warning("%s: %s", name, w)


def _curves_exports_html(trial, trc: Path, markers, report: dict[str, Any], out: Path) -> list[Path]:
    """Normalized curves (when this run's .mot exists), the workbook and CSV sheets, the HTML page."""
    from . import export as ex
    from .curves import cycle_curves, find_mot, mean_sd, plot_curves, write_curves_csv
    from .html import write_html
    stem, written, stats = trc.stem, [], {}
    sheets: dict[str, Any] = {}
    curves_png = None
    mot = find_mot(Path(trial.path), trc)
    if report["status"] == "ok":
        sheets |= {"summary": ex.summary_sheet(report), "cycles": ex.cycles_sheet(report),
                   "events": ex.events_sheet(report)}
        if mot is None:
            report["warnings"].append("no joint-angle curves: no .mot of this run in kinematics/ "
                                      "(run the kinematics stage before gait)")
        else:
            from ..io.mot import read_mot
            table = read_mot(mot)
            cols = {c: table.data[:, i] for i, c in enumerate(table.columns)}
            stats = mean_sd(cycle_curves(table.times, cols, report["cycles"]))
            toe_off = {s: report["parameters"]["stance_percent"][s]["mean"] for s in ("right", "left")}
            toe_off = {k: (v if v is not None else float("nan")) for k, v in toe_off.items()}
            curves_png = plot_curves(stats, toe_off, out / f"{stem}_curves.png",
                                     f"{Path(trial.path).name}: joint angles over the gait cycle (mean ± SD)")
            written += [curves_png, write_curves_csv(stats, out / f"{stem}_curves.csv")]
            sheets["curves"] = ex.curves_sheet(stats)
            sheets["joint_angles"] = ex.table_sheet(table.times, table.columns, table.data, "deg")
            report["curves_mot"] = str(mot)
    sheets["keypoints_3d"] = ex.markers_sheet(markers)
    try:
        from ..io.openpose import read_openpose_folders
        from ..triangulation.inputs import load_skeleton
        kp2d = read_openpose_folders(trial.latest_pose_dir(), skeleton=load_skeleton(trial.config), rate=markers.rate)
        sheets |= ex.keypoints2d_sheets(kp2d)
    except Exception as exc:            # 2D keypoints are optional in the workbook; say why they are absent
        log.info("%s: no 2D keypoints in the workbook (%s)", stem, exc)
    written.append(ex.write_workbook(sheets, out / f"{stem}_gait.xlsx"))
    written += ex.write_csvs(sheets, out / f"{stem}_csv", stem)
    images = {"Foot keypoints and events": out / f"{stem}_gait.png", "Joint angles over the gait cycle": curves_png}
    written.append(write_html(report, Path(trial.path).name, images, out / f"{stem}_gait.html"))
    return written


def run_gait(trial) -> dict[str, Any]:
    """Stage shell: gait report of every person's filtered ``pose-3d/*.trc`` into ``gait/``."""
    from ..stage_inputs import read_markers, select_trc_files
    t0 = time.perf_counter()
    opts = gait_options(trial.config)
    files, kind = select_trc_files(trial.pose3d_dir, use_augmentation=False)
    out = Path(trial.path) / "gait"
    out.mkdir(parents=True, exist_ok=True)
    persons = []
    for f in files:
        markers = read_markers(f)
        try:
            report = analyze_trial_file(f, markers, opts) | {"trc": str(f)}
        except Mocap3dError as exc:     # e.g. a skeleton without hips or feet: nothing to analyse, not a failure
            log.warning("%s: gait not analysed (%s)", f.name, exc)
            message_figure(out / f"{f.stem}_gait.png", "No gait analysed", str(exc))
            persons.append({"trc": str(f), "status": "not analysed", "reason": str(exc)})
            continue
        written = [plot_trajectories(markers, report, out / f"{f.stem}_gait.png")]
        if report.get("cycles"):
            written.append(write_cycles_csv(report["cycles"], out / f"{f.stem}_cycles.csv"))
        written += _curves_exports_html(trial, f, markers, report, out)
        report["files"] = [str(p) for p in written]
        with atomic_write(out / f"{f.stem}_gait.json") as fh:
            json.dump(report, fh, indent=2, default=float)
        log_summary(f.name, report)
        persons.append({k: report[k] for k in ("trc", "status", "mode", "summary", "reason", "warnings", "files")
                        if k in report})
    stage_report = {"stage": "gait", "input_kind": kind, "mode_setting": opts["mode"], "persons": persons,
                    "seconds": round(time.perf_counter() - t0, 3)}
    write_report(out, "gait", stage_report)
    return stage_report
