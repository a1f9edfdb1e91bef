#!/usr/bin/env python
"""Calibration benchmark: accuracy and speed on rendered boards with known truth (prints a table).

Intrinsics: focal error (%), principal point error (px), RMS (px) for 6, 10
and 16 views of a 9x6 checkerboard seen by a 1920x1080 camera; detection time
per image. Run: python benchmarks/bench_calibration.py
"""
from __future__ import annotations

import time

import numpy as np

from mocap3d.calibration.boards import Board
from mocap3d.calibration.intrinsics import calibrate_intrinsics
from mocap3d.calibration.render import pixel_rays, random_board_views
from mocap3d.camera import Camera


def main() -> None:
    cam = Camera("bench", (1920, 1080), [[1450, 0, 965], [0, 1452, 538], [0, 0, 1]], [-0.08, 0.03, 0.0004, -0.0002])
    board = Board("checkerboard", (6, 9), 0.04)
    rays = pixel_rays(cam, 2)
    t = time.perf_counter()
    views = random_board_views(cam, board, 16, seed=3, distance=(0.6, 1.0), rays=rays)
    per_view = (time.perf_counter() - t) / 16
    print(f"render + detect: {per_view:.2f} s per 1920x1080 view ({len(views)}/16 detected)")
    print(f"{'views':>5} {'fx err %':>9} {'fy err %':>9} {'pp err px':>10} {'RMS px':>7} {'time s':>7}")
    for n in (6, 10, 16):
        t = time.perf_counter()
        res = calibrate_intrinsics(views[:n], board, cam.size)
        dt = time.perf_counter() - t
        K = res.matrix
        print(f"{n:>5} {100 * (K[0, 0] / cam.matrix[0, 0] - 1):>9.3f} {100 * (K[1, 1] / cam.matrix[1, 1] - 1):>9.3f} "
              f"{np.abs(K[:2, 2] - cam.matrix[:2, 2]).max():>10.2f} {res.rms_px:>7.3f} {dt:>7.2f}")


if __name__ == "__main__":
    main()
