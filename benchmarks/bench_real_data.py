#!/usr/bin/env python
"""Real footage: mocap3d on Pose2Sim's own demos (and Pose2Sim itself on the same 2D keypoints).

The pose2sim 0.10.49 wheel is fetched once from PyPI into the cache folder
(``pip download pose2sim==0.10.49 --no-deps``; never part of mocap3d) for its
Demo_SinglePerson, Demo_Batch and Demo_MultiPerson videos and calibrations. Each
demo is copied to a work folder and run as a user would:
``python -m mocap3d run <demo> --set pose.pose_model=BLAZEPOSE`` (the demos name an
RTMPose model that is not shipped offline), first the pose stage, then the stages
from 2D keypoints to the ``.mot`` (synchronization ... kinematics), each in its own
process so that its CPU time is measured. The 2D JSON -> .mot totals are whole
processes (start-up and imports included) for both tools; per-stage figures
are each tool's own stage timings.

Printed per trial: each stage's wall time, the 2D -> .mot total (wall and CPU),
the reprojection error (px, mm), IK marker RMS (mm), frames kept, persons found,
and the synchronization offsets with the mean reprojection error of the
person's observations (every camera's, capped at 50 px:
``synchronization.triangulation_check``) at offsets around them (a real capture has no truth: the offsets applied should
sit at the minimum; a ``*`` marks it).

With ``--pose2sim PYTHON`` (the interpreter of an environment where
``pip install pose2sim==0.10.49 opensim`` was run), Pose2Sim's stages run on a
copy of the same demo with mocap3d's 2D keypoints (``pose/``), through
``benchmarks/pose2sim_driver.py``, and both are printed side by side.
Pose2Sim's synchronization is timed, but its offsets are reported only (its
output is removed before its association, so both tools triangulate the
recorded frames when mocap3d finds no offset to apply).

Timings are disturbed by whatever else runs on the machine; each stage's CPU
time is printed too, and ``--repeat N`` runs both tools N times from the 2D
JSON, interleaved, and prints the medians (per-stage figures are the first run's).

Usage:
    python benchmarks/bench_real_data.py [--demos single,batch,multi] [--pose2sim PYTHON]
                                         [--cache DIR] [--work DIR] [--no-profile] [--repeat N]
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WHEEL_SPEC = "pose2sim==0.10.49"
DEMOS = {"single": ("Demo_SinglePerson", ["."]), "batch": ("Demo_Batch", ["Trial_1", "Trial_2"]),
         "multi": ("Demo_MultiPerson", ["."])}
POSE = ["calibration", "pose"]
TO_MOT = ["synchronization", "association", "triangulation", "filtering", "augmentation", "kinematics"]
P2S_TO_MOT = ["synchronization", "personAssociation", "triangulation", "filtering", "markerAugmentation",
              "kinematics"]
DELTAS = (-2, -1, 0, 1, 2)


# ----------------------------------------------------------------------------- inputs
def fetch_demos(cache: Path) -> Path:
    """Pose2Sim's package folder (with its Demo_* folders), from the wheel downloaded once into ``cache``."""
    out = cache / "extracted" / "Pose2Sim"
    if (out / "Demo_SinglePerson").is_dir():
        return out
    wheels = sorted(cache.glob("pose2sim-0.10.49-*.whl"))
    if not wheels:
        print(f"downloading {WHEEL_SPEC} (once) into {cache}")
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL_SPEC, "--no-deps", "-q", "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("pose2sim-0.10.49-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        members = [m for m in z.namelist() if m.startswith(("Pose2Sim/Demo_", "Pose2Sim/OpenSim_Setup/"))]
        z.extractall(cache / "extracted", members)
    return out


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_process(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, stdout + stderr) of a command; raises on failure."""
    t, c = time.perf_counter(), cpu_children()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, cpu_children() - c
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return wall, cpu, p.stdout + p.stderr


# ----------------------------------------------------------------------------- mocap3d
def run_ours(session: Path, stages: list[str], label: str, reuse: bool = False
             ) -> tuple[float, float, dict[tuple[str, str], float]]:
    """Run ``mocap3d run`` on ``stages``; (wall, CPU, {(trial, stage): seconds}), kept in bench_<label>.json."""
    saved = session / f"bench_{label}.json"
    if reuse and saved.is_file():
        d = json.loads(saved.read_text())
        return d["wall"], d["cpu"], {tuple(k.split("|")): v for k, v in d["stages"].items()}
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    lst = "[" + ",".join(f"'{s}'" for s in stages) + "]"
    wall, cpu, _ = run_process([sys.executable, "-m", "mocap3d", "run", str(session), "-q",
                                "--set", "pose.pose_model=BLAZEPOSE", "--set", f"project.stages={lst}"], env=env)
    rep = json.loads((session / "run_report.json").read_text())
    failed = [r for r in rep["results"] if r["status"] == "failed"]
    if failed:
        raise RuntimeError(f"mocap3d failed: {failed}")
    times = {(r["trial"], r["stage"]): r["seconds"] for r in rep["results"]}
    saved.write_text(json.dumps({"wall": wall, "cpu": cpu, "stages": {"|".join(k): v for k, v in times.items()}}))
    return wall, cpu, times


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def our_results(trial: Path) -> dict:
    """Persons, frames kept, reprojection error (px, mm) and IK marker RMS (mm) from the stage reports."""
    tri = read_json(trial / "pose-3d" / "triangulation_report.json")
    kin = read_json(trial / "kinematics" / "kinematics_report.json")
    persons = tri.get("persons", [])
    rms = [p["marker_error_mm"]["rms_mean"] for p in kin.get("persons", []) if p.get("marker_error_mm")]
    return {"persons": len(persons),
            "frames_kept": [p["n_frames_kept"] for p in persons],
            "reproj_px": [p["reprojection_error_px"]["mean"] for p in persons],
            "reproj_mm": [p["reprojection_error_mm"]["mean"] for p in persons],
            "ik_rms_mm": rms}


def offset_profile(trial_dir: Path) -> dict:
    """Offsets applied, those found (if not applied), and the mean reprojection error (px) of the
    person triangulated with each camera's offset moved by DELTAS frames."""
    import logging
    from mocap3d.project import discover
    from mocap3d.synchronization import load_inputs, triangulation_check
    logging.getLogger("mocap3d").setLevel(logging.ERROR)
    rep = read_json(trial_dir / "pose-sync" / "synchronization_report.json")
    trial = discover(trial_dir, overrides={"pose.pose_model": "BLAZEPOSE"})[0]
    kp, rig, _, opts = load_inputs(trial)
    applied = np.array([rep["offsets_frames"][c] for c in kp.cameras])
    found = rep.get("offsets_found_frames")
    out = {"cameras": kp.cameras, "applied": applied.tolist(), "found": [found[c] for c in kp.cameras] if found else None,
           "reference": rep.get("reference_camera"), "fell_back": rep.get("fell_back_to_no_offsets"), "profile": {}}
    if rig is None:
        return out
    for c, cam in enumerate(kp.cameras):
        if cam == out["reference"]:
            continue
        errs = []
        for d in DELTAS:
            o = applied.copy()
            o[c] += d
            errs.append(triangulation_check(rig, kp, o, opts)["observed_px"])
        out["profile"][cam] = errs
    return out


