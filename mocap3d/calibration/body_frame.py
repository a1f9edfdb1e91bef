"""Metric scale and world frame from a person's 3D keypoints (see :mod:`.from_keypoints`, steps 4-5)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import Mocap3dError

#: Leg length (thigh + shank, hip to ankle joint centres) as a fraction of stature, de Leva (1996) male:
#: (422.2 + 434.0) mm / 1741 mm, the values of ``mocap3d.kinematics.anthropometry`` (not imported here:
#: that package loads OpenSim; a test checks that both agree).
LEG_FRACTION = (422.2 + 434.0) / 1741.0
#: Ankle joint centre height over stature: 0.070 m for 1.741 m in ``mocap3d.kinematics.anthropometry``.
ANKLE_FRACTION = 0.070 / 1.741
FOOT_KEYPOINTS = ("LHeel", "RHeel", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LFootIndex", "RFootIndex",
                  "LAnkle", "RAnkle")


def _idx(names: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    missing = [n for n in wanted if n not in names]
    if missing:
        raise Mocap3dError(f"keypoint calibration needs the keypoints {', '.join(missing)} ({what}); "
                           "use a skeleton that has them (e.g. HALPE_26, COCO_17, BODY_25)")
    return [list(names).index(n) for n in wanted]


def leg_length(X: np.ndarray, names: Sequence[str]) -> float:
    """Median thigh + shank length over frames and both sides, in the units of X (F, K, 3)."""
    lengths = []
    for s in "LR":
        h, k, a = _idx(names, [f"{s}Hip", f"{s}Knee", f"{s}Ankle"], "leg length for the metric scale")
        lengths.append(np.linalg.norm(X[:, h] - X[:, k], axis=-1) + np.linalg.norm(X[:, k] - X[:, a], axis=-1))
    v = np.concatenate(lengths)
    v = v[np.isfinite(v)]
    if v.size < 3:
        raise Mocap3dError("keypoint calibration: hips, knees and ankles are triangulated in fewer than 3 frames; "
                           "the metric scale cannot be set")
    return float(np.median(v))


def metric_scale(X: np.ndarray, names: Sequence[str], height_m: float) -> tuple[float, str]:
    """Metres per unit of an unscaled reconstruction X (F, K, 3), and how it was set ('stature' or 'leg').

    First from the leg: the median hip-knee-ankle length = ``LEG_FRACTION`` x
    ``height_m``. Then, when the skeleton has shoulders and a head keypoint (Nose
    or Head), refined so that the stature estimated from the median segment
    lengths of the whole body (:func:`mocap3d.augmentation.estimate_height`:
    foot, shank, thigh, trunk, neck-head) equals ``height_m``. The whole body
    depends less on where one detector puts the hips: with the Qualisys
    calibration of Pose2Sim's demo, BlazePose's legs are 0.457 x stature (de
    Leva: 0.492, so the leg alone gives a scale 7.5 % too large) while the
    segment sum gives the stature within 1 %.
    """
    from ..augmentation import estimate_height
    from ..markers import Markers3D
    scale = LEG_FRACTION * height_m / leg_length(X, names)
    if not ({"LShoulder", "RShoulder"} <= set(names) and {"Nose", "Head"} & set(names)):
        return scale, "leg"
    est = estimate_height(Markers3D(X * scale, list(names), 1.0, 0.0, 1))
    if est is None or not np.isfinite(est) or est <= 0:
        return scale, "leg"
    return scale * height_m / est, "stature"


def world_frame(X: np.ndarray, names: Sequence[str], camera0_position: np.ndarray, up: str = "Y",
                floor_percentile: float = 1.0, min_travel_m: float = 0.5,
                ankle_height_m: float = 0.070) -> tuple[np.ndarray, np.ndarray]:
    """Rotation A (3, 3) and translation b (3,) with ``X_world = A X + b`` (module docstring, step 5).

    Args:
        X: (F, K, 3) metric keypoints in any frame.
        names: keypoint names (K,).
        camera0_position: (3,) camera 0 centre in that frame.
        up: 'Y' or 'Z'.
        floor_percentile: percentile (%) of the foot keypoint heights taken as the floor.
        min_travel_m: pelvis travel (5-95 % range, m) above which the person counts as moving.
        ankle_height_m: ankle keypoints' height above the floor, used when the skeleton has no
            heel or toe keypoints (our model: 0.070 m for a 1.741 m stature).
    """
    ls, rs, la, ra, lh, rh = _idx(names, ["LShoulder", "RShoulder", "LAnkle", "RAnkle", "LHip", "RHip"],
                                  "world frame")
    d = (X[:, ls] + X[:, rs] - X[:, la] - X[:, ra]) / 2
    d = d[np.isfinite(d).all(1)]
    if len(d) < 3:
        raise Mocap3dError("keypoint calibration: shoulders and ankles triangulated in fewer than 3 frames; "
                           "the vertical cannot be found")
    u = np.median(d / np.linalg.norm(d, axis=1, keepdims=True), axis=0)
    pelvis = (X[:, lh] + X[:, rh]) / 2
    pelvis = pelvis[np.isfinite(pelvis).all(1)]
    _, _, Vt = np.linalg.svd(pelvis - pelvis.mean(0), full_matrices=False)
    proj = (pelvis - pelvis.mean(0)) @ Vt.T
    extent = np.percentile(proj, 95, axis=0) - np.percentile(proj, 5, axis=0)
    level = np.abs(Vt[:2] @ u) < np.sin(np.radians(30))   # directions within 30 deg of the horizontal
    travels = extent[0] > min_travel_m and level[0]
    lat = X[:, rh] - X[:, lh] + X[:, rs] - X[:, ls]
    lat = lat[np.isfinite(lat).all(1)]
    lat = np.median(lat / np.linalg.norm(lat, axis=1, keepdims=True), axis=0)
    if travels and extent[1] > min_travel_m and level[1]:  # the pelvis moves over an area: up = normal of its (level) plane
        u = Vt[2] * np.sign(Vt[2] @ u)
    else:  # up is orthogonal to the (level) line of travel and to the median left-right axis
        ortho = [Vt[0]] if travels else []
        l = lat - sum((lat @ v) * v for v in ortho)
        ortho.append(l / np.linalg.norm(l))
        for v in ortho:
            u = u - (u @ v) * v
    u /= np.linalg.norm(u)
    feet = [names.index(n) for n in FOOT_KEYPOINTS if n in names and "Ankle" not in n]
    if feet:
        floor = float(np.nanpercentile(X[:, feet + [la, ra]] @ u, floor_percentile))
    else:  # no heel/toe keypoints (COCO_17): the ankles are ankle_height_m above the floor
        floor = float(np.nanpercentile(X[:, [la, ra]] @ u, floor_percentile)) - ankle_height_m
    horiz = pelvis - np.outer(pelvis @ u, u)
    origin = horiz.mean(0) + floor * u
    if travels:
        x = Vt[0] - (Vt[0] @ u) * u
        n = max(1, len(proj) // 10)
        if proj[-n:, 0].mean() < proj[:n, 0].mean():
            x = -x
    else:
        x = origin - np.asarray(camera0_position, float)
        x -= (x @ u) * u
    x /= np.linalg.norm(x)
    A = np.stack([x, u, np.cross(x, u)]) if up == "Y" else np.stack([x, np.cross(u, x), u])
    return A, -A @ origin


__all__ = ["ANKLE_FRACTION", "FOOT_KEYPOINTS", "LEG_FRACTION", "leg_length", "metric_scale", "world_frame"]
