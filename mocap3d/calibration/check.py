"""Check a calibration against a trial's 2D keypoints: a moved camera, or cameras in the wrong order.

For every camera, the keypoints are triangulated from the OTHER cameras and
reprojected into it (leave-one-out): its median reprojection error is large
when this camera moved since calibration, or when its pose folder belongs
to another camera. When some cameras disagree, :func:`suggest_order` finds
which keypoint stream fits which calibrated camera: the cameras that agree
are trusted and the rest are matched by a linear assignment on reprojection
costs; if fewer than two cameras agree, the best pair (stream, camera) x
(stream, camera) is chosen on epipolar consistency and the assignment grows
greedily. Cost is polynomial in the camera count (no search over all C!
orders).

Quick start::

    result = check_calibration(rig, kp2d)
    print(result["median_error_px"], result["suspect_cameras"], result.get("suggested_order"))
"""
from __future__ import annotations

from itertools import permutations
from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..camera import CameraRig
from ..logs import get_logger

log = get_logger("calibration")

#: A camera is suspect when its leave-one-out median error exceeds both this and
#: ``SUSPECT_RATIO`` times the median of all cameras.
SUSPECT_PX = 10.0
SUSPECT_RATIO = 3.0


def _prepare(uv: np.ndarray, conf: np.ndarray | None, min_conf: float, max_frames: int):
    """Flatten (C, F, K, 2) to (C, N, 2), NaN where confidence is low; subsample frames."""
    C, F = uv.shape[:2]
    idx = np.linspace(0, F - 1, min(F, max_frames)).round().astype(int)
    uv = np.asarray(uv, float)[:, idx]
    if conf is not None:
        c = np.asarray(conf, float)[:, idx]
        uv = np.where((c >= min_conf)[..., None], uv, np.nan)
    return uv.reshape(C, -1, 2)


def _loo_errors(rig: CameraRig, uv: np.ndarray, streams: Sequence[int], cams: Sequence[int],
                target_stream: int, target_cam: int) -> np.ndarray:
    """Errors (N,) px of ``target_stream`` against the points triangulated from (streams -> cams), seen in ``target_cam``."""
    sub = CameraRig([rig[c] for c in cams])
    X = sub.triangulate(uv[list(streams)])
    return np.linalg.norm(rig[target_cam].project(X) - uv[target_stream], axis=-1)


def _median(e: np.ndarray) -> float:
    e = e[np.isfinite(e)]
    return float(np.median(e)) if e.size else np.nan


def leave_one_out_errors(rig: CameraRig, uv: np.ndarray) -> np.ndarray:
    """Median leave-one-out reprojection error (C,) px of each camera; uv (C, N, 2) in rig order."""
    C = len(rig)
    out = np.full(C, np.nan)
    for c in range(C):
        others = [k for k in range(C) if k != c]
        if len(others) >= 2:
            out[c] = _median(_loo_errors(rig, uv, others, others, c, c))
    return out


def _pair_cost(rig: CameraRig, xn: dict, a: int, b: int, i: int, j: int) -> float:
    """Median symmetric epipolar distance (px) of streams a, b assigned to cameras i, j.

    ``xn[(stream, camera)]`` holds the stream's points undistorted by that camera.
    """
    ci, cj = rig[i], rig[j]
    xa, xb = xn[(a, i)], xn[(b, j)]
    R = cj.R @ ci.R.T
    t = cj.translation - R @ ci.translation
    E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ R
    ha = np.concatenate([xa, np.ones(xa.shape[:-1] + (1,))], -1)
    hb = np.concatenate([xb, np.ones(xb.shape[:-1] + (1,))], -1)
    lb = ha @ E.T                                            # epipolar lines in camera j (normalized)
    la = hb @ E                                              # in camera i
    num = np.abs(np.sum(hb * lb, -1))
    d = 0.5 * (num / np.hypot(lb[:, 0], lb[:, 1]) * cj.focal + num / np.hypot(la[:, 0], la[:, 1]) * ci.focal)
    return _median(d)


