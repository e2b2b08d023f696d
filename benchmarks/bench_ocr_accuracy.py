"""Accuracy-run speed on PP-OCRv4 text recognition (the packaged ONNX export), every
convolution and matmul on the recipe's exact MAC arithmetic.

    python benchmarks/bench_ocr_accuracy.py [--lines 200] [--recipes FORMAT@ACC[:bias],...]

Goal (judged on the fixed-accumulator rows): 200 rendered lines recognized in ≤ 60 s per recipe
on 2 cores. Each row is that recipe's recognition pass over every line (decoding and scoring
included) with its ratio to the float32 pass over the same lines in the same executor, and to
onnxruntime's float32 pass when it is installed, all measured in this run; rendering, the
float32 references and calibration are timed separately, as every recipe shares them. The
direction classifier and the detector are left out here (``--pages 0``; the classifier costs
2 % of the recognizer's MACs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hwmodel.accuracy.models.ppocr import recognition_scores  # noqa: E402
from hwmodel.accuracy.studies import OcrStudy, _Ocr, _parallel  # noqa: E402
from timing import timed_recipes  # noqa: E402

DEFAULT = "int8_sym@int32,int8_sym@fixed,int4_sym/int8_sym@int32,float8_e4m3fn@fixed,float8_e4m3fn@float16:power_of_two"
GOAL_S = 60.0


def _onnxruntime_seconds(batches) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    from workloads.packaged import packaged_file

    session = onnxruntime.InferenceSession(str(packaged_file("ppocr_rec")))
    t0 = time.perf_counter()
    for batch in batches:
        session.run(None, {"x": batch})
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--recipes", default=DEFAULT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ctx = _Ocr(OcrStudy(test=args.lines, pages=0))
    setup = time.perf_counter() - started
    t0 = time.perf_counter()
    _parallel(lambda b: ctx.rec.model.run(b), ctx.rec.batches)
    float32 = time.perf_counter() - t0
    runtime = _onnxruntime_seconds(ctx.rec.batches)
    base = recognition_scores(ctx.decoded(ctx.rec.reference), ctx.truth)
    print(f"PP-OCRv4 recognition, {args.lines} lines: one-time setup {setup:.1f} s; float32 pass {float32:.2f} s"
          + (f" (onnxruntime {runtime:.2f} s)" if runtime else "")
          + f"; float32 line accuracy {base['line_accuracy']:.3f}, character accuracy {base['char_accuracy']:.4f}")
    print(f"{'recipe (per-channel weights)':58s} {'pass s':>7s} {'x float32':>9s} {'goal':>5s} {'line':>6s} {'char':>7s}")
    for numerics, run in timed_recipes(args.recipes, GOAL_S):
        scores, seconds, goal = run(lambda n: recognition_scores(ctx.decoded(ctx.rec.outputs(n)[0]), ctx.truth))
        print(f"{numerics.label:58s} {seconds:7.1f} {seconds / float32:9.1f} {goal:>5s} "
              f"{scores['line_accuracy']:6.3f} {scores['char_accuracy']:7.4f}")


if __name__ == "__main__":
    main()
