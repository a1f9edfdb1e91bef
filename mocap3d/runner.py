"""Running stages over discovered trials: lazy stage lookup, logging setup, batch summary.

Shared by the CLI (:mod:`mocap3d.cli`) and the Python API (:mod:`mocap3d.api`).
A stage is found by name only when it is run: ``mocap3d.<module>.run_<stage>``
(see :data:`STAGE_TARGETS`), so a stage module plugs in without touching this
file; a stage whose module or function does not exist raises
:class:`StageNotBuiltError` ("stage X is not built yet") and nothing is faked.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Overrides, merge
from .config_schema import STAGES, canonical_stage
from .errors import Mocap3dError, StageNotBuiltError
from .logs import get_logger, progress
from .project import Trial, discover, stage_plan

log = get_logger("run")

# stage -> (module, function); the function is called as fn(trial) -> report dict.
STAGE_TARGETS: dict[str, tuple[str, str]] = {s: (f"mocap3d.{s}", f"run_{s}") for s in STAGES}
_HANDLER_TAG = "_mocap3d_handler"
_NO_PROGRESS_AT_START = os.environ.get("MOCAP3D_NO_PROGRESS")


def lookup(module: str, func: str, what: str) -> Callable[..., Any]:
    """Import ``module`` and return ``func``; StageNotBuiltError when either does not exist."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise StageNotBuiltError(f"{what} is not built yet ({module} does not exist)") from None
        raise Mocap3dError(f"{what} cannot be loaded: Python module {exc.name!r} is missing. "
                           f"Install it (pip install {exc.name.split('.')[0] if exc.name else '...'})") from exc
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise StageNotBuiltError(f"{what} is not built yet ({module}.{func} does not exist)")
    return fn


def stage_function(stage: str) -> Callable[[Trial], dict]:
    """``run_<stage>`` of a stage name or CLI alias ('triangulate' -> mocap3d.triangulation.run_triangulation)."""
    name = canonical_stage(stage)
    if name not in STAGE_TARGETS:
        raise Mocap3dError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    module, func = STAGE_TARGETS[name]
    return lookup(module, func, f"stage {name}")


# --------------------------------------------------------------------------- logging
def configure_logging(log_file: str | os.PathLike | None = None, level: str | int = "INFO",
                      verbose: bool = False, quiet: bool = False, use_custom: bool = False,
                      progress_bars: bool = True) -> logging.Logger:
    """Console handler on stderr and a time-stamped, appended log file for the ``mocap3d`` logger.

    Replaces handlers installed by an earlier call; with ``use_custom`` installs
    none (the embedding application handles logging). ``verbose`` -> DEBUG,
    ``quiet`` -> WARNING and no progress bars.
    """
    logger = get_logger()
    for h in [h for h in logger.handlers if getattr(h, _HANDLER_TAG, False)]:
        logger.removeHandler(h)
        h.close()
    if quiet or not progress_bars:
        os.environ["MOCAP3D_NO_PROGRESS"] = "1"
    elif _NO_PROGRESS_AT_START is None:
        os.environ.pop("MOCAP3D_NO_PROGRESS", None)
    else:
        os.environ["MOCAP3D_NO_PROGRESS"] = _NO_PROGRESS_AT_START
    if use_custom:
        return logger
    console_level = logging.DEBUG if verbose else logging.WARNING if quiet else _level(level)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    console.setFormatter(_ConsoleFormatter())
    setattr(console, _HANDLER_TAG, True)
    logger.addHandler(console)
    levels = [console_level]
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, mode="a", encoding="utf-8")
        fh.setLevel(logging.DEBUG if verbose else logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        setattr(fh, _HANDLER_TAG, True)
        logger.addHandler(fh)
        levels.append(fh.level)
    logger.setLevel(min(levels))
    return logger


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).upper())
    return value if isinstance(value, int) else logging.INFO


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        return f"{record.levelname}: {msg}" if record.levelno >= logging.WARNING else msg


