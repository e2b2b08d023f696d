"""Number formats: the table, exact encode/decode, and quantization.

Every format is a frozen :class:`Format` named as ml_dtypes names it (``float8_e4m3fn``, never a
bare "fp8"). A *code* is the format's bit pattern held in an unsigned integer (``uint8`` for
formats of up to 8 bits, ``uint16`` up to 16, ``uint32`` up to 32); integer formats store two's
complement. Decoding is exact (float64 holds every value of every format here), and
:func:`quantize` rounds ``x / scale`` to nearest, ties to even, with saturation by default.

This module imports only numpy, so the accuracy studies compute with the very numerics the
hardware implements.
"""

from __future__ import annotations

import difflib
import functools
import math
import types
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Format", "FORMATS", "WHITEPAPER_FP8", "get_format", "closest_names",
    "decode", "encode", "quantize", "quantized_values", "dequantize", "fake_quantize", "finite_values",
]

_SPECIALS = ("ieee", "fn", "fnuz", "none")


@dataclass(frozen=True)
class Format:
    """One scalar number format.

    Parameters
    ----------
    name : ml_dtypes spelling (``int8``, ``float8_e4m3fn``, ...).
    bits : total width of a code.
    kind : ``"int"`` or ``"float"``.
    signed : whether codes carry a sign (two's complement for ints, a sign bit for floats).
    exp_bits, man_bits : exponent and stored-mantissa widths (ints: 0 and the value bits).
    bias : exponent bias (ints: 0).
    special : special-value convention. ``ieee``: the top exponent holds Inf (mantissa 0) and NaN;
        ``fn``: no Inf, NaN only where exponent and mantissa are all ones; ``fnuz``: no Inf, no
        negative zero, NaN is the single code with only the sign bit set; ``none``: every code is
        finite (FP6, FP4, integers).
    symmetric : integers only; the most negative code is excluded so the range is
        ``±(2**(bits-1) - 1)``.
    subnormals : floats only; ``False`` means exponent field 0 is an ordinary binade and the
        format has no zero (``float8_e8m0fnu``).
    """

    name: str
    bits: int
    kind: str
    signed: bool
    exp_bits: int
    man_bits: int
    bias: int
    special: str
    symmetric: bool = False
    subnormals: bool = True

    def __post_init__(self):
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 32:
            raise ValueError(f"Format {self.name!r}: bits must be an integer in 1..32, not {self.bits!r}")
        if self.kind not in ("int", "float"):
            raise ValueError(f"Format {self.name!r}: kind must be 'int' or 'float', not {self.kind!r}")
        if self.special not in _SPECIALS:
            raise ValueError(f"Format {self.name!r}: special must be one of {_SPECIALS}, not {self.special!r}")
        if self.exp_bits + self.man_bits + int(self.signed) != self.bits:
            raise ValueError(
                f"Format {self.name!r}: sign + exp_bits + man_bits = "
                f"{int(self.signed) + self.exp_bits + self.man_bits}, but bits = {self.bits}")
        if self.kind == "int" and (self.exp_bits or self.special != "none" or self.bias):
            raise ValueError(f"Format {self.name!r}: integer formats have no exponent, bias or specials")
        if self.symmetric and (self.kind != "int" or not self.signed):
            raise ValueError(f"Format {self.name!r}: only signed integer formats can be symmetric")

    # ----- derived properties -------------------------------------------------------------
    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def code_dtype(self) -> np.dtype:
        """Unsigned dtype that holds one code."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16 if self.bits <= 16 else np.uint32)

    @property
    def has_inf(self) -> bool:
        return self.special == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.special in ("ieee", "fn", "fnuz")

    @property
    def has_negative_zero(self) -> bool:
        return self.is_float and self.signed and self.special != "fnuz" and self.subnormals

    @property
    def emin(self) -> int:
        """Unbiased exponent of the smallest normal binade (floats)."""
        return (1 if self.subnormals else 0) - self.bias

    @property
    def emax(self) -> int:
        """Unbiased exponent of the largest finite binade (floats)."""
        top = (1 << self.exp_bits) - 1
        if self.special == "ieee" or (self.special == "fn" and self.man_bits == 0):
            top -= 1
        return top - self.bias

    @property
    def max_value(self) -> float:
        """Largest finite value."""
        if self.kind == "int":
            return float((1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1)
        top_mantissa = (1 << self.man_bits) - 1
        if self.special == "fn" and self.man_bits > 0:
            top_mantissa -= 1  # the all-ones mantissa of the top binade is NaN
        return math.ldexp((1 << self.man_bits) + top_mantissa, self.emax - self.man_bits)

    @property
    def min_value(self) -> float:
        """Most negative finite value (0 or the smallest positive value for unsigned formats)."""
        if not self.signed:
            return 0.0 if self.subnormals else self.min_subnormal
        if self.kind == "int" and not self.symmetric:
            return -float(1 << (self.bits - 1))
        return -self.max_value

    @property
    def max_magnitude(self) -> float:
        """Largest finite magnitude (128 for int8, whose most negative value is −128)."""
        return max(self.max_value, -self.min_value)

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value (1 for integers)."""
        return 1.0 if self.kind == "int" else math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value (1 for integers)."""
        if self.kind == "int":
            return 1.0
        return math.ldexp(1.0, self.emin - (self.man_bits if self.subnormals else 0))

    @property
    def lsb_exponent(self) -> int:
        """Every finite value is an integer multiple of ``2**lsb_exponent``."""
        return round(math.log2(self.min_subnormal))

    @property
    def finite_count(self) -> int:
        """Number of distinct finite values (±0 counted once)."""
        codes = 1 << self.bits
        if self.kind == "int":
            return codes - int(self.symmetric)
        non_finite = {"ieee": 2 << self.man_bits if self.signed else 1 << self.man_bits,
                      "fn": 2 if self.signed else 1, "fnuz": 1, "none": 0}[self.special]
        return codes - non_finite - int(self.has_negative_zero)

    @property
    def nan_code(self) -> int | None:
        """The canonical NaN code (quiet NaN, sign 0), or None."""
        if self.special == "ieee":
            return ((1 << self.exp_bits) - 1) << self.man_bits | (1 << (self.man_bits - 1))
        if self.special == "fn":
            return (1 << (self.exp_bits + self.man_bits)) - 1
        if self.special == "fnuz":
            return 1 << (self.bits - 1)
        return None

    def describe(self) -> dict:
        """The table row: the fields `hwmodel formats` prints."""
        return {
            "name": self.name, "kind": self.kind, "bits": self.bits, "signed": self.signed,
            "exp_bits": self.exp_bits, "man_bits": self.man_bits, "bias": self.bias,
            "special": self.special, "min": self.min_value, "max": self.max_value,
            "min_normal": self.min_normal,
            "min_subnormal": self.min_subnormal, "finite_values": self.finite_count,
        }


def _int(name: str, bits: int, *, signed: bool = True, symmetric: bool = False) -> Format:
    return Format(name, bits, "int", signed, 0, bits - int(signed), 0, "none", symmetric=symmetric)


def _float(name, exp_bits, man_bits, bias, special, *, signed=True, subnormals=True) -> Format:
    return Format(name, exp_bits + man_bits + int(signed), "float", signed, exp_bits, man_bits,
                  bias, special, subnormals=subnormals)


def _build_table() -> dict[str, Format]:
    table: dict[str, Format] = {}
    for bits in range(2, 17):
        table[f"int{bits}"] = _int(f"int{bits}", bits)
        table[f"int{bits}_sym"] = _int(f"int{bits}_sym", bits, symmetric=True)
        table[f"uint{bits}"] = _int(f"uint{bits}", bits, signed=False)
    table["int32"] = _int("int32", 32)
    floats = [
        # OCP OFP8 and the ml_dtypes 8-bit family
        ("float8_e4m3fn", 4, 3, 7, "fn"), ("float8_e4m3fnuz", 4, 3, 8, "fnuz"),
        ("float8_e4m3", 4, 3, 7, "ieee"), ("float8_e4m3b11fnuz", 4, 3, 11, "fnuz"),
        ("float8_e5m2", 5, 2, 15, "ieee"), ("float8_e5m2fnuz", 5, 2, 16, "fnuz"),
        ("float8_e3m4", 3, 4, 3, "ieee"),
        # van Baalen et al. 2023, App. A: subnormals, one NaN at 0x80, no Inf, 255 values.
        # E4M3 and E5M2 of that family are exactly ml_dtypes' fnuz formats.
        ("float8_e2m5fnuz", 2, 5, 2, "fnuz"), ("float8_e3m4fnuz", 3, 4, 4, "fnuz"),
        # OCP MX element formats
        ("float6_e2m3fn", 2, 3, 1, "none"), ("float6_e3m2fn", 3, 2, 3, "none"),
        ("float4_e2m1fn", 2, 1, 1, "none"),
        ("float16", 5, 10, 15, "ieee"), ("bfloat16", 8, 7, 127, "ieee"),
        ("float32", 8, 23, 127, "ieee"),
    ]
    for name, e, m, bias, special in floats:
        table[name] = _float(name, e, m, bias, special)
    table["float8_e8m0fnu"] = _float("float8_e8m0fnu", 8, 0, 127, "fn", signed=False,
                                     subnormals=False)
    return table


FORMATS = types.MappingProxyType(_build_table())
"""Every scalar format by name."""

WHITEPAPER_FP8 = types.MappingProxyType({
    "FP8-E2": "float8_e2m5fnuz", "FP8-E3": "float8_e3m4fnuz",
    "FP8-E4": "float8_e4m3fnuz", "FP8-E5": "float8_e5m2fnuz",
})
"""The FP8 formats of van Baalen et al. (2023) under their names in this table."""


def closest_names(name: str, names) -> list[str]:
    """Names a user most likely meant: close spellings first, then names containing ``name``."""
    names = list(names)
    close = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0.5)
    contained = [n for n in names if name.lower() in n and n not in close]
    return (close + contained)[:8]


def get_format(name: str | Format) -> Format:
    """Look up a scalar format by its ml_dtypes name; a :class:`Format` passes through."""
    if isinstance(name, Format):
        return name
    if not isinstance(name, str):
        raise TypeError(f"format must be a name or a Format, not {type(name).__name__}")
    try:
        return FORMATS[name]
    except KeyError:
        hint = closest_names(name, FORMATS)
        raise ValueError(f"unknown format {name!r}"
                         + (f"; closest valid names: {', '.join(hint)}" if hint else "")) from None


# ----- decoding ---------------------------------------------------------------------------
def _fields(fmt: Format, codes: np.ndarray):
    c = np.asarray(codes).astype(np.int64) & ((1 << fmt.bits) - 1)
    man = c & ((1 << fmt.man_bits) - 1)
    exp = (c >> fmt.man_bits) & ((1 << fmt.exp_bits) - 1)
    sign = ((c >> (fmt.bits - 1)) & 1).astype(bool) if fmt.signed else np.zeros(c.shape, bool)
    return c, sign, exp, man


def decode_parts(fmt: Format, codes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact decomposition of codes: value = significand · 2**exponent.

    Returns ``(significand, exponent, nan, inf)``: signed int64 significands, int64 exponents,
    and masks of NaN and infinite codes (whose significand and exponent are meaningless; an
    infinity's significand carries its sign as ±1).
    """
    fmt = get_format(fmt)
    c, sign, exp, man = _fields(fmt, codes)
    if fmt.kind == "int":
        value = c - ((c >> (fmt.bits - 1)) << fmt.bits) if fmt.signed else c
        false = np.zeros(c.shape, bool)
        return value, np.zeros(c.shape, np.int64), false, false.copy()
    top = (1 << fmt.exp_bits) - 1
    if fmt.subnormals:
        sig = np.where(exp > 0, man | (1 << fmt.man_bits), man)
        e2 = np.maximum(exp, 1) - fmt.bias - fmt.man_bits
    else:
        sig = man | (1 << fmt.man_bits)
        e2 = exp - fmt.bias - fmt.man_bits
    if fmt.special == "ieee":
        nan, inf = (exp == top) & (man != 0), (exp == top) & (man == 0)
    elif fmt.special == "fn":
        nan, inf = (exp == top) & (man == (1 << fmt.man_bits) - 1), np.zeros(c.shape, bool)
    elif fmt.special == "fnuz":
        nan, inf = c == (1 << (fmt.bits - 1)), np.zeros(c.shape, bool)
    else:
        nan = inf = np.zeros(c.shape, bool)
    sig = np.where(inf, 1, sig)
    return np.where(sign, -sig, sig), e2.astype(np.int64), nan, inf


