"""Static timing of a mapped netlist: the longest path with the cells' linear delay model."""

from __future__ import annotations

import numpy as np

from rtl.flow.gatesim import GateNetlist

__all__ = ["critical_path_ns", "output_delay_ns"]


def output_delay_ns(netlist: GateNetlist, cell, net: int) -> float:
    """A cell's delay to its output ``net``: intrinsic + slope × the net's load."""
    return cell.delay_ns + cell.delay_ns_per_pf * netlist.load_pf[net]


def critical_path_ns(netlist: GateNetlist) -> float:
    """Longest register-to-register (or port) path with the linear delay model, in ns."""
    arrival = np.zeros(netlist.net_count)
    for f in netlist.flops:
        cell = f["cell"]
        for pin in cell.outputs:
            out = f["pins"].get(pin)
            if out is not None and not isinstance(out, tuple):
                arrival[out] = output_delay_ns(netlist, cell, out)
    for g in netlist.gates:
        cell = g["cell"]
        start = max((arrival[g["pins"][p]] for p in cell.inputs
                     if p in g["pins"] and not isinstance(g["pins"][p], tuple)), default=0.0)
        for pin in cell.outputs:
            out = g["pins"].get(pin)
            if out is not None and not isinstance(out, tuple):
                arrival[out] = start + output_delay_ns(netlist, cell, out)
    ends = [arrival[f["pins"][p]] for f in netlist.flops for p in f["cell"].inputs
            if p != f["cell"].flip_flop["clocked_on"] and p in f["pins"] and not isinstance(f["pins"][p], tuple)]
    ends += [arrival[netlist._net_index(b)] for d, bits in netlist.ports.values() if d == "output"
             for b in bits if not isinstance(b, str)]
    # a clock gate's enable is captured by its latch before the rising edge: a path ends there too
    ends += [arrival[g["pins"][p]] for g in netlist.clock_gates
             for p in (g["cell"].clock_gate["enable"], g["cell"].clock_gate["test"])
             if p and p in g["pins"] and not isinstance(g["pins"][p], tuple)]
    return float(max(ends, default=0.0))
