"""The MAC hardware against the golden arithmetic: Amaranth's simulator and Icarus Verilog.

CI runs: exhaustive products (all operand pairs) of every ≤ 8-bit format pair of the standard set
in Amaranth's simulator; exhaustive single steps of every ≤ 8-bit standard spec, with its own
accumulator, in Icarus Verilog; 10**4 random accumulation cycles per standard spec in both
simulators. ``-m slow`` adds exhaustive Amaranth runs for every spec and 10**5-cycle streams.
"""

import numpy as np
import pytest

from rtl.numerics import formats as F
from rtl.hdl import verify as V
from rtl.numerics.arith import FixedAccumulator, FloatAccumulator, kulisch_accumulator
from rtl.numerics.arith import parse_accumulator
from rtl.hdl.spec import MacSpec, standard_specs

from conftest import stable_seed

STANDARD = standard_specs()
SMALL = [s for s in STANDARD if s.a.bits <= 8 and s.b.bits <= 8 and s.lanes == 1]
PAIRS = sorted({(s.a.name, s.b.name) for s in SMALL})


def spec_of(a, b, acc, lanes=1, stages=0, **options):
    return MacSpec.from_names(a, b, acc, lanes=lanes, stages=stages, **options)


def assert_same(spec, stream, got, where):
    want = V.golden_trace(spec, stream)
    bad = np.flatnonzero(want != got)
    if bad.size:
        t = int(bad[0])
        raise AssertionError(
            f"{spec.name} ({where}): {bad.size} mismatching cycles; first at {t}: a={stream.a[t]} "
            f"b={stream.b[t]} en={stream.en[t]} clear={stream.clear[t]} got={int(got[t]):#x} "
            f"want={int(want[t]):#x} previous={int(want[t - 1]) if t else 0:#x}")


def test_standard_set_covers_the_paper_and_more():
    names = {s.name for s in STANDARD}
    for fmt in ("int8_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz"):
        for acc in ("float16", "float32"):
            assert f"mac_{fmt}_x_{fmt}_{acc}_l1_s0" in names
    assert "mac_int8_sym_x_int8_sym_fixed27_l1_s0" in names  # FX+12: 15 + 12 bits
    assert "mac_float8_e4m3fn_x_float8_e4m3fn_fixed49_l1_s0" in names
    assert {s.lanes for s in STANDARD} == {1, 4, 16}
    assert len(PAIRS) >= 11


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_exhaustive_products_amaranth(pair):
    """Every operand pair through the Amaranth model with an exact (Kulisch) accumulator."""
    a, b = pair
    spec = MacSpec(F.get_format(a), F.get_format(b), kulisch_accumulator(a, b))
    stream = V.exhaustive_stream(spec)
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, exhaustive")


@pytest.mark.parametrize("spec", SMALL, ids=lambda s: s.name)
def test_exhaustive_single_steps_iverilog(spec):
    """Every operand pair into a cleared accumulator of the spec's own kind, in Icarus Verilog."""
    stream = V.exhaustive_stream(spec)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, exhaustive")


@pytest.mark.parametrize("spec", STANDARD, ids=lambda s: s.name)
def test_random_sequences_amaranth(spec):
    stream = V.random_stream(spec, 10_000, seed=stable_seed(spec.name, "amaranth"))
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, random")


@pytest.mark.parametrize("spec", STANDARD, ids=lambda s: s.name)
def test_random_sequences_iverilog(spec):
    stream = V.random_stream(spec, 10_000, seed=stable_seed(spec.name, "iverilog"))
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, random")


# ----- the programmable exponent bias --------------------------------------------------------
PAPER_FP8 = ("float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz")
OFFSETS = (-20, -7, 3)  # two scale exponents' sums: deep, typical, and one that overflows float16
BIASED = [spec_of(f, f, acc, bias="power_of_two") for f in PAPER_FP8 for acc in ("float16", "float32")]


@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_bias_port_exhaustive_single_steps_iverilog(spec):
    stream = V.exhaustive_stream(spec, OFFSETS)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, exhaustive, offsets")


@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_bias_port_exhaustive_single_steps_amaranth(spec):
    """One offset per spec here (30 s each); `-m slow` runs every offset."""
    offset = OFFSETS[BIASED.index(spec) % len(OFFSETS)]
    stream = V.exhaustive_stream(spec, (offset,))
    assert_same(spec, stream, V.amaranth_trace(spec, stream), f"amaranth, exhaustive, offset {offset}")


