"""A synthetic session for batches: participants with several trials sharing one calibration.

Layout (DESIGN.md)::

    <folder>/Config.toml             stages and calibration settings of the session
    <folder>/calibration/Calib.toml  the rig of every trial (true calibration)
    <folder>/P01/T01/...             one :func:`write_capture` trial per folder (no calibration/ of its own)
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..io.calibration_toml import write_calibration
from ..logs import atomic_write
from .capture import make_capture
from .rig import make_rig
from .writer import write_capture

#: Stages of a small batch: the calibration stage reuses Calib.toml (nothing to calculate), then 3D and IK.
SESSION_STAGES = ("calibration", "triangulation", "filtering", "kinematics")


def make_session(folder: str | os.PathLike, participants: int = 2, trials: int = 3, n_frames: int = 60,
                 rate: float = 60.0, n_cameras: int = 4, stages: Sequence[str] = SESSION_STAGES,
                 noise_px: float = 1.0, seed: int = 0) -> Path:
    """Write ``participants`` x ``trials`` walking captures of ``n_frames`` frames seen by one rig.

    Trial ``P<p>/T<t>`` uses seed ``seed + 100 p + t`` (participant height 1.60 + 0.1 p m);
    the session Config.toml runs ``stages`` with the calibration stage set to
    reuse ``calibration/Calib.toml``. Returns the session folder.
    """
    folder = Path(folder)
    rig = make_rig(n_cameras, seed=seed)
    write_calibration(rig, folder / "calibration" / "Calib.toml")
    with atomic_write(folder / "Config.toml", encoding="utf-8") as fh:
        fh.write("# Synthetic batch session made by mocap3d.synthetic.make_session.\n[project]\n"
                 f"stages = {list(stages)!r}\n\n"
                 "[calibration]\ncalibration_type = 'calculate'\n"
                 "[calibration.calculate.intrinsics]\noverwrite_intrinsics = false\n"
                 "[calibration.calculate.extrinsics]\ncalculate_extrinsics = false\n")
    for p in range(1, participants + 1):
        for t in range(1, trials + 1):
            cap = make_capture(n_cameras, "walking", n_frames, rate, rig=rig, height=1.60 + 0.1 * p,
                               noise_px=noise_px, occlusion=False, seed=seed + 100 * p + t)
            trial = write_capture(cap, folder / f"P{p:02d}" / f"T{t:02d}")
            shutil.rmtree(trial / "calibration")      # the session's calibration/ is shared
    return folder
