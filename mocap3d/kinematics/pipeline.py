"""One person's kinematics: markers -> scaled model -> IK (arrays in, OpenSim objects out).

:func:`scale_from_markers` and :func:`kinematics_from_markers` are the
array-level entry points used by the stage shell and the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import opensim as osim

from ..errors import ConfigError, Mocap3dError
from ..logs import get_logger
from ..markers import Markers3D
from ..skeletons import SKELETONS, get_skeleton
from . import scaling
from .forward import marker_positions, working_state
from .ik import IKResult, solve_ik
from .markersets import (DEFAULT_PELVIS_WEIGHT, LOOSE_KEYPOINTS, _base, attach_markers, auto_pelvis_weight,
                         default_weights, marker_definitions)
from .model_builder import build_model, model_height

log = get_logger("kinematics")


@dataclass
class KinematicsOptions:
    """Settings of the kinematics of one person (see the [kinematics] section of Config.toml)."""

    variant: str = "full"
    height: float | None = None                # m, None = 'auto'
    mass: float = 70.0                          # kg
    default_height: float = 1.7
    symmetry: bool = True
    large_hip_knee_angles: float = 45.0
    trimmed_extrema_percent: float = 50.0
    fastest_frames_to_remove_percent: float = 10.0
    scaling_time_range: tuple[float, float] | None = None
    static_markers: Markers3D | None = None
    skeleton: str | None = None                 # detector skeleton of the keypoints (None = guess from names)
    osim_model: str | None = None               # user model; None = ours
    marker_mapping: dict[str, str] = field(default_factory=dict)   # trial name -> model marker name
    weights: dict[str, float] | None = None
    solver: str = "auto"
    accuracy: float = 1e-6
    constraint_weight: float = float("inf")
    min_markers: int = 6
    scaling_iterations: int = 6               # posture-corrected refinements of the scale factors
    scaling_frames_max: int = 40              # frames used by each refinement IK
    scaling_tolerance: float = 1e-3           # refinements stop when no factor changes more (relative)
    scaling_rel_cost_tol: float = 1e-4        # LM convergence of the refinement IK (relative cost decrease)
    coordinate_weights: dict[str, float] = field(default_factory=dict)   # IK coordinate tasks (OpenSim units)
    keypoint_lumbar_weight: float = 1e-5      # lumbar_extension task with detector keypoints alone (0 = off)
    keypoint_mtp_weight: float = 5e-6         # mtp_angle tasks with detector keypoints (0 = off)
    head_flexion_weight: float = 0.0          # head_flexion (upper neck) task toward 0 on our model (0 = free)
    keypoint_lumbar_range: tuple[float, float] = (-90.0, 20.0)   # deg, lumbar_extension soft limits, keypoints alone
    keypoint_lumbar_range_weight: float = 1e-2   # their weight (OpenSim units, per rad**2 outside; 0 = off)
    keypoint_placement_mm: float = 20.0       # face/hand keypoints farther from the model's place are placed (0 = off)
    lstm_pelvis_weight: float | None = None   # ASIS/PSIS *_study weight with detector keypoints; None = from the noise
    place_markers: bool = True                # move *_study markers onto the data (when keypoints come along)
    setup_dir: Path | None = None


@dataclass
class Scaled:
    """A scaled model and how it was scaled."""

    model: osim.Model
    factors: dict[str, float]
    how: dict[str, str]
    measured: dict[str, list[float]]
    generic: dict[str, list[float]]
    estimated_height: float
    frames_used: int
    markerset: str
    moved_markers: dict[str, float] = field(default_factory=dict)


def guess_skeleton(names: Sequence[str], preferred: str | None = None) -> str:
    """The detector skeleton whose keypoint names cover most of ``names`` (``preferred`` wins ties)."""
    scores = {k: len(set(names) & set(s.all_names)) for k, s in SKELETONS.items()}
    if preferred:
        try:
            key = get_skeleton(preferred).name
            scores[key] = scores.get(key, 0) + 0.5
        except Mocap3dError:
            pass
    best = max(scores, key=scores.get)
    if scores[best] < 3:
        raise Mocap3dError(f"the markers ({', '.join(list(names)[:8])}...) match no known skeleton; "
                           "set pose.pose_model, or give kinematics.osim_model with a marker_mapping")
    return best


def marker_defs_for(names: Sequence[str], skeleton: str | None) -> tuple[str, dict]:
    """(marker-set label, definitions of the markers of ``names`` that our models carry)."""
    has_lstm = any(n.endswith("_study") for n in names)
    defs: dict = {}
    label = ""
    if has_lstm:
        defs |= marker_definitions("LSTM")
        label = "LSTM"
    try:
        sk = guess_skeleton([n for n in names if not n.endswith("_study")], skeleton)
        defs |= marker_definitions(sk)
        label = label or sk
    except Mocap3dError:
        if not has_lstm:
            raise
    defs = {n: d for n, d in defs.items() if n in names}
    return label, defs


def _load_model(opts: KinematicsOptions) -> osim.Model:
    osim.Logger.setLevelString("warn")
    if opts.osim_model:
        path = Path(opts.osim_model)
        if not path.is_file():
            raise ConfigError(f"kinematics.osim_model = {opts.osim_model!r}: file not found")
        return osim.Model(str(path))
    from .setup_files import model_path
    path = model_path(opts.variant, opts.setup_dir)
    if path.is_file():
        return osim.Model(str(path))
    log.info("%s not found; building the %s model in memory", path, opts.variant)
    return build_model(opts.variant)


def prepare_model(markers: Markers3D, opts: KinematicsOptions) -> tuple[osim.Model, Markers3D, str]:
    """The generic model with the trial's markers attached, and the markers renamed/selected for it."""
    model = _load_model(opts)
    if opts.marker_mapping:
        missing = [k for k in opts.marker_mapping if k not in markers.names]
        if missing:
            log.warning("marker_mapping names not in the trial: %s", ", ".join(missing))
        keep = [n for n in markers.names if n in opts.marker_mapping]
        markers = markers.select(keep)
        markers.names = [opts.marker_mapping[n] for n in keep]
    if opts.osim_model:
        ms = model.getMarkerSet()
        present = [n for n in markers.names if ms.contains(n)]
        if len(present) < 3:
            raise ConfigError(f"kinematics.osim_model {opts.osim_model}: only {len(present)} trial markers are on "
                              "the model; give kinematics.marker_mapping {{trial name = model marker}}")
        model.initSystem()
        return model, markers.select(present), "custom"
    label, defs = marker_defs_for(markers.names, opts.skeleton)
    attach_markers(model, defs)
    return model, markers.select(list(defs)), label


