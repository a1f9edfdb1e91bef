"""Cameras and camera rigs: projection, undistortion and triangulation.

Conventions (those of OpenCV and of Pose2Sim's calibration TOML):

* ``rotation`` is a Rodrigues vector and ``translation`` a vector in metres
  mapping world to camera coordinates: ``x_cam = R @ X + t``.
* ``matrix`` is the 3x3 intrinsic matrix in pixels.
* ``distortions`` are OpenCV's pinhole coefficients ``k1 k2 p1 p2 [k3]``, or
  with ``fisheye=True`` the equidistant model's ``k1 k2 k3 k4``.

Everything is vectorized: points carry any leading shape ``(..., 3)`` or
``(..., 2)``.

Quick start::

    rig = CameraRig([cam_a, cam_b, cam_c])
    uv = rig.project(X)                    # (C, ..., 2) pixels, distorted
    X_hat = rig.triangulate(uv, weights)   # (..., 3) metres
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np


def rodrigues_to_matrix(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) from Rodrigues vectors (..., 3)."""
    rvec = np.asarray(rvec, dtype=float)
    theta = np.linalg.norm(rvec, axis=-1, keepdims=True)
    k = np.divide(rvec, theta, out=np.zeros_like(rvec), where=theta > 0)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    K = np.stack([np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1),
                  np.stack([-ky, kx, zero], -1)], -2)
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), K.shape)
    return eye + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)


def matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    """Rodrigues vector (3,) of a rotation matrix (3, 3), accurate near 0 and near pi."""
    R = np.asarray(R, dtype=float)
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    sin = np.linalg.norm(w) / 2
    cos = (np.trace(R) - 1) / 2
    theta = np.arctan2(sin, cos)
    if sin > 1e-6:
        return w / (2 * sin) * theta
    if cos > 0:  # near identity: first order is exact to rounding
        return w / 2
    # Near pi the antisymmetric part vanishes: the axis is the dominant column of (R + I) / 2,
    # its sign taken from the (tiny) antisymmetric part.
    B = ((R + R.T) / 2 + np.eye(3)) / 2  # = a a^T up to (1 + cos) / 2
    axis = B[:, np.argmax(np.diag(B))]
    axis = axis / np.linalg.norm(axis)
    if axis @ w < 0:
        axis = -axis
    return axis * theta


