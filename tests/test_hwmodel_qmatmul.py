"""qmatmul against the golden MAC arithmetic (rtl.numerics.arith, which the RTL is proven
against) at the scales real tensors get: bit for bit, Inf and NaN included."""

import numpy as np
import pytest

from hwmodel.accuracy.qmatmul import (Numerics, accumulate_matmul, bias_of, float_kernel, qmatmul,
                                      quantize_values)
from rtl.numerics import arith
from rtl.numerics import formats as F
from rtl.errors import FieldError
from rtl.numerics.arith import FloatAccumulator
from rtl.numerics.scaling import split_scale
from hwmodel.accuracy import qmatmul as Q

from conftest import stable_seed


def golden_register(a_codes, a_fmt, b_codes, b_fmt, acc, lanes, bias=0):
    """The registers of an (M, K) × (K, N) product, step by step through rtl.numerics.arith."""
    m, k = a_codes.shape
    n = b_codes.shape[1]
    steps = -(-k // lanes)
    pad = steps * lanes - k
    zero_a, zero_b = int(F.encode([0.0], a_fmt)[0]), int(F.encode([0.0], b_fmt)[0])
    a = np.pad(a_codes.astype(np.int64), ((0, 0), (0, pad)), constant_values=zero_a)
    b = np.pad(b_codes.astype(np.int64), ((0, pad), (0, 0)), constant_values=zero_b)
    a_steps = a.reshape(m, steps, lanes).transpose(1, 0, 2)[:, :, None, :]
    b_steps = b.reshape(steps, lanes, n).transpose(0, 2, 1)[:, None, :, :]
    state = arith.mac(acc, a_fmt, a_steps, b_fmt, b_steps, bias=np.broadcast_to(np.asarray(bias), (m, n))[None])
    return arith.to_float(acc, state)


def assert_identical(ours, golden):
    ours, golden = np.asarray(ours), np.asarray(golden)
    assert ours.shape == golden.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(golden))  # NaN positions
    finite = ~np.isnan(golden)
    np.testing.assert_array_equal(ours[finite], golden[finite])      # values, ±Inf included
    np.testing.assert_array_equal(np.signbit(ours[finite]), np.signbit(golden[finite]))  # signed zeros


SCALES = [(0.3, 0.11), (0.0123, 0.00457), "per-channel"]
CASES = [(fmt, acc, bias) for fmt in ("float8_e4m3fn", "float8_e5m2", "int8_sym")
         for acc in ("float16", "bfloat16", "float32", "fixed")
         for bias in (("none", "power_of_two") if acc != "fixed" else ("none",))]
CASES += [("int8_sym", "int16", "none"), ("int16_sym", "fixed", "none")]


@pytest.mark.parametrize("scales", SCALES, ids=str)
@pytest.mark.parametrize("lanes", [1, 4, 32])
@pytest.mark.parametrize("fmt,acc,bias", CASES, ids=lambda v: str(v))
def test_qmatmul_is_the_golden_mac_at_any_scale(fmt, acc, bias, lanes, scales):
    rng = np.random.default_rng(stable_seed(fmt, acc, lanes, str(scales), bias))
    m, k, n = 12, 200, 9
    x = rng.standard_normal((m, k)) * np.exp(1.5 * rng.standard_normal((m, k)))  # heavy tails
    w = rng.standard_normal((k, n))
    if scales == "per-channel":
        a_scale = 0.0123
        b_scale = 0.01 * 2.0 ** np.linspace(-8, 8, n)  # one scale per output column, over 2^±8
        w = w * b_scale * 50
    else:
        a_scale, b_scale = scales
        w = w * b_scale * 50
    x = x * a_scale * 20
    numerics = Numerics(fmt, fmt, acc, "channel", lanes=lanes, bias=bias)
    a_codes = F.quantize(x, fmt, a_scale)
    b_codes = F.quantize(w, fmt, b_scale)
    a_values, b_values = F.decode(a_codes, fmt), F.decode(b_codes, fmt)
    ours = qmatmul(a_values, b_values, numerics, a_scale=a_scale, b_scale=b_scale)
    offset, after = bias_of(numerics, a_scale, b_scale)
    golden = golden_register(a_codes, fmt, b_codes, fmt, numerics.register, lanes, offset) * after
    assert_identical(ours, golden)


