"""Keypoints and anatomical markers from OpenSim coordinates (forward kinematics).

:func:`body_points` is the one entry point. It drives the project's OpenSim
model through ``mocap3d.kinematics.marker_positions`` when the kinematics
package provides it (so joint angles are comparable with our IK); otherwise it
uses :class:`LinkModel`, a numpy chain of the same coordinates, joint axes and
de Leva (1996) segment lengths, whose keypoint and marker positions are
stated below.

LinkModel conventions (OpenSim's): body frames X forward, Y up, Z to the
right; joints rotate body-fixed in the order of the gait2392 CustomJoints
(pelvis Z-X-Y = tilt, list, rotation; hip Z-X-Y = flexion, adduction,
rotation, left side X and Y mirrored; knee -Z; ankle Z; subtalar X; mtp Z;
lumbar Z-X-Y; shoulder Z-X-Y; elbow Z; pro_sup Y; wrist Z-X).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeletons import Skeleton, get_skeleton
from .motion import Motion

REFERENCE_HEIGHT = 1.741  # de Leva (1996) male reference stature, m

# Joint centres (m, reference stature), child origin in the parent frame at neutral.
_OFFSETS = {
    "pelvis": np.zeros(3),
    "femur_r": np.array([0.0, 0.0, 0.088]), "femur_l": np.array([0.0, 0.0, -0.088]),
    "tibia_r": np.array([0.0, -0.422, 0.0]), "tibia_l": np.array([0.0, -0.422, 0.0]),
    "calcn_r": np.array([0.0, -0.434, 0.0]), "calcn_l": np.array([0.0, -0.434, 0.0]),
    "toes_r": np.array([0.123, -0.055, 0.0]), "toes_l": np.array([0.123, -0.055, 0.0]),
    "torso": np.array([-0.04, 0.09, 0.0]),
    "head": np.array([-0.05, 0.45, 0.0]),
    "humerus_r": np.array([-0.015, 0.39, 0.175]), "humerus_l": np.array([-0.015, 0.39, -0.175]),
    "ulna_r": np.array([0.0, -0.282, 0.0]), "ulna_l": np.array([0.0, -0.282, 0.0]),
    "hand_r": np.array([0.0, -0.269, 0.0]), "hand_l": np.array([0.0, -0.269, 0.0]),
}
_PARENT = {"femur_r": "pelvis", "femur_l": "pelvis", "tibia_r": "femur_r", "tibia_l": "femur_l",
           "calcn_r": "tibia_r", "calcn_l": "tibia_l", "toes_r": "calcn_r", "toes_l": "calcn_l",
           "torso": "pelvis", "head": "torso", "humerus_r": "torso", "humerus_l": "torso",
           "ulna_r": "humerus_r", "ulna_l": "humerus_l", "hand_r": "ulna_r", "hand_l": "ulna_l"}

# Points on bodies (m, reference stature, right side; left mirrors Z): keypoints then markers.
_POINTS_R = {
    "Hip": ("femur", (0.0, 0.0, 0.0)), "Knee": ("tibia", (0.0, 0.0, 0.0)),
    "Ankle": ("calcn", (0.0, 0.0, 0.0)), "Heel": ("calcn", (-0.065, -0.045, 0.0)),
    "BigToe": ("toes", (0.07, -0.012, -0.02)), "SmallToe": ("toes", (0.04, -0.012, 0.035)),
    "Shoulder": ("humerus", (0.0, 0.0, 0.0)), "Elbow": ("ulna", (0.0, 0.0, 0.0)),
    "Wrist": ("hand", (0.0, 0.0, 0.0)), "Eye": ("head", (0.08, 0.165, 0.032)),
    "Ear": ("head", (0.0, 0.15, 0.075)),
    # anatomical markers (OpenCap-style names, suffix added per side)
    "ASIS": ("pelvis", (0.054, 0.0735, 0.1225)), "PSIS": ("pelvis", (-0.11, 0.09, 0.045)),
    "knee": ("tibia", (0.0, 0.0, 0.05)), "mknee": ("tibia", (0.0, 0.0, -0.05)),
    "ankle": ("calcn", (0.0, 0.0, 0.035)), "mankle": ("calcn", (0.0, 0.0, -0.035)),
    "toe": ("toes", (0.07, 0.0, -0.01)), "5meta": ("calcn", (0.12, -0.04, 0.04)),
    "calc": ("calcn", (-0.075, -0.02, 0.0)), "shoulder": ("torso", (-0.015, 0.42, 0.19)),
    "lelbow": ("ulna", (0.0, 0.0, 0.035)), "melbow": ("ulna", (0.0, 0.0, -0.035)),
    "lwrist": ("hand", (0.0, 0.0, 0.03)), "mwrist": ("hand", (0.0, 0.0, -0.03)),
    "thigh": ("femur", (0.02, -0.22, 0.07)), "sh": ("tibia", (0.02, -0.2, 0.05)),
}
_CENTRE = {"Nose": ("head", (0.11, 0.14, 0.0)), "Head": ("head", (-0.01, 0.26, 0.0)),
           "Neck": ("torso", (0.0, 0.43, 0.0)), "C7": ("torso", (-0.06, 0.45, 0.0))}
_KEYPOINT_BASES = ("Hip", "Knee", "Ankle", "Heel", "BigToe", "SmallToe", "Shoulder", "Elbow", "Wrist", "Eye", "Ear")
#: Anatomical marker names produced (OpenCap ``*_study`` style).
MARKER_NAMES: tuple[str, ...] = tuple(
    f"{s}_{b}_study" if b not in ("ASIS", "PSIS") else f"{s}.{b}_study"
    for s in ("r", "L") for b in _POINTS_R if b not in _KEYPOINT_BASES) + ("C7_study",)


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    """Rotation matrices (F, 3, 3) about a body axis by angles (F,) in degrees."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "x":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


