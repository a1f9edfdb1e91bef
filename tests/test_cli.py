"""CLI and Python API: subcommands, exit codes, one-line errors, stage plug-in, summary, log file, convert."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import mocap3d
from mocap3d import cli, conversions, runner
from mocap3d.errors import Mocap3dError, StageNotBuiltError

REPO = Path(mocap3d.__file__).resolve().parent.parent
SUBCOMMANDS = ["calibration", "pose", "sync", "associate", "triangulate", "filter", "augment", "kinematics",
               "run", "demo", "evaluate", "convert"]

FAKE_STAGES = '''
import os
from pathlib import Path
from mocap3d.errors import Mocap3dError

def _run(stage, trial):
    with open(os.environ["FAKE_STAGE_LOG"], "a") as fh:
        fh.write(f"{stage} {trial.id} {trial.config['project']['frame_range']}\\n")
    if trial.config["project"]["participant_mass"] == 13.0 and stage == "triangulation":
        raise Mocap3dError(f"{trial.id}: no person triangulated (all cameras below likelihood 0.3)")
    if trial.config["project"]["participant_mass"] == 14.0:
        raise TypeError("a bug")
    return {"summary": f"{stage} fine", "n": 1}

def run_calibration(trial): return _run("calibration", trial)
def run_triangulation(trial): return _run("triangulation", trial)
def run_filtering(trial): return _run("filtering", trial)
'''


def cli_run(*args: str, cwd: Path | None = None, prelude: str = "", env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """``python -m mocap3d ARGS`` (or the CLI after ``prelude`` code) in a subprocess."""
    full_env = {**os.environ, "MOCAP3D_NO_PROGRESS": "1", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full_env.get("PYTHONPATH", "")) if p)
    if prelude:
        code = prelude + "\nimport sys\nfrom mocap3d.cli import main\nsys.exit(main(sys.argv[1:]))"
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "-m", "mocap3d", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=120)


def make_session(root: Path, masses=(70.0, 70.0)) -> Path:
    (root / "calibration").mkdir(parents=True)
    (root / "Config.toml").write_text("[project]\nframe_rate = 60\n")
    for i, m in enumerate(masses, 1):
        (root / f"T{i}" / "pose").mkdir(parents=True)
        (root / f"T{i}" / "Config.toml").write_text(f"[project]\nparticipant_mass = {m}\n")
    return root


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Stages calibration/triangulation/filtering served by a module outside the package."""
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "fake_stages.py").write_text(FAKE_STAGES)
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setenv("FAKE_STAGE_LOG", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("MOCAP3D_NO_PROGRESS", "1")
    for s in ("calibration", "triangulation", "filtering"):
        monkeypatch.setitem(runner.STAGE_TARGETS, s, ("fake_stages", f"run_{s}"))
    monkeypatch.setitem(runner.STAGE_TARGETS, "kinematics", ("mocap3d.no_such_stage", "run_kinematics"))
    yield tmp_path / "calls.txt"
    runner.configure_logging(use_custom=True)  # close the log file handler


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# ----------------------------------------------------------------------------- help
def test_top_level_help_lists_every_subcommand():
    r = cli_run("--help")
    assert r.returncode == 0, r.stderr
    for sub in SUBCOMMANDS:
        assert re.search(rf"^\s+{sub}\b", r.stdout, re.M), sub
    assert cli_run("--version").stdout.strip() == f"mocap3d {mocap3d.__version__}"


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_help_describes_its_options(sub, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([sub, "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--verbose", "--quiet"):
        assert option in out
    if sub in ("evaluate", "convert"):
        assert "--set" not in out
    else:
        assert "--set SECTION.KEY=VALUE" in out
    if sub in SUBCOMMANDS[:9]:
        assert "project" in out and "default: the current directory" in out
    if sub == "convert":
        assert "--from FORMAT" in out and "--to FORMAT" in out and "qualisys" in out


def test_module_entry_point_help_per_subcommand_in_a_subprocess():
    r = cli_run("triangulate", "--help")
    assert r.returncode == 0 and "usage: mocap3d triangulate" in r.stdout


# ----------------------------------------------------------------------------- errors and exit codes
def test_missing_folder_is_one_line_exit_2(tmp_path):
    r = cli_run("triangulate", str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"mocap3d: error: project folder not found: {tmp_path / 'nowhere'}. "
                                             "Give the path of a session or trial folder"]
    r = cli_run("triangulate", str(tmp_path / "nowhere"), "--verbose")
    assert r.returncode == 2 and "Traceback" in r.stderr and r.stderr.rstrip().endswith("trial folder")


def test_bad_set_value_names_key_value_and_allowed(tmp_path):
    make_session(tmp_path / "S")
    r = cli_run("filter", str(tmp_path / "S"), "--set", "project.frame_range=[300,10]", "-q")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "mocap3d: error: --set: project.frame_range = [300, 10] is not allowed; expected one of 'all', 'auto' or "
        "[start, end] with integers 0 <= start < end or [] (all frames)"]
    r = cli_run("filter", str(tmp_path / "S"), "--set", "project.frame_rang=[3,10]", "-q")
    assert r.returncode == 2 and "did you mean project.frame_range" in r.stderr
    r = cli_run("filter", str(tmp_path / "S"), "--set", "frame_range", "-q")
    assert r.returncode == 2 and "expected section.key=value" in r.stderr


def test_stage_not_built_says_so_plainly_and_exits_non_zero(tmp_path):
    make_session(tmp_path / "S")
    prelude = "import mocap3d.runner as r; r.STAGE_TARGETS['kinematics'] = ('mocap3d.no_such_stage', 'run_kinematics')"
    r = cli_run("kinematics", str(tmp_path / "S"), "-q", prelude=prelude)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["mocap3d: error: stage kinematics is not built yet; nothing was run"]
    assert not (tmp_path / "S" / "T1" / "kinematics").exists()
    # a module that exists without run_<stage>
    prelude = "import mocap3d.runner as r; r.STAGE_TARGETS['kinematics'] = ('mocap3d.config', 'run_kinematics')"
    with pytest.raises(StageNotBuiltError, match=r"^stage kinematics is not built yet \(mocap3d.config.run_kinematics"):
        runner.lookup("mocap3d.config", "run_kinematics", "stage kinematics")


def test_internal_error_exit_1_with_hint(tmp_path):
    make_session(tmp_path / "S", masses=(14.0,))
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "fake_stages.py").write_text(FAKE_STAGES)
    prelude = (f"import sys; sys.path.insert(0, {str(mod)!r}); import mocap3d.runner as r; "
               "r.STAGE_TARGETS['triangulation'] = ('fake_stages', 'run_triangulation')")
    r = cli_run("triangulate", str(tmp_path / "S"), "-q", prelude=prelude,
                env={"FAKE_STAGE_LOG": str(tmp_path / "c.txt")})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "mocap3d: internal error: TypeError: a bug (rerun with --verbose for the traceback)"]
    log = (tmp_path / "S" / "logs.txt").read_text()
    assert "internal error: TypeError: a bug" in log and "Traceback" in log   # the file keeps the traceback


