"""Speed of the ground-truth generator: capture generation and board rendering (prints figures).

Run: python benchmarks/bench_synthetic.py
"""
from __future__ import annotations

import time

from mocap3d.synthetic import make_capture, make_rig
from mocap3d.synthetic.boards import intrinsic_views


def main() -> None:
    make_capture(2, "walking", 10, 30.0)  # warm up: builds and caches the OpenSim model
    for n_cameras, n_frames, second in ((4, 300, False), (8, 300, True), (16, 300, True)):
        t = time.perf_counter()
        cap = make_capture(n_cameras, "walking", n_frames, 60.0, noise_px=1.0, swaps=0.01, missing=0.01,
                           second_person=second, max_offset=3.0, seed=0)
        dt = time.perf_counter() - t
        print(f"make_capture: {n_cameras:2d} cameras x {n_frames} frames x {cap.keypoints2d.n_persons} person(s): "
              f"{dt:.2f} s ({1000 * dt / n_frames:.1f} ms/frame)")
    rig = make_rig(4, seed=0)
    for cam in (rig[0], rig[2]):
        t = time.perf_counter()
        intrinsic_views(cam, 3, seed=0)
        print(f"board rendering {cam.size[0]}x{cam.size[1]}: {(time.perf_counter() - t) / 3:.2f} s/image")


if __name__ == "__main__":
    main()
