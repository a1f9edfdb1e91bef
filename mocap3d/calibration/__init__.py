"""Calibration stage: convert another system's calibration, or calculate one from boards and scene points.

``run_calibration(trial)`` reads ``trial.config["calibration"]`` (Pose2Sim's
keys) and ``trial.calibration_dir``:

* ``calibration_type = 'convert'``: ``convert_from`` one of qualisys, vicon,
  opencap, easymocap, biocv, anipose, caliscope, freemocap, optitrack (``*.mcal``
  or ``*optitrack*.toml``). The source file(s) are looked for in the calibration folder.
* ``calibration_type = 'calculate'``: intrinsics from ``intrinsics/<cam>/``
  (board images or videos), reused from an existing ``Calib*.toml`` unless
  ``overwrite_intrinsics``; extrinsics from ``extrinsics/<cam>/`` with
  ``extrinsics_method = 'board'`` or ``'scene'``, then bundle adjustment; or
  with ``'keypoints'`` from the filmed person's 2D keypoints in the trial's
  ``pose-sync/`` (else ``pose/``, assumed synchronized), scaled by
  ``[project] participant_height`` (:mod:`.from_keypoints`).

Writes ``calibration/Calib_<method>.toml`` and ``calibration/calibration_report.json``.
If nothing is to be calculated or converted and a ``Calib*.toml`` exists, it
is used as is.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..camera import Camera, CameraRig
from ..errors import ConfigError, FileFormatError, Mocap3dError
from ..logs import get_logger, write_report
from .boards import Board, Detection, detect_board
from .converters import read_biocv, read_easymocap, read_opencap, read_qualisys, read_toml_variant, read_vicon
from .extrinsics import (board_reference, click_scene_points, has_display, pose_cameras, read_scene_points,
                         validate_object_coords)
from .intrinsics import calibrate_intrinsics_folder, list_view_files
from .report import EXTRINSICS_THRESHOLD_MM, INTRINSICS_THRESHOLD_PX, build_report, format_report

log = get_logger("calibration")

CONVERT_FORMATS = ("qualisys", "vicon", "opencap", "easymocap", "biocv", "anipose", "caliscope", "freemocap",
                   "optitrack")


def _get(d: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return default
        d = d[k]
    return d


def camera_name(folder: str) -> str:
    """Camera name from a Pose2Sim folder name (``int_cam01_img`` -> ``cam01``)."""
    return re.sub(r"_(img|vid|imgs|videos?)$", "", re.sub(r"^(int|ext)_", "", folder))


def existing_calibration(calib_dir: Path) -> Path | None:
    """The most recent ``Calib*.toml`` of a folder, or None."""
    files = sorted(calib_dir.glob("Calib*.toml"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def _find(calib_dir: Path, pattern: str, what: str) -> list[Path]:
    files = sorted(calib_dir.glob(pattern))
    if not files:
        raise Mocap3dError(f"{calib_dir}: no {pattern} file for {what}. Put it in the calibration folder "
                           "or change calibration.convert.convert_from")
    return files


def video_sizes(videos_dir: Path | None) -> dict[str, tuple[int, int]]:
    """Image size (w, h) of each video of a folder, keyed by file stem."""
    from .intrinsics import VIDEO_EXTENSIONS
    import cv2
    sizes: dict[str, tuple[int, int]] = {}
    if videos_dir is None or not Path(videos_dir).is_dir():
        return sizes
    for p in sorted(Path(videos_dir).iterdir()):
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            cap = cv2.VideoCapture(str(p))
            if cap.isOpened():
                sizes[p.stem] = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            cap.release()
    return sizes


def convert(calib_dir: Path, cal: Mapping[str, Any], videos_dir: Path | None = None) -> tuple[CameraRig, str, dict]:
    """Convert the calibration file(s) of ``calib_dir`` named by ``cal['convert']``.

    Vicon: the image size of each camera is read from the trial video whose
    name contains its DEVICEID (Vicon's region of interest), else the sensor size.
    """
    fmt = str(_get(cal, "convert", "convert_from", default="qualisys")).lower()
    if fmt not in CONVERT_FORMATS:
        raise ConfigError(f"calibration.convert.convert_from = {fmt!r}; choose one of {', '.join(CONVERT_FORMATS)}")
    extra: dict[str, Any] = {"source_format": fmt}
    if fmt == "qualisys":
        src = _find(calib_dir, "*.qca.txt", "Qualisys")[-1]
        binning = _get(cal, "convert", "qualisys", "binning_factor", default=1)
        rotate = _get(cal, "convert", "qualisys", "apply_view_rotation", default=True)
        rig, res = read_qualisys(src, binning, rotate)
        extra.update(source=src, residuals_mm=res, up_axis="Z")
    elif fmt == "vicon":
        src = _find(calib_dir, "*.xcp", "Vicon")[-1]
        sizes = video_sizes(videos_dir)
        import xml.etree.ElementTree as ET
        ids = [el.get("DEVICEID", "") for el in ET.parse(src).getroot().iter("Camera")] if sizes else []
        matched = {i: next(v for k, v in sizes.items() if i and i in k) for i in ids
                   if i and any(i in k for k in sizes)}
        if sizes and not matched:
            log.warning("no video named after a Vicon DEVICEID in %s: image sizes from SENSOR_SIZE", videos_dir)
        rig, res = read_vicon(src, matched or None)
        extra.update(source=src, residuals_mm=res, up_axis="Z")
    elif fmt == "opencap":
        srcs = _find(calib_dir, "*.pickle", "OpenCap")
        rig = read_opencap(srcs)
        extra.update(source=[str(s) for s in srcs], up_axis="Z")
    elif fmt == "easymocap":
        intri, extri = calib_dir / "intri.yml", calib_dir / "extri.yml"
        rig = read_easymocap(intri, extri)
        extra.update(source=[str(intri), str(extri)])
    elif fmt == "biocv":
        srcs = _find(calib_dir, "*.calib", "bioCV")
        rig = read_biocv(srcs)
        extra.update(source=[str(s) for s in srcs])
    elif fmt == "optitrack":
        from .optitrack import find_optitrack_source, optitrack_options, read_optitrack_info
        src = find_optitrack_source(calib_dir)
        rig, cams = read_optitrack_info(src, **optitrack_options(_get(cal, "convert", "optitrack")))
        extra.update(source=src, up_axis="Y", optitrack_cameras=cams)
    else:
        srcs = [p for p in sorted(calib_dir.glob("*.toml")) if not p.name.startswith("Calib_")]
        if not srcs:
            raise Mocap3dError(f"{calib_dir}: no {fmt} .toml calibration file found (files named Calib_*.toml are ours)")
        rig = read_toml_variant(srcs[0], fmt)
        extra.update(source=srcs[0])
    return rig, fmt, extra


def _board(section: Mapping[str, Any], prefix: str) -> Board:
    g = lambda k, d=None: section.get(f"{prefix}_{k}", d)  # noqa: E731
    kind = g("board_type", "checkerboard")
    return Board(kind, tuple(g("corners_nb", [4, 7])), float(g("square_size", 60)) / 1000.0,
                 float(g("marker_size", 45)) / 1000.0, str(g("aruco_dict", "DICT_4X4_50")))


def _cam_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise Mocap3dError(f"{root}: folder not found. Create one sub-folder per camera with its images or videos")
    dirs = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
    if not dirs:
        raise Mocap3dError(f"{root}: no camera sub-folder. Create one per camera (e.g. {root}/cam01/)")
    return dirs


def calculate_intrinsics(calib_dir: Path, cal: Mapping[str, Any]) -> tuple[list[Camera], list[dict]]:
    """Intrinsics of every camera: reused from an existing Calib*.toml unless overwrite_intrinsics."""
    sec = _get(cal, "calculate", "intrinsics", default={}) or {}
    existing = existing_calibration(calib_dir)
    if existing is not None and not sec.get("overwrite_intrinsics", False):
        from ..io.calibration_toml import read_calibration
        rig = read_calibration(existing)
        log.info("intrinsics reused from %s (set overwrite_intrinsics = true to recompute them)", existing)
        return [c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in rig], \
            [{"source": str(existing)} for _ in rig]
    board = _board(sec, "intrinsics")
    cams, infos = [], []
    for folder in _cam_folders(calib_dir / "intrinsics"):
        name = camera_name(folder.name)
        res = calibrate_intrinsics_folder(folder, board, sec.get("intrinsics_extension") or None,
                                          float(sec.get("extract_every_N_sec", 1)), bool(sec.get("fisheye", False)),
                                          bool(sec.get("intrinsics_k3", False)), name=name,
                                          square_pixels=bool(sec.get("intrinsics_square_pixels", True)))
        cams.append(res.camera(name))
        infos.append({"rms_px": res.rms_px, "views_used": len(res.detections),
                      "views_rejected": [{"view": s, "reason": r} for s, r in res.rejected],
                      "mean_board_distance_m": float(np.mean(res.view_distances()))})
    return cams, infos


def _extrinsic_views(folder: Path, extension: str | None) -> list[tuple[str, np.ndarray]]:
    """First frame of each image/video of a camera's extrinsics folder."""
    views = []
    for path in list_view_files(folder, extension):
        label, img = next(iter(load_views_single(path)))
        views.append((label, img))
    return views


def load_views_single(path: Path):
    """(label, image) of an image, or of the first frame of a video."""
    from .intrinsics import VIDEO_EXTENSIONS, frames_from_video
    import cv2
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        yield from frames_from_video(path, every_n_sec=1e9)
        return
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise Mocap3dError(f"{path}: cannot read image")
    yield path.name, img


def _has_json(folder: Path) -> bool:
    return folder.is_dir() and any(d.is_dir() and any(d.glob("*.json")) for d in folder.iterdir())


def _participant_height(config: Mapping[str, Any]) -> float:
    """``[project] participant_height`` in metres (first of a list); 'auto' -> 1.70 m with a warning."""
    h = _get(config, "project", "participant_height", default="auto")
    if isinstance(h, (list, tuple)):
        h = h[0] if h else "auto"
    if h in (None, "auto"):
        log.warning("participant_height = 'auto': the keypoint calibration assumes 1.70 m, so its metric scale "
                    "carries the spread of adult statures (~4 %%); set project.participant_height")
        return 1.70
    if isinstance(h, bool) or not isinstance(h, (int, float)):
        raise ConfigError(f"project.participant_height = {h!r}: use 'auto' or metres (e.g. 1.72)")
    return float(h)


def keypoints_extrinsics(trial, cams: list[Camera], up: str, diagnostics: dict | None = None):
    """Pose ``cams`` from the 2D keypoints of the trial's person (see :mod:`.from_keypoints`).

    Reads ``pose-sync/`` (else ``pose/``, assumed synchronized), frames of
    ``[project] frame_range``; keypoints above
    ``[triangulation] likelihood_threshold_triangulation``. With several people
    per frame, the person tracked longest and consistently in every camera is
    used (:func:`.person_select.select_person`); ``participant_height`` must be
    that person's. Returns the same tuple as :func:`calculate_extrinsics`.
    """
    from ..io.openpose import read_openpose_folders
    from ..project import frame_mask
    from ..triangulation.inputs import frame_rate, load_skeleton
    from .from_keypoints import calibrate_from_keypoints
    from .person_select import select_person
    if trial is None:
        raise Mocap3dError("extrinsics_method = 'keypoints' needs a trial with pose/ or pose-sync/ keypoints")
    pose_dir = next((d for d in (Path(trial.pose_sync_dir), Path(trial.pose_dir)) if _has_json(d)), None)
    if pose_dir is None:
        raise Mocap3dError(f"{trial.path}: extrinsics_method = 'keypoints' needs 2D keypoints, but pose-sync/ and "
                           "pose/ hold no JSON: run 'mocap3d pose' and 'mocap3d sync' first")
    if pose_dir == Path(trial.pose_dir):
        log.warning("keypoint calibration reads %s, assumed synchronized (run 'mocap3d sync' first if the cameras "
                    "are not)", pose_dir)
    config = trial.config
    thr = float(_get(config, "triangulation", "likelihood_threshold_triangulation", default=0.3))
    kp = read_openpose_folders(pose_dir, cameras=[c.name for c in cams], skeleton=load_skeleton(config),
                               rate=frame_rate(config, trial))
    if kp.n_cameras != len(cams):
        raise Mocap3dError(f"{pose_dir}: keypoints of {kp.n_cameras} cameras for {len(cams)} cameras with intrinsics")
    keep = frame_mask(kp.frames, _get(config, "project", "frame_range", default="all"))
    log.info("keypoint calibration: %s, %d of %d frames ([project] frame_range), %d detection slot(s)", pose_dir,
             int(keep.sum()), kp.n_frames, kp.data.shape[2])
    data, person = select_person(cams, kp.data[:, keep], thr)
    max_offset = float(_get(config, "calibration", "calculate", "extrinsics", "keypoints_max_offset_frames",
                            default=0) or 0)
    res = calibrate_from_keypoints(cams, data, kp.keypoints, _participant_height(config), thr, up=up,
                                   max_offset_frames=max_offset, rate=kp.rate)
    if diagnostics is not None:
        diagnostics.update(res.summary(), pose_dir=str(pose_dir), person=person,
                           frames=[int(kp.frames[keep][0]), int(kp.frames[keep][-1])])
    ref = res.points.reshape(-1, 3)
    ref = ref[np.isfinite(ref).all(1)]
    return res.rig, res.rms_px, ref, "keypoints", ([None] * len(cams), [np.zeros((0, 2))] * len(cams))


def calculate_extrinsics(calib_dir: Path, cal: Mapping[str, Any], cams: list[Camera], trial=None,
                         diagnostics: dict | None = None):
    """Pose the cameras.

    ``trial`` (its pose folders and config) is needed by ``extrinsics_method = 'keypoints'``,
    which also fills ``diagnostics`` when given.
    Returns the rig, per-camera RMS px, the reference points (N, 3), the method,
    and (first image per camera, pixels (N, 2) per camera) for debug images.
    """
    sec = _get(cal, "calculate", "extrinsics", default={}) or {}
    method = sec.get("extrinsics_method", "scene")
    up = str(sec.get("world_up_axis", "Y")).upper()
    bundle = bool(sec.get("bundle_adjustment", True))
    refine_intr = bool(sec.get("ba_refine_intrinsics", False))
    ext = sec.get("extrinsics_extension") or None
    if method == "keypoints":
        return keypoints_extrinsics(trial, cams, up, diagnostics)
    folders = _cam_folders(calib_dir / "extrinsics")
    if len(folders) != len(cams):
        raise Mocap3dError(f"{calib_dir / 'extrinsics'}: {len(folders)} camera folders but {len(cams)} cameras "
                           "have intrinsics. Give one extrinsics folder per camera, in the same order")
    if method == "board":
        bsec = sec.get("board", {}) or {}
        board = _board(bsec, "extrinsics")
        views = [_extrinsic_views(f, ext) for f in folders]
        first = [detect_board(v[0][1], board, f"{f.name}/{v[0][0]}", thorough=True) for f, v in zip(folders, views)]
        for f, d in zip(folders, first):
            if d is None:
                log.warning("extrinsic board not found in %s (camera posed from the other shared views only)", f)
        W, uv = board_reference(cams, first, board, bsec.get("board_position", "horizontal"), up)
        missing = [f.name for f, d in zip(folders, first) if d is None]
        if missing:
            raise Mocap3dError(f"extrinsic board not detected for {missing}; check the images, "
                               "extrinsics_corners_nb and lighting")
        n_extra = min(len(v) for v in views) - 1
        extra = []
        for k in range(1, n_extra + 1):
            pix = []
            for v in views:
                d = detect_board(v[k][1], board, v[k][0], thorough=True)
                p = None
                if d is not None:
                    p = np.full((len(board.object_points), 2), np.nan)
                    p[d.ids] = d.corners
                pix.append(p)
            if sum(p is not None for p in pix) >= 2:
                extra.append((board.object_points, pix))
        res = pose_cameras(cams, W, uv, extra, bundle, refine_intr)
        return res.rig, res.rms_px, W, method, ([v[0][1] for v in views], uv)
    if method != "scene":
        raise ConfigError(f"extrinsics_method = {method!r}; choose 'board', 'scene' or 'keypoints'")
    scene = sec.get("scene", {}) or {}
    obj = validate_object_coords(scene.get("object_coords_3d"))
    names = [c.name for c in cams]
    pts_file = scene.get("scene_points_file") or ""
    candidates = [calib_dir / pts_file] if pts_file else \
        [d / n for d in (calib_dir, calib_dir / "extrinsics")
         for n in ("scene_points.toml", "scene_points.json", "Image_points.json")]
    found = [p for p in candidates if p.is_file()]
    if found:
        uv = read_scene_points(found[0], names, len(obj))
        log.info("scene image points read from %s", found[0])
    elif has_display():
        uv = []
        for f in folders:
            _, img = _extrinsic_views(f, ext)[0]
            uv.append(click_scene_points(img, len(obj), f"{f.name}: click object_coords_3d in order"))
    else:
        raise Mocap3dError(f"{calib_dir}: no scene points file ({', '.join(p.name for p in candidates)}) and no "
                           "display to click them. Write the image coordinates of object_coords_3d there")
    res = pose_cameras(cams, obj, uv, (), bundle, refine_intr)
    images = []
    for f in folders:
        try:
            images.append(_extrinsic_views(f, ext)[0][1])
        except Mocap3dError:
            images.append(None)
    return res.rig, res.rms_px, obj, method, (images, uv)


def _file_up_axis(path: Path) -> str:
    """The ``[metadata] up_axis`` of a calibration TOML ('Y' if absent or not 'Y'/'Z')."""
    from ..io.calibration_toml import read_calibration_metadata
    up = str(read_calibration_metadata(path).get("up_axis", "Y")).upper()
    return up if up in ("Y", "Z") else "Y"


def run_calibration(trial) -> dict[str, Any]:
    """Calibration stage shell: writes ``Calib_<method>.toml`` and ``calibration_report.json``; returns the report."""
    from ..io.calibration_toml import read_calibration, write_calibration
    cal = trial.config.get("calibration", {}) or {}
    calib_dir = Path(trial.calibration_dir)
    thresholds = {"intrinsics_threshold_px": float(cal.get("intrinsics_error_threshold_px", INTRINSICS_THRESHOLD_PX)),
                  "extrinsics_threshold_mm": float(cal.get("extrinsics_error_threshold_mm", EXTRINSICS_THRESHOLD_MM))}
    ctype = cal.get("calibration_type", "convert")
    existing = existing_calibration(calib_dir) if calib_dir.is_dir() else None
    intr_info, rms, ref, write = None, None, None, True
    if ctype == "convert":
        try:
            rig, fmt, extra = convert(calib_dir, cal, getattr(trial, "videos_dir", None))
        except Mocap3dError as e:
            if existing is None or isinstance(e, (ConfigError, FileFormatError)):
                raise         # a damaged file to convert is never replaced silently by the existing calibration
            log.info("no %s file to convert; using the existing %s as is", _get(cal, "convert", "convert_from"), existing)
            rig, fmt, extra = read_calibration(existing), "existing", {"source": str(existing),
                                                                    "up_axis": _file_up_axis(existing)}
            write = False
        up = extra.get("up_axis", "Y")
        out = calib_dir / f"Calib_{fmt}.toml" if fmt != "existing" else existing
    elif ctype == "calculate":
        ext_sec = _get(cal, "calculate", "extrinsics", default={}) or {}
        overwrite = _get(cal, "calculate", "intrinsics", "overwrite_intrinsics", default=False)
        if existing is not None and not overwrite and not ext_sec.get("calculate_extrinsics", True):
            log.info("nothing to calculate: using %s as is", existing)
            rig, out, extra, up = read_calibration(existing), existing, {"source": str(existing)}, _file_up_axis(existing)
            write = False
        else:
            cams, intr_info = calculate_intrinsics(calib_dir, cal)
            extra = {"source": "calculated"}
            up = str(ext_sec.get("world_up_axis", "Y")).upper()
            if ext_sec.get("calculate_extrinsics", True):
                diag: dict[str, Any] = {}
                rig, rms, ref, method, (images, uv) = calculate_extrinsics(calib_dir, cal, cams, trial, diag)
                if diag:
                    extra["keypoints_calibration"] = diag
                if _get(cal, "calculate", "save_debug_images", default=True) and any(i is not None for i in images):
                    from .debug_images import save_extrinsics_debug
                    saved = save_extrinsics_debug(calib_dir / "debug", rig, images, ref, uv)
                    log.info("debug images: %s", ", ".join(str(p) for p in saved))
            else:
                rig, method = CameraRig(cams), "intrinsics"
            out = calib_dir / f"Calib_{method}.toml"
    else:
        raise ConfigError(f"calibration.calibration_type = {ctype!r}; choose 'convert' or 'calculate'")
    if write:
        write_calibration(rig, out, {"up_axis": up, "source": str(extra.get("source", ""))})
    report = build_report(rig, ref, up, intr_info, list(rms) if rms is not None else None, **thresholds)
    report.update({"calibration_file": str(out), "calibration_type": ctype,
                   **{k: v for k, v in extra.items() if k not in ("up_axis",)}})
    write_report(calib_dir, "calibration", report)
    for line in format_report(report).splitlines():
        log.info(line)
    return report


__all__ = ["run_calibration", "convert", "calculate_intrinsics", "calculate_extrinsics", "camera_name",
           "existing_calibration", "Board", "Detection"]
