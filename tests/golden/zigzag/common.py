"""The hardware and layers both models run in the ZigZag comparison (shared by regenerate.py,
compare.py and the test)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from hwmodel.arch.accelerator import Accelerator, PeCost  # noqa: E402
from hwmodel.arch.memory import Buffer, buffer_cost  # noqa: E402
from workloads.builders import transformer_trace  # noqa: E402
from workloads.trace import Trace, gemm_row  # noqa: E402
from workloads.zoo import load_trace  # noqa: E402

# unit costs: the int8_sym → int32 MAC as `hwmodel synth --a int8_sym --b int8_sym --acc int32
# --library sky130hd_tt` measures it (rounded); identical on both sides, which is what matters here
PE = PeCost("int8_sym-int32", area_um2=4593.0, energy_pj_per_mac=5.79, delay_ns=6.21, library="sky130hd_tt")

# name → (rows, cols, dataflow, (inputs, weights, outputs) KB)
CONFIGS = {
    "ws_32x32_256k": (32, 32, "ws", (256, 256, 128)),
    "ws_32x32_64k": (32, 32, "ws", (64, 64, 32)),
    "ws_16x64_256k": (16, 64, "ws", (256, 256, 128)),
    "ws_16x64_64k": (16, 64, "ws", (64, 64, 32)),
    "os_32x32_256k": (32, 32, "os", (256, 256, 128)),
}


def accelerator(name: str) -> Accelerator:
    """The configuration as an Accelerator: separate buffers costed with sky130's SRAM macros,
    leakage left out (ZigZag has none), single-buffered (ZigZag's capacity rule: a tile fits
    when it fits, no second copy)."""
    rows, cols, dataflow, sizes = CONFIGS[name]
    buffers = []
    for label, operand, kb in zip(("ifmap", "filter", "ofmap"), ("inputs", "weights", "outputs"), sizes):
        plain = Buffer(label, kb, (operand,), 64)
        cost = buffer_cost(plain, "sky130hd_tt")
        buffers.append(Buffer(label, kb, (operand,), 64, read_energy_pj=cost.read_energy_pj,
                              write_energy_pj=cost.write_energy_pj, leakage_nw=0.0, area_um2=cost.area_um2))
    return Accelerator(rows, cols, dataflow, PE, weight_bits=8, activation_bits=8, accumulator_bits=24,
                       output_bits=8, memory=tuple(buffers), dram_type="ddr3", double_buffered=False)


def layers() -> list[dict]:
    """ResNet-50's convolutions as im2col GEMMs and one BERT-base encoder block's GEMMs (one
    head of attention), each distinct (M, N, K) once, named by their first occurrence."""
    seen, out = set(), []

    def add(name, m, n, k):
        if (m, n, k) not in seen:
            seen.add((m, n, k))
            out.append({"name": name, "m": int(m), "n": int(n), "k": int(k)})

    for row in load_trace("resnet50").mac_layers.itertuples():
        if row.gemm_count == 1:
            add(f"resnet50.{row.name}", row.gemm_m, row.gemm_n, row.gemm_k)
    bert = transformer_trace("bert_base")
    for row in bert.mac_layers.itertuples():
        if row.name.startswith("l0."):
            add(f"bert_base.{row.name}", row.gemm_m, row.gemm_n, row.gemm_k)
    return out


def as_trace(selected: list[dict]) -> Trace:
    """The same GEMMs as a trace: one product each, its input the im2col matrix (M × K), as
    ZigZag sees a GEMM."""
    rows = [gemm_row(layer["name"], m=layer["m"], n=layer["n"], k=layer["k"]) for layer in selected]
    return Trace.from_rows(rows, network="zigzag-comparison", source="tests/golden/zigzag")
