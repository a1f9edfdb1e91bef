"""Convert a float TFLite model (e.g. mediapipe's BlazePose) to an ONNX model, in pure Python.

The ``.tflite`` flatbuffer is read with ``flatbuffers``' low-level tables (field ``i`` of a table
sits at vtable slot ``4 + 2 i``; a union field takes two slots, type then value), following the
TFLite schema (``tensorflow/lite/schema/schema.fbs``). Constant sub-graphs (DEQUANTIZE of float16
or int8 weights, DENSIFY of sparse weights) are folded into float32 initializers.

Layout: the ONNX input and outputs keep TFLite's names, shapes and NHWC layout; rank-4
activations are carried in NCHW between Conv/Pool/Resize nodes, with one Transpose where an
op needs TFLite's element order (RESHAPE, CONCATENATION of non-4D tensors, outputs).
Only the operators listed in ``_HANDLERS`` are supported; any other raises
:class:`~mocap3d.errors.Mocap3dError` naming it.
"""
from __future__ import annotations

import os
import struct
from typing import Callable, Sequence

import numpy as np
import onnx
from flatbuffers.table import Table
from onnx import TensorProto, helper, numpy_helper

from ..errors import FileFormatError, Mocap3dError

OPSET = 17
IR_VERSION = 8
_NCHW, _NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
# schema.fbs enums (facts): TensorType and BuiltinOperator codes used here.
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
           7: np.int16, 9: np.int8}
_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
        5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D",
        18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX",
        28: "TANH", 32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 41: "SUB", 124: "DENSIFY"}


# ----------------------------------------------------------------------------- flatbuffer access
class _Tab:
    """One flatbuffer table: typed access to field ``i`` (schema order)."""

    def __init__(self, buf: bytearray, pos: int):
        self.t = Table(buf, pos)

    def _o(self, i: int) -> int:
        return self.t.Offset(4 + 2 * i)

    def num(self, i: int, fmt: str = "<i4", default: float = 0) -> int | float:
        o = self._o(i)
        if not o:
            return default
        return np.frombuffer(self.t.Bytes, fmt, 1, self.t.Pos + o)[0].item()

    def string(self, i: int) -> str:
        o = self._o(i)
        return self.t.String(self.t.Pos + o).decode("utf-8", "replace") if o else ""

    def array(self, i: int, fmt: str = "<i4") -> np.ndarray:
        o = self._o(i)
        if not o:
            return np.zeros(0, fmt)
        return np.frombuffer(self.t.Bytes, fmt, self.t.VectorLen(o), self.t.Vector(o))

    def table(self, i: int) -> "_Tab | None":
        o = self._o(i)
        return _Tab(self.t.Bytes, self.t.Indirect(self.t.Pos + o)) if o else None

    def tables(self, i: int) -> list["_Tab"]:
        o = self._o(i)
        if not o:
            return []
        start = self.t.Vector(o)
        return [_Tab(self.t.Bytes, self.t.Indirect(start + 4 * k)) for k in range(self.t.VectorLen(o))]


def _load(path: str) -> tuple[_Tab, bytearray]:
    """Root Model table of a .tflite file (checks the 'TFL3' identifier)."""
    try:
        with open(path, "rb") as f:
            buf = bytearray(f.read())
    except OSError as e:
        raise Mocap3dError(f"{path}: cannot read the TFLite model ({e.strerror}). Check the path") from e
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise FileFormatError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier). Give a .tflite model")
    return _Tab(buf, int(np.frombuffer(buf, "<u4", 1, 0)[0])), buf


# ----------------------------------------------------------------------------- sparse weights
def _densify(values: np.ndarray, sparsity: _Tab, shape: list[int], where: str) -> np.ndarray:
    """Dense array of a TFLite sparse tensor (SparsityParameters: traversal_order, dim_metadata
    levels DENSE (dense_size) or SPARSE_CSR (array_segments, array_indices)); block sparsity unsupported."""
    order = [int(v) for v in sparsity.array(0)]
    levels = sparsity.tables(2)
    if len(sparsity.array(1)) or sorted(order) != list(range(len(shape))) or len(levels) != len(shape):
        raise Mocap3dError(f"{where}: block-sparse weights are not supported by mocap3d's converter")
    fmts = {1: "<i4", 2: "<u2", 3: "<u1"}  # SparseIndexVector union: Int32/Uint16/Uint8Vector{values}

    def index_vec(meta: _Tab, i: int) -> np.ndarray:  # union: type at slot i, table at slot i + 1
        tab = meta.table(i + 1)
        return tab.array(0, fmts[int(meta.num(i, "<u1"))]).astype(np.int64)

    coords = np.zeros((1, 0), np.int64)  # one row per stored element, one column per traversed dim
    for meta in levels:
        if int(meta.num(0, "<u1")) == 0:  # DENSE
            n = int(meta.num(1))
            coords = np.concatenate([np.repeat(coords, n, 0), np.tile(np.arange(n), len(coords))[:, None]], 1)
        else:  # SPARSE_CSR: per parent, segments[p]:segments[p+1] of the non-zero indices
            seg, idx = index_vec(meta, 2), index_vec(meta, 4)
            coords = np.concatenate([np.repeat(coords, np.diff(seg), 0), idx[:, None]], 1)
    full = coords[:, np.argsort(order)]  # traversal order -> tensor dims
    dense = np.zeros(shape, values.dtype)
    dense[tuple(full.T)] = values[:len(full)]
    return dense


