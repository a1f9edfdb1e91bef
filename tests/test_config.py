"""Config: defaults, inheritance, overrides, --set parsing, Pose2Sim files, validation."""
from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path

import pytest

from mocap3d import config as C
from mocap3d.config_schema import PATTERNS, SCHEMA, check_value, spec_for
from mocap3d.errors import ConfigError, FileFormatError

DATA = Path(__file__).parent / "data"
POSE2SIM = DATA / "pose2sim_config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def config_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mocap3d.config" and r.levelno == logging.WARNING]


# ----------------------------------------------------------------------------- defaults
def test_defaults_parse_and_validate_against_their_own_schema():
    cfg = C.load_config()
    assert cfg["project"]["frame_range"] == "all"
    assert cfg["project"]["participant_height"] == "auto"
    assert cfg["logging"]["log_file"] == "logs.txt"
    # every rule that applies to a default key accepts the default value
    d = C.default_config()
    for path in C.leaf_paths(d):
        value = C.get_path(d, path)
        assert check_value(path, value, value) is None, (path, value, spec_for(path, value).text)


def _undocumented(text: str) -> list[str]:
    """Keys of a TOML text with neither an inline comment nor a comment line right above."""
    out, prev_comment, depth, table = [], False, 0, ""
    for line in text.splitlines():
        s = line.strip()
        if depth > 0:  # inside a multi-line array
            depth += s.count("[") - s.count("]")
            continue
        if s.startswith("#"):
            prev_comment = True
            continue
        if not s:
            prev_comment = False
            continue
        if s.startswith("["):
            table = s.split("]")[0].strip("[ ")
            prev_comment = False
            continue
        m = re.match(r"([A-Za-z0-9_\-]+)\s*=\s*(.*)$", s)
        if m:
            value = m.group(2)
            inline = "#" in re.sub(r"'[^']*'|\"[^\"]*\"", "", value)
            if not (inline or prev_comment):
                out.append(f"{table}.{m.group(1)}")
            depth = value.count("[") - value.count("]")
        prev_comment = False
    return out


def test_every_key_of_the_default_config_is_documented():
    text = C.DEFAULT_CONFIG_PATH.read_text()
    tomllib.loads(text)
    assert _undocumented(text) == []


def test_undocumented_key_checker_finds_a_bare_key():
    assert _undocumented("[a]\n# doc\nx = 1\ny = 2\nz = 3 # doc\n") == ["a.y"]


def test_every_schema_rule_accepts_its_default_when_the_key_exists():
    d = C.default_config()
    for path, spec in SCHEMA.items():
        value = C.get_path(d, path)
        if value is not None:
            assert spec.ok(value), (path, value, spec.text)


# ----------------------------------------------------------------------------- inheritance
def test_session_participant_trial_config_dict_overrides_order(tmp_path):
    s = write(tmp_path / "S" / "Config.toml", "[project]\nframe_rate = 30\nparticipant_mass = 60.0\n"
                                            "participant_height = 1.5\nmulti_person = true\n")
    p = write(tmp_path / "S" / "P" / "Config.toml", "[project]\nparticipant_mass = 65.0\nparticipant_height = 1.6\n")
    t = write(tmp_path / "S" / "P" / "T" / "Config.toml", "[project]\nparticipant_height = 1.7\n")
    cfg, unknown = C.build_config([s, p, t], {"project": {"frame_range": [0, 50]}}, ["project.frame_rate=120"])
    assert cfg["project"]["frame_rate"] == 120           # --set beats everything
    assert cfg["project"]["frame_range"] == [0, 50]      # config dict beats the files
    assert cfg["project"]["participant_height"] == 1.7   # trial beats participant and session
    assert cfg["project"]["participant_mass"] == 65.0    # participant beats session
    assert cfg["project"]["multi_person"] is True        # session beats defaults
    assert cfg["logging"]["level"] == "INFO"             # defaults fill the rest
    assert unknown == []
    # load_config on the trial folder follows the same chain
    assert C.load_config(t.parent)["project"]["participant_mass"] == 65.0
    assert [f.parent.name for f in C.config_chain(t.parent)] == ["S", "P", "T"]
    assert [f.parent.name for f in C.config_chain(t.parent, top=tmp_path / "S" / "P")] == ["P", "T"]


