"""Which ``pose-3d/*.trc`` files a stage reads: only those of the current run.

File names carry the frames they hold (``<trial>_<first>-<last>.trc``), so a
rerun with another ``frame_range`` leaves the files of the earlier run next to
the new ones. A later stage must not process those again, nor take a filtered
or augmented file made from an older version of its input. The rule, shared by
filtering, augmentation, kinematics and gait:

1. **Raw files of the current run** are the ``.trc`` files named under
   ``files`` in ``pose-3d/triangulation_report.json`` (the last triangulation;
   any other stage writing raw 3D files into ``pose-3d/`` lists them under
   ``files`` of its own report named in :data:`RAW_PRODUCERS`, e.g. the monocular stage; when several
   have reports, the newest report's files). Without such a
   report (files brought from elsewhere, e.g. Pose2Sim's), every ``.trc`` that
   is not ``*_filt_*`` or ``*_LSTM`` is raw, and a filtered or augmented file
   whose raw file is absent stands for its person.
2. **A derived file** (``<raw>_filt_<type>.trc``, ``<source>_LSTM.trc``) is
   used only if the report of the stage that made it
   (``filtering_report.json``, ``augmentation_report.json``) has an entry whose
   ``input`` is its source and whose ``input_sha1`` is the source's current
   content hash (:func:`fingerprint`). Without that report (files brought
   from elsewhere), the derived file is found by its name.

A batch runner can use the same records to skip work: a stage's outputs are
up to date when every entry of its report names an existing ``output`` and its
``input_sha1`` equals :func:`fingerprint` of the current input.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Mocap3dError
from .logs import get_logger
from .markers import Markers3D

log = get_logger("inputs")

RAW_PRODUCERS = ("triangulation", "monocular")   # stages writing raw pose-3d/*.trc, listed under "files" of their report
DERIVED = {"filtering": "_filt_", "augmentation": "_LSTM"}


def fingerprint(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes (hex): what a stage records of each input."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_raw(path: Path) -> bool:
    """A ``.trc`` that is neither filtered (``*_filt_*``) nor augmented (``*_LSTM``)."""
    return "_filt" not in path.stem and "LSTM" not in path.stem


def _report(folder: Path, stage: str) -> dict[str, Any] | None:
    path = folder / f"{stage}_report.json"
    if not path.is_file():
        return None
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s cannot be read; choosing %s inputs by file name", path, stage)
        return None
    return rep if isinstance(rep, dict) else None


def current_raw_trc(pose3d_dir: str | os.PathLike) -> list[Path]:
    """The raw ``.trc`` files of the current run (rule 1 of the module docstring), sorted by name."""
    folder = Path(pose3d_dir)
    on_disk = sorted(p for p in folder.glob("*.trc") if not p.name.startswith(".") and is_raw(p))
    reports = [(folder / f"{s}_report.json", r) for s in RAW_PRODUCERS if (r := _report(folder, s)) is not None]
    if not reports:
        return on_disk
    # The newest producer's run is the current one (monocular on one camera of a triangulated trial, say).
    path, rep = max(reports, key=lambda pr: pr[0].stat().st_mtime_ns)
    if len(reports) > 1:
        log.info("%s: %s is the newest 3D run; reading its files only", folder, path.name)
    listed = {Path(str(f)).name for f in rep.get("files", []) if str(f).endswith(".trc")}
    current = [p for p in on_disk if p.name in listed]
    if not current:
        log.warning("%s: the .trc files named by the last triangulation report are missing; using every raw "
                    ".trc (%s)", folder, ", ".join(p.name for p in on_disk) or "none")
        return on_disk
    stale = [p.name for p in on_disk if p.name not in listed]
    if stale:
        log.info("%s: not from the last %s run, not read: %s", folder, rep.get("stage", path.stem[:-7]),
                 ", ".join(stale))
    return current


def raw_stem(pose3d_dir: str | os.PathLike, stage: str, stem: str, tag: str) -> str:
    """``stem``, or ``<stem>`` with ``_<tag>`` inserted before its frame range when another 3D stage's report
    (:data:`RAW_PRODUCERS`) names ``<stem>.trc``: one stage never overwrites another's results."""
    folder = Path(pose3d_dir)
    others = [r for s in RAW_PRODUCERS if s != stage and (r := _report(folder, s)) is not None]
    taken = {Path(str(f)).name for r in others for f in r.get("files", [])}
    if f"{stem}.trc" not in taken or not (folder / f"{stem}.trc").exists():
        return stem
    head, _, frames = stem.rpartition("_")
    return f"{head}_{tag}_{frames}"


