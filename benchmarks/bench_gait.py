"""Benchmark of the gait report against the geometric contact truth of synthetic captures.

1. Multi-camera (4 cameras, 1 px noise, 60 Hz), walking (4 s) and running (2.5 s), several seeds:
   foot strike and toe-off errors (ms) against the moment the model's sole reaches / leaves the floor
   (``mocap3d.synthetic.contacts``), per-cycle cadence / speed / stride length errors (%), stance, swing,
   double support (trial means, points of the cycle), running contact and flight time (ms).
2. Time-normalized joint angles (walking, seed 0, through kinematics): RMSE of each side's mean curve
   against the truth's.
3. The monocular path (``--monocular``): one phone, side view, 1.5 px, 2 % missed keypoints, no lifter,
   walking 6 s: the same figures.

Usage::

    python benchmarks/bench_gait.py [--seeds 4] [--work DIR] [--monocular]

Nothing here is fetched from the network; times are not measured (see the stage's report for those).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def figures(cap, report: dict, curves_csv: Path | None = None) -> dict:
    """Errors of one gait report against the capture's truth."""
    from mocap3d.gait.curves import cycle_curves, mean_sd
    from mocap3d.synthetic.contacts import foot_contacts, truth_cycles
    truth = foot_contacts(cap)
    out: dict = {"mode": report.get("mode"), "status": report["status"]}
    if report["status"] != "ok":
        return out | {"reason": report.get("reason")}
    for key in ("strikes_s", "toe_offs_s"):
        e = []
        for s in ("right", "left"):
            tru = np.asarray(truth[s][key])
            e += [x - tru[np.argmin(np.abs(tru - x))] for x in report["events"][s][key] if tru[0] - 0.1 < x < tru[-1] + 0.1]
        e = 1000 * np.asarray(e)
        out[key] = {"mean_ms": float(e.mean()), "mean_abs_ms": float(np.abs(e).mean()), "max_abs_ms": float(np.abs(e).max())}
    rows = truth_cycles(cap)
    for key in ("cadence_steps_per_min", "speed_m_per_s", "stride_length_m"):
        e = []
        for r in report["cycles"]:
            ref = min((t for t in rows if t["side"] == r["side"]), key=lambda t: abs(t["start_s"] - r["start_s"]))
            e.append(100 * (r[key] / ref[key] - 1))
        out[key + "_per_cycle_max_abs_pct"] = float(np.max(np.abs(e)))
    keys = ("contact_time_s", "flight_time_s") if report["mode"] == "running" else \
        ("stance_percent", "swing_percent", "double_support_percent")
    for key in keys:
        est = np.mean([r[key] for r in report["cycles"] if key in r])
        ref = np.mean([r[key] for r in rows if key in r and np.isfinite(r[key])])
        out[key] = {"estimate": float(est), "truth": float(ref), "error": float(est - ref)}
    if curves_csv is not None and curves_csv.is_file():
        m = cap.motion
        tr = mean_sd(cycle_curves(m.times, {n: m.values[:, k] for k, n in enumerate(m.names)}, rows))
        est = np.genfromtxt(curves_csv, delimiter=",", names=True)
        out["curves_rmse_deg"] = {f"{b}_{c}": float(np.sqrt(np.mean((est[f"{b}_{c}_mean_deg"] - tr[s][f"{b}_{c}"][0]) ** 2)))
                                  for s, c in (("right", "r"), ("left", "l"))
                                  for b in ("hip_flexion", "knee_angle", "ankle_angle")}
    return out


def run(cap, folder: Path, stages) -> tuple[dict, Path | None]:
    from mocap3d.synthetic import write_capture
    shutil.rmtree(folder, ignore_errors=True)
    write_capture(cap, folder)
    for stage in stages:
        (res,) = stage(folder, quiet=True)
        if res.status != "ok":
            raise SystemExit(f"{folder}: {res}")
    detail = next((folder / "gait").glob("*_gait.json"))
    curves = next((folder / "gait").glob("*_curves.csv"), None)
    return json.loads(detail.read_text()), curves


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--monocular", action="store_true", help="also the one-phone side view")
    args = ap.parse_args(argv)
    import mocap3d.api as api
    from mocap3d.synthetic import make_capture
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_gait_"))
    for motion, frames in (("walking", 240), ("running", 150)):
        for seed in range(args.seeds):
            cap = make_capture(4, motion, frames, 60.0, noise_px=1.0, occlusion=False, seed=seed)
            stages = [api.triangulation, api.filtering] + ([api.kinematics] if motion == "walking" and seed == 0 else []) + [api.gait]
            report, curves = run(cap, work / f"{motion}{seed}", stages)
            print(f"{motion} seed {seed}:", json.dumps(figures(cap, report, curves), indent=None, default=float))
    if args.monocular:
        from mocap3d.synthetic import single_camera_rig
        cap = make_capture(1, "walking", 360, 60.0, rig=single_camera_rig("side", seed=1), noise_px=1.5,
                           missing=0.02, seed=3)
        report, curves = run(cap, work / "monocular_side", [api.monocular, api.filtering, api.kinematics, api.gait])
        print("monocular side view:", json.dumps(figures(cap, report, curves), indent=None, default=float))


if __name__ == "__main__":
    main()
