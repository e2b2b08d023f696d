"""Block formats in convolutions (EfficientNet-Lite0 and ONNX models): the activations blocked
along each product's K as the block-scaled unit reads it — K in (kh, kw, c) order, so a block is
one pixel's channels where they fill it; depthwise, an output pixel's window of one channel."""

import numpy as np
import pytest

from rtl.numerics.scaling import MX_FORMATS, quantize_mx
from rtl.numerics.formats import decode
from workloads.builders import ConvStep

from hwmodel.accuracy.models.efficientnet import EfficientNetLite0, _Conv
from hwmodel.accuracy.qmatmul import Numerics

from conftest import stable_seed


def _dequantized(x: np.ndarray, fmt: str, axis: int = -1, tensor_absmax=None) -> np.ndarray:
    """``x`` quantized to the block format along ``axis`` and decoded: each element's value times
    its block's scale (and NVFP4's tensor scale)."""
    mx = MX_FORMATS[fmt]
    q = quantize_mx(np.moveaxis(x, axis, -1), mx, axis=-1, tensor_absmax=tensor_absmax)
    values = decode(q.codes, mx.element) * 2.0 ** mx.element_scale_exponent \
        * np.repeat(q.scale, mx.block_size, axis=-1)[..., :x.shape[axis]]
    return np.moveaxis(values, -1, axis)


