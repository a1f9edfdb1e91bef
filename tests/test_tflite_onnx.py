"""mocap3d.pose.tflite_onnx against TFLite's own interpreter (reference numbers in tests/data).

``tests/data/tflite_reference.npz`` holds outputs of ``tf.lite.Interpreter`` (reference kernels)
for mediapipe 0.10.14's pose models on grace_hopper.jpg, written by
``tests/data/make_tflite_reference.py`` (needs TensorFlow, so it is not run here). Small
hand-built .tflite files check operator semantics against numpy and the error paths.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import flatbuffers
import matplotlib.cbook
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mocap3d.errors import Mocap3dError
from mocap3d.pose.tflite_onnx import convert_tflite

REF = Path(__file__).parent / "data" / "tflite_reference.npz"


@pytest.fixture(scope="module")
def modules() -> Path:
    mp = pytest.importorskip("mediapipe")
    return Path(mp.__file__).parent / "modules"


@pytest.fixture(scope="module")
def ref() -> dict:
    return dict(np.load(REF))


def model_input(size: int, ref: dict) -> np.ndarray:
    """grace_hopper.jpg as the reference script made it: (1, size, size, 3) float32 RGB / 255."""
    img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    small = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    assert hashlib.sha256(small.tobytes()).hexdigest() == str(ref[f"sha_{size}"]), "input image differs"
    return (small.astype(np.float32) / 255)[None]


def run(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def io_signature(model: onnx.ModelProto) -> dict[str, list[int]]:
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.input) + list(model.graph.output)}


def test_landmark_model_matches_tflite(modules, ref):
    path = modules / "pose_landmark" / "pose_landmark_full.tflite"
    pruned = convert_tflite(path, outputs=["Identity", "Identity_1", "Identity_3"])
    onnx.checker.check_model(pruned)
    assert io_signature(pruned) == {"input_1": [1, 256, 256, 3], "Identity": [1, 195], "Identity_1": [1, 1],
                                    "Identity_3": [1, 64, 64, 39]}
    out = run(pruned, {"input_1": model_input(256, ref)})
    # float32 arithmetic differs from TFLite's kernels only in summation order: landmark pixels
    # (range +-300 px) within 1e-3 px + 2e-5 relative; heatmap values (range +-35) within 1e-3
    np.testing.assert_allclose(out["Identity"], ref["lm_Identity"], rtol=2e-5, atol=1e-3)
    np.testing.assert_allclose(out["Identity_1"], ref["lm_Identity_1"], rtol=0, atol=1e-5)
    heat = out["Identity_3"][0]
    np.testing.assert_allclose(heat[8::16, 8::16, :], ref["lm_heat_grid"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(heat.max(axis=(0, 1)), ref["lm_heat_max"], rtol=0, atol=1e-3)

    full = convert_tflite(path)
    assert io_signature(full)["Identity_2"] == [1, 256, 256, 1]  # segmentation, pruned above
    assert len(pruned.graph.node) < len(full.graph.node)
    out_full = run(full, {"input_1": model_input(256, ref)})
    np.testing.assert_allclose(out_full["Identity_4"], ref["lm_Identity_4"], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(out_full["Identity"], out["Identity"])


def test_detector_model_matches_tflite(modules, ref):
    model = convert_tflite(modules / "pose_detection" / "pose_detection.tflite")  # sparse weights: DENSIFY
    assert io_signature(model) == {"input_1": [1, 224, 224, 3], "Identity": [1, 2254, 12],
                                   "Identity_1": [1, 2254, 1]}
    out = run(model, {"input_1": model_input(224, ref)})
    scores = out["Identity_1"][0, :, 0]
    top = ref["det_top"]
    np.testing.assert_array_equal(np.argsort(scores)[::-1][:2], top[:2])
    np.testing.assert_allclose(scores[top], ref["det_scores"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(scores[::50], ref["det_scores_every50"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(out["Identity"][0, top], ref["det_boxes"], rtol=2e-5, atol=1e-3)


# ----------------------------------------------------------------------------- hand-built models
def tflite_bytes(opcodes: list[tuple[int, str]], tensors: list[dict], operators: list[dict],
                 inputs: list[int], outputs: list[int]) -> bytes:
    """A one-subgraph .tflite flatbuffer (field slots from TFLite's schema.fbs)."""
    b = flatbuffers.Builder(1024)

    def table_vector(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    buffers = [(b.StartObject(1), b.EndObject())[1]]  # buffer 0: empty sentinel
    tensor_offs = []
    for t in tensors:
        name, shape = b.CreateString(t["name"]), b.CreateNumpyVector(np.array(t["shape"], np.int32))
        buffer_index = 0
        if "data" in t:
            data = b.CreateNumpyVector(np.frombuffer(t["data"].tobytes(), np.uint8))
            b.StartObject(1)
            b.PrependUOffsetTRelativeSlot(0, data, 0)
            buffers.append(b.EndObject())
            buffer_index = len(buffers) - 1
        quant = None
        if "scale" in t:
            scale = b.CreateNumpyVector(np.asarray(t["scale"], np.float32))
            zero = b.CreateNumpyVector(np.asarray(t["zero_point"], np.int64))
            b.StartObject(7)
            b.PrependUOffsetTRelativeSlot(2, scale, 0)
            b.PrependUOffsetTRelativeSlot(3, zero, 0)
            b.PrependInt32Slot(6, t.get("axis", 0), 0)
            quant = b.EndObject()
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, t["type"], 0)
        b.PrependUint32Slot(2, buffer_index, 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        if quant is not None:
            b.PrependUOffsetTRelativeSlot(4, quant, 0)
        tensor_offs.append(b.EndObject())
    op_offs = []
    for op in operators:
        ins, outs = (b.CreateNumpyVector(np.array(op[k], np.int32)) for k in ("inputs", "outputs"))
        options = None
        if "activation" in op:  # AddOptions { fused_activation_function }
            b.StartObject(1)
            b.PrependInt8Slot(0, op["activation"], 0)
            options = b.EndObject()
        b.StartObject(5)
        b.PrependUint32Slot(0, op["opcode"], 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        if options is not None:
            b.PrependUint8Slot(3, op["options_type"], 0)
            b.PrependUOffsetTRelativeSlot(4, options, 0)
        op_offs.append(b.EndObject())
    code_offs = []
    for code, custom in opcodes:
        custom_off = b.CreateString(custom) if custom else None
        b.StartObject(4)
        b.PrependInt8Slot(0, min(code, 127), 0)
        if custom_off is not None:
            b.PrependUOffsetTRelativeSlot(1, custom_off, 0)
        b.PrependInt32Slot(2, 1, 1)
        b.PrependInt32Slot(3, code, 0)
        code_offs.append(b.EndObject())
    t_vec, o_vec, c_vec, b_vec = (table_vector(x) for x in (tensor_offs, op_offs, code_offs, buffers))
    in_vec, out_vec = (b.CreateNumpyVector(np.array(x, np.int32)) for x in (inputs, outputs))
    b.StartObject(5)
    for slot, off in enumerate((t_vec, in_vec, out_vec, o_vec)):
        b.PrependUOffsetTRelativeSlot(slot, off, 0)
    subgraph = b.EndObject()
    s_vec = table_vector([subgraph])
    b.StartObject(5)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, c_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, s_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, b_vec, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_dequantize_int8_per_channel_add_relu6(tmp_path):
    q = np.array([[-7, 3, 127]], np.int8)  # quantized along dimension 1
    scale, zero = np.array([0.5, 0.25, 0.0625], np.float32), np.array([1, -1, 0], np.int64)
    tensors = [{"name": "x", "shape": [1, 2, 2, 3], "type": 0},
               {"name": "q", "shape": [1, 3], "type": 9, "data": q, "scale": scale, "zero_point": zero, "axis": 1},
               {"name": "w", "shape": [1, 3], "type": 0}, {"name": "y", "shape": [1, 2, 2, 3], "type": 0}]
    ops = [{"opcode": 0, "inputs": [1], "outputs": [2]},
           {"opcode": 1, "inputs": [0, 2], "outputs": [3], "activation": 3, "options_type": 11}]  # RELU6
    path = tmp_path / "add.tflite"
    path.write_bytes(tflite_bytes([(6, ""), (0, "")], tensors, ops, [0], [3]))
    model = convert_tflite(path)
    assert io_signature(model) == {"x": [1, 2, 2, 3], "y": [1, 2, 2, 3]}
    x = np.linspace(-2, 7, 12, dtype=np.float32).reshape(1, 2, 2, 3)
    expected = np.clip(x + scale * (q - zero), 0, 6)  # f = scale * (q - zero_point), per channel
    np.testing.assert_allclose(run(model, {"x": x})["y"], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("code, custom, named", [(8, "", "#8"), (32, "MyCustomOp", "MyCustomOp")])
def test_unknown_operator_raises(tmp_path, code, custom, named):
    tensors = [{"name": "x", "shape": [1, 4], "type": 0}, {"name": "y", "shape": [1, 4], "type": 0}]
    path = tmp_path / "floor.tflite"
    path.write_bytes(tflite_bytes([(code, custom)], tensors, [{"opcode": 0, "inputs": [0], "outputs": [1]}],
                                  [0], [1]))
    with pytest.raises(Mocap3dError, match=named) as err:
        convert_tflite(path)
    assert "floor.tflite" in str(err.value)


def test_bad_files_raise(tmp_path, modules):
    text = tmp_path / "model.tflite"
    text.write_text("not a model\n")
    with pytest.raises(Mocap3dError, match="not a TFLite"):
        convert_tflite(text)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((modules / "pose_landmark" / "pose_landmark_full.tflite").read_bytes()[:5000])
    with pytest.raises(Mocap3dError, match="cut.tflite"):
        convert_tflite(cut)
    with pytest.raises(Mocap3dError, match="Identity_9"):
        convert_tflite(modules / "pose_landmark" / "pose_landmark_full.tflite", outputs=["Identity_9"])
