"""EfficientNet-Lite0 with real weights: the restricted unpickler, the numpy network against an
independent ONNX one built from the same file, and the MAC's arithmetic in every convolution."""

from __future__ import annotations

import dataclasses
import io
import pickle

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwmodel.accuracy.models import efficientnet as E
from hwmodel.accuracy.models.torch_state import LEGACY_MAGIC, StateDictError, UnsafePickle, load_state_dict
from hwmodel.accuracy.qmatmul import accumulate_matmul, parse_numerics, qmatmul, quantize_values
from hwmodel.accuracy.studies import ImageStudy, classifier_agreement, efficientnet_accuracy
from rtl.numerics.arith import parse_accumulator
from rtl.numerics.formats import decode, get_format
from workloads.builders import efficientnet_lite0_plan
from workloads.onnx_import import trace_from_onnx
from workloads.packaged import packaged_file
from workloads.zoo import load_trace


@pytest.fixture(scope="module")
def model():
    return E.load_efficientnet_lite0()


@pytest.fixture(scope="module")
def images():
    photos = E.photographs()
    return E.crops({k: photos[k] for k in E.TEST_PHOTOS}, 4, seed=3)


def _onnx_from_state_dict(path) -> onnx.ModelProto:
    """EfficientNet-Lite0 as an ONNX graph written straight from the state dict: BatchNorm as its
    own op (not folded), explicit pads, Clip for ReLU6 — no code shared with the numpy network
    but the plan's strides and kernel sizes."""
    state = [(k, v) for k, v in load_state_dict(path).items() if not k.endswith("num_batches_tracked")]
    nodes, inits, i, x = [], [], 0, "x"

    def const(value):
        nonlocal i
        name = f"w{i}"
        i += 1
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    entries = iter(v for _, v in state)
    inputs = []
    for n, step in enumerate(efficientnet_lite0_plan()):
        inputs.append(x)
        w = const(next(entries))
        bn = [const(next(entries)) for _ in range(4)]
        top, left, bottom, right = step.padding
        nodes.append(helper.make_node("Conv", [x, w], [f"c{n}"], strides=[step.stride] * 2, group=step.groups,
                                      pads=[top, left, bottom, right], kernel_shape=[step.kernel] * 2))
        nodes.append(helper.make_node("BatchNormalization", [f"c{n}", *bn], [f"b{n}"], epsilon=E.BN_EPS))
        y = f"b{n}"
        if step.skip_from >= 0:
            nodes.append(helper.make_node("Add", [y, inputs[step.skip_from]], [f"r{n}"]))
            y = f"r{n}"
        if step.relu6:
            nodes.append(helper.make_node("Clip", [y, const(0.0), const(6.0)], [f"a{n}"]))
            y = f"a{n}"
        x = y
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"]))
    fc_w, fc_b = const(next(entries)), const(next(entries))
    nodes.append(helper.make_node("Gemm", ["flat", fc_w, fc_b], ["logits"], transB=1))
    graph = helper.make_graph(nodes, "efficientnet_lite0", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                          [None, 3, 224, 224])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 1000])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_the_state_dict_has_every_parameter_of_efficientnet_lite0():
    state = load_state_dict(packaged_file("efficientnet_lite0"))
    params = sum(v.size for k, v in state.items() if "running" not in k and "num_batches" not in k)
    assert params == 4_652_008
    assert all(v.flags.c_contiguous for v in state.values())  # TF-converted weights are stored strided


def test_float32_matches_an_independent_onnx_network(model, images, tmp_path):
    """The ONNX graph (BatchNorm unfolded) run by onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    proto = _onnx_from_state_dict(packaged_file("efficientnet_lite0"))
    ours = model.forward(images)
    theirs = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": images})[0]
    assert np.abs(ours - theirs).max() < 2e-3 * np.abs(theirs).max()
    assert (ours.argmax(1) == theirs.argmax(1)).all()
    # and the cost side's trace is the network the ONNX graph holds
    onnx.save(proto, tmp_path / "efficientnet_lite0.onnx")
    trace = trace_from_onnx(tmp_path / "efficientnet_lite0.onnx", input_shapes={"x": (1, 3, 224, 224)})
    assert int(trace.mac_layers.macs.sum()) == int(load_trace("efficientnet_lite0").mac_layers.macs.sum())


def test_the_photographs_are_recognized(model):
    """The network with these weights and this preprocessing sees what the photographs show:
    the cat (ImageNet 281–285), the coffee (967 espresso, 968 cup), the daisy (985)."""
    photos = E.photographs(("chelsea", "coffee", "flower"))
    logits = model.forward(E.crops(photos, 6, seed=0))
    names = sorted(photos)  # crops cycle through the names in order
    for i, top in enumerate(logits.argmax(1)):
        assert top in {"chelsea": range(281, 286), "coffee": (967, 968), "flower": (985,)}[names[i % 3]]


@pytest.mark.parametrize("recipe,granularity", [("int8_sym@int32", "channel"), ("int8_sym@int16", "tensor"),
                                                ("float8_e4m3fn@float16", "channel")])
def test_the_depthwise_shortcut_is_the_register_bit_for_bit(model, images, recipe, granularity):
    """A depthwise convolution takes the shifted multiply-adds only where qmatmul's register is
    order-free; elsewhere it is qmatmul itself. Both must give qmatmul's values."""
    numerics = parse_numerics(recipe, weight_granularity=granularity)
    step_conv = next(c for c in model.convs if c.step.groups > 1 and c.step.stride == 2)
    x = np.abs(images[:1, :1]).mean() + np.random.default_rng(1).random(
        (1, step_conv.step.size_in, step_conv.step.size_in, step_conv.step.c_in), dtype=np.float32) * 4
    scale = float(np.abs(x).max()) / get_format(numerics.activations).max_value
    qweights = model.quantize_weights(numerics)
    got = model._conv(x, step_conv, numerics, {step_conv.step.name: scale}, qweights, None, None)
    a, sa = quantize_values(x, numerics.activations, scale=scale)
    top, left, bottom, right = step_conv.step.padding
    a = np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
    k, s, p = step_conv.step.kernel, step_conv.step.stride, step_conv.step.size_out
    windows = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(1, 2))[:, ::s, ::s]
    cols = windows.transpose(3, 0, 1, 2, 4, 5).reshape(step_conv.step.c_in, p * p, k * k)
    b, sb = qweights[step_conv.step.name]
    want = qmatmul(cols, b, numerics, a_scale=sa, b_scale=sb)[..., 0].T.reshape(1, p, p, -1).astype(np.float32)
    np.testing.assert_array_equal(got, want + step_conv.bias)


