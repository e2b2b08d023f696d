"""Energy with and without glitches, and the glitch-aware simulator's speed against the
zero-delay one and against Icarus Verilog, each measured in the same run.

    python benchmarks/bench_glitches.py [--streams 1024] [--macs 65536] [--icarus-cycles 64]

Per design and library: the zero-delay energy per MAC (every net counted once per cycle at most)
and the glitch-aware one (rtl.flow.timedsim: inertial rise and fall delays) with the linear delay
model's delays and with the NLDM timer's, all on the same uniform stream and verified to settle
where the zero-delay simulation does. Then the speed of each simulator:

- the timed kernel: gate evaluations per second (per stream, gate and cycle, each time an input of
  the gate changed — what an event-driven simulator evaluates), one core — the default kernel
  (eight streams per AVX-512 word where the machine has it) and the one-stream numba kernel on
  the same stream, their transitions checked equal;
- the zero-delay simulator: gate evaluations per second (every gate every cycle, 64 streams per
  machine word);
- Icarus Verilog on the same netlist with the same delays (rtl.flow.timed_verilog), one stream:
  the timed kernel's evaluations of that stream per second of Icarus's run, compile included.
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
from rtl.flow.timed_verilog import icarus_transitions  # noqa: E402
from rtl.flow.timedsim import TimedNetlist, lanes_kernel  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402
from rtl.tech.technology import technology  # noqa: E402

DESIGNS = [("int8_sym", "fixed"), ("float8_e4m3fn", "float16"), ("float8_e4m3fn", "float32"), ("bfloat16", "float32")]


def _inputs(spec, netlist, stream, words):
    ones = np.full((1, words), np.uint64(2 ** 64 - 1))
    zeros = np.zeros((1, words), np.uint64)
    inputs = [{"a": pack_bits(stream.a[t, :, 0], spec.a.bits), "b": pack_bits(stream.b[t, :, 0], spec.b.bits),
               "en": ones, "clear": ones if stream.clear[t] else zeros, "rst": zeros} for t in range(stream.a.shape[0])]
    return [{k: v for k, v in c.items() if k in netlist.ports} for c in inputs]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1024)
    parser.add_argument("--macs", type=int, default=1 << 16)
    parser.add_argument("--icarus-cycles", type=int, default=64)
    args = parser.parse_args(argv)
    print(f"{'design':<50} {'library':<14} {'zero-delay':>10} {'linear':>7} {'×':>5} {'NLDM':>7} {'×':>5}   "
          f"{'timed ev/s':>10} {'kernel':>6} {'numba ev/s':>10} {'×':>5} {'zero-d ev/s':>11} {'Icarus ev/s':>11} "
          f"{'×Icarus':>7}")
    rates, kernels = [], []
    for library in ("sky130hd_tt", "nangate45_typ"):
        voltage = technology(library).cells.voltage_v
        for a, acc in DESIGNS:
            spec = MacSpec.from_names(a, a, acc)
            netlist = synthesize(spec, library).netlist
            stream = make_stream(spec, "uniform", macs=args.macs, streams=args.streams)
            cycles, streams, _ = stream.a.shape
            words = streams // 64
            inputs = _inputs(spec, netlist, stream, words)
            started = time.perf_counter()
            zero = netlist.simulate(inputs, words)
            zero_s = time.perf_counter() - started
            steps = cycles * streams
            plain = sum(account_energy(netlist, zero.toggles, steps, 1.0, voltage).values()) / steps
            energies, speed = {}, None
            for timer in ("linear", "nldm"):
                timed_netlist = TimedNetlist(netlist, timer=timer)
                timed_netlist.simulate(inputs[:2], words, streams=1)  # compile once, outside the timing
                started = time.perf_counter()
                timed = timed_netlist.simulate(inputs, words)
                timed_s = time.perf_counter() - started
                assert np.array_equal(timed.settled_toggles, zero.toggles), "the timed netlist settled elsewhere"
                energies[timer] = sum(account_energy(netlist, timed.toggles, steps, 1.0, voltage).values()) / steps
                if timer == "nldm":
                    speed, kernel = timed.gate_evaluations / timed_s, timed.kernel
                    one_stream = TimedNetlist(netlist, timer=timer, kernel="numba")
                    one_stream.simulate(inputs[:2], words, streams=1)
                    started = time.perf_counter()
                    reference = one_stream.simulate(inputs, words)
                    numba_speed = reference.gate_evaluations / (time.perf_counter() - started)
                    assert np.array_equal(reference.toggles, timed.toggles), "the two kernels differ"
                    short = inputs[:args.icarus_cycles]
                    one = timed_netlist.simulate(short, words, streams=1).gate_evaluations
                    started = time.perf_counter()
                    icarus_transitions(timed_netlist, short)
                    icarus = one / (time.perf_counter() - started)
            rates.append(speed)
            kernels.append(kernel)
            print(f"{spec.name:<50} {library:<14} {plain:10.3f} {energies['linear']:7.3f} "
                  f"{energies['linear'] / plain:5.2f} {energies['nldm']:7.3f} {energies['nldm'] / plain:5.2f}   "
                  f"{speed:10.3g} {kernel:>6} {numba_speed:10.3g} {speed / numba_speed:5.2f} "
                  f"{len(netlist.gates) * cycles * streams / zero_s:11.3g} {icarus:11.3g} "
                  f"{speed / icarus:7.0f}", flush=True)
    print("(pJ per MAC at a 1 ns clock for leakage, uniform codes; timed kernel "
          f"{min(rates):.3g}–{max(rates):.3g} gate evaluations per second on one core, the goal 1e8)")
    if len(set(kernels)) == 1 and kernels[0] == "numba":
        print(f"(the eight-stream kernel did not run: {lanes_kernel().reason})")


if __name__ == "__main__":
    main()
