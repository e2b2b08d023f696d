"""Golden multiply-accumulate arithmetic, vectorized over many independent MACs.

The hardware in :mod:`rtl` is proven against these functions, and the accuracy studies compute
with them, so both sides share one arithmetic:

* :func:`exact_products` — the exact product of two codes as an integer multiple of a common
  power of two (no rounding, ever);
* :class:`FixedAccumulator` — a two's-complement register of a given width and LSB weight that
  wraps or saturates; with ``width=None`` it is an exact, unbounded (Kulisch) accumulator;
* :class:`FloatAccumulator` — an IEEE float16 / bfloat16 / float32 register updated as one
  fused step ``acc ← round(acc + Σ a_i·b_i)`` with a single round-to-nearest-even, subnormals
  (or flush-to-zero), Inf and NaN;
* :func:`accumulate` — one step of an N-lane dot-product unit: the N exact products summed
  exactly, then one accumulation step.

Integers stay in int64 where the widths allow and switch to Python integers (numpy object
arrays) where they do not, so every result is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rtl.errors import FieldError
from rtl.numerics.formats import Format, _fields, decode, decode_parts, get_format

__all__ = [
    "Products", "FixedAccumulator", "FloatAccumulator", "exact_products", "product_width",
    "product_lsb_exponent", "accumulator_width", "kulisch_accumulator", "zeros", "accumulate",
    "mac", "steps", "step_updates", "fold", "round_exact", "to_float", "parse_accumulator", "FLOAT_ACCUMULATORS",
    "ACCUMULATOR_SPELLINGS", "MAX_GUARD_BITS",
]

FLOAT_ACCUMULATORS = ("float16", "bfloat16", "float32")
ACCUMULATOR_SPELLINGS = ("float16", "bfloat16", "float32", "intN (e.g. int32)", "fixed", "fixed:WIDTH", "exact")
"""How an accumulator is written everywhere (CLI, sweep files, recipes): see :func:`parse_accumulator`."""
MAX_GUARD_BITS = 64  # 2**64 products: beyond any workload; wider registers are a typing accident

_INT64_BITS = 62  # headroom kept below int64's 63 magnitude bits


def product_lsb_exponent(a: Format | str, b: Format | str) -> int:
    """Every product of an ``a`` code and a ``b`` code is a multiple of ``2**this``."""
    return get_format(a).lsb_exponent + get_format(b).lsb_exponent


def product_width(a: Format | str, b: Format | str) -> int:
    """Bits of a two's-complement integer holding any exact product in units of its LSB.

    The largest magnitude is ``max|a| · max|b|`` over the smallest non-zero magnitudes; one bit
    is added for the sign (also for unsigned operands, so accumulators are always signed).
    """
    a, b = get_format(a), get_format(b)
    largest = (round(a.max_magnitude / a.min_subnormal)) * round(b.max_magnitude / b.min_subnormal)
    return largest.bit_length() + 1


def accumulator_width(a: Format | str, b: Format | str, guard_bits: int = 12) -> int:
    """Exact fixed-point accumulator width: product width plus ``guard_bits`` for 2**guard terms.

    INT8 (±127) gives 15 + 12 = 27 bits, OCP float8_e4m3fn 37 + 12 = 49, float8_e5m2 65 + 12 = 77.
    """
    if not isinstance(guard_bits, int) or isinstance(guard_bits, bool) or not 0 <= guard_bits <= MAX_GUARD_BITS:
        raise FieldError("guard_bits", f"guard_bits must be an integer in 0..{MAX_GUARD_BITS}, not {guard_bits!r}",
                         guard_bits)
    return product_width(a, b) + guard_bits


@dataclass(frozen=True, eq=False)
class Products:
    """Exact products: ``value = multiple · 2**lsb_exponent``.

    ``multiple`` holds signed integers (int64, or Python ints in an object array when they may
    exceed 62 bits); it is 0 where the product is NaN or infinite. ``inf`` is +1/−1 for ±Inf,
    ``negative_zero`` marks zero products with a negative sign (IEEE: +0 · −1 = −0). ``width``
    is the bound of :func:`product_width`.
    """

    multiple: np.ndarray
    lsb_exponent: int
    width: int
    nan: np.ndarray
    inf: np.ndarray
    negative_zero: np.ndarray

    @property
    def values(self) -> np.ndarray:
        """Exact float64 values (float64 holds every product of formats up to 16 bits)."""
        v = np.ldexp(self.multiple.astype(np.float64), self.lsb_exponent)
        v = np.where(self.negative_zero, -0.0, v)
        v = np.where(self.inf != 0, self.inf * np.inf, v)
        return np.where(self.nan, np.nan, v)


def _sign(fmt: Format, codes) -> np.ndarray:
    _, sign, _, _ = _fields(fmt, codes)
    return sign


def exact_products(a_fmt: Format | str, a_codes, b_fmt: Format | str, b_codes) -> Products:
    """Exact products of code pairs (broadcast against each other)."""
    a_fmt, b_fmt = get_format(a_fmt), get_format(b_fmt)
    a_codes, b_codes = np.broadcast_arrays(np.asarray(a_codes), np.asarray(b_codes))
    sa, ea, nan_a, inf_a = decode_parts(a_fmt, a_codes)
    sb, eb, nan_b, inf_b = decode_parts(b_fmt, b_codes)
    zero_a, zero_b = (sa == 0) & ~nan_a, (sb == 0) & ~nan_b
    nan = nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)
    inf = ~nan & (inf_a | inf_b)
    negative = _sign(a_fmt, a_codes) ^ _sign(b_fmt, b_codes)
    special = nan | inf | nan_a | nan_b
    sa, sb = np.where(special, 0, sa), np.where(special, 0, sb)
    shift = (ea - a_fmt.lsb_exponent) + (eb - b_fmt.lsb_exponent)
    shift = np.where(special, 0, shift)
    width = product_width(a_fmt, b_fmt)
    if width > _INT64_BITS:
        multiple = (sa.astype(object) * sb.astype(object)) << shift.astype(object)
    else:
        multiple = (sa * sb) << shift
    return Products(
        multiple=multiple, lsb_exponent=a_fmt.lsb_exponent + b_fmt.lsb_exponent, width=width,
        nan=nan, inf=np.where(inf, np.where(negative, -1, 1), 0).astype(np.int8),
        negative_zero=~special & (sa * sb == 0) & negative,
    )


# ----- accumulators -----------------------------------------------------------------------
@dataclass(frozen=True)
class FixedAccumulator:
    """Two's-complement accumulator register.

    Parameters
    ----------
    width : register bits, or None for an exact unbounded (Kulisch) accumulator.
    lsb_exponent : the register's LSB weighs ``2**lsb_exponent``; it must not exceed the product
        LSB, so every product is an exact integer multiple.
    overflow : ``"wrap"`` (modulo 2**width) or ``"saturate"`` (clamp to the register range).

    Non-finite products (NaN or Inf operands of a float format) have no encoding here and add 0.
    """

    width: int | None
    lsb_exponent: int = 0
    overflow: str = "wrap"

    def __post_init__(self):
        if self.width is not None and (not isinstance(self.width, int) or self.width < 2):
            raise ValueError(f"width must be an integer ≥ 2 or None, not {self.width!r}")
        if not isinstance(self.lsb_exponent, int):
            raise ValueError(f"lsb_exponent must be an integer, not {self.lsb_exponent!r}")
        if self.overflow not in ("wrap", "saturate"):
            raise ValueError(f"overflow must be 'wrap' or 'saturate', not {self.overflow!r}")

    @property
    def name(self) -> str:
        return "kulisch" if self.width is None else f"fixed{self.width}"


@dataclass(frozen=True)
class FloatAccumulator:
    """IEEE floating-point accumulator register holding the format's bit pattern.

    ``flush_to_zero`` replaces a subnormal result of a step by a zero of the same sign.
    """

    format: Format
    flush_to_zero: bool = False

    def __post_init__(self):
        fmt = get_format(self.format)
        object.__setattr__(self, "format", fmt)
        if not (fmt.is_float and fmt.special == "ieee" and fmt.signed):
            raise ValueError(f"a float accumulator needs an IEEE format with Inf and NaN "
                             f"(float16, bfloat16, float32), not {fmt.name}")

    @property
    def name(self) -> str:
        return self.format.name + ("_ftz" if self.flush_to_zero else "")


def kulisch_accumulator(a: Format | str, b: Format | str, guard_bits: int = 12,
                        overflow: str = "wrap") -> FixedAccumulator:
    """The exact fixed-point accumulator for ``a × b`` products with ``guard_bits`` of headroom."""
    return FixedAccumulator(accumulator_width(a, b, guard_bits), product_lsb_exponent(a, b), overflow)


def parse_accumulator(text: str, a: Format | str, b: Format | str, *, flush_to_zero: bool = False,
                      saturate: bool = False, guard_bits: int = 12) -> "FixedAccumulator | FloatAccumulator":
    """The accumulator an ``a × b`` MAC sums into, from its one spelling.

    ``float16`` / ``bfloat16`` / ``float32``: an IEEE register (``flush_to_zero`` flushes
    subnormal results); ``intN``: an N-bit two's-complement register whose LSB is the product
    LSB; ``fixed``: the exact width for ``2**guard_bits`` products; ``fixed:WIDTH``: a given
    width; ``exact``: an unbounded Kulisch register (a golden model only — no hardware has it).
    Fixed registers wrap, or clamp with ``saturate``.
    """
    a, b = get_format(a), get_format(b)
    if not isinstance(text, str):
        raise FieldError("acc", f"accumulator must be one of {', '.join(ACCUMULATOR_SPELLINGS)}, not {text!r}", text)
    overflow = "saturate" if saturate else "wrap"
    lsb = product_lsb_exponent(a, b)
    if text in FLOAT_ACCUMULATORS:
        if saturate:
            raise FieldError("saturate", f"saturate applies to fixed accumulators, not {text}", saturate)
        return FloatAccumulator(get_format(text), flush_to_zero=flush_to_zero)
    if flush_to_zero:
        raise FieldError("flush_to_zero", f"flush-to-zero applies to float accumulators, not {text!r}", flush_to_zero)
    if text == "exact":
        return FixedAccumulator(None, lsb, overflow)
    if text == "fixed":
        return FixedAccumulator(accumulator_width(a, b, guard_bits), lsb, overflow)
    match = re.fullmatch(r"(?:fixed:|int)(-?\d+)", text)
    if match:
        width = int(match.group(1))
        need = product_width(a, b)
        if width < 2:
            raise FieldError("acc", f"accumulator {text!r}: a register needs at least 2 bits, not {width}", text)
        if width > need + MAX_GUARD_BITS:
            raise FieldError("acc", f"accumulator {text!r}: {width} bits is more than an exact {a.name} × {b.name} "
                                    f"accumulator of 2**{MAX_GUARD_BITS} products needs ({need + MAX_GUARD_BITS})", text)
        return FixedAccumulator(width, lsb, overflow)
    raise FieldError("acc", f"unknown accumulator {text!r}: use {', '.join(ACCUMULATOR_SPELLINGS)}", text)


def zeros(acc: FixedAccumulator | FloatAccumulator, shape=()) -> np.ndarray:
    """A cleared accumulator state (+0)."""
    if isinstance(acc, FloatAccumulator):
        return np.zeros(shape, acc.format.code_dtype)
    if acc.width is None or acc.width > _INT64_BITS:
        return np.zeros(shape, object)
    return np.zeros(shape, np.int64)


def _lanes_bits(products: Products) -> int:
    lanes = products.multiple.shape[-1] if products.multiple.ndim else 1
    return max(lanes - 1, 0).bit_length()


def _accumulate_fixed(acc: FixedAccumulator, state, p: Products):
    shift = p.lsb_exponent - acc.lsb_exponent
    if shift < 0:
        raise ValueError(f"accumulator LSB 2**{acc.lsb_exponent} is coarser than the product "
                         f"LSB 2**{p.lsb_exponent}: products would not be exact multiples")
    width = acc.width if acc.width is not None else 10**6
    need = max(width, p.width + shift) + _lanes_bits(p) + 1
    wide = need > _INT64_BITS or p.multiple.dtype == object or state.dtype == object
    terms = p.multiple.astype(object) if wide else p.multiple
    total = np.sum(terms << shift, axis=-1) + (state.astype(object) if wide else state)
    total = np.asarray(total, dtype=object if wide else np.int64)
    if acc.width is None:
        return total
    half = 1 << (acc.width - 1)
    if acc.overflow == "wrap":
        return (total + half) % (1 << acc.width) - half
    return np.minimum(np.maximum(total, -half), half - 1)


def _bit_length(m: np.ndarray) -> np.ndarray:
    if m.dtype == object:
        return np.asarray(np.frompyfunc(int.bit_length, 1, 1)(m)).astype(np.int64)
    bl = np.frexp(m.astype(np.float64))[1].astype(np.int64)
    # the float conversion may round up to the next power of two
    too_big = (bl > 0) & ((m >> np.maximum(bl - 1, 0)) == 0)
    return bl - too_big


def _shift_round_half_even(m: int, shift: int) -> int:
    if shift <= 0:
        return m << -shift
    r = m >> shift
    rem = m - (r << shift)
    half = 1 << (shift - 1)
    return r + (rem > half or (rem == half and r & 1))


_shift_round_object = np.frompyfunc(_shift_round_half_even, 2, 1)


def _shift_round_int64(m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    right = np.clip(shift, 0, 62)
    r = m >> right
    rem = m - (r << right)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    up = (right > 0) & ((rem > half) | ((rem == half) & (r & 1 == 1)))
    r = np.where(shift > 62, 0, r + up)  # m < 2**62, so a longer shift leaves nothing
    return np.where(shift < 0, m << np.clip(-shift, 0, 62), r)


def round_exact(fmt: Format | str, negative, magnitude, lsb_exponent: int,
                flush_to_zero: bool = False) -> np.ndarray:
    """Codes of ``±magnitude · 2**lsb_exponent`` rounded once to nearest, ties to even.

    ``magnitude`` holds non-negative integers (int64 or Python ints). Overflow gives ±Inf as
    IEEE rounding does (anything at or beyond max + half an ulp); zero keeps the given sign.
    """
    fmt = get_format(fmt)
    negative = np.asarray(negative, bool)
    magnitude = np.asarray(magnitude)
    if magnitude.dtype != object and magnitude.dtype != np.int64:
        magnitude = magnitude.astype(object if magnitude.dtype.kind == "u" else np.int64)
    m_bits = fmt.man_bits
    bl = _bit_length(magnitude)
    q = np.maximum(bl - 1 + lsb_exponent, fmt.emin) - m_bits
    shift = q - lsb_exponent
    if magnitude.dtype == object:
        r = np.asarray(_shift_round_object(magnitude, shift.astype(object))).astype(np.int64)
    else:
        r = _shift_round_int64(magnitude.astype(np.int64), shift)
    carry = r >> (m_bits + 1)  # rounding up to the next binade
    r, q = r >> carry, q + carry
    sub = r < (1 << m_bits)
    if flush_to_zero:
        r = np.where(sub, 0, r)
    field = np.where(sub, 0, q + m_bits + fmt.bias)
    code = (field << m_bits) | np.where(sub, r, r - (1 << m_bits))
    top = (1 << fmt.exp_bits) - 1
    code = np.where(field >= top, top << m_bits, code)  # overflow → Inf
    return (code | (negative.astype(np.int64) << (fmt.bits - 1))).astype(fmt.code_dtype)


def _accumulate_float(acc: FloatAccumulator, state, p: Products, bias):
    fmt = acc.format
    s_sig, s_exp, s_nan, s_inf = decode_parts(fmt, state)
    s_neg = _sign(fmt, state)
    nan = s_nan | p.nan.any(axis=-1)
    pos_inf = (s_inf & ~s_neg) | (p.inf == 1).any(axis=-1)
    neg_inf = (s_inf & s_neg) | (p.inf == -1).any(axis=-1)
    nan |= pos_inf & neg_inf
    s_sig = np.where(s_nan | s_inf, 0, s_sig)
    acc_lsb = fmt.emin - fmt.man_bits
    bias = np.broadcast_to(np.asarray(bias, dtype=np.int64), state.shape)
    low, high = (int(bias.min()), int(bias.max())) if bias.size else (0, 0)
    lsb = min(p.lsb_exponent + low, acc_lsb)
    top = max(fmt.emax + 1, p.width - 1 + p.lsb_exponent + high) - lsb
    wide = top + _lanes_bits(p) + 2 > _INT64_BITS or p.multiple.dtype == object
    terms = p.multiple.astype(object) if wide else p.multiple
    s_term = (s_sig.astype(object) if wide else s_sig) << (s_exp - lsb).astype(object if wide else np.int64)
    shift = (p.lsb_exponent + bias - lsb)[..., None]
    total = np.sum(terms << (shift.astype(object) if wide else shift), axis=-1) + s_term
    total = np.asarray(total, dtype=object if wide else np.int64)  # 0-d sums come back as scalars
    all_negative_zero = (s_sig == 0) & s_neg & p.negative_zero.all(axis=-1)
    negative = np.where(total == 0, all_negative_zero, total < 0).astype(bool)
    magnitude = np.asarray(np.abs(total), dtype=total.dtype)
    code = round_exact(fmt, negative, magnitude, lsb, acc.flush_to_zero).astype(np.int64)
    inf_code = ((1 << fmt.exp_bits) - 1) << fmt.man_bits
    code = np.where(neg_inf, inf_code | (1 << (fmt.bits - 1)), code)
    code = np.where(pos_inf, inf_code, code)
    code = np.where(nan, fmt.nan_code, code)  # canonical quiet NaN, sign 0
    return code.astype(fmt.code_dtype)


def accumulate(acc: FixedAccumulator | FloatAccumulator, state, products: Products, bias=0) -> np.ndarray:
    """One step: ``state ⊕ Σ_lanes products · 2**bias``; lanes are the last axis of ``products``.

    The lane products are summed exactly, then added to the register with the accumulator's
    semantics (one rounding for a float accumulator; wrap or saturate for a fixed one).
    ``bias`` (an integer, or one per accumulator) is the programmable exponent offset of a MAC
    with ``bias = "power_of_two"``: the power of two of the operands' scales, added to every
    product's exponent before the one rounding. Only float accumulators have it.
    """
    state = np.asarray(state)
    if products.multiple.shape[:-1] != state.shape:
        raise ValueError(f"products of shape {products.multiple.shape} (…, lanes) do not match "
                         f"an accumulator state of shape {state.shape}")
    if isinstance(acc, FloatAccumulator):
        return _accumulate_float(acc, state, products, bias)
    if isinstance(acc, FixedAccumulator):
        if np.any(np.asarray(bias) != 0):
            raise FieldError("bias", "an exponent bias applies to float accumulators; a fixed register's LSB is "
                                     "fixed (apply the scale after the MAC)", bias)
        return _accumulate_fixed(acc, state, products)
    raise TypeError(f"acc must be a FixedAccumulator or FloatAccumulator, not {type(acc).__name__}")


def step_updates(acc: FixedAccumulator | FloatAccumulator, a_fmt: Format | str, a_codes,
                 b_fmt: Format | str, b_codes, *, clear=None, enable=None, bias=0):
    """What each cycle of a sequence asks of the register: ``None`` for a cycle with ``enable``
    false, else ``(clear, add)`` — whether the step starts from zero, and the function taking the
    register's state to its state after the step. :func:`steps` folds them into one register;
    :func:`rtl.numerics.interleave.ring_steps` deals them round-robin to interleaved ones."""
    a_codes, b_codes = np.broadcast_arrays(np.asarray(a_codes), np.asarray(b_codes))
    if a_codes.ndim < 2:
        raise ValueError(f"codes must have shape (steps, …, lanes), got {a_codes.shape}")
    bias = np.broadcast_to(np.asarray(bias, dtype=np.int64), a_codes.shape[:-1])
    for t, (a_step, b_step) in enumerate(zip(a_codes, b_codes)):
        if enable is None or enable[t]:
            yield (clear is not None and bool(clear[t]),
                   lambda state, a_step=a_step, b_step=b_step, t=t:
                   accumulate(acc, state, exact_products(a_fmt, a_step, b_fmt, b_step), bias[t]))
        else:
            yield None


def fold(acc: FixedAccumulator | FloatAccumulator, shape, updates, initial=None):
    """One register through a sequence of :func:`step_updates`: its state after every cycle."""
    state = zeros(acc, shape) if initial is None else np.asarray(initial)
    for update in updates:
        if update is not None:
            state = update[1](zeros(acc, shape) if update[0] else state)
        yield state


def steps(acc: FixedAccumulator | FloatAccumulator, a_fmt: Format | str, a_codes,
          b_fmt: Format | str, b_codes, *, clear=None, enable=None, initial=None, bias=0):
    """The register after every step of a sequence: codes of shape ``(steps, …, lanes)``.

    ``clear[t]`` starts step ``t`` from zero (the hardware's ``clear``); a step with
    ``enable[t]`` false leaves the register as it is (``en``). Both default to the plain MAC.
    ``bias`` (see :func:`accumulate`) broadcasts against ``(steps, …)``.
    """
    shape = np.broadcast_shapes(np.shape(a_codes), np.shape(b_codes))[1:-1]
    return fold(acc, shape, step_updates(acc, a_fmt, a_codes, b_fmt, b_codes, clear=clear, enable=enable,
                                         bias=bias), initial)


def mac(acc: FixedAccumulator | FloatAccumulator, a_fmt: Format | str, a_codes,
        b_fmt: Format | str, b_codes, initial=None, *, clear=None, bias=0) -> np.ndarray:
    """Run a whole sequence (see :func:`steps`); returns the final state."""
    state = zeros(acc, np.shape(a_codes)[1:-1]) if initial is None else np.asarray(initial)
    for state in steps(acc, a_fmt, a_codes, b_fmt, b_codes, clear=clear, initial=initial, bias=bias):
        pass
    return state


def to_float(acc: FixedAccumulator | FloatAccumulator, state) -> np.ndarray:
    """The register's value as float64 (exact for float accumulators; rounded for wide fixed)."""
    state = np.asarray(state)
    if isinstance(acc, FloatAccumulator):
        return decode(state, acc.format)
    return np.ldexp(state.astype(np.float64), acc.lsb_exponent)
