"""Logging, progress bars, stage reports and atomic file writes."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

import numpy as np

T = TypeVar("T")
LOGGER_NAME = "mocap3d"


def get_logger(name: str | None = None) -> logging.Logger:
    """The package logger, or a child ``mocap3d.<name>``."""
    return logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr, hidden when the logger is quieter than INFO."""
    from tqdm import tqdm
    quiet = get_logger().getEffectiveLevel() > logging.INFO or os.environ.get("MOCAP3D_NO_PROGRESS")
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=bool(quiet),
                    file=sys.stderr, leave=False, dynamic_ncols=True)


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", "rb") as fh:        # "Umask:" is on the second line
            head = fh.read(1024)
        i = head.find(b"Umask:")
        if i >= 0:
            return int(head[i + 6:head.find(b"\n", i)].strip(), 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _unwritable(path: Path, exc: OSError) -> Exception:
    from .errors import Mocap3dError
    return Mocap3dError(f"cannot write {path}: {exc.strerror or exc}. Make {path.parent} writable "
                        "(or copy the trial to a folder you can write to)")


def _temporary(path: Path, prefix: str, suffix: str, keep_open: bool = False) -> tuple[Path, int | None]:
    """A new empty file next to ``path`` (and its open descriptor if ``keep_open``); a folder that cannot
    be written is a one-line Mocap3dError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    if not keep_open:
        os.close(fd)
        fd = None
    return Path(tmp), fd


def _publish(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the permissions a plain ``open()`` would (0666 minus the umask) and rename it to ``path``."""
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise _unwritable(path, exc) from exc


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Open a temporary file next to ``path`` and rename it over ``path`` on success.

    A failure while writing leaves any earlier file at ``path`` untouched. The
    file gets the permissions of a plain ``open()`` (the process umask's), and a
    folder that cannot be written raises a one-line Mocap3dError.
    """
    path = Path(path)
    tmp, fd = _temporary(path, f".{path.name}.", ".tmp", keep_open=True)
    try:
        try:
            fh = os.fdopen(fd, mode, **kwargs)       # the descriptor mkstemp opened: no second open
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for libraries that write files themselves; rename on success."""
    path = Path(path)
    tmp, _ = _temporary(path, f".{path.stem}.", path.suffix)
    try:
        yield tmp
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder next to ``path``; on success it replaces ``path`` whole.

    Files of an earlier ``path`` that the new one does not hold go with it (no
    stale frames); a failure while writing leaves ``path`` untouched. Writing
    hundreds of small files this way costs one rename instead of one per file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())            # mkdtemp makes it 0700
        old = tmp.with_suffix(".old")
        moved = path.exists()
        if moved:
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if moved:                               # put the earlier folder back
                os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_report(folder: str | os.PathLike, stage: str, report: dict[str, Any]) -> Path:
    """Write ``<folder>/<stage>_report.json`` atomically; NaN becomes null."""
    path = Path(folder) / f"{stage}_report.json"
    with atomic_write(path) as fh:
        json.dump(_jsonable(report), fh, indent=2)
    return path
