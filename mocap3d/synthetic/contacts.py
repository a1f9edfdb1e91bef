"""Geometric truth of foot contacts: when the model's sole reaches the floor and leaves it.

The synthetic body is our OpenSim model; each foot carries four floor-contact
points at sole level (heel, 1st and 5th metatarsal heads, toe tip; see
:func:`mocap3d.synthetic.body.ground_points`). A foot is on the floor while the
lowest of its points is within :data:`CONTACT_HEIGHT` of the floor (Y = 0).
Initial contact (heel strike / foot strike) is the moment that height comes
down through the threshold, toe-off the moment it goes back up; both are
interpolated linearly between samples of a 1 kHz evaluation of the motion,
so the truth does not depend on the capture's frame rate. The point that is
lowest at initial contact says how the foot landed (heel: rearfoot strike).

The grounding of the synthetic motions keeps the lowest sole point between 0
and about 3 mm above the floor in stance (a soft minimum), hence the 5 mm
threshold. What counts as a step is decided as for the detector
(:func:`mocap3d.gait.events.contact_events`): lifts shorter than 30 ms or lower
than 12 mm do not end a contact, contacts shorter than 80 ms are not steps. The
synthetic walking's swing toe passes about 1 mm above the floor at ~80 % of the
cycle (its minimum toe clearance; real walking has 1-2 cm, Winter 1992): a
67 ms touch that is not a step.

Quick start::

    cap = make_capture(2, "walking", 240, 60.0)
    truth = foot_contacts(cap)
    truth["right"]["strikes_s"], truth["right"]["toe_offs_s"], truth["right"]["strike_angle_deg"]
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .body import body_points, ground_points

CONTACT_HEIGHT = 0.005   # m above the floor: the foot is on the ground below it
TRUTH_RATE = 1000.0      # Hz at which the motion is evaluated for the truth
POINTS = ("heel", "mth1", "mth5", "toe")


def contacts_of_heights(times: np.ndarray, heights: np.ndarray, level: float = CONTACT_HEIGHT) -> dict[str, Any]:
    """Contact events of one foot from its sole points' heights ``heights`` (F, 4) m at ``times`` (F,) s.

    Returns ``{"strikes_s", "toe_offs_s", "strike_point"}``; ``strike_point`` names the lowest point
    (``heel``, ``mth1``, ``mth5``, ``toe``) at each strike.
    """
    from ..gait.events import contact_events
    low = heights.min(1)
    rate = 1.0 / float(np.median(np.diff(times)))
    on_i, off_i = contact_events(low, rate, level)
    on, off = np.interp(on_i, np.arange(len(times)), times), np.interp(off_i, np.arange(len(times)), times)
    idx = np.clip(np.searchsorted(times, on), 0, len(times) - 1)
    return {"strikes_s": on.tolist(), "toe_offs_s": off.tolist(),
            "strike_point": [POINTS[int(k)] for k in heights[idx].argmin(1)]}


def strike_angles(positions: np.ndarray, times: np.ndarray, strikes: list[float]) -> list[float]:
    """Foot strike angle (deg, toes up positive) of the sole's heel-to-toe line at each strike time (s);
    ``positions`` (F, 4, 3) m of the sole points (:data:`POINTS` order). The sole line is level when the
    foot is flat, so no flat-foot angle is subtracted (Altman & Davis 2012's definition)."""
    out = []
    for t in strikes:
        i = int(np.clip(np.searchsorted(times, t), 0, len(times) - 1))
        d = positions[i, 3] - positions[i, 0]
        out.append(float(np.degrees(np.arctan2(d[1], np.linalg.norm(d[[0, 2]])))))
    return out


def foot_contacts(capture, rate: float = TRUTH_RATE) -> dict[str, dict[str, Any]]:
    """Geometric foot-contact truth of person 0 of a :func:`~mocap3d.synthetic.make_capture` capture.

    Times are in seconds on the truth's clock (frame ``n`` of the true keypoints is at ``n / capture.rate``).
    Returns ``{"right": {...}, "left": {...}}`` as :func:`contacts_of_heights`.
    """
    from .capture import _motion_fn
    s = capture.settings
    fn = _motion_fn(s["motion"], s.get("speed"), capture.height[0], 0.0, 0.0, capture.skeleton.name)
    t = np.arange(0.0, (capture.keypoints3d.n_frames - 1) / capture.rate + 1e-9, 1.0 / rate)
    names = list(ground_points())
    xyz = body_points(fn(t), names, capture.height[0], capture.skeleton.name)
    out = {}
    for side, s_ in (("right", "r"), ("left", "l")):
        cols = [names.index(f"_ground_{p}_{s_}") for p in POINTS]
        out[side] = contacts_of_heights(t, xyz[:, cols, 1])
        out[side]["strike_angle_deg"] = strike_angles(xyz[:, cols], t, out[side]["strikes_s"])
    return out


def truth_cycles(capture) -> list[dict[str, Any]]:
    """Per-cycle gait parameters of the capture's geometric contact truth (:func:`foot_contacts`), with the gait
    report's definitions (:func:`mocap3d.gait.cycles.side_cycles`): what the report's cycles are compared with."""
    from ..gait.cycles import side_cycles
    from ..gait.events import foot_markers, pelvis_centre, walking_direction
    truth, kp, rate = foot_contacts(capture), capture.keypoints3d, capture.rate
    direction, _ = walking_direction(pelvis_centre(kp), rate)
    ev = {s: (np.asarray(truth[s]["strikes_s"]) * rate, np.asarray(truth[s]["toe_offs_s"]) * rate) for s in truth}
    rows = []
    for side, other in (("right", "left"), ("left", "right")):
        rows += side_cycles(side, *ev[side], *ev[other], kp[foot_markers(kp.names, side).heel],
                            kp[foot_markers(kp.names, other).heel], direction, rate)
    return rows
