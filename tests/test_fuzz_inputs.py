"""Fuzzed inputs: malformed JSON, TOML, calibration, TRC, MOT and C3D files through the stages that read them.

Every case starts from a processed copy of one small synthetic trial, damages
one input with a fixed seed (truncated, wrong types, wrong shapes, extreme and
non-finite values, wrong units, duplicated or missing cameras) and runs the
CLI in-process. Each run must end either with exit 2 and ONE line on stderr
(``mocap3d: error: ...``) leaving every earlier output byte-identical, or with
exit 0 and a warning saying what was dropped or assumed. Never a traceback,
never an internal error (exit 1).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from mocap3d.cli import main
from test_bad_input import base_trial, copy_trial, snapshot  # noqa: F401  (base_trial is a fixture)

SEED = 20261207
RAW = "pose-3d/T_0-59.trc"


def _rng(case: str) -> np.random.Generator:
    return np.random.default_rng([SEED, sum(map(ord, case))])


# ------------------------------------------------------------------ mutations (trial folder, rng) -> None
def _json_file(t: Path, rng) -> Path:
    return t / "pose" / "cam02_json" / f"cam02_{int(rng.integers(0, 60)):06d}.json"


def _edit_json(edit: Callable[[dict, np.random.Generator], None]):
    def mutate(t: Path, rng) -> None:
        for _ in range(3):
            f = _json_file(t, rng)
            doc = json.loads(f.read_text())
            edit(doc, rng)
            f.write_text(json.dumps(doc))
    return mutate


def _kp(doc: dict) -> list:
    return doc["people"][0]["pose_keypoints_2d"]


def _truncate(rel: str | Callable[[Path, np.random.Generator], Path]):
    def mutate(t: Path, rng) -> None:
        f = rel(t, rng) if callable(rel) else t / rel
        data = f.read_bytes()
        f.write_bytes(data[:int(rng.integers(1, len(data) - 1))])
    return mutate


def _garbage(rel: str | Callable[[Path, np.random.Generator], Path]):
    def mutate(t: Path, rng) -> None:
        f = rel(t, rng) if callable(rel) else t / rel
        f.write_bytes(rng.bytes(int(rng.integers(10, 400))))
    return mutate


def _replace(rel: str, old: str, new: str, count: int = 1):
    def mutate(t: Path, rng) -> None:
        f = t / rel
        text = f.read_text()
        assert old in text, (rel, old)
        f.write_text(text.replace(old, new, count))
    return mutate


def _append(rel: str, text: str):
    def mutate(t: Path, rng) -> None:
        with open(t / rel, "a") as fh:
            fh.write(text)
    return mutate


def _trc_values(edit: Callable[[list[list[str]], np.random.Generator], None]):
    """Edit the numbers of the raw .trc's rows (as text), keeping its header."""
    def mutate(t: Path, rng) -> None:
        f = t / RAW
        lines = f.read_text().splitlines(keepends=True)
        rows = [l.rstrip("\n").split("\t") for l in lines[5:]]
        edit(rows, rng)
        f.write_text("".join(lines[:5]) + "".join("\t".join(r) + "\n" for r in rows))
    return mutate


def _set_cells(value: str, n: int = 12):
    def edit(rows: list[list[str]], rng) -> None:
        for _ in range(n):
            rows[int(rng.integers(0, len(rows)))][int(rng.integers(2, len(rows[0])))] = value
    return edit


def _scale_trc(factor: float):
    def mutate(t: Path, rng) -> None:
        from mocap3d.io.trc import read_trc, write_trc
        m = read_trc(t / RAW)
        m.data = m.data * factor
        write_trc(m, t / RAW)
    return mutate


def _calib_table(t: Path) -> tuple[Path, str]:
    f = t / "calibration" / "Calib.toml"
    return f, f.read_text()


def _calib_key(key: str, value: str, cam: str = "cam03"):
    def mutate(t: Path, rng) -> None:
        f, text = _calib_table(t)
        start = text.index(f"[{cam}]")
        i = text.index(f"\n{key} = ", start) + 1
        j = text.index("\n", i)
        f.write_text(text[:i] + (f"{key} = {value}" if value is not None else "") + text[j:])
    return mutate


def _drop_table(cam: str):
    def mutate(t: Path, rng) -> None:
        f, text = _calib_table(t)
        start = text.index(f"[{cam}]")
        end = text.find("\n[", start + 1)
        f.write_text(text[:start] + (text[end + 1:] if end != -1 else ""))
    return mutate


