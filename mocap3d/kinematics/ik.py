"""Inverse kinematics: OpenSim's in-memory ``InverseKinematicsSolver`` or the fast LM solver.

Both minimize OpenSim's IK objective (weighted marker distances plus
optional coordinate tasks). ``solver="opensim"``: markers go straight from
numpy into a ``TimeSeriesTableVec3`` (Units = m) and the solver tracks frame
by frame (accuracy 1e-6 by default: OpenSim's 1e-5 leaves ~4e-4 rad).
``solver="fast"`` (:mod:`.lm_solver`): Levenberg-Marquardt on Simbody's
station Jacobians, ~10x faster, converged to the same minimum; used by
``"auto"`` unless the model has constraints. Missing markers (NaN) are left
out of their frames; frames with fewer than ``min_markers`` markers are not
solved and their coordinates are interpolated from the neighbouring solved
frames; both are reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import opensim as osim

from ..errors import Mocap3dError
from ..logs import get_logger, progress
from .forward import q_indices

log = get_logger("kinematics")

#: fast IK: LM iterations per frame of the backward sweep after the forward pass
#: (0 = no sweep); see :func:`_backward_sweep`
BACKWARD_ITERATIONS = 2

#: the backward sweep skips a frame whose start lies this close to the forward solution in every coordinate
#: (rad or m): both chains are in the same minimum there
SWEEP_SAME = 0.05


@dataclass
class IKResult:
    """IK output.

    Attributes:
        times: (F,) s.
        coordinates: N coordinate names (model order).
        values: (F, N) coordinate values in model units (rad, m).
        rotational: (N,) True for rotational coordinates.
        marker_names: M markers used by the solver.
        marker_errors: (F, M) distance model marker - observed marker (m), NaN when missing.
        solved: (F,) False for frames that had too few markers (values interpolated).
        missing: ``{marker: number of frames it was NaN}``.
        ignored_markers: trial markers that the model does not have.
        weights: weight of each marker in ``marker_names``.
        weighting: how the caller chose weights that were measured (e.g. the noise behind the ASIS/PSIS weight).
        model_points: (F, M, 3) the model's markers of ``marker_names`` at the
            solution (m; NaN for frames not solved); fast solver only, else None.
    """

    times: np.ndarray
    coordinates: list[str]
    values: np.ndarray
    rotational: np.ndarray
    marker_names: list[str]
    marker_errors: np.ndarray
    solved: np.ndarray
    missing: dict[str, int] = field(default_factory=dict)
    ignored_markers: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    weighting: dict[str, Any] = field(default_factory=dict)
    model_points: np.ndarray | None = None

    @property
    def rms_error(self) -> np.ndarray:
        """(F,) RMS marker error per frame (m)."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.nanmean(self.marker_errors ** 2, axis=1))

    @property
    def max_error(self) -> np.ndarray:
        """(F,) largest marker error per frame (m)."""
        with np.errstate(invalid="ignore"):
            return np.nanmax(np.where(np.isnan(self.marker_errors), -np.inf, self.marker_errors), axis=1)

    def degrees(self) -> np.ndarray:
        """(F, N) values with rotational coordinates in degrees (translations stay in m)."""
        out = self.values.copy()
        out[:, self.rotational] = np.degrees(out[:, self.rotational])
        return out


def markers_table(data: np.ndarray, names: Sequence[str], times: np.ndarray) -> osim.TimeSeriesTableVec3:
    """An OpenSim marker table (Units = m) from (F, M, 3) metres; NaN kept as NaN."""
    table = osim.TimeSeriesTableVec3()
    table.setColumnLabels(list(names))
    for t, row in zip(times, data):
        table.appendRow(float(t), osim.RowVectorVec3([osim.Vec3(*map(float, p)) for p in row]))
    table.addTableMetaDataString("Units", "m")
    table.addTableMetaDataString("DataRate", str(1.0 / np.median(np.diff(times)) if len(times) > 1 else 1.0))
    return table


