"""Intrinsic calibration (focal lengths, principal point, lens distortion) from board views.

Pipeline for one camera: read images, or frames of a video every N seconds
(:func:`load_views`); detect the board (:func:`~mocap3d.calibration.boards.detect_board`);
drop views whose corner grid is irregular (mis-ordered corners); calibrate
(``cv2.calibrateCamera``: pinhole k1 k2 p1 p2 [k3], or ``cv2.fisheye.calibrate``:
k1..k4); drop views whose reprojection error is an outlier (robust z-score on
the per-view RMS); recalibrate until nothing more is dropped.

Quick start::

    board = Board("checkerboard", (4, 7), 0.06)
    res = calibrate_intrinsics_folder(Path("calibration/intrinsics/cam01"), board)
    print(res.rms_px, res.rejected)
    cam = res.camera("cam01")
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..camera import Camera
from ..errors import Mocap3dError
from ..logs import get_logger, progress
from ..project import VIDEO_EXTENSIONS
from .boards import Board, Detection, detect_board, grid_irregularity
from .bundle_adjustment import BAProblem, bundle_adjust

log = get_logger("calibration")

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}

#: Grid irregularity (second difference / corner spacing) above which a detection is mis-ordered.
MAX_GRID_IRREGULARITY = 0.35
#: Robust z-score above which a view's reprojection RMS is an outlier.
OUTLIER_Z = 3.5
#: Per-view RMS (px) below which a view is never rejected as an outlier.
OUTLIER_FLOOR_PX = 0.3


@dataclass
class IntrinsicsResult:
    """Intrinsic calibration of one camera.

    Attributes:
        matrix: K (3, 3), pixels.
        distortions: pinhole (4,) or (5,) with k3; fisheye (4,).
        size: image size (w, h).
        fisheye: equidistant fisheye model.
        rms_px: RMS reprojection error over the kept views, pixels.
        view_errors: per kept view RMS, pixels, keyed by source.
        rejected: (source, reason) of every view dropped.
        detections: the kept detections.
        rvecs, tvecs: board -> camera pose per kept view.
    """

    matrix: np.ndarray
    distortions: np.ndarray
    size: tuple[int, int]
    fisheye: bool
    rms_px: float
    view_errors: dict[str, float] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    rvecs: list[np.ndarray] = field(default_factory=list)
    tvecs: list[np.ndarray] = field(default_factory=list)

    def camera(self, name: str) -> Camera:
        """A :class:`Camera` with these intrinsics and identity extrinsics."""
        return Camera(name, self.size, self.matrix, self.distortions, fisheye=self.fisheye)

    def view_distances(self) -> np.ndarray:
        """Camera-to-board distance (V,) of each kept view, metres."""
        return np.array([np.linalg.norm(t) for t in self.tvecs])


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def frames_from_video(path: Path, every_n_sec: float = 1.0) -> Iterator[tuple[str, np.ndarray]]:
    """(label, BGR frame) every ``every_n_sec`` seconds of a video (first frame included)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise Mocap3dError(f"{path}: cannot open video. Check the file or convert it to mp4")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    step = max(1, int(round(every_n_sec * fps)))
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                yield f"{path.name}@{index / fps:.3f}s", frame
            index += 1
    finally:
        cap.release()


def list_view_files(folder: Path, extension: str | None = None) -> list[Path]:
    """Image and video files of a folder, natural order; ``extension`` ('jpg', 'mp4'...) restricts them."""
    if not folder.is_dir():
        raise Mocap3dError(f"{folder}: folder not found. Put the board images or video of this camera there")
    exts = IMAGE_EXTENSIONS | set(VIDEO_EXTENSIONS)
    if extension:
        exts = {"." + extension.lower().lstrip(".")}
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts), key=_natural_key)
    if not files:
        raise Mocap3dError(f"{folder}: no image or video file{' with extension .' + extension if extension else ''}."
                           " Add board images/videos or fix intrinsics_extension")
    return files


def load_views(folder: Path, extension: str | None = None, every_n_sec: float = 1.0) -> Iterator[tuple[str, np.ndarray]]:
    """(label, BGR image) of every image of a folder, and frames of its videos every N seconds."""
    for path in list_view_files(folder, extension):
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            yield from frames_from_video(path, every_n_sec)
        else:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise Mocap3dError(f"{path}: cannot read image. Re-export it as png or jpg")
            yield path.name, img


