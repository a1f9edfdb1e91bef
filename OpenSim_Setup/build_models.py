#!/usr/bin/env python
"""Regenerate the mocap3d OpenSim models and marker sets in this folder.

Writes mocap3d_full.osim, mocap3d_simple.osim (generic de Leva male
reference, 1.741 m / 73 kg, no markers) and markers_<SET>.xml for every
detector skeleton and for OpenCap's LSTM markers. Deterministic: rerunning
gives identical files.

Usage: python OpenSim_Setup/build_models.py [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
from mocap3d.kinematics.setup_files import build_setup_folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: this OpenSim_Setup folder)")
    args = parser.parse_args(argv)
    for path in build_setup_folder(args.out):
        print(path)


if __name__ == "__main__":
    main()
