"""Our mapper beside ZigZag's best mapping, layer by layer, on identical hardware and layers.

    python tests/golden/zigzag/compare.py [--config NAME] [--layers]

For each configuration stored by regenerate.py: per layer, DRAM traffic (bytes), buffer traffic
(bits, every access of the SRAM levels), buffer energy, DRAM energy and total energy (MACs
included) — ours, ZigZag's, and ours ÷ ZigZag's — and our mapping beside ZigZag's temporal
mapping where ours is more than 10 % above it.

Two of our searches are compared. ``like-for-like`` lets partial sums go to DRAM whenever that
costs less (``psum_to_dram``), as ZigZag's LOMA does; a ratio above 1.10 there is a layer where
our candidate set misses a mapping ZigZag finds. ``default`` is the project's policy — partial
sums reach DRAM only when nothing else fits — so on the layers where ZigZag's best mapping
spills them (marked ``spills``), ours may move more; it never spills where something fits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CONFIGS, accelerator, as_trace  # noqa: E402

from hwmodel.arch.evaluate import evaluate  # noqa: E402

METRICS = ("dram_bytes", "sram_bits", "energy_sram_pj", "energy_dram_pj", "energy_pj")
LIMIT = 1.10


def zigzag_figures(entry: dict) -> dict:
    """ZigZag's per-layer figures in our units."""
    dram_bits, sram_bits, e_sram, e_dram = 0.0, 0.0, 0.0, 0.0
    for level, operands in entry["levels"].items():
        for data in operands.values():
            words = sum(data["words"].values())
            if level == "dram":
                dram_bits += words * data["port_bits"]
                e_dram += data["energy_pj"]
            elif not level.startswith("reg_"):
                sram_bits += words * data["port_bits"]
                e_sram += data["energy_pj"]
    return {"dram_bytes": dram_bits / 8, "sram_bits": sram_bits, "energy_sram_pj": e_sram, "energy_dram_pj": e_dram,
            "energy_pj": entry["energy_pj"], "seconds": entry["seconds"], "mapping": entry["temporal_mapping"],
            "spill": entry["levels"]["dram"].get("O", {}).get("words", {}).get("rd_out_to_low", 0) > 0}


def ours(name: str, layers: list[dict], psum_to_dram: bool = False) -> tuple[list[dict], float]:
    acc = dataclasses.replace(accelerator(name), psum_to_dram=psum_to_dram)
    trace = as_trace(layers)
    evaluate(acc, trace)  # compiled once, not timed
    start = time.perf_counter()
    frame = evaluate(acc, trace).layers
    seconds = time.perf_counter() - start
    rows = []
    for row in frame.itertuples():
        rows.append({"dram_bytes": row.dram_bytes,
                     "sram_bits": row.inputs_sram_bits + row.weights_sram_bits + row.outputs_sram_bits,
                     "energy_sram_pj": row.energy_sram_pj, "energy_dram_pj": row.energy_dram_pj,
                     "energy_pj": row.energy_sram_pj + row.energy_dram_pj + row.energy_mac_pj,
                     "spill": bool(row.psum_spill),
                     "mapping": f"{row.loop_order} tiles M {row.tile_m} N {row.tile_n} K {row.tile_k}"
                                + (f", holding {row.kept}" if row.kept else "")
                                + (", partial sums to DRAM" if row.psum_spill else "")})
    return rows, seconds


def comparison(name: str, psum_to_dram: bool = False) -> dict:
    """Per layer: ours, ZigZag's and the ratios; plus both run times."""
    golden = json.loads((HERE / f"{name}.json").read_text())
    layers = [entry["layer"] for entry in golden["layers"]]
    mine, seconds = ours(name, layers, psum_to_dram)
    table = []
    for layer, entry, own in zip(layers, golden["layers"], mine):
        theirs = zigzag_figures(entry)
        ratios = {m: own[m] / theirs[m] if theirs[m] else (1.0 if not own[m] else float("inf")) for m in METRICS}
        table.append({"layer": layer["name"], "ours": own, "zigzag": theirs, "ratio": ratios})
    return {"config": name, "rows": table, "seconds_ours": seconds,
            "seconds_zigzag": sum(e["seconds"] for e in golden["layers"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS))
    parser.add_argument("--layers", action="store_true", help="print every layer, not only the summary")
    args = parser.parse_args()
    worst = {"like-for-like": 0.0, "default": 0.0}
    for name in CONFIGS:
        if args.config and name != args.config:
            continue
        if not (HERE / f"{name}.json").exists():
            print(f"{name}: no golden file (run regenerate.py)")
            continue
        for label, spill in (("like-for-like", True), ("default", False)):
            result = comparison(name, spill)
            rows = result["rows"]
            print(f"\n{name}, {label}: {len(rows)} layers; ours {result['seconds_ours'] * 1e3:.1f} ms, "
                  f"ZigZag {result['seconds_zigzag']:.0f} s")
            for metric in METRICS:
                total_ours = sum(r["ours"][metric] for r in rows)
                total_zz = sum(r["zigzag"][metric] for r in rows)
                high = max(r["ratio"][metric] for r in rows)
                low = min(r["ratio"][metric] for r in rows)
                if label == "like-for-like" or metric != "dram_bytes":
                    worst[label] = max(worst[label], high)
                print(f"  {metric:16} ours {total_ours:12.4g}  ZigZag {total_zz:12.4g}  ratio "
                      f"{total_ours / total_zz:5.3f} (per layer {low:5.3f} … {high:5.3f})")
            if args.layers:
                print(f"  {'layer':24} " + " ".join(f"{m:>15}" for m in METRICS))
            for r in rows:
                mark = " (ZigZag spills partial sums)" if r["zigzag"]["spill"] else ""
                if args.layers:
                    print(f"  {r['layer']:24} " + " ".join(f"{r['ratio'][m]:15.3f}" for m in METRICS) + mark)
                if max(r["ratio"].values()) > LIMIT:
                    print(f"    {r['layer']}{mark}: ours {r['ours']['mapping']}\n      ZigZag {r['zigzag']['mapping']}")
    print(f"\nworst per-layer ratio, ours ÷ ZigZag: like-for-like {worst['like-for-like']:.3f}, default policy "
          f"{worst['default']:.3f} (buffer and total energy; limit {LIMIT})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
