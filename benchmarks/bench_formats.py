"""Quantization speed: hwmodel's quantize against ml_dtypes' astype, measured in the same run.

    python benchmarks/bench_formats.py [--size 10000000] [--repeat 5]

For each format: the best of ``--repeat`` runs of ``quantize(x, fmt, saturate=False)`` on float32
input (the mode that matches ml_dtypes' overflow rule), the same for ml_dtypes' ``astype``
(numpy's for float16 / float32; a numpy ``rint``/``clip``/``astype`` quantizer for integers, which
ml_dtypes only casts), their ratio (speed relative to the reference; ≥ 0.5 is the goal), and
whether the codes are bit-identical. A second column times a non-power-of-two scale, which
takes the float64 path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rtl.numerics import formats as F  # noqa: E402
from timing import best_time  # noqa: E402


def reference(fmt: F.Format, x: np.ndarray):
    """(label, function returning comparable codes) for the reference conversion."""
    if fmt.kind == "int":  # ml_dtypes' integer astype truncates and wraps: no quantizer
        lo, hi = fmt.min_value, fmt.max_value
        return "numpy rint", lambda: (np.clip(np.rint(x), lo, hi).astype(np.int64)
                                      & ((1 << fmt.bits) - 1)).astype(fmt.code_dtype)
    if hasattr(ml_dtypes, fmt.name):
        dtype = getattr(ml_dtypes, fmt.name)
        view = fmt.code_dtype if fmt.bits in (8, 16) else np.uint8
        return "ml_dtypes", lambda: x.astype(dtype).view(view)
    if fmt.name in ("float16", "float32"):
        dtype = np.dtype(fmt.name)
        return "numpy", lambda: x.astype(dtype).view(fmt.code_dtype)
    return None, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--formats", nargs="*", default=[
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3",
        "float8_e3m4", "float8_e4m3b11fnuz", "float8_e2m5fnuz", "float8_e3m4fnuz", "float6_e2m3fn",
        "float6_e3m2fn", "float4_e2m1fn", "float8_e8m0fnu", "bfloat16", "float16", "int8", "int4"])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(args.size) * np.exp2(rng.integers(-8, 8, args.size))).astype(np.float32)
    print(f"quantize {args.size:,} float32 values; best of {args.repeat}; ratio = reference time / ours")
    header = f"{'format':20s} {'reference':10s} {'ref ms':>8s} {'ours ms':>8s} {'ratio':>6s} {'exact':>5s} {'scaled ms':>9s}"
    print(header)
    print("-" * len(header))
    for name in args.formats:
        fmt = F.get_format(name)
        label, ref = reference(fmt, x)
        ours = best_time(lambda: F.quantize(x, fmt, saturate=False), args.repeat)
        scaled = best_time(lambda: F.quantize(x, fmt, 0.37, saturate=fmt.kind != "int"), max(1, args.repeat // 2))
        if ref is None:
            print(f"{name:20s} {'-':10s} {'-':>8s} {ours * 1e3:8.1f} {'-':>6s} {'-':>5s} {scaled * 1e3:9.1f}")
            continue
        ref_time = best_time(ref, args.repeat)
        exact = np.array_equal(F.quantize(x, fmt, saturate=False), ref())
        print(f"{name:20s} {label:10s} {ref_time * 1e3:8.1f} {ours * 1e3:8.1f} "
              f"{ref_time / ours:6.2f} {'yes' if exact else 'NO':>5s} {scaled * 1e3:9.1f}")


if __name__ == "__main__":
    main()
