"""The Demo: one deterministic synthetic capture, and ``mocap3d demo`` that runs and evaluates it.

Demo capture (``make_demo``): 4 phones (2 portrait at the walkway ends, 2
landscape at the sides) around a 6 m walkway, 3.3 s of walking at 1.3 m/s
(3 gait cycles) filmed at 30 Hz, HALPE_26 keypoints with 1.5 px noise,
occlusion-dependent confidence, 1 % missed keypoints plus one missed run per
camera, 1 % left/right swaps plus one swapped run per camera, a second person
crossing, per-camera offsets up to +-4 frames (sub-frame) and start/end frames
trimmed by up to 3 frames. Calibration inputs, as a careful user records
them: 8 checkerboard views per camera (9x6 inner corners, 40 mm) held close,
in the image corners and tilted by 30-45 deg
(:data:`~mocap3d.synthetic.boards.CAREFUL_VIEWS`); one floor-board image per
camera (a 2.8 x 2.4 m mat, 4x3 inner corners of 0.40 m squares, centred on
the origin and turned by -15 deg about the vertical); 45 scene points (floor marks on a 1 m grid and marks on 8 poles
beside the walkway) clicked with 0.5 px noise.
No calibration TOML is shipped: the calibration stage computes it. The
truth is in ``ground_truth/`` (never read by the pipeline).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import Mocap3dError
from ..logs import atomic_write, get_logger
from .boards import scene_points, write_calibration_inputs
from .capture import make_capture
from .rig import make_rig
from .writer import GROUND_TRUTH, config_text, write_capture

log = get_logger("demo")

DEMO_SEED = 2024
DEMO_STAGES = ("calibration", "synchronization", "association", "triangulation", "filtering",
               "augmentation", "kinematics", "gait")
FALLBACK_CALIBRATION = "Calib_TRUE_fallback.toml"
DEMO_INTRINSIC_VIEWS = 8      # board views per camera
DEMO_CLICK_NOISE_PX = 0.5     # scene points clicked on a zoomed image
DEMO_FLOOR_YAW_DEG = -15.0    # floor mat turned so that every camera's detector finds it (checked when laying it)


def demo_capture():
    """The Demo's Capture (deterministic)."""
    rig = make_rig(4, kinds=["phone_portrait", "phone_landscape", "phone_portrait", "phone_landscape"],
                   seed=DEMO_SEED)
    return make_capture(rig=rig, motion="walking", n_frames=100, rate=30.0, skeleton="HALPE_26", height=1.75,
                        speed=1.3, noise_px=1.5, occlusion=True, missing=0.01, missing_runs=1, swaps=0.01,
                        swap_runs=1, second_person=True, max_offset=4.0, subframe=True, trim_frames=3,
                        seed=DEMO_SEED)


def _demo_config(capture) -> str:
    sp = scene_points(capture.rig)["object_points"]
    coords = ", ".join(f"[{x:.3f}, {y:.3f}, {z:.3f}]" for x, y, z in sp)
    return (config_text(capture).replace("[project]\n", "[project]\nstages = " + repr(list(DEMO_STAGES)) + "\n")
            + "\n[calibration]\n"
            "calibration_type = 'calculate'\n"
            "   [calibration.calculate.intrinsics]\n"
            "   overwrite_intrinsics = true\n"
            "   intrinsics_extension = 'png'\n"
            "   intrinsics_corners_nb = [9, 6]   # inner corners (columns, rows)\n"
            "   intrinsics_square_size = 40      # mm\n"
            "   [calibration.calculate.extrinsics]\n"
            "   calculate_extrinsics = true\n"
            "   extrinsics_method = 'scene'      # image points in calibration/extrinsics/scene_points.json\n"
            "   extrinsics_extension = 'png'\n"
            "      [calibration.calculate.extrinsics.board]\n"
            "      extrinsics_corners_nb = [4, 3]\n"
            "      extrinsics_square_size = 400  # mm, floor mat centred on the origin, turned -15 deg (extrinsics/ext_*_img)\n"
            "      [calibration.calculate.extrinsics.scene]\n"
            f"      object_coords_3d = [{coords}]  # m, world Y up\n")