def _model(step: ConvStep, seed: int):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((step.c_out, step.c_in // step.groups, step.kernel, step.kernel)).astype(np.float32)
    conv = _Conv(step, weight, np.zeros(step.c_out, np.float32))
    fc = np.zeros((4, step.c_out), np.float32)
    return EfficientNetLite0([conv], fc, np.zeros(4, np.float32), "test"), conv


def _run(model, conv, x, numerics):
    return model._conv(x, conv, numerics, {}, model.quantize_weights(numerics), None, None).astype(np.float64)


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxint8", "nvfp4"])
def test_a_convolution_blocks_each_pixels_channels(fmt):
    """64 channels, 3 × 3: every block is 32 (NVFP4 16) channels of one pixel, for the
    activations and the weights alike — the result is the exact convolution of the values so
    quantized, up to the float32 register's one rounding per block; blocking the other K order,
    (c, kh, kw), gives another result."""
    step = ConvStep("c", 64, 8, 3, 1, 1, 6, 6, (1, 1, 1, 1), False)
    model, conv = _model(step, stable_seed(fmt))
    x = np.random.default_rng(stable_seed("x" + fmt)).standard_normal((2, 6, 6, 64)).astype(np.float32)
    numerics = Numerics(fmt, fmt, "float32", "tensor")
    got = _run(model, conv, x, numerics)
    absmax = float(np.abs(x).max())
    xq = _dequantized(x.astype(np.float64), fmt, axis=-1, tensor_absmax=absmax)  # per pixel, along channels
    wq = _dequantized(conv.weight.transpose(0, 2, 3, 1).astype(np.float64), fmt, axis=-1)  # per (out, kh, kw)
    padded = np.pad(xq, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # (n, 6, 6, c, 3, 3)
    exact = np.einsum("nhwcij,ocij->nhwo", windows, wq.transpose(0, 3, 1, 2))
    assert np.allclose(got, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())
    other = _dequantized(conv.weight.reshape(8, -1).astype(np.float64), fmt)  # blocks in (c, kh, kw) order
    wrong = np.einsum("nhwk,ok->nhwo", windows.reshape(2, 6, 6, -1), other)
    assert not np.allclose(got, wrong, rtol=1e-3)


def test_a_depthwise_convolution_blocks_each_window():
    """Depthwise, K is one channel's k·k window: a block per output pixel and channel."""
    fmt = "mxfp8_e4m3"
    step = ConvStep("d", 16, 16, 3, 2, 16, 8, 4, (0, 0, 1, 1), False)
    model, conv = _model(step, stable_seed("depthwise"))
    x = np.random.default_rng(stable_seed("dx")).standard_normal((2, 8, 8, 16)).astype(np.float32)
    got = _run(model, conv, x, Numerics(fmt, fmt, "float32", "tensor"))
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 1), (0, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::2, ::2]  # (n,4,4,c,3,3)
    xq = _dequantized(windows.reshape(2, 4, 4, 16, 9), fmt)
    wq = _dequantized(conv.weight.reshape(16, 9).astype(np.float64), fmt)
    exact = np.einsum("nhwck,ck->nhwc", xq, wq)
    assert np.allclose(got, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())


def _onnx_conv(x_shape, y_shape, weight, **attributes):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hwmodel.accuracy.models.onnx_model import OnnxNetwork

    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attributes)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
                              [numpy_helper.from_array(weight, "w")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return OnnxNetwork(proto, "conv")


@pytest.mark.parametrize("fmt, channels", [("mxfp6_e2m3", 48), ("mxfp8_e4m3", 64)])
def test_an_onnx_convolution_computes_what_efficientnets_does(fmt, channels):
    """The same layer as an ONNX graph (NCHW) through the bring-your-own-ONNX executor: the same
    blocks, the same register, the same numbers — 48 channels, whose blocks straddle pixels, and
    64, two whole blocks a pixel, which the executor quantizes once per pixel and EfficientNet's
    code from every im2col row."""
    step = ConvStep("c", channels, 8, 3, 1, 1, 5, 5, (1, 1, 1, 1), False)
    model, conv = _model(step, stable_seed(f"onnx{channels}"))
    x = np.random.default_rng(stable_seed(f"ox{channels}")).standard_normal((2, 5, 5, channels)).astype(np.float32)
    numerics = Numerics(fmt, fmt, "float32", "tensor")
    ours = _run(model, conv, x, numerics)
    network = _onnx_conv((2, channels, 5, 5), (2, 8, 5, 5), conv.weight, pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    theirs = network.run(x.transpose(0, 3, 1, 2), numerics, {})[0].transpose(0, 2, 3, 1)
    assert np.array_equal(theirs, ours.astype(np.float32))


@pytest.mark.parametrize("fmt", ["mxfp4_e2m1", "mxint8", "nvfp4"])
def test_an_onnx_convolution_quantizes_each_pixel_once_as_its_im2col_rows_would(fmt, monkeypatch):
    """Where a group's channels fill whole blocks, the input is quantized once per pixel and
    im2col gathers its codes and scales: bit for bit what quantizing every im2col row gives
    (a grouped, strided, dilated, asymmetrically padded layer with NaN and Inf inputs)."""
    from hwmodel.accuracy.models import onnx_model
    from hwmodel.accuracy.qmatmul import quantize_values

    rng = np.random.default_rng(stable_seed("pixels" + fmt))
    x = rng.standard_normal((2, 64, 9, 9)).astype(np.float32) * np.exp(rng.normal(0, 2, (1, 64, 1, 1))).astype(np.float32)
    x[0, 3, 4, 4], x[1, 40, 0, 7] = np.nan, np.inf
    weight = rng.standard_normal((12, 32, 3, 3)).astype(np.float32)
    network = _onnx_conv(x.shape, (2, 12, 5, 6), weight, group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1],
                         kernel_shape=[3, 3])
    numerics = Numerics(fmt, fmt, "float32", "tensor")
    calls = []
    fast = onnx_model._block_conv
    monkeypatch.setattr(onnx_model, "_block_conv", lambda *a: calls.append(1) or fast(*a))
    once = network.run(x, numerics, {})[0]
    assert calls, "a layer whose channels fill whole blocks takes the per-pixel path"

    def im2col(product, x, w, b, group, dilations, pads, strides, fmt, absmax):
        return onnx_model._conv(lambda cols, wm: product(*quantize_values(cols, fmt, tensor_absmax=absmax), wm),
                                x, w, b, group, dilations, pads, strides, channels_last=True)

    monkeypatch.setattr(onnx_model, "_block_conv", im2col)
    rows = network.run(x, numerics, {})[0]
    assert once.shape == (2, 12, 5, 6)
    assert np.array_equal(once, rows, equal_nan=True)
    assert np.isnan(once).any() and np.isfinite(once).mean() > 0.5

