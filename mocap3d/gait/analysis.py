"""One person's gait from 3D markers: events, per-cycle table, summary and symmetry (:func:`analyze`).

Quick start::

    from mocap3d.io.trc import read_trc
    from mocap3d.gait import analyze
    report = analyze(read_trc("pose-3d/walk_filt_butterworth.trc"))
    report["summary"]["cadence_steps_per_min"], report["cycles"][0]["stance_percent"]

Events: :mod:`mocap3d.gait.events`; definitions: :mod:`mocap3d.gait.cycles`;
running: :mod:`mocap3d.gait.running`. What cannot be measured is said in
``warnings`` and left out, never guessed: too few cycles, a person standing
still, a turn (the walking direction changes by more than :data:`MAX_TURN_DEG`
during a cycle: that cycle is dropped), missing foot keypoints.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import Mocap3dError
from ..markers import Markers3D
from . import cycles as cy
from . import events as ev
from .running import is_running, strike_angles, strike_pattern

MODES = ("auto", "walking", "running")
MIN_CYCLES = 1          # complete cycles per side needed for a report
MAX_TURN_DEG = 20.0     # a cycle whose walking direction turns more than this is not a straight-line cycle
MAX_MISSING = 0.2       # a cycle with more of its foot keypoint frames missing is dropped


def _turn_deg(direction: np.ndarray, a: float, b: float) -> float:
    seg = direction[int(np.floor(a)):int(np.ceil(b)) + 1]
    seg = seg[np.isfinite(seg).all(1)]
    if len(seg) < 2:
        return np.nan
    ang = np.degrees(np.arctan2(seg[:, 2], seg[:, 0]))
    return float(np.ptp(np.unwrap(np.radians(ang)) * 180 / np.pi))


def analyze(markers: Markers3D, mode: str = "auto", events_from: Markers3D | None = None) -> dict[str, Any]:
    """Gait events and parameters of one person's markers (metres, Y up).

    ``mode``: ``'auto'`` (running when the strides have flight phases), ``'walking'`` or ``'running'``.
    ``events_from``: the same person's markers, same frames, filtered less (the stage passes the raw
    ``.trc`` low-passed at ``[gait] event_cut_off_frequency``): events are timed on them, distances are
    measured on ``markers``. A low-pass that suits positions (6 Hz) rounds the foot's landing and lift-off
    and moves the contact events by about a frame.
    Returns ``{"status": "ok" | "no gait", "reason", "mode", "warnings", "events": {side: {"strikes_s",
    "toe_offs_s"}}, "cycles": [row...], "summary": {...}, "parameters": {key: {right, left, both,
    symmetry_index_percent}}, "sides": {side: {"heel_strikes_s", "toe_offs_s", key: stats}}, "floor"}``.
    """
    if mode not in MODES:
        raise Mocap3dError(f"gait.mode = {mode!r}; use one of {', '.join(MODES)}")
    rate = markers.rate
    pelvis = ev.pelvis_centre(markers)
    direction, speed = ev.walking_direction(pelvis, rate)
    feet = {side: ev.foot_markers(markers.names, side) for side in ev.SIDES}
    base: dict[str, Any] = {"markers": {s: {"heel": f.heel, "toe": f.toe} for s, f in feet.items()},
                            "approximate_feet": any(f.approximate for f in feet.values()), "rate_hz": rate,
                            "warnings": []}
    warn = base["warnings"]
    if base["approximate_feet"]:
        warn.append("no heel/toe keypoints: the ankles stand in for them; toe-off, support times and the "
                    "foot-strike pattern are approximate")
    mean_speed = float(np.nanmedian(speed)) if np.isfinite(speed).any() else 0.0
    if mean_speed < ev.MIN_SPEED:
        return base | {"status": "no gait", "mode": mode,
                       "reason": f"standing still: median pelvis speed {mean_speed:.2f} m/s < {ev.MIN_SPEED} m/s"}
    em = events_from if events_from is not None and events_from.n_frames == markers.n_frames else markers
    pts = [em[n] for s in ev.SIDES for n in (feet[s].heel, feet[s].toe)]
    missing = {f"{s} {k}": float(np.mean(~np.isfinite(markers[getattr(feet[s], k)]).any(1)))
               for s in ev.SIDES for k in ("heel", "toe")}
    for name, frac in missing.items():
        if frac > MAX_MISSING:
            warn.append(f"{name} keypoint missing in {100 * frac:.0f} % of the frames")
    try:
        plane, offsets = ev.floor_plane(pts, rate, [0, 1, 0, 1])
    except Mocap3dError as exc:
        return base | {"status": "no gait", "mode": mode, "reason": str(exc)}
    base["floor"] = {"slope_x": float(plane[0]), "slope_z": float(plane[1]),
                     "keypoint_heights_m": dict(zip(missing, [round(o, 4) for o in offsets]))}
    contact, zeni = {}, {}
    for i, side in enumerate(ev.SIDES):
        f = feet[side]
        h, flat = ev.foot_height(em[f.heel], em[f.toe], plane, offsets[2 * i:2 * i + 2])
        contact[side] = ev.contact_events(h, rate, flat=flat)
        zeni[side] = ev.zeni_events(em[f.heel], em[f.toe], pelvis, direction, rate)
    strides = np.concatenate([np.diff(z[0]) for z in zeni.values()])
    gap = 0.25 * float(np.median(strides)) if len(strides) else 0.0          # a quarter of a cycle
    fs = ev.combine({s: c[0] for s, c in contact.items()}, {s: z[0] for s, z in zeni.items()}, gap)
    to = ev.combine({s: c[1] for s, c in contact.items()}, {s: z[1] for s, z in zeni.items()}, gap)
    events, angles = {}, {}
    for i, side in enumerate(ev.SIDES):
        f = feet[side]
        events[side] = (fs[side], to[side])
        angles[side] = strike_angles(em[f.heel], em[f.toe], plane, offsets[2 * i:2 * i + 2], fs[side])
    base["events"] = {s: {"strikes_s": [round(markers.start_time + float(x) / rate, 4) for x in e[0]],
                          "toe_offs_s": [round(markers.start_time + float(x) / rate, 4) for x in e[1]]}
                      for s, e in events.items()}
    rows = []
    for side, other in (("right", "left"), ("left", "right")):
        (fs, to), (fs_o, to_o) = events[side], events[other]
        rows += cy.side_cycles(side, fs, to, fs_o, to_o, markers[feet[side].heel], markers[feet[other].heel],
                               direction, rate, markers.start_time, angles[side])
    kept = []
    for r in rows:
        a, b = [(r[k] - markers.start_time) * rate for k in ("start_s", "end_s")]
        turn = _turn_deg(direction, a, b)
        f = feet[r["side"]]
        seg = slice(int(np.floor(a)), int(np.ceil(b)) + 1)
        gaps = float(np.mean(~np.isfinite(np.concatenate([markers[f.heel][seg], markers[f.toe][seg]])).any(1)))
        if np.isfinite(turn) and turn > MAX_TURN_DEG:
            warn.append(f"{r['side']} cycle {r['cycle']} ({r['start_s']:.2f}-{r['end_s']:.2f} s) left out: "
                        f"the walking direction turns {turn:.0f} deg (> {MAX_TURN_DEG:.0f})")
        elif gaps > MAX_MISSING:
            warn.append(f"{r['side']} cycle {r['cycle']} ({r['start_s']:.2f}-{r['end_s']:.2f} s) left out: foot "
                        f"keypoints missing in {100 * gaps:.0f} % of its frames")
        else:
            kept.append(r)
    rows = kept
    n = {s: sum(r["side"] == s for r in rows) for s in ev.SIDES}
    if min(n.values()) < MIN_CYCLES:
        return base | {"status": "no gait", "mode": mode, "cycles": rows,
                       "reason": f"too few complete gait cycles: right {n['right']}, left {n['left']} "
                                 f"({MIN_CYCLES} per side needed)"}
    running = is_running([r["flight_time_s"] for r in rows]) if mode == "auto" else mode == "running"
    for r in rows:
        if running:
            r["foot_strike_pattern"] = strike_pattern(r.get("foot_strike_angle_deg", np.nan))
            for k in ("double_support_percent", "single_support_percent"):
                r.pop(k, None)
        else:
            for k in ("contact_time_s", "flight_time_s", "duty_factor", "foot_strike_angle_deg"):
                r.pop(k, None)
    keys = cy.RUN_KEYS if running else cy.WALK_KEYS
    params = cy.summarize(rows, keys)
    summary = {k: params[k]["both"]["mean"] for k in keys}
    summary["stride_time_s"] = params["stride_time_s"]["both"]["mean"]
    summary["duration_analysed_s"] = float(max(r["end_s"] for r in rows) - min(r["start_s"] for r in rows))
    summary["cycles"] = {s: n[s] for s in ev.SIDES}
    if running:
        pats = [r["foot_strike_pattern"] for r in rows if r.get("foot_strike_pattern")]
        summary["foot_strike_pattern"] = max(set(pats), key=pats.count) if pats else None
    sides = {}
    for s in ev.SIDES:
        sides[s] = {"heel_strikes_s": base["events"][s]["strikes_s"], "toe_offs_s": base["events"][s]["toe_offs_s"]}
        sides[s] |= {k: params[k][s] for k in keys}
    if min(n.values()) < 3:
        warn.append(f"only {min(n.values())} complete cycle(s) on one side: means are not representative "
                    "(3 or more per side recommended)")
    return base | {"status": "ok", "mode": "running" if running else "walking", "cycles": rows,
                   "summary": summary, "parameters": params, "sides": sides}


def compare(estimate: dict[str, Any], truth: dict[str, Any], shift_s: float = 0.0) -> dict[str, Any]:
    """Errors of a gait report against the report of the true markers (both from :func:`analyze`).

    ``shift_s``: truth time = estimate time + shift (the pipeline's clock origin). Events are matched to
    the nearest true one of the same foot and kind.
    """
    if estimate.get("status") != "ok" or truth.get("status") != "ok":
        return {"status": "missing", "reason": estimate.get("reason") or truth.get("reason") or "no gait"}
    out: dict[str, Any] = {"status": "ok", "mode": estimate.get("mode")}
    for key in ("cadence_steps_per_min", "speed_m_per_s", "stride_length_m", "step_length_m"):
        e, t = estimate["summary"].get(key), truth["summary"].get(key)
        if e is None or t is None:
            continue
        out[key] = {"estimate": e, "truth": t, "error": e - t, "error_percent": 100 * (e - t) / t}
    out["cycles"] = compare_cycles(estimate.get("cycles", []), truth.get("cycles", []), shift_s)
    for kind, label in (("heel_strikes_s", "heel_strike_ms"), ("toe_offs_s", "toe_off_ms")):
        dt = []
        for side in ev.SIDES:
            est = np.asarray(estimate["sides"][side][kind]) + shift_s
            tru = np.asarray(truth["sides"][side][kind])
            dt += [float(np.min(np.abs(tru - x))) for x in est] if len(tru) else []
        if dt:
            out[label] = {"mean_abs": 1000 * float(np.mean(dt)), "max_abs": 1000 * float(np.max(dt)), "n": len(dt)}
    return out


CYCLE_KEYS = ("stride_time_s", "cadence_steps_per_min", "stride_length_m", "speed_m_per_s", "step_length_m",
              "stance_percent", "double_support_percent", "contact_time_s", "flight_time_s")


def compare_cycles(estimate: list[dict[str, Any]], truth: list[dict[str, Any]], shift_s: float = 0.0) -> dict[str, Any]:
    """Cycle-by-cycle errors: each estimated cycle against the true cycle of the same side that starts nearest
    (``shift_s`` as in :func:`compare`). Returns ``{"n": {side: count}, "rows": [{side, start_s, key: (est,
    truth)}], key: {"mean_abs", "max_abs", "unit"}}``; percentages of the cycle are compared in points,
    the rest in % of the truth."""
    rows, errs = [], {k: [] for k in CYCLE_KEYS}
    for r in estimate:
        same = [t for t in truth if t["side"] == r["side"]]
        if not same:
            continue
        t = min(same, key=lambda c: abs(c["start_s"] - (r["start_s"] + shift_s)))
        if abs(t["start_s"] - (r["start_s"] + shift_s)) > 0.25 * t["stride_time_s"]:
            continue
        row: dict[str, Any] = {"side": r["side"], "start_s": r["start_s"]}
        for k in CYCLE_KEYS:
            e, v = r.get(k), t.get(k)
            if e is None or v is None or not np.isfinite(e) or not np.isfinite(v):
                continue
            row[k] = (e, v)
            errs[k].append(e - v if k.endswith("percent") else 100 * (e - v) / v if v else np.nan)
        rows.append(row)
    out: dict[str, Any] = {"n": {s: sum(r["side"] == s for r in rows) for s in ev.SIDES}, "rows": rows}
    for k, e in errs.items():
        e = np.abs([x for x in e if np.isfinite(x)])
        if len(e):
            out[k] = {"mean_abs": float(e.mean()), "max_abs": float(e.max()),
                      "unit": "points of the cycle" if k.endswith("percent") else "% of the truth"}
    return out
