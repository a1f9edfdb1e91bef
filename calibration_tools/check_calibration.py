#!/usr/bin/env python
"""Check a calibration against a trial's 2D keypoints: flags a camera that moved and a wrong camera order.

Reads the trial's latest pose folder (pose-associated/, pose-sync/ or pose/) and the newest
calibration/Calib*.toml (or --calib), prints each camera's median reprojection error (px),
the suspect cameras and, if the pose folders look swapped, the order that fits; writes
<trial>/calibration_check_report.json. Use synchronized keypoints (after synchronization).
Example: python check_calibration.py path/to/trial --person 0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trial", nargs="?", default=".", help="trial folder (default: current folder)")
    ap.add_argument("--calib", help="calibration TOML (default: newest calibration/Calib*.toml)")
    ap.add_argument("--person", type=int, default=0, help="person index in the keypoint files (default 0)")
    ap.add_argument("--min-conf", type=float, default=0.3, help="ignore keypoints below this likelihood")
    args = ap.parse_args(argv)
    from mocap3d.calibration.check import check_trial_calibration
    from mocap3d.errors import Mocap3dError
    from mocap3d.project import Trial
    trial_dir = Path(args.trial).resolve()
    session = trial_dir if (trial_dir / "calibration").is_dir() else trial_dir.parent
    try:
        res = check_trial_calibration(Trial(trial_dir, session, {}), args.calib, args.person, args.min_conf)
    except Mocap3dError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, err in zip(res["cameras"], res["median_error_px"]):
        flag = "  <- suspect" if name in res["suspect_cameras"] else ""
        print(f"{name:<12} median reprojection error {err:8.2f} px{flag}")
    if res.get("hint"):
        print(res["hint"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
