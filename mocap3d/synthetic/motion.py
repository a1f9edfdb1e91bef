"""Realistic motions as OpenSim coordinate trajectories (gait2392 / Rajagopal names).

Angles are in degrees, translations (``pelvis_tx/ty/tz``) in metres, world
frame Y up, walking along +X. Sign conventions are OpenSim's: hip flexion,
knee flexion (Rajagopal sign, flexion positive), ankle dorsiflexion, mtp
extension (toes up), arm flexion, elbow flexion are positive; pelvis_tilt is
a rotation about +Z (front up = posterior tilt positive, so the usual ~10 deg
anterior tilt of walking is -10), lumbar_extension positive for extension;
pro_sup 0 = neutral (palms facing the thighs), as in our model.

Walking and running curves are periodic functions of the gait cycle (0 % =
right heel strike), built from the normative facts listed in ``WALK`` and
``RUN`` (value in degrees at % of the gait cycle): a periodic cubic spline
through those points, then its first 8 Fourier harmonics, so the curve is
smooth (C-infinity) and periodic. The left side is the right side shifted by
50 % of the cycle. Sources of the facts: Winter (2009) "Biomechanics and motor
control of human movement" and Perry & Burnfield (2010) "Gait analysis" for
adult walking at self-selected speed; Novacheck (1998) "The biomechanics of
running" for running at about 3.5 m/s; Murray et al. (1967) for arm swing.

``pelvis_ty`` here is a prescribed excursion about standing height;
``mocap3d.synthetic.body.grounded`` corrects it so the feet meet the floor.

Quick start::

    m = make_motion("walking", n_frames=180, rate=60, speed=1.3)
    m.values[:, m.names.index("knee_angle_r")]   # (F,) degrees
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from ..errors import Mocap3dError

SIDES = ("r", "l")
#: Every coordinate a motion defines, in .mot column order.
COORDINATES: tuple[str, ...] = (
    ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz")
    + tuple(f"{c}_{s}" for s in SIDES for c in ("hip_flexion", "hip_adduction", "hip_rotation",
                                                  "knee_angle", "ankle_angle", "subtalar_angle", "mtp_angle"))
    + ("lumbar_extension", "lumbar_bending", "lumbar_rotation", "neck_flexion", "neck_bending", "neck_rotation")
    + tuple(f"{c}_{s}" for s in SIDES for c in ("arm_flex", "arm_add", "arm_rot", "elbow_flex",
                                                  "pro_sup", "wrist_flex", "wrist_dev")))
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")

# --- normative facts: (percent of gait cycle, degrees) -------------------------------------------
#: Adult walking, right side, right heel strike at 0 %.
WALK: dict[str, list[tuple[float, float]]] = {
    # hip: ~30 deg flexion at heel strike, peak extension ~-10 deg at ~50 % (terminal stance),
    # peak flexion ~35 deg at ~85 % (terminal swing).
    "hip_flexion": [(0, 30), (12, 25), (30, 8), (50, -10), (62, 0), (75, 24), (87, 34)],
    # knee: ~5 deg at heel strike, loading-response peak ~18 deg at ~15 %, near-extension ~4 deg at
    # ~40 %, ~38 deg at toe-off (~60 %), swing peak ~60 deg at ~73 %.
    "knee_angle": [(0, 5), (15, 18), (28, 10), (40, 4), (50, 12), (60, 38), (73, 60), (87, 25), (96, 4)],
    # ankle: 0 at heel strike, plantarflexion ~-6 at ~7 %, peak dorsiflexion ~10 at ~45 %,
    # peak plantarflexion ~-18 at ~62 %, back to ~0 by ~75 % (swing clearance).
    "ankle_angle": [(0, 0), (7, -6), (20, 2), (35, 7), (46, 10), (54, 2), (62, -18), (72, -6), (85, 1)],
    # hip adduction: peak adduction ~7 at ~20 % (loading), abduction ~-6 at ~70 % (swing).
    "hip_adduction": [(0, 2), (20, 7), (45, 3), (70, -6), (90, -1)],
    # hip rotation: internal ~5 in stance, external ~-6 in late stance/swing.
    "hip_rotation": [(0, 2), (25, 5), (55, -6), (80, -2)],
    # subtalar: eversion ~-5 in mid stance, inversion ~4 near toe-off.
    "subtalar_angle": [(0, 2), (25, -5), (60, 4), (85, 1)],
    # mtp: flat in stance, extension ~30 at ~55 % (heel rise to toe-off), flat in swing.
    "mtp_angle": [(0, 0), (20, 0), (40, 4), (50, 18), (56, 30), (63, 18), (72, 3), (85, 0)],
    # shoulder: extension ~-15 at ipsilateral heel strike, flexion ~15 at ~50 % (Murray 1967).
    "arm_flex": [(0, -15), (25, 0), (50, 15), (75, 0)],
    # elbow: ~15 flexion when the arm is back, ~40 when forward.
    "elbow_flex": [(0, 15), (25, 25), (55, 40), (80, 25)],
    "arm_add": [(0, -10), (50, -8)],
    "arm_rot": [(0, 0), (50, 2)],
    "pro_sup": [(0, 5), (50, 8)],
    "wrist_flex": [(0, 0), (50, 3)],
    "wrist_dev": [(0, 0), (50, 0)],
}
#: Whole-body walking coordinates (not per side): (percent, value).
WALK_TRUNK: dict[str, list[tuple[float, float]]] = {
    # pelvis: ~10 deg anterior tilt (negative) with a +-2 deg double-frequency oscillation.
    "pelvis_tilt": [(0, -10), (12, -8), (30, -11), (50, -10), (62, -8), (80, -11)],
    # pelvic obliquity +-4 deg, once per cycle (contralateral drop in single stance).
    "pelvis_list": [(0, 0), (18, 4), (50, 0), (68, -4)],
    # pelvic rotation +-4 deg: right side forward at right heel strike.
    "pelvis_rotation": [(0, 4), (50, -4)],
    # trunk counter-rotates the pelvis; small flexion-extension twice per cycle.
    "lumbar_extension": [(0, -4), (15, -6), (35, -3), (50, -4), (65, -6), (85, -3)],
    "lumbar_bending": [(0, 0), (18, -3), (50, 0), (68, 3)],
    "lumbar_rotation": [(0, -5), (50, 5)],
    "neck_flexion": [(0, 0), (50, 0)],
    # vertical pelvis excursion (m): lowest in double support (~5 %, ~55 %), highest at mid stance.
    "pelvis_ty": [(5, -0.02), (30, 0.02), (55, -0.02), (80, 0.02)],
    # lateral sway (m) toward the stance limb (right = +Z), +-2 cm.
    "pelvis_tz": [(0, 0), (25, 0.02), (50, 0), (75, -0.02)],
}
#: Running at ~3.5 m/s, stance ~40 % of the cycle (Novacheck 1998).
RUN: dict[str, list[tuple[float, float]]] = {
    "hip_flexion": [(0, 35), (20, 15), (40, -10), (60, 15), (85, 50)],
    "knee_angle": [(0, 20), (15, 42), (40, 18), (70, 95), (92, 30)],
    "ankle_angle": [(0, 5), (18, 22), (40, -22), (60, -5), (85, 5)],
    "hip_adduction": [(0, 3), (15, 9), (45, 0), (75, -7)],
    "hip_rotation": [(0, 2), (25, 5), (55, -5), (80, -2)],
    "subtalar_angle": [(0, 2), (20, -6), (45, 4), (80, 1)],
    "mtp_angle": [(0, 0), (25, 5), (38, 35), (50, 5), (70, 0)],
    "arm_flex": [(0, -30), (50, 35)],
    "elbow_flex": [(0, 80), (50, 95)],
    "arm_add": [(0, -12), (50, -8)],
    "arm_rot": [(0, 0), (50, 5)],
    "pro_sup": [(0, 5), (50, 8)],
    "wrist_flex": [(0, 0), (50, 5)],
    "wrist_dev": [(0, 0), (50, 0)],
}
#: Toe-off of running as a fraction of the cycle (Novacheck 1998: stance 0-39 %); the grounding of
#: :func:`mocap3d.synthetic.body.grounded` keeps the stance foot on the floor until then.
RUN_TOE_OFF = 0.39
RUN_TRUNK: dict[str, list[tuple[float, float]]] = {
    "pelvis_tilt": [(0, -14), (20, -11), (50, -14), (70, -11)],
    "pelvis_list": [(0, 0), (15, 6), (50, 0), (65, -6)],
    "pelvis_rotation": [(0, 8), (50, -8)],
    "lumbar_extension": [(0, -10), (20, -13), (50, -10), (70, -13)],
    "lumbar_bending": [(0, 0), (15, -4), (50, 0), (65, 4)],
    "lumbar_rotation": [(0, -10), (50, 10)],
    "neck_flexion": [(0, 0), (50, 0)],
    # lowest at mid stance (~20 %), highest in flight (~45 %); +-4 cm.
    "pelvis_ty": [(20, -0.04), (45, 0.04), (70, -0.04), (95, 0.04)],
    "pelvis_tz": [(0, 0), (20, 0.015), (50, 0), (70, -0.015)],
}


@dataclass
class Motion:
    """Coordinate trajectories of one person.

    Attributes:
        name: motion name (``walking``...).
        times: (F,) seconds.
        names: coordinate names (OpenSim).
        values: (F, N) degrees for rotations, metres for ``pelvis_t*``.
        events: named times in seconds (e.g. right heel strikes).
    """

    name: str
    times: np.ndarray
    names: list[str]
    values: np.ndarray
    events: dict[str, list[float]]

    @property
    def rate(self) -> float:
        return float(1 / np.median(np.diff(self.times))) if len(self.times) > 1 else 1.0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def at(self, times: np.ndarray) -> "Motion":
        """This motion resampled at ``times`` (s) by cubic interpolation (extrapolation clamps)."""
        t = np.clip(np.asarray(times, float), self.times[0], self.times[-1])
        vals = CubicSpline(self.times, self.values, axis=0)(t)
        return Motion(self.name, np.asarray(times, float), list(self.names), vals, dict(self.events))


def periodic_curve(points: list[tuple[float, float]], n_harmonics: int = 8) -> np.ndarray:
    """Fourier coefficients (2H+1,) of a smooth periodic curve through (percent, value) points.

    A periodic cubic spline through the points is sampled at 256 phases and its
    first ``n_harmonics`` harmonics are kept: ``a0, a1, b1, a2, b2, ...``.
    """
    pts = sorted(points)
    x = np.array([p for p, _ in pts] + [pts[0][0] + 100.0]) / 100.0
    y = np.array([v for _, v in pts] + [pts[0][1]])
    if len(pts) == 1:
        return np.array([y[0]] + [0.0] * 2 * n_harmonics)
    phase = np.arange(256) / 256
    spl = CubicSpline(x, y, bc_type="periodic")
    samples = spl((phase - x[0]) % 1.0 + x[0])
    c = np.fft.rfft(samples) / 256
    out = [c[0].real]
    for h in range(1, n_harmonics + 1):
        out += [2 * c[h].real, -2 * c[h].imag]
    return np.array(out)


def eval_curve(coeffs: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Values of Fourier coefficients from :func:`periodic_curve` at ``phase`` (cycles, any shape)."""
    phase = np.asarray(phase, float)
    out = np.full(phase.shape, coeffs[0])
    for h in range(1, (len(coeffs) - 1) // 2 + 1):
        a, b = coeffs[2 * h - 1], coeffs[2 * h]
        out = out + a * np.cos(2 * np.pi * h * phase) + b * np.sin(2 * np.pi * h * phase)
    return out


def _periodic(table: dict, trunk: dict, times: np.ndarray, period: float, speed: float,
              x0: float, height_scale: float) -> dict[str, np.ndarray]:
    phase = times / period
    vals: dict[str, np.ndarray] = {}
    for base, pts in table.items():
        c = periodic_curve(pts)
        vals[f"{base}_r"] = eval_curve(c, phase)
        vals[f"{base}_l"] = eval_curve(c, phase + 0.5)
    for name, pts in trunk.items():
        v = eval_curve(periodic_curve(pts), phase)
        vals[name] = v * height_scale if name in TRANSLATIONS else v
    vals["pelvis_tx"] = x0 + speed * times
    return vals


def _assemble(name: str, times: np.ndarray, vals: dict[str, np.ndarray], events: dict) -> Motion:
    F = len(times)
    data = np.column_stack([vals.get(c, np.zeros(F)) for c in COORDINATES])
    return Motion(name, times, list(COORDINATES), data, events)


def walking(times: np.ndarray, speed: float = 1.3, height: float = 1.75, x0: float | None = None) -> Motion:
    """Level walking along +X at ``speed`` m/s (1.0-1.5 typical) for a person ``height`` m tall.

    Cadence follows adult data (about 100 steps/min at 1.0 m/s, 114 at 1.4 m/s:
    ``cadence = 65 + 35 v``), for a 1.75 m person; stride length scales with height.
    ``pelvis_ty`` is the excursion about 0 (the body model adds standing height).
    """
    cadence = (65 + 35 * speed) * np.sqrt(1.75 / height)  # steps/min
    period = 120.0 / cadence  # s per stride
    if x0 is None:
        x0 = -speed * (times[-1] + times[0]) / 2
    vals = _periodic(WALK, WALK_TRUNK, times, period, speed, x0, height / 1.75)
    hs = [float(k * period) for k in range(int(np.ceil(times[-1] / period)) + 1) if k * period >= times[0]]
    return _assemble("walking", times, vals, {"right_heel_strike": hs, "period": [period]})


def running(times: np.ndarray, speed: float = 3.5, height: float = 1.75, x0: float | None = None) -> Motion:
    """Running along +X at ``speed`` m/s; cadence about 170 steps/min at 3.5 m/s."""
    cadence = (130 + 11.5 * speed) * np.sqrt(1.75 / height)
    period = 120.0 / cadence
    if x0 is None:
        x0 = -speed * (times[-1] + times[0]) / 2
    vals = _periodic(RUN, RUN_TRUNK, times, period, speed, x0, height / 1.75)
    hs = [float(k * period) for k in range(int(np.ceil(times[-1] / period)) + 1) if k * period >= times[0]]
    return _assemble("running", times, vals, {"right_heel_strike": hs, "period": [period]})


def _smooth_step(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """0 before t0, 1 after t1, C2-smooth (quintic) in between."""
    s = np.clip((t - t0) / (t1 - t0), 0, 1)
    return s ** 3 * (10 - 15 * s + 6 * s * s)


def squat(times: np.ndarray, height: float = 1.75, period: float = 3.0) -> Motion:
    """Repeated bodyweight squats facing +X at the walkway centre.

    Bottom position (Schoenfeld 2010 / typical deep squat): hip flexion ~100,
    knee flexion ~110, ankle dorsiflexion ~28, trunk flexion ~20 (lumbar), arms
    raised forward ~80; the pelvis drops ~0.45 m for a 1.75 m person. Each
    squat: 1 s standing, then down and up with a raised-cosine profile.
    """
    down = 0.5 - 0.5 * np.cos(2 * np.pi * np.clip((times % period - 0.5) / (period - 1.0), 0, 1))
    hs = height / 1.75
    vals = {"pelvis_ty": -0.45 * hs * down, "pelvis_tilt": -10 - 25 * down, "lumbar_extension": -2 - 20 * down}
    for s in SIDES:
        vals |= {f"hip_flexion_{s}": 5 + 95 * down, f"knee_angle_{s}": 3 + 107 * down,
                 f"ankle_angle_{s}": 2 + 26 * down, f"hip_adduction_{s}": -4 - 8 * down,
                 f"hip_rotation_{s}": -3 - 5 * down, f"arm_flex_{s}": 5 + 75 * down,
                 f"elbow_flex_{s}": 10 + 5 * down, f"arm_add_{s}": np.full_like(times, -8.0),
                 f"pro_sup_{s}": np.full_like(times, 5.0)}
    vals["pelvis_tx"] = np.zeros_like(times)
    return _assemble("squat", times, vals, {"period": [period]})


def jump(times: np.ndarray, height: float = 1.75, jump_height: float = 0.30, start: float = 0.0) -> Motion:
    """A countermovement jump at the walkway centre, countermovement from ``start + 0.5`` s.

    Phases (typical adult CMJ): countermovement 0.5 s to hip ~70, knee ~85,
    ankle ~25 deg with arms swung back (~-45); propulsion 0.3 s to full
    extension (ankle ~-30 plantarflexion) with arms forward-up (~+120); flight
    ``2 sqrt(2 h / g)`` s (~0.5 s for 0.30 m) on a ballistic parabola; landing
    absorbs to knee ~50 over 0.3 s, then stands.
    """
    g = 9.81
    t = times - start
    t_cm, t_low, t_off = 0.5, 1.0, 1.3
    flight = 2 * np.sqrt(2 * jump_height / g)
    t_land = t_off + flight
    crouch = _smooth_step(t, t_cm, t_low) - _smooth_step(t, t_low, t_off)
    push = _smooth_step(t, t_low, t_off) - _smooth_step(t, t_off + 0.05, t_off + 0.25)
    land = _smooth_step(t, t_land - 0.05, t_land + 0.15) - _smooth_step(t, t_land + 0.15, t_land + 0.8)
    hs = height / 1.75
    tau = np.clip(t - t_off, 0, flight)
    airborne = (t > t_off) & (t < t_land)
    lift = _smooth_step(t, t_low, t_off) - _smooth_step(t, t_land, t_land + 0.1)  # plantarflexed rise
    ballistic = np.where(airborne, np.sqrt(2 * g * jump_height) * tau - 0.5 * g * tau ** 2, 0.0)
    y = 0.06 * hs * lift + ballistic
    vals = {"pelvis_ty": y - 0.30 * hs * crouch - 0.18 * hs * land, "pelvis_tilt": -10 - 20 * crouch - 12 * land,
            "lumbar_extension": -3 - 25 * crouch - 15 * land, "pelvis_tx": np.zeros_like(t)}
    for s in SIDES:
        vals |= {f"hip_flexion_{s}": 3 + 67 * crouch + 45 * land - 8 * push,
                 f"knee_angle_{s}": 3 + 82 * crouch + 50 * land - 2 * push,
                 f"ankle_angle_{s}": 2 + 23 * crouch + 20 * land - 32 * push,
                 f"mtp_angle_{s}": 25 * push, f"arm_flex_{s}": -45 * crouch + 120 * push * (1 - crouch) + 20 * land,
                 f"elbow_flex_{s}": 15 + 10 * crouch, f"arm_add_{s}": np.full_like(t, -8.0),
                 f"pro_sup_{s}": np.full_like(t, 5.0)}
    return _assemble("jump", times, vals, {"take_off": [start + t_off], "landing": [start + t_land]})


MOTIONS = {"walking": walking, "running": running, "squat": squat, "jump": jump}


def make_motion(name: str = "walking", n_frames: int = 180, rate: float = 60.0, start_time: float = 0.0,
                **kwargs) -> Motion:
    """A motion by name sampled at ``rate`` Hz for ``n_frames`` frames from ``start_time``.

    ``kwargs`` go to the motion function (``speed``, ``height``, ``x0``...).
    """
    if name not in MOTIONS:
        raise Mocap3dError(f"motion {name!r} is unknown; use one of {', '.join(MOTIONS)}")
    times = start_time + np.arange(n_frames) / rate
    return MOTIONS[name](times, **kwargs)
