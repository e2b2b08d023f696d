"""A real classifier: scikit-learn's bundled 8×8 digits, an MLP and a small CNN trained in numpy.

Training is seeded and takes seconds (Adam, cross-entropy, mini-batches of 64). The split is
stratified, 2/3 train and 1/3 test, and depends on the seed too, so the spread over seeds covers
both initialisation and data. Post-training quantization runs every matmul (the MLP's two dense
layers; the CNN's 3×3 convolution as an im2col matmul and its dense layer) through
:func:`hwmodel.accuracy.qmatmul.qmatmul` with static per-tensor activation scales calibrated on 256
training images.

* ``mlp``: 64 → 64 (ReLU) → 10.
* ``cnn``: conv 3×3, 16 channels, padding 1 (ReLU) → 2×2 max-pool → dense 256 → 10.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from hwmodel.accuracy.calibration import activation_scale
from hwmodel.accuracy.qmatmul import Numerics, qmatmul, quantize_values, quantize_weight

__all__ = ["DigitsNet", "KINDS", "digits_split", "train_digits", "digits_logits"]

KINDS = ("mlp", "cnn")
CHANNELS = 16


def digits_split(seed: int):
    """(x_train, x_test, y_train, y_test): images as (n, 8, 8) float32 in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits data set comes with scikit-learn: pip install scikit-learn") from None
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    return tuple(train_test_split(x, data.target, test_size=1 / 3, stratify=data.target, random_state=seed))


