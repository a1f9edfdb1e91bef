"""The plain-text table that ``mocap3d evaluate`` and the Demo print from :func:`mocap3d.evaluation.run_evaluation`'s
metrics: one row per stage and metric, then a line per stage that could not be evaluated and why."""
from __future__ import annotations

from typing import Any

from .evaluation import MISSING


def gait_cycle_rows(cycles: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Table rows of the cycle-by-cycle gait errors (:func:`mocap3d.gait.analysis.compare_cycles`)."""
    if not cycles.get("rows"):
        return []
    out = [("gait", "cycles compared (right / left)", f"{cycles['n']['right']} / {cycles['n']['left']}")]
    for r in cycles["rows"]:
        parts = [f"{k.split('_')[0]} {_fmt(r[k][0], 2)}/{_fmt(r[k][1], 2)}" for k in
                 ("cadence_steps_per_min", "stride_length_m", "stance_percent", "double_support_percent") if k in r]
        out.append(("gait", f"{r['side']} cycle at {r['start_s']:.2f} s (est/truth)", ", ".join(parts)))
    for k, label in (("cadence_steps_per_min", "per-cycle cadence |e| (% mean / max)"),
                     ("stride_length_m", "per-cycle stride length |e| (% mean / max)"),
                     ("stance_percent", "per-cycle stance |e| (points mean / max)"),
                     ("double_support_percent", "per-cycle double support |e| (points mean / max)")):
        if k in cycles:
            out.append(("gait", label, f"{_fmt(cycles[k]['mean_abs'], 2)} / {_fmt(cycles[k]['max_abs'], 2)}"))
    return out


def _fmt(v: Any, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def format_table(metrics: dict[str, Any]) -> str:
    """A plain-text summary table of :func:`run_evaluation`'s metrics."""
    rows = [("stage", "metric", "value")]
    m = metrics
    c = m.get("calibration", {})
    if c.get("status") == "ok":
        rows += [("calibration", "camera position (mm, mean)", _fmt(c["mean_position_mm"])),
                 ("calibration", "orientation (deg, mean)", _fmt(c["mean_orientation_deg"], 2)),
                 ("calibration", "focal length (|%|, mean)", _fmt(c["mean_abs_focal_pct"], 2)),
                 ("calibration", "principal point (px, mean)", _fmt(c.get("mean_principal_point_px"), 2)),
                 ("calibration", "reprojection of truth (px, mean)", _fmt(c["mean_reprojection_px"], 2))]
        al = c.get("aligned")
        if al:
            rows += [("calibration", "world aligned to truth: rotation (deg)", _fmt(al["rotation_deg"], 2)),
                     ("calibration", "world aligned to truth: translation (mm)", _fmt(al["translation_mm"])),
                     ("calibration", "after alignment: position (mm, mean)", _fmt(al["mean_position_mm"])),
                     ("calibration", "after alignment: orientation (deg, mean)", _fmt(al["mean_orientation_deg"], 2)),
                     ("calibration", "after alignment: reprojection (px, mean)", _fmt(al["mean_reprojection_px"], 2))]
            if "scale" in al:
                rows.append(("calibration", "scale of camera centres (est -> truth)", _fmt(al["scale"], 4)))
    s = m.get("synchronization", {})
    if s.get("status") == "ok":
        rows += [("synchronization", "offset error (frames, mean |e|)", _fmt(s["mean_abs_error_frames"], 2)),
                 ("synchronization", "offset error (frames, max |e|)", _fmt(s["max_abs_error_frames"], 2))]
    a = m.get("association", {})
    if a.get("status") == "ok":
        rows += [("association", "identity accuracy (%)", _fmt(100 * a["identity_accuracy"], 1)),
                 ("association", "detections mixed by sync interpolation", str(a["mixed_by_interpolation"]))]
    for key, label in (("keypoints3d", "3D keypoints"), ("markers3d", "3D markers (LSTM)")):
        k = m.get(key, {})
        if k.get("status") == "ok":
            head = " (headline)" if "aligned" in k else ""
            raw_mm = k["raw"]["mpjpe_mm"] if "raw" in k else k["mpjpe_mm"]
            rows.append((label, "MPJPE in truth's world (mm)" + (head if k["world"] == "truth" else ""), _fmt(raw_mm)))
            if "aligned" in k:
                rows.append((label, "MPJPE after world alignment (mm)" + (head if k["world"] == "aligned" else ""),
                             _fmt(k["aligned"]["mpjpe_mm"])))
            rows += [(label, "median / p95 (mm)",
                     f"{_fmt(k['median_mm'])} / {_fmt(k['p95_mm'])}"),
                     (label, "> 50 mm (%)", _fmt(100 * k["frac_over_50mm"])),
                     (label, "coverage (%)", _fmt(100 * k["coverage"]))]
    j = m.get("joint_angles", {})
    if j.get("status") == "ok":
        nc = j.get("not_comparable") or []
        label = "RMSE (deg, mean over coordinates" + (", pelvis global excluded)" if nc else ")")
        rows += [("joint angles", label, _fmt(j["mean_rmse_deg"], 2))]
        for n in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l", "ankle_angle_l"):
            if n in j["per_coordinate"]:
                v = j["per_coordinate"][n]
                rows.append(("joint angles", f"{n} RMSE / max (deg)", f"{_fmt(v['rmse'], 2)} / {_fmt(v['max'], 2)}"))
    g = m.get("gait", {})
    if g.get("status") == "ok":
        for key, label, nd in (("cadence_steps_per_min", "cadence (steps/min)", 1), ("speed_m_per_s", "speed (m/s)", 3),
                               ("stride_length_m", "stride length (m)", 3), ("step_length_m", "step length (m)", 3)):
            rows.append(("gait", f"{label}: estimate / truth / error %",
                         f"{_fmt(g[key]['estimate'], nd)} / {_fmt(g[key]['truth'], nd)} / {_fmt(g[key]['error_percent'], 2)}"))
        rows.append(("gait", "heel strike time error (ms, mean |e| / max)",
                     f"{_fmt(g['heel_strike_ms']['mean_abs'])} / {_fmt(g['heel_strike_ms']['max_abs'])}"))
        rows += gait_cycle_rows(g.get("cycles", {}))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * (sum(w) + 4))
    al = c.get("aligned") if c.get("status") == "ok" else None
    if al:
        lines.append(f"world aligned to truth: rotation {al['rotation_deg']:.2f} deg, translation "
                     f"{al['translation_mm']:.1f} mm (from camera centres and orientations); world frames "
                     + ("differ: 3D errors are given after alignment, raw ones in the truth's world too"
                        if al["frames_differ"] else "agree: 3D errors in the truth's world"))
    if j.get("status") == "ok" and j.get("not_comparable"):
        lines.append("not comparable (world frames differ): " + ", ".join(j["not_comparable"]))
    for key in ("calibration", "synchronization", "association", "keypoints3d", "markers3d", "joint_angles", "gait"):
        if m.get(key, {}).get("status") == MISSING:
            lines.append(f"not evaluated: {key}: {m[key]['reason']}")
    return "\n".join(lines)
