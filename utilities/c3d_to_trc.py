#!/usr/bin/env python
"""Convert a .c3d marker file to an OpenSim .trc (metres, Y up).

The C3D's POINT:UNITS are honoured. With --up auto (default) a file that
declares Z up (POINT:Y_SCREEN = +Z, as Vicon/Qualisys usually do) is rotated
to Y up with the Pose2Sim convention (X,Y,Z) <- (Y,Z,X); --up keep leaves the
axes alone, --up x_forward uses (X,Y,Z) <- (X,Z,-Y).

Example: python c3d_to_trc.py -i walk.c3d -o walk.trc
"""
from mocap3d.io.c3d import c3d_info, read_c3d
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import write_trc
from mocap3d.markers_ops import zup_to_yup


def convert(args):
    markers = read_c3d(args.input)
    if args.up != "keep" and c3d_info(args.input)["up_axis"] == "Z":
        markers = zup_to_yup(markers, "pose2sim" if args.up == "auto" else "x_forward")
    return write_trc(markers, args.output or derived_path(args.input, "", ".trc"))


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .c3d file")
    ap.add_argument("-o", "--output", help="output .trc (default: input name with .trc)")
    ap.add_argument("--up", choices=["auto", "keep", "x_forward"], default="auto",
                    help="Z-up handling (default auto: Pose2Sim rotation when the file declares Z up)")
    return run(convert, ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
