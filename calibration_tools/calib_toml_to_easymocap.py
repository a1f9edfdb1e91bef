#!/usr/bin/env python
"""Write a calibration TOML as EasyMocap intri.yml and extri.yml in a folder.

Example: python calib_toml_to_easymocap.py -i Calib_scene.toml -o easymocap_calib/"""
from mocap3d.calibration.tools import from_toml_main


def main(argv=None) -> int:
    return from_toml_main("easymocap", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
