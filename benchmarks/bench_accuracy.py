"""Accuracy-run speed: MiniLM-L6 with every matmul on the recipe's exact MAC arithmetic.

    python benchmarks/bench_accuracy.py [--sentences 64] [--recipes FORMAT@ACC[:lanes][:bias],...]

Goal (judged on the first recipe): 64 sentences in ≤ 20 s on 2 cores for a 1-lane float16 MAC
(E4M3 × E4M3 with the exponent-bias port), one rounding per step of the design's own lanes — no
approximation. The other rows show what other registers cost (E5M2 products span 63 bits, so
its float16 sums need the TwoSum kernel).
Each row gives the forward passes over the test sentences (what the metrics need) and the whole
study with its per-site SQNR diagnostics, with the ratio to the float32 forward pass of the same
sentences measured in the same run. One-time work shared by all recipes (loading, tokenizing, the
float32 references, calibration) is timed separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwmodel.accuracy.qmatmul import parse_numerics  # noqa: E402
from hwmodel.accuracy.studies import MinilmStudy, _Minilm, _parallel, minilm_accuracy  # noqa: E402

DEFAULT = ("float8_e4m3fn@float16:1:power_of_two,float8_e4m3fn@float16:1:none,float8_e4m3fn@float32:1:none,"
           "float8_e4m3fn@float16:4:power_of_two,float8_e5m2@float16:1:power_of_two,int8_sym@int32:1:none")
GOAL_S = 20.0


def _recipe(text: str):
    body, lanes, bias = (text.split(":") + ["1", "none"])[:3]
    return parse_numerics(body, weight_granularity="tensor", lanes=int(lanes), bias=bias)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--recipes", default=DEFAULT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ctx = _Minilm(MinilmStudy(test=args.sentences, sqnr_sentences=min(32, args.sentences), alone_sentences=8))
    setup = time.perf_counter() - started
    t0 = time.perf_counter()
    _parallel(lambda b: ctx.model.forward(*b), ctx.batches)
    float32 = time.perf_counter() - t0
    tokens = sum(int(m.sum()) for _, m in ctx.batches)
    print(f"MiniLM-L6, {args.sentences} sentences ({tokens} tokens): one-time setup {setup:.1f} s; "
          f"float32 forward {float32:.2f} s")
    print(f"{'recipe':58s} {'forward s':>9s} {'x float32':>9s} {'goal':>5s} {'study s':>8s} {'cosine':>8s}")
    for text in args.recipes.split(","):
        numerics = _recipe(text)
        scales, weights = ctx.scales(numerics), ctx.quantized_weights(numerics)  # shared across a study's recipes
        t0 = time.perf_counter()
        _parallel(lambda b: ctx.model.forward(*b, numerics, scales, weights), ctx.batches)
        forward = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary, _ = minilm_accuracy([numerics], ctx.study, context=ctx)
        study = time.perf_counter() - t0
        cosine = summary[summary.metric == "cosine_mean"].value.iloc[0]
        verdict = ("ok" if forward <= GOAL_S else "MISS") if text == args.recipes.split(",")[0] else ""
        print(f"{numerics.label:58s} {forward:9.1f} {forward / float32:8.1f}x {verdict:>5s} {study:8.1f} {cosine:8.5f}",
              flush=True)


if __name__ == "__main__":
    main()
