"""Running: walking-or-running decision and the foot-strike pattern.

Running is told from walking by its flight phases (both feet off the ground,
Novacheck 1998, Gait & Posture 7:77): walking always has double support, so
the time from one foot's toe-off to the other foot's strike is negative in
walking and positive in running.

Foot-strike pattern from the foot strike angle (Altman & Davis 2012, Gait &
Posture 35:298): the sagittal angle of the heel-to-toe line to the floor at
initial contact minus the same angle with the foot flat (here the median over
the stance frames where both heel and toe are on the floor, which stands in for
Altman & Davis's standing calibration). Toes up is positive. Rearfoot strike
above 8.0 deg, midfoot from -1.6 to 8.0 deg, forefoot below -1.6 deg.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .events import CONTACT_HEIGHT, height_above, interp_rows

REARFOOT_DEG = 8.0     # foot strike angle above: rearfoot strike (Altman & Davis 2012)
FOREFOOT_DEG = -1.6    # below: forefoot strike


def is_running(flight_times_s: Sequence[float]) -> bool:
    """Running when most strides have a flight phase (time from toe-off to the other foot's strike > 0)."""
    f = np.asarray([x for x in flight_times_s if np.isfinite(x)], float)
    return bool(f.size and np.median(f) > 0.0)


def foot_pitch(heel: np.ndarray, toe: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Angle (F,) deg of the heel-to-toe line above the floor plane (toes up positive)."""
    d = toe - heel
    up = height_above(toe, plane, 0.0) - height_above(heel, plane, 0.0)
    horiz = np.linalg.norm(d[:, [0, 2]], axis=1)
    return np.degrees(np.arctan2(up, horiz))


def strike_angles(heel: np.ndarray, toe: np.ndarray, plane: np.ndarray, offsets: Sequence[float],
                  strikes: np.ndarray) -> np.ndarray:
    """Foot strike angle (n,) deg at each strike (sub-frame indices), flat-foot angle subtracted."""
    pitch = foot_pitch(heel, toe, plane)
    flat = (height_above(heel, plane, offsets[0]) < CONTACT_HEIGHT) & (height_above(toe, plane, offsets[1]) < CONTACT_HEIGHT)
    ref = float(np.nanmedian(pitch[flat])) if flat.any() else 0.0
    if not len(strikes):
        return np.zeros(0)
    return interp_rows(pitch[:, None], np.asarray(strikes, float))[:, 0] - ref


def strike_pattern(angle_deg: float) -> str:
    """'rearfoot', 'midfoot' or 'forefoot' from a foot strike angle (deg); '' when unknown."""
    if not np.isfinite(angle_deg):
        return ""
    return "rearfoot" if angle_deg > REARFOOT_DEG else "forefoot" if angle_deg < FOREFOOT_DEG else "midfoot"
