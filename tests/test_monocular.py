"""Monocular stage against single-camera synthetic captures with known truth (mocap3d.synthetic).

The learned lifters are not run here: where a lifted 3D is needed, a STAND-IN is
made from the true root-relative 3D in camera axes with the errors a lifter
makes (depth compressed to 80 %, 3 cm depth noise, 1 cm noise across, 10 % wrong
overall size), so the test measures the placement and the model fit, not a
network. The 'none' lifter (2D only) is tested too.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from functools import lru_cache

import numpy as np
import pytest

from mocap3d.errors import Mocap3dError
from mocap3d.monocular.pipeline import Lifted, keep_section, reconstruct
from mocap3d.monocular.placement import default_matrix, root_translation, world_frame
from mocap3d.synthetic import make_capture, single_camera_rig

RATE = 60.0
N_FRAMES = 120
HEIGHT = 1.75
FLEXION = ("hip_flexion", "knee_angle", "ankle_angle")


@lru_cache(maxsize=8)
def capture(view: str, n_frames: int = N_FRAMES, seed: int = 3):
    """Walking at 1.3 m/s seen by one phone; 1.5 px noise, 2 % missed keypoints."""
    return make_capture(1, "walking", n_frames=n_frames, rate=RATE, rig=single_camera_rig(view, seed=1),
                        noise_px=1.5, missing=0.02, height=HEIGHT, seed=seed)


def standin_lifter(cap, seed: int = 0) -> Lifted:
    """Stand-in for a learned lifter: true root-relative 3D in camera axes, with lifter-like errors (docstring)."""
    names = list(cap.skeleton.names)
    X = cap.keypoints3d.data[:, [cap.keypoints3d.names.index(n) for n in names]]
    xc = cap.rig[0].world_to_camera(X)
    xc = xc - xc[:, names.index("Hip")][:, None]
    rng = np.random.default_rng(seed)
    xc = xc + rng.normal(0, 0.01, xc.shape)
    xc[..., 2] = 0.8 * xc[..., 2] + rng.normal(0, 0.03, xc.shape[:2])
    return Lifted(1.1 * xc, np.ones(xc.shape[:2]), True, "stand-in")


@lru_cache(maxsize=8)
def solved(view: str, lifter: str):
    from mocap3d.synthetic.body import scaled_model
    cap = capture(view)
    model, _ = scaled_model(HEIGHT, cap.skeleton.name)
    lifted = standin_lifter(cap) if lifter == "stand-in" else None
    res = reconstruct(cap.keypoints2d.data[0, :, 0], list(cap.skeleton.names), np.arange(N_FRAMES), cap.rig[0],
                      RATE, model, HEIGHT, lifted, show_progress=False)
    return cap, res


def errors(view: str, lifter: str) -> dict[str, float]:
    """RMSE of flexion angles (deg), pelvis translation (m), speed and stride length errors (fraction)."""
    cap, res = solved(view, lifter)
    m, f = cap.motion, res.frames
    out = {}
    for c in FLEXION:
        for s in "rl":
            est = np.degrees(res.fit.values[:, res.fit.coordinates.index(f"{c}_{s}")])
            out[f"{c}_{s}"] = float(np.sqrt(np.mean((est - m[f"{c}_{s}"][f]) ** 2)))
    tr = np.stack([m[c][f] for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")], 1)
    est = res.fit.values[:, [res.fit.coordinates.index(c) for c in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]]
    # the world origin is put on the floor under the first frame's mid-hip: horizontal origin aligned, height not
    off = (est - tr).mean(0)
    off[1] = 0.0
    out["pelvis_m"] = float(np.sqrt(np.mean(np.sum((est - tr - off) ** 2, 1))))
    dur = (f[-1] - f[0]) / RATE
    speed = np.linalg.norm(est[-1, [0, 2]] - est[0, [0, 2]]) / dur
    out["speed"] = float(speed / (np.linalg.norm(tr[-1, [0, 2]] - tr[0, [0, 2]]) / dur) - 1)
    period = m.events["period"][0]
    t_hs = np.array(m.events["right_heel_strike"]) + period / 2            # left heel strikes
    hs = [int(round(t * RATE)) for t in t_hs if f[0] <= t * RATE <= f[-1]][:2]
    heel = res.points[:, res.names.index("LHeel")]
    true_heel = cap.keypoints3d.data[:, cap.keypoints3d.names.index("LHeel")]
    out["stride"] = float(np.linalg.norm(heel[hs[1] - f[0], [0, 2]] - heel[hs[0] - f[0], [0, 2]])
                          / np.linalg.norm(true_heel[hs[1], [0, 2]] - true_heel[hs[0], [0, 2]]) - 1)
    return out


# ----------------------------------------------------------------------------- accuracy bars
@pytest.mark.parametrize("lifter", ["none", "stand-in"])
def test_side_view_angles_translation_speed_and_stride(lifter):
    e = errors("side", lifter)
    print("side", lifter, {k: round(v, 4) for k, v in e.items()})
    for s in "rl":
        assert e[f"hip_flexion_{s}"] <= 3.0 and e[f"knee_angle_{s}"] <= 3.0, e
        assert e[f"ankle_angle_{s}"] <= 4.0, e
    assert e["pelvis_m"] <= 0.03, e
    assert abs(e["speed"]) <= 0.03 and abs(e["stride"]) <= 0.03, e


@pytest.mark.parametrize("lifter", ["none", "stand-in"])
def test_45_degree_view_angles(lifter):
    """Bar: 4 deg for hip, knee and ankle flexion. The hardest row is the far ankle from 2D alone ('none'): its foot,
    seen obliquely and hidden behind the near leg in mid-swing, is at 3.5 deg on this capture (2.3-3.5 over the
    benchmark's seeds 1-8)."""
    e = errors("45", lifter)
    print("45", lifter, {k: round(v, 4) for k, v in e.items()})
    for c in FLEXION:
        for s in "rl":
            assert e[f"{c}_{s}"] <= 4.0, (c, s, e)
    assert e["pelvis_m"] <= 0.03, e
    assert abs(e["speed"]) <= 0.03 and abs(e["stride"]) <= 0.03, e


def test_frontal_view_numbers_are_reported_and_sane():
    """No target in front view (depth is ambiguous); the numbers are printed, and the fit must not break down."""
    e = errors("frontal", "stand-in")
    print("frontal stand-in", {k: round(v, 4) for k, v in e.items()})
    _, res = solved("frontal", "stand-in")
    assert res.report["world"]["view_angle_deg"] > 60 and res.report["world"]["depth_ambiguous_frontal_view"]
    assert max(e[f"knee_angle_{s}"] for s in "rl") < 15.0, e
    assert abs(e["speed"]) < 0.15, e


# ----------------------------------------------------------------------------- placement (exact)
def test_root_translation_is_exact_without_noise():
    rng = np.random.default_rng(0)
    rel = rng.normal(0, 0.3, (5, 12, 3))
    t = np.array([[0.3, -0.2, 4.0], [-1, 0.1, 6], [0, 0, 3], [2, 1, 8], [0.5, 0.5, 5]])
    cam = rel + t[:, None]
    xn = cam[..., :2] / cam[..., 2:]
    w = rng.uniform(0.5, 1, (5, 12))
    np.testing.assert_allclose(root_translation(rel, xn, w), t, atol=1e-9)
    w[1, 3:] = 0
    assert np.isnan(root_translation(rel, xn, w)[1]).all() and np.isfinite(root_translation(rel, xn, w)[0]).all()


def test_default_matrix_field_of_view_is_across_the_long_side():
    K = default_matrix((1080, 1920), 66.0)
    assert K[0, 2] == 540 and K[1, 2] == 960
    assert np.degrees(2 * np.arctan(960 / K[0, 0])) == pytest.approx(66.0)
    with pytest.raises(Mocap3dError, match="field_of_view"):
        default_matrix((1920, 1080), 200)


def test_world_frame_from_true_keypoints_recovers_the_floor_and_walking_direction():
    cap = capture("45")
    names = list(cap.keypoints3d.names)
    cam = cap.rig[0].world_to_camera(cap.keypoints3d.data)
    from mocap3d.monocular.pipeline import bone_lengths
    from mocap3d.synthetic.body import scaled_model
    _, feet = bone_lengths(scaled_model(HEIGHT, "HALPE_26")[0], names)
    fr = world_frame(cam, names, feet)
    R_true = cap.rig[0].R                       # world -> camera
    ang = np.degrees(np.arccos(np.clip(np.sum(fr.R * R_true, 0), -1, 1)))   # each world axis in camera coords
    assert ang[0] < 2.0 and ang[1] < 3.0, ang      # X along the walk, Y up
    assert fr.walking and fr.travel_m == pytest.approx(1.3 * (N_FRAMES - 1) / RATE, rel=0.05)
    world = fr.to_world(cam)
    assert np.percentile(world[..., 1], 1) == pytest.approx(np.percentile(cap.keypoints3d.data[..., 1], 1), abs=0.02)


def test_contacts_are_per_sole_point_heel_rises_before_the_toes():
    """Push-off: the heel lifts while the metatarsal heads and toe stay on the floor; only those count as down."""
    from mocap3d.monocular.refine import RefineOptions, _contacts
    F, rate = 60, 60.0
    t = np.arange(F) / rate
    soles = np.zeros((F, 4, 3))                                  # heel, mth1, mth5, toe of one foot, still
    soles[:, 0, 1] = np.clip(t - 0.3, 0, None) * 0.2             # heel rising from 0.3 s at 0.2 m/s
    soles += np.random.default_rng(0).normal(0, 0.002, soles.shape)   # first-pass jitter (2 mm)
    down = _contacts(soles, rate, RefineOptions())
    assert down[:, 1:].all()                                     # forefoot on the floor throughout
    assert down[:15, 0].all() and not down[-15:, 0].any()        # heel down, then up (> 3 cm after 0.45 s)


# ----------------------------------------------------------------------------- bad input
def test_person_missing_for_long_stretches_keeps_the_longest_section_or_fails():
    seen = np.ones(100, bool)
    seen[40:80] = False
    seen[10:15] = False
    a, b, why = keep_section(seen, 10, 10, np.arange(100))
    assert (a, b) == (0, 40) and "40-79" in why[0]
    seen[:] = False
    seen[::7] = True
    with pytest.raises(Mocap3dError, match="missing for long stretches"):
        keep_section(seen, 3, 10, np.arange(100))


def test_too_short_a_video_to_find_the_floor_is_a_clear_error():
    cap = capture("side")
    names = list(cap.keypoints3d.names)
    cam = cap.rig[0].world_to_camera(cap.keypoints3d.data[:6])
    with pytest.raises(Mocap3dError, match="too short.*floor"):
        world_frame(cam, names, {"LHeel": 0.05, "RHeel": 0.05})


# ----------------------------------------------------------------------------- the stage on files
def test_stage_without_calibration_warns_writes_triangulation_files_and_runs_on(tmp_path, caplog):
    import mocap3d
    from mocap3d.io.trc import read_trc
    from mocap3d.project import discover, stage_plan
    from mocap3d.synthetic import write_capture
    cap = make_capture(1, "walking", n_frames=60, rate=RATE, rig=single_camera_rig("side", seed=1), noise_px=1.0,
                       seed=2)
    trial = write_capture(cap, tmp_path / "walk")
    shutil.rmtree(trial / "calibration")                         # one phone, no calibration at all
    t = discover(trial, require_calibration=True)[0]             # a one-camera trial needs no calibration/
    assert stage_plan(t, ["calibration", "pose", "synchronization", "association", "triangulation", "filtering",
                          "kinematics"]) == ["pose", "monocular", "filtering", "kinematics"]
    with caplog.at_level("WARNING", logger="mocap3d"):
        res = mocap3d.monocular(trial, quiet=True)
    assert res[0].status == "ok"
    assert "field_of_view = 66 deg" in caplog.text
    trc = trial / "pose-3d" / "walk_0-59.trc"
    assert trc.is_file() and trc.with_suffix(".c3d").is_file()
    assert (trial / "pose-3d" / "monocular_overlay.png").stat().st_size > 1000
    markers = read_trc(trc)
    assert {"Hip", "Neck", "LHeel", "RBigToe"} <= set(markers.names)
    assert markers.data[..., 1].min() == pytest.approx(0.0, abs=0.03)          # Y up, feet on the floor
    assert np.ptp(markers.data[:, markers.names.index("Hip"), 1]) < 0.1
    rep = json.loads((trial / "pose-3d" / "monocular_report.json").read_text())
    assert rep["lifter"] == "none" and "default field_of_view" in rep["intrinsics"]["source"]
    assert rep["reprojection_error_px"]["mean"] < 3.0
    assert mocap3d.association(trial, quiet=True)[0].report["skipped"].startswith("one camera")


def test_monocular_is_a_cli_verb_and_an_api_verb():
    import mocap3d
    from mocap3d import cli
    from mocap3d.runner import stage_function
    args = cli.build_parser().parse_args(["monocular", "trial", "--set", "monocular.camera=cam02"])
    assert cli.STAGE_COMMANDS[args.command][0] == "monocular" and args.sets == ["monocular.camera=cam02"]
    assert callable(mocap3d.monocular) and stage_function("monocular").__module__ == "mocap3d.monocular"


def test_monocular_options_defaults_agree_with_the_packaged_config():
    from mocap3d.config import default_config
    from mocap3d.monocular.stage import MonocularOptions
    opts = MonocularOptions.from_config(default_config())
    code = MonocularOptions()
    for f in dataclasses.fields(MonocularOptions):
        if f.name != "extra":
            assert getattr(code, f.name) == getattr(opts, f.name), f.name
    assert not opts.extra


def test_subtalar_sigma_reaches_the_model_fit_and_leaves_the_other_priors():
    from mocap3d.monocular.refine import RefineOptions
    from mocap3d.monocular.stage import MonocularOptions
    prior = dict((c, (v, sd)) for c, v, sd in MonocularOptions.from_config(
        {"monocular": {"subtalar_sigma_deg": 10.0}}).refine().posture_prior_deg)
    default = dict((c, (v, sd)) for c, v, sd in RefineOptions().posture_prior_deg)
    assert prior.keys() == default.keys()
    for c, (v, sd) in prior.items():
        assert v == default[c][0] and sd == (10.0 if c.startswith("subtalar") else default[c][1]), c
    assert dict((c, sd) for c, _, sd in MonocularOptions().refine().posture_prior_deg)["subtalar_angle_r"] == 3.0


# ----------------------------------------------------------------------------- left/right swaps
def test_left_right_swaps_in_runs_are_found_and_the_side_view_bars_still_met():
    """The detector swaps the sides in runs of 3-10 frames (2D and lifted 3D together, as BlazePose does):
    the swapped frames are found (precision and recall per limb group) and the side-view bars still hold."""
    from mocap3d.monocular.swaps import correct_swaps
    from mocap3d.synthetic.body import scaled_model
    from mocap3d.synthetic.corruptions import swap_left_right, swap_mask
    from mocap3d.triangulation.swaps import lr_pairs
    cap = capture("side")
    names = list(cap.skeleton.names)
    lifted = standin_lifter(cap)
    mask = swap_mask((1, N_FRAMES, 1), 0.01, 4, np.random.default_rng(7))
    pairs = lr_pairs(names)
    kp = swap_left_right(cap.keypoints2d.data[:1, :, :1], mask, pairs)[0, :, 0]
    xyz = swap_left_right(np.concatenate([lifted.xyz, lifted.confidence[..., None]], -1)[None, :, None], mask,
                          pairs)[0, :, 0, :, :3]
    truth = mask[0, :, 0]
    assert 12 <= truth.sum() <= 40
    for lift in (xyz, None):                                      # with the lifted 3D, and from 2D alone
        _, _, _, found = correct_swaps(kp, names, lift, None, 0.3)
        for g in range(found.shape[1]):
            tp = (found[:, g] & truth).sum()
            assert tp / max(found[:, g].sum(), 1) >= 0.95 and tp / truth.sum() >= 0.9, (lift is None, g, found[:, g])
    model, _ = scaled_model(HEIGHT, cap.skeleton.name)
    res = reconstruct(kp, names, np.arange(N_FRAMES), cap.rig[0], RATE, model, HEIGHT,
                      Lifted(xyz, lifted.confidence, True, "stand-in"), show_progress=False)
    assert res.report["left_right_swaps"]["frames_swapped_any_group"] == pytest.approx(truth.sum(), abs=2)
    f = res.frames
    for c, bar in (("hip_flexion", 3.0), ("knee_angle", 3.0), ("ankle_angle", 4.0)):
        for s in "rl":
            est = np.degrees(res.fit.values[:, res.fit.coordinates.index(f"{c}_{s}")])
            rmse = float(np.sqrt(np.mean((est - cap.motion[f"{c}_{s}"][f]) ** 2)))
            assert rmse <= bar, (c, s, rmse)