def test_an_e4m3_into_float16_mac_overflows_on_codes_at_realistic_scales():
    """448 · 448 > 65504: the register overflows whatever the tensors' scales, unless the scales'
    powers of two reach it through the bias port."""
    rng = np.random.default_rng(5)
    a_scale, b_scale = 0.0123, 0.00457
    x = rng.standard_normal((64, 256)) * a_scale * 200
    w = rng.standard_normal((256, 8)) * b_scale * 200
    a, _ = quantize_values(x, "float8_e4m3fn", scale=a_scale)
    b, _ = quantize_values(w, "float8_e4m3fn", scale=b_scale)
    plain = qmatmul(a, b, Numerics("float8_e4m3fn", "float8_e4m3fn", "float16"), a_scale=a_scale, b_scale=b_scale)
    biased = qmatmul(a, b, Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", bias="power_of_two"),
                     a_scale=a_scale, b_scale=b_scale)
    assert not np.isfinite(plain).all(axis=1).any()  # every row overflows
    assert np.isfinite(biased).all()
    exact = (a * a_scale) @ (b * b_scale)
    assert np.max(np.abs(biased - exact) / np.abs(exact).max()) < 2e-2


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2", "int8_sym", "float8_e2m5fnuz"])
@pytest.mark.parametrize("acc", ["float16", "float16_ftz", "bfloat16", "float32", "float32_ftz"])
@pytest.mark.parametrize("lanes", [1, 2, 32])
def test_every_code_including_nan_inf_and_extremes(fmt, acc, lanes):
    """Uniformly random codes — NaN, ±Inf, ±0, subnormals, the largest values — and offsets
    across the port's useful range."""
    rng = np.random.default_rng(stable_seed("codes", fmt, acc, lanes))
    f = F.get_format(fmt)
    a_codes = rng.integers(0, 1 << f.bits, (8, 96))
    b_codes = rng.integers(0, 1 << f.bits, (96, 16))
    register = arith.parse_accumulator(acc.removesuffix("_ftz"), fmt, fmt, flush_to_zero=acc.endswith("_ftz"))
    bias = rng.integers(-40, 10, 16)
    ours = accumulate_matmul(F.decode(a_codes, fmt), F.decode(b_codes, fmt), register, fmt, fmt, lanes=lanes, bias=bias)
    assert_identical(ours, golden_register(a_codes, fmt, b_codes, fmt, register, lanes, bias))


def test_kernels_are_chosen_for_what_the_sum_needs():
    f16, f32 = arith.FloatAccumulator("float16"), arith.FloatAccumulator("float32")
    e4, e5, bf = (F.get_format(n) for n in ("float8_e4m3fn", "float8_e5m2", "bfloat16"))
    assert float_kernel(f16, e4, e4, 1, 0, 0) == "exact"            # 42 bits: one double holds it
    # deep offsets widen the span past a double, but one 8-bit product a step rounds through a
    # double as the register rounds it (qmatmul._rounded_twice_alike) …
    assert float_kernel(f16, e4, e4, 1, -30, -30) == "exact"
    bf16, i8 = arith.FloatAccumulator("bfloat16"), F.get_format("int8_sym")
    assert float_kernel(bf16, i8, i8, 1, -30, -30) == "twosum"      # … not a 14-bit one into 8 bits
    assert float_kernel(bf16, bf, bf, 1, 0, 0) == "twosum"
    assert float_kernel(f32, e4, e4, 4, 0, 0) == "twosum_float32"
    assert float_kernel(f16, e5, e5, 4, 0, 0) == "double_double"    # a lane sum of E5M2 spans 67 bits
    assert float_kernel(f32, bf, bf, 4, 0, 0) is None               # no kernel: the golden model runs
    assert float_kernel(f32, bf, bf, 1, 0, 0) == "exact"            # one product is always a double
    i16 = F.get_format("int16_sym")
    assert float_kernel(f32, i16, i16, 1, 0, 0) == "twosum_float32"  # 30 + 24 bits: too close to a double's


