"""Golden block-scaled dot products: OCP MX v1.0 (MXFP8/6/4, MXINT8) and NVFP4.

A block-scaled dot-product unit multiplies two vectors of ``B`` elements (B = 32 for MX, 16 for
NVFP4) that each carry one block scale, and accumulates into an IEEE register. One block step is

    acc ← round(acc + X_a · X_b · Σ_{i<B} P_i · Q_i)

with the element products and their sum exact (integers in units of the product LSB), the two
scales applied exactly — E8M0 scales are powers of two, ``2**(code − 127)``, an exponent add;
E4M3 scales (NVFP4) are multiplied, their 4-bit significands in a small multiplier — and **one**
round-to-nearest-even per block into float32 / bfloat16 / float16 (subnormals, or flush to zero).
The unit may take the block's elements ``lanes`` at a time (a divisor of B): the partial sum is
held exactly across the block's cycles, so the numerics do not depend on ``lanes``.

Specials, as the OCP MX specification and IEEE addition give them:

* a NaN scale (E8M0 ``0xFF``; E4M3 ``0x7F`` / ``0xFF``) makes the block's contribution NaN, so the
  register becomes the canonical NaN;
* NaN elements (E4M3 ``S.1111.111``, E5M2 NaNs) make the block NaN; Inf elements (E5M2) make it
  ±Inf, both signs NaN, and ``Inf · 0`` is NaN as in the scalar MAC;
* MXINT8 elements are int8 codes weighing ``2**-6`` each (products ``2**-12``), folded into the
  exponent;
* overflow of the rounded sum gives ±Inf (IEEE), and an Inf in the register stays until cleared;
* a block whose every product is −0 adds −0 (so −0 + −0 stays −0); an E4M3 scale's sign bit is
  not read (NVFP4 scales are positive; the unit takes the magnitude), and a zero scale makes a
  finite block add +0 (−0 where every product is −0).

NVFP4's float32 tensor scale is applied outside the unit, after the dot product, like any
tensor scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtl.errors import FieldError
from rtl.numerics import arith
from rtl.numerics.arith import FloatAccumulator, Products, exact_products
from rtl.numerics.formats import decode_parts
from rtl.numerics.scaling import MX_FORMATS, MxFormat, get_mx_format

__all__ = ["BlockScaling", "scale_parts", "block_products", "block_accumulate", "block_updates", "block_steps", "block_dot"]


@dataclass(frozen=True)
class BlockScaling:
    """The block formats of a block-scaled unit's two operands.

    Both are MX formats with E8M0 scales, or both NVFP4: the same block size and the same scale
    format (a product of an E8M0-scaled and an E4M3-scaled block has no defined meaning).
    """

    a: MxFormat
    b: MxFormat

    def __post_init__(self):
        for field in ("a", "b"):
            value = getattr(self, field)
            if isinstance(value, str) and value not in MX_FORMATS:
                raise FieldError(field, f"unknown block format {value!r}; valid: {', '.join(MX_FORMATS)}", value)
            object.__setattr__(self, field, get_mx_format(value))
        if self.a.block_size != self.b.block_size or self.a.scale_format != self.b.scale_format:
            raise FieldError("b", f"{self.a.name} ({self.a.block_size} elements, {self.a.scale_format.name} scale) "
                                  f"and {self.b.name} ({self.b.block_size}, {self.b.scale_format.name}) cannot "
                                  "share a dot product: both operands need the same block size and scale format",
                             self.b.name)

    @property
    def block_size(self) -> int:
        return self.a.block_size

    @property
    def scale_format(self):
        return self.a.scale_format

    @property
    def element_scale_exponent(self) -> int:
        """The elements' implicit power of two (MXINT8: −6 per operand), on every product."""
        return self.a.element_scale_exponent + self.b.element_scale_exponent

    @property
    def scale_product_width(self) -> int:
        """Bits of the unsigned product of the two scales' significands (1 for E8M0)."""
        return 1 if self.a.power_of_two_scale else 2 * (self.scale_format.man_bits + 1)

    def describe(self) -> dict:
        return {"a": self.a.name, "b": self.b.name, "block_size": self.block_size,
                "scale": self.scale_format.name, "element_scale_exponent": self.element_scale_exponent}


