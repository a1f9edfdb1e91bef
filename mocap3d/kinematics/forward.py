"""Forward kinematics of an OpenSim model: coordinates -> marker positions."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import opensim as osim

from ..errors import Mocap3dError
from .markersets import attach_markers


def load_model(model: str | Path | osim.Model) -> osim.Model:
    """An opensim Model from a ``.osim`` path; a Model is returned as is."""
    if isinstance(model, osim.Model):
        return model
    path = Path(model)
    if not path.is_file():
        raise Mocap3dError(f"model file {path} does not exist; build it with OpenSim_Setup/build_models.py")
    osim.Logger.setLevelString("warn")
    return osim.Model(str(path))


def working_state(model: osim.Model) -> osim.State:
    """The model's working state when it has a system (saves an ``initSystem()``, ~10 ms), else a new one.

    Only for models whose topology has not changed since their last ``initSystem()``
    (moving markers, or scaling with ``Model.scale``, which rebuilds the system itself, is fine).
    """
    return model.updWorkingState() if model.hasSystem() else model.initSystem()


def q_indices(model: osim.Model, state: osim.State, names: Sequence[str]) -> np.ndarray:
    """Index in the state's Q vector of each coordinate in ``names`` (N,)."""
    cs = model.getCoordinateSet()
    missing = [n for n in names if not cs.contains(n)]
    if missing:
        raise Mocap3dError(f"model {model.getName()!r} has no coordinate(s) {', '.join(missing)}")
    q0 = state.getQ().to_numpy().copy()
    tags = 1000.0 + np.arange(len(names))
    for n, t in zip(names, tags):
        cs.get(n).setValue(state, float(t), False)
    q = state.getQ().to_numpy()
    idx = np.array([int(np.flatnonzero(q == t)[0]) for t in tags], dtype=int)
    state.setQ(osim.Vector.createFromMat(q0))
    return idx


def default_q(model: osim.Model, state: osim.State) -> np.ndarray:
    """The Q vector of the model's default pose (NQ,)."""
    cs = model.getCoordinateSet()
    for i in range(cs.getSize()):
        c = cs.get(i)
        c.setValue(state, c.getDefaultValue(), False)
    return state.getQ().to_numpy().copy()


def marker_positions(model: str | Path | osim.Model, coordinates: np.ndarray, coordinate_names: Sequence[str],
                     marker_names: Sequence[str] | None = None, markerset: str | Path | dict | None = None,
                     state: osim.State | None = None) -> np.ndarray:
    """Marker positions in ground for a trajectory of coordinate values.

    Args:
        model: ``.osim`` path or an opensim Model (not modified unless
            ``markerset`` is given, which replaces its markers).
        coordinates: (F, N) coordinate values in model units (rad, m).
        coordinate_names: (N,) names; coordinates not listed keep their
            default values (e.g. pelvis_ty = standing height).
        marker_names: (M,) markers to return; default all markers of the model
            (after attaching ``markerset``).
        markerset: optional marker set to attach first: a name (``HALPE_26``,
            ``LSTM``...), a MarkerSet XML path or a dict name -> (body, location).
        state: the working state of ``model`` (a Model whose system is up to date, no
            ``markerset``), which saves an ``initSystem()``; its Q values are overwritten.

    Returns:
        (F, M, 3) positions in metres, ground frame (Y up).
    """
    model = load_model(model)
    if markerset is not None:
        attach_markers(model, markerset)
    coordinates = np.atleast_2d(np.asarray(coordinates, dtype=float))
    if coordinates.shape[1] != len(coordinate_names):
        raise Mocap3dError(f"coordinates have {coordinates.shape[1]} columns but {len(coordinate_names)} names")
    state = state if state is not None and markerset is None else model.initSystem()
    ms = model.getMarkerSet()
    names = list(marker_names) if marker_names is not None else [ms.get(i).getName() for i in range(ms.getSize())]
    missing = [n for n in names if not ms.contains(n)]
    if missing:
        raise Mocap3dError(f"model {model.getName()!r} has no marker(s) {', '.join(missing)}; attach a marker set")
    markers = [ms.get(n) for n in names]
    return _sweep(model, state, coordinates, coordinate_names, len(markers),
                  lambda st: [mk.getLocationInGround(st).to_numpy() for mk in markers])


def _sweep(model: osim.Model, state: osim.State, coordinates: np.ndarray, coordinate_names: Sequence[str],
           n_points: int, read) -> np.ndarray:
    """(F, K, 3): ``read(state)`` (K points) at each frame of (F, N) coordinates; others at defaults."""
    q = np.tile(default_q(model, state), (len(coordinates), 1))
    q[:, q_indices(model, state, coordinate_names)] = coordinates
    out = np.empty((len(coordinates), n_points, 3))
    for f in range(len(coordinates)):
        state.setQ(osim.Vector.createFromMat(q[f]))
        model.realizePosition(state)
        out[f] = read(state)
    return out


def body_origins(model: str | Path | osim.Model, coordinates: np.ndarray, coordinate_names: Sequence[str],
                 body_names: Sequence[str]) -> np.ndarray:
    """(F, B, 3) positions of body origins in ground (m) for (F, N) coordinates."""
    model = load_model(model)
    coordinates = np.atleast_2d(np.asarray(coordinates, dtype=float))
    state = model.initSystem()
    bodies = [model.getBodySet().get(n) for n in body_names]
    return _sweep(model, state, coordinates, coordinate_names, len(bodies),
                  lambda st: [b.getPositionInGround(st).to_numpy() for b in bodies])
