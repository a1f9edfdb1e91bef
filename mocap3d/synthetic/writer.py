"""Write a :class:`~mocap3d.synthetic.capture.Capture` as a Pose2Sim-layout trial folder.

Layout::

    <folder>/Config.toml                 trial overrides (frame rate, skeleton, participant)
    <folder>/calibration/Calib.toml      calibration the pipeline reads (true, or perturbed)
    <folder>/pose/<cam>_json/<cam>_<frame:06d>.json   OpenPose JSON, recorded frames only
    <folder>/ground_truth/               never read by the pipeline:
        keypoints.trc                    true keypoints of person 0 (skeleton.all_names)
        person<i>_keypoints.trc          true keypoints of person i >= 1 (bystanders)
        markers.trc                      true anatomical markers of person 0
        coordinates.mot                  true OpenSim coordinates of person 0 (degrees, metres)
        Calib_true.toml                  true calibration
        offsets.json                     true per-camera offsets (frames) and their convention
        truth.json                       offsets (frames), identities, swaps, recorded frames, settings
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..camera import CameraRig
from ..io.calibration_toml import write_calibration
from ..io.mot import Table, write_mot
from ..io.openpose import write_openpose_folders
from ..io.trc import write_trc
from ..keypoints import Keypoints2D
from ..logs import _jsonable, atomic_write
from .capture import Capture

GROUND_TRUTH = "ground_truth"


def perturb_rig(rig: CameraRig, position_mm: float, angle_deg: float, focal_pct: float, seed: int = 0) -> CameraRig:
    """A copy of ``rig`` with random calibration errors: camera centres moved by
    ``position_mm`` (rms per axis), rotated by ``angle_deg`` (rms per axis) and
    focal lengths scaled by ``focal_pct`` % (rms); camera 0 unchanged."""
    from ..camera import matrix_to_rodrigues, rodrigues_to_matrix
    rng = np.random.default_rng(seed)
    cams = []
    for i, c in enumerate(rig):
        if i == 0:
            cams.append(c.copy())
            continue
        dR = rodrigues_to_matrix(np.radians(rng.normal(0, angle_deg, 3)))
        R = dR @ c.R
        pos = c.position + rng.normal(0, position_mm / 1000, 3)
        K = c.matrix.copy()
        K[:2, :2] *= 1 + rng.normal(0, focal_pct / 100)
        cams.append(c.copy(rotation=matrix_to_rodrigues(R), translation=-R @ pos, matrix=K))
    return CameraRig(cams)


def config_text(capture: Capture, mass: float = 70.0, multi_person: bool = False) -> str:
    """Trial Config.toml overrides (Pose2Sim key names) for a capture.

    ``multi_person`` False: person 0 is the person of interest and any other is a bystander.
    """
    s = capture.settings
    return (
        "# Synthetic capture made by mocap3d.synthetic.make_capture; truth in ground_truth/ (not read by the pipeline).\n"
        "[project]\n"
        f"multi_person = {'true' if multi_person else 'false'}\n"
        f"participant_height = {capture.height[0]:.3f}  # m\n"
        f"participant_mass = {mass:.1f}  # kg\n"
        f"frame_rate = {capture.rate:g}  # Hz\n\n"
        "[pose]\n"
        f"pose_model = '{capture.skeleton.name}'\n\n"
        f"# motion = '{s.get('motion')}', cameras = {len(capture.rig)}, seed = {s.get('seed')}\n"
    )


def truth_dict(capture: Capture) -> dict[str, Any]:
    """JSON-able truth: offsets, identities, swaps, recording ranges, settings."""
    kp = capture.keypoints2d
    return {
        "cameras": kp.cameras,
        "rate": kp.rate,
        "offsets_convention": "camera c records its frame n at true time (n + offsets[c]) / rate; offsets[0] = 0",
        "offsets": dict(zip(kp.cameras, capture.offsets.tolist())),
        "frames": kp.frames.tolist(),
        "identities": capture.identities.tolist(),
        "identities_convention": "identities[c][f][slot] = true person index of detection slot (order in the JSON)",
        "swapped": capture.swapped.astype(int).tolist(),
        "recorded": {c: [int(f) for f in kp.frames[capture.recorded[i]][[0, -1]]] if capture.recorded[i].any() else []
                     for i, c in enumerate(kp.cameras)},
        "heights": capture.height,
        "skeleton": capture.skeleton.name,
        "settings": {k: v for k, v in capture.settings.items()},
    }


def _motion_table(m) -> Table:
    return Table(m.times, m.names, m.values, in_degrees=True, name="Coordinates")


def write_pose(kp: Keypoints2D, recorded: np.ndarray, pose_dir: Path) -> None:
    """Write each camera's recorded frames as OpenPose JSON in ``pose_dir/<cam>_json``."""
    for c in range(kp.n_cameras):
        rec = recorded[c]
        data = np.round(kp.data[c:c + 1, rec], 3)  # 0.001 px: shorter JSON, far below detector noise
        one = Keypoints2D(data, [kp.cameras[c]], kp.keypoints, kp.frames[rec], kp.rate)
        write_openpose_folders(one, pose_dir)


def write_capture(capture: Capture, folder: str | os.PathLike, calibration: CameraRig | None = None,
                  mass: float = 70.0, multi_person: bool = False) -> Path:
    """Write ``capture`` as a trial folder (layout in the module docstring); returns the folder.

    ``calibration`` is the rig written to ``calibration/Calib.toml`` (default:
    the true one); ``ground_truth/Calib_true.toml`` always holds the truth.
    """
    folder = Path(folder)
    gt = folder / GROUND_TRUTH
    gt.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "Config.toml", encoding="utf-8") as fh:
        fh.write(config_text(capture, mass, multi_person))
    write_calibration(calibration or capture.rig, folder / "calibration" / "Calib.toml")
    write_calibration(capture.rig, gt / "Calib_true.toml", {"synthetic_truth": True})
    write_pose(capture.keypoints2d, capture.recorded, folder / "pose")
    write_trc(capture.keypoints3d, gt / "keypoints.trc")
    write_trc(capture.markers, gt / "markers.trc")
    write_mot(_motion_table(capture.motion), gt / "coordinates.mot")
    for i, p in enumerate(capture.persons[1:], start=1):
        write_trc(p, gt / f"person{i}_keypoints.trc")
    truth = truth_dict(capture)
    with atomic_write(gt / "truth.json", encoding="utf-8") as fh:
        json.dump(_jsonable(truth), fh, separators=(",", ":"))
    with atomic_write(gt / "offsets.json", encoding="utf-8") as fh:
        json.dump(_jsonable({k: truth[k] for k in ("rate", "offsets", "offsets_convention")}), fh, indent=2)
    return folder


def read_truth(truth_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``truth.json`` of a ground_truth folder as a dict (arrays as numpy)."""
    d = json.loads((Path(truth_dir) / "truth.json").read_text(encoding="utf-8"))
    for k in ("identities", "swapped", "frames"):
        d[k] = np.asarray(d[k])
    return d
