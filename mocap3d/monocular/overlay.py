"""PNG overlay of the fitted model's keypoints on a few video frames (or on a blank image of the camera's size)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..camera import Camera
from ..logs import atomic_path


def _frame_image(video: Path | None, frame: int, size: tuple[int, int]) -> np.ndarray:
    """RGB image (h, w, 3) of a video frame, or a grey canvas of the camera's size."""
    if video is not None:
        import cv2
        cap = cv2.VideoCapture(str(video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame))
        ok, img = cap.read()
        cap.release()
        if ok:
            return img[..., ::-1]
    return np.full((size[1], size[0], 3), 235, np.uint8)


def write_overlay(path: str | Path, res, keypoints: np.ndarray, frames: np.ndarray, camera: Camera,
                  video: Path | None, n_frames: int = 4) -> Path:
    """Detected keypoints (white) and the fitted model's keypoints reprojected (red) on ``n_frames`` frames.

    Args:
        res: :class:`~mocap3d.monocular.pipeline.MonocularResult`.
        keypoints: (F, K, 3) the camera's detected keypoints (px) at frame numbers ``frames`` (F,).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = max(1, min(n_frames, len(res.frames)))
    picks = np.linspace(0, len(res.frames) - 1, n + 2)[1:-1].round().astype(int) if len(res.frames) > 2 else [0]
    K, R, t = camera.matrix, res.frame.R, res.frame.t
    cam = Camera(camera.name, camera.size, K, camera.distortions, fisheye=camera.fisheye)
    row = {int(f): i for i, f in enumerate(frames)}
    fig, axes = plt.subplots(1, len(picks), figsize=(4 * len(picks), 4 * camera.size[1] / camera.size[0] + 0.6))
    axes = np.atleast_1d(axes)
    for ax, i in zip(axes, picks):
        f = int(res.frames[i])
        ax.imshow(_frame_image(video, f, camera.size))
        xc = res.points[i] @ R.T + t
        uv = cam.normalized_to_pixels(cam.distort(xc[:, :2] / xc[:, 2:3]))
        det = keypoints[row[f]]
        ax.scatter(det[:, 0], det[:, 1], s=14, facecolors="none", edgecolors="black", lw=0.6, label="detected")
        ax.scatter(uv[:, 0], uv[:, 1], s=6, c="red", label="model fit")
        ax.set_title(f"frame {f}", fontsize=9)
        if video is None:   # a blank canvas: zoom on the person
            pts = np.concatenate([uv, det[:, :2]])
            pts = pts[np.isfinite(pts).all(1)]
            lo, hi = pts.min(0), pts.max(0)
            pad = 0.15 * (hi - lo).max()
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(hi[1] + pad, lo[1] - pad)
        else:
            ax.set_xlim(0, camera.size[0])
            ax.set_ylim(camera.size[1], 0)
        ax.axis("off")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(f"monocular fit: reprojection error {res.report['reprojection_error_px']['mean']:.1f} px (mean)",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path
