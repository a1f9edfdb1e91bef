#!/usr/bin/env python
"""Convert a DeepLabCut .h5 or .csv (single or multi-animal) into a folder of OpenPose JSON files.

Bodyparts become keypoints in file order, individuals become persons.
Example: python dlc_to_openpose.py -i cam01DLC_resnet50.h5 -o pose/cam01_json
"""
from pathlib import Path

from mocap3d.io.importers import dlc_to_openpose
from mocap3d.io.scripts import parser, run


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="DeepLabCut .h5 or .csv")
    ap.add_argument("-o", "--output", help="output folder (default: <input stem>_json next to the input)")
    return run(lambda a: dlc_to_openpose(a.input, a.output or Path(a.input).with_name(Path(a.input).stem + "_json"),
                                         camera=Path(a.input).stem), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
