"""The generated models: names, anthropometry, joint signs, determinism, fresh-process loading."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

osim = pytest.importorskip("opensim")

from mocap3d.kinematics import anthropometry as anth
from mocap3d.kinematics.forward import marker_positions
from mocap3d.kinematics.markersets import LSTM_MARKERS, marker_definitions
from mocap3d.kinematics.model_builder import build_model, coordinate_names, standing_pelvis_height, write_model

EXPECTED = {"pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
            "lumbar_extension", "lumbar_bending", "lumbar_rotation", "neck_flexion", "neck_bending", "neck_rotation",
            "head_flexion"}
for s in "rl":
    EXPECTED |= {f"{c}_{s}" for c in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                                       "subtalar_angle", "mtp_angle", "arm_flex", "arm_add", "arm_rot", "elbow_flex",
                                       "pro_sup", "wrist_flex", "wrist_dev")}


@pytest.fixture(scope="module", params=["full", "simple"])
def model(request):
    return build_model(request.param)


def test_coordinate_names_and_mass(model):
    assert set(coordinate_names(model)) == EXPECTED
    total = sum(model.getBodySet().get(i).getMass() for i in range(model.getBodySet().getSize()))
    assert total == pytest.approx(anth.REFERENCE_MASS, rel=1e-6)       # de Leva fractions sum to 100 %
    thigh = model.getBodySet().get("femur_r").getMass()
    assert thigh == pytest.approx(0.1416 * anth.REFERENCE_MASS, rel=1e-9)


def test_standing_pose_and_segment_lengths(model):
    names = ["RHip", "RKnee", "RAnkle", "LHip", "RShoulder", "RElbow", "RWrist", "RBigToe"]
    p = marker_positions(model, np.zeros((1, 0)), [], names, markerset="HALPE_26")[0]
    d = anth.DE_LEVA_MALE
    assert np.linalg.norm(p[0] - p[1]) == pytest.approx(d["thigh"].length, abs=1e-9)
    assert np.linalg.norm(p[1] - p[2]) == pytest.approx(d["shank"].length, abs=1e-9)
    assert np.linalg.norm(p[4] - p[5]) == pytest.approx(d["upper_arm"].length, abs=1e-9)
    assert p[2, 1] == pytest.approx(anth.ANKLE_HEIGHT, abs=1e-9)       # feet on the floor by default
    assert p[0, 2] == pytest.approx(-p[3, 2]) and p[0, 2] > 0          # Z to the right
    assert 0 < p[7, 1] < 0.03


def test_joint_signs(model):
    names = ["RHip", "RKnee", "RAnkle", "LKnee", "RBigToe", "RElbow", "RWrist"]
    cn = ["hip_flexion_r", "knee_angle_r", "hip_adduction_l", "ankle_angle_r", "elbow_flex_r"]
    base = marker_positions(model, np.zeros((1, 5)), cn, names, markerset="HALPE_26")[0]
    q = np.radians([[90, 0, 0, 0, 0], [0, 90, 0, 0, 0], [0, 0, 20, 0, 0], [0, 0, 0, 20, 0], [0, 0, 0, 0, 90]])
    p = marker_positions(model, q, cn, names, markerset="HALPE_26")
    assert p[0, 1, 0] - base[1, 0] == pytest.approx(anth.DE_LEVA_MALE["thigh"].length, abs=1e-6)  # knee forward
    assert p[1, 2, 0] < base[2, 0] - 0.4                  # knee flexion: ankle goes back
    assert p[2, 3, 2] > base[3, 2] + 0.1                  # left adduction: left knee to the midline (+Z)
    assert p[3, 4, 1] > base[4, 1] + 0.05                 # dorsiflexion lifts the toes
    assert p[4, 6, 0] > base[6, 0] + 0.2                  # elbow flexion: wrist forward


def test_knee_translation_only_in_full():
    cn = ["knee_angle_r"]
    q = np.radians([[0.0], [90.0]])
    length = {}
    for variant in ("full", "simple"):
        p = marker_positions(build_model(variant), q, cn, ["RKnee", "RAnkle"], markerset="HALPE_26")
        length[variant] = np.linalg.norm(p[:, 1] - p[:, 0], axis=1)
    assert length["simple"] == pytest.approx([0.434, 0.434], abs=1e-9)
    assert 0.003 < length["full"][1] - length["full"][0] < 0.02


def test_lstm_markers_all_placed():
    defs = marker_definitions("LSTM")
    assert list(defs) == list(LSTM_MARKERS) and len(defs) == 43
    assert defs["r_knee_study"][0] == "femur_r" and defs["L_knee_study"][1][2] < 0


def test_written_model_deterministic_and_loads_in_fresh_process(tmp_path: Path):
    a, b = tmp_path / "a.osim", tmp_path / "b.osim"
    write_model(build_model("full"), a)
    write_model(build_model("full"), b)
    assert a.read_bytes() == b.read_bytes()
    code = (f"import opensim as osim; m = osim.Model({str(a)!r}); s = m.initSystem(); "
            "print(m.getNumCoordinates(), m.getCoordinateSet().get('pelvis_ty').getDefaultValue())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    n, ty = out.stdout.split()[-2:]
    assert int(n) == 41 and float(ty) == pytest.approx(standing_pelvis_height())
