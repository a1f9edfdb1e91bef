"""Configuration: the packaged defaults, Config.toml inheritance, overrides, validation.

A configuration is a nested dict keyed exactly like Pose2Sim's Config.toml
(``config["triangulation"]["reproj_error_threshold_triangulation"]``). It is
built from layers, each overriding the one before:

1. the documented defaults shipped in ``mocap3d/Config.toml``;
2. the session ``Config.toml``, then each participant folder's, then the trial's;
3. a config dict or file given to the Python API;
4. overrides: a dict (``{"triangulation": {...}}``, ``{"project.frame_range": [0, 90]}``
   or a bare key that is unique among the defaults, ``{"frame_range": [0, 90]}``)
   or ``--set section.key=value`` strings from the CLI (value parsed as a TOML
   literal, else taken as a string).

Keys absent from the defaults (e.g. Pose2Sim options we do not use) are
reported once, in a single warning, and otherwise ignored; overrides of unknown
keys are errors (they are typos). Every known key is validated at load time
against the schema of :mod:`mocap3d.config_schema` (explicit rules for unions,
choices and ranges) or, failing that, against the type of its default value; a
bad value raises :class:`ConfigError` naming the file, the key, the value and
what is allowed.
"""
from __future__ import annotations

import copy
import datetime
import difflib
import functools
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, FileFormatError
from .logs import get_logger

DEFAULT_CONFIG_PATH = Path(__file__).resolve().with_name("Config.toml")
CONFIG_NAME = "Config.toml"
Layer = tuple[Mapping[str, Any], str]          # (data, where it came from)
Overrides = Mapping[str, Any] | Sequence[str] | None

log = get_logger("config")


# --------------------------------------------------------------------------- reading
def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and line."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))  # tolerate a Windows BOM
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise FileFormatError(f"{path}: invalid TOML ({exc}). Fix the syntax at that line") from None
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not a UTF-8 text file. Save it as UTF-8 TOML") from None


@functools.lru_cache(maxsize=4)
def _default_cached(path: str, mtime: float) -> dict[str, Any]:
    return read_toml(path)


def default_config() -> dict[str, Any]:
    """A fresh copy of the packaged defaults (``mocap3d/Config.toml``)."""
    p = DEFAULT_CONFIG_PATH
    return copy.deepcopy(_default_cached(str(p), p.stat().st_mtime))


