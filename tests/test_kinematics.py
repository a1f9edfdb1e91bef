"""Kinematics round trips against ground truth: FK -> .trc -> automatic scaling + IK -> coordinates."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

osim = pytest.importorskip("opensim")

from mocap3d.io.trc import read_trc, write_trc
from mocap3d.kinematics import scaling
from mocap3d.kinematics.forward import marker_positions
from mocap3d.kinematics.ik import solve_ik
from mocap3d.kinematics.markersets import attach_markers, marker_definitions
from mocap3d.kinematics.model_builder import build_model
from mocap3d.kinematics.pipeline import KinematicsOptions, kinematics_from_markers
from mocap3d.kinematics.stage import run_kinematics
from mocap3d.markers import Markers3D
from mocap3d.project import Trial

RATE = 60.0
#: A taller, heavier person than the generic model (1.76 m), with unequal segment proportions. The pelvis
#: is 4 % wider; its height and depth follow the torso (2 %), which is what the scaling assumes since no
#: marker measures the pelvis height (scaling.pelvis_axes).
TRUTH_PELVIS_AXES = {"pelvis": (1.02, 1.02, 1.04)}
TRUTH_FACTORS = {"pelvis": 1.04, "femur": 1.07, "tibia": 1.05, "talus": 1.05, "calcn": 1.03, "toes": 1.03,
                 "torso": 1.02, "cervical": 1.02, "head": 1.02, "humerus": 1.06, "ulna": 1.04, "radius": 1.04, "hand": 1.04}


def gait(n: int) -> dict[str, np.ndarray]:
    """A gait-like trajectory (rad, m): 1.1 s cycle, walking at 1.3 m/s along X."""
    t = np.arange(n) / RATE
    ph = 2 * np.pi * t / 1.1
    d = np.radians
    return {
        "pelvis_tx": 1.3 * t, "pelvis_ty": 1.03 + 0.02 * np.sin(2 * ph), "pelvis_tz": 0.02 * np.sin(ph),
        "pelvis_tilt": d(-5 + 3 * np.sin(2 * ph)), "pelvis_list": d(4 * np.sin(ph)), "pelvis_rotation": d(6 * np.sin(ph)),
        "hip_flexion_r": d(10 + 25 * np.sin(ph)), "hip_flexion_l": d(10 - 25 * np.sin(ph)),
        "hip_adduction_r": d(3 * np.sin(ph)), "hip_adduction_l": d(-3 * np.sin(ph)),
        "hip_rotation_r": d(5 * np.sin(ph)), "hip_rotation_l": d(-5 * np.sin(ph)),
        "knee_angle_r": d(30 + 30 * np.sin(ph - 1)), "knee_angle_l": d(30 - 30 * np.sin(ph - 1)),
        "ankle_angle_r": d(5 + 10 * np.sin(ph + 1)), "ankle_angle_l": d(5 - 10 * np.sin(ph + 1)),
        "mtp_angle_r": d(10 + 10 * np.sin(ph + 2)), "mtp_angle_l": d(10 - 10 * np.sin(ph + 2)),
        "lumbar_extension": d(-5 + 2 * np.sin(2 * ph)), "lumbar_bending": d(2 * np.sin(ph)),
        "lumbar_rotation": d(-4 * np.sin(ph)), "neck_flexion": d(5 + 2 * np.sin(ph)),
        "arm_flex_r": d(-20 * np.sin(ph)), "arm_flex_l": d(20 * np.sin(ph)),
        "arm_add_r": d(-10 + 0 * t), "arm_add_l": d(-10 + 0 * t),
        "elbow_flex_r": d(30 + 10 * np.sin(ph)), "elbow_flex_l": d(30 - 10 * np.sin(ph)),
    }


def truth_markers(variant: str, markerset: str, n: int = 70):
    """(Markers3D, coordinate dict, per-body factors) of the truth person."""
    model = build_model(variant)
    names = attach_markers(model, markerset)
    bodies = [model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())]
    factors = {b: TRUTH_FACTORS[b[:-2] if b.endswith(("_r", "_l")) else b] for b in bodies}
    scaling.scale_model(model, factors, 80.0, TRUTH_PELVIS_AXES)
    traj = gait(n)
    q = np.column_stack(list(traj.values()))
    pts = marker_positions(model, q, list(traj), names)
    return Markers3D(pts, names, RATE), traj, factors


def _rmse_deg(result, traj) -> dict[str, float]:
    out = {}
    for c, v in traj.items():
        if c.startswith("pelvis_t"):
            continue
        est = result.values[:, result.coordinates.index(c)]
        out[c] = float(np.degrees(np.sqrt(np.mean((est - v) ** 2))))
    return out


@pytest.mark.parametrize("variant", ["full", "simple"])
def test_round_trip_trc_scale_ik(tmp_path: Path, variant: str):
    markers, traj, truth = truth_markers(variant, "HALPE_26")
    path = write_trc(markers, tmp_path / "walk.trc")
    loaded = read_trc(path)                                        # from the .trc alone
    # noise-free round trip: no mtp prior (kinematics.keypoint_mtp_weight pulls the toes toward 0, a bias of
    # ~1.5 deg on this gait's 0-20 deg mtp motion, which pays off only on noisy keypoints)
    opts = KinematicsOptions(variant=variant, setup_dir=tmp_path, keypoint_mtp_weight=0.0)
    scaled, result = kinematics_from_markers(loaded, opts)
    for body, f in truth.items():
        assert scaled.factors[body] == pytest.approx(f, rel=0.01), body
    rmse = _rmse_deg(result, traj)
    assert max(rmse.values()) < 0.5, rmse
    assert np.nanmax(result.rms_error) < 1e-3                      # < 1 mm marker RMS
    tx = result.values[:, result.coordinates.index("pelvis_tx")]
    assert np.abs(tx - traj["pelvis_tx"]).max() < 0.01


def test_round_trip_lstm_markers(tmp_path: Path):
    markers, traj, truth = truth_markers("simple", "LSTM", 60)
    scaled, result = kinematics_from_markers(markers, KinematicsOptions(variant="simple", setup_dir=tmp_path))
    errs = {b: abs(scaled.factors[b] / f - 1) for b, f in truth.items() if not b.startswith(("hand", "radius"))}
    assert max(errs.values()) < 0.01, errs
    rmse = _rmse_deg(result, traj)
    rmse.pop("neck_flexion")                                       # no head marker among the 43: unobservable
    assert max(rmse.values()) < 0.5, rmse


def test_fast_and_opensim_solvers_agree():
    model = build_model("full")
    names = attach_markers(model, "HALPE_26")
    traj = gait(15)
    q = np.column_stack(list(traj.values()))
    pts = marker_positions(model, q, list(traj), names)
    times = np.arange(15) / RATE
    fast = solve_ik(model, pts, names, times, solver="fast", show_progress=False)
    ref = solve_ik(model, pts, names, times, solver="opensim", accuracy=1e-7, show_progress=False)
    observable = [i for i, c in enumerate(fast.coordinates) if c in traj and not c.startswith("pelvis_t")]
    diff = np.degrees(np.abs(fast.values[:, observable] - ref.values[:, observable]))
    assert diff.max() < 0.1
    assert np.nanmax(fast.rms_error) <= np.nanmax(ref.rms_error) + 1e-6
    tasks = {"lumbar_extension": 0.01}                            # OpenSim coordinate task, same cost in both
    fast = solve_ik(model, pts, names, times, solver="fast", show_progress=False, coordinate_tasks=tasks)
    ref = solve_ik(model, pts, names, times, solver="opensim", accuracy=1e-7, show_progress=False,
                   coordinate_tasks=tasks)
    lumbar = fast.coordinates.index("lumbar_extension")
    assert np.degrees(np.abs(fast.values[:, lumbar] - ref.values[:, lumbar])).max() < 0.1
    assert np.degrees(np.abs(fast.values[:, lumbar] - traj["lumbar_extension"])).mean() > 0.5   # pulled to 0


def test_nan_markers_and_frames_are_excluded_and_reported():
    model = build_model("simple")
    names = attach_markers(model, "HALPE_26")
    traj = gait(20)
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    pts[5:9, names.index("RKnee")] = np.nan
    pts[12] = np.nan                                               # a frame with nothing
    res = solve_ik(model, pts, names, np.arange(20) / RATE, show_progress=False)
    assert res.missing["RKnee"] == 5 and not res.solved[12] and res.solved.sum() == 19
    assert np.isnan(res.marker_errors[6, res.marker_names.index("RKnee")])
    assert np.all(np.isfinite(res.values))
    k = res.coordinates.index("knee_angle_r")
    assert np.degrees(np.abs(res.values[[6, 12], k] - traj["knee_angle_r"][[6, 12]])).max() < 1.0


def test_lm_warm_start_and_range_limits():
    """Frames started from an earlier solution converge at once; a coordinate that its range limit holds
    is left out of the step (active set) and ends exactly at the limit."""
    from mocap3d.kinematics.lm_solver import LMSolver
    model = build_model("full")
    names = attach_markers(model, "HALPE_26")
    traj = gait(12)
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    times = np.arange(12) / RATE
    first = solve_ik(model, pts, names, times, show_progress=False)
    again = solve_ik(model, pts, names, times, show_progress=False, initial=first.values)
    assert np.abs(again.values - first.values).max() < 1e-6
    assert again.model_points.shape == pts.shape and np.abs(again.model_points - pts).max() < 1e-4
    solver = LMSolver(model, names, np.ones(len(names)))
    state = solver.state
    from mocap3d.kinematics.forward import q_indices
    q_all = q_indices(model, state, first.coordinates)
    q0 = np.zeros(state.getNQ())
    q0[q_all] = first.values[5]
    solver.solve(q0, pts[5])
    assert solver.iterations[-1] <= 1
    ankle = q_all[first.coordinates.index("ankle_angle_r")]
    hi = model.getCoordinateSet().get("ankle_angle_r").getRangeMax()
    pulled = pts[5].copy()
    for n in ("RBigToe", "RSmallToe"):                              # toes 10 cm up: beyond full dorsiflexion
        pulled[names.index(n), 1] += 0.10
    q, _ = solver.solve(q0, pulled)
    assert q[ankle] == pytest.approx(hi) and solver.iterations[-1] <= 20
    g = np.zeros(len(q))
    g[ankle] = -1.0                                                 # descent direction: further up
    assert not solver._free(q, g)[ankle] and solver._free(q, -g)[ankle] and solver._free(q, g).sum() == len(q) - 1


def test_scale_model_keeps_mass_and_lifts_standing_height():
    """Without a mass the total mass is kept; the default standing height follows the legs' factors; the
    scaled model's system is ready (Model.scale rebuilt it) and its markers are scaled with their bodies."""
    model = build_model("simple")
    names = attach_markers(model, "HALPE_26")
    total = model.getTotalMass(model.initSystem())
    ty = model.getCoordinateSet().get("pelvis_ty").getDefaultValue()
    before = marker_positions(model, np.zeros((1, 0)), [], names)[0]
    factors = {"femur_r": 1.1, "femur_l": 1.1, "tibia_r": 1.2, "tibia_l": 1.2}
    scaling.scale_model(model, factors)
    assert model.getTotalMass(model.getWorkingState()) == pytest.approx(total, rel=1e-12)
    assert model.getCoordinateSet().get("pelvis_ty").getDefaultValue() == pytest.approx(ty * 1.15)
    after = marker_positions(model, np.zeros((1, 0)), [], names)[0]
    i, j = names.index("RKnee"), names.index("RAnkle")
    assert np.linalg.norm(after[i] - after[j]) == pytest.approx(1.2 * np.linalg.norm(before[i] - before[j]), rel=1e-6)