# ----------------------------------------------------------------------------- running stages
def test_run_executes_enabled_stages_in_order_with_summary_and_log(tmp_path, fake, capsys):
    s = make_session(tmp_path / "S")
    code = cli.main(["run", str(s), "--set", "project.stages=['calibration','triangulate','filter']",
                     "--set", "frame_range=[0,5]"])
    assert code == 0
    assert calls(fake) == ["calibration T1 [0, 5]", "triangulation T1 [0, 5]", "filtering T1 [0, 5]",
                           "triangulation T2 [0, 5]", "filtering T2 [0, 5]"]   # calibration shared
    err = capsys.readouterr().err
    table = err[err.index("trial  stage"):].splitlines()
    assert re.match(r"T1\s+calibration\s+ok\s+\d+\.\d\s+calibration fine", table[1])
    assert re.match(r"T2\s+calibration\s+shared\s+0\.0\s+uses calibration of T1", table[4])
    assert len(table) == 8 and re.fullmatch(r"2 trial\(s\) in \d+\.\d s", table[7])
    log = (s / "logs.txt").read_text().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR|DEBUG)", line)
               for line in log if not line.startswith(("trial", "T1", "T2", " ", "2 trial(s) in")) and line)
    assert any("[T2] filtering done" in line for line in log)


