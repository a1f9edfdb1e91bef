"""Published anthropometry used to build the generic mocap3d model.

Segment lengths, masses, centre-of-mass positions and radii of gyration are
those of the *male* reference of

    de Leva P. (1996) Adjustments to Zatsiorsky-Seluyanov's segment inertia
    parameters. J Biomech 29(9):1223-1230 (Tables 1 and 4).

Reference subject: stature 1.741 m, mass 73.0 kg. Lengths are between the
joint centres / landmarks de Leva names (e.g. thigh = hip joint centre (HJC)
to knee joint centre (KJC)); mass fractions are % of body mass; CoM positions
are % of the segment length from the proximal (cranial) end; radii of
gyration are % of the segment length about the sagittal (antero-posterior,
OpenSim X), transverse (medio-lateral, OpenSim Z) and longitudinal (OpenSim
Y) axes.

Values used (male):

=========  ======  ======  ======  ======  ======  ======  ============================
segment    L (mm)  mass %  CoM %   r_sag   r_trn   r_lon   endpoints
=========  ======  ======  ======  ======  ======  ======  ============================
head        242.9    6.94   59.76   36.2    37.6    31.2   VERT - CERV (from VERT)
UPT         242.1   15.96   29.99   71.6    45.4    65.9   CERV - XYPH
MPT         215.5   16.33   45.02   48.2    38.3    46.8   XYPH - OMPH
LPT         145.7   11.17   61.15   61.5    55.1    58.7   OMPH - MIDH
upper arm   281.7    2.71   57.72   28.5    26.9    15.8   SJC - EJC
forearm     268.9    1.62   45.74   27.6    26.5    12.1   EJC - WJC
hand         86.2    0.61   79.00   62.8    51.3    40.1   WJC - MET3
thigh       422.2   14.16   40.95   32.9    32.9    14.9   HJC - KJC
shank       434.0    4.33   44.59   25.5    24.9    10.3   KJC - LMAL
foot        258.1    1.37   44.15   25.7    24.5    12.4   HEEL - TTIP
=========  ======  ======  ======  ======  ======  ======  ============================

The torso body of the model is UPT + MPT (CERV to OMPH) and the pelvis body
is LPT; their inertias are combined with the parallel-axis theorem.

Landmarks not given by de Leva (our own stated assumptions, adult male of
1.741 m):
- hip joint centres from the mid-ASIS point by Bell et al. (1990, J Biomech
  23:617) ratios of the inter-ASIS width PW: 22 % posterior, 30 % inferior,
  36 % lateral (50 % - 14 % medial of ASIS); PW = 0.245 m (about 14 % of
  stature).
- ankle joint centre 0.070 m above the floor (about 4 % of stature, Drillis &
  Contini 1966), heel 0.065 m behind it, metatarsal heads at 73 % of the foot
  length from the heel.
- gleno-humeral centres 0.175 m lateral and 0.06 m below C7 (bi-acromial
  breadth about 0.40 m, GH centre about 0.05 m medial of the acromion).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: de Leva (1996) male reference stature and body mass.
REFERENCE_STATURE = 1.741
REFERENCE_MASS = 73.0


@dataclass(frozen=True)
class Segment:
    """One de Leva segment: length (m), mass fraction, CoM fraction, radii of gyration (fractions).

    ``radii`` is (sagittal=about X, longitudinal=about Y, transverse=about Z),
    i.e. reordered to OpenSim's body axes.
    """

    length: float
    mass_fraction: float
    com_fraction: float
    radii: tuple[float, float, float]

    def inertia(self, mass: float) -> np.ndarray:
        """Principal moments (Ixx, Iyy, Izz) in kg m^2 about the CoM for ``mass`` kg."""
        return mass * (np.asarray(self.radii) * self.length) ** 2


def _seg(length_mm: float, mass_pct: float, com_pct: float, r_sag: float, r_trn: float, r_lon: float) -> Segment:
    return Segment(length_mm / 1000.0, mass_pct / 100.0, com_pct / 100.0,
                   (r_sag / 100.0, r_lon / 100.0, r_trn / 100.0))


#: de Leva (1996) male table (see module docstring).
DE_LEVA_MALE: dict[str, Segment] = {
    "head": _seg(242.9, 6.94, 59.76, 36.2, 37.6, 31.2),
    "upper_trunk": _seg(242.1, 15.96, 29.99, 71.6, 45.4, 65.9),
    "middle_trunk": _seg(215.5, 16.33, 45.02, 48.2, 38.3, 46.8),
    "lower_trunk": _seg(145.7, 11.17, 61.15, 61.5, 55.1, 58.7),
    "upper_arm": _seg(281.7, 2.71, 57.72, 28.5, 26.9, 15.8),
    "forearm": _seg(268.9, 1.62, 45.74, 27.6, 26.5, 12.1),
    "hand": _seg(86.2, 0.61, 79.00, 62.8, 51.3, 40.1),
    "thigh": _seg(422.2, 14.16, 40.95, 32.9, 32.9, 14.9),
    "shank": _seg(434.0, 4.33, 44.59, 25.5, 24.9, 10.3),
    "foot": _seg(258.1, 1.37, 44.15, 25.7, 24.5, 12.4),
}

# Landmark assumptions (metres), see module docstring.
PELVIS_WIDTH = 0.245                     # inter-ASIS distance
HIP_FROM_MID_ASIS = np.array([-0.22 * PELVIS_WIDTH, -0.30 * PELVIS_WIDTH, 0.36 * PELVIS_WIDTH])
ANKLE_HEIGHT = 0.070
HEEL_BEHIND_ANKLE = 0.065
MTP_FRACTION_OF_FOOT = 0.73
SHOULDER_FROM_C7 = np.array([0.035, -0.060, 0.175])


def combine(parts: list[tuple[float, np.ndarray, np.ndarray]]) -> tuple[float, np.ndarray, np.ndarray]:
    """Combine (mass kg, CoM (3,), principal inertia (3,) about own CoM) parts.

    Returns total mass, CoM (3,) and diagonal inertia (3,) about the combined
    CoM (parallel-axis theorem; parts assumed aligned with the body axes).
    """
    m = sum(p[0] for p in parts)
    com = sum(p[0] * p[1] for p in parts) / m
    inertia = np.zeros(3)
    for mi, ci, ii in parts:
        d = ci - com
        inertia += ii + mi * (d @ d - d ** 2)
    return m, com, inertia
