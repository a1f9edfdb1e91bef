"""Synthetic multi-camera captures with exactly known truth (cameras, motion, offsets, identities).

Quick start::

    from mocap3d.synthetic import make_capture, write_capture
    cap = make_capture(4, "walking", n_frames=120, rate=60, noise_px=1.0, swaps=0.02, seed=0)
    write_capture(cap, "my_trial")      # Pose2Sim-layout trial + my_trial/ground_truth/
"""
from .capture import Capture, make_capture
from .demo import make_demo, run_demo
from .motion import COORDINATES, Motion, make_motion
from . import normative_gait  # noqa: F401  (registers the 'normative_walking' motion)
from .rig import PRESETS, look_at, make_rig, sees_volume, single_camera_rig, walkway_volume
from .session import make_session
from .writer import GROUND_TRUTH, perturb_rig, read_truth, write_capture

__all__ = ["COORDINATES", "Capture", "GROUND_TRUTH", "Motion", "PRESETS", "look_at", "make_capture",
           "make_demo", "make_motion", "make_rig", "make_session", "perturb_rig", "read_truth", "run_demo", "sees_volume",
           "single_camera_rig",
           "walkway_volume", "write_capture"]
