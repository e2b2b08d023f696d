"""Print hwmodel's cycles beside SCALE-Sim's for every golden file in this directory.

    python tests/golden/scalesim/compare.py

CALC files (stall-free): per-layer compute cycles, which must be identical. USER files (finite
DRAM bandwidth, ``_bw<bytes per cycle>``): total cycles and the relative difference.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE.parents[1]))

from test_hwmodel_evaluate import PE, _per_layer, golden  # noqa: E402

from hwmodel.accelerator import Accelerator  # noqa: E402
from hwmodel.evaluate import compute_cycles, evaluate  # noqa: E402


def main():
    print(f"{'golden file':40s} {'layers':>7s} {'SCALE-Sim cycles':>17s} {'hwmodel cycles':>15s} {'difference':>11s}")
    for path in sorted(HERE.glob("*_*x*.csv")):
        if ".topology" in path.name:
            continue
        trace, dataflow, rows, cols, cycles = golden(path)
        if "_bw" in path.stem:
            bandwidth = int(path.stem.split("_bw")[1])
            acc = Accelerator(rows, cols, dataflow, PE, dram_bandwidth_bytes_per_cycle=bandwidth)
            ours, theirs = evaluate(acc, trace).summary["cycles"], sum(cycles)
            diff = f"{(ours - theirs) / theirs:+.1%}"
        else:
            per_layer = compute_cycles(dataflow, rows, cols, trace.layers.gemm_m, trace.layers.gemm_n,
                                       trace.layers.gemm_k, trace.layers.gemm_count)
            reference = _per_layer(trace, cycles)
            ours, theirs = int(per_layer.sum()), int(reference.sum())
            diff = "exact" if (per_layer == reference).all() else f"{int((per_layer != reference).sum())} layers differ"
        print(f"{path.stem:40s} {len(trace.layers):7d} {theirs:17,d} {ours:15,d} {diff:>11s}")


if __name__ == "__main__":
    main()