# --------------------------------------------------------------------------- merging
def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two config dicts: tables merge key by key, any other value replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_with_sources(layers: Sequence[Layer]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge layers; also return, for each dotted key, the layer that last set it."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def visit(data: Mapping[str, Any], source: str, prefix: str) -> None:
        for key, value in data.items():
            path = f"{prefix}{key}"
            sources[path] = source
            if isinstance(value, Mapping):
                visit(value, source, path + ".")

    for data, source in layers:
        merged = merge(merged, data)
        visit(data, source, "")
    return merged, sources


def options_from_section(cls: type, section: Mapping[str, Any] | None) -> Any:
    """A stage's options dataclass from its config section.

    Keys named like a field of ``cls`` set that field; the rest of the section
    goes to the dataclass's ``extra`` dict (which ``cls`` must have).
    """
    rest = dict(section or {})
    options = cls()
    for name in cls.__dataclass_fields__:
        if name != "extra" and name in rest:
            setattr(options, name, rest.pop(name))
    options.extra = rest
    return options


def leaf_paths(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every non-table value (``'project.frame_range'``...)."""
    out = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        out.extend(leaf_paths(value, path + ".") if isinstance(value, Mapping) else [path])
    return out


def get_path(config: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """``config['a']['b']`` for ``'a.b'``, or ``default`` when a level is missing."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    return out


# --------------------------------------------------------------------------- overrides
def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (``1.72``, ``true``, ``[4, 7]``, ``'a'``) or else the raw string."""
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return text
    return value


def parse_set(item: str) -> tuple[str, Any]:
    """Split ``'section.key=value'`` into ``('section.key', parsed value)``."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set project.frame_range=[10,300]")
    return key, parse_value(value)


def resolve_key(key: str, defaults: Mapping[str, Any] | None = None) -> str:
    """The full dotted path of an override key; a bare key must be unique among the defaults."""
    defaults = default_config() if defaults is None else defaults
    if "." in key:
        parts = key.split(".")
        node: Any = defaults
        for i, part in enumerate(parts):
            if i >= 2 and _free_form(".".join(parts[:i]), node):
                break
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(_unknown_override(key, defaults))
            node = node[part]
        return key
    if key in defaults:
        return key
    hits = [p for p in _all_paths(defaults) if p.rsplit(".", 1)[-1] == key]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ConfigError(_unknown_override(key, defaults))
    raise ConfigError(f"override {key!r} is ambiguous: write one of {', '.join(sorted(hits))}")


def _all_paths(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in config.items():
        out.append(f"{prefix}{key}")
        if isinstance(value, Mapping):
            out.extend(_all_paths(value, f"{prefix}{key}."))
    return out


def _unknown_override(key: str, defaults: Mapping[str, Any]) -> str:
    paths = _all_paths(defaults)
    close = difflib.get_close_matches(key, paths, n=3, cutoff=0.6)
    if not close:  # compare the last components: 'threshold_triangulation' -> 'triangulation.xxx_threshold...'
        names = {p.rsplit(".", 1)[-1] for p in paths}
        near = set(difflib.get_close_matches(key.rsplit(".", 1)[-1], sorted(names), n=3))
        close = [p for p in paths if p.rsplit(".", 1)[-1] in near][:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else "; see mocap3d/Config.toml for the known keys"
    return f"unknown config key {key!r} in overrides{hint}"


def overrides_layer(overrides: Overrides, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn overrides (dict, or ``'a.b=value'`` strings) into a nested config layer.

    Dict keys may be section names (with a dict value), dotted paths, or bare
    keys unique among the defaults. Keys that exist nowhere raise ConfigError.
    """
    if not overrides:
        return {}
    defaults = default_config() if defaults is None else defaults
    if isinstance(overrides, str):
        overrides = [overrides]
    items: Iterable[tuple[str, Any]]
    if isinstance(overrides, Mapping):
        items = overrides.items()
    else:
        items = [parse_set(s) for s in overrides]
    layer: dict[str, Any] = {}
    for key, value in items:
        if key in defaults and isinstance(defaults[key], Mapping) and isinstance(value, Mapping):
            for sub in _flatten_known(value, defaults[key], key, defaults):
                layer = merge(layer, _nest(sub[0].split("."), sub[1]))
            continue
        path = resolve_key(str(key), defaults)
        layer = merge(layer, _nest(path.split("."), value))
    return layer


def _flatten_known(value: Mapping[str, Any], default: Mapping[str, Any], prefix: str,
                   root: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Check every key of a nested override table exists; custom skeleton trees pass through."""
    out = []
    for key, sub in value.items():
        path = f"{prefix}.{key}"
        if key not in default and not _is_custom_skeleton(path, sub):
            raise ConfigError(_unknown_override(path, root))
        if isinstance(sub, Mapping) and isinstance(default.get(key), Mapping) and not _free_form(path, default[key]):
            out.extend(_flatten_known(sub, default[key], path, root))
        else:
            out.append((path, sub))
    return out


# --------------------------------------------------------------------------- unknown keys
def _is_custom_skeleton(path: str, value: Any) -> bool:
    """``[[pose.CUSTOM]]``-style skeleton trees (any name under [pose]) pass through untouched."""
    parts = path.split(".")
    return (len(parts) == 2 and parts[0] == "pose" and isinstance(value, list) and bool(value)
            and all(isinstance(v, Mapping) and "name" in v for v in value))


def unknown_keys(config: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Dotted paths present in ``config`` but not in the defaults (tables listed once, not their keys).

    Empty tables (Pose2Sim's ``[calibration.convert.vicon]``) and custom skeleton trees are not listed.
    """
    defaults = default_config() if defaults is None else defaults
    out = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            if not _is_custom_skeleton(path, value) and value != {}:   # an empty table sets nothing
                out.append(path)
        elif isinstance(value, Mapping) and isinstance(defaults[key], Mapping) and not _free_form(path, defaults[key]):
            out.extend(unknown_keys(value, defaults[key], path + "."))
    return out


def _free_form(path: str, default: Any) -> bool:
    """An empty table below a section (e.g. ``kinematics.marker_mapping = {}``) takes any keys."""
    return isinstance(default, Mapping) and not default and "." in path


def warn_unknown(keys: Iterable[str], where: str = "") -> None:
    """Log one warning listing every unknown key."""
    keys = sorted(set(keys))
    if keys:
        src = f" in {where}" if where else ""
        log.warning("%d config key(s)%s are not used by mocap3d and were ignored: %s",
                    len(keys), src, ", ".join(keys))


# --------------------------------------------------------------------------- validation
def validate(config: Mapping[str, Any], sources: Mapping[str, str] | None = None,
             defaults: Mapping[str, Any] | None = None) -> list[str]:
    """Check every known key; raise ConfigError on the first bad value; return the unknown keys."""
    from .config_schema import check_value
    defaults = default_config() if defaults is None else defaults
    sources = sources or {}
    errors: list[tuple[str, str]] = []

    def visit(node: Mapping[str, Any], dnode: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if key not in dnode:
                continue
            path = f"{prefix}{key}"
            default = dnode[key]
            if isinstance(default, Mapping):
                if isinstance(value, Mapping):
                    visit(value, default, path + ".")
                else:
                    errors.append((path, _describe(path, value, "a table ([" + path + "])", sources)))
                continue
            problem = check_value(path, value, default)
            if problem:
                errors.append((path, _describe(path, value, problem, sources)))

    visit(config, defaults, "")
    if errors:
        more = f" (also invalid: {', '.join(p for p, _ in errors[1:])})" if len(errors) > 1 else ""
        raise ConfigError(errors[0][1] + more)
    return unknown_keys(config, defaults)


def format_value(value: Any) -> str:
    """A value written the way it would appear in Config.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _describe(path: str, value: Any, allowed: str, sources: Mapping[str, str]) -> str:
    src = sources.get(path, "")
    where = f"{src}: " if src else ""
    return f"{where}{path} = {format_value(value)} is not allowed; expected {allowed}"


# --------------------------------------------------------------------------- loading
def config_chain(folder: str | os.PathLike, top: str | os.PathLike | None = None) -> list[Path]:
    """The Config.toml files that apply to ``folder``, outermost first.

    With ``top`` (the session folder): every Config.toml from ``top`` down to
    ``folder``. Without: ``folder``'s own file and those of its contiguous
    ancestors that have one (a trial inherits its participant's and session's).
    """
    folder = Path(folder).resolve()
    if top is not None:
        top = Path(top).resolve()
        try:
            rel = folder.relative_to(top)
        except ValueError:
            raise ConfigError(f"{folder} is not inside the session folder {top}") from None
        dirs = [top] + [top.joinpath(*rel.parts[:i + 1]) for i in range(len(rel.parts))]
        return [d / CONFIG_NAME for d in dirs if (d / CONFIG_NAME).is_file()]
    chain = []
    d = folder
    if not (d / CONFIG_NAME).is_file():
        return []
    while (d / CONFIG_NAME).is_file():
        chain.append(d / CONFIG_NAME)
        if d.parent == d:
            break
        d = d.parent
    return chain[::-1]


def build_config(files: Sequence[str | os.PathLike] = (), config: Mapping[str, Any] | str | os.PathLike | None = None,
                 overrides: Overrides = None) -> tuple[dict[str, Any], list[str]]:
    """Merge defaults < files < config < overrides, validate; return (config, unknown keys)."""
    defaults = default_config()
    layers: list[Layer] = [(defaults, str(DEFAULT_CONFIG_PATH))]
    layers += [(read_toml(f), str(f)) for f in files]
    if isinstance(config, Mapping):
        layers.append((config, "config dict"))
    elif config is not None:
        layers.append((read_toml(config), str(config)))
    over = overrides_layer(overrides, defaults)
    if over:
        from_cli = not isinstance(overrides, Mapping)
        layers.append((over, "--set" if from_cli else "overrides"))
    merged, sources = _merge_with_sources(layers)
    unknown = validate(merged, sources, defaults)
    return merged, unknown


def load_config(path_or_dict: str | os.PathLike | Mapping[str, Any] | None = None,
                overrides: Overrides = None, warn: bool = True) -> dict[str, Any]:
    """The validated configuration.

    ``path_or_dict``: None (defaults only); a Config.toml file (defaults < that
    file); a folder (defaults < the Config.toml files of its session,
    participant and own folder, see :func:`config_chain`); or a dict (defaults <
    dict). ``overrides``: see :func:`overrides_layer`. Unknown keys are listed
    in one warning unless ``warn`` is false.
    """
    files: list[Path] = []
    config = None
    where = ""
    if isinstance(path_or_dict, Mapping):
        config = path_or_dict
        where = "the config dict"
    elif path_or_dict is not None:
        p = Path(path_or_dict)
        if p.is_dir():
            files = config_chain(p)
            where = ", ".join(str(f) for f in files)
        elif p.is_file():
            files = [p]
            where = str(p)
        else:
            raise ConfigError(f"{p}: no such config file or folder")
    merged, unknown = build_config(files, config, overrides)
    if warn:
        warn_unknown(unknown, where)
    return merged
