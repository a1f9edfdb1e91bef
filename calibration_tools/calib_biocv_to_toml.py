#!/usr/bin/env python
"""Convert bioCV calibration text files (one per camera, in camera order) to a calibration TOML.

Example: python calib_biocv_to_toml.py -i cam0.calib cam1.calib"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("biocv", __doc__, argv, multiple=True)


if __name__ == "__main__":
    raise SystemExit(main())
