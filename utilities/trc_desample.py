#!/usr/bin/env python
"""Resample a .trc to another frame rate (linear interpolation; an integer factor keeps every n-th frame).

Gaps stay gaps. Example: python trc_desample.py -i run_120Hz.trc -f 60
"""
from mocap3d.io.scripts import derived_path, parser, run
from mocap3d.io.trc import read_trc, write_trc
from mocap3d.markers_ops import resample


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("-i", "--input", required=True, help="input .trc file")
    ap.add_argument("-f", "--rate", type=float, required=True, help="new frame rate in Hz")
    ap.add_argument("-o", "--output", help="output .trc (default: <input>_<rate>Hz.trc)")
    return run(lambda a: write_trc(resample(read_trc(a.input), a.rate),
                                   a.output or derived_path(a.input, f"_{a.rate:g}Hz")), ap, argv)


if __name__ == "__main__":
    raise SystemExit(main())
