"""Walking from a measured normal gait cycle (``normative_walking``), next to the parametric ``walking``.

``motion.walking`` passes smooth curves through a handful of normative facts
(peak values and their timing). Real walking has more in it: the pelvis
turns, drops and tilts with its own timing and higher harmonics, the hip
rotates through the cycle, the knee's loading response and the ankle's
push-off have their measured shapes. This motion takes pelvis tilt,
obliquity (list) and rotation and the hip (flexion, adduction, rotation),
knee and ankle angles from a measured mean cycle of adult normal walking,
as 12-harmonic Fourier series (:data:`CYCLE`, degrees, phase 0 = right heel
strike, the left side shifted by half a cycle).

Source of the curves: the normal gait cycle distributed with OpenSim's Python
tutorials (opensim-core, ``Bindings/Python/tutorials/resources/Tutorial 4/
normal_gait.mot``, 51 samples at 2 % of the cycle, gait2392 coordinates).
The coefficients below are our Fourier analysis of those samples (largest
deviation from the samples 0.02-0.4 deg); the knee sign is turned to ours
(flexion positive). The pelvis frames of gait2392 and of our model differ,
so the pelvis tilt keeps its measured variation about the mean tilt of
:data:`motion.WALK_TRUNK`; the lumbar joint counter-rotates the pelvis
(trunk upright in the room, as in that file) about the lumbar posture of
``WALK_TRUNK``. Subtalar, mtp, arm, neck angles and the pelvis translations
come from ``motion.WALK`` / ``WALK_TRUNK``.
"""
from __future__ import annotations

import numpy as np

from .motion import MOTIONS, WALK, WALK_TRUNK, Motion, _assemble, eval_curve, periodic_curve

#: Fourier coefficients (a0, a1, b1, ..., a12, b12) in degrees of one gait cycle (phase in cycles from right
#: heel strike); per-side coordinates are the right side's.
CYCLE: dict[str, tuple[float, ...]] = {
    "pelvis_list": (0.224, -1.646, -2.625, 0.020, -0.096, 1.069, -0.263, 0.003, -0.052, 0.033, 0.074, -0.006,
                    -0.017, -0.007, -0.011, -0.011, -0.016, -0.008, -0.006, -0.009, -0.015, -0.014, -0.010, -0.009,
                    -0.009),
    "pelvis_rotation": (-0.680, 1.609, 2.670, -0.012, 0.226, 0.616, -0.120, 0.024, 0.173, 0.256, 0.143, 0.025,
                        0.093, 0.028, 0.123, 0.032, 0.061, 0.013, 0.062, 0.033, 0.049, 0.029, 0.040, 0.034, 0.035),
    "pelvis_tilt": (-1.995, 0.123, -0.004, -0.003, 0.459, 0.005, -0.015, -0.049, 0.024, 0.008, 0.014, -0.009,
                    -0.045, 0.002, 0.006, -0.000, -0.010, -0.002, 0.007, 0.003, 0.004, 0.002, 0.003, 0.002, 0.005),
    "hip_flexion": (7.687, 20.705, -3.797, -3.693, -0.952, 0.075, 1.564, -0.114, -0.141, -0.184, 0.198, 0.095,
                    0.038, -0.029, -0.025, 0.023, -0.000, 0.015, -0.010, 0.014, -0.012, 0.004, -0.001, 0.013, -0.002),
    "hip_adduction": (1.704, 0.524, 4.064, 0.155, -0.687, -1.215, 0.379, 0.080, 0.017, -0.148, -0.187, -0.025,
                      0.030, 0.039, -0.038, -0.007, -0.000, 0.017, 0.003, -0.002, -0.002, 0.002, 0.003, -0.003,
                      -0.001),
    "hip_rotation": (0.003, -0.437, 2.330, 0.196, 2.145, 0.146, 0.622, 0.129, -0.224, -0.648, -0.122, 0.007,
                     -0.060, -0.312, -0.355, -0.235, 0.061, 0.003, -0.027, -0.091, -0.030, -0.029, -0.000, -0.012,
                     -0.042),
    "knee_angle": (20.305, -1.814, -19.382, -13.836, 8.289, 0.007, 4.508, -0.703, 0.501, -0.340, 0.815, 0.236,
                   0.148, -0.010, -0.015, 0.066, 0.030, 0.064, -0.003, 0.027, -0.012, 0.001, 0.003, 0.011, 0.009),
    "ankle_angle": (1.117, -2.311, 5.018, 0.895, -5.808, -3.592, 0.521, 1.841, -0.054, -0.389, -1.083, 0.351,
                    0.386, 0.417, -0.501, -0.076, -0.032, 0.211, -0.007, 0.012, -0.087, 0.015, 0.022, 0.019, -0.021),
}
_PELVIS = ("pelvis_list", "pelvis_rotation", "pelvis_tilt")
_LUMBAR = {"pelvis_list": "lumbar_bending", "pelvis_rotation": "lumbar_rotation", "pelvis_tilt": "lumbar_extension"}


def normative_walking(times: np.ndarray, speed: float = 1.3, height: float = 1.75,
                      x0: float | None = None) -> Motion:
    """Level walking along +X with the measured cycle of :data:`CYCLE` (cadence and path as ``motion.walking``).

    Args:
        times: (F,) seconds.
        speed: m/s; the cycle lasts 120 / cadence s with ``cadence = (65 + 35 speed) sqrt(1.75 / height)``.
        height: participant height (m), scales the pelvis translations.
        x0: pelvis_tx at t = 0 (default: the path is centred on the trial).

    Returns:
        :class:`~mocap3d.synthetic.motion.Motion` (degrees, metres), events ``right_heel_strike`` and ``period``.
    """
    times = np.asarray(times, float)
    cadence = (65 + 35 * speed) * np.sqrt(1.75 / height)
    period = 120.0 / cadence
    if x0 is None:
        x0 = -speed * (times[-1] + times[0]) / 2
    phase = times / period
    vals: dict[str, np.ndarray] = {}
    for base, pts in WALK.items():                                     # subtalar, mtp, arms: parametric facts
        c = periodic_curve(pts)
        vals[f"{base}_r"], vals[f"{base}_l"] = eval_curve(c, phase), eval_curve(c, phase + 0.5)
    for name, pts in WALK_TRUNK.items():
        v = eval_curve(periodic_curve(pts), phase)
        vals[name] = v * height / 1.75 if name in ("pelvis_ty", "pelvis_tz") else v
    for name, coeffs in CYCLE.items():
        c = np.asarray(coeffs, float)
        if name in _PELVIS:
            variation = eval_curve(c, phase) - c[0]
            lumbar = _LUMBAR[name]
            vals[name] = periodic_curve(WALK_TRUNK[name])[0] + variation if name == "pelvis_tilt" else c[0] + variation
            vals[lumbar] = periodic_curve(WALK_TRUNK[lumbar])[0] - variation
        else:
            vals[f"{name}_r"], vals[f"{name}_l"] = eval_curve(c, phase), eval_curve(c, phase + 0.5)
    vals["pelvis_tx"] = x0 + speed * times
    hs = [float(k * period) for k in range(int(np.ceil(times[-1] / period)) + 1) if k * period >= times[0]]
    return _assemble("normative_walking", times, vals, {"right_heel_strike": hs, "period": [period]})


MOTIONS.setdefault("normative_walking", normative_walking)
