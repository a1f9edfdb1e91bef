"""OpenSim ``.trc`` marker files (tab separated, ``PathFileType 4``).

Layout (the one OpenSim's TRCFileAdapter and Pose2Sim read and write)::

    PathFileType  4  (X/Y/Z)  <file name>
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    30  30  100  2  m  30  1  100
    Frame#  Time  Hip  <tab><tab>  Neck  <tab><tab>
    <tab><tab>  X1  Y1  Z1  X2  Y2  Z2
    1  0.0  x  y  z  x  y  z
    ...

We write metres (``Units = m``), Y up, 12 significant digits, and missing
values as ``NaN``. (Pose2Sim writes empty fields; OpenSim's TRCFileAdapter
rejects a row whose LAST fields are empty, since its tokenizer drops trailing
empty tokens, so we write the literal ``NaN`` that OpenSim, pandas and Pose2Sim
all parse.) We read ``m``, ``mm`` and ``cm``, empty fields or ``NaN``, and
return metres.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import file_error
from ..logs import atomic_write, get_logger
from ..markers import Markers3D

log = get_logger("io")
_UNITS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
MAX_VALUE = 1e6     # no marker is a million units (m, mm or cm) away: such values are corrupt
_HEADER_KEYS = ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                "OrigDataStartFrame", "OrigNumFrames"]


def _parse_float(path: Path, text: str, line: int, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise file_error(path, f"{what} is not a number: {text!r}", "Fix or re-export the .trc", line=line) from None


def read_trc_header(path: str | os.PathLike) -> dict:
    """The header of a ``.trc``: the eight values of line 3 plus ``names`` (marker names)."""
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [fh.readline() for _ in range(5)]
    return _parse_header(path, lines)


def _parse_header(path: Path, lines: list[str]) -> dict:
    if len(lines) < 5 or not lines[4]:
        raise file_error(path, "truncated header (fewer than 5 lines)", "A .trc has 5 header lines")
    if not lines[0].startswith("PathFileType"):
        raise file_error(path, "first line does not start with PathFileType", "Is this an OpenSim .trc?", line=1)
    keys = lines[1].strip().split("\t")
    vals = lines[2].rstrip("\r\n").split("\t")
    if keys[:5] != _HEADER_KEYS[:5] or len(vals) < 5:
        raise file_error(path, f"line 2 must list {' '.join(_HEADER_KEYS)}", "Fix the .trc header", line=2)
    head = dict(zip(keys, (v.strip() for v in vals)))
    out: dict = {}
    for k in ("DataRate", "CameraRate", "OrigDataRate"):
        if head.get(k):
            out[k] = _parse_float(path, head[k], 3, k)
    for k in ("NumFrames", "NumMarkers", "OrigDataStartFrame", "OrigNumFrames"):
        if head.get(k):
            v = _parse_float(path, head[k], 3, k)
            if v != int(v) or v < 0:
                raise file_error(path, f"{k} = {head[k]} is not a whole number", "Fix the .trc header", line=3)
            out[k] = int(v)
    if not out.get("DataRate", 0) > 0:
        raise file_error(path, f"DataRate = {head.get('DataRate')!r} must be positive", "Fix the .trc header", line=3)
    out["Units"] = head.get("Units", "")
    if out["Units"] not in _UNITS:
        raise file_error(path, f"Units = {out['Units']!r} unknown", "Use m, mm or cm", line=3)
    out["names"] = [n.strip() for n in lines[3].rstrip("\r\n").split("\t")[2:] if n.strip()]
    return out


def _data_markers(path: Path, head: dict, body: list[str]) -> int:
    """Markers per row as the data holds them; the header's NumMarkers only warns when it disagrees."""
    names, declared = head["names"], head.get("NumMarkers")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise file_error(path, f"marker name(s) {', '.join(dup)} appear more than once", "Give each marker its "
                         "own name", line=4)
    first = next((l.rstrip("\r\n") for l in body if l.strip()), None)
    n_cols = len(first.split("\t")) if first is not None else 2 + 3 * len(names)
    if first is not None and first.split("\t")[-1] == "" and (n_cols - 2) % 3 == 1:
        n_cols -= 1                                   # a trailing tab
    in_rows = (n_cols - 2) // 3 if n_cols >= 2 and (n_cols - 2) % 3 == 0 else None
    if in_rows is not None and in_rows != len(names):
        if declared == in_rows:
            raise file_error(path, f"{len(names)} marker names but NumMarkers = {declared} and the rows hold "
                             f"{in_rows} markers", "Fix the marker name row", line=4)
        raise file_error(path, f"{len(names)} marker names but the rows hold {in_rows} markers ({n_cols} columns)",
                         "Fix the marker name row or the rows", line=4)
    if declared is not None and declared != len(names):
        log.warning("%s: header says NumMarkers = %d, the file has %d marker names and columns; read %d markers",
                    path, declared, len(names), len(names))
    return len(names)


