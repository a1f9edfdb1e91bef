"""Trials in parallel on a Dask cluster (``mocap3d run --workers N`` / ``--scheduler ADDRESS``).

One Dask task per trial runs that trial's stages in order with the same code as
a serial run (:func:`mocap3d.runner._run_trial`), so every file lands where a
single run puts it. A calibration folder shared by several trials is calibrated
by one task first; the trials that share it are submitted when it is done.
The kinematics persons of a multi-person trial run as one task each, submitted
by the trial's task (:func:`kinematics_by_person`), which then writes the stage
report and goes on with the next stages.

Completeness (what a rerun skips unless ``force``): a trial is *up to date* when
the session's previous ``run_report.json`` lists every stage of its current plan
as ok (or shared / up to date) with the same fingerprint (a hash of the trial's
merged configuration and plan), when every stage of the plan has its
``<stage>_report.json`` (in the trial folder or one level below it; calibration's
in the calibration folder), and when the oldest of those reports is newer than
the newest input: the trial's Config.toml chain, its ``videos/``, its ``pose/``
(unless the plan estimates poses) and its calibration folder (without the
Calib*.toml and report that the calibration stage writes, when it is planned).

Workers are checked before any trial starts: the scheduler must answer, every
worker must run the same Python, dask, distributed, numpy, opensim and mocap3d
versions as this machine, and see (and write into) the session folder.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Mocap3dError
from .logs import get_logger
from .project import Trial
from .runner import (_HANDLER_TAG, StageResult, _batch_progress, _run_trial, configure_logging, format_summary,
                     stage_function)

log = get_logger("batch")

SCHEDULER_ENV = "MOCAP3D_SCHEDULER"
#: Environment variables that cap the threads of BLAS / OpenMP / numexpr inside one worker process.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
#: Statuses of a previous run_report.json entry that count as done.
DONE = ("ok", "shared", "current")
_VERSIONS = ("python", "mocap3d", "dask", "distributed", "numpy", "opensim")


@dataclass
class BatchOptions:
    """How to spread the trials: ``workers`` local processes, a ``scheduler`` address or a ``client``.

    ``retries``: resubmissions of a trial whose worker was lost (None: ``[batch] retries``);
    ``force``: rerun trials that are up to date; ``verbose``: DEBUG lines in the log file.
    """

    workers: int | None = None
    scheduler: str | None = None
    client: Any = None
    retries: int | None = None
    force: bool = False
    verbose: bool = False
    record: dict[str, Any] = field(default_factory=dict)   # written into run_report.json

    def run(self, trials: Sequence[Trial], plans: list[list[str]], results: list[StageResult]) -> None:
        """Run ``plans`` on ``trials`` on the cluster, appending to ``results`` in trial order."""
        run_batch(trials, plans, results, self)


def resolve_batch(options: BatchOptions | Mapping[str, Any] | None, trials: Sequence[Trial]) -> BatchOptions | None:
    """The batch options in force, or None for a serial run.

    The scheduler address comes from the options, else ``$MOCAP3D_SCHEDULER``, else
    ``[batch] scheduler``; without workers, scheduler or client the run is serial.
    """
    opts = options if isinstance(options, BatchOptions) else BatchOptions(**dict(options or {}))
    cfg = trials[0].config.get("batch", {}) if trials else {}
    if opts.workers is not None and (opts.scheduler or opts.client is not None):
        raise Mocap3dError("give either --workers (a local cluster) or --scheduler / a client (an existing "
                           "cluster), not both")
    if opts.workers is not None and int(opts.workers) < 1:
        raise Mocap3dError(f"--workers {opts.workers}: give a number of worker processes >= 1")
    if opts.workers is None and opts.client is None and not opts.scheduler:
        opts.scheduler = os.environ.get(SCHEDULER_ENV) or str(cfg.get("scheduler", "") or "") or None
    if opts.workers is None and opts.client is None and not opts.scheduler:
        if opts.force or opts.retries is not None:
            log.warning("--force and --retries apply to Dask batches only (--workers N or --scheduler ADDRESS); "
                        "this run is serial and reruns every trial")
        return None
    if opts.retries is None:
        opts.retries = int(cfg.get("retries", 1))
    if opts.retries < 0:
        raise Mocap3dError(f"--retries {opts.retries}: give a number >= 0")
    return opts


# --------------------------------------------------------------------------- completeness
def fingerprint(trial: Trial, plan: Sequence[str]) -> str:
    """Hash of the trial's merged configuration and stage plan (a changed --set or Config.toml reruns it).

    The [batch] and [logging] sections do not change results and are left out.
    """
    config = {k: v for k, v in trial.config.items() if k not in ("batch", "logging")}
    text = json.dumps({"config": config, "plan": list(plan)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        for dirpath, _, names in os.walk(folder):
            for n in names:
                yield Path(dirpath) / n


def _newest(paths: Iterator[Path] | Sequence[Path]) -> tuple[float, Path | None]:
    best, which = 0.0, None
    for p in paths:
        with contextlib.suppress(OSError):
            m = p.stat().st_mtime
            if m > best:
                best, which = m, p
    return best, which


def _stage_report(trial: Trial, stage: str) -> Path | None:
    name = f"{stage}_report.json"
    if stage == "calibration":
        p = trial.calibration_dir / name
        return p if p.is_file() else None
    for folder in [trial.path, *sorted(d for d in trial.path.iterdir() if d.is_dir())]:
        if (folder / name).is_file():
            return folder / name
    return None


def _inputs(trial: Trial, plan: Sequence[str]) -> Iterator[Path]:
    yield from trial.config_files
    yield from _files(trial.videos_dir)
    if "pose" not in plan:
        yield from _files(trial.pose_dir)
    for p in _files(trial.calibration_dir):
        if "calibration" in plan and (p.name.startswith("Calib") or p.name.endswith("_report.json")
                                      or "debug" in p.parts):
            continue      # written by the calibration stage itself
        yield p


def why_run(trial: Trial, plan: Sequence[str], previous: Mapping[str, Any] | None, print_: str) -> str | None:
    """None when the trial is up to date (module docstring), else why it must run."""
    if not previous:
        return "no earlier run_report.json"
    if previous.get("fingerprints", {}).get(trial.id) != print_:
        return "configuration or stages changed (or not run in a batch before)"
    status = {r.get("stage"): r.get("status") for r in previous.get("results", []) if r.get("trial") == trial.id}
    bad = [s for s in plan if status.get(s) not in DONE]
    if bad:
        return f"{bad[0]} was {status.get(bad[0], 'not run')}"
    reports = [_stage_report(trial, s) for s in plan]
    if any(r is None for r in reports):
        return f"{plan[reports.index(None)]}_report.json is missing"
    oldest = min(r.stat().st_mtime for r in reports)          # type: ignore[union-attr]
    newest, which = _newest(_inputs(trial, plan))
    if newest >= oldest:
        return f"{which} is newer than the outputs"
    return None


def _previous_report(session: Path) -> dict[str, Any] | None:
    try:
        return json.loads((session / "run_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- worker side
def probe(session: str, trial_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """Versions, host, cores and what this process sees of the session (run on each worker)."""
    import dask
    import distributed
    import numpy

    from . import __version__
    try:
        import opensim
        osim = str(opensim.__version__)
    except Exception:  # noqa: BLE001 - absent or broken: reported as such
        osim = "missing"
    missing = next((d for d in trial_dirs if not os.path.isdir(d)), None)
    return {"python": platform.python_version(), "mocap3d": __version__, "dask": dask.__version__,
            "distributed": distributed.__version__, "numpy": numpy.__version__, "opensim": osim,
            "host": socket.gethostname(), "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1, "sees_session": os.path.isdir(session), "missing_trial": missing,
            "writable": os.access(session, os.W_OK)}


def limit_threads(n: int) -> int:
    """Cap BLAS/OpenMP/numexpr (environment and loaded libraries, via threadpoolctl) and OpenCV at ``n``."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    with contextlib.suppress(ImportError):
        import cv2
        cv2.setNumThreads(n)
    return n


