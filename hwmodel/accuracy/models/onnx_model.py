"""Bring your own model: accuracy of an ONNX network per format, with the MAC's arithmetic.

The model runs in ONNX's reference evaluator with ``MatMul``, ``Gemm`` and ``Conv`` replaced by
implementations that quantize their operands and accumulate through
:func:`hwmodel.accuracy.qmatmul.qmatmul` — so, unlike quantize-dequantize insertion, the accumulator's
own rounding (or wrapping) is in the result. Constant operands (initializers) are weights:
per-tensor or per output channel. Other operands are activations with a static per-tensor
scale calibrated on the calibration inputs. Every other operator runs in float32 as written.

Inputs are ``.npy`` arrays whose first axis is the batch: the calibration array, the evaluation
array and optionally integer labels (then top-1 accuracy is reported); without labels the
outputs are compared with the float32 model's (SQNR in dB and mean cosine per sample).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.onnx_import import shape_text

from hwmodel.accuracy.calibration import activation_scale, collector
from hwmodel.accuracy.kernels import NARROW
from hwmodel.accuracy.recipes import UNQUANTIZED
from hwmodel.accuracy.qmatmul import (MX_FORMATS, Numerics, _finite, bias_of, block_depthwise, code_dtype,
                                      count_inputs, count_outputs, order_free, qmatmul, quantize_values,
                                      quantize_weight)

__all__ = ["OnnxNetwork", "OnnxStudy", "onnx_accuracy", "load_arrays", "MAC_OPS"]


def load_arrays(model: str | Path, calibration: str | Path, evaluation: str | Path, labels: str | Path | None = None):
    """(model proto, calibration input(s), evaluation input(s), labels or None), checked. A
    model with one input takes ``.npy`` arrays (or an ``.npz`` holding one array per input
    name); a model with several takes ``.npz`` files with one array per input name."""
    import onnx

    model = Path(model)
    if not model.exists():
        raise ValueError(f"{model}: no such ONNX file")
    try:
        proto = onnx.load(str(model))
    except Exception as error:  # noqa: BLE001 — onnx raises several types for a corrupt file
        raise ValueError(f"{model}: not a readable ONNX model ({error})") from None
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if not inputs:
        raise ValueError(f"{model}: the model has no inputs")
    data = []
    for what, path in (("calibration", calibration), ("evaluation", evaluation)):
        data.append(_input_arrays(model, inputs, what, Path(path)))
    y = None
    if labels is not None:
        y = _read(Path(labels), "labels")
        if y.dtype.kind not in "iu":
            raise ValueError(f"{labels}: labels must be integer class indices, not {y.dtype} values")
        if y.ndim != 1:
            raise ValueError(f"{labels}: labels must be one index per sample (shape (n,)), not shape {y.shape}")
        samples = len(next(iter(data[1].values())))
        if len(y) != samples:
            raise ValueError(f"{labels}: {len(y)} labels for {samples} evaluation samples")
        if len(y) and y.min() < 0:
            raise ValueError(f"{labels}: label {int(y.min())} at index {int(y.argmin())} is negative")
    unwrap = (lambda d: d[inputs[0].name]) if len(inputs) == 1 else (lambda d: d)
    return proto, unwrap(data[0]), unwrap(data[1]), y


def _read(path: Path, what: str):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read the {what} array ({error})") from None


def _input_arrays(model: Path, inputs, what: str, path: Path) -> dict:
    """{input name: array} from an ``.npy`` (one input) or ``.npz`` (by input name), each checked."""
    loaded = _read(path, what)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
        names = [i.name for i in inputs]
        missing, extra = [n for n in names if n not in arrays], sorted(set(arrays) - set(names))
        if missing or extra:
            raise ValueError(f"{path}: the {what} file holds arrays {sorted(arrays)}, but {model} takes inputs {names}"
                             + (f" (missing {missing})" if missing else "") + (f" (not inputs: {extra})" if extra else ""))
    elif len(inputs) == 1:
        arrays = {inputs[0].name: loaded}
    else:
        raise ValueError(f"{path}: {model} takes {len(inputs)} inputs {[i.name for i in inputs]}; give the {what} "
                         "data as an .npz with one array per input name (numpy.savez)")
    lengths = set()
    for info in inputs:
        array = arrays[info.name]
        label = f"{path}[{info.name}]" if len(inputs) > 1 else str(path)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise ValueError(f"{label}: the {what} array holds {float(array[where])} at index {where}")
        _check_input(model, info, what, label, array)
        lengths.add(len(array))
    if len(lengths) > 1:
        raise ValueError(f"{path}: the {what} arrays have different batch sizes {sorted(lengths)}")
    return arrays


def _check_input(model: Path, value_info, what: str, path, array: np.ndarray) -> None:
    """The array is what the model's input takes: numbers, its rank, its fixed dimensions."""
    dims = [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{path}: the {what} array holds {array.dtype} values, not numbers")
    if array.size == 0 or not len(array):
        raise ValueError(f"{path}: the {what} array is empty (shape {array.shape})")
    if dims and array.ndim != len(dims):
        raise ValueError(f"{path}: the {what} array has shape {array.shape}, but input {value_info.name!r} of "
                         f"{model} takes rank {len(dims)} ({shape_text(dims)})")
    for axis, (size, want) in enumerate(zip(array.shape, dims)):
        if axis and want and size != want:
            raise ValueError(f"{path}: the {what} array has shape {array.shape}, but input {value_info.name!r} of "
                             f"{model} takes {shape_text(dims)} (axis {axis}: {size} != {want})")


class OnnxNetwork:
    """An ONNX model in ONNX's reference evaluator with its MACs on :func:`qmatmul`.

    Sites are the :data:`MAC_OPS` nodes (by node name; a grouped or depthwise
    convolution is one site, as one layer of the array computes it). An operand is a weight when
    it is a constant: an initializer, a ``Constant`` node's output, or the output of a shape op
    (Transpose, Reshape, Squeeze, Unsqueeze, Cast, Identity, Flatten) of constants. Weights are
    quantized once per recipe and kept; activations take the static scale of their site.
    ``BatchNormalization`` runs in inference mode (running statistics), as the ONNX operator
    defines it for a node with one output — the reference evaluator of onnx 1.23 instead uses the
    batch's own statistics whenever the node carries a ``momentum`` attribute, which is not what
    an exported inference model means. Runs are thread-safe: each thread has its own mode.
    """

    def __init__(self, proto, name: str = "onnx"):
        import threading

        from onnx.reference import ReferenceEvaluator

        self.proto, self.name = proto, name
        initializers = {t.name for t in proto.graph.initializer}
        self.inputs = [i.name for i in proto.graph.input if i.name not in initializers]
        constant = set(initializers)
        for node in proto.graph.node:
            if node.op_type == "Constant" or (node.op_type in _SHAPE_OPS and node.input
                                              and all(i in constant for i in node.input if i)):
                constant.update(node.output)
        self.constants = constant
        self.sites = tuple(n.name or n.output[0] for n in proto.graph.node if n.op_type in MAC_OPS)
        self._local = threading.local()
        self._weights: dict = {}
        self._lock = threading.Lock()
        try:
            self.evaluator = ReferenceEvaluator(proto, new_ops=_quantized_ops(self))
        except (NotImplementedError, RuntimeError, TypeError, ValueError) as error:
            raise ValueError(f"{name}: the executor cannot run this model: {_unsupported(proto) or error}") from None

    def feeds(self, x) -> dict:
        """``{input name: array}`` from one array (a one-input model) or a dict; floats as float32."""
        if not isinstance(x, dict):
            if len(self.inputs) != 1:
                raise ValueError(f"{self.name}: the model takes inputs {self.inputs}; give one array per input")
            x = {self.inputs[0]: x}
        return {k: np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
                for k, v in x.items()}

    def run(self, x, numerics: Numerics | None = None, scales: dict | None = None, *, observe=None,
            stats: dict | None = None) -> list[np.ndarray]:
        """Every graph output for the input(s) ``x``: float32 with ``numerics`` None, else the
        recipe's arithmetic at the activation ``scales`` (site + ".a" / ".b" → scale).
        ``observe(key, values)`` sees each MAC operand that is an activation; ``stats`` collects
        saturated inputs and non-finite outputs per site."""
        self._local.mode = {"numerics": numerics, "scales": scales, "observe": observe, "stats": stats}
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # what float32 gives, it gives
                return [np.asarray(y) for y in self.evaluator.run(None, self.feeds(x))]
        finally:
            self._local.mode = None

    def weight(self, site: str, w: np.ndarray, numerics: Numerics):
        """(code values, scale) of the constant ``w`` (…, K, N) of ``site``, made once per recipe:
        per tensor or per output column; MX blocks run along K."""
        key = (site, *numerics.weight_key)
        with self._lock:
            if key in self._weights:
                return self._weights[key]
        columns = np.swapaxes(w, -1, -2)  # (…, N, K): one row per output channel (of every group)
        values, scale = quantize_weight(columns.reshape(-1, columns.shape[-1]), numerics)
        values = values.reshape(columns.shape)
        if np.ndim(scale):
            scale = np.swapaxes(np.reshape(scale, columns.shape[:-1] + (1,)), -1, -2)
        entry = (np.ascontiguousarray(np.swapaxes(values, -1, -2)), scale)
        with self._lock:
            self._weights[key] = entry
        return entry


def _unsupported(proto) -> str:
    """The graph's operators ONNX's reference evaluator has no implementation of, with counts."""
    from collections import Counter

    from onnx.reference.ops import load_op

    ours = {*MAC_OPS, "BatchNormalization", "AveragePool", "MaxPool"}
    versions = {o.domain or "": o.version for o in proto.opset_import}
    missing = Counter()
    for node in proto.graph.node:
        if node.op_type in ours and node.domain in ("", "ai.onnx"):
            continue
        try:
            load_op(node.domain or "", node.op_type, versions.get(node.domain or "", 19))
        except Exception:  # noqa: BLE001 — onnx raises several types for an unknown operator
            missing[(node.domain + "." if node.domain else "") + node.op_type] += 1
    return ", ".join(f"{op} ({count} node{'s' if count > 1 else ''}) has no implementation"
                     for op, count in sorted(missing.items()))


MAC_OPS = ("MatMul", "Gemm", "Conv", "ConvTranspose")
"""The operators whose products run on the MAC: one site each."""
_SHAPE_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Cast", "Identity", "Flatten"}


class OnnxStudy:
    """One model and its data (an array, or a dict of arrays for a model with several inputs;
    batch first), the evaluator built once."""

    def __init__(self, proto, calibration, evaluation, labels=None, *, name: str = "onnx"):
        self.network = OnnxNetwork(proto, name)
        self.proto, self.name = proto, name
        self.calibration, self.evaluation, self.labels = calibration, evaluation, labels
        self.samples: dict = {}
        self.network.run(calibration, observe=collector(self.samples))
        self.reference = self.run(evaluation)
        if labels is not None:
            classes = self.reference.reshape(len(self.reference), -1).shape[1]
            if labels.max() >= classes:
                raise ValueError(f"label {int(labels.max())} at index {int(labels.argmax())} is not a class of a model "
                                 f"with {classes} outputs")

    def run(self, x) -> np.ndarray:
        return np.asarray(self.network.run(x)[0], dtype=np.float64)

    def quantized(self, numerics: Numerics) -> np.ndarray:
        scales = {k: activation_scale(v, numerics.activations, numerics.scale_method) for k, v in self.samples.items()}
        return np.asarray(self.network.run(self.evaluation, numerics, scales)[0], dtype=np.float64)


SHIFTED_DEPTHWISE = True
"""Depthwise convolutions on order-free registers as shifted multiply-adds (see
``_quantized_ops``' ``depthwise``); False sends them through im2col like any other."""

BLOCK_DEPTHWISE = True
"""Depthwise convolutions on block-scaled units window by window, without im2col (see
``_quantized_ops``' ``block_depthwise_conv``); False sends them through im2col like any other."""


def _quantized_ops(network: OnnxNetwork) -> list:
    from onnx.reference.op_run import OpRun

    def mode():
        return getattr(network._local, "mode", None) or {}

    def activation(key: str, site: str, a, block_axis: int = -1):
        """(codes, scale) of an activation operand, or (a, 1.0) in float32; observed and counted.
        Block formats block along the product's K: ``block_axis`` −1 for an (…, M, K) operand,
        −2 for a (…, K, N) one."""
        m = mode()
        if m.get("observe"):
            m["observe"](key, a)
        numerics = m.get("numerics")
        if numerics is None:
            return a, 1.0
        codes, scale = quantize_values(a, numerics.activations, scale=m["scales"][key], block_axis=block_axis)
        count_inputs(m.get("stats"), site, a, numerics.activations, scale)
        return codes.astype(code_dtype(numerics), copy=False), scale  # exact; im2col at half the bytes

    def mac(site: str, ea, sa, b, b_const: bool, sb=None):
        """codes ``ea`` (…, M, K) at ``sa`` times ``b`` (…, K, N): a weight (quantized here, once
        per recipe) or, with ``sb``, activation codes — on the recipe's MACs, or in float32."""
        m = mode()
        numerics = m.get("numerics")
        if numerics is None:
            return np.matmul(ea.astype(np.float32), b.astype(np.float32))
        eb, sb = network.weight(site, b, numerics) if b_const else (b, sb)
        with np.errstate(invalid="ignore", over="ignore"):  # an overflow is what the hardware gives
            out = qmatmul(ea, eb, numerics, a_scale=sa, b_scale=sb, b_is_weight=b_const)
        count_outputs(m.get("stats"), site, out)
        return out.astype(np.float32)

    def product(site: str, a, b, b_const: bool):
        """a (…, M, K) @ b (…, K, N) with the thread's numerics (or float32, observing)."""
        ea, sa = activation(site + ".a", site, a)
        if b_const:
            return mac(site, ea, sa, b, True)
        eb, sb = activation(site + ".b", site, b, block_axis=-2)
        return mac(site, ea, sa, eb, False, sb)

    def convolution(site: str, x, w, b, group, dilations, pads, strides, w_const: bool):
        """The input quantized once as a tensor, then im2col of its codes onto the MACs."""
        if not w_const:
            raise ValueError(f"layer {site}: a convolution whose weights are computed at run time is not supported")
        numerics = mode().get("numerics")
        if numerics is not None and numerics.block_scaled:
            # blocks run along the product's K, (kh, kw, c) in order: im2col of the real values,
            # then each row quantized as the unit reads it (NVFP4's tensor scale from the whole input)
            count_inputs(mode().get("stats"), site, x, numerics.activations, 1.0)
            absmax = float(np.max(np.abs(np.where(np.isfinite(x), x, 0.0)), initial=0.0))
            if BLOCK_DEPTHWISE and group > 1 and w.shape[0] == group and w.shape[1] == 1 and numerics.interleave == 1:
                return block_depthwise_conv(site, x, w, b, dilations, pads, strides, numerics, absmax)
            if w.shape[1] % MX_FORMATS[numerics.activations].block_size == 0:
                # the channels fill whole blocks: a block is one pixel's, quantized once (not kh·kw times)
                return _block_conv(lambda cols, scales, wm: mac(site, cols, scales, wm, True), x, w, b, group,
                                   dilations, pads, strides, numerics.activations, absmax)
            return _conv(lambda cols, wm: mac(site, *quantize_values(cols, numerics.activations, tensor_absmax=absmax),
                                              wm, True), x, w, b, group, dilations, pads, strides, channels_last=True)
        ex, sx = activation(site + ".a", site, x)
        if numerics is not None and SHIFTED_DEPTHWISE and group > 1 and w.shape[0] == group and w.shape[1] == 1:
            out = depthwise(site, ex, sx, w, b, dilations, pads, strides, numerics)
            if out is not None:
                return out
        return _conv(lambda cols, wm: mac(site, cols, sx, wm, True), ex, w, b, group, dilations, pads, strides,
                     exact_sums=numerics is not None and numerics.activations != UNQUANTIZED
                     and numerics.weights != UNQUANTIZED)

    def depthwise(site: str, ex, sx, w, b, dilations, pads, strides, numerics):
        """A depthwise convolution (one input channel per output channel) as kh·kw shifted
        multiply-adds over the activation codes, where the recipe's register holds every sum of
        its kh·kw products exactly (:func:`order_free`): then the register is that sum, bit for
        bit, in any order — without the kh·kw-fold im2col copy. The weights are the im2col
        path's (the same matrices, quantized once per recipe). None where the register is not
        order-free."""
        group, _, kh, kw = w.shape
        wq, sb = depthwise_weights(site, w, numerics)
        wv = wq[:, :, 0]  # (channels, kh·kw), (kh, kw) order
        ex, a_max = _finite(ex, numerics.activation_format)  # NaN and Inf add nothing, as in the fixed register's path
        b_max = float(np.abs(wv).max(initial=0))
        if not order_free(numerics, a_max, b_max, kh * kw):
            return None
        n, c = ex.shape[:2]
        (sh, sw), (dh, dw) = strides, dilations
        padded, ho, wo = _padded(ex, (kh, kw), pads, strides, dilations)
        # every partial sum is a whole number of product LSBs below 2^53 (order_free); below 2^24
        # too, float32 codes sum exactly in float32, at half the bytes
        lsb = numerics.activation_format.lsb_exponent + numerics.weight_format.lsb_exponent
        narrow = ex.dtype == np.float32 and kh * kw * a_max * b_max * 2.0 ** -lsb < 2.0 ** 24
        dtype = np.float32 if narrow else np.float64
        taps = wv.astype(dtype)
        sums, product = np.zeros((n, c, ho, wo), dtype), np.empty((n, c, ho, wo), dtype)
        for i in range(kh):
            for j in range(kw):
                part = padded[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
                np.multiply(part, taps[:, i * kw + j].reshape(1, c, 1, 1), out=product)
                sums += product
        after = bias_of(numerics, sx, sb)[1]
        with np.errstate(invalid="ignore", over="ignore"):
            out = sums.astype(np.float64) * (np.reshape(after, (1, c, 1, 1)) if np.ndim(after) else after)
        return depthwise_output(site, out, b)

    def block_depthwise_conv(site: str, x, w, b, dilations, pads, strides, numerics, absmax: float):
        """A depthwise convolution on block-scaled units: the im2col path's registers (each window
        a row of blocks, quantized as the unit reads it; the same weight matrices, quantized once
        per recipe), bit for bit, without the kh·kw-fold copy of the input."""
        group, _, kh, kw = w.shape
        wq, sb = depthwise_weights(site, w, numerics)
        padded, ho, wo = _padded(x, (kh, kw), pads, strides, dilations)
        out = block_depthwise(padded, wq, sb, numerics, kernel=(kh, kw), strides=tuple(strides),
                              dilations=tuple(dilations), out_shape=(x.shape[0], group, ho, wo), tensor_absmax=absmax)
        return depthwise_output(site, out, b)

    def depthwise_weights(site: str, w, numerics):
        """(code values, scale) of a depthwise convolution's weights as the im2col path holds them:
        (channels, kh·kw, 1), taps in (kh, kw) order — the same matrices, quantized once per recipe."""
        group, _, kh, kw = w.shape
        return network.weight(site, np.ascontiguousarray(w.reshape(group, kh * kw, 1)), numerics)

    def depthwise_output(site: str, out, b):
        """A depthwise path's float64 output (NCHW) as the im2col path ends: its sites counted,
        in float32, the bias added."""
        count_outputs(mode().get("stats"), site, out)
        out = out.astype(np.float32)
        if b is not None:
            out = out + b.reshape(1, -1, 1, 1)
        return np.ascontiguousarray(out, dtype=np.float32)

    def site_of(node):
        return node.name or node.output[0]

    class MatMul(OpRun):
        def _run(self, a, b):
            node = self.onnx_node
            if node.input[0] in network.constants and node.input[1] not in network.constants:
                # a weight on the left: (Bᵀ Aᵀ)ᵀ puts it where the array holds weights
                out = product(site_of(node), np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2), True)
                return (np.swapaxes(out, -1, -2),)
            return (product(site_of(node), a, b, node.input[1] in network.constants),)

    class Gemm(OpRun):
        def _run(self, a, b, c=None, alpha=None, beta=None, transA=None, transB=None):
            a = a.T if transA else a
            b = b.T if transB else b
            y = product(site_of(self.onnx_node), a, b, self.onnx_node.input[1] in network.constants)
            y = y * np.float32(1.0 if alpha is None else alpha)
            if c is not None:
                y = y + np.float32(1.0 if beta is None else beta) * c
            return (y.astype(np.float32),)

    class Conv(OpRun):
        def _run(self, x, w, b=None, auto_pad=None, dilations=None, group=None, kernel_shape=None, pads=None,
                 strides=None):
            node = self.onnx_node
            if x.ndim != 4:
                raise ValueError(f"layer {node.name}: only 2-D convolutions are supported, not {x.ndim - 2}-D")
            if auto_pad not in (None, "NOTSET", b"NOTSET"):
                raise ValueError(f"layer {node.name}: auto_pad {auto_pad!r} is not supported; export with explicit pads")
            return (convolution(site_of(node), x, w, b, group or 1, dilations or (1, 1), pads or (0, 0, 0, 0),
                                strides or (1, 1), node.input[1] in network.constants),)

    class BatchNormalization(OpRun):
        def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None, spatial=None,
                 is_test=None):
            if len(self.onnx_node.output) > 1 or training_mode:
                raise ValueError(f"layer {self.onnx_node.name}: BatchNormalization in training mode is not an "
                                 "inference model; export it in eval mode")
            shape = (1, -1) + (1,) * (x.ndim - 2)
            eps = np.float32(1e-5 if epsilon is None else epsilon)
            factor = (scale / np.sqrt(var + eps)).astype(np.float32)
            y = (x - mean.reshape(shape)) * factor.reshape(shape) + bias.reshape(shape)
            return (y.astype(x.dtype),)

    class ConvTranspose(OpRun):
        def _run(self, x, w, b=None, auto_pad=None, dilations=None, group=None, kernel_shape=None,
                 output_padding=None, output_shape=None, pads=None, strides=None):
            node = self.onnx_node
            if x.ndim != 4 or (group or 1) != 1 or any(d != 1 for d in dilations or (1, 1)) or output_shape \
                    or auto_pad not in (None, "NOTSET", b"NOTSET"):
                raise ValueError(f"layer {node.name}: only 2-D ConvTranspose with group 1, no dilation, explicit "
                                 "pads and no output_shape is supported")
            # the transposed convolution is the convolution of the zero-stuffed input with the
            # flipped kernel: every output is one sum of products in the MAC, as an array computes it
            c_in, m, kh, kw = w.shape
            sh, sw = strides or (1, 1)
            top, left, bottom, right = pads or (0, 0, 0, 0)
            oh, ow = output_padding or (0, 0)
            n, _, h, wd = x.shape
            stuffed = np.zeros((n, c_in, (h - 1) * sh + 1, (wd - 1) * sw + 1), x.dtype)
            stuffed[:, :, ::sh, ::sw] = x
            flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
            edges = (kh - 1 - top, kw - 1 - left, kh - 1 - bottom + oh, kw - 1 - right + ow)
            if min(edges) < 0:
                raise ValueError(f"layer {node.name}: pads {list(pads)} larger than the kernel are not supported")
            return (convolution(site_of(node), stuffed, flipped, b, 1, (1, 1), edges, (1, 1),
                                node.input[1] in network.constants),)

    return [MatMul, Gemm, Conv, ConvTranspose, BatchNormalization, *_pools(network.proto)]


