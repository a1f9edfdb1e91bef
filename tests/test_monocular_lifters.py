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


# ----------------------------------------------------------------------------- MotionBERT
from mocap3d.monocular import h36m as H  # noqa: E402
from mocap3d.monocular import motionbert as MB  # noqa: E402
from mocap3d.skeletons import BODY_25, COCO_17  # noqa: E402


def _keypoints(names, frames=3):
    """Random (frames, K, 3) keypoints px with likelihoods in (0.3, 1]."""
    K = len(names)
    return np.concatenate([RNG.uniform(50, 600, (frames, K, 2)), RNG.uniform(0.3, 1, (frames, K, 1))], -1)


def test_h36m_joints_from_halpe_follow_motionberts_conversion():
    kp = _keypoints(HALPE_26.names)
    out = H.to_h36m(kp, HALPE_26.names)
    at = lambda n: kp[:, HALPE_26.index(n)]  # noqa: E731
    for j, n in enumerate(H.H36M_NAMES):
        if n != "Spine":
            np.testing.assert_array_equal(out[:, j], at(n), err_msg=n)
    np.testing.assert_allclose(out[:, 7], 0.5 * (at("Neck") + at("Hip")))   # spine: all three channels
    assert H.H36M_NAMES[:4] == ("Hip", "RHip", "RKnee", "RAnkle") and H.H36M_NAMES[8:11] == ("Neck", "Nose", "Head")


def test_h36m_joints_from_coco_and_body25_derive_hip_neck_and_head():
    kp = _keypoints(COCO_17.names)
    i = COCO_17.index
    kp[0, i("LEye")], kp[0, i("REye")] = (100, 200, 0.8), (120, 204, 0.6)
    kp[0, i("LEar")], kp[0, i("REar")] = (90, 210, 0.4), (130, 214, 0.2)
    kp[0, i("Nose")] = (110, 220, 0.9)
    out = H.to_h36m(kp, COCO_17.names)
    # head top: x = mean of eyes and ears = 110, y = 2 * mean eye y (202) - nose y (220) = 184, c = mean = 0.5
    np.testing.assert_allclose(out[0, H.H36M_NAMES.index("Head")], (110, 184, 0.5))
    np.testing.assert_allclose(out[:, 0], 0.5 * (kp[:, i("LHip")] + kp[:, i("RHip")]))
    np.testing.assert_allclose(out[:, 8], 0.5 * (kp[:, i("LShoulder")] + kp[:, i("RShoulder")]))
    kp25 = _keypoints(BODY_25.names)
    out25 = H.to_h36m(kp25, BODY_25.names)
    np.testing.assert_array_equal(out25[:, 0], kp25[:, BODY_25.index("CHip")])
    np.testing.assert_array_equal(out25[:, 8], kp25[:, BODY_25.index("Neck")])
    # BlazePose: mid-hips, mid-shoulders
    kpb = _keypoints(BLAZEPOSE.names)
    outb = H.to_h36m(kpb, BLAZEPOSE.names)
    np.testing.assert_allclose(outb[:, 0], 0.5 * (kpb[:, BLAZEPOSE.index("LHip")] + kpb[:, BLAZEPOSE.index("RHip")]))


def test_h36m_missing_parts_propagate_and_lacking_joints_fail():
    kp = _keypoints(COCO_17.names)
    kp[1, COCO_17.index("LHip")] = np.nan
    kp[2, COCO_17.index("RHip"), 2] = 0.0          # OpenPose's "not detected"
    out = H.to_h36m(kp, COCO_17.names)
    assert np.isnan(out[1, 0]).all() and np.isnan(out[1, 7]).all() and np.isnan(out[2, 0]).all()
    assert np.isnan(out[1, 4]).all() and np.isfinite(out[1, 1]).all()
    with pytest.raises(Mocap3dError, match="RKnee"):
        H.to_h36m(kp[:, :13], COCO_17.names[:13])


def test_flip_negates_x_and_swaps_left_and_right():
    data = RNG.normal(size=(2, 17, 3))
    f = H.flip(data)
    np.testing.assert_array_equal(f[:, 1, 0], -data[:, 4, 0])       # RHip <- LHip
    np.testing.assert_array_equal(f[:, 14, 1:], data[:, 11, 1:])    # RShoulder <- LShoulder, y and c unchanged
    np.testing.assert_array_equal(f[:, 9, 0], -data[:, 9, 0])       # nose stays
    np.testing.assert_array_equal(H.flip(f), data)


def test_normalization_box_spans_confident_joints_and_maps_to_minus_one_one():
    h = np.full((2, 17, 3), np.nan)
    h[0, :4] = [(100, 50, 0.9), (300, 450, 0.5), (200, 250, 0.7), (150, 100, 0.6)]
    h[1, 0] = (900, 900, 0.0)                       # confidence 0: outside the box, clipped
    corner, side = MB.normalization_box(h)
    # x extent 200, y extent 400 -> side 400, centred on (200, 250): corner (0, 50)
    np.testing.assert_allclose(corner, (0, 50))
    assert side == 400
    n, _, _ = MB.normalize(h)
    np.testing.assert_allclose(n[0, 0], (-0.5, -1, 0.9), rtol=1e-6)
    np.testing.assert_allclose(n[0, 1], (0.5, 1, 0.5), rtol=1e-6)
    np.testing.assert_allclose(n[1, 0], (1, 1, 0))                    # clipped, confidence 0 kept
    # joint 5, never seen: box centre, confidence 0; joint 1 in frame 1: interpolated = held (300, 450)
    np.testing.assert_allclose(n[:, 5], 0)
    np.testing.assert_allclose(n[1, 1], (0.5, 1, 0), rtol=1e-6)
    few = np.full_like(h, np.nan)
    few[0, :3] = h[0, :3]
    with pytest.raises(Mocap3dError, match="only 3 confident"):
        MB.normalization_box(few)


