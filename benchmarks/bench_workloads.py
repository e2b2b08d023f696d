"""Trace import speed: ResNet-50 (and the other shipped ONNX models) → trace, goal ≤ 1 s.

    python benchmarks/bench_workloads.py

The reference in the same run is ONNX's own load + shape inference of the same file, the floor
any importer pays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
from onnx import shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_time  # noqa: E402

from workloads.onnx_import import trace_from_onnx  # noqa: E402
from workloads.zoo import ONNX_LIGHT, onnx_light_model  # noqa: E402


def main():
    print(f"{'network':14s} {'trace ms':>9s} {'onnx load+infer ms':>19s} {'ratio':>6s} {'GMAC':>8s}")
    for name in ONNX_LIGHT:
        path = onnx_light_model(name)
        ours = best_time(lambda: trace_from_onnx(path))
        reference = best_time(lambda: shape_inference.infer_shapes(onnx.load(path)))
        gmacs = trace_from_onnx(path).totals()["gmacs"]
        print(f"{name:14s} {ours * 1e3:9.1f} {reference * 1e3:19.1f} {ours / reference:6.2f} {gmacs:8.3f}")


if __name__ == "__main__":
    main()
