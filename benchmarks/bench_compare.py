"""The main job's speed: ``hwmodel compare`` cold (empty synthesis cache and store) and warm.

    python benchmarks/bench_compare.py [--quick | --only GRID[,GRID…]] [--keep DIR]

Goals on 2 cores: cold ≤ 10 min, warm (re-run into the same results) ≤ 30 s; ``--quick`` ≤ 1 min
cold. Cold uses a fresh synthesis cache in a temporary directory, so it measures everything the
study computes; warm re-runs the same command, which reads the store. The ratio is warm / cold.
Each run's time is also split by stage: MAC synthesis (and energy), accuracy, the accelerator
model, the common-clock fits, and the report. ``--only`` times some of the study's grids
(``hwmodel compare --only``): ``--only block`` is the least a study with the block-scaled units
costs — those units, the 32-lane INT8 and FP8 units beside them and the INT8 MAC the common
clock is taken from, each synthesized, fitted to that clock and judged on every network.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwmodel.study import clock, report, run  # noqa: E402
from hwmodel.study.compare import check_selection, run_compare  # noqa: E402
from rtl.errors import FieldError  # noqa: E402

STAGES = {"MAC synthesis": (run, "_run_macs"), "accuracy": (run, "_run_accuracy"),
          "accelerator model": (run, "_run_eval"), "common-clock fits": (clock, "at_clock"),
          "report": (report, "write_results")}
SECONDS: dict[str, float] = {}


def _timed(label, function):
    @functools.wraps(function)
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[label] = SECONDS.get(label, 0.0) + time.perf_counter() - t0
    return timed


def _stages() -> str:
    text = ", ".join(f"{label} {SECONDS.get(label, 0.0):.0f} s" for label in STAGES)
    SECONDS.clear()
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", metavar="GRID[,GRID…]", help="time only these grids of the study "
                        "(hwmodel compare --only)")
    parser.add_argument("--keep", type=Path, help="write the results here instead of a temporary directory")
    args = parser.parse_args(argv)
    try:
        only = check_selection(args.quick, None if args.only is None else
                               [n.strip() for n in args.only.split(",") if n.strip()])
    except FieldError as error:
        parser.error(str(error))
    for label, (module, name) in STAGES.items():
        setattr(module, name, _timed(label, getattr(module, name)))
    with tempfile.TemporaryDirectory() as tmp:
        output = args.keep or Path(tmp) / "results"
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        run_compare(output, quick=args.quick, cache_dir=cache, progress=False, only=only)
        cold = time.perf_counter() - t0
        cold_stages = _stages()
        t0 = time.perf_counter()
        run_compare(output, quick=args.quick, cache_dir=cache, progress=False, only=only)
        warm = time.perf_counter() - t0
        warm_stages = _stages()
    goal = 60 if args.quick else 600
    name = " --quick" if args.quick else f" --only {','.join(only)}" if only else ""
    print(f"hwmodel compare{name}: cold {cold:.0f} s (goal ≤ {goal} s: "
          f"{'ok' if cold <= goal else 'MISS'}), warm {warm:.1f} s (goal ≤ 30 s: {'ok' if warm <= 30 else 'MISS'}), "
          f"warm / cold = {warm / cold:.3f}")
    print(f"  cold by stage: {cold_stages}")
    print(f"  warm by stage: {warm_stages}")


if __name__ == "__main__":
    main()
