"""Bad input never gives a confident wrong answer, and no run damages earlier results.

One test per case: each runs the CLI in-process on a small synthetic trial
(mocap3d.synthetic, 4 cameras, 30 Hz walking) copied for the case.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from mocap3d.cli import main

STAGES_3D = "project.stages=['triangulation','filtering','gait']"


@pytest.fixture(scope="module")
def base_trial(tmp_path_factory) -> Path:
    """A triangulated, filtered and gait-analysed trial (60 frames), made once per module."""
    from mocap3d.synthetic.capture import make_capture
    from mocap3d.synthetic.writer import write_capture
    folder = tmp_path_factory.mktemp("base") / "T"
    write_capture(make_capture(4, "walking", n_frames=60, rate=30, noise_px=1.0, seed=1), folder)
    assert main([ "run", str(folder), "-q", "--set", STAGES_3D]) == 0
    return folder


def copy_trial(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest, copy_function=shutil.copy2)
    return dest


def run_cli(*args: str, capsys=None) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every output file's bytes (inputs and logs excluded)."""
    out = {}
    for sub in ("pose-3d", "kinematics", "gait"):
        for p in sorted((folder / sub).glob("*")) if (folder / sub).is_dir() else []:
            if p.is_file():
                out[f"{sub}/{p.name}"] = p.read_bytes()
    return out