@functools.lru_cache(maxsize=128)
def _decode_table(fmt: Format) -> np.ndarray:
    table = _decode_arithmetic(fmt, np.arange(1 << fmt.bits))
    table.flags.writeable = False
    return table


def _decode_arithmetic(fmt: Format, codes) -> np.ndarray:
    sig, e2, nan, inf = decode_parts(fmt, codes)
    with np.errstate(invalid="ignore", over="ignore"):
        value = np.ldexp(sig.astype(np.float64), e2.astype(np.int32))
    value = np.where(inf, np.copysign(np.inf, sig), value)
    _, sign, _, _ = _fields(fmt, codes)
    value = np.where(nan, np.where(sign, -np.nan, np.nan), value)
    if fmt.has_negative_zero:
        value = np.where((value == 0) & sign, -0.0, value)
    return value


def decode(codes, fmt: Format | str) -> np.ndarray:
    """Exact float64 value of every code (NaN codes → NaN, Inf codes → ±Inf)."""
    fmt = get_format(fmt)
    codes = np.asarray(codes)
    if fmt.bits <= 16:
        return _decode_table(fmt)[codes.astype(np.int64) & ((1 << fmt.bits) - 1)]
    return _decode_arithmetic(fmt, codes)


def finite_values(fmt: Format | str) -> np.ndarray:
    """All distinct finite values, ascending (formats of at most 16 bits)."""
    fmt = get_format(fmt)
    if fmt.bits > 16:
        raise ValueError(f"{fmt.name} has {fmt.finite_count} finite values; enumeration is "
                         "limited to formats of at most 16 bits")
    values = _decode_table(fmt)
    values = values[np.isfinite(values) & (values >= -fmt.max_value if fmt.symmetric else True)]
    return np.unique(values + 0.0)  # + 0.0 folds −0 into +0 (symmetric ints never yield −2^(n−1))


