"""Monocular stage shell: one camera's 2D keypoints -> pose-3d/*.trc (+ .c3d), as triangulation writes them.

Reads the most processed 2D folder (pose-associated/, pose-sync/, pose/), the
camera's intrinsics from calibration/ when there is one (else a phone's
default field of view, ``[monocular] field_of_view``, with a warning), lifts
to 3D (``[monocular] lifter``), places and fits the model
(:func:`mocap3d.monocular.pipeline.reconstruct`), then writes
``pose-3d/<trial>_<first>-<last>.trc`` (+ ``.c3d``), ``monocular_report.json``
and ``monocular_overlay.png``. Nothing is written before everything is computed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..camera import Camera
from ..config import options_from_section
from ..errors import ConfigError, Mocap3dError
from ..logs import get_logger, write_report
from ..markers import Markers3D
from ..project import frame_mask
from ..project import VIDEO_EXTENSIONS
from ..stage_inputs import raw_stem
from .pipeline import Lifted, reconstruct
from .refine import RefineOptions

log = get_logger("monocular")
#: Standard video sizes (landscape) tried when neither a video nor a calibration gives the image size.
_SIZES = ((640, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))


@dataclass
class MonocularOptions:
    """The [monocular] settings (the lifter keys are read by :mod:`.lifters`)."""

    lifter: str = "auto"
    motionbert_model: str = ""
    camera: str = "auto"
    field_of_view: float = 66.0
    image_size: Any = "auto"
    max_gap: float = 0.5
    likelihood_threshold_monocular: float = 0.3
    reprojection_sigma_px: float = 2.0
    lifter_sigma_m: float = 0.05
    contact_sigma_m: float = 0.01
    subtalar_sigma_deg: float = 3.0
    smoothing_cutoff: float = 6.0
    overlay_frames: int = 4
    fix_swaps: bool = True
    depth_hypotheses: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MonocularOptions":
        return options_from_section(cls, config.get("monocular"))

    def refine(self) -> RefineOptions:
        """The model-fit weights."""
        posture = tuple((c, v, float(self.subtalar_sigma_deg) if c.startswith("subtalar") else sd)
                        for c, v, sd in RefineOptions.posture_prior_deg)
        return RefineOptions(sigma_px=float(self.reprojection_sigma_px), sigma_prior_m=float(self.lifter_sigma_m),
                             sigma_contact_m=float(self.contact_sigma_m), smooth_cutoff_hz=float(self.smoothing_cutoff),
                             likelihood_threshold=float(self.likelihood_threshold_monocular),
                             posture_prior_deg=posture, depth_hypotheses=bool(self.depth_hypotheses))


def camera_folders(pose_dir: Path) -> list[str]:
    """Camera names of the JSON folders in ``pose_dir`` (``<cam>_json`` -> ``cam``), sorted."""
    if not pose_dir.is_dir():
        return []
    return sorted(d.name[:-5] if d.name.endswith("_json") else d.name for d in pose_dir.iterdir()
                  if d.is_dir() and any(p.suffix == ".json" for p in d.iterdir()))


def choose_camera(cams: list[str], setting: str, pose_dir: Path) -> str:
    if not cams:
        raise Mocap3dError(f"{pose_dir}: no <camera>_json folder with JSON files. Run the pose stage first")
    if setting not in ("auto", "", None):
        if setting not in cams:
            raise ConfigError(f"monocular.camera = {setting!r} has no keypoints in {pose_dir} (cameras: "
                              f"{', '.join(cams)})")
        return str(setting)
    if len(cams) > 1:
        raise ConfigError(f"{pose_dir} holds {len(cams)} cameras ({', '.join(cams)}); the monocular stage uses one: "
                          f"set monocular.camera (e.g. --set monocular.camera={cams[0]}) or triangulate them")
    return cams[0]


def _video(trial, cam: str) -> Path | None:
    vdir = Path(trial.videos_dir)
    if not vdir.is_dir():
        return None
    vids = sorted(p for p in vdir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    named = [v for v in vids if v.stem == cam or v.stem.startswith(cam)]
    return named[0] if named else (vids[0] if len(vids) == 1 else None)


def _video_size(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    import cv2
    cap = cv2.VideoCapture(str(path))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return (w, h) if w > 0 and h > 0 else None


def _size_from_keypoints(xy: np.ndarray) -> tuple[int, int]:
    """Smallest standard video size (either orientation) holding every keypoint."""
    mx = np.nanmax(xy.reshape(-1, 2), axis=0)
    portrait = mx[1] > mx[0]
    for w, h in _SIZES:
        size = (h, w) if portrait else (w, h)
        if mx[0] <= size[0] and mx[1] <= size[1]:
            return size
    return int(np.ceil(mx[0])), int(np.ceil(mx[1]))


def intrinsics(trial, cam: str, xy: np.ndarray, opts: MonocularOptions) -> tuple[Camera, dict[str, Any]]:
    """The camera's intrinsics and their source: calibration/ file, else the default field of view."""
    from ..triangulation.inputs import calibration_file
    from ..io.calibration_toml import read_calibration
    from .placement import default_matrix
    calib_dir = Path(trial.calibration_dir)
    if calib_dir.is_dir() and any(calib_dir.glob("*.toml")):
        path = calibration_file(calib_dir)
        rig = read_calibration(path)
        if cam in rig.names or len(rig) == 1:
            c = rig[cam] if cam in rig.names else rig[0]
            return (Camera(cam, c.size, c.matrix.copy(), c.distortions.copy(), fisheye=c.fisheye),
                    {"source": str(path), "camera": c.name, "size": list(c.size), "matrix": c.matrix,
                     "distortions": c.distortions})
        log.warning("%s has no camera %r (cameras: %s): using the default field of view", path, cam,
                    ", ".join(rig.names))
    video = _video(trial, cam)
    size = _video_size(video)
    size_src = str(video) if size else None
    if size is None:
        setting = opts.image_size
        if isinstance(setting, (list, tuple)) and len(setting) == 2:
            size, size_src = (int(setting[0]), int(setting[1])), "monocular.image_size"
        else:
            size, size_src = _size_from_keypoints(xy), "smallest standard video size holding the keypoints"
    fov = float(opts.field_of_view)
    K = default_matrix(size, fov)
    log.warning("camera %s has no calibration: using the default field of view of a phone, field_of_view = %g deg "
                "across the long side of %dx%d px (image size from %s), focal %.0f px. Lengths across the image do "
                "not depend on it (the height sets the scale), depth and speed toward the camera do; set "
                "monocular.field_of_view or calibrate the intrinsics", cam, fov, size[0], size[1], size_src, K[0, 0])
    return (Camera(cam, size, K, np.zeros(5)),
            {"source": f"default field_of_view = {fov:g} deg (no calibration)", "size": list(size),
             "size_source": size_src, "matrix": K, "distortions": [0.0] * 5})