def _duplicate_table(t: Path, rng) -> None:
    f, text = _calib_table(t)
    start = text.index("[cam02]")
    end = text.find("\n[", start + 1)
    f.write_text(text + "\n" + text[start:end].replace("[cam02]", "[cam02_copy]"))


def _copy_camera_folder(t: Path, rng) -> None:
    shutil.copytree(t / "pose" / "cam02_json", t / "pose" / "cam05_json")


def _remove_camera_folder(t: Path, rng) -> None:
    shutil.rmtree(t / "pose" / "cam03_json")


def _mot(t: Path) -> Path:
    """A .mot in kinematics/ for evaluate to read: the truth's coordinates under the result's name."""
    dest = t / "kinematics" / "T_0-59_filt_butterworth.mot"
    dest.parent.mkdir(exist_ok=True)
    shutil.copy(t / "ground_truth" / "coordinates.mot", dest)
    return dest


def _mot_edit(edit: Callable[[list[str], np.random.Generator], None]):
    def mutate(t: Path, rng) -> None:
        f = _mot(t)
        lines = f.read_text().splitlines(keepends=True)
        edit(lines, rng)
        f.write_text("".join(lines))
    return mutate


def _mot_row(lines: list[str], rng) -> int:
    end = next(i for i, l in enumerate(lines) if l.strip().lower() == "endheader")
    return int(rng.integers(end + 2, len(lines)))


def _c3d(t: Path, rng=None) -> Path:
    return t / "pose-3d" / "T_0-59.c3d"


def _c3d_bytes(edit: Callable[[bytearray, np.random.Generator], None]):
    def mutate(t: Path, rng) -> None:
        data = bytearray(_c3d(t).read_bytes())
        edit(data, rng)
        _c3d(t).write_bytes(bytes(data))
    return mutate


def _flip_bytes(lo: int, hi: int, n: int = 40):
    def edit(data: bytearray, rng) -> None:
        for i in rng.integers(lo, min(hi, len(data)), n):
            data[int(i)] = int(rng.integers(0, 256))
    return edit


def _calib_source(name: str, text: bytes | None = None):
    """A calibration of another system to convert: ``name`` in calibration/, garbage unless ``text``."""
    def mutate(t: Path, rng) -> None:
        (t / "calibration" / name).write_bytes(text if text is not None else rng.bytes(300))
    return mutate


def _convert(fmt: str) -> list[str]:
    return ["calibration", "--set", "calibration.calibration_type='convert'", "--set",
            f"calibration.convert.convert_from='{fmt}'"]


SYNC = ["run", "--set", "project.stages=['synchronization']"]
ASSOC = ["run", "--set", "project.stages=['association']"]
TRI = ["triangulate"]
FILTER, GAIT, KIN, AUG = ["filter"], ["gait"], ["kinematics"], ["augment"]
EVAL, CONVERT = ["evaluate"], ["convert"]

