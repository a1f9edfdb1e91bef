#!/usr/bin/env python
"""Batch throughput: trials per minute serially and on a local Dask cluster of 1 and 2 worker processes.

A synthetic session (``mocap3d.synthetic.make_session``: 2 participants, one
4-camera rig, walking trials; stages calibration (reused), triangulation,
filtering, kinematics) is copied once per mode and run with ``mocap3d.run``.
Cluster start-up and a warm-up trial in each process (imports such as OpenSim,
caches; run on a throw-away copy) are timed apart: the throughput is the steady
state of a long batch. The per-task overhead is the 1-worker
run minus the serial run, per trial; a no-op Dask round trip is timed too.
CPU seconds per trial (this process, or the workers) are printed because the
wall times depend on what else runs on the machine (the load is printed).

Usage: python benchmarks/bench_batch.py [--trials 12] [--frames 600] [--dir DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mocap3d  # noqa: E402
from mocap3d.synthetic import make_session  # noqa: E402


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _cpu_of_workers(client) -> float:
    return sum(client.run(time.process_time).values())


def _warm(session: str) -> None:
    """Run the first trial once on a throw-away copy: imports (OpenSim...) and caches, as a first trial would."""
    from mocap3d.batch import trial_task
    from mocap3d.project import discover
    src = Path(session)
    tmp = Path(tempfile.mkdtemp(prefix="warm_"))
    try:
        shutil.copy(src / "Config.toml", tmp / "Config.toml")
        shutil.copytree(src / "calibration", tmp / "calibration")
        shutil.copytree(src / "P01" / "T01", tmp / "P01" / "T01")
        (trial,) = discover(tmp)
        trial_task(trial, list(trial.config["project"]["stages"]), {})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_mode(session: Path, work: Path, workers: int) -> dict[str, float]:
    """Run a fresh copy of ``session``; ``workers`` 0 = serial. Wall and CPU seconds."""
    folder = work / f"run_{workers}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(session, folder)
    out: dict[str, float] = {}
    if workers == 0:
        _warm(str(session))
        c0, t0 = time.process_time(), time.perf_counter()
        mocap3d.run(folder, quiet=True)
        out["wall"], out["cpu"] = time.perf_counter() - t0, time.process_time() - c0
        return out
    from mocap3d.batch import BatchOptions, open_client
    t0 = time.perf_counter()
    with open_client(BatchOptions(workers=workers), {}) as client:     # the cluster of `mocap3d run --workers N`
        client.run(_warm, str(session))
        out["startup"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(50):                                     # a no-op round trip, one after another
            client.submit(int, 1, pure=False).result()
        out["noop_ms"] = (time.perf_counter() - t1) / 50 * 1000
        c0, t0 = _cpu_of_workers(client), time.perf_counter()
        mocap3d.run(folder, client=client, quiet=True)
        out["wall"], out["cpu"] = time.perf_counter() - t0, _cpu_of_workers(client) - c0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12, help="trials in the session (even; 2 participants)")
    ap.add_argument("--frames", type=int, default=600, help="frames per trial at 60 Hz (600: ~3 s of CPU per trial)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    n = max(2, args.trials - args.trials % 2)
    session = work / f"session_{n}x{args.frames}"
    if not (session / "Config.toml").is_file():
        t0 = time.perf_counter()
        make_session(session, participants=2, trials=n // 2, n_frames=args.frames)
        print(f"session of {n} trials x {args.frames} frames written in {time.perf_counter() - t0:.1f} s")
    print(f"cores {os.cpu_count()}, load before {_load()}")
    res = {}
    for workers in (0, 1, 2):
        res[workers] = run_mode(session, work, workers)
        r = res[workers]
        name = "serial" if workers == 0 else f"{workers} worker(s)"
        extra = f", cluster start {r['startup']:.1f} s, no-op task {r['noop_ms']:.1f} ms" if workers else ""
        print(f"{name:>12}: {n} trials in {r['wall']:6.1f} s = {60 * n / r['wall']:5.1f} trials/min, "
              f"{r['wall'] / n:.2f} s/trial wall, {r['cpu'] / n:.2f} s/trial CPU{extra}  (load {_load()})", flush=True)
    overhead = (res[1]["wall"] - res[0]["wall"]) / n
    print(f"overhead per task (1 worker vs serial): {overhead * 1000:+.0f} ms wall, "
          f"{(res[1]['cpu'] - res[0]['cpu']) / n * 1000:+.0f} ms CPU")
    print(f"speed-up with 2 workers: {res[0]['wall'] / res[2]['wall']:.2f}x over serial, "
          f"{res[1]['wall'] / res[2]['wall']:.2f}x over 1 worker (target >= 1.8x on 2 idle cores)")
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