@dataclass
class LinkModel:
    """Numpy forward kinematics of the gait2392-style chain, scaled to ``height`` (m)."""

    height: float = 1.75

    @property
    def scale(self) -> float:
        return self.height / REFERENCE_HEIGHT

    @property
    def standing_pelvis_height(self) -> float:
        """Height (m) of the hip joint centres when standing (ankle 0.07 + shank + thigh)."""
        return (0.070 + 0.434 + 0.422) * self.scale

    def joint_rotation(self, body: str, q: Motion) -> np.ndarray:
        """Rotation (F, 3, 3) of ``body`` relative to its parent."""
        s = body[-1]
        m = -1.0 if s == "l" else 1.0
        g = q.__getitem__
        if body.startswith("femur"):
            return _rot("z", g(f"hip_flexion_{s}")) @ _rot("x", m * g(f"hip_adduction_{s}")) @ _rot("y", m * g(f"hip_rotation_{s}"))
        if body.startswith("tibia"):
            return _rot("z", -g(f"knee_angle_{s}"))
        if body.startswith("calcn"):
            return _rot("z", g(f"ankle_angle_{s}")) @ _rot("x", m * g(f"subtalar_angle_{s}"))
        if body.startswith("toes"):
            return _rot("z", g(f"mtp_angle_{s}"))
        if body == "torso":
            return _rot("z", g("lumbar_extension")) @ _rot("x", g("lumbar_bending")) @ _rot("y", g("lumbar_rotation"))
        if body == "head":
            return _rot("z", g("neck"))
        if body.startswith("humerus"):
            return _rot("z", g(f"arm_flex_{s}")) @ _rot("x", m * g(f"arm_add_{s}")) @ _rot("y", m * g(f"arm_rot_{s}"))
        if body.startswith("ulna"):
            return _rot("z", g(f"elbow_flex_{s}")) @ _rot("y", m * (g(f"pro_sup_{s}") - 80.0))
        if body.startswith("hand"):
            return _rot("z", g(f"wrist_flex_{s}")) @ _rot("x", m * g(f"wrist_dev_{s}"))
        raise KeyError(body)

    def body_poses(self, q: Motion) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """World rotation (F, 3, 3) and origin (F, 3) of every body."""
        origin = np.column_stack([q["pelvis_tx"], q["pelvis_ty"] + self.standing_pelvis_height, q["pelvis_tz"]])
        R = _rot("z", q["pelvis_tilt"]) @ _rot("x", q["pelvis_list"]) @ _rot("y", q["pelvis_rotation"])
        poses = {"pelvis": (R, origin)}
        for body, parent in _PARENT.items():  # parents come first in the dict
            Rp, op = poses[parent]
            o = op + Rp @ (_OFFSETS[body] * self.scale)
            poses[body] = (Rp @ self.joint_rotation(body, q), o)
        return poses

    def points(self, q: Motion) -> dict[str, np.ndarray]:
        """World trajectories (F, 3) of every keypoint and marker name this model knows."""
        poses = self.body_poses(q)
        out: dict[str, np.ndarray] = {}

        def put(name: str, body: str, local: tuple) -> None:
            R, o = poses[body]
            out[name] = o + R @ (np.asarray(local) * self.scale)

        for side, s, zs in (("R", "r", 1.0), ("L", "l", -1.0)):
            for base, (body, loc) in _POINTS_R.items():
                local = (loc[0], loc[1], zs * loc[2])
                b = body if body in ("pelvis", "torso", "head") else f"{body}_{s}"
                if base in _KEYPOINT_BASES:
                    put(f"{side}{base}", b, local)
                elif base in ("ASIS", "PSIS"):
                    put(f"{s if s == 'r' else 'L'}.{base}_study", b, local)
                else:
                    put(f"{s if s == 'r' else 'L'}_{base}_study", b, local)
        for name, (body, loc) in _CENTRE.items():
            put(name if name != "C7" else "C7_study", body, loc)
        out["CHip"] = out["Hip"] = (out["RHip"] + out["LHip"]) / 2
        return out


def body_points(motion: Motion, names: list[str] | tuple[str, ...], height: float = 1.75) -> np.ndarray:
    """Positions (F, len(names), 3) in metres of keypoints/markers ``names`` driven by ``motion``."""
    pts = LinkModel(height).points(motion)
    missing = [n for n in names if n not in pts]
    if missing:
        raise KeyError(f"the body model has no point {missing}; known: {sorted(pts)}")
    return np.stack([pts[n] for n in names], axis=1)


def keypoint_names(skeleton: str | Skeleton = "HALPE_26") -> list[str]:
    """3D keypoint names of a skeleton (``all_names``: detector outputs then derived ones)."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    return list(sk.all_names)
