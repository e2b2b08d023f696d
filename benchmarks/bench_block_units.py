"""Block-scaled dot-product units against INT8 and FP8, per MAC, at their own clock and at the
INT8 MAC's; and what emitting and synthesizing a 32-lane unit costs.

    python benchmarks/bench_block_units.py [--libraries sky130hd_tt,nangate45_typ] [--processes 2]

For each library: every unit of the table (INT8 and FP8 single MACs and 32-lane dot products,
MXFP8/6/4, MXINT8 32-lane and NVFP4 16-lane units, float32 accumulators for the floats) is
characterized at its own unpipelined critical path and fitted to the INT8 MAC's clock on that
library (:func:`hwmodel.study.clock.at_clock`); area and energy are per MAC (unit / lanes),
energy on uniform codes. Results come from the characterization cache when present. Then the
emit and synthesis times of the 32-lane MXFP8 unit, each as a ratio to the 1-lane INT8 MAC's
measured in the same run (synthesis without the cache).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from rtl.flow.characterize import characterize_many  # noqa: E402
from rtl.flow.synth import synthesize  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402
from rtl.hdl.verilog import emit_verilog  # noqa: E402
from hwmodel.study.clock import at_clock, int8_clock_ns  # noqa: E402

UNITS = [("int8_sym", "fixed", 1), ("float8_e4m3fn", "float32", 1), ("float8_e5m2", "float32", 1),
         ("int8_sym", "fixed", 32), ("float8_e4m3fn", "float32", 32), ("float8_e5m2", "float32", 32),
         ("mxfp8_e4m3", "float32", 32), ("mxfp8_e5m2", "float32", 32), ("mxfp6_e3m2", "float32", 32),
         ("mxfp6_e2m3", "float32", 32), ("mxfp4_e2m1", "float32", 32), ("mxint8", "float32", 32),
         ("nvfp4", "float32", 16)]


def table(library: str, processes: int | None) -> pd.DataFrame:
    specs = [MacSpec.from_names(f, f, acc, lanes=lanes) for f, acc, lanes in UNITS]
    costs = characterize_many(specs, library=library, processes=processes)
    macs = pd.DataFrame([{"a": f, "b": f, "acc": acc, "lanes": lanes, "bias": "none", "library": library,
                          "clock_ns": 0.0, "area_um2": c.area_um2, "energy_pj_per_mac": c.energy_pj_per_mac,
                          "critical_path_ns": c.critical_path_ns} for (f, acc, lanes), c in zip(UNITS, costs)])
    return at_clock(macs, int8_clock_ns(macs, library), library=library, processes=processes)


def _timed(function, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libraries", default="sky130hd_tt,nangate45_typ")
    parser.add_argument("--processes", type=int)
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    for library in args.libraries.split(","):
        print(f"\n{library}: per MAC, own unpipelined point and at the INT8 MAC's clock")
        print(table(library, args.processes).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    unit = MacSpec.from_names("mxfp8_e4m3", "mxfp8_e4m3", "float32", lanes=32)
    reference = MacSpec.from_names("int8_sym", "int8_sym", "fixed")
    emit = {s.name: _timed(lambda s=s: emit_verilog(s), 3) for s in (reference, unit)}
    with tempfile.TemporaryDirectory():
        synth = {s.name: _timed(lambda s=s: synthesize(s, "sky130hd_tt")) for s in (reference, unit)}
    print(f"\nemit: {unit.name} {emit[unit.name]:.2f} s, {reference.name} {emit[reference.name]:.2f} s "
          f"(ratio {emit[unit.name] / emit[reference.name]:.1f}); synthesis on sky130hd_tt: {synth[unit.name]:.1f} s "
          f"vs {synth[reference.name]:.1f} s (ratio {synth[unit.name] / synth[reference.name]:.1f})")


if __name__ == "__main__":
    main()