def test_tables_merge_key_by_key_and_lists_replace():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    out = C.merge(base, {"a": {"y": [3]}})
    assert out == {"a": {"x": 1, "y": [3]}, "b": 2}
    assert base["a"]["y"] == [1, 2]  # inputs untouched


# ----------------------------------------------------------------------------- --set and overrides
@pytest.mark.parametrize("text, value", [
    ("1.72", 1.72), ("60", 60), ("true", True), ("false", False), ("[10,300]", [10, 300]),
    ("[[0.0, 1.0, 2.0]]", [[0.0, 1.0, 2.0]]), ("'to_video'", "to_video"), ("auto", "auto"),
    ("Body_with_feet", "Body_with_feet"), ("['a', 'b']", ["a", "b"]), ("2024-01-01", "2024-01-01"),
    ("", ""), (" 4 ", 4),
])
def test_parse_value_reads_toml_literals_else_strings(text, value):
    assert C.parse_value(text) == value
    assert type(C.parse_value(text)) is type(value)


def test_parse_set_splits_at_the_first_equal_sign():
    assert C.parse_set("pose.mode=\"{'a':1}\"") == ("pose.mode", "{'a':1}")
    assert C.parse_set("calibration.calculate.intrinsics.intrinsics_corners_nb=[4,7]") == \
        ("calibration.calculate.intrinsics.intrinsics_corners_nb", [4, 7])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        C.parse_set("project.frame_range")


def test_nested_override_paths_and_bare_keys():
    defaults = {"calibration": {"calculate": {"intrinsics": {"intrinsics_corners_nb": [3, 5], "n": 1}}},
                "project": {"frame_range": "all"}, "a": {"order": 1}, "b": {"order": 2}}
    layer = C.overrides_layer(["calibration.calculate.intrinsics.intrinsics_corners_nb=[4,7]",
                               "frame_range=[1,9]"], defaults)
    assert layer == {"calibration": {"calculate": {"intrinsics": {"intrinsics_corners_nb": [4, 7]}}},
                     "project": {"frame_range": [1, 9]}}
    assert C.overrides_layer({"calibration": {"calculate": {"intrinsics": {"n": 3}}}}, defaults) == \
        {"calibration": {"calculate": {"intrinsics": {"n": 3}}}}
    with pytest.raises(ConfigError, match="ambiguous.*a.order.*b.order"):
        C.overrides_layer({"order": 3}, defaults)
    with pytest.raises(ConfigError, match="unknown config key 'project.frame_rang'.*did you mean project.frame_range"):
        C.overrides_layer(["project.frame_rang=[1,2]"], defaults)
    with pytest.raises(ConfigError, match="unknown config key 'calibration.calculate.intrinsics.bogus'"):
        C.overrides_layer({"calibration": {"calculate": {"intrinsics": {"bogus": 3}}}}, defaults)


def test_overrides_on_the_real_defaults():
    cfg = C.load_config(overrides={"frame_range": [5, 25], "logging.level": "DEBUG", "project": {"multi_person": True}})
    assert cfg["project"]["frame_range"] == [5, 25]
    assert cfg["logging"]["level"] == "DEBUG"
    assert cfg["project"]["multi_person"] is True
    dup = [k for k in {p.rsplit(".", 1)[-1] for p in C.leaf_paths(C.default_config())}
           if sum(p.rsplit(".", 1)[-1] == k for p in C.leaf_paths(C.default_config())) > 1]
    assert dup, "the defaults should repeat at least one key name (e.g. make_c3d, order)"
    with pytest.raises(ConfigError, match="ambiguous"):
        C.load_config(overrides={dup[0]: 1})


# ----------------------------------------------------------------------------- Pose2Sim files
def _expected_unknown(cfg: dict, default: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in cfg.items():
        path = prefix + k
        if k not in default:
            if path != "pose.CUSTOM" and v != {}:
                out.add(path)
        elif isinstance(v, dict) and isinstance(default[k], dict):
            out |= _expected_unknown(v, default[k], path + ".")
    return out


def test_pose2sim_config_loads_as_is_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="mocap3d")
    cfg = C.load_config(POSE2SIM)
    raw = tomllib.loads(POSE2SIM.read_text())
    assert cfg["project"]["frame_range"] == "auto"
    assert cfg["project"]["participant_mass"] == 70.0
    # the [[pose.CUSTOM]] tree passes through intact (3 levels deep here)
    assert cfg["pose"]["CUSTOM"] == raw["pose"]["CUSTOM"]
    assert cfg["pose"]["CUSTOM"][0]["children"][0]["children"][0]["name"] == "RKnee"
    expected = _expected_unknown(raw, C.default_config())
    warnings = config_warnings(caplog)
    assert len(warnings) == (1 if expected else 0)
    if expected:
        msg = warnings[0].getMessage()
        listed = set(msg.split(": ", 1)[1].split(", "))
        assert listed == expected
        assert "pose.CUSTOM" not in msg
        assert f"{len(expected)} config key(s)" in msg


