"""Bulk read speed of OpenPose JSON folders: prints files/s.

Writes a synthetic pose folder (default 4 cameras x 3000 frames, 1 person,
HALPE_26) to a temporary directory, then times ``read_openpose_folders`` on
it (warm page cache, best of ``--repeat`` runs) against a plain sequential
``json.load`` loop of the same files.

    python benchmarks/bench_openpose_read.py --cameras 4 --frames 3000
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mocap3d.io.openpose import read_openpose_folders, write_openpose_folders
from mocap3d.keypoints import Keypoints2D


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--persons", type=int, default=1)
    ap.add_argument("--keypoints", type=int, default=26)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    shape = (a.cameras, a.frames, a.persons, a.keypoints)
    data = np.concatenate([rng.uniform(0, 1920, shape + (2,)), rng.uniform(0.1, 1, shape + (1,))], axis=-1)
    kp = Keypoints2D(data, [f"cam{i + 1:02d}" for i in range(a.cameras)], [str(i) for i in range(a.keypoints)],
                     np.arange(a.frames), 30.0)
    n_files = a.cameras * a.frames
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_openpose_folders(kp, tmp)
        t_write = time.perf_counter() - t0
        files = sorted(Path(tmp).glob("*_json/*.json"))
        best = t_plain = np.inf
        for _ in range(a.repeat):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            back = read_openpose_folders(tmp, workers=a.workers)
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for f in files:
                with open(f) as fh:
                    json.load(fh)
            t_plain = min(t_plain, time.perf_counter() - t0)
        assert np.array_equal(back.data, kp.data, equal_nan=True)
    print(f"{a.cameras} cameras x {a.frames} frames = {n_files} files, {a.persons} person(s) x {a.keypoints} keypoints")
    print(f"write_openpose_folders: {t_write:.2f} s ({n_files / t_write:.0f} files/s, atomic per file)")
    print(f"read_openpose_folders:  {best:.3f} s ({n_files / best:.0f} files/s, best of {a.repeat})")
    print(f"plain json.load loop:   {t_plain:.3f} s ({n_files / t_plain:.0f} files/s, parse only, no array, "
          f"best of {a.repeat})")


if __name__ == "__main__":
    main()
