"""Format table, decode/encode and quantization, checked against ml_dtypes and exact arithmetic."""

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtl.numerics import formats as F

from conftest import stable_seed

ML_DTYPES = [n for n, f in F.FORMATS.items() if f.is_float and hasattr(ml_dtypes, n)]
OURS_ONLY = ["float8_e2m5fnuz", "float8_e3m4fnuz"]


def ml_type(name):
    return getattr(ml_dtypes, name)


def ml_codes(values, name):
    """Codes ml_dtypes produces, as unsigned integers."""
    fmt = F.get_format(name)
    out = np.asarray(values).astype(ml_type(name))
    return out.view(fmt.code_dtype if fmt.bits in (8, 16) else np.uint8)


def test_table_covers_the_named_formats():
    for bits in range(2, 17):
        for name in (f"int{bits}", f"int{bits}_sym", f"uint{bits}"):
            assert name in F.FORMATS
    for name in ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3", "float8_e4m3b11fnuz",
                 "float8_e5m2", "float8_e5m2fnuz", "float8_e3m4", "float6_e2m3fn",
                 "float6_e3m2fn", "float4_e2m1fn", "float8_e8m0fnu", "float16", "bfloat16",
                 "float32", *OURS_ONLY]:
        assert name in F.FORMATS
    assert set(ML_DTYPES) >= {"float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "bfloat16"}


@pytest.mark.parametrize("name", ML_DTYPES + ["float16", "float32"])
def test_properties_match_finfo(name):
    fmt = F.get_format(name)
    info = ml_dtypes.finfo(ml_type(name)) if hasattr(ml_dtypes, name) else np.finfo(name)
    assert fmt.bits == info.bits
    assert fmt.max_value == float(info.max)
    assert fmt.min_normal == float(info.smallest_normal)
    assert fmt.min_subnormal == float(info.smallest_subnormal)


@pytest.mark.parametrize("name", [n for n in ML_DTYPES if F.get_format(n).bits <= 16] + ["float16"])
def test_decode_every_code_bit_exact(name):
    fmt = F.get_format(name)
    codes = np.arange(1 << fmt.bits)
    dtype = ml_type(name) if hasattr(ml_dtypes, name) else np.float16
    storage = fmt.code_dtype if fmt.bits in (8, 16) else np.uint8
    with np.errstate(invalid="ignore"):
        expected = codes.astype(storage).view(dtype).astype(np.float64)
    ours = F.decode(codes, fmt)
    assert np.array_equal(ours, expected, equal_nan=True)
    assert np.array_equal(np.signbit(ours), np.signbit(expected))  # −0 and NaN signs too
    finite = F.finite_values(fmt)
    assert len(finite) == fmt.finite_count
    assert finite.max() == fmt.max_value


def test_decode_float32_matches_numpy():
    rng = np.random.default_rng(5)
    codes = np.concatenate([rng.integers(0, 1 << 32, 100_000), [0, 1, 0x7F800000, 0xFF800000,
                                                                0x7FC00000, 0x80000001]])
    with np.errstate(invalid="ignore"):
        expected = codes.astype(np.uint32).view(np.float32).astype(np.float64)
    assert np.array_equal(F.decode(codes, "float32"), expected, equal_nan=True)


def _stress_values(rng, n):
    """Random float32 values over many binades, with exact ties, subnormals, overflow, specials."""
    wide = rng.standard_normal(n) * np.exp2(rng.uniform(-40, 40, n))
    mantissa_ties = np.ldexp(rng.integers(-4096, 4096, n) + 0.5, rng.integers(-40, 20, n))
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 1e-45, -1e-45])
    return np.concatenate([wide, mantissa_ties, specials]).astype(np.float32)