def initial_pose(model: osim.Model, state: osim.State, names: Sequence[str], observed: np.ndarray) -> np.ndarray:
    """A Q vector close to ``observed`` (M, 3): default pose turned (pelvis_rotation) and moved onto the markers.

    Uses the Kabsch rotation between default-pose and observed markers for the
    heading; needs the gait2392 pelvis coordinate names, else returns the
    default pose.
    """
    from .forward import default_q
    q = default_q(model, state)
    cs = model.getCoordinateSet()
    if not all(cs.contains(c) for c in ("pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz")):
        return q
    ms = model.getMarkerSet()
    mk = [ms.get(n) for n in names]
    ok = np.all(np.isfinite(observed), axis=1)
    if ok.sum() < 3:
        return q

    def positions() -> np.ndarray:
        model.realizePosition(state)
        return np.array([m.getLocationInGround(state).to_numpy() for m in mk])[ok]

    obs = observed[ok]
    p0 = positions()
    a, b = p0 - p0.mean(0), obs - obs.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rot = (u @ np.diag([1, 1, d]) @ vt).T                       # model -> observed
    heading = rot @ np.array([1.0, 0.0, 0.0])
    cs.get("pelvis_rotation").setValue(state, float(np.arctan2(-heading[2], heading[0])), False)
    shift = obs.mean(0) - positions().mean(0)
    for c, s in zip(("pelvis_tx", "pelvis_ty", "pelvis_tz"), shift):
        coord = cs.get(c)
        coord.setValue(state, coord.getValue(state) + float(s), False)
    return state.getQ().to_numpy().copy()


def solve_ik(model: osim.Model, data: np.ndarray, names: Sequence[str], times: np.ndarray,
             weights: dict[str, float] | None = None, accuracy: float = 1e-6, constraint_weight: float = np.inf,
             min_markers: int = 6, solver: str = "auto", show_progress: bool = True,
             coordinate_tasks: dict[str, float] | None = None, initial: np.ndarray | None = None,
             rel_cost_tol: float | None = None, state: osim.State | None = None,
             backward_iterations: int = BACKWARD_ITERATIONS,
             coordinate_limits: dict[str, tuple[float, float, float]] | None = None) -> IKResult:
    """Solve IK frame by frame.

    Args:
        model: opensim Model carrying markers named like ``names`` (extra ones ignored).
        data: (F, M, 3) marker positions in metres, Y up, NaN = missing.
        names: (M,) marker names.
        times: (F,) seconds, strictly increasing.
        weights: marker name -> weight (default 1; 0 drops a marker).
        accuracy: OpenSim solver accuracy (its default 1e-5 is too loose).
        constraint_weight: weight of kinematic constraints (inf = enforced).
        min_markers: frames with fewer valid markers are not solved.
        solver: ``"opensim"`` (``InverseKinematicsSolver``), ``"fast"``
            (Levenberg-Marquardt on OpenSim's Jacobians, same objective, no
            constraints) or ``"auto"`` (fast unless the model has constraints).
        coordinate_tasks: coordinate name -> weight of OpenSim-style coordinate
            tasks pulling it toward its default value (cost ``w * (q - q0)**2``,
            rad or m, next to marker costs in m**2).
        initial: optional (F, N) coordinate values (model order, as in
            :attr:`IKResult.values`) each frame starts from (e.g. the solution of
            an earlier solve of the same frames); default: the previous frame's
            solution (linearly extrapolated), the first frame from the default pose.
        rel_cost_tol: fast solver only: stop a frame when an iteration lowers the
            cost by less than this fraction (default :data:`lm_solver.REL_COST_TOL`).
        state: the state of a ``model.initSystem()`` the caller has just made
            (saves initializing the system again); default: initialized here.
        backward_iterations: fast solver without ``initial`` only: LM iterations per
            frame of a backward sweep after the forward pass that keeps, per frame,
            the lower-cost solution (0 = no sweep); see :func:`_backward_sweep`.
        coordinate_limits: fast solver only: coordinate name -> (weight, low, high)
            soft limits: cost ``weight * (distance of q outside [low, high])**2``
            (rad or m), zero inside, unlike the hard range limits.

    Returns:
        :class:`IKResult`.
    """
    from . import lm_solver
    data = np.asarray(data, float)
    times = np.asarray(times, float)
    if data.ndim != 3 or data.shape[1] != len(names) or data.shape[0] != len(times):
        raise Mocap3dError(f"IK input markers {data.shape} do not match {len(names)} names and {len(times)} times")
    if solver not in ("auto", "opensim", "fast"):
        raise Mocap3dError(f"kinematics.ik_solver = {solver!r} is unknown; use 'auto', 'fast' or 'opensim'")
    ms = model.getMarkerSet()
    weights = dict(weights or {})
    use = [i for i, n in enumerate(names) if ms.contains(n) and weights.get(n, 1.0) > 0]
    ignored = [n for n in names if not ms.contains(n)]
    if ignored:
        log.info("markers not on model %s, ignored by IK: %s", model.getName(), ", ".join(ignored))
    if len(use) < 3:
        raise Mocap3dError(f"only {len(use)} of the trial's markers are on model {model.getName()!r}; "
                           "use the marker set of this skeleton or give a marker mapping")
    used_names = [names[i] for i in use]
    sub = data[:, use]
    valid = np.all(np.isfinite(sub), axis=2)                              # (F, M)
    missing = {used_names[j]: int((~valid[:, j]).sum()) for j in range(len(use)) if (~valid[:, j]).any()}
    solvable = valid.sum(axis=1) >= min(min_markers, len(use))
    if not solvable.any():
        raise Mocap3dError(f"no frame has {min_markers} or more valid markers; nothing to solve")
    frames = np.flatnonzero(solvable)
    w = np.array([float(weights.get(n, 1.0)) for n in used_names])
    if solver == "auto":
        reason = lm_solver.supports(model)
        solver = "fast" if reason is None else "opensim"
        if reason:
            log.info("OpenSim's IK solver used: %s", reason)
    state = state if state is not None else model.initSystem()
    cs = model.getCoordinateSet()
    coords = [cs.get(i).getName() for i in range(cs.getSize())]
    rotational = np.array([cs.get(i).getMotionType() == 1 for i in range(cs.getSize())])
    qidx = q_indices(model, state, coords)
    q0 = initial_pose(model, state, used_names, sub[frames[0]])
    it = progress(frames, desc=f"IK ({solver})", unit="frame") if show_progress else frames
    tasks = {k: float(v) for k, v in (coordinate_tasks or {}).items() if float(v) > 0}
    limits = {k: tuple(map(float, v)) for k, v in (coordinate_limits or {}).items() if float(v[0]) > 0}
    unknown = [k for k in list(tasks) + list(limits) if not cs.contains(k)]
    if unknown:
        raise Mocap3dError(f"kinematics.coordinate_weights names unknown coordinate(s) {', '.join(unknown)} "
                           f"of model {model.getName()!r}")
    guesses = None
    if initial is not None:
        initial = np.asarray(initial, float)
        if initial.shape != (len(times), len(coords)):
            raise Mocap3dError(f"IK initial values {initial.shape} do not match {len(times)} frames and "
                               f"{len(coords)} coordinates")
        guesses = np.repeat(q0[None], len(times), axis=0)
        guesses[:, qidx] = initial
        ok = np.all(np.isfinite(guesses), axis=1)
        guesses[~ok] = np.nan
        if ok[frames[0]]:
            q0 = guesses[frames[0]]
    points = None
    if solver == "fast":
        q, errors, points = _solve_fast(model, used_names, w, sub, frames, q0, it, tasks, guesses, rel_cost_tol, state,
                                        backward_iterations, limits)
    else:
        if limits:
            log.warning("OpenSim's IK solver has no soft coordinate limits: %s left out", ", ".join(limits))
        q, errors = _solve_opensim(model, used_names, w, sub, times, frames, q0, it, accuracy, constraint_weight,
                                   tasks)
    values = q[:, qidx]
    errors[~valid] = np.nan
    if not solvable.all():
        bad = np.flatnonzero(~solvable)
        log.warning("%d frame(s) with fewer than %d markers not solved, coordinates interpolated: %s",
                    len(bad), min_markers, _ranges(bad))
        for j in range(values.shape[1]):
            values[bad, j] = np.interp(times[bad], times[frames], values[frames, j])
    for n, c in missing.items():
        log.info("marker %s missing in %d frame(s), left out of IK there", n, c)
    return IKResult(times, coords, values, rotational, used_names, errors, solvable, missing, ignored,
                    dict(zip(used_names, w.tolist())), model_points=points)


