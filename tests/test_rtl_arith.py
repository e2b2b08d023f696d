"""Golden MAC arithmetic against exact rational arithmetic (fractions.Fraction)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from rtl.numerics import arith as A
from rtl.numerics import formats as F

from conftest import stable_seed

OPERANDS = ["int8_sym", "float8_e4m3fn", "float8_e5m2", "float8_e2m5fnuz", "float8_e3m4fnuz",
            "float4_e2m1fn", "bfloat16", "float16"]


# ----- an independent oracle: rationals, IEEE rules written out -----------------------------
def _value(fmt, code):
    v = float(F.decode(np.array([code]), fmt)[0])
    return v


def _round_fraction(q: Fraction, fmt: F.Format, ftz=False):
    """(value, sign) of q rounded to nearest-even in an IEEE format; value may be ±inf."""
    if q == 0:
        return Fraction(0)
    e = math.frexp(float(abs(q)))[1] - 1 if abs(q) > Fraction(2) ** -1000 else -1100
    while Fraction(2) ** e > abs(q):
        e -= 1
    while Fraction(2) ** (e + 1) <= abs(q):
        e += 1
    ulp = Fraction(2) ** (max(e, fmt.emin) - fmt.man_bits)
    r = round(q / ulp) * ulp
    if abs(r) > Fraction(fmt.max_value):
        return math.copysign(math.inf, r)
    if ftz and 0 < abs(r) < Fraction(fmt.min_normal):
        return Fraction(0)
    return r


def _oracle_float_sequence(acc_fmt, a_fmt, b_fmt, a_codes, b_codes, ftz=False):
    """Sequential reference for one MAC: a_codes, b_codes of shape (steps, lanes)."""
    acc, acc_neg = Fraction(0), False  # +0
    special = None  # None, 'nan', +inf, -inf
    for a_step, b_step in zip(a_codes, b_codes):
        terms, neg_zero_terms, infs, nan = [], [], set(), special == "nan"
        if special in (math.inf, -math.inf):
            infs.add(special)
        for ca, cb in zip(a_step, b_step):
            va, vb = _value(a_fmt, ca), _value(b_fmt, cb)
            if math.isnan(va) or math.isnan(vb) or (math.isinf(va) and vb == 0) or (math.isinf(vb) and va == 0):
                nan = True
                continue
            if math.isinf(va) or math.isinf(vb):
                infs.add(math.copysign(math.inf, va) * math.copysign(1, vb))
                continue
            terms.append(Fraction(va) * Fraction(vb))
            neg_zero_terms.append(terms[-1] == 0 and (math.copysign(1, va) * math.copysign(1, vb)) < 0)
        if nan or len(infs) == 2:
            special = "nan"
            continue
        if infs:
            special = infs.pop()
            continue
        total = acc + sum(terms, Fraction(0))
        if total == 0:
            acc_neg = acc == 0 and acc_neg and all(neg_zero_terms)
            acc = Fraction(0)
            continue
        r = _round_fraction(total, acc_fmt, ftz)
        if isinstance(r, float):
            special = r
            continue
        acc, acc_neg = r, (r < 0) or (r == 0 and total < 0)
    if special == "nan":
        return math.nan
    if special is not None:
        return special
    return -0.0 if acc == 0 and acc_neg else float(acc)


def _codes_for(fmt, rng, shape, special_fraction=0.02):
    """Random codes biased towards tiny, huge and special values."""
    fmt = F.get_format(fmt)
    codes = rng.integers(0, 1 << fmt.bits, shape)
    values = F.decode(codes, fmt)
    if special_fraction == 0:
        keep = np.isfinite(values)
        while not keep.all():
            codes = np.where(keep, codes, rng.integers(0, 1 << fmt.bits, shape))
            keep = np.isfinite(F.decode(codes, fmt))
    return codes.astype(fmt.code_dtype)


def _same(ours, want):
    if math.isnan(want):
        return math.isnan(ours)
    return ours == want and math.copysign(1, ours) == math.copysign(1, want)


# ----- products and widths ----------------------------------------------------------------
@pytest.mark.parametrize("a,b", [("float8_e4m3fn", "float8_e5m2"), ("float8_e2m5fnuz", "float8_e2m5fnuz"),
                                 ("int8", "int4"), ("float16", "float16"), ("bfloat16", "bfloat16"),
                                 ("float4_e2m1fn", "float8_e4m3fn")])
def test_exact_products_are_exact(a, b):
    rng = np.random.default_rng(1)
    ca, cb = _codes_for(a, rng, 3000), _codes_for(b, rng, 3000)
    p = A.exact_products(a, ca, b, cb)
    for i in range(len(ca)):
        va, vb = _value(a, ca[i]), _value(b, cb[i])
        if math.isnan(va) or math.isnan(vb) or (math.isinf(va) and vb == 0) or (math.isinf(vb) and va == 0):
            assert p.nan[i]
        elif math.isinf(va) or math.isinf(vb):
            assert p.inf[i] == math.copysign(1, va) * math.copysign(1, vb)
        else:
            assert Fraction(int(p.multiple[i])) * Fraction(2) ** p.lsb_exponent == Fraction(va) * Fraction(vb)
            assert abs(int(p.multiple[i])) < 1 << (p.width - 1)
            assert p.negative_zero[i] == (va * vb == 0 and math.copysign(1, va) * math.copysign(1, vb) < 0)


def test_widths_match_reference_table():
    # ../shared/reference/fp8_vs_int8_facts.md §4: product incl. sign, +12 guard bits
    expected = {"int4_sym": 7, "int8_sym": 15, "int8": 16, "int16_sym": 31, "float8_e2m5fnuz": 17,
                "float8_e3m4fnuz": 23, "float8_e4m3fn": 37, "float8_e5m2": 65, "float4_e2m1fn": 9,
                "float16": 81, "bfloat16": 523}
    for name, width in expected.items():
        assert A.product_width(name, name) == width, name
        assert A.accumulator_width(name, name) == width + 12
    assert A.accumulator_width("int8_sym", "int8_sym", guard_bits=5) == 20
    assert A.product_width("int4", "int8") == 1 + (8 * 128).bit_length()
    with pytest.raises(ValueError, match="guard_bits"):
        A.accumulator_width("int8", "int8", -1)


def test_product_width_is_tight():
    for name in ["int8_sym", "float8_e4m3fn", "float8_e3m4fnuz"]:
        fmt = F.get_format(name)
        top = F.encode([fmt.max_value], fmt)
        p = A.exact_products(fmt, top, fmt, top)
        assert int(p.multiple[0]).bit_length() + 1 == A.product_width(fmt, fmt)


# ----- fixed and Kulisch accumulation -----------------------------------------------------
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("a,lanes", [("int8", 1), ("float8_e4m3fn", 4), ("float8_e5m2", 2)])
def test_fixed_accumulator_matches_integers(a, lanes, overflow):
    rng = np.random.default_rng(2)
    steps, macs = 40, 200
    ca = _codes_for(a, rng, (steps, macs, lanes), 0)
    cb = _codes_for(a, rng, (steps, macs, lanes), 0)
    exact = A.kulisch_accumulator(a, a, guard_bits=12)
    narrow = A.FixedAccumulator(A.product_width(a, a) + 1, exact.lsb_exponent, overflow)
    got_exact = A.mac(exact, a, ca, a, cb)
    got_narrow = A.mac(narrow, a, ca, a, cb)
    unbounded = A.mac(A.FixedAccumulator(None, exact.lsb_exponent), a, ca, a, cb)
    lo, hi = -(1 << (narrow.width - 1)), (1 << (narrow.width - 1)) - 1
    for m in range(macs):
        ref, ref_narrow = 0, 0
        for s in range(steps):
            step = sum(Fraction(_value(a, ca[s, m, k])) * Fraction(_value(a, cb[s, m, k])) for k in range(lanes))
            step = int(step / Fraction(2) ** exact.lsb_exponent)
            ref += step
            ref_narrow += step
            if overflow == "wrap":
                ref_narrow = (ref_narrow - lo) % (1 << narrow.width) + lo
            else:
                ref_narrow = min(max(ref_narrow, lo), hi)
        assert int(got_exact[m]) == ref == int(unbounded[m])
        assert int(got_narrow[m]) == ref_narrow


def test_fixed_accumulator_rejects_coarse_lsb_and_bad_fields():
    p = A.exact_products("float8_e4m3fn", np.ones((1, 1), np.uint8), "float8_e4m3fn", np.ones((1, 1), np.uint8))
    with pytest.raises(ValueError, match="coarser than the product LSB"):
        A.accumulate(A.FixedAccumulator(32, 0), A.zeros(A.FixedAccumulator(32, 0), (1,)), p)
    with pytest.raises(ValueError, match="width must be"):
        A.FixedAccumulator(0)
    with pytest.raises(ValueError, match="overflow must be"):
        A.FixedAccumulator(8, 0, "clip")
    with pytest.raises(ValueError, match="IEEE format"):
        A.FloatAccumulator(F.get_format("float8_e4m3fn"))


# ----- float accumulation -----------------------------------------------------------------
FLOAT_CASES = [("float16", "float8_e4m3fn", 1), ("float16", "float8_e5m2", 1), ("float32", "float8_e5m2", 4),
               ("bfloat16", "float8_e3m4fnuz", 2), ("float16", "float8_e2m5fnuz", 1), ("float32", "bfloat16", 1),
               ("float16", "float16", 2), ("bfloat16", "int8", 1), ("float32", "float4_e2m1fn", 8)]


@pytest.mark.parametrize("acc_name,op,lanes", FLOAT_CASES)
@pytest.mark.parametrize("ftz", [False, True])
def test_float_accumulation_against_rationals(acc_name, op, lanes, ftz):
    rng = np.random.default_rng(stable_seed(acc_name, op, lanes, ftz))
    steps, macs = 12, 150
    ca = _codes_for(op, rng, (steps, macs, lanes))
    cb = _codes_for(op, rng, (steps, macs, lanes))
    # cancellation: in a third of the MACs the second half of the sequence undoes the first
    half = steps // 2
    neg = F.quantize(-F.decode(ca[:half], op), op, saturate=False) if F.get_format(op).signed else ca[:half]
    ca[half:, :50] = neg[:, :50]
    cb[half:, :50] = cb[:half, :50]
    acc = A.FloatAccumulator(F.get_format(acc_name), flush_to_zero=ftz)
    got = F.decode(A.mac(acc, op, ca, op, cb), acc_name)
    for m in range(macs):
        want = _oracle_float_sequence(acc.format, F.get_format(op), F.get_format(op), ca[:, m], cb[:, m], ftz)
        assert _same(got[m], want), (m, got[m], want)


def test_float_accumulator_edge_cases():
    f16, e5 = F.get_format("float16"), F.get_format("float8_e5m2")
    acc = A.FloatAccumulator(f16)

    def run(a_values, b_values, start=0.0):
        ca = F.encode(np.array(a_values, dtype=float).reshape(-1, 1, 1), e5)
        cb = F.encode(np.array(b_values, dtype=float).reshape(-1, 1, 1), e5)
        out = A.mac(acc, e5, ca, e5, cb, initial=F.encode([start], f16))
        return out[0], F.decode(out, f16)[0]

    code, v = run([57344.0], [2.0])  # overflow → +Inf
    assert v == math.inf
    code, v = run([np.inf, 1.0], [0.0, 1.0])  # Inf × 0 → canonical NaN
    assert code == 0x7E00
    code, v = run([np.inf, -np.inf], [1.0, 1.0])  # Inf − Inf → NaN
    assert code == 0x7E00
    code, v = run([2.0 ** -16], [2.0 ** -16])  # 2**-32 underflows to +0
    assert code == 0x0000
    code, v = run([-(2.0 ** -16)], [2.0 ** -16])  # negative underflow keeps its sign
    assert code == 0x8000
    code, v = run([3.0, -3.0], [5.0, 5.0])  # exact cancellation → +0
    assert code == 0x0000
    code, v = run([-0.0], [1.0], start=-0.0)  # −0 + −0 = −0
    assert code == 0x8000
    code, v = run([0.0], [1.0], start=-0.0)  # −0 + +0 = +0
    assert code == 0x0000
    code, v = run([2.0 ** -14], [2.0 ** -1])  # result in float16's subnormal range
    assert v == 2.0 ** -15
    ftz = A.FloatAccumulator(f16, flush_to_zero=True)
    out = A.mac(ftz, e5, F.encode([[[2.0 ** -14]]], e5), e5, F.encode([[[2.0 ** -1]]], e5))
    assert out[0] == 0


def test_tie_breaking_through_a_tiny_addend():
    # bfloat16 accumulator, e3m4 products: 17·19 = 323 is a bfloat16 midpoint; a tiny negative
    # accumulator value must pull it down, which float64 summation would miss.
    e3, bf = F.get_format("float8_e3m4fnuz"), F.get_format("bfloat16")
    a = F.encode([17 / 16 * 8], e3)
    b = F.encode([19 / 16 * 8], e3)
    start = F.encode([-bf.min_subnormal], bf)
    p = A.exact_products(e3, a.reshape(1, 1), e3, b.reshape(1, 1))
    out = A.accumulate(A.FloatAccumulator(bf), start, p)
    exact = Fraction(17 * 19, 4) - Fraction(bf.min_subnormal)
    assert Fraction(float(F.decode(out, bf)[0])) == _round_fraction(exact, bf)
    assert F.decode(out, bf)[0] == 322 / 4  # the tie alone would round to 81.0


def test_accumulate_checks_shapes():
    p = A.exact_products("int8", np.ones((3, 2), np.uint8), "int8", np.ones((3, 2), np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        A.accumulate(A.FixedAccumulator(27), np.zeros(4, np.int64), p)