# ----- rounding ---------------------------------------------------------------------------
def _round_reference(v: np.ndarray, fmt: Format, saturate: bool) -> np.ndarray:
    """Round float64 values to codes; the readable definition the fast path is built from."""
    v = np.asarray(v, dtype=np.float64)
    nan = np.isnan(v)
    neg = np.signbit(v)
    a = np.where(nan, 0.0, np.abs(v))
    if fmt.kind == "int":
        lo, hi = fmt.min_value, fmt.max_value
        r = np.clip(np.rint(np.where(neg, -a, a)), lo, hi).astype(np.int64)
        return (r & ((1 << fmt.bits) - 1)).astype(fmt.code_dtype)
    m = fmt.man_bits
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(a)
        ulp = np.ldexp(1.0, np.maximum(e - 1, fmt.emin) - m)
        r = np.rint(a / ulp) * ulp
    over = r > fmt.max_value
    if not fmt.subnormals:  # no zero: underflow stays at the smallest value (as ml_dtypes does)
        r = np.maximum(r, fmt.min_subnormal)
    if saturate or fmt.special == "none":
        r = np.where(over, fmt.max_value, r)
        over = np.zeros_like(over)
    if not fmt.signed:
        if saturate:
            r = np.where(neg, fmt.min_value, r)
        else:  # ml_dtypes: negative values have no code in an unsigned float → NaN
            over |= neg & (a != 0) | (a == 0) & ~np.bool_(fmt.subnormals)
        neg = np.zeros_like(neg)
    # encode the exact value r (overflowing entries are replaced by their special code below)
    r = np.where(over, 0.0, r)
    _, er = np.frexp(r)
    er = er - 1
    normal = er >= fmt.emin if fmt.subnormals else np.ones(r.shape, bool)
    normal &= r > 0
    field = np.where(normal, er + fmt.bias, 0)
    man = np.where(normal, np.ldexp(r, m - er) - (1 << m), np.ldexp(r, m - fmt.emin))
    code = (field.astype(np.int64) << m) | man.astype(np.int64)
    if fmt.signed:
        negative_code = neg if fmt.has_negative_zero else neg & (r != 0)
        code |= negative_code.astype(np.int64) << (fmt.bits - 1)
    # NaN and overflow codes keep the sign where the format has a signed NaN (as ml_dtypes does)
    sign_bit = neg.astype(np.int64) << (fmt.bits - 1) if fmt.special in ("ieee", "fn") else 0
    if fmt.has_inf:
        code = np.where(over, (((1 << fmt.exp_bits) - 1) << m) | sign_bit, code)
    elif fmt.has_nan:
        code = np.where(over, fmt.nan_code | sign_bit, code)
    if fmt.has_nan:
        code = np.where(nan, fmt.nan_code | sign_bit, code)
    elif not saturate:  # ml_dtypes' rule for formats without NaN: zero with the opposite sign
        code = np.where(nan, (~neg).astype(np.int64) << (fmt.bits - 1), code)
    return code.astype(fmt.code_dtype)


