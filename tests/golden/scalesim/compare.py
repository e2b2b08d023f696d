"""Print hwmodel's cycles beside SCALE-Sim's for every golden file in this directory.

    python tests/golden/scalesim/compare.py

CALC files (stall-free): per-layer compute cycles, which must be identical. USER files (finite
DRAM bandwidth, ``_bw<bytes per cycle>``): SCALE-Sim's total cycles; ours with SCALE-Sim's own
DRAM traffic (from its access report) fed to our bandwidth model, which must agree within 5 %;
and ours with our own traffic — far fewer cycles, because SCALE-Sim's read buffer re-fetches
operands: the last column is its DRAM reads over the operand bytes.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE.parents[1]))

from test_hwmodel_evaluate import PE, _access, _per_layer, golden  # noqa: E402

from hwmodel.arch.accelerator import Accelerator  # noqa: E402
from hwmodel.arch.evaluate import compute_cycles, dram_transfer_cycles, evaluate  # noqa: E402


def main():
    print(f"{'golden file':40s} {'layers':>7s} {'SCALE-Sim cycles':>17s} {'hwmodel cycles':>15s} {'difference':>11s}")
    user = []
    for path in sorted(HERE.glob("*_*x*.csv")):
        if ".topology" in path.name or ".access" in path.name:
            continue
        trace, dataflow, rows, cols, cycles = golden(path)
        if "_bw" in path.stem:
            user.append(path)
            continue
        per_layer = compute_cycles(dataflow, rows, cols, trace.layers.gemm_m, trace.layers.gemm_n,
                                   trace.layers.gemm_k, trace.layers.gemm_count)
        reference = _per_layer(trace, cycles)
        ours, theirs = int(per_layer.sum()), int(reference.sum())
        diff = "exact" if (per_layer == reference).all() else f"{int((per_layer != reference).sum())} layers differ"
        print(f"{path.stem:40s} {len(trace.layers):7d} {theirs:17,d} {ours:15,d} {diff:>11s}")
    print(f"\nUSER mode: {'golden file':32s} {'SCALE-Sim':>11s} {'ours, its traffic':>18s} {'diff':>6s} "
          f"{'ours, our traffic':>18s} {'its reads / operand bytes':>26s}")
    for path in user:
        trace, dataflow, rows, cols, cycles = golden(path)
        bandwidth = int(path.stem.split("_bw")[1])
        stalls = [int(line.split(",")[3]) for line in path.read_text().splitlines()[1:]]
        compute = np.array(cycles) - np.array(stalls)
        traffic = _access(path)
        given = int((compute + np.maximum(dram_transfer_cycles(list(traffic.values()), bandwidth, "per_operand")
                                          - compute, 0)).sum())
        acc = Accelerator(rows, cols, dataflow, PE, dram_bandwidth_bytes_per_cycle=bandwidth, dram_channels="per_operand")
        own = int(evaluate(acc, trace).summary["cycles"])
        reads = traffic["DRAM IFMAP Reads"].sum() + traffic["DRAM Filter Reads"].sum()
        operands = (trace.layers.weight_elems + trace.layers.input_elems).sum()
        print(f"{'':11s}{path.stem:32s} {sum(cycles):11,d} {given:18,d} {(given - sum(cycles)) / sum(cycles):+6.1%} "
              f"{own:18,d} {reads / operands:25.1f}x")


if __name__ == "__main__":
    main()