def derived_from(source: Path, stage: str) -> Path | None:
    """The output of ``stage`` ('filtering' or 'augmentation') made from ``source`` in the current run, or None."""
    folder = source.parent
    rep = _report(folder, stage)
    if rep is not None:
        sha = None
        for entry in rep.get("files", []):
            if not isinstance(entry, dict) or entry.get("input") != source.name or not entry.get("output"):
                continue
            out = folder / str(entry["output"])
            if not out.is_file():
                continue
            recorded = entry.get("input_sha1")
            if recorded is None:      # a report written before inputs were fingerprinted
                return out
            sha = sha or fingerprint(source)
            if recorded == sha:
                return out
            log.info("%s was made from an earlier %s: not used", out.name, source.name)
        return None
    tag = DERIVED[stage]
    pattern = f"{source.stem}_filt_*.trc" if stage == "filtering" else f"{source.stem}_LSTM.trc"
    cands = [p for p in folder.glob(pattern) if tag in p.stem[len(source.stem):]
             and (stage != "filtering" or "LSTM" not in p.stem[len(source.stem):])]
    return min(cands) if cands else None


def select_trc_files(pose3d_dir: str | os.PathLike, use_augmentation: bool = True,
                     use_filtered: bool = True) -> tuple[list[Path], str]:
    """The ``.trc`` to process for each person of the current run and the kinds chosen ('LSTM+filtered'...).

    Per raw file of the current run: its augmented file (when ``use_augmentation``)
    > its filtered file (when ``use_filtered``) > itself, each only if made in the
    current run (module docstring). Used by kinematics (``use_augmentation`` from
    its config) and gait (``use_augmentation=False``).
    """
    folder = Path(pose3d_dir)
    raws = current_raw_trc(folder) if folder.is_dir() else []
    orphans = _orphans(folder, raws, use_augmentation, use_filtered) if folder.is_dir() else []
    if not raws and not orphans:
        raise Mocap3dError(f"no .trc file in {folder}; run triangulation first")
    chosen, kinds = [], {_kind(p) for p in orphans}
    for raw in raws:
        filt = derived_from(raw, "filtering") if use_filtered else None
        pick, kind = (filt, "filtered") if filt else (raw, "raw")
        if use_augmentation:
            lstm = derived_from(pick, "augmentation") or (derived_from(raw, "augmentation") if filt else None)
            if lstm:
                pick, kind = lstm, "LSTM"
        chosen.append(pick)
        kinds.add(kind)
    chosen = sorted(chosen + orphans)
    if use_augmentation and "LSTM" not in kinds:
        log.info("no *_LSTM.trc of the current run in %s; using the %s markers", folder, "/".join(sorted(kinds)))
    return chosen, "+".join(sorted(kinds))


def _kind(path: Path) -> str:
    return "LSTM" if path.stem.endswith("_LSTM") else "filtered" if "_filt" in path.stem else "raw"


