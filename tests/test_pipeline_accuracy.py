"""Issue-3 quality bar through the whole pipeline: joint angles of a synthetic walking capture.

A 4-camera capture of our model (``mocap3d.synthetic``: real walking angles, a
random but realistic rig, lens distortion, 1 px Gaussian keypoint noise, no
other corruption, true calibration, 3 s at 60 Hz) goes through the public API:
triangulation -> filtering (defaults: Hampel + 6 Hz Butterworth) ->
[augmentation] -> kinematics (automatic scaling, IK). The ``.mot`` is compared
with the true coordinates at the same times.

Bars (issue 3): hip and knee flexion within 1.0 deg RMSE and ankle flexion
within 2.0 deg on both sides. Pose2Sim 0.10.49 under the same conditions:
hip 0.6-0.7, knee 1.2, ankle 4.2-4.7 deg.

Measured (seed 0): keypoints only hip 0.68/0.74, knee 0.35/0.42, ankle
0.92/1.05 (r/l); with the LSTM markers hip 0.60/0.85, knee 0.37/0.50, ankle
0.93/1.07. In that path the augmenter's ASIS/PSIS set the pelvis tilt that the
collinear hip keypoints leave loose, but they carry a gait-locked error
relative to our rigid pelvis (about 10 mm RMS after placement; their
forward/lateral error correlates at 0.9 with hip flexion). Their IK weight is
therefore measured per trial (``lstm_pelvis_weight = 'auto'``: squared ratio of
the keypoint noise to the pelvis-marker noise, both from the spread of lengths
that should not change): 0.10 here, so the clean keypoints lead. A fixed
weight of 0.5, as before, gave hip 0.86/1.40; on the noisier Demo the measured
weight is ~0.56 and keeps its hip error (1.17/1.45 vs 1.19/1.44 at 0.5; 0.1
would give 2.05).

Hip flexion on keypoints alone is limited by pelvis tilt: the hip keypoints are
collinear, so the tilt comes from where the trunk sits above the hips, which
depends on the torso scale factor to about 1 deg per 0.2 % (< 1 mm); noise of 1 px
keypoints over a few seconds leaves that much, hence 0.7-1.0 deg over seeds 0-3
at 60 Hz (seed 1, the worst rig: 1.03) and 0.9-1.8 deg for 4 s at 30 Hz.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opensim")

import mocap3d.api as api
from mocap3d.errors import Mocap3dError
from mocap3d.evaluation import resample
from mocap3d.io.mot import read_mot
from mocap3d.synthetic import make_capture, write_capture

RATE = 60.0
FRAMES = 180
SIDES = ("r", "l")

#: Other coordinates: bounds a few tenths of a degree above the measured values of the keypoint path
#: (seed 0: pelvis tilt 0.71, list 0.25, rotation 0.41, hip adduction 0.32/0.31, hip rotation 1.10/0.92,
#: lumbar extension 0.93 deg). Hip rotation is the least observable one (no marker off the femur's long
#: axis but the knee), so its bound is the loosest. Pronation/supination and wrist flexion are not
#: asserted: the detector keypoints carry nothing that measures them (6.6 and 1.9 deg, the default pose).
OTHER_BOUNDS_KEYPOINTS = {"pelvis_tilt": 1.2, "pelvis_list": 1.0, "pelvis_rotation": 1.2,
                          "hip_adduction_r": 1.0, "hip_adduction_l": 1.0,
                          "hip_rotation_r": 2.0, "hip_rotation_l": 2.0, "lumbar_extension": 1.5,
                          "subtalar_angle_r": 2.0, "subtalar_angle_l": 2.0,       # measured 1.3 / 1.0
                          "arm_flex_r": 1.0, "arm_flex_l": 1.0, "elbow_flex_r": 1.0, "elbow_flex_l": 1.0}  # 0.4-0.5


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """The capture written as a trial folder, triangulated and filtered through the API."""
    cap = make_capture(4, "walking", FRAMES, RATE, noise_px=1.0, occlusion=False, seed=0)
    assert cap.settings["missing"] == 0 and cap.settings["swaps"] == 0 and not np.any(cap.offsets)
    folder = tmp_path_factory.mktemp("accuracy") / "walk"
    write_capture(cap, folder)          # calibration/Calib.toml is the true calibration
    for stage in (api.triangulation, api.filtering):
        (res,) = stage(folder, quiet=True)
        assert res.status == "ok", res
    return folder


def _kinematics(folder, use_augmentation: bool):
    (res,) = api.kinematics(folder, quiet=True, kinematics={"use_augmentation": use_augmentation})
    assert res.status == "ok", res
    lstm = [p for p in (folder / "kinematics").glob("*.mot") if p.stem.endswith("_LSTM")]
    plain = [p for p in (folder / "kinematics").glob("*.mot") if not p.stem.endswith("_LSTM")]
    (mot,) = lstm if use_augmentation else plain
    assert "_filt_butterworth" in mot.stem      # IK ran on the filtered keypoints
    return mot


def rmse_vs_truth(mot, folder) -> dict[str, float]:
    """RMSE (deg) per coordinate of ``mot`` against ground_truth/coordinates.mot at the .mot's times.

    The truth is sampled at n / rate on camera 0's clock; no camera is offset, so
    the trial's frame n is at the same time. Checks that every true frame is there.
    """
    est, tru = read_mot(mot), read_mot(folder / "ground_truth" / "coordinates.mot")
    assert est.in_degrees and tru.in_degrees
    assert len(est.times) == len(tru.times) == FRAMES
    np.testing.assert_allclose(est.times, tru.times, atol=1e-6)
    names = [n for n in est.columns if n in tru.columns and n not in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    true = resample(tru.times, np.column_stack([tru[n] for n in names]), est.times)
    err = np.column_stack([est[n] for n in names]) - true
    assert np.isfinite(err).all()
    return dict(zip(names, np.sqrt(np.mean(err ** 2, axis=0)).tolist()))


def _fmt(r: dict[str, float]) -> str:
    keys = [f"{c}_{s}" for c in ("hip_flexion", "knee_angle", "ankle_angle") for s in SIDES] + ["pelvis_tilt"]
    return ", ".join(f"{k} {r[k]:.2f}" for k in keys)


def _assert_issue_bar(r: dict[str, float]) -> None:
    """Issue 3: hip and knee flexion within 1.0 deg RMSE, ankle flexion within 2.0 deg, both sides."""
    for s in SIDES:
        assert r[f"hip_flexion_{s}"] <= 1.0, _fmt(r)
        assert r[f"knee_angle_{s}"] <= 1.0, _fmt(r)
        assert r[f"ankle_angle_{s}"] <= 2.0, _fmt(r)


def test_keypoints_only_meets_the_issue_bar(trial):
    r = rmse_vs_truth(_kinematics(trial, use_augmentation=False), trial)
    print("keypoints only:", _fmt(r))
    _assert_issue_bar(r)
    for name, bound in OTHER_BOUNDS_KEYPOINTS.items():
        assert r[name] <= bound, f"{name} {r[name]:.2f} > {bound}"


@pytest.fixture(scope="module")
def augmented(trial):
    """The trial with the LSTM markers; skipped only when no source of the published weights is reachable."""
    from mocap3d.augmentation import cache_dir, load_augmenters
    try:
        load_augmenters({})
    except Mocap3dError as exc:
        pytest.skip(f"LSTM v0.3 weights unavailable (not in {cache_dir()}, public URL and PyPI unreachable): {exc}")
    (res,) = api.augmentation(trial, quiet=True)
    assert res.status == "ok", res
    assert list((trial / "pose-3d").glob("*_filt_butterworth_LSTM.trc"))
    return trial


def test_with_lstm_markers(augmented):
    import json
    r = rmse_vs_truth(_kinematics(augmented, use_augmentation=True), augmented)
    print("with LSTM markers:", _fmt(r))
    _assert_issue_bar(r)
    assert r["pelvis_tilt"] <= 1.0 and r["lumbar_extension"] <= 1.2, _fmt(r)
    assert r["pelvis_rotation"] <= 1.5 and r["pelvis_list"] <= 1.0, _fmt(r)
    report = json.loads((augmented / "kinematics" / "kinematics_report.json").read_text())
    (entry,) = [p for p in report["persons"] if p["trc"].endswith("_LSTM.trc")]
    measured = entry["measured_weights"]
    assert 0.05 <= measured["asis_psis_weight"] <= 0.2, measured     # clean keypoints: the pelvis markers weigh little
    assert entry["marker_weights"]["r.ASIS_study"] == pytest.approx(measured["asis_psis_weight"], abs=1e-4)
