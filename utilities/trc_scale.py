#!/usr/bin/env python
"""Multiply every marker position of a .trc by a factor (e.g. 0.001 for a file that was in mm but labelled m).

Example: python trc_scale.py -i markers.trc -s 0.001
"""
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers_ops import scale


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .trc file")
    ap.add_argument("-s", "--scale", type=float, required=True, help="scale factor")
    ap.add_argument("-o", "--output", help="output .trc (default: <input>_scaled.trc)")
    return run(lambda a: write_trc(scale(read_trc(a.input), a.scale),
                                   a.output or derived_path(a.input, "_scaled")), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
