"""Automatic model scaling from the motion trial itself (or a static trial / time range).

Core (numpy): :func:`segment_lengths` measures robust distances between
marker pairs over the reliably reconstructed frames (complete, not among the
fastest, hip and knee not deeply flexed; trimmed mean), and
:func:`scale_factors` turns them into one factor per model body by comparing
with the same distances on the generic model. :func:`scale_model` applies
the factors with OpenSim's ``Model.scale`` (bodies, joint offsets, knee
translation splines, markers, masses).

A "point" is the mean of one or more markers (``("r_knee_study",
"r_mknee_study")`` = knee centre), so the same rules serve detector
keypoints (HALPE_26...) and OpenCap's anatomical ``*_study`` markers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import opensim as osim

from ..logs import get_logger

log = get_logger("kinematics")

Point = tuple[str, ...]

#: Candidate marker groups for each landmark, first complete one wins; {S} = R/L, {s} = r/L (OpenCap).
_POINT_CANDIDATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "hip": (("{S}Hip",), ("{S}HJC_study",)),
    "knee": (("{S}Knee",), ("{s}_knee_study", "{s}_mknee_study")),
    "ankle": (("{S}Ankle",), ("{s}_ankle_study", "{s}_mankle_study")),
    "heel": (("{S}Heel",), ("{s}_calc_study",)),
    "toe": (("{S}BigToe",), ("{S}FootIndex",), ("{s}_toe_study",)),
    "shoulder": (("{S}Shoulder",), ("{s}_shoulder_study",)),
    "elbow": (("{S}Elbow",), ("{s}_lelbow_study", "{s}_melbow_study")),
    "wrist": (("{S}Wrist",), ("{s}_lwrist_study", "{s}_mwrist_study")),
    "asis": (("{s}.ASIS_study",),),
}

#: Body groups scaled together and the landmark pairs that measure them ({side} pairs are per side).
_SEGMENTS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...], bool]] = {
    "pelvis": (("pelvis",), (("hip_r", "hip_l"), ("asis_r", "asis_l")), False),
    "thigh": (("femur",), (("hip", "knee"),), True),
    "shank": (("tibia", "talus"), (("knee", "ankle"),), True),
    "foot": (("calcn", "toes"), (("heel", "toe"),), True),
    "torso": (("torso", "cervical", "head"), (("shoulder_r", "shoulder_l"), ("shoulder_r", "hip_r"), ("shoulder_l", "hip_l")), False),
    "upper_arm": (("humerus",), (("shoulder", "elbow"),), True),
    "forearm": (("ulna", "radius", "hand"), (("elbow", "wrist"),), True),
}


def _resolve(landmark: str, side: str, names: Sequence[str]) -> Point | None:
    """Marker names of ``landmark`` on ``side`` ('r'/'l') available in ``names``, or None."""
    S, s = ("R", "r") if side == "r" else ("L", "L")
    for cand in _POINT_CANDIDATES[landmark]:
        group = tuple(c.format(S=S, s=s) for c in cand)
        if all(g in names for g in group):
            return group
    return None


@dataclass
class SegmentPairs:
    """Landmark pairs measuring one body group on one side (side None = central)."""

    name: str
    bodies: list[str]
    pairs: list[tuple[Point, Point]] = field(default_factory=list)


def segment_pairs(names: Sequence[str]) -> list[SegmentPairs]:
    """The measurable body groups for a marker list (model body names with side suffix)."""
    out = []
    for seg, (bodies, pairs, sided) in _SEGMENTS.items():
        for side in (("r", "l") if sided else (None,)):
            sp = SegmentPairs(f"{seg}_{side}" if side else seg,
                              [f"{b}_{side}" if side else b for b in bodies])
            for a, b in pairs:
                pa = _resolve(a.rsplit("_", 1)[0], a.rsplit("_", 1)[1], names) if not side else _resolve(a, side, names)
                pb = _resolve(b.rsplit("_", 1)[0], b.rsplit("_", 1)[1], names) if not side else _resolve(b, side, names)
                if pa and pb:
                    sp.pairs.append((pa, pb))
            out.append(sp)
    return out


def _point(data: np.ndarray, names: Sequence[str], group: Point) -> np.ndarray:
    idx = [list(names).index(g) for g in group]
    return data[:, idx].mean(axis=1)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Flexion angle (deg) at ``b`` of the chain a-b-c: 0 when straight, (F,)."""
    u, v = a - b, c - b
    cos = np.einsum("fi,fi->f", u, v) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))


