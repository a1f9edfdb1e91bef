"""Gait events from 3D keypoints: foot strikes (initial contacts) and toe-offs, to a fraction of a frame.

Markers (Y up, metres): heel ``RHeel`` / ``r_calc_study``; toe ``RBigToe``,
``RFootIndex`` or ``r_toe_study``; pelvis the mid-point of the hips (or of the
ASIS/PSIS markers). Skeletons without feet (``COCO_17``) fall back to the
ankles, which makes toe-off and support times approximate (reported).

Two detectors, combined (:func:`combine`):

- the coordinate method of Zeni, Richards & Higginson (2008, Gait & Posture
  27:710): along the walking direction, heel strike is when the heel is
  farthest ahead of the pelvis and toe-off when the toe is farthest behind it.
  It finds every stride robustly and times it precisely (smooth extrema,
  located to a fraction of a frame by a parabola), but off the floor contact:
  on our synthetic walking it fires ~20 ms after the heel reaches the floor and
  ~170 ms after the toe has left it;
- the foot's height above the floor (:func:`contact_events`; in the spirit of
  the kinematic methods of Hreljac & Marshall 2000 and O'Connor et al. 2007,
  Gait & Posture 25:469, which use the foot's vertical motion): the foot is on
  the floor while the lower of heel and toe is within ``CONTACT_HEIGHT`` of the
  height at which that keypoint rests (:func:`floor_plane`; markerless keypoints
  sit above the sole by an amount we do not know), crossings interpolated
  between frames. On time, but as noisy as the keypoints' heights.

The events are the coordinate method's, shifted by the median offset of the
contact events paired with them. Measured against the geometric contact truth
of the synthetic captures (:mod:`mocap3d.synthetic.contacts`), see the tests.

The walking direction is the pelvis's horizontal velocity averaged over about
a second, so curved paths work too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import Mocap3dError
from ..markers import Markers3D

SIDES = {"right": ("R", "r"), "left": ("L", "L")}     # keypoint prefix, OpenCap study-marker prefix
MIN_SPEED = 0.15          # m/s: slower than this is not walking
MIN_EVENT_INTERVAL = 0.4  # s between two events of the same kind and side (cadence < 150 strides/min)
DIRECTION_WINDOW = 1.0    # s: averaging window of the walking direction


@dataclass
class FootMarkers:
    """The marker names used for one side, and whether they are true heel/toe markers."""

    heel: str
    toe: str
    approximate: bool


def foot_markers(names: Sequence[str], side: str) -> FootMarkers:
    """Heel and toe marker names of ``side`` ('right' or 'left') among ``names``."""
    k, s = SIDES[side]
    heel = next((n for n in (f"{k}Heel", f"{s}_calc_study") if n in names), None)
    toe = next((n for n in (f"{k}BigToe", f"{k}FootIndex", f"{s}_toe_study") if n in names), None)
    if heel and toe:
        return FootMarkers(heel, toe, False)
    if f"{k}Ankle" in names:
        return FootMarkers(heel or f"{k}Ankle", toe or f"{k}Ankle", True)
    raise Mocap3dError(f"no heel, toe or ankle marker of the {side} foot among {', '.join(list(names)[:10])}...; "
                       "gait analysis needs foot keypoints (HALPE_26, BODY_25, BLAZEPOSE...) or *_study markers")


def pelvis_centre(markers: Markers3D) -> np.ndarray:
    """Pelvis centre (F, 3): mid-point of the hip keypoints, else of the four ASIS/PSIS markers."""
    for group in (("RHip", "LHip"), ("r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study")):
        if all(n in markers.names for n in group):
            return np.mean([markers[n] for n in group], axis=0)
    raise Mocap3dError("no hip keypoints (RHip, LHip) or pelvis markers (ASIS/PSIS) to locate the pelvis")


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` samples along axis 0, NaN-aware, same length (F, ...)."""
    n = max(1, int(n))
    ok = np.isfinite(x)
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), np.where(ok, x, 0.0)]), axis=0)
    k = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), ok.astype(float)]), axis=0)
    lo = np.clip(np.arange(len(x)) - n // 2, 0, len(x))
    hi = np.clip(np.arange(len(x)) + n - n // 2, 0, len(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c[hi] - c[lo]) / (k[hi] - k[lo])


def walking_direction(pelvis: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(unit horizontal walking direction (F, 3), horizontal pelvis speed (F,) m/s), averaged over ~1 s."""
    v = np.gradient(pelvis, axis=0) * rate
    v[:, 1] = 0.0
    v = moving_average(v, round(DIRECTION_WINDOW * rate))
    speed = np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / speed[:, None], speed


def refine_peak(y: np.ndarray, i: int) -> float:
    """Sub-frame position of the extremum at sample ``i`` of ``y``: vertex of the parabola through i-1, i, i+1."""
    from ..synchronization import parabolic_peak
    if i <= 0 or i >= len(y) - 1 or not np.all(np.isfinite(y[i - 1:i + 2])):
        return float(i)
    return float(i + parabolic_peak(y[i - 1], y[i], y[i + 1]))


def find_maxima(y: np.ndarray, rate: float, min_interval: float = MIN_EVENT_INTERVAL) -> np.ndarray:
    """Sub-frame indices of the gait-cycle maxima of ``y`` (F,): at least ``min_interval`` s apart and
    standing out by a quarter of the signal's 5-95 % range (small wiggles are not events)."""
    from scipy.signal import find_peaks
    ok = np.isfinite(y)
    if ok.sum() < 3:
        return np.zeros(0)
    lo, hi = np.percentile(y[ok], [5, 95])
    filled = np.where(ok, y, lo)                 # a gap never makes a peak
    idx, _ = find_peaks(filled, distance=max(1, round(min_interval * rate)), prominence=0.25 * (hi - lo))
    idx = [i for i in idx if ok[max(i - 1, 0):i + 2].all()]
    return np.array([refine_peak(y, i) for i in idx])


def zeni_events(heel: np.ndarray, toe: np.ndarray, pelvis: np.ndarray, direction: np.ndarray,
                rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(heel strikes, toe-offs) of one foot as sub-frame indices (Zeni et al. 2008; arrays (F, 3) m)."""
    ahead_heel = np.einsum("ij,ij->i", heel - pelvis, direction)
    ahead_toe = np.einsum("ij,ij->i", toe - pelvis, direction)
    return find_maxima(ahead_heel, rate), find_maxima(-ahead_toe, rate)


def interp_rows(points: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Rows of ``points`` (F, D) linearly interpolated at sub-frame indices ``at`` (n,) -> (n, D)."""
    f = np.arange(len(points))
    if not len(at):
        return np.zeros((0, points.shape[1]))
    return np.column_stack([np.interp(at, f, points[:, k]) for k in range(points.shape[1])])


CONTACT_HEIGHT = 0.005   # m above a keypoint's floor level: the foot is on the ground below it
STILL_SPEED = 0.05       # m/s: a low foot keypoint moving up or down slower than this stands on the floor
STILL_WINDOW = 0.05      # s: the vertical speed is averaged over this window before comparing it to STILL_SPEED
MIN_CONTACT = 0.08       # s: shorter contacts are noise (a stance lasts > 0.15 s even sprinting)
MIN_AIRBORNE = 0.03      # s: shorter lifts inside a contact are noise
LIFT_HEIGHT = 0.012      # m: lifts inside a contact that stay lower are noise about the threshold


def floor_plane(points: Sequence[np.ndarray], rate: float,
                groups: Sequence[int] | None = None) -> tuple[np.ndarray, list[float]]:
    """The floor seen by the foot keypoints: plane coefficients ``(a, b, c)`` of ``y = a x + b z + c``
    fitted to the keypoints (each (F, 3) m) at frames where they are low and do not move up or down, and each keypoint's height
    above that plane when on the floor (:func:`resting_level`: markerless keypoints sit some way above
    the sole). A tilted or offset world frame (a calibration whose floor is not Y = 0) is handled.
    ``groups[k]``: keypoints of one group (e.g. both heels) share one height, in the slope fit and as the
    resting height returned for each of them (pooling both feet halves the noise of that height, which
    moves every contact event: a 1.5 mm error on the heel's moves walking heel strikes by ~10 ms). The slope
    is fitted along the direction the feet travel only (across it, a straight walk spans too little to
    measure one) and only when they travel 0.5 m or more."""
    groups = list(range(len(points))) if groups is None else list(groups)
    xs, ys, zs, ids = [], [], [], []
    for k, p in enumerate(points):
        # vertical speed of the height averaged over STILL_WINDOW: keypoint noise differentiated frame to frame
        # is faster than STILL_SPEED and would pick the still frames at random
        vy = np.abs(np.gradient(moving_average(p[:, 1], max(1, round(STILL_WINDOW * rate))))) * rate
        # on the floor, a foot keypoint is within REST_RANGE of its lowest (2nd percentile) height
        low = p[:, 1] < np.nanpercentile(p[:, 1], 2) + REST_RANGE if np.isfinite(p[:, 1]).any() else np.zeros(len(p), bool)
        still = np.isfinite(vy) & (vy < STILL_SPEED) & low
        xs.append(p[still, 0]); ys.append(p[still, 1]); zs.append(p[still, 2]); ids.append(np.full(still.sum(), k))
    x, y, z, ids = map(np.concatenate, (xs, ys, zs, ids))
    if len(x) < 10:
        raise Mocap3dError("the feet never rest on the floor (no frame with a low foot keypoint moving up or down "
                           f"slower than {STILL_SPEED} m/s): cannot find the floor")
    # one offset per group, common slopes: least squares on [x, z, one-hot(group)]
    gid = np.asarray(groups)[ids]
    # the slope is measurable only along the direction the feet travel (a straight walk is ~0.2 m wide)
    xz = np.column_stack([x, z]) - [x.mean(), z.mean()]
    axis = np.linalg.svd(xz, full_matrices=False)[2][0]
    u = xz @ axis
    plane = np.zeros(3)
    if np.ptp(u) >= 0.5:
        A = np.column_stack([u, np.eye(max(groups) + 1)[gid]])
        slope = float(np.linalg.lstsq(A, y, rcond=None)[0][0])
        plane[:2] = slope * axis                        # y = slope * (axis . (x, z)) + const
    # one resting height per group (both heels, both toes): pooling the sides halves the noise of the level
    h = y - plane[0] * x - plane[1] * z
    level = {g: resting_level(h[gid == g]) for g in set(groups)}
    return plane, [level[g] for g in groups]


REST_PERCENTILE = 20      # %: a keypoint's resting height is this percentile of its heights at still frames
REST_RANGE = 0.02         # m: still frames more than this above a keypoint's lowest height are not resting


def resting_level(h: np.ndarray) -> float:
    """The height (m) at which a keypoint rests on the floor: the :data:`REST_PERCENTILE` th percentile of its
    heights ``h`` (n,) at still frames. The foot rests flat for a good part of those frames (the heel also
    rests raised in mid-stance, the toe in swing, which the percentile leaves above it); a low percentile
    such as the 5th would sink with the keypoint noise, lower the contact threshold and make strikes late
    and toe-offs early; the 25th let walking toe-offs come 5-10 ms late through the pipeline (1 px, 60 Hz;
    benchmarks/bench_gait.py)."""
    h = h[np.isfinite(h)]
    return float(np.percentile(h, REST_PERCENTILE)) if len(h) else np.nan


def height_above(p: np.ndarray, plane: np.ndarray, offset: float) -> np.ndarray:
    """Height (F,) m of keypoint positions ``p`` (F, 3) above their floor level (see :func:`floor_plane`)."""
    return p[:, 1] - plane[0] * p[:, 0] - plane[1] * p[:, 2] - offset


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def contact_events(height: np.ndarray, rate: float, level: float = CONTACT_HEIGHT,
                   flat: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(foot strikes, toe-offs) in sub-frame indices from the foot's height above the floor (F,) m.

    Contact while the height is below ``level``; crossings interpolated linearly between frames; lifts
    shorter than :data:`MIN_AIRBORNE` or lower than :data:`LIFT_HEIGHT` are bridged, contacts shorter than :data:`MIN_CONTACT` dropped. A
    contact that starts with the recording (or a gap) has no strike, one that ends with it no toe-off.
    ``flat`` (F,) bool: frames where heel and toe are both near the floor; when given, a contact must
    hold one (a swing toe skimming the floor is not a step), unless no contact of the trial does (a
    runner who never puts the heel down)."""
    ok = np.isfinite(height)
    on = ok & (height < level)
    for a, b in _runs(ok & ~on):                    # bridge short or low lifts (noise about the threshold)
        if a > 0 and b < len(on) and on[a - 1] and on[b] and \
                ((b - a) / rate < MIN_AIRBORNE or np.nanmax(height[a:b]) < LIFT_HEIGHT):
            on[a:b] = True
    strikes, offs = [], []
    runs = [(a, b) for a, b in _runs(on) if (b - a) / rate >= MIN_CONTACT]
    if flat is not None and any(flat[a:b].any() for a, b in runs):
        runs = [(a, b) for a, b in runs if flat[a:b].any()]
    for a, b in runs:
        if a > 0 and ok[a - 1]:
            h0, h1 = height[a - 1], height[a]
            strikes.append(a - 1 + (h0 - level) / (h0 - h1) if h0 != h1 else float(a))
        if b < len(on) and ok[b]:
            h0, h1 = height[b - 1], height[b]
            offs.append(b - 1 + (level - h0) / (h1 - h0) if h0 != h1 else float(b))
    return np.asarray(strikes, float), np.asarray(offs, float)


FLAT_HEIGHT = 0.015      # m: heel and toe both below this = foot flat on the floor


def foot_height(heel: np.ndarray, toe: np.ndarray, plane: np.ndarray,
                offsets: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(height (F,) m of the lower of heel and toe above their floor levels, foot flat (F,) bool)."""
    hh, ht = height_above(heel, plane, offsets[0]), height_above(toe, plane, offsets[1])
    return np.fmin(hh, ht), (hh < FLAT_HEIGHT) & (ht < FLAT_HEIGHT)


def pair_offsets(contact: np.ndarray, zeni: np.ndarray, max_gap: float) -> np.ndarray:
    """Offsets (frames) of the contact events from their nearest coordinate-method event, for the pairs
    closer than ``max_gap`` frames."""
    if not len(contact) or not len(zeni):
        return np.zeros(0)
    gap = contact - zeni[np.abs(contact[:, None] - zeni[None, :]).argmin(1)]
    return gap[np.abs(gap) < max_gap]


def combine(contact: dict[str, np.ndarray], zeni: dict[str, np.ndarray], max_gap: float) -> dict[str, np.ndarray]:
    """Events found like the coordinate method's and timed like the foot's contact with the floor, for one
    kind of event (strikes or toe-offs) of both feet (``{side: sub-frame indices}``).

    The coordinate method (Zeni et al. 2008) finds every step robustly and to a fraction of a frame (smooth
    extrema), but a few percent of the cycle away from the contact; the contact-height events are on time
    but as noisy as the foot's height, and noise or a gap can break one contact into two. So the events are
    the coordinate method's ones shifted by the median offset of the contact events paired with them
    (within ``max_gap`` frames), pooled over both feet: the offset to the floor contact comes from every
    step of the trial. With fewer than two pairs the contact events are kept."""
    gaps = np.concatenate([pair_offsets(contact[s], zeni[s], max_gap) for s in contact])
    if len(gaps) < 2 or any(len(zeni[s]) < 2 for s in zeni):
        return contact
    off = float(np.median(gaps))
    return {s: zeni[s] + off for s in zeni}