@pytest.mark.parametrize("name", ML_DTYPES)
def test_quantize_bit_exact_with_ml_dtypes(name):
    rng = np.random.default_rng(stable_seed(name))
    x = _stress_values(rng, 500_000)  # 10**6 values with the ties
    fmt = F.get_format(name)
    ours = F.quantize(x, fmt, saturate=False)
    expected = ml_codes(x, name)
    bad = np.flatnonzero(ours != expected)
    assert bad.size == 0, f"{name}: {x[bad[:5]]} → ours {ours[bad[:5]]}, ml_dtypes {expected[bad[:5]]}"
    # float64 input that float32 holds exactly must give the same codes
    assert np.array_equal(F.quantize(x.astype(np.float64), fmt, saturate=False), expected)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "bfloat16"])
def test_power_of_two_scale_is_exact_shift(name):
    rng = np.random.default_rng(3)
    x = _stress_values(rng, 50_000)
    x = x[np.isfinite(x) & (np.abs(x) < 1e30) & (np.abs(x) > 1e-30)]
    ours = F.quantize(x, name, scale=2.0 ** -5, saturate=False)
    assert np.array_equal(ours, ml_codes(x.astype(np.float64) * 32, name))


def _rne_fraction(q: Fraction, fmt: F.Format) -> Fraction:
    """Round a rational onto the format's grid (saturating), by exact rational arithmetic."""
    if q == 0:
        return Fraction(0)
    exponent = math.frexp(float(abs(q)))[1] - 1
    while Fraction(2) ** exponent > abs(q):
        exponent -= 1
    while Fraction(2) ** (exponent + 1) <= abs(q):
        exponent += 1
    ulp = Fraction(2) ** (max(exponent, fmt.emin) - fmt.man_bits)
    r = round(q / ulp) * ulp  # Fraction rounds half to even
    limit = Fraction(fmt.max_value)
    return max(min(r, limit), -limit)


@pytest.mark.parametrize("name", OURS_ONLY + ["float8_e4m3fn", "float16", "float32"])
def test_quantize_with_scale_against_exact_rationals(name):
    fmt = F.get_format(name)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(3000) * np.exp2(rng.uniform(-12, 12, 3000))
    scale = 0.3712
    codes = F.quantize(x, fmt, scale)
    ours = F.decode(codes, fmt)
    for xi, oi in zip(x, ours):
        # the contract: x / scale in float64, then one rounding
        assert Fraction(float(oi)) == _rne_fraction(Fraction(float(xi / scale)), fmt), xi


def test_float64_input_is_rounded_once_unlike_ml_dtypes():
    x = np.array([1 + 2.0 ** -4 + 2.0 ** -40])  # just above the tie between 1 and 1.125
    assert F.decode(F.quantize(x, "float8_e4m3fn"), "float8_e4m3fn")[0] == 1.125
    assert float(x.astype(ml_dtypes.float8_e4m3fn)[0]) == 1.0  # ml_dtypes goes through float32


@pytest.mark.parametrize("name", ["int8", "int8_sym", "int4", "int4_sym", "uint8", "int16_sym", "int2"])
def test_integer_quantize_rounds_half_even_and_saturates(name):
    fmt = F.get_format(name)
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e9, -1e9, np.inf, -np.inf, 3.4999, -0.0])
    got = F.decode(F.quantize(x, fmt), fmt)
    want = [max(min(round(Fraction(v)), int(fmt.max_value)), int(fmt.min_value))
            if np.isfinite(v) else (fmt.max_value if v > 0 else fmt.min_value) for v in x]
    assert got.tolist() == [float(w) for w in want]


def test_integer_ranges():
    assert (F.get_format("int8").min_value, F.get_format("int8").max_value) == (-128, 127)
    assert (F.get_format("int8_sym").min_value, F.get_format("int8_sym").max_value) == (-127, 127)
    assert F.get_format("int8_sym").finite_count == 255
    assert (F.get_format("uint4").min_value, F.get_format("uint4").max_value) == (0, 15)
    assert F.decode(F.quantize(np.arange(-200, 200), "int8"), "int8").tolist() == \
        np.clip(np.arange(-200, 200), -128, 127).tolist()