def scale_from_markers(model: osim.Model, markers: Markers3D, opts: KinematicsOptions, label: str = "") -> Scaled:
    """Scale ``model`` (in place, markers attached) to the person seen in ``markers``.

    Frames: the static trial if given, else the time range if given, else the
    reliable frames of the motion itself.
    """
    names = markers.names
    data = markers.data
    frames = None
    if opts.static_markers is not None:
        st = opts.static_markers.select([n for n in names if n in opts.static_markers.names])
        names, data = st.names, st.data
        frames = np.ones(len(data), dtype=bool)
    elif opts.scaling_time_range:
        t0, t1 = opts.scaling_time_range
        frames = (markers.times >= t0) & (markers.times <= t1)
        if frames.sum() == 0:
            raise ConfigError(f"kinematics.scaling_time_range = [{t0}, {t1}] contains no frame of the trial "
                              f"({markers.times[0]:.3f}-{markers.times[-1]:.3f} s)")
    if frames is None:
        frames = scaling.reliable_frames(data, names, markers.rate, opts.fastest_frames_to_remove_percent,
                                         opts.large_hip_knee_angles)
        if frames.sum() < 5:
            log.warning("only %d reliable frames for scaling; using all frames", int(frames.sum()))
            frames = np.ones(len(data), dtype=bool)
    trusted = _trusted_weights(label, names, opts)
    # measure segments on trusted markers only (keypoints, when they come with augmented markers)
    measure = [n for n in names if trusted.get(n, 1.0) > 0 or not n.endswith("_study")]
    cols = [names.index(n) for n in measure]
    measured = scaling.segment_lengths(data[:, cols], measure, markers.rate, frames,
                                       trimmed_percent=opts.trimmed_extrema_percent)
    used = int(frames.sum())
    generic_pts = marker_positions(model, np.zeros((1, 0)), [], measure, state=working_state(model))[0]
    generic = scaling.model_lengths(generic_pts, measure)
    h_model = model_height()
    fallback = (opts.height / h_model) if opts.height else None
    factors, how = scaling.scale_factors(measured, generic, measure, opts.symmetry, fallback)
    posture = None
    if not any(v == "measured" for v in how.values()):
        f = (opts.height or opts.default_height) / h_model
        factors = {b: f for b in factors}
        log.warning("no segment could be measured from the markers; model scaled uniformly to %.2f m",
                    opts.height or opts.default_height)
    else:
        factors, posture = _refine(model, factors, how, data, names, frames, markers.rate, opts, label,
                                   measure)
    est = scaling.estimate_height(factors, h_model)
    if opts.height and abs(est - opts.height) > 0.1 * opts.height:
        log.warning("height from the markers (%.2f m) differs from participant_height (%.2f m) by more than 10%%",
                    est, opts.height)
    scaling.scale_model(model, factors, opts.mass, scaling.pelvis_axes(factors, how), state=working_state(model))
    moved = {}
    movable = [n for n in names if n.endswith("_study") and trusted.get(n, 0.0) == 0.0]
    if opts.place_markers and movable and sum(w > 0 for w in trusted.values()) >= 6:
        moved = place_markers(model, data, names, frames, markers.rate, trusted, movable, opts, posture)
    loose = [n for n in names if not n.endswith("_study") and _base(n) in LOOSE_KEYPOINTS]
    if opts.keypoint_placement_mm > 0 and loose and not opts.osim_model:
        weights = _weights_for(label, names, opts.setup_dir, opts.skeleton)
        if sum(weights.get(n, 1.0) > 0 for n in names if n not in loose) >= 6:
            placed: dict[str, float] = {}
            poses = [posture] if posture is not None else []
            for _ in range(3):                      # each pass refits the posture with the markers moved so far
                step = place_markers(model, data, names, frames, markers.rate, weights, loose, opts,
                                     poses[-1] if poses else None,
                                     opts.keypoint_placement_mm / 1000.0 if not placed else 0.005, poses)
                for n, d in step.items():
                    placed[n] = placed.get(n, 0.0) + d
                if not step:
                    break
            moved |= placed
    return Scaled(model, factors, how, measured, generic, est, used, label, moved)


