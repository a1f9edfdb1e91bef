"""Person association across cameras and over time.

Each camera detects people independently and numbers them arbitrarily. This
stage gives every detection a stable identity:

1. **Across views, per frame.** Two detections (camera c, person p) and
   (camera d, person q) are the same person when the rays through their
   keypoints meet: the median ray-to-ray distance over the keypoints both
   detected is below ``reconstruction_error_threshold`` (m); the affinity is
   ``1 - distance / threshold``. Detections are merged greedily by decreasing
   affinity into clusters holding at most one detection per camera, as long as
   the mean affinity between the merged clusters stays above ``min_affinity``.
   Clusters are equivalence classes, so the matching is cycle-consistent.
   A detection left alone joins a cluster whose 3D skeleton reprojects onto it
   within ``reproj_error_threshold_association`` px.
2. **Over time.** Clusters seen by >= 2 cameras are triangulated and matched
   to tracks by 3D distance (Hungarian; median over keypoints, from the last
   position or, with ``predict_displacement``, a constant-velocity prediction),
   within ``max_distance_m``; a track unseen for more than
   ``max_unseen_frames`` frames is closed.
3. **Output.** Multi-person: one person slot per track (index = identity),
   tracks shorter than ``min_chunk_size`` frames dropped. Single-person: only
   the track with the most detections (the person of interest), so bystanders
   and people crossing some views are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from functools import lru_cache
from itertools import permutations

import numpy as np

from .camera import CameraRig, triangulate_normalized
from .errors import ConfigError, Mocap3dError
from .keypoints import Keypoints2D
from .logs import get_logger, progress, write_report

log = get_logger("association")


@dataclass
class AssociationOptions:
    """Settings from [personAssociation] (and Pose2Sim's tracking keys of [triangulation])."""

    likelihood_threshold_association: float = 0.3
    reproj_error_threshold_association: float = 20.0
    reconstruction_error_threshold: float = 0.1
    min_affinity: float = 0.2
    max_distance_m: float = 1.0
    max_unseen_frames: int = 100
    min_chunk_size: int = 10
    min_keypoints: int = 3
    multi_person: bool = False
    predict_displacement: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "AssociationOptions":
        pa = config.get("personAssociation", {}) or {}
        single = pa.get("single_person", {}) or {}
        multi = pa.get("multi_person", {}) or {}
        tri = config.get("triangulation", {}) or {}
        o = cls()
        o.likelihood_threshold_association = float(single.get("likelihood_threshold_association",
                                                               o.likelihood_threshold_association))
        o.reproj_error_threshold_association = float(single.get("reproj_error_threshold_association",
                                                                o.reproj_error_threshold_association))
        o.reconstruction_error_threshold = float(multi.get("reconstruction_error_threshold",
                                                           o.reconstruction_error_threshold))
        o.min_affinity = float(multi.get("min_affinity", o.min_affinity))
        o.max_distance_m = float(pa.get("max_distance_m", tri.get("max_distance_m", o.max_distance_m)))
        o.max_unseen_frames = int(pa.get("max_unseen_frames", tri.get("max_unseen_frames", o.max_unseen_frames)))
        o.min_chunk_size = int(tri.get("min_chunk_size", o.min_chunk_size))
        o.multi_person = bool((config.get("project", {}) or {}).get("multi_person", False))
        o.predict_displacement = bool(tri.get("predict_displacement", False))
        if o.reconstruction_error_threshold <= 0 or not 0 <= o.min_affinity < 1:
            raise ConfigError("personAssociation.multi_person: reconstruction_error_threshold must be > 0 (m) and "
                              f"min_affinity in [0, 1) (got {o.reconstruction_error_threshold}, {o.min_affinity})")
        if o.max_distance_m <= 0 or o.max_unseen_frames < 0:
            raise ConfigError(f"max_distance_m must be > 0 and max_unseen_frames >= 0 "
                              f"(got {o.max_distance_m}, {o.max_unseen_frames})")
        return o


def camera_rays(rig: CameraRig, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera centres (C, 3) and world ray directions (C, ..., 3) of ideal normalized points (C, ..., 2)."""
    centres = np.stack([c.position for c in rig])
    h = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], -1)
    R = np.stack([c.R for c in rig])  # world -> cam; direction in world = R^T h
    dirs = np.einsum("cji,c...j->c...i", R, h)
    return centres, dirs


def ray_distances(centres: np.ndarray, dirs: np.ndarray, valid: np.ndarray, c: int, d: int,
                  min_keypoints: int) -> np.ndarray:
    """Median ray-to-ray distance (F, P, P) in metres between the persons of cameras c and d.

    Args:
        centres: (C, 3); dirs: (C, F, P, K, 3); valid: (C, F, P, K) usable keypoints.
    """
    u = dirs[c][:, :, None]  # (F, P, 1, K, 3)
    v = dirs[d][:, None]  # (F, 1, P, K, 3)
    n = np.cross(u, v)
    nn = np.linalg.norm(n, axis=-1)
    base = centres[d] - centres[c]
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.abs(n @ base) / nn
    ok = valid[c][:, :, None] & valid[d][:, None] & (nn > 1e-12)
    dist = np.where(ok, dist, np.nan)
    enough = ok.sum(-1) >= min_keypoints
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(dist, axis=-1)
    return np.where(enough, med, np.nan)


def _cluster_frame(aff: dict[tuple[int, int], np.ndarray], dets: list[tuple[int, int]],
                   min_affinity: float) -> list[list[tuple[int, int]]]:
    """Greedy average-linkage clustering of one frame's detections, one per camera per cluster."""
    index = {d: i for i, d in enumerate(dets)}
    n = len(dets)
    A = np.full((n, n), np.nan)
    edges = []
    for (c, d), m in aff.items():
        for p, q in zip(*np.nonzero(np.isfinite(m))):
            if (c, p) in index and (d, q) in index:
                i, j = index[(c, p)], index[(d, q)]
                A[i, j] = A[j, i] = m[p, q]
                if m[p, q] >= min_affinity:
                    edges.append((m[p, q], i, j))
    label = list(range(n))
    members = {i: [i] for i in range(n)}
    for _, i, j in sorted(edges, reverse=True):
        a, b = label[i], label[j]
        if a == b:
            continue
        cams_a = {dets[k][0] for k in members[a]}
        if any(dets[k][0] in cams_a for k in members[b]):
            continue
        block = A[np.ix_(members[a], members[b])]
        if not np.isfinite(block).any() or np.nanmean(block) < min_affinity:
            continue
        for k in members[b]:
            label[k] = a
        members[a] += members.pop(b)
    return [[dets[k] for k in m] for m in members.values()]


def associate_arrays(rig: CameraRig, data: np.ndarray, names: list[str], rate: float,
                     config: Mapping[str, Any] | AssociationOptions) -> tuple[np.ndarray, dict[str, Any]]:
    """Associate detections across cameras and time.

    Args:
        rig: cameras in the order of ``data``.
        data: (C, F, P, K, 3) x px, y px, likelihood per camera's own person order.
        names: K keypoint names; rate: Hz (for the report).
        config: a full config dict or :class:`AssociationOptions`.

    Returns:
        data (C, F, P', K, 3) with person index = identity (P' = 1 in
        single-person mode), and a report dict (including ``slots`` (C, F, P)
        the identity given to each input detection, -1 if none).
    """
    opts = config if isinstance(config, AssociationOptions) else AssociationOptions.from_config(config)
    C, F, P, K, _ = data.shape
    lik = np.nan_to_num(data[..., 2], nan=0.0)
    valid = (lik >= opts.likelihood_threshold_association) & np.isfinite(data[..., :2]).all(-1)
    present = valid.sum(-1) >= opts.min_keypoints  # (C, F, P)
    xy = rig.undistort_points(data[..., :2])
    centres, dirs = camera_rays(rig, xy)
    ext = rig.extrinsics()
    ci, di = np.triu_indices(C, 1)
    tracks: list[dict[str, Any]] = []
    slots = np.full((C, F, P), -1, int)
    block = 256
    for f0 in progress(range(0, F, block), "association", total=(F + block - 1) // block, unit="block"):
        f1 = min(F, f0 + block)
        aff_blk = {}
        for c, d in zip(ci, di):
            dist = ray_distances(centres, dirs[:, f0:f1], valid[:, f0:f1], c, d, opts.min_keypoints)
            aff_blk[(c, d)] = np.clip(1 - dist / opts.reconstruction_error_threshold, 0, 1)
        for f in range(f0, f1):
            dets = [(c, p) for c in range(C) for p in range(P) if present[c, f, p]]
            if not dets:
                continue
            aff = {k: v[f - f0] for k, v in aff_blk.items()}
            clusters = _cluster_frame(aff, dets, opts.min_affinity)
            multi = [cl for cl in clusters if len(cl) >= 2]
            singles = [cl[0] for cl in clusters if len(cl) == 1]
            skel = [_triangulate_cluster(cl, xy[:, f], lik[:, f], valid[:, f], ext) for cl in multi]
            _attach_singles(multi, skel, singles, data[:, f], valid[:, f], rig, opts)
            _track(tracks, multi, skel, f, slots, opts)
    tracks_out = _choose_tracks(tracks, slots, opts)
    out = np.full((C, F, max(len(tracks_out), 1), K, 3), np.nan)
    new_slots = np.full((C, F, P), -1, int)
    for new_id, t in enumerate(tracks_out):
        cc, ff, pp = np.nonzero(slots == t)
        out[cc, ff, new_id] = data[cc, ff, pp]
        new_slots[cc, ff, pp] = new_id
    n_det = int(present.sum())
    n_kept = int((new_slots >= 0).sum())
    report = {
        "mode": "multi_person" if opts.multi_person else "single_person",
        "persons": len(tracks_out),
        "tracks_found": len(tracks),
        "detections": n_det,
        "detections_assigned": n_kept,
        "detections_dropped": n_det - n_kept,
        "frames_per_person": [int((out[:, :, i, :, 2] > 0).any((0, 2)).sum()) for i in range(len(tracks_out))],
        "settings": vars(opts),
        "slots": new_slots,
    }
    return out, report


def _triangulate_cluster(cluster, xy, lik, valid, ext) -> np.ndarray:
    cams = [c for c, _ in cluster]
    pts = np.stack([xy[c, p] for c, p in cluster])  # (n, K, 2)
    w = np.stack([np.where(valid[c, p], lik[c, p], 0.0) for c, p in cluster])
    return triangulate_normalized(pts, ext[cams], w)  # (K, 3)


def _attach_singles(multi, skel, singles, data_f, valid_f, rig, opts) -> None:
    """Join lone detections to a cluster whose 3D skeleton reprojects onto them."""
    for c, p in singles:
        best, best_err = None, opts.reproj_error_threshold_association
        for i, (cl, X) in enumerate(zip(multi, skel)):
            if any(cc == c for cc, _ in cl):
                continue
            ok = valid_f[c, p] & np.isfinite(X).all(-1)
            if ok.sum() < opts.min_keypoints:
                continue
            err = np.median(np.linalg.norm(rig[c].project(X[ok]) - data_f[c, p, ok, :2], axis=-1))
            if err < best_err:
                best, best_err = i, err
        if best is not None:
            multi[best].append((c, p))


@lru_cache(maxsize=None)
def _injections(m: int, n: int) -> np.ndarray:
    """Every ordered choice of n distinct columns among m: (m! / (m - n)!, n)."""
    return np.array(list(permutations(range(m), n)), dtype=int).reshape(-1, n)


def min_cost_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the one-to-one assignment of least total cost of a finite (n, m) matrix.

    As ``scipy.optimize.linear_sum_assignment`` (rows ascending, min(n, m) pairs). Tracks and
    clusters are few: up to 7 rows or columns every assignment is scored at once (scipy.optimize
    costs about half a second of CPU to import); larger matrices go to scipy.
    """
    n, m = cost.shape
    if min(n, m) == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    if max(n, m) > 7:
        from scipy.optimize import linear_sum_assignment
        return linear_sum_assignment(cost)
    if n > m:
        cols, rows = min_cost_assignment(cost.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    choices = _injections(m, n)
    return np.arange(n), choices[np.argmin(cost[np.arange(n), choices].sum(axis=1))]


def _track(tracks: list[dict], clusters, skel, f: int, slots: np.ndarray, opts: AssociationOptions) -> None:
    """Match this frame's clusters to open tracks by 3D distance (Hungarian), open new tracks."""
    open_ids = [i for i, t in enumerate(tracks) if f - t["last"] <= opts.max_unseen_frames + 1]
    cost = np.full((len(clusters), len(open_ids)), np.inf)
    for a, X in enumerate(skel):
        for b, i in enumerate(open_ids):
            Y = tracks[i]["pos"]
            if opts.predict_displacement:  # constant velocity since the last sighting
                Y = Y + tracks[i]["vel"] * (f - tracks[i]["last"])
            ok = np.isfinite(X).all(-1) & np.isfinite(Y).all(-1)
            if ok.sum() >= 1:
                cost[a, b] = np.median(np.linalg.norm(X[ok] - Y[ok], axis=-1))
    assigned = {}
    if cost.size:
        big = 1e6
        r, k = min_cost_assignment(np.where(np.isfinite(cost), cost, big))
        for a, b in zip(r, k):
            if cost[a, b] <= opts.max_distance_m:
                assigned[a] = open_ids[b]
    for a, (cl, X) in enumerate(zip(clusters, skel)):
        if a not in assigned:
            tracks.append({"pos": X.copy(), "vel": np.zeros_like(X), "last": f, "first": f, "count": 0})
            assigned[a] = len(tracks) - 1
        t = tracks[assigned[a]]
        ok = np.isfinite(X).all(-1)
        if t["last"] < f:
            vel = (X - t["pos"]) / (f - t["last"])
            t["vel"][ok] = np.nan_to_num(vel[ok])
        t["pos"][ok] = X[ok]
        t["last"] = f
        t["count"] += len(cl)
        for c, p in cl:
            slots[c, f, p] = assigned[a]


def _choose_tracks(tracks: list[dict], slots: np.ndarray, opts: AssociationOptions) -> list[int]:
    if not tracks:
        return []
    if not opts.multi_person:
        return [int(np.argmax([t["count"] for t in tracks]))]
    frames_seen = [len(np.unique(np.nonzero(slots == i)[1])) for i in range(len(tracks))]
    keep = [i for i, n in enumerate(frames_seen) if n >= opts.min_chunk_size]
    dropped = len(tracks) - len(keep)
    if dropped:
        log.info("%d short tracks (< min_chunk_size=%d frames) dropped", dropped, opts.min_chunk_size)
    return sorted(keep, key=lambda i: tracks[i]["first"])


def associate(kp: Keypoints2D, rig: CameraRig, config: Mapping[str, Any]) -> tuple[Keypoints2D, dict[str, Any]]:
    """:func:`associate_arrays` on a :class:`Keypoints2D` (cameras in rig order)."""
    data, report = associate_arrays(rig, kp.data, list(kp.keypoints), kp.rate, config)
    data3d = None
    if kp.data3d is not None:  # the detector's 3D follows its detection to the output person
        slots = report["slots"]
        data3d = np.full(data.shape[:4] + (4,), np.nan)
        cc, ff, pp = np.nonzero(slots >= 0)
        data3d[cc, ff, slots[cc, ff, pp]] = kp.data3d[cc, ff, pp]
    return Keypoints2D(data, list(kp.cameras), list(kp.keypoints), kp.frames.copy(), kp.rate, kp.offsets.copy(),
                       data3d), report


def run_association(trial) -> dict[str, Any]:
    """Stage shell: pose-sync/ (or pose/) -> pose-associated/ with stable person ids; returns the report."""
    from .io.openpose import write_openpose_folders
    from .triangulation.inputs import frame_rate, load_keypoints, load_rig, load_skeleton, rig_for_pose
    config = trial.config
    src = Path(trial.pose_sync_dir)
    if not (src.is_dir() and any(src.iterdir())):
        src = Path(trial.pose_dir)
    from .project import camera_count
    if camera_count(trial) == 1:   # nothing to match across cameras; the pose stage tracked the persons
        log.info("association: %s holds one camera, nothing to associate (the monocular stage reads it as is)", src)
        return {"stage": "association", "input": str(src), "skipped": "one camera: nothing to associate"}
    rig, calib = load_rig(trial)
    skeleton = load_skeleton(config)
    rate = frame_rate(config, trial)
    rig = rig_for_pose(rig, src)
    kp = load_keypoints(src, rig, skeleton, rate)
    out_kp, report = associate(kp, rig, config)
    if report["persons"] == 0:
        raise Mocap3dError(f"{src}: no person is seen consistently by two cameras (reconstruction_error_threshold="
                           f"{AssociationOptions.from_config(config).reconstruction_error_threshold} m, "
                           f"likelihood_threshold_association={AssociationOptions.from_config(config).likelihood_threshold_association}). "
                           "Check the calibration, the camera order and the synchronization")
    out_dir = Path(trial.pose_associated_dir)
    write_openpose_folders(out_kp, out_dir, replace=True)
    slots = report.pop("slots")
    report.update({"stage": "association", "input": str(src), "calibration": str(calib), "cameras": rig.names,
                   "identity_of_input_person": {cam: slots[c].tolist() for c, cam in enumerate(rig.names)}})
    write_report(out_dir, "association", report)
    log.info("association: %d person(s), %d of %d detections assigned -> %s", report["persons"],
             report["detections_assigned"], report["detections"], out_dir)
    return report
