"""Per-camera calibration report: errors in pixels and millimetres, pose, and warnings with likely causes.

``mm`` errors are pixel errors scaled to the capture distance (the distance
from the camera to the reference points or, failing that, to the world
origin): ``mm = px * distance / focal * 1000``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..camera import Camera, CameraRig

#: Default thresholds (Config keys ``intrinsics_error_threshold_px``, ``extrinsics_error_threshold_mm``).
INTRINSICS_THRESHOLD_PX = 0.5
EXTRINSICS_THRESHOLD_MM = 10.0

CAUSE_INTRINSICS = ("blurred or partly hidden board images, a wrong corners_nb or square size, a board that is "
                    "not flat, or a lens model too simple (try intrinsics_k3 or fisheye)")
CAUSE_EXTRINSICS = ("scene points clicked in the wrong order or imprecisely, object_coords_3d not in metres, "
                    "the board or a camera moved between images, or intrinsics from another resolution/zoom")


def px_to_mm(px: float, camera: Camera, distance_m: float) -> float:
    """Pixel error of ``camera`` expressed in millimetres at ``distance_m``."""
    return float(px) * distance_m / camera.focal * 1000.0


def capture_distance(camera: Camera, points: np.ndarray | None = None) -> float:
    """Distance (m) from the camera centre to the centroid of ``points`` (N, 3), or to the world origin."""
    target = np.zeros(3) if points is None or not len(points) else np.nanmean(np.asarray(points, float), axis=0)
    return float(np.linalg.norm(camera.position - target))


def camera_entry(camera: Camera, distance_m: float, up_axis: str = "Y",
                 intrinsics: Mapping[str, Any] | None = None, extrinsics_rms_px: float | None = None,
                 intrinsics_threshold_px: float = INTRINSICS_THRESHOLD_PX,
                 extrinsics_threshold_mm: float = EXTRINSICS_THRESHOLD_MM) -> dict[str, Any]:
    """The report entry of one camera (JSON-ready), with warnings and likely causes."""
    up = np.array([0.0, 1.0, 0.0]) if up_axis.upper() == "Y" else np.array([0.0, 0.0, 1.0])
    axis = camera.R.T @ np.array([0.0, 0.0, 1.0])              # optical axis in the world
    entry: dict[str, Any] = {
        "name": camera.name,
        "size": list(camera.size),
        "focal_px": [float(camera.matrix[0, 0]), float(camera.matrix[1, 1])],
        "principal_point_px": [float(camera.matrix[0, 2]), float(camera.matrix[1, 2])],
        "distortions": camera.distortions.tolist(),
        "fisheye": bool(camera.fisheye),
        "position_m": camera.position.tolist(),
        "rotation_rodrigues": camera.rotation.tolist(),
        "optical_axis_world": axis.tolist(),
        "look_down_deg": float(np.degrees(np.arcsin(np.clip(-axis @ up, -1, 1)))),
        "capture_distance_m": distance_m,
        "warnings": [],
    }
    warn = entry["warnings"]
    if intrinsics:
        entry["intrinsics"] = dict(intrinsics)
        rms = intrinsics.get("rms_px")
        if rms is not None and np.isfinite(rms):
            entry["intrinsics_rms_px"] = float(rms)
            entry["intrinsics_rms_mm"] = px_to_mm(rms, camera, distance_m)
            if rms > intrinsics_threshold_px:
                warn.append(f"intrinsics RMS {rms:.2f} px > {intrinsics_threshold_px} px: likely {CAUSE_INTRINSICS}")
    if extrinsics_rms_px is not None and np.isfinite(extrinsics_rms_px):
        mm = px_to_mm(extrinsics_rms_px, camera, distance_m)
        entry["extrinsics_rms_px"] = float(extrinsics_rms_px)
        entry["extrinsics_rms_mm"] = mm
        if mm > extrinsics_threshold_mm:
            warn.append(f"extrinsics error {mm:.1f} mm ({extrinsics_rms_px:.2f} px) > {extrinsics_threshold_mm} mm: "
                        f"likely {CAUSE_EXTRINSICS}")
    w, h = camera.size
    off = np.abs(camera.matrix[:2, 2] - np.array([w, h]) / 2) / np.array([w, h])
    if np.any(off > 0.1):
        warn.append(f"principal point is {100 * off.max():.0f}% of the image away from the centre: likely intrinsics "
                    "computed at another resolution or orientation (portrait/landscape), or a wrong binning_factor")
    if camera.position @ up < 0:
        warn.append("camera is below the floor (world up coordinate < 0): likely the board was detected upside down "
                    "or object_coords_3d use another up axis")
    return entry


def build_report(rig: CameraRig, reference_points: np.ndarray | None = None, up_axis: str = "Y",
                 intrinsics: Sequence[Mapping[str, Any] | None] | None = None,
                 extrinsics_rms_px: Sequence[float | None] | None = None, **thresholds) -> dict[str, Any]:
    """Report of a calibrated rig (dict for ``calibration_report.json``)."""
    cams = []
    for i, cam in enumerate(rig):
        cams.append(camera_entry(cam, capture_distance(cam, reference_points), up_axis,
                                 intrinsics[i] if intrinsics else None,
                                 extrinsics_rms_px[i] if extrinsics_rms_px is not None else None, **thresholds))
    return {"cameras": cams, "up_axis": up_axis,
            "warnings": [f"{c['name']}: {w}" for c in cams for w in c["warnings"]]}


def format_report(report: Mapping[str, Any]) -> str:
    """A plain-text table of the report, one camera per line, then the warnings."""
    lines = [f"{'camera':<12}{'intr px':>9}{'extr px':>9}{'extr mm':>9}{'dist m':>8}   position (m)"]
    for c in report.get("cameras", []):
        def f(k: str, fmt: str = "{:9.3f}") -> str:
            v = c.get(k)
            return fmt.format(v) if isinstance(v, (int, float)) else f"{'-':>9}"
        pos = ", ".join(f"{v:+.3f}" for v in c["position_m"])
        lines.append(f"{c['name']:<12}{f('intrinsics_rms_px')}{f('extrinsics_rms_px')}{f('extrinsics_rms_mm', '{:9.2f}')}"
                     f"{c['capture_distance_m']:8.2f}   [{pos}]")
    for w in report.get("warnings", []):
        lines.append(f"WARNING {w}")
    return "\n".join(lines)
