#!/usr/bin/env python
"""Kinematics stage on a real trial: wall and CPU time of the stage and its parts, marker residuals.

Runs ``mocap3d kinematics`` on a copy of TRIAL's ``pose-3d/*.trc`` and
``Config.toml`` (the trial folder itself is not written), in this process,
and prints per repetition: the stage's wall and CPU seconds and their split
into reading, scaling (segment lengths and model scaling, posture
refinement, marker placement), inverse kinematics and writing; then the
marker RMS and, with ``--markers``, every marker's mean and RMS residual (mm).
The machine may be shared: CPU seconds are less disturbed than wall seconds;
``--repeat`` prints the median.

Usage: python benchmarks/bench_kinematics_real.py TRIAL [--set kinematics.use_augmentation=false] [--repeat 3]
       [--markers]
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mocap3d.kinematics import pipeline, stage  # noqa: E402
from mocap3d.project import discover  # noqa: E402

#: Timed functions of the pipeline module: name -> part label.
_PARTS = {"kinematics_from_markers": "kinematics", "scale_from_markers": "scaling", "_refine": "refinement",
          "place_markers": "placement"}


def _instrument(spent: dict[str, list[float]]) -> None:
    """Wrap the pipeline's steps so that each call adds its (wall, cpu) seconds to ``spent``."""
    for name, label in _PARTS.items():
        func = getattr(pipeline, name)

        def timed(*args, _func=func, _label=label, **kwargs):
            t, c = time.perf_counter(), time.process_time()
            try:
                return _func(*args, **kwargs)
            finally:
                spent[_label][0] += time.perf_counter() - t
                spent[_label][1] += time.process_time() - c

        setattr(pipeline, name, timed)


def run_once(trial_dir: Path, sets: list[str]) -> tuple[dict, dict[str, list[float]], float, float]:
    """One kinematics stage on a copy of the trial: (report, parts {label: [wall, cpu]}, wall s, cpu s)."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / trial_dir.name
        (copy / "pose-3d").mkdir(parents=True)
        for f in (trial_dir / "pose-3d").glob("*.trc"):
            shutil.copy2(f, copy / "pose-3d" / f.name)
        if (trial_dir / "Config.toml").is_file():
            shutil.copy2(trial_dir / "Config.toml", copy / "Config.toml")
        trial = discover(copy, overrides=sets or None, require_calibration=False)[0]
        originals = {n: getattr(pipeline, n) for n in _PARTS}
        _instrument(spent)
        try:
            t, c = time.perf_counter(), time.process_time()
            report = stage.run_kinematics(trial)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        finally:
            for n, f in originals.items():
                setattr(pipeline, n, f)
    return report, spent, wall, cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trial", type=Path, help="a trial folder with pose-3d/*.trc (e.g. after `mocap3d run`)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config override, as for the mocap3d CLI (repeatable)")
    ap.add_argument("--repeat", type=int, default=1, help="repetitions (median printed; default 1)")
    ap.add_argument("--markers", action="store_true", help="print every marker's residual")
    args = ap.parse_args(argv)
    if not (args.trial / "pose-3d").is_dir():
        sys.exit(f"{args.trial}/pose-3d not found: give a trial folder whose triangulation has run")
    import opensim as osim
    osim.Logger.setLevelString("warn")
    logging.getLogger("mocap3d").setLevel(logging.WARNING)
    rows = []
    for _ in range(max(1, args.repeat)):
        report, spent, wall, cpu = run_once(args.trial, args.sets)
        kin, sc = spent["kinematics"], spent["scaling"]
        parts = {"scaling (lengths, scale)": [sc[i] - spent["refinement"][i] - spent["placement"][i] for i in (0, 1)],
                 "posture refinement": spent["refinement"], "marker placement": spent["placement"],
                 "inverse kinematics": [kin[i] - sc[i] for i in (0, 1)],
                 "reading, writing, rest": [(wall, cpu)[i] - kin[i] for i in (0, 1)]}
        rows.append((wall, cpu, parts))
        p = report["persons"][0]
        print(f"stage {wall:6.2f} s wall, {cpu:6.2f} s CPU  ({report['input_kind']}, {p['frames']} frames, "
              f"{len(p['markers_used'])} markers, marker RMS {p['marker_error_mm']['rms_mean']:.1f} mm, "
              f"max {p['marker_error_mm']['max']:.1f} mm)")
        for k, (w, c) in parts.items():
            print(f"    {k:26s} {w:6.2f} s wall  {c:6.2f} s CPU")
    if len(rows) > 1:
        print(f"median of {len(rows)}: {np.median([r[0] for r in rows]):.2f} s wall, "
              f"{np.median([r[1] for r in rows]):.2f} s CPU")
    if args.markers:
        p = report["persons"][0]
        per = p["marker_error_mm"]["per_marker_mean"]
        print(f"{'marker':18s} {'weight':>6s} {'mean mm':>8s}")
        for n in sorted(per, key=per.get, reverse=True):
            print(f"{n:18s} {p['marker_weights'].get(n, 0):6.2f} {per[n]:8.1f}")


if __name__ == "__main__":
    main()