# ----------------------------------------------------------------------------- converter state
class _Converter:
    """Builds ONNX nodes for one TFLite subgraph; values are tracked per layout."""

    def __init__(self, path: str):
        self.path = path
        self.model, self.buf = _load(path)
        graph = self.model.tables(2)
        if not graph:
            raise FileFormatError(f"{path}: TFLite model without a subgraph. Give a complete .tflite model")
        self.g = graph[0]
        self.tensors = self.g.tables(0)
        self.buffers = self.model.tables(4)
        self.names: list[str] = []
        seen: set[str] = set()
        for i, t in enumerate(self.tensors):  # unique ONNX names
            name = t.string(3) or f"t{i}"
            self.names.append(f"{name}__{i}" if name in seen else name)
            seen.add(name)
        self.shapes = [[int(v) for v in t.array(0)] for t in self.tensors]
        self.codes = []
        for oc in self.model.tables(1):  # builtin = max(builtin_code, deprecated_builtin_code)
            self.codes.append((max(int(oc.num(3)), int(oc.num(0, "<i1"))), oc.string(1)))
        self.consts: dict[int, np.ndarray] = {}
        self.vals: dict[tuple[int, str], str] = {}  # (tensor, "nhwc"|"nchw") -> ONNX value name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}

    # -- helpers
    def op_name(self, op: _Tab) -> str:
        code, custom = self.codes[int(op.num(0, "<u4"))]
        return f"CUSTOM '{custom}'" if code == 32 else _OPS.get(code, f"builtin operator #{code} (see BuiltinOperator in TFLite's schema.fbs)")

    def const(self, i: int) -> np.ndarray | None:
        """Value of constant tensor ``i`` (from its buffer), or None for activations."""
        if i in self.consts:
            return self.consts[i]
        t = self.tensors[i]
        b = self.buffers[int(t.num(2, "<u4"))] if int(t.num(2, "<u4")) < len(self.buffers) else None
        if b is None:
            return None
        data = b.array(0, "<u1")
        if not len(data) and int(b.num(1, "<u8")) > 1:  # large models: data after the flatbuffer
            data = np.frombuffer(self.buf, "<u1", int(b.num(2, "<u8")), int(b.num(1, "<u8")))
        if not len(data):
            return None
        code = int(t.num(1, "<i1"))
        if code not in _DTYPES:
            raise Mocap3dError(f"{self.path}: tensor '{self.names[i]}' has TFLite type #{code}; not supported")
        dtype = np.dtype(_DTYPES[code]).newbyteorder("<")
        arr = np.frombuffer(data.tobytes(), dtype)
        sp = t.table(6)  # sparsity parameters
        if sp is not None:
            arr = _densify(arr, sp, self.shapes[i], f"{self.path}, tensor '{self.names[i]}'")
        arr = arr.reshape(self.shapes[i])
        self.consts[i] = arr
        return arr

    def init(self, name: str, arr: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        return name

    def node(self, op: str, ins: Sequence[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, list(ins), [out], name=f"{op}_{len(self.nodes)}", **attrs))
        return out

    def get(self, i: int, layout: str) -> str:
        """ONNX value of tensor ``i`` in ``layout`` ('nhwc' = TFLite's own order, 'nchw' for rank 4)."""
        if len(self.shapes[i]) != 4:
            layout = "nhwc"
        if (i, layout) in self.vals:
            return self.vals[(i, layout)]
        c = self.const(i)
        if c is not None:
            arr = c.transpose(_NCHW) if layout == "nchw" else c
            return self.init(f"{self.names[i]}__{layout}", arr)
        other = "nhwc" if layout == "nchw" else "nchw"
        if (i, other) not in self.vals:
            raise Mocap3dError(f"{self.path}: tensor '{self.names[i]}' is used before it is computed. "
                               "The TFLite graph is not supported")
        perm = _NCHW if layout == "nchw" else _NHWC
        name = self.names[i] if layout == "nhwc" else f"{self.names[i]}__nchw"
        self.vals[(i, layout)] = self.node("Transpose", [self.vals[(i, other)]], name, perm=list(perm))
        return self.vals[(i, layout)]

    def put(self, i: int, layout: str, onnx_op: str, ins: Sequence[str], act: int = 0, **attrs) -> None:
        """Emit ``onnx_op`` (then TFLite fused activation ``act``) producing tensor ``i``."""
        layout = layout if len(self.shapes[i]) == 4 else "nhwc"
        out = self.names[i] if layout == "nhwc" else f"{self.names[i]}__nchw"
        if act:
            pre = self.node(onnx_op, ins, out + "__pre", **attrs)
            if act == 1:
                self.node("Relu", [pre], out)
            elif act in (2, 3):
                lo, hi = (-1.0, 1.0) if act == 2 else (0.0, 6.0)
                self.node("Clip", [pre, self.init(f"c_{lo}", np.float32(lo)), self.init(f"c_{hi}", np.float32(hi))], out)
            elif act == 4:
                self.node("Tanh", [pre], out)
            else:
                raise Mocap3dError(f"{self.path}: fused activation #{act} of tensor '{self.names[i]}' is not "
                                   "supported")
        else:
            self.node(onnx_op, ins, out, **attrs)
        self.vals[(i, layout)] = out

    def same_pads(self, i_in: int, i_out: int, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
                  padding: int) -> list[int]:
        """ONNX pads [top, left, bottom, right] of TFLite SAME (0) or VALID (1) padding."""
        if padding == 1:
            return [0, 0, 0, 0]
        begin, end = [], []
        for a in (0, 1):
            n_in, n_out = self.shapes[i_in][1 + a], self.shapes[i_out][1 + a]
            total = max((n_out - 1) * s[a] + (k[a] - 1) * d[a] + 1 - n_in, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end


# ----------------------------------------------------------------------------- operators
def _conv(c: _Converter, op: _Tab, ins: list[int], outs: list[int], depthwise: bool) -> None:
    o = op.table(4) or _Tab(bytearray(8), 0)
    w = c.const(ins[1])
    if w is None:
        raise Mocap3dError(f"{c.path}: convolution '{c.names[outs[0]]}' has non-constant weights; not supported")
    pad, sw, sh = int(o.num(0, "<i1")), int(o.num(1)), int(o.num(2))
    if depthwise:
        act, dw, dh = int(o.num(4, "<i1")), int(o.num(5, default=1)), int(o.num(6, default=1))
        group = c.shapes[ins[0]][3]
        w = w.astype(np.float32).transpose(3, 0, 1, 2)  # [1,H,W,C*m] -> [C*m,1,H,W]
    else:
        act, dw, dh = int(o.num(3, "<i1")), int(o.num(4, default=1)), int(o.num(5, default=1))
        group = 1
        w = w.astype(np.float32).transpose(_NCHW)  # OHWI -> OIHW
    k = (w.shape[2], w.shape[3])
    args = [c.get(ins[0], "nchw"), c.init(c.names[ins[1]] + "__oihw", w)]
    if len(ins) > 2 and ins[2] >= 0:
        args.append(c.get(ins[2], "nhwc"))
    c.put(outs[0], "nchw", "Conv", args, act, kernel_shape=list(k), strides=[sh, sw], dilations=[dh, dw],
          group=group, pads=c.same_pads(ins[0], outs[0], k, (sh, sw), (dh, dw), pad))


def _pool(c: _Converter, op: _Tab, ins: list[int], outs: list[int], kind: str) -> None:
    o = op.table(4)
    pad, sw, sh, fw, fh, act = (int(o.num(0, "<i1")), int(o.num(1)), int(o.num(2)), int(o.num(3)),
                                int(o.num(4)), int(o.num(5, "<i1")))
    extra = {"count_include_pad": 0} if kind == "AveragePool" else {}
    c.put(outs[0], "nchw", kind, [c.get(ins[0], "nchw")], act, kernel_shape=[fh, fw], strides=[sh, sw],
          pads=c.same_pads(ins[0], outs[0], (fh, fw), (sh, sw), (1, 1), pad), **extra)


def _binary(c: _Converter, op: _Tab, ins: list[int], outs: list[int], kind: str) -> None:
    o = op.table(4)
    act = int(o.num(0, "<i1")) if o is not None else 0
    four = len(c.shapes[outs[0]]) == 4
    args = []
    for i in ins:
        k = c.const(i)
        if k is not None and four:  # broadcast constant: rank 4, then NCHW
            k = k.astype(np.float32).reshape((1,) * (4 - k.ndim) + k.shape).transpose(_NCHW)
            args.append(c.init(f"{c.names[i]}__b4", k))
        else:
            args.append(c.get(i, "nchw"))
    c.put(outs[0], "nchw", kind, args, act)


def _unary(kind: str) -> Callable:
    return lambda c, op, ins, outs: c.put(outs[0], "nchw", kind, [c.get(ins[0], "nchw")])


def _pad(c: _Converter, op: _Tab, ins: list[int], outs: list[int]) -> None:
    p = c.const(ins[1])
    if p is None:
        raise Mocap3dError(f"{c.path}: PAD '{c.names[outs[0]]}' has non-constant paddings; not supported")
    p = p.astype(np.int64).reshape(-1, 2)
    layout = "nchw" if len(p) == 4 else "nhwc"
    if layout == "nchw":
        p = p[list(_NCHW)]
    pads = np.concatenate([p[:, 0], p[:, 1]])
    c.put(outs[0], layout, "Pad", [c.get(ins[0], layout), c.init(f"{c.names[outs[0]]}__pads", pads)])


def _reshape(c: _Converter, op: _Tab, ins: list[int], outs: list[int]) -> None:
    shape_in = c.shapes[ins[0]]
    # NCHW and NHWC have the same element order when H = W = 1 (saves a Transpose)
    layout = "nchw" if len(shape_in) == 4 and shape_in[1] * shape_in[2] == 1 and (ins[0], "nchw") in c.vals else "nhwc"
    shape = np.array(c.shapes[outs[0]], np.int64)
    c.put(outs[0], "nhwc", "Reshape", [c.get(ins[0], layout), c.init(f"{c.names[outs[0]]}__shape", shape)])


def _concat(c: _Converter, op: _Tab, ins: list[int], outs: list[int]) -> None:
    o = op.table(4)
    rank = len(c.shapes[outs[0]])
    axis, act = int(o.num(0)) % rank, int(o.num(1, "<i1"))
    layout = "nchw" if rank == 4 else "nhwc"
    if layout == "nchw":
        axis = _NCHW.index(axis)
    c.put(outs[0], layout, "Concat", [c.get(i, layout) for i in ins], act, axis=axis)


def _resize(c: _Converter, op: _Tab, ins: list[int], outs: list[int]) -> None:
    o = op.table(4)
    align, half = (bool(o.num(2, "<u1")), bool(o.num(3, "<u1"))) if o is not None else (False, False)
    mode = "align_corners" if align else "half_pixel" if half else "asymmetric"
    n, h, w, ch = c.shapes[outs[0]]
    sizes = c.init(f"{c.names[outs[0]]}__sizes", np.array([n, ch, h, w], np.int64))
    c.put(outs[0], "nchw", "Resize", [c.get(ins[0], "nchw"), "", "", sizes], mode="linear",
          coordinate_transformation_mode=mode)


def _depth_to_space(c: _Converter, op: _Tab, ins: list[int], outs: list[int]) -> None:
    c.put(outs[0], "nchw", "DepthToSpace", [c.get(ins[0], "nchw")], blocksize=int(op.table(4).num(0)), mode="DCR")


def _fold(c: _Converter, op: _Tab, ins: list[int], outs: list[int], kind: str) -> None:
    """DEQUANTIZE / DENSIFY of a constant: computed now, stored as float32 constant."""
    x = c.const(ins[0])
    if x is None:
        raise Mocap3dError(f"{c.path}: {kind} of the non-constant tensor '{c.names[ins[0]]}' is not supported")
    if kind == "DEQUANTIZE" and x.dtype.kind in "iu":
        q = c.tensors[ins[0]].table(4)
        scale, zero = q.array(2, "<f4"), q.array(3, "<i8")
        axis = int(q.num(6))  # quantized_dimension (slots 4-5 are the details union)
        bshape = [-1 if d == axis else 1 for d in range(x.ndim)] if len(scale) > 1 else [1] * x.ndim
        x = (x.astype(np.float32) - zero.reshape(bshape)) * scale.reshape(bshape)
    c.consts[outs[0]] = x.astype(np.float32) if kind == "DEQUANTIZE" else x


_HANDLERS: dict[str, Callable[[_Converter, _Tab, list[int], list[int]], None]] = {
    "CONV_2D": lambda c, op, i, o: _conv(c, op, i, o, False),
    "DEPTHWISE_CONV_2D": lambda c, op, i, o: _conv(c, op, i, o, True),
    "MAX_POOL_2D": lambda c, op, i, o: _pool(c, op, i, o, "MaxPool"),
    "AVERAGE_POOL_2D": lambda c, op, i, o: _pool(c, op, i, o, "AveragePool"),
    "ADD": lambda c, op, i, o: _binary(c, op, i, o, "Add"),
    "SUB": lambda c, op, i, o: _binary(c, op, i, o, "Sub"),
    "MUL": lambda c, op, i, o: _binary(c, op, i, o, "Mul"),
    "LOGISTIC": _unary("Sigmoid"), "RELU": _unary("Relu"), "TANH": _unary("Tanh"),
    "RELU6": lambda c, op, i, o: c.put(o[0], "nchw", "Identity", [c.get(i[0], "nchw")], 3),
    "PAD": _pad, "RESHAPE": _reshape, "CONCATENATION": _concat, "RESIZE_BILINEAR": _resize,
    "DEPTH_TO_SPACE": _depth_to_space,
    "DEQUANTIZE": lambda c, op, i, o: _fold(c, op, i, o, "DEQUANTIZE"),
    "DENSIFY": lambda c, op, i, o: _fold(c, op, i, o, "DENSIFY"),
}


# ----------------------------------------------------------------------------- public API
def convert_tflite(path: str | os.PathLike, outputs: Sequence[str] | None = None) -> "onnx.ModelProto":
    """ONNX model equivalent to the TFLite model at `path`, keeping only the graph needed for `outputs`
    (tensor names; None = all). Input and outputs keep TFLite's names, shapes (NHWC) and float32 type."""
    path = os.fspath(path)
    try:
        return _convert(path, outputs)
    except (IndexError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise FileFormatError(f"{path}: malformed or truncated TFLite flatbuffer ({type(e).__name__}: {e}). "
                              "Reinstall the model file") from e


def _convert(path: str, outputs: Sequence[str] | None) -> onnx.ModelProto:
    """Body of :func:`convert_tflite` (flatbuffer errors are turned into FileFormatError by the caller)."""
    c = _Converter(path)
    g_in = [int(v) for v in c.g.array(1)]
    g_out = [int(v) for v in c.g.array(2)]
    if outputs is not None:
        by_name = {c.names[i]: i for i in g_out}
        missing = [n for n in outputs if n not in by_name]
        if missing:
            raise Mocap3dError(f"{path}: no output named {missing}; the model's outputs are {list(by_name)}")
        g_out = [by_name[n] for n in outputs]
    ops = c.g.tables(3)
    producer = {int(t): k for k, op in enumerate(ops) for t in op.array(2)}
    needed, stack = set(), list(g_out)
    while stack:  # operators the requested outputs depend on
        t = stack.pop()
        k = producer.get(t)
        if k is not None and k not in needed:
            needed.add(k)
            stack.extend(int(v) for v in ops[k].array(1) if v >= 0)
    for i in g_in:
        if c.tensors[i].num(1, "<i1") != 0:
            raise Mocap3dError(f"{path}: input '{c.names[i]}' is not float32; only float models are supported")
        c.vals[(i, "nhwc")] = c.names[i]
    for k in sorted(needed):
        op = ops[k]
        name = c.op_name(op)
        handler = _HANDLERS.get(name)
        if handler is None:
            raise Mocap3dError(f"{path}: TFLite operator {name} (operator {k}, output "
                               f"'{c.names[int(op.array(2)[0])]}') is not supported by mocap3d's converter")
        handler(c, op, [int(v) for v in op.array(1)], [int(v) for v in op.array(2)])
    outs = []
    for i in g_out:
        if (i, "nhwc") not in c.vals:
            src = c.get(i, "nhwc")  # emits the Transpose named after the TFLite tensor
            if src != c.names[i]:
                c.node("Identity", [src], c.names[i])
        outs.append(helper.make_tensor_value_info(c.names[i], TensorProto.FLOAT, c.shapes[i]))
    ins = [helper.make_tensor_value_info(c.names[i], TensorProto.FLOAT, c.shapes[i]) for i in g_in]
    used = {v for n in c.nodes for v in n.input}
    graph = helper.make_graph(c.nodes, os.path.splitext(os.path.basename(path))[0], ins, outs,
                              [t for n, t in c.inits.items() if n in used])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mocap3d.tflite_onnx")
    model.ir_version = IR_VERSION
    return model
