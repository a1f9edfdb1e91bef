"""Exports a clinic can paste from: one ``.xlsx`` workbook per trial (openpyxl) and the same sheets as CSV.

Sheets: ``summary`` (mean ± SD per side, symmetry index), ``cycles`` (one row per
gait cycle), ``events`` (foot strikes and toe-offs), ``curves`` (normalized joint
angles, mean and SD), ``joint_angles`` (the ``.mot``, degrees), ``keypoints_3d``
(the filtered ``.trc``, metres) and ``keypoints_2d_<camera>`` (pixels and
confidence, when the trial's 2D keypoints can be read).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..logs import atomic_path, atomic_write, get_logger
from .cycles import LABELS

log = get_logger("gait")
Sheet = tuple[list[str], list[list[Any]]]          # header, rows


def _v(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def summary_sheet(report: dict[str, Any]) -> Sheet:
    """Parameter, right mean/SD/n, left mean/SD/n, both mean/SD, symmetry index (%)."""
    head = ["parameter", "right mean", "right SD", "right n", "left mean", "left SD", "left n",
            "both mean", "both SD", "symmetry index (%)"]
    rows = []
    for key, p in report.get("parameters", {}).items():
        rows.append([LABELS.get(key, key)] + [p[s][k] for s in ("right", "left") for k in ("mean", "sd", "n")]
                    + [p["both"]["mean"], p["both"]["sd"], p["symmetry_index_percent"]])
    return head, rows


def cycles_sheet(report: dict[str, Any]) -> Sheet:
    rows = report.get("cycles", [])
    keys = [k for k in LABELS if any(k in r for r in rows)]
    return [LABELS[k] for k in keys], [[r.get(k) for k in keys] for r in rows]


def events_sheet(report: dict[str, Any]) -> Sheet:
    rows = []
    for side, e in report.get("events", {}).items():
        rows += [[side, "foot strike", t] for t in e["strikes_s"]] + [[side, "toe-off", t] for t in e["toe_offs_s"]]
    return ["side", "event", "time (s)"], sorted(rows, key=lambda r: r[2])


def curves_sheet(stats: dict[str, Any]) -> Sheet:
    from .curves import PERCENT
    head, cols = ["% of cycle"], [PERCENT]
    for side in ("right", "left"):
        for col, (m, sd, _) in stats.get(side, {}).items():
            head += [f"{col} {side} cycles mean (deg)", f"{col} {side} cycles SD (deg)"]
            cols += [m, sd]
    return head, np.column_stack(cols).tolist()


def table_sheet(times: np.ndarray, names: Sequence[str], data: np.ndarray, unit: str) -> Sheet:
    """A time series (F, N) as a sheet: time then one column per name."""
    return ["time (s)"] + [f"{n} ({unit})" for n in names], np.column_stack([times, data]).tolist()


def markers_sheet(markers) -> Sheet:
    names = [f"{n} {a}" for n in markers.names for a in "XYZ"]
    return table_sheet(markers.times, names, markers.data.reshape(markers.n_frames, -1), "m")


def keypoints2d_sheets(kp2d, person: int = 0) -> dict[str, Sheet]:
    """One sheet per camera: frame, then x, y (px) and confidence of each keypoint of ``person``."""
    out = {}
    for c, cam in enumerate(kp2d.cameras):
        d = kp2d.data[c, :, min(person, kp2d.data.shape[2] - 1)]          # (F, K, 3)
        head = ["frame"] + [f"{k} {a}" for k in kp2d.keypoints for a in ("x (px)", "y (px)", "confidence")]
        out[f"keypoints_2d_{cam}"[:31]] = (head, np.column_stack([kp2d.frames, d.reshape(len(d), -1)]).tolist())
    return out


def write_workbook(sheets: dict[str, Sheet], path: Path) -> Path:
    """The sheets into one ``.xlsx`` (atomic: an earlier workbook survives a failure)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    wb = Workbook(write_only=True)              # streamed: several times faster on long trials
    bold = Font(bold=True)
    for name, (head, rows) in sheets.items():
        ws = wb.create_sheet(name[:31])
        ws.freeze_panes = "A2"
        cells = []
        for h in head:
            c = WriteOnlyCell(ws, value=h)
            c.font = bold
            cells.append(c)
        ws.append(cells)
        for r in rows:
            ws.append([_v(x) for x in r])
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path


def write_csvs(sheets: dict[str, Sheet], folder: Path, stem: str) -> list[Path]:
    """The same sheets as ``folder/<stem>_<sheet>.csv``."""
    out = []
    for name, (head, rows) in sheets.items():
        p = folder / f"{stem}_{name}.csv"
        with atomic_write(p, encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            w.writerows([[("" if _v(x) is None else _v(x)) for x in r] for r in rows])
        out.append(p)
    return out
