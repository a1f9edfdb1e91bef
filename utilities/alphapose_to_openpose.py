#!/usr/bin/env python
"""Convert AlphaPose's single results JSON into a folder of OpenPose JSON files (one per frame).

The frame number is the last number of each image_id. The skeleton is
guessed from the keypoint count (17 COCO_17, 26 HALPE_26, 133 COCO_133)
unless --skeleton is given. Example:
python alphapose_to_openpose.py -i alphapose-results.json -o pose/cam01_json
"""
from pathlib import Path

from mocap3d.io.importers import alphapose_to_openpose
from mocap3d.io.scripts import parser, run


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="AlphaPose results .json")
    ap.add_argument("-o", "--output", help="output folder (default: <input stem>_json next to the input)")
    ap.add_argument("--skeleton", help="skeleton name, e.g. HALPE_26")
    ap.add_argument("--by-idx", action="store_true", help="order persons by AlphaPose's tracking idx")
    return run(lambda a: alphapose_to_openpose(
        a.input, a.output or Path(a.input).with_name(Path(a.input).stem + "_json"), skeleton=a.skeleton,
        camera=Path(a.input).stem, by_idx=a.by_idx), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
