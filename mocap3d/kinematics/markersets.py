"""Marker sets of the mocap3d model: detector keypoints and OpenCap's anatomical markers.

Every marker is a landmark of the generic (de Leva reference) model: a body
and a location in that body's frame (m). Right-side landmarks are given;
left ones are mirrored (z -> -z). Detector keypoints sit where detectors put
them: joint centres for hips, knees, ankles, shoulders, elbows, wrists (the
centre of the joint as seen from outside), surface points for heel, toes and
the face.

Sets: one per detector skeleton of :mod:`mocap3d.skeletons` (HALPE_26,
COCO_17, COCO_133, BODY_25, BODY_25B, BLAZEPOSE; COCO_133 and BLAZEPOSE
carry the body, feet and (BlazePose) hand-knuckle points only: COCO_133's 68
face and 42 hand points are not on the model), and ``LSTM``: the 43
``*_study`` markers of OpenCap's v0.3 marker augmenter, in its output order.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import opensim as osim

from ..errors import Mocap3dError
from ..skeletons import get_skeleton
from . import anthropometry as anth
from .model_builder import HEAD_TOP, _trunk_parts, foot_points

Landmark = tuple[str, tuple[float, float, float]]


def _landmarks() -> dict[str, Landmark]:
    """Right-side / central landmarks: name -> (body, location in body frame, m)."""
    d = anth.DE_LEVA_MALE
    thigh, shank, upper, fore = d["thigh"].length, d["shank"].length, d["upper_arm"].length, d["forearm"].length
    torso_len = _trunk_parts()[0][3]
    fp = foot_points()
    fl_c, fl_t = float(fp["floor_calcn"]), float(fp["floor_toes"])
    heel_x = float(fp["heel_calcn"][0])
    tip_x = float(fp["toe_tip_toes"][0])
    mtp_x = float(fp["mtp"][0])
    hjc = tuple(anth.HIP_FROM_MID_ASIS)
    mid_hip = (hjc[0], hjc[1], 0.0)
    gh = tuple(anth.SHOULDER_FROM_C7 + np.array([0, torso_len, 0]))
    lm: dict[str, Landmark] = {
        # joint centres
        "hip": ("pelvis", hjc), "mid_hip": ("pelvis", mid_hip),
        "knee": ("femur", (0.0, -thigh, 0.0)), "ankle": ("tibia", (0.0, -shank, 0.0)),
        "shoulder": ("humerus", (0.0, 0.0, 0.0)), "elbow": ("humerus", (0.0, -upper, 0.0)),
        "wrist": ("radius", (0.0, -fore, 0.0)),
        "neck": ("torso", (gh[0], gh[1], 0.0)),
        # foot surface
        "heel": ("calcn", (heel_x + 0.005, fl_c + 0.03, 0.0)),
        "heel_sole": ("calcn", (heel_x + 0.005, fl_c, 0.0)),
        "foot_index_sole": ("toes", (tip_x, fl_t, -0.005)),
        "big_toe": ("toes", (tip_x, fl_t + 0.015, -0.02)),
        "small_toe": ("toes", (tip_x - 0.04, fl_t + 0.012, 0.035)),
        "foot_index": ("toes", (tip_x, fl_t + 0.015, -0.005)),
        # head (origin at C7 level, vertex 0.243 m above)
        "head_top": ("head", HEAD_TOP), "nose": ("head", (0.115, 0.09, 0.0)),
        "eye": ("head", (0.085, 0.125, 0.032)), "eye_inner": ("head", (0.088, 0.125, 0.017)),
        "eye_outer": ("head", (0.078, 0.125, 0.047)), "ear": ("head", (0.005, 0.11, 0.075)),
        "mouth": ("head", (0.10, 0.055, 0.025)),
        # hand knuckles (neutral forearm: palm faces medially, thumb forward)
        "pinky": ("hand", (-0.025, -0.075, 0.0)), "index": ("hand", (0.025, -0.086, 0.0)),
        "thumb": ("hand", (0.045, -0.06, -0.01)),
        # OpenCap anatomical markers (skin surface)
        "asis": ("pelvis", (0.01, 0.0, anth.PELVIS_WIDTH / 2)),
        "psis": ("pelvis", (-0.165, 0.01, 0.045)),
        "lat_knee": ("femur", (0.0, -thigh + 0.005, 0.052)), "med_knee": ("femur", (0.0, -thigh + 0.005, -0.052)),
        "lat_ankle": ("tibia", (-0.006, -shank - 0.005, 0.037)), "med_ankle": ("tibia", (0.006, -shank + 0.005, -0.037)),
        "toe": ("toes", (0.04, fl_t + 0.025, -0.01)), "meta5": ("calcn", (mtp_x - 0.01, fl_c + 0.02, 0.045)),
        "calc": ("calcn", (heel_x - 0.005, fl_c + 0.035, 0.0)),
        "acromion": ("torso", (gh[0], gh[1] + 0.04, gh[2] + 0.02)),
        "c7": ("torso", (-0.06, torso_len, 0.0)),
        "thigh1": ("femur", (0.03, -0.18, 0.075)), "thigh2": ("femur", (0.06, -0.25, 0.05)),
        "thigh3": ("femur", (0.03, -0.30, 0.07)),
        "sh1": ("tibia", (0.035, -0.12, 0.055)), "sh2": ("tibia", (0.05, -0.20, 0.03)),
        "sh3": ("tibia", (0.03, -0.26, 0.05)),
        "lat_elbow": ("humerus", (0.0, -upper + 0.01, 0.038)), "med_elbow": ("humerus", (0.0, -upper + 0.01, -0.045)),
        "lat_wrist": ("radius", (0.03, -fore, 0.0)), "med_wrist": ("ulna", (-0.025, -fore, 0.0)),
    }
    return lm


_CENTRAL_BODIES = {"pelvis", "torso", "head"}

#: Detector keypoint name (without L/R prefix) -> landmark.
_KEYPOINTS = {"Hip": "hip", "Knee": "knee", "Ankle": "ankle", "Shoulder": "shoulder", "Elbow": "elbow",
              "Wrist": "wrist", "Heel": "heel", "BigToe": "big_toe", "SmallToe": "small_toe",
              "FootIndex": "foot_index", "Eye": "eye", "EyeInner": "eye_inner", "EyeOuter": "eye_outer",
              "Ear": "ear", "Mouth": "mouth", "Pinky": "pinky", "Index": "index", "Thumb": "thumb"}
_CENTRAL_KEYPOINTS = {"Hip": "mid_hip", "CHip": "mid_hip", "Neck": "neck", "Head": "head_top", "Nose": "nose"}
#: Keypoints a skeleton puts elsewhere than the others (name without side prefix -> landmark). BlazePose's heel
#: and foot index are points of the sole (back of the heel, tip of the second toe): on Pose2Sim's demos (3 persons,
#: 6 feet) its heels sat 17-49 mm (median 28 mm) below the heel landmark of the other detectors' keypoints (30 mm
#: above the sole) once placed from the data, and with the toe tip 15 mm above the sole IK flexed the toes by
#: 13-23 deg on average to bring it down.
_SKELETON_KEYPOINTS = {"BLAZEPOSE": {"Heel": "heel_sole", "FootIndex": "foot_index_sole"}}

#: OpenCap v0.3 augmenter outputs (lower-body model then upper-body model), in order.
LSTM_MARKERS = (
    "r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study", "r_knee_study", "r_mknee_study",
    "r_ankle_study", "r_mankle_study", "r_toe_study", "r_5meta_study", "r_calc_study", "L_knee_study",
    "L_mknee_study", "L_ankle_study", "L_mankle_study", "L_toe_study", "L_calc_study", "L_5meta_study",
    "r_shoulder_study", "L_shoulder_study", "C7_study", "r_thigh1_study", "r_thigh2_study", "r_thigh3_study",
    "L_thigh1_study", "L_thigh2_study", "L_thigh3_study", "r_sh1_study", "r_sh2_study", "r_sh3_study",
    "L_sh1_study", "L_sh2_study", "L_sh3_study", "RHJC_study", "LHJC_study",
    "r_lelbow_study", "r_melbow_study", "r_lwrist_study", "r_mwrist_study", "L_lelbow_study",
    "L_melbow_study", "L_lwrist_study", "L_mwrist_study")

_LSTM_LANDMARKS = {"ASIS": "asis", "PSIS": "psis", "knee": "lat_knee", "mknee": "med_knee", "ankle": "lat_ankle",
                   "mankle": "med_ankle", "toe": "toe", "5meta": "meta5", "calc": "calc", "shoulder": "acromion",
                   "thigh1": "thigh1", "thigh2": "thigh2", "thigh3": "thigh3", "sh1": "sh1", "sh2": "sh2",
                   "sh3": "sh3", "HJC": "hip", "lelbow": "lat_elbow", "melbow": "med_elbow",
                   "lwrist": "lat_wrist", "mwrist": "med_wrist"}

MARKERSET_NAMES = ("HALPE_26", "COCO_17", "COCO_133", "BODY_25", "BODY_25B", "BLAZEPOSE", "LSTM")


def _sided(landmark: str, side: str) -> tuple[str, tuple[float, float, float]]:
    body, loc = _landmarks()[landmark]
    if body in _CENTRAL_BODIES:
        loc = (loc[0], loc[1], -loc[2]) if side == "l" else loc
        return body, tuple(float(v) for v in loc)
    loc = (loc[0], loc[1], -loc[2]) if side == "l" else loc
    return f"{body}_{side}", tuple(float(v) for v in loc)


def _lstm_marker(name: str) -> tuple[str, tuple[float, float, float]]:
    if name == "C7_study":
        body, loc = _landmarks()["c7"]
        return body, loc
    if name in ("RHJC_study", "LHJC_study"):
        return _sided("hip", "r" if name[0] == "R" else "l")
    side = "r" if name[0] == "r" else "l"
    key = name[2:-len("_study")]
    return _sided(_LSTM_LANDMARKS[key], side)


def marker_definitions(markerset: str) -> dict[str, tuple[str, tuple[float, float, float]]]:
    """Marker name -> (body name, location in body frame (m)) for a marker set.

    Args:
        markerset: a skeleton name (``HALPE_26``...) or ``LSTM`` (OpenCap's 43 ``*_study`` markers).
    """
    key = markerset.upper()
    if key in ("LSTM", "OPENCAP", "AUGMENTED"):
        return {n: _lstm_marker(n) for n in LSTM_MARKERS}
    skel = get_skeleton(markerset)
    own = _KEYPOINTS | _SKELETON_KEYPOINTS.get(skel.name, {})
    out: dict[str, tuple[str, tuple[float, float, float]]] = {}
    for name in skel.all_names:
        if name in _CENTRAL_KEYPOINTS:
            body, loc = _landmarks()[_CENTRAL_KEYPOINTS[name]]
            out[name] = (body, tuple(float(v) for v in loc))
        elif name[:1] in "LR" and name[1:] in own:
            out[name] = _sided(own[name[1:]], name[0].lower())
    if not out:
        raise Mocap3dError(f"marker set {markerset!r} has no keypoint placed on the model")
    return out


def markerset_xml(markers: dict[str, tuple[str, tuple[float, float, float]]], fixed: bool = False) -> str:
    """OpenSim MarkerSet XML text (OpenSim 4 format, socket_parent_frame = /bodyset/<body>)."""
    lines = ['<?xml version="1.0" encoding="UTF-8" ?>', '<OpenSimDocument Version="40000">',
             '\t<MarkerSet name="markerset">', '\t\t<objects>']
    for name, (body, loc) in markers.items():
        lines += [f'\t\t\t<Marker name="{escape(name)}">',
                  f'\t\t\t\t<socket_parent_frame>/bodyset/{escape(body)}</socket_parent_frame>',
                  f'\t\t\t\t<location>{loc[0]:.6f} {loc[1]:.6f} {loc[2]:.6f}</location>',
                  f'\t\t\t\t<fixed>{"true" if fixed else "false"}</fixed>',
                  '\t\t\t</Marker>']
    lines += ['\t\t</objects>', '\t\t<groups />', '\t</MarkerSet>', '</OpenSimDocument>', '']
    return "\n".join(lines)


def write_markerset(markerset: str, path: str | Path) -> Path:
    """Write ``OpenSim_Setup/markers_<SET>.xml``-style file for a marker set name."""
    from ..logs import atomic_write
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(markerset_xml(marker_definitions(markerset)))
    path.chmod(0o644)
    return path


def read_markerset_file(path: str | Path) -> dict[str, tuple[str, tuple[float, float, float]]]:
    """Marker name -> (body, location) from an OpenSim MarkerSet XML (OpenSim 3 or 4 style)."""
    ms = osim.MarkerSet(str(path))
    out = {}
    for i in range(ms.getSize()):
        mk = ms.get(i)
        frame = mk.getSocket("parent_frame").getConnecteePath() if hasattr(mk, "getSocket") else ""
        loc = mk.get_location()
        out[mk.getName()] = (frame.split("/")[-1], (loc.get(0), loc.get(1), loc.get(2)))
    return out


def attach_markers(model: osim.Model, markers: str | Path | dict, replace: bool = True,
                   scale: dict[str, np.ndarray] | None = None) -> list[str]:
    """Add markers to ``model`` (in place) and re-initialize it.

    Args:
        model: an opensim Model whose body names match the marker definitions.
        markers: a marker-set name (``HALPE_26``, ``LSTM``...), a MarkerSet XML path,
            or a dict name -> (body, location (3,) m).
        replace: remove the model's existing markers first.
        scale: optional body name -> (3,) factors applied to the locations
            (to place generic markers on a scaled model).

    Returns:
        The names of the markers added, in order.
    """
    if isinstance(markers, dict):
        defs = markers
    elif isinstance(markers, Path) or (isinstance(markers, str) and markers.lower().endswith(".xml")):
        defs = read_markerset_file(markers)
    else:
        defs = marker_definitions(str(markers))
    ms = model.updMarkerSet()
    if replace:
        ms.clearAndDestroy()
    bodies = model.getBodySet()
    for name, (body, loc) in defs.items():
        if not bodies.contains(body):
            raise Mocap3dError(f"marker {name!r} is on body {body!r}, which model {model.getName()!r} does not have; "
                               "fix the marker set or give a marker mapping for this model")
        loc = np.asarray(loc, float) * (scale.get(body, 1.0) if scale else 1.0)
        if ms.contains(name):
            ms.remove(ms.get(name))
        # into the set directly: Model.addMarker re-finalizes the whole model for each marker
        ms.adoptAndAppend(osim.Marker(name, bodies.get(body), osim.Vec3(*map(float, loc))))
    model.finalizeFromProperties()
    model.finalizeConnections()
    model.initSystem()
    return list(defs)


#: Default IK weight by keypoint name without side prefix: joint centres count most, the face least.
_KEYPOINT_WEIGHTS = {"Hip": 1.0, "Knee": 1.0, "Ankle": 1.0, "Shoulder": 1.0, "Elbow": 1.0, "Wrist": 1.0,
                     "Heel": 1.0, "BigToe": 1.0, "SmallToe": 0.5, "FootIndex": 1.0, "Neck": 0.5, "CHip": 0.5,
                     "Head": 0.2, "Nose": 0.2, "Eye": 0.2, "EyeInner": 0.1, "EyeOuter": 0.1, "Ear": 0.2,
                     "Mouth": 0.1, "Pinky": 0.5, "Index": 0.5, "Thumb": 0.5}


#: Keypoints of the face and hand knuckles (names without side prefix): where a detector puts them relative to
#: the joint centres differs between detectors and people (head posture, hand shape), so when a trial's
#: keypoints sit far from the model's place (``kinematics.keypoint_placement_mm``) they are placed from the data.
FACE_KEYPOINTS = frozenset({"Nose", "Eye", "EyeInner", "EyeOuter", "Ear", "Mouth", "Head"})
HAND_KEYPOINTS = frozenset({"Pinky", "Index", "Thumb"})
LOOSE_KEYPOINTS = FACE_KEYPOINTS | HAND_KEYPOINTS


def _base(name: str) -> str:
    return name[1:] if name[:1] in "LR" and name[1:2].isupper() else name


#: ASIS/PSIS weight next to detector keypoints when it is not measured (:func:`auto_pelvis_weight`).
DEFAULT_PELVIS_WEIGHT = 0.5


def default_weights(markerset: str, names: list[str] | None = None,
                    pelvis_weight: float = DEFAULT_PELVIS_WEIGHT) -> dict[str, float]:
    """IK weight per marker of a marker set (or of ``names``).

    Detector keypoints: joint centres 1.0, small toe 0.5, derived centres 0.5,
    face 0.1-0.2. OpenCap ``*_study`` markers alone: bony landmarks and hip
    centres 1.0, thigh/shank cluster markers 0.5. Study markers together with
    detector keypoints (an augmented ``_LSTM.trc``): the keypoints keep their
    weights and only the pelvis markers (ASIS, PSIS) get ``pelvis_weight``,
    since they fix the pelvis tilt that the collinear hip keypoints leave
    free, while the other predicted markers add the augmenter's noise to
    measured ones (Demo capture: knee RMSE 3.2-3.7 deg with all study markers,
    1.3-1.9 with the pelvis ones only).
    """
    names = list(names if names is not None else marker_definitions(markerset))
    study = [n for n in names if n.endswith("_study")]
    mixed = bool(study) and len(names) - len(study) >= 6
    out = {}
    for n in names:
        if n.endswith("_study"):
            if mixed:
                out[n] = float(pelvis_weight) if "SIS_study" in n else 0.0
            else:
                out[n] = 0.5 if any(k in n for k in ("thigh", "_sh1", "_sh2", "_sh3")) else 1.0
        else:
            out[n] = _KEYPOINT_WEIGHTS.get(_base(n), 0.5)
    return out


#: Rigid keypoint pairs whose distance spread measures the 3D keypoint noise.
_LIMB_SEGMENTS = (("RHip", "RKnee"), ("RKnee", "RAnkle"), ("LHip", "LKnee"), ("LKnee", "LAnkle"),
                  ("RShoulder", "RElbow"), ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"))
#: Distances between the augmenter's pelvis markers (one rigid body).
_PELVIS_SEGMENTS = (("r.ASIS_study", "L.ASIS_study"), ("r.PSIS_study", "L.PSIS_study"),
                    ("r.ASIS_study", "r.PSIS_study"), ("L.ASIS_study", "L.PSIS_study"))


def length_spread_mm(data: np.ndarray, names: list[str], pairs: tuple[tuple[str, str], ...]) -> float | None:
    """Noise of markers (mm): median over rigid ``pairs`` of the robust spread (IQR / 1.349) of their distance.

    ``data`` (F, M, 3) m. None when no pair has 10 finite frames.
    """
    spreads = []
    for a, b in pairs:
        if a in names and b in names:
            d = np.linalg.norm(data[:, names.index(a)] - data[:, names.index(b)], axis=1)
            d = d[np.isfinite(d)]
            if len(d) >= 10:
                q25, q75 = np.percentile(d, [25, 75])
                spreads.append(1000.0 * (q75 - q25) / 1.349)
    return float(np.median(spreads)) if spreads else None


def auto_pelvis_weight(data: np.ndarray, names: list[str], lo: float = 0.02, hi: float = 1.0
                       ) -> tuple[float, dict[str, float | None]]:
    """IK weight of the augmenter's ASIS/PSIS next to detector keypoints (weight 1), from the trial's own noise.

    IK weights act as inverse variances, so the ratio is (keypoint noise / pelvis
    marker noise)^2, both measured as the spread of distances that should not
    change (limb segments; distances between the four pelvis markers), clipped to
    [``lo``, ``hi``]. Clean keypoints then decide the pelvis tilt themselves and
    the augmenter's gait-locked pelvis error stays out (1 px, 60 Hz capture:
    keypoint spread 1.4-1.8 mm, weight 0.07-0.12, hip flexion RMSE 1.40 -> 0.9 deg
    on the worst side vs a fixed 0.5); noisy keypoints lean on the pelvis markers
    (Demo: spread ~4 mm, weight ~0.6, where 0.1 would double the hip error).
    Returns ``(weight, {"keypoints": mm, "pelvis_markers": mm})``; ``DEFAULT_PELVIS_WEIGHT``
    when either spread cannot be measured.
    """
    noise = {"keypoints": length_spread_mm(data, names, _LIMB_SEGMENTS),
             "pelvis_markers": length_spread_mm(data, names, _PELVIS_SEGMENTS)}
    if not noise["keypoints"] or not noise["pelvis_markers"]:
        return DEFAULT_PELVIS_WEIGHT, noise
    return float(np.clip((noise["keypoints"] / noise["pelvis_markers"]) ** 2, lo, hi)), noise
