"""Benchmark of the monocular path: speed, focal-length sensitivity, and real videos against four cameras.

1. Speed: lifting + placement + model fit per frame (CPU ms, median of repeats) on
   a synthetic side-view walk, with no lifter and with a lifted 3D (a stand-in
   built from the truth with lifter-like depth errors; BlazePose's own lifting is
   part of its pose inference and costs nothing more here).
1b. The 45 deg view's flexion errors on eight captures (seeds 1-8; the test uses 3).
2. Focal-length sensitivity: the same walk (side and 45 deg views, height known)
   solved with a focal length 10 % too short / too long: errors of walking speed,
   stride length and pelvis depth.
3. Real data: Pose2Sim's Demo_SinglePerson (four phones, 60 fps). The pose2sim
   0.10.49 wheel is fetched once from PyPI into the cache (``pip download
   pose2sim==0.10.49 --no-deps``; never part of mocap3d). Reference: our four-camera
   pipeline (BlazePose, sync, association, triangulation, filtering, augmentation,
   kinematics). Then each camera alone, default lifter ('auto' = BlazePose's world
   landmarks), with its calibrated intrinsics and with the default field of view:
   RMSE of hip / knee / ankle flexion and of the pelvis position (after the best
   rotation about the vertical + translation between the two worlds) against the
   four-camera result, and the time.
   How exact is that reference? The same pipeline on three of the four cameras
   (each left out in turn, from the same synchronized and associated 2D) against
   the four-camera result: the spread a 5 deg comparison has to fit within.
   Per frame, the three-camera runs' RMS difference from the reference; frames
   within 5 deg are "stable", and each camera's RMSE is printed again over those
   frames only (``|st``). That table also gives how much of the hip flexion
   difference is the pelvis/lumbar trade (RMSE of hip flexion minus lumbar
   extension) and the frames whose lumbar extension rests on its 45 deg limit.
   ``--kinematics-set KEY=VALUE`` applies to the kinematics of every run, the
   reference included (e.g. ``kinematics.keypoint_lumbar_weight=1e-3``; own folders).
   Where the error comes from (``--sources``): each camera's model fit with its
   2D keypoints and its 3D prior each taken either from the camera (BlazePose 2D,
   BlazePose world landmarks) or from the four-camera 3D (projected into the
   camera / put in its axes); knee angle measured on the 3D keypoints, fit vs
   four-camera triangulation (no augmentation or IK in between).
   ``--pose-model lite|full|heavy``: BlazePose's landmark model of the one-camera runs (and of the video, 4.);
   ``--reference-pose-model``: that of the four-camera reference (default: the same). Each model's four-camera
   run is kept in ``--work`` (``four_cameras`` for full, ``four_cameras_<model>`` otherwise) with its mean
   reprojection error and IK marker RMS printed; the one-camera runs (and ``--sources``) take their 2D and 3D
   landmarks from the run of their model.
4. A 10 s, 60 fps phone video (the demo's cam01 video played forward and back to
   600 frames, alone in a trial folder: mocap3d's default Config) from video file
   to .mot: ``mocap3d run`` (pose, monocular, filtering, augmentation, kinematics)
   in a new process, wall and CPU seconds of the process tree.

Usage::

    python benchmarks/bench_monocular.py [--cache DIR] [--work DIR] [--skip-real] [--skip-video]

Times are CPU seconds of this process (plus wall seconds); the machine may be
shared, so wall times can be longer than on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_data import fetch_demos  # noqa: E402  (one wheel cache for both benchmarks)

FLEXION = ("hip_flexion", "knee_angle", "ankle_angle")


# ----------------------------------------------------------------------------- synthetic
def walk(view: str, n_frames: int, seed: int = 3):
    from mocap3d.synthetic import make_capture, single_camera_rig
    return make_capture(1, "walking", n_frames=n_frames, rate=60.0, rig=single_camera_rig(view, seed=1),
                        noise_px=1.5, missing=0.02, seed=seed)


def standin(cap):
    """Lifter stand-in: true root-relative 3D, depth x0.8 + 3 cm noise, 1 cm noise across, 10 % size error."""
    from mocap3d.monocular.pipeline import Lifted
    names = list(cap.skeleton.names)
    xc = cap.rig[0].world_to_camera(cap.keypoints3d.data[:, [cap.keypoints3d.names.index(n) for n in names]])
    xc = xc - xc[:, names.index("Hip")][:, None]
    rng = np.random.default_rng(0)
    xc = xc + rng.normal(0, 0.01, xc.shape)
    xc[..., 2] = 0.8 * xc[..., 2] + rng.normal(0, 0.03, xc.shape[:2])
    return Lifted(1.1 * xc, np.ones(xc.shape[:2]), True, "stand-in")


def solve(cap, lifted, camera=None):
    from mocap3d.monocular.pipeline import reconstruct
    from mocap3d.synthetic.body import scaled_model
    model, _ = scaled_model(1.75, cap.skeleton.name)
    F = cap.keypoints2d.n_frames
    return reconstruct(cap.keypoints2d.data[0, :, 0], list(cap.skeleton.names), np.arange(F),
                       camera or cap.rig[0], 60.0, model, 1.75, lifted, show_progress=False)


def bench_speed(n_frames: int = 300, repeat: int = 5) -> None:
    print(f"\n1. speed: lifting + placement + model fit, synthetic side-view walk, {n_frames} frames")
    cap = walk("side", n_frames)
    solve(walk("side", 30), None)                                   # model built and cached
    for name, lifted in (("none", None), ("lifted 3D", standin(cap))):
        cpu = []
        for _ in range(repeat):
            t = time.process_time()
            res = solve(cap, lifted)
            cpu.append(time.process_time() - t)
        it = ", ".join(f"{x:.1f}" for x in res.fit.iterations)
        kept = len(res.frames)                                      # the frames with the person in view
        print(f"   {name:10s} {1000 * np.median(cpu) / kept:6.2f} ms per fitted frame CPU ({kept} of {n_frames} "
              f"frames; median of {repeat}; solver iterations per frame and pass: {it})")


def bench_seeds(view: str = "45", seeds: tuple[int, ...] = tuple(range(1, 9)), n_frames: int = 120) -> None:
    """Flexion RMSE of the test's walk (tests/test_monocular.py: seed 3) on other captures of the same rig."""
    print(f"\n1b. {view} deg view, {n_frames} frames, capture seeds {seeds}: flexion RMSE (deg, right / left)")
    for name in ("none", "stand-in"):
        rows = []
        for seed in seeds:
            cap = walk(view, n_frames, seed)
            res = solve(cap, standin(cap) if name == "stand-in" else None)
            f, m = res.frames, cap.motion
            rows.append([np.sqrt(np.mean((np.degrees(res.fit.values[:, res.fit.coordinates.index(f"{c}_{s}")])
                                          - m[f"{c}_{s}"][f]) ** 2)) for c in FLEXION for s in "rl"])
        r = np.array(rows)
        for label, v in [(f"seed {s}", row) for s, row in zip(seeds, r)] + [("mean", r.mean(0))]:
            print(f"   {name:9s} {label:7s} " + "  ".join(f"{c.split('_')[0]} {v[2 * i]:.2f} / {v[2 * i + 1]:.2f}"
                                                     for i, c in enumerate(FLEXION)))


