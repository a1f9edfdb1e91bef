"""Project discovery (session / participant / trial, single trial, Pose2Sim folders) and frame ranges."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mocap3d.errors import ConfigError, Mocap3dError
from mocap3d.project import Trial, apply_frame_range, discover, frame_bounds, frame_mask

POSE2SIM = Path(__file__).parent / "data" / "pose2sim_config.toml"


def make(root: Path, layout: dict[str, str | None]) -> Path:
    """Create folders (value None) and files (value = text) under ``root``."""
    for rel, text in layout.items():
        p = root / rel
        if text is None:
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    return root


@pytest.fixture
def session(tmp_path):
    """session / P01 (participant with Config.toml) / T01, T02 ; P02 (no Config.toml) / T01 ; Static."""
    return make(tmp_path / "S", {
        "Config.toml": "[project]\nframe_rate = 50\nparticipant_mass = 60.0\n",
        "calibration": None,
        "P01/Config.toml": "[project]\nparticipant_height = 1.80\nparticipant_mass = 82.0\n",
        "P01/T01/Config.toml": "[project]\nframe_range = [10, 300]\n",
        "P01/T01/pose/cam01_json": None,   # stage folders are never searched for trials
        "P01/T02/Config.toml": "",
        "P02/T01/videos": None,            # a trial without Config.toml, found by its videos/
        "Static/Config.toml": "[project]\nmulti_person = true\n",
    })


def ids(trials: list[Trial]) -> list[str]:
    return [t.id for t in trials]


def test_session_with_participants_and_inheritance(session):
    trials = discover(session)
    assert ids(trials) == ["P01/T01", "P01/T02", "P02/T01", "Static"]
    t = {t.id: t for t in trials}
    assert all(x.session == session.resolve() for x in trials)
    p = t["P01/T01"].config["project"]
    assert (p["frame_rate"], p["participant_mass"], p["participant_height"], p["frame_range"]) == (50, 82.0, 1.8, [10, 300])
    assert t["P01/T01"].frame_range == [10, 300]
    assert [f.relative_to(session.resolve()).as_posix() for f in t["P01/T01"].config_files] == \
        ["Config.toml", "P01/Config.toml", "P01/T01/Config.toml"]
    assert t["P02/T01"].config["project"]["participant_mass"] == 60.0      # session value only
    assert t["P02/T01"].config["project"]["participant_height"] == "auto"  # default
    assert t["Static"].config["project"]["multi_person"] is True
    assert all(x.calibration_dir == session.resolve() / "calibration" for x in trials)
    assert t["P01/T01"].log_file == session.resolve() / "logs.txt"


def test_participant_calibration_is_preferred_to_the_session_one(session):
    (session / "P01" / "calibration").mkdir()
    t = {t.id: t for t in discover(session)}
    assert t["P01/T02"].calibration_dir == session.resolve() / "P01" / "calibration"
    assert t["P02/T01"].calibration_dir == session.resolve() / "calibration"
    (session / "P01" / "T02" / "calibration").mkdir()
    assert {t.id: t for t in discover(session)}["P01/T02"].calibration_dir.parent.name == "T02"


def test_overrides_and_config_layer_reach_every_trial(session):
    trials = discover(session, overrides=["project.frame_rate=120"], config={"project": {"participant_mass": 55.0}})
    assert {t.config["project"]["frame_rate"] for t in trials} == {120}
    assert {t.config["project"]["participant_mass"] for t in trials} == {55.0}


@pytest.mark.parametrize("exclude, kept", [
    (["P01/T02"], ["P01/T01", "P02/T01", "Static"]),
    (["P01"], ["P02/T01", "Static"]),                       # a participant folder
    (["Static", "P02/T01/"], ["P01/T01", "P01/T02"]),       # trailing slash tolerated
    (["P01\\T01"], ["P01/T02", "P02/T01", "Static"]),       # Windows separators
    (["T02"], ["P01/T01", "P02/T01", "Static"]),            # a bare trial name
])
def test_exclude_from_batch(session, exclude, kept):
    literal = "[" + ", ".join(f"'{e}'" for e in exclude) + "]"   # TOML literal strings keep backslashes
    (session / "Config.toml").write_text(f"[project]\nexclude_from_batch = {literal}\n")
    assert ids(discover(session)) == kept


def test_exclude_entry_matching_nothing_is_warned_and_all_excluded_is_an_error(session, caplog):
    caplog.set_level(logging.WARNING, logger="mocap3d")
    assert len(discover(session, overrides={"exclude_from_batch": ["P09/T01"]})) == 4
    assert any("'P09/T01' matches no trial" in r.getMessage() for r in caplog.records)
    with pytest.raises(Mocap3dError, match=r"all 4 trial\(s\) are excluded by \[project\] exclude_from_batch"):
        discover(session, overrides={"exclude_from_batch": ["P01", "P02", "Static"]})


def test_a_trial_inside_a_session_inherits_and_is_not_excluded(session):
    (session / "Config.toml").write_text("[project]\nframe_rate = 50\nexclude_from_batch = ['P01/T02']\n")
    trials = discover(session / "P01" / "T02")
    assert ids(trials) == ["P01/T02"]
    assert trials[0].session == session.resolve()
    assert trials[0].config["project"]["participant_height"] == 1.8
    assert trials[0].calibration_dir == session.resolve() / "calibration"
    # a participant folder: its trials, inheriting the session, exclusion applied
    assert ids(discover(session / "P01")) == ["P01/T01"]


def test_pose2sim_single_trial_folder(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mocap3d")
    root = make(tmp_path / "Demo_SinglePerson", {"Config.toml": POSE2SIM.read_text(), "calibration/Calib.toml": "",
                                                  "pose/cam01_json/f_000000000000_keypoints.json": "{}",
                                                  "videos": None})
    trials = discover(root)
    assert len(trials) == 1
    t = trials[0]
    assert t.path == t.session == root.resolve()
    assert t.id == "Demo_SinglePerson"
    assert t.config["project"]["frame_range"] == "auto"
    assert t.config["pose"]["CUSTOM"][0]["name"] == "Hip"
    assert t.pose_dir == root.resolve() / "pose"
    assert sum(r.name == "mocap3d.config" for r in caplog.records) <= 1
    # the Config.toml path itself is accepted too
    assert discover(root / "Config.toml")[0].path == root.resolve()


def test_pose2sim_batch_layout(tmp_path):
    text = POSE2SIM.read_text().replace("exclude_from_batch = []", "exclude_from_batch = ['Trial_2']")
    root = make(tmp_path / "Demo_Batch", {
        "Config.toml": text, "calibration": None,
        "Trial_1/Config.toml": "[project]\nmulti_person = false\n", "Trial_1/videos": None,
        "Trial_2/Config.toml": "[project]\nmulti_person = true\nparticipant_mass = [70.0, 63.5]\n",
        "Trial_10/Config.toml": "",
    })
    assert ids(discover(root)) == ["Trial_1", "Trial_10"]
    t2 = discover(root / "Trial_2")[0]
    assert t2.config["project"]["participant_mass"] == [70.0, 63.5]


def test_one_line_errors(tmp_path):
    with pytest.raises(Mocap3dError, match=r"^project folder not found: .*nowhere\. Give the path"):
        discover(tmp_path / "nowhere")
    empty = make(tmp_path / "empty", {"notes": None})
    with pytest.raises(Mocap3dError, match=r"^no trial found in .*empty: looked for sub-folders with a Config\.toml "
                                           r"or a videos/ or pose/ folder"):
        discover(empty)
    nocal = make(tmp_path / "nocal", {"Config.toml": "", "T1/Config.toml": "", "T1/pose": None})
    with pytest.raises(Mocap3dError, match=r"^no calibration folder for trial T1: looked for .*T1/calibration, "
                                           r".*nocal/calibration"):
        discover(nocal)
    assert ids(discover(nocal, require_calibration=False)) == ["T1"]
    bad = make(tmp_path / "bad", {"Config.toml": "[project]\nframe_range = [50, 5]\n", "calibration": None,
                                  "pose": None})
    with pytest.raises(ConfigError, match=r"bad/Config.toml: project.frame_range = \[50, 5\] is not allowed"):
        discover(bad)
    f = make(tmp_path, {"file.txt": "x"}) / "file.txt"
    with pytest.raises(Mocap3dError, match="is a file"):
        discover(f)


# ----------------------------------------------------------------------------- frame ranges
def test_frame_bounds():
    assert frame_bounds("all", 100) == (0, 100)
    assert frame_bounds("auto", 100) == (0, 100)
    assert frame_bounds([], 100) == (0, 100)
    assert frame_bounds([10, 300], 1000) == (10, 300)
    assert frame_bounds([10, 300], 100) == (10, 100)            # clipped to the data
    assert frame_bounds([10, 30], 100, first_frame=5) == (5, 25)  # frame numbers, not positions
    assert frame_bounds([0, 30], 100, first_frame=5) == (0, 25)
    with pytest.raises(Mocap3dError, match=r"frame_range = \[200, 300\] selects no frame: the data holds frames 0 to 99"):
        frame_bounds([200, 300], 100)
    with pytest.raises(ConfigError):
        frame_bounds("most", 100)


def test_apply_frame_range_and_mask():
    data = np.arange(2 * 50 * 3).reshape(2, 50, 3)   # (cameras, frames, values)
    out = apply_frame_range(data, [10, 20], axis=1)
    assert out.shape == (2, 10, 3)
    np.testing.assert_array_equal(out[:, 0, 0], data[:, 10, 0])
    np.testing.assert_array_equal(apply_frame_range(data, "all", axis=1), data)
    np.testing.assert_array_equal(apply_frame_range(np.arange(20) + 2, [3, 6], first_frame=2), [3, 4, 5])
    frames = np.array([0, 1, 2, 5, 7, 9])
    np.testing.assert_array_equal(frame_mask(frames, [2, 9]), [False, False, True, True, True, False])
    assert frame_mask(frames, "auto").all()
    with pytest.raises(Mocap3dError, match="selects no frame"):
        frame_mask(frames, [10, 20])
