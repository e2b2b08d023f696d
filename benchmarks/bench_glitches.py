"""Energy with and without glitches, and the glitch-aware simulator's speed against the
zero-delay one measured in the same run.

    python benchmarks/bench_glitches.py [--streams 64] [--macs 16384]

Per design and library: the zero-delay energy per MAC (every net counted once per cycle at most)
and the glitch-aware one (rtl.flow.timedsim: the cells' linear delays, inertial filtering), both
on the same uniform stream, verified to settle where the zero-delay simulation does; then gate
evaluations per second of each simulator (the zero-delay one evaluates every gate every cycle,
64 streams per machine word; the timed one each gate at each change of its inputs, one stream
at a time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rtl.flow.energy import account_energy, make_stream  # noqa: E402
from rtl.flow.gatesim import pack_bits  # noqa: E402
from rtl.flow.synth import synthesize  # noqa: E402
from rtl.flow.timedsim import TimedNetlist  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402
from rtl.tech.technology import technology  # noqa: E402

DESIGNS = [("int8_sym", "fixed"), ("float8_e4m3fn", "float16"), ("float8_e4m3fn", "float32"), ("bfloat16", "float32")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--macs", type=int, default=1 << 14)
    args = parser.parse_args(argv)
    print(f"{'design':<52} {'library':<14} {'zero-delay pJ':>13} {'glitch-aware':>12} {'×':>5}   "
          f"{'timed evals/s':>13} {'zero-delay/s':>12}")
    for library in ("sky130hd_tt", "nangate45_typ"):
        voltage = technology(library).cells.voltage_v
        for a, acc in DESIGNS:
            spec = MacSpec.from_names(a, a, acc)
            netlist = synthesize(spec, library).netlist
            stream = make_stream(spec, "uniform", macs=args.macs, streams=args.streams)
            cycles, streams, _ = stream.a.shape
            words = streams // 64
            ones = np.full((1, words), np.uint64(2 ** 64 - 1))
            zeros = np.zeros((1, words), np.uint64)
            inputs = [{"a": pack_bits(stream.a[t, :, 0], spec.a.bits), "b": pack_bits(stream.b[t, :, 0], spec.b.bits),
                       "en": ones, "clear": ones if stream.clear[t] else zeros, "rst": zeros} for t in range(cycles)]
            inputs = [{k: v for k, v in c.items() if k in netlist.ports} for c in inputs]
            started = time.perf_counter()
            zero = netlist.simulate(inputs, words)
            zero_s = time.perf_counter() - started
            timed_netlist = TimedNetlist(netlist)
            timed_netlist.simulate(inputs[:2], words, streams=1)  # compile once, outside the timing
            started = time.perf_counter()
            timed = timed_netlist.simulate(inputs, words)
            timed_s = time.perf_counter() - started
            assert np.array_equal(timed.settled_toggles, zero.toggles), "the timed netlist settled elsewhere"
            steps = cycles * streams
            clock = 1.0
            plain = sum(account_energy(netlist, zero.toggles, steps, clock, voltage).values()) / steps
            glitchy = sum(account_energy(netlist, timed.toggles, steps, clock, voltage).values()) / steps
            print(f"{spec.name:<52} {library:<14} {plain:13.3f} {glitchy:12.3f} {glitchy / plain:5.2f}   "
                  f"{timed.gate_evaluations / timed_s:13.3g} {len(netlist.gates) * cycles * streams / zero_s:12.3g}",
                  flush=True)
    print("(energies per MAC at a 1 ns clock for leakage, uniform codes; the goal for the timed simulator is "
          "1e8 gate evaluations per second per core)")


if __name__ == "__main__":
    main()
