"""``evaluate(accelerator, trace)``: cycles, traffic, energy and area of one inference.

A pure function, vectorized over layers — and, in :func:`evaluate_many`, over design points too
(every accelerator × every layer in one numpy pass).

Compute cycles are SCALE-Sim 3.0's stall-free count for the layer's GEMM (M output rows, N output
columns, K reduction, repeated ``gemm_count`` times): with the dataflow's spatial rows S_r,
spatial columns S_c and temporal dimension T — os: (M, N, K); ws: (K, N, M); is: (K, M, N) — an
R × C array runs ceil(S_r / R) · ceil(S_c / C) folds of T + R + C − 2 cycles (os) or
T + 2R + C − 2 (ws, is: the stationary operand is loaded first), minus one, per product.

SRAM traffic counts the operand-matrix elements each fold streams; DRAM traffic fetches each
operand once when it fits half its (double-buffered) SRAM, and once per fold of the other
dimension when it does not; partial sums whose column of folds (M × C values) overflows half the
ofmap SRAM spill to DRAM and back between reduction folds.
With a finite DRAM bandwidth, transfers overlap compute and only the excess stalls; the operand
streams share one interface, or (``dram_channels = "per_operand"``, SCALE-Sim's USER mode) each
has its own. Given the DRAM traffic SCALE-Sim's access report records, this gives SCALE-Sim's
USER-mode total cycles within 2.2 % (tests/golden/scalesim/compare.py); our own traffic is 5–17×
smaller than SCALE-Sim's, whose read buffer re-fetches the operand stream whenever a demand falls
behind its prefetch window, so our USER-mode totals are correspondingly lower. Vector layers
(pooling, softmax, norms, elementwise) run on ``array_cols`` lanes and pay their SRAM traffic;
their arithmetic energy is not modelled.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from workloads.trace import MAC_KINDS, Trace

from hwmodel.arch.accelerator import Accelerator, sram_energy_pj

__all__ = ["Evaluation", "evaluate", "evaluate_many", "compute_cycles", "dram_transfer_cycles"]


def compute_cycles(dataflow: str, rows, cols, m, n, k, count=1):
    """SCALE-Sim's stall-free cycles for ``count`` (m × k)·(k × n) products (vectorized)."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    m, n, k, count = (np.asarray(v, np.int64) for v in (m, n, k, count))
    if dataflow == "os":
        sr, sc, t, per = m, n, k, k + rows + cols - 2
    elif dataflow == "ws":
        sr, sc, t, per = k, n, m, m + 2 * rows + cols - 2
    elif dataflow == "is":
        sr, sc, t, per = k, m, n, n + 2 * rows + cols - 2
    else:
        raise ValueError(f"dataflow must be ws, os or is, not {dataflow!r}")
    folds = _ceil_div(sr, rows) * _ceil_div(sc, cols)
    return count * (folds * per - 1)


