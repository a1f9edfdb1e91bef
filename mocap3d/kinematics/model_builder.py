"""Build the mocap3d full-body OpenSim models with the opensim API.

Conventions (OpenSim / ISB): ground and every body frame have X anterior,
Y superior, Z to the right; body origins at the proximal joint centre (pelvis:
mid-point of the two ASIS). Body, joint and coordinate names follow the
gait2392 / Rajagopal 2016 family so results compare with the literature.
Coordinate signs (rad, m):

- pelvis_tilt (about Z: + = front of the pelvis up, i.e. posterior tilt),
  pelvis_list (about X: + = left side up), pelvis_rotation (about Y: + =
  turning left), pelvis_tx/ty/tz (position of the pelvis origin in ground,
  m); rotation order Z-X-Y as in gait2392.
- hip_flexion (+flexion), hip_adduction (+adduction), hip_rotation (+internal).
- knee_angle (+flexion, 0 = straight), ankle_angle (+dorsiflexion),
  subtalar_angle (+inversion, oblique Inman axis 42 deg up, 23 deg medial),
  mtp_angle (+toe extension).
- lumbar_extension (+extension), lumbar_bending (+right bending),
  lumbar_rotation (+ turning left, gait2392 sign); neck_flexion (+flexion; the
  issue's "neck", named as in Pose2Sim's models),
  neck_bending, neck_rotation (same axes as lumbar), at C7 level, move the
  cervical body; head_flexion (+flexion, i.e. nodding; upper-cervical joint 12
  cm higher) moves the head on it.
- arm_flex (+flexion), arm_add (+adduction), arm_rot (+internal),
  elbow_flex (+flexion), pro_sup (+pronation, 0 = neutral thumb-forward
  position of the clinical neutral-zero method: the model stands with palms
  facing the thighs), wrist_flex (+palmar flexion), wrist_dev (+radial).

Left-side axes are the mirror images of the right ones (a rotation axis is a
pseudo-vector: (x, y, z) -> (-x, -y, z)), so the same sign means the same
anatomical motion on both sides.

Ranges are the physiological active ranges widened to what deep squats and
noisy markers reach (hip flexion to 140 deg, knee to 160 deg, ankle
dorsiflexion to 40 deg): the fast IK keeps joint coordinates inside them.

Variants:
- ``full``: tibia translates with knee flexion (SimmSpline functions of
  knee_angle, femoral roll-back; see :data:`KNEE_SPLINE`).
- ``simple``: pin knee, no coupled translations (fastest IK).

Segment geometry and inertia: :mod:`mocap3d.kinematics.anthropometry`
(de Leva 1996 male reference, 1.741 m, 73 kg).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opensim as osim

from ..errors import Mocap3dError
from . import anthropometry as anth

VARIANTS = ("full", "simple")

#: Own approximation of the tibia path in the femur frame (m) versus knee
#: flexion (deg): the tibio-femoral contact rolls back, so the knee's
#: instantaneous centre migrates about 1 cm posteriorly and 5 mm proximally
#: from full extension to deep flexion (femoral roll-back, e.g. Iwaki et al.
#: 2000 J Bone Joint Surg Br 82:1189; planar knee of Yamaguchi & Zajac 1989).
KNEE_SPLINE = {
    "angle_deg": (-10.0, 0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0),
    "tx": (0.0010, 0.0, -0.0020, -0.0045, -0.0068, -0.0085, -0.0098, -0.0106, -0.0110, -0.0112),
    "ty": (-0.0005, 0.0, 0.0010, 0.0022, 0.0032, 0.0040, 0.0045, 0.0048, 0.0050, 0.0051),
}

_SUBTALAR_AXIS_R = (np.cos(np.radians(42)) * np.cos(np.radians(23)), np.sin(np.radians(42)),
                    -np.cos(np.radians(42)) * np.sin(np.radians(23)))


@dataclass(frozen=True)
class CoordSpec:
    """A joint coordinate: name (without side suffix), axis (right side), range (deg or m)."""

    name: str
    axis: tuple[float, float, float]
    range: tuple[float, float]
    rotation: bool = True


@dataclass(frozen=True)
class BodySpec:
    """A body, its joint to the parent and its inertial / display properties (right side)."""

    name: str
    parent: str
    joint: str
    location_in_parent: tuple[float, float, float]
    coords: tuple[CoordSpec, ...]
    mass_fraction: float
    com: tuple[float, float, float]
    inertia: tuple[float, float, float]          # per kg of body mass (m^2)
    shape: tuple                                  # ("ellipsoid", rx, ry, rz, cx, cy, cz) | ("sphere", r, ...) | ("brick", hx, hy, hz, cx, cy, cz)
    sided: bool = False
    location_in_child: tuple[float, float, float] = (0.0, 0.0, 0.0)   # joint centre in the body's own frame


def _segment_body(seg: anth.Segment, fraction: float = 1.0, down: bool = True):
    """mass fraction, CoM (3,), inertia per kg of body mass (3,) of a de Leva segment hanging along -Y."""
    m = seg.mass_fraction * fraction
    com = (0.0, -seg.com_fraction * seg.length if down else seg.com_fraction * seg.length, 0.0)
    inertia = tuple(m * (np.asarray(seg.radii) * seg.length) ** 2)
    return m, com, inertia


def _trunk_parts():
    """Torso (UPT + MPT, origin at lumbar joint) and pelvis (LPT, origin mid-ASIS) inertial data."""
    d = anth.DE_LEVA_MALE
    upt, mpt, lpt = d["upper_trunk"], d["middle_trunk"], d["lower_trunk"]
    torso_len = upt.length + mpt.length                         # CERV - OMPH
    # torso frame: origin at the lumbar joint (OMPH level), C7 at +torso_len
    c_upt = np.array([0.03, torso_len - upt.com_fraction * upt.length, 0.0])
    c_mpt = np.array([0.03, mpt.length - mpt.com_fraction * mpt.length, 0.0])
    m, com, inertia = anth.combine([(upt.mass_fraction, c_upt, upt.inertia(upt.mass_fraction)),
                                    (mpt.mass_fraction, c_mpt, mpt.inertia(mpt.mass_fraction))])
    mid_hip = anth.HIP_FROM_MID_ASIS * np.array([1, 1, 0])
    pelvis_com = mid_hip + np.array([0.0, (1 - lpt.com_fraction) * lpt.length, 0.0])
    return (m, tuple(com), tuple(inertia), torso_len), (lpt.mass_fraction, tuple(pelvis_com),
                                                       tuple(lpt.inertia(lpt.mass_fraction)))


def lumbar_location() -> np.ndarray:
    """Lumbar joint in the pelvis frame (m): OMPH level, 3 cm behind the hip centres."""
    lpt = anth.DE_LEVA_MALE["lower_trunk"]
    return np.array([anth.HIP_FROM_MID_ASIS[0] - 0.03, anth.HIP_FROM_MID_ASIS[1] + lpt.length, 0.0])


def foot_points() -> dict[str, np.ndarray]:
    """Key foot points (m): subtalar in talus frame, mtp in calcn frame, floor level in calcn/toes frames."""
    foot = anth.DE_LEVA_MALE["foot"]
    subtalar = np.array([-0.045, -0.035, 0.0])                       # in talus (ankle centre) frame
    mtp_x_from_ankle = -anth.HEEL_BEHIND_ANKLE + anth.MTP_FRACTION_OF_FOOT * foot.length
    floor_calcn = -anth.ANKLE_HEIGHT - subtalar[1]
    mtp = np.array([mtp_x_from_ankle - subtalar[0], floor_calcn + 0.022, 0.0])   # mtp centre 22 mm above floor
    return {"subtalar": subtalar, "mtp": mtp, "floor_calcn": np.array(floor_calcn),
            "floor_toes": np.array(floor_calcn - mtp[1]),
            "heel_calcn": np.array([-anth.HEEL_BEHIND_ANKLE - subtalar[0], floor_calcn, 0.0]),
            "toe_tip_toes": np.array([(1 - anth.MTP_FRACTION_OF_FOOT) * foot.length, floor_calcn - mtp[1] + 0.01, 0.0])}


#: Upper-cervical (head) joint above the neck joint (C7 level), in the cervical body's frame (m): the
#: atlanto-occipital level, 12 cm up. The neck then bends at two levels: neck_* at C7 and head_flexion
#: (nodding) there, so the head can move forward or back on the trunk (protraction, retraction).
UPPER_NECK = (0.0, 0.12, 0.0)

#: Share of de Leva's head-and-neck segment (VERT - CERV) carried by the cervical body.
NECK_MASS_SHARE = 0.15


def _head_parts():
    """Cervical body and head (mass fraction, CoM (3,), inertia per kg (3,)), splitting de Leva's head-and-neck
    segment so that the pair has its mass and CoM (frames: origin at C7 level, the head's in its neutral pose)."""
    head = anth.DE_LEVA_MALE["head"]
    m, k = head.mass_fraction, NECK_MASS_SHARE
    com = np.array([0.02, (1 - head.com_fraction) * head.length, 0.0])
    c_neck = np.array([0.0, UPPER_NECK[1] / 2, 0.0])
    c_head = (com - k * c_neck) / (1 - k)
    i_neck = k * m * np.array([0.04 ** 2 + UPPER_NECK[1] ** 2 / 12, 0.04 ** 2 / 2, 0.04 ** 2 + UPPER_NECK[1] ** 2 / 12])
    return ((k * m, tuple(c_neck), tuple(i_neck)),
            ((1 - k) * m, tuple(c_head), tuple((1 - k) * head.inertia(m))))


def body_specs() -> list[BodySpec]:
    """The model's bodies in tree order (right side given; left mirrored)."""
    d = anth.DE_LEVA_MALE
    (t_m, t_com, t_in, torso_len), (p_m, p_com, p_in) = _trunk_parts()
    fp = foot_points()
    foot = d["foot"]
    foot_com_calcn = (-anth.HEEL_BEHIND_ANKLE + foot.com_fraction * foot.length - fp["subtalar"][0],
                      fp["floor_calcn"] + 0.035, 0.0)
    foot_in = foot.inertia(foot.mass_fraction)
    cervical, skull = _head_parts()
    specs = [
        BodySpec("pelvis", "ground", "ground_pelvis", (0, 0, 0), (
            CoordSpec("pelvis_tilt", (0, 0, 1), (-90, 90)), CoordSpec("pelvis_list", (1, 0, 0), (-90, 90)),
            CoordSpec("pelvis_rotation", (0, 1, 0), (-180, 180)),
            CoordSpec("pelvis_tx", (1, 0, 0), (-50, 50), False), CoordSpec("pelvis_ty", (0, 1, 0), (-1, 3), False),
            CoordSpec("pelvis_tz", (0, 0, 1), (-50, 50), False)),
            p_m, p_com, p_in, ("ellipsoid", 0.075, 0.07, 0.13, -0.045, -0.02, 0.0)),
        BodySpec("femur", "pelvis", "hip", tuple(anth.HIP_FROM_MID_ASIS), (
            CoordSpec("hip_flexion", (0, 0, 1), (-30, 140)), CoordSpec("hip_adduction", (1, 0, 0), (-50, 30)),
            CoordSpec("hip_rotation", (0, 1, 0), (-60, 60))),
            *_segment_body(d["thigh"]), ("ellipsoid", 0.06, d["thigh"].length / 2, 0.06, 0, -d["thigh"].length / 2, 0),
            sided=True),
        BodySpec("tibia", "femur", "knee", (0, -d["thigh"].length, 0), (
            CoordSpec("knee_angle", (0, 0, -1), (-10, 160)),),
            *_segment_body(d["shank"]), ("ellipsoid", 0.045, d["shank"].length / 2, 0.045, 0, -d["shank"].length / 2, 0),
            sided=True),
        BodySpec("talus", "tibia", "ankle", (0, -d["shank"].length, 0), (
            CoordSpec("ankle_angle", (0, 0, 1), (-60, 40)),),
            0.05 * foot.mass_fraction, (0, -0.015, 0), tuple(0.05 * foot_in), ("sphere", 0.025, 0, -0.01, 0),
            sided=True),
        BodySpec("calcn", "talus", "subtalar", tuple(fp["subtalar"]), (
            CoordSpec("subtalar_angle", tuple(_SUBTALAR_AXIS_R), (-25, 25)),),
            0.80 * foot.mass_fraction, foot_com_calcn, tuple(0.80 * foot_in),
            ("brick", 0.095, 0.02, 0.04, fp["mtp"][0] / 2, fp["floor_calcn"] + 0.02, 0.0), sided=True),
        BodySpec("toes", "calcn", "mtp", tuple(fp["mtp"]), (
            CoordSpec("mtp_angle", (0, 0, 1), (-30, 70)),),
            0.15 * foot.mass_fraction, (0.03, -0.005, 0), tuple(0.15 * foot_in * 0.1),
            ("brick", 0.035, 0.01, 0.04, 0.035, -0.005, 0.0), sided=True),
        BodySpec("torso", "pelvis", "back", tuple(lumbar_location()), (
            CoordSpec("lumbar_extension", (0, 0, 1), (-90, 45)), CoordSpec("lumbar_bending", (1, 0, 0), (-45, 45)),
            CoordSpec("lumbar_rotation", (0, 1, 0), (-45, 45))),
            t_m, t_com, t_in, ("ellipsoid", 0.10, torso_len / 2, 0.15, 0.02, torso_len / 2, 0.0)),
        BodySpec("cervical", "torso", "neck", (0, torso_len, 0), (
            CoordSpec("neck_flexion", (0, 0, -1), (-70, 60)), CoordSpec("neck_bending", (1, 0, 0), (-45, 45)),
            CoordSpec("neck_rotation", (0, 1, 0), (-80, 80))),
            *cervical, ("ellipsoid", 0.045, UPPER_NECK[1] / 2, 0.045, 0.0, UPPER_NECK[1] / 2, 0.0)),
        BodySpec("head", "cervical", "upper_neck", UPPER_NECK, (
            CoordSpec("head_flexion", (0, 0, -1), (-30, 30)),),
            *skull, ("ellipsoid", 0.10, 0.12, 0.08, 0.04, 0.13, 0.0), location_in_child=UPPER_NECK),
        BodySpec("humerus", "torso", "acromial", tuple(anth.SHOULDER_FROM_C7 + np.array([0, torso_len, 0])), (
            CoordSpec("arm_flex", (0, 0, 1), (-90, 180)), CoordSpec("arm_add", (1, 0, 0), (-180, 45)),
            CoordSpec("arm_rot", (0, 1, 0), (-90, 90))),
            *_segment_body(d["upper_arm"]),
            ("ellipsoid", 0.04, d["upper_arm"].length / 2, 0.04, 0, -d["upper_arm"].length / 2, 0), sided=True),
        BodySpec("ulna", "humerus", "elbow", (0, -d["upper_arm"].length, 0), (
            CoordSpec("elbow_flex", (0, 0, 1), (-10, 160)),),
            *_segment_body(d["forearm"], 0.5),
            ("ellipsoid", 0.03, d["forearm"].length / 2, 0.02, 0, -d["forearm"].length / 2, 0.01), sided=True),
        BodySpec("radius", "ulna", "radioulnar", (0, 0, 0), (
            CoordSpec("pro_sup", (0, 1, 0), (-90, 90)),),
            *_segment_body(d["forearm"], 0.5),
            ("ellipsoid", 0.03, d["forearm"].length / 2, 0.02, 0, -d["forearm"].length / 2, -0.01), sided=True),
        BodySpec("hand", "radius", "radius_hand", (0, -d["forearm"].length, 0), (
            CoordSpec("wrist_flex", (1, 0, 0), (-70, 80)), CoordSpec("wrist_dev", (0, 0, 1), (-35, 25))),
            *_segment_body(d["hand"]), ("brick", 0.04, 0.08, 0.012, 0, -0.08, 0), sided=True),
    ]
    return specs


def _mirror_point(p) -> tuple[float, float, float]:
    return (p[0], p[1], -p[2])


def _mirror_axis(a) -> tuple[float, float, float]:
    return (-a[0], -a[1], a[2])


def _orthonormal_completion(axes: list[np.ndarray]) -> list[np.ndarray]:
    """Extend 1-3 (not necessarily orthogonal) axes to 3 independent unit axes."""
    out = [np.asarray(a, float) / np.linalg.norm(a) for a in axes]
    for cand in np.eye(3):
        if len(out) == 3:
            break
        m = np.array(out + [cand])
        if np.linalg.matrix_rank(m, tol=1e-6) == len(out) + 1:
            v = cand - sum((cand @ o) * o for o in out)
            out.append(v / np.linalg.norm(v))
    return out


def _vec3(v) -> osim.Vec3:
    return osim.Vec3(float(v[0]), float(v[1]), float(v[2]))


def _knee_spline(values) -> osim.SimmSpline:
    sp = osim.SimmSpline()
    for a, v in zip(KNEE_SPLINE["angle_deg"], values):
        sp.addPoint(float(np.radians(a)), float(v))
    return sp


def _custom_joint(name: str, parent: osim.PhysicalFrame, location: tuple, child: osim.PhysicalFrame,
                  coords: list[tuple[str, tuple, bool]], knee_side: str | None = None,
                  child_location: tuple = (0.0, 0.0, 0.0)) -> osim.CustomJoint:
    """CustomJoint whose rotations/translations are driven 1:1 by ``coords`` (name, axis, rotational)."""
    st = osim.SpatialTransform()
    rot = [(n, a) for n, a, r in coords if r]
    trans = [(n, a) for n, a, r in coords if not r]
    rot_axes = _orthonormal_completion([np.asarray(a, float) for _, a in rot]) if rot else list(np.eye(3))
    trans_axes = list(np.eye(3)) if not trans else _orthonormal_completion([np.asarray(a, float) for _, a in trans])
    for i in range(3):
        ax = st.updTransformAxis(i)
        ax.set_axis(_vec3(rot_axes[i]))
        if i < len(rot):
            names = osim.ArrayStr()
            names.append(rot[i][0])
            ax.setCoordinateNames(names)
            ax.set_function(osim.LinearFunction(1.0, 0.0))
        else:
            ax.set_function(osim.Constant(0.0))
    for i in range(3):
        ax = st.updTransformAxis(3 + i)
        ax.set_axis(_vec3(trans_axes[i]))
        if i < len(trans):
            names = osim.ArrayStr()
            names.append(trans[i][0])
            ax.setCoordinateNames(names)
            ax.set_function(osim.LinearFunction(1.0, 0.0))
        elif knee_side is not None and i < 2:
            names = osim.ArrayStr()
            names.append(f"knee_angle_{knee_side}")
            ax.setCoordinateNames(names)
            ax.set_function(_knee_spline(KNEE_SPLINE["tx" if i == 0 else "ty"]))
        else:
            ax.set_function(osim.Constant(0.0))
    return osim.CustomJoint(name, parent, _vec3(location), osim.Vec3(0), child, _vec3(child_location), osim.Vec3(0),
                            st)


def _attach_shape(model: osim.Model, body: osim.Body, shape: tuple, side: str | None) -> None:
    kind, *vals = shape
    if kind == "sphere":
        r, centre = vals[0], vals[1:4]
        geom = osim.Sphere(r)
    else:
        half, centre = vals[:3], vals[3:6]
        geom = osim.Ellipsoid(*half) if kind == "ellipsoid" else osim.Brick(_vec3(half))
    if side == "l":
        centre = _mirror_point(centre)
    frame = osim.PhysicalOffsetFrame(f"{body.getName()}_geometry_frame", body, osim.Transform(_vec3(centre)))
    body.addComponent(frame)
    geom.setColor(osim.Vec3(0.85, 0.75, 0.6))
    frame.attachGeometry(geom)


def standing_pelvis_height() -> float:
    """Height (m) of the pelvis origin (mid-ASIS) above the floor in the default standing pose."""
    d = anth.DE_LEVA_MALE
    return float(-anth.HIP_FROM_MID_ASIS[1] + d["thigh"].length + d["shank"].length + anth.ANKLE_HEIGHT)


#: Head-top (vertex) landmark height above the neck joint in the head frame (m).
HEAD_TOP = (0.02, 0.235, 0.0)


def model_height() -> float:
    """Standing height (m, floor to head top) of the generic model in its default pose."""
    torso_len = _trunk_parts()[0][3]
    return float(standing_pelvis_height() + lumbar_location()[1] + torso_len + HEAD_TOP[1])


def build_model(variant: str = "full", mass: float = anth.REFERENCE_MASS, name: str | None = None,
                clamped: bool = False) -> osim.Model:
    """Build the generic mocap3d model (de Leva male reference proportions).

    Args:
        variant: ``"full"`` (knee with flexion-dependent tibia translation) or
            ``"simple"`` (pin knee).
        mass: total body mass in kg (segment masses are de Leva fractions of it).
        name: model name (default ``mocap3d_<variant>``).
        clamped: clamp coordinates to their physiological ranges.

    Returns:
        A finalized ``opensim.Model`` (no markers; see ``markersets``).
    """
    if variant not in VARIANTS:
        raise Mocap3dError(f"model variant {variant!r} is unknown; use one of {', '.join(VARIANTS)}")
    model = osim.Model()
    model.setName(name or f"mocap3d_{variant}")
    model.setGravity(osim.Vec3(0, -9.80665, 0))
    model.set_credits(f"mocap3d {variant} model, generated by mocap3d.kinematics.model_builder "
                      "(OpenSim_Setup/build_models.py). Generic male reference 1.741 m, 73 kg.")
    model.set_publications("Segment parameters: de Leva P (1996) J Biomech 29:1223-1230. Hip joint centres: "
                           "Bell AL et al. (1990) J Biomech 23:617-621. Subtalar axis: Inman VT (1976) The "
                           "Joints of the Ankle. Names and conventions: gait2392 / Rajagopal et al. (2016).")
    model.set_length_units("meters")
    model.set_force_units("N")
    bodies: dict[str, osim.PhysicalFrame] = {"ground": model.getGround()}
    pelvis_h = standing_pelvis_height()
    for spec in body_specs():
        for side in (("r", "l") if spec.sided else (None,)):
            sfx = f"_{side}" if side else ""
            inertia = osim.Inertia(*(float(mass * i) for i in spec.inertia))
            com = _mirror_point(spec.com) if side == "l" else spec.com
            body = osim.Body(spec.name + sfx, float(mass * spec.mass_fraction), _vec3(com), inertia)
            model.addBody(body)
            bodies[spec.name + sfx] = body
            parent = bodies[spec.parent + sfx] if spec.parent + sfx in bodies else bodies[spec.parent]
            loc = _mirror_point(spec.location_in_parent) if side == "l" else spec.location_in_parent
            coords = [(c.name + sfx, _mirror_axis(c.axis) if side == "l" and c.rotation else c.axis, c.rotation)
                      for c in spec.coords]
            knee_side = side if (spec.joint == "knee" and variant == "full") else None
            child_loc = _mirror_point(spec.location_in_child) if side == "l" else spec.location_in_child
            joint = _custom_joint(spec.joint + sfx, parent, loc, body, coords, knee_side, child_loc)
            model.addJoint(joint)
            for i, c in enumerate(spec.coords):
                coord = joint.upd_coordinates(i)
                scale = np.pi / 180 if c.rotation else 1.0
                coord.setRangeMin(float(c.range[0] * scale))
                coord.setRangeMax(float(c.range[1] * scale))
                coord.set_clamped(bool(clamped))
                if c.name == "pelvis_ty":
                    coord.setDefaultValue(pelvis_h)
            _attach_shape(model, body, spec.shape, side)
    model.finalizeConnections()
    model.initSystem()
    return model


def coordinate_names(model: osim.Model) -> list[str]:
    """Coordinate names in the model's coordinate-set order."""
    cs = model.getCoordinateSet()
    return [cs.get(i).getName() for i in range(cs.getSize())]


def write_model(model: osim.Model, path: str | Path) -> Path:
    """Print ``model`` to ``path`` atomically (the .osim XML)."""
    from ..logs import atomic_path
    path = Path(path)
    with atomic_path(path) as tmp:
        model.printToXML(str(tmp))
    path.chmod(0o644)
    return path
