"""An :class:`Accelerator` as ZigZag (PyPI ``zigzag-dse``) describes hardware, so both models can
be run on identical hardware, unit costs and layers.

ZigZag reads YAML; the documents here are plain data (JSON is YAML), built from the accelerator:

* ``operational_array``: the rows × cols array (D1 = columns, D2 = rows), ``unit_energy`` the
  PE's energy per MAC, ``unit_area`` its area;
* per PE, one register for the dataflow's stationary operand (ws: weights, os: partial sums,
  is: inputs), at no cost — as in our model, where the PE's own registers are in its MAC cost;
* one memory per buffer, holding the operands the buffer holds (ZigZag's I1 = inputs,
  I2 = weights, O = outputs), of its capacity, with ``r_cost``/``w_cost`` per access of a
  ``PORT_BITS``-wide port and a minimum granularity of 8 bits, so access energy is
  proportional to the bits moved, as in ours;
* DRAM, 64 bits wide, at the accelerator's energy per bit.

The spatial mapping is the dataflow's (ws: K × C, os: K × B, is: B × C for a GEMM
``O[b][k] += I[b][c] · W[k][c]``), each unrolling capped at the layer's extent.
"""

from __future__ import annotations

from hwmodel.arch.accelerator import Accelerator

__all__ = ["PORT_BITS", "hardware", "mapping", "workload"]

PORT_BITS = 2048  # wide enough that no port limits the array's unrolling
_ZIGZAG_OPERAND = {"inputs": "I1", "weights": "I2", "outputs": "O"}
_STATIONARY = {"ws": "I2", "os": "O", "is": "I1"}


def _memory(size_bits: int, read_pj: float, write_pj: float, operands: list, port_bits: int, served: list) -> dict:
    reads = [f"{o}, {d}" for o in operands for d in (("tl", "th") if o == "O" else ("tl",))]
    writes = [f"{o}, {d}" for o in operands for d in (("fh", "fl") if o == "O" else ("fh",))]
    return {"size": int(size_bits), "r_cost": float(read_pj), "w_cost": float(write_pj), "area": 0, "latency": 1,
            "operands": operands,
            "ports": [{"name": "r_port_1", "type": "read", "bandwidth_min": 8, "bandwidth_max": port_bits,
                       "allocation": reads},
                      {"name": "w_port_1", "type": "write", "bandwidth_min": 8, "bandwidth_max": port_bits,
                       "allocation": writes}],
            "served_dimensions": served}


def hardware(acc: Accelerator, *, name: str = "hwmodel") -> dict:
    """ZigZag's accelerator document for ``acc``."""
    bits = acc.operand_bits
    stationary = _STATIONARY[acc.dataflow]
    width = {"I1": bits["inputs"], "I2": bits["weights"], "O": bits["outputs"]}[stationary]
    memories = {f"reg_{stationary}": _memory(width, 0.0, 0.0, [stationary], width, [])}
    for buffer, cost in zip(acc.buffers, acc.buffer_costs):
        scale = PORT_BITS / buffer.word_bits  # energy per word → per port access
        memories[buffer.name] = _memory(buffer.capacity_bytes * 8, cost.read_energy_pj * scale,
                                        cost.write_energy_pj * scale,
                                        [_ZIGZAG_OPERAND[o] for o in buffer.operands], PORT_BITS, ["D1", "D2"])
    dram_access = 64 * acc.dram_pj_per_bit
    dram = _memory(10 ** 12, dram_access, dram_access, ["I1", "I2", "O"], 64, ["D1", "D2"])
    dram["ports"] = [{"name": "rw_port_1", "type": "read_write", "bandwidth_min": 8, "bandwidth_max": 64,
                      "allocation": [a for p in dram["ports"] for a in p["allocation"]]}]
    memories["dram"] = dram
    return {"name": name, "memories": memories,
            "operational_array": {"unit_energy": float(acc.pe.energy_pj_per_mac), "unit_area": float(acc.pe.area_um2),
                                  "dimensions": ["D1", "D2"], "sizes": [acc.array_cols, acc.array_rows]}}


def mapping(acc: Accelerator, layers: list[dict]) -> list[dict]:
    """ZigZag's mapping document: per layer (by name) the dataflow's spatial unrolling."""
    out = []
    for layer in layers:
        m, n, k = layer["m"], layer["n"], layer["k"]
        d1, d2 = {"ws": (("K", n), ("C", k)), "os": (("K", n), ("B", m)), "is": (("B", m), ("C", k))}[acc.dataflow]
        out.append({"name": layer["name"],
                    "spatial_mapping": {"D1": [f"{d1[0]}, {min(acc.array_cols, d1[1])}"],
                                        "D2": [f"{d2[0]}, {min(acc.array_rows, d2[1])}"]},
                    "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}})
    return out + [{"name": "default", "spatial_mapping": out[0]["spatial_mapping"] if out else {},
                   "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]  # ZigZag requires one


def workload(acc: Accelerator, layers: list[dict]) -> list[dict]:
    """ZigZag's workload document: each layer a GEMM ``O[b][k] += I[b][c] · W[k][c]`` with
    B = M, K = N, C = K, at the accelerator's operand widths."""
    bits = acc.operand_bits
    return [{"id": i, "name": layer["name"], "operator_type": "Gemm", "equation": "O[b][k]+=I[b][c]*W[k][c]",
             "loop_dims": ["B", "K", "C"], "loop_sizes": [int(layer["m"]), int(layer["n"]), int(layer["k"])],
             "operand_precision": {"W": acc.weight_bits, "I": acc.activation_bits, "O": bits["outputs"],
                                   "O_final": acc.output_bits},
             "operand_source": {"I": i, "W": i}}
            for i, layer in enumerate(layers)]