def test_chunks_are_243_frames_with_a_shorter_last_one():
    assert MB.chunks(500) == [slice(0, 243), slice(243, 486), slice(486, 500)]
    assert MB.chunks(243) == [slice(0, 243)]
    assert MB.chunks(10) == [slice(0, 10)]


def _fake_motionbert(path, joints=17, rank=4, frames="T", batch="N", c=None):
    """A MotionBERT-shaped ONNX graph: output x, y = input x, y; z = (frame index in the chunk + 1) * c[joint]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    shape = [batch, frames, joints, 3][4 - rank:]
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
    c = np.zeros(joints, np.float32) if c is None else c
    axis = rank - 1
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("s0", [0]), ("e1", [1]), ("e2", [2]), ("ax", [axis]), ("t_axis", rank - 3))]
    inits += [numpy_helper.from_array(np.array(0, np.float32), "zero"),
              numpy_helper.from_array(np.array(1, np.float32), "one"),
              numpy_helper.from_array(c.reshape([1] * (rank - 2) + [joints, 1]), "c")]
    nodes = [helper.make_node("Slice", ["input", "s0", "e2", "ax"], ["xy"]),
             helper.make_node("Slice", ["input", "s0", "e1", "ax"], ["x"]),
             helper.make_node("Mul", ["x", "zero"], ["x0"]),
             helper.make_node("Add", ["x0", "one"], ["ones"]),
             helper.make_node("CumSum", ["ones", "t_axis"], ["t1"]),
             helper.make_node("Mul", ["t1", "c"], ["z"]),
             helper.make_node("Concat", ["xy", "z"], ["output"], axis=axis)]
    graph = helper.make_graph(nodes, "fake_motionbert", [inp], [out], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("frames, batch, clip", [("T", "N", 243), (100, 1, 100)])
def test_motionbert_runner_flip_averages_chunks_and_denormalizes(tmp_path, frames, batch, clip):
    c = np.linspace(0.0, 0.16, 17).astype(np.float32)
    model = _fake_motionbert(tmp_path / "mb.onnx", frames=frames, batch=batch, c=c)
    F = 250
    kp = _keypoints(HALPE_26.names, F)
    kp[7, HALPE_26.index("LKnee")] = np.nan
    out = lift("motionbert", kp, HALPE_26.names, image_size=(640, 480), model=str(model))
    assert out.method == "motionbert" and not out.metric and out.names == list(H.H36M_NAMES)
    h = H.to_h36m(kp, HALPE_26.names)
    _, side = MB.normalization_box(h)
    # x, y: the input, flipped twice and averaged, de-normalized to px and made root-relative
    np.testing.assert_allclose(out.xyz[..., :2], (h[..., :2] - h[:, :1, :2]), atol=2e-4 * side)
    # z: (t + 1) * mean of the joint's and its mirror's constant, times half the box side
    t = np.concatenate([np.arange(len(range(F)[s])) for s in MB.chunks(F, clip)]) + 1
    cz = 0.5 * (c + c[H.FLIP_ORDER]) - c[0]
    np.testing.assert_allclose(out.xyz[..., 2], np.where(np.isnan(out.xyz[..., 2]), np.nan,
                                                         t[:, None] * cz[None] * side / 2), rtol=1e-5, atol=1e-6)
    assert np.isnan(out.xyz[7, H.H36M_NAMES.index("LKnee")]).all() and out.confidence[7, 5] == 0
    np.testing.assert_allclose(out.confidence[0, 1], kp[0, HALPE_26.index("RHip"), 2])


@pytest.mark.parametrize("kwargs, expected", [({"rank": 3}, r"rank 3"), ({"joints": 26}, r"26 joints")])
def test_motionbert_model_with_a_wrong_signature_is_named(tmp_path, kwargs, expected):
    model = _fake_motionbert(tmp_path / "bad.onnx", **kwargs)
    kp = _keypoints(HALPE_26.names, 5)
    with pytest.raises(Mocap3dError, match=rf"bad\.onnx.*{expected}.*\(1, T, 17, 3\)"):
        lift("motionbert", kp, HALPE_26.names, image_size=(640, 480), model=str(model))


def test_motionbert_without_or_with_a_missing_model_file_says_how_to_get_one(tmp_path):
    kp = _keypoints(HALPE_26.names, 5)
    with pytest.raises(ConfigError, match="motionbert_model"):
        lift("motionbert", kp, HALPE_26.names, image_size=(640, 480))
    with pytest.raises(Mocap3dError, match="nope.onnx.*README"):
        lift("motionbert", kp, HALPE_26.names, image_size=(640, 480), model=str(tmp_path / "nope.onnx"))
