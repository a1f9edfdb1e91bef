"""Triangulation speed: prints timings (no assertion; tests check correctness).

Usage: python benchmarks/bench_triangulation.py [--repeat N]

Inputs are synthetic captures (mocap3d.synthetic.make_capture: walking, HALPE_26,
1.5 px noise, 10% missed detections, 5% left/right swaps). Timed: the whole
per-person triangulation (swap correction, outlier-camera rejection, temporal
refinement, gap interpolation, trimming) = mocap3d.triangulation.triangulate_person.
Reference: Pose2Sim 0.10.49 took 66 s for 3000 frames x 4 cameras x 26 keypoints.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mocap3d.synthetic.capture import make_capture
from mocap3d.triangulation import TriangulationOptions, triangulate_person

POSE2SIM_3000x4_S = 66.0


def capture(n_cameras: int, n_frames: int, seed: int = 0):
    return make_capture(n_cameras, "walking", n_frames=n_frames, rate=60, noise_px=1.5, missing=0.10, swaps=0.05,
                        occlusion=False, seed=seed)


def timed(cap, repeat: int) -> float:
    kp = cap.keypoints2d
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        triangulate_person(cap.rig, kp.data[:, :, 0], kp.keypoints, kp.frames, kp.rate, TriangulationOptions())
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the best time is printed")
    args = ap.parse_args()
    t = timed(capture(4, 3000), args.repeat)
    print(f"3000 frames x 4 cameras x 26 keypoints: {t:.2f} s ({1000 * t / 3000:.2f} ms/frame); "
          f"Pose2Sim 0.10.49: {POSE2SIM_3000x4_S:.0f} s -> {POSE2SIM_3000x4_S / t:.0f}x faster")
    t = timed(capture(16, 1000), args.repeat)
    print(f"1000 frames x 16 cameras x 26 keypoints: {t:.2f} s ({1000 * t / 1000:.2f} ms/frame)")
    print("linearity in frames (4 cameras):")
    for n in (500, 1000, 2000, 4000):
        t = timed(capture(4, n), args.repeat)
        print(f"  {n:5d} frames: {t:.3f} s  = {1000 * t / n:.3f} ms/frame")


if __name__ == "__main__":
    main()
