"""Frames per second of the pose stage, per backend.

Makes ``--videos`` portrait phone videos (1080x1920, ``--frames`` frames each) from
matplotlib's sample photograph of a person, then runs ``mocap3d.pose.run_pose`` on
them and prints the total frames per second (decoding + inference + JSON writing):

* BlazePose (offline default) on onnxruntime (mocap3d.pose.blazepose_onnx) and
  through mediapipe's own graph, with one worker process per video, and on
  onnxruntime with a single process;
* the ONNX top-down path (decode, crop, onnxruntime, SimCC decoding) with the
  RTMPose model given by ``--onnx-model`` (a real model, e.g. rtmpose-m HALPE_26),
  or, without it, a tiny constant graph that measures the pipeline's own
  overhead only (labelled as such).

Usage: python benchmarks/bench_pose.py [--videos 4] [--frames 60] [--onnx-model path.onnx]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MOCAP3D_NO_PROGRESS", "1")


def make_videos(folder: Path, n_videos: int, n_frames: int, size: tuple[int, int] = (1080, 1920)) -> None:
    """``n_videos`` mp4 files of the photograph placed in a portrait frame, moving a little each frame."""
    import cv2
    import matplotlib
    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    w, h = size
    scale = 0.8 * w / photo.shape[1]
    person = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    folder.mkdir(parents=True, exist_ok=True)
    for v in range(n_videos):
        vw = cv2.VideoWriter(str(folder / f"cam{v + 1:02d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        for f in range(n_frames):
            frame = np.full((h, w, 3), 60 + 20 * v, np.uint8)
            x, y = int(0.1 * w + 3 * np.sin(f / 5)), int(0.3 * h + 4 * f % 40)
            frame[y:y + person.shape[0], x:x + person.shape[1]] = person
            vw.write(frame)
        vw.release()


def tiny_simcc_model(path: Path, K: int) -> Path:
    """A constant RTMPose-signature graph (input 1x3x256x192, simcc_x 1xKx384, simcc_y 1xKx512)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    sx = np.zeros((1, K, 384), np.float32)
    sy = np.zeros((1, K, 512), np.float32)
    sx[0, :, 192], sy[0, :, 256] = 0.9, 0.9
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], keepdims=0), helper.make_node("Mul", ["m", "zero"], ["z"]),
             helper.make_node("Add", ["cx", "z"], ["simcc_x"]), helper.make_node("Add", ["cy", "z"], ["simcc_y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 192])],
                              [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, K, 384]),
                               helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, K, 512])],
                              [numpy_helper.from_array(np.array(0, np.float32), "zero"),
                               numpy_helper.from_array(sx, "cx"), numpy_helper.from_array(sy, "cy")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(trial_dir: Path, pose: dict) -> dict:
    """``run_pose``'s report plus ``wall`` (s) and ``cpu_all`` (s): CPU time of this process and of the
    worker processes, process start (imports, model loading) included."""
    import resource
    import shutil
    from mocap3d.config import default_config
    from mocap3d.pose import run_pose
    from mocap3d.project import Trial
    shutil.rmtree(trial_dir / "pose", ignore_errors=True)
    cfg = default_config()
    cfg["pose"].update(pose)
    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    t0, c0 = time.perf_counter(), cpu()
    report = run_pose(Trial(trial_dir, trial_dir, cfg))
    report["wall"] = time.perf_counter() - t0
    report["cpu_all"] = cpu() - c0  # pool workers are joined, so their CPU time is counted
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--onnx-model", help="RTMPose HALPE_26 .onnx to time (default: a tiny constant graph)")
    ap.add_argument("--skip-single", action="store_true", help="do not time the single-process BlazePose run")
    ap.add_argument("--workers", type=int, nargs="*", default=[],
                    help="also time BlazePose with these numbers of worker processes (e.g. 3 4)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "trial"
        t0 = time.perf_counter()
        make_videos(trial / "videos", args.videos, args.frames)
        print(f"made {args.videos} videos of 1080x1920 x {args.frames} frames in {time.perf_counter() - t0:.1f} s "
              f"({os.cpu_count()} cores)")
        rows = []
        cases = [("blazepose (onnxruntime, default), 1 process per video", {"parallel_workers_pose": "auto"}),
                 ("blazepose (mediapipe graph), 1 process per video",
                  {"parallel_workers_pose": "auto", "blazepose_runtime": "mediapipe"})]
        cases += [(f"blazepose (onnxruntime), {w} worker processes", {"parallel_workers_pose": w})
                  for w in args.workers]
        if not args.skip_single:
            cases.append(("blazepose (onnxruntime), 1 process", {"parallel_workers_pose": False}))
        model = args.onnx_model or str(tiny_simcc_model(Path(tmp) / "tiny.onnx", 26))
        label = "onnx rtmpose" if args.onnx_model else "onnx pipeline overhead (tiny constant model)"
        cases.append((label + ", 1 process per video", {"pose_model": "HALPE_26", "mode": {"pose_model": model},
                                                         "parallel_workers_pose": "auto"}))
        for name, pose in cases:
            r = run(trial, pose)
            frames = r["frames_total"]
            per_cam = ", ".join(f"{c['camera']} {c['processing_fps']:.1f}" for c in r["cameras"])
            detected = sum(c["frames_with_detection"] for c in r["cameras"])
            cpu_ms = 1e3 * sum(c["cpu_seconds"] for c in r["cameras"]) / frames
            all_ms = 1e3 * r["cpu_all"] / frames
            rows.append((name, r["workers"], frames, r["wall"], frames / r["wall"], cpu_ms, all_ms, detected, per_cam))
        print(f"{'backend':<56} {'workers':>7} {'frames':>6} {'s':>6} {'total fps':>9} {'cpu ms/frame':>12} "
              f"{'fps if 2 cores free':>19} {'incl. start':>11} {'detected':>8}  per-camera fps")
        for name, w, f, s, fps, cpu_ms, all_ms, d, per in rows:
            print(f"{name:<56} {w:>7} {f:>6} {s:>6.1f} {fps:>9.1f} {cpu_ms:>12.1f} {2000 / cpu_ms:>19.1f} "
                  f"{2000 / all_ms:>11.1f} {d:>8}  {per}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average now {load:.2f} on {os.cpu_count()} cores (other processes share them); 'fps if 2 cores "
              "free' = 2 / CPU time per frame of the workers (decode + inference + JSON; excludes process start); "
              "'incl. start' = the same with all CPU time of the run (process start, imports, model loading)")


if __name__ == "__main__":
    main()
