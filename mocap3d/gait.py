"""Gait analysis: events, cadence, step and stride lengths, speed and support times from 3D markers.

Quick start::

    from mocap3d.io.trc import read_trc
    from mocap3d.gait import analyze
    report = analyze(read_trc("pose-3d/walk_filt_butterworth.trc"))
    report["summary"]["cadence_steps_per_min"], report["sides"]["right"]["stride_length_m"]["mean"]

Events follow the coordinate-based method of Zeni, Richards & Higginson (2008,
Gait & Posture 27:710): along the walking direction, heel strike is when the
heel is farthest ahead of the pelvis and toe-off when the toe is farthest
behind it. The walking direction is the pelvis's horizontal velocity averaged
over about a second, so curved paths work too. Extrema are located to a
fraction of a frame by a parabola through the three samples around them.

Markers (Y up, metres): heel ``RHeel`` / ``r_calc_study``; toe ``RBigToe``,
``RFootIndex`` or ``r_toe_study``; pelvis the mid-point of the hips (or of the
ASIS/PSIS markers). Skeletons without feet (``COCO_17``) fall back to the
ankles, which makes toe-off and support times approximate (reported).

Stage shell: :func:`run_gait` reads each person's filtered ``pose-3d/*.trc``
and writes ``gait/<stem>_gait.json``, ``gait/<stem>_gait.png`` and
``gait/gait_report.json``. A trial without walking (fewer than two strides or
slower than 0.15 m/s), or markers without hips or feet, is reported as such,
not as an error.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import Mocap3dError
from .logs import atomic_write, get_logger, write_report
from .markers import Markers3D

log = get_logger("gait")

SIDES = {"right": ("R", "r"), "left": ("L", "L")}     # keypoint prefix, OpenCap study-marker prefix
MIN_SPEED = 0.15          # m/s: slower than this is not walking
MIN_EVENT_INTERVAL = 0.4  # s between two events of the same kind and side (cadence < 150 strides/min)
DIRECTION_WINDOW = 1.0    # s: averaging window of the walking direction


@dataclass
class FootMarkers:
    """The marker names used for one side, and whether they are true heel/toe markers."""

    heel: str
    toe: str
    approximate: bool


def foot_markers(names: Sequence[str], side: str) -> FootMarkers:
    """Heel and toe marker names of ``side`` ('right' or 'left') among ``names``."""
    k, s = SIDES[side]
    heel = next((n for n in (f"{k}Heel", f"{s}_calc_study") if n in names), None)
    toe = next((n for n in (f"{k}BigToe", f"{k}FootIndex", f"{s}_toe_study") if n in names), None)
    if heel and toe:
        return FootMarkers(heel, toe, False)
    if f"{k}Ankle" in names:
        return FootMarkers(heel or f"{k}Ankle", toe or f"{k}Ankle", True)
    raise Mocap3dError(f"no heel, toe or ankle marker of the {side} foot among {', '.join(list(names)[:10])}...; "
                       "gait analysis needs foot keypoints (HALPE_26, BODY_25, BLAZEPOSE...) or *_study markers")


def pelvis_centre(markers: Markers3D) -> np.ndarray:
    """Pelvis centre (F, 3): mid-point of the hip keypoints, else of the four ASIS/PSIS markers."""
    for group in (("RHip", "LHip"), ("r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study")):
        if all(n in markers.names for n in group):
            return np.mean([markers[n] for n in group], axis=0)
    raise Mocap3dError("no hip keypoints (RHip, LHip) or pelvis markers (ASIS/PSIS) to locate the pelvis")


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` samples along axis 0, NaN-aware, same length (F, ...)."""
    n = max(1, int(n))
    ok = np.isfinite(x)
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), np.where(ok, x, 0.0)]), axis=0)
    k = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), ok.astype(float)]), axis=0)
    lo = np.clip(np.arange(len(x)) - n // 2, 0, len(x))
    hi = np.clip(np.arange(len(x)) + n - n // 2, 0, len(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c[hi] - c[lo]) / (k[hi] - k[lo])


def walking_direction(pelvis: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(unit horizontal walking direction (F, 3), horizontal pelvis speed (F,) m/s), averaged over ~1 s."""
    v = np.gradient(pelvis, axis=0) * rate
    v[:, 1] = 0.0
    v = moving_average(v, round(DIRECTION_WINDOW * rate))
    speed = np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / speed[:, None], speed


def refine_peak(y: np.ndarray, i: int) -> float:
    """Sub-frame position of the extremum at sample ``i`` of ``y``: vertex of the parabola through i-1, i, i+1."""
    from .synchronization import parabolic_peak
    if i <= 0 or i >= len(y) - 1 or not np.all(np.isfinite(y[i - 1:i + 2])):
        return float(i)
    return float(i + parabolic_peak(y[i - 1], y[i], y[i + 1]))


def find_maxima(y: np.ndarray, rate: float, min_interval: float = MIN_EVENT_INTERVAL) -> np.ndarray:
    """Sub-frame indices of the gait-cycle maxima of ``y`` (F,): at least ``min_interval`` s apart and
    standing out by a quarter of the signal's 5-95 % range (small wiggles are not events)."""
    from scipy.signal import find_peaks
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return np.zeros(0)
    lo, hi = np.percentile(y[ok], [5, 95])
    filled = np.where(ok, y, lo)                 # a gap never makes a peak
    idx, _ = find_peaks(filled, distance=max(1, round(min_interval * rate)), prominence=0.25 * (hi - lo))
    idx = [i for i in idx if ok[max(i - 1, 0):i + 2].all()]
    return np.array([refine_peak(y, i) for i in idx])


def detect_events(heel: np.ndarray, toe: np.ndarray, pelvis: np.ndarray, direction: np.ndarray,
                  rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(heel strikes, toe-offs) of one foot as sub-frame indices (Zeni et al. 2008; arrays (F, 3) m)."""
    ahead_heel = np.einsum("ij,ij->i", heel - pelvis, direction)
    ahead_toe = np.einsum("ij,ij->i", toe - pelvis, direction)
    return find_maxima(ahead_heel, rate), find_maxima(-ahead_toe, rate)


def _interp(points: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Positions (F, 3) linearly interpolated at sub-frame indices ``at`` (n,) -> (n, 3)."""
    f = np.arange(len(points))
    return np.column_stack([np.interp(at, f, points[:, k]) for k in range(3)]) if len(at) else np.zeros((0, 3))


def _stats(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    return {"mean": float(v.mean()) if v.size else None, "sd": float(v.std(ddof=1)) if v.size > 1 else None,
            "n": int(v.size), "values": [round(float(x), 4) for x in v]}


def _next_after(events: np.ndarray, t: float, before: float = np.inf) -> float:
    later = events[(events > t) & (events < before)]
    return float(later[0]) if len(later) else np.nan


def side_parameters(hs: np.ndarray, to: np.ndarray, hs_other: np.ndarray, to_other: np.ndarray,
                    heel: np.ndarray, heel_other: np.ndarray, direction: np.ndarray, rate: float,
                    start_time: float = 0.0) -> dict[str, Any]:
    """Temporal and spatial parameters of one side's strides (event indices in frames, positions (F, 3) m;
    event times reported in seconds from ``start_time``, the time of frame 0).

    Stride: heel strike to the next one of the same foot. Stance: heel strike to
    toe-off; swing: toe-off to the next heel strike; double support: heel strike
    to the other foot's toe-off, plus the other foot's heel strike to this toe-off.
    Step: from the other foot's last heel strike; step length is measured along
    the walking direction between the two heels where they struck the ground.
    """
    strides = []
    for a, b in zip(hs[:-1], hs[1:]):
        off = _next_after(to, a, b)
        other_off = _next_after(to_other, a, off if np.isfinite(off) else b)
        other_on = _next_after(hs_other, a, off if np.isfinite(off) else b)
        T = (b - a) / rate
        p = _interp(heel, np.array([a, b]))
        stance = (off - a) / rate
        double = ((other_off - a) + (off - other_on)) / rate
        strides.append({"time": T, "length": float(np.linalg.norm((p[1] - p[0])[[0, 2]])),
                        "stance": stance, "swing": (b - off) / rate, "double_support": double,
                        "stance_pct": 100 * stance / T, "double_support_pct": 100 * double / T})
    steps = []
    for h in hs:
        prev = hs_other[hs_other < h]
        if not len(prev):
            continue
        d = _interp(direction, np.array([h]))[0]
        gap = _interp(heel, np.array([h]))[0] - _interp(heel_other, prev[-1:])[0]
        steps.append({"time": (h - prev[-1]) / rate, "length": float(gap @ d / max(np.linalg.norm(d), 1e-9))})
    out = {"heel_strikes_s": [round(start_time + float(h) / rate, 4) for h in hs],
           "toe_offs_s": [round(start_time + float(t) / rate, 4) for t in to]}
    for key, name in (("time", "stride_time_s"), ("length", "stride_length_m"), ("stance", "stance_time_s"),
                      ("swing", "swing_time_s"), ("double_support", "double_support_s"),
                      ("stance_pct", "stance_percent"), ("double_support_pct", "double_support_percent")):
        out[name] = _stats([s[key] for s in strides])
    out["step_time_s"] = _stats([s["time"] for s in steps])
    out["step_length_m"] = _stats([s["length"] for s in steps])
    return out


def analyze(markers: Markers3D) -> dict[str, Any]:
    """Gait events and parameters of one person's markers (metres, Y up).

    Returns ``{"status", "summary": {cadence_steps_per_min, speed_m_per_s, stride_time_s,
    stride_length_m, step_length_m, stance_percent, double_support_percent}, "sides": {side: ...},
    "markers": {side: heel, toe}, "approximate_feet"}``; status is ``"no gait"`` (with a reason)
    when fewer than two strides of either foot are seen or the pelvis moves slower than 0.15 m/s.
    """
    rate = markers.rate
    pelvis = pelvis_centre(markers)
    direction, speed = walking_direction(pelvis, rate)
    feet = {side: foot_markers(markers.names, side) for side in SIDES}
    events = {side: detect_events(markers[f.heel], markers[f.toe], pelvis, direction, rate) for side, f in feet.items()}
    base = {"markers": {s: {"heel": f.heel, "toe": f.toe} for s, f in feet.items()},
            "approximate_feet": any(f.approximate for f in feet.values()), "rate_hz": rate}
    n_hs = {s: len(e[0]) for s, e in events.items()}
    mean_speed = float(np.nanmedian(speed)) if np.isfinite(speed).any() else 0.0
    if min(n_hs.values()) < 2 or mean_speed < MIN_SPEED:
        why = (f"pelvis speed {mean_speed:.2f} m/s < {MIN_SPEED}" if mean_speed < MIN_SPEED
               else f"heel strikes found: right {n_hs['right']}, left {n_hs['left']} (two per foot needed)")
        return base | {"status": "no gait", "reason": why}
    sides = {}
    for side, other in (("right", "left"), ("left", "right")):
        (hs, to), (hs_o, to_o) = events[side], events[other]
        sides[side] = side_parameters(hs, to, hs_o, to_o, markers[feet[side].heel], markers[feet[other].heel],
                                      direction, rate, markers.start_time)
    first = min(e[0][0] for e in events.values())
    last = max(e[0][-1] for e in events.values())
    span = slice(int(np.floor(first)), int(np.ceil(last)) + 1)
    pooled = {k: [v for s in sides.values() for v in s[k]["values"]]
              for k in ("stride_time_s", "stride_length_m", "step_time_s", "step_length_m", "stance_percent",
                        "double_support_percent")}
    step_time = np.mean(pooled["step_time_s"]) if pooled["step_time_s"] else np.nan
    summary = {"cadence_steps_per_min": float(60.0 / step_time) if np.isfinite(step_time) else None,
               "speed_m_per_s": float(np.nanmean(speed[span])),          # 1 s averages: no sway
               "duration_analysed_s": float((last - first) / rate)}
    summary |= {k: (float(np.mean(v)) if v else None) for k, v in pooled.items()}
    return base | {"status": "ok", "summary": summary, "sides": sides}


def compare(estimate: dict[str, Any], truth: dict[str, Any], shift_s: float = 0.0) -> dict[str, Any]:
    """Errors of a gait report against the report of the true markers (both from :func:`analyze`).

    ``shift_s``: truth time = estimate time + shift (the pipeline's clock origin). Heel strikes are
    matched to the nearest true one of the same foot.
    """
    if estimate.get("status") != "ok" or truth.get("status") != "ok":
        return {"status": "missing", "reason": estimate.get("reason") or truth.get("reason") or "no gait"}
    out: dict[str, Any] = {"status": "ok"}
    for key in ("cadence_steps_per_min", "speed_m_per_s", "stride_length_m", "step_length_m"):
        e, t = estimate["summary"][key], truth["summary"][key]
        out[key] = {"estimate": e, "truth": t, "error": e - t, "error_percent": 100 * (e - t) / t}
    dt = []
    for side in SIDES:
        est = np.asarray(estimate["sides"][side]["heel_strikes_s"]) + shift_s
        tru = np.asarray(truth["sides"][side]["heel_strikes_s"])
        dt += [float(np.min(np.abs(tru - x))) for x in est] if len(tru) else []
    out["heel_strike_ms"] = {"mean_abs": 1000 * float(np.mean(dt)), "max_abs": 1000 * float(np.max(dt)), "n": len(dt)}
    return out


# ----------------------------------------------------------------------------- figure and stage shell
def plot_events(markers: Markers3D, report: dict[str, Any], path: Path) -> Path | None:
    """PNG of each heel's and toe's position ahead of the pelvis, with the detected events."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pelvis = pelvis_centre(markers)
    direction, _ = walking_direction(pelvis, markers.rate)
    t = markers.times
    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    for ax, side in zip(axes, SIDES):
        m = report["markers"][side]
        for name, label, key, style in ((m["heel"], "heel", "heel_strikes_s", "v"), (m["toe"], "toe", "toe_offs_s", "^")):
            y = np.einsum("ij,ij->i", markers[name] - pelvis, direction)
            ax.plot(t, y, label=f"{label} ({name})")
            ev = np.asarray(report.get("sides", {}).get(side, {}).get(key, []), float)
            ax.plot(ev, np.interp(ev, t, y), style, color="k", label="heel strike" if label == "heel" else "toe-off")
        ax.set_ylabel(f"{side}: ahead of pelvis (m)")
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path


def run_gait(trial) -> dict[str, Any]:
    """Stage shell: gait report of every person's filtered ``pose-3d/*.trc`` into ``gait/``."""
    from .stage_inputs import read_markers
    from .kinematics.stage import select_trc_files
    t0 = time.perf_counter()
    files, kind = select_trc_files(trial.pose3d_dir, use_augmentation=False)
    out = Path(trial.path) / "gait"
    out.mkdir(parents=True, exist_ok=True)
    persons = []
    for f in files:
        markers = read_markers(f)
        try:
            report = analyze(markers) | {"trc": str(f)}
        except Mocap3dError as exc:     # e.g. a skeleton without hips or feet: nothing to analyse, not a failure
            log.warning("%s: gait not analysed (%s)", f.name, exc)
            persons.append({"trc": str(f), "status": "not analysed", "reason": str(exc)})
            continue
        with atomic_write(out / f"{f.stem}_gait.json") as fh:
            json.dump(report, fh, indent=2)
        plot_events(markers, report, out / f"{f.stem}_gait.png")
        if report["status"] == "ok":
            s = report["summary"]
            log.info("%s: cadence %.1f steps/min, speed %.2f m/s, stride %.2f m", f.name,
                     s["cadence_steps_per_min"], s["speed_m_per_s"], s["stride_length_m"])
        else:
            log.warning("%s: no gait analysed (%s)", f.name, report["reason"])
        persons.append({k: report[k] for k in ("trc", "status", "summary", "reason") if k in report})
    stage_report = {"stage": "gait", "input_kind": kind, "persons": persons,
                    "seconds": round(time.perf_counter() - t0, 3)}
    write_report(out, "gait", stage_report)
    return stage_report