def _trusted_weights(label: str, names: Sequence[str], opts: KinematicsOptions) -> dict[str, float]:
    """Weights for scaling-time IK: detector keypoints only when they come with augmented ``*_study`` markers."""
    if opts.weights is not None or label != "LSTM":
        return opts.weights if opts.weights is not None else _weights_for(label, names, opts.setup_dir, opts.skeleton)
    keypoints = [n for n in names if not n.endswith("_study")]
    if len(keypoints) < 6:
        return _weights_for(label, names, opts.setup_dir, opts.skeleton)
    skeleton = guess_skeleton(keypoints, opts.skeleton)
    w = default_weights(skeleton, keypoints)
    return {n: w.get(n, 0.0) for n in names}


def place_markers(model: osim.Model, data: np.ndarray, names: list[str], frames: np.ndarray, rate: float,
                  trusted: dict[str, float], movable: list[str], opts: KinematicsOptions,
                  initial: np.ndarray | None = None, min_move: float = 0.0,
                  solutions: list[np.ndarray] | None = None) -> dict[str, float]:
    """Move ``movable`` markers (in place) to their median observed position in their body frame.

    The body poses come from IK on the ``trusted`` markers (detector keypoints
    at joint centres) over the scaling frames, so markers whose placement on
    our model is uncertain (e.g. the augmenter's ``*_study`` markers, trained
    on another model) become consistent with this model and this person.
    ``initial``: (frames, coordinates) starting values of that IK (the last
    scaling refinement's solution on the same frames). Only markers whose
    median position lies more than ``min_move`` (m) from their current one move.
    ``solutions``: if given, the IK's coordinates are appended to it (to start a next placement from).
    The model's system is not rebuilt after the markers move (marker locations are read from their
    properties, so its working state stays usable: :func:`working_state`).

    Returns ``{marker: displacement (m)}``.
    """
    from .forward import default_q, q_indices
    idx = _scaling_subset(frames, opts)
    state = working_state(model)
    res = solve_ik(model, data[idx], names, np.arange(len(idx)) / rate, trusted, opts.accuracy,
                   opts.constraint_weight, min(opts.min_markers, 3), opts.solver, show_progress=False,
                   coordinate_tasks=_on_model(resolve_coordinate_weights(
                       opts, [n for n in names if trusted.get(n, 0) > 0]), model),
                   initial=initial if initial is not None and len(initial) == len(idx) else None, state=state,
                   backward_iterations=0)
    qi = q_indices(model, state, res.coordinates)
    q0 = default_q(model, state)
    ms = model.updMarkerSet()
    ground = model.getGround()
    cols = [names.index(n) for n in movable]
    local = np.full((len(idx), len(movable), 3), np.nan)
    frames_of = [osim.PhysicalFrame.safeDownCast(ms.get(n).getParentFrame()) for n in movable]
    for k, f in enumerate(idx):
        q = q0.copy()
        q[qi] = res.values[k]
        state.setQ(osim.Vector.createFromMat(q))
        model.realizePosition(state)
        for j, (c, frame) in enumerate(zip(cols, frames_of)):
            if np.all(np.isfinite(data[f, c])):
                local[k, j] = ground.findStationLocationInAnotherFrame(
                    state, osim.Vec3(*map(float, data[f, c])), frame).to_numpy()
    moved = {}
    for j, n in enumerate(movable):
        if np.isfinite(local[:, j, 0]).sum() < 3:
            continue
        new = np.nanmedian(local[:, j], axis=0)
        mk = ms.get(n)
        old = mk.get_location().to_numpy()
        if np.linalg.norm(new - old) <= min_move:
            continue
        mk.set_location(osim.Vec3(*map(float, new)))
        moved[n] = float(np.linalg.norm(new - old))
    if solutions is not None:
        solutions.append(res.values)
    if moved:
        worst = max(moved, key=moved.get)
        log.info("placed %d markers on the model from the data (largest move %s: %.1f mm)", len(moved), worst,
                 1000 * moved[worst])
    return moved