_TABLE_BITS = 20  # top bits used as a table index; 2**21 entries at most


@functools.lru_cache(maxsize=64)
def _rounding_table(fmt: Format, input_dtype: np.dtype, saturate: bool):
    """Lookup table: input top bits (+ a sticky bit for all lower bits) → code.

    Rounding to nearest depends only on the bits down to one below the format's last mantissa
    bit and on whether any lower bit is set, so a table over those top bits is exact.
    """
    finfo = np.finfo(input_dtype)
    width = finfo.bits
    keep = 1 + finfo.nexp + min(fmt.man_bits + 1, finfo.nmant)
    if keep > _TABLE_BITS:
        return None
    uint = np.dtype(f"uint{width}")
    low = width - keep
    top = np.arange(1 << keep, dtype=uint) << uint.type(low)
    reps = np.concatenate([top, top | uint.type(1)]).view(input_dtype)
    with np.errstate(invalid="ignore"):  # signalling-NaN representatives
        reps = reps.astype(np.float64)
    table = _round_reference(reps, fmt, saturate)
    table.flags.writeable = False
    return table, uint, low, keep


_CHUNK = 1 << 16  # elements per pass; keeps the index arrays in cache


@functools.lru_cache(maxsize=64)
def _value_table(fmt: Format, input_dtype: np.dtype, saturate: bool):
    """:func:`_rounding_table` with each entry's decoded value in place of its code (None where
    there is no table)."""
    spec = _rounding_table(fmt, input_dtype, saturate)
    if spec is None:
        return None
    values = decode(spec[0], fmt)
    values.flags.writeable = False
    return (values,) + spec[1:]