def _solve_fast(model, names, w, sub, frames, q0, frame_iter, tasks, guesses=None, rel_cost_tol=None, state=None,
                backward_iterations=BACKWARD_ITERATIONS, limits=None):
    from .lm_solver import REL_COST_TOL, LMSolver
    solver = LMSolver(model, names, w, rel_cost_tol=REL_COST_TOL if rel_cost_tol is None else rel_cost_tol,
                      state=state)
    if tasks or limits:
        cs = model.getCoordinateSet()
        limits = limits or {}
        names = list(tasks) + list(limits)                  # a coordinate may have both
        first = q_indices(model, solver.state, list(dict.fromkeys(names)))
        idx = first[[list(dict.fromkeys(names)).index(k) for k in names]]
        targets = [cs.get(k).getDefaultValue() for k in tasks]
        solver.set_coordinate_tasks(idx, np.array(list(tasks.values()) + [v[0] for v in limits.values()]),
                                    np.array(targets + [v[1] for v in limits.values()]),
                                    np.array(targets + [v[2] for v in limits.values()]))
    q = np.full((sub.shape[0], len(q0)), np.nan)
    errors = np.full(sub.shape[:2], np.nan)
    points = np.full(sub.shape, np.nan)
    cost = np.full(sub.shape[0], np.nan)
    prev, prev2, last = q0, None, None
    for f in frame_iter:
        given = guesses is not None and np.isfinite(guesses[f, 0])
        guess = guesses[f] if given else prev if prev2 is None or last != f - 1 else 2 * prev - prev2
        q[f], errors[f] = solver.solve(guess, sub[f], None if last is not None or given else 500)
        points[f] = solver.points
        cost[f] = solver.cost
        prev2, prev, last = (prev if last == f - 1 else None), q[f], f
    replaced = 0
    if guesses is None and backward_iterations > 0:
        replaced = _backward_sweep(solver, sub, frames, q, errors, points, cost, backward_iterations)
    log.debug("fast IK: %.2f iterations per frame; backward sweep kept %d frame(s)",
              np.mean(solver.iterations), replaced)
    return q, errors, points