def test_a_product_with_more_bits_than_the_register_can_fall_on_its_midpoint():
    """Why a double cannot stand in for the exact sum where a product has more significant bits
    than the register and the register's range reaches far below it: bfloat16 × bfloat16 into
    bfloat16, the register at 2^-120 and the product 261·2^-60 — a midpoint of bfloat16's grid.
    The exact sum lies just above it and rounds up to 262·2^-60; through a double the 2^-120 is
    lost, the tie goes to even, 260·2^-60. The chosen kernel (TwoSum) and the golden model agree
    on 262; rounding through a double, as the 'exact' kernel does, does not."""
    from hwmodel.accuracy import kernels

    register, bf = arith.FloatAccumulator("bfloat16"), "bfloat16"
    a = np.array([[2.0 ** -60, 9 * 2.0 ** -30]])
    b = np.array([[2.0 ** -60], [29 * 2.0 ** -30]])
    assert float_kernel(register, F.get_format(bf), F.get_format(bf), 1, 0, 0) == "twosum"
    want = golden_register(F.encode(a, bf), bf, F.encode(b, bf), bf, register, 1, np.zeros(1, np.int64))
    assert want[0, 0] == 262 * 2.0 ** -60
    assert accumulate_matmul(a, b, register, bf, bf)[0, 0] == want[0, 0]
    through_double = kernels.float_steps(a[None], b[None], lanes=1, precision=8, emin=-126,
                                         max_value=float(F.get_format(bf).max_value), flush_to_zero=False,
                                         kernel="exact", out=np.zeros((1, 1, 1)))
    assert through_double[0, 0, 0] == 260 * 2.0 ** -60


def test_bias_beyond_the_port_is_named():
    numerics = Numerics("float8_e4m3fn", "float8_e4m3fn", "float16", bias="power_of_two")
    with pytest.raises(ValueError, match=r"beyond the bias port's -256..255"):
        qmatmul(np.ones((1, 2)), np.ones((2, 1)), numerics, a_scale=2.0 ** -200, b_scale=2.0 ** -100)


@pytest.mark.parametrize("kwargs,message", [
    ({"accumulator": "int32", "bias": "power_of_two"}, "bias 'power_of_two' needs a float accumulator"),
    ({"weights": "float8_e4m3fn", "activations": "float8_e4m3fn", "accumulator": "fixed", "bias": "power_of_two"},
     "needs a float accumulator"),
    ({"accumulator": "float16", "weights": "float8_e4m3fn", "activations": "float8_e4m3fn", "bias": "pow2"},
     r"bias must be one of \('none', 'power_of_two'\), not 'pow2'"),
    ({"lanes": 3}, r"lanes must be one of \(1, 2, 4, 8, 16, 32\), not 3"),
])
def test_recipe_bias_and_lanes_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        Numerics(**kwargs)
    assert info.value.field in ("bias", "lanes")


def test_split_scale_is_a_power_of_two_and_a_residual():
    exponent, residual = split_scale(np.array([0.0123, 1.0, 3.0, 2.0 ** -20]))
    assert list(exponent) == [-7, 0, 1, -20]
    np.testing.assert_allclose(np.ldexp(residual, exponent), [0.0123, 1.0, 3.0, 2.0 ** -20], rtol=0, atol=0)
    assert (residual >= 1).all() and (residual < 2).all()


@pytest.mark.parametrize("recipe", ["int8_sym@int32", "int8_sym@int16", "int8_sym@fixed", "int16_sym@fixed",
                                    "float8_e4m3fn@fixed", "float8_e4m3fn@float16", "float8_e5m2@float32",
                                    "float8_e4m3fn@bfloat16"])
