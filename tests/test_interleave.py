"""Interleaved accumulators: the golden ring against plain float32 arithmetic, the hardware
against the golden ring in both simulators, and the accuracy kernels against both."""

import dataclasses

import ml_dtypes
import numpy as np
import pytest

from hwmodel.accuracy.qmatmul import BlockScales, Numerics, accumulate_matmul, block_register, qmatmul
from rtl.errors import FieldError
from rtl.hdl import verify
from rtl.hdl.spec import MacSpec
from rtl.numerics import arith, interleave
from rtl.numerics.formats import decode, encode, quantize
from rtl.numerics.scaling import MX_FORMATS

E4M3 = "float8_e4m3fn"


def _codes(rng, n):
    values = rng.standard_normal(n) * 8
    return encode(values.astype(ml_dtypes.float8_e4m3fn).astype(np.float64), E4M3).astype(np.int64)


def _float32_oracle(a_codes, b_codes, n):
    """Round-robin partial sums in numpy float32 (every E4M3 product is exact in float32, and
    numpy's float32 addition rounds correctly), folded in the order they reach ``acc``."""
    p = (decode(a_codes, E4M3) * decode(b_codes, E4M3)).astype(np.float32)
    slots = [np.float32(0.0)] * n
    for t, x in enumerate(p):
        slots[t % n] = np.float32(slots[t % n] + x)
    out = slots[interleave.partial_order(len(p), n)[0]]
    for j in interleave.partial_order(len(p), n)[1:]:
        out = np.float32(out + slots[j])
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("k", [1, 2, 7, 64])
def test_golden_ring_is_round_robin_float32_arithmetic(n, k):
    rng = np.random.default_rng(n * 100 + k)
    acc = arith.parse_accumulator("float32", E4M3, E4M3)
    a, b = _codes(rng, k), _codes(rng, k)
    clear = np.zeros(k, bool)
    clear[0] = True
    updates = arith.step_updates(acc, E4M3, a[:, None], E4M3, b[:, None], clear=clear)
    got = interleave.interleaved_dot(acc, n, (), updates)
    want = _float32_oracle(a, b, n)
    assert np.uint32(got) == want.view(np.uint32)
    register = accumulate_matmul(decode(a, E4M3)[None, :], decode(b, E4M3)[:, None], acc, E4M3, E4M3, interleave=n)
    assert np.float32(register[0, 0]).view(np.uint32) == want.view(np.uint32)


def test_interleaving_changes_the_rounding_but_not_the_exact_sum():
    """A sum whose float32 rounding depends on the order: 2**24 then 64 ones. One register
    absorbs every 1 (ties to even); two interleaved ones each keep half of them exactly."""
    acc = arith.parse_accumulator("float32", "float16", "float16")
    a = np.array([2.0 ** 12] + [1.0] * 64)
    b = np.array([2.0 ** 12] + [1.0] * 64)
    one = accumulate_matmul(a[None], b[:, None], acc, "float16", "float16")[0, 0]
    two = accumulate_matmul(a[None], b[:, None], acc, "float16", "float16", interleave=2)[0, 0]
    assert one == 2.0 ** 24
    assert two == 2.0 ** 24 + 32  # the partial sum without 2**24 holds its 32 ones exactly


def test_partial_sums_fold_like_ieee_addition():
    acc = arith.parse_accumulator("float32", E4M3, E4M3)
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(2000) * np.exp2(rng.integers(-150, 128, 2000))).astype(np.float32)
    y = (rng.standard_normal(2000) * np.exp2(rng.integers(-150, 128, 2000))).astype(np.float32)
    x[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, -0.0]
    y[:6] = [-0.0, -0.0, -np.inf, 5.0, 1.0, 0.0]
    got = interleave.reduce_partials(acc, [x.view(np.uint32).astype(np.int64), y.view(np.uint32).astype(np.int64)])
    with np.errstate(invalid="ignore", over="ignore"):
        want = x + y
    got = got.astype(np.uint32).view(np.float32)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))
    from hwmodel.accuracy import kernels
    with np.errstate(invalid="ignore", over="ignore"):
        folded = kernels.fold_add(x.astype(np.float64), y.astype(np.float64), precision=24, emin=-126,
                                  max_value=float(np.finfo(np.float32).max), flush_to_zero=False)
    assert np.array_equal(folded.astype(np.float32), want, equal_nan=True)


HARDWARE = [
    ("float8_e4m3fn", "float32", 1, 0, 2, False),
    ("float8_e4m3fn", "float32", 1, 3, 3, False),
    ("float8_e4m3fn", "float32", 1, 1, 4, False),
    ("float8_e4m3fn", "float32", 1, 2, 5, False),
    ("float8_e5m2", "float16", 4, 3, 5, False),
    ("float8_e4m3fn", "bfloat16", 4, 0, 3, True),
    ("int8_sym", "float32", 4, 2, 4, False),
    ("mxfp8_e4m3", "float32", 8, 3, 5, False),  # a block every 4 cycles
    ("nvfp4", "float32", 16, 0, 3, False),
    ("mxfp4_e2m1", "float16", 32, 1, 2, False),
]