def test_a_bias_per_channel_of_a_depthwise_product_is_the_golden_models():
    rng = np.random.default_rng(0)
    fmt = get_format("float8_e4m3fn")
    values = decode(np.arange(256), fmt)
    values = values[np.isfinite(values)]
    a = values[rng.integers(0, values.size, (3, 5, 9))]
    b = values[rng.integers(0, values.size, (3, 9, 1))]
    acc = parse_accumulator("float16", fmt, fmt)
    bias = np.array([-12, 0, -20])
    got = accumulate_matmul(a, b, acc, fmt, fmt, bias=bias)
    for g in range(3):
        np.testing.assert_array_equal(got[g], accumulate_matmul(a[g], b[g], acc, fmt, fmt, bias=bias[g]))
    from hwmodel.accuracy import qmatmul as Q
    golden = Q._golden(a, b, acc, fmt, fmt, 1, bias.reshape(3, 1, 1))
    np.testing.assert_array_equal(got, golden)


def test_formats_rank_as_they_should_on_real_photographs():
    """int4 weights are measurably worse than int8; the E4M3 → float16 MAC without an exponent
    bias overflows (448² > 65504) and with one does not."""
    recipes = [parse_numerics(r, weight_granularity="channel") for r in
               ("int8_sym@int32", "int4_sym/int8_sym@int32", "float8_e4m3fn@float16")]
    recipes.append(dataclasses.replace(recipes[-1], bias="power_of_two"))
    table, sites = efficientnet_accuracy(recipes, ImageStudy(test=8, calibration=4, batch_size=4))
    value = lambda i, metric: float(table[(table.metric == metric) & (table.weights == recipes[i].weights)  # noqa: E731
                                          & (table.bias == recipes[i].bias)
                                          & (table.accumulator == recipes[i].accumulator)].value.iloc[0])
    assert value(0, "kl_divergence") * 10 < value(1, "kl_divergence")
    assert value(0, "top1_agreement") >= 0.75 and value(1, "top1_agreement") < value(0, "top1_agreement")
    assert value(2, "non_finite_samples") == 8 and value(2, "overflow_sites") > 0
    assert value(3, "non_finite_samples") == 0 and value(3, "overflow_sites") == 0
    assert set(sites.layer) == set(E.load_efficientnet_lite0().sites)


def test_classifier_agreement_counts_overflowed_samples_as_wrong():
    ref = np.array([[3.0, 1.0, 0.0, 0, 0, 0], [0.0, 2.0, 1.0, 0, 0, 0]])
    q = np.array([[3.0, 1.0, 0.0, 0, 0, 0], [np.inf, 0.0, 0.0, 0, 0, 0]])
    m = classifier_agreement(ref, q)
    assert m["top1_agreement"] == 0.5 and m["non_finite_samples"] == 1 and m["kl_divergence"] == 0.0


# ----- the restricted unpickler ----------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (print, ("this ran",))


def _legacy_file(tmp_path, obj, name="x.pth"):
    buffer = io.BytesIO()
    for part in (LEGACY_MAGIC, 1001, {"protocol_version": 1001}, obj, []):
        pickle.dump(part, buffer, protocol=2)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def test_a_pickle_that_calls_anything_else_is_refused(tmp_path, capsys):
    with pytest.raises(UnsafePickle, match=r"calls (__builtin__|builtins).print, which a state dict never needs"):
        load_state_dict(_legacy_file(tmp_path, {"w": _Evil()}))
    assert "this ran" not in capsys.readouterr().out


@pytest.mark.parametrize("content,message", [
    (b"not a pickle at all", "not a PyTorch file"),
    (None, "holds a list, not a state dict"),
])
def test_files_that_are_not_state_dicts(tmp_path, content, message):
    path = _legacy_file(tmp_path, [1, 2, 3]) if content is None else tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StateDictError, match=message):
        load_state_dict(path)


def test_a_truncated_file_and_wrong_shapes_are_named(tmp_path, monkeypatch):
    real = packaged_file("efficientnet_lite0").read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(StateDictError, match="truncated"):
        load_state_dict(cut)
    state = load_state_dict(packaged_file("efficientnet_lite0"))
    broken = {**state, "_fc.weight": state["_fc.weight"][:10]}
    monkeypatch.setattr(E, "load_state_dict", lambda path: broken)
    with pytest.raises(StateDictError, match=r"entry 245 '_fc.weight' has shape \[10, 1280\], but EfficientNet-Lite0's "
                                             r"classifier weight needs \[1000, 1280\]"):
        E.load_efficientnet_lite0(tmp_path / "other.pth")
    extra = {**state, "extra.weight": state["_fc.bias"]}
    monkeypatch.setattr(E, "load_state_dict", lambda path: extra)
    with pytest.raises(StateDictError, match="1 entries left over after the classifier"):
        E.load_efficientnet_lite0(tmp_path / "other.pth")