def make_demo(folder: str | os.PathLike) -> Path:
    """Write the Demo trial into ``folder`` (pose JSON, calibration inputs, Config.toml, ground_truth/)."""
    folder = Path(folder)
    cap = demo_capture()
    write_capture(cap, folder)
    (folder / "calibration" / "Calib.toml").unlink()  # the calibration stage must compute it
    write_calibration_inputs(cap.rig, folder / "calibration", n_views=DEMO_INTRINSIC_VIEWS, seed=DEMO_SEED,
                             noise=0.0, scene_noise_px=DEMO_CLICK_NOISE_PX, floor_yaw_deg=DEMO_FLOOR_YAW_DEG)
    shutil.move(str(folder / "calibration" / "calibration_inputs_truth.json"),
                str(folder / GROUND_TRUTH / "calibration_inputs_truth.json"))
    with atomic_write(folder / "Config.toml", encoding="utf-8") as fh:
        fh.write(_demo_config(cap))
    return folder


def _prepare(directory: str | os.PathLike | None, regenerate: bool) -> Path:
    if directory is None:
        dest = Path(tempfile.mkdtemp(prefix="mocap3d_demo_")) / "Demo"
    else:
        dest = Path(directory)
        if dest.exists() and any(dest.iterdir()):
            raise Mocap3dError(f"{dest} is not empty; give an empty or new folder for the demo")
    if regenerate:
        make_demo(dest)
    else:
        from ..resources import demo_dir
        shutil.copytree(demo_dir(), dest, dirs_exist_ok=True)
    return dest


def run_demo(directory: str | os.PathLike | None = None, regenerate: bool = False,
             overrides: Any = None) -> dict[str, Any]:
    """Copy (or regenerate) the Demo into ``directory``, run every stage through the API, print the evaluation.

    ``regenerate``: write the capture anew with :func:`make_demo` (identical to
    the shipped Demo, about 12 s) instead of copying the shipped one.

    A stage that is not built or fails is recorded and the next ones still
    run when they can. If no calibration could be computed, the TRUE
    calibration is copied as ``calibration/Calib_TRUE_fallback.toml`` so the
    later stages can run, and the calibration is reported as not evaluated.

    Returns ``{"directory", "stages": {stage: status or error}, "metrics"}``.
    """
    from ..runner import execute  # the engine of mocap3d.api.run
    from ..evaluation import run_evaluation
    from ..evaluation_table import format_table
    dest = _prepare(directory, regenerate)
    log.info("demo: %s", dest)
    stages: dict[str, str] = {}

    def run(names: list[str]) -> None:
        try:
            for res in execute(dest, names, None, overrides):
                stages[res.stage] = res.status
        except Mocap3dError as err:
            stages[names[0]] = f"failed: {err}"
            log.warning("demo: %s: %s", names[0], err)

    run(["calibration"])
    if not list((dest / "calibration").glob("Calib*.toml")):
        shutil.copy(dest / GROUND_TRUTH / "Calib_true.toml", dest / "calibration" / FALLBACK_CALIBRATION)
        stages["calibration"] = stages.get("calibration", "failed") + \
            " (TRUE calibration used as a fallback; calibration not evaluated)"
        log.warning("demo: no calibration computed; using the TRUE calibration so later stages can run")
    run([s for s in DEMO_STAGES if s != "calibration"])  # one batch: one summary table
    metrics = run_evaluation(dest, dest / GROUND_TRUTH, print_table=False)
    print("\nstages: " + "; ".join(f"{k}: {v}" for k, v in stages.items()))
    print(format_table(metrics))
    return {"directory": str(dest), "stages": stages, "metrics": metrics}


def regenerate_shipped_demo(folder: str | os.PathLike) -> Path:
    """Rewrite the Demo in ``folder`` (e.g. the repository's ``Demo/``) with :func:`make_demo`.

    The new Demo is written next to it first, then swapped in: a failure
    leaves the old one untouched. Developers regenerate the shipped Demo with
    ``python -c "from mocap3d.synthetic.demo import regenerate_shipped_demo as r; r('Demo')"``
    (``mocap3d demo --regenerate DIR`` writes a fresh one into DIR and runs it).
    """
    folder = Path(folder).resolve()
    tmp = Path(tempfile.mkdtemp(prefix=".demo_new_", dir=folder.parent))
    try:
        make_demo(tmp / "Demo")
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            folder.rename(old)
        (tmp / "Demo").rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder

