#!/usr/bin/env python
"""Rotate every marker of a .trc about a world axis (right-hand rule, degrees).

Example: python trc_rotate.py -i markers.trc -a y -d 90
"""
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers_ops import rotate


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .trc file")
    ap.add_argument("-a", "--axis", choices=["x", "y", "z"], required=True, help="rotation axis")
    ap.add_argument("-d", "--degrees", type=float, required=True, help="angle in degrees")
    ap.add_argument("-o", "--output", help="output .trc (default: <input>_rot<axis><deg>.trc)")
    return run(lambda a: write_trc(rotate(read_trc(a.input), a.axis, a.degrees),
                                   a.output or derived_path(a.input, f"_rot{a.axis}{a.degrees:g}")), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
