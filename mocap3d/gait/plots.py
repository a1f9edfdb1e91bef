"""Gait figures (PNG, matplotlib Agg): foot trajectories with the events, and a figure that says why
there is no gait to show."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..logs import atomic_write
from ..markers import Markers3D
from .events import SIDES, height_above


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path: Path, dpi: int = 100) -> Path:
    """Write a figure atomically as PNG and close it."""
    plt = _plt()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    plt.close(fig)
    return path


def message_figure(path: Path, title: str, message: str) -> Path:
    """A small PNG whose only content is ``title`` and ``message`` (used instead of empty axes)."""
    plt = _plt()
    fig = plt.figure(figsize=(7, 2.2))
    fig.text(0.5, 0.65, title, ha="center", va="center", fontsize=12, weight="bold")
    fig.text(0.5, 0.35, message, ha="center", va="center", fontsize=9, wrap=True)
    return save(fig, path)


def plot_trajectories(markers: Markers3D, report: dict[str, Any], path: Path) -> Path:
    """Heel, toe and ankle height (mm) of each foot above the height where each rests on the floor (the
    ankle: its 5th percentile), against time, with the foot strikes and toe-offs; when ``report`` has no
    gait, a figure saying why (never empty axes)."""
    if "floor" not in report:
        return message_figure(path, "No gait analysed", report.get("reason", "no gait found"))
    plt = _plt()
    fl = report["floor"]
    plane = np.array([fl["slope_x"], fl["slope_z"], 0.0])
    rest = fl["keypoint_heights_m"]
    t = markers.times
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    for ax, side in zip(axes, SIDES):
        m = report["markers"][side]
        names = [("heel", m["heel"]), ("toe", m["toe"])]
        ankle = f"{side[0].upper()}Ankle"
        if ankle in markers.names and ankle not in (m["heel"], m["toe"]):
            names.append(("ankle", ankle))
        for label, name in names:
            h = height_above(markers[name], plane, 0.0)
            level = rest.get(f"{side} {label}", np.nanpercentile(h, 5) if np.isfinite(h).any() else 0.0)
            ax.plot(t, 1000 * (h - level), lw=1.2, label=f"{label} ({name})")
        e = report.get("events", {}).get(side, {})
        for key, style, lab in (("strikes_s", "tab:green", "foot strike"), ("toe_offs_s", "tab:red", "toe-off")):
            for k, x in enumerate(e.get(key, [])):
                ax.axvline(x, color=style, lw=0.9, ls="--", label=lab if k == 0 else None)
        ax.set_ylabel(f"{side}: height above rest (mm)")
        ax.legend(loc="upper right", fontsize=7, ncol=5)
        ax.grid(alpha=0.3)
    if report.get("status") == "ok":
        axes[0].set_title(f"Foot keypoints and gait events ({report.get('mode', '')}; filtered 3D keypoints)")
    else:
        axes[0].set_title(f"No gait analysed: {report.get('reason', '')}", color="tab:red", fontsize=9)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return save(fig, path)