# case id -> (mutation, commands). Files of 'C3D' cases are converted to .trc (the reader every stage shares).
CASES: dict[str, tuple[Callable[[Path, np.random.Generator], None], list[list[str]]]] = {
    # OpenPose JSON
    "json-truncated": (_truncate(_json_file), [TRI, SYNC]),
    "json-garbage": (_garbage(_json_file), [ASSOC]),
    "json-people-not-a-list": (_edit_json(lambda d, r: d.__setitem__("people", "abc")), [TRI]),
    "json-keypoints-a-string": (_edit_json(lambda d, r: d["people"][0].__setitem__("pose_keypoints_2d", "1,2,3")),
                                [SYNC]),
    "json-keypoints-not-multiple-of-3": (_edit_json(lambda d, r: _kp(d).pop()), [TRI]),
    "json-extra-keypoint": (_edit_json(lambda d, r: _kp(d).extend([1.0, 2.0, 0.9])), [ASSOC]),
    "json-huge-values": (_edit_json(lambda d, r: _kp(d).__setitem__(slice(0, 30, 3), [1e300] * 10)), [SYNC, TRI]),
    "json-likelihood-out-of-range": (_edit_json(lambda d, r: _kp(d).__setitem__(slice(2, 40, 3), [9.0, -3.0] * 6
                                                                                 + [9.0])), [TRI]),
    "json-nan-infinity-tokens": (_edit_json(lambda d, r: _kp(d).__setitem__(slice(0, 5), [float("nan"), float("inf"),
                                                                                           0.9, 1.0, float("-inf")])),
                                 [TRI]),
    "json-duplicated-camera": (_copy_camera_folder, [TRI]),
    "json-missing-camera": (_remove_camera_folder, [TRI, SYNC]),
    # Config.toml
    "config-truncated": (_truncate("Config.toml"), [TRI, FILTER]),
    "config-garbage": (_garbage("Config.toml"), [GAIT]),
    "config-wrong-types": (_append("Config.toml", "\n[triangulation]\nmin_chunk_size = 'ten'\n"), [TRI]),
    "config-non-finite": (_append("Config.toml", "\n[triangulation]\nreproj_error_threshold_triangulation = nan\n"),
                          [TRI]),
    "config-extreme-rate": (_replace("Config.toml", "frame_rate = 30", "frame_rate = 1e300"), [FILTER, TRI]),
    "config-frame-range-type": (_append("Config.toml", "\n"), [["filter", "--set", "project.frame_range='x'"]]),
    # calibration TOML
    "calib-truncated": (_truncate("calibration/Calib.toml"), [TRI, SYNC]),
    "calib-garbage": (_garbage("calibration/Calib.toml"), [ASSOC]),
    "calib-matrix-wrong-type": (_calib_key("matrix", "'abc'"), [TRI]),
    "calib-matrix-wrong-shape": (_calib_key("matrix", "[[1.0, 0.0], [0.0, 1.0]]"), [TRI]),
    "calib-rotation-wrong-shape": (_calib_key("rotation", "[0.1, 0.2, 0.3, 0.4]"), [SYNC]),
    "calib-translation-non-finite": (_calib_key("translation", "[nan, inf, 1.0]"), [TRI]),
    "calib-translation-millimetres": (_calib_key("translation", "[100.0, 2000.0, 8000.0]"), [TRI]),
    "calib-missing-matrix": (_calib_key("matrix", None), [TRI]),
    "calib-missing-camera": (_drop_table("cam04"), [TRI, ASSOC]),
    "calib-duplicated-camera": (_duplicate_table, [TRI]),
    "calib-convert-qualisys-garbage": (_calib_source("lab.qca.txt"), [_convert("qualisys")]),
    "calib-convert-qualisys-truncated-xml": (_calib_source("lab.qca.txt", b'<?xml version="1.0"?><calibration>'
                                                           b'<cameras><camera serial="1" '), [_convert("qualisys")]),
    "calib-convert-vicon-garbage": (_calib_source("lab.xcp"), [_convert("vicon")]),
    "calib-convert-opencap-garbage": (_calib_source("cam01.pickle"), [_convert("opencap")]),
    # .trc
    "trc-truncated": (_truncate(RAW), [FILTER, GAIT]),
    "trc-header-only": (lambda t, r: (t / RAW).write_text("".join((t / RAW).read_text().splitlines(True)[:5])),
                        [FILTER]),
    "trc-garbage": (_garbage(RAW), [FILTER]),
    "trc-non-numeric": (_trc_values(_set_cells("abc", 3)), [FILTER]),
    "trc-units-unknown": (_replace(RAW, "\tm\t", "\tinch\t"), [GAIT]),
    "trc-missing-column": (lambda t, r: (t / RAW).write_text("\n".join(
        l.rsplit("\t", 1)[0] if i > 4 else l for i, l in enumerate((t / RAW).read_text().splitlines())) + "\n"),
        [FILTER]),
    "trc-extra-marker-name": (_replace(RAW, "Frame#\tTime\t", "Frame#\tTime\tExtra\t\t\t"), [FILTER]),
    "trc-duplicated-marker-name": (_replace(RAW, "\tLEye\t", "\tNose\t"), [FILTER]),
    "trc-huge-values": (_trc_values(_set_cells("1e300")), [FILTER, AUG]),
    "trc-non-finite": (_trc_values(_set_cells("inf")), [GAIT, AUG]),
    "trc-millimetres-as-metres": (_scale_trc(1000.0), [FILTER, GAIT, KIN]),
    "trc-centimetres-as-metres": (_scale_trc(100.0), [GAIT, AUG]),
    # .mot (read by evaluate)
    "mot-truncated": (_mot_edit(lambda ls, r: ls.__delitem__(slice(_mot_row(ls, r), None))), [EVAL]),
    "mot-non-numeric": (_mot_edit(lambda ls, r: ls.__setitem__(i := _mot_row(ls, r), ls[i].replace("\t", "\tx", 1))),
                        [EVAL]),
    "mot-missing-endheader": (_mot_edit(lambda ls, r: ls.__setitem__(
        next(i for i, l in enumerate(ls) if l.strip().lower() == "endheader"), "\n")), [EVAL]),
    # .c3d (converted to .trc)
    "c3d-truncated": (_truncate(_c3d), [CONVERT]),
    "c3d-header-garbage": (_c3d_bytes(_flip_bytes(0, 512)), [CONVERT]),
    "c3d-parameters-garbage": (_c3d_bytes(_flip_bytes(512, 4096, 200)), [CONVERT]),
    "c3d-empty": (lambda t, r: _c3d(t).write_bytes(b""), [CONVERT]),
}