def _pools(proto) -> list:
    """AveragePool and MaxPool in numpy for the usual case (2-D, explicit pads, no dilation,
    floor mode, one output); anything else falls back to the reference implementation, whose
    per-window Python loop is otherwise most of a CNN's running time."""
    from onnx.reference.ops import load_op

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 19)

    def windows(x, kernel_shape, pads, strides, fill):
        return _windows(x, tuple(kernel_shape), pads or (0, 0, 0, 0), strides or (1, 1), (1, 1), fill)

    def simple(node, x, auto_pad, ceil_mode, dilations, kernel_shape) -> bool:
        return (x.ndim == 4 and len(node.output) == 1 and not ceil_mode and kernel_shape is not None
                and auto_pad in (None, "NOTSET", b"NOTSET") and all(d == 1 for d in dilations or (1, 1)))

    average_base, max_base = load_op("", "AveragePool", opset), load_op("", "MaxPool", opset)

    class AveragePool(average_base):
        def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None, pads=None,
                 strides=None, count_include_pad=None, **rest):
            if not simple(self.onnx_node, x, auto_pad, ceil_mode, dilations, kernel_shape):
                return super()._run(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                    kernel_shape=kernel_shape, pads=pads, strides=strides,
                                    count_include_pad=count_include_pad, **rest)
            total = windows(x, kernel_shape, pads, strides, 0).sum(axis=(-2, -1), dtype=np.float64)
            if count_include_pad or not any(pads or ()):
                count = float(np.prod(kernel_shape))
            else:
                count = windows(np.ones((1, 1) + x.shape[2:], np.float64), kernel_shape, pads, strides, 0).sum(
                    axis=(-2, -1))
            return ((total / count).astype(x.dtype),)

    class MaxPool(max_base):
        def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None, pads=None,
                 storage_order=None, strides=None, **rest):
            if not simple(self.onnx_node, x, auto_pad, ceil_mode, dilations, kernel_shape):
                return super()._run(x, auto_pad=auto_pad, ceil_mode=ceil_mode, dilations=dilations,
                                    kernel_shape=kernel_shape, pads=pads, storage_order=storage_order,
                                    strides=strides, **rest)
            return (windows(x, kernel_shape, pads, strides, -np.inf).max(axis=(-2, -1)).astype(x.dtype),)

    return [AveragePool, MaxPool]