def test_float32_codes_give_the_same_registers(recipe):
    """Operands held as float32 codes (the executors' im2col at half the bytes where the sum
    runs as float32 BLAS) reach exactly the registers float64 codes do, on every register path
    (BLAS, wrap, saturation, float64 BLAS, float kernels)."""
    from hwmodel.accuracy.qmatmul import code_dtype, parse_numerics, quantize_values

    numerics = parse_numerics(recipe, weight_granularity="channel", lanes=4 if "float" in recipe.split("@")[1] else 1)
    fast = recipe in ("int8_sym@int32", "int8_sym@int16", "int8_sym@fixed")
    assert code_dtype(numerics) == (np.float32 if fast else np.float64)
    rng = np.random.default_rng(stable_seed(recipe))
    x = rng.standard_t(3, (3, 40, 300)) * 4
    w = rng.normal(size=(3, 300, 12))
    a, sa = quantize_values(x, numerics.activations, scale=float(np.abs(x).max()) / 200)
    b, sb = quantize_values(np.swapaxes(w, -1, -2), numerics.weights, axis=1)
    b, sb = np.swapaxes(b, -1, -2), np.swapaxes(sb, -1, -2)
    with np.errstate(invalid="ignore", over="ignore"):
        wide = qmatmul(a, b, numerics, a_scale=sa, b_scale=sb)
        narrow = qmatmul(a.astype(np.float32), b.astype(np.float32), numerics, a_scale=sa, b_scale=sb)
    np.testing.assert_array_equal(narrow, wide)


NATIVE = [("float8_e4m3fn", "float32"), ("float8_e5m2", "float32"), ("float8_e4m3fnuz", "float32"),
          ("int8_sym", "float32"), ("int4_sym", "float32"),
          ("float8_e4m3fn", "float16"), ("float8_e4m3fnuz", "float16"),
          ("float8_e3m4fnuz", "float16"), ("int8_sym", "float16"), ("int4_sym", "float16"),
          ("float8_e4m3fn", "float16_ftz"), ("float8_e5m2", "bfloat16"), ("float8_e4m3fn", "bfloat16_ftz")]


@pytest.mark.parametrize("fmt,acc", NATIVE, ids=str)
@pytest.mark.parametrize("bias", ["none", "power_of_two"])
def test_registers_run_on_float32_arithmetic_bit_exactly(fmt, acc, bias):
    """The float32-arithmetic path — float32's one IEEE rounding of acc + an exact product; a
    float16 or bfloat16 register rounding that sum once more — is taken for 8-bit operands one
    product a step, and gives the golden registers, Inf and NaN included: every code, and
    offsets over the port's useful range (for the narrow registers, ones that keep the products
    on their grid)."""
    rng = np.random.default_rng(stable_seed("native", fmt, acc, bias))
    f = F.get_format(fmt)
    register = arith.parse_accumulator(acc.removesuffix("_ftz"), fmt, fmt, flush_to_zero=acc.endswith("_ftz"))
    a_codes = rng.integers(0, 1 << f.bits, (13, 150))
    b_codes = rng.integers(0, 1 << f.bits, (150, 11))
    if bias == "none":
        offsets = np.zeros(11, np.int64)
    elif acc.startswith("float32") or acc.startswith("bfloat16"):
        offsets = rng.integers(-40, 10, 11)
    elif f.is_float:  # float16: offsets that keep the smallest products on its 2^-24 grid
        offsets = rng.integers(-24 - 2 * f.lsb_exponent, 6, 11)
    else:  # integer products into float16: offsets that keep every sum within float32's 24 bits
        offsets = rng.integers(0, 6, 11)
    a, b = F.decode(a_codes, fmt), F.decode(b_codes, fmt)
    assert Q.native_register(b * np.ldexp(1.0, offsets), register, f, f, 1, int(offsets.min()))
    if not acc.endswith("_ftz"):
        assert Q.code_dtype(Numerics(fmt, fmt, acc)) == np.float32
    ours = accumulate_matmul(a.astype(np.float32), b, register, fmt, fmt, bias=offsets)
    assert_identical(ours, golden_register(a_codes, fmt, b_codes, fmt, register, 1, offsets))