class _Buffer(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def buffered_logs() -> Iterator[_Buffer]:
    """Keep the records emitted inside the block, to replay them into a log file opened later."""
    buf = _Buffer()
    get_logger().addHandler(buf)
    try:
        yield buf
    finally:
        get_logger().removeHandler(buf)


def log_to_session(trials: Sequence[Trial], buf: _Buffer | None, verbose: bool, quiet: bool) -> Path | None:
    """Configure logging from the first trial's [logging] section; replay buffered records to the file."""
    cfg = trials[0].config.get("logging", {}) if trials else {}
    log_file = trials[0].log_file if trials else None
    configure_logging(log_file, cfg.get("level", "INFO"), verbose, quiet, cfg.get("use_custom_logging", False),
                      cfg.get("progress_bars", True))
    if buf is not None and log_file is not None:
        for h in get_logger().handlers:
            if isinstance(h, logging.FileHandler):
                for r in buf.records:
                    if r.levelno >= h.level:
                        h.handle(r)
    return log_file


# --------------------------------------------------------------------------- running
@dataclass
class StageResult:
    """What one stage did on one trial: status 'ok', 'failed', 'skipped' or 'shared'."""

    trial: str
    stage: str
    status: str
    seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _note(result: StageResult) -> str:
    if result.error:
        return result.error
    rep = result.report or {}
    if isinstance(rep.get("summary"), str):
        return rep["summary"]
    items = [f"{k}={v}" for k, v in rep.items() if isinstance(v, (int, float, str, bool)) and k != "stage"
             and not (isinstance(v, str) and (os.sep in v or "/" in v))][:4]   # paths are noise here
    return ", ".join(items)


def format_summary(results: Sequence[StageResult], width: int = 70) -> str:
    """A plain-text table: trial, stage, status, seconds, note."""
    if not results:
        return "nothing was run"
    tw = max(5, *(len(r.trial) for r in results))
    sw = max(5, *(len(r.stage) for r in results))
    lines = [f"{'trial':<{tw}}  {'stage':<{sw}}  {'status':<7}  {'time s':>7}  note"]
    for r in results:
        note = _note(r)
        note = note if len(note) <= width else note[:width - 3] + "..."
        lines.append(f"{r.trial:<{tw}}  {r.stage:<{sw}}  {r.status:<7}  {r.seconds:7.1f}  {note}")
    return "\n".join(lines)


def _run_one(fn: Callable[[Trial], dict], trial: Trial, stage: str) -> StageResult:
    t0 = time.perf_counter()
    log.info("[%s] %s ...", trial.id, stage)
    try:
        report = fn(trial)
    except ModuleNotFoundError as exc:  # a part of the stage that has not landed yet
        if exc.name and exc.name.startswith("mocap3d."):
            raise StageNotBuiltError(f"stage {stage} is not built yet ({exc.name} does not exist)") from exc
        raise
    dt = time.perf_counter() - t0
    if not isinstance(report, Mapping):
        report = {}
    log.info("[%s] %s done in %.1f s", trial.id, stage, dt)
    return StageResult(trial.id, stage, "ok", dt, dict(report))


def run_stages(trials: Sequence[Trial], stages: Sequence[str] | None = None,
               report_dir: Path | None = None, batch: Any = None) -> list[StageResult]:
    """Run ``stages`` (default: each trial's ``[project] stages``) in order on every trial.

    Calibration runs once per calibration folder (trials sharing the session's
    calibration/ reuse it). Every stage is looked up before anything runs, so a
    stage that is not built stops the run at once. On a failure the trial's
    remaining stages are skipped; with ``[project] continue_on_error`` (and more
    than one trial) the next trial goes on and a summary error is raised at the end.
    With ``report_dir``, ``run_report.json`` is written there, also after a failure.
    With ``batch`` (:class:`mocap3d.batch.BatchOptions`) the trials run on a Dask cluster.
    """
    plans = [stage_plan(t, [canonical_stage(s) for s in (stages or t.config["project"]["stages"])]) for t in trials]
    needed = sorted({s for plan in plans for s in plan}, key=lambda s: STAGES.index(s) if s in STAGES else 99)
    missing, funcs = [], {}
    for s in needed:
        try:
            funcs[s] = stage_function(s)
        except StageNotBuiltError:
            missing.append(s)
    if missing:
        if len(needed) == 1:
            raise StageNotBuiltError(f"stage {missing[0]} is not built yet; nothing was run")
        built = [s for s in needed if s not in missing]
        raise StageNotBuiltError(
            f"stage(s) {', '.join(missing)} not built yet; nothing was run. Built: {', '.join(built) or 'none'}; "
            "remove the others from [project] stages (e.g. --set project.stages=[...]) to run the built ones")
    results: list[StageResult] = []
    try:
        if batch is None:
            _run_plans(trials, plans, funcs, results)
        else:
            batch.run(trials, plans, results)
    finally:
        if report_dir is not None and results:
            write_run_report(report_dir, results, batch.record if batch is not None else None)
    return results


def _run_plans(trials: Sequence[Trial], plans: list[list[str]], funcs: dict[str, Callable[[Trial], dict]],
               results: list[StageResult]) -> None:
    calibrated: dict[Path, str] = {}
    failed = 0
    t0 = time.perf_counter()
    with _batch_progress(trials) as batch:
        for trial, plan in zip(batch, plans):
            failed += _run_trial(trial, plan, funcs, calibrated, results, alone=len(trials) == 1)
    log.info("\n%s\n%d trial(s) in %.1f s", format_summary(results), len(trials), time.perf_counter() - t0)
    if failed:
        raise Mocap3dError(f"{failed} of {len(trials)} trial(s) failed (see the summary above and the log file)")


@contextlib.contextmanager
def _batch_progress(trials: Iterable[Any], total: int | None = None) -> Iterator[Iterable[Any]]:
    """A progress bar over the trials of a batch (``total`` of them), with log lines printed above it."""
    total = len(trials) if total is None else total  # type: ignore[arg-type]
    if total < 2:
        yield trials
        return
    from tqdm.contrib.logging import logging_redirect_tqdm
    logger = get_logger()
    console = [h.level for h in logger.handlers if type(h) is logging.StreamHandler]
    with logging_redirect_tqdm(loggers=[logger]):
        for h in logger.handlers:   # tqdm's replacement handler does not keep the console's level (--quiet)
            if console and type(h) is not logging.FileHandler and h.level == logging.NOTSET:
                h.setLevel(console[0])
        yield progress(trials, desc="trials", total=total, unit="trial")


def _run_trial(trial: Trial, plan: list[str], funcs: dict[str, Callable[[Trial], dict]],
               calibrated: dict[Path, str], results: list[StageResult], alone: bool) -> int:
    """Run one trial's stages; 1 if one failed (and the batch goes on), 0 if all went well."""
    for i, stage in enumerate(plan):
        calib = trial.calibration_dir.resolve()
        if stage == "calibration" and calib in calibrated:
            results.append(StageResult(trial.id, stage, "shared", 0.0, error=f"uses calibration of {calibrated[calib]}"))
            continue
        t0 = time.perf_counter()
        try:
            results.append(_run_one(funcs[stage], trial, stage))
        except Exception as exc:  # noqa: BLE001 - recorded, logged, re-raised or summarized
            msg = str(exc) if isinstance(exc, Mocap3dError) else f"internal error: {type(exc).__name__}: {exc}"
            results.append(StageResult(trial.id, stage, "failed", time.perf_counter() - t0, error=msg))
            results += [StageResult(trial.id, s, "skipped", error=f"after {stage} failed") for s in plan[i + 1:]]
            stop = isinstance(exc, StageNotBuiltError) or not trial.config["project"].get("continue_on_error", True)
            if alone or stop:
                if len(results) > 1:
                    log.info("\n%s", format_summary(results))
                raise  # the caller prints the one-line message
            log.error("[%s] %s failed: %s", trial.id, stage, msg)
            log.debug("%s", traceback.format_exc())
            return 1
        if stage == "calibration":
            calibrated[calib] = trial.id
    return 0


_CAMERA_STAGES = {"calibration", "synchronization", "association", "triangulation"}


def execute(project: str | os.PathLike | Mapping[str, Any] = ".", stages: Sequence[str] | None = None,
            config: Mapping[str, Any] | str | os.PathLike | None = None, overrides: Overrides = None,
            verbose: bool = False, quiet: bool = False, batch: Any = None) -> list[StageResult]:
    """Discover the trials of ``project`` and run ``stages`` (None: the configured pipeline) on them.

    ``project`` may be a folder or a config dict whose ``[project] project_dir``
    names the folder (relative to the current directory). ``batch``: options of
    :class:`mocap3d.batch.BatchOptions` (a dict or the object); the run goes to
    Dask when they, ``$MOCAP3D_SCHEDULER`` or ``[batch] scheduler`` ask for it.
    """
    if isinstance(project, Mapping):
        folder = str(project.get("project", {}).get("project_dir", "."))
        if config is None:
            config = project
        elif isinstance(config, Mapping):
            config = merge(project, config)
        else:
            raise Mocap3dError("give the configuration either as the project dict or as config=, not both")
        project = folder
    configure_logging(None, "INFO", verbose, quiet)
    # Only the stages that use cameras need a calibration/ folder to exist.
    needs_calibration = stages is None or bool({canonical_stage(s) for s in stages} & _CAMERA_STAGES)
    with buffered_logs() as buf:
        trials = discover(project, overrides=overrides, config=config, require_calibration=needs_calibration)
    log_file = log_to_session(trials, buf, verbose, quiet)
    log.info("mocap3d: %s on %d trial(s) of %s%s", ", ".join(stages) if stages else "run", len(trials),
             trials[0].session, f" (log: {log_file})" if log_file else "")
    try:
        if batch is not None:
            from .batch import resolve_batch
            batch = resolve_batch(batch, trials)
        return run_stages(trials, stages, report_dir=trials[0].session if stages is None else None, batch=batch)
    except Exception as exc:
        record_error(exc)
        raise


def write_run_report(session: Path, results: Sequence[StageResult], extra: Mapping[str, Any] | None = None) -> Path:
    """``<session>/run_report.json``: status, time and error of every trial and stage of a run (+ ``extra``)."""
    from .logs import write_report
    return write_report(session, "run", {**(extra or {}),
        "trials": sorted({r.trial for r in results}),
        "counts": {st: sum(r.status == st for r in results) for st in ("ok", "failed", "skipped", "shared")
                   + (("current",) if any(r.status == "current" for r in results) else ())},
        "results": [{"trial": r.trial, "stage": r.stage, "status": r.status, "seconds": round(r.seconds, 3),
                     "error": r.error} for r in results]})


def record_error(exc: BaseException) -> None:
    """Write an error (with its traceback) to the log file only; the console gets one line from the caller."""
    if isinstance(exc, Mocap3dError):
        text = str(exc)
    else:
        text = f"internal error: {type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc))
    for h in get_logger().handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (text,), None))


def call_tool(module: str, func: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``module.func(*args, **kwargs)`` found lazily, dropping keywords it does not take."""
    import inspect
    fn = lookup(module, func, what)
    try:
        params = inspect.signature(fn).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            dropped = [k for k in kwargs if k not in params and kwargs[k] is not None]
            if dropped:
                log.warning("%s does not take %s; ignored", what, ", ".join(dropped))
            kwargs = {k: v for k, v in kwargs.items() if k in params}
    except (TypeError, ValueError):
        pass
    return fn(*args, **kwargs)