def bench_focal(n_frames: int = 120) -> None:
    from mocap3d.camera import Camera
    print("\n2. focal-length sensitivity (height known, no lifter): errors vs truth")
    print(f"   {'view':7s} {'focal':>6s} {'speed %':>8s} {'stride %':>9s} {'depth cm':>9s} {'knee deg':>9s}")
    for view in ("side", "45"):
        cap = walk(view, n_frames)
        cam = cap.rig[0]
        m = cap.motion
        for k in (0.9, 1.0, 1.1):
            K = cam.matrix.copy()
            K[0, 0] *= k
            K[1, 1] *= k
            wrong = Camera(cam.name, cam.size, K, cam.distortions, fisheye=cam.fisheye)
            # the detector saw the true image: the wrong K only changes how pixels are read
            res = solve(cap, None, wrong)
            f = res.frames
            v = res.fit.values
            ci = res.fit.coordinates.index
            est = v[:, [ci("pelvis_tx"), ci("pelvis_tz")]]
            tru = np.stack([m["pelvis_tx"][f], m["pelvis_tz"][f]], 1)
            speed = np.linalg.norm(est[-1] - est[0]) / np.linalg.norm(tru[-1] - tru[0]) - 1
            period = m.events["period"][0]
            hs = [int(round((t + period / 2) * 60)) for t in m.events["right_heel_strike"]]
            hs = [h for h in hs if f[0] <= h <= f[-1]][:2]
            heel = res.points[:, res.names.index("LHeel")][:, [0, 2]]
            th = cap.keypoints3d.data[:, cap.keypoints3d.names.index("LHeel")][:, [0, 2]]
            stride = np.linalg.norm(heel[hs[1] - f[0]] - heel[hs[0] - f[0]]) / np.linalg.norm(th[hs[1]] - th[hs[0]]) - 1
            xc = res.frame.to_camera(res.points[:, res.names.index("Hip")])
            xt = cam.world_to_camera(cap.keypoints3d.data[f][:, cap.keypoints3d.names.index("Hip")])
            depth = np.mean(xc[:, 2] - xt[:, 2])
            knee = np.sqrt(np.mean((np.degrees(v[:, ci("knee_angle_r")]) - m["knee_angle_r"][f]) ** 2))
            print(f"   {view:7s} {k:6.2f} {100 * speed:8.1f} {100 * stride:9.1f} {100 * depth:9.1f} {knee:9.2f}")