def reliable_frames(data: np.ndarray, names: Sequence[str], rate: float, fastest_percent: float = 10.0,
                    large_angles: float = 45.0) -> np.ndarray:
    """Boolean mask (F,) of frames fit for measuring segment lengths.

    Drops the ``fastest_percent`` % frames by mean marker speed and frames
    where a hip or knee (from hip/knee/ankle/shoulder points) is flexed more
    than ``large_angles`` degrees. Missing markers are handled per pair later.
    """
    F = data.shape[0]
    keep = np.ones(F, dtype=bool)
    if F > 2 and fastest_percent > 0:
        speed = np.linalg.norm(np.gradient(data, axis=0), axis=2) * rate      # (F, M) m/s
        mean_speed = np.nanmean(np.where(np.isfinite(speed), speed, np.nan), axis=1)
        finite = np.isfinite(mean_speed)
        if finite.sum() > 10:
            keep &= ~finite | (mean_speed <= np.nanpercentile(mean_speed, 100 - fastest_percent))
    for side in "rl":
        hip, knee, ankle, sh = (_resolve(k, side, names) for k in ("hip", "knee", "ankle", "shoulder"))
        with np.errstate(invalid="ignore"):
            if hip and knee and ankle:
                ka = _angle(_point(data, names, hip), _point(data, names, knee), _point(data, names, ankle))
                keep &= ~(ka > large_angles)
            if sh and hip and knee:
                ha = _angle(_point(data, names, sh), _point(data, names, hip), _point(data, names, knee))
                keep &= ~(ha > large_angles)
    return keep


def robust_distance(d: np.ndarray, trimmed_percent: float = 50.0) -> float:
    """Trimmed mean of the finite values of ``d``: ``trimmed_percent`` % of the extremes removed (half each side)."""
    d = np.sort(d[np.isfinite(d)])
    if len(d) == 0:
        return float("nan")
    cut = int(np.floor(len(d) * trimmed_percent / 200.0))
    return float(d[cut:len(d) - cut].mean()) if len(d) - 2 * cut > 0 else float(np.median(d))


def segment_lengths(data: np.ndarray, names: Sequence[str], rate: float, frames: np.ndarray | None = None,
                    fastest_percent: float = 10.0, large_angles: float = 45.0, trimmed_percent: float = 50.0
                    ) -> dict[str, list[float]]:
    """Robust length (m) of every measurable landmark pair, per body group.

    Args:
        data: (F, M, 3) marker positions in metres (NaN = missing).
        names: (M,) marker names.
        rate: frame rate (Hz).
        frames: optional boolean mask (F,) of frames to use (static trial or
            time range); default: :func:`reliable_frames`.

    Returns:
        ``{group: [length of each pair]}`` (NaN when a pair is never seen).
    """
    if frames is None:
        frames = reliable_frames(data, names, rate, fastest_percent, large_angles)
        if frames.sum() < 5:
            log.warning("only %d reliable frames for scaling; using all frames", int(frames.sum()))
            frames = np.ones(len(data), dtype=bool)
    sub = data[frames]
    out = {}
    for sp in segment_pairs(names):
        out[sp.name] = [robust_distance(np.linalg.norm(_point(sub, names, a) - _point(sub, names, b), axis=1),
                                        trimmed_percent) for a, b in sp.pairs]
    return out


def model_lengths(model_points: np.ndarray, names: Sequence[str]) -> dict[str, list[float]]:
    """The same pair distances on the generic model, from its (M, 3) default-pose marker positions."""
    one = model_points[None]
    return {sp.name: [float(np.linalg.norm(_point(one, names, a) - _point(one, names, b), axis=1)[0])
                      for a, b in sp.pairs] for sp in segment_pairs(names)}


