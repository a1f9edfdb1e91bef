#!/usr/bin/env python
"""Convert a Qualisys .qca.txt calibration (video cameras) to a calibration TOML.

Example: python calib_qca_to_toml.py -i Calib.qca.txt -b 1 -o Calib_qualisys.toml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("qualisys", __doc__, argv, binning=True)


if __name__ == "__main__":
    raise SystemExit(main())
