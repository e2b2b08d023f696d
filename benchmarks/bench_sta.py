"""hwmodel's timer against OpenSTA (NLDM slew propagation, the full liberty files) on the same
synthesized netlists.

    python benchmarks/bench_sta.py [--pdk ../shared/pdk] [--libraries sky130hd_tt,nangate45_typ]

For each design and library: hwmodel's critical path with its linear delay model (at the
reference slew, the compact tables) and with its NLDM timer (the shipped delay and transition
tables, slews propagated, the liberty's wire-load model as OpenSTA applies it), OpenSTA's longest
data arrival (setup time excluded, as hwmodel excludes it), and the ratios. Needs OpenSTA
(`apt-get install opensta`) and the liberty files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtl.flow.sta import opensta_arrival_ns  # noqa: E402
from rtl.flow.synth import synthesize  # noqa: E402
from rtl.flow.timing import critical_path_ns, nldm_arrival_ns  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402

DESIGNS = [("int8_sym", "fixed", 1, 0), ("int4_sym", "fixed", 1, 0), ("int8_sym", "fixed", 4, 0),
           ("float8_e4m3fn", "float16", 1, 0), ("float8_e4m3fn", "float32", 1, 0), ("float8_e5m2", "float32", 1, 0),
           ("bfloat16", "float32", 1, 0), ("float8_e4m3fn", "float32", 1, 2)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdk", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "pdk")
    parser.add_argument("--libraries", default="sky130hd_tt,nangate45_typ")
    args = parser.parse_args(argv)
    print(f"{'design':<58} {'library':<14} {'linear ns':>10} {'NLDM ns':>10} {'OpenSTA ns':>10} {'linear':>7} "
          f"{'NLDM':>7}")
    ratios, nldm = [], []
    for library in args.libraries.split(","):
        liberty = args.pdk / f"{library}.lib.gz"
        for a, acc, lanes, stages in DESIGNS:
            spec = MacSpec.from_names(a, a, acc, lanes=lanes, stages=stages)
            result = synthesize(spec, library, netlist_verilog=True)
            ours = critical_path_ns(result.netlist)
            tables = nldm_arrival_ns(synthesize(spec, library, wire_load=True).netlist)
            theirs = opensta_arrival_ns(result.netlist_verilog, spec.name, liberty)
            ratios.append(ours / theirs)
            nldm.append(tables / theirs)
            print(f"{spec.name:<58} {library:<14} {ours:10.3f} {tables:10.3f} {theirs:10.3f} {ours / theirs:7.3f} "
                  f"{tables / theirs:7.3f}", flush=True)
    print(f"linear / OpenSTA: {min(ratios):.3f} … {max(ratios):.3f}; NLDM / OpenSTA: {min(nldm):.3f} … "
          f"{max(nldm):.3f} over {len(ratios)} netlists")


if __name__ == "__main__":
    main()