def _ceil_div(a, b):
    return -(-a // b)


@functools.lru_cache(maxsize=64)
def _layer_arrays(trace: Trace) -> dict:
    """The trace's columns as read-only int64 arrays (cached per trace object)."""
    layers = trace.layers
    mac = layers["kind"].isin(MAC_KINDS).to_numpy()
    get = lambda c: layers[c].to_numpy(np.int64)  # noqa: E731
    arrays = {"mac": mac, "m": np.where(mac, get("gemm_m"), 1), "n": np.where(mac, get("gemm_n"), 1),
              "k": np.where(mac, get("gemm_k"), 1), "count": get("gemm_count"), "macs": get("macs"),
              "weights": get("weight_elems"), "inputs": get("input_elems"), "outputs": get("output_elems"),
              "elements": get("elements"), "weight_operand": layers["weight_operand"].to_numpy(bool),
              "names": layers["name"].to_numpy(), "kinds": layers["kind"].to_numpy()}
    for value in arrays.values():
        value.flags.writeable = False
    return arrays


def _params(accelerators: list[Accelerator]) -> SimpleNamespace:
    """The fields the model reads, as (design points, 1) arrays broadcasting against layers."""
    def column(values):
        return np.array(values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64)[:, None]

    names = ("array_rows", "array_cols", "activation_bits", "weight_bits", "accumulator_bits", "output_bits",
             "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "sram_word_bits", "dram_energy_pj_per_bit")
    p = SimpleNamespace(**{n: column([getattr(a, n) for a in accelerators]) for n in names})
    p.dataflow = accelerators[0].dataflow
    channels = {a.dram_channels for a in accelerators}
    if len(channels) > 1:
        raise ValueError("evaluate_many needs one dram_channels setting for all design points")
    p.dram_channels = channels.pop()
    p.dram_bandwidth = column([a.dram_bandwidth_bytes_per_cycle or math.inf for a in accelerators])
    p.clock = column([a.clock for a in accelerators])
    p.energy_pj_per_mac = column([a.pe.energy_pj_per_mac for a in accelerators])
    p.idle_pj = column([a.pe.idle_energy_pj_per_cycle for a in accelerators])
    p.leakage_nw = column([a.pe.leakage_nw for a in accelerators])
    return p


def dram_transfer_cycles(streams, bandwidth, channels: str = "shared"):
    """Cycles to move the DRAM ``streams`` (ifmap, filter, ofmap bytes per layer) at ``bandwidth``
    bytes per cycle: their sum over one shared interface, or the longest when each operand has
    an interface of its own (SCALE-Sim's model). Transfers overlap compute (double buffering),
    so a layer's stall is what this exceeds its compute cycles by."""
    if channels == "shared":
        return np.ceil(sum(streams) / bandwidth)
    return np.ceil(np.maximum.reduce([np.asarray(s, dtype=np.float64) for s in streams]) / bandwidth)


def _metrics(acc, L: dict) -> dict:
    """Every per-layer quantity; ``acc`` fields may be scalars or (points, 1) arrays."""
    R, C, df = acc.array_rows, acc.array_cols, acc.dataflow
    m, n, k, count, macs = L["m"], L["n"], L["k"], L["count"], L["macs"]
    cyc = np.where(L["mac"], compute_cycles(df, R, C, m, n, k, count), _ceil_div(L["elements"], C))
    # SRAM accesses in elements (per buffer)
    if df == "os":
        ifmap_reads = count * m * k * _ceil_div(n, C)
        filter_reads = count * n * k * _ceil_div(m, R)
        psum_writes, psum_reads = count * m * n, 0 * m
    elif df == "ws":
        ifmap_reads = count * m * k * _ceil_div(n, C)
        filter_reads = count * k * n
        psum_writes = count * m * n * _ceil_div(k, R)
        psum_reads = psum_writes - count * m * n
    else:
        ifmap_reads = count * k * m
        filter_reads = count * k * n * _ceil_div(m, C)
        psum_writes = count * m * n * _ceil_div(k, R)
        psum_reads = psum_writes - count * m * n
    mac = L["mac"]
    ifmap_bits = np.where(mac, ifmap_reads * acc.activation_bits, L["inputs"] * acc.activation_bits)
    filter_bits = np.where(mac, filter_reads * acc.weight_bits, 0)
    ofmap_bits = np.where(mac, psum_writes * acc.accumulator_bits + psum_reads * acc.accumulator_bits,
                          L["outputs"] * acc.activation_bits)
    # DRAM traffic in bytes
    w_bits = np.where(L["weight_operand"], acc.weight_bits, acc.activation_bits)
    in_bytes = L["inputs"] * acc.activation_bits / 8
    w_bytes = L["weights"] * w_bits / 8
    out_bytes = L["outputs"] * acc.output_bits / 8
    half_i, half_f, half_o = (kb * 512 for kb in (acc.ifmap_sram_kb, acc.filter_sram_kb, acc.ofmap_sram_kb))
    if df == "os":
        refetch_in = np.where(in_bytes > half_i, _ceil_div(n, C), 1)
        refetch_w = np.where(w_bytes > half_f, _ceil_div(m, R), 1)
    elif df == "ws":
        refetch_in = np.where(in_bytes > half_i, _ceil_div(n, C), 1)
        refetch_w = np.ones_like(m)
    else:
        refetch_in = np.ones_like(m)
        refetch_w = np.where(w_bytes > half_f, _ceil_div(m, C), 1)
    # K folds accumulate in the ofmap SRAM; the partial sums of one column of folds (M × C values)
    # must fit half of it, else they go to DRAM and back between folds
    psum_tile = m * np.minimum(n, C) * acc.accumulator_bits / 8
    psum_bytes = L["outputs"] * acc.accumulator_bits / 8
    spill = np.where(mac & (psum_tile > half_o) & (df != "os"),
                     2 * psum_bytes * np.maximum(_ceil_div(k, R) - 1, 0), 0)
    streams = (np.where(mac, in_bytes * refetch_in, in_bytes), np.where(mac, w_bytes * refetch_w, 0),
               out_bytes + spill)
    dram_bytes = sum(streams)
    stall = np.maximum(dram_transfer_cycles(streams, acc.dram_bandwidth, acc.dram_channels) - cyc, 0).astype(np.int64)
    total = cyc + stall
    clock = acc.clock
    pes = R * C
    word = acc.sram_word_bits
    e_sram = (ifmap_bits / word * sram_energy_pj(acc.ifmap_sram_kb * 1024, word)
              + filter_bits / word * sram_energy_pj(acc.filter_sram_kb * 1024, word)
              + ofmap_bits / word * sram_energy_pj(acc.ofmap_sram_kb * 1024, word))
    e_mac = macs * acc.energy_pj_per_mac
    e_idle = np.where(mac, np.maximum(total * pes - macs, 0), 0) * acc.idle_pj
    e_dram = dram_bytes * 8 * acc.dram_energy_pj_per_bit
    e_leak = pes * acc.leakage_nw * total * clock * 1e-6  # nW·ns = 1e-6 pJ
    return {"compute_cycles": cyc, "stall_cycles": stall, "cycles": total,
            "utilization": np.where(mac, macs / np.maximum(cyc * pes, 1), 0.0),
            "ifmap_sram_bits": ifmap_bits, "filter_sram_bits": filter_bits, "ofmap_sram_bits": ofmap_bits,
            "dram_bytes": dram_bytes, "energy_mac_pj": e_mac + e_idle, "energy_sram_pj": e_sram,
            "energy_dram_pj": e_dram, "energy_leakage_pj": e_leak,
            "energy_pj": e_mac + e_idle + e_sram + e_dram + e_leak, "latency_ns": total * clock}


@dataclass(frozen=True, eq=False)
class Evaluation:
    layers: pd.DataFrame
    summary: dict


def _summary(acc_area_mm2: float, macs: int, cycles: float, energy: dict, latency_ns: float) -> dict:
    energy_pj = sum(energy.values())
    seconds = latency_ns * 1e-9
    ops = 2 * macs
    return {"macs": int(macs), "cycles": int(cycles), "latency_ms": latency_ns * 1e-6,
            "energy_uj": energy_pj * 1e-6, **{f"energy_{k}_uj": v * 1e-6 for k, v in energy.items()},
            "tops": ops / seconds / 1e12 if seconds else 0.0,
            "tops_per_w": ops / (energy_pj * 1e-12) / 1e12 if energy_pj else 0.0,
            "tops_per_mm2": ops / seconds / 1e12 / acc_area_mm2 if seconds else 0.0,
            "inferences_per_s": 1 / seconds if seconds else math.inf, "area_mm2": acc_area_mm2}


def evaluate(accelerator: Accelerator, trace: Trace, layer_accelerators: dict | None = None) -> Evaluation:
    """Per-layer cycles, utilization, traffic and energy, and the per-inference summary.

    ``layer_accelerators`` maps layer names to other configurations of the same array (mixed
    precision: e.g. int8 for the first and last layer, W4A8 elsewhere).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a workloads Trace, not {type(trace).__name__}")
    arrays = _layer_arrays(trace)
    result = {k: np.asarray(v)[0] if np.ndim(v) == 2 else np.broadcast_to(v, arrays["m"].shape)
              for k, v in _metrics(_params([accelerator]), arrays).items()}
    for name, other in (layer_accelerators or {}).items():
        rows = np.flatnonzero(trace.layers["name"].to_numpy() == name)
        if rows.size == 0:
            raise ValueError(f"layer_accelerators names layer {name!r}, which {trace.network} does not have")
        if (other.array_rows, other.array_cols, other.dataflow) != (accelerator.array_rows, accelerator.array_cols, accelerator.dataflow):
            raise ValueError(f"layer {name}: a mixed-precision configuration must keep the array and dataflow")
        sub = _metrics(_params([other]), {k: v[rows] for k, v in arrays.items()})
        for key in result:
            result[key] = np.array(result[key], dtype=np.result_type(result[key], sub[key]))
            result[key][rows] = np.broadcast_to(sub[key], (1, rows.size))[0]
    energy = {part: float(result[f"energy_{part}_pj"].sum()) for part in ("mac", "sram", "dram", "leakage")}
    macs = int(arrays["macs"].sum())
    summary = _summary(accelerator.area_mm2, macs, float(result["cycles"].sum()), energy,
                       float(result["latency_ns"].sum()))
    busy = float((result["compute_cycles"] * arrays["mac"]).sum()) * accelerator.array_rows * accelerator.array_cols
    summary["utilization"] = macs / busy if busy else 0.0
    frame = pd.DataFrame({"name": arrays["names"], "kind": arrays["kinds"], "macs": arrays["macs"], **result},
                         copy=False)
    summary["network"] = trace.network
    return Evaluation(frame, summary)


def evaluate_many(accelerators: list[Accelerator], trace: Trace) -> pd.DataFrame:
    """One summary row per accelerator: every design point × every layer in one numpy pass per
    dataflow."""
    arrays = _layer_arrays(trace)
    rows = [None] * len(accelerators)
    total_macs = int(arrays["macs"].sum())
    for dataflow in sorted({a.dataflow for a in accelerators}):
        index = [i for i, a in enumerate(accelerators) if a.dataflow == dataflow]
        group = [accelerators[i] for i in index]
        metrics = _metrics(_params(group), arrays)
        sums = {k: np.broadcast_to(metrics[k], (len(group), arrays["m"].size)).sum(axis=1)
                for k in ("cycles", "latency_ns", "energy_mac_pj", "energy_sram_pj", "energy_dram_pj",
                          "energy_leakage_pj")}
        for j, (i, acc) in enumerate(zip(index, group)):
            energy = {p: float(sums[f"energy_{p}_pj"][j]) for p in ("mac", "sram", "dram", "leakage")}
            rows[i] = {"array": f"{acc.array_rows}x{acc.array_cols}", "dataflow": dataflow,
                       **_summary(acc.area_mm2, total_macs, float(sums["cycles"][j]), energy,
                                  float(sums["latency_ns"][j]))}
    return pd.DataFrame(rows)
