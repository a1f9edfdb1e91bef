"""Time-normalized joint angles: each gait cycle resampled to 0-100 %, mean ± SD per side.

The curves are the kinematics stage's OpenSim coordinates (``kinematics/*.mot``,
degrees, OpenSim's signs: flexion, adduction and dorsiflexion positive; pelvis
tilt positive = posterior, list = obliquity, rotation about the vertical),
cut at each foot's strikes (``cycles`` of :func:`mocap3d.gait.analyze`) and
linearly resampled to 101 points (0, 1, ..., 100 % of the cycle), as in the
usual clinical report (Kadaba et al. 1990, J Orthop Res 8:383). Pelvis
coordinates are whole-body, so each side's panel shows them over that side's
cycles.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..logs import atomic_write, get_logger
from .plots import _plt, save

log = get_logger("gait")

#: (label, coordinate base name, sided): the panels of the clinical layout, row by row
CURVES: tuple[tuple[str, str, bool], ...] = (
    ("pelvis tilt (posterior +)", "pelvis_tilt", False), ("pelvis obliquity (list)", "pelvis_list", False),
    ("pelvis rotation", "pelvis_rotation", False),
    ("hip flexion", "hip_flexion", True), ("hip adduction", "hip_adduction", True),
    ("hip rotation (internal +)", "hip_rotation", True),
    ("knee flexion", "knee_angle", True), ("ankle dorsiflexion", "ankle_angle", True))
PERCENT = np.linspace(0.0, 100.0, 101)
SIDE_COLOURS = {"right": "tab:green", "left": "tab:red"}     # the clinical convention


def column(base: str, sided: bool, side: str) -> str:
    """The .mot column of a curve for a side (``hip_flexion`` -> ``hip_flexion_r``)."""
    return f"{base}_{side[0]}" if sided else base


def normalize(times: np.ndarray, values: np.ndarray, start: float, end: float) -> np.ndarray:
    """``values`` (F,) at ``times`` (F,) s resampled at 0..100 % of [start, end] s -> (101,); NaN when the
    cycle is not covered by the data."""
    if start < times[0] - 1e-6 or end > times[-1] + 1e-6:
        return np.full(len(PERCENT), np.nan)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.full(len(PERCENT), np.nan)
    return np.interp(start + PERCENT / 100 * (end - start), times[ok], values[ok])


def cycle_curves(times: np.ndarray, table: dict[str, np.ndarray], cycles: list[dict[str, Any]]) -> dict[str, Any]:
    """Normalized curves of every cycle: ``{side: {"toe_off_percent": [...], column: (n, 101) array}}``.

    ``table``: column name -> values (F,) degrees; ``cycles``: rows with ``side``, ``start_s``, ``end_s``,
    ``toe_off_s``."""
    out: dict[str, Any] = {}
    for side in ("right", "left"):
        rows = [r for r in cycles if r["side"] == side]
        res: dict[str, Any] = {"toe_off_percent": [100 * (r["toe_off_s"] - r["start_s"]) / (r["end_s"] - r["start_s"])
                                                   for r in rows]}
        for _, base, sided in CURVES:
            col = column(base, sided, side)
            if col in table:
                res[col] = np.array([normalize(times, table[col], r["start_s"], r["end_s"]) for r in rows])
        out[side] = res
    return out


def mean_sd(curves: dict[str, Any]) -> dict[str, Any]:
    """Per side and column: ``(mean (101,), sd (101,), n cycles)`` over the covered cycles."""
    out: dict[str, Any] = {}
    for side, res in curves.items():
        out[side] = {}
        for col, arr in res.items():
            if col == "toe_off_percent" or not len(arr):
                continue
            good = arr[np.isfinite(arr).all(1)]
            if len(good):
                sd = good.std(0, ddof=1) if len(good) > 1 else np.zeros(len(PERCENT))
                out[side][col] = (good.mean(0), sd, len(good))
    return out


def write_curves_csv(stats: dict[str, Any], path: Path) -> Path:
    """Mean and SD of every curve (columns ``<coordinate>_mean``, ``<coordinate>_sd``, degrees) per percent."""
    cols, data = ["percent_of_cycle"], [PERCENT]
    for side in ("right", "left"):
        for col, (m, sd, n) in stats.get(side, {}).items():
            if side == "left" and not col.endswith("_l"):
                name = f"{col}_left_cycles"
            elif side == "right" and not col.endswith("_r"):
                name = f"{col}_right_cycles"
            else:
                name = col
            cols += [f"{name}_mean_deg", f"{name}_sd_deg"]
            data += [m, sd]
    with atomic_write(path, encoding="utf-8", newline="") as fh:
        fh.write(",".join(cols) + "\n")
        for row in np.column_stack(data):
            fh.write(",".join(f"{v:.3f}" for v in row) + "\n")
    return path


def plot_curves(stats: dict[str, Any], toe_off: dict[str, float], path: Path, title: str = "") -> Path:
    """The clinical layout: rows pelvis / hip / knee and ankle, left and right overlaid (mean ± SD band),
    each side's mean toe-off marked by a vertical line."""
    plt = _plt()
    fig, axes = plt.subplots(3, 3, figsize=(11, 8.5), sharex=True)
    for ax, (label, base, sided) in zip(axes.flat, CURVES):
        for side in ("right", "left"):
            got = stats.get(side, {}).get(column(base, sided, side))
            if got is None:
                continue
            m, sd, n = got
            c = SIDE_COLOURS[side]
            ax.plot(PERCENT, m, color=c, lw=1.6, label=f"{side} (n={n})")
            ax.fill_between(PERCENT, m - sd, m + sd, color=c, alpha=0.18, lw=0)
            if np.isfinite(toe_off.get(side, np.nan)):
                ax.axvline(toe_off[side], color=c, ls="--", lw=0.9)
        ax.set_title(f"{label} (deg)", fontsize=9)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.grid(alpha=0.25)
    axes.flat[-1].axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("% of gait cycle")
    axes[2, 1].set_xlabel("% of gait cycle (dashed: toe-off)")
    fig.suptitle(title or "Joint angles over the gait cycle (mean ± SD)", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def _person_key(stem: str) -> str:
    """The raw ``.trc`` stem a processed file derives from (``walk_filt_butterworth_LSTM`` -> ``walk``)."""
    return stem.removesuffix("_LSTM").split("_filt")[0]


def find_mot(trial_path: Path, trc: Path) -> Path | None:
    """The kinematics stage's ``.mot`` of the person of ``trc`` from this run, or None.

    The kinematics report (``kinematics/kinematics_report.json``) names the ``.trc`` each ``.mot`` came
    from; its unfiltered IK ``.mot`` of the same person (same raw ``.trc`` stem) is taken. Without a
    report, the newest ``kinematics/<person>*.mot``; a ``.mot`` older than ``trc`` is from an earlier
    run and is not used (logged)."""
    kin = Path(trial_path) / "kinematics"
    key = _person_key(trc.stem)
    candidates: list[Path] = []
    rep = kin / "kinematics_report.json"
    if rep.is_file():
        try:
            persons = json.loads(rep.read_text(encoding="utf-8")).get("persons", [])
        except (OSError, ValueError):
            persons = []
        for p in persons:
            if _person_key(Path(p.get("trc", "")).stem) == key:
                candidates += [Path(o) for o in p.get("outputs", []) if o.endswith(".mot") and "_filt_" not in Path(o).stem]
    if not candidates:
        candidates = sorted(kin.glob(f"{key}*.mot"), key=lambda p: p.stat().st_mtime, reverse=True)
    for c in candidates:
        c = c if c.is_absolute() else kin / c.name
        if not c.is_file():
            continue
        if trc.is_file() and c.stat().st_mtime < trc.stat().st_mtime:
            log.warning("%s is older than %s (an earlier run): joint-angle curves not drawn", c.name, trc.name)
            return None
        return c
    return None
