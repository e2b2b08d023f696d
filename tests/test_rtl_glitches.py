"""Glitch-aware simulation (rtl.flow.timedsim): every transition with the cells' delays."""

import shutil

import numpy as np
import pytest

from rtl.flow.energy import make_stream
from rtl.flow.gatesim import pack_bits
from rtl.flow.synth import synthesize, synthesize_verilog
from rtl.flow import timedsim
from rtl.flow.timedsim import TimedNetlist, lanes_kernel
from rtl.flow.timed_verilog import icarus_transitions
from rtl.hdl.spec import MacSpec

RIPPLE = """module rca(input clk, input [7:0] a, b, output reg [8:0] s);
  always @(posedge clk) s <= a + b;
endmodule"""
BALANCED = """module xors(input clk, input [7:0] a, b, output reg [7:0] s);
  always @(posedge clk) s <= a ^ b;
endmodule"""


def _random_inputs(widths, cycles, seed=0):
    rng = np.random.default_rng(seed)
    return [{p: pack_bits(rng.integers(0, 1 << w, 64), w) for p, w in widths.items()} for _ in range(cycles)]


def test_a_ripple_carry_chain_glitches_and_balanced_paths_do_not():
    inputs = _random_inputs({"a": 8, "b": 8}, 60)
    for verilog, top, extra in ((RIPPLE, "rca", True), (BALANCED, "xors", False)):
        netlist = synthesize_verilog(verilog, top, "nangate45_typ").netlist
        zero = netlist.simulate(inputs, 1)
        timed = TimedNetlist(netlist).simulate(inputs, 1)
        assert np.array_equal(timed.settled_toggles, zero.toggles)  # it settles where zero-delay says
        if extra:  # carries arrive late: sum bits switch more than once a cycle
            assert timed.toggles.sum() > 1.03 * zero.toggles.sum()
        else:  # every XOR's inputs change together: nothing extra
            assert timed.toggles.sum() == zero.toggles.sum()


def test_a_mac_settles_where_the_zero_delay_simulation_says_and_glitches_more():
    spec = MacSpec.from_names("int8_sym", "int8_sym", "fixed")
    netlist = synthesize(spec, "sky130hd_tt").netlist
    stream = make_stream(spec, "uniform", macs=64 * 60, streams=64)
    ones, zeros = np.full((1, 1), np.uint64(2 ** 64 - 1)), np.zeros((1, 1), np.uint64)
    inputs = [{"a": pack_bits(stream.a[t, :, 0], 8), "b": pack_bits(stream.b[t, :, 0], 8), "en": ones,
               "clear": ones if stream.clear[t] else zeros, "rst": zeros} for t in range(stream.a.shape[0])]
    zero = netlist.simulate(inputs, 1)
    timed = TimedNetlist(netlist).simulate(inputs, 1, streams=4)
    assert timed.streams == 4 and timed.gate_evaluations > 0
    # four streams' settled transitions are the zero-delay ones of those streams: at most all of them
    assert timed.settled_toggles.sum() <= zero.toggles.sum() and timed.toggles.sum() > timed.settled_toggles.sum()
    full = TimedNetlist(netlist).simulate(inputs, 1)
    assert np.array_equal(full.settled_toggles, zero.toggles)
    assert full.toggles.sum() > 1.5 * zero.toggles.sum()  # an array multiplier's glitches


def _mac_inputs(spec, netlist, cycles, seed=0):
    stream = make_stream(spec, "uniform", macs=64 * cycles, streams=64, seed=seed)
    ones, zeros = np.full((1, 1), np.uint64(2 ** 64 - 1)), np.zeros((1, 1), np.uint64)
    inputs = [{"a": pack_bits(stream.a[t, :, 0], spec.a.bits), "b": pack_bits(stream.b[t, :, 0], spec.b.bits),
               "en": ones, "clear": ones if stream.clear[t] else zeros, "rst": zeros} for t in range(stream.a.shape[0])]
    return [{k: v for k, v in c.items() if k in netlist.ports} for c in inputs]


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (apt-get install iverilog)")
@pytest.mark.parametrize("a,acc,library,timer,options", [
    ("int8_sym", "fixed", "sky130hd_tt", "linear", {}),
    ("int8_sym", "fixed", "nangate45_typ", "nldm", {}),
    ("float8_e4m3fn", "float16", "sky130hd_tt", "nldm", {}),
    ("int8_sym", "int32", "sky130hd_tt", "nldm", {"zero_gating": True}),  # clock gates
])
def test_icarus_counts_the_transitions_the_timed_simulation_counts(a, acc, library, timer, options):
    """An event-driven simulator written by others — Icarus Verilog, every gate a continuous
    assignment with the same rise and fall delays, Verilog's inertial delay — counts the same
    transitions net by net, glitches included; and again with every delay moved by up to 1 ps."""
    spec = MacSpec.from_names(a, a, acc, **options)
    netlist = synthesize(spec, library).netlist
    inputs = _mac_inputs(spec, netlist, 40)
    timed = TimedNetlist(netlist, timer=timer)
    lanes = TimedNetlist(netlist, timer=timer, kernel="lanes") if lanes_kernel().library is not None else None
    settled = netlist.simulate(inputs, 1).toggles  # 64 streams, zero-delay
    for trial in range(2):
        ours = timed.simulate(inputs, 1, streams=1, skip=1).toggles  # from the second cycle on, as Icarus
        assert ours.sum() > 1.2 * settled.sum() / 64  # glitches are there to be counted
        assert np.array_equal(ours, icarus_transitions(timed, inputs))
        if lanes is not None:  # the eight-stream kernel, its first lane: the same transitions
            assert np.array_equal(lanes.simulate(inputs, 1, streams=1, skip=1).toggles, ours)
        moved = np.random.default_rng(trial).integers(0, 1000, timed.delay_fs.shape)
        timed.delay_fs += moved
        if lanes is not None:
            lanes.delay_fs += moved


