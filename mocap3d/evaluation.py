"""Measure a processed trial against its ground truth: ``mocap3d evaluate RESULT_DIR --truth TRUTH_DIR``.

Truth layout: the ``ground_truth/`` folder written by
:func:`mocap3d.synthetic.write_capture` (``Calib_true.toml``,
``keypoints.trc``, ``markers.trc``, ``coordinates.mot``, ``truth.json``).

Stages measured (a stage whose output is absent is reported as
``{"status": "missing", "reason": ...}``, never as zero error):

* calibration -- per camera: position error (mm), orientation error (deg),
  focal length error (%), principal point error (px), and the pixel distance
  between the true keypoints projected by the estimated and by the true camera
  (reprojection px). Also after the rigid alignment of the estimated world to
  the truth's (below), with the similarity scale of the camera centres.
* synchronization -- estimated minus true offset (frames) per camera, both
  relative to the pipeline's reference camera.
* association -- identity accuracy of the detections the stage assigned.
* keypoints3d -- per keypoint and overall MPJPE (mm), median, 95th percentile,
  fraction of errors above 50 mm, and coverage (fraction of true
  keypoint-frames the result reconstructed), for every ``pose-3d/*.trc``.
* joint_angles -- per coordinate RMSE and max error (deg; translations in mm)
  of ``kinematics/*.mot`` against ``coordinates.mot``, and a PNG of true vs
  estimated curves.

World frames: a calibration may define its own world (a board on the floor
anywhere, another up axis). The rigid transform ``X_truth = R X_est + t`` is
estimated from the camera centres and orientations (:func:`rig_alignment`:
each camera contributes its centre and the tips of its three axes 1 m long).
A Z-up calibration's points are written to ``.trc`` as (Y, Z, X)
(triangulation report's ``world_up_axis``); the alignment is mapped to those
axes. Raw errors are always reported in the truth's world, and the errors after
alignment next to them (the alignment also absorbs an error common to all
camera poses, so those are relative errors). When the alignment rotates by more
than ``FRAME_ROTATION_DEG`` (2 deg) or translates by more than
``FRAME_TRANSLATION_MM`` (50 mm) the world frames are said to differ: the headline 3D errors (``mpjpe_mm`` ...) are then those after
alignment (``"world": "aligned"``; the raw ones stay under ``"raw"``), and the
pelvis global coordinates of IK (pelvis_tilt/list/rotation, pelvis_tx/ty/tz),
the only ones that depend on the world frame, are flagged not comparable and
left out of the mean (their raw errors are kept). Other joint angles are
invariant to the world frame. Scale is never corrected: a scale error is an
error of the system, not a choice of frame.

Result times: a ``.trc``/``.mot`` time ``t`` is common-clock frame ``t * rate``;
the truth is on camera 0's clock, shifted by the reference camera's true
offset when a synchronization report names the reference.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

from .camera import CameraRig
from .errors import Mocap3dError
from .logs import _jsonable, atomic_path, atomic_write, get_logger
from .markers import Markers3D

log = get_logger("evaluation")
MISSING = "missing"
FRAME_ROTATION_DEG = 2.0     # an alignment rotating more than this: the world frames differ
FRAME_TRANSLATION_MM = 50.0  # an alignment translating more than this: the world frames differ
PELVIS_GLOBAL = ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz")


def _missing(reason: str) -> dict[str, Any]:
    return {"status": MISSING, "reason": reason}


# --------------------------------------------------------------------------- pure metrics
def rotation_angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Angle (deg) of the rotation taking Rb to Ra."""
    c = (np.trace(Ra @ Rb.T) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def similarity_align(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: scale s, rotation R (3, 3), translation t with ``dst ~ s R src + t`` for points (N, 3).

    ``scale=False``: rigid (Kabsch), s = 1.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt))
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean()) if scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def rig_alignment(est: list, true: list, arm_m: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rigid ``X_true = R X_est + t`` (R (3, 3), t (3,) m) between two calibrations' worlds.

    Fitted (least squares) to each matched camera's centre and the tips of its
    three axes ``arm_m`` metres long, so orientations count and one camera suffices.
    """
    pe = np.concatenate([[c.position, *(c.position + arm_m * c.R)] for c in est])
    pt = np.concatenate([[c.position, *(c.position + arm_m * c.R)] for c in true])
    _, R, t = similarity_align(pe, pt, scale=False)
    return R, t


def frames_differ(R: np.ndarray, t: np.ndarray) -> bool:
    """True when the alignment exceeds FRAME_ROTATION_DEG or FRAME_TRANSLATION_MM."""
    return rotation_angle_deg(R, np.eye(3)) > FRAME_ROTATION_DEG or np.linalg.norm(t) * 1000 > FRAME_TRANSLATION_MM


def _pair_cameras(est: CameraRig, true: CameraRig) -> list[tuple]:
    """(estimated, true) cameras matched by name, else by order."""
    names = [c.name for c in true]
    if set(names) <= set(est.names):
        return [(est[n], true[n]) for n in names]
    return list(zip(est, true))


def _reprojection_px(e, t, points: np.ndarray, points_est: np.ndarray) -> float | None:
    """Mean px distance between true points projected by the true camera and (as ``points_est``,
    the same points in the estimated world) by the estimated one."""
    uv_t = t.project(points)
    uv_e = e.project(points_est)
    ok = np.isfinite(uv_t).all(-1) & np.isfinite(uv_e).all(-1) & t.in_image(uv_t)
    return float(np.linalg.norm(uv_e - uv_t, axis=-1)[ok].mean()) if ok.any() else None


def compare_rigs(est: CameraRig, true: CameraRig, points: np.ndarray) -> dict[str, Any]:
    """Calibration errors of ``est`` against ``true`` (cameras matched by name, else by order).

    ``points`` (N, 3) are true world points (e.g. keypoints) used for the pixel error.
    Raw errors are in the truth's world; ``aligned`` holds the rigid world alignment
    (:func:`rig_alignment`; ``rotation`` (3, 3), ``translation`` (3,) m) and the errors after it.
    """
    pairs = _pair_cameras(est, true)
    per: dict[str, dict[str, float]] = {}
    for e, t in pairs:
        per[t.name] = {"position_mm": float(np.linalg.norm(e.position - t.position) * 1000),
                       "orientation_deg": rotation_angle_deg(e.R, t.R),
                       "focal_pct": float((e.focal - t.focal) / t.focal * 100),
                       "principal_point_px": float(np.linalg.norm(e.matrix[:2, 2] - t.matrix[:2, 2])),
                       "reprojection_px": _reprojection_px(e, t, points, points)}
    out: dict[str, Any] = {"status": "ok", "per_camera": per}
    for k in ("position_mm", "orientation_deg", "reprojection_px", "principal_point_px"):
        vals = [v[k] for v in per.values() if v[k] is not None]
        out[f"mean_{k}"] = float(np.mean(vals)) if vals else None
    out["mean_abs_focal_pct"] = float(np.mean([abs(v["focal_pct"]) for v in per.values()]))
    if not pairs:
        return out
    R, tr = rig_alignment([e for e, _ in pairs], [t for _, t in pairs])
    pts_est = (points - tr) @ R  # true points in the estimated world
    rep = [_reprojection_px(e, t, points, pts_est) for e, t in pairs]
    rep = [r for r in rep if r is not None]
    al: dict[str, Any] = {
        "rotation": R, "translation": tr, "rotation_deg": rotation_angle_deg(R, np.eye(3)),
        "translation_mm": float(np.linalg.norm(tr) * 1000), "frames_differ": frames_differ(R, tr),
        "mean_position_mm": float(np.mean([np.linalg.norm(R @ e.position + tr - t.position) for e, t in pairs]) * 1000),
        "mean_orientation_deg": float(np.mean([rotation_angle_deg(e.R @ R.T, t.R) for e, t in pairs])),
        "mean_reprojection_px": float(np.mean(rep)) if rep else None}
    if len(pairs) >= 3:
        al["scale"] = similarity_align(np.array([e.position for e, _ in pairs]),
                                       np.array([t.position for _, t in pairs]))[0]
    out["aligned"] = al
    return out


def mpjpe(est: np.ndarray, true: np.ndarray, names: list[str]) -> dict[str, Any]:
    """3D errors of est vs true (F, K, 3) in metres; NaN in est = not reconstructed."""
    d = np.linalg.norm(est - true, axis=-1) * 1000  # mm (F, K)
    valid_true = np.isfinite(true).all(-1)
    ok = np.isfinite(d)
    if not ok.any():
        return _missing("no frame in common with the truth")
    with np.errstate(invalid="ignore"):
        per = {n: float(np.nanmean(d[:, k])) if ok[:, k].any() else None for k, n in enumerate(names)}
    e = d[ok]
    return {"status": "ok", "mpjpe_mm": float(e.mean()), "median_mm": float(np.median(e)),
            "p95_mm": float(np.percentile(e, 95)), "frac_over_50mm": float((e > 50).mean()),
            "coverage": float(ok.sum() / max(valid_true.sum(), 1)), "n_frames": int(ok.any(1).sum()),
            "per_keypoint_mm": per}


def angle_errors(est: np.ndarray, true: np.ndarray, names: list[str],
                 not_comparable: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per coordinate RMSE and max |error| of est vs true (F, N): degrees, translations in mm.

    Coordinates in ``not_comparable`` keep their errors, flagged ``"comparable": False``,
    and stay out of the mean and max RMSE.
    """
    per = {}
    for k, n in enumerate(names):
        e = est[:, k] - true[:, k]
        e = e[np.isfinite(e)]
        if not e.size:
            continue
        unit = 1000.0 if n in ("pelvis_tx", "pelvis_ty", "pelvis_tz") else 1.0
        per[n] = {"rmse": float(np.sqrt(np.mean(e ** 2)) * unit), "max": float(np.abs(e).max() * unit),
                  "unit": "mm" if unit > 1 else "deg"}
        if n in not_comparable:
            per[n]["comparable"] = False
    rot = [v["rmse"] for v in per.values() if v["unit"] == "deg" and v.get("comparable", True)]
    return {"status": "ok" if per else MISSING, "per_coordinate": per,
            "not_comparable": [n for n in per if not per[n].get("comparable", True)],
            "mean_rmse_deg": float(np.mean(rot)) if rot else None,
            "max_rmse_deg": float(np.max(rot)) if rot else None}


def resample(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Cubic interpolation of values (T, ...) at ``at``; NaN outside the time range or near NaN samples."""
    out = np.full((len(at),) + values.shape[1:], np.nan)
    inside = (at >= times[0] - 1e-9) & (at <= times[-1] + 1e-9)
    flat = values.reshape(len(times), -1)
    good = np.isfinite(flat).all(0)
    if inside.any() and good.any():
        res = out.reshape(len(at), -1)
        res[np.ix_(inside, good)] = CubicSpline(times, flat[:, good], axis=0)(at[inside])
        if not good.all():  # columns with gaps: linear, NaN-propagating
            for j in np.flatnonzero(~good):
                res[inside, j] = np.interp(at[inside], times, flat[:, j])
        out = res.reshape(out.shape)
    return out


# --------------------------------------------------------------------------- file-level stages
def _sync_report(result_dir: Path) -> dict | None:
    rep = result_dir / "pose-sync" / "synchronization_report.json"
    return json.loads(rep.read_text(encoding="utf-8")) if rep.is_file() else None


def clock_bias(estimated: dict[str, float], true: dict[str, float]) -> float:
    """Median of (estimated - true) offsets (frames): the pipeline's choice of clock origin
    (the median, so one badly synchronized camera does not move the others' errors)."""
    common = [c for c in true if c in estimated]
    return float(np.median([estimated[c] - true[c] for c in common])) if common else 0.0


def _truth_shift(result_dir: Path, truth: dict) -> tuple[float, str | None]:
    """Truth time (s) = result time + shift.

    The pipeline's common clock puts camera c's frame n at ``n + est[c]``; the
    truth at ``n + true[c]``; so common frame g is true frame ``g - b`` with b
    the median clock bias over cameras (0 without a synchronization report).
    """
    r = _sync_report(result_dir)
    if r is None:
        return 0.0, None
    b = clock_bias(r.get("offsets_frames", {}), truth["offsets"])
    return -b / truth["rate"], r.get("reference_camera")


def evaluate_calibration(result_dir: Path, truth_dir: Path, truth_points: np.ndarray) -> dict[str, Any]:
    from .io.calibration_toml import read_calibration
    files = sorted((result_dir / "calibration").glob("Calib*.toml"), key=lambda p: p.stat().st_mtime)
    if not files:
        return _missing(f"no calibration/Calib*.toml in {result_dir}")
    if "TRUE_fallback" in files[-1].name:
        return _missing(f"{files[-1].name}: the true calibration was used (no calibration was computed)")
    est = read_calibration(files[-1])
    true = read_calibration(truth_dir / "Calib_true.toml")
    return {"file": str(files[-1])} | compare_rigs(est, true, truth_points)


def evaluate_sync(result_dir: Path, truth: dict) -> dict[str, Any]:
    """Offset errors (frames) after removing the common clock bias (any origin is a valid clock)."""
    r = _sync_report(result_dir)
    if r is None:
        return _missing("no pose-sync/synchronization_report.json")
    est = r.get("offsets_frames", {})
    true = truth["offsets"]
    b = clock_bias(est, true)
    per = {c: {"true": true[c], "estimated": est[c], "error": est[c] - true[c] - b} for c in true if c in est}
    if not per:
        return _missing("the synchronization report names none of the true cameras")
    err = np.abs([v["error"] for v in per.values()])
    return {"status": "ok", "reference_camera": r.get("reference_camera"), "clock_bias_frames": b,
            "per_camera": per, "mean_abs_error_frames": float(err.mean()), "max_abs_error_frames": float(err.max())}


def evaluate_association(result_dir: Path, truth: dict) -> dict[str, Any]:
    """Identity accuracy of the detections the association stage assigned.

    Each estimated identity is mapped to the true person it most often covers;
    accuracy = assigned detections whose mapped identity is right / all assigned.
    On ``pose-sync/`` input, slot p of common frame g is camera frame ``g - offset``;
    with a fractional offset it blends slot p of two raw frames, and when those
    hold different true persons the detection is counted as ``mixed_by_interpolation``
    (excluded from the accuracy).
    """
    rep = result_dir / "pose-associated" / "association_report.json"
    if not rep.is_file():
        return _missing("no pose-associated/association_report.json")
    r = json.loads(rep.read_text(encoding="utf-8"))
    ids_est = r.get("identity_of_input_person")
    if not ids_est:
        return _missing("association report has no identity_of_input_person")
    synced = "pose-sync" in str(r.get("input", ""))
    offs = (_sync_report(result_dir) or {}).get("offsets_frames", {}) if synced else {}
    frames_true = np.asarray(truth["frames"])
    true_ids = np.asarray(truth["identities"])  # (C, F, P)
    frames_in = _input_frames(result_dir, r)
    confusion: dict[tuple[int, int], int] = {}
    mixed = 0
    for c, cam in enumerate(truth["cameras"]):
        est = np.asarray(ids_est.get(cam, []))
        if est.size == 0:
            continue
        x = frames_in[: est.shape[0]] - float(offs.get(cam, 0.0))
        n0 = np.floor(x + 1e-6).astype(int)
        frac = x - n0
        for f in range(len(x)):
            raws = [n0[f]] + ([n0[f] + 1] if frac[f] > 1e-6 else [])
            idx = [int(np.searchsorted(frames_true, n)) for n in raws]
            if any(i >= len(frames_true) or frames_true[i] != n for i, n in zip(idx, raws)):
                continue
            for p in range(min(est.shape[1], true_ids.shape[2])):
                if est[f, p] < 0:
                    continue
                tids = {int(true_ids[c, i, p]) for i in idx}
                if len(tids) > 1:
                    mixed += 1
                    continue
                key = (int(est[f, p]), tids.pop())
                confusion[key] = confusion.get(key, 0) + 1
    if not confusion:
        return _missing("no assigned detection could be matched to the truth")
    best: dict[int, int] = {}
    for (e, t), n in sorted(confusion.items(), key=lambda kv: -kv[1]):
        best.setdefault(e, t)
    total = sum(confusion.values())
    hits = sum(n for (e, t), n in confusion.items() if best[e] == t)
    return {"status": "ok", "identity_accuracy": hits / total, "detections_assigned": total,
            "mixed_by_interpolation": mixed, "identity_map": {str(e): t for e, t in best.items()}}


def _input_frames(result_dir: Path, report: dict) -> np.ndarray:
    """Frame numbers (union over cameras) of the folder the association stage read."""
    from .io.openpose import list_json_frames
    src = Path(report.get("input") or result_dir / "pose")
    if not src.is_absolute():
        src = result_dir / src
    if not src.is_dir():
        src = result_dir / src.name
    lists = [list_json_frames(d)[0] for d in sorted(src.iterdir()) if d.is_dir()] if src.is_dir() else []
    return np.unique(np.concatenate(lists)) if lists else np.zeros(0, int)


_SUMMARY = ("mpjpe_mm", "median_mm", "p95_mm", "frac_over_50mm")


def evaluate_trc(path: Path, truth: Markers3D, shift_s: float, align: dict | None = None) -> dict[str, Any]:
    """MPJPE of a result .trc against truth markers (common names), times aligned.

    ``align`` (:func:`trc_alignment`): also the errors after mapping the result into
    the truth's world; they become the headline ones when its ``frames_differ``.
    """
    from .io.trc import read_trc
    est = read_trc(path)
    names = [n for n in est.names if n in truth.names]
    if not names:
        return _missing(f"{path.name} has no marker named like the truth ({', '.join(truth.names[:5])}...)")
    t = est.times + shift_s
    true = resample(truth.times, truth.select(names).data, t)
    data = est.select(names).data
    raw = mpjpe(data, true, names)
    if align is None or raw["status"] != "ok":
        return {"file": str(path), "world": "truth"} | raw
    aligned = mpjpe(data @ align["rotation"].T + align["translation"], true, names)
    head = aligned if align["frames_differ"] else raw
    return ({"file": str(path), "world": "aligned" if align["frames_differ"] else "truth"} | head
            | {"raw": {k: raw[k] for k in _SUMMARY}, "aligned": {k: aligned[k] for k in _SUMMARY}})


_UP_TO_Y = {"Y": np.eye(3), "Z": np.eye(3)[[1, 2, 0]]}  # .trc axes = M @ calibration world (see triangulation)


def trc_alignment(result_dir: Path, truth_dir: Path, calibration: dict[str, Any]) -> dict | None:
    """The calibration's world alignment expressed in .trc axes (Y up): rotation, translation, frames_differ.

    A Z-up calibration's points are written to .trc as (Y, Z, X); the same holds for the truth.
    None without an aligned calibration comparison.
    """
    from .io.calibration_toml import read_calibration_metadata
    al = calibration.get("aligned")
    if calibration.get("status") != "ok" or not al:
        return None
    rep = result_dir / "pose-3d" / "triangulation_report.json"
    up_e = json.loads(rep.read_text(encoding="utf-8")).get("world_up_axis", "Y") if rep.is_file() else "Y"
    up_t = str(read_calibration_metadata(truth_dir / "Calib_true.toml").get("up_axis", "Y")).upper()
    Me, Mt = _UP_TO_Y.get(str(up_e).upper(), np.eye(3)), _UP_TO_Y.get(up_t, np.eye(3))
    return {"rotation": Mt @ al["rotation"] @ Me.T, "translation": Mt @ al["translation"],
            "frames_differ": al["frames_differ"]}


def _current_trcs(pose3d: Path) -> list[Path]:
    """The current run's .trc files (raw, filtered, augmented; :mod:`mocap3d.stage_inputs`), not a rerun's leftovers."""
    from .stage_inputs import current_raw_trc, derived_from
    raws = current_raw_trc(pose3d) if pose3d.is_dir() else []
    filt = [d for d in (derived_from(r, "filtering") for r in raws) if d]
    lstm = [d for d in (derived_from(f, "augmentation") for f in filt + raws) if d]
    return sorted(set(raws + filt + lstm))


def current_mot(kin_dir: Path) -> Path | None:
    """Person 0's joint-angle ``.mot`` of the last kinematics run (named in ``kinematics_report.json``), not an
    older run's file nor its filtered copy; without a report, the newest ``.mot``."""
    try:
        rep = json.loads((kin_dir / "kinematics_report.json").read_text(encoding="utf-8"))
        persons = sorted(rep.get("persons", []), key=lambda e: e.get("person", 0))
        mots = [Path(o) for o in persons[0]["outputs"] if str(o).endswith(".mot")] if persons else []
        if mots:
            mot = kin_dir / mots[0].name          # the trial folder may have moved since the run
            return mot if mot.is_file() else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    mots = sorted(kin_dir.glob("*.mot"), key=lambda p: p.stat().st_mtime)
    return mots[-1] if mots else None


def evaluate_mot(path: Path, truth_path: Path, shift_s: float,
                 world_differs: bool = False) -> tuple[dict[str, Any], tuple | None]:
    """Joint-angle errors of a result .mot against the true one, and the curves (times, est, true, names).

    ``world_differs``: the pelvis global coordinates are flagged not comparable.
    """
    from .io.mot import read_mot
    est, tru = read_mot(path), read_mot(truth_path)
    names = [n for n in est.columns if n in tru.columns]
    if not names:
        return _missing(f"{path.name} shares no coordinate with the truth"), None
    e = np.column_stack([est[n] for n in names])
    t = resample(tru.times, np.column_stack([tru[n] for n in names]), est.times + shift_s)
    if not est.in_degrees:
        rot = [n not in ("pelvis_tx", "pelvis_ty", "pelvis_tz") for n in names]
        e[:, rot] = np.degrees(e[:, rot])
    res = {"file": str(path)} | angle_errors(e, t, names, PELVIS_GLOBAL if world_differs else ())
    return res, (est.times, e, t, names)


def plot_angles(curves, path: Path, not_comparable: tuple[str, ...] | list[str] = ()) -> Path | None:
    """PNG of true (black) vs estimated (red) joint angles for the main coordinates
    (titles of ``not_comparable`` ones say so)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    times, est, true, names = curves
    keys = [n for n in ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "hip_flexion_r", "hip_adduction_r",
                        "knee_angle_r", "ankle_angle_r", "hip_flexion_l", "knee_angle_l", "ankle_angle_l",
                        "lumbar_extension", "arm_flex_r", "elbow_flex_r", "arm_flex_l", "elbow_flex_l")
            if n in names]
    if not keys:
        return None
    cols = 3
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows), squeeze=False)
    for ax, n in zip(axes.ravel(), keys):
        k = names.index(n)
        ax.plot(times, true[:, k], "k-", lw=1.5, label="truth")
        ax.plot(times, est[:, k], "r--", lw=1.2, label="estimated")
        ax.set_title(n + (" (other world frame)" if n in not_comparable else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.supxlabel("time (s)")
    fig.supylabel("angle (deg)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def _main_trc(per_file: dict[str, dict[str, Any]]) -> str | None:
    """The keypoint .trc to summarize: among the most processed ones (filtered if any), the one
    closest to person 0 (a multi-person result has one file per person)."""
    ok = {n: m for n, m in per_file.items() if m.get("status") == "ok"}
    filt = {n: m for n, m in ok.items() if "_filt" in n}
    pick = filt or ok
    return min(pick, key=lambda n: pick[n]["mpjpe_mm"]) if pick else None


def run_evaluation(result_dir: str | os.PathLike, truth_dir: str | os.PathLike | None = None,
                   write: bool = True, print_table: bool = True) -> dict[str, Any]:
    """Evaluate every stage of a processed trial against its truth; writes ``metrics.json`` and the PNG.

    Args:
        result_dir: the trial folder the pipeline processed.
        truth_dir: its ground truth (default ``result_dir/ground_truth``).
        write: write ``result_dir/evaluation/metrics.json`` and ``joint_angles.png``.
        print_table: print :func:`format_table` to stdout.
    """
    from .io.trc import read_trc
    result_dir = Path(result_dir)
    truth_dir = Path(truth_dir) if truth_dir else result_dir / "ground_truth"
    if not (truth_dir / "truth.json").is_file():
        raise Mocap3dError(f"{truth_dir}: no truth.json; pass --truth the ground_truth/ folder of a synthetic capture")
    truth = json.loads((truth_dir / "truth.json").read_text(encoding="utf-8"))
    kp_true = read_trc(truth_dir / "keypoints.trc")
    markers_true = read_trc(truth_dir / "markers.trc")
    shift, ref = _truth_shift(result_dir, truth)
    out_dir = result_dir / "evaluation"
    pts = kp_true.data[:: max(1, kp_true.n_frames // 30)].reshape(-1, 3)
    metrics: dict[str, Any] = {"result_dir": str(result_dir), "truth_dir": str(truth_dir),
                               "time_shift_s": shift, "reference_camera": ref}
    metrics["calibration"] = evaluate_calibration(result_dir, truth_dir, pts[np.isfinite(pts).all(1)])
    metrics["synchronization"] = evaluate_sync(result_dir, truth)
    metrics["association"] = evaluate_association(result_dir, truth)
    trcs = _current_trcs(result_dir / "pose-3d")
    align = trc_alignment(result_dir, truth_dir, metrics["calibration"])
    differ = bool(align and align["frames_differ"])
    per_file = {f.name: evaluate_trc(f, kp_true, shift, align) for f in trcs if "LSTM" not in f.name}
    main = _main_trc(per_file)
    metrics["keypoints3d"] = (dict(per_file[main], files=per_file) if main else
                              _missing(f"no usable keypoint .trc in {result_dir / 'pose-3d'}"))
    lstm = [f for f in trcs if "LSTM" in f.name]
    metrics["markers3d"] = evaluate_trc(lstm[-1], markers_true, shift, align) if lstm else _missing("no *_LSTM.trc")
    mot = current_mot(result_dir / "kinematics")
    if mot is not None:
        res, curves = evaluate_mot(mot, truth_dir / "coordinates.mot", shift, differ)
        if curves is not None and write:
            png = plot_angles(curves, out_dir / "joint_angles.png", res.get("not_comparable", ()))
            res["plot"] = str(png) if png else None
        metrics["joint_angles"] = res
    else:
        metrics["joint_angles"] = _missing(f"no .mot in {result_dir / 'kinematics'}")
    metrics["gait"] = evaluate_gait(result_dir, kp_true, shift)
    if write:
        with atomic_write(out_dir / "metrics.json", encoding="utf-8") as fh:
            json.dump(_jsonable(metrics), fh, indent=2)
    if print_table:
        from .evaluation_table import format_table
        print(format_table(metrics))
    return metrics


def evaluate_gait(result_dir: Path, kp_true: Markers3D, shift_s: float) -> dict[str, Any]:
    """The gait report of the first person against the gait of the true keypoints (see :func:`mocap3d.gait.compare`)."""
    from .gait import analyze, compare
    files = sorted((result_dir / "gait").glob("*_gait.json"))
    if not files:
        return _missing(f"no gait report in {result_dir / 'gait'}")
    return compare(json.loads(files[0].read_text(encoding="utf-8")), analyze(kp_true), shift_s)
