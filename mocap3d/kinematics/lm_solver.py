"""Fast marker IK: Levenberg-Marquardt on OpenSim's own kinematics.

Minimizes the same objective as OpenSim's ``InverseKinematicsSolver``
(sum over markers of weight * squared distance model marker - observed
marker) for models without kinematic constraints, but with Gauss-Newton
steps built from Simbody's analytic station Jacobian
(``SimbodyMatterSubsystem.calcStationJacobian``) instead of a quasi-Newton
optimizer: 2-5 iterations per frame from the previous frame's solution,
converged to 1e-10 rad. Positions come from ``Marker.getLocationInGround``
after ``realizePosition``, so joint definitions (CustomJoint splines,
offsets, scaling) are OpenSim's.

The same solver fits a model to one camera's 2D keypoints
(:meth:`LMSolver.set_camera`, ``solve(..., pixels=...)``): reprojection
residuals in pixels next to (optional, per-axis) 3D marker residuals, with the
pinhole projection's derivative chained onto the same station Jacobian.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import opensim as osim

from ..errors import Mocap3dError

try:    # the bindings' own C entry points: a third of the Python wrappers' cost per marker and frame
    from opensim._simbody import MatrixBaseDouble__to_numpy as _matrix_to_numpy
    from opensim._simbody import SimbodyMatterSubsystem_calcStationJacobian as _station_jacobian
    from opensim._simbody import State_setQ as _set_q
    from opensim._simbody import Vec3__to_numpy as _vec3_to_numpy
    from opensim._simbody import Vector_createFromMat as _vector
    from opensim._simulation import Model_realizePosition as _realize_position
    from opensim._simulation import Point_getLocationInGround as _location_in_ground
    _FAST_BINDINGS = True
except ImportError:  # pragma: no cover - other builds of the bindings
    _FAST_BINDINGS = False


def supports(model: osim.Model) -> str | None:
    """None if the model can be solved here, else the reason (enabled constraints)."""
    state = model.getWorkingState() if model.hasSystem() else model.initSystem()
    cs = model.getConstraintSet()
    enabled = [cs.get(i).getName() for i in range(cs.getSize()) if cs.get(i).isEnforced(state)]
    if enabled:
        return f"model has enforced constraints ({', '.join(enabled[:3])}...)"
    return None


#: Largest Levenberg-Marquardt damping (relative to diag(J'J)) a frame starts with: the damping reached
#: at the end of a frame is carried to the next one, but a large value comes from that frame's own
#: ill-determined directions (e.g. toes against ankle with one toe keypoint) and would make the next
#: frame crawl; capped, each frame starts close to a Gauss-Newton step (real demos: 16 % fewer iterations).
MAX_START_DAMPING = 1e-3

#: Default relative cost decrease below which a frame is converged: on noisy markers the last
#: iterations only move coordinates that the markers barely determine (less than their uncertainty).
REL_COST_TOL = 1e-4


class LMSolver:
    """Frame-by-frame Levenberg-Marquardt IK for one model and marker list.

    Args:
        model: opensim Model (system initialized here); its markers are looked up by name.
        marker_names: (M,) markers, all on the model.
        weights: (M,) non-negative weights.
        tol: convergence threshold on the largest coordinate step (rad or m).
        rel_cost_tol: also stop when an iteration lowers the cost by less than
            this fraction (noisy data: the remaining steps are in directions the
            markers barely determine, far below their uncertainty).
        max_iter: iterations per frame.
        clamp: keep joint coordinates (all but the root joint's) inside their
            ranges, which also stops a first frame from converging to a
            non-physiological local minimum.
        normalize: divide the marker cost by the sum of the weights in use
            (OpenSim's IK); False keeps ``weight * distance**2`` as is (for
            costs mixed with pixel residuals).
        state: the state of a ``model.initSystem()`` just made by the caller
            (saves initializing the system again); default: initialized here.
    """

    def __init__(self, model: osim.Model, marker_names: Sequence[str], weights: np.ndarray,
                 tol: float = 1e-10, max_iter: int = 60, clamp: bool = True, rel_cost_tol: float = 1e-6,
                 normalize: bool = True, state: osim.State | None = None) -> None:
        self.model = model
        self.state = state if state is not None else model.initSystem()
        model.realizePosition(self.state)
        self.matter = model.getMatterSubsystem()
        ms = model.getMarkerSet()
        self.markers = [ms.get(n) for n in marker_names]
        self.sqrt_w = np.sqrt(np.asarray(weights, float))
        self.tol, self.max_iter, self.rel_cost_tol = tol, max_iter, rel_cost_tol
        self.mobods = osim.SimTKArrayMobilizedBodyIndex()
        self.stations = osim.SimTKArrayVec3()
        for mk in self.markers:
            frame = osim.PhysicalFrame.safeDownCast(mk.getParentFrame())
            base = frame.findBaseFrame()
            self.mobods.push_back(frame.getMobilizedBodyIndex())
            loc = frame.findStationLocationInAnotherFrame(self.state, mk.get_location(), base)
            self.stations.push_back(loc)
        self.J = osim.Matrix()
        self.nq, self.nu = self.state.getNQ(), self.state.getNU()
        self.n_identity = self._n_is_identity()
        cs = model.getCoordinateSet()
        self.lower = np.full(self.nq, -np.inf)
        self.upper = np.full(self.nq, np.inf)
        if clamp:
            from .forward import q_indices
            names = [cs.get(i).getName() for i in range(cs.getSize()) if self._bounded(cs.get(i))]
            if names:
                idx = q_indices(model, self.state, names)
                self.lower[idx] = [cs.get(n).getRangeMin() for n in names]
                self.upper[idx] = [cs.get(n).getRangeMax() for n in names]
        self.iterations: list[int] = []
        self.normalize = normalize
        self.camera: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.damping = 1e-6                     # Levenberg-Marquardt damping (relative to diag(J'J))
        self.points = np.full((len(self.markers), 3), np.nan)   # model markers at the last solution (m)
        self.set_coordinate_tasks(np.zeros(0), np.zeros(0), np.zeros(0))

    def set_camera(self, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> None:
        """Pinhole camera for reprojection residuals: K (3, 3) px, world->camera R (3, 3) and t (3,) m.

        Pixels given to :meth:`solve` must be undistorted (distortion removed, same K).
        """
        self.camera = (np.asarray(K, float), np.asarray(R, float), np.asarray(t, float))

    def _project(self, p: np.ndarray, derivative: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Pixels (M, 2) of points p (M, 3) and d(pixel)/d(point) (M, 2, 3) (None unless ``derivative``)."""
        K, R, t = self.camera
        xc = p @ R.T + t
        z = np.maximum(xc[:, 2], 1e-6)[:, None]
        f = K[[0, 1], [0, 1]]
        n = xc[:, :2] / z                                        # normalized image coordinates
        u = n * f + K[[0, 1], [2, 2]]
        if not derivative:
            return u, None
        # d(u_i)/dp = f_i / z * (R_i - n_i R_2), rows R_i of the world->camera rotation
        return u, (f / z)[:, :, None] * (R[:2] - n[:, :, None] * R[2])

    @staticmethod
    def _bounded(coord: osim.Coordinate) -> bool:
        """Joint coordinates are kept in their ranges; the root joint's (pelvis) are free."""
        lo, hi = coord.getRangeMin(), coord.getRangeMax()
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            return False
        return coord.getJoint().getParentFrame().findBaseFrame().getName() != "ground"

    def _n_is_identity(self) -> bool:
        if self.nq != self.nu:
            return False
        u = osim.Vector.createFromMat(np.linspace(0.1, 1.0, self.nu))
        out = osim.Vector()
        self.model.realizePosition(self.state)
        self.matter.multiplyByN(self.state, False, u, out)
        return bool(np.allclose(out.to_numpy(), u.to_numpy()))

    def positions(self, q: np.ndarray) -> np.ndarray:
        """(M, 3) marker positions in ground at Q vector ``q``."""
        state = self.state
        if _FAST_BINDINGS:
            _set_q(state, _vector(q))
            _realize_position(self.model, state)
            return np.concatenate([_vec3_to_numpy(_location_in_ground(mk, state), 3) for mk in self.markers]
                                  ).reshape(-1, 3)
        state.setQ(osim.Vector.createFromMat(q))
        self.model.realizePosition(state)
        return np.array([mk.getLocationInGround(state).to_numpy() for mk in self.markers])

    def set_coordinate_tasks(self, q_index: np.ndarray, weights: np.ndarray, targets: np.ndarray,
                             upper: np.ndarray | None = None) -> None:
        """Coordinate tasks as in OpenSim IK: add ``weight * (q - target)**2`` (rad or m) to the cost.

        With ``upper`` (same length, >= targets), task k is a soft limit instead: zero while
        ``targets[k] <= q <= upper[k]`` and ``weight * (distance to that band)**2`` outside it
        (``upper = targets`` for a plain task; -inf/inf for a one-sided limit).
        """
        if len(q_index) and not self.n_identity:
            raise Mocap3dError("coordinate tasks need a model whose coordinate rates equal its speeds; "
                               "use kinematics.ik_solver = 'opensim'")
        self.task_q = np.asarray(q_index, dtype=int)
        self.task_sqrt_w = np.sqrt(np.asarray(weights, float))
        self.task_target = np.asarray(targets, float)
        self.task_upper = self.task_target if upper is None else np.asarray(upper, float)
        self.task_banded = bool(np.any(self.task_upper != self.task_target))
        self.task_plain = self.task_upper == self.task_target        # (T,) plain tasks: rows never zero
        rows = np.zeros((len(self.task_q), self.nu))
        rows[np.arange(len(self.task_q)), self.task_q] = self.task_sqrt_w   # dq = du (checked in __init__)
        self.task_rows = rows

    def _task_offset(self, q: np.ndarray) -> np.ndarray:
        """(T,) q - nearest point of each task's band [target, upper] (rad or m)."""
        v = q[self.task_q]
        if not self.task_banded:
            return v - self.task_target
        return v - np.minimum(np.maximum(v, self.task_target), self.task_upper)     # np.clip's value, cheaper

    def _task_jacobian(self, q: np.ndarray) -> np.ndarray:
        """(T, NU) task rows at ``q``: a soft limit's row is zero inside its band."""
        if not self.task_banded:
            return self.task_rows
        return self.task_rows * ((self._task_offset(q) != 0) | self.task_plain)[:, None]

    def _residual(self, w3: np.ndarray, p: np.ndarray, obs: np.ndarray, q: np.ndarray,
                  px: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        if px is None and self.task_q.size:         # markers then tasks, in one new array
            n3 = w3.size
            r = np.empty(n3 + self.task_q.size)
            np.subtract(p, obs, out=r[:n3])
            r[:n3] *= w3
            r[n3:] = self._task_offset(q)
            r[n3:] *= self.task_sqrt_w
            return r
        r = w3 * (p - obs)
        if px is not None:
            u, _ = self._project(p.reshape(-1, 3), derivative=False)
            r = np.concatenate([r, (px[0] * (u - px[1])).ravel()])
        if self.task_q.size:
            r = np.concatenate([r, self.task_sqrt_w * self._task_offset(q)])
        return r

    def _jacobian(self) -> np.ndarray:
        """(3M, NU) station Jacobian of the markers at the realized state (a new array)."""
        if _FAST_BINDINGS:
            _station_jacobian(self.matter, self.state, self.mobods, self.stations, self.J)
            out = np.empty((3 * len(self.markers), self.nu))     # a whole array: the binding ignores views
            _matrix_to_numpy(self.J, out)
            return out
        self.matter.calcStationJacobian(self.state, self.mobods, self.stations, self.J)
        return self.J.to_numpy()

    def _free(self, q: np.ndarray, g: np.ndarray) -> np.ndarray:
        """(NU,) mask of the coordinates a step may move: not held at a range limit by the gradient ``g``.

        A coordinate at its limit whose descent direction points outside is left
        out of the step (active set); clipping it afterwards would distort the
        Gauss-Newton step of the others and cost the solver rejected steps.
        """
        if not self.n_identity:
            return np.ones(self.nu, dtype=bool)
        span = 1e-9 * np.maximum(1.0, np.abs(q))
        low, high = q <= self.lower + span, q >= self.upper - span
        if not (low.any() or high.any()):           # the usual case: no coordinate at a limit
            return np.ones(self.nu, dtype=bool)
        held = (low & (g > 0)) | (high & (g < 0))
        return ~held

    def _dq(self, du: np.ndarray) -> np.ndarray:
        if self.n_identity:
            return du
        out = osim.Vector()
        self.matter.multiplyByN(self.state, False, osim.Vector.createFromMat(du), out)
        return out.to_numpy()

    def solve(self, q0: np.ndarray, observed: np.ndarray, max_iter: int | None = None,
              pixels: np.ndarray | None = None, pixel_weights: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Best Q vector for one frame and the per-marker errors (m).

        Args:
            q0: (NQ,) initial guess.
            observed: (M, 3) observed positions; NaN entries are left out (a row
                with only y finite pulls only the height, e.g. a foot on the floor).
            pixels: (M, 2) undistorted pixels seen by the camera of
                :meth:`set_camera` (NaN = missing); residual ``pixel_weights *
                (projection - pixels)`` per marker (weights (M,), 1/px).

        Returns:
            q (NQ,), errors (M,) 3D distance over the observed axes (NaN for missing markers).
        """
        comp = np.isfinite(observed) & (self.sqrt_w > 0)[:, None]
        valid = comp.any(1)
        px = None
        if pixels is not None:
            if self.camera is None:
                raise Mocap3dError("LMSolver.solve got pixels but no camera; call set_camera first")
            pw = np.where(np.isfinite(pixels).all(1), np.asarray(pixel_weights, float), 0.0)
            px = (pw[:, None], np.nan_to_num(np.asarray(pixels, float)))
        if not valid.any() and (px is None or not (px[0] > 0).any()):
            raise Mocap3dError("IK frame has no valid marker")
        # marker cost normalized by the sum of the weights in use, as Simbody's Markers goal does, so
        # coordinate-task weights mean what they mean in OpenSim's IK
        norm = np.sqrt(np.sum(self.sqrt_w[valid] ** 2)) if self.normalize and valid.any() else 1.0
        w3 = (np.repeat(self.sqrt_w, 3) * comp.ravel()) / norm
        obs = np.where(comp, observed, 0.0).ravel()
        q = np.clip(q0, self.lower, self.upper)
        p = self.positions(q).ravel()
        r = self._residual(w3, p, obs, q, px)
        cost = r @ r
        lam, nu = self.damping, 2.0             # damping carried over from the previous frame (capped)
        n3 = w3.size
        jbuf = np.empty((n3 + self.task_q.size, self.nu))      # weighted marker rows, then the task rows
        jbuf[n3:] = self.task_rows
        w3col = w3[:, None]
        it = 0
        for it in range(1, (max_iter or self.max_iter) + 1):
            if px is None:                      # markers and coordinate tasks: task rows are constant
                J = jbuf
                if self.task_banded:
                    J[n3:] = self._task_jacobian(q)
                np.multiply(w3col, self._jacobian(), out=J[:n3])
            else:
                J3 = self._jacobian()
                J = w3[:, None] * J3
                _, d = self._project(p.reshape(-1, 3))
                Jp = np.matmul(d, J3.reshape(len(d), 3, -1)) * px[0][:, :, None]
                J = np.vstack([J, Jp.reshape(-1, J3.shape[1])])
                if self.task_q.size:
                    J = np.vstack([J, self._task_jacobian(q)])
            H = J.T @ J
            g = J.T @ r
            diag = H.diagonal().copy()
            reg = 1e-9 * (diag.max() if diag.size else 1.0)
            free = self._free(q, g)
            every = bool(free.all())                # the usual case: no copies of the free block
            if every:
                Hf, gf, df = H, g, diag
            else:
                fi = np.flatnonzero(free)
                Hf, gf, df = H[fi[:, None], fi], g[fi], diag[fi]
                du = np.zeros_like(g)
            stride = len(df) + 1                  # flat stride of the diagonal
            improved = dirty = False
            for _ in range(12):
                A = Hf.copy()
                A.reshape(-1)[::stride] += lam * df + reg
                if every:
                    du = -np.linalg.solve(A, gf)
                else:
                    du[fi] = -np.linalg.solve(A, gf)
                predicted = -(2 * (g @ du) + du @ H @ du)        # linearized cost decrease
                if predicted <= self.rel_cost_tol * cost or np.abs(du).max() < self.tol:
                    break                                       # nothing left worth a step
                q_new = np.minimum(np.maximum(q + self._dq(du), self.lower), self.upper)
                p_new = self.positions(q_new).ravel()
                r_new = self._residual(w3, p_new, obs, q_new, px)
                cost_new = r_new @ r_new
                if cost_new <= cost:
                    improved = True
                    break
                dirty = True
                lam, nu = lam * nu, nu * 2.0
            if not improved:
                if dirty:
                    self.positions(q)         # leave the state at the best point
                break
            step = np.abs(q_new - q).max()
            decrease = cost - cost_new
            q, p, r, cost = q_new, p_new, r_new, cost_new
            gain = decrease / predicted                     # Nielsen's damping update
            lam, nu = max(lam * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 1e-9), 2.0
            if step < self.tol or cost < 1e-24 or decrease <= self.rel_cost_tol * cost:
                break
        self.iterations.append(it)
        self.damping = min(lam, MAX_START_DAMPING)
        self.points = p.reshape(-1, 3)
        self.cost = float(cost)                   # final weighted cost of this frame (m**2, normalized)
        err = np.sqrt(np.sum(np.where(comp, (p - obs).reshape(-1, 3), 0.0) ** 2, axis=1))
        err[~valid] = np.nan
        return q, err
