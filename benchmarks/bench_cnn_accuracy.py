"""Accuracy-run speed on a real CNN: EfficientNet-Lite0 (ImageNet weights) with every
convolution on the recipe's exact MAC arithmetic.

    python benchmarks/bench_cnn_accuracy.py [--crops 64] [--recipes FORMAT@ACC[:bias],...]

Goal (judged on the fixed-accumulator rows): 64 crops in ≤ 60 s per recipe on 2 cores; the
float16-accumulator rows are printed beside them. Each row is the whole study of that recipe
(forward passes and metrics) with its ratio to the float32 forward pass of the same crops,
measured in the same run; loading, cropping, the float32 references and calibration are timed
separately, as every recipe of a study shares them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hwmodel.accuracy.studies import ImageStudy, _ImageNet, _parallel, efficientnet_accuracy  # noqa: E402
from timing import timed_recipes  # noqa: E402

DEFAULT = "int8_sym@int32,int8_sym@fixed,int4_sym/int8_sym@int32,float8_e4m3fn@fixed,float8_e4m3fn@float16:power_of_two"
GOAL_S = 60.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--recipes", default=DEFAULT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ctx = _ImageNet(ImageStudy(test=args.crops))
    setup = time.perf_counter() - started
    t0 = time.perf_counter()
    _parallel(ctx.model.forward, ctx.batches)
    float32 = time.perf_counter() - t0
    print(f"EfficientNet-Lite0, {args.crops} crops: one-time setup {setup:.1f} s; float32 forward {float32:.2f} s")
    print(f"{'recipe (per-channel weights)':58s} {'study s':>8s} {'x float32':>9s} {'goal':>5s} {'top-1':>6s} {'KL':>8s}")
    for numerics, run in timed_recipes(args.recipes, GOAL_S):
        (table, _), seconds, goal = run(lambda n: efficientnet_accuracy([n], ctx.study, context=ctx))
        value = lambda metric: float(table[table.metric == metric].value.iloc[-1])  # noqa: E731
        print(f"{numerics.label:58s} {seconds:8.1f} {seconds / float32:9.1f} {goal:>5s} "
              f"{value('top1_agreement'):6.3f} {value('kl_divergence'):8.4f}")


if __name__ == "__main__":
    main()
