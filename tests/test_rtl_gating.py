"""Zero-gated MACs: operand isolation and a clock-gated accumulator, simulated with the
library's integrated clock gate; energy against sparsity."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.flow.characterize import characterize
from rtl.flow.sta import opensta_arrival_ns, opensta_available
from rtl.flow.synth import synthesize
from rtl.flow.timedsim import TimedNetlist
from rtl.flow.timing import critical_path_ns
from rtl.hdl import verify as V
from rtl.hdl.spec import MacSpec
from rtl.numerics.formats import encode
from rtl.tech.cells import load_library

from conftest import stable_seed

PDK = Path(__file__).resolve().parents[2] / "shared" / "pdk"
UNITS = [("int8_sym", "int32", 1, 0, {}), ("int8_sym", "int32", 4, 1, {}), ("float8_e4m3fn", "float32", 1, 0, {}),
         ("float8_e4m3fnuz", "float16", 4, 2, {}), ("float8_e5m2", "float32", 4, 3, {}),
         ("int8_sym", "int32", 4, 0, {"nm": "2:4"}), ("float8_e4m3fn", "float32", 1, 1, {"codebook_bits": 3})]


def _spec(fmt, acc, lanes, stages, options, **more):
    return MacSpec.from_names(fmt, fmt, acc, lanes=lanes, stages=stages, zero_gating=True, **options, **more)


def _sparse(stream, spec, fraction, seed):
    """The stream with ``fraction`` of its activations zero (a half of those −0 for floats)."""
    rng = np.random.default_rng(seed)
    zero = rng.random(stream.a.shape) < fraction
    negative = int(encode(np.array([-0.0]), spec.a)[0]) if spec.a.kind == "float" and spec.a.special != "fnuz" else 0
    codes = np.where(rng.random(stream.a.shape) < 0.5, 0, negative)
    return dataclasses.replace(stream, a=np.where(zero, codes, stream.a))


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: f"{u[0]}-{u[1]}-l{u[2]}-s{u[3]}-{'-'.join(u[4])}")
def test_zero_gated_unit_is_bit_exact_in_amaranth_and_icarus(unit):
    spec = _spec(*unit)
    stream = _sparse(V.random_stream(spec, 400, seed=stable_seed(spec.name)), spec, 0.6, 1)
    golden = V.golden_trace(spec, stream)
    assert list(V.amaranth_trace(spec, stream)) == list(golden)
    assert list(V.iverilog_trace(spec, stream)) == list(golden)


def test_a_skipped_step_holds_where_an_ungated_unit_would_add():
    """0 × NaN is NaN in an ungated unit, and stays in its register; a zero-gated unit skips the
    step and holds its register. Zeros alone agree (a register cleared to +0 never turns −0)."""
    fmt = "float8_e4m3fn"
    gated = MacSpec.from_names(fmt, fmt, "float32", zero_gating=True)
    plain = MacSpec.from_names(fmt, fmt, "float32")
    code = lambda v: int(encode(np.array([v]), fmt)[0])  # noqa: E731
    a = np.array([[code(-1.0)], [code(0.0)], [code(0.0)], [code(2.0)]])
    b = np.array([[code(0.0)], [code(3.0)], [0x7F], [code(1.5)]])  # 0x7F: E4M3's NaN
    stream = V.Stream(a, b, np.ones(4, bool), np.array([True, False, False, False]))
    as_float = lambda trace: np.array(list(trace), np.uint64).astype(np.uint32).view(np.float32)  # noqa: E731
    held, added = as_float(V.golden_trace(gated, stream)), as_float(V.golden_trace(plain, stream))
    assert held[0] == added[0] == 0 and held[1] == added[1] == 0
    assert held[2] == 0 and np.isnan(added[2])
    assert held[3] == 3.0 and np.isnan(added[3])
    assert list(V.amaranth_trace(gated, stream)) == list(V.golden_trace(gated, stream))


@pytest.mark.parametrize("library,gate", [("sky130hd_tt", "sky130_fd_sc_hd__dlclkp_1"), ("nangate45_typ", "CLKGATE_X1")])
def test_synthesis_clocks_the_accumulator_through_the_librarys_clock_gate(library, gate):
    result = synthesize(MacSpec.from_names("int8_sym", "int8_sym", "int32", zero_gating=True), library)
    assert result.cells_by_type.get(gate) == 1
    netlist = result.netlist
    assert len(netlist.clock_gates) == 1
    assert sum(f["gate"] == 0 for f in netlist.flops) == 32  # the whole accumulator, one gate
    plain = synthesize(MacSpec.from_names("int8_sym", "int8_sym", "int32"), library)
    assert not plain.netlist.clock_gates and gate not in plain.cells_by_type


def test_the_embedded_tables_know_each_clock_gate_by_its_pins():
    for name, cell, roles in (("sky130hd_tt", "sky130_fd_sc_hd__dlclkp_1", ("CLK", "GATE", "", "GCLK")),
                              ("nangate45_typ", "CLKGATETST_X1", ("CK", "E", "SE", "GCK"))):
        gate = load_library(name).cell(cell)
        assert gate.dont_use and gate.is_clock_gate and not gate.is_sequential
        assert tuple(gate.clock_gate[k] for k in ("clock", "enable", "test", "output")) == roles


def test_gating_saves_energy_in_proportion_to_the_zeros():
    gated = MacSpec.from_names("int8_sym", "int8_sym", "int32", zero_gating=True)
    plain = MacSpec.from_names("int8_sym", "int8_sym", "int32")
    cost = {(spec.zero_gating, s): characterize(spec, sparsity=s, macs=1 << 16, cache_dir=None)
            for spec in (gated, plain) for s in (0.0, 0.5, 0.9)}
    e = {k: c.energy_pj_per_mac for k, c in cost.items()}
    clock = {k: c.energy_breakdown_pj_per_mac["clock"] for k, c in cost.items()}
    assert e[(True, 0.0)] < 1.1 * e[(False, 0.0)]  # dense: the isolation's few gates
    assert e[(True, 0.9)] < 0.5 * e[(False, 0.9)]
    assert e[(True, 0.0)] > e[(True, 0.5)] > e[(True, 0.9)]
    assert clock[(False, 0.0)] == pytest.approx(clock[(False, 0.9)])  # ungated: the clock runs regardless
    # gated: the accumulator's clock runs on the nonzero steps only (the gate's own pin always)
    assert clock[(True, 0.9)] < 0.3 * clock[(True, 0.0)]
    # an idle PE of the gated unit (en low) pays only the ungated clock: less than any stream's
    from hwmodel.arch.accelerator import PeCost
    idle = cost[(True, 0.0)].idle_pj_per_mac["clock"]
    assert 0 < idle < clock[(True, 0.9)] and cost[(False, 0.0)].idle_pj_per_mac == {}
    assert PeCost.from_mac_cost(cost[(True, 0.0)]).idle_energy_pj_per_cycle == idle
    assert PeCost.from_mac_cost(cost[(False, 0.0)]).idle_energy_pj_per_cycle == clock[(False, 0.0)]


@pytest.mark.skipif(not opensta_available() or not PDK.is_dir(), reason="needs OpenSTA and ../shared/pdk")
def test_opensta_times_the_clock_gated_netlist_like_the_plain_one():
    spec = MacSpec.from_names("int8_sym", "int8_sym", "fixed", zero_gating=True)
    result = synthesize(spec, "sky130hd_tt", netlist_verilog=True)
    theirs = opensta_arrival_ns(result.netlist_verilog, spec.name, PDK / "sky130hd_tt.lib.gz")
    assert 0.6 < critical_path_ns(result.netlist) / theirs < 0.85  # the linear timer's known band


def test_the_timed_simulation_holds_what_the_clock_gates_hold():
    """Glitch-aware simulation of a zero-gated MAC on a stream with zeros: it settles where the
    zero-delay simulator does (whose golden check the energy flow runs), its gates let the clock
    through in the same cycles, and it sees more transitions (glitches) on top."""
    from rtl.flow.energy import make_stream
    from rtl.flow.gatesim import pack_bits
    spec = MacSpec.from_names("int8_sym", "int8_sym", "int32", zero_gating=True)
    netlist = synthesize(spec, "sky130hd_tt").netlist
    stream = make_stream(spec, "uniform", macs=64 * 80, streams=64, sparsity=0.6)
    ones, zeros = np.full((1, 1), np.uint64(2 ** 64 - 1)), np.zeros((1, 1), np.uint64)
    inputs = [{"a": pack_bits(stream.a[t, :, 0], 8), "b": pack_bits(stream.b[t, :, 0], 8), "en": ones,
               "clear": ones if stream.clear[t] else zeros, "rst": zeros} for t in range(stream.a.shape[0])]
    zero = netlist.simulate(inputs, 1)
    timed = TimedNetlist(netlist).simulate(inputs, 1)
    assert np.array_equal(timed.settled_toggles, zero.toggles)
    assert np.array_equal(timed.gated_cycles, zero.gated_cycles)
    assert 0 < timed.gated_cycles.sum() < len(inputs) * 64 * len(netlist.clock_gates)  # some edges held back
    assert timed.toggles.sum() > timed.settled_toggles.sum()


@pytest.mark.parametrize("a,acc,options", [("mxfp8_e4m3", "float32", dict(lanes=32)),
                                           ("float8_e4m3fn", "float32", dict(interleave=2))])
def test_zero_gating_refuses_what_it_cannot_hold(a, acc, options):
    with pytest.raises(FieldError) as error:
        MacSpec.from_names(a, a, acc, zero_gating=True, **options)
    assert error.value.field == "zero_gating"


def test_cli_zero_gating():
    run = lambda *flags: subprocess.run([sys.executable, "-m", "hwmodel.cli", "rtl", "--a", "float8_e4m3fn",  # noqa: E731
                                         "--b", "float8_e4m3fn", "--acc", "float32", "--zero-gating", *flags],
                                        capture_output=True, text=True)
    proc = run()
    assert proc.returncode == 0 and "mac_float8_e4m3fn_x_float8_e4m3fn_float32_l1_s0_zg" in proc.stdout
    bad = run("--interleave", "2")
    assert bad.returncode == 2 and "--zero-gating" in bad.stderr and "Traceback" not in bad.stderr
