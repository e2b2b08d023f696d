"""Matrix products with the numerics of the MAC hardware: quantized operands, a real accumulator.

A :class:`Numerics` names a complete recipe — weight format and granularity, activation format,
scale method, and the accumulator the hardware sums into. :func:`qmatmul` computes ``a @ b``
the way an array of those MACs does:

* operands are rounded to their formats (per-tensor, per-output-channel, or MX blocks along K);
* an integer or fixed-point accumulator (``int32``, ``int24``, ``fixed`` — Kulisch) sums the
  products exactly; an ``intN`` accumulator wraps modulo 2^N like two's-complement hardware
  (the sum of the integer codes is formed exactly, then wrapped, then scaled);
* a floating-point accumulator (``float16``, ``bfloat16``, ``float32``) rounds to nearest-even
  after every step. A step adds ``block`` products: ``block = 1`` is a single MAC, ``block = 4``
  a 4-lane dot-product unit whose lane sum is exact. K-order is the systolic column order.
  An FP16 accumulator therefore swamps small products once the running sum is large, as the
  hardware does; overflow gives ±Inf, which the caller reports with the layer's name.

Products are formed in float64 from the dequantized operands. For integer formats and the FP8
formats whose exact-accumulator width is at most 53 bits (int8, E2M5, E3M4, E4M3; see
:func:`rtl.numerics.arith.accumulator_width`) this is exact; E5M2 products span more than float64's
significand and sums of them are rounded at 2^-53 relative, far below any 8-bit effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rtl.numerics.formats import FORMATS, decode, fake_quantize, get_format, quantize
from rtl.numerics.scaling import MX_FORMATS, mse_scales, quantize_mx

from hwmodel.accuracy.sqnr import mse_optimal_scale

__all__ = ["Numerics", "FLOAT_ACCUMULATORS", "quantize_values", "qmatmul", "parse_numerics",
           "activation_scale", "auto_accumulator", "SCALE_METHODS", "GRANULARITIES"]

FLOAT_ACCUMULATORS = ("float16", "bfloat16", "float32")
GRANULARITIES = ("tensor", "channel")
SCALE_METHODS = ("mse", "absmax")


def _check_format(name: str, what: str) -> str:
    if name == "float32" or name in MX_FORMATS:
        return name
    get_format(name)  # raises the format table's error with the closest names
    return name


@dataclass(frozen=True)
class Numerics:
    """One quantization recipe for every matmul of a model.

    ``weights`` / ``activations``: a format name (``int8_sym``, ``float8_e4m3fn``, ``mxfp8_e4m3``
    …) or ``float32`` for no quantization. ``accumulator``: ``exact`` (float64, no rounding),
    ``fixed`` (Kulisch: exact), ``intN`` (exact, wraps at N bits), ``float16``, ``bfloat16`` or
    ``float32``. ``block``: products added per accumulator rounding (1 = single MAC).
    """

    weights: str = "int8_sym"
    activations: str = "int8_sym"
    accumulator: str = "int32"
    weight_granularity: str = "channel"
    scale_method: str = "mse"
    block: int = 1

    def __post_init__(self):
        _check_format(self.weights, "weights")
        _check_format(self.activations, "activations")
        acc = self.accumulator
        if not (acc in ("exact", "fixed") or acc in FLOAT_ACCUMULATORS or re.fullmatch(r"int\d+", acc)):
            raise ValueError(f"accumulator must be exact, fixed, intN, float16, bfloat16 or float32, not {acc!r}")
        if acc.startswith("int") and not 8 <= int(acc[3:]) <= 64:
            raise ValueError(f"accumulator width must be 8 … 64 bits, not {acc!r}")
        if acc.startswith("int") and not all(self._integer(f) for f in (self.weights, self.activations)):
            raise ValueError(f"an {acc} accumulator needs integer operand formats, not "
                             f"{self.weights} × {self.activations}; use 'fixed' for an exact "
                             "fixed-point accumulator of floating-point products")
        if self.weight_granularity not in GRANULARITIES:
            raise ValueError(f"weight_granularity must be one of {GRANULARITIES}, not {self.weight_granularity!r}")
        if self.scale_method not in SCALE_METHODS:
            raise ValueError(f"scale_method must be one of {SCALE_METHODS}, not {self.scale_method!r}")
        if not isinstance(self.block, int) or self.block < 1:
            raise ValueError(f"block must be a positive integer, not {self.block!r}")

    @staticmethod
    def _integer(fmt: str) -> bool:
        return fmt in FORMATS and FORMATS[fmt].kind == "int"

    @property
    def label(self) -> str:
        gran = "" if self.weights in MX_FORMATS or self.weights == "float32" else f" per-{self.weight_granularity}"
        return f"W:{self.weights}{gran} A:{self.activations} acc:{self.accumulator}"


def parse_numerics(text: str, **defaults) -> Numerics:
    """``"int8_sym"`` (W and A), ``"int4_sym/int8_sym"`` (W/A), optionally ``…@float16``
    (accumulator) — the CLI's and sweep files' spelling of a recipe."""
    body, _, acc = text.partition("@")
    weights, _, activations = body.partition("/")
    fields = dict(defaults)
    fields["weights"] = weights.strip()
    fields["activations"] = (activations or weights).strip()
    if acc:
        fields["accumulator"] = acc.strip()
    return Numerics(**fields)


def auto_accumulator(recipe: str) -> str:
    """The accumulator a recipe gets when none is named: int32 where it holds 4096 products
    exactly (integers of 8 bits and narrower), the exact fixed-point accumulator for wider
    integers, float32 for floating-point operands."""
    from rtl.numerics.arith import accumulator_width

    weights, _, activations = recipe.partition("/")
    activations = activations or weights
    if all(f in FORMATS and FORMATS[f].kind == "int" for f in (weights, activations)):
        return "int32" if accumulator_width(activations, weights) <= 32 else "fixed"
    return "float32"


def activation_scale(samples: np.ndarray, fmt: str, method: str) -> float:
    """Static per-tensor scale of an activation from calibration samples."""
    if fmt == "float32" or fmt in MX_FORMATS:
        return 1.0
    f = get_format(fmt)
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    absmax = float(np.abs(x).max()) if x.size else 0.0
    if absmax == 0:
        return 1.0
    return absmax / f.max_value if method == "absmax" else mse_optimal_scale(x, f)


def quantize_values(x: np.ndarray, fmt: str, *, scale=None, axis: int | None = None,
                    method: str = "mse") -> tuple[np.ndarray, np.ndarray | float]:
    """(element values, scale) of ``x`` in ``fmt``: ``x ≈ elements · scale``.

    Elements are the format's own values (integers for int formats), float32. ``scale`` given:
    used as is (static activation scales). Else chosen by ``method`` over the whole tensor, or
    per slice along ``axis`` (per-channel weights). MX formats block along the last axis; their
    power-of-two block scales are folded into the elements and the returned scale is 1.
    """
    x = np.asarray(x)
    if fmt == "float32":
        return x.astype(np.float32), 1.0
    if fmt in MX_FORMATS:
        q = quantize_mx(x, fmt, axis=-1)
        return q.dequantize().reshape(x.shape).astype(np.float32), 1.0
    f = get_format(fmt)
    if scale is None:
        if axis is None:
            scale = activation_scale(x, fmt, method)
        else:  # weights per output channel; weights are well-behaved, a narrow search suffices
            rows = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
            if method == "mse":
                scale = mse_scales(rows, f, octaves=4.0, points=17, refine=16)
            else:
                scale = np.abs(rows).max(axis=1) / f.max_value
                scale = np.where(scale > 0, scale, 1.0)
            shape = [1] * x.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
    return decode(quantize(x, f, scale), f).astype(np.float32), scale


def qmatmul(a: np.ndarray, b: np.ndarray, numerics: Numerics, *, a_scale=1.0, b_scale=1.0) -> np.ndarray:
    """``(a · a_scale) @ (b · b_scale)`` accumulated as ``numerics.accumulator`` does.

    ``a`` (…, M, K) and ``b`` (…, K, N) are element values from :func:`quantize_values`;
    ``a_scale`` is a scalar, ``b_scale`` a scalar or one per column (per-channel weights).

    * exact / fixed: element products summed in float64 — exact while the exact-accumulator
      width is at most 53 bits — then scaled;
    * intN: the integer element sums are formed exactly, in float32 chunks of K short enough
      that no partial sum passes 2^24 (float64 chunks below 2^53 for wide codes), summed in
      float64; then wrapped to N bits and scaled;
    * float16 / bfloat16 / float32: the scaled operands (float32) are multiplied ``block``
      products at a time (a lane sum in float32: exact for 8-bit operands with power-of-two
      scales over blocks whose products span under 24 bits), added to the register exactly in
      float64 and rounded once to the accumulator's format, the register kept in that format.
    """
    acc = numerics.accumulator
    k = a.shape[-1]
    if acc in ("exact", "fixed"):
        return np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64)) * a_scale * b_scale
    if acc.startswith("int"):
        largest = max(float(np.abs(a).max(initial=1)), 1.0) * max(float(np.abs(b).max(initial=1)), 1.0)
        chunk = int(2.0 ** 24 // largest)
        dtype = np.float32
        if chunk < 64:  # wide codes (int16): float64 chunks, exact below 2^53
            chunk, dtype = max(1, int(2.0 ** 53 // largest)), np.float64
        a_codes, b_codes = np.asarray(a, dtype), np.asarray(b, dtype)
        sums = np.matmul(a_codes[..., :chunk], b_codes[..., :chunk, :]).astype(np.float64)
        for i in range(chunk, k, chunk):
            sums += np.matmul(a_codes[..., i:i + chunk], b_codes[..., i:i + chunk, :])
        width = int(acc[3:])
        if np.abs(sums).max(initial=0) >= 2.0 ** (width - 1):
            sums = (sums + 2.0 ** (width - 1)) % 2.0 ** width - 2.0 ** (width - 1)
        return sums * a_scale * b_scale
    a32 = np.asarray(a * np.float32(a_scale) if np.ndim(a_scale) == 0 else a * a_scale, np.float32)
    b32 = np.asarray(b * (np.float32(b_scale) if np.ndim(b_scale) == 0 else np.asarray(b_scale, np.float32)), np.float32)
    step = numerics.block
    shape = np.broadcast_shapes(a32.shape[:-1] + (1,), b32.shape[:-2] + (1, b32.shape[-1]))
    part = np.empty(shape, np.float32)
    exact_sum = np.empty(shape, np.float64)
    total = np.zeros(shape, {"float16": np.float16, "float32": np.float32, "bfloat16": np.float64}[acc])
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, k, step):
            np.matmul(a32[..., start:start + step], b32[..., start:start + step, :], out=part)
            # register + step sum, exactly in float64, then one rounding to the register's format
            np.add(part, total, out=exact_sum)
            if acc == "bfloat16":
                total = fake_quantize(exact_sum, "bfloat16", saturate=False)
            else:
                total[...] = exact_sum  # numpy rounds float64 → float16 / float32 once, to nearest even
    return total.astype(np.float64)
