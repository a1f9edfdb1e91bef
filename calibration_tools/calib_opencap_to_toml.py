#!/usr/bin/env python
"""Convert OpenCap camera .pickle files (one per camera, in camera order) to a calibration TOML.

Example: python calib_opencap_to_toml.py -i cam0.pickle cam1.pickle -o Calib_opencap.toml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("opencap", __doc__, argv, multiple=True)


if __name__ == "__main__":
    raise SystemExit(main())