def suggest_order(rig: CameraRig, uv: np.ndarray, trusted: Sequence[int] | None = None) -> tuple[list[int], float]:
    """Assignment ``order[c]`` = keypoint stream that fits calibrated camera c, and its median error (px).

    Args:
        rig: calibrated cameras (C).
        uv: (C, N, 2) keypoint streams (pose folders), in their current order.
        trusted: cameras whose stream is known to be right (same index); None = none.
    """
    C = len(rig)
    assigned: dict[int, int] = {c: c for c in (trusted or [])}          # camera -> stream
    if len(assigned) < 2:
        assigned = {}
        best = (np.inf, None)
        xn = {(s, c): rig[c].undistort_points(uv[s]) for s in range(C) for c in range(C)}
        pairs = list(permutations(range(C), 2))
        for i, j in pairs:
            if j < i:
                continue
            for a, b in pairs:
                cost = _pair_cost(rig, xn, a, b, i, j)
                if cost < best[0]:
                    best = (cost, (i, j, a, b))
        i, j, a, b = best[1]
        assigned = {i: a, j: b}
    while len(assigned) < C:
        cams = list(assigned)
        streams = [assigned[c] for c in cams]
        free_c = [c for c in range(C) if c not in assigned]
        free_s = [s for s in range(C) if s not in assigned.values()]
        cost = np.array([[_median(_loo_errors(rig, uv, streams, cams, s, c)) for s in free_s] for c in free_c])
        cost = np.where(np.isfinite(cost), cost, 1e9)
        if len(assigned) >= 2 and len(free_c) > 1 and trusted and len(assigned) == len(trusted):
            rows, cols = linear_sum_assignment(cost)               # trusted core: assign all the rest at once
            for r, k in zip(rows, cols):
                assigned[free_c[r]] = free_s[k]
        else:
            r, k = np.unravel_index(np.argmin(cost), cost.shape)    # greedy: the best fitting pair first
            assigned[free_c[r]] = free_s[k]
    order = [assigned[c] for c in range(C)]
    errs = leave_one_out_errors(rig, uv[order])
    return order, float(np.nanmedian(errs))


def pairwise_epipolar(rig: CameraRig, uv: np.ndarray) -> np.ndarray:
    """Median symmetric epipolar distance (C, C) px between the streams of every camera pair (diagonal NaN)."""
    C = len(rig)
    xn = {(c, c): rig[c].undistort_points(uv[c]) for c in range(C)}
    P = np.full((C, C), np.nan)
    for i in range(C):
        for j in range(i + 1, C):
            P[i, j] = P[j, i] = _pair_cost(rig, xn, i, j, i, j)
    return P


