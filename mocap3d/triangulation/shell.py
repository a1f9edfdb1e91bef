"""Triangulation stage shell: pose-associated/ (or pose-sync/, pose/) + calibration -> pose-3d/."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Mocap3dError
from ..logs import get_logger, write_report
from ..markers import Markers3D
from ..project import frame_mask
from .gaps import zup_to_yup
from .inputs import frame_rate, load_keypoints, load_rig, load_skeleton, rig_for_pose
from .pipeline import TriangulationOptions, triangulate_person, world_up_axis

log = get_logger("triangulation")


def run_triangulation(trial) -> dict[str, Any]:
    """Triangulate every person of a trial; write ``pose-3d/*.trc`` (+ ``.c3d``) and the report.

    Returns the report dict (also written as ``pose-3d/triangulation_report.json``).
    """
    config = trial.config
    opts = TriangulationOptions.from_config(config)
    rig, calib_path = load_rig(trial)
    skeleton = load_skeleton(config)
    rate = frame_rate(config, trial)
    pose_dir = Path(trial.latest_pose_dir())
    rig = rig_for_pose(rig, pose_dir)
    kp = load_keypoints(pose_dir, rig, skeleton, rate)
    frange = (config.get("project", {}) or {}).get("frame_range", "all")
    sel = frame_mask(kp.frames, frange)
    data, frames = kp.data[:, sel], kp.frames[sel]
    multi = bool((config.get("project", {}) or {}).get("multi_person", False))
    associated = pose_dir.resolve() == Path(trial.pose_associated_dir).resolve()
    if data.shape[2] > 1 and not associated:
        from ..association import associate_arrays
        log.info("%s has up to %d persons per camera and was not associated: associating now",
                 pose_dir, data.shape[2])
        data, _ = associate_arrays(rig, data, list(kp.keypoints), rate, config)
    if not multi:
        data = data[:, :, :1]
    from ..io.calibration_toml import read_calibration_metadata
    up = world_up_axis(rig, opts.extra.get("world_up_axis", "auto"),
                       recorded=read_calibration_metadata(calib_path).get("up_axis"))
    make_c3d = bool(opts.extra.get("make_c3d", True))
    out_dir = Path(trial.pose3d_dir)
    persons, errors, files = [], [], []
    names = list(kp.keypoints)
    for p in range(data.shape[2]):
        label = f"person {p}" if multi else "the person"
        try:
            res = triangulate_person(rig, data[:, :, p], names, frames, rate, opts, skeleton.derived, label)
        except Mocap3dError as err:
            if not multi:
                raise
            errors.append(str(err))
            log.warning("%s", err)
            continue
        if opts.extra.get("check_body_proportions", True):
            from ..body_checks import skeleton_message
            msg = skeleton_message(res.points, res.names, skeleton, f"{pose_dir}, {label}")
            if msg and not multi:
                raise Mocap3dError(msg)
            if msg:
                errors.append(msg)
                log.warning("%s", msg)
                continue
        pts = zup_to_yup(res.points) if up == "Z" else res.points
        f0, f1 = int(res.frames[0]), int(res.frames[-1])
        stem = f"{trial.name}_P{p}_{f0}-{f1}" if multi else f"{trial.name}_{f0}-{f1}"
        markers = Markers3D(pts, res.names, rate, start_time=f0 / rate, first_frame=f0)
        from ..io.trc import write_trc
        trc = write_trc(markers, out_dir / f"{stem}.trc")
        written = [trc]
        if make_c3d:
            from ..io.c3d import write_c3d
            written.append(write_c3d(markers, out_dir / f"{stem}.c3d"))
        files += [str(w) for w in written]
        rep = dict(res.report, person=p, files=[str(w) for w in written])
        if not opts.extra.get("show_interp_indices", True):
            rep.pop("frames_interpolated", None)
        persons.append(rep)
        log.info("%s: frames %d-%d, mean reprojection error %.1f px (%.1f mm), swaps corrected %d -> %s",
                 label, f0, f1, rep["reprojection_error_px"]["mean"] or np.nan,
                 rep["reprojection_error_mm"]["mean"] or np.nan, sum(rep["swaps_corrected"].values()), trc.name)
    if not persons:
        raise Mocap3dError("No person could be triangulated: " + " | ".join(errors))
    report = {"stage": "triangulation", "input": str(pose_dir), "calibration": str(calib_path),
              "cameras": rig.names, "rate": rate, "world_up_axis": up, "multi_person": multi,
              "settings": {k: v for k, v in vars(opts).items() if k != "extra"} | opts.extra,
              "persons": persons, "persons_dropped": errors, "files": files}
    write_report(out_dir, "triangulation", report)
    return report
