#!/usr/bin/env python
"""Convert an OpenSim .trc to a .c3d (millimetres, float, no analogs; readable by ezc3d, c3d, Visual3D).

Example: python trc_to_c3d.py -i walk.trc -o walk.c3d
"""
from mocap3d.io.c3d import write_c3d
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import read_trc


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .trc file")
    ap.add_argument("-o", "--output", help="output .c3d (default: input name with .c3d)")
    return run(lambda a: write_c3d(read_trc(a.input), a.output or derived_path(a.input, "", ".c3d")), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
