"""Scale selection, quantization granularity, and OCP MX block formats.

Granularities, all through one ``axis`` / ``block_size`` pair:

* per-tensor: ``axis=None, block_size=None`` — one scale;
* per-channel: ``axis=k`` — one scale per index along axis ``k``;
* per-block: ``block_size=B`` — one scale per ``B`` consecutive elements along ``axis``
  (default: the last axis). A length that is not a multiple of ``B`` gets a shorter last block.

Scale methods: ``absmax`` (the largest magnitude maps to the format's max), ``mse`` (the scale
minimising the squared error: :func:`mse_scales`, a geometric search over 12 octaves below
absmax refined by golden section, every group at once from sorted prefix sums), and
``percentile`` (the given percentile of magnitudes maps to max; outliers beyond it saturate).

MX formats follow the OCP Microscaling Formats (MX) v1.0 specification: 32-element blocks sharing
an E8M0 scale ``X = 2**(floor(log2(max|V|)) - emax_element)``, elements rounded to nearest even
with saturation. The specification leaves a partial block to the implementation; here the tensor
is padded with zeros (which never change the shared scale) and the codes are trimmed back, or,
with ``pad=False``, the length is an error.

NVFP4 (``nvfp4``) blocks 16 float4_e2m1fn elements under a float8_e4m3fn scale and one float32
scale per tensor: ``s_tensor = max|x| / (6 · 448)``, each block's scale the E4M3 rounding of
``max|V| / 6 / s_tensor`` (so the largest block scale is 448), elements rounded to nearest even
at ``s_tensor · s_block``. The tensor scale stays outside the dot-product unit.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass

import numpy as np

from rtl.numerics.formats import Format, closest_names, decode, fake_quantize, finite_values, get_format, quantize

__all__ = ["MxFormat", "MX_FORMATS", "get_mx_format", "QuantizedTensor", "choose_scale", "mse_scales", "scale_search",
           "split_scale", "nvfp4_tensor_scale",
           "quantize_tensor", "quantize_mx"]

SCALE_METHODS = ("absmax", "mse", "percentile")


@dataclass(frozen=True)
class MxFormat:
    """An OCP MX block format: ``block_size`` elements sharing one power-of-two scale.

    ``element_scale_exponent`` is the element type's implicit scale (MXINT8: its int8 codes weigh
    ``2**-6``, so elements span ±1 63/64).
    """

    name: str
    element: Format
    block_size: int = 32
    scale_format: Format = None
    element_scale_exponent: int = 0

    def __post_init__(self):
        object.__setattr__(self, "element", get_format(self.element))
        object.__setattr__(self, "scale_format", get_format(self.scale_format or "float8_e8m0fnu"))
        if not isinstance(self.block_size, int) or self.block_size < 1:
            raise ValueError(f"block_size must be a positive integer, not {self.block_size!r}")
        if self.scale_format.name not in ("float8_e8m0fnu", "float8_e4m3fn"):
            raise ValueError(f"a block scale is float8_e8m0fnu (MX) or float8_e4m3fn (NVFP4), "
                             f"not {self.scale_format.name}")

    @property
    def power_of_two_scale(self) -> bool:
        """The block scale is a power of two (E8M0: OCP MX); else an E4M3 value (NVFP4)."""
        return self.scale_format.name == "float8_e8m0fnu"

    @property
    def element_emax(self) -> int:
        """Exponent of the largest power of two the element type represents."""
        return math.floor(math.log2(self.element.max_value)) + self.element_scale_exponent

    @property
    def bits_per_element(self) -> float:
        """Bits per element in memory: the element code and its share of the block scale."""
        return self.element.bits + self.scale_format.bits / self.block_size

    def describe(self) -> dict:
        return {"name": self.name, "element": self.element.name, "block_size": self.block_size,
                "scale": self.scale_format.name, "bits_per_element": self.bits_per_element,
                "element_emax": self.element_emax,
                "max": self.element.max_value * (2.0 ** (self.element_scale_exponent + 127) if self.power_of_two_scale
                                                 else self.scale_format.max_value)}  # NVFP4: before its tensor scale


MX_FORMATS = types.MappingProxyType({f.name: f for f in [
    MxFormat("mxfp8_e4m3", "float8_e4m3fn"), MxFormat("mxfp8_e5m2", "float8_e5m2"),
    MxFormat("mxfp6_e3m2", "float6_e3m2fn"), MxFormat("mxfp6_e2m3", "float6_e2m3fn"),
    MxFormat("mxfp4_e2m1", "float4_e2m1fn"),
    MxFormat("mxint8", "int8_sym", element_scale_exponent=-6),
    MxFormat("nvfp4", "float4_e2m1fn", block_size=16, scale_format="float8_e4m3fn"),
]})
"""The block formats: OCP MX v1.0 (32 elements, E8M0 scale) and NVFP4 (16, E4M3 scale)."""


def get_mx_format(name: str | MxFormat) -> MxFormat:
    """Look up an MX format (``mxfp8_e4m3``, ``mxint8``, …)."""
    if isinstance(name, MxFormat):
        return name
    try:
        return MX_FORMATS[name]
    except KeyError:
        hint = closest_names(str(name), MX_FORMATS)
        raise ValueError(f"unknown MX format {name!r}"
                         + (f"; closest valid names: {', '.join(hint)}" if hint else "")) from None


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """Codes plus the scales that give them meaning.

    ``scale`` has the shape of ``codes`` except along ``axis``: 1 entry (per-tensor: a 0-d
    array), one per channel, or one per block. ``value = decode(code) · 2**element_scale_exponent
    · scale``.
    """

    codes: np.ndarray
    format: Format
    scale: np.ndarray
    axis: int | None = None
    block_size: int | None = None
    element_scale_exponent: int = 0
    scale_codes: np.ndarray | None = None  # block scale codes (E8M0 for MX, E4M3 for NVFP4)
    tensor_scale: float = 1.0  # NVFP4's float32 scale per tensor (1 for MX)

    def expanded_scale(self) -> np.ndarray:
        """The scale of every element (broadcastable to ``codes``)."""
        return _expand(self.scale, self.block_size, self.axis, self.codes.shape)

    def dequantize(self) -> np.ndarray:
        return decode(self.codes, self.format) * math.ldexp(1.0, self.element_scale_exponent) \
            * self.expanded_scale()


def _normalize_axis(axis: int | None, ndim: int, what: str = "axis") -> int | None:
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{what} {axis!r} is out of range for a tensor with {ndim} dimension(s)")
    return int(axis) % ndim


def _expand(scale: np.ndarray, block_size: int | None, axis: int | None, shape) -> np.ndarray:
    if block_size is None:
        return scale
    repeated = np.repeat(scale, block_size, axis=axis)
    return repeated.take(range(shape[axis]), axis=axis)


def _groups(x: np.ndarray, axis: int | None, block_size: int | None):
    """Reshape to (groups, members) and a function taking one value per group back to x's layout."""
    if block_size is None and axis is None:
        return x.reshape(1, -1), lambda g: g.reshape(())
    if block_size is None:  # per-channel: one group per index along axis
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        return np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1), lambda g: g.reshape(shape)
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    blocks = -(-n // block_size)
    padded = np.zeros(moved.shape[:-1] + (blocks * block_size,), np.float64)
    padded[..., :n] = moved
    return (padded.reshape(-1, block_size),
            lambda g: np.moveaxis(g.reshape(moved.shape[:-1] + (blocks,)), -1, axis))


class _GroupErrors:
    """Squared quantization error of every group (row) at any per-row scale, in O(grid · log n).

    Rows are sorted once with prefix sums of 1, x and x²; between neighbouring grid values the
    rounding boundary is their midpoint, so a row's error at scale s is a sum over the grid's bins
    of m2 − 2·v·m1 + v²·m0, the bins located by one ``searchsorted`` for all rows at once (each
    row offset into its own disjoint range of one sorted array). Ties at a boundary — where
    round-half-even could pick the other neighbour — change nothing measurable. ``weights``
    (one per member) count a member that many times (a sample standing for more values).
    """

    def __init__(self, groups: np.ndarray, fmt: Format, weights: np.ndarray | None = None):
        rows, n = groups.shape
        order = np.argsort(groups, axis=1)
        self.xs = np.take_along_axis(groups, order, axis=1)
        w = np.ones_like(self.xs) if weights is None else np.take_along_axis(
            np.broadcast_to(np.asarray(weights, np.float64), groups.shape), order, axis=1)
        self.sums = [np.concatenate((np.zeros((rows, 1)), np.cumsum(w * self.xs ** k, axis=1)), axis=1)
                     for k in (0, 1, 2)]
        self.grid = finite_values(fmt)
        self.mid = (self.grid[1:] + self.grid[:-1]) / 2
        bound = float(np.abs(groups).max()) + 1.0
        self.bound, self.width = bound, 2 * bound + 1.0
        self.offsets = np.arange(rows)[:, None] * self.width
        self.flat = (self.xs + self.offsets).ravel()
        self.n = n

    def __call__(self, scales: np.ndarray) -> np.ndarray:
        edges = np.clip(self.mid[None, :] * scales[:, None], -self.bound, self.bound) + self.offsets
        index = np.searchsorted(self.flat, edges) - np.arange(len(scales))[:, None] * self.n
        bounds = np.concatenate((np.zeros((len(scales), 1), np.int64), index,
                                 np.full((len(scales), 1), self.n)), axis=1)
        m0, m1, m2 = (np.diff(np.take_along_axis(s, bounds, axis=1), axis=1) for s in self.sums)
        v = self.grid[None, :] * scales[:, None]
        return np.sum(m2 - 2 * v * m1 + v * v * m0, axis=1)


def scale_search(errors, top: np.ndarray, *, octaves: float, points: int, refine: int) -> np.ndarray:
    """Per-row scales minimising ``errors(scales) -> errors`` (one scale and one error per row):
    a geometric grid of ``points`` scales from ``top`` down ``octaves`` octaves (the error curve
    of heavy-tailed data has several local minima, which a local search would miss), then
    ``refine`` golden-section steps inside each row's best cell, one new point per row a step."""
    top = np.asarray(top, dtype=np.float64)
    factors = np.exp2(-np.linspace(0.0, octaves, points))
    table = np.stack([errors(top * f) for f in factors])  # (points, rows)
    best = np.argmin(table, axis=0)
    lo = np.log(top * factors[np.minimum(best + 1, points - 1)])
    hi = np.log(top * factors[np.maximum(best - 1, 0)])
    best_scale, best_error = top * factors[best], table[best, np.arange(len(top))]
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = errors(np.exp(a)), errors(np.exp(b))
    for _ in range(refine):
        left = fa < fb  # the minimum lies in [lo, b]: b becomes hi, a becomes b
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        a, b, fa, fb = (np.where(left, hi - ratio * (hi - lo), b), np.where(left, a, lo + ratio * (hi - lo)),
                        np.where(left, np.nan, fb), np.where(left, fa, np.nan))
        fresh = errors(np.exp(np.where(left, a, b)))
        fa, fb = np.where(left, fresh, fa), np.where(left, fb, fresh)
    for candidate, error in ((np.exp(a), fa), (np.exp(b), fb)):
        better = error < best_error
        best_scale, best_error = np.where(better, candidate, best_scale), np.where(better, error, best_error)
    return best_scale


def mse_scales(groups: np.ndarray, fmt: Format | str, *, octaves: float = 12.0, points: int = 49,
               refine: int = 24, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-row scales minimising the squared error of quantizing ``groups`` (rows × members),
    each member counted ``weights`` times (default once).

    :func:`scale_search` from each row's absmax scale. All-zero rows get scale 1. Formats of
    more than 12 bits (int16, float16 …) get the absmax scale: their rounding error is so small
    that clipping never pays measurably, and their grids are too large for the bin sums to be
    cheap.
    """
    fmt = get_format(fmt)
    groups = np.asarray(groups, dtype=np.float64)
    absmax = np.abs(groups).max(axis=1)
    top = np.where(absmax > 0, absmax / fmt.max_value, 1.0)
    if fmt.bits > 12:
        return top
    best_scale = scale_search(_GroupErrors(groups, fmt, weights), top, octaves=octaves, points=points,
                              refine=refine)
    return np.where(absmax > 0, best_scale, 1.0)


def split_scale(scale) -> tuple[np.ndarray, np.ndarray]:
    """``scale = 2**exponent · residual`` with integer exponents and residuals in [1, 2).

    The power of two is what a MAC with a programmable exponent bias takes into its
    accumulator; the residual is applied after it.
    """
    s = np.asarray(scale, dtype=np.float64)
    if not (np.isfinite(s) & (s > 0)).all():
        raise ValueError(f"scales must be finite and > 0, got {s[~(np.isfinite(s) & (s > 0))].reshape(-1)[0]!r}")
    mantissa, exponent = np.frexp(s)  # s = m · 2**e, m in [0.5, 1)
    return (exponent - 1).astype(np.int64), mantissa * 2.0


def choose_scale(x, fmt: Format | str, method: str = "absmax", *, axis: int | None = None,
                 block_size: int | None = None, percentile: float = 99.99) -> np.ndarray:
    """The scale(s) for quantizing ``x`` to ``fmt`` (see the module docstring for granularity).

    All-zero groups get scale 1. Returns a 0-d array (per-tensor) or an array shaped like ``x``
    with the channel / block axis reduced to one entry per group.
    """
    fmt = get_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    if method not in SCALE_METHODS:
        raise ValueError(f"method must be one of {SCALE_METHODS}, not {method!r}")
    if block_size is not None:
        if not isinstance(block_size, (int, np.integer)) or block_size < 1:
            raise ValueError(f"block_size must be a positive integer, not {block_size!r}")
        axis = -1 if axis is None else axis
    axis = _normalize_axis(axis, x.ndim)
    if not np.isfinite(x).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(f"cannot choose a scale: non-finite value {x[where]!r} at index {where}")
    groups, ungroup = _groups(x, axis, block_size)
    absmax = np.abs(groups).max(axis=1)
    if method == "percentile":
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], not {percentile!r}")
        if block_size is not None:  # leave the zero padding of a partial last block out
            n = x.shape[axis]
            valid = (np.arange(groups.shape[0] * block_size).reshape(groups.shape) % (
                -(-n // block_size) * block_size)) < n
            mags = np.where(valid, np.abs(groups), np.nan)
            top = np.nanpercentile(mags, percentile, axis=1)
        else:
            top = np.percentile(np.abs(groups), percentile, axis=1)
        top = np.where(top > 0, top, absmax)
    else:
        top = absmax
    scale = np.where(top > 0, top / fmt.max_value, 1.0)
    if method == "mse":
        scale = mse_scales(groups, fmt)
    return ungroup(scale)


def quantize_tensor(x, fmt: Format | str, method: str = "absmax", *, axis: int | None = None,
                    block_size: int | None = None, percentile: float = 99.99) -> QuantizedTensor:
    """Choose scales with ``method`` at the given granularity and quantize (saturating)."""
    fmt = get_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    scale = choose_scale(x, fmt, method, axis=axis, block_size=block_size, percentile=percentile)
    if block_size is not None:
        axis = _normalize_axis(-1 if axis is None else axis, x.ndim)
    axis = _normalize_axis(axis, x.ndim)
    codes = quantize(x, fmt, _expand(scale, block_size, axis, x.shape))
    return QuantizedTensor(codes, fmt, scale, axis, block_size)


def _blocks(x: np.ndarray, axis: int, block_size: int):
    """``x`` in blocks along ``axis``: (groups, ungroup, elements) — the blocks as rows (a row
    shorter than one block is one block as it is: its zero padding would be cut off again),
    a function taking one value per block to the scales' layout, and one taking the rows back
    to ``x``'s layout."""
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    if 0 < n < block_size:
        groups = moved.reshape(-1, n)
        ungroup = lambda g: np.moveaxis(g.reshape(moved.shape[:-1] + (1,)), -1, axis)  # noqa: E731
    else:
        groups, ungroup = _groups(x, axis, block_size)
    width = -(-n // groups.shape[1]) * groups.shape[1]  # a row's members, padding included
    return groups, ungroup, lambda g: np.moveaxis(g.reshape(moved.shape[:-1] + (width,))[..., :n], -1, axis)


def quantize_mx(x, mx: MxFormat | str, *, axis: int = -1, pad: bool = True,
                tensor_absmax: float | None = None) -> QuantizedTensor:
    """Quantize to an MX format along ``axis`` (OCP MX v1.0 conversion), or to NVFP4.

    A block holding NaN or ±Inf gets the NaN scale (code 0xFF for E8M0, 0x7F for E4M3) and zero
    elements. ``tensor_absmax``: the magnitude NVFP4's tensor scale is taken from, when ``x`` is
    one part of the tensor (default: ``x``'s own largest finite magnitude).
    """
    mx = get_mx_format(mx)
    x = np.asarray(x, dtype=np.float64)
    axis = _normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if n % mx.block_size and not pad:
        raise ValueError(f"length {n} along axis {axis} is not a multiple of the {mx.name} block "
                         f"size {mx.block_size}; pass pad=True to pad the last block with zeros")
    groups, ungroup, elements = _blocks(x, axis, mx.block_size)
    finite = np.isfinite(groups)
    bad_groups = ~finite.all(axis=1)
    if bad_groups.any():
        groups = np.where(finite, groups, 0.0)
    absmax = np.abs(groups).max(axis=1)
    if not mx.power_of_two_scale:
        return _quantize_nvfp4(mx, axis, groups, ungroup, elements, bad_groups, absmax, tensor_absmax)
    # ⌊log2 amax⌋ exactly, from the exponent field (np.log2 rounds a value a few ulps below a power of two up to it)
    shared = np.frexp(absmax)[1].astype(np.int64) - 1 - mx.element_emax
    shared = np.clip(np.where(absmax > 0, shared, -127), -127, 127)
    scale = np.ldexp(1.0, shared)
    element_scale = scale * math.ldexp(1.0, mx.element_scale_exponent)
    codes = quantize(groups, mx.element, element_scale[:, None])
    codes[bad_groups] = 0
    scale_codes = (shared + 127).astype(np.uint8)
    scale_codes[bad_groups] = 0xFF
    scale = np.where(bad_groups, np.nan, scale)
    return QuantizedTensor(
        codes=elements(codes), format=mx.element, scale=ungroup(scale), axis=axis,
        block_size=mx.block_size, element_scale_exponent=mx.element_scale_exponent,
        scale_codes=ungroup(scale_codes))


def nvfp4_tensor_scale(mx: MxFormat, top: float) -> float:
    """NVFP4's float32 tensor scale for a tensor whose largest finite magnitude is ``top``:
    top / (6 · 448), so the largest block's E4M3 scale is near its top (1 for an all-zero tensor)."""
    top = float(top)
    return float(np.float32(top / (mx.element.max_value * mx.scale_format.max_value))) if top > 0 else 1.0


def _quantize_nvfp4(mx: MxFormat, axis: int, groups, ungroup, elements, bad_groups, absmax,
                    tensor_absmax: float | None) -> QuantizedTensor:
    """NVFP4: a float32 tensor scale, E4M3 block scales, E2M1 elements (see the module docstring)."""
    scale_fmt = mx.scale_format
    tensor_scale = nvfp4_tensor_scale(mx, float(absmax.max(initial=0.0)) if tensor_absmax is None else tensor_absmax)
    scale_codes = quantize(absmax / mx.element.max_value / tensor_scale, scale_fmt).astype(np.uint8)
    block_scale = decode(scale_codes, scale_fmt)
    zero_scale = block_scale == 0  # a block too small for the smallest E4M3 scale: its elements are 0
    element_scale = np.where(zero_scale, 1.0, block_scale) * tensor_scale
    codes = quantize(groups, mx.element, element_scale[:, None])
    codes[bad_groups | zero_scale] = 0
    scale_codes[bad_groups] = scale_fmt.nan_code
    scale = np.where(bad_groups, np.nan, block_scale * tensor_scale)
    return QuantizedTensor(
        codes=elements(codes), format=mx.element, scale=ungroup(scale), axis=axis,
        block_size=mx.block_size, scale_codes=ungroup(scale_codes), tensor_scale=tensor_scale)