def _backward_sweep(solver, sub, frames, q, errors, points, cost, iterations):
    """Sweep the frames backward and keep, per frame, the lower-cost solution (in place).

    A warm start carried forward can settle in the worse of two minima (e.g. the
    pelvis rolled about the hip line) and stay there for a stretch of frames.
    The backward chain starts each frame from its own solutions of the next two
    frames (linearly extrapolated) with only ``iterations`` LM iterations (enough
    to follow a minimum it is already in), so it costs a fraction of a second pass.
    Where that start lies within :data:`SWEEP_SAME` of the forward solution in every
    coordinate, both chains are in the same minimum: the frame is not solved again
    and the chain goes on from the forward solution.

    Returns:
        number of frames whose solution was replaced.
    """
    n, nxt, nxt2 = 0, None, None
    for k in range(len(frames) - 1, -1, -1):
        f = frames[k]
        if nxt is None or frames[k + 1] != f + 1:
            nxt, nxt2 = q[f], None                  # a gap: restart the chain from the forward solution
            continue
        guess = nxt if nxt2 is None else 2 * nxt - nxt2     # linearly extrapolated, as forward
        if np.abs(guess - q[f]).max() < SWEEP_SAME:
            nxt, nxt2 = q[f], nxt                   # the chains agree here: nothing to gain from a solve
            continue
        qb, eb = solver.solve(guess, sub[f], iterations)
        nxt, nxt2 = qb, nxt
        if solver.cost < cost[f] * (1 - 1e-9):
            q[f], errors[f], points[f], cost[f] = qb, eb, solver.points, solver.cost
            n += 1
    return n


def _solve_opensim(model, names, w, sub, times, frames, q0, frame_iter, accuracy, constraint_weight, tasks):
    table = markers_table(sub[frames], names, times[frames])
    wset = osim.SetMarkerWeights()
    for n, wi in zip(names, w):
        wset.cloneAndAppend(osim.MarkerWeight(n, float(wi)))
    mref = osim.MarkersReference(table, wset)
    refs = osim.SimTKArrayCoordinateReference()
    cs = model.getCoordinateSet()
    for k, wk in tasks.items():
        ref = osim.CoordinateReference(k, osim.Constant(cs.get(k).getDefaultValue()))
        ref.setWeight(wk)
        refs.push_back(ref)
    solver = osim.InverseKinematicsSolver(model, mref, refs, float(constraint_weight))
    solver.setAccuracy(float(accuracy))
    state = model.initSystem()
    state.setQ(osim.Vector.createFromMat(q0))
    q = np.full((sub.shape[0], state.getNQ()), np.nan)
    errors = np.full(sub.shape[:2], np.nan)
    order = {n: j for j, n in enumerate(names)}
    errs = osim.SimTKArrayDouble()
    solver_order = None
    for k, f in enumerate(frame_iter):
        state.setTime(float(times[f]))
        if k == 0:
            solver.assemble(state)
        else:
            solver.track(state)
        q[f] = state.getQ().to_numpy()
        solver.computeCurrentMarkerErrors(errs)
        if solver_order is None:
            solver_order = [order[solver.getMarkerNameForIndex(i)] for i in range(solver.getNumMarkersInUse())]
        errors[f, solver_order] = [errs.getElt(i) for i in range(errs.size())]
    return q, errors


def _ranges(idx: np.ndarray) -> str:
    """'3-7, 12' from sorted indices."""
    if len(idx) == 0:
        return ""
    parts, start, prev = [], idx[0], idx[0]
    for i in list(idx[1:]) + [None]:
        if i is None or i != prev + 1:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            if i is not None:
                start = i
        if i is not None:
            prev = i
    return ", ".join(parts)
