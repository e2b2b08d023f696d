"""Block-scaled dot products (MX, NVFP4): the golden model against outside oracles, and the
hardware against the golden model in Amaranth's simulator and Icarus Verilog.

CI runs: the golden block step against exact rational arithmetic rounded by numpy; every element
pair of every block format in a one-chunk unit in Icarus (FP8 and MXINT8: 65,536 pairs under
cycling scale pairs) and the small formats also in Amaranth; random streams with NaN scales,
clears and idle cycles through chunked and pipelined units in both simulators.
"""

from fractions import Fraction

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.hdl import verify as V
from rtl.hdl.spec import MacSpec
from rtl.numerics import blocks as B
from rtl.numerics import formats as F
from rtl.numerics.arith import FloatAccumulator, zeros
from rtl.numerics.scaling import MX_FORMATS, quantize_mx

from conftest import stable_seed
from test_rtl_mac import assert_same

FORMATS = list(MX_FORMATS)
SMALL = [n for n in FORMATS if MX_FORMATS[n].element.bits <= 6]


def spec_of(name, acc="float32", lanes=None, stages=0, other=None):
    size = MX_FORMATS[name].block_size
    return MacSpec.from_names(name, other or name, acc, lanes=lanes or size, stages=stages)


def _exact(fmt, codes):
    return [Fraction(float(v)) for v in F.decode(np.asarray(codes), fmt)]


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("acc", ["float32", "float16"])
def test_block_step_is_the_exact_sum_rounded_once(name, acc):
    """Oracle: the block's value in exact rationals (decoded elements, scales 2**(code−127) or
    E4M3 values), added to the register exactly, converted to float64 where that is exact and
    rounded once by numpy's own float64 → float32 / float16 conversion."""
    mx = MX_FORMATS[name]
    scaling = B.BlockScaling(name, name)
    register = FloatAccumulator(acc)
    dtype = np.float32 if acc == "float32" else np.float16
    rng = np.random.default_rng(stable_seed(name, acc))
    x = rng.standard_normal((40, mx.block_size)) * np.exp2(rng.integers(-8, 8, (40, 1)))
    y = rng.standard_normal((40, mx.block_size))
    qa, qb = quantize_mx(x, name), quantize_mx(y, name)
    start = F.quantize(rng.standard_normal(40) * 4, register.format)
    got = F.decode(B.block_accumulate(register, scaling, start, qa.codes, qb.codes, qa.scale_codes[:, 0],
                                      qb.scale_codes[:, 0]), register.format)
    checked = 0
    for r in range(40):
        unit = Fraction(2) ** mx.element_scale_exponent
        scale = (Fraction(float(F.decode(qa.scale_codes[r, :1], mx.scale_format)[0]))
                 * Fraction(float(F.decode(qb.scale_codes[r, :1], mx.scale_format)[0])))
        total = sum(p * q for p, q in zip(_exact(mx.element, qa.codes[r]), _exact(mx.element, qb.codes[r])))
        exact = Fraction(float(F.decode(start[r:r + 1], register.format)[0])) + total * scale * unit * unit
        if Fraction(float(exact)) != exact or abs(exact) > F.get_format(acc).max_value:
            continue  # not a double (numpy's conversion would round twice), or beyond the register
        checked += 1
        assert got[r] == float(dtype(float(exact))), (name, acc, r)
    assert checked >= 20


