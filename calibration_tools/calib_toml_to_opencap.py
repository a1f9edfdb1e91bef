#!/usr/bin/env python
"""Write a calibration TOML as OpenCap camera .pickle files (one per camera) in a folder.

Example: python calib_toml_to_opencap.py -i Calib_scene.toml -o opencap_calib/"""
from mocap3d.calibration.tools import from_toml_main


def main(argv=None) -> int:
    return from_toml_main("opencap", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
