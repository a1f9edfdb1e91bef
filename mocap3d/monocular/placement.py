"""Metric placement of one camera's person: depth, root translation, floor and world frame (pure numpy).

Camera axes: x right, y down, z away from the camera (metres). The world frame
built here has Y up (normal of the floor), X along the walking direction (or
the facing direction when the person does not travel), Z = X x Y (to the
person's right), origin on the floor under the root at the first frame.

Steps:

1. :func:`root_translation`: root (mid-hip) position per frame that best
   projects a root-relative 3D skeleton onto the 2D keypoints (closed-form
   linear least squares in normalized coordinates, vectorized over frames).
2. :func:`depth_from_bones`: without a lifted 3D, the root depth from the
   known bone lengths and their image lengths (foreshortening only shortens a
   bone, so each bone gives an upper bound of the depth; the smallest bounds win).
3. :func:`world_frame`: up from what is horizontal (the root's path, planted
   feet; the trunk as a weak prior), the walking direction from the root's
   path, the floor height from the feet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import Mocap3dError

#: Bones (pairs of keypoint names) whose length sets the depth; mid-hip 'Hip' and 'Neck' are derived.
DEPTH_BONES: tuple[tuple[str, str], ...] = (
    ("Hip", "Neck"), ("LHip", "LKnee"), ("RHip", "RKnee"), ("LKnee", "LAnkle"), ("RKnee", "RAnkle"),
    ("LShoulder", "LHip"), ("RShoulder", "RHip"))
FOOT_POINTS: tuple[str, ...] = ("LHeel", "RHeel", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe",
                                "LFootIndex", "RFootIndex", "LAnkle", "RAnkle")


def default_matrix(size: Sequence[int], fov_deg: float) -> np.ndarray:
    """Camera matrix (3, 3) of an image ``size`` (w, h) px with ``fov_deg`` across its LONG side, centred."""
    w, h = float(size[0]), float(size[1])
    if not 1.0 < fov_deg < 179.0:
        raise Mocap3dError(f"monocular.field_of_view = {fov_deg} degrees; use a value in (1, 179)")
    f = max(w, h) / 2 / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])


def root_translation(rel: np.ndarray, xn: np.ndarray, weight: np.ndarray, min_points: int = 4) -> np.ndarray:
    """Root positions (F, 3) in camera axes that project ``root + rel`` onto ``xn``.

    Minimizes, per frame, sum_k w_k [(X_k + t_x - x_k (Z_k + t_z))^2 + (Y_k + t_y - y_k (Z_k + t_z))^2]
    (the linear form of the pinhole equations, exact for noise-free data).

    Args:
        rel: (F, K, 3) root-relative 3D (metres, camera axes), NaN = missing.
        xn: (F, K, 2) undistorted normalized image coordinates, NaN = missing.
        weight: (F, K) >= 0 (e.g. likelihood).
        min_points: frames with fewer usable keypoints get NaN.
    """
    ok = np.isfinite(rel).all(-1) & np.isfinite(xn).all(-1) & (weight > 0)
    w = np.where(ok, weight, 0.0)
    X, Y, Z = (np.where(ok, rel[..., i], 0.0) for i in range(3))
    x, y = np.where(ok, xn[..., 0], 0.0), np.where(ok, xn[..., 1], 0.0)
    # rows: [1, 0, -x] t = x Z - X ; [0, 1, -y] t = y Z - Y
    A = np.zeros(ok.shape[:1] + (3, 3))
    b = np.zeros(ok.shape[:1] + (3,))
    sw = w.sum(1)
    A[:, 0, 0] = A[:, 1, 1] = sw
    A[:, 0, 2] = A[:, 2, 0] = -(w * x).sum(1)
    A[:, 1, 2] = A[:, 2, 1] = -(w * y).sum(1)
    A[:, 2, 2] = (w * (x * x + y * y)).sum(1)
    rx, ry = x * Z - X, y * Z - Y
    b[:, 0] = (w * rx).sum(1)
    b[:, 1] = (w * ry).sum(1)
    b[:, 2] = -(w * (x * rx + y * ry)).sum(1)
    good = ok.sum(1) >= min_points
    t = np.full(b.shape, np.nan)
    if good.any():
        t[good] = np.linalg.solve(A[good], b[good][..., None])[..., 0]
    return t


def depth_from_bones(xn: np.ndarray, names: Sequence[str], lengths: dict[tuple[str, str], float],
                     weight: np.ndarray, min_weight: float = 0.3) -> np.ndarray:
    """Root depth (F,) in metres from bone lengths (m) and their normalized image lengths.

    A bone of length L seen with normalized length l at depth z obeys l <= L / z
    (equality when it lies parallel to the image). Each frame takes the mean
    of the two smallest bounds L / l; NaN when fewer than two bones are seen.
    """
    idx = {n: i for i, n in enumerate(names)}
    bounds = []
    for (a, b), L in lengths.items():
        if a not in idx or b not in idx:
            continue
        ia, ib = idx[a], idx[b]
        seen = (weight[:, ia] >= min_weight) & (weight[:, ib] >= min_weight)
        with np.errstate(invalid="ignore", divide="ignore"):
            l = np.linalg.norm(xn[:, ia] - xn[:, ib], axis=-1)
            bounds.append(np.where(seen & (l > 1e-6), L / l, np.nan))
    if len(bounds) < 2:
        raise Mocap3dError("too few bones seen to estimate the distance to the camera: the hips, knees, ankles and "
                           "shoulders must be detected")
    bounds = np.sort(np.stack(bounds, 1), axis=1)            # NaN last
    return np.nanmean(bounds[:, :2], axis=1)


@dataclass
class WorldFrame:
    """The world frame seen from the camera.

    Attributes:
        R: (3, 3) world -> camera rotation (rows: camera axes in world coordinates).
        t: (3,) world origin in camera coordinates (m), so X_cam = R X_world + t.
        travel_m: distance travelled by the root along X (m).
        walking: True when the root travels (X = walking direction), else X = facing direction.
        view_angle_deg: angle between the walking/facing direction and the image plane
            (0 = side view, 90 = frontal: walking toward or away from the camera).
        floor_points: number of foot samples that set the floor.
    """

    R: np.ndarray
    t: np.ndarray
    travel_m: float
    walking: bool
    view_angle_deg: float
    floor_points: int

    def to_world(self, cam: np.ndarray) -> np.ndarray:
        """Camera-axes points (..., 3) -> world (..., 3)."""
        return (cam - self.t) @ self.R

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        return world @ self.R.T + self.t


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n < 1e-9:
        raise Mocap3dError("cannot orient the world frame: the body's vertical or walking direction is undefined "
                           "(too few keypoints detected)")
    return v / n


def world_frame(cam: np.ndarray, names: Sequence[str], foot_offsets: dict[str, float], rate: float = 60.0,
                min_travel: float = 0.5, min_floor_frames: int = 10, depth_known: bool = True) -> WorldFrame:
    """World frame from a camera-axes skeleton (F, K, 3) (metres, NaN = missing) filmed at ``rate`` Hz.

    ``foot_offsets``: height above the floor (m) of each foot keypoint when the
    person stands (from the scaled model). Up: :func:`vertical`; X: the root's
    path (or the facing direction when the person does not travel) on the floor;
    the floor height from the lowest foot points. ``depth_known`` False (a flat
    first guess at one depth per frame, no lifter): the foot vectors carry no
    depth, so up is the trunk direction made orthogonal to the root's path.
    """
    idx = {n: i for i, n in enumerate(names)}
    for need in ("Hip", "Neck"):
        if need not in idx:
            raise Mocap3dError(f"keypoint {need!r} is needed to orient the world frame (derived from hips/shoulders)")
    trunk = cam[:, idx["Neck"]] - cam[:, idx["Hip"]]
    trunk = trunk[np.isfinite(trunk).all(1)]
    if len(trunk) == 0:
        raise Mocap3dError("the hips and shoulders are never detected together: cannot find the vertical")
    up0 = _unit(np.mean(trunk / np.linalg.norm(trunk, axis=1, keepdims=True), 0))
    feet = [n for n in FOOT_POINTS if n in idx and n in foot_offsets]
    if not feet:
        raise Mocap3dError("no foot keypoint (heels, toes or ankles) in the skeleton: cannot find the floor")
    fp = cam[:, [idx[n] for n in feet]]                                   # (F, J, 3)
    off = np.array([foot_offsets[n] for n in feet])
    has = np.isfinite(fp).all(-1).any(1)
    if has.sum() < min_floor_frames:
        raise Mocap3dError(f"the feet are seen in {int(has.sum())} frame(s) only (< {min_floor_frames}): the video is "
                           "too short or the feet are out of the picture, so the floor cannot be found. Film the whole "
                           "body for at least half a second")
    if depth_known:
        up = vertical(cam, idx, up0, foot_offsets, rate)
    else:
        rv0 = cam[:, idx["Hip"]]
        rv0 = rv0[np.isfinite(rv0).all(1)]
        along0 = np.linalg.svd(rv0 - rv0.mean(0), full_matrices=False)[2][0] if len(rv0) > 2 else np.zeros(3)
        up = _unit(up0 - (up0 @ along0) * along0)
    h = fp @ up - off                                                      # floor height estimate per sample
    low = np.nanargmin(np.where(np.isfinite(h[has]), h[has], np.inf), axis=1)
    lowest = fp[has][np.arange(has.sum()), low] - off[low, None] * up      # floor points under the lowest foot
    root = cam[:, idx["Hip"]]
    rv = root[np.isfinite(root).all(1)]
    path = rv - np.outer(rv @ up, up)
    travel = float(np.linalg.norm(path[-1] - path[0])) if len(path) > 1 else 0.0
    walking = travel >= min_travel
    if walking:
        c = path - path.mean(0)
        along = np.linalg.svd(c, full_matrices=False)[2][0]
        along = along if along @ (path[-1] - path[0]) > 0 else -along
        fwd = _unit(along - (along @ up) * up)
    else:
        fwd = _facing(cam, idx, up)
    right = np.cross(fwd, up)
    Rcw = np.stack([fwd, up, right])                                       # camera -> world rotation
    floor = float(np.percentile(lowest @ up, 5))
    r0 = rv[0] if len(rv) else np.zeros(3)
    origin = r0 - (r0 @ up - floor) * up
    view = float(np.degrees(np.arcsin(min(1.0, abs(fwd[2])))))
    return WorldFrame(Rcw.T, origin, travel, walking, view, int(has.sum()))


#: Pairs of foot keypoints whose vector is horizontal when the foot is flat on the floor.
FOOT_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (f"{s}{a}", f"{s}{b}") for s in "LR" for a, b in (("Heel", "BigToe"), ("Heel", "SmallToe"), ("BigToe", "SmallToe"),
                                                      ("Heel", "FootIndex")))


def vertical(cam: np.ndarray, idx: dict[str, int], trunk_up: np.ndarray, foot_offsets: dict[str, float],
             rate: float, sigma_m: float = 0.03, trunk_weight: float = 10.0, planted_m_s: float = 0.1) -> np.ndarray:
    """Up direction (3,) in camera axes: the direction most orthogonal to what is horizontal.

    Horizontal vectors (each weighted by its length squared over ``sigma_m``
    squared): the root's displacement over half a second (a level path), and the
    heel -> toe and big -> small toe vectors of a foot planted on the floor
    (its keypoints slower than ``planted_m_s``; corrected for their different
    heights above the sole). The mean trunk direction is a weak prior (a
    person leaning or lunging tilts it): ``trunk_weight`` / rad^2.
    Up = the eigenvector of the smallest eigenvalue of
    sum d d^T / sigma^2 + trunk_weight (I - t t^T).
    """
    t = trunk_up
    M = trunk_weight * (np.eye(3) - np.outer(t, t))
    root = cam[:, idx["Hip"]]
    w = max(1, int(round(0.5 * rate)))
    if len(root) > w:
        d = root[w:] - root[:-w]
        d = d[np.isfinite(d).all(1)]
        M += d.T @ d / sigma_m ** 2 / w                                  # overlapping windows: 1/w each
    for a, b in FOOT_PAIRS:
        if a not in idx or b not in idx or a not in foot_offsets or b not in foot_offsets:
            continue
        pa, pb = cam[:, idx[a]], cam[:, idx[b]]
        if len(pa) < 3:
            continue
        speed = np.maximum(np.linalg.norm(np.gradient(pa, axis=0), axis=-1),
                           np.linalg.norm(np.gradient(pb, axis=0), axis=-1)) * rate
        d = (pb - foot_offsets[b] * t) - (pa - foot_offsets[a] * t)
        d = d[np.isfinite(d).all(1) & (speed < planted_m_s)]
        if len(d):
            M += d.T @ d / sigma_m ** 2
    vals, vecs = np.linalg.eigh(M)
    up = vecs[:, 0]
    return _unit(up if up @ t > 0 else -up)


def _facing(cam: np.ndarray, idx: dict[str, int], up: np.ndarray) -> np.ndarray:
    """Facing direction (3,) of a person who does not travel: from the hips (3D) and the feet (heel -> toe)."""
    votes = []
    if "LHip" in idx and "RHip" in idx:
        right = cam[:, idx["RHip"]] - cam[:, idx["LHip"]]
        right = right[np.isfinite(right).all(1)]
        if len(right):
            votes.append(np.cross(up, right.mean(0)))                      # forward = up x right
    for side in "LR":
        heel, toe = f"{side}Heel", next((f"{side}{t}" for t in ("BigToe", "FootIndex") if f"{side}{t}" in idx), None)
        if heel in idx and toe:
            d = cam[:, idx[toe]] - cam[:, idx[heel]]
            d = d[np.isfinite(d).all(1)]
            if len(d):
                votes.append(d.mean(0))
    if not votes:
        votes.append(np.array([0.0, 0.0, 1.0]))                            # facing away from the camera
    v = np.sum([x / max(np.linalg.norm(x), 1e-9) for x in votes], 0)
    return _unit(v - (v @ up) * up)
