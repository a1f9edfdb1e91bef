#!/usr/bin/env python
"""Turn a Z-up .trc into a Y-up one (OpenSim's convention).

--convention pose2sim (default, as Pose2Sim): new (X, Y, Z) = old (Y, Z, X).
--convention x_forward: new (X, Y, Z) = old (X, Z, -Y) (labs with X forward).
Example: python trc_Zup_to_Yup.py -i lab.trc
"""
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers_ops import zup_to_yup


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .trc file (Z up)")
    ap.add_argument("-o", "--output", help="output .trc (default: <input>_Yup.trc)")
    ap.add_argument("--convention", choices=["pose2sim", "x_forward"], default="pose2sim",
                    help="axis mapping (default pose2sim)")
    return run(lambda a: write_trc(zup_to_yup(read_trc(a.input), a.convention),
                                   a.output or derived_path(a.input, "_Yup")), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