def test_float32_arithmetic_is_refused_where_it_would_round_differently():
    """Flush to zero in float32, several products a step, wide operands, a product below
    float32's normal range, products off a float16 register's grid, and products of more bits
    than float16 has whose sums float32 cannot hold each keep the exact kernels — which still
    give the golden registers."""
    e4, e2, i16 = (F.get_format(n) for n in ("float8_e4m3fn", "float8_e2m5fnuz", "int16_sym"))
    f32, f16 = arith.FloatAccumulator("float32"), arith.FloatAccumulator("float16")
    b = np.array([[1.0, -2.5], [0.375, 448.0]])
    assert Q.native_register(b, f32, e4, e4, 1)
    assert Q.native_register(b, f16, e4, e4, 1)
    assert not Q.native_register(b, arith.FloatAccumulator("float32", flush_to_zero=True), e4, e4, 1)
    assert not Q.native_register(b, f32, e4, e4, 4)
    assert not Q.native_register(b, f32, i16, i16, 1)           # 30 significant bits in a product
    tiny = b * 2.0 ** -120                                      # 2^-9 · 2^-121.4: below 2^-126
    assert not Q.native_register(tiny, f32, e4, e4, 1, -120)
    assert not Q.native_register(b * 2.0 ** -7, f16, e4, e4, 1, -7)  # LSB 2^-25: off float16's grid
    assert not Q.native_register(b, f16, e2, e2, 1)            # 12 bits a product, sums over 24 bits
    a_codes = np.array([[1, 0x7E, 0x41, 0x80]])                 # the smallest subnormal, the largest, 2.25, −0
    b_codes = F.encode(np.array([[1.0], [-448.0], [0.001953125], [3.0]]), e4)
    for register, offset in ((f32, -118), (f16, -7)):
        offsets = np.array([offset])
        ours = accumulate_matmul(F.decode(a_codes, e4), F.decode(b_codes, e4), register, e4, e4, bias=offsets)
        assert_identical(ours, golden_register(a_codes, e4, b_codes, e4, register, 1, offsets))


@pytest.mark.parametrize("acc", ["float16", "bfloat16", "float32", "float32_ftz"])
@pytest.mark.parametrize("lanes", [1, 4])
def test_narrow_products_run_transposed_and_stay_exact(acc, lanes):
    """A depthwise convolution's products — many groups, each one or a few columns with its own
    weights — run rows-innermost; every group's registers are still the golden ones."""
    from hwmodel.accuracy import kernels

    fmt = "float8_e4m3fn"
    rng = np.random.default_rng(stable_seed("narrow", acc, lanes))
    register = arith.parse_accumulator(acc.removesuffix("_ftz"), fmt, fmt, flush_to_zero=acc.endswith("_ftz"))
    a_codes = rng.integers(0, 256, (6, 40, 9))
    b_codes = rng.integers(0, 256, (6, 9, 3))
    assert kernels._narrow(np.zeros(a_codes.shape), np.zeros(b_codes.shape))
    ours = accumulate_matmul(F.decode(a_codes, fmt), F.decode(b_codes, fmt), register, fmt, fmt, lanes=lanes)
    for g in range(6):
        assert_identical(ours[g], golden_register(a_codes[g], fmt, b_codes[g], fmt, register, lanes))