@dataclass
class Camera:
    """One calibrated camera.

    Attributes:
        name: camera name (matches the ``pose/<name>_json`` folder order).
        size: image size ``(width, height)`` in pixels.
        matrix: intrinsic matrix (3, 3), pixels.
        distortions: pinhole ``k1 k2 p1 p2 [k3]`` or fisheye ``k1..k4``.
        rotation: Rodrigues vector (3,), world -> camera.
        translation: (3,) metres, world -> camera.
        fisheye: equidistant fisheye model if True.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray = field(default_factory=lambda: np.zeros(4))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    fisheye: bool = False

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        self.matrix = np.asarray(self.matrix, dtype=float).reshape(3, 3)
        self.distortions = np.asarray(self.distortions, dtype=float).ravel()
        self.rotation = np.asarray(self.rotation, dtype=float).reshape(3)
        self.translation = np.asarray(self.translation, dtype=float).reshape(3)

    # --- pose -----------------------------------------------------------------
    @property
    def R(self) -> np.ndarray:
        """World -> camera rotation matrix (3, 3)."""
        return rodrigues_to_matrix(self.rotation)

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates (3,), metres."""
        return -self.R.T @ self.translation

    @property
    def extrinsic(self) -> np.ndarray:
        """``[R | t]`` (3, 4)."""
        return np.hstack([self.R, self.translation[:, None]])

    @property
    def projection(self) -> np.ndarray:
        """Pinhole projection matrix ``K [R | t]`` (3, 4), ignoring distortion."""
        return self.matrix @ self.extrinsic

    @property
    def focal(self) -> float:
        """Mean focal length in pixels."""
        return float((self.matrix[0, 0] + self.matrix[1, 1]) / 2)

    def copy(self, **changes) -> "Camera":
        """A deep copy, with optional field changes."""
        base = replace(self, matrix=self.matrix.copy(), distortions=self.distortions.copy(),
                       rotation=self.rotation.copy(), translation=self.translation.copy())
        return replace(base, **changes) if changes else base

    # --- projection -----------------------------------------------------------
    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Camera coordinates (..., 3) of world points (..., 3)."""
        return np.asarray(points, dtype=float) @ self.R.T + self.translation

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Distorted normalized coordinates (..., 2) of ideal ones (..., 2)."""
        x, y = xy[..., 0], xy[..., 1]
        d = np.zeros(5)
        d[: min(5, self.distortions.size)] = self.distortions[:5]
        if self.fisheye:
            k = np.zeros(4)
            k[: min(4, self.distortions.size)] = self.distortions[:4]
            r = np.hypot(x, y)
            th = np.arctan(r)
            th2 = th * th
            thd = th * (1 + th2 * (k[0] + th2 * (k[1] + th2 * (k[2] + th2 * k[3]))))
            scale = np.divide(thd, r, out=np.ones_like(r), where=r > 1e-12)
            return np.stack([x * scale, y * scale], -1)
        k1, k2, p1, p2, k3 = d
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], -1)

    def undistort_normalized(self, xy_d: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Ideal normalized coordinates (..., 2) from distorted ones (Newton)."""
        xy_d = np.asarray(xy_d, dtype=float)
        if not np.any(self.distortions):
            return xy_d.copy()
        if self.fisheye:
            k = np.zeros(4)
            k[: min(4, self.distortions.size)] = self.distortions[:4]
            rd = np.hypot(xy_d[..., 0], xy_d[..., 1])
            th = rd.copy()
            for _ in range(iterations):
                th2 = th * th
                f = th * (1 + th2 * (k[0] + th2 * (k[1] + th2 * (k[2] + th2 * k[3])))) - rd
                df = 1 + th2 * (3 * k[0] + th2 * (5 * k[1] + th2 * (7 * k[2] + 9 * th2 * k[3])))
                th = th - f / df
            r = np.tan(th)
            scale = np.divide(r, rd, out=np.ones_like(rd), where=rd > 1e-12)
            return xy_d * scale[..., None]
        k1, k2, p1, p2, k3 = np.pad(self.distortions[:5], (0, max(0, 5 - self.distortions[:5].size)))
        xy = xy_d.copy()
        for _ in range(iterations):
            x, y = xy[..., 0], xy[..., 1]
            f = self.distort(xy) - xy_d
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dr = 2 * (k1 + r2 * (2 * k2 + 3 * k3 * r2))  # d(radial)/d(r2) * 2
            a = radial + x * x * dr + 2 * p1 * y + 6 * p2 * x    # d xd / dx
            b = x * y * dr + 2 * p1 * x + 2 * p2 * y             # d xd / dy == d yd / dx
            d = radial + y * y * dr + 6 * p1 * y + 2 * p2 * x    # d yd / dy
            det = a * d - b * b
            det = np.where(np.abs(det) < 1e-12, 1e-12, det)
            xy[..., 0] -= (d * f[..., 0] - b * f[..., 1]) / det
            xy[..., 1] -= (a * f[..., 1] - b * f[..., 0]) / det
            if np.nanmax(np.abs(f), initial=0.0) < 1e-13:
                break
        return xy

    def pixels_to_normalized(self, uv: np.ndarray) -> np.ndarray:
        """Distorted normalized coordinates (..., 2) of pixels (..., 2)."""
        uv = np.asarray(uv, dtype=float)
        K = self.matrix
        y = (uv[..., 1] - K[1, 2]) / K[1, 1]
        x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
        return np.stack([x, y], -1)

    def normalized_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) of (distorted) normalized coordinates (..., 2)."""
        K = self.matrix
        u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
        v = K[1, 1] * xy[..., 1] + K[1, 2]
        return np.stack([u, v], -1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of world points (..., 3), with distortion.

        Points behind the camera give NaN.
        """
        pc = self.world_to_camera(points)
        z = pc[..., 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = pc[..., :2] / np.where(z > 1e-9, z, np.nan)[..., None]
        return self.normalized_to_pixels(self.distort(xy))

    def undistort_points(self, uv: np.ndarray) -> np.ndarray:
        """Ideal (undistorted) normalized coordinates (..., 2) of pixels (..., 2)."""
        return self.undistort_normalized(self.pixels_to_normalized(uv))

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Undistorted pixel coordinates (..., 2) with the same matrix."""
        return self.normalized_to_pixels(self.undistort_points(uv))

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Boolean mask (...) of pixels inside the image (minus a margin)."""
        w, h = self.size
        return ((uv[..., 0] >= margin) & (uv[..., 0] <= w - 1 - margin)
                & (uv[..., 1] >= margin) & (uv[..., 1] <= h - 1 - margin))


class CameraRig:
    """An ordered group of cameras that projects and triangulates together."""

    def __init__(self, cameras: Sequence[Camera]):
        self.cameras: list[Camera] = list(cameras)
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            return self.cameras[self.names.index(key)]
        return self.cameras[key]

    def __repr__(self) -> str:
        return f"CameraRig({self.names})"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def subset(self, keys: Sequence[int | str]) -> "CameraRig":
        """A rig with the given cameras, in that order."""
        return CameraRig([self[k] for k in keys])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (C, ..., 2) of world points (..., 3) in every camera."""
        return np.stack([c.project(points) for c in self.cameras])

    def undistort_points(self, uv: np.ndarray) -> np.ndarray:
        """Ideal normalized coordinates (C, ..., 2) of pixels (C, ..., 2)."""
        return np.stack([c.undistort_points(p) for c, p in zip(self.cameras, uv)])

    def extrinsics(self) -> np.ndarray:
        """Stacked ``[R | t]`` (C, 3, 4)."""
        return np.stack([c.extrinsic for c in self.cameras])

    def triangulate(self, uv: np.ndarray, weights: np.ndarray | None = None,
                    undistort: bool = True) -> np.ndarray:
        """Weighted DLT triangulation.

        Args:
            uv: pixels (C, ..., 2); NaN marks a missing observation.
            weights: (C, ...) confidences; 0 or NaN excludes a camera.
            undistort: if False, ``uv`` are already ideal normalized coordinates.

        Returns:
            World points (..., 3) in metres; NaN where fewer than two cameras
            have a positive weight.
        """
        uv = np.asarray(uv, dtype=float)
        xy = self.undistort_points(uv) if undistort else uv
        return triangulate_normalized(xy, self.extrinsics(), weights)

    def reprojection_error(self, points: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Pixel distance (C, ...) between projections of points (..., 3) and uv (C, ..., 2)."""
        return np.linalg.norm(self.project(points) - uv, axis=-1)


def triangulate_normalized(xy: np.ndarray, extrinsics: np.ndarray,
                           weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted DLT on ideal normalized coordinates.

    Args:
        xy: (C, ..., 2) normalized coordinates; NaN = missing.
        extrinsics: (C, 3, 4) ``[R | t]`` per camera.
        weights: (C, ...) non-negative weights (None = all ones).

    Returns:
        (..., 3) points; NaN where fewer than two cameras contribute.
    """
    C = xy.shape[0]
    lead = xy.shape[1:-1]
    xy = xy.reshape(C, -1, 2)
    w = np.ones(xy.shape[:2]) if weights is None else np.asarray(weights, dtype=float).reshape(C, -1)
    valid = np.isfinite(xy).all(-1) & np.isfinite(w) & (w > 0)
    w = np.where(valid, w, 0.0)
    xy = np.where(valid[..., None], xy, 0.0)
    P = extrinsics  # (C, 3, 4)
    # Rows: w * (x * P3 - P1), w * (y * P3 - P2)  -> A (N, 2C, 4)
    r1 = xy[..., 0:1] * P[:, None, 2, :] - P[:, None, 0, :]
    r2 = xy[..., 1:2] * P[:, None, 2, :] - P[:, None, 1, :]
    A = np.concatenate([r1 * w[..., None], r2 * w[..., None]], axis=0)  # (2C, N, 4)
    A = np.transpose(A, (1, 0, 2))
    # Smallest eigenvector of A^T A (4x4) is cheaper than an SVD of A.
    AtA = np.einsum("nki,nkj->nij", A, A)
    _, vecs = np.linalg.eigh(AtA)
    Xh = vecs[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        X = Xh[:, :3] / Xh[:, 3:4]
    X[valid.sum(0) < 2] = np.nan
    return X.reshape(*lead, 3)
