#!/usr/bin/env python
"""Run Pose2Sim's stages on one trial folder, headless, and print each stage's wall and CPU seconds.

Run by bench_real_data.py with the Python of a Pose2Sim install (it never imports mocap3d):

    python pose2sim_driver.py TRIAL_DIR calibration,personAssociation,... [--pose-model BLAZEPOSE]

The trial's Config.toml (merged over its session's, as Pose2Sim does for batches)
is given to Pose2Sim as a dictionary with every window and GUI turned off.
Prints one line per stage: ``P2S_TIME <stage> <wall s> <cpu s>``.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tomllib
from pathlib import Path


def merged(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trial")
    ap.add_argument("stages")
    ap.add_argument("--pose-model", default="BLAZEPOSE")
    a = ap.parse_args()
    trial = Path(a.trial).resolve()
    cfg: dict = {}
    if (trial.parent / "Config.toml").is_file():
        cfg = tomllib.loads((trial.parent / "Config.toml").read_text())
        cfg.setdefault("project", {})["session_dir"] = str(trial.parent)
    cfg = merged(cfg, tomllib.loads((trial / "Config.toml").read_text()))
    cfg["project"]["project_dir"] = str(trial)
    cfg["project"].setdefault("session_dir", str(trial))
    cfg["pose"]["pose_model"] = a.pose_model
    cfg["pose"]["display_detection"] = False
    cfg["synchronization"].update(synchronization_gui=False, display_sync_plots=False, save_sync_plots=False)
    cfg.setdefault("filtering", {}).update(display_figures=False, save_filt_plots=False)
    os.chdir(trial)
    from Pose2Sim import Pose2Sim
    for stage in a.stages.split(","):
        t, c = time.perf_counter(), cpu()
        # Given a dictionary, Pose2Sim's calibration looks for calibration/ in project_dir itself
        run_cfg = merged(cfg, {"project": {"project_dir": cfg["project"]["session_dir"]}}) \
            if stage == "calibration" else cfg
        getattr(Pose2Sim, stage)(run_cfg)
        print(f"P2S_TIME {stage} {time.perf_counter() - t:.3f} {cpu() - c:.3f}", flush=True)


if __name__ == "__main__":
    main()
