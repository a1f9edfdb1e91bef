"""Locations of the data that ships with the package: OpenSim_Setup/ and Demo/.

In a wheel they are installed as ``mocap3d/OpenSim_Setup`` and ``mocap3d/Demo``;
in a source checkout they sit at the repository top level.
"""
from __future__ import annotations

from pathlib import Path

from .errors import Mocap3dError

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise Mocap3dError(f"{name}/ is not installed next to {_PKG}; reinstall mocap3d (pip install .)")


def opensim_setup_dir() -> Path:
    """Folder with our OpenSim models, marker sets and setup files."""
    return _find("OpenSim_Setup")


def demo_dir() -> Path:
    """Folder of the bundled Demo capture."""
    return _find("Demo")
