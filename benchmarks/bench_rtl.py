"""RTL speed: elaborate + emit Verilog per spec, and simulated MACs per second.

    python benchmarks/bench_rtl.py [--cycles 2000] [--all]

For each spec of the standard set (the first of each kind unless ``--all``): the time to elaborate
the Amaranth design and emit its Verilog (goal ≤ 1 s), and the simulation rate of one random
stream in Amaranth's simulator and in Icarus Verilog (a native event simulator, the reference in
the same run), with the golden model's rate for scale. The projected time of the CI's exhaustive
Amaranth runs (65,536 cycles per ≤ 8-bit format pair) is printed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtl.hdl import verify as V  # noqa: E402
from rtl.hdl.spec import standard_specs  # noqa: E402
from rtl.hdl.verilog import emit_verilog  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--all", action="store_true", help="every standard spec, not one per kind")
    args = parser.parse_args(argv)
    specs = standard_specs()
    if not args.all:
        seen, chosen = set(), []
        for s in specs:
            kind = (type(s.acc).__name__, s.lanes, s.a.bits)
            if kind not in seen:
                seen.add(kind)
                chosen.append(s)
        specs = chosen
    emit_verilog(specs[0])  # warm-up: the first Yosys call loads its WebAssembly module
    have_iverilog = shutil.which("iverilog") is not None
    print(f"{'spec':58s} {'emit s':>7s} {'amaranth MAC/s':>15s} {'iverilog MAC/s':>15s} {'golden MAC/s':>13s}")
    rates = []
    for spec in specs:
        text, emit_s = timed(lambda: emit_verilog(spec))
        stream = V.random_stream(spec, args.cycles, seed=1)
        _, sim_s = timed(lambda: V.amaranth_trace(spec, stream))
        _, gold_s = timed(lambda: V.golden_trace(spec, stream))
        macs = args.cycles * spec.lanes
        iv = f"{macs / timed(lambda: V.iverilog_trace(spec, stream, text))[1]:15,.0f}" if have_iverilog else f"{'-':>15s}"
        rates.append((spec, args.cycles / sim_s))
        print(f"{spec.name:58s} {emit_s:7.2f} {macs / sim_s:15,.0f} {iv} {macs / gold_s:13,.0f}")
    small = {(s.a.name, s.b.name) for s in standard_specs() if s.a.bits <= 8 and s.b.bits <= 8}
    fixed_rate = min(r for s, r in rates if type(s.acc).__name__ == "FixedAccumulator" and s.lanes == 1)
    print(f"\nexhaustive Amaranth product runs: {len(small)} format pairs × 65,536 cycles at "
          f"≥ {fixed_rate:,.0f} cycles/s ≈ {len(small) * 65536 / fixed_rate:,.0f} s")


if __name__ == "__main__":
    main()