# ----------------------------------------------------------------------------- real data
def read_mot(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from mocap3d.io.mot import read_mot as _read
    t = _read(path)
    cols = {c: np.asarray(t.data[:, i]) for i, c in enumerate(t.columns)}
    return np.asarray(t.times), cols


def timed_run(trial: Path, stages: list[str], **overrides) -> tuple[float, float]:
    import mocap3d
    w, c = time.perf_counter(), time.process_time()
    mocap3d.run(trial, stages=stages, quiet=True, **overrides)
    return time.perf_counter() - w, time.process_time() - c


def align_yaw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` (N, 3) rotated about Y and translated onto ``b`` (least squares)."""
    ca, cb = a - a.mean(0), b - b.mean(0)
    num = np.sum(ca[:, 2] * cb[:, 0] - ca[:, 0] * cb[:, 2])
    den = np.sum(ca[:, 0] * cb[:, 0] + ca[:, 2] * cb[:, 2])
    th = np.arctan2(num, den)
    R = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
    return ca @ R.T + b.mean(0)


def compare(ours: Path, ref: Path, offset_frames: float, rate: float,
            stable: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """RMSE (deg, L and R) of flexion against the reference and pelvis position (cm); with ``stable`` (coordinate ->
    (reference frames, 2) bool, R and L) also ``<coordinate>_stable``: the RMSE over the reference's stable frames."""
    t, o = read_mot(ours)
    tr, r = read_mot(ref)
    tt = t + offset_frames / rate                           # our camera's clock -> the common clock
    ok = (tt >= tr[0]) & (tt <= tr[-1])
    out = {}
    for c in FLEXION:
        errs = [np.interp(tt[ok], tr, r[f"{c}_{s}"]) - o[f"{c}_{s}"][ok] for s in "rl"]
        out[c] = float(np.sqrt(np.mean(np.square(errs))))
        if stable is not None:
            keep = [np.interp(tt[ok], tr, stable[c][:, i].astype(float)) > 0.5 for i in range(2)]
            e = np.concatenate([err[k] for err, k in zip(errs, keep)])
            out[f"{c}_stable"] = float(np.sqrt(np.mean(np.square(e)))) if len(e) else float("nan")
    P = np.stack([o[f"pelvis_t{a}"][ok] for a in "xyz"], 1)
    Q = np.stack([np.interp(tt[ok], tr, r[f"pelvis_t{a}"]) for a in "xyz"], 1)
    out["pelvis_cm"] = float(100 * np.sqrt(np.mean(np.sum((align_yaw(P, Q) - Q) ** 2, 1))))
    out["frames"] = int(ok.sum())
    return out


#: The reference is called stable at a frame (per coordinate and side) when the pipeline rerun without one of its
#: cameras (each in turn) lands within this many degrees of it, RMS over the four reruns: a 5 deg comparison needs
#: a reference better than 5 deg.
STABLE_DEG = 5.0
#: Our model's lumbar_extension upper limit (deg): IK solutions resting on it are the pelvis/lumbar trade below.
LUMBAR_LIMIT_DEG = 45.0


def _tag(overrides: dict) -> str:
    """A folder-name suffix for a set of config overrides ('' for none)."""
    return "".join(f"_{k.split('.')[-1]}-{v}" for k, v in sorted(overrides.items()))


def bench_reference_spread(ref: Path, work: Path, ref_mot: Path, cameras: list[str],
                           kin: dict | None = None) -> dict[str, np.ndarray]:
    """The four-camera pipeline rerun on three cameras (each left out in turn) against the four-camera result.

    Returns, per flexion coordinate, (reference frames, 2) bool (R, L): frames where the three-camera runs are within
    :data:`STABLE_DEG` of the reference (RMS over the runs). Also prints how much of the hip flexion difference is the pelvis/lumbar
    trade (the three hip keypoints are collinear, so the pelvis's rotation about the hip axis is only weakly seen):
    the RMSE of the difference of hip flexion minus lumbar extension, and the frames whose lumbar extension rests
    on its limit.
    """
    kin = kin or {}
    print("\n3b. the reference's own spread: three cameras (one left out) vs four, same 2D, sync and association")
    print(f"   {'left out':9s} {'hip':>5s} {'knee':>5s} {'ankle':>6s} {'pelvis cm':>9s} {'hip*':>5s} {'knee*':>5s} "
          f"{'hip-lumb':>8s} {'lumbar at limit (frames)':>24s}  (flexion RMSE, deg; L and R; * on the 3D keypoints: "
          f"trunk-thigh and knee angles; hip-lumb: of hip flexion minus lumbar extension; limit "
          f"{LUMBAR_LIMIT_DEG:.0f} deg: this run / the reference)")
    tr, r = read_mot(ref_mot)
    at_limit = lambda x: int(np.sum(x["lumbar_extension"] >= LUMBAR_LIMIT_DEG - 1))   # noqa: E731
    dev = {c: np.zeros((len(tr), 2)) for c in FLEXION}             # sum of squared differences
    for drop in cameras:
        trial = work / f"without_{drop}{_tag(kin)}" / ref.name        # same trial name: same file stems
        shutil.rmtree(trial.parent, ignore_errors=True)
        trial.mkdir(parents=True)
        shutil.copy(ref / "Config.toml", trial / "Config.toml")
        shutil.copytree(ref / "calibration", trial / "calibration")
        for sub in ("pose-sync", "pose-associated"):
            shutil.copytree(ref / sub, trial / sub, ignore=shutil.ignore_patterns(f"{drop}_json"))
        timed_run(trial, ["triangulation", "filtering", "augmentation", "kinematics"],
                  **{"pose.pose_model": "BLAZEPOSE", **kin})
        mot = sorted((trial / "kinematics").glob("*.mot"))[0]
        e = compare(mot, ref_mot, 0.0, 60.0)
        k = compare_keypoints(_raw_trc(trial), _raw_trc(ref), 0.0)
        t, o = read_mot(mot)
        for c in FLEXION:
            d = np.stack([np.interp(tr, t, o[f"{c}_{s}"], left=np.nan, right=np.nan) - r[f"{c}_{s}"] for s in "rl"], 1)
            dev[c] += np.where(np.isfinite(d), d * d, np.inf)
        dl = np.interp(tr, t, o["lumbar_extension"]) - r["lumbar_extension"]
        split = np.sqrt(np.mean([(np.interp(tr, t, o[f"hip_flexion_{s}"]) - r[f"hip_flexion_{s}"] - dl) ** 2
                                 for s in "rl"]))
        print(f"   {drop:9s} {e['hip_flexion']:5.1f} {e['knee_angle']:5.1f} {e['ankle_angle']:6.1f} {e['pelvis_cm']:9.1f} "
              f"{k['trunk_thigh']:5.1f} {k['knee']:5.1f} {split:8.1f} {at_limit(o):>14d} / {at_limit(r):d}")
    stable = {c: np.sqrt(d / len(cameras)) <= STABLE_DEG for c, d in dev.items()}
    print(f"   stable reference frames (three-camera runs within {STABLE_DEG:.0f} deg RMS), of {len(tr)}, R / L: "
          + ", ".join(f"{c.split('_')[0]} {v[:, 0].sum()} / {v[:, 1].sum()}" for c, v in stable.items()))
    for c in ("hip_flexion", "knee_angle"):
        from mocap3d.filtering.runs import runs as true_runs
        runs = [f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in true_runs(~stable[c].all(1))]
        print(f"   {c.split('_')[0]} unstable at reference frames (0-based): {', '.join(runs) or '-'}")
    return stable


def _knee_angles(x: np.ndarray, names: list[str]) -> np.ndarray:
    """(F, 2) right / left knee flexion (deg, 0 = straight) from hip, knee, ankle keypoints (F, K, 3)."""
    out = []
    for s in "RL":
        a, k, b = (x[:, names.index(s + n)] for n in ("Hip", "Knee", "Ankle"))
        u, v = a - k, b - k
        c = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        out.append(180 - np.degrees(np.arccos(np.clip(c, -1, 1))))
    return np.stack(out, 1)


def _raw_trc(trial: Path) -> Path:
    """The trial's unfiltered 3D keypoints: pose-3d/<trial>_<first>-<last>.trc (the shortest such name)."""
    return sorted((trial / "pose-3d").glob("*_[0-9]*-[0-9]*.trc"), key=lambda p: len(p.name))[0]


def keypoint_angles(x: np.ndarray, names: list[str]) -> np.ndarray:
    """(F, 4) knee R, L and trunk-thigh R, L flexion (deg, 0 = straight) from 3D keypoints (F, K, 3).

    Trunk-thigh: the thigh (hip -> knee) against the trunk (mid-hip -> mid-shoulder), i.e. hip flexion plus
    lumbar flexion, without the pelvis orientation that IK has to guess from three collinear hip keypoints.
    """
    g = {n: x[:, names.index(n)] for n in ("LHip", "RHip", "LShoulder", "RShoulder", "LKnee", "RKnee")}
    trunk = (g["LShoulder"] + g["RShoulder"] - g["LHip"] - g["RHip"]) / 2
    out = [_knee_angles(x, names)]
    for s in "RL":
        thigh = g[s + "Knee"] - g[s + "Hip"]
        c = np.sum(trunk * thigh, -1) / (np.linalg.norm(trunk, axis=-1) * np.linalg.norm(thigh, axis=-1))
        out.append(180 - np.degrees(np.arccos(np.clip(c, -1, 1)))[:, None])
    return np.concatenate(out, 1)


def compare_keypoints(ours: Path, ref: Path, offset_frames: float) -> dict[str, float]:
    """RMSE (deg, L and R) of the keypoint angles of two .trc files, ours shifted to the common clock."""
    from mocap3d.io.trc import read_trc
    a, b = read_trc(ours), read_trc(ref)
    names = ["LHip", "RHip", "LShoulder", "RShoulder", "LKnee", "RKnee", "LAnkle", "RAnkle"]
    xa = keypoint_angles(a.data[:, [a.names.index(n) for n in names]], names)
    xb = keypoint_angles(b.data[:, [b.names.index(n) for n in names]], names)
    t = a.first_frame + np.arange(len(xa)) + offset_frames
    tb = b.first_frame + np.arange(len(xb))
    ref_at = np.stack([np.interp(t, tb, c, left=np.nan, right=np.nan) for c in xb.T], 1)
    e = xa - ref_at
    return {"knee": float(np.sqrt(np.nanmean(e[:, :2] ** 2))), "trunk_thigh": float(np.sqrt(np.nanmean(e[:, 2:] ** 2)))}


def bench_depth_sources(ref: Path, cameras: list[str], sync: dict[str, float], height: float,
                        overrides: dict | None = None, pose: Path | None = None) -> None:
    """Knee angle RMSE of each camera's fit with its 2D / 3D prior from the camera (``pose``: a pose/ folder,
    default the reference's) or from the four-camera 3D."""
    from mocap3d.io.calibration_toml import read_calibration
    from mocap3d.io.openpose import read_openpose_folders
    from mocap3d.io.trc import read_trc
    from mocap3d.monocular.lifters import lift, lifted_to_skeleton
    from mocap3d.monocular.pipeline import Lifted, reconstruct
    from mocap3d.monocular.swaps import correct_swaps
    from mocap3d.skeletons import get_skeleton
    from mocap3d.synthetic.body import scaled_model
    from mocap3d.triangulation.inputs import calibration_file
    from mocap3d.config import overrides_layer
    from mocap3d.monocular.stage import MonocularOptions
    opts = MonocularOptions.from_config(overrides_layer(overrides or {})).refine()
    rig = read_calibration(calibration_file(ref / "calibration"))
    trc = read_trc(_raw_trc(ref))
    sk = get_skeleton("BLAZEPOSE")
    names = list(sk.names)
    model, _ = scaled_model(round(height, 3), sk.name)
    t_ref = trc.first_frame + np.arange(trc.data.shape[0])
    X = trc.data[:, [trc.names.index(n) for n in names]][..., [2, 0, 1]]         # .trc Y up -> calibration Z up

    def ref_at(frames: np.ndarray) -> np.ndarray:
        flat = X.reshape(len(X), -1)
        return np.stack([np.interp(frames, t_ref, c, left=np.nan, right=np.nan) for c in flat.T], 1).reshape(
            (len(frames),) + X.shape[1:])

    print("\n3c. where the error comes from: knee flexion RMSE (deg, L and R) of the fitted 3D keypoints vs the "
          "four-camera 3D,\n    2D keypoints / 3D prior taken from the camera (BlazePose) or from the four-camera 3D")
    print(f"   {'camera':7s} {'BlazePose 3D':>13s} {'2D BlazePose':>13s} {'2D four-cam':>12s} {'2D BlazePose':>13s} "
          f"{'2D four-cam':>12s}")
    print(f"   {'':7s} {'alone':>13s} {'3D BlazePose':>13s} {'3D BlazePose':>12s} {'3D four-cam':>13s} {'3D four-cam':>12s}")
    for cam in cameras:
        kp = read_openpose_folders(pose or ref / "pose", cameras=[cam], skeleton=sk, rate=60.0)
        d, frames, c = kp.data[0][:, 0], np.asarray(kp.frames), rig[cam]
        Xw = ref_at(frames + sync[cam])
        xc = c.world_to_camera(Xw)
        hip = (xc[:, names.index("LHip")] + xc[:, names.index("RHip")]) / 2
        four3d = Lifted(xc - hip[:, None], np.ones(xc.shape[:2]), True, "four cameras")
        out = lift("auto", d, names, image_size=tuple(c.size), keypoints_3d=kp.data3d[0][:, 0], model=None, rate=60.0)
        xyz, conf = lifted_to_skeleton(out, names)
        d, xyz, conf, _ = correct_swaps(d, names, xyz, conf, 0.3)        # BlazePose's swaps undone once, for all four
        blaze = Lifted(xyz, conf, True, "blazepose")
        four2d = d.copy()
        four2d[..., :2] = c.project(Xw)
        four2d[..., 2] = np.where(np.isfinite(four2d[..., :2]).all(-1), 0.9, np.nan)
        own = _knee_angles(xyz, names) - _knee_angles(ref_at(frames + sync[cam]), names)
        row = [float(np.sqrt(np.nanmean(own ** 2)))]
        for kpts, prior in ((d, blaze), (four2d, blaze), (d, four3d), (four2d, four3d)):
            res = reconstruct(kpts, names, frames, c, 60.0, model, height, prior, opts, show_progress=False,
                              fix_swaps=False)
            truth = _knee_angles(ref_at(res.frames + sync[cam]), names)
            row.append(float(np.sqrt(np.nanmean((_knee_angles(res.points, res.names) - truth) ** 2))))
        print(f"   {cam:7s} {row[0]:13.1f} {row[1]:13.1f} {row[2]:12.1f} {row[3]:13.1f} {row[4]:12.1f}")


def four_cameras(src: Path, work: Path, model: str = "full") -> Path:
    """The four-camera run of Demo_SinglePerson with BlazePose's ``model`` landmark model (made once in ``work``)."""
    import json
    base = work / ("four_cameras" if model == "full" else f"four_cameras_{model}")
    if not (base / "kinematics").is_dir():
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(src, base)
        print(f"\n3. real data: four-camera reference (BlazePose {model}, 60 fps) ...")
        w, c = timed_run(base, ["calibration", "pose", "synchronization", "association", "triangulation", "filtering",
                                "augmentation", "kinematics"],
                         **{"pose.pose_model": "BLAZEPOSE", "pose.blazepose_model": model})
        print(f"   reference done in {w:.0f} s wall, {c:.0f} s CPU")
    tri = json.loads((base / "pose-3d" / "triangulation_report.json").read_text())["persons"][0]
    ik = json.loads((base / "kinematics" / "kinematics_report.json").read_text())["persons"][0]
    cams = ", ".join(f"{c} {v:.2f}" for c, v in tri["reprojection_error_px"]["per_camera"].items())
    print(f"   four cameras, BlazePose {model}: reprojection error {tri['reprojection_error_px']['mean']:.2f} px "
          f"({cams}), IK marker RMS {ik['marker_error_mm']['rms_mean']:.1f} mm")
    return base


def bench_real(cache: Path, work: Path, cameras: list[str] | None = None,
               intrinsics: tuple[str, ...] = ("calibrated", "default FOV"), spread: bool = True,
               sources: bool = False, overrides: dict | None = None, kin: dict | None = None,
               pose_model: str = "full", reference_model: str | None = None) -> None:
    """``overrides``: the one-camera runs only; ``kin``: kinematics of the reference, the three-camera and the
    one-camera runs alike (the reference's kinematics rerun in its own folder); ``pose_model`` /
    ``reference_model``: BlazePose's landmark model of the one-camera runs / of the reference."""
    import json
    kin = kin or {}
    demos = fetch_demos(cache)
    src = demos / "Demo_SinglePerson"
    base = four_cameras(src, work, reference_model or pose_model)
    own = base if (reference_model or pose_model) == pose_model else four_cameras(src, work, pose_model)
    ref = base.with_name(base.name + _tag(kin))
    if kin and not (ref / "kinematics").is_dir():                 # same 3D, kinematics rerun with ``kin``
        shutil.rmtree(ref, ignore_errors=True)
        shutil.copytree(base, ref, ignore=shutil.ignore_patterns("kinematics", "gait"))
        timed_run(ref, ["kinematics"], **{"pose.pose_model": "BLAZEPOSE", **kin})
    ref_mot = sorted((ref / "kinematics").glob("*.mot"))[0]
    height = json.loads((ref / "kinematics" / "kinematics_report.json").read_text())["persons"][0]["height_m"]
    height = float(height.get("given") or height.get("estimated"))
    sync = json.loads((ref / "pose-sync" / "synchronization_report.json").read_text())["offsets_frames"]
    rate = 60.0
    if sources:
        bench_depth_sources(ref, [c for c in sorted(sync) if not cameras or c in cameras], sync, height, overrides,
                            own / "pose")
    stable = None
    if spread:
        stable = bench_reference_spread(ref, work, ref_mot, [c for c in sorted(sync) if not cameras or c in cameras],
                                        kin)
    print(f"\n3. each camera alone (BlazePose {pose_model}) vs the four-camera result ({ref.name}/{ref_mot.name}); "
          f"participant_height = {height:.2f} m "
          f"(the reference's estimate, as a user would type it)")
    print(f"   {'camera':7s} {'intrinsics':15s} {'lifter':9s} {'hip':>5s} {'knee':>5s} {'ankle':>6s} "
          f"{'pelvis cm':>9s} {'hip*':>5s} {'knee*':>5s} {'frames':>6s} {'swaps':>5s} {'wall s':>7s} {'CPU s':>6s}"
          + (f" {'hip|st':>6s} {'knee|st':>7s} {'ankle|st':>8s}" if stable else "")
          + "  (flexion RMSE, deg; L and R; * on the 3D keypoints: trunk-thigh and knee angles; swaps: frames "
          f"relabelled left/right" + ("; |st: on the reference's stable frames only (3b)" if stable else "") + ")")
    for cam in [c for c in sorted(sync) if not cameras or c in cameras]:
        for intr in intrinsics:
            trial = work / f"{cam}_{intr.split()[0]}{_tag(kin)}"
            shutil.rmtree(trial, ignore_errors=True)
            trial.mkdir(parents=True)
            shutil.copy(ref / "Config.toml", trial / "Config.toml")
            (trial / "videos").mkdir()
            shutil.copy(ref / "videos" / f"{cam}.mp4", trial / "videos" / f"{cam}.mp4")
            shutil.copytree(own / "pose" / f"{cam}_json", trial / "pose" / f"{cam}_json")
            if intr == "calibrated":
                from mocap3d.io.calibration_toml import read_calibration, write_calibration
                from mocap3d.triangulation.inputs import calibration_file
                rig = read_calibration(calibration_file(ref / "calibration"))
                write_calibration(rig.subset([cam]), trial / "calibration" / "Calib.toml")
            w, c = timed_run(trial, ["triangulation", "filtering", "augmentation", "kinematics"],
                             **{"pose.pose_model": "BLAZEPOSE", "project.participant_height": height,
                                "project.frame_range": "all", **kin, **(overrides or {})})
            rep = json.loads((trial / "pose-3d" / "monocular_report.json").read_text())
            e = compare(sorted((trial / "kinematics").glob("*.mot"))[0], ref_mot, float(sync[cam]), rate, stable)
            swaps = (rep.get("left_right_swaps") or {}).get("frames_swapped_any_group", "-")
            k = compare_keypoints(_raw_trc(trial), _raw_trc(ref), float(sync[cam]))
            print(f"   {cam:7s} {intr:15s} {rep['lifter']:9s} {e['hip_flexion']:5.1f} {e['knee_angle']:5.1f} "
                  f"{e['ankle_angle']:6.1f} {e['pelvis_cm']:9.1f} {k['trunk_thigh']:5.1f} {k['knee']:5.1f} "
                  f"{e['frames']:6d} {swaps:>5} {w:7.1f} {c:6.1f}"
                  + (f" {e['hip_flexion_stable']:6.1f} {e['knee_angle_stable']:7.1f} {e['ankle_angle_stable']:8.1f}"
                     if stable else ""))


def bench_video(work: Path, cache: Path, pose_model: str = "full") -> None:
    """Video file -> .mot as a user runs it: ``mocap3d run`` in a fresh process on a trial folder holding only
    the video (mocap3d's default Config: BlazePose, no overlay video, participant_height 'auto')."""
    import json
    import cv2
    from bench_real_data import run_process
    demos = fetch_demos(cache)
    src = demos / "Demo_SinglePerson" / "videos"
    vid = sorted(src.glob("*.mp4"))[0]
    trial = work / "ten_seconds"
    shutil.rmtree(trial, ignore_errors=True)
    (trial / "videos").mkdir(parents=True)
    cap = cv2.VideoCapture(str(vid))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(trial / "videos" / "phone.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 60.0, (w, h))
    seq = frames + frames[::-1]                                  # forward then backward: no jump at the loop
    for i in range(600):
        out.write(seq[i % len(seq)])
    out.release()
    stages = ["pose", "triangulation", "filtering", "augmentation", "kinematics"]
    print(f"\n4. a 10 s, 60 fps phone video ({w}x{h}, 600 frames) from video to .mot "
          f"(`mocap3d run` in a new process; load before: {os.getloadavg()[0]:.1f}) ...")
    wall, cpu, _ = run_process([sys.executable, "-m", "mocap3d", "run", str(trial), "-q",
                                "--set", f"project.stages={stages!r}", "--set", f"pose.blazepose_model={pose_model}"],
                               cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT), "MOCAP3D_NO_PROGRESS": "1"})
    rep = json.loads((trial / "run_report.json").read_text())
    per = ", ".join(f"{r['stage']} {r['seconds']:.1f}" for r in rep["results"])
    pose = json.loads((trial / "pose" / "pose_report.json").read_text())["cameras"][0]
    print(f"   video -> .mot: {wall:.1f} s wall, {cpu:.1f} s CPU (process tree); target < 30 s on 2 cores; load after: "
          f"{os.getloadavg()[0]:.1f}\n   stage wall seconds: {per} (the rest: Python start and imports)\n"
          f"   pose: {pose['cpu_seconds']:.1f} s CPU for {pose['frames']} frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("MOCAP3D_BENCH_CACHE",
                                                                      Path.home() / ".cache" / "mocap3d" / "pose2sim")))
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary folder)")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--cameras", nargs="*", help="real data: only these cameras (e.g. cam01)")
    ap.add_argument("--calibrated-only", action="store_true", help="real data: only the calibrated intrinsics")
    ap.add_argument("--skip-spread", action="store_true", help="real data: skip the three-camera reference runs")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="real data: a config override for the "
                    "one-camera runs, e.g. monocular.subtalar_sigma_deg=10 (repeatable)")
    ap.add_argument("--kinematics-set", action="append", metavar="KEY=VALUE", help="real data: a config override for "
                    "the kinematics of the reference and of every run, e.g. kinematics.keypoint_lumbar_weight=1e-3")
    ap.add_argument("--sources", action="store_true", help="real data: where the error comes from (2D / 3D prior "
                    "from the camera or from the four-camera 3D)")
    ap.add_argument("--pose-model", default="full", choices=("lite", "full", "heavy"),
                    help="BlazePose landmark model of the one-camera runs and of the video (default full)")
    ap.add_argument("--reference-pose-model", choices=("lite", "full", "heavy"),
                    help="BlazePose landmark model of the four-camera reference (default: --pose-model)")
    a = ap.parse_args()
    from mocap3d.config import parse_set
    os.environ.setdefault("MOCAP3D_NO_PROGRESS", "1")
    print(f"machine load (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not a.skip_synthetic:
        bench_speed()
        bench_seeds()
        bench_focal()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench_monocular_"))
    work.mkdir(parents=True, exist_ok=True)
    a.cache.mkdir(parents=True, exist_ok=True)
    if not a.skip_real:
        bench_real(a.cache, work, a.cameras, ("calibrated",) if a.calibrated_only else ("calibrated", "default FOV"),
                   not a.skip_spread, a.sources, dict(parse_set(x) for x in a.set or []),
                   dict(parse_set(x) for x in a.kinematics_set or []), a.pose_model, a.reference_pose_model)
    if not a.skip_video:
        bench_video(work, a.cache, a.pose_model)


if __name__ == "__main__":
    main()
