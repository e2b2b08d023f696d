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

from pathlib import Path

import numpy as np
import pandas as pd

from workloads.onnx_import import shape_text

from hwmodel.accuracy.calibration import activation_scale
from hwmodel.accuracy.qmatmul import Numerics, qmatmul, quantize_values

__all__ = ["OnnxStudy", "onnx_accuracy", "load_arrays"]


def load_arrays(model: str | Path, calibration: str | Path, evaluation: str | Path, labels: str | Path | None = None):
    """(model proto, calibration array, evaluation array, labels or None), checked."""
    import onnx

    model, arrays = Path(model), []
    if not model.exists():
        raise ValueError(f"{model}: no such ONNX file")
    try:
        proto = onnx.load(str(model))
    except Exception as error:  # noqa: BLE001 — onnx raises several types for a corrupt file
        raise ValueError(f"{model}: not a readable ONNX model ({error})") from None
    for what, path in (("calibration", calibration), ("evaluation", evaluation), ("labels", labels)):
        if path is None:
            arrays.append(None)
            continue
        path = Path(path)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: cannot read the {what} array ({error})") from None
        if what != "labels" and not np.isfinite(array).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise ValueError(f"{path}: the {what} array holds {float(array[where])} at index {where}")
        arrays.append(array)
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != 1:
        raise ValueError(f"{model}: the model must take one input, not {[i.name for i in inputs]}")
    for what, path, array in (("calibration", calibration, arrays[0]), ("evaluation", evaluation, arrays[1])):
        _check_input(model, inputs[0], what, path, array)
    if arrays[2] is not None:
        y = arrays[2]
        if y.dtype.kind not in "iu":
            raise ValueError(f"{labels}: labels must be integer class indices, not {y.dtype} values")
        if y.ndim != 1:
            raise ValueError(f"{labels}: labels must be one index per sample (shape (n,)), not shape {y.shape}")
        if len(y) != len(arrays[1]):
            raise ValueError(f"{labels}: {len(y)} labels for {len(arrays[1])} evaluation samples")
        if len(y) and y.min() < 0:
            raise ValueError(f"{labels}: label {int(y.min())} at index {int(y.argmin())} is negative")
    return proto, arrays[0], arrays[1], arrays[2]


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


class OnnxStudy:
    """One model and its data, with the evaluator built once."""

    def __init__(self, proto, calibration: np.ndarray, evaluation: np.ndarray, labels=None, *, name: str = "onnx"):
        self.proto, self.name = proto, name
        self.calibration, self.evaluation, self.labels = calibration, evaluation, labels
        self.input = [i.name for i in proto.graph.input
                      if i.name not in {t.name for t in proto.graph.initializer}][0]
        self.constants = {t.name for t in proto.graph.initializer} | {
            o for n in proto.graph.node if n.op_type == "Constant" for o in n.output}
        self.mode: dict = {"numerics": None}
        from onnx.reference import ReferenceEvaluator
        self.evaluator = ReferenceEvaluator(proto, new_ops=_quantized_ops(self))
        self.samples: dict[str, list] = {}
        self.mode["observe"] = self.samples
        self.run(calibration)
        self.mode["observe"] = None
        self.reference = self.run(evaluation)
        if labels is not None:
            classes = self.reference.reshape(len(self.reference), -1).shape[1]
            if labels.max() >= classes:
                raise ValueError(f"label {int(labels.max())} at index {int(labels.argmax())} is not a class of a model "
                                 f"with {classes} outputs")

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.evaluator.run(None, {self.input: x.astype(np.float32)})[0], dtype=np.float64)

    def quantized(self, numerics: Numerics) -> np.ndarray:
        self.mode["numerics"] = numerics
        self.mode["scales"] = {k: activation_scale(np.concatenate([v.reshape(-1) for v in parts]),
                                                   numerics.activations, numerics.scale_method)
                               for k, parts in self.samples.items()}
        try:
            return self.run(self.evaluation)
        finally:
            self.mode["numerics"] = None


