"""Debug images of the extrinsic calibration: observed points and their reprojection, per camera (PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..camera import CameraRig
from ..logs import atomic_path


def draw_reprojection(image: np.ndarray, observed: np.ndarray, reprojected: np.ndarray) -> np.ndarray:
    """BGR image with observed points (green circles), reprojections (red crosses) and their distance in px."""
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = max(1, int(round(max(out.shape[:2]) / 1000)))
    for i, (o, r) in enumerate(zip(observed, reprojected)):
        if np.isfinite(r).all():
            cv2.drawMarker(out, (int(round(r[0])), int(round(r[1]))), (0, 0, 255), cv2.MARKER_CROSS, 12 * scale, scale)
        if np.isfinite(o).all():
            cv2.circle(out, (int(round(o[0])), int(round(o[1]))), 6 * scale, (0, 200, 0), scale)
            if np.isfinite(r).all():
                cv2.putText(out, f"{i}: {np.linalg.norm(o - r):.1f}px", (int(o[0]) + 8 * scale, int(o[1]) - 8 * scale),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, (0, 255, 255), scale)
    return out


def save_extrinsics_debug(folder: Path, rig: CameraRig, images: Sequence[np.ndarray | None],
                          world_points: np.ndarray, uv: Sequence[np.ndarray]) -> list[Path]:
    """Write ``<folder>/<cam>_extrinsics.png`` for every camera with an image; returns the paths."""
    paths = []
    for cam, img, pix in zip(rig, images, uv):
        if img is None:
            continue
        drawn = draw_reprojection(img, np.asarray(pix, float), cam.project(world_points))
        path = Path(folder) / f"{cam.name}_extrinsics.png"
        with atomic_path(path) as tmp:
            cv2.imwrite(str(tmp), drawn)
        paths.append(path)
    return paths
