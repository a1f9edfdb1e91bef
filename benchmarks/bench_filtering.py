"""Speed of every filter and of LSTM marker augmentation: prints seconds per trial.

A trial is ``--markers`` trajectories (x, y, z) of ``--frames`` frames at
``--rate`` Hz: smooth motion plus 5 mm noise, with a few NaN gaps. Each
filter runs on it once after a warm-up; Hampel outlier rejection is timed
separately. With ``--augment`` (needs the LSTM v0.3 files, cached or
downloadable), times :func:`mocap3d.augmentation.augment` on a synthetic
walking capture of the same length.

    python benchmarks/bench_filtering.py --frames 3000 --markers 26
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mocap3d.filtering import FILTERS, filter_array, hampel, settings_from_config


def _trial(frames: int, markers: int, rate: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(frames) / rate
    phase = rng.uniform(0, 2 * np.pi, (markers, 3))
    data = 0.2 * np.sin(2 * np.pi * 1.1 * t[:, None, None] + phase) + rng.normal(0, 0.005, (frames, markers, 3))
    for m in range(0, markers, 5):                                  # a gap every fifth marker
        start = rng.integers(0, max(frames - 20, 1))
        data[start:start + 15, m] = np.nan
    return data


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--markers", type=int, default=26)
    ap.add_argument("--rate", type=float, default=60.0)
    ap.add_argument("--augment", action="store_true", help="also time the LSTM augmentation")
    args = ap.parse_args(argv)
    data = _trial(args.frames, args.markers, args.rate)
    print(f"{args.markers} markers x {args.frames} frames at {args.rate:g} Hz")
    t0 = time.perf_counter()
    _, n = hampel(data)
    print(f"{'hampel (window 7)':24s} {time.perf_counter() - t0:8.3f} s  ({n} samples replaced)")
    for name in FILTERS:
        settings = settings_from_config({"type": name, "reject_outliers": False})
        filter_array(data[:50], args.rate, settings)                 # warm-up (imports, caches)
        t0 = time.perf_counter()
        filter_array(data, args.rate, settings)
        print(f"{name:24s} {time.perf_counter() - t0:8.3f} s")
    if args.augment:
        from mocap3d.augmentation import augment, load_augmenters
        from mocap3d.synthetic import make_capture
        models = load_augmenters()
        cap = make_capture(1, "walking", n_frames=args.frames, rate=args.rate, seed=0)
        augment(cap.keypoints3d.slice_frames(0, 50), cap.height[0], 70.0, models)
        t0 = time.perf_counter()
        augment(cap.keypoints3d, cap.height[0], 70.0, models)
        print(f"{'LSTM augmentation':24s} {time.perf_counter() - t0:8.3f} s")


if __name__ == "__main__":
    main()