@pytest.mark.parametrize("name", ["float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz"])
def test_whitepaper_fp8_convention(name):
    fmt = F.get_format(name)
    assert fmt.finite_count == 255 and fmt.nan_code == 0x80 and not fmt.has_inf
    values = F.decode(np.arange(256), fmt)
    assert np.isnan(values[0x80]) and np.isfinite(np.delete(values, 0x80)).all()
    assert len(np.unique(np.delete(values, 0x80))) == 255  # no −0
    assert fmt.min_subnormal == 2.0 ** (1 - fmt.bias - fmt.man_bits)


def test_saturation_and_format_overflow_rules():
    x = np.array([1e6, -1e6, np.inf, -np.inf, np.nan])
    assert F.decode(F.quantize(x, "float8_e4m3fn"), "float8_e4m3fn")[:4].tolist() == [448, -448, 448, -448]
    assert np.isnan(F.decode(F.quantize(x, "float8_e4m3fn"), "float8_e4m3fn")[4])
    assert F.decode(F.quantize(x, "float8_e5m2", saturate=False), "float8_e5m2")[:4].tolist() == \
        [np.inf, -np.inf, np.inf, -np.inf]
    assert np.isnan(F.decode(F.quantize(x[:4], "float8_e4m3fn", saturate=False), "float8_e4m3fn")).all()


def test_encode_is_exact_and_rejects_unrepresentable():
    fmt = F.get_format("float8_e4m3fn")
    values = F.finite_values(fmt)
    assert np.array_equal(F.decode(F.encode(values, fmt), fmt), values)
    with pytest.raises(ValueError, match=r"1.0625 .*not exactly representable in float8_e4m3fn"):
        F.encode([1.0, 1.0625], fmt)


def test_unknown_format_names_closest():
    with pytest.raises(ValueError, match="unknown format 'float8_e4m3f'.*float8_e4m3fn"):
        F.get_format("float8_e4m3f")
    with pytest.raises(ValueError, match="unknown format 'e5m2'.*float8_e5m2"):
        F.get_format("e5m2")


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf])
def test_bad_scale_names_value(scale):
    with pytest.raises(ValueError, match="scale must be finite and > 0, got"):
        F.quantize([1.0], "int8", scale)
    with pytest.raises(ValueError, match=r"at index \(1,\)"):
        F.quantize([1.0, 2.0], "int8", np.array([1.0, scale]))


def test_nan_without_encoding_is_an_error():
    with pytest.raises(ValueError, match=r"NaN at index \(1,\) has no encoding in int8"):
        F.quantize([1.0, np.nan], "int8")
    with pytest.raises(ValueError, match="float4_e2m1fn"):
        F.quantize([np.nan], "float4_e2m1fn")


# ----- properties -------------------------------------------------------------------------
PROPERTY_FORMATS = ["int8", "int4_sym", "float8_e4m3fn", "float8_e5m2", "float8_e2m5fnuz",
                    "float4_e2m1fn", "float6_e3m2fn", "bfloat16", "float16"]
finite_floats = st.floats(-1e6, 1e6, allow_nan=False, width=64)
scales = st.floats(1e-3, 1e3)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROPERTY_FORMATS), st.lists(finite_floats, min_size=1, max_size=20), scales)
def test_quantize_is_idempotent(name, xs, scale):
    fmt = F.get_format(name)
    once = F.fake_quantize(np.array(xs), fmt, scale)
    assert np.array_equal(F.fake_quantize(once, fmt, scale), once)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROPERTY_FORMATS), st.lists(finite_floats, min_size=2, max_size=30), scales)
def test_quantize_is_monotonic(name, xs, scale):
    x = np.sort(np.array(xs))
    q = F.fake_quantize(x, name, scale)
    assert np.all(np.diff(q) >= 0)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROPERTY_FORMATS), finite_floats)
