"""Is a triangulated body a human body? Limb lengths and left/right symmetry.

Data whose keypoints were declared with the wrong skeleton (BODY_25 read as
BODY_25B: same count, other order) still triangulates, into a body whose
"thighs" join an ankle to an eye. The limb lengths tell: each must lie within
human bounds and match its other side. When they do not, the other skeletons
with the same number of keypoints are tried on the same data, and the one whose
body is plausible is named.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .skeletons import SKELETONS, Skeleton

# limb -> (proximal, distal) keypoint name stems, prefixed with L / R
LIMBS = {"thigh": ("Hip", "Knee"), "shank": ("Knee", "Ankle"), "upper arm": ("Shoulder", "Elbow"),
         "forearm": ("Elbow", "Wrist")}
# Median length bounds in metres: from small children (lower) to tall adults (upper), with margin.
LIMB_BOUNDS_M = {"thigh": (0.15, 0.75), "shank": (0.15, 0.75), "upper arm": (0.1, 0.55), "forearm": (0.1, 0.5)}
WIDTH_BOUNDS_M = {"hip width": (("LHip", "RHip"), (0.05, 0.6)),
                  "shoulder width": (("LShoulder", "RShoulder"), (0.1, 0.7))}
LEFT_RIGHT_TOLERANCE = 0.25      # |left - right| / mean of a limb's median lengths


def _median_length(points: np.ndarray, names: Sequence[str], a: str, b: str) -> float | None:
    if a not in names or b not in names:
        return None
    d = np.linalg.norm(points[:, names.index(a)] - points[:, names.index(b)], axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else None


def body_problems(points: np.ndarray, names: Sequence[str]) -> list[str]:
    """What is not human about the body (F, K, 3) in metres with keypoint ``names``; [] when plausible.

    Checks the median length of each limb present (:data:`LIMB_BOUNDS_M`), hip
    and shoulder widths, and that left and right limbs agree within
    :data:`LEFT_RIGHT_TOLERANCE`.
    """
    names = list(names)
    problems: list[str] = []
    for limb, (a, b) in LIMBS.items():
        lo, hi = LIMB_BOUNDS_M[limb]
        sides = {}
        for s, side in (("L", "left"), ("R", "right")):
            length = _median_length(points, names, s + a, s + b)
            if length is None:
                continue
            sides[s] = length
            if not lo <= length <= hi:
                problems.append(f"{side} {limb} {length:.2f} m")
        if len(sides) == 2 and abs(sides["L"] - sides["R"]) > LEFT_RIGHT_TOLERANCE * (sides["L"] + sides["R"]) / 2:
            problems.append(f"left/right {limb} {sides['L']:.2f}/{sides['R']:.2f} m")
    for what, ((a, b), (lo, hi)) in WIDTH_BOUNDS_M.items():
        length = _median_length(points, names, a, b)
        if length is not None and not lo <= length <= hi:
            problems.append(f"{what} {length:.2f} m")
    return problems


def likely_skeletons(points: np.ndarray, names: Sequence[str], declared: Skeleton) -> list[str]:
    """Other built-in skeletons with as many detector keypoints as ``declared`` under which the body is plausible.

    ``points`` (F, K, 3) holds ``names`` (the declared skeleton's keypoints, maybe
    with derived ones); detector keypoint j is re-read as the other skeleton's j-th name.
    """
    names = list(names)
    cols = [names.index(n) if n in names else None for n in declared.names]
    F = points.shape[0]
    det = np.stack([points[:, c] if c is not None else np.full((F, 3), np.nan) for c in cols], axis=1)
    out = []
    for other in SKELETONS.values():
        if other.name != declared.name and len(other.names) == len(declared.names):
            if not body_problems(det, other.names):
                out.append(other.name)
    return out


def skeleton_message(points: np.ndarray, names: Sequence[str], declared: Skeleton, where: str) -> str | None:
    """None when the body is plausible, else a one-line message naming the problems and the likely skeleton."""
    problems = body_problems(points, names)
    if not problems:
        return None
    shown = "; ".join(problems[:4]) + ("..." if len(problems) > 4 else "")
    likely = likely_skeletons(points, names, declared)
    if likely:
        fix = (f"the keypoints look like {' or '.join(likely)}'s: set [pose] pose_model = '{likely[0]}'"
               + (" (it must be the model that wrote the 2D files)" if len(likely) == 1 else ""))
    else:
        fix = ("check [pose] pose_model (the model that wrote the 2D files) and the calibration's units; set "
               "triangulation.check_body_proportions = false if this body is really so")
    return f"{where}: the body is not human with pose_model = '{declared.name}' ({shown}); {fix}"
