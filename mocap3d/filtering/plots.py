"""Raw-versus-filtered figure of a filtered file: one PNG, a grid with one panel per marker or column.

Drawn with OpenCV's anti-aliased lines and text on a numpy canvas rather than
matplotlib: matplotlib's import and text layout cost ~0.7 CPU-s per run, a
fifth of the whole 2D-keypoints-to-.mot run on a 100-frame trial; this costs
a few hundredths. Nothing is ever shown on screen.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import Mocap3dError
from ..logs import atomic_write

PANEL_W, PANEL_H = 260, 150          # px per panel, title included
HEADER_H = 56                        # px above the grid: title and key
#: Axis colours (BGR): matplotlib's tab:red, tab:green, tab:blue, so that figures look alike across the package.
COLOURS_BGR = ((40, 39, 214), (44, 160, 44), (180, 119, 31))
COLOUR_NAMES = ("red", "green", "blue")


def _runs(px: np.ndarray, py: np.ndarray) -> list[np.ndarray]:
    """Finite stretches of a polyline as int32 (n, 2) arrays in 1/16 px (for ``cv2.polylines(shift=4)``)."""
    ok = np.isfinite(py)
    if not ok.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.view(np.int8), [0]])))
    pts = np.round(np.column_stack([px, np.where(ok, py, 0.0)]) * 16).astype(np.int32)
    return [pts[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2]


def _text(img: np.ndarray, text: str, centre_x: int, baseline_y: int, scale: float, thickness: int = 1) -> None:
    """Black anti-aliased text centred on ``centre_x`` (ASCII only: OpenCV's Hershey fonts have no others)."""
    import cv2
    text = text.replace("±", "+/-").replace("°", " deg").encode("ascii", "replace").decode()
    (w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.putText(img, text, (int(centre_x - w / 2), int(baseline_y)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                thickness, cv2.LINE_AA)


def save_filter_plots(times: np.ndarray, before: np.ndarray, after: np.ndarray, names: list[str],
                      folder: Path, prefix: str, axes: tuple[str, ...] = ("X", "Y", "Z"), unit: str = "m",
                      title: str = "") -> list[Path]:
    """One PNG for the file: a grid with one panel per name, raw (thin, light) vs filtered (thick) against time.

    ``before``/``after``: (F, names, len(axes)); ``times``: (F,) s. Positions
    (``unit = 'm'``) are drawn in mm about each axis's raw mean, so that the
    filter's effect shows; other units (e.g. degrees) as they are. Each panel
    is scaled to its own range, written in its title with the unit; time runs
    left to right over the file's duration. Returns ``[folder / f"{prefix}_filtering.png"]``.
    """
    import cv2
    folder.mkdir(parents=True, exist_ok=True)
    metric = unit == "m"
    scale = 1000.0 if metric else 1.0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(before, axis=0, keepdims=True) if metric else np.zeros((1,) + before.shape[1:])
        raw = (before - np.nan_to_num(centre)) * scale
        filt = (after - np.nan_to_num(centre)) * scale
        both = np.concatenate([raw, filt])
        lo, hi = np.nanmin(both, axis=(0, 2)), np.nanmax(both, axis=(0, 2))
    n = len(names)
    cols = max(1, min(n, 6))
    rows = max(1, int(np.ceil(n / cols)))
    img = np.full((HEADER_H + rows * PANEL_H, cols * PANEL_W, 3), 255, np.uint8)
    times = np.asarray(times, float)
    span = float(np.ptp(times)) if len(times) > 1 else 0.0
    x = (times - times[0]) / (span or 1.0)
    for m, name in enumerate(names):
        r, c = divmod(m, cols)
        x0, y0 = c * PANEL_W + 8, HEADER_H + r * PANEL_H + 22          # plot box corner (px)
        w, h = PANEL_W - 16, PANEL_H - 30
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), (190, 190, 190), 1)
        ok = bool(np.isfinite(lo[m]) and np.isfinite(hi[m]))
        low, high = (float(lo[m]), float(hi[m])) if ok else (0.0, 1.0)
        rng = (high - low) or 1.0
        px = x0 + 2 + (w - 4) * x
        for a in range(len(axes)):
            colour = COLOURS_BGR[a % 3]
            light = tuple(int(0.45 * v + 0.55 * 255) for v in colour)
            for vals, col, thick in ((raw[:, m, a], light, 1), (filt[:, m, a], colour, 2)):
                py = y0 + h - 2 - (h - 4) * (vals - low) / rng
                lines = _runs(px, py)
                if lines:
                    cv2.polylines(img, lines, False, col, thick, cv2.LINE_AA, shift=4)
        label = (f"+/-{max(abs(low), abs(high)):.0f} mm about the mean" if metric else
                 f"{low:.3g} to {high:.3g} {unit}") if ok else "no data"
        _text(img, f"{name}: {label}", x0 + w // 2, y0 - 6, 0.36)
    key = ", ".join(f"{a} {COLOUR_NAMES[i % 3]}" for i, a in enumerate(axes) if a)
    _text(img, title or f"{prefix}: raw (thin) and filtered (thick)", img.shape[1] // 2, 24, 0.6)
    _text(img, (f"{key}; " if key else "") + f"each panel: time 0-{span:.2f} s left to right, its own vertical range",
          img.shape[1] // 2, 46, 0.42)
    encoded, png = cv2.imencode(".png", img)
    path = folder / f"{prefix}_filtering.png"
    if not encoded:
        raise Mocap3dError(f"{path}: OpenCV could not encode the figure as PNG")
    with atomic_write(path, "wb") as fh:
        fh.write(png.tobytes())
    return [path]
