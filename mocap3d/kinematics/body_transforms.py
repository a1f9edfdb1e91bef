"""Each body's world transform per frame, for viewers that have no OpenSim (the Blender add-on).

The kinematics stage writes ``<stem>_bodies.npz`` next to ``<stem>.mot``;
``mocap3d blender`` writes it from a ``.mot`` and its ``_scaled.osim`` when an
older run lacks it. The file is a plain numpy ``.npz`` (no pickled objects),
readable with numpy alone (``np.load(path)``):

=====================  ==========  ==============================================
key                    shape       meaning
=====================  ==========  ==============================================
``format``             ()          ``"mocap3d.body_transforms"``
``format_version``     ()          ``1`` (a reader refuses a higher major version)
``model``              ()          the model's name
``motion_file``        ()          the ``.mot`` file name it was computed from
``times``              (F,)        s
``rate``               ()          Hz (frames per second of ``times``)
``body_names``         (B,)        OpenSim body names (model order)
``parent_names``       (B,)        parent body of each body (``"ground"`` for the root)
``transforms``         (F, B, 4, 4) body frame -> ground, metres, OpenSim ground (Y up);
                                   NaN where IK left a frame undefined
``rest_transforms``    (B, 4, 4)   the same in the model's default pose (all coordinates at their defaults)
``bone_body``          (S,)        index into ``body_names`` of each bone segment
``bone_end``           (S, 3)      end of the segment in that body's frame (m); it starts
                                   at the body origin: one per child joint, or toward the
                                   body's markers for a body without children
``body_radius``        (B,)        thickness for drawing each body (m), sized from the model
``marker_names``       (M,)        the model's markers
``marker_bodies``      (M,)        index into ``body_names`` of each marker's body
``marker_locations``   (M, 3)      marker location in its body frame (m)
=====================  ==========  ==============================================
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import opensim as osim

from ..errors import Mocap3dError
from ..logs import atomic_write
from .forward import _sweep, load_model, working_state

FORMAT = "mocap3d.body_transforms"
FORMAT_VERSION = 1


def body_transforms(model: str | Path | osim.Model, coordinates: np.ndarray, coordinate_names: Sequence[str],
                    body_names: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """World transforms of the bodies for a trajectory of coordinates.

    Args:
        model: ``.osim`` path or an opensim Model.
        coordinates: (F, N) values in model units (rad, m); other coordinates keep their defaults.
        coordinate_names: (N,) names.
        body_names: bodies to return (default every body, model order).

    Returns:
        (names, (F, B, 4, 4) homogeneous body -> ground transforms, metres, Y up).
    """
    model = load_model(model)
    coordinates = np.atleast_2d(np.asarray(coordinates, dtype=float))
    state = working_state(model)
    bs = model.getBodySet()
    names = list(body_names) if body_names is not None else [bs.get(i).getName() for i in range(bs.getSize())]
    missing = [n for n in names if not bs.contains(n)]
    if missing:
        raise Mocap3dError(f"model {model.getName()!r} has no body {', '.join(missing)}")
    bodies = [bs.get(n) for n in names]
    finite = np.all(np.isfinite(coordinates), axis=1)

    def read(st):  # rows 0-2 of the rotation, then the origin, for each body
        out = []
        for b in bodies:
            tr = b.getTransformInGround(st)
            R = tr.R()
            out += [[R.get(i, j) for j in range(3)] for i in range(3)] + [tr.p().to_numpy()]
        return out

    rows = _sweep(model, state, np.where(finite[:, None], coordinates, 0.0), coordinate_names, 4 * len(bodies), read)
    rows = rows.reshape(len(coordinates), len(bodies), 4, 3)
    T = np.zeros((len(coordinates), len(bodies), 4, 4))
    T[..., :3, :3] = rows[..., :3, :]
    T[..., :3, 3] = rows[..., 3, :]
    T[..., 3, 3] = 1.0
    T[~finite] = np.nan
    return names, T


def _parents(model: osim.Model, names: list[str]) -> list[str]:
    parent = {}
    js = model.getJointSet()
    for i in range(js.getSize()):
        j = js.get(i)
        parent[j.getChildFrame().findBaseFrame().getName()] = j.getParentFrame().findBaseFrame().getName()
    return [parent.get(n, "ground") for n in names]


def _markers(model: osim.Model, names: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    ms = model.getMarkerSet()
    mk_names, mk_body, mk_loc = [], [], []
    for i in range(ms.getSize()):
        mk = ms.get(i)
        body = mk.getParentFrame().findBaseFrame().getName()
        if body not in names:
            continue
        off = osim.PhysicalFrame.safeDownCast(mk.getParentFrame()).findTransformInBaseFrame()
        mk_names.append(mk.getName())
        mk_body.append(names.index(body))
        mk_loc.append(off.shiftFrameStationToBase(mk.get_location()).to_numpy())
    return mk_names, np.array(mk_body, dtype=int), np.reshape(mk_loc, (-1, 3))


def bone_geometry(names: list[str], parents: list[str], rest: np.ndarray,
                  marker_bodies: np.ndarray, marker_locations: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bone segments sized from the model in its default pose ``rest`` (B, 4, 4).

    Returns (bone_body (S,), bone_end (S, 3) in the body frame, body_radius (B,)), metres.
    """
    index = {n: i for i, n in enumerate(names)}
    bone_body, bone_end = [], []
    for c, p in enumerate(parents):
        if p in index:  # the child's origin seen from its parent
            i = index[p]
            bone_body.append(i)
            bone_end.append(np.linalg.solve(rest[i], rest[c, :, 3])[:3])
    for i in range(len(names)):
        if i in bone_body:
            continue
        pts = marker_locations[marker_bodies == i]
        if len(pts):  # a leaf body: toward its farthest marker
            bone_body.append(i)
            bone_end.append(pts[np.argmax(np.linalg.norm(pts, axis=1))])
    bone_body_a = np.array(bone_body, dtype=int)
    bone_end_a = np.reshape(bone_end, (-1, 3))
    lengths = np.linalg.norm(bone_end_a, axis=1)
    longest = np.array([lengths[bone_body_a == i].max() if np.any(bone_body_a == i) else 0.0
                        for i in range(len(names))])
    parent_len = np.array([longest[index[p]] if p in index else 0.0 for p in parents])
    size = np.where(longest > 0, longest, 0.5 * parent_len)
    radius = np.clip(0.12 * size, 0.015, 0.08)
    return bone_body_a, bone_end_a, radius


