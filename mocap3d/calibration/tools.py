"""Argument parsing shared by the ``calibration_tools/`` scripts (each a thin CLI over converters)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..errors import Mocap3dError
from .converters import convert_from_toml, convert_to_toml


def _parser(doc: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def _run(fn, argv: Sequence[str] | None, ap: argparse.ArgumentParser) -> int:
    args = ap.parse_args(argv)
    try:
        out = fn(args)
    except Mocap3dError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in out if isinstance(out, list) else [out]:
        print(f"written: {p}")
    return 0


def to_toml_main(fmt: str, doc: str, argv: Sequence[str] | None = None, multiple: bool = False,
                 binning: bool = False) -> int:
    """CLI: convert ``fmt`` file(s) to our calibration TOML."""
    ap = _parser(doc)
    ap.add_argument("-i", "--input", required=True, nargs="+" if multiple else None,
                    help="input file(s)" if multiple else "input file")
    ap.add_argument("-o", "--output", help=f"output TOML (default: Calib_{fmt}.toml next to the input)")
    if binning:
        ap.add_argument("-b", "--binning-factor", type=float, default=1,
                        help="Qualisys binning factor (1, or 2 when filming in 540p); default 1")
        ap.add_argument("--no-view-rotation", action="store_true",
                        help="do not turn the image plane of cameras with a viewrotation")

    def go(a):
        inputs = a.input if multiple else [a.input]
        out = a.output or Path(inputs[0]).with_name(f"Calib_{fmt}.toml")
        kw = {"binning_factor": a.binning_factor, "apply_view_rotation": not a.no_view_rotation} if binning else {}
        return convert_to_toml(fmt, inputs, out, **kw)
    return _run(go, argv, ap)


def from_toml_main(fmt: str, doc: str, argv: Sequence[str] | None = None, binning: bool = False) -> int:
    """CLI: write our calibration TOML as ``fmt``."""
    ap = _parser(doc)
    ap.add_argument("-i", "--input", required=True, help="our calibration TOML (Calib*.toml)")
    ap.add_argument("-o", "--output", required=True,
                    help="output file (qualisys) or folder (opencap, easymocap)")
    if binning:
        ap.add_argument("-b", "--binning-factor", type=float, default=1, help="binning factor; default 1")
    return _run(lambda a: convert_from_toml(fmt, a.input, a.output, getattr(a, "binning_factor", 1)), argv, ap)