def test_block_specials_follow_the_ocp_rules():
    acc = FloatAccumulator("float32")
    e4 = B.BlockScaling("mxfp8_e4m3", "mxfp8_e4m3")
    ones = F.quantize(np.ones(32), "float8_e4m3fn")
    code = lambda v: F.quantize(np.array([v]), "float32")[0]
    # a NaN scale (0xFF) poisons the block; the register then stays NaN
    nan = B.block_accumulate(acc, e4, zeros(acc), ones, ones, 0xFF, 127)
    assert np.isnan(F.decode(nan, "float32")) and int(nan) == 0x7FC00000
    # 2**127 · 2**127 · 32 overflows float32: +Inf, as IEEE rounding gives it
    assert F.decode(B.block_accumulate(acc, e4, zeros(acc), ones, ones, 254, 254), "float32") == np.inf
    # the smallest scales: 2**-254 · 32 is far below float32's subnormals → +0
    assert int(B.block_accumulate(acc, e4, zeros(acc), ones, ones, 0, 0)) == 0
    # E5M2 infinities: +Inf; +Inf and −Inf in one block: NaN
    e5 = B.BlockScaling("mxfp8_e5m2", "mxfp8_e5m2")
    a = F.quantize(np.ones(32), "float8_e5m2")
    a[3] = 0x7C  # +Inf (the quantizer saturates, so the code is written out)
    assert F.decode(B.block_accumulate(acc, e5, zeros(acc), a, a, 127, 127), "float32") == np.inf
    a[4] = 0xFC  # −Inf
    assert np.isnan(F.decode(B.block_accumulate(acc, e5, zeros(acc), a, F.quantize(np.ones(32), "float8_e5m2"),
                                                127, 127), "float32"))
    # −0: a block of −0 products into −0 stays −0; one +0 product makes it +0
    neg = F.quantize(np.full(32, -0.0), "float8_e4m3fn")
    minus_zero = code(-0.0)
    assert int(B.block_accumulate(acc, e4, minus_zero, neg, ones, 127, 127)) == int(minus_zero)
    neg[0] = 0
    assert int(B.block_accumulate(acc, e4, minus_zero, neg, ones, 127, 127)) == 0
    # NVFP4: the E4M3 scale's sign bit is not read; a NaN scale (0x7F) poisons the block
    nv = B.BlockScaling("nvfp4", "nvfp4")
    two = F.quantize(np.full(16, 2.0), "float4_e2m1fn")
    one = F.quantize(np.array([1.0]), "float8_e4m3fn")[0]
    assert F.decode(B.block_accumulate(acc, nv, zeros(acc), two, two, one, one | 0x80), "float32") == 64.0
    assert np.isnan(F.decode(B.block_accumulate(acc, nv, zeros(acc), two, two, 0x7F, one), "float32"))


def test_block_dot_does_not_depend_on_lanes():
    """A block taken 4 elements a cycle holds its partial sum exactly: the same register."""
    acc = FloatAccumulator("bfloat16")
    scaling = B.BlockScaling("mxfp6_e3m2", "mxfp6_e3m2")
    rng = np.random.default_rng(5)
    qa = quantize_mx(rng.standard_normal((6, 96)) * 50, "mxfp6_e3m2")
    qb = quantize_mx(rng.standard_normal(96), "mxfp6_e3m2")
    whole = B.block_dot(acc, scaling, qa.codes, qb.codes, qa.scale_codes, qb.scale_codes)
    chunks = qa.codes.reshape(6, 24, 4).transpose(1, 0, 2)  # (cycles, rows, lanes)
    b_chunks = np.broadcast_to(qb.codes.reshape(24, 1, 4), chunks.shape)
    scale_a = np.repeat(qa.scale_codes.T, 8, axis=0)
    scale_b = np.repeat(np.broadcast_to(qb.scale_codes[:, None], (3, 6)), 8, axis=0)
    for state in B.block_steps(acc, scaling, chunks, b_chunks, scale_a, scale_b):
        pass
    assert np.array_equal(state, whole)
    # and it is the quantized dot product, rounded per block
    assert np.allclose(F.decode(whole, "bfloat16"), qa.dequantize() @ qb.dequantize(), rtol=2 ** -6)


@pytest.mark.parametrize("name", FORMATS)
def test_every_element_pair_iverilog(name):
    spec = spec_of(name)
    stream = V.exhaustive_block_stream(spec, seed=stable_seed(name))
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, every element pair")


