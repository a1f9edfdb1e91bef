"""A synthetic multi-camera capture with its exact truth: :func:`make_capture`.

Time convention (that of :class:`~mocap3d.keypoints.Keypoints2D`): camera
``c`` records its frame number ``n`` at the true time ``(n + offsets[c]) /
rate``, and the truth is sampled at ``n / rate``. Drawn offsets have
``offsets[0] = 0`` (the truth is then on the first camera's clock); a
synchronization stage must find ``offsets`` (frames, possibly fractional) up
to a common shift.
Trajectories are evaluated exactly at each camera's own times (no
interpolation), so sub-frame offsets are exact.

Quick start::

    cap = make_capture(4, "walking", n_frames=120, rate=60, noise_px=1.0, seed=0)
    cap.keypoints2d.data.shape   # (4, 120, 1, 26, 3)
    cap.keypoints3d.data.shape   # (120, 26, 3) true HALPE_26 keypoints, metres
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..camera import CameraRig
from ..errors import Mocap3dError
from ..keypoints import Keypoints2D
from ..markers import Markers3D
from ..skeletons import Skeleton, get_skeleton
from . import corruptions as cor
from .body import MARKER_NAMES, absolute_coordinates, body_points, grounded
from .motion import MOTIONS, Motion
from .rig import make_rig


@dataclass
class Capture:
    """A capture and its truth.

    Attributes:
        rig: true calibration (camera order = ``keypoints2d.cameras``).
        skeleton: the detector skeleton of the 2D keypoints.
        keypoints2d: observations (C, F, P, K, 3) as the cameras recorded them
            (each camera's own frame numbers; NaN = not detected / not recording).
        keypoints3d: true keypoints of person 0 at times n / rate (see module docstring), names
            ``skeleton.all_names`` (derived Hip/Neck included).
        markers: true anatomical markers (``*_study``) of person 0.
        motion: true OpenSim coordinates of person 0 (degrees, metres; pelvis_ty absolute).
        offsets: (C,) true time offsets in frames (see module docstring).
        identities: (C, F, P) true person index in each detection slot.
        swapped: (C, F, P) True where that detection had left/right swapped.
        recorded: (C, F) True where the camera was recording.
        persons: true keypoints of every person (index = identity).
        motions: true coordinates of every person in its own walking frame (person 1 is then
            turned by 150 deg about Y and shifted 1.5 m along X; its .mot is not written).
        height: participant heights (m) per person.
        settings: the arguments that made the capture (for the record).
    """

    rig: CameraRig
    skeleton: Skeleton
    keypoints2d: Keypoints2D
    keypoints3d: Markers3D
    markers: Markers3D
    motion: Motion
    offsets: np.ndarray
    identities: np.ndarray
    swapped: np.ndarray
    recorded: np.ndarray
    persons: list[Markers3D] = field(default_factory=list)
    motions: list[Motion] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.keypoints2d.rate


def _motion_fn(name: str, speed: float | None, height: float, x0: float, start: float, skeleton: str):
    """A function times -> grounded Motion for one person (fixed x0 so every camera sees the same path)."""
    fn = MOTIONS[name]
    kw: dict[str, Any] = {"height": height}
    if name in ("walking", "running", "normative_walking"):
        kw["x0"] = x0
        if speed is not None:
            kw["speed"] = speed
    if name == "jump":
        kw["start"] = start
    def raw(t: np.ndarray) -> Motion:
        return fn(np.asarray(t, float), **kw)
    return lambda t: grounded(raw, np.asarray(t, float), height, skeleton)


def _place(points: np.ndarray, heading_deg: float, shift: np.ndarray) -> np.ndarray:
    """Rotate points (..., 3) about Y by heading and translate."""
    a = np.radians(heading_deg)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return points @ R.T + shift


def _offsets(n_cameras: int, offsets: Sequence[float] | None, max_offset: float, subframe: bool,
             rng: np.random.Generator) -> np.ndarray:
    if offsets is not None:
        out = np.asarray(offsets, float)
        if out.shape != (n_cameras,):
            raise Mocap3dError(f"offsets has {out.size} values for {n_cameras} cameras")
        return out
    out = rng.uniform(-max_offset, max_offset, n_cameras)
    out[0] = 0.0
    return out if subframe else np.round(out)


def make_capture(n_cameras: int = 4, motion: str = "walking", n_frames: int = 120, rate: float = 60.0,
                 skeleton: str = "HALPE_26", *, height: float = 1.75, speed: float | None = None,
                 rig: CameraRig | None = None, fisheye: bool = False, distortion: bool = True,
                 noise_px: float = 0.0, occlusion: bool = True, missing: float = 0.0, missing_runs: int = 0,
                 swaps: float = 0.0, swap_runs: int = 0, second_person: bool = False,
                 second_motion: str = "walking", offsets: Sequence[float] | None = None,
                 max_offset: float = 0.0, subframe: bool = True, trim_frames: int = 0,
                 seed: int = 0) -> Capture:
    """Make a capture of ``motion`` seen by ``n_cameras`` cameras, with optional corruptions.

    Args:
        n_cameras: cameras of a :func:`~mocap3d.synthetic.rig.make_rig` rig (ignored if ``rig``).
        motion: ``walking``, ``running``, ``squat``, ``jump`` or ``normative_walking`` (a measured cycle).
        n_frames: frames per camera; rate: Hz.
        skeleton: detector skeleton of the 2D keypoints.
        height: participant height (m); speed: m/s (walking/running).
        noise_px: Gaussian pixel noise sigma (x3 on occluded keypoints).
        occlusion: lower confidence (and raise noise) of occluded keypoints
            and near the image border; if False every confidence is 0.9.
        missing: fraction of keypoints missed at random.
        missing_runs: runs (3-12 frames) per camera and person where the person is missed.
        swaps: fraction of detections with left/right swapped (single frames).
        swap_runs: runs (3-10 frames) of swapped detections per camera and person.
        second_person: a second person (``second_motion``, 1.62 m, 1.1 m/s) crosses the walkway diagonally.
        offsets: true per-camera offsets in frames; else drawn in +-``max_offset``
            (camera 0 = 0), rounded unless ``subframe``.
        trim_frames: each camera starts up to this many frames late and stops up to this many early.
        seed: random seed; the same arguments give the same capture.
    """
    if motion not in MOTIONS or second_motion not in MOTIONS:
        raise Mocap3dError(f"motion {motion!r}/{second_motion!r} unknown; use one of {', '.join(MOTIONS)}")
    if n_frames < 2 or rate <= 0:
        raise Mocap3dError(f"n_frames must be >= 2 and rate > 0 (got {n_frames}, {rate})")
    settings = {k: v for k, v in locals().items() if k not in ("rig",)}
    rng = np.random.default_rng(seed)
    rig = rig if rig is not None else make_rig(n_cameras, fisheye=fisheye, distortion=distortion, seed=seed)
    C, F = len(rig), n_frames
    sk = get_skeleton(skeleton)
    names3d = list(sk.all_names)
    det_idx = [names3d.index(n) for n in sk.names]
    off = _offsets(C, offsets, max_offset, subframe, rng)
    t_ref = np.arange(F) / rate
    duration = t_ref[-1]
    v = speed if speed is not None else (1.3 if motion in ("walking", "normative_walking") else 3.5)
    people = [_motion_fn(motion, speed, height, -v * duration / 2, 0.0, sk.name)]
    heights, place = [height], [(0.0, np.zeros(3))]
    if second_person:
        v2 = 1.1
        people.append(_motion_fn(second_motion, v2, 1.62, -v2 * duration / 2, 0.3, sk.name))
        heights.append(1.62)
        place.append((150.0, np.array([1.5, 0.0, 0.0])))  # diagonal path crossing the walkway at x = 1.5 m

    def points(p: int, t: np.ndarray, names: list[str]) -> np.ndarray:
        return _place(body_points(people[p](t), names, heights[p], sk.name), *place[p])

    P = len(people)
    # 3D keypoints at every camera's own times: (C, F, P, K3, 3)
    cam_times = (np.arange(F)[None, :] + off[:, None]) / rate
    X = np.stack([np.stack([points(p, cam_times[c], names3d) for p in range(P)], 1) for c in range(C)])
    uv = np.stack([rig[c].project(X[c]) for c in range(C)])        # (C, F, P, K3, 2)
    depth = np.stack([rig[c].world_to_camera(X[c])[..., 2] for c in range(C)])
    occ = np.zeros(depth.shape, bool)
    if occlusion:
        bones, radii = cor.bone_capsules(names3d, dict(sk.parents))
        focal = np.array([c.focal for c in rig])
        occ = np.concatenate([cor.occlusion(uv[c:c + 1], depth[c:c + 1], bones, radii, focal[c:c + 1])
                              for c in range(C)])
    uv, occ = uv[..., det_idx, :], occ[..., det_idx]
    sizes = np.array([c.size for c in rig], float)
    conf = cor.confidence(uv, occ, sizes, rng) if occlusion else \
        np.where(np.stack([c.in_image(u) for c, u in zip(rig, uv)]), 0.9, np.nan)
    xy = cor.add_noise(uv, noise_px, occ, rng)
    data = np.concatenate([xy, conf[..., None]], -1)
    data[~np.isfinite(conf)] = np.nan
    swapped = cor.swap_mask((C, F, P), swaps, swap_runs, rng)
    data = cor.swap_left_right(data, swapped, sk.swap_pairs())
    data[cor.drop_random(data, missing, rng)] = np.nan
    data[cor.drop_runs(data, missing_runs, rng)] = np.nan
    recorded = np.ones((C, F), bool)
    if trim_frames > 0:
        starts, stops = rng.integers(0, trim_frames + 1, C), rng.integers(0, trim_frames + 1, C)
        for c in range(C):
            recorded[c, :starts[c]] = False
            recorded[c, F - stops[c]:] = False
    data[~recorded] = np.nan
    identities = np.broadcast_to(np.arange(P), (C, F, P)).copy()
    if P > 1:
        data, identities = cor.shuffle_persons(data, rng)
        swapped = np.take_along_axis(swapped, identities, axis=2)
    kp2d = Keypoints2D(data, rig.names, list(sk.names), np.arange(F), rate, np.zeros(C))
    persons = [Markers3D(points(p, t_ref, names3d), names3d, rate, 0.0, 1) for p in range(P)]
    motions = [absolute_coordinates(people[p](t_ref), heights[p], sk.name) for p in range(P)]
    markers = Markers3D(points(0, t_ref, list(MARKER_NAMES)), list(MARKER_NAMES), rate, 0.0, 1)
    return Capture(rig, sk, kp2d, persons[0], markers, motions[0], off, identities, swapped, recorded,
                   persons, motions, heights, settings)
