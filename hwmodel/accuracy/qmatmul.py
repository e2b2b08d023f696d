"""Matrix products with the numerics of the MAC hardware, exactly: :func:`qmatmul`.

An array of MACs computes ``a @ b`` as each MAC does (:mod:`rtl.numerics.arith`, which the RTL
is proven against): the operands arrive as codes, the register sums their exact products —
``lanes`` at a time, K in the array's order — and the scales meet the result where the recipe's
hardware puts them. A scale ``s = 2**e · r`` (r in [1, 2)):

* ``bias = "none"``: the register holds ``Σ a·b`` of the codes' values, wrapping or saturating
  like a fixed register or rounding once per step like a float one (so an E4M3 × E4M3 →
  float16 MAC overflows at 448·448 > 65504, whatever the tensors' scales); the result is
  ``acc · s_a · s_b``, applied after the MAC.
* ``bias = "power_of_two"``: the register holds ``Σ a·b·2**(e_a + e_b)`` — the MAC's exponent
  offset port, one per column for per-channel weights — and the result is ``acc · r_a · r_b``.

Everything up to that last multiplication is bit-exact with the golden model at any scales
(tested against it): float registers through the compiled kernels of
:mod:`hwmodel.accuracy.kernels`, fixed ones through exact integer sums. Inf and NaN from a float
register and the wrap of a fixed one are what the hardware gives, and reach the result.

Block formats (MX, NVFP4) run on the block-scaled unit (:mod:`rtl.numerics.blocks`): each
operand's codes come with :class:`BlockScales` — one scale per block of B elements along K —
and the register takes each block's exact sum times its two scales with one rounding, bit-exact
with :func:`rtl.numerics.blocks.block_dot`; NVFP4's tensor scales multiply the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rtl.errors import FieldError
from rtl.hdl.spec import BIAS_BITS
from rtl.numerics import arith
from rtl.numerics.arith import FixedAccumulator, FloatAccumulator, product_lsb_exponent, product_width
from rtl.numerics.blocks import BlockScaling, scale_parts
from rtl.numerics.formats import Format, decode, encode, get_format, quantized_values
from rtl.numerics.interleave import partial_order
from rtl.numerics.scaling import MX_FORMATS, MxFormat, mse_scales, nvfp4_tensor_scale, quantize_mx, split_scale

from hwmodel.accuracy import kernels
from hwmodel.accuracy.compression import compress_weight
from hwmodel.accuracy.recipes import (GRANULARITIES, SCALE_METHODS, UNQUANTIZED, Numerics, auto_accumulator,
                                      parse_numerics)

__all__ = ["Numerics", "parse_numerics", "auto_accumulator", "SCALE_METHODS", "GRANULARITIES", "quantize_values",
           "quantize_weight",
           "qmatmul", "accumulate_matmul", "float_kernel", "saturated_count", "saturated_fraction", "bias_of", "order_free",
           "count_inputs", "count_outputs", "code_dtype", "BlockScales", "block_register", "native_register",
           "block_values", "block_depthwise"]

_F64_BITS = 53


@dataclass(frozen=True, eq=False)
class BlockScales:
    """The block scales of an operand in a block format: ``codes`` (…, rows, blocks) — rows are
    ``a``'s M rows or ``b``'s N columns, blocks run along the reduction axis K — and the
    float32 ``tensor_scale`` (NVFP4; 1 for MX), applied after the unit."""

    format: MxFormat
    codes: np.ndarray
    tensor_scale: float = 1.0

    def values(self) -> np.ndarray:
        """The scales' magnitudes as the unit reads them (:func:`rtl.numerics.blocks.scale_parts`:
        NaN for a NaN scale; an E4M3 scale's sign is not read)."""
        sig, exp, nan = scale_parts(self.format.scale_format, self.codes)
        return np.where(nan, np.nan, np.ldexp(sig.astype(np.float64), exp))


def quantize_values(x: np.ndarray, fmt: str, *, scale=None, axis: int | None = None,
                    method: str = "mse", block_axis: int = -1,
                    tensor_absmax: float | None = None) -> tuple[np.ndarray, np.ndarray | float]:
    """(code values, scale) of ``x`` in ``fmt``: ``x ≈ values · scale``, rounded to nearest
    even with saturation.

    ``values`` are the format's own values (integers for int formats), float64. A NaN that
    reaches a format without one (an earlier accumulator overflowed) becomes 0, as a quantizer
    without a NaN code must map it somewhere; ±Inf saturates. ``scale`` given:
    used as is (static activation scales). Else chosen by ``method`` over the whole tensor, or
    per slice along ``axis`` (per-channel weights). Block formats block along ``block_axis`` —
    the reduction axis: the last of an ``a`` operand or of a weight given as (N, K), −2 of a
    ``b`` operand given as (…, K, N) — and return their element values (the element type's
    implicit scale included) with :class:`BlockScales`; a static ``scale`` does not apply to
    them (their scales are the blocks' own); ``tensor_absmax``: NVFP4's tensor magnitude when
    ``x`` is a part of the tensor (:func:`rtl.numerics.scaling.quantize_mx`).
    """
    x = np.asarray(x)
    if fmt == UNQUANTIZED:
        return x.astype(np.float32).astype(np.float64), 1.0
    if fmt in MX_FORMATS:
        values, scales = block_values(np.moveaxis(x, block_axis, -1), MX_FORMATS[fmt], tensor_absmax=tensor_absmax)
        return np.moveaxis(values, -1, block_axis), scales
    f = get_format(fmt)
    if not f.has_nan and x.dtype.kind == "f" and np.isnan(x).any():
        x = np.where(np.isnan(x), 0.0, x)
    if scale is None:
        if axis is None:
            from hwmodel.accuracy.calibration import scale_of
            scale = scale_of(x, f, method)
        else:  # weights per output channel: every value of the slice takes part in its search
            rows = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
            if method == "mse":
                scale = mse_scales(rows, f, octaves=4.0, points=17, refine=16)
            else:
                scale = np.abs(rows).max(axis=1) / f.max_value
                scale = np.where(scale > 0, scale, 1.0)
            shape = [1] * x.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
    return quantized_values(x, f, scale), scale


