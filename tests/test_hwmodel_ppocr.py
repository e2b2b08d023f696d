"""PP-OCRv4 with the MAC's arithmetic: the ONNX executor against onnxruntime and against
hand-computed products, the rendered labelled task, CTC decoding and scoring."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hwmodel.accuracy.models import ppocr as P
from hwmodel.accuracy.models.onnx_model import OnnxNetwork
from hwmodel.accuracy.qmatmul import parse_numerics, quantize_values
from hwmodel.accuracy.studies import OcrStudy, _boxes, _map_fidelity, _Ocr, ppocr_accuracy
from hwmodel.cli import main
from rtl.errors import FieldError
from workloads.packaged import PACKAGED, MissingPackage, packaged_file


def _packaged(name):
    try:
        return str(packaged_file(name))
    except MissingPackage as missing:
        pytest.skip(str(missing))


def _model(nodes, inputs, outputs, initializers=(), opset=12) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# ---------------------------------------------------------------- the executor


@pytest.mark.parametrize("name,shape", [("ppocr_rec", (2, 3, 48, 320)), ("ppocr_cls", (2, 3, 48, 192)),
                                        ("ppocr_det", (1, 3, 160, 224))])
def test_float32_executor_equals_onnxruntime(name, shape):
    """onnx 1.23's reference evaluator alone is off by up to 0.37 in the recognizer's softmax
    (its BatchNormalization uses batch statistics); the executor must match onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    path = _packaged(name)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    ours = OnnxNetwork(onnx.load(path)).run(x)[0]
    theirs = ort.InferenceSession(path).run(None, {"x": x})[0]
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_batch_normalization_uses_running_statistics():
    rng = np.random.default_rng(1)
    stats = [rng.uniform(0.5, 2, 3).astype(np.float32), rng.normal(size=3).astype(np.float32),
             rng.normal(size=3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)]
    names = ["scale", "bias", "mean", "var"]
    node = helper.make_node("BatchNormalization", ["x", *names], ["y"], epsilon=1e-5, momentum=0.9)
    model = _model([node], [_info("x", [2, 3, 4, 4])], [_info("y", [2, 3, 4, 4])],
                   [numpy_helper.from_array(v, n) for v, n in zip(stats, names)])
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    scale, bias, mean, var = (v.reshape(1, 3, 1, 1) for v in stats)
    np.testing.assert_allclose(OnnxNetwork(model).run(x)[0], (x - mean) / np.sqrt(var + 1e-5) * scale + bias,
                               rtol=1e-5, atol=1e-6)


def _codes(x, w, numerics, scale):
    ex, sx = quantize_values(x, numerics.activations, scale=scale)
    ew, sw = quantize_values(w.reshape(w.shape[0], -1), numerics.weights, axis=0)
    return ex, sx, ew.reshape(w.shape), np.reshape(sw, -1)


