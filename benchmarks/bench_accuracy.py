"""Accuracy-run speed: MiniLM-L6 over 500 sentences per format, on the machine's cores.

    python benchmarks/bench_accuracy.py [--sentences 500] [--formats int8_sym,float8_e4m3fn@float16,...]

Goal: ≤ 60 s per format for 500 sentences on 2 cores. Each row also gives the ratio to the plain
float32 forward pass of the same sentences measured in the same run (how much the quantized
operands and the accumulator emulation cost). One-time work shared by all formats — loading the
weights, tokenizing, the float32 reference embeddings and the calibration activations — is timed
separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwmodel.accuracy.studies import MinilmStudy, _Minilm, _parallel, minilm_accuracy  # noqa: E402
from hwmodel.accuracy.qmatmul import parse_numerics  # noqa: E402

DEFAULT = ("int8_sym@int32,int4_sym/int8_sym@int32,float8_e4m3fn@float32,float8_e4m3fn@float16,"
           "float8_e5m2@float16,mxfp8_e4m3@float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--formats", default=DEFAULT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ctx = _Minilm(MinilmStudy(test=args.sentences))
    setup = time.perf_counter() - started
    t0 = time.perf_counter()
    _parallel(lambda b: ctx.model.forward(*b), ctx.batches)
    float32 = time.perf_counter() - t0
    print(f"MiniLM-L6, {args.sentences} sentences ({sum(m.sum() for _, m in ctx.batches)} tokens): "
          f"one-time setup {setup:.1f} s; float32 forward {float32:.1f} s")
    print(f"{'recipe':52s} {'seconds':>8s} {'goal':>6s} {'x float32':>10s} {'cosine':>8s}")
    for text in args.formats.split(","):
        numerics = parse_numerics(text, weight_granularity="tensor")
        t0 = time.perf_counter()
        summary, _ = minilm_accuracy([numerics], ctx.study, context=ctx)
        seconds = time.perf_counter() - t0
        cosine = summary[summary.metric == "cosine_mean"].value.iloc[0]
        print(f"{numerics.label:52s} {seconds:8.1f} {'ok' if seconds <= 60 else 'MISS':>6s} "
              f"{seconds / float32:9.1f}x {cosine:8.5f}", flush=True)


if __name__ == "__main__":
    main()