def test_lm_marker_positions_match_opensim(monkeypatch):
    """The solver reads marker positions and station Jacobians through the bindings' C entry points; they
    are OpenSim's own (and the public API is used where those entry points are missing)."""
    from mocap3d.kinematics import lm_solver
    model = build_model("full")
    names = attach_markers(model, "HALPE_26")
    traj = gait(3)
    q_traj = np.column_stack(list(traj.values()))
    truth = marker_positions(model, q_traj, list(traj), names)
    solver = lm_solver.LMSolver(model, names, np.ones(len(names)))
    from mocap3d.kinematics.forward import default_q, q_indices
    q = default_q(model, solver.state)
    q[q_indices(model, solver.state, list(traj))] = q_traj[2]
    fast = solver.positions(q)
    fast_jacobian = solver._jacobian()
    monkeypatch.setattr(lm_solver, "_FAST_BINDINGS", False)
    public = solver.positions(q)
    assert fast.shape == (len(names), 3) and fast_jacobian.shape == (3 * len(names), solver.nu)
    np.testing.assert_array_equal(fast, public)
    np.testing.assert_array_equal(fast_jacobian, solver._jacobian())
    np.testing.assert_allclose(fast, truth[2], atol=1e-12)


def test_face_keypoints_far_from_the_model_are_placed():
    """A detector whose face keypoints sit 40 mm above the model's (real BlazePose on Pose2Sim's demo: 40-70 mm):
    they are placed from the data, the fit is back near the noise-free level and the trunk and leg angles that the
    misplaced face had pulled improve (the neck angle takes the face's offset: it is relative to the placement)."""
    from mocap3d.kinematics.markersets import FACE_KEYPOINTS, _base
    markers, traj, _ = truth_markers("simple", "BLAZEPOSE", 40)
    face = [n for n in markers.names if _base(n) in FACE_KEYPOINTS]
    markers.data[:, [markers.names.index(n) for n in face], 1] += 0.04
    off = KinematicsOptions(variant="simple", keypoint_placement_mm=0.0, keypoint_mtp_weight=0.0)
    on = KinematicsOptions(variant="simple", keypoint_mtp_weight=0.0)
    (s_off, r_off), (s_on, r_on) = kinematics_from_markers(markers, off), kinematics_from_markers(markers, on)
    assert not s_off.moved_markers and set(s_on.moved_markers) == set(face)
    assert np.nanmean(r_off.rms_error) > 0.01 and np.nanmean(r_on.rms_error) < 0.002
    for k in ("hip_flexion_r", "hip_flexion_l", "lumbar_extension", "arm_flex_l", "mtp_angle_r"):
        on_k, off_k = _rmse_deg(r_on, {k: traj[k]})[k], _rmse_deg(r_off, {k: traj[k]})[k]
        assert on_k < 0.6 * off_k, (k, on_k, off_k)          # measured: hip 1.05 vs 2.3-2.7, lumbar 1.4 vs 2.5


