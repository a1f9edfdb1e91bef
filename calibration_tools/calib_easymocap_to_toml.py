#!/usr/bin/env python
"""Convert EasyMocap intri.yml and extri.yml to a calibration TOML.

Example: python calib_easymocap_to_toml.py -i intri.yml extri.yml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("easymocap", __doc__, argv, multiple=True)


if __name__ == "__main__":
    raise SystemExit(main())