def _quantized_ops(study: OnnxStudy) -> list:
    from onnx.reference.op_run import OpRun

    def product(node, a, b, weight_b: bool):
        """a (…, M, K) @ b (…, K, N) with the study's numerics (or float32, or observing)."""
        name = node.name or node.output[0]
        mode = study.mode
        if mode.get("observe") is not None:
            mode["observe"].setdefault(name + ".a", []).append(a)
            if not weight_b:
                mode["observe"].setdefault(name + ".b", []).append(b)
        numerics = mode["numerics"]
        if numerics is None:
            return np.matmul(a.astype(np.float32), b.astype(np.float32))
        ea, sa = quantize_values(a, numerics.activations, scale=mode["scales"][name + ".a"])
        if weight_b:
            eb, sb = quantize_values(np.swapaxes(b, -1, -2), numerics.weights,
                                     axis=-2 if numerics.weight_granularity == "channel" else None,
                                     method=numerics.scale_method)
            eb, sb = np.swapaxes(eb, -1, -2), (np.asarray(sb).reshape(-1) if np.ndim(sb) else sb)
        else:
            eb, sb = quantize_values(b, numerics.activations, scale=mode["scales"][name + ".b"])
        with np.errstate(invalid="ignore", over="ignore"):  # an overflow is what the hardware gives
            out = qmatmul(ea, eb, numerics, a_scale=sa, b_scale=sb, b_is_weight=weight_b)
        return out.astype(np.float32)

    class MatMul(OpRun):
        def _run(self, a, b):
            return (product(self.onnx_node, a, b, self.onnx_node.input[1] in study.constants),)

    class Gemm(OpRun):
        def _run(self, a, b, c=None, alpha=None, beta=None, transA=None, transB=None):
            a = a.T if transA else a
            b = b.T if transB else b
            y = product(self.onnx_node, a, b, self.onnx_node.input[1] in study.constants) * np.float32(alpha or 1.0)
            if c is not None:
                y = y + np.float32(1.0 if beta is None else beta) * c
            return (y.astype(np.float32),)

    class Conv(OpRun):
        def _run(self, x, w, b=None, auto_pad=None, dilations=None, group=None, kernel_shape=None, pads=None,
                 strides=None):
            if x.ndim != 4:
                raise ValueError(f"layer {self.onnx_node.name}: only 2-D convolutions are supported, not {x.ndim - 2}-D")
            if auto_pad not in (None, "NOTSET", b"NOTSET"):
                raise ValueError(f"layer {self.onnx_node.name}: auto_pad {auto_pad!r} is not supported; export with explicit pads")
            group = group or 1
            n, c, _, _ = x.shape
            m, cg, kh, kw = w.shape
            sh, sw = strides or (1, 1)
            dh, dw = dilations or (1, 1)
            top, left, bottom, right = pads or (0, 0, 0, 0)
            padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
            windows = np.lib.stride_tricks.sliding_window_view(padded, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
            windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # (n, c, ho, wo, kh, kw)
            ho, wo = windows.shape[2:4]
            outs = []
            for g in range(group):
                cols = windows[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, cg * kh * kw)
                wg = w[g * (m // group):(g + 1) * (m // group)].reshape(m // group, -1).T
                outs.append(product(_Named(self.onnx_node, g), cols, wg, self.onnx_node.input[1] in study.constants))
            y = np.concatenate(outs, axis=1).reshape(n, ho, wo, m).transpose(0, 3, 1, 2)
            if b is not None:
                y = y + b.reshape(1, -1, 1, 1)
            return (y.astype(np.float32),)

    return [MatMul, Gemm, Conv]


class _Named:
    """A node's name per convolution group (each group is its own matmul site)."""

    def __init__(self, node, group: int):
        self.name = f"{node.name or node.output[0]}" + (f".g{group}" if group else "")
        self.output = node.output


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
