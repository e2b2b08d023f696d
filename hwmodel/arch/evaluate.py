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

from rtl.numerics.sparsity import condensed_length, parse_nm
from workloads.trace import MAC_KINDS, Trace

from hwmodel.arch.accelerator import Accelerator
from hwmodel.arch.mapping import ORDERS, search
from hwmodel.arch.memory import OPERANDS

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
              "kv_cache": layers["kv_cache"].to_numpy(bool),
              "names": layers["name"].to_numpy(), "kinds": layers["kind"].to_numpy()}
    for value in arrays.values():
        value.flags.writeable = False
    return arrays


def _params(accelerators: list[Accelerator]) -> SimpleNamespace:
    """The fields the model reads, as (design points, 1) arrays broadcasting against layers."""
    def column(values):
        return np.array(values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64)[:, None]

    names = ("array_rows", "array_cols", "activation_bits", "weight_bits", "accumulator_bits", "output_bits",
             "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
    p = SimpleNamespace(**{n: column([getattr(a, n) for a in accelerators]) for n in names})
    p.weight_bits = column([float(a.stored_weight_bits) for a in accelerators])
    patterns = {a.weight_sparsity for a in accelerators}
    if len(patterns) > 1:
        raise ValueError("evaluate_many needs one weight_sparsity for all design points of a group")
    p.weight_sparsity = parse_nm(patterns.pop(), "weight_sparsity")
    p.kv_bits = column([a.kv_bits or a.activation_bits for a in accelerators])
    p.dataflow = accelerators[0].dataflow
    channels = {a.dram_channels for a in accelerators}
    if len(channels) > 1:
        raise ValueError("evaluate_many needs one dram_channels setting for all design points")
    p.dram_channels = channels.pop()
    p.dram_bandwidth = column([a.dram_bytes_per_cycle or math.inf for a in accelerators])
    p.dram_pj_per_bit = column([a.dram_pj_per_bit for a in accelerators])
    p.clock = column([a.clock for a in accelerators])
    p.energy_pj_per_mac = column([a.pe.energy_pj_per_mac for a in accelerators])
    p.idle_pj = column([a.pe.idle_energy_pj_per_cycle for a in accelerators])
    p.table_pj = column([float(a.pe.table_load_pj) for a in accelerators])
    p.table_per_weight = column([float(a.weight_table == "channel") for a in accelerators])
    p.leakage_nw = column([a.pe.leakage_nw for a in accelerators])
    costs = [a.buffer_costs for a in accelerators]
    p.sram_leakage_nw = column([float(sum(c.leakage_nw for c in cost)) for cost in costs])
    if all(len(a.buffers) == 3 for a in accelerators) and all(
            [b.operands for b in a.buffers] == [(o,) for o in OPERANDS] for a in accelerators):
        for i, suffix in enumerate("iwo"):  # SCALE-Sim's three buffers
            setattr(p, f"word_{suffix}", column([float(a.buffers[i].word_bits) for a in accelerators]))
            setattr(p, f"read_{suffix}", column([c[i].read_energy_pj for c in costs]))
    return p


def _layer_bits(acc, arrays: dict) -> dict:
    """The trace's columns plus the bits of each layer's k × n operand: weights, an activation
    (attention's QKᵀ and AV) or a KV cache."""
    bits = np.where(arrays["weight_operand"], acc.weight_bits,
                    np.where(arrays["kv_cache"], acc.kv_bits, acc.activation_bits))
    out = {**arrays, "weight_bits": bits, "k_read": arrays["k"]}
    if acc.weight_sparsity:  # N:M units: the array reduces over the kept weights only
        sparse = arrays["mac"] & arrays["weight_operand"]
        k = arrays["k"]
        kept = np.where(sparse, condensed_length(k, *acc.weight_sparsity), k)
        out.update(k=kept, weights=np.where(sparse, arrays["weights"] * kept // k, arrays["weights"]),
                   macs=np.where(sparse, arrays["macs"] * kept // k, arrays["macs"]))
    return out


def dram_transfer_cycles(streams, bandwidth, channels: str = "shared"):
    """Cycles to move the DRAM ``streams`` (ifmap, filter, ofmap bytes per layer) at ``bandwidth``
    bytes per cycle: their sum over one shared interface, or the longest when each operand has
    an interface of its own (SCALE-Sim's model). Transfers overlap compute (double buffering),
    so a layer's stall is what this exceeds its compute cycles by."""
    if channels == "shared":
        return np.ceil(sum(streams) / bandwidth)
    return np.ceil(np.maximum.reduce([np.asarray(s, dtype=np.float64) for s in streams]) / bandwidth)


def _vector_metrics(acc, L: dict, pes, word_in, word_out, read_in, write_out) -> dict:
    """Vector layers (pooling, softmax, norms, elementwise): ``array_cols`` lanes, operands read
    from and written to the buffers once, and moved to and from DRAM once."""
    cyc = _ceil_div(L["elements"], acc.array_cols)
    in_bits = L["inputs"] * acc.activation_bits
    out_bits = L["outputs"] * acc.activation_bits
    return {"compute_cycles": cyc, "in_bits": in_bits, "out_bits": out_bits,
            "dram_i": in_bits / 8, "dram_o": L["outputs"] * acc.output_bits / 8,
            "e_sram": in_bits / word_in * read_in + out_bits / word_out * write_out}


def _metrics(acc, L: dict) -> dict:
    """SCALE-Sim's fixed mapping: every per-layer quantity; ``acc`` fields may be scalars or
    (points, 1) arrays (see :func:`_params`)."""
    R, C, df = acc.array_rows, acc.array_cols, acc.dataflow
    m, n, k, count, macs = L["m"], L["n"], L["k"], L["count"], L["macs"]
    cyc = np.where(L["mac"], compute_cycles(df, R, C, m, n, k, count), _ceil_div(L["elements"], C))
    # SRAM accesses in elements (per buffer)
    k_read = L["k_read"]  # activations read per output: all K even where N:M units keep fewer weights
    if df == "os":
        ifmap_reads = count * m * k_read * _ceil_div(n, C)
        filter_reads = count * n * k * _ceil_div(m, R)
        psum_writes, psum_reads = count * m * n, 0 * m
    elif df == "ws":
        ifmap_reads = count * m * k_read * _ceil_div(n, C)
        filter_reads = count * k * n
        psum_writes = count * m * n * _ceil_div(k, R)
        psum_reads = psum_writes - count * m * n
    else:
        ifmap_reads = count * k_read * m
        filter_reads = count * k * n * _ceil_div(m, C)
        psum_writes = count * m * n * _ceil_div(k, R)
        psum_reads = psum_writes - count * m * n
    mac = L["mac"]
    w_bits = L["weight_bits"]
    ifmap_bits = np.where(mac, ifmap_reads * acc.activation_bits, L["inputs"] * acc.activation_bits)
    filter_bits = np.where(mac, filter_reads * w_bits, 0)
    finished = count * m * n  # each output's last write: the value requantized at the array's edge
    ofmap_bits = np.where(mac, (psum_writes - finished + psum_reads) * acc.accumulator_bits
                          + finished * acc.output_bits, L["outputs"] * acc.activation_bits)
    # DRAM traffic in bytes
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
    spilled = mac & (psum_tile > half_o) & (df != "os") & (_ceil_div(k, R) > 1)
    spill = np.where(spilled, 2 * psum_bytes * np.maximum(_ceil_div(k, R) - 1, 0), 0)
    streams = (np.where(mac, in_bytes * refetch_in, in_bytes), np.where(mac, w_bytes * refetch_w, 0),
               out_bytes + spill)
    dram_bytes = sum(streams)
    stall = np.maximum(dram_transfer_cycles(streams, acc.dram_bandwidth, acc.dram_channels) - cyc, 0).astype(np.int64)
    total = cyc + stall
    e_sram = (ifmap_bits / acc.word_i * acc.read_i + filter_bits / acc.word_w * acc.read_w
              + ofmap_bits / acc.word_o * acc.read_o)
    return _finish(acc, L, cyc, total, {"inputs": ifmap_bits, "weights": filter_bits, "outputs": ofmap_bits},
                   streams, e_sram, spilled, filter_reads)


ENERGY_PARTS = ("mac", "idle", "sram", "dram", "leakage")
"""Where an inference's energy goes: the MACs' own (each MAC at the PE's energy per MAC, and a
codebook PE's table loads), idle
PEs (the clock and registers of every PE-cycle without a MAC: no clock gating), the buffers,
DRAM, and leakage over the run."""


def _finish(acc, L, compute, total, sram_bits, streams, e_sram, spilled, weight_reads) -> dict:
    """The per-layer quantities every mapping reports, from its cycles, buffer and DRAM traffic
    (``weight_reads``: the weights the array reads into its PEs)."""
    pes = acc.array_rows * acc.array_cols
    macs, mac = L["macs"], L["mac"]
    dram_i, dram_w, dram_o = streams
    dram_bytes = dram_i + dram_w + dram_o
    e_mac = macs * acc.energy_pj_per_mac
    # a codebook PE loads its table: per channel, with every weight it is given (a PE's next weight
    # is another channel's); per layer, once in every PE
    weighted = mac & L["weight_operand"]
    loads = acc.table_per_weight * np.where(weighted, weight_reads, 0) + (1 - acc.table_per_weight) * np.where(
        weighted, pes, 0)
    e_mac = e_mac + loads * acc.table_pj
    e_idle = np.where(mac, np.maximum(total * pes - macs, 0), 0) * acc.idle_pj
    e_dram = dram_bytes * 8 * acc.dram_pj_per_bit
    e_leak = (pes * acc.leakage_nw + acc.sram_leakage_nw) * total * acc.clock * 1e-6  # nW·ns = 1e-6 pJ
    compulsory = (L["inputs"] * acc.activation_bits + np.where(mac, L["weights"] * L["weight_bits"], 0)
                  + L["outputs"] * acc.output_bits) / 8
    dram_cycles = dram_transfer_cycles(streams, acc.dram_bandwidth, acc.dram_channels)
    return {"executed_macs": macs, "compute_cycles": compute, "stall_cycles": total - compute, "cycles": total,
            "dram_cycles": dram_cycles,
            "utilization": np.where(mac, macs / np.maximum(compute * pes, 1), 0.0),
            **{f"{o}_sram_bits": bits for o, bits in sram_bits.items()},
            "dram_inputs_bytes": dram_i, "dram_weights_bytes": dram_w, "dram_outputs_bytes": dram_o,
            "dram_bytes": dram_bytes, "compulsory_dram_bytes": compulsory, "psum_spill": spilled,
            "energy_mac_pj": e_mac, "energy_idle_pj": e_idle, "energy_sram_pj": e_sram, "energy_dram_pj": e_dram,
            "energy_leakage_pj": e_leak, "energy_pj": e_mac + e_idle + e_sram + e_dram + e_leak,
            "latency_ns": total * acc.clock}


def _kept(mask: int) -> str:
    """The operands a mapping holds across the outer loops that would fetch them again."""
    return "+".join(o for i, o in enumerate(OPERANDS) if mask & (1 << i))


def _searched(accelerator: Accelerator, L: dict) -> dict:
    """The mapper's per-layer quantities for one accelerator (:mod:`hwmodel.arch.mapping`)."""
    acc = _params([accelerator])
    acc = SimpleNamespace(**{k: (v.item() if isinstance(v, np.ndarray) else v) for k, v in vars(acc).items()})
    buffers, costs = accelerator.buffers, accelerator.buffer_costs
    serve = [next(i for i, b in enumerate(buffers) if o in b.operands) for o in OPERANDS]
    mac = L["mac"]
    rows = np.flatnonzero(mac)
    pes = accelerator.array_rows * accelerator.array_cols
    time_pj = pes * accelerator.pe.idle_energy_pj_per_cycle + (pes * accelerator.pe.leakage_nw
                                                                + acc.sram_leakage_nw) * accelerator.clock * 1e-6
    bandwidth = accelerator.dram_bytes_per_cycle or 0.0
    mapped = search(accelerator.dataflow, accelerator.array_rows, accelerator.array_cols,
                    {**{key: L[key][rows] for key in ("m", "n", "k", "count", "inputs", "weights", "outputs",
                                                      "weight_bits")},
                     "input_reads": L["k_read"][rows] / L["k"][rows],  # N:M units read every activation
                     "fixed_pj": L["macs"][rows] * (accelerator.pe.energy_pj_per_mac
                                                    - accelerator.pe.idle_energy_pj_per_cycle)},
                    {"input_bits": accelerator.activation_bits, "psum_bits": accelerator.accumulator_bits,
                     "output_bits": accelerator.output_bits,
                     "capacity_bits": [b.capacity_bytes * 8 for b in buffers],
                     "holds": [[o in b.operands for o in OPERANDS] for b in buffers], "op_buffer": serve,
                     "read_pj": [costs[i].read_energy_pj for i in serve],
                     "write_pj": [costs[i].write_energy_pj for i in serve],
                     "word_bits": [buffers[i].word_bits for i in serve],
                     "port_words": [b.bandwidth_words_per_cycle or 0.0 for b in buffers],
                     "dram_pj_per_bit": accelerator.dram_pj_per_bit, "dram_bytes_per_cycle": bandwidth,
                     "shared_channel": accelerator.dram_channels == "shared", "time_pj_per_cycle": time_pj,
                     "objective": accelerator.objective, "double_buffered": accelerator.double_buffered,
                     "psum_to_dram": accelerator.psum_to_dram})
    size = mac.size
    word = [buffers[i].word_bits for i in serve]
    vector = _vector_metrics(acc, L, pes, word[0], word[2], costs[serve[0]].read_energy_pj,
                             costs[serve[2]].write_energy_pj)

    def spread(values, fill, dtype=np.float64):
        out = np.array(fill, dtype=dtype) if np.ndim(fill) else np.full(size, fill, dtype=dtype)
        out[rows] = values
        return out

    compute = spread(mapped["compute_cycles"], vector["compute_cycles"], np.int64)
    total = spread(mapped["cycles"], vector["compute_cycles"], np.int64)
    if bandwidth:  # vector layers wait for their DRAM traffic too
        moved = vector["dram_i"] + vector["dram_o"]
        transfer = np.ceil(moved / bandwidth if accelerator.dram_channels == "shared"
                           else np.maximum(vector["dram_i"], vector["dram_o"]) / bandwidth).astype(np.int64)
        total = np.where(mac, total, np.maximum(total, transfer))
    # every access of each operand's buffer: the array's, fills from DRAM, drains and spills to it
    sram_bits = {o: spread(mapped[f"{o}_sram_bits"], fill) for o, fill in
                 (("inputs", vector["in_bits"]), ("weights", 0.0), ("outputs", vector["out_bits"]))}
    streams = (spread(mapped["dram_inputs_bytes"], vector["dram_i"]), spread(mapped["dram_weights_bytes"], 0.0),
               spread(mapped["dram_outputs_bytes"], vector["dram_o"]))
    result = _finish(acc, L, compute, total, sram_bits, streams, spread(mapped["energy_sram_pj"], vector["e_sram"]),
                     spread(mapped["psum_spill"], False, bool), spread(mapped["weights_reads"], 0.0))
    order = np.array(ORDERS, dtype=object)[mapped["pattern"]]
    result.update({"tile_m": spread(mapped["tile_m"], 0, np.int64), "tile_n": spread(mapped["tile_n"], 0, np.int64),
                   "tile_k": spread(mapped["tile_k"], 0, np.int64),
                   "loop_order": spread(order, "", object), "fits": spread(mapped["fits"], True, bool),
                   "kept": spread(np.array([_kept(v) for v in mapped["kept"]], dtype=object), "", object)})
    # reuse per level: MACs per element the level delivers
    for operand, width in (("inputs", accelerator.activation_bits), ("weights", L["weight_bits"])):
        fetched = result[f"dram_{operand}_bytes"] * 8 / width
        result[f"dram_reuse_{operand}"] = np.where(mac, L["macs"] / np.maximum(fetched, 1), 0.0)
        reads = spread(mapped[f"{operand}_reads"], 0.0)
        result[f"sram_reuse_{operand}"] = np.where(mac, L["macs"] / np.maximum(reads, 1), 0.0)
    return result


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


def _per_layer(accelerator: Accelerator, arrays: dict) -> dict:
    """Every per-layer quantity for one accelerator, as (layers,) arrays."""
    acc = _params([accelerator])
    if accelerator.mapping == "search":
        layers = _layer_bits(acc, arrays)
        return _searched(accelerator, {**layers, "weight_bits": layers["weight_bits"][0]})
    shape = arrays["m"].shape
    return {k: np.asarray(v)[0] if np.ndim(v) == 2 else np.broadcast_to(v, shape)
            for k, v in _metrics(acc, _layer_bits(acc, arrays)).items()}


def evaluate(accelerator: Accelerator, trace: Trace, layer_accelerators: dict | None = None) -> Evaluation:
    """Per-layer cycles, utilization, traffic, energy and mapping, and the per-inference summary.

    ``layer_accelerators`` maps layer names to other configurations of the same array (mixed
    precision: e.g. int8 for the first and last layer, W4A8 elsewhere).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a workloads Trace, not {type(trace).__name__}")
    arrays = _layer_arrays(trace)
    result = _per_layer(accelerator, arrays)
    for name, other in (layer_accelerators or {}).items():
        rows = np.flatnonzero(arrays["names"] == name)
        if rows.size == 0:
            raise ValueError(f"layer_accelerators names layer {name!r}, which {trace.network} does not have")
        if (other.array_rows, other.array_cols, other.dataflow) != (accelerator.array_rows, accelerator.array_cols, accelerator.dataflow):
            raise ValueError(f"layer {name}: a mixed-precision configuration must keep the array and dataflow")
        sub = _per_layer(other, {k: v[rows] for k, v in arrays.items()})
        for key in result:
            kind = object if result[key].dtype == object else np.result_type(result[key], sub[key])
            result[key] = np.array(result[key], dtype=kind)
            result[key][rows] = sub[key]
    energy = {part: float(result[f"energy_{part}_pj"].sum()) for part in ENERGY_PARTS}
    macs = int(arrays["macs"].sum())
    summary = _summary(accelerator.area_mm2, macs, float(result["cycles"].sum()), energy,
                       float(result["latency_ns"].sum()))
    busy = float((result["compute_cycles"] * arrays["mac"]).sum()) * accelerator.array_rows * accelerator.array_cols
    executed = float(np.sum(result["executed_macs"] * arrays["mac"]))
    summary["executed_macs"] = int(executed)
    summary["utilization"] = executed / busy if busy else 0.0
    summary.update(_traffic(result))
    frame = pd.DataFrame({"name": arrays["names"], "kind": arrays["kinds"], "macs": arrays["macs"], **result},
                         copy=False)
    summary["network"] = trace.network
    return Evaluation(frame, summary)


def _traffic(result: dict) -> dict:
    dram, floor = float(np.sum(result["dram_bytes"])), float(np.sum(result["compulsory_dram_bytes"]))
    cycles = float(np.sum(result["cycles"]))
    return {"dram_mb": dram / 1e6, "compulsory_dram_mb": floor / 1e6,
            "dram_busy": float(np.sum(result["dram_cycles"])) / cycles if cycles else 0.0,
            "dram_over_compulsory": dram / floor if floor else math.nan,
            "psum_spill_layers": int(np.sum(result["psum_spill"]))}


_SUMMED = ("executed_macs", "cycles", "dram_cycles", "latency_ns", *(f"energy_{p}_pj" for p in ENERGY_PARTS),
           "dram_bytes", "compulsory_dram_bytes", "psum_spill")


def evaluate_many(accelerators: list[Accelerator], trace: Trace) -> pd.DataFrame:
    """One summary row per accelerator: SCALE-Sim-mapped design points in one numpy pass per
    dataflow (every point × every layer), searched ones one compiled search each."""
    arrays = _layer_arrays(trace)
    rows = [None] * len(accelerators)
    total_macs = int(arrays["macs"].sum())
    groups: dict = {}
    for i, acc in enumerate(accelerators):
        key = (acc.dataflow, acc.dram_channels, acc.weight_sparsity) if acc.mapping == "scalesim" else ("search", i)
        groups.setdefault(key, []).append(i)
    for key, index in groups.items():
        group = [accelerators[i] for i in index]
        if key[0] == "search":
            metrics = _per_layer(group[0], arrays)
            sums = {k: np.atleast_1d(np.sum(metrics[k])) for k in _SUMMED}
            sums["busy"] = np.atleast_1d(np.sum(metrics["compute_cycles"] * arrays["mac"]))
        else:
            params = _params(group)
            metrics = _metrics(params, _layer_bits(params, arrays))
            sums = {k: np.broadcast_to(metrics[k], (len(group), arrays["m"].size)).sum(axis=1) for k in _SUMMED}
            sums["busy"] = (np.broadcast_to(metrics["compute_cycles"], (len(group), arrays["m"].size))
                            * arrays["mac"]).sum(axis=1)
        for j, (i, acc) in enumerate(zip(index, group)):
            energy = {p: float(sums[f"energy_{p}_pj"][j]) for p in ENERGY_PARTS}
            rows[i] = {"array": f"{acc.array_rows}x{acc.array_cols}", "dataflow": acc.dataflow,
                       **_summary(acc.area_mm2, total_macs, float(sums["cycles"][j]), energy,
                                  float(sums["latency_ns"][j])),
                       **_traffic({k: sums[k][j] for k in ("dram_bytes", "compulsory_dram_bytes", "psum_spill", "cycles",
                                                            "dram_cycles")})}
            busy = float(sums["busy"][j]) * acc.array_rows * acc.array_cols
            rows[i]["executed_macs"] = int(sums["executed_macs"][j])
            rows[i]["utilization"] = sums["executed_macs"][j] / busy if busy else 0.0
    return pd.DataFrame(rows)