def test_error_at_most_half_ulp_inside_range(name, x):
    fmt = F.get_format(name)
    if abs(x) > fmt.max_value:
        return
    q = F.fake_quantize(np.array([x]), fmt)[0]
    grid = F.finite_values(fmt)
    i = np.searchsorted(grid, q)
    neighbours = grid[max(i - 1, 0):i + 2]
    spacing = np.diff(neighbours).max() if len(neighbours) > 1 else 0
    assert abs(Fraction(x) - Fraction(float(q))) <= Fraction(float(spacing)) / 2
    assert abs(x - q) <= abs(x - grid).min()  # nearest of all grid values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float16_and_float32_match_numpy_casts(dtype):
    rng = np.random.default_rng(8)
    x = _stress_values(rng, 200_000).astype(dtype)
    with np.errstate(over="ignore"):
        want16 = x.astype(np.float16)
    ours16 = F.quantize(x, "float16", saturate=False)
    finite = np.isfinite(want16)
    assert np.array_equal(ours16[finite], want16.view(np.uint16)[finite])
    assert np.isnan(F.decode(ours16[np.isnan(want16)], "float16")).all()
    assert np.array_equal(F.decode(ours16, "float16")[np.isinf(want16)], want16[np.isinf(want16)])
    sat = F.decode(F.quantize(x[np.isfinite(x)], "float16"), "float16")
    assert np.abs(sat).max() == 65504.0
    assert np.array_equal(F.quantize(x[np.isfinite(x)], "float32", saturate=False),
                          x[np.isfinite(x)].astype(np.float32).view(np.uint32))
    assert F.quantize(np.array([np.nan]), "float32")[0] == 0x7FC00000


@pytest.mark.parametrize("name", list(FORMATS_ALL := __import__("rtl.numerics.formats", fromlist=["FORMATS"]).FORMATS))
def test_quantized_values_are_the_decoded_codes_bit_for_bit(name):
    """``quantized_values`` takes shorter ways than quantize-then-decode (integers rounded and
    clamped directly, a table of decoded values): every value's bits, zeros' signs and NaNs
    included, are the decoded codes', for float32 and float64 inputs, scalar and per-row scales;
    NaN where the format has none is refused alike."""
    from rtl.numerics.formats import decode, get_format, quantize, quantized_values

    fmt = get_format(name)
    rng = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    top = fmt.max_value
    x = np.concatenate([rng.normal(0, top / 3, 2000), rng.uniform(-2 * top, 2 * top, 1000),
                        np.arange(-40, 41) * 0.5, np.arange(-40, 41) * 0.5 * fmt.min_subnormal if fmt.kind != "int" else [],
                        [0.0, -0.0, np.inf, -np.inf, top, -top, 1e-300, -1e-300, 1e300, -1e300]])
    for dtype in (np.float32, np.float64):
        with np.errstate(over="ignore"):  # ±1e300 as float32: ±Inf
            xs = x.astype(dtype).reshape(-1, 1)
        for scale in (1.0, 0.37, np.exp(rng.uniform(-3, 3, (len(xs), 1)))):
            want = decode(quantize(xs, fmt, scale), fmt)
            got = quantized_values(xs, fmt, scale)
            assert got.dtype == want.dtype == np.float64
            assert np.array_equal(got.view(np.int64), want.view(np.int64)), (dtype, scale if np.ndim(scale) == 0 else "rows")
    if top < 1e29:  # past the range (float32 input): the largest and smallest value (int32's wrapped)
        huge = np.array([1e30, -1e30], np.float32)
        assert list(decode(quantize(huge, fmt), fmt)) == [top, fmt.min_value]
    nan = np.array([1.0, np.nan], np.float32)
    if fmt.has_nan:
        assert np.array_equal(quantized_values(nan, fmt).view(np.int64), decode(quantize(nan, fmt), fmt).view(np.int64))
    else:
        with pytest.raises(ValueError, match="NaN at index"):
            quantized_values(nan, fmt)