def test_unknown_keys_of_several_files_are_warned_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mocap3d")
    write(tmp_path / "S" / "Config.toml", "[project]\nfoo = 1\n[mystery]\nx = 1\n")
    write(tmp_path / "S" / "T" / "Config.toml", "[project]\nbar = 2\nmulti_person = true\n")
    cfg = C.load_config(tmp_path / "S" / "T")
    assert cfg["project"]["multi_person"] is True
    warnings = config_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].getMessage().endswith("ignored: mystery, project.bar, project.foo")


def test_empty_default_tables_below_a_section_take_any_keys():
    defaults = {"kinematics": {"marker_mapping": {}, "n": 1}, "pose": {}}
    assert C.unknown_keys({"kinematics": {"marker_mapping": {"RHip": "RHJC"}}}, defaults) == []
    assert C.unknown_keys({"pose": {"x": 1}}, defaults) == ["pose.x"]        # an empty section is not free-form
    assert C.overrides_layer(["kinematics.marker_mapping.RHip=RHJC"], defaults) == \
        {"kinematics": {"marker_mapping": {"RHip": "RHJC"}}}
    assert C.overrides_layer({"kinematics": {"marker_mapping": {"LHip": "LHJC"}}}, defaults) == \
        {"kinematics": {"marker_mapping": {"LHip": "LHJC"}}}
    with pytest.raises(ConfigError, match="unknown config key 'pose.x'"):
        C.overrides_layer(["pose.x=1"], defaults)


