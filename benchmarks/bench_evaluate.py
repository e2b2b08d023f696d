"""Accelerator-model speed: ResNet-50 on one accelerator, design points per second, peak memory,
with the mapping search and with SCALE-Sim's fixed mapping; SCALE-Sim and ZigZag on the same
layers in the same run.

    python benchmarks/bench_evaluate.py [--scalesim-venv DIR] [--scalesim-workload squeezenet]
                                        [--zigzag-venv DIR]

Goals — mapping search: ResNet-50 on one accelerator ≤ 50 ms, ≥ 10^4 (design point × MAC
layer) mapped evaluations per second; fixed mapping: ≤ 2 ms, ≥ 10^5 (accelerator × layer)
evaluations per second; peak memory ≤ 200 MB. SCALE-Sim 3.0 and ZigZag 3.9.1 run from virtual
environments of their own (``tests/golden/scalesim/regenerate.py`` and
``tests/golden/zigzag/regenerate.py`` create them); without one, its line says how to get it.
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

PE = PeCost("int8_sym MAC (Nangate45, measured)", area_um2=838.0, energy_pj_per_mac=1.36, delay_ns=1.21,
            library="nangate45_typ")


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


def zigzag_seconds(venv: Path, name: str = "ws_32x32_256k", count: int = 4) -> tuple[float, float, int] | None:
    """ZigZag's LOMA search and ours on the first ``count`` layers of a golden configuration."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    golden = Path(__file__).resolve().parent.parent / "tests" / "golden" / "zigzag"
    sys.path.insert(0, str(golden))
    from common import accelerator, as_trace, layers
    from regenerate import run_one
    acc, selected = accelerator(name), layers()[:count]
    theirs = sum(run_one(python, acc, layer)["seconds"] for layer in selected)
    trace = as_trace(selected)
    ours = best_time(lambda: evaluate(acc, trace), repeat=10)
    return theirs, ours, len(selected)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-venv", type=Path, default=Path(tempfile.gettempdir()) / "hwmodel-scalesim-venv")
    parser.add_argument("--scalesim-workload", default="squeezenet")
    parser.add_argument("--zigzag-venv", type=Path, default=Path(tempfile.gettempdir()) / "zigzag-venv")
    args = parser.parse_args(argv)
    resnet = load_trace("resnet50")
    mac_layers = len(resnet.mac_layers)
    sizes = (8, 16, 32, 64, 128)  # 256 would need more than 128 KB for one os fold of 32-bit outputs
    shapes = [(r, c, df) for r in sizes for c in sizes for df in ("ws", "os", "is")]
    for mapping, goal_one, goal_rate, layers in (("scalesim", 2, 10 ** 5, len(resnet.layers)),
                                                  ("search", 50, 10 ** 4, mac_layers)):
        accelerator = Accelerator(32, 32, "ws", PE, mapping=mapping)
        one = best_time(lambda: evaluate(accelerator, resnet), repeat=20)
        points = [Accelerator(r, c, df, PE, mapping=mapping) for r, c, df in shapes]
        many = best_time(lambda: evaluate_many(points, resnet), repeat=3)
        tracemalloc.start()
        evaluate(accelerator, resnet)
        evaluate_many(points, resnet)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        unit = "mapped (design point × MAC layer) evaluations" if mapping == "search" else "(accelerator × layer) evaluations"
        print(f"mapping = {mapping}:")
        print(f"  ResNet-50 ({len(resnet.layers)} layers, {mac_layers} with MACs) on one 32x32 ws accelerator: "
              f"{one * 1e3:.2f} ms (goal ≤ {goal_one} ms)")
        print(f"  {len(points)} accelerators × {layers} layers in {many * 1e3:.1f} ms: "
              f"{len(points) * layers / many:,.0f} {unit}/s (goal ≥ {goal_rate:,})")
        print(f"  peak memory of those runs: {peak / 2**20:.1f} MB (goal ≤ 200 MB)")
        if mapping == "scalesim":
            fixed = one
        else:
            print(f"  the search costs {one / fixed:.1f}× the fixed mapping's time on ResNet-50")
    accelerator = Accelerator(32, 32, "ws", PE, mapping="scalesim")
    zz = zigzag_seconds(args.zigzag_venv)
    if zz is None:
        print(f"ZigZag: no virtual environment at {args.zigzag_venv} (python tests/golden/zigzag/regenerate.py "
              "creates one)")
    else:
        theirs, ours, count = zz
        print(f"{count} ResNet-50 layers, tests/golden/zigzag ws_32x32_256k: ZigZag 3.9.1 (LOMA, energy) {theirs:.1f} s, "
              f"hwmodel's search {ours * 1e3:.2f} ms — {theirs / ours:,.0f}× faster")
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
