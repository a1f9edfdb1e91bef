"""Keypoints and anatomical markers from OpenSim coordinates: forward kinematics of OUR model.

The generator drives the project's own OpenSim model (``mocap3d.kinematics``:
de Leva anthropometry, gait2392 / Rajagopal coordinate names), scaled
uniformly to the participant's height, with the detector marker set of the
chosen skeleton and OpenCap's 43 ``*_study`` anatomical markers attached. So
the true ``.mot`` and the pipeline's IK ``.mot`` are angles of the same model
and compare directly.

``pelvis_ty`` of a :class:`~mocap3d.synthetic.motion.Motion` is an excursion
about standing height; :func:`absolute_coordinates` adds the scaled model's
standing pelvis height so the feet rest on the floor.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..kinematics.forward import marker_positions
from ..kinematics.markersets import LSTM_MARKERS, attach_markers, marker_definitions
from ..kinematics.model_builder import build_model, model_height
from ..kinematics.scaling import scale_model
from ..skeletons import Skeleton, get_skeleton
from .motion import TRANSLATIONS, Motion

#: Anatomical marker names produced (OpenCap v0.3 augmenter outputs, ``*_study``).
MARKER_NAMES: tuple[str, ...] = tuple(LSTM_MARKERS)
MODEL_VARIANT = "full"


@lru_cache(maxsize=8)
def scaled_model(height: float, skeleton: str, variant: str = MODEL_VARIANT):
    """Our OpenSim model scaled uniformly to ``height`` (m), with the skeleton's and LSTM markers.

    Returns (model, marker names). Cached per process.
    """
    model = build_model(variant)
    defs = marker_definitions(skeleton) | marker_definitions("LSTM")
    attach_markers(model, defs)
    f = height / model_height()
    bodies = model.getBodySet()
    scale_model(model, {bodies.get(i).getName(): f for i in range(bodies.getSize())})
    return model, tuple(defs)


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


def keypoint_names(skeleton: str | Skeleton = "HALPE_26") -> list[str]:
    """3D keypoint names of a skeleton (``all_names``: detector outputs then derived ones)."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    return list(sk.all_names)
