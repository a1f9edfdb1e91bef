"""Pose stage: every camera's video -> ``pose/<cam>_json/`` OpenPose-layout JSON files.

Backends, chosen by ``[pose] pose_model`` and ``mode``:

* ``BLAZEPOSE`` (default): mediapipe's BlazePose full model, shipped inside the
  mediapipe wheel, so it runs offline; by default its landmark model runs on
  onnxruntime without the segmentation head (:mod:`mocap3d.pose.blazepose_onnx`,
  about twice as fast as mediapipe's graph; ``blazepose_runtime = 'mediapipe'``
  runs mediapipe's own graph); ``blazepose_model`` = 'lite' or 'heavy' runs
  BlazePose's other landmark models, fetched once from the npm registry
  (:mod:`mocap3d.pose.blazepose_models`). One person per video; with ``[project]
  multi_person = true``, every person BlazePose's own detector finds, each
  followed by the landmark model (:mod:`mocap3d.pose.blazepose_multi`); or, when
  ``mode`` names an ONNX person detector (``{det_model = ...}``), people are
  located by it first and BlazePose runs on each one's crop.
* any other skeleton (``HALPE_26`` / ``Body_with_feet``, ``COCO_133`` /
  ``Whole_body``, ``COCO_17`` / ``Body``): a top-down RTMPose ONNX model run
  with onnxruntime, with an optional person detector, or a one-stage RTMO model, see
  :mod:`mocap3d.pose.onnx_models`; people are tracked across frames
  (:mod:`mocap3d.pose.tracking`).

One worker process per video (``parallel_workers_pose``), started with the
'spawn' method (safe with the inference libraries' threads); scripts that call
:func:`run_pose` with several workers need the usual
``if __name__ == "__main__":`` guard. Each camera is written
to a temporary folder first and swapped in when complete, so a failed run never
destroys earlier results. ``pose_report.json`` gives, per camera, the frames read,
frames with a detection, mean confidence, frame rate and (BlazePose) the landmark model run.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ConfigError, Mocap3dError
from ..keypoints import Keypoints2D
from ..logs import atomic_path, get_logger, progress, write_report
from ..skeletons import BLAZEPOSE, Skeleton, get_skeleton
from .tracking import Tracker, order_by_id
from .video import FrameSource, camera_name, check_inputs, check_rotate, list_inputs, prefetch

log = get_logger("pose")
Estimator = Callable[[np.ndarray], np.ndarray]
_BLAZEPOSE_NAMES = {"BLAZEPOSE", "MEDIAPIPE"}

__all__ = ["run_pose", "estimate_camera", "make_estimator", "skeleton_of", "filter_persons", "n_workers"]


def skeleton_of(pose_cfg: Mapping[str, Any]) -> Skeleton:
    """The skeleton written by the configured model (BLAZEPOSE unless ``pose_model`` says otherwise)."""
    name = str(pose_cfg.get("pose_model", "BLAZEPOSE"))
    return BLAZEPOSE if name.upper() in _BLAZEPOSE_NAMES else get_skeleton(name, pose_cfg.get("CUSTOM"))


def make_estimator(pose_cfg: Mapping[str, Any], rate: float = 30.0) -> tuple[Estimator, Skeleton, bool]:
    """``(estimator, skeleton, multi_person)`` for ``[pose]``; estimator(image BGR) -> (P, K, 3).

    ``rate``: the video's frame rate (Hz), for BlazePose's ROI smoothing.
    """
    skeleton = skeleton_of(pose_cfg)
    if skeleton is BLAZEPOSE:
        det = _blazepose_detector(pose_cfg)
        single = _blazepose(pose_cfg, rate, static=det is not None)
        if det is None and pose_cfg.get("multi_person"):
            from .blazepose_onnx import BlazePoseOnnx
            if isinstance(single, BlazePoseOnnx):
                from .blazepose_multi import BlazePoseOnnxMulti
                return BlazePoseOnnxMulti(single, single._detector.detect_all, int(pose_cfg.get("det_frequency", 4)),
                                          rate), skeleton, True
            log.warning("multi_person = true but BlazePose runs on mediapipe's graph, which follows one person "
                        "per video: use blazepose_runtime = 'onnxruntime' (default) or a person detector "
                        "(mode = {det_model = ...}) to find several people")
        if det is None:
            return single, skeleton, False
        from .blazepose import BlazePoseMulti
        from .onnx_models import BoxSchedule
        return BlazePoseMulti(BoxSchedule(det, int(pose_cfg.get("det_frequency", 4))), pose=single), skeleton, True
    from .onnx_models import estimator_from_config
    return estimator_from_config(pose_cfg, skeleton), skeleton, True


def _blazepose(pose_cfg: Mapping[str, Any], rate: float, static: bool) -> Estimator:
    """Single-person BlazePose on the configured runtime (onnxruntime unless it is unavailable) and landmark model
    (``blazepose_model``: 'full' from the mediapipe wheel; 'lite' and 'heavy' fetched once, onnxruntime only)."""
    from .blazepose import BlazePose
    from .blazepose_models import landmark_tflite
    max_side = int(pose_cfg.get("max_image_side", 0)) or None
    runtime = str(pose_cfg.get("blazepose_runtime", "onnxruntime")).lower()
    if runtime not in ("onnxruntime", "mediapipe"):
        raise ConfigError(f"pose.blazepose_runtime = {runtime!r} is not allowed; use 'onnxruntime' or 'mediapipe'")
    variant, local = _landmark_choice(pose_cfg)
    if variant != "full" or local:
        from .blazepose_onnx import BlazePoseOnnx
        return BlazePoseOnnx(landmark_tflite(variant, local), static=static, rate=rate)  # errors are not hidden
    if runtime == "onnxruntime" and not max_side:
        from .blazepose_onnx import BlazePoseOnnx
        try:
            return BlazePoseOnnx(static=static, rate=rate)
        except (ImportError, Mocap3dError) as exc:  # no onnx package, or a model that will not convert
            log.warning("BlazePose on onnxruntime unavailable (%s); running mediapipe's graph instead "
                        "(about half as fast)", exc)
    return BlazePose(max_side=max_side, static=static)


def _landmark_choice(pose_cfg: Mapping[str, Any]) -> tuple[str, str | None]:
    """(``blazepose_model``, ``blazepose_model_file`` or None), checked against the runtime."""
    from .blazepose_models import check_variant
    variant = check_variant(pose_cfg.get("blazepose_model", "full"))
    local = str(pose_cfg.get("blazepose_model_file", "") or "") or None
    runtime = str(pose_cfg.get("blazepose_runtime", "onnxruntime")).lower()
    if (variant != "full" or local) and (runtime != "onnxruntime" or int(pose_cfg.get("max_image_side", 0))):
        raise ConfigError(f"pose.blazepose_model = '{variant}' (or blazepose_model_file) runs on onnxruntime only: "
                          "set blazepose_runtime = 'onnxruntime' and max_image_side = 0, or blazepose_model = 'full'")
    return variant, local


def _prepare_landmark_model(pose_cfg: Mapping[str, Any]) -> None:
    """Fetch and convert a lite / heavy (or given) landmark model once, before the worker processes start."""
    variant, local = _landmark_choice(pose_cfg)
    if variant != "full" or local:
        from .blazepose_models import landmark_tflite
        from .blazepose_onnx import converted_model
        converted_model(landmark_tflite(variant, local))


def _blazepose_detector(pose_cfg: Mapping[str, Any]) -> Any:
    """The ONNX person detector of ``mode = {det_model = ...}`` for multi-person BlazePose, else None."""
    mode = pose_cfg.get("mode", "balanced")
    if isinstance(mode, str) and mode.strip().startswith("{"):
        import ast
        try:
            mode = ast.literal_eval(mode.strip())
        except (ValueError, SyntaxError) as exc:
            raise ConfigError(f"pose.mode: cannot read the dictionary {mode!r} ({exc})") from None
    if not isinstance(mode, Mapping) or not mode.get("det_model"):
        return None
    from .onnx_models import PersonDetector
    return PersonDetector(mode["det_model"], mode.get("det_input_size"), str(pose_cfg.get("device", "auto")))


def backend_of(estimator: Any) -> str:
    """The runtime that ran an estimator: 'mediapipe' (its own graph) or 'onnxruntime'."""
    inner = getattr(estimator, "_pose", None)
    from .blazepose import BlazePose
    return "mediapipe" if isinstance(estimator, BlazePose) or isinstance(inner, BlazePose) else "onnxruntime"


def model_of(estimator: Any) -> str | None:
    """File name of the BlazePose landmark model an estimator ran (mediapipe's graph: the wheel's full model)."""
    from .blazepose import BlazePose
    for obj in (estimator, getattr(estimator, "pose", None), getattr(estimator, "_pose", None)):
        if isinstance(obj, BlazePose):
            return "pose_landmark_full.tflite"
        if getattr(obj, "model_name", None):
            return str(obj.model_name)
    return None


def filter_persons(persons: np.ndarray, average_threshold: float, keypoint_threshold: float) -> np.ndarray:
    """Persons (P, K, 3) whose good keypoints (likelihood >= ``keypoint_threshold``) average >= ``average_threshold``.

    A person without any good keypoint is dropped.
    """
    if not len(persons):
        return persons
    lik = np.nan_to_num(persons[..., 2], nan=0.0)
    good = lik >= keypoint_threshold
    with np.errstate(all="ignore"):
        mean = np.where(good, lik, 0).sum(-1) / good.sum(-1)
    return persons[good.any(-1) & (mean >= average_threshold)]


def _save_modes(value: Any) -> set[str]:
    vals = value if isinstance(value, (list, tuple)) else [value]
    return {str(v).lower() for v in vals if v not in (None, False)} - {"none", "false"}


class _Overlay:
    """Writes the frames with keypoints drawn, as a video and/or images (atomically)."""

    def __init__(self, out_dir: Path, cam: str, fps: float, size: tuple[int, int], modes: set[str],
                 skeleton: Skeleton) -> None:
        import cv2
        self.modes, self.skeleton, self.writer = modes, skeleton, None
        self.img_dir = out_dir / f"{cam}_img" if "to_images" in modes else None
        self._video_ctx = None
        if "to_video" in modes:
            self._video_ctx = atomic_path(out_dir / f"{cam}_pose.mp4")
            tmp = self._video_ctx.__enter__()
            self.writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        self.links = [(skeleton.names.index(c), skeleton.names.index(p)) for c, p in skeleton.parents.items()
                      if c in skeleton.names and p in skeleton.names]

    def add(self, frame: int, image: np.ndarray, persons: np.ndarray) -> None:
        import cv2
        img = image.copy()
        for p, kp in enumerate(persons):
            colour = tuple(int(v) for v in np.array([(60, 220, 60), (220, 120, 40), (40, 80, 230)][p % 3]))
            ok = np.isfinite(kp[:, 2]) & (kp[:, 2] > 0.3)
            for a, b in self.links:
                if ok[a] and ok[b]:
                    cv2.line(img, tuple(int(v) for v in kp[a, :2]), tuple(int(v) for v in kp[b, :2]), colour, 2)
            for x, y in kp[ok, :2]:
                cv2.circle(img, (int(x), int(y)), 3, (0, 0, 255), -1)
        if self.writer is not None:
            self.writer.write(img)
        if self.img_dir is not None:
            self.img_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(self.img_dir / f"frame_{frame:06d}.png"), img)

    def close(self, ok: bool) -> None:
        if self.writer is not None:
            self.writer.release()
            self._video_ctx.__exit__(None if ok else Mocap3dError, None, None)


def estimate_camera(source: str | os.PathLike, out_dir: str | os.PathLike, pose_cfg: Mapping[str, Any],
                    frame_range: Any = "all", default_fps: float = 30.0, decode_threads: int = 0) -> dict:
    """Run pose estimation on one video or image folder; write ``out_dir/<cam>_json/``; return its summary.

    Keypoints are in pixels of the upright frame (after metadata and manual rotation).
    ``decode_threads``: FFmpeg threads decoding the video (0 = FFmpeg's choice; 1 in pool workers).
    """
    out_dir = Path(out_dir)
    cam = camera_name(source)
    src = FrameSource(Path(source), rotate=check_rotate(pose_cfg.get("rotate", 0)), frame_range=frame_range,
                      default_fps=default_fps, decode_threads=decode_threads)
    estimator, skeleton, multi = make_estimator(pose_cfg, src.fps)
    avg_thr = float(pose_cfg.get("average_likelihood_threshold_pose", 0.5))
    kp_thr = float(pose_cfg.get("keypoint_likelihood_threshold_pose", 0.3))
    tracker = Tracker(float(pose_cfg.get("max_distance_px", 250)), float(pose_cfg.get("min_iou", 0.2)),
                      int(pose_cfg.get("max_unseen_frames", 30)), kp_thr) \
        if multi and str(pose_cfg.get("tracking_mode", "sports2d")).lower() != "none" else None
    modes = _save_modes(pose_cfg.get("save_video", "none"))
    overlay = _Overlay(out_dir, cam, src.fps, src.size, modes, skeleton) if modes else None
    frames, persons, ids, dropped = [], [], [], 0
    t0, cpu0, ok = time.perf_counter(), time.process_time(), False
    start, stop = src.bounds()
    try:
        total = (stop - start) if stop - start < 2**31 - 1 else None
        # An estimator's `prepare` step (BlazePose: BGR -> RGB) runs in the decoding thread, off the critical path.
        prepare = getattr(estimator, "prepare", None)
        frames_in = ((i, img, prepare(img)) for i, img in src) if prepare is not None else ((i, img, None) for i, img in src)
        # BlazePose also gives 3D world landmarks (estimator.world, (P, K, 4)): carried as channels 3-6 of each
        # person so that filtering and tracking keep them with their person.
        has_world = hasattr(estimator, "world")
        for i, image, prepared in progress(prefetch(frames_in), desc=f"pose {cam}", total=total, unit="frame"):
            raw = estimator(image) if prepared is None else estimator(image, prepared)
            if has_world:
                raw = np.concatenate([raw, estimator.world], axis=-1)
            kp = filter_persons(raw, avg_thr, kp_thr)
            dropped += len(raw) - len(kp)
            frames.append(i)
            persons.append(kp)
            ids.append(tracker.update(kp) if tracker is not None else np.arange(len(kp)))
            if overlay is not None:
                overlay.add(i, image, kp)
        ok = True
    finally:
        backend, model = backend_of(estimator), model_of(estimator)
        if overlay is not None:
            overlay.close(ok)
        if hasattr(estimator, "close"):
            estimator.close()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if not frames:
        raise Mocap3dError(f"{source}: no frame read in frame_range {frame_range!r}. Check the video and frame_range")
    data = order_by_id(persons, ids, len(skeleton.names), 7 if has_world else 3)
    kp2d = Keypoints2D(data[None, ..., :3], [cam], list(skeleton.names), np.array(frames), src.fps,
                       data3d=data[None, ..., 3:] if has_world else None)
    data = data[..., :3]
    if _writes_json(pose_cfg):
        _write_camera(kp2d, out_dir / f"{cam}_json")
    detected = np.isfinite(data[..., 2]).any(axis=(1, 2))
    lik = data[..., 2]
    return {"camera": cam, "source": str(source), "frames": len(frames), "frames_with_detection": int(detected.sum()),
            "persons_tracked": int(data.shape[1]) if detected.any() else 0, "detections_dropped": dropped,
            "mean_confidence": float(np.nanmean(lik)) if np.isfinite(lik).any() else None,
            "fps": src.fps, "size": list(src.size), "metadata_rotation": src.metadata_rotation,
            "processing_fps": len(frames) / elapsed if elapsed > 0 else None, "seconds": elapsed,
            "cpu_seconds": cpu, "skeleton": skeleton.name, "backend": backend,
            **({"landmark_model": model} if model else {})}


def _write_camera(kp: Keypoints2D, folder: Path) -> None:
    """Write one camera's JSON files into a new folder that then replaces ``folder`` whole."""
    from ..io.openpose import write_openpose_camera
    from ..logs import atomic_folder
    with atomic_folder(folder) as tmp:
        write_openpose_camera(kp, tmp, 0, atomic=False)


def _formats(pose_cfg: Mapping[str, Any]) -> set[str]:
    f = pose_cfg.get("output_format", "openpose")
    return {str(v).lower() for v in (f if isinstance(f, (list, tuple)) else [f])}


def _writes_json(pose_cfg: Mapping[str, Any]) -> bool:
    """False only for output_format = 'none' (keypoints summarized in the report, no files)."""
    return "openpose" in _formats(pose_cfg)


def n_workers(setting: Any, n_videos: int) -> int:
    """Worker processes for ``parallel_workers_pose`` ('auto' = min(cores, videos), int, or false = 1)."""
    if setting is False or setting is None:
        return 1
    if isinstance(setting, str):
        if setting.lower() != "auto":
            raise ConfigError(f"pose.parallel_workers_pose = {setting!r} is not allowed; use 'auto', an integer or false")
        return max(1, min(os.cpu_count() or 1, n_videos))
    if isinstance(setting, bool) or int(setting) < 1:
        raise ConfigError(f"pose.parallel_workers_pose = {setting!r} is not allowed; use 'auto', an integer >= 1 or false")
    return max(1, min(int(setting), n_videos))


def _has_inputs(videos_dir: Path) -> bool:
    try:
        return bool(list_inputs(videos_dir))
    except Mocap3dError:
        return False


def _has_json(pose_dir: Path) -> bool:
    return pose_dir.is_dir() and any(d.is_dir() and any(d.glob("*.json")) for d in pose_dir.iterdir())


def _job(args: tuple) -> dict:
    return estimate_camera(*args)


def _worker_init() -> None:
    """Worker processes share the cores: one OpenCV thread each (decoding runs in its own prefetch thread)."""
    import cv2
    cv2.setNumThreads(1)


# Results of other detectors: [pose] import_from -> (file patterns, converter to Keypoints2D).
_IMPORTERS = {
    "alphapose": (("*.json",), "alphapose_to_keypoints"),
    "deeplabcut": (("*.h5", "*.csv"), "dlc_to_keypoints"),
    "mmpose": (("*.json",), "mmpose_to_keypoints"),
}


def import_results(trial: Any, pose_cfg: Mapping[str, Any], skeleton: Skeleton) -> dict:
    """``pose-import/<cam>.<ext>`` (one results file per camera) -> ``pose/<cam>_json/``."""
    from ..io import importers
    fmt = str(pose_cfg["import_from"]).lower()
    patterns, func = _IMPORTERS[fmt]
    src = Path(trial.path) / "pose-import"
    files = sorted({f for pat in patterns for f in src.glob(pat)}) if src.is_dir() else []
    if not files:
        raise Mocap3dError(f"{src}: no {fmt} results ({', '.join(patterns)}) to import. Put one file per "
                           f"camera there, named after the camera (e.g. cam01{patterns[0][1:]})")
    fps_cfg = trial.config.get("project", {}).get("frame_rate", "auto")
    rate = float(fps_cfg) if not isinstance(fps_cfg, str) else 30.0
    cameras = []
    for f in files:
        kwargs = {"camera": f.stem, "rate": rate} | ({} if fmt == "deeplabcut" else {"skeleton": skeleton})
        kp = getattr(importers, func)(f, **kwargs)
        _write_camera(kp, trial.pose_dir / f"{f.stem}_json")
        seen = np.isfinite(kp.likelihood).any(axis=(2, 3))[0]
        cameras.append({"camera": f.stem, "source": str(f), "frames": int(kp.n_frames),
                        "frames_with_detection": int(seen.sum()), "persons": int(kp.n_persons)})
        log.info("pose: imported %s (%s) -> %s_json: %d frames", f.name, fmt, f.stem, kp.n_frames)
    report = {"pose_model": skeleton.name, "imported_from": fmt, "cameras": cameras}
    write_report(trial.pose_dir, "pose", report)
    return report


def run_pose(trial: Any) -> dict:
    """Pose stage of one trial: ``videos/`` -> ``pose/<cam>_json/`` and ``pose/pose_report.json``.

    With ``[pose] import_from``, the results of another detector in ``pose-import/`` are
    converted instead (see :func:`import_results`).
    """
    cfg = trial.config
    pose_cfg = dict(cfg.get("pose", {}) or {})
    # [project] multi_person decides whether BlazePose follows several people (its own detector, per person).
    pose_cfg.setdefault("multi_person", bool(cfg.get("project", {}).get("multi_person", False)))
    if str(pose_cfg.get("import_from", "none")).lower() != "none":
        return import_results(trial, pose_cfg, skeleton_of(pose_cfg))
    formats = _formats(pose_cfg)
    if formats - {"openpose", "none"}:
        raise ConfigError(f"pose.output_format = {pose_cfg.get('output_format')!r}: only 'openpose' is written; "
                          "convert other formats with mocap3d's importers")
    skeleton = skeleton_of(pose_cfg)  # fail early on an unknown model name
    out_dir = trial.pose_dir
    if not _has_inputs(trial.videos_dir) and _has_json(out_dir):
        log.info("pose: no video in %s; the JSON files already in %s are used", trial.videos_dir, out_dir)
        return {"pose_model": skeleton.name, "cameras": [], "skipped": f"no videos/ folder; existing {out_dir.name}/ kept"}
    inputs = list_inputs(trial.videos_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    overwrite = bool(pose_cfg.get("overwrite_pose", False))
    fps_cfg = cfg.get("project", {}).get("frame_rate", "auto")
    default_fps = float(fps_cfg) if not isinstance(fps_cfg, str) else 30.0
    todo, skipped = [], []
    for src in inputs:
        cam = camera_name(src)
        done = out_dir / f"{cam}_json"
        if not overwrite and done.is_dir() and any(done.glob("*.json")):
            skipped.append(cam)
        else:
            todo.append((str(src), str(out_dir), pose_cfg, trial.frame_range, default_fps))
    if skipped:
        log.info("pose: %s already done, skipped (set overwrite_pose = true to redo)", ", ".join(skipped))
    check_inputs(job[0] for job in todo)
    if skeleton is BLAZEPOSE and todo:
        _prepare_landmark_model(pose_cfg)
    workers = n_workers(pose_cfg.get("parallel_workers_pose", "auto"), len(todo))
    t0 = time.perf_counter()
    if workers > 1:
        import multiprocessing as mp
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
            # Each worker decodes with one FFmpeg thread: the cores are already shared by the workers.
            results = list(pool.map(_job, [job + (1,) for job in todo]))
    else:
        results = [_job(a) for a in todo]
    elapsed = time.perf_counter() - t0
    for r in results:
        log.info("pose %s: %d/%d frames with a detection, mean confidence %s", r["camera"],
                 r["frames_with_detection"], r["frames"],
                 "-" if r["mean_confidence"] is None else f"{r['mean_confidence']:.2f}")
    total = sum(r["frames"] for r in results)
    backends = sorted({r.get("backend", "onnxruntime") for r in results})
    models = sorted({r["landmark_model"] for r in results if r.get("landmark_model")})
    report = {"pose_model": skeleton.name, "backend": ", ".join(backends) if backends else None,
              **({"landmark_model": ", ".join(models)} if models else {}),
              "cameras": results, "skipped_cameras": skipped, "workers": workers,
              "frames_total": total, "seconds": elapsed, "total_fps": total / elapsed if elapsed > 0 and total else None,
              "dropped": f"persons whose good keypoints average < {pose_cfg.get('average_likelihood_threshold_pose', 0.5)}"}
    write_report(out_dir, "pose", report)
    return report
