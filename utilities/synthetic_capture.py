#!/usr/bin/env python
"""Write a synthetic multi-camera capture with exact ground truth (Pose2Sim trial layout).

Cameras placed like phones/GoPros around a walkway, our OpenSim model driven by
a realistic motion, OpenPose JSON with optional detector-like corruptions, and
ground_truth/ (true .trc, .mot, calibration, offsets, identities). Example:
python synthetic_capture.py -o my_trial --cameras 6 --motion walking --frames 180 --rate 60 --noise 1.5 --swaps 0.02 --max-offset 3 --second-person --calibration-inputs
"""
from mocap3d.io.scripts import parser, run


def _make(a):
    from mocap3d.synthetic import make_capture, write_capture
    from mocap3d.synthetic.boards import write_calibration_inputs
    cap = make_capture(a.cameras, a.motion, a.frames, a.rate, a.skeleton, height=a.height, speed=a.speed,
                       fisheye=a.fisheye, noise_px=a.noise, missing=a.missing, missing_runs=a.missing_runs,
                       swaps=a.swaps, swap_runs=a.swap_runs, second_person=a.second_person,
                       max_offset=a.max_offset, trim_frames=a.trim, seed=a.seed)
    folder = write_capture(cap, a.output)
    if a.calibration_inputs:
        write_calibration_inputs(cap.rig, folder / "calibration", seed=a.seed)
    return folder


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-o", "--output", required=True, help="trial folder to write")
    ap.add_argument("--cameras", type=int, default=4, help="number of cameras (default 4)")
    ap.add_argument("--motion", default="walking", choices=["walking", "running", "squat", "jump"])
    ap.add_argument("--frames", type=int, default=120, help="frames per camera (default 120)")
    ap.add_argument("--rate", type=float, default=60.0, help="frame rate, Hz (default 60)")
    ap.add_argument("--skeleton", default="HALPE_26", help="detector skeleton (default HALPE_26)")
    ap.add_argument("--height", type=float, default=1.75, help="participant height, m (default 1.75)")
    ap.add_argument("--speed", type=float, default=None, help="walking/running speed, m/s")
    ap.add_argument("--fisheye", action="store_true", help="GoPro wide (fisheye) cameras")
    ap.add_argument("--noise", type=float, default=0.0, help="pixel noise sigma, px (default 0)")
    ap.add_argument("--missing", type=float, default=0.0, help="fraction of keypoints missed at random")
    ap.add_argument("--missing-runs", type=int, default=0, help="runs of missed frames per camera")
    ap.add_argument("--swaps", type=float, default=0.0, help="fraction of detections with left/right swapped")
    ap.add_argument("--swap-runs", type=int, default=0, help="runs of swapped frames per camera")
    ap.add_argument("--second-person", action="store_true", help="a second person crosses the scene")
    ap.add_argument("--max-offset", type=float, default=0.0, help="per-camera time offsets up to +-N frames")
    ap.add_argument("--trim", type=int, default=0, help="cameras start/stop up to N frames late/early")
    ap.add_argument("--calibration-inputs", action="store_true",
                    help="also render checkerboard images and scene points into calibration/")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return run(_make, ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
