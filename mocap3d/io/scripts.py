"""Shared plumbing of the ``utilities/`` command-line scripts: parser, one-line errors, output names."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..errors import Mocap3dError
from ..logs import get_logger


def parser(doc: str) -> argparse.ArgumentParser:
    """An ArgumentParser whose description is the script's docstring, with ``--verbose``."""
    first, _, rest = (doc or "").strip().partition("\n")
    ap = argparse.ArgumentParser(description=first, epilog=rest.strip() or None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and debug messages")
    return ap


def run(body: Callable[[argparse.Namespace], object], ap: argparse.ArgumentParser,
        argv: Sequence[str] | None) -> int:
    """Parse ``argv``, run ``body(args)``; print bad-input errors as one line (traceback with -v)."""
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        out = body(args)
    except (Mocap3dError, FileNotFoundError, ValueError) as e:
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    if out is not None:
        get_logger("utilities").info("wrote %s", out)
    return 0


def derived_path(path: str | Path, tag: str, suffix: str | None = None) -> Path:
    """``dir/<stem><tag><suffix>`` next to ``path`` (suffix defaults to the input's)."""
    path = Path(path)
    return path.with_name(f"{path.stem}{tag}{suffix if suffix is not None else path.suffix}")