# ----- block formats on the block-scaled unit ---------------------------------------------------
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "nvfp4"])
@pytest.mark.parametrize("acc", ["float32", "bfloat16"])
def test_block_formats_are_bit_exact_with_the_unit(name, acc):
    """qmatmul of block formats = rtl.numerics.blocks.block_dot on the codes, register for register
    (K = 70 is not a multiple of the block: zero elements pad it, as the quantizer pads), with
    NaN elements, a block of −0 products and an overflowing block among them."""
    from rtl.numerics import blocks as B
    from rtl.numerics.scaling import MX_FORMATS
    from hwmodel.accuracy.qmatmul import block_register

    mx = MX_FORMATS[name]
    rng = np.random.default_rng(stable_seed(name, acc))
    x = rng.standard_normal((2, 5, 70)) * np.exp2(rng.integers(-30, 30, (2, 5, 1)))
    w = rng.standard_normal((9, 70))
    x[0, 1, :] = -0.0
    a, sa = Q.quantize_values(x, name)
    b, sb = Q.quantize_values(w, name)
    if mx.element.has_nan:
        a[1, 2, 40] = np.nan
    register = FloatAccumulator(acc)
    got = block_register(a, np.ascontiguousarray(b.T), register, sa, sb)
    unit = 2.0 ** mx.element_scale_exponent
    size = mx.block_size
    pad = -70 % size
    zero = F.encode(np.zeros(1), mx.element)[0]
    ca = np.pad(F.encode(a / unit, mx.element), ((0, 0), (0, 0), (0, pad)), constant_values=zero)
    cb = np.pad(F.encode(b / unit, mx.element), ((0, 0), (0, pad)), constant_values=zero)
    want = F.decode(B.block_dot(register, B.BlockScaling(name, name), ca[:, :, None, :], cb[None, None],
                                sa.codes[:, :, None, :], sb.codes[None, None]), acc)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got[ok], want[ok]) and np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    if mx.element.has_nan:
        assert np.isnan(got[1, 2]).all()
    # and it is the product of the quantized operands, up to the register's rounding
    out = Q.qmatmul(a, np.ascontiguousarray(b.T), Q.Numerics(name, name, acc), a_scale=sa, b_scale=sb)
    left, right = a * np.repeat(sa.values(), size, -1)[..., :70], b * np.repeat(sb.values(), size, -1)[..., :70]
    ref, bound = left @ right.T, np.abs(left) @ np.abs(right).T  # one rounding a block: error ≤ 2^-8 of Σ|terms|
    finite = np.isfinite(out) & np.isfinite(ref)
    scale = sa.tensor_scale * sb.tensor_scale
    assert finite.sum() > 50
    assert (np.abs(out[finite] - ref[finite] * scale) <= 2 ** -7 * bound[finite] * scale).all()


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "mxfp8_e4m3", "mxint8"])
def test_a_register_rounded_to_minus_zero_keeps_it_through_blocks_of_minus_zero_products(name):
    """A block sum too small for the register rounds to −0, so a register can hold −0 without
    flush to zero; a later block of −0 products then sums to −0 (IEEE addition), which keeps it
    −0 — as the unit has it, where a sum formed by BLAS from +0 would make it +0."""
    from rtl.numerics import blocks as B
    from rtl.numerics.scaling import MX_FORMATS
    from hwmodel.accuracy.qmatmul import block_register

    mx = MX_FORMATS[name]
    size = mx.block_size
    tiny = 2.0 ** -100  # (NVFP4's E4M3 scales stop at 2^-9: its block sums never round to zero)
    x = np.full((1, 3, 3 * size), -0.0)
    x[0, 0, :size] = -tiny  # row 0: a tiny negative block (the register rounds it to −0), then −0 products
    x[0, 1, :size] = tiny   # row 1: a tiny positive one (+0), then −0 products
    x[0, 2, size:2 * size] = -3.0  # row 2: an ordinary register, then −0 products
    w = np.full((2, 3 * size), tiny)
    a, sa = Q.quantize_values(x, name)
    b, sb = Q.quantize_values(w, name)
    register = FloatAccumulator("float32")
    got = block_register(a, np.ascontiguousarray(b.T), register, sa, sb)
    unit = 2.0 ** mx.element_scale_exponent
    ca, cb = F.encode(a / unit, mx.element), F.encode(b / unit, mx.element)
    want = F.decode(B.block_dot(register, B.BlockScaling(name, name), ca[:, :, None, :], cb[None, None],
                                sa.codes[:, :, None, :], sb.codes[None, None]), register.format.name)
    minus_zero = bool(np.signbit(F.decode(F.encode(np.array([-0.0]), mx.element), mx.element))[0])
    assert (want[:, :2] == 0).all() and not np.signbit(want[0, 1]).any()
    assert np.signbit(want[0, 0]).all() == minus_zero  # the case is there
    # (MXINT8 has no −0 element: its zero products are +0, and the −0 register becomes +0)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxint8", "nvfp4"])