def _block_options(mx: MxFormat) -> dict:
    """What :mod:`hwmodel.accuracy.kernels`' block quantization takes of ``mx`` (an integer
    element: a grid of 1, as :func:`kernels._saturated` reads p − 1 = emin = 63)."""
    element, scale_fmt = mx.element, mx.scale_format
    integer = element.kind == "int"
    return {"size": mx.block_size, "power_of_two": mx.power_of_two_scale, "emax": mx.element_emax,
            "precision": 64 if integer else element.man_bits + 1, "emin": 63 if integer else element.emin,
            "max_value": element.max_value, "signed_zero": not integer, "unit": 2.0 ** mx.element_scale_exponent,
            "scale_precision": scale_fmt.man_bits + 1, "scale_emin": scale_fmt.emin, "scale_max": scale_fmt.max_value}


def _tensor_scale(x: np.ndarray, mx: MxFormat, tensor_absmax: float | None) -> float:
    """NVFP4's float32 tensor scale, from ``tensor_absmax`` or ``x``'s largest finite magnitude,
    as :func:`rtl.numerics.scaling.quantize_mx` takes it; 1 for the MX formats."""
    if mx.power_of_two_scale:
        return 1.0
    if tensor_absmax is None:
        finite = np.isfinite(x)
        tensor_absmax = float(np.max(np.abs(x if finite.all() else np.where(finite, x, 0.0)), initial=0.0))
    return nvfp4_tensor_scale(mx, tensor_absmax)


def block_values(x: np.ndarray, mx: MxFormat, *, tensor_absmax: float | None = None) -> tuple[np.ndarray, BlockScales]:
    """(element values, :class:`BlockScales`) of ``x`` in the block format ``mx`` along its last
    axis: ``decode(quantize_mx(x).codes) · 2^element_scale_exponent`` and its scale codes, bit for
    bit (:func:`rtl.numerics.scaling.quantize_mx`), each block in one pass
    (:func:`hwmodel.accuracy.kernels.block_values`) instead of the codes in between."""
    x = np.asarray(x)
    if x.size == 0 or x.dtype.kind != "f" or x.ndim == 0:
        q = quantize_mx(x, mx, axis=-1, tensor_absmax=tensor_absmax)
        return decode(q.codes, mx.element) * 2.0 ** mx.element_scale_exponent, \
            BlockScales(mx, q.scale_codes, q.tensor_scale)
    tensor_scale = _tensor_scale(x, mx, tensor_absmax)
    values, scales = kernels.block_values(x.reshape(-1, x.shape[-1]), tensor_scale=tensor_scale, **_block_options(mx))
    bad = np.isnan(scales)
    scale_fmt = mx.scale_format
    if mx.power_of_two_scale:
        codes = (np.frexp(np.where(bad, 1.0, scales))[1] + 126).astype(np.uint8)  # 2^e is code e + 127
        codes[bad] = 0xFF
    else:
        codes = encode(np.where(bad, 0.0, scales), scale_fmt).astype(np.uint8)
        codes[bad] = scale_fmt.nan_code
    return values.reshape(x.shape), BlockScales(mx, codes.reshape(x.shape[:-1] + (-1,)), tensor_scale)