def test_blazepose_foot_keypoints_sit_at_the_sole():
    """BlazePose's heel and foot index are points of the sole (the floor under the standing generic model); the heel
    and toe keypoints of the other detectors, and OpenCap's calcaneus marker, sit 15-35 mm higher."""
    model = build_model("simple")
    defs = {"B" + n: d for n, d in marker_definitions("BLAZEPOSE").items() if "Heel" in n or "FootIndex" in n}
    defs |= {"H" + n: d for n, d in marker_definitions("HALPE_26").items() if "Heel" in n or "BigToe" in n}
    defs |= {n: d for n, d in marker_definitions("LSTM").items() if "calc" in n}
    names = attach_markers(model, defs)
    y = dict(zip(names, marker_positions(model, np.zeros((1, 0)), [], names)[0][:, 1]))
    floor = min(y.values())
    for n in ("BRHeel", "BLHeel", "BRFootIndex", "BLFootIndex"):
        assert y[n] == pytest.approx(floor, abs=1e-9), n
    assert y["HRHeel"] - floor == pytest.approx(0.03, abs=1e-9) and y["HRBigToe"] - floor == pytest.approx(0.015, abs=1e-9)
    assert 0.03 <= y["r_calc_study"] - floor <= 0.04


def test_posture_ratios_and_robust_distance():
    d = np.array([1.0, 1.0, 1.0, 5.0, np.nan, -3.0])
    assert scaling.robust_distance(d, 50.0) == pytest.approx(1.0)
    names = ["RHip", "RKnee"]
    obs = np.zeros((4, 2, 3))
    obs[:, 1, 1] = -0.5
    mod = obs.copy()
    mod[:, 1, 1] = -0.4
    assert scaling.posture_ratios(obs, mod, names)["thigh_r"] == pytest.approx(1.25)
    rng = np.random.default_rng(0)
    obs = np.repeat(obs[:1], 400, axis=0)
    obs[:, 1, 1] += rng.normal(0, 0.01, 400)                      # 10 mm noise on a 0.5 m segment
    se: dict[str, float] = {}
    scaling.posture_ratios(obs, np.repeat(mod[:1], 400, axis=0), names, 50.0, se)
    assert se["thigh_r"] == pytest.approx(0.01 / 0.4 / np.sqrt(400), rel=0.15)   # standard error of the ratio


