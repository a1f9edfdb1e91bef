"""PNG overlay of the fitted model's keypoints on a few video frames (or on a blank image of the camera's size).

Drawn with OpenCV on frames shrunk to the panel height first (no matplotlib: on a
10 s 1080x1920 video this costs ~0.3 s instead of ~5 s of full-size resampling).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..camera import Camera
from ..logs import atomic_path

PANEL_HEIGHT = 480   # px, height of each frame's panel
_BLACK, _RED, _GREY = (0, 0, 0), (0, 0, 220), (235, 235, 235)


def _frame_image(video: Path | None, frame: int, size: tuple[int, int]) -> np.ndarray | None:
    """BGR image (h, w, 3) of a video frame, or None (no video, or the frame cannot be read)."""
    if video is None:
        return None
    import cv2
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame))
    ok, img = cap.read()
    cap.release()
    return img if ok else None


def _panel(img: np.ndarray | None, size: tuple[int, int], det: np.ndarray, uv: np.ndarray, title: str) -> np.ndarray:
    """One frame's panel (PANEL_HEIGHT, w, 3): the frame (or a grey canvas zoomed on the person) with the
    detected keypoints (black rings) and the model's (red dots)."""
    import cv2
    if img is None:   # a blank canvas: zoom on the person
        pts = np.concatenate([uv, det[:, :2]])
        pts = pts[np.isfinite(pts).all(1)]
        lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.zeros(2), np.asarray(size, float))
        pad = 0.15 * max((hi - lo).max(), 1.0)
        lo, hi = lo - pad, hi + pad
    else:
        lo, hi = np.zeros(2), np.array([img.shape[1], img.shape[0]], float)
    s = PANEL_HEIGHT / (hi[1] - lo[1])
    w = max(1, int(round((hi[0] - lo[0]) * s)))
    if img is None:
        out = np.full((PANEL_HEIGHT, w, 3), _GREY, np.uint8)
    else:
        out = cv2.resize(img, (w, PANEL_HEIGHT), interpolation=cv2.INTER_AREA)
    for p in det[:, :2]:
        if np.isfinite(p).all():
            cv2.circle(out, tuple(int(v) for v in np.round((p - lo) * s)), 5, _BLACK, 1, cv2.LINE_AA)
    for p in uv:
        if np.isfinite(p).all():
            cv2.circle(out, tuple(int(v) for v in np.round((p - lo) * s)), 3, _RED, -1, cv2.LINE_AA)
    cv2.putText(out, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, _BLACK, 3, cv2.LINE_AA)
    cv2.putText(out, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_overlay(path: str | Path, res, keypoints: np.ndarray, frames: np.ndarray, camera: Camera,
                  video: Path | None, n_frames: int = 4) -> Path:
    """Detected keypoints (black rings) and the fitted model's keypoints reprojected (red) on ``n_frames`` frames.

    Args:
        res: :class:`~mocap3d.monocular.pipeline.MonocularResult`.
        keypoints: (F, K, 3) the camera's detected keypoints (px) at frame numbers ``frames`` (F,).
    """
    import cv2
    n = max(1, min(n_frames, len(res.frames)))
    picks = np.linspace(0, len(res.frames) - 1, n + 2)[1:-1].round().astype(int) if len(res.frames) > 2 else [0]
    R, t = res.frame.R, res.frame.t
    cam = Camera(camera.name, camera.size, camera.matrix, camera.distortions, fisheye=camera.fisheye)
    row = {int(f): i for i, f in enumerate(frames)}
    panels = []
    for i in picks:
        f = int(res.frames[i])
        xc = res.points[i] @ R.T + t
        uv = cam.normalized_to_pixels(cam.distort(xc[:, :2] / xc[:, 2:3]))
        panels.append(_panel(_frame_image(video, f, camera.size), camera.size, keypoints[row[f]], uv, f"frame {f}"))
    body = np.concatenate(panels, axis=1)
    head = np.full((60, body.shape[1], 3), 255, np.uint8)
    title = f"monocular fit: reprojection error {res.report['reprojection_error_px']['mean']:.1f} px (mean)"
    cv2.putText(head, title, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.65, _BLACK, 1, cv2.LINE_AA)
    cv2.circle(head, (18, 45), 5, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(head, "detected", (30, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _BLACK, 1, cv2.LINE_AA)
    cv2.circle(head, (128, 45), 3, _RED, -1, cv2.LINE_AA)
    cv2.putText(head, "model fit", (140, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _BLACK, 1, cv2.LINE_AA)
    _, png = cv2.imencode(".png", np.concatenate([head, body], axis=0))
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(png.tobytes())
    return path
