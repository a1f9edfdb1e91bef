"""Several people with BlazePose alone: its own person detector finds them, its landmark model follows each.

BlazePose is a single-person design: the detector runs once, then the landmark
model tracks its person from frame to frame (:class:`~mocap3d.pose.blazepose_onnx.BlazePoseOnnx`).
Here the detector's every person is kept (weighted non-maximum suppression over
all its anchors, :func:`~mocap3d.pose.blazepose_onnx.weighted_nms`), and each
person gets its own region of interest (ROI) and ROI smoothing:

* every ``det_frequency`` frames (and whenever nobody is followed), the detector
  runs on the frame with the followed persons painted out (BlazePose's detector
  merges overlapping people into one); a detection whose hip centre lies farther
  than ``same_person`` x its ROI side from every followed person's hip centre
  starts a new person, and the search repeats with it painted out too;
* each followed person's landmarks are computed in its ROI; a person whose pose
  presence falls below 0.5 is dropped; the next ROI comes from the person's
  smoothed auxiliary landmarks, as in single-person tracking;
* two followed persons that have converged on the same body (hip centres closer
  than ``same_person`` x ROI side and mean landmark distance below
  ``same_person`` x ROI side) are merged: the longer-followed one stays.

Identities across frames are given afterwards by the pose stage's tracker
(:mod:`mocap3d.pose.tracking`), as for the other multi-person backends.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..skeletons import BLAZEPOSE
from .blazepose_onnx import N_KEYPOINTS, PRESENCE_THRESHOLD, OneEuro, Roi, roi_from_alignment

HIP, BODY = 33, 34            # the landmark model's auxiliary landmarks: hip centre, body size and tilt point


@dataclass
class _Followed:
    roi: Roi
    smoother: OneEuro
    age: int = 0


def same_person(hip_a: np.ndarray, hip_b: np.ndarray, side: float, fraction: float) -> bool:
    """True when two hip centres (2,) px are closer than ``fraction`` x ``side`` px."""
    return bool(np.hypot(*(np.asarray(hip_a, float) - hip_b)) < fraction * side)


def duplicates(landmarks: list[np.ndarray], sides: list[float], fraction: float) -> list[int]:
    """Indices of persons whose landmarks (39, 2) px duplicate an earlier person's (hip centres and mean
    landmark distance both within ``fraction`` x the larger ROI side)."""
    drop: list[int] = []
    for j in range(len(landmarks)):
        for i in range(j):
            if i in drop:
                continue
            side = max(sides[i], sides[j])
            mean = float(np.linalg.norm(landmarks[i][:N_KEYPOINTS] - landmarks[j][:N_KEYPOINTS], axis=1).mean())
            if same_person(landmarks[i][HIP], landmarks[j][HIP], side, fraction) and mean < fraction * side:
                drop.append(j)
                break
    return drop


def mask_persons(image: np.ndarray, persons: list[np.ndarray], sides: list[float], min_visibility: float = 0.3,
                 radius: float = 0.06) -> np.ndarray:
    """A copy of ``image`` with each person (33, 3) painted grey: the convex hull of their landmarks of
    visibility >= ``min_visibility``, and discs of ``radius`` x their ROI side around those landmarks."""
    import cv2
    out = image.copy()
    grey = (127,) * (image.shape[2] if image.ndim == 3 else 1)
    for kp, side in zip(persons, sides):
        pts = kp[kp[:, 2] >= min_visibility, :2]
        pts = pts[np.isfinite(pts).all(1)].astype(np.int32)
        if len(pts) >= 3:
            cv2.fillConvexPoly(out, cv2.convexHull(pts), grey)
        for x, y in pts:
            cv2.circle(out, (int(x), int(y)), max(1, int(radius * side)), grey, -1)
    return out


class BlazePoseOnnxMulti:
    """Several people per video with BlazePose's detector and landmark model; ``__call__(image) -> (P, 33, 3)``.

    Args:
        pose: an object with ``landmarks(image, roi) -> (px (39, 2), visibility (39,), presence)``
            and optionally ``last_world`` ((39, 3) m after each call), e.g. a
            :class:`~mocap3d.pose.blazepose_onnx.BlazePoseOnnx`.
        detect_all: image -> list of :class:`Roi`, every person found (e.g. ``PoseDetector.detect_all``).
        det_frequency: run the detector every this many frames (>= 1).
        rate: video frame rate (Hz), for the ROI smoothing.
        same_person: hip-centre distance, as a fraction of the ROI side, under which
            two detections or two followed persons are one person.
        max_persons: most persons followed at once (the first detected kept).
    """

    skeleton = BLAZEPOSE

    def __init__(self, pose: Any, detect_all: Callable[[np.ndarray], list[Roi]], det_frequency: int = 4,
                 rate: float = 30.0, same_person: float = 0.15, max_persons: int = 10) -> None:
        self.pose, self.detect_all = pose, detect_all
        self.det_frequency = max(1, int(det_frequency))
        self.rate, self.fraction, self.max_persons = float(rate), float(same_person), int(max_persons)
        self.people: list[_Followed] = []
        self.frame = 0
        self.detections = 0
        self.world = np.zeros((0, N_KEYPOINTS, 4))

    def _new_persons(self, image: np.ndarray) -> list[_Followed]:
        """Detected persons not followed yet (at most up to ``max_persons`` in all)."""
        self.detections += 1
        new: list[_Followed] = []
        for roi in self.detect_all(image):
            if len(self.people) + len(new) >= self.max_persons:
                break
            hip = np.array([roi.cx, roi.cy])
            if not any(same_person(hip, (p.roi.cx, p.roi.cy), max(p.roi.w, roi.w), self.fraction)
                       for p in self.people + new):
                new.append(_Followed(roi, OneEuro(self.rate)))
        return new

    def _follow(self, image: np.ndarray, people: list[_Followed]) -> list[tuple]:
        """(person, landmarks (39, 2) px, keypoints (33, 3), world (33, 4)) of those still present."""
        out = []
        for person in people:
            px, vis, presence = self.pose.landmarks(image, person.roi)
            if presence < PRESENCE_THRESHOLD:
                continue
            w = getattr(self.pose, "last_world", None)
            world = np.concatenate([w[:N_KEYPOINTS] if w is not None else np.full((N_KEYPOINTS, 3), np.nan),
                                    vis[:N_KEYPOINTS, None]], axis=1)
            out.append((person, px, np.concatenate([px[:N_KEYPOINTS], vis[:N_KEYPOINTS, None]], axis=1), world))
        return out

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Keypoints (P, 33, 3) = x px, y px, visibility of a BGR uint8 image (H, W, 3), one row per person.

        ``self.world`` then holds the same persons' world landmarks (P, 33, 4) when the
        landmark model gives them (NaN otherwise).
        """
        detect = not self.people or self.frame % self.det_frequency == 0
        self.frame += 1
        found = self._follow(image, self.people)
        if detect:
            # The detector sees the followed persons masked out, so that people behind or beside them
            # (merged with them by the detector's non-maximum suppression otherwise) are found too.
            for _ in range(self.max_persons):
                masked = mask_persons(image, [f[2] for f in found], [f[0].roi.w for f in found]) if found else image
                self.people = [f[0] for f in found]
                new = self._follow(image, self._new_persons(masked))
                if not new:
                    break
                found += new
        drop = set(duplicates([f[1] for f in found], [f[0].roi.w for f in found], self.fraction))
        found = [f for j, f in enumerate(found) if j not in drop]
        self.people = []
        for person, px, _, _ in found:
            aux = person.smoother(px[[HIP, BODY]], scale=float(np.abs(px[BODY] - px[HIP]).mean()))
            person.roi = roi_from_alignment(aux[0], aux[1])
            person.age += 1
            self.people.append(person)
        self.world = np.stack([f[3] for f in found]) if found else np.zeros((0, N_KEYPOINTS, 4))
        return np.stack([f[2] for f in found]) if found else np.zeros((0, N_KEYPOINTS, 3))

    def close(self) -> None:
        for obj in (self.pose, getattr(self.detect_all, "__self__", None)):
            if hasattr(obj, "close"):
                obj.close()