def test_stage_outputs_mot_loads_on_scaled_osim(tmp_path: Path):
    markers, traj, _ = truth_markers("simple", "HALPE_26", 50)
    markers.data[10:13, markers.names.index("LWrist")] = np.nan
    trial_dir = tmp_path / "trial"
    write_trc(markers, trial_dir / "pose-3d" / "walk_filt_butterworth.trc")
    write_trc(markers, trial_dir / "pose-3d" / "walk.trc")         # raw: must not be chosen
    config = {"project": {"participant_height": "auto", "participant_mass": 80.0},
              "pose": {"pose_model": "HALPE_26"},
              "kinematics": {"use_augmentation": True, "use_simple_model": True, "parallel_workers_kinematics": 1,
                             "remove_individual_ik_setup": False, "remove_individual_scaling_setup": False,
                             "filter_ik": True, "ik_filter_type": "butterworth"}}
    report = run_kinematics(Trial(trial_dir, trial_dir, config))
    kin = trial_dir / "kinematics"
    person = report["persons"][0]
    assert report["input_kind"] == "filtered" and person["markers_missing_frames"] == {"LWrist": 3}
    osim_path, mot_path = kin / "walk_filt_butterworth_scaled.osim", kin / "walk_filt_butterworth.mot"
    assert json.loads((kin / "kinematics_report.json").read_text())["persons"][0]["frames"] == 50
    assert (kin / "walk_filt_butterworth_ik_setup.xml").is_file()
    scale_tool = osim.ScaleTool(str(kin / "walk_filt_butterworth_scaling_setup.xml"))
    assert scale_tool.getModelScaler().getScaleSet().getSize() == 22            # one Scale per body
    filtered = osim.TimeSeriesTable(str(kin / "walk_filt_butterworth_filt_butterworth.mot"))
    assert filtered.getNumRows() == 50 and filtered.getNumColumns() == 41
    model = osim.Model(str(osim_path))
    model.initSystem()
    table = osim.TimeSeriesTable(str(mot_path))
    labels = list(table.getColumnLabels())
    cs = model.getCoordinateSet()
    assert len(labels) == cs.getSize() and all(cs.contains(c) for c in labels)
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
    knee = table.getDependentColumn("knee_angle_r").to_numpy()
    assert np.sqrt(np.mean((knee - np.degrees(traj["knee_angle_r"])) ** 2)) < 0.5
    assert model.getTotalMass(model.initSystem()) == pytest.approx(80.0)
    code = (f"import opensim as osim; m = osim.Model({str(osim_path)!r}); m.initSystem(); "
            "print(m.getNumCoordinates(), m.getMarkerSet().getSize())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split()[-2:] == ["41", str(len(markers.names))]


def test_user_model_with_marker_mapping(tmp_path: Path):
    markers, traj, _ = truth_markers("simple", "HALPE_26", 20)
    user = build_model("simple")                                  # stands for a user's scaled model
    defs = {f"M_{n}": d for n, d in marker_definitions("HALPE_26").items()}
    attach_markers(user, defs)
    scaling.scale_model(user, _truth_factors(user), 80.0)
    path = tmp_path / "user.osim"
    user.printToXML(str(path))
    mapping = {n: f"M_{n}" for n in markers.names if n not in ("Nose", "Head")}
    opts = KinematicsOptions(osim_model=str(path), marker_mapping=mapping)
    scaled, result = kinematics_from_markers(markers, opts)
    assert scaled.markerset == "custom" and "M_Nose" not in result.marker_names
    assert len(result.marker_names) == len(mapping)
    k = result.coordinates.index("knee_angle_r")
    assert np.degrees(np.abs(result.values[:, k] - traj["knee_angle_r"])).max() < 0.5


def _truth_factors(model) -> dict[str, float]:
    bodies = [model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())]
    return {b: TRUTH_FACTORS[b[:-2] if b.endswith(("_r", "_l")) else b] for b in bodies}