def test_depthwise_convolution_is_one_site_with_exact_int32_sums():
    """A grouped convolution is one site (one activation scale, the weight one tensor), and with
    int8 codes into int32 its value is the exact sum of the code products."""
    rng = np.random.default_rng(2)
    w = rng.normal(size=(6, 1, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=6, pads=[1, 1, 1, 1], strides=[2, 2], name="dw")
    model = _model([node], [_info("x", [1, 6, 9, 9])], [_info("y", [1, 6, 5, 5])], [numpy_helper.from_array(w, "w")])
    network = OnnxNetwork(model)
    assert network.sites == ("dw",)
    x = rng.normal(size=(1, 6, 9, 9)).astype(np.float32)
    numerics = parse_numerics("int8_sym@int32", weight_granularity="channel")
    got = network.run(x, numerics, {"dw.a": 0.03})[0]
    ex, sx, ew, sw = _codes(x, w, numerics, 0.03)
    padded = np.pad(ex, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((1, 6, 5, 5))
    for c in range(6):
        for i in range(5):
            for j in range(5):
                want[0, c, i, j] = np.sum(padded[0, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * ew[c, 0]) * sx * sw[c]
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6)


def test_conv_transpose_runs_on_the_mac():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)  # (c_in, c_out, kh, kw)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], kernel_shape=[2, 2], name="up")
    model = _model([node], [_info("x", [1, 4, 3, 5])], [_info("y", [1, 3, 6, 10])], [numpy_helper.from_array(w, "w")])
    network = OnnxNetwork(model)
    x = rng.normal(size=(1, 4, 3, 5)).astype(np.float32)
    want = np.zeros((1, 3, 6, 10), np.float64)
    for i in range(3):
        for j in range(5):
            want[0, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += np.einsum("c,cokl->okl", x[0, :, i, j], w)
    np.testing.assert_allclose(network.run(x)[0], want, rtol=1e-5, atol=1e-5)
    numerics = parse_numerics("int8_sym@int32", weight_granularity="tensor")
    got = network.run(x, numerics, {"up.a": 0.02})[0]
    ex, sx = quantize_values(x, "int8_sym", scale=0.02)
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # the kernel the MAC sees
    ew, sw = quantize_values(flipped.reshape(3, -1), "int8_sym")
    ew = ew.reshape(flipped.shape)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # back in ConvTranspose layout
    codes = np.zeros_like(want)
    for i in range(3):
        for j in range(5):
            codes[0, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += np.einsum("c,cokl->okl", ex[0, :, i, j], ew)
    np.testing.assert_allclose(got, (codes * sx * sw).astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("op,attrs", [
    ("AveragePool", {"kernel_shape": [3, 2], "strides": [3, 2]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 0}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 0, 1, 0], "count_include_pad": 1}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),  # the reference's own path
])
def test_numpy_pools_equal_the_reference(op, attrs):
    from onnx.reference import ReferenceEvaluator

    node = helper.make_node(op, ["x"], ["y"], **attrs)
    model = _model([node], [_info("x", [2, 3, 9, 8])], [_info("y", None)])
    x = np.random.default_rng(4).normal(size=(2, 3, 9, 8)).astype(np.float32)
    np.testing.assert_allclose(OnnxNetwork(model).run(x)[0], ReferenceEvaluator(model).run(None, {"x": x})[0],
                               rtol=1e-6, atol=1e-6)


def test_weights_reached_through_shape_ops_are_weights():
    """A MatMul whose weight is Transpose(Constant) quantizes it as a weight (per channel)."""
    w = np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["wc"], value=numpy_helper.from_array(w)),
             helper.make_node("Transpose", ["wc"], ["wt"]),
             helper.make_node("MatMul", ["x", "wt"], ["y"], name="mm")]
    network = OnnxNetwork(_model(nodes, [_info("x", [2, 4])], [_info("y", [2, 3])]))
    assert "wt" in network.constants
    seen = []
    network.run(np.ones((2, 4), np.float32), observe=lambda key, v: seen.append(key))
    assert seen == ["mm.a"]  # the weight is not an activation to calibrate


# ---------------------------------------------------------------- the task


def test_text_lines_are_seeded_distinct_and_disjoint():
    test = P.text_lines(300, 0)
    assert test == P.text_lines(300, 0) and len(set(test)) == 300
    assert all(3 <= len(t) <= P.MAX_CHARS for t in test)
    calibration = P.text_lines(50, 1, exclude=test)
    assert not set(calibration) & set(test)
    every = "".join(test)
    assert any(c.isdigit() for c in every) and any(c in ",.:;!?%$()-" for c in every) and any(c.isupper() for c in every)


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    classes = ["", "a", "b", " "]
    steps = [1, 1, 0, 1, 2, 2, 3, 0, 3]  # a a _ a b b ␣ _ ␣
    scores = np.eye(4)[steps][None]
    assert P.ctc_greedy(scores, classes) == ["aab  "]
    assert P.ctc_greedy(np.full((1, 3, 4), np.nan), classes) == [""]
    with pytest.raises(ValueError, match="scores 4 classes, its dictionary has 3"):
        P.ctc_greedy(scores, classes[:3])


def test_scores_ignore_spaces_and_width_forms():
    assert P.normalized("20%？ (a） b") == "20%?(a)b"
    assert P.edit_distance("kitten", "sitting") == 3
    scores = P.recognition_scores(["ab c", "xyz"], ["abc", "xyw"])
    assert scores["line_accuracy"] == 0.5
    assert scores["char_accuracy"] == pytest.approx(1 - 1 / 6)