# ----------------------------------------------------------------------------- Pose2Sim
def run_pose2sim(python: str, session: Path, trials: list[str], reuse: bool = False) -> dict[str, dict]:
    """Pose2Sim's stages on each trial (already holding mocap3d's pose/): times and results (kept in
    bench_pose2sim.json)."""
    driver = ROOT / "benchmarks" / "pose2sim_driver.py"
    saved = session / "bench_pose2sim.json"
    if reuse and saved.is_file():
        return json.loads(saved.read_text())
    out = {}
    for t in trials:
        folder = (session / t).resolve()
        _, _, log = run_process([python, str(driver), str(folder), "calibration"])
        ws, cs, log_sync = run_process([python, str(driver), str(folder), "synchronization"])
        sync_text = "\n".join(l.strip() for l in log_sync.splitlines() if "frames offset" in l)
        shutil.rmtree(folder / "pose-sync", ignore_errors=True)   # see the module docstring
        wall, cpu, log = run_process([python, str(driver), str(folder), ",".join(P2S_TO_MOT[1:])])
        times = {m[0]: (float(m[1]), float(m[2])) for m in re.findall(r"P2S_TIME (\w+) ([\d.]+) ([\d.]+)", log_sync + log)}
        logs = (folder / "logs.txt").read_text() if (folder / "logs.txt").is_file() else log
        tri = re.findall(r"Mean reprojection error for all points on .*? is ([\d.]+) px, which roughly corresponds "
                         r"to ([\d.]+) mm", logs)
        frames = re.findall(r"on frames (\d+) to (\d+)", logs)
        rms = []
        for f in sorted((folder / "kinematics").glob("opensim_logs.txt")):
            vals = [float(v) for v in re.findall(r"marker error: RMS = ([\d.eE+-]+)", f.read_text())]
            rms.append(1000 * float(np.mean(vals)) if vals else float("nan"))
        out[t] = {"times": times, "wall": ws + wall, "cpu": cs + cpu, "sync": sync_text,
                  "reproj_px": [float(a) for a, _ in tri], "reproj_mm": [float(b) for _, b in tri],
                  "frames_kept": [int(b) - int(a) for a, b in frames[-len(tri):]] if tri else [],
                  "ik_rms_mm": rms, "mot": [p.name for p in (folder / "kinematics").glob("*.mot")]}
    saved.write_text(json.dumps(out))
    return out