def scale_parts(fmt, codes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(significand, exponent, NaN) of block scale codes: |value| = sig · 2**exp (the sign bit
    of an E4M3 scale is not read)."""
    sig, exp, nan, _ = decode_parts(fmt, np.asarray(codes, np.int64))
    return np.where(nan, 0, np.abs(sig)), np.where(nan, 0, exp), nan


def block_products(scaling: BlockScaling, a_codes, b_codes, scale_a, scale_b) -> tuple[Products, np.ndarray]:
    """One block's contribution as a one-lane :class:`~rtl.numerics.arith.Products` and the
    exponent offset it carries: ``a_codes`` / ``b_codes`` (…, B) element codes, ``scale_a`` /
    ``scale_b`` (…) scale codes. The multiple is ``Σ P_i·Q_i · sig_a · sig_b`` exactly."""
    p = exact_products(scaling.a.element, a_codes, scaling.b.element, b_codes)
    sig_a, exp_a, nan_a = scale_parts(scaling.scale_format, scale_a)
    sig_b, exp_b, nan_b = scale_parts(scaling.scale_format, scale_b)
    lanes = p.multiple.shape[-1]
    width = p.width + max(lanes - 1, 0).bit_length() + scaling.scale_product_width
    wide = width > 62 or p.multiple.dtype == object
    total = np.sum(p.multiple.astype(object) if wide else p.multiple, axis=-1)
    factor = sig_a * sig_b
    multiple = np.asarray(total * (factor.astype(object) if wide else factor), dtype=object if wide else np.int64)
    scale_zero = factor == 0
    pos_inf, neg_inf = (p.inf == 1).any(axis=-1), (p.inf == -1).any(axis=-1)
    nan = p.nan.any(axis=-1) | nan_a | nan_b | (pos_inf & neg_inf) | ((pos_inf | neg_inf) & scale_zero)
    inf = np.where(nan, 0, np.where(pos_inf, 1, np.where(neg_inf, -1, 0)))
    negative_zero = p.negative_zero.all(axis=-1) & ~nan & (inf == 0)
    one = lambda x: np.asarray(x)[..., None]
    products = Products(multiple=one(np.where(nan | (inf != 0), 0, multiple)).astype(multiple.dtype),
                        lsb_exponent=p.lsb_exponent + scaling.element_scale_exponent, width=width,
                        nan=one(nan), inf=one(inf).astype(np.int8), negative_zero=one(negative_zero))
    return products, (exp_a + exp_b).astype(np.int64)


def block_accumulate(acc: FloatAccumulator, scaling: BlockScaling, state, a_codes, b_codes, scale_a,
                     scale_b) -> np.ndarray:
    """One block step: ``state`` (…) after adding the block of ``a_codes`` / ``b_codes`` (…, B)."""
    _check(acc, scaling, np.shape(a_codes)[-1])
    products, bias = block_products(scaling, a_codes, b_codes, scale_a, scale_b)
    return arith.accumulate(acc, np.asarray(state), products, bias)


def _check(acc, scaling: BlockScaling, elements: int) -> None:
    if not isinstance(acc, FloatAccumulator):
        raise FieldError("acc", "a block-scaled unit accumulates into float16, bfloat16 or float32, not "
                                f"{getattr(acc, 'name', acc)}", getattr(acc, "name", acc))
    if elements != scaling.block_size:
        raise ValueError(f"a {scaling.a.name} block has {scaling.block_size} elements, not {elements}")


def block_updates(acc: FloatAccumulator, scaling: BlockScaling, a_codes, b_codes, scale_a, scale_b, *,
                  clear=None, enable=None):
    """What each cycle of a unit taking ``lanes`` element pairs a cycle asks of its register
    (see :func:`rtl.numerics.arith.step_updates`): ``(clear, add)`` on a block's last chunk,
    ``None`` on every other cycle. Arguments as :func:`block_steps`."""
    a_codes, b_codes = np.broadcast_arrays(np.asarray(a_codes), np.asarray(b_codes))
    lanes = a_codes.shape[-1]
    if scaling.block_size % lanes:
        raise FieldError("lanes", f"lanes must divide the {scaling.block_size}-element block of {scaling.a.name}, "
                                  f"not {lanes}", lanes)
    chunks = scaling.block_size // lanes
    _check(acc, scaling, scaling.block_size)
    held_a, held_b = [], []
    for t in range(len(a_codes)):
        if enable is None or enable[t]:
            held_a.append(a_codes[t])
            held_b.append(b_codes[t])
            if len(held_a) == chunks:
                block_a, block_b = np.concatenate(held_a, axis=-1), np.concatenate(held_b, axis=-1)
                sa, sb = np.asarray(scale_a)[t], np.asarray(scale_b)[t]
                held_a, held_b = [], []
                yield (clear is not None and bool(clear[t]),
                       lambda state, block_a=block_a, block_b=block_b, sa=sa, sb=sb:
                       block_accumulate(acc, scaling, state, block_a, block_b, sa, sb))
                continue
        yield None


def block_steps(acc: FloatAccumulator, scaling: BlockScaling, a_codes, b_codes, scale_a, scale_b, *,
                clear=None, enable=None, initial=None):
    """The register after every cycle of a unit taking ``lanes`` element pairs a cycle.

    ``a_codes`` / ``b_codes`` (cycles, …, lanes); ``scale_a``, ``scale_b`` (cycles, …);
    ``clear`` and ``enable`` (cycles,). Enabled cycles are the block's chunks in order; on a
    block's last chunk (every ``B / lanes``-th enabled cycle) the register takes the block, with
    the scales and ``clear`` of that cycle. Other cycles leave it unchanged.
    """
    shape = np.broadcast_shapes(np.shape(a_codes), np.shape(b_codes))[1:-1]
    return arith.fold(acc, shape, block_updates(acc, scaling, a_codes, b_codes, scale_a, scale_b, clear=clear,
                                                enable=enable), initial)


def block_dot(acc: FloatAccumulator, scaling: BlockScaling, a_codes, b_codes, scale_a, scale_b,
              initial=None) -> np.ndarray:
    """A whole dot product of ``K`` elements (K a multiple of B), block after block: ``a_codes``,
    ``b_codes`` (…, K), ``scale_a``, ``scale_b`` (…, K / B). Returns the register (…)."""
    a_codes, b_codes = np.broadcast_arrays(np.asarray(a_codes), np.asarray(b_codes))
    size = scaling.block_size
    k = a_codes.shape[-1]
    if k % size:
        raise ValueError(f"a dot product of {scaling.a.name} blocks needs a multiple of {size} elements, not {k}")
    scale_a, scale_b = np.broadcast_arrays(np.asarray(scale_a), np.asarray(scale_b))
    state = arith.zeros(acc, a_codes.shape[:-1]) if initial is None else np.asarray(initial)
    for j in range(k // size):
        state = block_accumulate(acc, scaling, state, a_codes[..., j * size:(j + 1) * size],
                                 b_codes[..., j * size:(j + 1) * size], scale_a[..., j], scale_b[..., j])
    return state
