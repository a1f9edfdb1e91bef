#!/usr/bin/env python
"""Write a calibration TOML as a Qualisys .qca.txt (pinhole cameras).

Example: python calib_toml_to_qca.py -i Calib_scene.toml -o Calib.qca.txt"""
from mocap3d.calibration.tools import from_toml_main


def main(argv=None) -> int:
    return from_toml_main("qualisys", __doc__, argv, binning=True)


if __name__ == "__main__":
    raise SystemExit(main())
