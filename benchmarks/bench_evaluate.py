"""Accelerator-model speed: ResNet-50 on one accelerator, design points per second, peak memory,
and SCALE-Sim on the same workload in the same run.

    python benchmarks/bench_evaluate.py [--scalesim-venv DIR] [--scalesim-workload squeezenet]

Goals: ResNet-50 on one accelerator ≤ 2 ms; ≥ 10^5 (accelerator × layer) evaluations per second;
peak memory ≤ 200 MB. SCALE-Sim 3.0 runs from its own virtual environment (numpy < 2.4; the
golden-file script ``tests/golden/scalesim/regenerate.py`` creates it); without it that column
says how to get it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_time  # noqa: E402

from hwmodel.arch.accelerator import Accelerator, PeCost  # noqa: E402
from hwmodel.arch.evaluate import evaluate, evaluate_many  # noqa: E402
from workloads.scalesim import write_scalesim  # noqa: E402
from workloads.zoo import load_trace  # noqa: E402

PE = PeCost("int8_sym MAC (Nangate45, measured)", area_um2=838.0, energy_pj_per_mac=1.36, delay_ns=1.21)


def scalesim_seconds(venv: Path, trace, rows=32, cols=32, dataflow="ws") -> float | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    golden = Path(__file__).resolve().parent.parent / "tests" / "golden" / "scalesim"
    sys.path.insert(0, str(golden))
    from regenerate import run_scalesim  # the same configuration as the golden files
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text, _ = write_scalesim(trace, "conv")
        (tmp / "topo.csv").write_text(text)
        t0 = time.perf_counter()
        run_scalesim(python, tmp / "topo.csv", "conv", dataflow, rows, cols, None, tmp)
        return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-venv", type=Path, default=Path(tempfile.gettempdir()) / "hwmodel-scalesim-venv")
    parser.add_argument("--scalesim-workload", default="squeezenet")
    args = parser.parse_args(argv)
    resnet = load_trace("resnet50")
    accelerator = Accelerator(32, 32, "ws", PE)
    one = best_time(lambda: evaluate(accelerator, resnet), repeat=20)
    points = [Accelerator(r, c, df, PE) for r in (8, 16, 32, 64, 128, 256) for c in (8, 16, 32, 64, 128, 256)
              for df in ("ws", "os", "is")]
    many = best_time(lambda: evaluate_many(points, resnet), repeat=3)
    tracemalloc.start()
    evaluate(accelerator, resnet)
    evaluate_many(points, resnet)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"ResNet-50 ({len(resnet.layers)} layers) on one 32x32 ws accelerator: {one * 1e3:.2f} ms (goal ≤ 2 ms)")
    print(f"{len(points)} accelerators × {len(resnet.layers)} layers in {many * 1e3:.1f} ms: "
          f"{len(points) * len(resnet.layers) / many:,.0f} evaluations/s (goal ≥ 100,000)")
    print(f"peak memory of those runs: {peak / 2**20:.1f} MB (goal ≤ 200 MB)")
    trace = load_trace(args.scalesim_workload)
    ours = best_time(lambda: evaluate(accelerator, trace), repeat=10)
    theirs = scalesim_seconds(args.scalesim_venv, trace)
    if theirs is None:
        print(f"SCALE-Sim: no virtual environment at {args.scalesim_venv} "
              "(python tests/golden/scalesim/regenerate.py creates one)")
    else:
        print(f"{args.scalesim_workload} on 32x32 ws: SCALE-Sim 3.0 {theirs:.1f} s, hwmodel {ours * 1e3:.2f} ms "
              f"— {theirs / ours:,.0f}× faster, same compute cycles")


if __name__ == "__main__":
    main()
