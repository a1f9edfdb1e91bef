#!/usr/bin/env python
"""Calibration benchmark: accuracy and speed on rendered boards with known truth (prints a table).

Intrinsics: focal error (%), principal point error (px), RMS (px) for 6, 10
and 16 views of a 9x6 checkerboard seen by a 1920x1080 camera; detection time
per image. Run: python benchmarks/bench_calibration.py

``--real TRIAL``: extrinsics from the person's keypoints on real footage
(Pose2Sim's Demo_SinglePerson after ``mocap3d pose``: ``TRIAL/pose/`` BlazePose
JSON, ``TRIAL/calibration/intrinsics/`` checkerboard photos, ``TRIAL/calibration/
*.qca.txt`` Qualisys reference). Intrinsics from the checkerboard photos
(4x7 inner corners, 60 mm), ``participant_height`` 1.69 m, then
:func:`mocap3d.calibration.from_keypoints.calibrate_from_keypoints` with and
without its left/right swap and time offset steps, and once with the
reference's own intrinsics; each rig is compared with the reference after a
similarity alignment of the camera centres: scale, centre error (mm) and
orientation error (deg) per camera, reprojection RMS (px), offsets found
(frames), camera-frames whose left/right labels were exchanged, CPU time.
Then what the keypoints pin (:func:`pinning`): the same keypoints (left/right
swaps undone) adjusted with the reference rig held, with its centres held and
free, and the free optimum on block-bootstrap resamplings of the frames
(``--boot N``); ``--extra TRIAL2``: another recording of the same rig (persons
alone and stacked, against the reference and the first rig).
Run: python benchmarks/bench_calibration.py --real /path/to/Demo_SinglePerson
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from mocap3d.calibration.boards import Board
from mocap3d.calibration.intrinsics import calibrate_intrinsics
from mocap3d.calibration.render import pixel_rays, random_board_views
from mocap3d.camera import Camera, matrix_to_rodrigues


def _centre_errors_mm(rig, ref) -> np.ndarray:
    """Centre errors (C,) mm of ``rig`` after a similarity alignment onto ``ref`` (cameras matched by name)."""
    from mocap3d.evaluation import similarity_align
    e = np.array([c.position for c in rig])
    r = np.array([ref[c.name].position for c in rig])
    s, R, t = similarity_align(e, r)
    return np.linalg.norm(s * e @ R.T + t - r, axis=1) * 1000


def other_recording(extra: Path, ref, cams: list, names: list[str], main_rig, height: float) -> None:
    """The same rig in another recording of the same reference calibration: each person of
    ``extra/pose-associated`` (else ``pose``) calibrated alone, then all persons' frames stacked (swaps
    undone, no offsets), against the reference and against ``main_rig``; centre errors (mm)."""
    from mocap3d.calibration.converters import read_qualisys
    from mocap3d.calibration.from_keypoints import calibrate_from_keypoints
    from mocap3d.io.openpose import read_openpose_folders
    from mocap3d.skeletons import get_skeleton
    other, _ = read_qualisys(sorted((extra / "calibration").glob("*.qca.txt"))[-1])
    same = all(np.allclose(a.position, other[a.name].position) for a in ref)
    folder = next(f for f in (extra / "pose-associated", extra / "pose") if f.is_dir())
    kp = read_openpose_folders(folder, cameras=ref.names, skeleton=get_skeleton("BLAZEPOSE"), rate=60.0).data
    print(f"\nanother recording: {folder} ({kp.shape[2]} persons, {kp.shape[1]} frames; reference calibration "
          f"{'the same' if same else 'DIFFERENT'}); centre errors mm against the reference | against the first rig")
    persons = [(f"person {p + 1}", kp[:, :, p]) for p in range(kp.shape[2])]
    if kp.shape[2] > 1:
        persons.append(("persons stacked", np.concatenate([kp[:, :, p] for p in range(kp.shape[2])], 1)))
    for label, data in persons:
        res = calibrate_from_keypoints(cams, data, names, height, 0.3, up="Z", fix_swaps=True)
        print(f"  {label:<18} " + " / ".join(f"{v:.0f}" for v in _centre_errors_mm(res.rig, ref)) + "  |  "
              + " / ".join(f"{v:.0f}" for v in _centre_errors_mm(res.rig, main_rig)))


def real_keypoints(trial: Path, height: float = 1.69, max_offset: float = 8.0, n_boot: int = 10,
                   extra: Path | None = None) -> None:
    """Keypoint calibration on a real trial against its Qualisys calibration (module docstring)."""
    import logging
    from mocap3d.calibration import calculate_intrinsics
    from mocap3d.calibration.converters import read_qualisys
    from mocap3d.calibration.from_keypoints import calibrate_from_keypoints
    from mocap3d.calibration.keypoint_consistency import fix_swaps
    from mocap3d.calibration.person_select import select_person
    from mocap3d.evaluation import rotation_angle_deg, similarity_align
    from mocap3d.io.openpose import read_openpose_folders
    from mocap3d.skeletons import get_skeleton
    logging.getLogger("mocap3d").setLevel(logging.ERROR)
    ref, _ = read_qualisys(sorted((trial / "calibration").glob("*.qca.txt"))[-1])
    cal = {"calculate": {"intrinsics": {"overwrite_intrinsics": True, "intrinsics_corners_nb": [4, 7],
                                        "intrinsics_square_size": 60}}}
    board, _ = calculate_intrinsics(trial / "calibration", cal)
    print(f"\nkeypoint calibration on {trial} (load average {os.getloadavg()[0]:.1f}); intrinsics:")
    for c, r in zip(board, ref):
        print(f"  {c.name}: checkerboard f {c.focal:.1f} px, principal point ({c.matrix[0, 2]:.1f}, "
              f"{c.matrix[1, 2]:.1f}); reference f {r.focal:.1f}, ({r.matrix[0, 2]:.1f}, {r.matrix[1, 2]:.1f})")
    sk = get_skeleton("BLAZEPOSE")
    kp = read_openpose_folders(trial / "pose", cameras=ref.names, skeleton=sk, rate=60.0)
    data, _ = select_person(list(ref), kp.data, 0.3)
    unposed = [c.copy(rotation=np.zeros(3), translation=np.zeros(3)) for c in ref]
    runs = [("checkerboard intrinsics, keypoints as recorded", board, False, 0.0),
            ("+ left/right swaps undone", board, True, 0.0),
            (f"+ time offsets (up to {max_offset:g} frames)", board, True, max_offset),
            ("reference intrinsics, swaps + offsets", unposed, True, max_offset)]
    names = ref.names
    print(f"{'run':<48} {'scale':>6}  " + "  ".join(f"{n + ' mm':>9}" for n in names) + "  "
          + "  ".join(f"{n + ' deg':>9}" for n in names) + f"  {'RMS px':>19}  {'offsets':>23}  swaps  {'CPU s':>5}")
    rigs = []
    for label, cams, swaps, mo in runs:
        t = time.process_time()
        res = calibrate_from_keypoints(cams, data, sk.names, height, 0.3, up="Z", fix_swaps=swaps,
                                       max_offset_frames=mo, rate=60.0)
        cpu = time.process_time() - t
        rigs.append(res.rig)
        e = np.array([c.position for c in res.rig])
        r = np.array([ref[c.name].position for c in res.rig])
        s, R, tr = similarity_align(e, r)
        d = _centre_errors_mm(res.rig, ref)
        ori = [rotation_angle_deg(c.R @ R.T, ref[c.name].R) for c in res.rig]
        print(f"{label:<48} {s:6.3f}  " + "  ".join(f"{v:9.1f}" for v in d) + "  "
              + "  ".join(f"{v:9.2f}" for v in ori) + "  " + "/".join(f"{v:.1f}" for v in res.rms_px)
              + "  " + "/".join(f"{v:+.2f}" for v in res.offsets_frames) + f"  {int(res.swapped.sum()):5d}  {cpu:5.1f}")
    kp_fixed, _ = fix_swaps(list(ref), data, sk.names, 14.0, 0.3)   # left/right swaps undone with the reference rig
    pinning(ref, kp_fixed, n_boot=n_boot)
    if extra is not None:
        other_recording(extra, ref, board, sk.names, rigs[1], height)


def _adjust_reference(ref, kp: np.ndarray, threshold: float, f_scale_px: float, **hold) -> tuple[float, np.ndarray, list]:
    """Bundle adjustment of the keypoints (C, F, K, 3) from the reference rig (its intrinsics) with ``hold``
    (:func:`bundle_adjust_points` options): robust cost, centre errors (C, 3) m after similarity alignment onto
    the reference, the observations' residuals (C, N) px and the cameras."""
    from mocap3d.calibration.from_keypoints import bundle_adjust_points
    from mocap3d.evaluation import similarity_align
    C = kp.shape[0]
    uv = np.nan_to_num(kp[..., :2]).reshape(C, -1, 2)
    ok = (np.isfinite(kp).all(-1) & (np.nan_to_num(kp[..., 2]) >= threshold)).reshape(C, -1)
    ok &= ok.sum(0)[None] >= 2
    cams, _, err = bundle_adjust_points(list(ref), uv, ok, ref.triangulate(uv, ok.astype(float)),
                                        f_scale_px=f_scale_px, max_nfev=100, **hold)
    e = np.where(np.isfinite(err), err, 0.0)
    cost = float(np.sum(2 * f_scale_px ** 2 * (np.sqrt(1 + (e / f_scale_px) ** 2) - 1)))
    est = np.array([c.position for c in cams])
    r = np.array([c.position for c in ref])
    sc, R, t = similarity_align(est, r)
    return cost, sc * est @ R.T + t - r, err, [c.copy(rotation=matrix_to_rodrigues(c.R @ R.T)) for c in cams]