@pytest.mark.parametrize("k", [9, 41])
def test_grouped_block_products_with_a_short_last_block_are_the_padded_units(name, k):
    """Grouped operands (a depthwise convolution's: K = 9, shorter than a block) and a short last
    block after a whole one (K = 41): every group's registers equal the unit's on operands padded
    with zero elements to whole blocks — the padding's +0 products included, which turn a block
    of −0 products into +0 and so a −0 register into +0 (row 0: a first block too small for the
    register, rounded to −0, then a short block of −0 products)."""
    from rtl.numerics import blocks as B
    from rtl.numerics.scaling import MX_FORMATS
    from hwmodel.accuracy.qmatmul import block_register

    mx = MX_FORMATS[name]
    size = mx.block_size
    rng = np.random.default_rng(stable_seed("grouped", name, k))
    x = rng.standard_normal((3, 4, k)) * np.exp2(rng.integers(-8, 8, (3, 4, 1)))
    w = rng.standard_normal((3, 2, k))
    if k > size and name != "nvfp4":  # (NVFP4's E4M3 scales stop at 2^-9: its sums never round to zero)
        x[:, 0, :size], x[:, 0, size:] = -2.0 ** -100, -0.0
        w[:, :, :size], w[:, :, size:] = 2.0 ** -100, np.abs(w[:, :, size:])  # −0 × positive: −0 products
    x[1, 3, :] = -0.0  # a row of −0 elements whatever K is
    a, sa = Q.quantize_values(x, name)
    b, sb = Q.quantize_values(w, name)
    register = FloatAccumulator("float32")
    got = block_register(a, np.ascontiguousarray(b.transpose(0, 2, 1)), register, sa, sb)
    unit = 2.0 ** mx.element_scale_exponent
    pad = -k % size
    zero = F.encode(np.zeros(1), mx.element)[0]
    ca = np.pad(F.encode(a / unit, mx.element), ((0, 0), (0, 0), (0, pad)), constant_values=zero)
    cb = np.pad(F.encode(b / unit, mx.element), ((0, 0), (0, 0), (0, pad)), constant_values=zero)
    scaling = B.BlockScaling(name, name)
    for g in range(3):
        want = F.decode(B.block_dot(register, scaling, ca[g][:, None, :], cb[g][None], sa.codes[g][:, None, :],
                                    sb.codes[g][None]), "float32")
        assert np.array_equal(got[g], want) and np.array_equal(np.signbit(got[g]), np.signbit(want)), g
    if k > size and name != "nvfp4":
        assert (got[:, 0] == 0).all() and not np.signbit(got[:, 0]).any()  # the case is there


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8",
                                  "nvfp4"])