def _scaling_subset(frames: np.ndarray, opts: KinematicsOptions) -> np.ndarray:
    """Indices of the scaling frames used by IK: at most ``opts.scaling_frames_max``, evenly spread."""
    idx = np.flatnonzero(frames)
    if len(idx) > opts.scaling_frames_max:
        idx = idx[np.linspace(0, len(idx) - 1, opts.scaling_frames_max).round().astype(int)]
    return idx


def _refine(generic: osim.Model, factors: dict[str, float], how: dict[str, str], data: np.ndarray,
            names: list[str], frames: np.ndarray, rate: float, opts: KinematicsOptions, label: str,
            measure: list[str]) -> tuple[dict[str, float], np.ndarray | None]:
    """Correct the factors for posture: IK on the scaling frames, then compare each marker pair with the
    model's in the same posture (knee translation, trunk lean, acromion vs shoulder centre...).

    Each round's IK starts every frame from the previous round's solution, and
    the rounds stop once no factor moves by more than ``opts.scaling_tolerance``
    (relative) or a tenth of the standard error of its posture ratio over the
    frames. Returns the factors and the last IK's coordinates (frames of
    :func:`_scaling_subset`, model order) or None when no round ran.
    """
    idx = _scaling_subset(frames, opts)
    weights = _trusted_weights(label, names, opts)
    times = np.arange(len(idx)) / rate
    cols = [names.index(n) for n in measure]
    values, previous = None, None
    groups = scaling.segment_pairs(measure)
    trial_model, applied = osim.Model(generic), None      # one copy, rescaled in place by each round's ratios
    for k in range(opts.scaling_iterations):
        axes = scaling.pelvis_axes(factors, how)
        if applied is None:
            scaling.scale_model(trial_model, factors, None, axes)
        else:
            done = scaling.pelvis_axes(applied, how)
            scaling.scale_model(trial_model, {b: factors[b] / applied[b] for b in factors}, None,
                                {b: tuple(np.divide(axes[b], done[b])) for b in axes},
                                state=trial_model.updWorkingState())
        applied = dict(factors)
        res = solve_ik(trial_model, data[idx], names, times, weights, opts.accuracy, opts.constraint_weight,
                       min(opts.min_markers, 3), opts.solver, show_progress=False,
                       coordinate_tasks=opts.coordinate_weights or _on_model({"head_flexion": HEAD_LOCK}, trial_model),
                       initial=values,
                       rel_cost_tol=opts.scaling_rel_cost_tol, state=trial_model.updWorkingState(),
                       backward_iterations=0)
        values = res.values
        if res.model_points is not None and all(n in res.marker_names for n in measure):
            pts = res.model_points[:, [res.marker_names.index(n) for n in measure]]
        else:
            pts = marker_positions(trial_model, res.values, res.coordinates, measure)
        se: dict[str, float] = {}
        ratios = scaling.posture_ratios(data[idx][:, cols], pts, measure, opts.trimmed_extrema_percent, se)
        new = scaling.apply_ratios(factors, ratios, how, measure, opts.symmetry)
        # a change far below what the frames can measure (noisy markers) is not worth another round
        tol = {b: max(opts.scaling_tolerance, 0.1 * se.get(sp.name, 0.0)) for sp in groups for b in sp.bodies}
        step = {b: float(np.log(new[b] / factors[b])) for b in factors if factors[b] > 0 and new[b] > 0}
        if previous is not None:
            # the rounds converge geometrically (each correction ~0.6 of the one before): jump to the limit
            for b, v in step.items():
                rho = v / previous[b] if previous.get(b) else 0.0
                if 0.0 < rho < 0.9:
                    new[b] *= float(np.exp(v * rho / (1.0 - rho)))
            previous = None
        else:
            previous = step
        change = max((abs(new[b] / factors[b] - 1) / tol.get(b, opts.scaling_tolerance) for b in step),
                     default=0.0)
        factors = new
        if change < 1.0:
            log.debug("scale factors converged after %d refinement(s)", k + 1)
            break
    return factors, values


