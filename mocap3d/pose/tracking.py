"""A fast multi-person tracker: stable person ids across frames from boxes and keypoints.

Each frame's detections are matched to the tracks of earlier frames by a cost
mixing the mean keypoint distance (px, over keypoints both have) and the box
overlap (1 - IoU, scaled by ``max_distance_px``); pairs farther than
``max_distance_px`` and overlapping less than ``min_iou`` never match. The
assignment is optimal (Hungarian, scipy). A track unseen for more than
``max_unseen_frames`` frames is retired, and its id is never reused.
"""
from __future__ import annotations

import numpy as np


def boxes_of(persons: np.ndarray, min_likelihood: float = 0.0) -> np.ndarray:
    """Boxes (P, 4) = x0, y0, x1, y1 px around the keypoints (P, K, 3) above ``min_likelihood``; NaN if none."""
    persons = np.asarray(persons, float)
    ok = np.isfinite(persons[..., 2]) & (persons[..., 2] > min_likelihood)
    x = np.where(ok, persons[..., 0], np.nan)
    y = np.where(ok, persons[..., 1], np.nan)
    with np.errstate(all="ignore"), _quiet():
        return np.stack([np.nanmin(x, -1), np.nanmin(y, -1), np.nanmax(x, -1), np.nanmax(y, -1)], -1)


class _quiet:
    def __enter__(self) -> None:
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (N, M) of boxes a (N, 4) and b (M, 4) given as x0, y0, x1, y1; 0 where either is NaN."""
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda q: (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    with np.errstate(all="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou, nan=0.0)


def keypoint_distance(a: np.ndarray, b: np.ndarray, min_likelihood: float = 0.0) -> np.ndarray:
    """Mean distance (N, M) in px between persons a (N, K, 3) and b (M, K, 3) over shared keypoints; inf if none."""
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None]
    ok = (a[..., 2] > min_likelihood) & (b[..., 2] > min_likelihood)
    d = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)
    n = ok.sum(-1)
    with np.errstate(all="ignore"):
        mean = np.where(ok, d, 0.0).sum(-1) / n
    return np.where(n > 0, mean, np.inf)


class Tracker:
    """Assign stable ids to the persons of successive frames.

    Args:
        max_distance_px: largest mean keypoint jump (px) between a track's last
            detection and a new one for them to be the same person.
        min_iou: box overlap that also allows a match when keypoints moved farther.
        max_unseen_frames: frames a track may go undetected before it is retired.
        min_likelihood: keypoints at or below this are ignored for matching.
    """

    def __init__(self, max_distance_px: float = 250.0, min_iou: float = 0.2, max_unseen_frames: int = 30,
                 min_likelihood: float = 0.3) -> None:
        self.max_distance_px = float(max_distance_px)
        self.min_iou = float(min_iou)
        self.max_unseen_frames = int(max_unseen_frames)
        self.min_likelihood = float(min_likelihood)
        self._last: dict[int, np.ndarray] = {}  # id -> keypoints (K, 3)
        self._unseen: dict[int, int] = {}
        self.n_ids = 0

    def update(self, persons: np.ndarray) -> np.ndarray:
        """Ids (P,) of this frame's persons (P, K, 3), in order; new persons get new ids."""
        persons = np.asarray(persons, float)
        ids = np.full(len(persons), -1, dtype=int)
        live = list(self._last)
        if len(persons) and live:
            prev = np.stack([self._last[i] for i in live])
            dist = keypoint_distance(prev, persons, self.min_likelihood)
            iou = box_iou(boxes_of(prev, self.min_likelihood), boxes_of(persons, self.min_likelihood))
            allowed = (dist <= self.max_distance_px) | (iou >= max(self.min_iou, 1e-9))
            cost = np.where(np.isfinite(dist), dist, self.max_distance_px * 2) + self.max_distance_px * (1 - iou)
            cost = np.where(allowed, cost, 1e12)
            from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize costs ~0.9 s to import per worker
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if allowed[r, c]:
                    ids[c] = live[r]
        for c in np.nonzero(ids < 0)[0]:
            ids[c] = self.n_ids
            self.n_ids += 1
        seen = set(ids.tolist())
        for i in live:
            if i not in seen:
                self._unseen[i] += 1
                if self._unseen[i] > self.max_unseen_frames:
                    del self._last[i], self._unseen[i]
        for c, i in enumerate(ids):
            self._last[int(i)] = persons[c]
            self._unseen[int(i)] = 0
        return ids


def order_by_id(frames: list[np.ndarray], ids: list[np.ndarray], n_keypoints: int, channels: int = 3) -> np.ndarray:
    """Array (F, N, K, channels), person n = track id n, NaN where a track is absent, from per-frame lists."""
    n = max((int(i.max()) + 1 for i in ids if len(i)), default=0)
    out = np.full((len(frames), max(n, 1), n_keypoints, channels), np.nan)
    for f, (p, i) in enumerate(zip(frames, ids)):
        if len(i):
            out[f, i] = p
    return out