def pinning(ref, kp: np.ndarray, threshold: float = 0.3, f_scale_px: float = 5.0, n_boot: int = 10,
            block: int = 10) -> None:
    """What the keypoints pin: the same 2D keypoints (C, F, K, 3) against the reference rig ``ref``, with its
    intrinsics, held whole (the points alone adjusted), with its centres held (orientations adjusted) and
    free (every pose but the first camera's adjusted): robust cost, median residual per camera (px), centre
    error after similarity alignment (mm) and orientation change (deg); then the free adjustment on
    ``n_boot`` block-bootstrap resamplings of the frames (blocks of ``block`` frames drawn with replacement):
    how far the optimum moves with the frames the keypoints come from."""
    from mocap3d.evaluation import rotation_angle_deg
    C, F = kp.shape[:2]
    ok = np.isfinite(kp).all(-1) & (np.nan_to_num(kp[..., 2]) >= threshold)
    n_obs = int((ok & (ok.sum(0) >= 2)[None]).sum())
    print(f"\nwhat the keypoints pin (reference intrinsics, {n_obs} observations; robust cost = "
          f"sum 2 s^2 (sqrt(1 + e^2 / s^2) - 1), s = {f_scale_px:g} px):")
    print(f"{'reference rig':<42} {'cost':>9}  " + "  ".join(f"{n + ' px':>9}" for n in ref.names) + "  "
          + "  ".join(f"{n + ' mm':>9}" for n in ref.names) + "  " + "  ".join(f"{n + ' deg':>9}" for n in ref.names))
    for label, kw in [("held (points adjusted)", {"fixed": range(C)}),
                      ("centres held, orientations adjusted", {"fixed": [], "hold_centres": True}),
                      ("free (from the reference)", {"fixed": 0})]:
        cost, d, err, cams = _adjust_reference(ref, kp, threshold, f_scale_px, **kw)
        ori = [rotation_angle_deg(c.R, o.R) for c, o in zip(cams, ref)]
        print(f"{label:<42} {cost:9.0f}  " + "  ".join(f"{np.nanmedian(v):9.2f}" for v in err) + "  "
              + "  ".join(f"{v:9.1f}" for v in np.linalg.norm(d, axis=1) * 1000) + "  "
              + "  ".join(f"{v:9.2f}" for v in ori))
    rng = np.random.default_rng(0)
    dist, rise = [], []
    for _ in range(n_boot):
        frames = (rng.integers(0, F // block, F // block)[:, None] * block + np.arange(block)).ravel()
        cost, d, _, _ = _adjust_reference(ref, kp[:, frames], threshold, f_scale_px, fixed=0)
        held, _, _, _ = _adjust_reference(ref, kp[:, frames], threshold, f_scale_px, fixed=[], hold_centres=True)
        dist.append(np.linalg.norm(d, axis=1) * 1000)
        rise.append(100 * (held / cost - 1))
    if n_boot:
        dist = np.array(dist)
        print(f"free, {n_boot} block-bootstrap resamplings of the frames ({block}-frame blocks): centre errors "
              + ", ".join(f"{n} {lo:.0f}-{hi:.0f} (median {m:.0f})" for n, lo, hi, m in
                          zip(ref.names, dist.min(0), dist.max(0), np.median(dist, 0)))
              + f" mm; holding the reference centres costs {min(rise):.1f}-{max(rise):.1f} % more")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, metavar="TRIAL", help="keypoint calibration on a real trial (docstring)")
    ap.add_argument("--max-offset", type=float, default=8.0, help="offsets searched with --real, frames")
    ap.add_argument("--boot", type=int, default=10, help="block-bootstrap resamplings with --real")
    ap.add_argument("--extra", type=Path, metavar="TRIAL2", help="with --real: another recording of the same rig "
                    "(e.g. Demo_MultiPerson after 'mocap3d run'), calibrated per person and stacked")
    a = ap.parse_args()
    if a.real:
        real_keypoints(a.real, max_offset=a.max_offset, n_boot=a.boot, extra=a.extra)
        return
    cam = Camera("bench", (1920, 1080), [[1450, 0, 965], [0, 1452, 538], [0, 0, 1]], [-0.08, 0.03, 0.0004, -0.0002])
    board = Board("checkerboard", (6, 9), 0.04)
    rays = pixel_rays(cam, 2)
    t = time.perf_counter()
    views = random_board_views(cam, board, 16, seed=3, distance=(0.6, 1.0), rays=rays)
    per_view = (time.perf_counter() - t) / 16
    print(f"render + detect: {per_view:.2f} s per 1920x1080 view ({len(views)}/16 detected)")
    print(f"{'views':>5} {'fx err %':>9} {'fy err %':>9} {'pp err px':>10} {'RMS px':>7} {'time s':>7}")
    for n in (6, 10, 16):
        t = time.perf_counter()
        res = calibrate_intrinsics(views[:n], board, cam.size)
        dt = time.perf_counter() - t
        K = res.matrix
        print(f"{n:>5} {100 * (K[0, 0] / cam.matrix[0, 0] - 1):>9.3f} {100 * (K[1, 1] / cam.matrix[1, 1] - 1):>9.3f} "
              f"{np.abs(K[:2, 2] - cam.matrix[:2, 2]).max():>10.2f} {res.rms_px:>7.3f} {dt:>7.2f}")


if __name__ == "__main__":
    main()
