#!/usr/bin/env python
"""Blender add-on on a processed trial: does the rendered model cover the person's 2D keypoints? (prints a table)

For each camera of the trial's calibration, renders the imported model (Workbench,
headless, bpy) at the exact time of several video frames (the synchronization
offsets applied, sub-frame) and measures, for every detected keypoint (likelihood
> 0.5, undistorted: Blender cameras have no lens distortion), the distance in
full-resolution pixels to the nearest model pixel. The person is the detection
with the highest mean likelihood. Needs ``pip install ".[blender]"`` and a trial
processed up to kinematics with its ``pose/<cam>_json``.

Run: python benchmarks/bench_blender_overlay.py TRIAL [--frames 10 20 30] [--percent 50]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trial", type=Path)
    ap.add_argument("--frames", type=int, nargs="+", default=list(range(10, 90, 10)), help="video frame numbers")
    ap.add_argument("--percent", type=int, default=50, help="render size, percent of the camera image")
    args = ap.parse_args()
    import bpy
    import matplotlib.image as mpimg
    from scipy.ndimage import distance_transform_edt

    from mocap3d.blender_scene import ensure_body_transforms, load_addon
    from mocap3d.io.calibration_toml import read_calibration
    from mocap3d.io.openpose import read_openpose_camera
    ensure_body_transforms(args.trial)
    addon = load_addon()
    addon.register()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.scene.import_trial(args.trial)
    files = addon.readers.find_trial_files(args.trial)
    scene, scale = bpy.context.scene, args.percent / 100
    out = Path(tempfile.mkdtemp())
    rows, every = [], []
    for cam in read_calibration(files.calibration):
        kp = read_openpose_camera(args.trial / "pose" / f"{cam.name}_json")
        addon.scene.use_camera(cam.name, args.percent)
        addon.export._setup_render(args.percent)
        dists = []
        for k in args.frames:
            if k not in kp.frames:
                continue
            t = 1 + k + files.offsets.get(cam.name, 0.0)      # Blender frame of video frame k
            scene.frame_set(int(np.floor(t)), subframe=float(t - np.floor(t)))
            scene.render.filepath = str(out / f"{cam.name}_{k}.png")
            bpy.ops.render.render(write_still=True)
            alpha = mpimg.imread(scene.render.filepath)[..., 3] > 0.2
            det = kp.data[0, list(kp.frames).index(k)]
            det = det[np.nanargmax(np.nan_to_num(np.nanmean(det[:, :, 2], axis=1), nan=-1))]
            uv = cam.undistort_pixels(det[det[:, 2] > 0.5, :2])
            idx = np.clip(np.round((uv + 0.5) * scale - 0.5).astype(int)[:, ::-1], 0, np.array(alpha.shape) - 1)
            dists += list((distance_transform_edt(~alpha) / scale)[idx[:, 0], idx[:, 1]])
        d = np.array(dists)
        every += dists
        rows.append((cam.name, d))
    rows.append(("all", np.array(every)))
    print(f"{'camera':>8} {'keypoints':>9} {'on model':>9} {'median px':>10} {'p95 px':>7}")
    for name, d in rows:
        if len(d):
            print(f"{name:>8} {len(d):>9} {np.mean(d == 0):>8.0%} {np.median(d):>10.1f} {np.percentile(d, 95):>7.1f}")


if __name__ == "__main__":
    main()
