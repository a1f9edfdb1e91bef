"""Keypoints and anatomical markers from OpenSim coordinates: forward kinematics of OUR model.

The generator drives the project's own OpenSim model (``mocap3d.kinematics``:
de Leva anthropometry, gait2392 / Rajagopal coordinate names), scaled
uniformly to the participant's height, with the detector marker set of the
chosen skeleton and OpenCap's 43 ``*_study`` anatomical markers attached. So
the true ``.mot`` and the pipeline's IK ``.mot`` are angles of the same model
and compare directly.

``pelvis_ty`` of a :class:`~mocap3d.synthetic.motion.Motion` is an excursion
about standing height; :func:`absolute_coordinates` adds the scaled model's
standing pelvis height. :func:`grounded` then corrects ``pelvis_ty`` so the
feet meet the floor: eight floor-contact points of the model's feet (heel,
1st and 5th metatarsal heads, toe tip, each side, at sole level) have a
smooth minimum height (soft-min, 3 mm temperature) of exactly 0 in every frame of walking, squat and jump contact
phases and of running's stance phases (flight phases of the jump and of running: correction interpolated
between take-off and landing; before, running touched the floor only once per cycle, with a constant correction).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..kinematics.forward import marker_positions
from ..kinematics.generic_model import MODEL_VARIANT, ground_points, scaled_model  # noqa: F401 (re-exported)
from ..kinematics.markersets import LSTM_MARKERS
from ..skeletons import Skeleton, get_skeleton
from .motion import TRANSLATIONS, Motion

#: Anatomical marker names produced (OpenCap v0.3 augmenter outputs, ``*_study``).
MARKER_NAMES: tuple[str, ...] = tuple(LSTM_MARKERS)
GROUND_TAU = 0.003  # m, soft-min temperature of the floor-contact points


def standing_pelvis_ty(height: float, skeleton: str = "HALPE_26") -> float:
    """Default ``pelvis_ty`` (m) of the scaled model: pelvis origin height when standing."""
    model, _ = scaled_model(height, skeleton)
    return float(model.getCoordinateSet().get("pelvis_ty").getDefaultValue())


def absolute_coordinates(motion: Motion, height: float, skeleton: str = "HALPE_26") -> Motion:
    """A copy of ``motion`` whose ``pelvis_ty`` is absolute (standing height added), as in a .mot."""
    vals = motion.values.copy()
    vals[:, motion.names.index("pelvis_ty")] += standing_pelvis_ty(height, skeleton)
    return Motion(motion.name, motion.times.copy(), list(motion.names), vals, dict(motion.events))


def body_points(motion: Motion, names: list[str] | tuple[str, ...], height: float = 1.75,
                skeleton: str = "HALPE_26") -> np.ndarray:
    """Positions (F, len(names), 3) in metres of keypoints / markers driven by ``motion``.

    ``motion.pelvis_ty`` is the excursion about standing height. Names the
    model does not carry (e.g. COCO_133 face points) are NaN.
    """
    model, known = scaled_model(float(height), get_skeleton(skeleton).name)
    q = absolute_coordinates(motion, height, skeleton)
    rot = np.array([n not in TRANSLATIONS for n in q.names])
    values = np.where(rot, np.radians(q.values), q.values)
    on_model = [n for n in names if n in known]
    out = np.full((len(q.times), len(names), 3), np.nan)
    if on_model:
        pts = marker_positions(model, values, q.names, on_model)
        out[:, [list(names).index(n) for n in on_model]] = pts
    return out


def floor_height(motion: Motion, height: float, skeleton: str = "HALPE_26") -> np.ndarray:
    """Soft-min height (F,) in metres of the feet's floor-contact points."""
    y = body_points(motion, list(ground_points()), height, skeleton)[..., 1]
    m = y.min(1, keepdims=True)
    return m[:, 0] - GROUND_TAU * np.log(np.exp(-(y - m) / GROUND_TAU).sum(1))


def _running_correction(motion_fn: Callable[[np.ndarray], Motion], times: np.ndarray, period: float,
                        height: float, skeleton: str) -> np.ndarray:
    """``pelvis_ty`` correction (F,) m of running: the stance foot meets the floor from each foot strike
    (0 % and 50 % of the cycle) to its toe-off (:data:`~mocap3d.synthetic.motion.RUN_TOE_OFF`); in the
    flight phases between, the correction goes linearly from its toe-off value to its next foot-strike
    value, so the prescribed vertical excursion carries the body through the air."""
    from .motion import RUN_TOE_OFF
    half = period / 2
    k = np.floor(times / half + 1e-9)
    t0, t1 = k * half + RUN_TOE_OFF * period, (k + 1) * half     # flight of this half cycle
    flight = times > t0
    corr = np.zeros(len(times))
    if (~flight).any():
        corr[~flight] = -floor_height(motion_fn(times[~flight]), height, skeleton)
    if flight.any():
        edges, inv = np.unique(np.concatenate([t0[flight], t1[flight]]), return_inverse=True)
        edge_corr = -floor_height(motion_fn(edges), height, skeleton)
        c0, c1 = np.split(edge_corr[inv], 2)
        w = (times[flight] - t0[flight]) / (t1[flight] - t0[flight])
        corr[flight] = (1 - w) * c0 + w * c1
    return corr


def grounded(motion_fn: Callable[[np.ndarray], Motion], times: np.ndarray, height: float,
             skeleton: str = "HALPE_26") -> Motion:
    """``motion_fn(times)`` with ``pelvis_ty`` corrected so the feet meet the floor (module docstring)."""
    m = motion_fn(times)
    ref = 0.0  # soft-min on the floor: the lowest sole point is 0 to tau*ln(8) = 6 mm above it
    if m.name == "running":
        corr = _running_correction(motion_fn, times, m.events["period"][0], height, skeleton)
    else:
        corr = ref - floor_height(m, height, skeleton)
        if "take_off" in m.events:
            t0, t1 = m.events["take_off"][0], m.events["landing"][0]
            air = (times > t0) & (times < t1)
            if air.any():
                edge = ref - floor_height(motion_fn(np.array([t0, t1])), height, skeleton)
                corr[air] = np.interp(times[air], [t0, t1], edge)
    vals = m.values.copy()
    vals[:, m.names.index("pelvis_ty")] += corr
    return Motion(m.name, m.times, list(m.names), vals, dict(m.events))


def keypoint_names(skeleton: str | Skeleton = "HALPE_26") -> list[str]:
    """3D keypoint names of a skeleton (``all_names``: detector outputs then derived ones)."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    return list(sk.all_names)
