#!/usr/bin/env python
"""Convert MMPose predictions JSON (frames of instances with keypoints, keypoint_scores) into OpenPose JSON files.

Example: python mmpose_to_openpose.py -i results_cam01.json -o pose/cam01_json
"""
from pathlib import Path

from mocap3d.io.importers import mmpose_to_openpose
from mocap3d.io.scripts import parser, run


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="MMPose predictions .json")
    ap.add_argument("-o", "--output", help="output folder (default: <input stem>_json next to the input)")
    ap.add_argument("--skeleton", help="skeleton name, e.g. HALPE_26 (default: from the keypoint count)")
    return run(lambda a: mmpose_to_openpose(a.input, a.output or Path(a.input).with_name(Path(a.input).stem + "_json"),
                                            skeleton=a.skeleton, camera=Path(a.input).stem), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
