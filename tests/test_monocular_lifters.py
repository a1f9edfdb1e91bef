"""3D lifters of the monocular path (mocap3d.monocular.lifters): axes, origin, name mapping, dispatch."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from mocap3d.errors import ConfigError, Mocap3dError
from mocap3d.monocular.lifters import Lifted3D, lift, lifted_to_skeleton
from mocap3d.skeletons import BLAZEPOSE, HALPE_26

RNG = np.random.default_rng(0)


def _blazepose_inputs(frames: int = 4):
    K = len(BLAZEPOSE.names)
    kp = np.concatenate([RNG.uniform(0, 640, (frames, K, 2)), RNG.uniform(0.2, 1, (frames, K, 1))], -1)
    world = np.concatenate([RNG.normal(0, 0.3, (frames, K, 3)), RNG.uniform(0, 1, (frames, K, 1))], -1)
    return kp, world


def test_blazepose_lifter_keeps_axes_and_moves_the_origin_to_the_mid_hip():
    kp, world = _blazepose_inputs()
    world[1, 5, :3] = np.nan          # a missing landmark
    world[2, 7, 3] = np.nan           # a landmark without its own confidence takes the 2D likelihood
    out = lift("blazepose", kp, BLAZEPOSE.names, image_size=(640, 480), keypoints_3d=world)
    assert out.method == "blazepose" and out.metric and out.names == list(BLAZEPOSE.names)
    hips = 0.5 * (world[:, BLAZEPOSE.index("LHip"), :3] + world[:, BLAZEPOSE.index("RHip"), :3])
    expected = world[..., :3] - hips[:, None]
    expected[1, 5] = np.nan
    np.testing.assert_array_equal(out.xyz, expected)
    mid = 0.5 * (out.xyz[:, BLAZEPOSE.index("LHip")] + out.xyz[:, BLAZEPOSE.index("RHip")])
    np.testing.assert_allclose(mid, 0, atol=1e-15)
    assert out.confidence[1, 5] == 0 and out.confidence[2, 7] == kp[2, 7, 2]
    assert out.confidence[0, 3] == world[0, 3, 3]


def test_auto_uses_blazepose_with_3d_and_none_without(caplog):
    kp, world = _blazepose_inputs()
    assert lift("auto", kp, BLAZEPOSE.names, image_size=(640, 480), keypoints_3d=world).method == "blazepose"
    with caplog.at_level(logging.WARNING, logger="mocap3d"):
        assert lift("auto", kp, BLAZEPOSE.names, image_size=(640, 480)) is None
    assert "pose_keypoints_3d" in caplog.text and "'none'" in caplog.text
    all_nan = np.full_like(world, np.nan)
    assert lift("auto", kp, BLAZEPOSE.names, image_size=(640, 480), keypoints_3d=all_nan) is None
    assert lift("none", kp, BLAZEPOSE.names, image_size=(640, 480), keypoints_3d=world) is None


def test_explicit_blazepose_without_3d_and_unknown_lifter_fail_clearly():
    kp, _ = _blazepose_inputs()
    with pytest.raises(Mocap3dError, match="pose_keypoints_3d"):
        lift("blazepose", kp, BLAZEPOSE.names, image_size=(640, 480))
    with pytest.raises(ConfigError, match="monocular.lifter = 'wham'"):
        lift("wham", kp, BLAZEPOSE.names, image_size=(640, 480))


def test_lifted_to_skeleton_maps_same_points_and_derives_mid_hip_and_neck():
    F = 2
    names = ["LHip", "RHip", "LShoulder", "RShoulder", "LFootIndex", "Nose"]
    xyz = RNG.normal(size=(F, len(names), 3))
    conf = RNG.uniform(0.1, 1, (F, len(names)))
    lifted = Lifted3D(names, xyz, conf, True, "blazepose")
    out, c = lifted_to_skeleton(lifted, HALPE_26.names)
    ix = HALPE_26.index
    np.testing.assert_array_equal(out[:, ix("LHip")], xyz[:, 0])
    np.testing.assert_array_equal(out[:, ix("Hip")], 0.5 * (xyz[:, 0] + xyz[:, 1]))
    np.testing.assert_array_equal(out[:, ix("Neck")], 0.5 * (xyz[:, 2] + xyz[:, 3]))
    np.testing.assert_array_equal(out[:, ix("LBigToe")], xyz[:, 4])     # BlazePose's foot index = big toe
    np.testing.assert_array_equal(c[:, ix("Hip")], np.minimum(conf[:, 0], conf[:, 1]))
    for n in ("Head", "LKnee", "RBigToe", "LEye"):
        assert np.isnan(out[:, ix(n)]).all() and (c[:, ix(n)] == 0).all()
