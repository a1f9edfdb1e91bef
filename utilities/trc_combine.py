#!/usr/bin/env python
"""Combine two .trc files into one: markers side by side, rows matched by time.

Both files need the same frame rate (use trc_desample first). Frames one file
lacks are empty for its markers; a marker name in both gets --suffix in the
second. Example: python trc_combine.py -i body.trc hands.trc -o all.trc
"""
from mocap3d.io.scripts import parser, run
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers_ops import combine


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", nargs=2, required=True, metavar=("FIRST", "SECOND"), help="two .trc files")
    ap.add_argument("-o", "--output", required=True, help="output .trc")
    ap.add_argument("--suffix", default="_2", help="appended to duplicate marker names of the second file")
    return run(lambda a: write_trc(combine(read_trc(a.input[0]), read_trc(a.input[1]), a.suffix), a.output),
               ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
