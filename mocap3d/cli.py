"""The ``mocap3d`` command (also ``python -m mocap3d``).

Stage commands run on a project folder: a session (calibration/ plus trial
folders with their Config.toml, possibly under participant folders) or a
single trial. Errors in the input print one line on stderr and exit with
code 2 (a traceback only with --verbose); an internal error exits with 1.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .errors import Mocap3dError

EXIT_OK, EXIT_INTERNAL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# CLI verb -> (stage name, help)
STAGE_COMMANDS: dict[str, tuple[str, str]] = {
    "calibration": ("calibration", "calibrate the cameras or convert a calibration into calibration/Calib*.toml"),
    "pose": ("pose", "estimate 2D keypoints from videos/ into pose/<cam>_json/"),
    "sync": ("synchronization", "find per-camera time offsets from keypoint motion, into pose-sync/"),
    "associate": ("association", "associate persons across cameras and time, into pose-associated/"),
    "triangulate": ("triangulation", "triangulate 2D keypoints into pose-3d/*.trc (+ .c3d)"),
    "monocular": ("monocular", "one camera's 2D keypoints to metric 3D (lifter + model fit) into pose-3d/*.trc"),
    "filter": ("filtering", "filter the 3D keypoints into pose-3d/*_filt_*.trc"),
    "augment": ("augmentation", "LSTM marker augmentation into pose-3d/*_LSTM.trc"),
    "kinematics": ("kinematics", "OpenSim scaling and inverse kinematics into kinematics/*.osim, *.mot"),
    "gait": ("gait", "gait events, cadence, step/stride length, speed and support times into gait/"),
}

_SET_HELP = ("override a config key for this command, e.g. --set project.frame_range=[10,300] or "
             "--set calibration.calculate.intrinsics.intrinsics_corners_nb=[4,7]; the value is read as a "
             "TOML literal (number, true/false, [list], 'string'), else as a plain string; a key unique "
             "among the defaults may be given alone (--set frame_range=[0,90]); repeatable")


def _common(parser: argparse.ArgumentParser, with_set: bool = True) -> None:
    g = parser.add_argument_group("output and configuration")
    if with_set:
        g.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help=_SET_HELP)
    quiet = g.add_mutually_exclusive_group()
    quiet.add_argument("-v", "--verbose", action="store_true",
                       help="debug messages, and the traceback of an error")
    quiet.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", default=".",
                        help="session or trial folder (default: the current directory)")
    parser.add_argument("--config", metavar="FILE",
                        help="an extra Config.toml applied over the folder's Config.toml files (before --set)")


def _batch_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("batches on a Dask cluster (README: Batches and clusters)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="run the trials in parallel on a local Dask cluster of N processes (1 thread each)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="send the trials to a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: "
                       "$MOCAP3D_SCHEDULER, else [batch] scheduler)")
    g.add_argument("--retries", type=int, metavar="N",
                   help="resubmit a trial whose worker was lost (killed, out of memory) up to N times "
                   "(default [batch] retries = 1)")
    g.add_argument("--force", action="store_true",
                   help="with Dask, rerun every trial; by default trials whose outputs are complete and newer than "
                   "their inputs are skipped")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from . import __version__
    p = argparse.ArgumentParser(
        prog="mocap3d", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Multi-camera markerless motion capture and biomechanics with OpenSim.",
        epilog="Configuration: defaults (mocap3d/Config.toml) < session Config.toml < participant < trial "
               "< --config < --set.\nEach stage writes <stage>_report.json; the session log is "
               "<session>/logs.txt ([logging] log_file).\nExit codes: 0 done, 2 bad input, a failed trial or a stage not "
               "built yet (one line on stderr), 1 internal error.\nRun 'mocap3d COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"mocap3d {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb, (stage, text) in STAGE_COMMANDS.items():
        sp = sub.add_parser(verb, help=text, description=f"{text[0].upper()}{text[1:]}, for every trial "
                            f"of the project (stage '{stage}': mocap3d.{stage}.run_{stage}).")
        _project(sp)
        _common(sp)
    sp = sub.add_parser("run", help="run every enabled stage in order on every trial",
                        description="Run the stages listed in [project] stages (default: calibration, pose, "
                        "synchronization, association, triangulation, filtering, augmentation, kinematics, gait) "
                        "in that order on every trial, then print a summary table. Choose stages with "
                        "--set project.stages=['triangulation','filtering']. With [project] continue_on_error "
                        "a failed trial does not stop the batch (the exit code is still 2).")
    _project(sp)
    _batch_options(sp)
    _common(sp)
    sp = sub.add_parser("check", help="validate a trial's inputs and print what each stage would read; writes nothing",
                        description="Read and validate the inputs of every stage of [project] stages (calibration, "
                        "videos, 2D keypoints, .trc files) with the stages' own readers and print, per trial and "
                        "stage, what it would read or why it cannot. Writes no file (no log either); exit 2 when a "
                        "stage cannot run.")
    _project(sp)
    _common(sp)
    sp = sub.add_parser("demo", help="copy the bundled Demo capture to DIR and run every stage on it",
                        description="Copy the Demo capture (synthetic, with ground truth) into DIR, run the "
                        "pipeline on it and report the errors against the truth.")
    sp.add_argument("directory", nargs="?", default=None, metavar="DIR",
                    help="where to put the demo (default: a new temporary folder)")
    sp.add_argument("--regenerate", action="store_true", help="generate the capture anew instead of copying it")
    _common(sp)
    sp = sub.add_parser("evaluate", help="compare results with a ground truth",
                        description="Compare a processed capture with its ground truth: calibration, sync, "
                        "association, 3D keypoints (mm) and joint angles (degrees); writes metrics.json.")
    sp.add_argument("result_dir", metavar="RESULT_DIR", help="the processed trial or session folder")
    sp.add_argument("--truth", metavar="TRUTH_DIR", default=None,
                    help="ground-truth folder (default: RESULT_DIR/ground_truth)")
    _common(sp, with_set=False)
    from .conversions import formats_help
    sp = sub.add_parser("convert", help="convert a file between formats (c3d, trc, calibrations, 2D keypoints)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Convert INPUT into OUTPUT. Formats are chosen from the extensions; "
                        "--from/--to override them.", epilog="formats (name, kind, extensions):\n" + formats_help())
    sp.add_argument("input", metavar="INPUT", help="file (or OpenPose JSON folder) to read")
    sp.add_argument("output", metavar="OUTPUT", help="file (or folder) to write")
    sp.add_argument("--from", dest="from_format", metavar="FORMAT", help="format of INPUT (see the list below)")
    sp.add_argument("--to", dest="to_format", metavar="FORMAT", help="format of OUTPUT (see the list below)")
    _common(sp, with_set=False)
    sp = sub.add_parser("blender", help="write a trial's .blend, glTF model and preview render (headless Blender)",
                        description="Import each trial (markers, scaled model, cameras, videos) into Blender and "
                        "write blender/<trial>.blend, <trial>.glb, preview.png and preview.mp4. Uses the bpy module "
                        "(pip install \"mocap3d[blender]\") or a 'blender' executable on PATH.")
    sp.add_argument("project", nargs="?", default=".", help="trial or session folder (default: the current one)")
    sp.add_argument("--out", metavar="DIR", default=None, help="output folder (default: TRIAL/blender)")
    sp.add_argument("--camera", default=None, help="capture camera of the preview (default: the first one; "
                    "'free' for a camera framing the whole motion)")
    sp.add_argument("--percent", type=int, default=25, help="render size, percent of the camera image (default 25)")
    sp.add_argument("--no-movie", dest="movie", action="store_false", help="render the still PNG only")
    sp.add_argument("--format", dest="formats", action="append", choices=["glb", "gltf", "fbx"], default=None,
                    help="model export format (default glb; repeatable)")
    sp.add_argument("--addon-zip", metavar="FILE", default=None,
                    help="only write the add-on as a zip to install in Blender (Edit > Preferences > Add-ons)")
    _common(sp, with_set=False)
    return p


def _dispatch(args: argparse.Namespace) -> object:
    from . import api
    from .runner import configure_logging, execute
    sets = getattr(args, "sets", None) or None
    if args.command in STAGE_COMMANDS:
        return execute(args.project, [STAGE_COMMANDS[args.command][0]], args.config, sets, args.verbose, args.quiet)
    if args.command == "run":
        batch = {"workers": args.workers, "scheduler": args.scheduler, "retries": args.retries,
                 "force": args.force, "verbose": args.verbose}
        return execute(args.project, None, args.config, sets, args.verbose, args.quiet, batch=batch)
    if args.command == "check":
        from .check import run_check
        return run_check(args.project, args.config, sets, args.verbose, args.quiet)
    configure_logging(None, "INFO", args.verbose, args.quiet)
    if args.command == "demo":
        return api.demo(args.directory, regenerate=args.regenerate, overrides=sets)
    if args.command == "evaluate":
        return api.evaluate(args.result_dir, args.truth)
    if args.command == "convert":
        out = api.convert(args.input, args.output, args.from_format, args.to_format)
        print(f"wrote {out}")
        return out
    if args.command == "blender" and args.addon_zip:
        from .blender_scene import addon_zip
        print(f"wrote {addon_zip(args.addon_zip)}")
        return args.addon_zip
    if args.command == "blender":
        reports = api.blender(args.project, args.out, args.camera, args.percent, args.movie,
                              tuple(args.formats or ("glb",)))
        for rep in reports:
            print("wrote " + ", ".join(rep["files"].values()))
        return reports
    raise Mocap3dError(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mocap3d`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        _dispatch(args)
    except Mocap3dError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"mocap3d: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("mocap3d: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, traceback with --verbose
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (rerun with --verbose for the traceback)"
        print(f"mocap3d: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_OK


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
