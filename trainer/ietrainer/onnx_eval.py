"""Run an exported encoder without onnxruntime, to check exports against PyTorch anywhere.

Backends, first available: onnxruntime (Python), a small NumPy interpreter for the operators our
encoders export to (both exporters: Conv, BatchNormalization, Relu, MaxPool, Add, pooling means,
Flatten/Reshape and their shape arithmetic), then ONNX's reference evaluator (onnx >= 1.13).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import onnx
from onnx import numpy_helper

Array: TypeAlias = np.ndarray


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _windows(x: Array, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int]) -> Array:
    """[n, c, oh, ow, kh, kw] strided view of the (already padded) input."""
    n, c, h, w = x.shape
    oh = (h - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w - dil[1] * (kw - 1) - 1) // stride[1] + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(n, c, oh, ow, kh, kw),
        strides=(s[0], s[1], s[2] * stride[0], s[3] * stride[1], s[2] * dil[0], s[3] * dil[1]),
        writeable=False,
    )


def _pad(x: Array, pads: list[int], value: float) -> Array:
    top, left, bottom, right = pads
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    return np.pad(x, widths, constant_values=value)


def _conv(node: onnx.NodeProto, x: Array, w: Array, b: Array | None = None) -> Array:
    a = _attrs(node)
    group = a.get("group", 1)
    stride = tuple(a.get("strides", (1, 1)))
    dil = tuple(a.get("dilations", (1, 1)))
    x = _pad(x, list(a.get("pads", (0, 0, 0, 0))), 0.0)
    cout, cin_g, kh, kw = w.shape
    outs = []
    for g in range(group):
        xg = x[:, g * cin_g : (g + 1) * cin_g]
        wg = w[g * (cout // group) : (g + 1) * (cout // group)]
        win = _windows(np.ascontiguousarray(xg), kh, kw, stride, dil)  # type: ignore[arg-type]
        outs.append(np.einsum("ncxyij,ocij->noxy", win, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _maxpool(node: onnx.NodeProto, x: Array) -> Array:
    a = _attrs(node)
    kh, kw = a["kernel_shape"]
    stride = tuple(a.get("strides", (1, 1)))
    dil = tuple(a.get("dilations", (1, 1)))
    x = _pad(x, list(a.get("pads", (0, 0, 0, 0))), -np.inf)
    return _windows(x, kh, kw, stride, dil).max(axis=(4, 5))  # type: ignore[arg-type]


def _reduce_mean(node: onnx.NodeProto, x: Array, axes: Array | None = None) -> Array:
    a = _attrs(node)
    dims = tuple(int(i) for i in (axes if axes is not None else a.get("axes", range(x.ndim))))
    return x.mean(axis=dims, keepdims=bool(a.get("keepdims", 1)))


def _batchnorm(node: onnx.NodeProto, x: Array, s: Array, b: Array, m: Array, v: Array) -> Array:
    eps = _attrs(node).get("epsilon", 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * s.reshape(shape) + b.reshape(
        shape
    )


def _flatten(node: onnx.NodeProto, x: Array) -> Array:
    axis = _attrs(node).get("axis", 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _reshape(node: onnx.NodeProto, x: Array, shape: Array) -> Array:
    target = [x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape.tolist())]
    return x.reshape(target)


def _gemm(node: onnx.NodeProto, a: Array, b: Array, c: Array | None = None) -> Array:
    at = _attrs(node)
    a = a.T if at.get("transA", 0) else a
    b = b.T if at.get("transB", 0) else b
    y = at.get("alpha", 1.0) * (a @ b)
    return y if c is None else y + at.get("beta", 1.0) * c


def _squeeze(node: onnx.NodeProto, x: Array, axes: Array | None = None) -> Array:
    dims = axes if axes is not None else _attrs(node).get("axes")
    return np.squeeze(x, axis=None if dims is None else tuple(int(d) for d in dims))


def _unsqueeze(node: onnx.NodeProto, x: Array, axes: Array | None = None) -> Array:
    dims = axes if axes is not None else _attrs(node)["axes"]
    return np.expand_dims(x, axis=tuple(int(d) for d in dims))


OPS: dict[str, Callable[..., Array]] = {
    "Conv": _conv,
    "Relu": lambda n, x: np.maximum(x, 0),
    "Add": lambda n, a, b: a + b,
    "Sub": lambda n, a, b: a - b,
    "Mul": lambda n, a, b: a * b,
    "Div": lambda n, a, b: a / b,
    "Identity": lambda n, x: x,
    "MaxPool": _maxpool,
    "GlobalAveragePool": lambda n, x: x.mean(axis=(2, 3), keepdims=True),
    "ReduceMean": _reduce_mean,
    "BatchNormalization": _batchnorm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Gemm": _gemm,
    "MatMul": lambda n, a, b: a @ b,
    "Shape": lambda n, x: np.array(x.shape, dtype=np.int64),
    "Gather": lambda n, x, i: np.take(x, i, axis=_attrs(n).get("axis", 0)),
    "Concat": lambda n, *xs: np.concatenate(xs, axis=_attrs(n)["axis"]),
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Cast": lambda n, x: x,
    "Constant": lambda n: numpy_helper.to_array(_attrs(n)["value"]),
}


def run_numpy(model: onnx.ModelProto, x: Array) -> Array:
    """Evaluate a single-input, single-output graph of the operators in OPS."""
    graph = model.graph
    unknown = sorted({n.op_type for n in graph.node} - set(OPS))
    if unknown:
        raise NotImplementedError(f"operators without a NumPy implementation: {unknown}")
    values: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    values[graph.input[0].name] = x
    for node in graph.node:
        args = [values[i] if i else None for i in node.input]
        result = OPS[node.op_type](node, *args)
        values[node.output[0]] = result
    return np.asarray(values[graph.output[0].name], dtype=np.float32)


def run_onnx(path: str, x: Array) -> tuple[Array, str]:
    """(output, backend) of the model at ``path`` on input ``x`` ([n, 3, h, w] float32)."""
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {session.get_inputs()[0].name: x})
        return np.asarray(out), "onnxruntime"
    except ImportError:
        pass
    model = onnx.load(path)
    try:
        return run_numpy(model, x), "numpy"
    except NotImplementedError:
        from onnx.reference import ReferenceEvaluator  # onnx >= 1.13

        (out,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x})
        return np.asarray(out), "onnx.reference"