def detect_views(views: Sequence[tuple[str, np.ndarray]] | Iterator[tuple[str, np.ndarray]], board: Board,
                 desc: str = "board detection") -> tuple[list[Detection], list[str], tuple[int, int] | None]:
    """Detections of ``board`` in views; also the labels where it was not found and the image size."""
    found, missed, size = [], [], None
    for label, img in progress(views, desc, unit="img"):
        s = (img.shape[1], img.shape[0])
        if size is not None and s != size:
            raise Mocap3dError(f"{label}: image size {s} differs from the first view's {size}. "
                               "Use one resolution per camera")
        size = s
        det = detect_board(img, board, label)
        (found.append(det) if det is not None else missed.append(label))
    return found, missed, size


def _object_image_points(dets: Sequence[Detection], board: Board, fisheye: bool):
    obj = board.object_points
    if fisheye:
        return ([obj[d.ids].reshape(-1, 1, 3).astype(np.float64) for d in dets],
                [d.corners.reshape(-1, 1, 2).astype(np.float64) for d in dets])
    return ([obj[d.ids].astype(np.float32) for d in dets], [d.corners.astype(np.float32) for d in dets])


def _calibrate_camera(*args, **kwargs):
    """``cv2.calibrateCamera`` on one OpenCV thread (the setting restored after): with several, the order of
    its sums changes from run to run (principal points 1e-8 px apart on Pose2Sim's demo photos, which the
    keypoint calibration turned into camera centres 3-11 mm apart); on one, the same photos give the same
    intrinsics."""
    n = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return cv2.calibrateCamera(*args, **kwargs)
    finally:
        cv2.setNumThreads(n)


def _calibrate_once(dets: Sequence[Detection], board: Board, size: tuple[int, int], fisheye: bool, k3: bool,
                    guess: tuple[np.ndarray, np.ndarray] | None = None, square_pixels: bool = True):
    objp, imgp = _object_image_points(dets, board, fisheye)
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    if fisheye:
        K, D, rvecs, tvecs = _calibrate_fisheye(dets, board, size, guess)
    else:
        flags = 0 if k3 else cv2.CALIB_FIX_K3
        _, K, D, rvecs, tvecs = _calibrate_camera(objp, imgp, size, None, None, flags=flags, criteria=crit)
        if square_pixels:
            # fx = fy: one unknown less; it keeps a few or similar views from trading focal length
            # against principal point (1% -> 0.1% focal error on weak view sets)
            K0 = K.copy()
            K0[0, 0] = K0[1, 1] = (K[0, 0] + K[1, 1]) / 2
            flags |= cv2.CALIB_FIX_ASPECT_RATIO | cv2.CALIB_USE_INTRINSIC_GUESS
            _, K, D, rvecs, tvecs = _calibrate_camera(objp, imgp, size, K0, D, flags=flags, criteria=crit)
        D = D.ravel()[:5 if k3 else 4]
    cam = Camera("x", size, K, D, fisheye=fisheye)
    errs = []
    for d, r, t in zip(dets, rvecs, tvecs):
        proj = cam.copy(rotation=np.ravel(r), translation=np.ravel(t)).project(board.object_points[d.ids])
        errs.append(float(np.sqrt(np.mean(np.sum((proj - d.corners) ** 2, -1)))))
    return K, D, [np.ravel(r) for r in rvecs], [np.ravel(t) for t in tvecs], np.array(errs)