# Cases whose damaged file is the one the command was asked to read: they must stop.
MUST_STOP = ("calib-convert-", "c3d-truncated", "c3d-empty", "trc-garbage", "trc-header-only", "calib-missing-matrix")


def _lstm_models_here() -> bool:
    """The LSTM weights are in the user cache (augmentation never downloads during the tests)."""
    from mocap3d.augmentation import cache_dir
    return all((cache_dir() / f"v0.3_{part}").is_dir() for part in ("lower", "upper"))


def _args(cmd: list[str], trial: Path, tmp: Path) -> list[str]:
    if cmd == CONVERT:
        return ["convert", str(_c3d(trial)), str(tmp / "out.trc"), "-q"]
    if cmd == EVAL:
        return ["evaluate", str(trial), "-q"]
    if cmd[0] == "run":
        return ["run", str(trial), "-q", *cmd[1:]]
    return [cmd[0], str(trial), "-q", *cmd[1:]]


def _protected(trial: Path) -> dict[str, bytes]:
    out = snapshot(trial)
    for sub in ("pose-sync", "pose-associated", "calibration"):
        for p in sorted((trial / sub).rglob("*")) if (trial / sub).is_dir() else []:
            if p.is_file():
                out[p.relative_to(trial).as_posix()] = p.read_bytes()
    return out


def _converted(c3d: Path, out: Path) -> np.ndarray:
    from mocap3d.io.trc import read_trc
    assert main(["convert", str(c3d), str(out), "-q"]) == 0
    return read_trc(out).data


@pytest.mark.parametrize("case", sorted(CASES))
def test_fuzzed_input_never_gives_a_traceback_or_damages_outputs(base_trial, tmp_path, capsys, case):
    """Exit 2 with one line and earlier outputs untouched; or exit 0 with a warning, or with a result that the
    damage did not change (outputs byte-identical to the earlier run's; a converted .c3d equal to the intact one's)."""
    mutate, commands = CASES[case]
    trial = copy_trial(base_trial, tmp_path / "T")
    mutate(trial, _rng(case))
    warned, unchanged, failed = False, True, False
    for cmd in commands:
        if cmd == AUG and not _lstm_models_here():
            continue
        before = _protected(trial)
        code = main(_args(cmd, trial, tmp_path))
        err = capsys.readouterr().err
        lines = [l for l in err.splitlines() if l.strip()]
        assert code in (0, 2), f"{case} {cmd}: exit {code}\n{err}"
        assert "Traceback" not in err and "internal error" not in err, f"{case} {cmd}:\n{err}"
        after = _protected(trial)
        changed = [k for k in before if after.get(k) != before[k] and not k.endswith("_report.json")]
        if code == 2:
            assert lines and lines[-1].startswith("mocap3d: error: "), f"{case} {cmd}:\n{err}"
            assert sum(l.startswith("mocap3d: error") for l in lines) == 1
            assert not changed, f"{case} {cmd}: failed run changed {changed}"
            failed = True
            continue
        warned |= any(l.startswith("WARNING: ") for l in lines)
        if cmd == CONVERT:
            intact = _converted(_c3d(base_trial), tmp_path / "intact.trc")
            unchanged &= np.array_equal(_converted(_c3d(trial), tmp_path / "again.trc"), intact, equal_nan=True)
        else:
            unchanged &= not changed
    assert failed or warned or unchanged, f"{case}: exit 0, results changed, and no warning"
    assert failed or not case.startswith(MUST_STOP), f"{case}: the damaged file was not read, and not a word"
