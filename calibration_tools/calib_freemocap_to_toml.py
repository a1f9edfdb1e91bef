#!/usr/bin/env python
"""Convert a FreeMoCap camera calibration .toml (translations in mm) into our calibration TOML (m).

Example: python calib_freemocap_to_toml.py -i session_camera_calibration.toml"""
from mocap3d.calibration.tools import to_toml_main


def main(argv=None) -> int:
    return to_toml_main("freemocap", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
