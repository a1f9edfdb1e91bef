"""Extrinsic calibration: camera poses from a reference board or from measured scene points.

World frame (metres):

* ``board``: origin at the board's first inner corner, one axis along its
  rows. Floor board (``board_position = 'horizontal'``): the up axis is the
  board normal on the cameras' side. Wall board (``'vertical'``): the up axis
  is the board axis closest to the cameras' mean "up" (image -y), the
  horizontal axis normal to the board points from the cameras towards it.
  ``up = 'Y'`` (default, OpenSim) gives Y up, X along the board, Z = X x Y;
  ``up = 'Z'`` gives Pose2Sim's/Qualisys' Z-up frame.
* ``scene``: the frame of the measured ``object_coords_3d`` as given.

Image points for the scene method come from a file (:func:`read_scene_points`)
or, when a display exists, from clicks (:func:`click_scene_points`).

Scene points file (TOML or JSON), one table per camera, points in the order
of ``object_coords_3d``, ``nan`` (TOML) or ``null`` (JSON) for a point the
camera does not see::

    [cam01]
    points_2d = [[812.5, 640.0], [nan, nan], [1020.0, 655.5], ...]   # pixels

Pose2Sim's ``Image_points.json`` (``{"extrinsics": [{"cam_name", "image_points_2d",
"object_points_3d"}]}``) is read too.
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from ..camera import Camera, CameraRig, matrix_to_rodrigues, rodrigues_to_matrix
from ..errors import ConfigError, FileFormatError, Mocap3dError, file_error
from ..logs import get_logger
from .boards import Board, Detection
from .bundle_adjustment import BAProblem, BAResult, bundle_adjust

log = get_logger("calibration")


@dataclass
class ExtrinsicsResult:
    """Posed cameras and their reprojection error on the reference points (pixels)."""

    rig: CameraRig
    rms_px: np.ndarray
    n_points: np.ndarray
    ba: BAResult | None = None


def solve_pose(camera: Camera, object_points: np.ndarray, image_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (rvec, tvec) from >= 4 points (N, 3) <-> pixels (N, 2), any lens model.

    Pixels are undistorted with the camera model first, so fisheye lenses work;
    SQPnP gives a global solution, refined by Levenberg-Marquardt.
    """
    ok = np.isfinite(image_points).all(1) & np.isfinite(object_points).all(1)
    if ok.sum() < 4:
        raise Mocap3dError(f"{camera.name}: {int(ok.sum())} usable points, at least 4 are needed to pose the camera")
    obj = np.ascontiguousarray(object_points[ok], dtype=np.float64)
    xy = camera.copy(rotation=np.zeros(3), translation=np.zeros(3)).undistort_points(image_points[ok])
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    K = np.eye(3)
    good, rvec, tvec = cv2.solvePnP(obj, xy, K, None, flags=cv2.SOLVEPNP_SQPNP)
    if not good:
        raise Mocap3dError(f"{camera.name}: pose estimation failed; check the point order and coordinates")
    rvec, tvec = cv2.solvePnPRefineLM(obj, xy, K, None, rvec, tvec)
    return rvec.ravel(), tvec.ravel()


def _axes_matrix(up_b: np.ndarray, along_b: np.ndarray, up: str) -> np.ndarray:
    """Rotation A (board -> world) with world up = up_b and world X = along_b (board-frame unit vectors)."""
    x = along_b / np.linalg.norm(along_b)
    u = up_b / np.linalg.norm(up_b)
    if up == "Y":
        rows = [x, u, np.cross(x, u)]
    elif up == "Z":
        rows = [x, np.cross(u, x), u]
    else:
        raise ConfigError(f"world up axis must be 'Y' or 'Z', got {up!r}")
    return np.array(rows)


def board_world_rotation(board_poses: Sequence[tuple[np.ndarray, np.ndarray]], position: str = "horizontal",
                         up: str = "Y") -> np.ndarray:
    """Rotation A (3, 3) with X_world = A @ X_board, from the board -> camera poses of the cameras.

    ``position``: 'horizontal' (floor) or 'vertical' (wall); see the module docstring.
    """
    Rs = [rodrigues_to_matrix(np.asarray(r, float)) for r, _ in board_poses]
    centres = np.array([-R.T @ np.asarray(t, float) for R, (_, t) in zip(Rs, board_poses)])  # board frame
    side = np.sign(np.mean(centres[:, 2])) or 1.0
    normal = np.array([0.0, 0.0, side])                      # board normal towards the cameras
    if position == "horizontal":
        return _axes_matrix(normal, np.array([1.0, 0, 0]), up)
    if position != "vertical":
        raise ConfigError(f"board_position must be 'horizontal' or 'vertical', got {position!r}")
    cam_up = np.mean([R.T @ np.array([0.0, -1.0, 0.0]) for R in Rs], axis=0)
    cand = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    up_b = cand[np.argmax(cand @ cam_up)]
    along = np.cross(up_b, normal) if up == "Y" else np.cross(-normal, up_b)
    # X horizontal in the board plane, chosen so that (X, up, Z) is right-handed with Z towards the cameras (Y up)
    # or with Y pointing from the cameras into the wall (Z up).
    return _axes_matrix(up_b, along, up)