@pytest.mark.parametrize("fmt,acc,lanes,stages,n,ftz", HARDWARE)
def test_interleaved_hardware_matches_the_golden_ring(fmt, acc, lanes, stages, n, ftz):
    spec = MacSpec.from_names(fmt, fmt, acc, lanes=lanes, stages=stages, interleave=n, flush_to_zero=ftz)
    stream = verify.random_stream(spec, 500, seed=n + 10 * stages)
    golden = verify.golden_trace(spec, stream)
    plain = verify.golden_trace(dataclasses.replace(spec, interleave=1), stream)
    assert not np.array_equal(golden, plain)  # the partial sums are not one register's states
    assert np.array_equal(verify.amaranth_trace(spec, stream), golden)
    assert np.array_equal(verify.iverilog_trace(spec, stream), golden)


@pytest.mark.parametrize("fmt,lanes,n", [("float8_e4m3fn", 4, 3), ("mxfp8_e5m2", 16, 3), ("nvfp4", 16, 5)])
def test_partial_sums_read_off_the_hardware_fold_to_the_accuracy_kernel(fmt, lanes, n):
    """A dense dot product through Icarus; its N partial sums taken from ``acc`` over the N
    cycles ending with the last step's and folded are the result ``qmatmul``'s kernels give."""
    spec = MacSpec.from_names(fmt, fmt, "float32", lanes=lanes, stages=1, interleave=n)
    rng = np.random.default_rng(7)
    steps = 10 if spec.scaling is None else 5  # blocks, each ``chunks`` cycles
    cycles = steps * spec.chunks
    element = spec.a
    a = quantize(rng.standard_normal((cycles, lanes)) * 4, element).astype(np.int64)
    b = quantize(rng.standard_normal((cycles, lanes)) * 4, element).astype(np.int64)
    clear = np.zeros(cycles, bool)
    clear[spec.chunks - 1] = True  # read on the first block's last chunk (cycle 0 for a MAC)
    if spec.scaling is not None:
        sa = np.repeat(rng.integers(0x30, 0x40, steps) if fmt == "nvfp4" else rng.integers(120, 134, steps),
                       spec.chunks)
        sb = np.repeat(rng.integers(0x30, 0x40, steps) if fmt == "nvfp4" else rng.integers(120, 134, steps),
                       spec.chunks)
    else:
        sa = sb = None
    stream = verify.Stream(a, b, np.ones(cycles, bool), clear, None, sa, sb)
    trace = verify.iverilog_trace(spec, stream)
    read = [np.int64(trace[c]) for c in range(cycles - n, cycles)]
    result = interleave.reduce_partials(spec.acc, read)
    assert result == interleave.interleaved_dot(spec.acc, n, (), verify.loop_updates(spec, stream))
    a_rows, b_cols = decode(a.reshape(1, -1), element), decode(b.reshape(-1, 1), element)
    if spec.scaling is None:
        want = accumulate_matmul(a_rows, b_cols, spec.acc, element, element, lanes=lanes, interleave=n)[0, 0]
    else:
        mx = MX_FORMATS[fmt]
        scales_a = BlockScales(mx, sa[spec.chunks - 1::spec.chunks].reshape(1, steps))
        scales_b = BlockScales(mx, sb[spec.chunks - 1::spec.chunks].reshape(1, steps))
        want = block_register(a_rows, b_cols, spec.acc, scales_a, scales_b, interleave=n, chunks=spec.chunks)[0, 0]
    assert np.isfinite(want) and np.float32(want).view(np.uint32) == np.uint32(result)


def test_qmatmul_takes_the_recipe_interleave():
    rng = np.random.default_rng(5)
    a = decode(_codes(rng, 4 * 96).reshape(4, 96), E4M3)
    b = decode(_codes(rng, 96 * 3).reshape(96, 3), E4M3)
    plain = qmatmul(a, b, Numerics(E4M3, E4M3, "float16", lanes=4))
    four = qmatmul(a, b, Numerics(E4M3, E4M3, "float16", lanes=4, interleave=4))
    acc = arith.parse_accumulator("float16", E4M3, E4M3)
    for i in range(4):
        for j in range(3):
            steps = arith.step_updates(acc, E4M3, encode(a[i], E4M3).reshape(24, 4).astype(np.int64), E4M3,
                                       encode(b[:, j], E4M3).reshape(24, 4).astype(np.int64),
                                       clear=np.arange(24) == 0)
            want = decode(interleave.interleaved_dot(acc, 4, (), steps), "float16")
            assert four[i, j] == want
    assert not np.array_equal(plain, four)  # float16 registers over 96 products: the order shows


def test_interleave_bad_input():
    with pytest.raises(FieldError, match="interleave must be one of"):
        MacSpec.from_names(E4M3, E4M3, "float32", interleave=6)
    with pytest.raises(FieldError, match="integer adder"):
        MacSpec.from_names("int8_sym", "int8_sym", "fixed", interleave=2)
    with pytest.raises(FieldError, match="at most 2 stages"):
        MacSpec.from_names("int8_sym", "int8_sym", "fixed", stages=3)
    with pytest.raises(FieldError, match="need a float accumulator"):
        Numerics("int8_sym", "int8_sym", "int32", interleave=2)
    with pytest.raises(FieldError, match="must divide the block"):
        Numerics("nvfp4", "nvfp4", "float32", lanes=32, interleave=2)
    spec = MacSpec.from_names(E4M3, E4M3, "float32", interleave=3, stages=2)
    assert spec.name.endswith("_s2_i3") and spec.latency == 4 and spec.describe()["interleave"] == 3
    assert "interleave" not in MacSpec.from_names(E4M3, E4M3, "float32").describe()