def _worker_logging(trial: Trial, verbose: bool) -> None:
    """Log into the trial's log file (the session log of a single run), tagged with the trial; no console."""
    cfg = trial.config.get("logging", {})
    logger = configure_logging(trial.log_file, cfg.get("level", "INFO"), verbose, True,
                               cfg.get("use_custom_logging", False), progress_bars=False)
    tag = trial.id.replace("%", "%%")
    for h in list(logger.handlers):
        if not getattr(h, _HANDLER_TAG, False):
            continue
        if isinstance(h, logging.FileHandler):
            h.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s %(name)s ({tag}): %(message)s",
                                             "%Y-%m-%d %H:%M:%S"))
        else:
            logger.removeHandler(h)


def person_task(trial: Trial, trc: str, person: int, verbose: bool = False) -> tuple[dict[str, Any] | None, str]:
    """Kinematics of one person's ``.trc`` inside a worker (:func:`mocap3d.kinematics.stage.kinematics_person`)."""
    from .kinematics.stage import kinematics_person
    _worker_logging(trial, verbose)
    try:
        return kinematics_person(trial, trc, person)
    finally:
        for h in logging.getLogger("mocap3d").handlers:
            h.flush()


def kinematics_by_person(trial: Trial, verbose: bool = False, retries: int = 0) -> dict[str, Any]:
    """The kinematics stage with one Dask task per person when the trial has several (else as a serial run).

    Runs inside the trial's task: submits :func:`person_task` for every person's
    ``.trc``, leaves its worker slot to them while it waits (``worker_client``),
    then writes the stage report from their results, as :func:`~mocap3d.kinematics.run_kinematics`
    does. The returned report also lists the person tasks' keys (``person_tasks``; not in the file).
    """
    from distributed import KilledWorker, worker_client

    from .kinematics.stage import kinematics_inputs, run_kinematics, write_kinematics_report
    t0 = time.perf_counter()
    files, kind = kinematics_inputs(trial)
    if len(files) < 2:
        return run_kinematics(trial)
    log.info("kinematics of %d person(s) from %s .trc files, %d Dask task(s)", len(files), kind, len(files))
    keys: list[str] = []
    with worker_client() as client:
        def submit(i: int, f: Path) -> Any:
            keys.append(f"mocap3d-person-{trial.id}-{i}-{time.time_ns()}")
            return client.submit(person_task, trial, str(f), i, verbose, key=keys[-1], pure=False)

        futures = [submit(i, f) for i, f in enumerate(files)]
        outcomes = []
        for i, (f, fut) in enumerate(zip(files, futures)):
            for attempt in range(1, retries + 2):
                try:
                    outcomes.append(fut.result())
                    break
                except KilledWorker:
                    if attempt > retries:
                        raise Mocap3dError(f"{f.name}: the worker running its kinematics was lost {attempt} "
                                           "time(s) (killed, out of memory or crashed); --retries resubmits it") from None
                    log.warning("%s: worker lost; its kinematics resubmitted (attempt %d)", f.name, attempt + 1)
                    fut = submit(i, f)
    _worker_logging(trial, verbose)        # another trial's task may have run in this process meanwhile
    report = write_kinematics_report(trial, files, kind, len(files), outcomes, time.perf_counter() - t0)
    return {**report, "person_tasks": keys}