@pytest.mark.parametrize("name", SMALL)
def test_every_element_pair_amaranth(name):
    spec = spec_of(name)
    stream = V.exhaustive_block_stream(spec, seed=stable_seed(name))
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, every element pair")


UNITS = [("mxfp8_e4m3", "float32", 8, 0), ("mxfp8_e5m2", "float32", 32, 1), ("mxfp6_e2m3", "bfloat16", 4, 2),
         ("mxfp4_e2m1", "float32", 1, 0), ("mxint8", "float32", 16, 2), ("nvfp4", "float32", 4, 1),
         ("nvfp4", "float16", 16, 0)]


@pytest.mark.parametrize("name,acc,lanes,stages", UNITS)
def test_random_block_streams_both_simulators(name, acc, lanes, stages):
    spec = spec_of(name, acc, lanes, stages)
    stream = V.random_stream(spec, 1500, seed=stable_seed(name, acc, lanes, stages))
    want = V.golden_trace(spec, stream)
    values = F.decode(np.array([int(v) for v in want], np.int64), spec.acc.format)
    blocks = int(stream.en.sum()) // spec.chunks
    assert np.isfinite(values).mean() > 0.5 and len(set(want)) > min(blocks, 100) / 2  # the register is exercised
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, random")
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, random")


def test_mixed_element_formats_share_a_block_unit():
    spec = MacSpec.from_names("mxfp8_e4m3", "mxfp8_e5m2", "float32", lanes=32)
    assert (spec.a.name, spec.b.name) == ("float8_e4m3fn", "float8_e5m2")
    stream = V.random_stream(spec, 400, seed=3)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, e4m3 × e5m2")


@pytest.mark.parametrize("a,b,options,field,message", [
    ("mxfp4_e2m1", "float8_e4m3fn", {}, "b", "is a block format and float8_e4m3fn is not"),
    ("int8_sym", "mxint8", {}, "a", "mxint8 is a block format and int8_sym is not"),
    ("mxfp4_e2m1", "nvfp4", {}, "b", "same block size and scale format"),
    ("nvfp4", "nvfp4", {"lanes": 32}, "lanes", "one of 1, 2, 4, 8, 16, not 32"),
    ("mxint8", "mxint8", {"block_size": 64}, "block_size", "defines blocks of 32 elements, not 64"),
    ("mxint8", "mxint8", {"acc": "fixed"}, "acc", "float16, bfloat16 or float32"),
    ("mxfp8_e4m3", "mxfp8_e4m3", {"bias": "power_of_two"}, "bias", "bias must be 'none'"),
])
def test_bad_block_specs_name_the_field(a, b, options, field, message):
    acc = options.pop("acc", "float32")
    with pytest.raises(FieldError, match=message) as error:
        MacSpec.from_names(a, b, acc, **options)
    assert error.value.field == field


def test_block_formats_are_not_scalar_operands():
    with pytest.raises(FieldError, match="needs a block-scaled unit"):
        MacSpec(a="mxfp8_e4m3", b="float8_e4m3fn", acc=FloatAccumulator("float32"))
    with pytest.raises(FieldError, match="block_size applies to block formats"):
        MacSpec.from_names("int8_sym", "int8_sym", "int32", block_size=32)


def test_the_scale_multiplier_is_counted_with_the_multipliers():
    """NVFP4's block sum × scale-significand product is a multiplier (its own submodule, area
    in ``mpy``), not glue in the top module; an E8M0 unit has no such multiplier."""
    from rtl.hdl.mac import stage_of
    from rtl.flow.synth import synthesize

    assert stage_of("scalemul", 16) == stage_of("scale.mpy", 16) == "mpy"
    nv = synthesize(MacSpec.from_names("nvfp4", "nvfp4", "float32", lanes=16), "sky130hd_tt").module_area_um2
    mx = synthesize(MacSpec.from_names("mxfp4_e2m1", "mxfp4_e2m1", "float32", lanes=16), "sky130hd_tt").module_area_um2
    assert nv["scalemul"] > 100 and "scalemul" not in mx