def write_body_transforms(model: str | Path | osim.Model, times: np.ndarray, coordinates: np.ndarray,
                          coordinate_names: Sequence[str], path: str | Path, motion_file: str = "") -> Path:
    """Write ``path`` (``.npz``, format in the module docstring) for (F, N) coordinates in model units."""
    model = load_model(model)
    times = np.asarray(times, dtype=float).ravel()
    names, T = body_transforms(model, coordinates, coordinate_names)
    parents = _parents(model, names)
    cs = model.getCoordinateSet()
    all_names = [cs.get(i).getName() for i in range(cs.getSize())]
    defaults = np.array([[cs.get(n).getDefaultValue() for n in all_names]])
    _, rest = body_transforms(model, defaults, all_names)
    mk_names, mk_body, mk_loc = _markers(model, names)
    bone_body, bone_end, radius = bone_geometry(names, parents, rest[0], mk_body, mk_loc)
    dt = np.diff(times)
    rate = float(1.0 / np.median(dt)) if len(dt) and np.median(dt) > 0 else 0.0
    with atomic_write(path, "wb") as fh:
        np.savez(fh, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION), model=np.array(model.getName()),
                 motion_file=np.array(str(motion_file)), times=times, rate=np.array(rate),
                 body_names=np.array(names, dtype=str), parent_names=np.array(parents, dtype=str), transforms=T,
                 rest_transforms=rest[0],
                 bone_body=bone_body, bone_end=bone_end, body_radius=radius,
                 marker_names=np.array(mk_names, dtype=str), marker_bodies=mk_body, marker_locations=mk_loc)
    return Path(path)


def transforms_from_mot(osim_path: str | Path, mot_path: str | Path, out_path: str | Path | None = None) -> Path:
    """Write ``<mot stem>_bodies.npz`` (default next to the ``.mot``) from a ``.mot`` and its model."""
    from ..io.mot import read_mot
    mot_path = Path(mot_path)
    model = load_model(osim_path)
    table = read_mot(mot_path)
    model.initSystem()
    cs = model.getCoordinateSet()
    cols = [c for c in table.columns if cs.contains(c)]
    if not cols:
        raise Mocap3dError(f"{mot_path}: no column is a coordinate of {osim_path}; give the model that made it")
    values = np.column_stack([table[c] for c in cols])
    if table.in_degrees:
        rot = np.array([cs.get(c).getMotionType() == 1 for c in cols])  # 1 = Rotational
        values[:, rot] = np.deg2rad(values[:, rot])
    out = Path(out_path) if out_path else mot_path.with_name(f"{mot_path.stem}_bodies.npz")
    return write_body_transforms(model, table.times, values, cols, out, mot_path.name)
