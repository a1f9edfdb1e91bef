#!/usr/bin/env python
"""Convert a Vicon .xcp calibration (video cameras, SYSTEM=DV) to a calibration TOML.

Example: python calib_vicon_to_toml.py -i calibration.xcp"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("vicon", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
