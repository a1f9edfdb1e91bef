#!/usr/bin/env python
"""Normalize an AniPose (or Caliscope) calibration .toml into our calibration TOML.

Example: python calib_anipose_to_toml.py -i calibration.toml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("anipose", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