def test_stage_order_follows_the_config(tmp_path, fake):
    s = make_session(tmp_path / "S", masses=(70.0,))
    assert cli.main(["run", str(s), "-q", "--set", "project.stages=['filtering','triangulation']"]) == 0
    assert [c.split()[0] for c in calls(fake)] == ["filtering", "triangulation"]


def test_run_reports_missing_stages_before_running_anything(tmp_path, fake, capsys):
    s = make_session(tmp_path / "S")
    code = cli.main(["run", str(s), "-q", "--set", "project.stages=['triangulation','kinematics']"])
    assert code == 2
    assert calls(fake) == []
    assert capsys.readouterr().err.strip().splitlines() == [
        "mocap3d: error: stage(s) kinematics not built yet; nothing was run. Built: triangulation; remove the others "
        "from [project] stages (e.g. --set project.stages=[...]) to run the built ones"]


def test_batch_continues_after_a_failed_trial(tmp_path, fake, capsys):
    s = make_session(tmp_path / "S", masses=(13.0, 70.0))
    code = cli.main(["run", str(s), "--set", "project.stages=['triangulation','filtering']"])
    assert code == 2
    assert [" ".join(c.split()[:2]) for c in calls(fake)] == ["triangulation T1", "triangulation T2", "filtering T2"]
    err = capsys.readouterr().err
    assert re.search(r"T1\s+triangulation\s+failed\s+0\.0\s+T1: no person triangulated", err)
    assert re.search(r"T1\s+filtering\s+skipped\s+0\.0\s+after triangulation failed", err)
    assert re.search(r"T2\s+filtering\s+ok", err)
    assert err.strip().splitlines()[-1] == "mocap3d: error: 1 of 2 trial(s) failed (see the summary above and the log file)"
    report = json.loads((s / "run_report.json").read_text())
    assert report["counts"] == {"ok": 2, "failed": 1, "skipped": 1, "shared": 0}
    assert report["results"][0]["error"].startswith("T1: no person triangulated")
    # stop at the first failure when asked; a single trial's error is its own one-line message
    fake.unlink()
    assert cli.main(["run", str(s), "-q", "--set", "project.stages=['triangulation']",
                     "--set", "project.continue_on_error=false"]) == 2
    assert calls(fake) == ["triangulation T1 all"]
    capsys.readouterr()
    assert cli.main(["triangulate", str(s / "T1"), "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "mocap3d: error: T1: no person triangulated (all cameras below likelihood 0.3)"]


def test_python_api_verbs(tmp_path, fake):
    s = make_session(tmp_path / "S")
    results = mocap3d.triangulation(s, frame_range=[2, 8], quiet=True)
    assert [(r.trial, r.stage, r.status) for r in results] == [("T1", "triangulation", "ok"), ("T2", "triangulation", "ok")]
    assert results[0].report == {"summary": "triangulation fine", "n": 1}
    assert calls(fake) == ["triangulation T1 [2, 8]", "triangulation T2 [2, 8]"]
    fake.unlink()
    # a config dict naming the folder, with nested and dotted overrides
    cfg = {"project": {"project_dir": str(s / "T2"), "frame_range": [1, 3]}}
    mocap3d.run(cfg, stages=["filter"], quiet=True, **{"project.participant_height": 1.7})
    assert calls(fake) == ["filtering T2 [1, 3]"]
    assert mocap3d.triangulate is mocap3d.api.triangulation and mocap3d.filter is mocap3d.api.filtering
    assert callable(mocap3d.triangulation) and callable(mocap3d.filtering)   # modules or verbs, both callable
    with pytest.raises(Mocap3dError, match="kinematics is not built yet"):
        mocap3d.kinematics(s, quiet=True)
    with pytest.raises(Mocap3dError, match="unknown config key 'bogus_key'"):
        mocap3d.run(s, bogus_key=3, quiet=True)


def test_stage_modules_stay_callable_as_verbs(tmp_path, fake, monkeypatch):
    fake_module = types.ModuleType("mocap3d.kinematics")
    monkeypatch.delitem(mocap3d.__dict__, "kinematics", raising=False)
    monkeypatch.setitem(sys.modules, "mocap3d.kinematics", fake_module)
    from mocap3d import kinematics          # resolved through the package: the module itself...
    assert kinematics is fake_module and callable(fake_module)    # ...made callable
    with pytest.raises(StageNotBuiltError):
        kinematics(make_session(tmp_path / "S"), quiet=True)     # = mocap3d.api.kinematics
    monkeypatch.delitem(mocap3d.__dict__, "kinematics")
    # a stage module that cannot be imported: the name is the API verb
    monkeypatch.setitem(sys.modules, "mocap3d.kinematics", None)
    assert mocap3d.kinematics is mocap3d.api.kinematics
    monkeypatch.delitem(mocap3d.__dict__, "kinematics", raising=False)


def test_importing_mocap3d_stays_light():
    code = ("import sys, mocap3d; print(sorted(m for m in ('cv2', 'opensim', 'jax', 'torch', 'mediapipe', 'matplotlib', "
            "'onnxruntime', 'ezc3d', 'pandas') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_call_tool_drops_keywords_the_tool_does_not_take(tmp_path, monkeypatch):
    (tmp_path / "fake_tool.py").write_text("def run_demo(directory, regenerate=False):\n    return (directory, regenerate)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert runner.call_tool("fake_tool", "run_demo", "demo", "d", regenerate=True, overrides=None) == ("d", True)
    with pytest.raises(StageNotBuiltError, match=r"^demo is not built yet \(fake_tool.run_nothing does not exist\)"):
        runner.call_tool("fake_tool", "run_nothing", "demo")


def test_evaluate_needs_the_truth_folder(tmp_path, capsys):
    (tmp_path / "res").mkdir()
    assert cli.main(["evaluate", str(tmp_path / "res")]) == 2
    assert "ground-truth folder not found" in capsys.readouterr().err


# ----------------------------------------------------------------------------- convert
def test_convert_trc_c3d_round_trip(tmp_path, capsys):
    from mocap3d.io.trc import read_trc, write_trc
    from mocap3d.markers import Markers3D
    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 2, (12, 3, 3))
    data[4, 1] = np.nan
    write_trc(Markers3D(data, ["RHip", "LHip", "Neck"], 100.0), tmp_path / "a.trc")
    assert cli.main(["convert", str(tmp_path / "a.trc"), str(tmp_path / "b.c3d"), "-q"]) == 0
    assert cli.main(["convert", str(tmp_path / "b.c3d"), str(tmp_path / "c.trc"), "-q"]) == 0
    back = read_trc(tmp_path / "c.trc")
    assert back.names == ["RHip", "LHip", "Neck"] and back.rate == 100.0
    np.testing.assert_allclose(back.data, data, atol=1e-5, equal_nan=True)
    assert f"wrote {tmp_path / 'c.trc'}" in capsys.readouterr().out


def test_convert_errors(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.xyz").write_text("x")
    assert cli.main(["convert", str(tmp_path / "a.xyz"), str(tmp_path / "b.trc")]) == 2
    assert "cannot tell the format from the extension; give --from" in capsys.readouterr().err
    (tmp_path / "a.trc").write_text("x")
    assert cli.main(["convert", str(tmp_path / "a.trc"), str(tmp_path / "b.toml")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
    assert cli.main(["convert", str(tmp_path / "a.trc"), str(tmp_path / "b.x"), "--to", "qualisys"]) == 2
    assert "cannot convert trc (markers) into qualisys (calibration)" in capsys.readouterr().err
    (tmp_path / "cams.qca.txt").write_text("x")
    monkeypatch.setitem(conversions.READERS, "qualisys", ("mocap3d.no_such_converters", "read_qualisys", {}))
    assert conversions.plan(tmp_path / "cams.qca.txt", tmp_path / "Calib.toml") == ("qualisys", "calibration")
    assert cli.main(["convert", str(tmp_path / "cams.qca.txt"), str(tmp_path / "Calib.toml")]) == 2
    assert capsys.readouterr().err.strip() == ("mocap3d: error: converter qualisys -> calibration is not built yet "
                                               "(mocap3d.no_such_converters does not exist)")
    assert not (tmp_path / "Calib.toml").exists()
    assert conversions.guess_format(tmp_path / "pose_out") == "openpose"
    with pytest.raises(Mocap3dError, match="cannot convert trc"):
        conversions.plan(tmp_path / "a.trc", tmp_path / "x.json", None, "openpose")


def test_help_text_mentions_the_log_and_config_order():
    text = textwrap.dedent(cli.build_parser().format_help())
    assert "session Config.toml < participant < trial < --config < --set" in text


def test_config_file_option_and_logging_section(tmp_path, fake, capsys):
    s = make_session(tmp_path / "S", masses=(70.0,))
    extra = tmp_path / "extra.toml"
    extra.write_text("[project]\nframe_range = [3, 9]\n[logging]\nlog_file = 'out/session.log'\nlevel = 'WARNING'\n")
    assert cli.main(["triangulate", str(s), "--config", str(extra)]) == 0
    assert calls(fake) == ["triangulation T1 [3, 9]"]
    assert capsys.readouterr().err == ""                          # level WARNING: nothing to say
    assert "[T1] triangulation done" in (s / "out" / "session.log").read_text()   # the file still gets INFO
    assert not (s / "logs.txt").exists()
    assert cli.main(["triangulate", str(s), "-q", "--set", "logging.log_file=''"]) == 0
    assert not (s / "logs.txt").exists()
    assert cli.main(["triangulate", str(s), "--config", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: config file not found" in capsys.readouterr().err


def test_convert_calibration_through_other_formats(tmp_path):
    """TOML -> Qualisys / EasyMocap folder / OpenCap folder -> TOML keeps the cameras (k3 aside)."""
    conv = pytest.importorskip("mocap3d.calibration.converters", reason="calibration converters not in this tree")
    if not all(hasattr(conv, f) for f in ("read_qualisys", "write_qualisys", "read_easymocap", "write_easymocap")):
        pytest.skip("calibration converters incomplete in this tree")
    from mocap3d.camera import Camera, CameraRig
    from mocap3d.io.calibration_toml import read_calibration, write_calibration
    cams = [Camera(f"cam{i:02d}", (1920, 1080), [[1500.0 + 10 * i, 0, 960], [0, 1500.0 + 10 * i, 540], [0, 0, 1]],
                   [-0.1, 0.02, 0.001, -0.002], [0.1 * i, 1.0 + 0.2 * i, -0.05], [0.3 * i, 1.2, 4.0]) for i in range(3)]
    write_calibration(CameraRig(cams), tmp_path / "Calib.toml")
    routes = [("cams.qca.txt", []), ("easy", ["--to", "easymocap"]), ("ocap", ["--to", "opencap"])]
    for out, opts in routes:
        fmt = opts[1] if opts else "qualisys"
        assert cli.main(["convert", str(tmp_path / "Calib.toml"), str(tmp_path / out), "-q", *opts]) == 0
        back = tmp_path / f"back_{fmt}.toml"
        assert cli.main(["convert", str(tmp_path / out), str(back), "-q", "--from", fmt]) == 0
        rig = read_calibration(back)
        assert len(rig) == 3
        for a, b in zip(cams, rig):
            np.testing.assert_allclose(b.position, a.position, atol=1e-6)
            np.testing.assert_allclose(b.matrix, a.matrix, atol=1e-6)
            np.testing.assert_allclose(b.distortions[:4], a.distortions[:4], atol=1e-9)