def _round_with_table(v: np.ndarray, spec) -> np.ndarray:
    table, uint, low, keep = spec
    bits = np.ascontiguousarray(v).reshape(-1).view(uint)
    out = np.empty(bits.size, table.dtype)
    index = np.empty(min(bits.size, _CHUNK), uint)
    sticky = np.empty_like(index)
    low_mask, carry = uint.type((1 << low) - 1), uint.type(1 << keep)
    for start in range(0, bits.size, _CHUNK):
        chunk = bits[start:start + _CHUNK]
        i, s = index[:chunk.size], sticky[:chunk.size]
        np.right_shift(chunk, uint.type(low), out=i)
        np.bitwise_and(chunk, low_mask, out=s)
        s += low_mask           # overflows into bit `low` exactly when a low bit is set
        np.right_shift(s, uint.type(low), out=s)
        np.left_shift(s, uint.type(keep), out=s)
        i |= s
        table.take(i, out=out[start:start + chunk.size], mode="clip")
    return out.reshape(v.shape)


def _check_scale(scale) -> np.ndarray:
    s = np.asarray(scale, dtype=np.float64)
    bad = ~(np.isfinite(s) & (s > 0))
    if bad.any():
        where = np.argwhere(bad)[0]
        at = f" at index {tuple(int(i) for i in where)}" if s.ndim else ""
        raise ValueError(f"scale must be finite and > 0, got {float(s[tuple(where)])!r}{at}")
    return s


def quantize(x, fmt: Format | str, scale=1.0, *, saturate: bool = True) -> np.ndarray:
    """Codes of ``x / scale`` rounded to nearest, ties to even.

    Parameters
    ----------
    x : array_like of real values (float32 input takes the fastest path).
    fmt : format or its name.
    scale : positive finite scalar or array broadcastable against ``x``.
    saturate : if True (default), finite overflow and ±Inf clamp to ±max and NaN maps to the
        format's NaN (an error for formats without one). If False, the format's own overflow rule
        applies exactly as ml_dtypes' ``astype`` does: Inf for IEEE formats, NaN for fn/fnuz,
        clamping for formats without specials (whose NaN input becomes a signed zero).

    Notes
    -----
    Division by ``scale`` is done in float64, then one rounding to the format. ml_dtypes rounds
    float64 input through float32 first (a double rounding); for float32 input the two agree bit
    for bit.
    """
    fmt = get_format(fmt)
    v = _scaled(x, fmt, scale, saturate)
    if fmt.kind == "int":
        return _round_integer(v, fmt)
    native = _NATIVE_FLOATS.get((fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.special))
    if native is not None:
        return _round_native(v, fmt, native, saturate)
    spec = _rounding_table(fmt, v.dtype, saturate)
    if spec is not None:
        return _round_with_table(v, spec)
    return _round_reference(v, fmt, saturate)