# ----------------------------------------------------------------------------- printing
def fmt(values, spec=".1f") -> str:
    return " / ".join(format(v, spec) for v in values) if values else "-"


def print_trial(name: str, ours: dict, stage_s: dict, to_mot: tuple[float, float], prof: dict | None,
                p2s: dict | None) -> None:
    print(f"\n=== {name}")
    rows = [("stage", "mocap3d s", "Pose2Sim s")]
    p2s_names = dict(zip(TO_MOT, P2S_TO_MOT))
    for st in POSE + TO_MOT:
        other = "-"
        if p2s and st in p2s_names and p2s_names[st] in p2s["times"]:
            w, c = p2s["times"][p2s_names[st]]
            other = f"{w:.1f} (cpu {c:.1f})"
        rows.append((st, f"{stage_s.get(st, float('nan')):.1f}", other))
    rows.append(("2D JSON -> .mot, wall", f"{to_mot[0]:.1f}", f"{p2s['wall']:.1f}" if p2s else "-"))
    rows.append(("2D JSON -> .mot, CPU", f"{to_mot[1]:.1f}", f"{p2s['cpu']:.1f}" if p2s else "-"))
    if p2s:
        rows.append(("speed-up (wall / CPU)", f"{p2s['wall'] / to_mot[0]:.1f}x / {p2s['cpu'] / to_mot[1]:.1f}x", ""))
    rows += [("persons found", str(ours["persons"]), str(len(p2s["reproj_px"])) if p2s else "-"),
             ("frames kept", fmt(ours["frames_kept"], "d"), fmt(p2s["frames_kept"], "d") if p2s else "-"),
             ("reprojection error px", fmt(ours["reproj_px"]), fmt(p2s["reproj_px"]) if p2s else "-"),
             ("reprojection error mm", fmt(ours["reproj_mm"]), fmt(p2s["reproj_mm"]) if p2s else "-"),
             ("IK marker RMS mm", fmt(ours["ik_rms_mm"]), fmt(p2s["ik_rms_mm"]) if p2s else "-")]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}")
    if prof:
        print(f"  synchronization: offsets applied {dict(zip(prof['cameras'], np.round(prof['applied'], 2).tolist()))}"
              + (f"; found {np.round(prof['found'], 2).tolist()} but not applied (triangulated worse)"
                 if prof.get("fell_back") else "") + f", reference {prof['reference']}")
        if prof["profile"]:
            print("  mean reprojection error (px) with one camera's offset moved by " + ", ".join(f"{d:+d}" for d in DELTAS)
                  + " frames (* = lowest):")
            for cam, errs in prof["profile"].items():
                i = int(np.nanargmin(errs))
                print(f"    {cam}: " + "  ".join(f"{e:6.2f}{'*' if j == i else ' '}" for j, e in enumerate(errs)))
    if p2s and p2s["sync"]:
        print("  Pose2Sim's synchronization (timed, not applied): " + "; ".join(p2s["sync"].splitlines()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demos", default="single,batch,multi")
    ap.add_argument("--pose2sim", metavar="PYTHON", help="Python of an environment with pose2sim 0.10.49 and opensim")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("MOCAP3D_BENCH_CACHE",
                                                                      Path.home() / ".cache" / "mocap3d" / "pose2sim")))
    ap.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--no-profile", action="store_true", help="skip the reprojection error around the offsets")
    ap.add_argument("--reuse", action="store_true", help="with --work: print the results of an earlier run again")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tool from 2D JSON to .mot, interleaved (ours, Pose2Sim, Pose2Sim, ours...); "
                         "the medians are printed (the load of a shared machine changes between runs)")
    a = ap.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    demos_root = fetch_demos(a.cache)
    # Byte-compile mocap3d once, as pip does on install (Pose2Sim's installed wheel is compiled): in a source
    # checkout under PYTHONDONTWRITEBYTECODE every run would otherwise compile the package again (~0.15 CPU-s).
    compileall.compile_dir(str(ROOT / "mocap3d"), quiet=1)
    work = a.work or Path(tempfile.mkdtemp(prefix="mocap3d-real-"))
    print(f"demos from {demos_root}; work folder {work}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    for key in a.demos.split(","):
        demo, trials = DEMOS[key]
        ours_dir = work / "mocap3d" / demo
        reuse = a.reuse and (ours_dir / "bench_to_mot.json").is_file()
        if not reuse:
            shutil.rmtree(ours_dir, ignore_errors=True)
            shutil.copytree(demos_root / demo, ours_dir)
        _, _, pose_s = run_ours(ours_dir, POSE, "pose", reuse)
        ours_runs, p2s_runs = [], []
        for r in range(1 if reuse else max(1, a.repeat)):
            for who in ("ours", "p2s") if r % 2 == 0 else ("p2s", "ours"):
                os.sync()       # the previous run's (or copy's) unwritten data would slow this run's file creation
                if who == "ours":
                    ours_runs.append(run_ours(ours_dir, TO_MOT, "to_mot" if r == 0 else f"to_mot_{r}", reuse))
                elif a.pose2sim:
                    p2s_dir = work / "pose2sim" / demo
                    if not (reuse and (p2s_dir / "bench_pose2sim.json").is_file()):
                        shutil.rmtree(p2s_dir, ignore_errors=True)
                        shutil.copytree(demos_root / demo, p2s_dir)
                        for t in trials:
                            shutil.copytree(ours_dir / t / "pose", p2s_dir / t / "pose",
                                            ignore=shutil.ignore_patterns("*.mp4", "*.json.tmp"))
                    p2s_runs.append(run_pose2sim(a.pose2sim, p2s_dir, trials, reuse))
        wall, cpu = (float(np.median([run[i] for run in ours_runs])) for i in (0, 1))
        mot_s = ours_runs[0][2]
        p2s_all = None
        if p2s_runs:
            p2s_all = p2s_runs[0]
            for t in trials:
                for key in ("wall", "cpu"):
                    p2s_all[t][key] = float(np.median([run[t][key] for run in p2s_runs]))
        if len(ours_runs) > 1:
            print(f"{demo}: 2D JSON -> .mot CPU s per run, ours {[round(run[1], 2) for run in ours_runs]}, Pose2Sim "
                  f"{[round(sum(run[t]['cpu'] for t in trials), 2) for run in p2s_runs]} (medians below); "
                  f"load average {os.getloadavg()[0]:.1f}")
        for t in trials:
            tname = demo if t == "." else t
            stage_s = {st: s for (tr, st), s in {**pose_s, **mot_s}.items() if tr == tname}
            # Whole processes as a user runs them (start-up and imports included) for both tools; several
            # trials share one process: each gets its share of the stages' time.
            own = sum(stage_s.get(st, 0.0) for st in TO_MOT)
            share = own / (sum(s for (_, st), s in mot_s.items() if st in TO_MOT) or 1.0)
            prof = None if a.no_profile else offset_profile(ours_dir / t)
            print_trial(f"{demo}/{t}" if t != "." else demo, our_results(ours_dir / t), stage_s,
                        (wall * share, cpu * share), prof, p2s_all[t] if p2s_all else None)
        sys.stdout.flush()
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