# ------------------------------------------------------------------ case 9: permissions of written files
def test_case9_outputs_keep_the_umask_permissions(tmp_path):
    from mocap3d.logs import atomic_path, atomic_write
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"y")
        os.umask(0o027)
        with atomic_write(tmp_path / "c.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "c.txt").stat().st_mode) == 0o640


def test_stage_json_folders_are_replaced_whole_and_survive_a_failed_write(tmp_path):
    """pose-sync/<cam>_json and pose-associated/<cam>_json are swapped in whole: no stale frame of an earlier
    run survives a rerun, and a failure while writing leaves the earlier folder as it was."""
    from mocap3d.io.openpose import read_openpose_camera, write_openpose_folders
    from mocap3d.keypoints import Keypoints2D
    data = np.random.default_rng(0).uniform(10, 500, (1, 5, 1, 3, 3))
    data[..., 2] = 0.9
    kp = Keypoints2D(data, ["cam01"], ["a", "b", "c"], np.arange(5), 30.0)
    old = os.umask(0o022)
    try:
        write_openpose_folders(kp, tmp_path, replace=True)
        folder = tmp_path / "cam01_json"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        assert stat.S_IMODE(next(folder.iterdir()).stat().st_mode) == 0o644
        write_openpose_folders(Keypoints2D(data[:, 1:3], ["cam01"], ["a", "b", "c"], np.arange(1, 3), 30.0),
                               tmp_path, replace=True)
        assert sorted(p.name for p in folder.iterdir()) == ["cam01_000001.json", "cam01_000002.json"]
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        broken = Keypoints2D(data, ["cam01"], ["a", "b", "c"], np.arange(5), 30.0)
        broken.frames = np.array([0, 1, 2, 3, "x"], dtype=object)    # int("x") fails on the last file
        with pytest.raises(ValueError):
            write_openpose_folders(broken, tmp_path, replace=True)
    finally:
        os.umask(old)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam01_json"]       # no temporary folder left
    back = read_openpose_camera(folder)
    np.testing.assert_allclose(back.data[0], data[0, 1:3], atol=1e-9)


def test_read_only_output_folder_is_one_line(base_trial, tmp_path, capsys, monkeypatch):
    trial = copy_trial(base_trial, tmp_path / "T")
    before = snapshot(trial)

    def denied(*a, **k):      # what a read-only folder does (also for root, who ignores the mode bits)
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("mocap3d.logs.tempfile.mkstemp", denied)
    code, err = run_cli("filter", str(trial), "-q", capsys=capsys)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "internal error" not in err and "pose-3d" in line and "Permission denied" in line
    assert "writable" in line
    assert snapshot(trial) == before


# ------------------------------------------------------------------ case 1: reruns with another frame range
def test_case1_rerun_with_another_frame_range_keeps_earlier_files(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    before = snapshot(trial)
    assert "pose-3d/T_0-59_filt_butterworth.trc" in before and "gait/T_0-59_filt_butterworth_gait.json" in before
    code, err = run_cli("run", str(trial), "-q", "--set", "project.frame_range=[10,50]", "--set", STAGES_3D,
                        capsys=capsys)
    assert code == 0, err
    after = snapshot(trial)
    for name, data in before.items():      # every file of the earlier run is untouched
        if not name.endswith("_report.json"):
            assert after[name] == data, name
    from mocap3d.io.trc import read_trc
    filt = read_trc(trial / "pose-3d" / "T_10-49_filt_butterworth.trc")
    assert filt.frame_numbers[0] == 10 and filt.frame_numbers[-1] == 49
    rep = json.loads((trial / "pose-3d" / "filtering_report.json").read_text())
    assert [f["input"] for f in rep["files"]] == ["T_10-49.trc"]
    gait = json.loads((trial / "gait" / "gait_report.json").read_text())
    assert [Path(p["trc"]).name for p in gait["persons"]] == ["T_10-49_filt_butterworth.trc"]
    assert main(["evaluate", str(trial), "-q"]) == 0               # evaluates this run, not the leftovers
    metrics = json.loads((trial / "evaluation" / "metrics.json").read_text())
    assert sorted(metrics["keypoints3d"]["files"]) == ["T_10-49.trc", "T_10-49_filt_butterworth.trc"]


def test_case1_later_stages_read_only_the_current_run(base_trial, tmp_path):
    from mocap3d.stage_inputs import select_trc_files
    trial = copy_trial(base_trial, tmp_path / "T")
    p3d = trial / "pose-3d"
    chosen, kind = select_trc_files(p3d, use_augmentation=True)
    assert [p.name for p in chosen] == ["T_0-59_filt_butterworth.trc"] and kind == "filtered"
    # A stale file of another frame range (not in the last triangulation report) is never picked.
    shutil.copy2(p3d / "T_0-59.trc", p3d / "T_3-40.trc")
    shutil.copy2(p3d / "T_0-59_filt_butterworth.trc", p3d / "T_3-40_filt_butterworth.trc")
    assert [p.name for p in select_trc_files(p3d)[0]] == ["T_0-59_filt_butterworth.trc"]
    # Triangulation rewrote the raw file with other data: the older filtered file is not from this run.
    raw = (p3d / "T_0-59.trc").read_text().replace("\n0\t0\t", "\n0\t0.0\t", 1) + "\n"
    (p3d / "T_0-59.trc").write_text(raw)
    chosen, kind = select_trc_files(p3d)
    assert [p.name for p in chosen] == ["T_0-59.trc"] and kind == "raw"


# ------------------------------------------------------------------ case 2: millimetres labelled metres
def test_case2_trc_in_millimetres_labelled_metres_stops_naming_the_units(base_trial, tmp_path, capsys):
    from mocap3d.io.trc import read_trc, write_trc
    trial = copy_trial(base_trial, tmp_path / "T")
    raw = trial / "pose-3d" / "T_0-59.trc"
    m = read_trc(raw)
    m.data = m.data * 1000.0                      # millimetre values, header still says m
    write_trc(m, raw)
    before = snapshot(trial)
    for verb in ("filter", "gait"):
        code, err = run_cli(verb, str(trial), "-q", capsys=capsys)
        line = err.strip().splitlines()[-1]
        assert code == 2 and "T_0-59" in line and "millimetres" in line and "Units = mm" in line, err
    assert snapshot(trial) == before


# ------------------------------------------------------------------ case 6: NaN and inf in a .trc
def test_case6_non_finite_values_are_missing_not_written_as_inf(base_trial, tmp_path, capsys):
    import warnings
    trial = copy_trial(base_trial, tmp_path / "T")
    raw = trial / "pose-3d" / "T_0-59.trc"
    lines = raw.read_text().splitlines(keepends=True)
    for i, token in ((10, "inf"), (20, "-inf"), (30, "nan")):
        f = lines[5 + i].split("\t")
        f[2:5] = [token] * 3
        lines[5 + i] = "\t".join(f)
    raw.write_text("".join(lines))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, err = run_cli("filter", str(trial), "--set", "filtering.make_c3d=true", capsys=capsys)
    assert code == 0, err
    assert "2 values" not in err and "6 values are infinite" in err
    from mocap3d.io.trc import read_trc
    out = read_trc(trial / "pose-3d" / "T_0-59_filt_butterworth.trc")
    assert not np.isinf(out.data).any()
    assert "inf" not in (trial / "pose-3d" / "T_0-59_filt_butterworth.trc").read_text().lower()
    rep = json.loads((trial / "pose-3d" / "filtering_report.json").read_text())["files"][0]
    assert rep["missing_samples"] == 3


# ------------------------------------------------------------------ cases 3 and 4: impossible 2D values
def _edit_keypoints(cam_dir: Path, frames, edit) -> None:
    for f in frames:
        path = cam_dir / f"{cam_dir.name[:-5]}_{f:06d}.json"
        doc = json.loads(path.read_text())
        kp = np.array(doc["people"][0]["pose_keypoints_2d"], float).reshape(-1, 3)
        edit(kp)
        doc["people"][0]["pose_keypoints_2d"] = kp.ravel().tolist()
        path.write_text(json.dumps(doc))


def _mpjpe_mm(trial: Path, cam01_offset: float = 0.0) -> float:
    """Mean 3D error against the truth (recorded at cam01's times; cam01 frame n is common frame n + offset)."""
    from mocap3d.io.trc import read_trc
    (trc,) = [p for p in (trial / "pose-3d").glob("*.trc") if "_filt" not in p.name]
    est, truth = read_trc(trc), read_trc(trial / "ground_truth" / "keypoints.trc")
    idx = est.frame_numbers - int(round(cam01_offset))          # truth row n = cam01 frame n
    keep = (idx >= 0) & (idx < truth.n_frames)
    t = truth.data[idx[keep]][:, [truth.names.index(n) for n in est.names]]
    return float(np.nanmean(np.linalg.norm(est.data[keep] - t, axis=-1)) * 1000)


@pytest.mark.parametrize("case, edit, expected", [
    ("3", lambda kp: kp.__setitem__((slice(None), slice(0, 2)), 1e30), "impossible coordinates"),
    ("4a", lambda kp: kp.__setitem__((slice(None), 2), 5.0), "likelihoods above 1"),
    ("4b", lambda kp: kp.__setitem__((slice(None), 2), -1.0), "negative likelihoods"),
])
def test_cases3_4_impossible_keypoints_are_dropped_or_clipped_with_a_count(tmp_path, capsys, case, edit, expected):
    from mocap3d.synthetic.capture import make_capture
    from mocap3d.synthetic.writer import write_capture
    trial = write_capture(make_capture(4, "walking", n_frames=60, rate=30, noise_px=1.0, offsets=[0, 3, -2, 5],
                                       subframe=False, seed=2), tmp_path / "T")
    _edit_keypoints(trial / "pose" / "cam02_json", range(20, 30), edit)
    code, err = run_cli("run", str(trial), "--set", "project.stages=['synchronization','triangulation']",
                        capsys=capsys)
    assert code == 0, err
    assert expected in err and "cam02" in err and "10 frames" in err
    offsets = json.loads((trial / "pose-sync" / "synchronization_report.json").read_text())["offsets_frames"]
    truth = json.loads((trial / "ground_truth" / "offsets.json").read_text())["offsets"]
    err_frames = [abs((offsets[c] - offsets["cam01"]) - (truth[c] - truth["cam01"])) for c in truth]
    assert max(err_frames) < 0.5, (offsets, truth)
    assert _mpjpe_mm(trial, offsets["cam01"]) < 25


# ------------------------------------------------------------------ unclear messages
def test_keypoint_list_not_a_multiple_of_3_says_the_file_is_damaged(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    path = trial / "pose" / "cam03_json" / "cam03_000007.json"
    doc = json.loads(path.read_text())
    doc["people"][0]["pose_keypoints_2d"] = doc["people"][0]["pose_keypoints_2d"][:-1]
    path.write_text(json.dumps(doc))
    before = snapshot(trial)
    code, err = run_cli("triangulate", str(trial), "-q", capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "cam03_000007.json" in line and "not a multiple of 3" in line
    assert "pose_model" not in line and "Re-run pose estimation" in line
    assert snapshot(trial) == before


# ------------------------------------------------------------------ case 7 and calibration messages
def test_case7_camera_table_without_matrix_stops_with_one_line(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    calib = trial / "calibration" / "Calib.toml"
    lines = calib.read_text().splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if l.strip() == "[cam02]")
    idx = next(i for i in range(start, len(lines)) if lines[i].startswith("matrix"))
    del lines[idx]
    calib.write_text("".join(lines))
    before = snapshot(trial)
    code, err = run_cli("triangulate", str(trial), "-q", capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "Calib.toml" in line and "[cam02]" in line and "'matrix'" in line, err
    assert snapshot(trial) == before


def test_two_calibration_files_say_which_is_used_and_why(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    old = trial / "calibration" / "Calib_old.toml"
    shutil.copy2(trial / "calibration" / "Calib.toml", old)
    os.utime(old, (1e9, 1e9))
    code, err = run_cli("triangulate", str(trial), capsys=capsys)
    assert code == 0
    assert "2 calibration files" in err and "using Calib.toml" in err and "newest" in err


def test_pose_folder_without_calibrated_camera_is_named(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    calib = trial / "calibration" / "Calib.toml"
    text = calib.read_text()
    start = text.index("[cam04]")
    end = text.find("\n[", start + 1)
    calib.write_text(text[:start] + (text[end + 1:] if end != -1 else ""))
    code, err = run_cli("triangulate", str(trial), capsys=capsys)
    assert code == 0
    assert "cam04" in err and "not in the calibration" in err


# ------------------------------------------------------------------ case 8 and one-frame trials
REPO = Path(__file__).resolve().parents[1]


def one_frame_demo(dest: Path) -> Path:
    """The bundled Demo's first JSON file of each camera (its cameras start at frames 0 and 3), true calibration."""
    (dest / "calibration").mkdir(parents=True)
    shutil.copy(REPO / "Demo" / "ground_truth" / "Calib_true.toml", dest / "calibration" / "Calib.toml")
    shutil.copy(REPO / "Demo" / "Config.toml", dest / "Config.toml")
    for cam in sorted((REPO / "Demo" / "pose").iterdir()):
        (dest / "pose" / cam.name).mkdir(parents=True)
        first = sorted(cam.glob("*.json"))[0]
        shutil.copy(first, dest / "pose" / cam.name / first.name)
    return dest


def test_case8_one_frame_trial_with_cameras_starting_apart(tmp_path, capsys):
    trial = one_frame_demo(tmp_path / "one")
    starts = sorted({int(next((trial / "pose" / c).glob("*.json")).stem[-6:]) for c in os.listdir(trial / "pose")})
    assert len(starts) > 1
    stages = "project.stages=['association','triangulation']"
    code, err = run_cli("run", str(trial), "-q", "--set", stages, capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "internal error" not in err, err
    assert "min_chunk_size=10" in line and "max_uncertainty" not in line
    assert "--set triangulation.min_chunk_size=2" in line.split("Fix")[-1]        # its two frames, together
    code, err = run_cli("run", str(trial), "-q", "--set", stages, "--set", "triangulation.min_chunk_size=1",
                        capsys=capsys)
    assert code == 0, err
    assert list((trial / "pose-3d").glob("*.trc"))


def test_swap_ties_on_fewer_frames_than_the_window():
    """resolve_ties on 2 frames (a window of 31) kept the window's length and indexed past the frames."""
    from mocap3d.triangulation.swaps import TIE_WINDOW, _near
    tie = np.array([True, False])
    assert TIE_WINDOW > 2 and _near(tie).tolist() == [True, True]
    tie = np.zeros(100, bool)
    tie[50] = True
    assert np.flatnonzero(_near(tie)).tolist() == list(range(50 - TIE_WINDOW, 51 + TIE_WINDOW))


@pytest.mark.parametrize("keep, expected", [((), "no keypoint detected in any camera"),
                                            (("cam01",), "only cam01 has detections")])
@pytest.mark.parametrize("stage", ["synchronization", "association", "triangulation"])
def test_no_detection_or_one_camera_only_says_so(base_trial, tmp_path, capsys, keep, expected, stage):
    trial = tmp_path / "T"
    for sub in ("calibration", "pose"):
        shutil.copytree(base_trial / sub, trial / sub)
    shutil.copy(base_trial / "Config.toml", trial / "Config.toml")
    for f in (trial / "pose").glob("*/*.json"):
        if f.parent.name[:-5] not in keep:
            f.write_text(json.dumps({"version": 1.3, "people": []}))
    code, err = run_cli("run", str(trial), "-q", "--set", f"project.stages=['{stage}']", capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and expected in line and "check the calibration" not in line, line


# ------------------------------------------------------------------ case 5: data of another skeleton
def test_case5_body25_declared_as_body25b_stops_naming_the_likely_skeleton(tmp_path, capsys):
    from mocap3d.synthetic.capture import make_capture
    from mocap3d.synthetic.writer import write_capture
    trial = write_capture(make_capture(4, "walking", n_frames=30, rate=30, skeleton="BODY_25", noise_px=1.0,
                                       seed=4), tmp_path / "T")
    code, err = run_cli("triangulate", str(trial), "-q", "--set", "pose.pose_model='BODY_25B'", capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "BODY_25B" in line and "pose_model = 'BODY_25'" in line, err
    assert not (trial / "pose-3d").exists() or not list((trial / "pose-3d").glob("*.trc"))
    # declared right, the same data passes; the check can be turned off
    assert run_cli("triangulate", str(trial), "-q", "--set", "pose.pose_model='BODY_25'", capsys=capsys)[0] == 0
    assert run_cli("triangulate", str(trial), "-q", "--set", "pose.pose_model='BODY_25B'", "--set",
                   "triangulation.check_body_proportions=false", capsys=capsys)[0] == 0


def test_body_proportions_of_every_skeleton_pass_on_true_data():
    from mocap3d.body_checks import body_problems
    from mocap3d.skeletons import SKELETONS
    from mocap3d.synthetic.capture import make_capture
    for name in SKELETONS:
        cap = make_capture(2, "walking", n_frames=20, rate=30, skeleton=name, seed=0)
        kp = cap.keypoints3d
        assert body_problems(kp.data, kp.names) == [], name


# ------------------------------------------------------------------ a corrupt video
def test_corrupt_video_is_reported_before_any_camera_is_processed(tmp_path, capfd):
    cv2 = pytest.importorskip("cv2")
    trial = tmp_path / "T"
    (trial / "videos").mkdir(parents=True)
    (trial / "calibration").mkdir()
    writer = cv2.VideoWriter(str(trial / "videos" / "cam01.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64))
    for i in range(5):
        writer.write(np.full((64, 64, 3), 40 * i, np.uint8))
    writer.release()
    rng = np.random.default_rng(0)
    (trial / "videos" / "cam02.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + rng.bytes(4000))
    code = main(["pose", str(trial), "-q"])
    err = capfd.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "cam02.mp4" in lines[0] and "nothing was processed" in lines[0]
    assert not (trial / "pose" / "cam01_json").exists()


# ------------------------------------------------------------------ mocap3d check
def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_check_validates_inputs_and_writes_nothing(base_trial, tmp_path, capsys):
    trial = copy_trial(base_trial, tmp_path / "T")
    before = tree_bytes(trial)
    code = main(["check", str(trial), "--set", "project.stages=['synchronization','triangulation','filtering','gait']"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.strip().splitlines()
    assert [l.split()[1] for l in lines] == ["synchronization", "triangulation", "filtering", "gait"]
    assert "4 cameras (cam01, cam02, cam03, cam04), 60 frames 0-59" in lines[0]
    assert "the 2D keypoints that synchronization writes" in lines[1]
    assert "the .trc files that triangulation writes" in lines[2] and "filtering writes" in lines[3]
    code = main(["check", str(trial), "--set", "project.stages=['filtering']"])
    out = capsys.readouterr().out
    assert code == 0 and "T_0-59.trc (60 frames, 26 markers)" in out
    code = main(["check", str(trial), "--set", "project.stages=['gait']"])
    out = capsys.readouterr().out
    assert code == 0 and "T_0-59_filt_butterworth.trc (60 frames, 26 markers)" in out
    assert tree_bytes(trial) == before
    # a damaged calibration: the stage that reads it says why, exit 2, still nothing written
    calib = trial / "calibration" / "Calib.toml"
    calib.write_text(calib.read_text().replace("matrix = ", "matrx = ", 1))
    before = tree_bytes(trial)
    code = main(["check", str(trial), "--set", "project.stages=['triangulation','filtering']"])
    captured = capsys.readouterr()
    assert code == 2
    assert "PROBLEM" in captured.out and "[cam01] has no key 'matrix'" in captured.out
    assert "triangulation" in captured.err.strip().splitlines()[-1]
    assert tree_bytes(trial) == before


def test_case1_raw_files_of_the_newest_producers_run(tmp_path):
    """Monocular on one camera of a triangulated trial: later stages read the newest 3D run's files only."""
    from mocap3d.stage_inputs import current_raw_trc, raw_stem
    p3d = tmp_path / "pose-3d"
    p3d.mkdir()
    for name in ("T_0-59.trc", "T_5-40.trc", "T_10-49.trc"):
        (p3d / name).write_text("")
    (p3d / "triangulation_report.json").write_text(json.dumps({"files": [str(p3d / "T_10-49.trc")]}))
    (p3d / "monocular_report.json").write_text(json.dumps({"files": ["/elsewhere/T_5-40.trc", "x.c3d"]}))
    os.utime(p3d / "triangulation_report.json", (1000, 1000))
    os.utime(p3d / "monocular_report.json", (2000, 2000))
    assert [p.name for p in current_raw_trc(p3d)] == ["T_5-40.trc"]
    os.utime(p3d / "triangulation_report.json", (3000, 3000))
    assert [p.name for p in current_raw_trc(p3d)] == ["T_10-49.trc"]
    # the monocular stage does not overwrite the triangulated file of the same frames
    assert raw_stem(p3d, "monocular", "T_10-49", "cam01") == "T_cam01_10-49"
    assert raw_stem(p3d, "monocular", "T_0-59", "cam01") == "T_0-59"
    assert raw_stem(p3d, "triangulation", "T_10-49", "x") == "T_10-49"


@pytest.mark.parametrize("factor, expected", [(100.0, "centimetres read as metres. Fix the file's units (a .trc: "
                                               "Units = cm"), (1e-3, "metres labelled mm or cm"), (1.0, None)])
def test_case2_body_size_names_the_likely_units(factor, expected):
    from mocap3d.errors import Mocap3dError
    from mocap3d.stage_inputs import check_units
    from mocap3d.synthetic.capture import make_capture
    m = make_capture(2, "walking", n_frames=10, rate=30, seed=0).keypoints3d
    m.data = m.data * factor
    if expected is None:
        check_units(m, "walk.trc")
        return
    with pytest.raises(Mocap3dError, match=r"walk\.trc: the person's markers span .*" + re.escape(expected)):
        check_units(m, "walk.trc")


def test_case2_static_trial_in_millimetres_stops_before_scaling(base_trial, tmp_path, capsys):
    """The static trial named by ``[kinematics] static_trial`` gets the same units check as the trial's own file."""
    from mocap3d.io.trc import read_trc, write_trc
    trial = copy_trial(base_trial, tmp_path / "T")
    m = read_trc(trial / "pose-3d" / "T_0-59.trc")
    m.data = m.data * 1000.0
    write_trc(m, trial / "static_mm.trc")
    before = snapshot(trial)
    code, err = run_cli("kinematics", str(trial), "-q", "--set", "kinematics.static_trial='static_mm.trc'",
                        capsys=capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "static_mm" in line and "millimetres" in line, err
    after = snapshot(trial)
    report = json.loads(after.pop("kinematics/kinematics_report.json"))   # the failed run's record, nothing else
    assert after == before and report["persons"] == [] and "static_mm" in next(iter(report["errors"].values()))
