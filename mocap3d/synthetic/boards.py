"""Calibration inputs with known truth: rendered boards and scene points.

* Intrinsics: images of a checkerboard or a ChArUco board held at varied
  poses in front of each camera, rendered through the camera's real lens
  distortion (every output pixel is inverse-mapped: undistorted with
  ``Camera.undistort_points`` on a coarse grid, interpolated, intersected with
  the board plane, looked up in the board texture with ``cv2.remap``).
* Extrinsics: a large checkerboard lying on the floor seen by every camera,
  and scene points with known world coordinates (floor marks and marks on
  poles, drawn as small targets in the floor-board images) and their image
  positions.

Board frame (OpenCV's): origin at the first inner corner (checkerboard) or
the top-left board corner (ChArUco), X along the columns, Y along the rows,
Z into the board. A pose (rvec, tvec) maps board to camera coordinates.

Quick start::

    views = intrinsic_views(rig[0], n_views=8, seed=0)   # list of BoardView
    floor = floor_board_views(rig)                        # one BoardView per camera
    write_calibration_inputs(rig, "trial/calibration", seed=0)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..camera import Camera, CameraRig, matrix_to_rodrigues, rodrigues_to_matrix
from ..logs import _jsonable, atomic_path, atomic_write


@dataclass(frozen=True)
class Board:
    """A planar target: inner corners (cols, rows), square size (m), ChArUco or plain."""

    corners: tuple[int, int] = (9, 6)
    square: float = 0.04
    charuco: bool = False
    marker: float = 0.03
    dictionary: int = cv2.aruco.DICT_4X4_50

    def object_points(self) -> np.ndarray:
        """Inner corners (N, 3) in the board frame, metres, row-major (OpenCV's order)."""
        if self.charuco:
            return np.asarray(self._charuco().getChessboardCorners(), float)
        c, r = self.corners
        i, j = np.meshgrid(np.arange(c), np.arange(r))
        return np.column_stack([i.ravel(), j.ravel(), np.zeros(c * r)]) * self.square

    def _charuco(self):
        d = cv2.aruco.getPredefinedDictionary(self.dictionary)
        return cv2.aruco.CharucoBoard((self.corners[0] + 1, self.corners[1] + 1), self.square, self.marker, d)

    def texture(self, px_per_square: int = 100) -> tuple[np.ndarray, float, np.ndarray]:
        """Board image (uint8), pixels per metre, and the board coordinates (2,) of texture pixel (0, 0).

        A white margin of one square surrounds the squares.
        """
        c, r = self.corners
        ppm = px_per_square / self.square
        m = px_per_square
        if self.charuco:
            img = self._charuco().generateImage(((c + 1) * m, (r + 1) * m))
            origin = np.array([0.0, 0.0])
        else:
            a, b = np.meshgrid(np.arange((c + 1) * m) // m, np.arange((r + 1) * m) // m)
            img = np.where((a + b) % 2 == 0, 0, 255).astype(np.uint8)
            origin = np.array([-self.square, -self.square])
        img = cv2.copyMakeBorder(img, m, m, m, m, cv2.BORDER_CONSTANT, value=255)
        return img, ppm, origin - self.square


FLOOR_BOARD = Board((4, 3), 0.40)


def pixel_rays(camera: Camera, step: int = 8) -> np.ndarray:
    """Ideal normalized coordinates (h, w, 2) of every pixel (coarse grid + bilinear interpolation)."""
    w, h = camera.size
    gu, gv = np.arange(0, w + step, step, dtype=float), np.arange(0, h + step, step, dtype=float)
    U, V = np.meshgrid(gu, gv)
    xy = camera.undistort_points(np.stack([U, V], -1)).astype(np.float32)
    mapx, mapy = np.meshgrid(np.arange(w, dtype=np.float32) / step, np.arange(h, dtype=np.float32) / step)
    return cv2.remap(xy, mapx, mapy, cv2.INTER_LINEAR)  # bilinear between grid nodes


def render_plane(camera: Camera, rvec: np.ndarray, tvec: np.ndarray, texture: np.ndarray, ppm: float,
                 origin: np.ndarray, rays: np.ndarray | None = None, background: int = 110) -> np.ndarray:
    """Image (h, w) uint8 of a textured plane (board frame pose rvec/tvec -> camera) seen by ``camera``."""
    rays = pixel_rays(camera) if rays is None else rays
    R = rodrigues_to_matrix(rvec)
    n, t = R[:, 2], np.asarray(tvec, float)
    d = np.concatenate([rays, np.ones(rays.shape[:2] + (1,), np.float32)], -1)
    s = (n @ t) / (d @ n)
    P = d * s[..., None] - t
    b = P @ R  # board coordinates (h, w, 3): R^T (P)
    # texture pixel i covers [i - 0.5, i + 0.5] in remap's convention
    mapx = ((b[..., 0] - origin[0]) * ppm - 0.5).astype(np.float32)
    mapy = ((b[..., 1] - origin[1]) * ppm - 0.5).astype(np.float32)
    bad = ~(s > 0)
    mapx[bad] = -1
    out = cv2.remap(texture, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background)
    return out


@dataclass
class BoardView:
    """One rendered view with truth: image (h, w) uint8, pose board->camera, corner pixels (N, 2)."""

    camera: str
    image: np.ndarray
    rvec: np.ndarray
    tvec: np.ndarray
    image_points: np.ndarray
    object_points: np.ndarray


def _fit_pose(camera: Camera, board: Board, R: np.ndarray, centre_frac: np.ndarray, size_frac: float,
              margin: float) -> np.ndarray | None:
    """Translation placing the board (rotation ``R``) at image fraction ``centre_frac`` (2,), as large as
    possible up to ``size_frac`` of the image width and fully inside the image (``margin`` px); None if none fits."""
    obj = board.object_points()
    centre = obj.mean(0)
    width = np.ptp((obj @ R.T)[:, 0]) + 2 * board.square     # board extent along the image x axis
    u = np.asarray(centre_frac, float) * camera.size
    ray = camera.undistort_points(u)
    for _ in range(40):
        z = camera.focal * width / (size_frac * camera.size[0])
        t = np.array([ray[0], ray[1], 1.0]) * z - R @ centre
        cam = camera.copy(rotation=matrix_to_rodrigues(R), translation=t)
        if np.all(cam.world_to_camera(obj)[:, 2] > 0.1) and np.all(camera.in_image(cam.project(obj), margin)):
            return t
        size_frac *= 0.93
    return None


def _tilt(axis_deg: float, angle_deg: float, spin_deg: float) -> np.ndarray:
    """Board rotation: ``spin`` about the optical axis, then ``angle`` about an in-image axis at ``axis_deg``."""
    a = np.radians(axis_deg)
    axis = np.array([np.cos(a), np.sin(a), 0.0]) * np.radians(angle_deg)
    return rodrigues_to_matrix(axis) @ rodrigues_to_matrix(np.array([0.0, 0.0, np.radians(spin_deg)]))


#: The views a careful user records (image-centre fraction, board size fraction of the image width,
#: tilt axis direction in the image (deg), tilt (deg)): the board close, in every corner and tilted
#: (lens distortion), then strongly tilted both ways about both image axes (focal length and
#: principal point), then a frontal view filling the image and views near the edges.
CAREFUL_VIEWS: tuple[tuple[tuple[float, float], float, float, float], ...] = (
    ((0.27, 0.27), 0.50, 135.0, 30.0),
    ((0.73, 0.27), 0.50, 45.0, 30.0),
    ((0.27, 0.73), 0.50, -135.0, 30.0),
    ((0.73, 0.73), 0.50, -45.0, 30.0),
    ((0.50, 0.50), 0.75, 0.0, 45.0),
    ((0.50, 0.50), 0.75, 0.0, -45.0),
    ((0.50, 0.50), 0.75, 90.0, 45.0),
    ((0.50, 0.50), 0.75, 90.0, -45.0),
    ((0.50, 0.50), 0.85, 0.0, 10.0),
    ((0.50, 0.25), 0.60, 0.0, 30.0),
    ((0.50, 0.75), 0.60, 0.0, -30.0),
    ((0.25, 0.50), 0.60, 90.0, -30.0),
    ((0.75, 0.50), 0.60, 90.0, 30.0),
)


def _view_pose(camera: Camera, board: Board, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pose of the k-th view: :data:`CAREFUL_VIEWS` (jittered a little), then random close tilted views."""
    margin = 0.03 * min(camera.size)
    for _ in range(200):
        if k < len(CAREFUL_VIEWS):
            c, frac, axis, angle = CAREFUL_VIEWS[k]
            c = np.clip(np.asarray(c) + rng.uniform(-0.03, 0.03, 2), 0.05, 0.95)
            R = _tilt(axis + rng.uniform(-10, 10), angle + rng.uniform(-5, 5), rng.uniform(-15, 15))
        else:
            c, frac = rng.uniform(0.2, 0.8, 2), rng.uniform(0.45, 0.8)
            R = _tilt(rng.uniform(0, 360), rng.uniform(15, 45), rng.uniform(-20, 20))
        if camera.size[1] > camera.size[0]:   # portrait: the board is turned with the camera
            R = R @ rodrigues_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
        t = _fit_pose(camera, board, R, c, frac, margin)
        if t is not None:
            return matrix_to_rodrigues(R), t
        k = len(CAREFUL_VIEWS)   # this view does not fit this camera: a random one instead
    raise RuntimeError(f"{camera.name}: no board pose fits the image")


def _finish(img: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Lens blur and sensor noise."""
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    if noise > 0:
        img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return img


def intrinsic_views(camera: Camera, n_views: int = 10, board: Board | None = None, seed: int = 0,
                    noise: float = 2.0) -> list[BoardView]:
    """``n_views`` rendered board images at varied poses for one camera, with their truth."""
    board = board or Board()
    rng = np.random.default_rng(seed)
    tex, ppm, origin = board.texture()
    rays = pixel_rays(camera)
    obj = board.object_points()
    views = []
    for k in range(n_views):
        rvec, tvec = _view_pose(camera, board, k, rng)
        img = _finish(render_plane(camera, rvec, tvec, tex, ppm, origin, rays), rng, noise)
        cam_b = camera.copy(rotation=rvec, translation=tvec)
        views.append(BoardView(camera.name, img, rvec, tvec, cam_b.project(obj), obj))
    return views


def floor_board_pose(centre: tuple[float, float] = (0.0, 0.0), yaw_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Board->world rotation (3, 3) and translation (3,) of a board lying flat on the floor.

    Board X -> world X, board Y -> world Z, board Z -> world -Y (into the
    floor): board (x, y, 0) -> world (x, 0, y) + translation; then the whole
    board is turned by ``yaw_deg`` about the world Y axis (through the origin).
    """
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # columns: board X->X, Y->Z, Z->-Y
    Ry = rodrigues_to_matrix(np.array([0.0, np.radians(yaw_deg), 0.0]))
    return Ry @ R, Ry @ np.array([centre[0], 0.0, centre[1]])


def floor_board_views(rig: CameraRig, board: Board | None = None, seed: int = 0,
                      noise: float = 2.0, yaw_deg: float = 0.0) -> list[BoardView]:
    """Each camera's image of a large board flat on the floor at the walkway centre, with truth.

    Default board: 4x3 inner corners, 0.40 m squares (a 2.0 x 1.6 m floor mat).
    Cameras 0.8-1.8 m high and 5-8 m away see the floor at 8-20 deg: an A0
    board (7x5, 0.12 m) is then not detected by OpenCV in most views, and even
    this mat gives corners only to 1-3 px; scene points are the robust choice.
    """
    board = board or FLOOR_BOARD
    rng = np.random.default_rng(seed)
    obj = board.object_points()
    Rbw, tbw = floor_board_pose((-obj[:, 0].mean(), -obj[:, 1].mean()), yaw_deg)
    tex, ppm, origin = board.texture()
    views = []
    for cam in rig:
        R = cam.R @ Rbw
        t = cam.R @ tbw + cam.translation
        rvec = matrix_to_rodrigues(R)
        img = _finish(render_plane(cam, rvec, t, tex, ppm, origin), rng, noise)
        world = obj @ Rbw.T + tbw
        views.append(BoardView(cam.name, img, rvec, t, cam.project(world), world))
    return views


def scene_point_coordinates() -> np.ndarray:
    """World coordinates (45, 3) of the scene points a careful user measures around the walkway, metres.

    21 floor marks on a 1 m grid over the 6 x 2 m walkway (X -3..3, Z -1..1),
    then 8 poles (tripods) standing beside it (X -3, -1, 1, 3; Z +-1.5) with
    tape marks at 0.7, 1.4 and 2.1 m: points spread in depth and height pose
    every camera well.
    """
    floor = [(x, 0.0, z) for x in (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0) for z in (-1.0, 0.0, 1.0)]
    poles = [(x, y, z) for x in (-3.0, -1.0, 1.0, 3.0) for z in (-1.5, 1.5) for y in (0.7, 1.4, 2.1)]
    return np.array(floor + poles)


def scene_points(rig: CameraRig, noise_px: float = 0.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Known 3D scene points (:func:`scene_point_coordinates`) and their pixels in every camera.

    Returns ``{"object_points": (N, 3), "image_points": (C, N, 2)}``; pixels
    get Gaussian noise of ``noise_px`` (clicking); NaN where a point is outside an image.
    """
    rng = np.random.default_rng(seed)
    pts = scene_point_coordinates()
    uv = rig.project(pts)
    if noise_px:
        uv = uv + rng.normal(0, noise_px, uv.shape)
    seen = np.stack([c.in_image(u) for c, u in zip(rig, uv)])
    return {"object_points": pts, "image_points": np.where(seen[..., None], uv, np.nan)}


def draw_scene_points(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The image with a white tape cross (9 px, 2 px wide) drawn at each visible pixel (N, 2).

    Crosses, not checker targets: a grid of X-corners would look like a
    checkerboard to the board detector.
    """
    out = image.copy()
    for u, v in np.round(uv[np.isfinite(uv).all(1)]).astype(int):
        cv2.drawMarker(out, (int(u), int(v)), 255, cv2.MARKER_CROSS, 9, 2)
    return out


def _write_image(path: Path, img: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        params = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 9], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
                  ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95]}.get(path.suffix.lower(), [])
        if not cv2.imwrite(str(tmp), img, params):
            raise OSError(f"could not write {path}")


def write_calibration_inputs(rig: CameraRig, folder: str | os.PathLike, n_views: int = 8,
                             board: Board | None = None, seed: int = 0, ext: str = ".png",
                             noise: float = 2.0, scene_noise_px: float = 1.0, floor_yaw_deg: float = 0.0) -> Path:
    """Write Pose2Sim-layout calibration inputs and their truth.

    ``folder/intrinsics/int_<cam>_img/*.png``, ``folder/extrinsics/ext_<cam>_img/floor.png``,
    ``folder/scene_points.json`` (``{cam: {"points_2d": [[u, v] | null, ...]}}`` in the order of
    ``object_coords_3d``, which is stored there too; pixels with ``scene_noise_px`` click noise), and
    ``folder/calibration_inputs_truth.json`` (board, poses, corner pixels).
    ``noise``: sensor noise sigma (grey levels); 0 keeps PNG files small.
    Put the truth file elsewhere if the pipeline must not see it.
    """
    folder = Path(folder)
    board = board or Board()
    truth: dict = {"board": {"corners": board.corners, "square": board.square, "charuco": board.charuco},
                   "floor_board": {"corners": FLOOR_BOARD.corners, "square": FLOOR_BOARD.square,
                                   "yaw_deg": floor_yaw_deg},
                   "intrinsics": {}, "floor": {}}
    for i, cam in enumerate(rig):
        views = intrinsic_views(cam, n_views, board, seed + i, noise)
        for k, v in enumerate(views):
            _write_image(folder / "intrinsics" / f"int_{cam.name}_img" / f"{cam.name}_{k:02d}{ext}", v.image)
        truth["intrinsics"][cam.name] = [{"rvec": v.rvec, "tvec": v.tvec, "image_points": v.image_points}
                                         for v in views]
    pts = scene_point_coordinates()
    tex, _, _ = FLOOR_BOARD.texture(1)                      # one pixel per square: the mat's size in squares
    half = np.array(tex.shape[::-1]) * FLOOR_BOARD.square / 2
    Rbw, _ = floor_board_pose(yaw_deg=floor_yaw_deg)
    local = pts @ Rbw                                       # board-frame coordinates (mat centred on the origin)
    under_mat = (pts[:, 1] == 0) & (np.abs(local[:, 0]) <= half[0]) & (np.abs(local[:, 1]) <= half[1])
    true_uv = dict(zip(rig.names, rig.project(pts[~under_mat])))
    for v in floor_board_views(rig, seed=seed, noise=noise, yaw_deg=floor_yaw_deg):
        img = draw_scene_points(v.image, true_uv[v.camera])   # the marks not under the mat, as a user sees them
        _write_image(folder / "extrinsics" / f"ext_{v.camera}_img" / f"{v.camera}_floor{ext}", img)
        truth["floor"][v.camera] = {"rvec": v.rvec, "tvec": v.tvec, "image_points": v.image_points,
                                    "world_points": v.object_points}
    sp = scene_points(rig, noise_px=scene_noise_px, seed=seed)
    doc = {"object_coords_3d": sp["object_points"]} | {
        name: {"points_2d": [None if not np.isfinite(p).all() else p for p in uv]}
        for name, uv in zip(rig.names, sp["image_points"])}
    with atomic_write(folder / "scene_points.json", encoding="utf-8") as fh:
        json.dump(_jsonable(doc), fh)
    truth["scene_points"] = {"object_points": sp["object_points"],
                             "image_points_true": dict(zip(rig.names, rig.project(sp["object_points"])))}
    with atomic_write(folder / "calibration_inputs_truth.json", encoding="utf-8") as fh:
        json.dump(_jsonable(truth), fh)
    return folder