def test_scaling_from_time_range_uses_only_those_frames():
    markers, _, truth = truth_markers("simple", "HALPE_26", 60)
    thigh = [markers.names.index(n) for n in ("RHip", "RKnee")]
    markers.data[30:, thigh[1]] += np.array([0.0, -0.05, 0.0])     # corrupt the knee outside the range
    opts = KinematicsOptions(variant="simple", scaling_time_range=(0.0, 0.45), scaling_iterations=1)
    scaled, _ = kinematics_from_markers(markers, opts)
    assert scaled.frames_used == 28
    assert scaled.factors["femur_r"] == pytest.approx(truth["femur_r"], rel=0.01)


def test_two_persons_in_parallel_processes(tmp_path: Path):
    a, traj, _ = truth_markers("simple", "HALPE_26", 25)
    b = Markers3D(a.data + np.array([0.0, 0.0, 1.5]), a.names, RATE)      # a second person 1.5 m to the right
    trial_dir = tmp_path / "trial"
    write_trc(a, trial_dir / "pose-3d" / "walk_P1.trc")
    write_trc(b, trial_dir / "pose-3d" / "walk_P2.trc")
    config = {"project": {"participant_mass": [80.0, 60.0]},
              "kinematics": {"use_simple_model": True, "parallel_workers_kinematics": 2}}
    report = run_kinematics(Trial(trial_dir, trial_dir, config))
    assert report["workers"] == 2 and not report["errors"]
    masses = sorted(p["mass_kg"] for p in report["persons"])
    assert masses == [60.0, 80.0]
    for name in ("walk_P1", "walk_P2"):
        table = osim.TimeSeriesTable(str(trial_dir / "kinematics" / f"{name}.mot"))
        tz = table.getDependentColumn("pelvis_tz").to_numpy()
        expected = traj["pelvis_tz"] + (1.5 if name.endswith("2") else 0.0)
        assert np.abs(tz - expected).max() < 0.005


