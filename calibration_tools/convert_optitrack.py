#!/usr/bin/env python
"""Convert an OptiTrack Motive calibration (.mcal, or a TOML of Motive API values) to a calibration TOML,
or write a calibration TOML as a .mcal (--to-mcal).

Motive's standard distortion model is an undistortion model; it is fitted to OpenCV's
(the fit error is printed). See mocap3d/calibration/optitrack.py for the format facts.

Examples:
  python convert_optitrack.py -i Calibration.mcal -o Calib_optitrack.toml
  python convert_optitrack.py -i Calibration.mcal --cameras all --distortion opencv
  python convert_optitrack.py --to-mcal -i Calib_scene.toml -o cameras.mcal"""
import argparse
import sys
from pathlib import Path

from mocap3d.calibration.optitrack import read_mcal, read_optitrack_toml, write_mcal
from mocap3d.errors import Mocap3dError
from mocap3d.io.calibration_toml import read_calibration, write_calibration


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-i", "--input", required=True, help=".mcal or *optitrack*.toml (or our TOML with --to-mcal)")
    ap.add_argument("-o", "--output", help="output file (default: Calib_optitrack.toml, or <input>.mcal, next to the input)")
    ap.add_argument("--to-mcal", action="store_true", help="write our calibration TOML as a .mcal instead")
    ap.add_argument("--distortion", choices=["motive", "opencv"], default="motive",
                    help="'motive': documented inverse model, fitted to OpenCV's (default); "
                         "'opencv': take k1 k2 TangentialX TangentialY k3 as OpenCV coefficients")
    ap.add_argument("--cameras", choices=["auto", "color", "all"], default="auto",
                    help="'auto': colour cameras if there are any, else all (default)")
    ap.add_argument("--no-color-scaling", action="store_true",
                    help="do not scale colour-camera intrinsics to their recorded CameraResolution")
    a = ap.parse_args(argv)
    src = Path(a.input)
    try:
        if a.to_mcal:
            out, fits = write_mcal(read_calibration(src), a.output or src.with_suffix(".mcal"))
        elif src.suffix.lower() == ".toml":
            rig, fits = read_optitrack_toml(src), {}
            out = write_calibration(rig, a.output or src.with_name("Calib_optitrack.toml"),
                                    {"source": str(src), "source_format": "optitrack", "up_axis": "Y"})
        else:
            rig, fits = read_mcal(src, a.distortion, a.cameras, not a.no_color_scaling)
            out = write_calibration(rig, a.output or src.with_name("Calib_optitrack.toml"),
                                    {"source": str(src), "source_format": "optitrack", "up_axis": "Y"})
    except Mocap3dError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, f in fits.items():
        if f["distortion_fit_max_px"] > 0:                  # NaN (distortion read as is) and 0 print nothing
            print(f"{name}: distortion fit RMS {f['distortion_fit_rms_px']:.3f} px, max {f['distortion_fit_max_px']:.3f} px")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
