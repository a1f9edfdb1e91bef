"""Exceptions that the CLI turns into one-line messages.

Every error raised for bad *input* (a file, a config key, a frame) is a
:class:`Mocap3dError` whose message names the culprit and what to do. The CLI
prints ``str(error)`` alone and shows the traceback only with ``--verbose``.
"""
from __future__ import annotations


class Mocap3dError(Exception):
    """Bad input or an impossible request; the message says what to fix."""


class ConfigError(Mocap3dError):
    """A Config.toml key has a wrong type or an impossible value."""


class FileFormatError(Mocap3dError):
    """A file is malformed, truncated or not in the expected format."""


class StageNotBuiltError(Mocap3dError):
    """The requested pipeline stage is not implemented yet (never faked)."""


def file_error(path, what: str, fix: str, line: int | None = None) -> FileFormatError:
    """Build a one-line :class:`FileFormatError` naming the file (and line)."""
    where = f"{path}" + (f", line {line}" if line is not None else "")
    return FileFormatError(f"{where}: {what}. {fix}")