def test_scaling_from_static_trial():
    markers, _, truth = truth_markers("simple", "HALPE_26", 30)
    static = Markers3D(markers.data[:5].copy(), markers.names, RATE)
    static.data[:] = static.data[:1]                                # a person standing still
    moving = Markers3D(markers.data.copy(), markers.names, RATE)
    moving.data[:, moving.names.index("RKnee")] += np.array([0.0, -0.05, 0.0])   # wrong in the motion only
    opts = KinematicsOptions(variant="simple", static_markers=static, scaling_iterations=1)
    scaled, _ = kinematics_from_markers(moving, opts)
    assert scaled.frames_used == 5
    assert scaled.factors["femur_r"] == pytest.approx(truth["femur_r"], rel=0.01)


def test_study_markers_placed_on_the_model_from_keypoints():
    """Augmented markers placed differently from our guesses (another model's) are moved onto the data."""
    rng = np.random.default_rng(3)
    model = build_model("full")
    defs = marker_definitions("HALPE_26") | {n: (b, tuple(np.add(loc, rng.uniform(-0.02, 0.02, 3))))
                                             for n, (b, loc) in marker_definitions("LSTM").items()}
    names = attach_markers(model, defs)
    scaling.scale_model(model, _truth_factors(model), 80.0, TRUTH_PELVIS_AXES)
    traj = gait(60)
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    markers = Markers3D(pts, names, RATE)
    scaled, result = kinematics_from_markers(markers, KinematicsOptions(variant="full"))
    assert scaled.markerset == "LSTM" and len(scaled.moved_markers) == 43
    assert "r.ASIS_study" in result.marker_names and "r_knee_study" not in result.marker_names
    assert np.nanmax(result.rms_error) < 2e-3
    rmse = _rmse_deg(result, traj)
    assert max(rmse[c] for c in ("hip_flexion_r", "knee_angle_r", "ankle_angle_r", "knee_angle_l")) < 0.5, rmse


def test_trc_choice_per_person(tmp_path: Path):
    from mocap3d.kinematics.stage import select_trc_files
    for name in ("walk_P1", "walk_P1_filt_butterworth", "walk_P1_filt_butterworth_LSTM", "walk_P1_LSTM",
                 "walk_P2", "walk_P2_filt_kalman"):
        (tmp_path / f"{name}.trc").write_text("")
    files, kind = select_trc_files(tmp_path, True)
    assert [f.stem for f in files] == ["walk_P1_filt_butterworth_LSTM", "walk_P2_filt_kalman"]
    assert kind == "LSTM+filtered"
    files, _ = select_trc_files(tmp_path, False)
    assert [f.stem for f in files] == ["walk_P1_filt_butterworth", "walk_P2_filt_kalman"]


def test_length_spread_measures_the_noise_of_rigid_pairs():
    """Two points 0.4 m apart with N(0, s) noise per axis: their distance spreads by s * sqrt(2)."""
    from mocap3d.kinematics.markersets import _LIMB_SEGMENTS, length_spread_mm
    rng = np.random.default_rng(3)
    F, s = 4000, 0.002
    names = ["RHip", "RKnee", "RAnkle"]
    base = np.array([[0, 0.9, 0], [0, 0.5, 0], [0, 0.1, 0]], float)
    theta = np.linspace(0, 6 * np.pi, F)          # the leg swings; lengths stay
    rot = np.stack([np.cos(theta), np.sin(theta)], 1)
    data = np.zeros((F, 3, 3))
    data[:, :, 0] = rot[:, None, 1] * (base[:, 1] - 0.9)
    data[:, :, 1] = 0.9 + rot[:, None, 0] * (base[:, 1] - 0.9)
    data += rng.normal(0, s, data.shape)
    spread = length_spread_mm(data, names, _LIMB_SEGMENTS)
    assert spread == pytest.approx(1000 * s * np.sqrt(2), rel=0.08)
    data[::7, 1] = np.nan                          # missing frames are skipped, not propagated
    assert length_spread_mm(data, names, _LIMB_SEGMENTS) == pytest.approx(spread, rel=0.08)
    assert length_spread_mm(data, names, (("RHip", "Nose"),)) is None