def test_boxes_and_map_fidelity():
    page = np.zeros((40, 60))
    page[5:10, 5:30] = 0.9
    page[20:25, 10:50] = 0.8
    assert _boxes(page, 0.3) == [(5, 5, 10, 30), (20, 10, 25, 50)]
    shifted = np.roll(page, 1, axis=1)
    fidelity = _map_fidelity([page[None, None]], [shifted[None, None]])
    assert fidelity["det_box_f1"] == 1.0 and 0.9 < fidelity["det_map_iou"] < 1.0
    lost = page.copy()
    lost[20:25] = 0
    assert _map_fidelity([page[None, None]], [lost[None, None]])["det_box_f1"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def ocr():
    _packaged("ppocr_rec")
    return _Ocr(OcrStudy(test=24, calibration=16, pages=1))


def test_float32_reads_the_rendered_lines(ocr):
    table, _ = ppocr_accuracy([], ocr.study, context=ocr)
    values = table.set_index("metric").value
    assert values["line_accuracy"] >= 0.9 and values["char_accuracy"] >= 0.98
    assert values["cls_accuracy"] >= 0.9
    assert sorted(ocr.truth) == sorted(ocr.lines)


def test_formats_rank_on_the_task(ocr):
    recipes = [parse_numerics("int8_sym@int32", weight_granularity="channel"),
               parse_numerics("int4_sym@int32", weight_granularity="tensor")]
    table, sites = ppocr_accuracy(recipes, ocr.study, context=ocr)
    line = table[table.metric == "line_accuracy"].set_index("weights").value
    assert line["int8_sym"] >= 0.8
    assert line["int4_sym"] < line["int8_sym"] - 0.5
    assert set(sites.layer) == set(ocr.rec.model.sites)
    det = table[(table.metric == "det_box_f1") & (table.weights == "int8_sym")].value.iloc[0]
    assert det >= 0.5


def test_ppocr_cli_errors(capsys):
    assert main(["accuracy", "--model", "ppocr", "--lines", "0"]) == 2
    assert "argument --lines: must be a positive integer, not 0" in capsys.readouterr().err
    with pytest.raises(FieldError, match="pages must be a non-negative integer, not -1"):
        OcrStudy(pages=-1)
    assert PACKAGED["ppocr_rec"].input_shapes["x"] == (1, 3, P.HEIGHT, P.MIN_WIDTH)


# ---------------------------------------------------------------- bring-your-own, several inputs


def test_a_model_with_two_inputs_takes_npz_files(tmp_path):
    from hwmodel.accuracy.models.onnx_model import OnnxStudy, load_arrays, onnx_accuracy

    rng = np.random.default_rng(6)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "gate"], ["g"]), helper.make_node("MatMul", ["g", "w"], ["y"], name="mm")]
    model = _model(nodes, [_info("x", ["n", 4]), _info("gate", ["n", 4])], [_info("y", ["n", 3])],
                   [numpy_helper.from_array(w, "w")])
    onnx.save(model, tmp_path / "two.onnx")
    data = {name: {"x": rng.normal(size=(n, 4)).astype(np.float32), "gate": rng.uniform(0, 1, (n, 4)).astype(np.float32)}
            for name, n in (("cal", 16), ("eval", 32))}
    for name, arrays in data.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
    proto, cal, ev, _ = load_arrays(tmp_path / "two.onnx", tmp_path / "cal.npz", tmp_path / "eval.npz")
    study = OnnxStudy(proto, cal, ev)
    np.testing.assert_allclose(study.reference, (data["eval"]["x"] * data["eval"]["gate"]) @ w, rtol=1e-5)
    rows = onnx_accuracy(study, [parse_numerics("int8_sym@int32", weight_granularity="channel")])
    assert rows.set_index("metric").value["cosine_mean"] > 0.999
    np.save(tmp_path / "one.npy", data["eval"]["x"])
    with pytest.raises(ValueError, match=r"takes 2 inputs \['x', 'gate'\]; give the evaluation data as an .npz"):
        load_arrays(tmp_path / "two.onnx", tmp_path / "cal.npz", tmp_path / "one.npy")
    np.savez(tmp_path / "partial.npz", x=data["eval"]["x"], gates=data["eval"]["gate"])
    with pytest.raises(ValueError, match=r"partial.npz: .*\(missing \['gate'\]\) \(not inputs: \['gates'\]\)"):
        load_arrays(tmp_path / "two.onnx", tmp_path / "cal.npz", tmp_path / "partial.npz")
    np.savez(tmp_path / "ragged.npz", x=data["eval"]["x"], gate=data["eval"]["gate"][:5])
    with pytest.raises(ValueError, match=r"different batch sizes \[5, 32\]"):
        load_arrays(tmp_path / "two.onnx", tmp_path / "cal.npz", tmp_path / "ragged.npz")
    bad = dict(data["eval"])
    bad["gate"] = bad["gate"].copy()
    bad["gate"][2, 1] = np.inf
    np.savez(tmp_path / "inf.npz", **bad)
    with pytest.raises(ValueError, match=r"inf.npz\[gate\]: the evaluation array holds inf at index \(2, 1\)"):
        load_arrays(tmp_path / "two.onnx", tmp_path / "cal.npz", tmp_path / "inf.npz")


def test_an_operator_the_executor_lacks_is_named_with_its_count():
    nodes = [helper.make_node("FancyOp", ["x"], ["h"]), helper.make_node("FancyOp", ["h"], ["y"])]
    model = _model(nodes, [_info("x", [2])], [_info("y", [2])], opset=17)
    with pytest.raises(ValueError, match=r"m: the executor cannot run this model: FancyOp \(2 nodes\) has no implementation"):
        OnnxNetwork(model, "m")
