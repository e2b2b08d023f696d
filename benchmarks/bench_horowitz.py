"""Stand-alone units on Nangate45 beside Horowitz's 45 nm table (ISSCC 2014, "Computing's energy
problem"), like for like: each unit synthesized alone (no registers), simulated on random
operands with every output checked (numpy for the floats), energy scaled from Nangate45's 1.1 V
to Horowitz's 0.9 V by (0.9 / 1.1)², with and without the energy of the input ports' nets; and the
INT8 MAC's energy split into its datapath, its registers (the nets the flip-flops drive) and its
clock pins.

    python benchmarks/bench_horowitz.py [--cycles 4000]

Operands: ``uniform`` — every code equally likely (integers: uniform; floats: uniform bit
patterns, NaN, Inf and subnormals included); ``gaussian`` — float units on N(0, 1) values
rounded to the format (what a layer's activations look like). Horowitz's figures are quoted as
his (cited reference data), not measured here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from rtl.flow.custom import characterize_verilog  # noqa: E402
from rtl.flow.energy import account_energy, make_stream, measure_energy  # noqa: E402
from rtl.flow.synth import synthesize  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402
from rtl.tech.technology import technology  # noqa: E402
from rtl.hdl.units import integer_verilog, unit_verilog  # noqa: E402
from rtl.numerics.formats import get_format  # noqa: E402

# Horowitz, ISSCC 2014, Figure 1.1.9 (45 nm, 0.9 V): energy pJ, area µm² (None: not given)
HOROWITZ = {("int", 8, "multiplier"): (0.2, 282.0), ("int", 8, "adder"): (0.03, 36.0),
            ("int", 32, "adder"): (0.1, None), ("float16", 16, "multiplier"): (1.1, 1640.0),
            ("float16", 16, "adder"): (0.4, 1360.0), ("float32", 32, "multiplier"): (3.7, 7700.0),
            ("float32", 32, "adder"): (0.9, None)}
SCALE = (0.9 / 1.1) ** 2
DTYPES = {"float16": (np.float16, np.uint16), "float32": (np.float32, np.uint32)}


def _float_operands(fmt, stream, n, rng):
    dtype, udtype = DTYPES[fmt]
    if stream == "uniform":
        return rng.integers(0, 1 << get_format(fmt).bits, (2, n), dtype=np.int64)
    values = rng.standard_normal((2, n)).astype(dtype)
    return values.view(udtype).astype(np.int64)


def _run(name, text, stimulus, expected, library="nangate45_typ"):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / f"{name}.v").write_text(text)
        (tmp / "in.csv").write_text("a,b\n" + "\n".join(f"{x},{y}" for x, y in zip(*stimulus)))
        (tmp / "out.csv").write_text("y\n" + "\n".join(str(int(v)) for v in expected))
        return characterize_verilog(tmp / f"{name}.v", library, stimulus=tmp / "in.csv", expect=tmp / "out.csv")


def mac_split(library: str = "nangate45_typ") -> None:
    """The INT8 → fixed MAC's energy per MAC on uniform codes: datapath, registers, clock pins
    (settled transitions), and the glitches on top (NLDM delays, the wire-load model)."""
    spec = MacSpec.from_names("int8_sym", "int8_sym", "fixed")
    netlist = synthesize(spec, library, wire_load=True).netlist
    stream = make_stream(spec, "uniform", macs=1 << 16)
    voltage = technology(library).cells.voltage_v
    # verifies the netlist; the clock period only sets leakage
    report = measure_energy(spec, netlist, stream, 1.0, voltage, glitches="nldm")
    cycles, streams, _ = stream.a.shape
    from rtl.flow.gatesim import pack_bits  # the toggles again, to split them by who drives each net
    inputs = [{"a": pack_bits(stream.a[t, :, 0], 8), "b": pack_bits(stream.b[t, :, 0], 8),
               "en": np.full((1, streams // 64), np.uint64(2 ** 64 - 1)),
               "clear": np.full((1, streams // 64), np.uint64(2 ** 64 - 1) if stream.clear[t] else np.uint64(0)),
               "rst": np.zeros((1, streams // 64), np.uint64)} for t in range(cycles)]
    toggles = netlist.simulate(inputs, streams // 64).toggles
    flop_nets = np.zeros(netlist.net_count, bool)
    for f in netlist.flops:
        for pin in f["cell"].outputs:
            net = f["pins"].get(pin)
            if net is not None and not isinstance(net, tuple):
                flop_nets[net] = True
    steps = cycles * streams
    registers = account_energy(netlist, np.where(flop_nets, toggles, 0), steps, 1.0, voltage, clocked=False)
    datapath = account_energy(netlist, np.where(flop_nets, 0, toggles), steps, 1.0, voltage, clocked=False)
    parts = {"datapath": datapath["switching"] + datapath["internal"],
             "registers": registers["switching"] + registers["internal"], "clock pins": report.clock_pj_per_mac * steps,
             "glitches": report.glitch_pj_per_mac * steps}
    total = sum(parts.values())
    print(f"\n{spec.name} on {library}, uniform codes: {total / steps:.3f} pJ/MAC without leakage ("
          + ", ".join(f"{k} {v / steps:.3f} pJ = {100 * v / total:.0f} %" for k, v in parts.items())
          + f"); at 0.9 V {total / steps * SCALE:.3f} pJ against Horowitz's 8-bit multiply + 32-bit add "
            f"{HOROWITZ[('int', 8, 'multiplier')][0] + HOROWITZ[('int', 32, 'adder')][0]:.2f} pJ")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=4000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'unit':<22} {'stream':<9} {'area µm²':>9} {'Horowitz':>9} {'ratio':>6}   {'pJ @1.1V':>8} {'@0.9V':>7} "
          f"{'Horowitz':>8} {'ratio':>6} {'w/o inputs':>10} {'zero-delay':>10}  checked")
    for (family, bits, kind), (h_pj, h_area) in HOROWITZ.items():
        streams = ("uniform",) if family == "int" else ("uniform", "gaussian")
        for stream in streams:
            if family == "int":
                name, text = integer_verilog(kind, bits)
                a, b = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (2, args.cycles), dtype=np.int64)
                exact = a * b if kind == "multiplier" else a + b
                width = 2 * bits if kind == "multiplier" else bits
                stimulus, expected = (a & ((1 << bits) - 1), b & ((1 << bits) - 1)), exact & ((1 << width) - 1)
            else:
                name, text = unit_verilog(kind, family)
                dtype, udtype = DTYPES[family]
                codes = _float_operands(family, stream, args.cycles, rng)
                x, y = (c.astype(udtype).view(dtype) for c in codes)
                with np.errstate(all="ignore"):
                    result = x * y if kind == "multiplier" else x + y
                expected = result.view(udtype).astype(np.int64)
                expected[np.isnan(result)] = get_format(family).nan_code
                stimulus = codes
            cost = _run(name, text, stimulus, expected)
            pj = cost.energy_pj_per_cycle
            settled = pj - cost.energy_breakdown_pj_per_cycle.get("glitches", 0.0)
            area = f"{h_area:9.0f} {cost.area_um2 / h_area:6.2f}" if h_area else f"{'—':>9} {'—':>6}"
            print(f"{name:<22} {stream:<9} {cost.area_um2:9.0f} {area}   "
                  f"{pj:8.3f} {pj * SCALE:7.3f} {h_pj:8.2f} {pj * SCALE / h_pj:6.2f} "
                  f"{(pj - cost.input_energy_pj_per_cycle) * SCALE / h_pj:10.2f} {settled * SCALE / h_pj:10.2f}  "
                  f"{'every output' if cost.verified else 'no'}", flush=True)
    mac_split()
    print("— : Horowitz's table gives no area for the 32-bit and float32 adders. 'w/o inputs': the ratio without the "
          "energy of the input ports' nets, which the unit's drivers pay in a real design; 'zero-delay': the ratio "
          "without glitches. Energies with hwmodel's defaults: glitches counted, NLDM delays, the wire-load model.")


if __name__ == "__main__":
    main()