def _scaled(x, fmt: Format, scale, saturate: bool) -> np.ndarray:
    """``x / scale`` as :func:`quantize` rounds it — float64, or float32 input itself at a scale
    of 1 — with the scale and the input checked (NaN refused where ``fmt`` cannot encode it)."""
    s = _check_scale(scale)
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"quantize expects real numbers, got dtype {x.dtype}")
    if (saturate or fmt.kind == "int") and not fmt.has_nan and x.dtype.kind == "f":
        nan = np.isnan(x)
        if nan.any():
            where = tuple(int(i) for i in np.argwhere(nan)[0])
            raise ValueError(f"NaN at index {where} has no encoding in {fmt.name}")
    if x.dtype == np.float32 and s.ndim == 0 and s == 1:
        return x
    return np.divide(x, s, dtype=np.float64)


def quantized_values(x, fmt: Format | str, scale=1.0) -> np.ndarray:
    """``decode(quantize(x, fmt, scale), fmt)`` — the float64 values of the codes ``x / scale``
    rounds to, saturating — bit for bit, zeros' signs and NaNs included, without the codes in
    between where a shorter way gives the same: an integer format's values rounded and clamped
    directly (a zero as +0, as its code decodes), a rounding table's entries decoded once."""
    fmt = get_format(fmt)
    x = np.asarray(x)
    if x.dtype.kind != "f" or (fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.special) in _NATIVE_FLOATS:
        return decode(quantize(x, fmt, scale), fmt)
    v = _scaled(x, fmt, scale, True)
    if fmt.kind == "int":
        r = _rounded_integers(v, fmt).astype(np.float64, copy=False)
        r += 0.0  # −0 → +0: an integer code has one zero
        return r
    spec = _value_table(fmt, v.dtype, True)
    if spec is not None:
        return _round_with_table(v, spec)
    return decode(_round_reference(v, fmt, True), fmt)


def _rounded_integers(v: np.ndarray, fmt: Format) -> np.ndarray:
    """``v`` rounded to integers (ties to even) and clamped to the format's range, as floats."""
    r = np.rint(v)
    if fmt.bits > 24 and r.dtype != np.float64:  # float32 cannot hold the bounds: clamped there, 2^31 − 1
        r = r.astype(np.float64)                 # became 2^31 and wrapped to −2^31
    np.clip(r, fmt.min_value, fmt.max_value, out=r)
    return r


def _round_integer(v: np.ndarray, fmt: Format) -> np.ndarray:
    r = _rounded_integers(v, fmt)
    wide = r.astype(np.int32 if fmt.bits <= 16 else np.int64)
    return (wide & ((1 << fmt.bits) - 1)).astype(fmt.code_dtype)


# IEEE formats numpy converts to itself with one correct rounding (round to nearest even)
_NATIVE_FLOATS = {(5, 10, 15, "ieee"): np.float16, (8, 23, 127, "ieee"): np.float32}


def _round_native(v: np.ndarray, fmt: Format, dtype, saturate: bool) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        codes = v.astype(dtype).view(fmt.code_dtype)
    magnitude = codes & fmt.code_dtype.type((1 << (fmt.bits - 1)) - 1)
    inf_code = ((1 << fmt.exp_bits) - 1) << fmt.man_bits
    special = magnitude >= inf_code
    if special.any():  # canonical NaN; saturation of overflow and ±Inf
        sign = codes & fmt.code_dtype.type(1 << (fmt.bits - 1))
        nan = magnitude > inf_code
        codes = np.where(nan, fmt.nan_code | sign, codes)
        if saturate:
            max_code = inf_code - 1
            codes = np.where(special & ~nan, max_code | sign, codes)
    return codes.astype(fmt.code_dtype)


def encode(values, fmt: Format | str) -> np.ndarray:
    """Codes of values that the format represents exactly; anything else is an error."""
    fmt = get_format(fmt)
    v = np.asarray(values, dtype=np.float64)
    codes = _round_reference(v, fmt, saturate=False)
    back = decode(codes, fmt)
    bad = ~((back == v) | (np.isnan(back) & np.isnan(v)))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"value {float(v[where])!r} at index {where} is not exactly representable "
                         f"in {fmt.name}")
    return codes


def dequantize(codes, fmt: Format | str, scale=1.0) -> np.ndarray:
    """Values of codes times their scale, float64."""
    return decode(codes, fmt) * _check_scale(scale)


def fake_quantize(x, fmt: Format | str, scale=1.0, *, saturate: bool = True) -> np.ndarray:
    """``x`` rounded onto the format's grid times ``scale`` (quantize, then dequantize)."""
    return dequantize(quantize(x, fmt, scale, saturate=saturate), fmt, scale)