def test_asis_psis_weight_is_the_noise_variance_ratio():
    """(keypoint noise / pelvis-marker noise)^2, clipped to [0.02, 1]; the default when a spread is missing."""
    from mocap3d.kinematics.markersets import DEFAULT_PELVIS_WEIGHT, _PELVIS_SEGMENTS, auto_pelvis_weight
    rng = np.random.default_rng(4)
    F = 3000
    kp = {"RHip": (0.1, 0.9, 0), "RKnee": (0.1, 0.5, 0), "LHip": (-0.1, 0.9, 0), "LKnee": (-0.1, 0.5, 0)}
    pelvis = {"r.ASIS_study": (0.12, 1.0, 0.05), "L.ASIS_study": (-0.12, 1.0, 0.05),
              "r.PSIS_study": (0.05, 1.02, -0.12), "L.PSIS_study": (-0.05, 1.02, -0.12)}

    def capture(s_kp: float, s_pelvis: float) -> tuple[np.ndarray, list[str]]:
        names = list(kp) + list(pelvis)
        pts = np.array(list(kp.values()) + list(pelvis.values()), float)
        sig = np.array([s_kp] * len(kp) + [s_pelvis] * len(pelvis))[None, :, None]
        return pts[None] + rng.normal(0, 1, (F, len(names), 3)) * sig, names

    w, noise = auto_pelvis_weight(*capture(0.0015, 0.005))
    assert noise["keypoints"] == pytest.approx(1.5 * np.sqrt(2), rel=0.1)
    assert noise["pelvis_markers"] == pytest.approx(5 * np.sqrt(2), rel=0.1)
    assert w == pytest.approx((1.5 / 5) ** 2, rel=0.2)
    assert auto_pelvis_weight(*capture(0.0002, 0.01))[0] == 0.02        # clipped below
    assert auto_pelvis_weight(*capture(0.01, 0.002))[0] == 1.0          # clipped above
    data, names = capture(0.001, 0.004)
    keep = [i for i, n in enumerate(names) if n not in dict(_PELVIS_SEGMENTS)]
    assert auto_pelvis_weight(data[:, keep], [names[i] for i in keep])[0] == DEFAULT_PELVIS_WEIGHT