def check_calibration(rig: CameraRig, uv: np.ndarray, conf: np.ndarray | None = None, min_conf: float = 0.3,
                      max_frames: int = 200, suspect_px: float = SUSPECT_PX) -> dict[str, Any]:
    """Per-camera median reprojection error of keypoints against a calibration, suspects, suggested order.

    A camera is suspect when the median (over the other cameras) of its
    pairwise epipolar distance exceeds both ``suspect_px`` / 2 and
    ``SUSPECT_RATIO`` times the cameras' first quartile (so one bad camera
    cannot hide among the good ones, as it would in a triangulation with
    everyone), or when its reprojection error on points triangulated from
    the non-suspect cameras exceeds ``suspect_px``.

    Args:
        rig: the calibration (C cameras, in pose folder order).
        uv: (C, F, K, 2) keypoint pixels of one person; NaN = missing.
        conf: (C, F, K) likelihoods (None: all kept).
        min_conf: keypoints below this likelihood are ignored.
        max_frames: frames used at most (evenly spaced).
        suspect_px: reprojection error (px) above which a camera is reported.

    Returns:
        dict with ``median_error_px`` (C,), ``pair_score_px`` (C,), ``suspect_cameras``
        (names) and, when some camera is suspect, ``suggested_order`` (stream
        index per camera), ``suggested_order_error_px`` and ``order_is_wrong``.
    """
    flat = _prepare(uv, conf, min_conf, max_frames)
    C = len(rig)
    P = pairwise_epipolar(rig, flat)
    score = np.array([np.nanmedian(np.delete(P[c], c)) for c in range(C)])
    ref = np.nanpercentile(score, 25)
    suspect = [c for c in range(C) if not score[c] <= max(suspect_px / 2, SUSPECT_RATIO * ref)]
    trusted = [c for c in range(C) if c not in suspect]
    errs = np.full(C, np.nan)
    for c in range(C):
        base = [k for k in (trusted if len(trusted) >= 2 else range(C)) if k != c]
        if len(base) >= 2:
            errs[c] = _median(_loo_errors(rig, flat, base, base, c, c))
    if len(trusted) >= 2:          # a moved camera can keep its epipolar geometry almost: check reprojection too
        suspect += [c for c in trusted if errs[c] > suspect_px]
        suspect.sort()
        trusted = [c for c in range(C) if c not in suspect]
    out: dict[str, Any] = {"cameras": rig.names, "median_error_px": errs.tolist(), "pair_score_px": score.tolist(),
                           "suspect_cameras": [rig.names[c] for c in suspect]}
    if suspect:
        order, err = suggest_order(rig, flat, trusted if len(trusted) >= 2 else None)
        out.update(suggested_order=order, suggested_order_error_px=err,
                   order_is_wrong=order != list(range(C)))
        if order != list(range(C)) and err < suspect_px:
            out["hint"] = (f"keypoints fit the calibration with pose folders in the order {order} "
                           f"(median {err:.1f} px): rename the folders or the calibration cameras")
        elif len(suspect) == C:
            out["hint"] = ("every camera disagrees with the calibration: keypoints not synchronized yet (run "
                           "synchronization first), several people mixed up, or a calibration from another session")
        else:
            out["hint"] = (f"cameras {out['suspect_cameras']} disagree with the calibration (median "
                           f"{[round(float(errs[c]), 1) for c in suspect]} px): moved or turned since calibration?")
        log.warning(out["hint"])
    return out


def check_trial_calibration(trial, calibration_file: str | None = None, person: int = 0,
                            min_conf: float = 0.3) -> dict[str, Any]:
    """Shell: check ``trial``'s calibration against its latest 2D keypoints (one person).

    Reads the most recent ``Calib*.toml`` of ``trial.calibration_dir`` (or
    ``calibration_file``) and ``trial.latest_pose_dir()``; writes
    ``<trial>/calibration_check_report.json`` and returns the result.
    """
    from pathlib import Path
    from ..errors import Mocap3dError
    from ..io.calibration_toml import read_calibration
    from ..io.openpose import read_openpose_folders
    from ..logs import write_report
    calib_dir = Path(trial.calibration_dir)
    if calibration_file is None:
        files = sorted(calib_dir.glob("Calib*.toml"), key=lambda p: p.stat().st_mtime)
        if not files:
            raise Mocap3dError(f"{calib_dir}: no Calib*.toml to check; run the calibration stage first")
        calibration_file = str(files[-1])
    rig = read_calibration(calibration_file)
    kp = read_openpose_folders(trial.latest_pose_dir(), cameras=rig.names)
    if person >= kp.n_persons:
        raise Mocap3dError(f"{trial.latest_pose_dir()}: no person {person} in the keypoints ({kp.n_persons} found)")
    data = kp.data[:, :, person]
    result = check_calibration(rig, data[..., :2], data[..., 2], min_conf=min_conf)
    result.update(calibration_file=calibration_file, pose_dir=str(trial.latest_pose_dir()), person=person)
    write_report(trial.path, "calibration_check", result)
    return result