def kinematics_from_markers(markers: Markers3D, opts: KinematicsOptions | None = None,
                            show_progress: bool = False) -> tuple[Scaled, IKResult]:
    """Scale our model (or the user's) to ``markers`` and solve IK on all frames."""
    opts = opts or KinematicsOptions()
    model, markers, label = prepare_model(markers, opts)
    if opts.osim_model:
        scaled = Scaled(model, {}, {}, {}, {}, float("nan"), 0, label)
    else:
        scaled = scale_from_markers(model, markers, opts, label)
    pelvis_weight, weighting = opts.lstm_pelvis_weight, {}
    mixed = label == "LSTM" and any(not n.endswith("_study") for n in markers.names)
    if pelvis_weight is None and mixed and opts.weights is None:
        pelvis_weight, noise = auto_pelvis_weight(markers.data, markers.names)
        weighting = {"asis_psis_weight": round(pelvis_weight, 4), "noise_mm": noise}
        log.info("ASIS/PSIS IK weight %.3f: keypoint noise %s mm, augmented pelvis markers %s mm (spread of "
                 "lengths that should not change)", pelvis_weight, _mm(noise["keypoints"]),
                 _mm(noise["pelvis_markers"]))
    weights = opts.weights if opts.weights is not None else _weights_for(label, markers.names, opts.setup_dir,
                                                                         opts.skeleton, pelvis_weight)
    result = solve_ik(scaled.model, markers.data, markers.names, markers.times, weights, opts.accuracy,
                      opts.constraint_weight, opts.min_markers, opts.solver, show_progress,
                      _on_model(resolve_coordinate_weights(opts, markers.names), scaled.model),
                      state=working_state(scaled.model),
                      coordinate_limits=resolve_coordinate_limits(opts, markers.names))
    result.weighting = weighting
    return scaled, result


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _weights_for(label: str, names: Sequence[str], folder: Path | None, skeleton: str | None = None,
                 pelvis_weight: float | None = None) -> dict[str, float]:
    """IK weights: :func:`default_weights`, overridden by ``OpenSim_Setup/ik_setup_<SET>.xml`` when present.

    With augmented markers and detector keypoints together, the keypoints keep
    their skeleton's weights (file ``ik_setup_<SKELETON>.xml``) and the study
    markers their mixed-mode defaults (pelvis only, ``pelvis_weight``).
    """
    from .setup_files import ik_setup_path, read_ik_weights
    if not label or label == "custom":
        return {}
    weights = default_weights(label, list(names), DEFAULT_PELVIS_WEIGHT if pelvis_weight is None else pelvis_weight)
    keypoints = [n for n in names if not n.endswith("_study")]
    mixed = label == "LSTM" and len(keypoints) >= 6
    key = guess_skeleton(keypoints, skeleton) if mixed else label
    path = ik_setup_path(key, folder)
    if path.is_file():
        file_w = read_ik_weights(path)
        weights |= {n: w for n, w in file_w.items() if n in names and (not mixed or not n.endswith("_study"))}
    return weights


