"""Batches on a Dask LocalCluster of 2 worker processes against a serial run of the same synthetic session.

The session (``mocap3d.synthetic.make_session``): 2 participants x 3 walking
trials of 40 frames seen by one 4-camera rig, sharing the session calibration;
stages calibration (reuses Calib.toml), triangulation, filtering, kinematics.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("opensim")

import mocap3d
import mocap3d.api as api
from mocap3d.batch import BatchOptions, check_workers, resolve_batch
from mocap3d.cli import main
from mocap3d.errors import Mocap3dError
from mocap3d.project import discover
from mocap3d.synthetic import make_session

INPUTS = ("pose", "ground_truth")


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return make_session(tmp_path_factory.mktemp("batch") / "session", participants=2, trials=3, n_frames=40)


@pytest.fixture(scope="module")
def client():
    """2 worker processes; a task whose worker dies fails at once (the batch's --retries resubmits it)."""
    import dask
    from distributed import Client, LocalCluster
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def runs(session, tmp_path_factory) -> tuple[Path, Path]:
    """The session run serially, and with ``mocap3d run --workers 2`` (a LocalCluster of its own)."""
    root = tmp_path_factory.mktemp("runs")
    serial, batch = shutil.copytree(session, root / "serial"), shutil.copytree(session, root / "batch")
    api.run(serial, quiet=True)
    assert main(["run", str(batch), "--workers", "2", "-q"]) == 0
    return serial, batch


def _outputs(root: Path) -> set[str]:
    """Files a run wrote (not its inputs), relative to the session."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
            and not set(p.relative_to(root).parts) & set(INPUTS) and p.name not in ("Config.toml", "Calib.toml")}


def _without_times(obj, root: Path):
    """A report with the session path replaced and every time in seconds dropped."""
    if isinstance(obj, dict):
        return {k: _without_times(v, root) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_without_times(v, root) for v in obj]
    return obj.replace(str(root), "<session>") if isinstance(obj, str) else obj


def _statuses(session: Path) -> dict[tuple[str, str], str]:
    report = json.loads((session / "run_report.json").read_text())
    return {(r["trial"], r["stage"]): r["status"] for r in report["results"]}


def test_batch_writes_what_a_serial_run_writes(runs):
    serial, batch = runs
    files = _outputs(serial)
    assert files == _outputs(batch)
    assert sum(f.endswith(".trc") for f in files) == 12 and sum(f.endswith(".mot") for f in files) == 6
    for rel in sorted(files - {"logs.txt", "run_report.json"}):
        a, b = serial / rel, batch / rel
        if rel.endswith(".json"):
            assert _without_times(json.loads(a.read_text()), serial) == \
                _without_times(json.loads(b.read_text()), batch), rel
        else:                                    # .trc, .c3d, .mot, .osim, marker errors: byte for byte
            assert a.read_bytes() == b.read_bytes(), rel
    assert _statuses(serial) == _statuses(batch)
    assert set(_statuses(batch).values()) == {"ok", "shared"}      # calibration once, shared by 5 trials
    log = (batch / "logs.txt").read_text()
    for t in ("P01/T01", "P01/T02", "P01/T03", "P02/T01", "P02/T02", "P02/T03"):
        assert f"({t}): [{t}] kinematics done" in log       # written by the worker, tagged with its trial


def test_rerun_skips_finished_trials_and_a_broken_trial_fails_alone(runs, client):
    _, batch = runs
    mots = {p: p.stat().st_mtime_ns for p in batch.rglob("*.mot")}
    broken = sorted((batch / "P02" / "T02" / "pose" / "cam01_json").glob("*.json"))[2]
    good = broken.read_bytes()
    broken.write_text("{not json")
    with pytest.raises(Mocap3dError, match=r"^1 of 6 trial\(s\) failed, first P02/T02 at triangulation: .*"
                                           r"cam01_000002\.json, line 1: invalid or truncated JSON"):
        api.run(batch, client=client, quiet=True)
    st = _statuses(batch)
    assert st[("P02/T02", "triangulation")] == "failed" and st[("P02/T02", "kinematics")] == "skipped"
    others = {k: v for k, v in st.items() if k[0] != "P02/T02"}
    assert set(others.values()) == {"current"} and len(others) == 20
    assert all(p.stat().st_mtime_ns == m for p, m in mots.items())     # nothing rewritten, nothing lost
    # repaired: only the failed trial runs; then all six are up to date
    broken.write_bytes(good)
    api.run(batch, client=client, quiet=True)
    st = _statuses(batch)
    assert {v for k, v in st.items() if k[0] == "P02/T02"} == {"ok"}      # its calibration reran with it
    assert sum(v == "current" for v in st.values()) == 20
    api.run(batch, client=client, quiet=True)
    assert set(_statuses(batch).values()) == {"current"}


def test_changed_configuration_or_force_reruns(runs):
    """Up to date needs the same configuration; force ignores the check (checked without running)."""
    from mocap3d.batch import _previous_report, fingerprint, why_run
    _, batch = runs
    previous = _previous_report(batch)
    trials = discover(batch)
    plan = trials[0].config["project"]["stages"]
    assert why_run(trials[0], plan, previous, fingerprint(trials[0], plan)) is None
    changed = discover(batch, overrides=["filtering.butterworth.cut_off_frequency=5"])[0]
    assert "configuration" in why_run(changed, plan, previous, fingerprint(changed, plan))
    same = discover(batch, overrides=["batch.retries=3", "logging.level=DEBUG"])[0]   # not results: still up to date
    assert why_run(same, plan, previous, fingerprint(same, plan)) is None
    os.utime(trials[0].config_files[-1])                       # the trial's Config.toml edited now
    assert "Config.toml is newer" in why_run(trials[0], plan, previous, fingerprint(trials[0], plan))


def test_unreachable_scheduler_is_one_line_before_any_trial(session, tmp_path):
    s = shutil.copytree(session, tmp_path / "s")
    with pytest.raises(Mocap3dError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 .*dask "
                                           r"scheduler"):
        api.run(s, scheduler="tcp://127.0.0.1:9", quiet=True, batch={"connect_timeout": 1})
    assert not list(s.rglob("pose-3d")) and not (s / "run_report.json").exists()


def test_worker_checks(client, session, monkeypatch, tmp_path):
    trials = discover(session)
    probes = check_workers(client, session, trials)
    assert len(probes) == 2 and all(p["threads"] >= 1 for p in probes.values())
    with pytest.raises(Mocap3dError, match=r"Dask worker tcp://.* cannot see the session folder .*elsewhere; run "
                                           r"the workers on a filesystem shared"):
        check_workers(client, tmp_path / "elsewhere", [])
    monkeypatch.setattr(mocap3d, "__version__", "9.9.9")      # this machine now differs from the workers
    with pytest.raises(Mocap3dError, match=r"Dask worker tcp://.* runs mocap3d .* \(here 9\.9\.9\); install the "
                                           r"same versions"):
        check_workers(client, session, trials)


def test_batch_options_resolve(session, monkeypatch):
    trials = discover(session)
    monkeypatch.delenv("MOCAP3D_SCHEDULER", raising=False)
    assert resolve_batch({}, trials) is None                     # nothing asks for Dask: serial
    monkeypatch.setenv("MOCAP3D_SCHEDULER", "tcp://sched:8786")
    opts = resolve_batch({}, trials)
    assert opts.scheduler == "tcp://sched:8786" and opts.retries == 1
    assert resolve_batch(BatchOptions(scheduler="tcp://other:1"), trials).scheduler == "tcp://other:1"
    with pytest.raises(Mocap3dError, match="either --workers"):
        resolve_batch({"workers": 2, "scheduler": "tcp://x:1"}, trials)


def _killer(trial, plan, calibrated, verbose=False, retries=0):
    """A trial task whose worker process dies on P01/T01 (like an out-of-memory kill); else the real task."""
    import os as _os

    from mocap3d.batch import trial_task
    if trial.id == "P01/T01":
        _os._exit(9)
    return trial_task(trial, plan, calibrated, verbose, retries)


def test_lost_worker_is_retried_then_reported_alone(client, tmp_path, monkeypatch):
    """retries 1: the trial whose worker dies twice fails with one line, the other one finishes."""
    import cloudpickle

    import mocap3d.batch as batch
    cloudpickle.register_pickle_by_value(sys.modules[__name__])     # the workers cannot import this test module
    s = make_session(tmp_path / "small", participants=1, trials=2, n_frames=30,
                     stages=("triangulation", "filtering"))
    monkeypatch.setattr(batch, "trial_task", _killer)
    with pytest.raises(Mocap3dError, match=r"1 of 2 trial\(s\) failed, first P01/T01 at triangulation: its worker "
                                           r"was lost 2 time\(s\) while running it \(killed, out of memory"):
        api.run(s, client=client, retries=1, quiet=True)
    st = _statuses(s)
    assert st[("P01/T02", "filtering")] == "ok" and st[("P01/T01", "filtering")] == "skipped"


def test_two_person_trial_runs_one_kinematics_task_per_person(client, tmp_path):
    """A 2-person trial: its kinematics persons run as 2 Dask tasks; .mot and reports as in a serial run."""
    from mocap3d.synthetic.capture import make_capture
    from mocap3d.synthetic.writer import write_capture
    cap = make_capture(4, "walking", 30, 30.0, second_person=True, occlusion=False, seed=3)
    trial = write_capture(cap, tmp_path / "made" / "walk", multi_person=True)
    text = (trial / "Config.toml").read_text().replace(
        "[project]\n", "[project]\nstages = ['association', 'triangulation', 'kinematics', 'gait']\n", 1)
    (trial / "Config.toml").write_text(text + "\n[kinematics]\nparallel_workers_kinematics = 2\n")
    serial, batch = (shutil.copytree(trial, tmp_path / k / "walk") for k in ("serial", "batch"))
    api.run(serial, quiet=True)                                   # the 2 persons in 2 local processes
    api.run(batch, client=client, quiet=True)
    mots = sorted(p.relative_to(serial).as_posix() for p in (serial / "kinematics").glob("*.mot"))
    assert mots == ["kinematics/walk_P0_0-29.mot", "kinematics/walk_P1_0-29.mot"]
    for rel in mots + ["kinematics/walk_P0_0-29_marker_errors.csv", "kinematics/walk_P1_0-29_marker_errors.csv"]:
        assert (serial / rel).read_bytes() == (batch / rel).read_bytes(), rel
    for rel in ("kinematics/kinematics_report.json", "gait/gait_report.json"):
        assert _without_times(json.loads((serial / rel).read_text()), serial) == \
            _without_times(json.loads((batch / rel).read_text()), batch), rel
    assert _statuses(serial) == _statuses(batch) and set(_statuses(batch).values()) == {"ok"}
    tasks = json.loads((batch / "run_report.json").read_text())["person_tasks"]
    assert list(tasks) == ["walk"] and [k.split("-")[:4] for k in tasks["walk"]] == \
        [["mocap3d", "person", "walk", "0"], ["mocap3d", "person", "walk", "1"]]
    log = (batch / "logs.txt").read_text()
    assert "(walk): kinematics of 2 person(s) from raw .trc files, 2 Dask task(s)" in log
    for person in ("P0", "P1"):           # written by the person's own task, tagged with its trial
        assert f"(walk): walk_{person}_0-29.trc: 30 frames, marker RMS" in log