def _reference_problem(cameras: Sequence[Camera], points: np.ndarray, uv: Sequence[np.ndarray],
                       extra_groups: Sequence[tuple[np.ndarray, Sequence[np.ndarray]]] = ()) -> BAProblem:
    """A BA problem with the fixed reference points (world frame) and optional free rigid groups.

    ``uv[c]`` (N, 2) are camera c's pixels of ``points`` (NaN if unseen);
    ``extra_groups``: (local points (n, 3), per-camera pixels list of (n, 2)).
    """
    groups = [np.asarray(points, float)]
    poses = [(np.zeros(3), np.zeros(3))]
    fixed = [True]
    oc, og, op, ouv = [], [], [], []

    def add(g: int, pix: Sequence[np.ndarray]) -> None:
        for c, p in enumerate(pix):
            if p is None:
                continue
            p = np.asarray(p, float)
            ok = np.flatnonzero(np.isfinite(p).all(1))
            oc.append(np.full(len(ok), c)); og.append(np.full(len(ok), g)); op.append(ok); ouv.append(p[ok])
    add(0, uv)
    for local, pix in extra_groups:
        g = len(groups)
        groups.append(np.asarray(local, float))
        # initial group pose from the first camera that sees it: board -> world = cam^-1 o (board -> cam)
        for c, p in enumerate(pix):
            if p is not None and np.isfinite(p).all(1).sum() >= 4:
                r, t = solve_pose(cameras[c], groups[-1], np.asarray(p, float))
                Rc = cameras[c].R
                Rg = Rc.T @ rodrigues_to_matrix(r)
                poses.append((matrix_to_rodrigues(Rg), Rc.T @ (t - cameras[c].translation)))
                break
        else:
            groups.pop()
            continue
        fixed.append(False)
        add(g, pix)
    cat = (lambda a, d: np.concatenate(a) if a else np.zeros((0,) + d))
    return BAProblem(list(cameras), groups, poses, fixed, cat(oc, ()).astype(int), cat(og, ()).astype(int),
                     cat(op, ()).astype(int), cat(ouv, (2,)))


def pose_cameras(cameras: Sequence[Camera], world_points: np.ndarray, uv: Sequence[np.ndarray],
                 extra_groups: Sequence[tuple[np.ndarray, Sequence[np.ndarray]]] = (),
                 bundle: bool = True, refine_intrinsics: bool = False) -> ExtrinsicsResult:
    """Pose every camera on reference points of known world coordinates, then bundle-adjust.

    Args:
        cameras: cameras with their intrinsics (extrinsics ignored).
        world_points: (N, 3) world coordinates, metres (the board corners in the
            world frame, or the measured scene points).
        uv: per camera (N, 2) pixels of ``world_points``, NaN where unseen.
        extra_groups: other rigid point sets seen by several cameras (e.g. the
            board moved around): (local points (n, 3), per-camera (n, 2) pixels
            or None); their poses are unknowns of the bundle adjustment.
        bundle: run the bundle adjustment (else PnP only).
        refine_intrinsics: let the bundle adjustment adjust the intrinsics too.
    """
    world_points = np.asarray(world_points, float)
    posed = []
    for cam, pix in zip(cameras, uv):
        r, t = solve_pose(cam, world_points, np.asarray(pix, float))
        posed.append(cam.copy(rotation=r, translation=t))
    ba = None
    if bundle:
        prob = _reference_problem(posed, world_points, uv, extra_groups)
        ba = bundle_adjust(prob, refine_intrinsics=refine_intrinsics)
        posed = ba.cameras
    rig = CameraRig(posed)
    rms, n = [], []
    for cam, pix in zip(rig, uv):
        pix = np.asarray(pix, float)
        ok = np.isfinite(pix).all(1)
        e = np.linalg.norm(cam.project(world_points[ok]) - pix[ok], axis=-1)
        rms.append(float(np.sqrt(np.mean(e ** 2))))
        n.append(int(ok.sum()))
    return ExtrinsicsResult(rig, np.array(rms), np.array(n), ba)


def board_reference(cameras: Sequence[Camera], detections: Sequence[Detection], board: Board,
                    position: str = "horizontal", up: str = "Y") -> tuple[np.ndarray, list[np.ndarray]]:
    """World coordinates (N, 3) of the board corners and per-camera pixels (N, 2) (NaN if unseen)."""
    obj = board.object_points
    if board.symmetric:
        log.warning("extrinsic board %s is symmetric under a half turn (h + w even): cameras may disagree on its "
                    "orientation. Prefer a board with h + w odd (e.g. 4x7) or a ChArUco board", list(board.corners_nb))
    poses, uv = [], []
    for cam, det in zip(cameras, detections):
        pix = np.full((len(obj), 2), np.nan)
        if det is not None:
            pix[det.ids] = det.corners
            poses.append(solve_pose(cam, obj, pix))
        uv.append(pix)
    if not poses:
        raise Mocap3dError("the extrinsic board was found in no camera; check extrinsics images and board size")
    A = board_world_rotation(poses, position, up)
    return obj @ A.T, uv