@pytest.mark.slow
@pytest.mark.parametrize("spec", BIASED, ids=lambda s: s.name)
def test_bias_port_every_offset_amaranth(spec):
    stream = V.exhaustive_stream(spec, OFFSETS)
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, exhaustive, offsets")


def test_bias_shifts_products_by_powers_of_two():
    """The register holds Σ a·b·2**bias: 448 · 448 overflows float16 at bias 0, not at −8."""
    spec = spec_of("float8_e4m3fn", "float8_e4m3fn", "float16", bias="power_of_two")
    big = F.encode([[448.0]], "float8_e4m3fn")
    stream = V.Stream(np.repeat(big, 2, 0), np.repeat(big, 2, 0), np.ones(2, bool), np.ones(2, bool),
                      np.array([0, -8]))
    got = V.iverilog_trace(spec, stream)
    assert_same(spec, stream, got, "iverilog")
    values = F.decode(np.array(got, dtype=np.int64), "float16")
    assert values[0] == np.inf and values[1] == 448.0 * 448.0 / 256


def test_bias_is_refused_where_it_cannot_be():
    with pytest.raises(ValueError, match="bias 'power_of_two' needs a float accumulator .* not fixed49"):
        spec_of("float8_e4m3fn", "float8_e4m3fn", "fixed", bias="power_of_two")
    with pytest.raises(ValueError, match=r"bias must be one of \('none', 'power_of_two'\), not 'pow2'"):
        spec_of("float8_e4m3fn", "float8_e4m3fn", "float16", bias="pow2")
    spec = spec_of("float8_e4m3fn", "float8_e4m3fn", "float16", bias="power_of_two")
    with pytest.raises(ValueError, match="bias offsets must be integers in -256..255 .* not 300"):
        V.exhaustive_stream(spec, (0, 300))
    with pytest.raises(ValueError, match="has no bias port"):
        V.exhaustive_stream(spec_of("float8_e4m3fn", "float8_e4m3fn", "float16"), (3,))


# ----- directed cases ---------------------------------------------------------------------
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_narrow_fixed_accumulator_overflows_as_configured(overflow):
    a = F.get_format("int8_sym")
    spec = MacSpec(a, a, FixedAccumulator(16, 0, overflow))
    big = F.encode([127.0], a)[0]
    small = F.encode([-127.0], a)[0]
    codes = np.array([[big]] * 5 + [[small]] * 9 + [[big]] * 3)
    stream = V.Stream(codes, np.full_like(codes, big), np.ones(len(codes), bool), np.zeros(len(codes), bool))
    got = V.amaranth_trace(spec, stream)
    assert_same(spec, stream, got, "amaranth")
    values = [int(v) - (1 << 16) if int(v) >> 15 else int(v) for v in got]
    if overflow == "saturate":
        assert 32767 in values and -32768 in values
    else:
        assert values[2] == 3 * 16129 - 65536  # 48387 wraps
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog")


def test_float16_accumulator_overflow_nan_and_subnormals():
    e4 = F.get_format("float8_e4m3fn")
    spec = spec_of("float8_e4m3fn", "float8_e4m3fn", "float16")
    values = [(448, 448), (448, 448), (1, 1), (2 ** -9, 2 ** -9), (2 ** -9, 2 ** -3), (-(2 ** -9), 2 ** -3),
              (np.nan, 1), (1, 1), (2.0 ** -6, 2.0 ** -6), (-(2.0 ** -6), 2.0 ** -6)]
    a = F.encode([[v[0]] for v in values], e4)
    b = F.encode([[v[1]] for v in values], e4)
    clear = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], bool)
    stream = V.Stream(a, b, np.ones(len(values), bool), clear)
    got = V.amaranth_trace(spec, stream)
    assert_same(spec, stream, got, "amaranth")
    acc = F.decode(np.array(got, dtype=np.int64), "float16")
    assert acc[1] == np.inf and acc[4] == 2.0 ** -18 + 2.0 ** -12 and acc[5] == 2.0 ** -18
    assert int(got[6]) == 0x7E00  # canonical NaN
    assert acc[9] == 0 and not np.signbit(acc[9])  # exact cancellation → +0