def test_block_values_in_one_pass_are_the_quantizers_decoded_codes(name):
    """quantize_values of a block format (one pass a block, kernels.block_values) = decode of
    rtl.numerics.scaling.quantize_mx's codes times the element unit, and its scale codes, bit for
    bit: float32 and float64 input, rows of 9, 32, 41 and 70 elements, magnitudes from 2^-140 to
    2^140 (scales clamped at 2^±127, elements flushed or saturated), ties, −0, a value just below
    a power of two, NaN and ±Inf in some blocks, and NVFP4 with a given tensor magnitude."""
    from rtl.numerics.scaling import MX_FORMATS, quantize_mx

    mx = MX_FORMATS[name]
    rng = np.random.default_rng(stable_seed("block values", name))
    unit = 2.0 ** mx.element_scale_exponent
    for n in (9, 32, 41, 70):
        x = rng.standard_normal((40, n)) * np.exp2(rng.integers(-140, 140, (40, 1)))
        x[0] = -0.0
        x[1, :] = np.round(rng.standard_normal(n) * 8) / 4  # ties onto coarse grids
        x[2, 0] = np.nextafter(2.0 ** 7, 0)
        x[3, 1], x[4, -1], x[5, n // 2] = np.nan, np.inf, -np.inf
        x[6] *= 1e-30
        for dtype in (np.float64, np.float32):
            with np.errstate(over="ignore"):  # past float32: ±Inf, a block of its own NaN scale
                xs = x.astype(dtype)
            for absmax in ((None, 1e3) if not mx.power_of_two_scale else (None,)):
                values, scales = Q.quantize_values(xs, name, tensor_absmax=absmax)
                with np.errstate(over="ignore", invalid="ignore"):
                    q = quantize_mx(xs, mx, tensor_absmax=absmax)
                want = F.decode(q.codes, mx.element) * unit
                assert values.dtype == np.float64 and values.shape == xs.shape
                assert np.array_equal(values, want) and np.array_equal(np.signbit(values), np.signbit(want)), \
                    (n, dtype, np.argwhere(values != want)[:3])
                assert np.array_equal(scales.codes, q.scale_codes) and scales.tensor_scale == q.tensor_scale
    # along another axis: the blocks run along block_axis
    w = rng.standard_normal((70, 5)).astype(np.float32)
    values, scales = Q.quantize_values(w, name, block_axis=-2)
    q = quantize_mx(w.T, mx)
    assert np.array_equal(values, (F.decode(q.codes, mx.element) * unit).T)
    assert np.array_equal(scales.codes, q.scale_codes)


def test_block_recipes_check_both_operands_and_the_register():
    with pytest.raises(FieldError, match="needs both operands in block formats") as error:
        Q.Numerics("mxfp8_e4m3", "float8_e4m3fn", "float32")
    assert error.value.field == "activations"
    with pytest.raises(FieldError, match="same block size and scale format"):
        Q.Numerics("nvfp4", "mxfp4_e2m1", "float32")
    with pytest.raises(FieldError, match="accumulate into float16, bfloat16 or float32"):
        Q.Numerics("mxint8", "mxint8", "fixed")


def test_block_sums_go_to_blas_only_where_every_order_is_exact():
    """A block of E5M2 products spans more than a double (2^-32 … 2^36.6 over 32 of them): its
    sums stay on the TwoSum kernel; the other element types' fit, and BLAS forms them exactly."""
    from rtl.numerics.scaling import MX_FORMATS

    exact = {name: Q._block_sums_exact(mx, mx) for name, mx in MX_FORMATS.items()}
    assert exact == {"mxfp8_e4m3": True, "mxfp8_e5m2": False, "mxfp6_e3m2": True, "mxfp6_e2m3": True,
                     "mxfp4_e2m1": True, "mxint8": True, "nvfp4": True}


def test_saturated_counts_in_float32_are_the_float64_counts():
    """Float32 inputs are compared in float32 against the threshold taken down to a float32: the
    same count as |x| > max·scale in float64, at thresholds float32 cannot hold, beyond its range,
    at zero, and for ±Inf, NaN and subnormal inputs."""
    from hwmodel.accuracy.qmatmul import saturated_count

    rng = np.random.default_rng(5)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38], np.float32)
    for fmt in ("int8_sym", "float8_e4m3fn", "float8_e5m2", "int4_sym"):
        top = F.get_format(fmt).max_value
        for scale in [*np.exp(rng.uniform(-30, 30, 40)), 1.0, 0.1, 1 / 3, 1e300, 3.4028235e38 / top, 0.0, np.inf]:
            threshold = top * scale
            near = np.float32(min(threshold, 3e38)) if threshold < np.inf else np.float32(1)
            x = np.concatenate([specials, rng.normal(0, threshold if 0 < threshold < 1e30 else 1, 300).astype(np.float32),
                                np.nextafter(near, np.float32(np.inf)) * np.array([1, -1], np.float32),
                                np.nextafter(near, np.float32(0)) * np.array([1, -1], np.float32),
                                near * np.array([1, -1], np.float32)])
            with np.errstate(invalid="ignore"):
                want = int(np.count_nonzero(np.abs(x.astype(np.float64)) > threshold))
            assert saturated_count(x, fmt, scale) == want, (fmt, scale)