def _padded(x, kernel, pads, strides, dilations) -> tuple:
    """The NCHW ``x`` padded with zeros (top, left, bottom, right), and the output's height and
    width for that kernel, stride and dilation."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    top, left, bottom, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    return (padded, (padded.shape[2] - (kh - 1) * dh - 1) // sh + 1,
            (padded.shape[3] - (kw - 1) * dw - 1) // sw + 1)


def _windows(x, kernel, pads, strides, dilations, fill=0) -> np.ndarray:
    """The (n, c, ho, wo, kh, kw) view of every kernel window of the NCHW ``x``, padded with
    ``fill`` (top, left, bottom, right), at the strides and dilations given."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    top, left, bottom, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def _conv(product, x, w, b, group: int, dilations, pads, strides, *, channels_last: bool = False,
          exact_sums: bool = False) -> np.ndarray:
    """A 2-D convolution (NCHW) as im2col products ``product(cols, weight matrix)`` — (rows,
    c·kh·kw) @ (c·kh·kw, m) for a dense one, the groups as one batched product (g, rows, K) @
    (g, K, m / g) for a grouped one: one site either way, its weight one tensor. K runs in
    (c, kh, kw) order, or with ``channels_last`` in (kh, kw, c) order (a block-scaled unit's
    blocks then hold one pixel's channels). ``exact_sums``: ``product`` sums in an order of its
    own, whatever the layout of ``cols`` (the recipes' MACs), so a narrow one may get a view."""
    n = x.shape[0]
    _, cg, kh, kw = w.shape
    windows = _windows(x, (kh, kw), pads, strides, dilations)  # (n, c, ho, wo, kh, kw)
    ho, wo = windows.shape[2:4]
    grouped = windows.reshape(n, group, cg, ho, wo, kh, kw)
    if channels_last:
        cols = grouped.transpose(1, 0, 3, 4, 5, 6, 2).reshape(group, n * ho * wo, kh * kw * cg)
    elif exact_sums and group > 1 and w.shape[0] // group < NARROW < n * ho * wo:
        # a depthwise-like product runs transposed (kernels._narrow): its rows gathered K-major —
        # one copy along the image rows, not two (the rows, then their transpose); the same
        # (g, rows, K) operand, as a view. Only where the product's sums do not depend on how
        # the operand lies in memory (a float32 BLAS product's rounding does)
        cols = grouped.transpose(1, 2, 5, 6, 0, 3, 4).reshape(group, cg * kh * kw, n * ho * wo).transpose(0, 2, 1)
    else:
        cols = grouped.transpose(1, 0, 3, 4, 2, 5, 6).reshape(group, n * ho * wo, cg * kh * kw)
    return _grouped_product(product, cols, w, b, group, (n, ho, wo), channels_last)