@pytest.mark.parametrize("stages", [0, 1, 2])
@pytest.mark.parametrize("acc", ["fixed", "float32"])
def test_pipelined_units_have_latency_stages_plus_one(stages, acc):
    spec = spec_of("float8_e4m3fn", "float8_e4m3fn", acc, lanes=4, stages=stages)
    assert spec.latency == stages + 1
    stream = V.random_stream(spec, 600, seed=stages)
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth")
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog")


def test_reset_clears_accumulator_and_pipeline():
    from amaranth import ClockDomain, Module
    from amaranth.sim import Simulator

    from rtl.hdl.mac import Mac
    spec = spec_of("int8_sym", "int8_sym", "fixed", stages=1)
    dut = Mac(spec)
    top = Module()
    top.submodules.dut = dut
    top.domains.sync = domain = ClockDomain("sync")
    seen = []

    async def testbench(ctx):
        ctx.set(dut.a, 5)
        ctx.set(dut.b, 7)
        ctx.set(dut.en, 1)
        for _ in range(3):
            await ctx.tick()
        seen.append(ctx.get(dut.acc))  # 3 edges at latency 2: two products landed
        ctx.set(domain.rst, 1)
        await ctx.tick()
        ctx.set(domain.rst, 0)
        ctx.set(dut.en, 0)
        seen.append(ctx.get(dut.acc))
        await ctx.tick()
        seen.append(ctx.get(dut.acc))  # the product in flight at reset was dropped

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [70, 0, 0]


@pytest.mark.parametrize("lanes", [2, 8, 32])
def test_other_lane_counts(lanes):
    spec = spec_of("float8_e5m2", "float8_e5m2", "float16", lanes=lanes)
    stream = V.random_stream(spec, 400, seed=lanes)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog")


@pytest.mark.parametrize("a,b,acc", [("int4", "int8", "fixed"), ("uint8", "int8", "fixed:24"),
                                     ("int8", "float8_e4m3fn", "float32"), ("float6_e3m2fn", "float6_e2m3fn", "float16"),
                                     ("int8", "int8", "bfloat16"), ("float8_e4m3fn", "float8_e5m2", "fixed")])
def test_mixed_operand_pairs(a, b, acc):
    spec = spec_of(a, b, acc, saturate=acc.startswith("fixed:"))
    stream = V.random_stream(spec, 2000, seed=7)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog")
    short = V.Stream(stream.a[:300], stream.b[:300], stream.en[:300], stream.clear[:300])
    assert_same(spec, short, V.amaranth_trace(spec, short), "amaranth")


# ----- slow, exhaustive for every spec ----------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("spec", SMALL, ids=lambda s: s.name)
def test_exhaustive_single_steps_amaranth_every_spec(spec):
    stream = V.exhaustive_stream(spec)
    assert_same(spec, stream, V.amaranth_trace(spec, stream), "amaranth, exhaustive")


@pytest.mark.slow
@pytest.mark.parametrize("spec", STANDARD, ids=lambda s: s.name)
def test_long_random_sequences_iverilog(spec):
    stream = V.random_stream(spec, 100_000, seed=99)
    assert_same(spec, stream, V.iverilog_trace(spec, stream), "iverilog, long")


# ----- bad input --------------------------------------------------------------------------
def test_spec_validation_names_parameter_and_value():
    e4 = F.get_format("float8_e4m3fn")
    acc = FloatAccumulator(F.get_format("float32"))
    with pytest.raises(ValueError, match="lanes must be one of .* not 3"):
        MacSpec(e4, e4, acc, lanes=3)
    with pytest.raises(ValueError, match="lanes must be one of .* not 0"):
        MacSpec(e4, e4, acc, lanes=0)
    with pytest.raises(ValueError, match="stages must be an integer in 0..3, not -1"):
        MacSpec(e4, e4, acc, stages=-1)
    with pytest.raises(ValueError, match="width 30 is narrower than one exact float8_e4m3fn × float8_e4m3fn product"):
        MacSpec(e4, e4, parse_accumulator("fixed:30", e4, e4))
    with pytest.raises(ValueError, match="unknown format 'float8_e4m3'.*|unknown format 'fp8'"):
        F.get_format("fp8")
    with pytest.raises(ValueError, match="unknown accumulator 'float64'"):
        parse_accumulator("float64", e4, e4)
    with pytest.raises(ValueError, match="a register needs at least 2 bits, not 0"):
        parse_accumulator("fixed:0", e4, e4)
    with pytest.raises(ValueError, match="float8_e8m0fnu has no zero"):
        MacSpec(F.get_format("float8_e8m0fnu"), e4, acc)