def test_custom_skeleton_under_another_name_passes_through():
    tree = [{"name": "Hip", "id": 0, "children": [{"name": "RHip", "id": 1}]}]
    assert C.unknown_keys({"pose": {"MY_SKELETON": tree}}) == []
    assert C.unknown_keys({"pose": {"MY_LIST": [1, 2]}}) == ["pose.MY_LIST"]
    assert C.unknown_keys({"calibration": {"convert": {"no_such_system": {}}}}) == []   # empty table: nothing set


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("toml_text, key, allowed", [
    ("[project]\nparticipant_height = -1.7", "project.participant_height = -1.7", "'auto' or a number in [0.3, 3]"),
    ("[project]\nparticipant_height = [1.7, 0]", "project.participant_height = [1.7, 0]", "non-empty list"),
    ("[project]\nparticipant_mass = -70", "project.participant_mass = -70", "a number in [1, 500]"),
    ("[project]\nframe_range = [300, 10]", "project.frame_range = [300, 10]", "0 <= start < end"),
    ("[project]\nframe_range = [-5, 10]", "project.frame_range = [-5, 10]", "0 <= start < end"),
    ("[project]\nframe_range = 'some'", "project.frame_range = 'some'", "one of 'all', 'auto'"),
    ("[project]\nframe_rate = 0", "project.frame_rate = 0", "'auto' or a number in (0, 10000]"),
    ("[project]\nmulti_person = 'yes'", "project.multi_person = 'yes'", "true or false"),
    ("[project]\nexclude_from_batch = 'T1'", "project.exclude_from_batch = 'T1'", "a list, each item a string"),
    ("[project]\nstages = ['pose', 'dance']", "project.stages = ['pose', 'dance']", "distinct stage names"),
    ("[logging]\nlevel = 'LOUD'", "logging.level = 'LOUD'", "'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
    ("project = 3", "project = 3", "a table ([project])"),
])
def test_bad_values_fail_naming_file_key_value_and_allowed(tmp_path, toml_text, key, allowed):
    f = write(tmp_path / "Config.toml", toml_text + "\n")
    with pytest.raises(ConfigError) as err:
        C.load_config(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: {key} is not allowed; expected")
    assert allowed in msg
    assert "\n" not in msg


def test_several_bad_values_are_counted_in_one_line():
    with pytest.raises(ConfigError, match=r"^--set: project.participant_mass = 0 .* \(also invalid: project.frame_rate\)$"):
        C.load_config(overrides=["project.frame_rate=-1", "project.participant_mass=0"])


def test_rules_by_pattern_and_by_default_type():
    # patterns apply wherever such a key appears
    assert check_value("triangulation.likelihood_threshold_triangulation", 1.5, 0.3) == "a number in [0, 1]"
    assert check_value("triangulation.likelihood_threshold_triangulation", 0.3, 0.3) is None
    assert check_value("filtering.butterworth.cut_off_frequency", -6, 6) == "a number > 0"
    assert check_value("filtering.butterworth.cut_off_frequency", 6.5, 6) is None   # Hz may be fractional
    assert check_value("filtering.some_filter.order", 2.5, 4) == "an integer >= 1"
    assert check_value("synchronization.filter_order", 0, 4) == "an integer >= 1"
    assert check_value("filtering.butterworth.order", 3, 4) == "an even integer >= 2"   # forward-backward cascade
    assert check_value("filtering.median.kernel_size", 4, 3) == "an odd integer >= 1"
    assert check_value("synchronization.filter_cutoff", 0, 6) is None                   # 0 disables
    assert check_value("filtering.gcv_spline.cut_off_frequency", "auto", "auto") is None
    assert check_value("filtering.gcv_spline.cut_off_frequency", 8, "auto") is None
    assert check_value("kinematics.parallel_workers_kinematics", False, "auto") is None
    assert check_value("kinematics.parallel_workers_kinematics", True, "auto") is not None
    assert check_value("calibration.calculate.intrinsics.intrinsics_corners_nb", [4, 7], [4, 7]) is None
    assert check_value("calibration.calculate.intrinsics.intrinsics_corners_nb", [4], [4, 7]) is not None
    # by the default's type: int accepted for float, not float for int, bool is not a number
    assert check_value("x.some_float", 2, 1.0) is None
    assert check_value("x.some_int", 2.5, 1) == "an integer"
    assert check_value("x.some_int", True, 1) == "an integer"
    assert check_value("x.some_float", "1.0", 1.0) == "a number"
    assert check_value("x.flag", 1, False) == "true or false"
    assert check_value("x.names", ["a", 1], ["a"]) == "a list, each item a string"
    assert check_value("x.nums", [1, 2.5], [0.0]) is None
    # choices are case-insensitive, keywords exact
    assert check_value("filtering.type", "LOESS", "butterworth") is None
    assert check_value("project.frame_rate", "AUTO", "auto") is not None
    assert all(isinstance(p, str) for p, _ in PATTERNS)


def test_config_saved_with_a_windows_bom_loads(tmp_path):
    f = tmp_path / "Config.toml"
    f.write_bytes("\ufeff[project]\r\nframe_rate = 25\r\n".encode("utf-8"))
    assert C.load_config(f)["project"]["frame_rate"] == 25


def test_malformed_toml_names_file_and_line(tmp_path):
    f = write(tmp_path / "Config.toml", "[project]\nframe_rate = 60\nframe_range = [10,\n")
    with pytest.raises(FileFormatError, match=rf"^{re.escape(str(f))}: invalid TOML .*line"):
        C.load_config(f)
    with pytest.raises(ConfigError, match="no such config file or folder"):
        C.load_config(tmp_path / "nope.toml")


def test_stage_option_defaults_agree_with_the_packaged_config():
    """Options built in code (``XOptions()``) and from the default Config.toml are the same settings, so the
    Python API and the command line behave alike (the two sources of defaults cannot drift apart)."""
    import dataclasses

    from mocap3d.association import AssociationOptions
    from mocap3d.kinematics.pipeline import KinematicsOptions, options_from_config
    from mocap3d.synchronization import SyncOptions
    from mocap3d.triangulation.pipeline import TriangulationOptions
    cfg = C.default_config()
    built = {TriangulationOptions: TriangulationOptions.from_config(cfg), SyncOptions: SyncOptions.from_config(cfg),
             AssociationOptions: AssociationOptions.from_config(cfg), KinematicsOptions: options_from_config(cfg)}
    from_pose_section = {"skeleton"}     # KinematicsOptions.skeleton comes from [pose] pose_model
    for cls, opts in built.items():
        code = cls()
        for f in dataclasses.fields(cls):
            if f.name == "extra" or f.name in from_pose_section:
                continue
            assert getattr(code, f.name) == getattr(opts, f.name), (cls.__name__, f.name)