def test_skipped_cycles_are_simulated_and_not_counted():
    """``skip``: what the cycles after the first k make — transitions, settled ones, evaluations,
    clock-gate openings — is the whole run's less the first k cycles' alone."""
    spec = MacSpec.from_names("int8_sym", "int8_sym", "int32", zero_gating=True)
    netlist = synthesize(spec, "sky130hd_tt").netlist
    inputs = _mac_inputs(spec, netlist, 12)
    timed = TimedNetlist(netlist)
    whole, first = timed.simulate(inputs, 1, streams=8), timed.simulate(inputs[:5], 1, streams=8)
    after = timed.simulate(inputs, 1, streams=8, skip=5)
    assert after.cycles == 7 and after.gate_evaluations == whole.gate_evaluations - first.gate_evaluations > 0
    assert np.array_equal(after.toggles, whole.toggles - first.toggles) and after.toggles.sum() > 0
    assert np.array_equal(after.settled_toggles, whole.settled_toggles - first.settled_toggles)
    assert np.array_equal(after.gated_cycles, whole.gated_cycles - first.gated_cycles) and after.gated_cycles.sum() > 0


def test_characterize_counts_glitches_by_default_and_says_so():
    """The default MAC energy is the zero-delay figure plus the glitches the timed simulation
    adds on its first 256 streams; ``glitches=False`` gives the zero-delay figure, the same parts."""
    spec = MacSpec.from_names("int8_sym", "int8_sym", "fixed")
    from rtl.flow.characterize import characterize
    glitchy = characterize(spec, "nangate45_typ", macs=1 << 14, cache_dir=None)
    plain = characterize(spec, "nangate45_typ", macs=1 << 14, cache_dir=None, glitches=False)
    parts = glitchy.energy_breakdown_pj_per_mac
    assert "glitches" not in plain.energy_breakdown_pj_per_mac
    assert parts["glitches"] > 0.2 * glitchy.energy_pj_per_mac  # an array multiplier glitches
    assert glitchy.energy_pj_per_mac == pytest.approx(sum(parts.values()))
    assert glitchy.energy_pj_per_mac - parts["glitches"] == pytest.approx(plain.energy_pj_per_mac)
    assert "256 streams" in glitchy.provenance["energy"] and "zero-delay" in plain.provenance["energy"]


@pytest.mark.skipif(lanes_kernel().library is None, reason=f"the eight-stream kernel cannot run here: "
                                                            f"{lanes_kernel().reason}")
@pytest.mark.parametrize("a,acc,library,options", [
    ("int8_sym", "fixed", "nangate45_typ", {}),
    ("float8_e4m3fn", "float32", "sky130hd_tt", {}),
    ("int8_sym", "int32", "sky130hd_tt", {"zero_gating": True}),  # clock gates
])
def test_the_eight_stream_kernel_counts_what_the_one_stream_kernel_counts(a, acc, library, options, monkeypatch):
    """The C kernel runs eight streams per AVX-512 word: transitions, settled ones, evaluations
    and clock-gate openings equal the numba kernel's bit for bit — on every stream of a word, on a
    last word partly filled (13 streams), after skipped cycles, with delays moved at random, and
    where a cycle outgrows the transitions' pool and the run starts again with a larger one."""
    spec = MacSpec.from_names(a, a, acc, **options)
    netlist = synthesize(spec, library).netlist
    inputs = _mac_inputs(spec, netlist, 24, seed=3)
    numba, lanes = TimedNetlist(netlist, kernel="numba"), TimedNetlist(netlist, kernel="lanes")
    moved = np.random.default_rng(1).integers(0, 5000, numba.delay_fs.shape)
    for streams, skip, delays in ((64, 3, 0), (13, 0, moved)):
        numba.delay_fs += delays
        lanes.delay_fs += delays
        want, got = numba.simulate(inputs, 1, streams=streams, skip=skip), \
            lanes.simulate(inputs, 1, streams=streams, skip=skip)
        assert (want.kernel, got.kernel) == ("numba", "lanes")
        assert got.toggles.sum() > got.settled_toggles.sum() > 0 and got.gate_evaluations > 0
        assert np.array_equal(got.toggles, want.toggles)
        assert np.array_equal(got.settled_toggles, want.settled_toggles)
        assert got.gate_evaluations == want.gate_evaluations and got.streams == want.streams == streams
        assert np.array_equal(got.gated_cycles, want.gated_cycles)
    monkeypatch.setattr(timedsim, "_capacity", lambda nets: 16)  # every cycle overflows it at first
    small = lanes.simulate(inputs, 1, streams=13)
    assert np.array_equal(small.toggles, want.toggles) and small.gate_evaluations == want.gate_evaluations


def test_the_timed_kernel_is_chosen_by_name():
    netlist = synthesize_verilog(BALANCED, "xors", "nangate45_typ").netlist
    with pytest.raises(ValueError, match="kernel='simd'.*auto, lanes, numba"):
        TimedNetlist(netlist, kernel="simd")
    inputs = _random_inputs({"a": 8, "b": 8}, 4)
    assert TimedNetlist(netlist, kernel="numba").simulate(inputs, 1).kernel == "numba"
    auto = TimedNetlist(netlist)  # few streams leave the lanes idle: one stream at a time
    assert auto.simulate(inputs, 1, streams=2).kernel == "numba"
    assert auto.simulate(inputs, 1).kernel == ("lanes" if lanes_kernel().library is not None else "numba")