def trial_task(trial: Trial, plan: list[str], calibrated: dict[Path, str], verbose: bool = False,
               retries: int = 0) -> list[StageResult]:
    """Run ``plan`` on one trial inside a worker; failures are returned as results, never raised.

    The kinematics persons of a multi-person trial run as tasks of their own (:func:`kinematics_by_person`).
    """
    _worker_logging(trial, verbose)
    for section, key in (("pose", "parallel_workers_pose"), ("kinematics", "parallel_workers_kinematics")):
        trial.config.setdefault(section, {})[key] = 1      # the batch is the parallelism; no nested pools
    results: list[StageResult] = []
    try:
        funcs = {s: stage_function(s) for s in plan}
        if "kinematics" in funcs:
            funcs["kinematics"] = functools.partial(kinematics_by_person, verbose=verbose, retries=retries)
        _run_trial(trial, plan, funcs, calibrated, results, alone=False)
    except Exception as exc:  # noqa: BLE001 - a stop (continue_on_error = false) or a stage not built here
        if not results or results[-1].status != "failed":
            results.append(StageResult(trial.id, plan[0], "failed", error=str(exc)))
    finally:
        for h in logging.getLogger("mocap3d").handlers:
            h.flush()
    return results


# --------------------------------------------------------------------------- client side
def _threads_per_worker(setting: Any, cpus: int, workers_here: int) -> int:
    if setting in (None, "auto"):
        return max(1, cpus // max(1, workers_here))
    return max(1, int(setting))


@contextlib.contextmanager
def open_client(opts: BatchOptions, cfg: Mapping[str, Any]) -> Iterator[Any]:
    """A connected ``distributed.Client``: the given one, a new LocalCluster, or the scheduler at an address."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise Mocap3dError(f"batches need dask.distributed ({exc}); pip install 'dask[distributed]'") from None
    if opts.client is not None:
        yield opts.client
        return
    timeout = float(cfg.get("connect_timeout", 10))
    if opts.workers is not None:
        n = int(opts.workers)
        threads = _threads_per_worker(cfg.get("threads_per_worker", "auto"), os.cpu_count() or 1, n)
        env = {v: str(threads) for v in THREAD_VARS}
        # A lost worker fails its task at once; the batch resubmits it (--retries) and says so. No statistical
        # profiler (it samples every 10 ms for a dashboard nobody opens) and slower monitors: an idle worker
        # then uses 0.7 % of a core instead of 2.2 % (measured), left to the trials.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                              "distributed.worker.profile.enabled": False,
                              "distributed.worker.memory.monitor-interval": "1s",
                              "distributed.admin.system-monitor.interval": "2s",
                              "distributed.admin.tick.interval": "100ms"}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   env=env, silence_logs=logging.ERROR)
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(opts.scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise Mocap3dError(f"cannot reach the Dask scheduler at {opts.scheduler} ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:120]}); start it with 'dask scheduler' or fix --scheduler, "
                           f"${SCHEDULER_ENV} or [batch] scheduler") from None
    with client:
        yield client


def check_workers(client: Any, session: Path, trials: Sequence[Trial], threads_setting: Any = "auto",
                  timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """Probe every worker; Mocap3dError (one line) on no worker, a version mismatch or an unseen session.

    Also caps each worker's BLAS/OpenMP/OpenCV threads (``threads_per_worker``).
    Returns the probe of each worker address.
    """
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        raise Mocap3dError(f"the Dask scheduler at {client.scheduler.address} has no worker after {timeout:g} s; "
                           f"start workers with 'dask worker {client.scheduler.address}'") from None
    dirs = [str(t.path) for t in trials]
    try:
        probes: dict[str, dict[str, Any]] = client.run(probe, str(session), dirs)
    except Exception as exc:  # noqa: BLE001 - typically mocap3d missing or another version on a worker
        raise Mocap3dError(f"the Dask workers cannot run mocap3d ({type(exc).__name__}: {exc}); install the "
                           f"same mocap3d as this machine on every worker") from None
    here = probe(str(session))
    for addr, p in sorted(probes.items()):
        diff = [f"{k} {p.get(k)} (here {here[k]})" for k in _VERSIONS if p.get(k) != here[k]]
        if diff:
            raise Mocap3dError(f"Dask worker {addr} runs {', '.join(diff)}; install the same versions on every "
                               "worker and this machine")
        if not p["sees_session"] or p["missing_trial"]:
            what = (f"the session folder {session}" if not p["sees_session"]
                    else f"the trial folder {p['missing_trial']}")
            raise Mocap3dError(f"Dask worker {addr} on {p['host']} cannot see {what}; run the workers on a "
                               "filesystem shared with this machine, mounted at the same path")
        if not p["writable"]:
            raise Mocap3dError(f"Dask worker {addr} on {p['host']} cannot write into {session}; give the worker's "
                               "user write access to the session folder")
    threaded = [a for a, w in client.scheduler_info().get("workers", {}).items() if w.get("nthreads", 1) > 1]
    if threaded:
        log.warning("Dask worker(s) %s run several threads: trials in one process share its log setup and the GIL; "
                    "start workers with --nthreads 1", ", ".join(sorted(threaded)))
    per_host: dict[str, int] = {}
    for p in probes.values():
        per_host[p["host"]] = per_host.get(p["host"], 0) + 1
    for addr, p in probes.items():
        n = _threads_per_worker(threads_setting, int(p["cpus"]), per_host[p["host"]])
        client.run(limit_threads, n, workers=[addr])
        p["threads"] = n
    return probes


@dataclass
class _Job:
    """One submitted task: which trial, which stages, how many attempts so far."""

    index: int
    plan: list[str]
    calibrated: dict[Path, str]
    calibration_only: bool = False
    attempts: int = 1


def run_batch(trials: Sequence[Trial], plans: list[list[str]], results: list[StageResult], opts: BatchOptions) -> None:
    """Run every trial that is not up to date on the cluster; summary and Mocap3dError like a serial batch."""
    t0 = time.perf_counter()
    cfg = trials[0].config.get("batch", {}) if trials else {}
    session = trials[0].session
    previous = None if opts.force else _previous_report(session)
    prints = [fingerprint(t, p) for t, p in zip(trials, plans)]
    opts.record["fingerprints"] = dict(zip((t.id for t in trials), prints))
    per_trial: list[list[StageResult] | None] = [None] * len(trials)
    todo = []
    for i, (t, plan) in enumerate(zip(trials, plans)):
        reason = None if opts.force else why_run(t, plan, previous, prints[i])
        if opts.force or reason:
            todo.append(i)
            log.debug("[%s] runs: %s", t.id, "--force" if opts.force else reason)
        else:
            per_trial[i] = [StageResult(t.id, s, "current", error="up to date (outputs newer than inputs; "
                                        "--force reruns it)") for s in plan]
    stopped = ""
    n_workers = 0
    if todo:
        with open_client(opts, cfg) as client:
            probes = check_workers(client, session, [trials[i] for i in todo], cfg.get("threads_per_worker", "auto"),
                                   float(cfg.get("connect_timeout", 10)))
            n_workers = len(probes)
            log.info("batch: %d trial(s) to run (%d up to date) on %d Dask worker(s) of %s, %s thread(s) each",
                     len(todo), len(trials) - len(todo), n_workers, client.scheduler.address,
                     "/".join(sorted({str(p["threads"]) for p in probes.values()})))
            stopped = _submit_and_collect(client, trials, plans, todo, per_trial, opts)
    for i, t in enumerate(trials):
        if per_trial[i] is None:
            per_trial[i] = [StageResult(t.id, s, "skipped", error=stopped or "not run") for s in plans[i]]
        results.extend(per_trial[i])                               # type: ignore[arg-type]
    dt = time.perf_counter() - t0
    failed = [t.id for t, rs in zip(trials, per_trial) if any(r.status == "failed" for r in rs or [])]
    ran = len(todo)
    speed = f"{ran} run on {n_workers} worker(s) ({60 * ran / dt:.1f} trials/min)" if ran and dt > 0 else "none run"
    log.info("\n%s\n%d trial(s) in %.1f s: %s, %d up to date, %d failed", format_summary(results), len(trials), dt,
             speed, len(trials) - ran, len(failed))
    if failed:
        first = next(r for r in results if r.status == "failed")
        raise Mocap3dError(f"{len(failed)} of {len(trials)} trial(s) failed, first {first.trial} at {first.stage}: "
                           f"{first.error} (see the summary above and the log file)")


def _submit_and_collect(client: Any, trials: Sequence[Trial], plans: list[list[str]], todo: list[int],
                        per_trial: list[list[StageResult] | None], opts: BatchOptions) -> str:
    """Submit the trials (shared calibrations first), collect their results; the reason of a stop, or ''."""
    from distributed import as_completed

    groups: dict[Path, list[int]] = {}
    for i in todo:
        if "calibration" in plans[i]:
            groups.setdefault(trials[i].calibration_dir.resolve(), []).append(i)
    waiting: dict[int, list[int]] = {}        # first trial of a shared calibration -> the trials that wait for it
    jobs: dict[Any, _Job] = {}
    ac = as_completed()

    def submit(job: _Job) -> None:
        t = trials[job.index]
        fut = client.submit(trial_task, t, job.plan, job.calibrated, opts.verbose, opts.retries or 0, pure=False,
                            key=f"mocap3d-{'calibration' if job.calibration_only else 'trial'}-{t.id}-"
                                f"{job.attempts}-{time.time_ns()}")
        jobs[fut] = job
        ac.add(fut)

    for i in todo:
        calib = trials[i].calibration_dir.resolve()
        group = groups.get(calib, [])
        if len(group) > 1 and group[0] == i:
            waiting[i] = group[1:]
            submit(_Job(i, ["calibration"], {}, calibration_only=True))
        elif len(group) <= 1:
            submit(_Job(i, plans[i], {}))
    partial: dict[int, list[StageResult]] = {}
    stop = ""

    def _after_failure(t: Trial) -> None:
        nonlocal stop
        if not t.config["project"].get("continue_on_error", True) and not stop:
            stop = f"not run: the batch stopped after {t.id} failed (continue_on_error = false)"
            for f in list(jobs):
                f.cancel()

    def finished() -> Iterator[int]:
        nonlocal stop
        for fut in ac:
            job = jobs.pop(fut)
            t = trials[job.index]
            if fut.status == "cancelled":
                continue                    # the batch stopped (continue_on_error = false)
            if fut.status != "finished":
                exc = fut.exception() if fut.status == "error" else None
                if fut.status == "error" and job.attempts <= (opts.retries or 0):
                    log.warning("[%s] worker lost (%s); resubmitted (attempt %d)", t.id, type(exc).__name__,
                                job.attempts + 1)
                    job.attempts += 1
                    submit(job)
                    continue
                why = (f"its worker was lost {job.attempts} time(s) while running it (killed, out of memory or "
                       f"crashed: {type(exc).__name__}); --retries resubmits it" if exc else f"task {fut.status}")
                got = [StageResult(t.id, job.plan[0], "failed", error=why)]
                got += [StageResult(t.id, s, "skipped", error=f"after {job.plan[0]} failed") for s in job.plan[1:]]
            else:
                got = fut.result()
                for r in got:
                    if r.stage == "kinematics" and r.report.get("person_tasks"):
                        opts.record.setdefault("person_tasks", {})[t.id] = r.report.pop("person_tasks")
            if job.calibration_only:
                partial[job.index] = got
                ok = got and got[0].status == "ok"
                calib = trials[job.index].calibration_dir.resolve()
                rest = [s for s in plans[job.index] if s != "calibration"]
                if ok and not stop:
                    submit(_Job(job.index, rest, {}))
                    for j in waiting.pop(job.index, []):
                        submit(_Job(j, plans[j], {calib: t.id}))
                elif ok:                    # the batch stopped meanwhile: the group is not run
                    per_trial[job.index] = partial.pop(job.index) + [StageResult(t.id, s, "skipped", error=stop)
                                                                     for s in rest]
                    waiting.pop(job.index, None)
                else:
                    err = got[0].error if got else "no result"
                    partial[job.index] += [StageResult(t.id, s, "skipped", error="after calibration failed")
                                           for s in rest]
                    per_trial[job.index] = partial.pop(job.index)
                    for j in waiting.pop(job.index, []):
                        tj = trials[j]
                        per_trial[j] = [StageResult(tj.id, plans[j][0], "failed",
                                                    error=f"calibration failed on {t.id}: {err}")]
                        per_trial[j] += [StageResult(tj.id, s, "skipped", error="after calibration failed")
                                         for s in plans[j][1:]]
                        yield j
                    _after_failure(trials[job.index])
                    yield job.index
                continue
            got = partial.pop(job.index, []) + got
            order = plans[job.index]
            per_trial[job.index] = sorted(got, key=lambda r: order.index(r.stage) if r.stage in order else len(order))
            bad = next((r for r in got if r.status == "failed"), None)
            if bad is not None:
                log.error("[%s] %s failed: %s", t.id, bad.stage, bad.error)
                _after_failure(t)
            yield job.index

    with _batch_progress(finished(), total=len(todo)) as bar:
        for _ in bar:
            pass
    return stop