def block_depthwise(padded: np.ndarray, weights: np.ndarray, weight_scales: BlockScales, numerics: Numerics, *,
                    kernel: tuple, strides: tuple, dilations: tuple, out_shape: tuple,
                    tensor_absmax: float | None = None) -> np.ndarray:
    """A depthwise convolution on the recipe's block-scaled units, (n, channels, ho, wo) float64:
    what :func:`qmatmul` gives for its im2col rows — each window of the padded NCHW input, taps in
    (kh, kw) order, quantized by :func:`block_values` — times ``weights`` (channels, kh·kw, 1)
    element values with their ``weight_scales``, bit for bit, without the kh·kw-fold copy
    (:func:`hwmodel.accuracy.kernels.block_depthwise`)."""
    mx = MX_FORMATS[numerics.activations]
    BlockScaling(mx, weight_scales.format)  # refuses blocks that cannot share a unit
    acc = numerics.register
    channels = weights.shape[0]
    blocks = -(-kernel[0] * kernel[1] // mx.block_size)
    ws = _scales_like(weight_scales, (channels, 1, blocks), "b").reshape(channels, blocks)
    tensor_scale = _tensor_scale(padded, mx, tensor_absmax)
    fmt = acc.format
    with np.errstate(invalid="ignore", over="ignore"):
        register = kernels.block_depthwise(
            padded, weights.reshape(channels, -1), ws, kernel=kernel, strides=strides, dilations=dilations,
            out_shape=out_shape, tensor_scale=tensor_scale, register_precision=fmt.man_bits + 1,
            register_emin=fmt.emin, register_max=fmt.max_value, flush_to_zero=acc.flush_to_zero,
            **_block_options(mx))
        return register * (tensor_scale * weight_scales.tensor_scale)


def quantize_weight(weight: np.ndarray, numerics: Numerics) -> tuple[np.ndarray, np.ndarray | float]:
    """(code values, scale) of a layer's weights, given as (N, K) — one row per output channel,
    K the reduction axis: pruned and clustered as ``numerics`` says
    (:func:`hwmodel.accuracy.compression.compress_weight`), then in ``numerics.weights`` per
    tensor or per row, MX blocks along K. The scale is (N, 1) per channel, else a scalar."""
    return compress_weight(weight, numerics, quantize_values)


def saturated_count(x: np.ndarray, fmt: str, scale) -> int:
    """How many of ``x`` have a magnitude at ``scale`` beyond the format's largest value (clamped
    to it by the quantizer). Float32 values against one scale are compared in float32, with the
    threshold taken down to the float32 at or below it — the same answer as in float64, for
    every value — and without a float64 copy of ``x``."""
    if fmt == UNQUANTIZED or fmt in MX_FORMATS:
        return 0
    x = np.asarray(x)
    threshold = get_format(fmt).max_value * np.asarray(scale, np.float64)
    if x.dtype == np.float32 and threshold.ndim == 0 and 0 <= threshold < np.inf:
        with np.errstate(over="ignore"):
            t = np.float32(threshold)  # the float32 nearest the threshold; then the one at or below it
        if np.isinf(t) or float(t) > float(threshold):
            t = np.nextafter(t, np.float32(-np.inf))
        return int(np.count_nonzero(x > t)) + int(np.count_nonzero(x < -t))
    return int(np.count_nonzero(np.abs(np.asarray(x, np.float64)) > threshold))


def saturated_fraction(x: np.ndarray, fmt: str, scale) -> float:
    """The fraction of ``x`` whose magnitude at ``scale`` exceeds the format's largest value
    (clamped to it by the quantizer)."""
    size = np.size(x)
    return saturated_count(x, fmt, scale) / size if size else 0.0


def _site(stats: dict, site: str) -> dict:
    return stats.setdefault(site, {"inputs": 0, "saturated": 0, "outputs": 0, "non_finite": 0})


def count_inputs(stats: dict | None, site: str, values: np.ndarray, fmt: str, scale) -> None:
    """Add a site's real input values, and how many of them saturate in ``fmt`` at ``scale``,
    to ``stats`` (site → counts; nothing when ``stats`` is None)."""
    if stats is not None:
        entry = _site(stats, site)
        entry["inputs"] += values.size
        entry["saturated"] += saturated_count(values, fmt, scale)


def count_outputs(stats: dict | None, site: str, out: np.ndarray) -> None:
    """Add a site's real outputs, and how many are not finite (an overflowed register), to ``stats``."""
    if stats is not None:
        entry = _site(stats, site)
        entry["outputs"] += out.size
        entry["non_finite"] += int(np.count_nonzero(~np.isfinite(out)))


def bias_of(numerics: Numerics, a_scale, b_scale) -> tuple[np.ndarray, np.ndarray]:
    """(exponent offset per output column, the factor applied after the MAC)."""
    if numerics.bias == "none":
        return np.zeros(1, np.int64), np.asarray(a_scale, np.float64) * np.asarray(b_scale, np.float64)
    e_a, r_a = split_scale(a_scale)
    e_b, r_b = split_scale(b_scale)
    offset = np.atleast_1d(e_a + e_b)
    low, high = -(1 << (BIAS_BITS - 1)), (1 << (BIAS_BITS - 1)) - 1
    if offset.min() < low or offset.max() > high:
        bad = offset[(offset < low) | (offset > high)][0]
        raise FieldError("bias", f"the scales' exponents sum to {int(bad)}, beyond the bias port's {low}..{high}", int(bad))
    return offset, r_a * r_b


def order_free(numerics: Numerics, a_max: float, b_max: float, k: int, *, b_is_weight: bool = True) -> bool:
    """Whether the recipe's register holds the exact sum of any ``k`` products of codes of
    magnitude at most ``a_max`` and ``b_max``, whatever their order: a fixed register that no
    such sum can wrap or saturate, with every partial sum exact in float64. Then a product
    computed in any order (a depthwise convolution's shifted multiply-adds, say) is the
    register's value, bit for bit."""
    if UNQUANTIZED in (numerics.weights, numerics.activations) or numerics.bias != "none":
        return False
    a_fmt = numerics.activation_format
    b_fmt = numerics.weight_format if b_is_weight else numerics.activation_format
    acc = numerics.register_for(a_fmt, b_fmt)
    if not isinstance(acc, FixedAccumulator):
        return False
    units = k * a_max * b_max * 2.0 ** -(a_fmt.lsb_exponent + b_fmt.lsb_exponent)  # in product LSBs
    return bool(units < 2.0 ** _F64_BITS and (acc.width is None or
                                              units * 2.0 ** (product_lsb_exponent(a_fmt, b_fmt) - acc.lsb_exponent)
                                              < 2.0 ** (acc.width - 1)))


def qmatmul(a: np.ndarray, b: np.ndarray, numerics: Numerics, *, a_scale=1.0, b_scale=1.0,
            b_is_weight: bool = True) -> np.ndarray:
    """``(a · a_scale) @ (b · b_scale)`` as an array of the recipe's MACs computes it.

    ``a`` (…, M, K) and ``b`` (…, K, N) hold code values (from :func:`quantize_values`) — ``b``
    in the weight format, or with ``b_is_weight=False`` in the activation format (attention's
    activation × activation products); ``a_scale`` is a scalar, ``b_scale`` a scalar or one per
    column (per-channel weights). Returns float64.
    """
    b_name = numerics.weights if b_is_weight else numerics.activations
    if isinstance(a_scale, BlockScales) or isinstance(b_scale, BlockScales):
        size = BlockScaling(a_scale.format, b_scale.format).block_size
        register = block_register(a, b, numerics.register, a_scale, b_scale, interleave=numerics.interleave,
                                  chunks=max(1, size // numerics.lanes))
        with np.errstate(invalid="ignore", over="ignore"):
            return register * (a_scale.tensor_scale * b_scale.tensor_scale)
    if b_name == UNQUANTIZED and numerics.activations == UNQUANTIZED:
        return np.matmul(np.asarray(a, np.float32), np.asarray(b, np.float32)).astype(np.float64) \
            * a_scale * np.asarray(b_scale)
    b_fmt = numerics.weight_format if b_is_weight else numerics.activation_format
    offset, after = bias_of(numerics, a_scale, b_scale)
    register = accumulate_matmul(a, b, numerics.register_for(numerics.activation_format, b_fmt),
                                 numerics.activation_format, b_fmt, lanes=numerics.lanes, bias=offset,
                                 interleave=numerics.interleave)
    with np.errstate(invalid="ignore", over="ignore"):
        return register * after


# ----- the register ---------------------------------------------------------------------------
def block_register(a, b, acc: FloatAccumulator, a_scales: BlockScales, b_scales: BlockScales, *,
                   interleave: int = 1, chunks: int = 1) -> np.ndarray:
    """The registers of an array of block-scaled units after ``a @ b`` (element values, with
    their :class:`BlockScales`): bit-exact with :func:`rtl.numerics.blocks.block_dot`; a K that
    is not a multiple of the block is padded with zero elements, as the quantizer pads. With
    ``interleave`` N > 1, the units' N partial sums — block j in the one of cycle j·``chunks``
    (a block a ``chunks`` cycles) — folded at the end (:mod:`rtl.numerics.interleave`)."""
    if not (isinstance(a_scales, BlockScales) and isinstance(b_scales, BlockScales)):
        raise FieldError("activations", "a block-scaled product needs both operands in block formats, not "
                                        f"{type(a_scales).__name__} × {type(b_scales).__name__} scales", None)
    if not isinstance(acc, FloatAccumulator):
        raise FieldError("accumulator", f"block formats accumulate into float16, bfloat16 or float32, not {acc.name}",
                         acc.name)
    size = BlockScaling(a_scales.format, b_scales.format).block_size  # refuses blocks that cannot share a unit
    a3, b3, lead = _groups(np.asarray(a, np.float64), np.asarray(b, np.float64))
    k = a3.shape[2]
    blocks = -(-k // size)
    if interleave > 1 and blocks * size != k:  # an interleaved part takes whole blocks
        a3 = np.pad(a3, ((0, 0), (0, 0), (0, blocks * size - k)))
        b3 = np.pad(b3, ((0, 0), (0, blocks * size - k), (0, 0)))
    sa = _scales_like(a_scales, (a3.shape[0], a3.shape[1], blocks), "a")
    sb = _scales_like(b_scales, (b3.shape[0], b3.shape[2], blocks), "b")
    fmt = acc.format
    blas = not acc.flush_to_zero and _block_sums_exact(a_scales.format, b_scales.format)

    def run(a3, b3, sa, sb):
        # a last block shorter than ``size`` is read as if padded with zero elements (the kernels
        # sum the elements it has and add the padding's +0 products), without the padded copy
        out = np.zeros((a3.shape[0], a3.shape[1], b3.shape[2]))
        options = {"precision": fmt.man_bits + 1, "emin": fmt.emin, "max_value": fmt.max_value,
                   "flush_to_zero": acc.flush_to_zero}
        with np.errstate(invalid="ignore", over="ignore"):
            if not blas:
                return kernels.block_steps(a3, np.ascontiguousarray(b3), sa, sb, block=size, out=out, **options)
            groups, k, cols = a3.shape[0], a3.shape[2], b3.shape[2]
            nb, full = -(-k // size), k // size
            whole = full * size
            b_blocks = b3[:, :whole].reshape(b3.shape[0], full, size, cols)
            rows = max(1, _BLOCK_SUM_BYTES // (8 * nb * cols * groups))
            for m0 in range(0, a3.shape[1], rows):  # every group at once, a slice of rows at a time
                rows_a = a3[:, m0:m0 + rows]
                sums = np.empty((groups, nb, rows_a.shape[1], cols))  # (groups, blocks, rows, cols)
                if full:
                    np.matmul(rows_a[:, :, :whole].reshape(groups, -1, full, size).transpose(0, 2, 1, 3), b_blocks,
                              out=sums[:, :full])
                if nb > full:
                    np.matmul(rows_a[:, :, whole:], b3[:, whole:], out=sums[:, full])
                kernels.block_sums_steps(sums, rows_a, b3, np.ascontiguousarray(sa[:, m0:m0 + rows]), sb, block=size,
                                         out=out[:, m0:m0 + rows], **options)
            return out

    if interleave == 1:
        out = run(a3, b3, sa, sb)
    else:
        def part(chosen):
            k = (chosen[:, None] * size + np.arange(size)).reshape(-1)
            return run(np.ascontiguousarray(a3[:, :, k]), b3[:, k, :], np.ascontiguousarray(sa[:, :, chosen]),
                       np.ascontiguousarray(sb[:, :, chosen]))
        out = _interleaved(acc, blocks, interleave, chunks, part, (a3.shape[0], a3.shape[1], b3.shape[2]))
    return out.reshape(lead + out.shape[1:])


_BLOCK_SUM_BYTES = 1 << 26  # the block sums formed at once, per slice of rows


def _block_sums_exact(a: MxFormat, b: MxFormat) -> bool:
    """Whether every sum of a block's element products is exact in one double in any order (so
    BLAS forms it exactly): the products are multiples of the two element LSBs' product and a
    block of the largest of them stays under 2^53 of those."""
    size = BlockScaling(a, b).block_size
    lsb = sum(f.element.lsb_exponent + f.element_scale_exponent for f in (a, b))
    largest = size * math.prod(f.element.max_magnitude * 2.0 ** f.element_scale_exponent for f in (a, b))
    return largest < 2.0 ** (lsb + _F64_BITS)


def _interleaved(acc: FloatAccumulator, steps: int, interleave: int, spacing: int, part, shape) -> np.ndarray:
    """An interleaved register's result: step t (issued at cycle t·``spacing``) in partial sum
    (t·spacing) mod N, each partial sum run by ``part(step indices)``, folded in
    :func:`rtl.numerics.interleave.partial_order`."""
    slot = (np.arange(steps) * spacing) % interleave
    parts = [part(np.flatnonzero(slot == j)) if np.any(slot == j) else np.zeros(shape) for j in range(interleave)]
    order = partial_order(steps, interleave, spacing)
    fmt = acc.format
    out = parts[order[0]]
    with np.errstate(invalid="ignore", over="ignore"):
        for j in order[1:]:
            out = kernels.fold_add(out, parts[j], precision=fmt.man_bits + 1, emin=fmt.emin, max_value=fmt.max_value,
                                   flush_to_zero=acc.flush_to_zero)
    return out


def _scales_like(scales: BlockScales, shape: tuple, side: str) -> np.ndarray:
    values = scales.values()
    if values.size != math.prod(shape):
        raise ValueError(f"operand {side}: {values.shape} block scales do not fit its (groups, rows, blocks) "
                         f"= {shape}")
    return np.ascontiguousarray(values.reshape(shape))


def _groups(a, b):
    # float32 codes stay float32 (they are exact there: see code_dtype); anything else is float64
    a, b = (np.asarray(x, np.float32 if np.asarray(x).dtype == np.float32 else np.float64) for x in (a, b))
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"cannot multiply shapes {a.shape} and {b.shape}")
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    g = math.prod(lead)
    if a.ndim == 3 and a.shape[:1] == lead:  # as given: a transposed view stays one (see kernels._oriented)
        a3 = a
    else:
        a3 = np.ascontiguousarray(np.broadcast_to(a, lead + a.shape[-2:]).reshape(g, *a.shape[-2:]))
    b_lead = b.shape[:-2]
    if math.prod(b_lead) == 1:
        b3 = np.ascontiguousarray(b.reshape(1, *b.shape[-2:]))
    else:
        b3 = np.ascontiguousarray(np.broadcast_to(b, lead + b.shape[-2:]).reshape(g, *b.shape[-2:]))
    return a3, b3, lead


def float_kernel(acc: FloatAccumulator, a_fmt: Format, b_fmt: Format, lanes: int, bias_low: int,
                 bias_high: int) -> str | None:
    """Which kernel computes this register exactly (None: none does; the golden model must)."""
    width = product_width(a_fmt, b_fmt) - 1  # magnitude bits of a product in units of its LSB
    lane_bits = max(lanes - 1, 0).bit_length()
    # one product is an exact double (≤ 16-bit operands); a sum of several spans their range
    if lanes > 1 and width + lane_bits > _F64_BITS:
        return "double_double" if width + 2 * lane_bits < 2 * _F64_BITS - 2 else None
    fmt = acc.format
    acc_lsb, acc_top = fmt.emin - fmt.man_bits, fmt.emax + 1
    p_lsb = product_lsb_exponent(a_fmt, b_fmt)
    p_top = p_lsb + width + lane_bits + bias_high
    span = max(acc_top, p_top) - min(acc_lsb, p_lsb + bias_low)
    if span <= _F64_BITS or (lanes == 1 and _rounded_twice_alike(acc, a_fmt, b_fmt)):
        return "exact"
    return "twosum_float32" if fmt.name == "float32" else "twosum"


def _rounded_twice_alike(acc: FloatAccumulator, a_fmt: Format, b_fmt: Format) -> bool:
    """Whether rounding ``register + product`` to a double first and then to the register gives
    the register's one rounding of the exact sum x, for every register value r and product p:
    where a product has s significant bits and the register P (with the hidden one),
    s + P + 3 ≤ 52 and — unless the register's whole range, smallest subnormal to overflow, is
    under 2^53 (float16) — s ≤ P.

    The two roundings differ only where x lies within half a double ulp u/2 of a point the
    register's rounding turns at (a midpoint of its grid) without being it. If p's last bit and
    r's are at least u, so is every nonzero x − midpoint (the midpoints' last bit is at least u).
    If p's is below u, |p| < 2^s·u ≤ 2^(s−51)·|x| is tiny beside r, and r — on the grid, at least
    2^−(P+1)·|r| from every midpoint — keeps x more than 2^−(P+2)·|x| > u/2 from all of them when
    s + P + 3 ≤ 52. If r's is below u, r is tiny beside p, and x stays clear unless p is itself a
    midpoint: that takes s > P (a normal midpoint has P + 1 bits), and an r that small beside a p
    the register can hold, which float16's range does not have. Overflow, Inf and NaN come out
    of the double sum as IEEE gives them, and flush to zero acts on the rounded value, the same
    either way. (bfloat16 operands into a bfloat16 register: 2^-120 + 261·2^-60 rounds to
    262·2^-60, through a double to 260·2^-60 — the test shows it.)"""
    fmt = acc.format
    s, p = _significand_bits(a_fmt) + _significand_bits(b_fmt), fmt.man_bits + 1
    narrow = fmt.emax - fmt.emin + p <= _F64_BITS
    return s + p + 3 <= _F64_BITS - 1 and (s <= p or narrow)


_FLOAT32_BITS = 24
_FLOAT32_MIN_NORMAL = 2.0 ** -126


def _significand_bits(fmt: Format) -> int:
    """Significant bits a value of ``fmt`` can have (an integer's magnitude, a float's significand)."""
    return fmt.man_bits + 1 if fmt.is_float else round(fmt.max_magnitude).bit_length()


_NATIVE = {"float32": 24, "float16": 11, "bfloat16": 8}  # registers float32 arithmetic can run, by precision


def _native_formats(acc, a_fmt: Format, b_fmt: Format, lanes: int) -> bool:
    """What :func:`native_register` asks of the design alone: a float32 (without flush to zero),
    float16 or bfloat16 register, one product a step, operand values float32 holds (at most 16
    bits) with at most 24 significant bits between a product's two."""
    return (isinstance(acc, FloatAccumulator) and acc.format.name in _NATIVE
            and not (acc.format.name == "float32" and acc.flush_to_zero)
            and lanes == 1 and a_fmt.bits <= 16 and b_fmt.bits <= 16
            and _significand_bits(a_fmt) + _significand_bits(b_fmt) <= _FLOAT32_BITS)


def native_register(b: np.ndarray, acc: FloatAccumulator, a_fmt: Format, b_fmt: Format, lanes: int,
                    bias_low: int = 0) -> bool:
    """Whether float32 arithmetic computes this register exactly for ``a`` codes' values of
    ``a_fmt`` and these ``b`` values (any bias folded in, the smallest offset ``bias_low``) —
    :func:`hwmodel.accuracy.kernels.float32_steps`. Beyond what :func:`_native_formats` asks,
    float32 must hold every ``b`` value and every non-zero finite product must stay below 2^128
    (at most ``a_fmt``'s largest magnitude times ``b``'s), and:

    * float32 register: every product an exact float32 normal — at least 2^-126 (``a_fmt``'s
      smallest magnitude times ``b``'s smallest). Then IEEE's one rounding of acc + a·b is the
      register's, Inf and NaN included.
    * float16 or bfloat16 register of precision p: every product on the register's own grid
      (the products' LSB, 2^(LSB_a + LSB_b + bias_low), no finer than its smallest subnormal),
      and either each product is a p-bit value (significands of at most p bits between them: the
      double rounding is innocuous, 24 ≥ 2p + 2) or every sum the register can see is exact in
      float32 (the largest register value plus the largest product below 2^(LSB + 24): the
      register stays on the products' grid, so its sums span under 24 bits).
    """
    if not _native_formats(acc, a_fmt, b_fmt, lanes):
        return False
    low, high, held = kernels.float32_range(b)
    if not held:
        return False  # a weight float32 does not hold (far below 2^-126 after its bias)
    if high == 0:
        return True  # every product is zero, Inf or NaN: IEEE float32 gives what the register does
    largest = a_fmt.max_magnitude * high
    if not largest < 2.0 ** 128:
        return False
    fmt = acc.format
    if fmt.name == "float32":
        return a_fmt.min_subnormal * low >= _FLOAT32_MIN_NORMAL
    lsb = a_fmt.lsb_exponent + b_fmt.lsb_exponent + int(bias_low)
    if lsb < fmt.lsb_exponent:
        return False
    return (_significand_bits(a_fmt) + _significand_bits(b_fmt) <= _NATIVE[fmt.name]
            or fmt.max_value + largest < 2.0 ** (lsb + _FLOAT32_BITS))


def accumulate_matmul(a, b, acc, a_fmt: Format | str, b_fmt: Format | str, *, lanes: int = 1,
                      bias=0, interleave: int = 1) -> np.ndarray:
    """The registers an array of ``a_fmt × b_fmt`` MACs into ``acc`` holds after ``a @ b``.

    ``a`` (…, M, K) and ``b`` (…, K, N) are code values; ``bias`` is the exponent offset, a
    scalar, one per column, or one per column of each product of the batch (…, 1, N) — the
    channels of a depthwise convolution, each its own one-column product. Returns the
    registers' values (float64; exact for float registers, and for fixed ones wherever float64
    holds the integer). ``interleave`` N > 1 (float registers): N partial sums, step t in
    partial sum t mod N, folded at the end (:mod:`rtl.numerics.interleave`).
    """
    a_fmt, b_fmt = get_format(a_fmt), get_format(b_fmt)
    a3, b3, lead = _groups(a, b)
    bias = np.asarray(bias, np.int64)
    if bias.size in (1, b3.shape[2]):
        bias = bias.reshape(1, 1, -1)
    elif bias.size == b3.shape[0] * b3.shape[2]:
        bias = bias.reshape(b3.shape[0], 1, b3.shape[2])
    else:
        raise ValueError(f"bias needs one offset, one per column ({b3.shape[2]}) or one per column of each of the "
                         f"{b3.shape[0]} products, not {bias.size}")
    if interleave != 1 and not isinstance(acc, FloatAccumulator):
        raise FieldError("interleave", f"interleaved partial sums need a float register, not {acc.name}", interleave)
    if isinstance(acc, FloatAccumulator) and interleave > 1:
        k = a3.shape[2]
        def part(chosen):
            idx = (chosen[:, None] * lanes + np.arange(lanes)).reshape(-1)
            idx = idx[idx < k]  # only the last step can be short; it stays the last of its partial sum
            return _float_register(np.ascontiguousarray(a3[:, :, idx]), np.ascontiguousarray(b3[:, idx, :]), acc,
                                   a_fmt, b_fmt, lanes, bias)
        out = _interleaved(acc, -(-k // lanes), interleave, 1, part, (a3.shape[0], a3.shape[1], b3.shape[2]))
    elif isinstance(acc, FloatAccumulator):
        out = _float_register(a3, b3, acc, a_fmt, b_fmt, lanes, bias)
    elif isinstance(acc, FixedAccumulator):
        if np.any(bias):
            raise FieldError("bias", "an exponent bias applies to float accumulators", int(bias.reshape(-1)[0]))
        out = _fixed_register(a3, b3, acc, a_fmt, b_fmt, lanes)
    else:
        raise TypeError(f"acc must be a FixedAccumulator or FloatAccumulator, not {type(acc).__name__}")
    return out.reshape(lead + out.shape[1:])


def _float_register(a3, b3, acc: FloatAccumulator, a_fmt, b_fmt, lanes, bias) -> np.ndarray:
    scaled = np.asarray(b3, np.float64) * np.ldexp(1.0, bias.astype(np.int32)) if np.any(bias) else b3
    if native_register(scaled, acc, a_fmt, b_fmt, lanes, int(bias.min())):
        out = np.zeros((a3.shape[0], a3.shape[1], b3.shape[2]), np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            return kernels.float32_steps(np.asarray(a3, np.float32), np.ascontiguousarray(scaled, np.float32), out,
                                         register=acc.format.name, flush_to_zero=acc.flush_to_zero).astype(np.float64)
    # the other kernels compute in doubles; float32 codes are read as they are (each is exact as a
    # double, and a product with a double weight is a double product), not copied to doubles first
    a3 = np.asarray(a3)
    a3 = a3 if a3.dtype == np.float32 else a3.astype(np.float64, copy=False)
    b3, scaled = np.asarray(b3, np.float64), np.asarray(scaled, np.float64)
    kernel = float_kernel(acc, a_fmt, b_fmt, lanes, int(bias.min()), int(bias.max()))
    if kernel is None:
        return _golden(np.asarray(a3, np.float64), b3, acc, a_fmt, b_fmt, lanes, bias)
    fmt = acc.format
    out = np.zeros((a3.shape[0], a3.shape[1], b3.shape[2]))
    with np.errstate(invalid="ignore", over="ignore"):
        return kernels.float_steps(a3, np.ascontiguousarray(scaled), lanes=lanes, precision=fmt.man_bits + 1,
                                   emin=fmt.emin, max_value=fmt.max_value, flush_to_zero=acc.flush_to_zero,
                                   kernel=kernel, out=out)


def _finite(values: np.ndarray, fmt: Format) -> tuple[np.ndarray, float]:
    """(codes with NaN and Inf — which a fixed register cannot hold — made 0, so every product
    with them adds nothing; their largest magnitude). NaN and Inf are found through the max and
    min the magnitude takes anyway, not another pass."""
    largest = _magnitude(values)
    if (fmt.has_nan or fmt.has_inf) and not math.isfinite(largest):
        values = np.where(np.isfinite(values), values, 0.0).astype(values.dtype, copy=False)
        largest = _magnitude(values)
    return values, largest


def _fixed_register(a3, b3, acc: FixedAccumulator, a_fmt, b_fmt, lanes) -> np.ndarray:
    """The register's integer sum, in units of its LSB. The (large) activation operand stays in
    its codes — the sum of code products is the sum in product LSBs times 2^lsb_a, a power of
    two, so exact wherever the sum in units is — and only the weights are scaled to units."""
    shift = product_lsb_exponent(a_fmt, b_fmt) - acc.lsb_exponent
    if shift < 0:
        raise ValueError(f"accumulator LSB 2**{acc.lsb_exponent} is coarser than the product LSB")
    (a_codes, a_max), a_unit = _finite(a3, a_fmt), 2.0 ** -a_fmt.lsb_exponent  # codes × a_unit are integers
    (b_codes, b_max), b_unit = _finite(b3, b_fmt), 2.0 ** (shift - b_fmt.lsb_exponent)
    b_units = b_codes * b_unit
    k = a3.shape[2]
    largest = a_max * a_unit * b_max * b_unit
    bound = k * largest  # no partial sum, in any order, exceeds it
    if acc.overflow == "saturate" and acc.width is not None and bound >= 2.0 ** (acc.width - 1):
        # some order of partial sums could reach the edge: step through the register as built
        if acc.width <= 62 and lanes * largest + 2.0 ** (acc.width - 1) < 2.0 ** 62:
            out = np.zeros((a3.shape[0], a3.shape[1], b3.shape[2]), np.int64)
            units = kernels.fixed_saturating_steps((a_codes * a_unit).astype(np.int64), b_units.astype(np.int64),
                                                   lanes=lanes, width=acc.width, out=out)
            return np.ldexp(units.astype(np.float64), acc.lsb_exponent)
        return _golden(np.asarray(a3, np.float64), b3, acc, a_fmt, b_fmt, lanes, np.zeros(1, np.int64))
    if bound < 2.0 ** _F64_BITS:
        total = _integer_matmul(a_codes, b_units, largest) * a_unit
        exact = None
    else:
        hi, lo = kernels.exact_sums(np.asarray(a_codes, np.float64) * a_unit, np.asarray(b_units, np.float64))
        total, exact = hi + lo, (hi, lo)
    if acc.width is None or bound < 2.0 ** (acc.width - 1):
        return np.ldexp(total, acc.lsb_exponent)  # no sum can reach the register's edge: nothing wraps
    modulus, half = 2 ** acc.width, 2 ** (acc.width - 1)
    if exact is None:
        integers = total.astype(np.int64) if bound < 2.0 ** 62 else total.astype(object)
    else:
        integers = np.vectorize(lambda h, lw: int(h) + int(lw), otypes=[object])(*exact)
    wrapped = (integers + half) % modulus - half
    return np.ldexp(np.asarray(wrapped, dtype=np.float64), acc.lsb_exponent)


def code_dtype(numerics: Numerics):
    """The dtype to hold a recipe's activation codes in: float32 where the register's exact sum
    runs as float32 BLAS — a fixed register, operand formats whose every code is a float32 (not
    MX, at most 16 bits) and whose largest product of codes in LSB units is at most 2^18 (so
    chunks of 64 products stay exact under 2^24: INT8×INT8, INT4×INT8) — or in float32
    arithmetic (a register :func:`native_register` may take), and the im2col copies take
    half the bytes; float64 otherwise, which the other register paths compute in anyway."""
    names = (numerics.activations, numerics.weights)
    if any(n == UNQUANTIZED or n in MX_FORMATS for n in names):
        return np.float64
    formats = [get_format(n) for n in names]
    register = numerics.register_for(numerics.activation_format, numerics.weight_format)
    if _native_formats(register, formats[0], formats[1], numerics.lanes):
        return np.float32  # a register float32 arithmetic may run (see native_register)
    if not isinstance(register, FixedAccumulator):
        return np.float64
    if any(f.bits > 16 for f in formats):
        return np.float64
    units = [f.max_value * 2.0 ** -f.lsb_exponent for f in formats]
    return np.float32 if units[0] * max(units) <= 2.0 ** 18 else np.float64


def _magnitude(x: np.ndarray) -> float:
    """The largest |x| (0 for an empty array), without a temporary the size of ``x``."""
    return max(float(x.max(initial=0)), -float(x.min(initial=0)))


def _integer_matmul(a_units, b_units, largest: float) -> np.ndarray:
    """Exact Σ of products whose every partial sum, in units of the product LSB, stays below
    2**53 (``largest``: the largest product in those units; ``a_units`` may be the codes, a
    power of two off): float32 BLAS in chunks of K short enough that no partial sum passes 2**24
    (the fast path for 8-bit codes), else float64."""
    chunk = int(2.0 ** 24 // max(largest, 1.0))
    k = a_units.shape[2]
    if chunk < 64:
        return np.matmul(np.asarray(a_units, np.float64), np.asarray(b_units, np.float64))
    a32, b32 = a_units.astype(np.float32, copy=False), b_units.astype(np.float32, copy=False)
    total = np.matmul(a32[..., :chunk], b32[..., :chunk, :]).astype(np.float64)
    for i in range(chunk, k, chunk):
        total += np.matmul(a32[..., i:i + chunk], b32[..., i:i + chunk, :])
    return total


def _golden(a3, b3, acc, a_fmt, b_fmt, lanes, bias) -> np.ndarray:
    """Step by step through :mod:`rtl.numerics.arith` (for what no kernel holds exactly)."""
    a_codes, b_codes = encode(a3, a_fmt).astype(np.int64), encode(b3, b_fmt).astype(np.int64)
    g, m, k = a3.shape
    n = b3.shape[2]
    steps = -(-k // lanes)
    pad = steps * lanes - k
    zero_a = int(encode(np.zeros(1), a_fmt)[0])
    zero_b = int(encode(np.zeros(1), b_fmt)[0])
    a_codes = np.pad(a_codes, ((0, 0), (0, 0), (0, pad)), constant_values=zero_a)
    b_codes = np.pad(np.broadcast_to(b_codes, (g, k, n)), ((0, 0), (0, pad), (0, 0)), constant_values=zero_b)
    # (steps, g, m, n, lanes)
    a_steps = a_codes.reshape(g, m, steps, lanes).transpose(2, 0, 1, 3)[:, :, :, None, :]
    b_steps = b_codes.reshape(g, steps, lanes, n).transpose(1, 0, 3, 2)[:, :, None, :, :]
    state = arith.mac(acc, a_fmt, a_steps, b_fmt, b_steps, bias=np.broadcast_to(bias.reshape(-1, 1, n), (g, m, n))[None])
    return arith.to_float(acc, state)
