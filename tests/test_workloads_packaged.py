"""Real exports with dynamic shapes and Constant-node weights: the PP-OCR models shipped in
rapidocr-onnxruntime, traced and checked against an independent count from onnxruntime."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest

from workloads.onnx_import import trace_from_onnx
from workloads.packaged import PACKAGED, packaged_file
from workloads.trace import TraceError

OCR = ("ppocr_rec", "ppocr_det", "ppocr_cls")


def _independent_count(path, shapes):
    """MACs and weight elements of every Conv / ConvTranspose / MatMul / Gemm, from the concrete
    operand arrays onnxruntime produces when each operand is exposed as a graph output."""
    ort = pytest.importorskip("onnxruntime")
    model = onnx.load(str(path))
    mac_nodes = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm")]
    constants = {t.name for t in model.graph.initializer} | {o for n in model.graph.node if n.op_type == "Constant"
                                                             for o in n.output}
    wanted = list(dict.fromkeys(t for n in mac_nodes for t in (n.input[0], n.input[1], n.output[0])))
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=t) for t in wanted if t not in present)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {name: np.random.default_rng(0).random(shape, dtype=np.float32) for name, shape in shapes.items()}
    values = dict(zip(wanted, session.run(wanted, feed)))
    macs = weights = 0
    for n in mac_nodes:
        a, b, y = (values[t].shape for t in (n.input[0], n.input[1], n.output[0]))
        group = next((onnx.helper.get_attribute_value(x) for x in n.attribute if x.name == "group"), 1)
        if n.op_type == "Conv":
            macs += math.prod(y) * math.prod(b[1:])
        elif n.op_type == "ConvTranspose":
            macs += math.prod(a) * b[1] * b[2] * b[3]
            assert group == 1
        elif n.op_type == "MatMul":
            macs += math.prod(y) * a[-1]
        else:
            trans_a = next((onnx.helper.get_attribute_value(x) for x in n.attribute if x.name == "transA"), 0)
            macs += math.prod(y) * (a[0] if trans_a else a[1])
        if n.input[1] in constants:
            weights += math.prod(b)
    return macs, weights


@pytest.mark.parametrize("name", OCR)
def test_ocr_traces_count_the_macs_onnxruntime_computes(name):
    shapes = PACKAGED[name].input_shapes
    trace = trace_from_onnx(packaged_file(name), input_shapes=shapes)
    macs, weights = _independent_count(packaged_file(name), shapes)
    layers = trace.mac_layers
    assert int(layers.macs.sum()) == macs
    # the weights are Constant nodes, not initializers: they must count as weights
    assert int(layers[layers.weight_operand].weight_elems.sum()) == weights > 0
    assert not trace.notes, trace.notes


def test_the_recognizer_needs_the_run_on_zeros_and_says_which_runtime_failed(monkeypatch):
    """Static inference leaves the SVTR neck's MatMul operands unknown (computed reshapes); the
    run on zeros fills them in, and a failing run is a TraceError naming the tensor."""
    import workloads.onnx_import as onnx_import

    path = packaged_file("ppocr_rec")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    known = {v.name for v in model.graph.value_info if v.type.tensor_type.HasField("shape")
             and all(d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)}
    matmul_inputs = [t for n in model.graph.node if n.op_type == "MatMul" for t in n.input[:1]]
    assert any(t not in known for t in matmul_inputs)  # so the fallback is exercised below

    def broken(*args, **kwargs):
        raise RuntimeError("simulated runtime failure")

    import onnxruntime
    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    with pytest.raises(TraceError, match=r"running the model on zeros .* failed: simulated runtime failure"):
        trace_from_onnx(path, input_shapes={"x": (1, 3, 48, 320)})


def test_without_onnxruntime_the_reference_evaluator_gives_the_same_trace(monkeypatch):
    import builtins

    path = packaged_file("ppocr_rec")  # the model whose shapes need the run (see above)
    want = trace_from_onnx(path, input_shapes={"x": (1, 3, 48, 320)})
    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    got = trace_from_onnx(path, input_shapes={"x": (1, 3, 48, 320)})
    assert got.layers.equals(want.layers)


@pytest.mark.parametrize("shape,message", [
    ({"x": (1, 3, 48)}, r"3 dimensions given, but input 'x' has rank 4"),
    ({"y": (1, 3, 48, 320)}, r"names input 'y', but the model's inputs are 'x'"),
    ({"x": (1, 4, 48, 320)}, r"axis 1 is 4, but the model fixes it at 3"),
    ({}, r"input 'x' .* has dynamic dimension\(s\) \[2, 3\]; give its shape, e.g. --shape x=1,3,N,N"),
])
def test_wrong_shapes_are_named(shape, message):
    with pytest.raises(TraceError, match=message):
        trace_from_onnx(packaged_file("ppocr_rec"), input_shapes=shape)


def test_a_missing_weights_package_names_the_pip_command(monkeypatch, capsys):
    import importlib.util

    from hwmodel.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    assert main(["trace", "ppocr_rec", "--batch", "2"]) == 1
    assert "pip install --no-deps rapidocr-onnxruntime==1.4.4" in capsys.readouterr().err
