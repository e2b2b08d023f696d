"""ONNX → Trace, with shape inference.

Conv (grouped, depthwise, dilated), Gemm and MatMul (batched, activation × activation) become
MAC rows; BatchNormalization directly after a Conv is folded into it (the deploy form) unless
``keep_bn``; pooling, softmax, normalization, activations and elementwise ops become vector rows;
reshapes, concatenations and other data movement carry no compute and only pass the layer graph
through. Any other op is listed by name and count in the trace's notes — never dropped silently —
and with ``strict`` it is an error.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import networkx as nx

from workloads.trace import Trace, TraceError, conv_row, gemm_row, vector_row

__all__ = ["trace_from_onnx", "DATA_MOVEMENT", "VECTOR_OPS"]

DATA_MOVEMENT = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
                 "Dropout", "Identity", "Shape", "Constant", "ConstantOfShape", "Cast", "Pad", "Expand",
                 "Gather", "Tile", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth"}
VECTOR_OPS = {
    **{op: "activation" for op in ("Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "PRelu", "HardSigmoid",
                                   "HardSwish", "Gelu", "Erf", "Sqrt", "Exp", "Elu", "Selu", "Softplus")},
    **{op: "elementwise" for op in ("Add", "Sum", "Mul", "Sub", "Div", "Pow", "Max", "Min", "Mean")},
    **{op: "pool" for op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean")},
    "Softmax": "softmax", "LogSoftmax": "softmax", "LRN": "norm", "InstanceNormalization": "norm",
    "LayerNormalization": "layernorm", "BatchNormalization": "norm",
}


def _load(path: Path):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        data = path.read_bytes()
    except OSError as error:
        raise TraceError(f"{path}: cannot read ({error.strerror})") from None
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as error:
        raise TraceError(f"{path}: not an ONNX model or a truncated one ({error})") from None
    if not model.graph.node:
        raise TraceError(f"{path}: not an ONNX model or a truncated one (the graph has no nodes)")
    return model


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def _attribute(node, name, default):
    from onnx import helper
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _check_reduction(path, node, k_a: int, k_b: int, a, b) -> None:
    if k_a != k_b:
        raise TraceError(f"{path}: node {node.name or node.op_type} ({node.op_type}): the operands' reduction "
                         f"dimensions differ ({k_a} in {node.input[0]!r} {list(a)}, {k_b} in {node.input[1]!r} "
                         f"{list(b)}); the model is inconsistent")


def trace_from_onnx(path: str | Path, *, batch: int | None = None, input_shapes: dict | None = None,
                    keep_bn: bool = False, strict: bool = False, network: str | None = None) -> Trace:
    """Read an ONNX model into a :class:`Trace`.

    ``batch`` replaces the leading dimension of every image-like input (rank ≥ 2); other dynamic
    dimensions must be given in ``input_shapes`` ({input name: shape}).
    """
    import onnx
    from onnx import shape_inference

    path = Path(path)
    model = _load(path)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    input_shapes = dict(input_shapes or {})
    data_shapes = {}
    for value in inputs:
        dims = list(input_shapes.get(value.name, _dims(value)))
        if len(dims) >= 2 and (batch is not None or dims[0] is None or isinstance(dims[0], str)):
            dims[0] = batch or 1
        missing = [i for i, d in enumerate(dims) if not isinstance(d, int) or d <= 0]
        if missing:
            raise TraceError(f"{path}: input {value.name!r} has dynamic dimension(s) {missing} "
                             f"({_dims(value)}); give its shape in input_shapes")
        tensor_shape = value.type.tensor_type.shape
        for d, size in zip(tensor_shape.dim, dims):
            d.Clear()
            d.dim_value = size
        data_shapes[value.name] = dims
    try:
        inferred = shape_inference.infer_shapes(model)
    except onnx.onnx_cpp2py_export.shape_inference.InferenceError as error:
        raise TraceError(f"{path}: shape inference failed: {error}") from None
    shapes = {v.name: _dims(v) for v in list(inferred.graph.value_info) + list(inferred.graph.input)
              + list(inferred.graph.output)}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    constant = set(initializers)
    consumers = Counter(i for n in graph.node for i in n.input)

    rows, unsupported, names = [], Counter(), set()
    producer = {}  # tensor → set of layer names that (transitively) produced it
    layer_graph = nx.DiGraph()
    folded = {}  # BN output tensor → conv layer it was folded into

    def shape(tensor, node):
        dims = shapes.get(tensor)
        if dims is None or any(not isinstance(d, int) or d <= 0 for d in dims):
            raise TraceError(f"{path}: node {node.name or node.op_type}: shape of {tensor!r} unknown "
                             f"after inference ({dims})")
        return dims

    def pass_through(node):
        """A node without compute hands its inputs' producers on to its outputs."""
        merged = set()
        for tensor in node.input:
            merged |= producer.get(tensor, set())
        for tensor in node.output:
            producer[tensor] = merged

    def add(row, node):
        name = row["name"]
        while name in names:
            name += "_"
        row["name"] = name
        names.add(name)
        rows.append(row)
        layer_graph.add_node(name)
        for tensor in node.input:
            for src in producer.get(tensor, ()):
                layer_graph.add_edge(src, name, tensor=tensor)
        for tensor in node.output:
            producer[tensor] = {name}
        return name

    for index, node in enumerate(graph.node):
        op = node.op_type
        label = node.name or f"{op}_{index}"
        if all(i in constant or i == "" for i in node.input) and op not in ("Conv", "Gemm", "MatMul"):
            constant.update(node.output)  # weights built from constants (ConstantOfShape, Shape chains)
            continue
        if op == "Conv":
            x, w = shape(node.input[0], node), shape(node.input[1], node)
            if len(x) != 4:
                unsupported[f"Conv{len(x) - 2}d"] += 1
                continue
            y = shape(node.output[0], node)
            pads = list(_attribute(node, "pads", [0, 0, 0, 0]))
            add(conv_row(label, batch=x[0], C=x[1], K=w[0], H=x[2], W=x[3], R=w[2], S=w[3],
                         stride=tuple(_attribute(node, "strides", [1, 1])),
                         padding=(pads[0], pads[1], pads[2], pads[3]),
                         dilation=tuple(_attribute(node, "dilations", [1, 1])),
                         groups=_attribute(node, "group", 1), P=y[2], Q=y[3]), node)
        elif op == "Gemm":
            a, b = shape(node.input[0], node), shape(node.input[1], node)
            m, k = (a[1], a[0]) if _attribute(node, "transA", 0) else (a[0], a[1])
            n = b[0] if _attribute(node, "transB", 0) else b[1]
            _check_reduction(path, node, k, b[1] if _attribute(node, "transB", 0) else b[0], a, b)
            add(gemm_row(label, m=m, n=n, k=k, weight=node.input[1] in constant, op=op), node)
        elif op == "MatMul":
            a, b = shape(node.input[0], node), shape(node.input[1], node)
            y = shape(node.output[0], node)
            m, k, n = (a[-2] if len(a) > 1 else 1), a[-1], (b[-1] if len(b) > 1 else 1)
            _check_reduction(path, node, a[-1], b[-2] if len(b) > 1 else b[0], a, b)
            if node.input[1] in constant and len(b) == 2:  # a linear layer over all leading dims
                add(gemm_row(label, m=math.prod(a[:-1]), n=n, k=k, weight=True, op=op), node)
            else:
                add(gemm_row(label, m=m, n=n, k=k, count=math.prod(y[:-2]) or 1,
                             weight=node.input[1] in constant, op=op), node)
        elif op == "BatchNormalization":
            source = producer.get(node.input[0], set())
            conv = next(iter(source)) if len(source) == 1 else None
            conv_ok = conv is not None and rows and any(r["name"] == conv and r["op"] == "Conv" for r in rows[-3:])
            if not keep_bn and conv_ok and consumers[node.input[0]] == 1:
                producer[node.output[0]] = {conv}
                folded[node.output[0]] = conv
                continue
            y = shape(node.output[0], node)
            add(vector_row(label, "norm", math.prod(y), op=op), node)
        elif op in VECTOR_OPS:
            y = shape(node.output[0], node)
            x = shape(node.input[0], node)
            add(vector_row(label, VECTOR_OPS[op], math.prod(y), op=op, inputs=math.prod(x)), node)
        elif op in DATA_MOVEMENT:
            pass_through(node)
        else:
            unsupported[op] += 1
            pass_through(node)
    notes = ()
    if unsupported:
        listing = ", ".join(f"{op} ×{count}" for op, count in sorted(unsupported.items()))
        if strict:
            raise TraceError(f"{path}: unsupported op(s): {listing}")
        notes = (f"unsupported ops (not costed): {listing}",)
    if not rows:
        raise TraceError(f"{path}: no layers found")
    first_input = next(iter(data_shapes.values()), [])
    return Trace.from_rows(rows, network=network or path.stem, source=str(path),
                           input_shape=tuple(first_input), batch=int(first_input[0]) if first_input else 1,
                           graph=layer_graph, notes=notes)