def participant_height(config: Mapping[str, Any]) -> float | None:
    """``[project] participant_height`` in metres (first of a list), None for 'auto'."""
    h = (config.get("project", {}) or {}).get("participant_height", "auto")
    if isinstance(h, list):
        h = h[0] if h else "auto"
    if h in ("auto", None):
        return None
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0.3 <= h <= 3.0:
        raise ConfigError(f"project.participant_height = {h!r}: use 'auto' or metres (e.g. 1.72)")
    return float(h)


def _pick_person(data: np.ndarray) -> tuple[np.ndarray, int]:
    """(F, K, 3) of the person slot with the most total likelihood, and that slot."""
    score = np.nansum(np.nan_to_num(data[..., 2]), axis=(0, 2))
    p = int(np.argmax(score))
    return data[:, p], p


def run_monocular(trial) -> dict[str, Any]:
    """One camera -> ``pose-3d/<trial>_<f0>-<f1>.trc`` (+ .c3d), ``monocular_report.json``, overlay PNG."""
    from ..triangulation.inputs import frame_rate, load_skeleton
    from ..io.openpose import read_openpose_folders
    t0 = time.perf_counter()
    config = trial.config
    opts = MonocularOptions.from_config(config)
    skeleton = load_skeleton(config)
    rate = frame_rate(config, trial)
    pose_dir = Path(trial.latest_pose_dir())
    cam = choose_camera(camera_folders(pose_dir), opts.camera, pose_dir)
    kp = read_openpose_folders(pose_dir, cameras=[cam], skeleton=skeleton, rate=rate, warn_unused=False)
    sel = frame_mask(kp.frames, (config.get("project", {}) or {}).get("frame_range", "all"))
    data, slot = _pick_person(kp.data[0][sel])
    frames = kp.frames[sel]
    data3d = getattr(kp, "data3d", None)
    data3d = data3d[0][sel][:, slot] if data3d is not None else None
    if kp.n_persons > 1:
        log.info("%s: %d persons in camera %s; using the most detected one (slot %d)", pose_dir, kp.n_persons, cam, slot)
    names = list(skeleton.names)
    camera, intr = intrinsics(trial, cam, data[..., :2], opts)
    lifted, method = _lift(opts, data, names, camera.size, data3d, rate)
    from ..kinematics.generic_model import scaled_model
    height = participant_height(config)
    height_src = "project.participant_height"
    if height is None:
        if lifted is not None and lifted.metric:
            from .pipeline import bone_lengths, lifted_height
            ref, _ = scaled_model(1.75, skeleton.name)
            height, height_src = lifted_height(lifted, names, bone_lengths(ref, names)[0], 1.75), \
                f"the {method} lifter's metric skeleton"
        else:
            height, height_src = 1.70, "default 1.70 m (participant_height = 'auto' and no metric lifter)"
            log.warning("participant_height = 'auto' and no metric 3D: the monocular scale assumes a 1.70 m "
                        "person, so every length and speed carries the error of that guess; set "
                        "project.participant_height")
    model, _ = scaled_model(round(height, 3), skeleton.name)
    res = reconstruct(data, names, frames, camera, rate, model, height, lifted, opts.refine(),
                      max_gap_frames=max(1, int(round(float(opts.max_gap) * rate))), fix_swaps=bool(opts.fix_swaps))
    f0, f1 = int(res.frames[0]), int(res.frames[-1])
    out_dir = Path(trial.pose3d_dir)
    stem = raw_stem(out_dir, "monocular", f"{trial.name}_{f0}-{f1}", cam)   # keeps a triangulated file of the trial
    markers = Markers3D(res.points, res.names, rate, start_time=f0 / rate, first_frame=f0)
    make_c3d = bool((config.get("triangulation", {}) or {}).get("make_c3d", True))
    elapsed = time.perf_counter() - t0
    report = {"stage": "monocular", "input": str(pose_dir), "camera": cam, "person_slot": slot, "rate": rate,
              "lifter": method, "intrinsics": intr, "participant_height_m": height, "height_source": height_src,
              "scale": {"height_m": height, "model": "our OpenSim model scaled uniformly to the height"},
              **res.report, "seconds": elapsed, "ms_per_frame": 1000 * elapsed / max(1, len(res.frames))}
    from ..io.trc import write_trc
    written = [write_trc(markers, out_dir / f"{stem}.trc")]
    if make_c3d:
        from ..io.c3d import write_c3d
        written.append(write_c3d(markers, out_dir / f"{stem}.c3d"))
    if int(opts.overlay_frames) > 0:
        try:
            from .overlay import write_overlay
            written.append(write_overlay(out_dir / "monocular_overlay.png", res, data, frames, camera,
                                         _video(trial, cam), int(opts.overlay_frames)))
        except Exception as exc:  # noqa: BLE001 - a figure never fails the stage
            log.warning("monocular overlay not drawn: %s", exc)
    report["files"] = [str(w) for w in written]
    write_report(out_dir, "monocular", report)
    rep = res.report["reprojection_error_px"]
    if res.report.get("left_right_swaps"):
        log.info("monocular: left/right swaps undone in %d of %d frames (camera %s)",
                 res.report["left_right_swaps"]["frames_swapped_any_group"], len(res.frames), cam)
    log.info("monocular (%s, camera %s): frames %d-%d, reprojection error %.1f px mean, height %.2f m -> %s", method,
             cam, f0, f1, rep["mean"] or np.nan, height, written[0].name)
    return report


def _lift(opts: MonocularOptions, data: np.ndarray, names: list[str], size, data3d, rate
          ) -> tuple[Lifted | None, str]:
    """The lifted 3D on the trial keypoints (or None) and the lifter used."""
    from .lifters import lift, lifted_to_skeleton
    out = lift(str(opts.lifter), data, names, image_size=tuple(size), keypoints_3d=data3d,
               model=str(opts.motionbert_model or "") or None, rate=rate)
    if out is None:
        return None, "none"
    xyz, conf = lifted_to_skeleton(out, names)
    return Lifted(xyz, conf, bool(out.metric), out.method), out.method