def read_scene_points(path: str | os.PathLike, camera_names: Sequence[str], n_points: int) -> list[np.ndarray]:
    """Per camera (n_points, 2) pixels of the scene points from a TOML/JSON file (module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise file_error(path, f"cannot read scene points ({e})", "Give a TOML or JSON scene points file") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise file_error(path, f"invalid {path.suffix[1:].upper()}: {e}", "Fix the scene points file") from None
    if isinstance(doc, Mapping) and "extrinsics" in doc and isinstance(doc["extrinsics"], list):   # Pose2Sim
        table = {}
        for e in doc["extrinsics"]:
            name = Path(str(e.get("cam_name", ""))).stem
            table[name] = {"points_2d": e.get("image_points_2d", [])}
        doc = table
    out = []
    for name in camera_names:
        entry = doc.get(name) if isinstance(doc, Mapping) else None
        if entry is None:
            # Pose2Sim names entries after the image file: accept a key containing the camera name
            hits = [k for k in doc if name in str(k)] if isinstance(doc, Mapping) else []
            entry = doc[hits[0]] if len(hits) == 1 else None
        if entry is None:
            raise file_error(path, f"no entry for camera {name!r}", f"Add a [{name}] table with points_2d")
        pts = entry.get("points_2d") if isinstance(entry, Mapping) else entry
        try:
            arr = np.array([[np.nan, np.nan] if p is None else p for p in pts], dtype=float).reshape(-1, 2)
        except (TypeError, ValueError):
            raise file_error(path, f"[{name}] points_2d is not a list of [u, v] pairs", "Fix the file") from None
        if len(arr) != n_points:
            raise file_error(path, f"[{name}] has {len(arr)} points but object_coords_3d has {n_points}",
                             "Give one [u, v] (or nan/null) per object point, in the same order")
        out.append(arr)
    return out


def write_scene_points(path: str | os.PathLike, camera_names: Sequence[str], uv: Sequence[np.ndarray]) -> Path:
    """Write per-camera pixels (N, 2) as a scene points TOML (NaN for unseen points)."""
    from ..logs import atomic_write
    lines = []
    for name, pix in zip(camera_names, uv):
        pts = ", ".join("[" + ", ".join("nan" if not np.isfinite(v) else repr(float(v)) for v in p) + "]" for p in pix)
        lines += [f'["{name}"]', f"points_2d = [{pts}]", ""]
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return Path(path)


def has_display() -> bool:
    """True if a window can be opened (X11/Wayland display, or Windows/macOS)."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def click_scene_points(image: np.ndarray, n_points: int, title: str = "click scene points") -> np.ndarray:
    """Let the user click the image position of each of ``n_points`` scene points (in order).

    Left click: place the current point; right click or 'n': point not visible
    (NaN); 'u': undo; Esc: abort. Returns (n_points, 2) pixels. Needs a display.
    """
    if not has_display():
        raise Mocap3dError("no display to click scene points; write them in a scene points file instead "
                           "(see mocap3d.calibration.extrinsics)")
    pts: list[list[float]] = []

    def on_mouse(event, x, y, flags, param):  # noqa: ARG001
        if len(pts) < n_points and event == cv2.EVENT_LBUTTONDOWN:
            pts.append([float(x), float(y)])
        elif len(pts) < n_points and event == cv2.EVENT_RBUTTONDOWN:
            pts.append([np.nan, np.nan])

    cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    cv2.setMouseCallback(title, on_mouse)
    try:
        while len(pts) < n_points:
            view = image.copy()
            for i, p in enumerate(pts):
                if np.isfinite(p[0]):
                    cv2.drawMarker(view, (int(p[0]), int(p[1])), (0, 0, 255), cv2.MARKER_CROSS, 20, 2)
                    cv2.putText(view, str(i), (int(p[0]) + 5, int(p[1]) - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
            cv2.putText(view, f"point {len(pts)} of {n_points}: left click = place, right/'n' = not visible, "
                        "'u' = undo, Esc = abort", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2)
            cv2.imshow(title, view)
            key = cv2.waitKey(30) & 0xFF
            if key == 27:
                raise Mocap3dError("scene point clicking aborted")
            if key == ord("n"):
                pts.append([np.nan, np.nan])
            if key == ord("u") and pts:
                pts.pop()
    finally:
        cv2.destroyWindow(title)
    return np.array(pts, float)


def validate_object_coords(coords: object) -> np.ndarray:
    """``object_coords_3d`` from the config as an (N, 3) float array (N >= 4)."""
    try:
        arr = np.asarray(coords, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("calibration.calculate.extrinsics.scene.object_coords_3d must be a list of [X, Y, Z] "
                          "in metres") from None
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 4 or not np.isfinite(arr).all():
        raise ConfigError(f"object_coords_3d must hold at least 4 [X, Y, Z] points in metres, got shape {arr.shape}")
    return arr


__all__ = ["ExtrinsicsResult", "solve_pose", "board_world_rotation", "board_reference", "pose_cameras",
           "read_scene_points", "write_scene_points", "click_scene_points", "has_display",
           "validate_object_coords", "FileFormatError"]