def test_lumbar_task_holds_whenever_no_pelvis_marker_is_fitted():
    """BlazePose gets augmented arm markers only (no small toe for the lower-body model): the pelvis tilt is
    still free, so the keypoint lumbar task stays; augmented ASIS/PSIS markers fix the pelvis and drop it."""
    from mocap3d.kinematics.pipeline import KinematicsOptions, resolve_coordinate_weights
    opts = KinematicsOptions()
    keypoints = ["Nose", "LShoulder", "RShoulder", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"]
    arms = ["r_lelbow_study", "r_melbow_study", "r_lwrist_study", "r_mwrist_study"]
    assert resolve_coordinate_weights(opts, keypoints)["lumbar_extension"] == opts.keypoint_lumbar_weight
    assert resolve_coordinate_weights(opts, keypoints + arms)["lumbar_extension"] == opts.keypoint_lumbar_weight
    assert "lumbar_extension" not in resolve_coordinate_weights(opts, keypoints + arms + ["r.ASIS_study",
                                                                                       "L.PSIS_study"])


def test_backward_sweep_leaves_a_wrong_minimum_the_warm_start_kept():
    """Frames 3-7 warm-started from a pelvis turned half a turn stay in that local minimum (cost ~1e-4,
    the forward chain keeps it); the backward sweep from frame 8's solution finds the true pose there
    and leaves the other frames as they were, without solving them again."""
    from mocap3d.kinematics.forward import q_indices
    from mocap3d.kinematics.ik import BACKWARD_ITERATIONS, _backward_sweep
    from mocap3d.kinematics.lm_solver import LMSolver
    model = build_model("simple")
    names = attach_markers(model, "HALPE_26")
    n = 12
    traj = gait(n)
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    solver = LMSolver(model, names, np.ones(len(names)))
    # the head held on one neck joint, as the pipeline's default head_flexion task does
    solver.set_coordinate_tasks(q_indices(model, solver.state, ["head_flexion"]), np.ones(1), np.zeros(1))
    qi = q_indices(model, solver.state, list(traj))
    truth = np.zeros((n, solver.state.getNQ()))
    truth[:, qi] = np.column_stack(list(traj.values()))
    rot = qi[list(traj).index("pelvis_rotation")]
    q, errors, points, cost = (np.zeros_like(truth), np.zeros(pts.shape[:2]), np.zeros(pts.shape),
                               np.zeros(n))
    for f in range(n):
        start = truth[f].copy()
        if f == 3:
            start[rot] += 1.1 * np.pi                               # the warm start lands in the wrong minimum
        elif 3 < f < 8:
            start = q[f - 1]                                        # ... and the forward chain keeps it
        q[f], errors[f] = solver.solve(start, pts[f], 500)
        points[f], cost[f] = solver.points, solver.cost
    assert cost[3:8].min() > 1e-5 and cost[[0, 1, 2, 8, 9, 10, 11]].max() < 1e-12
    before, solves = q.copy(), len(solver.iterations)
    replaced = _backward_sweep(solver, pts, np.arange(n), q, errors, points, cost, BACKWARD_ITERATIONS)
    assert replaced >= 5 and cost.max() < 1e-12 and np.nanmax(errors) < 1e-5
    assert len(solver.iterations) - solves == 5          # frames 7-3 only: elsewhere both chains agree
    wrapped = np.angle(np.exp(1j * (q[:, qi] - truth[:, qi])))     # pelvis_rotation modulo a turn
    assert np.degrees(np.abs(wrapped)).max() < 0.01
    outside = [0, 1, 2, 8, 9, 10, 11]
    assert np.abs(q[outside] - before[outside]).max() < 1e-6
    assert np.abs(points - pts).max() < 1e-5


def test_soft_limit_is_free_inside_and_holds_outside():
    """A soft coordinate limit changes nothing while the coordinate stays inside it (the walk's lumbar
    extension, -7..-3 deg, under a 20 deg limit); a trunk truly extended 35 deg is recovered without it and
    held just above 20 deg with it, the pelvis and hips taking up the rest."""
    from mocap3d.kinematics.pipeline import KinematicsOptions, resolve_coordinate_limits
    model = build_model("simple")
    names = attach_markers(model, "HALPE_26")
    traj = gait(10)
    times = np.arange(10) / RATE
    limit = {"lumbar_extension": (1e-2, -np.inf, np.radians(20.0))}
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    free = solve_ik(model, pts, names, times, show_progress=False)
    held = solve_ik(model, pts, names, times, show_progress=False, coordinate_limits=limit)
    assert np.abs(held.values - free.values).max() < 1e-9
    traj["lumbar_extension"] = traj["lumbar_extension"] + np.radians(40.0)        # 33-37 deg
    pts = marker_positions(model, np.column_stack(list(traj.values())), list(traj), names)
    lumbar = free.coordinates.index("lumbar_extension")
    free = solve_ik(model, pts, names, times, show_progress=False)
    held = solve_ik(model, pts, names, times, show_progress=False, coordinate_limits=limit)
    assert np.degrees(np.abs(free.values[:, lumbar] - traj["lumbar_extension"])).max() < 0.1
    assert np.all((np.degrees(held.values[:, lumbar]) > 20.0) & (np.degrees(held.values[:, lumbar]) < 22.0))
    assert np.nanmean(held.rms_error) > 10 * np.nanmean(free.rms_error)
    from mocap3d.kinematics.lm_solver import LMSolver
    solver = LMSolver(model, names, np.ones(len(names)))                # a plain task next to a soft limit
    solver.set_coordinate_tasks(np.array([3, 7]), np.array([1e-2, 1e-2]), np.zeros(2), np.array([0.0, 0.5]))
    q = np.zeros(solver.nq)
    assert solver._task_offset(q).tolist() == [0.0, 0.0]
    assert solver._task_jacobian(q)[:, [3, 7]].tolist() == [[0.1, 0.0], [0.0, 0.0]]    # plain: curvature kept
    q[[3, 7]] = [0.2, 0.8]
    assert solver._task_offset(q) == pytest.approx([0.2, 0.3]) and solver._task_jacobian(q)[1, 7] == 0.1
    keypoints = ["Nose", "LShoulder", "RShoulder", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"]
    opts = KinematicsOptions()
    assert resolve_coordinate_limits(opts, keypoints)["lumbar_extension"] == pytest.approx(
        (opts.keypoint_lumbar_range_weight, *np.radians(opts.keypoint_lumbar_range)))
    assert resolve_coordinate_limits(opts, keypoints + ["r.ASIS_study", "L.PSIS_study"]) == {}