def read_trc(path: str | os.PathLike) -> Markers3D:
    """Read a ``.trc`` into :class:`Markers3D` (metres; empty or NaN fields -> NaN).

    Raises FileFormatError naming the file and line for a malformed or
    truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    lines = text.splitlines(keepends=True)
    head = _parse_header(path, lines[:5])
    M = _data_markers(path, head, lines[5:])
    width = 2 + 3 * M
    first_line = 6
    arr = _fast_rows(lines[5:], width)
    if arr is None:
        arr = _parse_rows(path, lines, width, M)
    n = head.get("NumFrames")
    if n is not None and len(arr) != n:      # Pose2Sim's filtering drops the last row and keeps NumFrames
        log.warning("%s: header says NumFrames = %d, the file holds %d rows; read %d frames", path, n, len(arr),
                    len(arr))
    if not len(arr):
        raise file_error(path, "no data row after the 5 header lines", "Re-export the file", line=6)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(arr[:, 2:]) & ~(np.abs(arr[:, 2:]) < MAX_VALUE)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        log.warning("%s: %d values are infinite or beyond %g %s (first at line %d); read as missing", path,
                    int(bad.sum()), MAX_VALUE, head["Units"], first_line + int(rows[0]))
        arr[:, 2:][bad] = np.nan
    if len(arr) and np.isnan(arr[:, :2]).any():
        bad = int(np.nonzero(np.isnan(arr[:, :2]).any(axis=1))[0][0])
        raise file_error(path, "missing Frame# or Time", "Every row needs Frame# and Time", line=first_line + bad)
    if len(arr) > 1:
        drift = np.abs(arr[:, 1] - arr[0, 1] - np.arange(len(arr)) / head["DataRate"])
        if drift.max() > 0.5 / head["DataRate"]:
            bad = int(np.argmax(drift > 0.5 / head["DataRate"]))
            log.warning("%s, line %d: Time %.6g s is off the %g Hz grid started at %.6g s; times are taken from "
                        "DataRate", path, first_line + bad, arr[bad, 1], head["DataRate"], arr[0, 1])
    data = arr[:, 2:].reshape(len(arr), M, 3) * _UNITS[head["Units"]]
    start_time = float(arr[0, 1]) if len(arr) else 0.0
    first_frame = int(arr[0, 0]) if len(arr) else head.get("OrigDataStartFrame", 1)
    return Markers3D(data, head["names"], head["DataRate"], start_time, first_frame)


def _fast_rows(lines: list[str], width: int) -> np.ndarray | None:
    """Rows (F, width) parsed in one call when every row is complete and well formed, else None."""
    rows = [l for l in lines if l.strip()]
    if not rows or not rows[-1].endswith("\n"):
        return None
    body = "".join(rows)
    if " " in body or "\t\t" in body or any(l.count("\t") != width - 1 or l[0] == "\t" for l in rows):
        return None
    try:
        vals = np.fromstring(body, sep="\t")  # any whitespace (tabs, newlines) separates
    except ValueError:
        return None
    return vals.reshape(len(rows), width) if vals.size == len(rows) * width else None


def _parse_rows(path: Path, lines: list[str], width: int, M: int) -> np.ndarray:
    """Rows (F, width) parsed line by line; empty fields -> NaN; errors name the line."""
    rows, short = [], []
    first_line = 6
    for i, line in enumerate(lines[5:], start=first_line):
        stripped = line.rstrip("\r\n")
        if not stripped.strip():
            continue
        fields = stripped.split("\t")
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            raise file_error(path, f"{len(fields)} columns, expected {width} (Frame#, Time, 3 x {M} markers)",
                             "Fix the row or the marker name row", line=i)
        if len(fields) < width:
            if not line.endswith("\n") and i == len(lines):
                raise file_error(path, f"truncated row ({len(fields)} of {width} columns)",
                                 "The file was cut short: re-export it", line=i)
            short.append(i)
            fields = fields + [""] * (width - len(fields))
        try:
            rows.append([float(f) if f.strip() else np.nan for f in fields[:width]])
        except ValueError:
            bad = next(f for f in fields[:width] if f.strip() and not _is_float(f))
            raise file_error(path, f"non-numeric value {bad!r}", "Fix or re-export the .trc", line=i) from None
    if short:
        log.warning("%s: %d rows have fewer than %d columns (first at line %d); their last values are read as "
                    "missing", path, len(short), width, short[0])
    return np.array(rows, dtype=float).reshape(len(rows), width)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def format_trc(markers: Markers3D, filename: str = "markers.trc", digits: int = 12) -> str:
    """The text of a metres ``.trc`` for ``markers`` (see module docstring)."""
    F, M = markers.data.shape[:2]
    rate = f"{markers.rate:g}" if float(markers.rate).is_integer() else repr(float(markers.rate))
    header = [f"PathFileType\t4\t(X/Y/Z)\t{filename}",
              "\t".join(_HEADER_KEYS),
              "\t".join([rate, rate, str(F), str(M), "m", rate, str(markers.first_frame), str(F)]),
              "Frame#\tTime\t" + "".join(f"{n}\t\t\t" for n in markers.names),
              "\t\t" + "".join(f"X{i}\tY{i}\tZ{i}\t" for i in range(1, M + 1))]
    flat = np.column_stack([markers.frame_numbers, markers.times, markers.data.reshape(F, 3 * M)])
    row_fmt = "\t".join(["%d"] + [f"%.{digits}g"] * (1 + 3 * M))
    body = "\n".join(row_fmt % tuple(row) for row in flat.tolist())
    body = body.replace("nan", "NaN")  # the body holds numbers only
    return "\n".join(header) + "\n" + (body + "\n" if F else "")


def write_trc(markers: Markers3D, path: str | os.PathLike, digits: int = 12) -> Path:
    """Write ``markers`` (metres, Y up) to an OpenSim ``.trc``, atomically; returns the path."""
    path = Path(path)
    for n in markers.names:
        if not n or any(ch in n for ch in "\t\r\n"):
            raise ValueError(f"marker name {n!r} cannot be written to a .trc (empty or has tabs/newlines)")
    text = format_trc(markers, path.name, digits)
    with atomic_write(path, encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path