def _grouped_product(product, cols, w, b, group: int, pixels: tuple, channels_last: bool) -> np.ndarray:
    """The output (NCHW, float32, bias added) of a convolution from its im2col rows ``cols`` (g,
    rows, K), K in :func:`_conv`'s order: ``product(cols[0], weight matrix)`` — (K, m) — for a
    dense one, ``product(cols, weight matrices)`` — (g, K, m / g) — for a grouped one; ``pixels``:
    the output's (n, ho, wo)."""
    m, cg, kh, kw = w.shape
    mg = m // group
    if channels_last:
        wg = w.reshape(group, mg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(group, kh * kw * cg, mg)
    else:
        wg = w.reshape(group, mg, cg * kh * kw).transpose(0, 2, 1)
    if group == 1:
        y = product(cols[0], np.ascontiguousarray(wg[0]))
    else:
        y = product(cols, np.ascontiguousarray(wg)).transpose(1, 0, 2).reshape(-1, m)
    y = y.reshape(*pixels, m).transpose(0, 3, 1, 2)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y, dtype=np.float32)


def _block_conv(product, x, w, b, group: int, dilations, pads, strides, fmt: str, absmax: float) -> np.ndarray:
    """:func:`_conv` with ``channels_last`` on block-scaled units whose blocks each hold one
    pixel's channels (a group's channel count a multiple of the block size): the padded input is
    quantized once, per pixel along its channels, and im2col gathers those element values and
    block scales — the blocks the unit reads, each quantized as it would be from the im2col row.
    ``product(cols, scales, weight matrix)``; ``absmax``: NVFP4's tensor magnitude."""
    n = x.shape[0]
    _, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    top, left, bottom, right = pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    pixels = padded.transpose(0, 2, 3, 1).reshape(n, padded.shape[2], padded.shape[3], group, cg)
    values, scales = quantize_values(pixels, fmt, tensor_absmax=absmax)  # (n, hp, wp, g, cg), blocks along cg

    def gather(t):  # (n, hp, wp, g, z) → (g, rows, kh·kw·z), K in (kh, kw, z) order
        view = np.lib.stride_tricks.sliding_window_view(t, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
        view = view[:, ::sh, ::sw, :, :, ::dh, ::dw]  # (n, ho, wo, g, z, kh, kw)
        ho, wo = view.shape[1:3]
        return view.transpose(3, 0, 1, 2, 5, 6, 4).reshape(group, n * ho * wo, -1), ho, wo

    cols, ho, wo = gather(values)
    codes = gather(scales.codes)[0]

    def blocked(a, wm):  # a dense layer's rows are group 0's
        return product(a, dataclasses.replace(scales, codes=codes[0] if a.ndim == 2 else codes), wm)

    return _grouped_product(blocked, cols, w, b, group, (n, ho, wo), True)


def onnx_accuracy(study: OnnxStudy, recipes: list[Numerics]) -> pd.DataFrame:
    """Rows per recipe: top-1 accuracy (with labels), output SQNR (dB) and mean cosine against
    the float32 model, in :data:`hwmodel.accuracy.studies.RESULT_COLUMNS` shape."""
    from hwmodel.accuracy.studies import _row

    rows = []
    ref = study.reference.reshape(len(study.reference), -1)
    if study.labels is not None:
        rows.append(_row(study.name, Numerics("float32", "float32", "exact", "tensor"), "top1",
                         float(np.mean(ref.argmax(1) == study.labels))))
    for numerics in recipes:
        out = study.quantized(numerics).reshape(len(ref), -1)
        noise = float(np.sum((out - ref) ** 2))
        sqnr = float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref * ref)) / noise)
        cosine = float(np.mean(np.sum(out * ref, 1) / np.maximum(np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1), 1e-30)))
        if study.labels is not None:
            rows.append(_row(study.name, numerics, "top1", float(np.mean(out.argmax(1) == study.labels))))
        rows.append(_row(study.name, numerics, "output_sqnr_db", sqnr))
        rows.append(_row(study.name, numerics, "cosine_mean", cosine))
    return pd.DataFrame(rows)
