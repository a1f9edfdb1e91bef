"""The one person to calibrate from, when the 2D detections hold several per frame.

Detectors list the people of a frame in any order, so a fixed detection slot is
not one person. :func:`select_person`:

1. tracks the detections of each camera over time (Hungarian matching of the
   mean keypoint distance between frames, gated at half the person's size,
   gaps up to ``max_gap`` frames);
2. keeps each camera's longest tracks as candidates;
3. matches candidates across cameras: each pairing of the candidates of the
   two best-seen cameras gives an essential matrix (MAGSAC) and triangulated
   points; each other camera's candidate is judged by its PnP RANSAC inliers on
   those points (two different people give a cloud no third view fits; the
   two-view epipolar test alone cannot tell two walkers apart);
4. returns the assignment with the most inliers: one person, the same in every
   camera. With only two cameras the epipolar inliers alone decide (weak).

With one detection slot everywhere, slot 0 is returned as is.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..camera import Camera, triangulate_normalized
from ..errors import Mocap3dError
from ..logs import get_logger

log = get_logger("calibration")
MIN_KEYPOINTS = 4   # confident keypoints for a detection to count


def track_camera(kp: np.ndarray, threshold: float, max_gap: int = 15) -> np.ndarray:
    """Track ids (F, P) of one camera's detections (F, P, K, 3); -1 = no detection (:class:`pose.tracking.Tracker`)."""
    from ..pose.tracking import Tracker
    ok = (np.nan_to_num(kp[..., 2]) >= threshold).sum(-1) >= MIN_KEYPOINTS      # (F, P)
    tracker = Tracker(max_unseen_frames=max_gap, min_likelihood=threshold)
    ids = np.full(ok.shape, -1)
    for f in range(len(kp)):
        det = np.flatnonzero(ok[f])
        ids[f, det] = tracker.update(kp[f, det])
    return ids


def _track_data(kp: np.ndarray, ids: np.ndarray, track: int) -> np.ndarray:
    """(F, K, 3) keypoints of one track of one camera (NaN where absent)."""
    out = np.full(kp.shape[:1] + kp.shape[2:], np.nan)
    f, p = np.nonzero(ids == track)
    out[f] = kp[f, p]
    return out


def _normalized(cam: Camera, data: np.ndarray, threshold: float) -> np.ndarray:
    """Ideal normalized coordinates (F*K, 2) of confident keypoints of (F, K, 3); NaN elsewhere."""
    ok = (np.nan_to_num(data[..., 2]) >= threshold).ravel()
    xy = cam.undistort_points(np.nan_to_num(data[..., :2]).reshape(-1, 2))
    xy[~ok] = np.nan
    return xy


def _pair_points(xa: np.ndarray, xb: np.ndarray, thr: float) -> tuple[np.ndarray, int]:
    """Points (N, 3) triangulated from two views' normalized (N, 2) after an essential matrix, and its inliers."""
    from .from_keypoints import MIN_POINTS, _pair_pose
    m = np.isfinite(xa).all(1) & np.isfinite(xb).all(1)
    X = np.full((len(xa), 3), np.nan)
    if m.sum() < MIN_POINTS:
        return X, 0
    res = _pair_pose(xa[m], xb[m], thr)
    if res is None:
        return X, 0
    R, t, _, n = res
    ext = np.stack([np.hstack([np.eye(3), np.zeros((3, 1))]), np.hstack([R, t[:, None]])])
    X[m] = triangulate_normalized(np.stack([xa[m], xb[m]]), ext)
    return X, n


def _pnp_inliers(X: np.ndarray, xy: np.ndarray, thr: float) -> int:
    """PnP RANSAC inliers of points (N, 3) against normalized (N, 2) observations of another camera."""
    m = np.isfinite(X).all(1) & np.isfinite(xy).all(1)
    if m.sum() < 12:
        return 0
    ok, _, _, inl = cv2.solvePnPRansac(np.ascontiguousarray(X[m]), np.ascontiguousarray(xy[m]), np.eye(3), None,
                                       iterationsCount=300, reprojectionError=thr, confidence=0.99,
                                       flags=cv2.SOLVEPNP_EPNP)
    return int(len(inl)) if ok and inl is not None else 0


def select_person(cameras: Sequence[Camera], keypoints: np.ndarray, threshold: float,
                  candidates: int = 3) -> tuple[np.ndarray, dict]:
    """One person's keypoints (C, F, K, 3) from detections (C, F, P, K, 3), and a JSON-able summary."""
    kp = np.asarray(keypoints, float)
    C, F, P = kp.shape[:3]
    if P == 1:
        return kp[:, :, 0], {"persons_per_frame": 1}
    ids = [track_camera(kp[c], threshold) for c in range(C)]
    cands = []
    for c in range(C):
        conf = (np.nan_to_num(kp[c, ..., 2]) >= threshold).sum(-1)        # (F, P)
        n = np.bincount(ids[c][ids[c] >= 0], weights=conf[ids[c] >= 0]) if (ids[c] >= 0).any() else np.zeros(0)
        order = np.argsort(-n)[:candidates]
        cands.append([_track_data(kp[c], ids[c], int(t)) for t in order if n[t] > 0])
    if any(not cd for cd in cands):
        bad = [cameras[c].name for c in range(C) if not cands[c]]
        raise Mocap3dError(f"keypoint calibration: no confident person detected in camera(s) {', '.join(bad)}")
    order = np.argsort([-np.sum(np.nan_to_num(cd[0][..., 2]) >= threshold) for cd in cands])
    ref, sec = int(order[0]), int(order[1])
    focal = np.array([c.focal for c in cameras])
    thr = 4.0 / focal                                                      # 4 px in normalized units
    norm = [[_normalized(cameras[c], d, threshold) for d in cands[c]] for c in range(C)]
    best, best_score = None, -1
    for i, xa in enumerate(norm[ref]):        # every pairing of the two best-seen cameras' candidates...
        for j, xb in enumerate(norm[sec]):
            X, score = _pair_points(xa, xb, float(np.sqrt(thr[ref] * thr[sec])))
            chosen = [0] * C
            chosen[ref], chosen[sec] = i, j
            for c in range(C):                # ...judged by how well the other cameras' candidates fit its points
                if c in (ref, sec):
                    continue
                n = [_pnp_inliers(X, xc, float(thr[c])) for xc in norm[c]]
                chosen[c] = int(np.argmax(n))
                score += max(n)
            if score > best_score:
                best, best_score = chosen, score
    best = [cands[c][k] for c, k in enumerate(best)]
    info = {"persons_per_frame": int(P), "tracks": [int(i.max() + 1) for i in ids], "reference_cameras": [cameras[ref].name, cameras[sec].name],
            "inliers": int(best_score)}
    log.info("keypoint calibration: %d detection slots; person picked by tracking and cross-view agreement "
             "(%d inliers, from %s and %s)", P, best_score, cameras[ref].name, cameras[sec].name)
    return np.stack(best), info
