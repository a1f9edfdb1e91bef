#!/usr/bin/env python
"""Convert a Caliscope config.toml / camera_array.toml into our calibration TOML.

Example: python calib_caliscope_to_toml.py -i config.toml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("caliscope", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