def _calibrate_fisheye(dets: Sequence[Detection], board: Board, size: tuple[int, int],
                       guess: tuple[np.ndarray, np.ndarray] | None):
    """Equidistant fisheye calibration by bundle adjustment (OpenCV 5's cv2.fisheye.calibrate is unusable).

    Initial focal length, principal point and board poses come from a pinhole
    calibration with three radial terms, then fx, fy, cx, cy, k1..k4 and every
    board pose are refined together.
    """
    objp, imgp = _object_image_points(dets, board, False)
    _, K0, _, rv, tv = _calibrate_camera(objp, imgp, size, None, None, flags=0)
    D0 = np.zeros(4)
    if guess is not None:
        K0, D0 = guess
    cam = Camera("x", size, K0, D0, fisheye=True)
    groups = [board.object_points[d.ids] for d in dets]
    obs_group = np.concatenate([np.full(len(d.ids), k) for k, d in enumerate(dets)])
    obs_point = np.concatenate([np.arange(len(d.ids)) for d in dets])
    prob = BAProblem([cam], groups, [(np.ravel(r), np.ravel(t)) for r, t in zip(rv, tv)], [False] * len(dets),
                     np.zeros(len(obs_group), int), obs_group, obs_point,
                     np.concatenate([d.corners for d in dets]), fixed_cameras=[True])
    res = bundle_adjust(prob, refine_intrinsics=True, loss="linear", max_nfev=100)
    c = res.cameras[0]
    return c.matrix, c.distortions[:4], [p[0] for p in res.group_poses], [p[1] for p in res.group_poses]


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD); zero where the MAD is zero."""
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    return np.zeros_like(values) if mad <= 1e-12 else (values - med) / mad


def calibrate_intrinsics(detections: Sequence[Detection], board: Board, size: tuple[int, int],
                         fisheye: bool = False, k3: bool = False, square_pixels: bool = True, min_views: int = 4,
                         max_irregularity: float = MAX_GRID_IRREGULARITY, outlier_z: float = OUTLIER_Z,
                         outlier_floor_px: float = OUTLIER_FLOOR_PX, name: str = "camera") -> IntrinsicsResult:
    """Calibrate one camera from board detections, rejecting mis-ordered and outlier views.

    Args:
        detections: corners per view (pixels) with their object point ids.
        size: image size (w, h).
        fisheye: fit OpenCV's fisheye (equidistant) model instead of the pinhole one.
        k3: also fit the third radial coefficient (pinhole only).
        square_pixels: constrain fx = fy (pinhole only; true of phones, action and
            machine-vision cameras); False fits both.
        min_views: fewer kept views raise :class:`Mocap3dError`.
        max_irregularity: views whose :func:`grid_irregularity` exceeds it are dropped.
        outlier_z, outlier_floor_px: a view is an outlier when its RMS has a robust
            z-score above ``outlier_z`` and exceeds ``outlier_floor_px``.
    """
    rejected: list[tuple[str, str]] = []
    kept = []
    for d in detections:
        min_pts = 6 if board.kind == "charuco" else 4
        if len(d.ids) < min_pts:
            rejected.append((d.source, f"only {len(d.ids)} corners"))
            continue
        irr = grid_irregularity(d, board)
        if irr > max_irregularity:
            rejected.append((d.source, f"corners mis-ordered (grid irregularity {irr:.2f} > {max_irregularity})"))
            continue
        kept.append(d)

    def _check(n: int) -> None:
        if n < min_views:
            raise Mocap3dError(f"{name}: only {n} usable board views (need {min_views}); rejected: "
                               f"{rejected[:5]}. Add images of the whole board at varied angles")
    _check(len(kept))
    guess = None
    for _ in range(max(1, len(kept) // 3)):
        K, D, rvecs, tvecs, errs = _calibrate_once(kept, board, size, fisheye, k3, guess, square_pixels)
        z = robust_z(errs)
        bad = (z > outlier_z) & (errs > outlier_floor_px)
        if not bad.any():
            break
        i = int(np.argmax(np.where(bad, z, -np.inf)))     # drop the worst view only, then recalibrate
        rejected.append((kept[i].source, f"reprojection error {errs[i]:.2f} px is an outlier "
                         f"(robust z {z[i]:.1f} > {outlier_z})"))
        kept = kept[:i] + kept[i + 1:]
        _check(len(kept))
        guess = (K, D)
    n_pts = np.array([len(d.ids) for d in kept])
    rms = float(np.sqrt(np.sum(errs ** 2 * n_pts) / n_pts.sum()))
    for src, why in rejected:
        log.info("%s: view %s dropped: %s", name, src, why)
    return IntrinsicsResult(np.asarray(K, float), np.asarray(D, float), tuple(size), fisheye, rms,
                            {d.source: float(e) for d, e in zip(kept, errs)}, rejected, list(kept), rvecs, tvecs)


def calibrate_intrinsics_folder(folder: Path, board: Board, extension: str | None = None,
                                every_n_sec: float = 1.0, fisheye: bool = False, k3: bool = False,
                                name: str | None = None, **kwargs) -> IntrinsicsResult:
    """Detect ``board`` in a camera's images/videos and calibrate it (see :func:`calibrate_intrinsics`)."""
    folder = Path(folder)
    name = name or folder.name
    dets, missed, size = detect_views(load_views(folder, extension, every_n_sec), board, f"{name} intrinsics")
    if size is None:
        raise Mocap3dError(f"{folder}: no image could be read")
    res = calibrate_intrinsics(dets, board, size, fisheye=fisheye, k3=k3, name=name, **kwargs)
    res.rejected = [(m, "board not detected") for m in missed] + res.rejected
    log.info("%s: intrinsics from %d views (%d without board, %d rejected): RMS %.3f px",
             name, len(res.detections), len(missed), len(res.rejected) - len(missed), res.rms_px)
    return res
