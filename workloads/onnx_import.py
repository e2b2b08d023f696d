"""ONNX → Trace, with shape inference — and, where inference cannot tell, the model's own run.

Real exports have dynamic dimensions (a batch, an image height and width, a sequence length):
every graph input's shape is given in ``input_shapes`` ({name: shape}, the CLI's ``--shape
NAME=D0,D1,…``), checked against the input's rank and fixed dimensions. ONNX's static shape
inference then fills in the rest; where it leaves the shape of a tensor a layer needs unknown
(a ``Reshape`` whose target is computed, say), the model is run once on zeros of the given
shapes — in onnxruntime if it is installed, else in ONNX's reference evaluator — and the
shapes are read off the tensors it produced. Weights are whatever is computed from constants
alone: initializers, ``Constant`` nodes (exporters such as paddle2onnx emit every weight as
one) and what data movement makes of them.

Conv (grouped, depthwise, dilated), ConvTranspose (as the GEMM it is before its col2im
scatter: input pixels × C_in/groups by C_out/groups·R·S), Gemm and MatMul (batched,
activation × activation) become MAC rows; BatchNormalization directly after a Conv is folded into it (the deploy form) unless
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

__all__ = ["trace_from_onnx", "parse_shape", "input_dims", "shape_text", "DATA_MOVEMENT", "VECTOR_OPS"]

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


def _dims(value_info) -> list | None:
    """The dimensions (an int, or a name or None where dynamic); None when the rank is unknown."""
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in tensor_type.shape.dim]


def _known(dims) -> bool:
    return dims is not None and all(isinstance(d, int) and d > 0 for d in dims)


def shape_text(dims) -> str:
    """An ONNX shape as text: its sizes, a dynamic dimension by its name (or ? without one)."""
    return "(" + ", ".join(str(d) if isinstance(d, int) else (repr(d) if d else "?") for d in dims) + ")"


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=D0,D1,…`` (the CLI's ``--shape``) → (name, dims)."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise ValueError(f"--shape {text!r}: give NAME=D0,D1,… (e.g. x=1,3,224,224)")
    try:
        values = tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--shape {text!r}: the dimensions must be integers, not {dims!r}") from None
    if not values or any(v < 1 for v in values):
        raise ValueError(f"--shape {text!r}: every dimension must be at least 1")
    return name, values


def input_dims(path: Path, graph, input_shapes: dict | None, batch: int | None) -> dict[str, list[int]]:
    """The concrete shape of every graph input: from ``input_shapes`` (checked against the
    model's rank and fixed dimensions), else the model's own, with ``batch`` (or 1) for a
    dynamic leading dimension."""
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    given = dict(input_shapes or {})
    names = [i.name for i in inputs]
    for name in given:
        if name not in names:
            raise TraceError(f"{path}: --shape names input {name!r}, but the model's inputs are "
                             f"{', '.join(map(repr, names))}")
    shapes = {}
    for value in inputs:
        model_dims = _dims(value) or []
        if value.name in given:
            dims = [int(d) for d in given[value.name]]
            if model_dims and len(dims) != len(model_dims):
                raise TraceError(f"{path}: --shape {value.name}: {len(dims)} dimensions given, but input "
                                 f"{value.name!r} has rank {len(model_dims)} {shape_text(model_dims)}")
            for axis, (size, want) in enumerate(zip(dims, model_dims)):
                if isinstance(want, int) and want != size and not (axis == 0 and batch is not None):
                    raise TraceError(f"{path}: --shape {value.name}: axis {axis} is {size}, but the model fixes it "
                                     f"at {want} {shape_text(model_dims)}")
            if batch is not None and dims:
                dims[0] = batch
        else:
            dims = list(model_dims)
            if len(dims) >= 2 and (batch is not None or not isinstance(dims[0], int)):
                dims[0] = batch or 1
            if not _known(dims):
                missing = [i for i, d in enumerate(dims) if not isinstance(d, int)]
                example = ",".join(str(d) if isinstance(d, int) else "N" for d in dims)
                raise TraceError(f"{path}: input {value.name!r} {shape_text(model_dims)} has dynamic dimension(s) "
                                 f"{missing}; give its shape, e.g. --shape {value.name}={example}")
        shapes[value.name] = dims
    return shapes


def _run_for_shapes(path: Path, model, data_shapes: dict, wanted: list[str]) -> dict[str, list[int]]:
    """Run the model once on zeros of the given input shapes and return the shapes of the
    ``wanted`` tensors (onnxruntime if installed, else ONNX's reference evaluator)."""
    import numpy as np
    import onnx
    from onnx import helper

    dtypes = {i.name: helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type) for i in model.graph.input}
    feed = {name: np.zeros(dims, dtype=dtypes.get(name, np.float32)) for name, dims in data_shapes.items()}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.ValueInfoProto(name=name) for name in wanted if name not in present)
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    try:
        if onnxruntime is not None:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = onnxruntime.InferenceSession(probe.SerializeToString(), options,
                                                   providers=["CPUExecutionProvider"])
            values = session.run(wanted, feed)
        else:
            from onnx.reference import ReferenceEvaluator
            values = ReferenceEvaluator(probe).run(wanted, feed)
    except Exception as error:  # noqa: BLE001 — either runtime raises its own types for a model it cannot run
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TraceError(f"{path}: shape inference left {len(wanted)} tensor shape(s) unknown (e.g. {wanted[0]!r}) "
                         f"and running the model on zeros of {data_shapes} to read them failed: {message}") from None
    return {name: list(np.shape(value)) for name, value in zip(wanted, values)}


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
    data_shapes = input_dims(path, graph, input_shapes, batch)
    for value in graph.input:
        if value.name in data_shapes:
            tensor_shape = value.type.tensor_type.shape
            tensor_shape.ClearField("dim")
            for size in data_shapes[value.name]:
                tensor_shape.dim.add().dim_value = size
    try:
        inferred = shape_inference.infer_shapes(model)
    except onnx.onnx_cpp2py_export.shape_inference.InferenceError as error:
        raise TraceError(f"{path}: shape inference failed: {error}") from None
    shapes = {v.name: _dims(v) for v in list(inferred.graph.value_info) + list(inferred.graph.input)
              + list(inferred.graph.output)}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    for node in graph.node:  # Constant nodes: their value's own shape
        if node.op_type == "Constant" and node.output and not _known(shapes.get(node.output[0])):
            value = _attribute(node, "value", None)
            if value is not None:
                shapes[node.output[0]] = list(value.dims)
    needed = [t for n in graph.node if n.op_type != "Constant" for t in list(n.input) + list(n.output)
              if t and not _known(shapes.get(t))]
    if needed:
        shapes.update(_run_for_shapes(path, model, data_shapes, list(dict.fromkeys(needed))))
    constant = set(initializers)
    consumers = Counter(i for n in graph.node for i in n.input)

    rows, unsupported, names = [], Counter(), set()
    producer = {}  # tensor → set of layer names that (transitively) produced it
    layer_graph = nx.DiGraph()
    folded = {}  # BN output tensor → conv layer it was folded into

    def shape(tensor, node):
        dims = shapes.get(tensor)
        if not _known(dims):
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
        elif op == "ConvTranspose":
            x, w = shape(node.input[0], node), shape(node.input[1], node)
            if len(x) != 4:
                unsupported[f"ConvTranspose{len(x) - 2}d"] += 1
                continue
            groups = _attribute(node, "group", 1)
            k, n = x[1] // groups, w[1] * w[2] * w[3]  # weight (C_in, C_out/groups, R, S)
            row = gemm_row(label, m=x[0] * x[2] * x[3], n=n, k=k, count=groups, weight=node.input[1] in constant,
                           op=op)
            row.update(weight_elems=k * n * groups, output_elems=math.prod(shape(node.output[0], node)))
            add(row, node)
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