def _im2col(images: np.ndarray) -> np.ndarray:
    """(n, 8, 8) → (n, 64, 9): each pixel's 3×3 neighbourhood, zero padded."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return np.stack([padded[:, i:i + 8, j:j + 8] for i in range(3) for j in range(3)], axis=-1).reshape(len(images), 64, 9)


def _pool(x: np.ndarray):
    """2×2 max-pool of (n, 8, 8, c) → ((n, 4, 4, c), argmax mask for the backward pass)."""
    n, _, _, c = x.shape
    blocks = x.reshape(n, 4, 2, 4, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, 4, 4, c, 4)
    index = blocks.argmax(-1)
    return np.take_along_axis(blocks, index[..., None], -1)[..., 0], index


@dataclass(frozen=True, eq=False)
class DigitsNet:
    """Trained float32 parameters; ``layers`` names the matmul sites in order."""

    kind: str
    seed: int
    params: dict = field(repr=False)

    @property
    def layers(self) -> tuple[str, ...]:
        return ("dense1", "dense2") if self.kind == "mlp" else ("conv", "dense")


def _forward_float(kind, p, x, cache=None):
    if kind == "mlp":
        h0 = x.reshape(len(x), 64)
        z1 = h0 @ p["dense1.w"] + p["dense1.b"]
        h1 = np.maximum(z1, 0)
        out = h1 @ p["dense2.w"] + p["dense2.b"]
        if cache is not None:
            cache.update(h0=h0, z1=z1, h1=h1)
        return out
    cols = _im2col(x)
    z = cols @ p["conv.w"] + p["conv.b"]  # (n, 64, C)
    a = np.maximum(z, 0).reshape(len(x), 8, 8, CHANNELS)
    pooled, index = _pool(a)
    flat = pooled.reshape(len(x), -1)
    out = flat @ p["dense.w"] + p["dense.b"]
    if cache is not None:
        cache.update(cols=cols, z=z, index=index, flat=flat)
    return out


def _backward(kind, p, cache, grad_out):
    g = {}
    if kind == "mlp":
        g["dense2.w"] = cache["h1"].T @ grad_out
        g["dense2.b"] = grad_out.sum(0)
        dz1 = (grad_out @ p["dense2.w"].T) * (cache["z1"] > 0)
        g["dense1.w"] = cache["h0"].T @ dz1
        g["dense1.b"] = dz1.sum(0)
        return g
    n = len(grad_out)
    g["dense.w"] = cache["flat"].T @ grad_out
    g["dense.b"] = grad_out.sum(0)
    dpool = (grad_out @ p["dense.w"].T).reshape(n, 4, 4, CHANNELS)
    dblocks = np.zeros((n, 4, 4, CHANNELS, 4), np.float32)
    np.put_along_axis(dblocks, cache["index"][..., None], dpool[..., None], -1)
    da = dblocks.reshape(n, 4, 4, CHANNELS, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 64, CHANNELS)
    dz = da * (cache["z"] > 0)
    g["conv.w"] = np.einsum("npk,npc->kc", cache["cols"], dz)
    g["conv.b"] = dz.sum((0, 1))
    return g


@functools.lru_cache(maxsize=32)
def train_digits(kind: str, seed: int = 0, *, epochs: int | None = None) -> tuple[DigitsNet, tuple]:
    """A trained network and its (x_train, y_train, x_test, y_test) split (deterministic, so
    memoized: a sweep asks for the same networks once per recipe; treat the arrays as read-only)."""
    if kind not in KINDS:
        raise ValueError(f"digits model must be one of {KINDS}, not {kind!r}")
    x_train, x_test, y_train, y_test = digits_split(seed)
    rng = np.random.default_rng(seed)

    def init(fan_in, shape):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    if kind == "mlp":
        p = {"dense1.w": init(64, (64, 64)), "dense1.b": np.zeros(64, np.float32),
             "dense2.w": init(64, (64, 10)), "dense2.b": np.zeros(10, np.float32)}
    else:
        p = {"conv.w": init(9, (9, CHANNELS)), "conv.b": np.zeros(CHANNELS, np.float32),
             "dense.w": init(16 * CHANNELS, (16 * CHANNELS, 10)), "dense.b": np.zeros(10, np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    lr, beta1, beta2, t = 3e-3, 0.9, 0.999, 0
    for _ in range(epochs or (60 if kind == "mlp" else 30)):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            cache = {}
            logits = _forward_float(kind, p, x_train[batch], cache)
            probs = np.exp(logits - logits.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            probs[np.arange(len(batch)), y_train[batch]] -= 1
            grads = _backward(kind, p, cache, (probs / len(batch)).astype(np.float32))
            t += 1
            for k in p:
                m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
                v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
                p[k] -= (lr * (m[k] / (1 - beta1 ** t)) / (np.sqrt(v[k] / (1 - beta2 ** t)) + 1e-8)).astype(np.float32)
    return DigitsNet(kind, seed, p), (x_train, y_train, x_test, y_test)


def _site_inputs(net: DigitsNet, x: np.ndarray) -> dict:
    """Float32 input activation of each matmul site."""
    p, out = net.params, {}
    if net.kind == "mlp":
        out["dense1"] = x.reshape(len(x), 64)
        out["dense2"] = np.maximum(out["dense1"] @ p["dense1.w"] + p["dense1.b"], 0)
        return out
    out["conv"] = _im2col(x)
    a = np.maximum(out["conv"] @ p["conv.w"] + p["conv.b"], 0).reshape(len(x), 8, 8, CHANNELS)
    out["dense"] = _pool(a)[0].reshape(len(x), -1)
    return out


def calibrate_digits(net: DigitsNet, x_calibration: np.ndarray, numerics: Numerics) -> dict:
    """Static per-tensor activation scale of each site."""
    return {site: activation_scale(values, numerics.activations, numerics.scale_method)
            for site, values in _site_inputs(net, x_calibration).items()}


def digits_logits(net: DigitsNet, x: np.ndarray, numerics: Numerics | None = None,
                  scales: dict | None = None) -> np.ndarray:
    """Logits (n, 10): float32, or every matmul on ``numerics`` with calibrated ``scales``."""
    if numerics is None:
        return _forward_float(net.kind, net.params, x)
    p = net.params

    def dense(site, h):
        a, sa = quantize_values(h, numerics.activations, scale=scales[site])
        w, sw = quantize_weight(p[site + ".w"].T, numerics)
        sw = np.asarray(sw).reshape(-1) if np.ndim(sw) else sw
        out = qmatmul(a, np.ascontiguousarray(w.T), numerics, a_scale=sa, b_scale=sw) + p[site + ".b"]
        return out.astype(np.float32)

    if net.kind == "mlp":
        h = np.maximum(dense("dense1", x.reshape(len(x), 64)), 0)
        return dense("dense2", h)
    z = dense("conv", _im2col(x).reshape(-1, 9)).reshape(len(x), 8, 8, CHANNELS)
    pooled = _pool(np.maximum(z, 0))[0].reshape(len(x), -1)
    return dense("dense", pooled)


def export_digits_onnx(net: DigitsNet, path) -> None:
    """Write ``net`` as an ONNX model taking (n, 1, 8, 8) images (float32) to (n, 10) logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    p = net.params
    init = lambda name, value: numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)  # noqa: E731
    if net.kind == "mlp":
        nodes = [helper.make_node("Reshape", ["image", "shape"], ["flat"], name="flatten"),
                 helper.make_node("Gemm", ["flat", "dense1.w", "dense1.b"], ["z1"], name="dense1"),
                 helper.make_node("Relu", ["z1"], ["h1"]),
                 helper.make_node("Gemm", ["h1", "dense2.w", "dense2.b"], ["logits"], name="dense2")]
        initializers = [numpy_helper.from_array(np.array([-1, 64], np.int64), "shape")] + [
            init(k, v) for k, v in p.items()]
    else:
        nodes = [helper.make_node("Conv", ["image", "conv.w", "conv.b"], ["z"], name="conv", pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["z"], ["a"]),
                 helper.make_node("MaxPool", ["a"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
                 helper.make_node("Transpose", ["pooled"], ["nhwc"], perm=[0, 2, 3, 1]),
                 helper.make_node("Reshape", ["nhwc", "shape"], ["flat"]),
                 helper.make_node("Gemm", ["flat", "dense.w", "dense.b"], ["logits"], name="dense")]
        initializers = [numpy_helper.from_array(np.array([-1, 16 * CHANNELS], np.int64), "shape"),
                        init("conv.w", p["conv.w"].T.reshape(CHANNELS, 1, 3, 3)), init("conv.b", p["conv.b"]),
                        init("dense.w", p["dense.w"]), init("dense.b", p["dense.b"])]
    graph = helper.make_graph(nodes, f"digits_{net.kind}",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