def scale_factors(measured: dict[str, list[float]], generic: dict[str, list[float]], names: Sequence[str],
                  symmetry: bool = True, fallback: float | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """One uniform factor per model body from measured / generic pair lengths.

    Args:
        measured, generic: outputs of :func:`segment_lengths` / :func:`model_lengths`.
        symmetry: average the left and right factors of each group.
        fallback: factor for groups with no measurable pair (default: the
            median of the measured factors).

    Returns:
        ``({body: factor}, {group: how it was obtained})``.
    """
    groups = {sp.name: sp for sp in segment_pairs(names)}
    ratio: dict[str, float] = {}
    for g, sp in groups.items():
        r = [m / gl for m, gl in zip(measured.get(g, []), generic.get(g, [])) if np.isfinite(m) and gl > 0]
        if r:
            ratio[g] = float(np.mean(r))
    if symmetry:
        for g in list(ratio):
            if g.endswith("_r") or g.endswith("_l"):
                other = g[:-1] + ("l" if g.endswith("r") else "r")
                vals = [ratio[x] for x in (g, other) if x in ratio]
                ratio[g] = float(np.mean(vals))
                ratio[other] = ratio[g]
    if fallback is None:
        fallback = float(np.median(list(ratio.values()))) if ratio else 1.0
    factors, how = {}, {}
    for g, sp in groups.items():
        f = ratio.get(g, fallback)
        how[g] = "measured" if g in ratio else "fallback"
        for b in sp.bodies:
            factors[b] = f
    return factors, how


def pelvis_axes(factors: dict[str, float], how: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Per-axis pelvis factors: width (Z) from the hip (or ASIS) distance, depth and height (X, Y) from the torso.

    Detector keypoints cannot measure the pelvis height (hip centres to lumbar
    joint), yet a 1 mm error there turns into about 2 deg of pelvis tilt: the
    lumbar joint sits almost straight above the hip centres, so IK can only
    absorb a height mismatch by tilting the pelvis. Tying it to the torso
    factor keeps hip-to-shoulder distances consistent.
    """
    if how.get("pelvis") == "measured" and how.get("torso") == "measured" and "pelvis" in factors:
        t = factors["torso"]
        return {"pelvis": (t, t, factors["pelvis"])}
    return {}


def estimate_height(factors: dict[str, float], model_height: float) -> float:
    """Participant height (m) implied by the leg and trunk factors (weighted by their share of stature)."""
    keys = [("femur_r", 0.42), ("femur_l", 0.42), ("tibia_r", 0.43), ("tibia_l", 0.43), ("torso", 0.6), ("pelvis", 0.15)]
    w = [(factors[k], wt) for k, wt in keys if k in factors]
    if not w:
        return model_height
    return float(model_height * sum(f * wt for f, wt in w) / sum(wt for _, wt in w))


def scale_model(model: osim.Model, factors: dict[str, float | Sequence[float]], mass: float | None = None,
                axes: dict[str, Sequence[float]] | None = None, state: osim.State | None = None) -> osim.Model:
    """Scale ``model`` in place with OpenSim (bodies, joints, splines, markers) and set its total mass.

    Args:
        factors: body name -> uniform factor (bodies not listed keep 1.0).
        axes: body name -> (fx, fy, fz) per-axis factors overriding ``factors``.
        mass: new total mass (kg), mass distribution preserved; None keeps the
            total mass unchanged.

    The default value of ``pelvis_ty`` (standing height) is multiplied by the
    mean thigh/shank factor so the default pose keeps the feet on the floor.
    ``state``: the model's working state when it already has a system (saves an ``initSystem()``).
    Scaling a scaled model again multiplies the factors (geometry; masses are kept).
    """
    state = state if state is not None else model.initSystem()
    cs = model.updCoordinateSet()
    if cs.contains("pelvis_ty"):        # before Model.scale, whose last step rebuilds the system
        leg = [factors[b] for b in ("femur_r", "femur_l", "tibia_r", "tibia_l") if b in factors]
        if leg:
            c = cs.get("pelvis_ty")
            c.setDefaultValue(c.getDefaultValue() * float(np.mean(leg)))
    ss = osim.ScaleSet()
    bodies = model.getBodySet()
    for i in range(bodies.getSize()):
        name = bodies.get(i).getName()
        f = float(factors.get(name, 1.0))
        fx, fy, fz = (float(v) for v in (axes or {}).get(name, (f, f, f)))
        sc = osim.Scale()
        sc.setSegmentName(name)
        sc.setScaleFactors(osim.Vec3(fx, fy, fz))
        sc.setApply(True)
        ss.cloneAndAppend(sc)
    # masses keep their distribution (True); a final mass of 0 skips the normalization (and one rebuild
    # of the system): the total stays as it was. Model.scale ends with a fresh system (initSystem).
    model.scale(state, ss, True, float(mass) if mass else 0.0)
    return model


def uniform_model(variant: str = "full", height: float | None = None, mass: float | None = None,
                  markerset: str | None = None) -> osim.Model:
    """The generic model scaled uniformly to ``height`` (m) and ``mass`` (kg), markers attached if asked."""
    from .markersets import attach_markers
    from .model_builder import build_model, model_height
    model = build_model(variant)
    if markerset:
        attach_markers(model, markerset)
    if height or mass:
        f = (height / model_height()) if height else 1.0
        scale_model(model, {model.getBodySet().get(i).getName(): f for i in range(model.getBodySet().getSize())},
                    mass)
    return model


def posture_ratios(observed: np.ndarray, model_pts: np.ndarray, names: Sequence[str],
                   trimmed_percent: float = 50.0, errors: dict[str, float] | None = None) -> dict[str, float]:
    """Per body group: trimmed mean over frames of observed / model pair distance, model in the IK posture.

    Args:
        observed, model_pts: (F, M, 3) observed markers and the scaled model's
            markers at the IK solution of the same frames.
        errors: if given, filled with each group's standard error of its ratio
            (robust spread over frames / sqrt(frames), averaged over the group's pairs).

    Returns:
        ``{group: ratio}`` for the groups with at least one finite pair.
    """
    out = {}
    for sp in segment_pairs(names):
        rs, ses = [], []
        for a, b in sp.pairs:
            d_obs = np.linalg.norm(_point(observed, names, a) - _point(observed, names, b), axis=1)
            d_mod = np.linalg.norm(_point(model_pts, names, a) - _point(model_pts, names, b), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = d_obs / d_mod
                r = robust_distance(ratio, trimmed_percent)
            if np.isfinite(r):
                rs.append(r)
                fin = ratio[np.isfinite(ratio)]
                q25, q75 = np.percentile(fin, [25, 75])
                ses.append((q75 - q25) / 1.349 / np.sqrt(len(fin)))
        if rs:
            out[sp.name] = float(np.mean(rs))
            if errors is not None:
                errors[sp.name] = float(np.mean(ses) / np.sqrt(len(ses)))
    return out


def apply_ratios(factors: dict[str, float], ratios: dict[str, float], how: dict[str, str], names: Sequence[str],
                 symmetry: bool = True) -> dict[str, float]:
    """Multiply the factors of measured groups by their posture ratios (left/right averaged if ``symmetry``)."""
    ratios = {g: r for g, r in ratios.items() if how.get(g) == "measured"}
    if symmetry:
        for g in list(ratios):
            if g.endswith(("_r", "_l")):
                other = g[:-1] + ("l" if g.endswith("r") else "r")
                if other in ratios:
                    ratios[g] = ratios[other] = (ratios[g] + ratios[other]) / 2
    out = dict(factors)
    for sp in segment_pairs(names):
        if sp.name in ratios:
            for b in sp.bodies:
                out[b] = factors[b] * ratios[sp.name]
    return out
