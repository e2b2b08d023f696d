"""Sparsity and clustering as hardware and as accuracy, measured: zero-gated MACs against the
fraction of zeros, N:M sparse units and codebook units against dense ones, what N:M weights do
per inference, and what pruning and clustering do to MiniLM's embeddings.

    python benchmarks/bench_sparsity.py [--library sky130hd_tt] [--sentences 200] [--skip-accuracy]

Every figure is synthesized, simulated and checked against the golden model in this run (cached
by content in ~/.cache/hwmodel like every characterization); nothing is typed in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rtl.flow.characterize import characterize  # noqa: E402
from rtl.hdl.spec import MacSpec  # noqa: E402

SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9)


def _minilm_tensors(density: float):
    """A real weight tensor (MiniLM layer 0's FFN input weights, magnitude-pruned to ``density``)
    and real activations (its token embeddings)."""
    from hwmodel.accuracy.compression import prune_mask
    from hwmodel.accuracy.models.minilm import load_minilm

    model = load_minilm()
    weight = model._w("encoder.layer.0.intermediate.dense.weight")
    pruned = np.where(prune_mask(weight, density), weight, 0.0) if density < 1 else weight
    return pruned, model._w("embeddings.word_embeddings.weight")[:4096]


def zero_gating(library: str) -> None:
    print(f"\n== zero gating on {library}: energy per MAC (pJ) against the fraction of zero activations ==")
    for fmt, acc in (("int8_sym", "int32"), ("float8_e4m3fn", "float32")):
        plain, gated = (MacSpec.from_names(fmt, fmt, acc, zero_gating=z) for z in (False, True))
        costs = {}
        for spec in (plain, gated):
            costs[spec.zero_gating] = [characterize(spec, library, sparsity=s, macs=1 << 16) for s in SPARSITIES]
        p0, g0 = costs[False][0], costs[True][0]
        print(f"{fmt} → {acc}: area {p0.area_um2:.0f} → {g0.area_um2:.0f} µm² gated "
              f"({g0.area_um2 / p0.area_um2 - 1:+.1%}), critical path {p0.critical_path_ns:.3f} → "
              f"{g0.critical_path_ns:.3f} ns")
        print("  sparsity   " + "".join(f"{s:>9.2f}" for s in SPARSITIES))
        for label, key in (("ungated", False), ("gated", True)):
            print(f"  {label:9s}  " + "".join(f"{c.energy_pj_per_mac:9.3f}" for c in costs[key]))
        print("  gated/ungated " + "".join(f"{g.energy_pj_per_mac / p.energy_pj_per_mac:9.2f}"
                                          for g, p in zip(costs[True], costs[False]))[3:])
    print("  on real tensors (MiniLM FFN weights pruned to the density, × its token embeddings), int8:")
    for density in (1.0, 0.5, 0.25, 0.1):
        weights, activations = _minilm_tensors(density)
        row = []
        for z in (False, True):
            spec = MacSpec.from_names("int8_sym", "int8_sym", "int32", zero_gating=z)
            row.append(characterize(spec, library, "tensor", macs=1 << 16, a_values=weights, b_values=activations))
        print(f"    density {density:4.2f}: ungated {row[0].energy_pj_per_mac:.3f}, gated {row[1].energy_pj_per_mac:.3f} "
              f"pJ/MAC ({row[1].energy_pj_per_mac / row[0].energy_pj_per_mac:.2f}×)")


def nm_units(library: str) -> None:
    print(f"\n== N:M sparse units on {library} (lanes = dense positions; products = multipliers) ==")
    print(f"{'unit':34s} {'products':>8s} {'area µm²':>10s} {'/product':>9s} {'/position':>10s} "
          f"{'pJ/product':>11s} {'pJ/position':>12s} {'path ns':>8s}")
    for fmt, acc in (("int8_sym", "int32"), ("float8_e4m3fn", "float32")):
        for lanes, nm in ((4, ""), (8, ""), (8, "2:4"), (16, "2:4"), (8, "1:4"), (8, "4:8")):
            spec = MacSpec.from_names(fmt, fmt, acc, lanes=lanes, nm=nm)
            c = characterize(spec, library, macs=1 << 16)
            n, m = spec.nm_pattern or (1, 1)
            label = f"{fmt}×{lanes}" + (f" {nm}" if nm else " dense")
            print(f"{label:34s} {spec.products:8d} {c.area_um2:10.0f} {c.area_um2 / spec.products:9.0f} "
                  f"{c.area_um2 / lanes:10.0f} {c.energy_pj_per_mac:11.3f} {c.energy_pj_per_mac * n / m:12.3f} "
                  f"{c.critical_path_ns:8.3f}")


def codebook_units(library: str) -> None:
    print(f"\n== codebook MACs on {library}: activations int8, weights k-bit indices into 2^k centroids ==")
    print(f"{'centroids':16s} {'k':>2s} {'area µm²':>9s} {'table µm²':>10s} {'pJ/MAC':>8s} {'load pJ':>8s} "
          f"{'plain MAC µm²':>14s} {'plain pJ':>9s}")
    for centroids, acc in (("int8_sym", "int32"), ("float8_e4m3fn", "float32"), ("float16", "float32")):
        plain = characterize(MacSpec.from_names("int8_sym", centroids, acc), library, macs=1 << 16)
        for bits in (2, 4, 6):
            c = characterize(MacSpec.from_names("int8_sym", centroids, acc, codebook_bits=bits), library, macs=1 << 16)
            print(f"{centroids:16s} {bits:2d} {c.area_um2:9.0f} {c.module_area_um2.get('codebook', 0):10.0f} "
                  f"{c.energy_pj_per_mac:8.3f} {c.load_energy_pj['codebook']:8.1f} {plain.area_um2:14.0f} "
                  f"{plain.energy_pj_per_mac:9.3f}")


def per_inference(library: str) -> None:
    from workloads.zoo import load_trace

    from hwmodel.arch.accelerator import Accelerator, PeCost, spread_products
    from hwmodel.arch.evaluate import evaluate

    print(f"\n== per inference on a 32×32 ws array of {library} int8 PEs (4 multipliers each) ==")
    dense = characterize(MacSpec.from_names("int8_sym", "int8_sym", "int32", lanes=4), library, macs=1 << 16)
    sparse = characterize(MacSpec.from_names("int8_sym", "int8_sym", "int32", lanes=8, nm="2:4"), library,
                          macs=1 << 16)
    for workload in ("resnet50", "bert_base"):
        trace = load_trace(workload)
        rows = []
        for label, cost, extra in (("dense ×4", dense, {}), ("2:4 ×8", sparse, {"weight_sparsity": "2:4"}),
                                   ("dense ×4, weights 50 % zero in a bitmap", dense,
                                    {"weight_density": 0.5, "weight_storage": "bitmap"})):
            array_rows, pe = spread_products(32, PeCost.from_mac_cost(cost), 4)  # both units have 4 multipliers
            clock = max(dense.critical_path_ns, sparse.critical_path_ns)
            acc = Accelerator(array_rows, 32, "ws", pe, clock_ns=clock, **extra)
            rows.append((label, evaluate(acc, trace).summary))
        base = rows[0][1]
        for label, s in rows:
            print(f"  {workload:9s} {label:40s} {s['latency_ms']:8.3f} ms ({s['latency_ms'] / base['latency_ms']:.2f}×) "
                  f"{s['energy_uj']:9.1f} µJ ({s['energy_uj'] / base['energy_uj']:.2f}×) DRAM {s['dram_mb']:7.2f} MB "
                  f"area {s['area_mm2']:.2f} mm²")
    print(f"  (both at {max(dense.critical_path_ns, sparse.critical_path_ns):.3f} ns, the slower unit's clock)")


def accuracy(sentences: int) -> None:
    from hwmodel.accuracy.recipes import Numerics
    from hwmodel.accuracy.studies import MinilmStudy, minilm_accuracy

    print(f"\n== MiniLM-L6 on {sentences} sentences: cosine similarity to float32 embeddings ==")
    recipes = [Numerics(weight_granularity="channel"), Numerics(nm="2:4"), Numerics(nm="1:4"),
               Numerics(density=0.5), Numerics(density=0.25), Numerics(codebook_bits=4),
               Numerics(codebook_bits=4, codebook="channel"), Numerics(codebook_bits=3, codebook="channel"),
               Numerics("int4_sym", "int8_sym"),
               Numerics("float32", "float32", "float32", nm="2:4"),
               Numerics("float32", "float32", "float32", codebook_bits=4, codebook="channel"),
               Numerics("float8_e4m3fn", "float8_e4m3fn", "float32"),
               Numerics("float8_e4m3fn", "float8_e4m3fn", "float32", nm="2:4")]
    table, _ = minilm_accuracy(recipes, MinilmStudy(test=sentences, sqnr_sentences=8, alone_sentences=4))
    rows = table[table.metric == "cosine_mean"] if "cosine_mean" in set(table.metric) else table
    metric = rows.metric.iloc[0]
    for r in rows.itertuples():
        squeeze = (f" {r.nm}" if r.nm else "") + (f" density {r.density:g}" if r.density < 1 else "") \
            + (f" {2 ** r.codebook_bits} centroids/{r.codebook}" if r.codebook_bits else "")
        print(f"  W:{r.weights:14s} A:{r.activations:14s} {squeeze:28s} {metric} {r.value:.5f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="sky130hd_tt")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args(argv)
    zero_gating(args.library)
    nm_units(args.library)
    codebook_units(args.library)
    per_inference(args.library)
    if not args.skip_accuracy:
        accuracy(args.sentences)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
