"""Render calibration boards seen by a :class:`~mocap3d.camera.Camera` (ground truth for tests, benchmarks).

Every output pixel is undistorted through the camera model, cast as a ray,
intersected with the board plane and looked up in an ideal board texture with
``cv2.remap``; so the rendered corners sit exactly where ``Camera.project``
puts the board's object points (lens distortion included). Rendering at
``supersample`` times the resolution, then area-averaging, avoids aliasing.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..camera import Camera, rodrigues_to_matrix
from .boards import Board

_BG = 128  # grey background around the board


def board_texture(board: Board, px_per_square: int = 40) -> tuple[np.ndarray, float, np.ndarray]:
    """Ideal board image (uint8), texels per metre, and board coords (x, y) in metres of texel (0, 0)'s corner.

    Texel ``(i, j)`` covers board coordinates
    ``origin + [j, i] / texels_per_m`` to ``origin + [j + 1, i + 1] / texels_per_m``.
    """
    s = board.square_size
    tpm = px_per_square / s
    if board.kind == "charuco":
        rows, cols = board.corners_nb
        img = board.charuco_board().generateImage((cols * px_per_square, rows * px_per_square), marginSize=0)
        origin = np.array([-s, -s])       # object point 0 is the first inner corner
        margin = px_per_square
        img = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
        return img, tpm, origin - margin / tpm
    h, w = board.corners_nb
    rows, cols = h + 1, w + 1
    r, c = np.mgrid[0:rows * px_per_square, 0:cols * px_per_square] // px_per_square
    img = np.where((r + c) % 2 == 0, 0, 255).astype(np.uint8)   # square outside corner 0 is dark
    margin = px_per_square // 2 + 2                              # white border, as printed boards have
    img = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    return img, tpm, np.array([-s, -s]) - margin / tpm


def pixel_rays(camera: Camera, supersample: int = 2, step: int = 8) -> np.ndarray:
    """Camera-frame rays (H*ss, W*ss, 3) with z = 1 through the (sub)pixel centres, distortion removed.

    The lens model is inverted exactly on a grid every ``step`` sub-pixels and
    interpolated (bicubic spline) in between: distortion is smooth, so the
    interpolation error stays far below 1e-3 pixel.
    """
    w, h = camera.size
    ss = int(supersample)
    W, H = w * ss, h * ss
    gx = np.arange(0, W + step, step, dtype=float)
    gy = np.arange(0, H + step, step, dtype=float)
    u, v = np.meshgrid((gx + 0.5) / ss - 0.5, (gy + 0.5) / ss - 0.5)
    xy = camera.undistort_points(np.stack([u, v], -1))          # (len(gy), len(gx), 2)
    from scipy.interpolate import RectBivariateSpline
    out = np.empty((H, W, 3))
    for k in range(2):
        spline = RectBivariateSpline(gy, gx, xy[..., k], kx=3, ky=3)
        out[..., k] = spline(np.arange(H, dtype=float), np.arange(W, dtype=float))
    out[..., 2] = 1.0
    return out


def render_board(camera: Camera, board: Board, rvec: np.ndarray, tvec: np.ndarray,
                 supersample: int = 2, blur_sigma: float = 0.6, noise_sigma: float = 1.5,
                 seed: int | None = 0, px_per_square: int = 48, rays: np.ndarray | None = None) -> np.ndarray:
    """Gray uint8 image (h, w) of ``board`` at pose (``rvec``, ``tvec``: board -> camera, metres).

    Args:
        camera: the camera (its extrinsics are ignored; the pose is board -> camera).
        supersample: render at this factor, then average down.
        blur_sigma: Gaussian blur in output pixels (lens softness).
        noise_sigma: additive Gaussian noise, grey levels.
        rays: :func:`pixel_rays` of this camera and ``supersample`` (computed if None;
            pass them to render many poses fast).
    """
    tex, tpm, origin = board_texture(board, px_per_square)
    w, h = camera.size
    ss = int(supersample)
    if rays is None:
        rays = pixel_rays(camera, ss)
    R = rodrigues_to_matrix(np.asarray(rvec, float).ravel())
    t = np.asarray(tvec, float).ravel()
    # Board plane z_b = 0  <=>  n . X_cam = n . t with n = R[:, 2]
    n = R[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (n @ t) / (rays @ n)
    Xc = rays * lam[..., None]
    Xb = (Xc - t) @ R                                                 # board frame
    valid = np.isfinite(lam) & (lam > 0)
    map_x = ((Xb[..., 0] - origin[0]) * tpm - 0.5).astype(np.float32)
    map_y = ((Xb[..., 1] - origin[1]) * tpm - 0.5).astype(np.float32)
    map_x[~valid] = -1e6
    map_y[~valid] = -1e6
    img = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=_BG)
    img = img.astype(np.float32)
    if ss > 1:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    if noise_sigma > 0:
        img = img + np.random.default_rng(seed).normal(0, noise_sigma, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def look_at_board(distance: float, tilt_deg: tuple[float, float, float] = (0, 0, 0),
                  offset: tuple[float, float] = (0.0, 0.0), centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A board -> camera pose (rvec, tvec) with the board centre at ``distance`` m in front of the camera.

    At zero tilt the board faces the camera as printed (x to the right, y
    down, z away from the camera). ``tilt_deg`` rotates it about the camera's x, y, z axes (degrees),
    ``offset`` shifts it in the image plane (metres), ``centre`` is the board
    centre in board coordinates (metres).
    """
    ax, ay, az = np.radians(tilt_deg)
    Rx = cv2.Rodrigues(np.array([ax, 0.0, 0.0]))[0]
    Ry = cv2.Rodrigues(np.array([0.0, ay, 0.0]))[0]
    Rz = cv2.Rodrigues(np.array([0.0, 0.0, az]))[0]
    R = Rz @ Ry @ Rx
    c = np.zeros(3) if centre is None else np.asarray(centre, float)
    t = np.array([offset[0], offset[1], distance]) - R @ c
    return cv2.Rodrigues(R)[0].ravel(), t


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0])) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (rvec, tvec) of an upright camera at ``position`` looking at ``target`` (world ``up``)."""
    z = np.asarray(target, float) - np.asarray(position, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    R = np.array([x, np.cross(z, x), z])
    return cv2.Rodrigues(R)[0].ravel(), -R @ np.asarray(position, float)


def random_board_views(camera: Camera, board: Board, n: int, seed: int = 0, distance: tuple[float, float] = (0.28, 0.45),
                       max_tilt_deg: float = 35.0, rays: np.ndarray | None = None):
    """Detections of ``board`` in ``n`` rendered views at random poses (intrinsic calibration ground truth).

    The board centre is put at ``distance`` metres in front of the camera, tilted
    up to ``max_tilt_deg`` about each axis. Views where the board is not found are skipped.
    """
    from .boards import detect_board
    rng = np.random.default_rng(seed)
    rows, cols = board.grid
    centre = np.array([(cols - 1) / 2, (rows - 1) / 2, 0]) * board.square_size
    rays = pixel_rays(camera, 2) if rays is None else rays
    dets = []
    for i in range(n):
        tilt = rng.uniform(-max_tilt_deg, max_tilt_deg, 3)
        d = rng.uniform(*distance)
        rv, tv = look_at_board(d, tilt, rng.uniform(-0.08, 0.08, 2) * d / 0.45, centre)
        det = detect_board(render_board(camera, board, rv, tv, rays=rays, seed=i), board, f"v{i}")
        if det is not None:
            dets.append(det)
    return dets