def _orphans(folder: Path, raws: list[Path], use_augmentation: bool, use_filtered: bool) -> list[Path]:
    """Without a triangulation report: per filtered/augmented file group whose raw file is absent, the best one."""
    if any((folder / f"{s}_report.json").is_file() for s in RAW_PRODUCERS):
        return []
    raw_stems = {p.stem for p in raws}
    groups: dict[str, list[Path]] = {}
    for p in folder.glob("*.trc"):
        if not p.name.startswith(".") and not is_raw(p):
            key = p.stem[:-len("_LSTM")] if p.stem.endswith("_LSTM") else p.stem
            key = key.split("_filt")[0]
            if key not in raw_stems:
                groups.setdefault(key, []).append(p)
    allowed = {"LSTM": use_augmentation, "filtered": use_filtered, "raw": True}
    rank = {"LSTM": 0, "filtered": 1, "raw": 2}
    out = []
    for _, group in sorted(groups.items()):
        usable = [p for p in group if allowed[_kind(p)]]
        if usable:
            out.append(min(usable, key=lambda p: (rank[_kind(p)], p.name)))
    return out


def augmentation_inputs(pose3d_dir: str | os.PathLike) -> list[Path]:
    """Per raw file of the current run: its filtered file if made in this run, else itself."""
    return select_trc_files(pose3d_dir, use_augmentation=False)[0]


# --------------------------------------------------------------------------- reading what a stage reads
BODY_SIZE_M = (0.4, 4.0)     # extent of a person's keypoints or markers (bounding-box diagonal), metres
_UNIT_GUESS = ((1000.0, "millimetres", "mm"), (100.0, "centimetres", "cm"))


def body_size_m(markers: Markers3D) -> float | None:
    """Median over frames of the diagonal of the markers' bounding box (m); None without 4 markers in a frame."""
    data = markers.data
    ok = np.isfinite(data).all(axis=-1)
    frames = ok.sum(axis=1) >= 4
    if not frames.any():
        return None
    d = data[frames]
    lo = np.where(ok[frames][..., None], d, np.inf).min(axis=1)
    hi = np.where(ok[frames][..., None], d, -np.inf).max(axis=1)
    return float(np.median(np.linalg.norm(hi - lo, axis=-1)))


def check_units(markers: Markers3D, source: str | os.PathLike) -> None:
    """Stop when a person's markers are not of human size in metres (e.g. millimetres labelled m).

    Only for files whose marker names are a person's (keypoints of a known
    skeleton or OpenCap ``*_study`` markers); other data is left alone.
    """
    from .skeletons import SKELETONS
    known = {n for s in SKELETONS.values() for n in s.all_names}
    human = sum(n in known or n.endswith("_study") for n in markers.names)
    if human < 6:
        return
    size = body_size_m(markers)
    lo, hi = BODY_SIZE_M
    if size is None or lo <= size <= hi:
        return
    if size < lo:
        raise Mocap3dError(
            f"{source}: the person's markers span {size:.4g} m, not a human size ({lo}-{hi} m): the values look "
            "like metres labelled mm or cm. Fix the file's units (a .trc: Units = m on line 3) or re-export it")
    factor, unit, abbr = min(_UNIT_GUESS, key=lambda u: abs(np.log(size / 1.7 / u[0])))
    raise Mocap3dError(
        f"{source}: the person's markers span {size:.4g} m, not a human size ({lo}-{hi} m): the values look like "
        f"{unit} read as metres. Fix the file's units (a .trc: Units = {abbr} on line 3) or re-export it in metres")


def read_markers(path: str | os.PathLike) -> Markers3D:
    """Read a ``.trc`` as the stages do: names differing from a skeleton's only by case get its spelling
    (Pose2Sim's BLAZEPOSE ``Lknee`` -> ``LKnee``, one info line), and the units are checked (:func:`check_units`)."""
    from .io.trc import read_trc
    from .skeletons import match_case
    markers = read_trc(path)
    renamed = match_case(markers.names)
    if renamed:
        log.info("%s: marker names matched by case: %s", Path(path).name,
                 ", ".join(f"{a} -> {b}" for a, b in renamed.items()))
        markers.names = [renamed.get(n, n) for n in markers.names]
    check_units(markers, path)
    return markers
