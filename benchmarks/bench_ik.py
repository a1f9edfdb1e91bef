#!/usr/bin/env python
"""IK speed of the mocap3d models: ms/frame per model and solver, and the kinematics stage wall time.

Markers come from forward kinematics of a scaled model walking (gait-like
coordinates, 1.1 s cycle) with Gaussian noise added, so the solver works
as on real data. Prints one line per case: CPU and wall ms/frame, marker RMS
and angle RMSE against the truth. Reference: Pose2Sim 0.10.49's kinematics
stage (OpenSim IK tool, muscle model) ~85 ms/frame on this kind of machine.

Usage: python benchmarks/bench_ik.py [--frames 1200] [--opensim-frames 300] [--noise-mm 3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import opensim as osim  # noqa: E402

from mocap3d.io.trc import write_trc  # noqa: E402
from mocap3d.kinematics import scaling  # noqa: E402
from mocap3d.kinematics.forward import marker_positions  # noqa: E402
from mocap3d.kinematics.ik import solve_ik  # noqa: E402
from mocap3d.kinematics.markersets import attach_markers, default_weights  # noqa: E402
from mocap3d.kinematics.model_builder import build_model  # noqa: E402
from mocap3d.kinematics.stage import run_kinematics  # noqa: E402
from mocap3d.markers import Markers3D  # noqa: E402
from mocap3d.project import Trial  # noqa: E402

RATE = 60.0


def gait(n: int) -> dict[str, np.ndarray]:
    t = np.arange(n) / RATE
    ph = 2 * np.pi * t / 1.1
    d = np.radians
    return {"pelvis_tx": 1.3 * t, "pelvis_ty": 1.0 + 0.02 * np.sin(2 * ph), "pelvis_tilt": d(-5 + 3 * np.sin(2 * ph)),
            "pelvis_list": d(4 * np.sin(ph)), "pelvis_rotation": d(6 * np.sin(ph)),
            "hip_flexion_r": d(10 + 25 * np.sin(ph)), "hip_flexion_l": d(10 - 25 * np.sin(ph)),
            "hip_adduction_r": d(3 * np.sin(ph)), "hip_adduction_l": d(-3 * np.sin(ph)),
            "knee_angle_r": d(30 + 30 * np.sin(ph - 1)), "knee_angle_l": d(30 - 30 * np.sin(ph - 1)),
            "ankle_angle_r": d(5 + 10 * np.sin(ph + 1)), "ankle_angle_l": d(5 - 10 * np.sin(ph + 1)),
            "lumbar_extension": d(-5 + 2 * np.sin(2 * ph)), "lumbar_rotation": d(-4 * np.sin(ph)),
            "arm_flex_r": d(-20 * np.sin(ph)), "arm_flex_l": d(20 * np.sin(ph)),
            "arm_add_r": d(-10 + 0 * t), "arm_add_l": d(-10 + 0 * t),
            "elbow_flex_r": d(30 + 10 * np.sin(ph)), "elbow_flex_l": d(30 - 10 * np.sin(ph))}


def make_markers(variant: str, markerset: str, n: int, noise_mm: float, seed: int = 0):
    model = build_model(variant)
    names = attach_markers(model, markerset)
    scaling.scale_model(model, {model.getBodySet().get(i).getName(): 1.05
                                for i in range(model.getBodySet().getSize())}, 78.0)
    traj = gait(n)
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    pts += np.random.default_rng(seed).normal(0, noise_mm / 1000, pts.shape)
    return model, names, pts, traj


def bench_ik(variant: str, markerset: str, n: int, solver: str, noise_mm: float) -> None:
    model, names, pts, traj = make_markers(variant, markerset, n, noise_mm)
    times = np.arange(n) / RATE
    w = default_weights(markerset, names)
    c0, t0 = time.process_time(), time.perf_counter()
    res = solve_ik(model, pts, names, times, w, solver=solver, show_progress=False)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    keys = [k for k in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r")]
    rmse = {k: float(np.degrees(np.sqrt(np.mean((res.values[:, res.coordinates.index(k)] - traj[k]) ** 2))))
            for k in keys}
    print(f"IK  model={variant:6s} markers={markerset:8s} solver={solver:7s} frames={n:5d}  "
          f"cpu {1000 * cpu / n:6.2f} ms/frame  wall {1000 * wall / n:6.2f} ms/frame  "
          f"marker RMS {1000 * np.nanmean(res.rms_error):.2f} mm  "
          + "  ".join(f"{k} {v:.2f} deg" for k, v in rmse.items()))


def bench_stage(variant: str, n: int, noise_mm: float) -> None:
    _, names, pts, _ = make_markers(variant, "HALPE_26", n, noise_mm)
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        write_trc(Markers3D(pts, names, RATE), trial / "pose-3d" / "walk.trc")
        config = {"project": {"participant_height": "auto", "participant_mass": 78.0},
                  "pose": {"pose_model": "HALPE_26"},
                  "kinematics": {"use_simple_model": variant == "simple", "parallel_workers_kinematics": 1}}
        t0 = time.perf_counter()
        report = run_kinematics(Trial(trial, trial, config))
        wall = time.perf_counter() - t0
    p = report["persons"][0]
    print(f"STAGE model={variant:6s} frames={n:5d}  wall {wall:6.2f} s ({1000 * wall / n:.2f} ms/frame incl. "
          f"reading, scaling, IK, writing)  marker RMS {p['marker_error_mm']['rms_mean']:.2f} mm  "
          f"height est. {p['height_m']['estimated']:.3f} m")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1200, help="frames for the fast solver and the stage (default 1200)")
    ap.add_argument("--opensim-frames", type=int, default=300,
                    help="frames for OpenSim's InverseKinematicsSolver (slower; default 300, 0 = skip)")
    ap.add_argument("--noise-mm", type=float, default=3.0, help="marker noise standard deviation (default 3 mm)")
    args = ap.parse_args(argv)
    osim.Logger.setLevelString("warn")
    import logging
    logging.getLogger("mocap3d").setLevel(logging.WARNING)
    for variant in ("full", "simple"):
        for ms in ("HALPE_26", "LSTM"):
            bench_ik(variant, ms, args.frames, "fast", args.noise_mm)
            if args.opensim_frames:
                bench_ik(variant, ms, args.opensim_frames, "opensim", args.noise_mm)
    for variant in ("full", "simple"):
        bench_stage(variant, args.frames, args.noise_mm)


if __name__ == "__main__":
    main()