# keypoint_lumbar_weight is the coordinate task used with detector keypoints alone: their pelvis
# points (both hips and the mid-hip) lie on one line, so pelvis tilt trades against hip flexion and
# lumbar extension at almost no marker cost and drifts with noise and scaling errors (Demo capture:
# hip flexion RMSE 12-23 deg without it, about 3 deg with it). The pull toward lumbar_extension = 0 is
# weak: on noise-free markers of a trunk flexed by 5 deg it biases hip flexion by 0.2-0.4 deg. Weights
# are in OpenSim's units (marker cost = weighted mean squared error in m^2); Pose2Sim's IK setups put
# 0.1 on its lumbar flexion, which nearly locks it. The scaling refinement IK runs without it.


def _auto_or_float(value: Any) -> float | None:
    return None if value in (None, "auto") else float(value)


def _range_deg(value: Any, key: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or float(value[0]) > float(value[1]):
        raise ConfigError(f"kinematics.{key} = {value!r}; give [low, high] in degrees, low <= high")
    return float(value[0]), float(value[1])


def _coordinate_weights(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"kinematics.coordinate_weights = {value!r}; use a table {{coordinate = weight}}, "
                          "e.g. {lumbar_extension = 0.1}, or {}")
    return {str(k): float(v) for k, v in value.items()}


def resolve_coordinate_weights(opts: KinematicsOptions, names: Sequence[str]) -> dict[str, float]:
    """Coordinate tasks for a marker list: ``opts.coordinate_weights`` when given; else, on our model,
    ``{lumbar_extension: opts.keypoint_lumbar_weight}`` without pelvis markers (ASIS/PSIS: detector keypoints,
    alone or with arm-only augmented markers as with BlazePose) and
    ``{mtp_angle_r/l: opts.keypoint_mtp_weight}`` whenever detector keypoints are used; and
    ``{head_flexion: opts.head_flexion_weight}`` always (callers drop it on a model without it)."""
    if opts.coordinate_weights:
        return dict(opts.coordinate_weights)
    if opts.osim_model:
        return {}
    study = [n for n in names if n.endswith("_study")]
    pelvis_markers = [n for n in study if "ASIS" in n or "PSIS" in n]   # what fixes the pelvis tilt
    tasks = {}
    if not pelvis_markers and opts.keypoint_lumbar_weight > 0:
        tasks["lumbar_extension"] = float(opts.keypoint_lumbar_weight)
    if len(names) - len(study) >= 6 and opts.keypoint_mtp_weight > 0:
        tasks |= {"mtp_angle_r": float(opts.keypoint_mtp_weight), "mtp_angle_l": float(opts.keypoint_mtp_weight)}
    if opts.head_flexion_weight > 0:
        tasks["head_flexion"] = float(opts.head_flexion_weight)
    return tasks


#: head_flexion task weight of the scaling refinement IK: the head stays on one neck joint there (it measures
#: segment lengths, which the upper neck's nod does not change; freeing it raised the synthetic Demo's hip error).
HEAD_LOCK = 100.0


def _on_model(tasks: dict[str, float], model: osim.Model) -> dict[str, float]:
    """``tasks`` without the coordinates ``model`` does not have (e.g. head_flexion on an older model file)."""
    cs = model.getCoordinateSet()
    return {k: v for k, v in tasks.items() if cs.contains(k)}


def resolve_coordinate_limits(opts: KinematicsOptions, names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Soft coordinate limits (:func:`.ik.solve_ik`): with detector keypoints alone on our model (no
    ASIS/PSIS), lumbar_extension outside ``opts.keypoint_lumbar_range`` (deg) costs
    ``opts.keypoint_lumbar_range_weight`` * (distance outside, rad)**2."""
    if opts.osim_model or opts.keypoint_lumbar_range_weight <= 0 or any(
            ("ASIS" in n or "PSIS" in n) and n.endswith("_study") for n in names):
        return {}
    low, high = np.radians(opts.keypoint_lumbar_range)
    return {"lumbar_extension": (float(opts.keypoint_lumbar_range_weight), float(low), float(high))}


def options_from_config(config: dict[str, Any], person: int = 0, base_dir: Path | None = None) -> KinematicsOptions:
    """:class:`KinematicsOptions` from a merged config (``[kinematics]``, ``[project]``, ``[pose]``)."""
    kin = config.get("kinematics", {}) or {}
    proj = config.get("project", {}) or {}

    def per_person(value, key):
        if isinstance(value, (list, tuple)):
            if not value:
                return None
            return value[min(person, len(value) - 1)]
        return value

    h = per_person(proj.get("participant_height", "auto"), "participant_height")
    height = None if h in (None, "auto") else float(h)
    mass = float(per_person(proj.get("participant_mass", 70.0), "participant_mass") or 70.0)
    rng = kin.get("scaling_time_range", []) or []
    if rng and len(rng) != 2:
        raise ConfigError(f"kinematics.scaling_time_range = {rng!r}; give [start_s, end_s] or []")
    cw = kin.get("constraint_weight", "inf")
    model = kin.get("osim_model", "") or None
    if model and base_dir is not None and not Path(model).is_absolute():
        model = str(base_dir / model)
    return KinematicsOptions(
        variant="simple" if kin.get("use_simple_model", False) else "full",
        height=height, mass=mass, default_height=float(kin.get("default_height", 1.7)),
        symmetry=bool(kin.get("right_left_symmetry", True)),
        large_hip_knee_angles=float(kin.get("large_hip_knee_angles", 45)),
        trimmed_extrema_percent=float(kin.get("trimmed_extrema_percent", 50)),
        fastest_frames_to_remove_percent=float(kin.get("fastest_frames_to_remove_percent", 10)),
        scaling_time_range=(float(rng[0]), float(rng[1])) if rng else None,
        skeleton=(config.get("pose", {}) or {}).get("pose_model"),
        osim_model=model, marker_mapping=dict(kin.get("marker_mapping", {}) or {}),
        solver=str(kin.get("ik_solver", "auto")), accuracy=float(kin.get("ik_accuracy", 1e-6)),
        constraint_weight=float(cw) if cw not in ("inf", None) else float("inf"),
        min_markers=int(kin.get("min_markers_per_frame", 6)),
        place_markers=bool(kin.get("marker_placement", True)),
        coordinate_weights=_coordinate_weights(kin.get("coordinate_weights", {}) or {}),
        keypoint_lumbar_weight=float(kin.get("keypoint_lumbar_weight", 1e-5)),
        keypoint_mtp_weight=float(kin.get("keypoint_mtp_weight", 5e-6)),
        head_flexion_weight=float(kin.get("head_flexion_weight", 0.0)),
        keypoint_lumbar_range=_range_deg(kin.get("keypoint_lumbar_range", [-90.0, 20.0]), "keypoint_lumbar_range"),
        keypoint_lumbar_range_weight=float(kin.get("keypoint_lumbar_range_weight", 1e-2)),
        keypoint_placement_mm=float(kin.get("keypoint_placement_mm", 20.0)),
        lstm_pelvis_weight=_auto_or_float(kin.get("lstm_pelvis_weight", "auto")))
