"""OpenSim storage files ``.mot`` / ``.sto``: a time column then named columns.

Layout written (OpenSim's Storage version 1)::

    <name>
    version=1
    nRows=<F>
    nColumns=<N + 1>
    inDegrees=yes
    endheader
    time<TAB>col1<TAB>col2 ...
    0.000000000000<TAB>...

``inDegrees`` says whether rotational coordinates are in degrees; OpenSim's
IK writes degrees. The reader also accepts the older ``datacolumns``/
``datarows`` keys, whitespace-separated data and any header lines of the form
``key=value`` (kept in :attr:`Table.metadata`).

Missing values are written as ``NaN``, which ``opensim.TimeSeriesTable`` reads
as NaN; the legacy ``opensim.Storage`` reader (used by the OpenSim GUI and
older tools) stops at the first ``NaN`` row, so :func:`write_mot` logs a
warning when the table has any: fill gaps before writing files meant for it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import file_error
from ..logs import atomic_write, get_logger

log = get_logger("io")


@dataclass
class Table:
    """A time series table (what a ``.mot``/``.sto`` holds).

    Attributes:
        times: (F,) seconds.
        columns: N column names (without ``time``).
        data: (F, N) values; angles in degrees if ``in_degrees``.
        in_degrees: rotational values in degrees (``inDegrees=yes``).
        name: first header line (e.g. ``Coordinates``).
        metadata: other ``key=value`` header entries.
    """

    times: np.ndarray
    columns: list[str]
    data: np.ndarray
    in_degrees: bool = True
    name: str = "Coordinates"
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=float).ravel()
        self.data = np.asarray(self.data, dtype=float).reshape(len(self.times), -1)
        self.columns = list(self.columns)
        if self.data.shape[1] != len(self.columns):
            raise ValueError(f"Table: data {self.data.shape} does not match {len(self.columns)} columns")

    def __getitem__(self, column: str) -> np.ndarray:
        """Values (F,) of one column."""
        return self.data[:, self.columns.index(column)]


def read_mot(path: str | os.PathLike) -> Table:
    """Read a ``.mot``/``.sto`` file into a :class:`Table` (values as stored, see ``in_degrees``)."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "file not found", "Check the path")
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    try:
        end = next(i for i, l in enumerate(lines) if l.strip().lower() == "endheader")
    except StopIteration:
        raise file_error(path, "no 'endheader' line", "Is this an OpenSim .mot/.sto file?") from None
    name = lines[0].strip() if end > 0 and "=" not in lines[0] else ""
    meta: dict[str, str] = {}
    for l in lines[:end]:
        if "=" in l:
            k, v = l.split("=", 1)
            meta[k.strip()] = v.strip()
    in_deg = meta.pop("inDegrees", "no").lower() == "yes"
    nrows = meta.pop("nRows", meta.pop("datarows", None))
    ncols = meta.pop("nColumns", meta.pop("datacolumns", None))
    label_i = next((i for i in range(end + 1, len(lines)) if lines[i].strip()), None)
    if label_i is None:
        raise file_error(path, "no column label line after endheader", "The file is truncated", line=end + 1)
    sep = "\t" if "\t" in lines[label_i] else None
    labels = [c.strip() for c in lines[label_i].split(sep) if c.strip()]
    if not labels or labels[0].lower() != "time":
        raise file_error(path, f"first column must be 'time', got {labels[:1]}", "Fix the column labels",
                         line=label_i + 1)
    width = len(labels)
    rows = []
    for i in range(label_i + 1, len(lines)):
        if not lines[i].strip():
            continue
        fields = lines[i].split(sep) if sep else lines[i].split()
        if sep:
            fields = [f for f in fields]
            while len(fields) > width and not fields[-1].strip():
                fields.pop()
        if len(fields) != width:
            raise file_error(path, f"{len(fields)} values, expected {width}", "The row is malformed or truncated",
                             line=i + 1)
        try:
            rows.append([float(f) if f.strip() else np.nan for f in fields])
        except ValueError:
            raise file_error(path, "non-numeric value", "Fix or re-export the file", line=i + 1) from None
    if nrows is not None:
        try:
            n = int(nrows)
        except ValueError:
            raise file_error(path, f"nRows = {nrows!r} is not an integer", "Fix the header") from None
        if len(rows) < n:
            raise file_error(path, f"truncated: nRows = {n} but {len(rows)} rows found", "Re-export the file",
                             line=len(lines))
    if ncols is not None and ncols.isdigit() and int(ncols) != width:
        raise file_error(path, f"nColumns = {ncols} but {width} column labels", "Fix the header",
                         line=label_i + 1)
    arr = np.array(rows, dtype=float).reshape(len(rows), width)
    return Table(arr[:, 0], labels[1:], arr[:, 1:], in_deg, name, meta)


def format_mot(table: Table, digits: int = 12) -> str:
    """Text of a ``.mot``/``.sto`` file for ``table`` (see module docstring)."""
    F, N = table.data.shape
    head = [table.name or "Coordinates", "version=1", f"nRows={F}", f"nColumns={N + 1}",
            f"inDegrees={'yes' if table.in_degrees else 'no'}"]
    head += [f"{k}={v}" for k, v in table.metadata.items()
             if k not in ("version", "nRows", "nColumns", "inDegrees")]
    head += ["endheader", "\t".join(["time"] + table.columns)]
    full = np.column_stack([table.times, table.data]) if F else np.zeros((0, N + 1))
    row_fmt = "\t".join([f"%.{digits}g"] * (N + 1))
    body = "\n".join(row_fmt % tuple(row) for row in full.tolist()).replace("nan", "NaN")
    return "\n".join(head) + "\n" + (body + "\n" if F else "")


def write_mot(table: Table, path: str | os.PathLike, digits: int = 12) -> Path:
    """Write ``table`` as an OpenSim storage file (``.mot`` or ``.sto``), atomically."""
    path = Path(path)
    for c in table.columns:
        if not c or any(ch in c for ch in "\t\r\n "):
            raise ValueError(f"column name {c!r} cannot be written (empty or has whitespace)")
    if np.isnan(table.data).any():
        log.warning("%s: %d NaN values written; opensim.Storage (GUI, legacy tools) cannot read NaN rows",
                    path, int(np.isnan(table.data).sum()))
    text = format_mot(table, digits)
    with atomic_write(path, encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path
