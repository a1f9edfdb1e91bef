"""Generate the files of ``OpenSim_Setup/``: models, marker sets, scaling and IK setups."""
from __future__ import annotations

from pathlib import Path

import opensim as osim

from .markersets import MARKERSET_NAMES, write_markerset
from .model_builder import VARIANTS, build_model, write_model

#: Repository folder holding the generated models and setup files.
SETUP_DIR = Path(__file__).resolve().parents[2] / "OpenSim_Setup"


def model_path(variant: str = "full", setup_dir: str | Path | None = None) -> Path:
    """Path of the generated generic model ``mocap3d_<variant>.osim``."""
    return Path(setup_dir or SETUP_DIR) / f"mocap3d_{variant}.osim"


def markerset_path(markerset: str, setup_dir: str | Path | None = None) -> Path:
    """Path of ``markers_<SET>.xml``."""
    return Path(setup_dir or SETUP_DIR) / f"markers_{markerset.upper()}.xml"


def build_setup_folder(out: str | Path | None = None) -> list[Path]:
    """Write both model variants and every marker set to ``out``; returns the written paths."""
    osim.Logger.setLevelString("warn")
    out = Path(out or SETUP_DIR)
    written = []
    for variant in VARIANTS:
        written.append(write_model(build_model(variant), model_path(variant, out)))
    for name in MARKERSET_NAMES:
        written.append(write_markerset(name, markerset_path(name, out)))
    return written
