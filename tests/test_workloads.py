"""Layer traces: ONNX import, builders, SCALE-Sim CSV, bundled traces, the trace command."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwmodel import cli
from workloads import zoo
from workloads.zoo import load_trace
from workloads.builders import TransformerConfig, mobilenet_v2_trace, transformer_trace
from workloads.onnx_import import trace_from_onnx
from workloads.scalesim import read_scalesim, write_scalesim
from workloads.trace import Trace, TraceError, conv_row, gemm_row


def test_conv_row_formulas():
    row = conv_row("c", batch=2, C=64, K=128, H=56, W=56, R=3, S=3, stride=(2, 2), padding=(1, 1, 1, 1))
    assert (row["P"], row["Q"]) == (28, 28)
    assert row["macs"] == 2 * 128 * 28 * 28 * 64 * 9
    assert (row["gemm_m"], row["gemm_n"], row["gemm_k"]) == (2 * 28 * 28, 128, 576)
    dw = conv_row("dw", batch=1, C=32, K=32, H=10, W=10, R=3, S=3, padding=(1, 1, 1, 1), groups=32)
    assert dw["kind"] == "depthwise" and dw["macs"] == 32 * 100 * 9 and dw["gemm_count"] == 32
    dilated = conv_row("d", batch=1, C=1, K=1, H=10, W=10, R=3, S=3, dilation=(2, 2))
    assert dilated["P"] == 6
    attention = gemm_row("qk", m=128, n=128, k=64, count=12, weight=False)
    assert attention["kind"] == "matmul" and attention["macs"] == 12 * 128 * 128 * 64


@pytest.mark.parametrize("name,gmacs", [("resnet50", 4.09), ("vgg19", 19.6), ("densenet121", 2.83),
                                        ("squeezenet", 0.35), ("inception_v1", 1.43), ("alexnet", 0.66)])
def test_onnx_light_models(name, gmacs):
    trace = trace_from_onnx(zoo.onnx_light_model(name))
    assert trace.totals()["gmacs"] == pytest.approx(gmacs, rel=0.02)
    assert not trace.notes and trace.graph.number_of_edges() >= len(trace.mac_layers) - 1


def test_onnx_batch_and_batchnorm_folding():
    path = zoo.onnx_light_model("resnet50")
    folded = trace_from_onnx(path)
    kept = trace_from_onnx(path, keep_bn=True)
    assert (kept.layers.kind == "norm").sum() == 53 and (folded.layers.kind == "norm").sum() == 0
    assert kept.totals()["gmacs"] == folded.totals()["gmacs"]
    batched = trace_from_onnx(path, batch=4)
    convs = folded.layers.kind == "conv"
    # the file's final Reshape hard-codes batch 1, so only the convolutions scale
    assert batched.layers.macs[convs].sum() == 4 * folded.layers.macs[convs].sum()


def _model_with(tmp_path, *, op="Relu", dynamic=False):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8] if dynamic else [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 4], [0.0] * 32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
             helper.make_node(op, ["h"], ["y"], name="act")]
    graph = helper.make_graph(nodes, "g", [x], [y], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def test_onnx_unsupported_ops_are_listed_or_refused(tmp_path):
    path = _model_with(tmp_path, op="Hardmax")
    trace = trace_from_onnx(path)
    assert trace.notes == ("unsupported ops (not costed): Hardmax ×1",)
    with pytest.raises(TraceError, match="unsupported op\\(s\\): Hardmax ×1"):
        trace_from_onnx(path, strict=True)


def test_onnx_bad_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07this is not a protobuf model" * 3)
    with pytest.raises(TraceError, match="junk.onnx: not an ONNX model or a truncated one"):
        trace_from_onnx(junk)
    good = zoo.onnx_light_model("squeezenet").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(TraceError, match="cut.onnx: not an ONNX model or a truncated one"):
        trace_from_onnx(cut)
    dynamic = _model_with(tmp_path, dynamic=True)
    assert trace_from_onnx(dynamic).layers.macs.sum() == 32  # a dynamic batch defaults to 1


def test_onnx_dynamic_non_batch_dimension_needs_a_shape(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1, "seq", 8])
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 4], [0.0] * 32)
    graph = helper.make_graph([helper.make_node("MatMul", ["tokens", "w"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "seq.onnx"
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(TraceError, match=r"input 'tokens' \(1, 'seq', 8\) has dynamic dimension.*--shape tokens=1,N,8"):
        trace_from_onnx(path)
    assert trace_from_onnx(path, input_shapes={"tokens": [1, 16, 8]}).layers.macs.sum() == 16 * 8 * 4


def test_transformers_and_mobilenet():
    bert = transformer_trace("bert_base")
    assert bert.totals()["gmacs"] == pytest.approx(11.17, rel=0.01)
    qk = bert.layers[bert.layers.name == "l0.qk"].iloc[0]
    assert (qk.gemm_m, qk.gemm_n, qk.gemm_k, qk.gemm_count, qk.weight_operand) == (128, 128, 64, 12, False)
    assert transformer_trace("vit_b16").totals()["gmacs"] == pytest.approx(17.56, rel=0.01)
    decode = transformer_trace("gpt2_small", seq=512, decode=True)
    av = decode.layers[decode.layers.name == "l0.av"].iloc[0]
    assert (av.gemm_m, av.gemm_k) == (1, 512)
    assert mobilenet_v2_trace().totals()["gmacs"] == pytest.approx(0.300, rel=0.01)
    with pytest.raises(ValueError, match="not divisible by heads"):
        TransformerConfig("bad", 2, 100, 3, 400, 16)
    with pytest.raises(ValueError, match="not a decoder"):
        transformer_trace("bert_base", decode=True)


def test_scalesim_import_quirks(tmp_path):
    topo = tmp_path / "topo.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "conv1, 224, 224, 7, 7, 3, 64, 2,\n"
                    "dw_DP, 10, 10, 3, 3, 8, 1, 1,\n")
    trace = read_scalesim(topo)
    conv1, dw = trace.layers.iloc[0], trace.layers.iloc[1]
    assert (conv1.P, conv1.Q) == (110, 110)  # ceil((224 − 7 + 2) / 2); floor((224 − 7) / 2) + 1 = 109
    assert trace.notes and "conv1: SCALE-Sim's output 110×110 differs" in trace.notes[0]
    assert dw.kind == "depthwise" and dw.gemm_count == 8 and dw.macs == 8 * 64 * 9
    odd = tmp_path / "odd.csv"
    odd.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                   "c, 226, 226, 3, 3, 3, 32, 2,\n")
    trace = read_scalesim(odd)
    assert trace.layers.P.iloc[0] == 113 and "differs from floor" in trace.notes[0]


@pytest.mark.parametrize("text,message", [
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc, 8, 8, 3, 3, 3, 4, 1\n",
     "row 2: no trailing comma"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc, 8, 8, 3, 3,\n",
     "row 2: missing column 'Channels'"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc, 8, 8, 3, 3, 0, 4, 1,\n",
     "row 2, column 'Channels': size must be positive, not 0"),
    ("Layer, M, N, K,\ng, 4, x, 2,\n", "row 2, column 'N': 'x' is not an integer"),
    ("name, a, b,\n", "row 1: header"),
])
def test_scalesim_bad_rows_name_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=f"bad.csv: {message}"):
        read_scalesim(path)


@pytest.mark.parametrize("name,form", [("resnet50", "conv"), ("mobilenet_v2", "conv"), ("bert_base", "gemm"),
                                       ("squeezenet", "gemm"), ("minilm_l6", "conv")])
def test_scalesim_round_trip(tmp_path, name, form):
    trace = zoo.load_trace(name)
    text, notes = write_scalesim(trace, form)
    back = read_scalesim(tmp_path / f"{name}.csv", text)
    changed = {n.split(":")[0] for n in notes}
    ours = trace.mac_layers
    kept = ~ours.name.isin(changed)
    if form == "conv":
        assert len(back.layers) == sum(int(r.gemm_count) if r.kind in ("linear", "matmul") else 1
                                       for r in ours.itertuples())
    # every layer SCALE-Sim reads the same way keeps its MACs exactly
    assert back.layers.macs.sum() >= ours.macs[kept].sum()
    if not notes:
        assert back.layers.macs.sum() == ours.macs.sum()


def test_bundled_traces_are_current(tmp_path):
    fresh = zoo.regenerate(tmp_path)
    for path in fresh:
        shipped = Path(zoo.__file__).parent / "data" / path.name
        assert path.read_text() == shipped.read_text(), f"{path.name} is stale: run hwmodel data traces"


def test_trace_csv_roundtrip_and_validation(tmp_path):
    trace = zoo.load_trace("minilm_l6")
    again = Trace.from_csv(trace.to_csv())
    assert again.layers.equals(trace.layers) and set(again.graph.edges) == set(trace.graph.edges)
    bad = trace.layers.copy()
    bad.loc[4, "gemm_k"] = -5
    with pytest.raises(TraceError, match=r"row 5 \(l0.qk\), column gemm_k: -5 is not a non-negative integer"):
        Trace(bad, "x", "test")
    bad = trace.layers.copy()
    bad.loc[1, "macs"] += 1
    with pytest.raises(TraceError, match="column macs"):
        Trace(bad, "x", "test")


def test_trace_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hwmodel.cli", "trace", "resnet50"], capture_output=True, text=True)
    assert out.returncode == 0 and "4.089 GMAC" in out.stdout
    target = tmp_path / "t.csv"
    assert cli.main(["trace", str(zoo.onnx_light_model("squeezenet")), "--batch", "2", "-o", str(target)]) == 0
    assert zoo.load_trace(str(target)).batch == 2
    bad = subprocess.run([sys.executable, "-m", "hwmodel.cli", "trace", "nonet"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown network 'nonet'" in bad.stderr


def test_layering_keeps_amaranth_inside_rtl():
    """workloads and the numerics never load the HDL toolchain (imports go one way)."""
    code = ("import sys, workloads.zoo, workloads.scalesim, rtl.numerics.formats, rtl.numerics.scaling, rtl.numerics.arith, rtl.files; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('amaranth', 'hwmodel')]; "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr


def test_scalesim_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "topo.csv"
    path.write_bytes("\ufeffLayer, M, N, K,\nfc1, 64, 128, 256,\n".encode("utf-8"))
    trace = load_trace(str(path))
    assert trace.layers.macs.iloc[0] == 64 * 128 * 256


def test_a_huge_gemm_row_is_named_not_a_mismatch(tmp_path):
    row = gemm_row("huge", m=2 ** 24, n=2 ** 24, k=2 ** 24)  # 2^72 MACs: int64 would wrap
    with pytest.raises(TraceError, match=r"row 1 \(huge\), column macs: \d+ is beyond what a trace holds"):
        Trace.from_rows([row], network="x", source="test")


def test_onnx_matmul_with_mismatched_shapes_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((5, 3), np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(TraceError, match=r"bad.onnx: node mm \(MatMul\): the operands' reduction dimensions differ "
                                         r"\(4 in 'x' \[2, 4\], 5 in 'w' \[5, 3\]\)"):
        trace_from_onnx(path)
