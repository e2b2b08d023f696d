"""Static timing of a mapped netlist: the longest path, with the cells' linear delay model
(:func:`critical_path_ns`, the default) or with their NLDM tables, propagating slews
(:func:`nldm_arrival_ns`)."""

from __future__ import annotations

import numpy as np

from rtl.flow.gatesim import GateNetlist

__all__ = ["critical_path_ns", "output_delay_ns", "nldm_arrival_ns", "switching_delays_ns"]


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
    ends = _endpoints(netlist, arrival)  # a clock gate's enable is captured before the edge: a path ends there
    return float(max(ends, default=0.0))


def nldm_arrival_ns(netlist: GateNetlist, timing: dict | str | None = None) -> float:
    """The latest data arrival (ns) with the cells' NLDM tables (:mod:`rtl.tech.nldm`).

    Every net carries a rising and a falling arrival and slew. Each timing arc of a gate maps
    them by its sense (a positive-unate arc's rising output follows its input's rise, a
    negative-unate one's its fall, a non-unate one's either), adding the delay its input's slew
    and the net's load give; an output keeps the latest arrival and the largest slew its arcs
    give, as OpenSTA does. The conventions of :func:`rtl.flow.sta.opensta_arrival_ns`: an ideal
    clock (slew 0), inputs at 0 with slew 0, outputs unloaded, setup times left out. ``timing``:
    the tables (``{cell: {pin: [Arc, …]}}``), an embedded library's name or a liberty file
    (default: the netlist's library)."""
    arrival, _ = _nldm_propagate(netlist, timing)
    return float(max(_endpoints(netlist, arrival.max(axis=0)), default=0.0))


def switching_delays_ns(netlist: GateNetlist, timer: str = "linear", timing: dict | str | None = None) -> np.ndarray:
    """The delay (ns) with which each net's driver follows its inputs, rising (row 0) and falling
    (row 1) — what the glitch-aware simulation (:mod:`rtl.flow.timedsim`) schedules a net's
    transitions by; 0 for nets no cell drives.

    ``linear``: :func:`output_delay_ns`, the same both ways. ``nldm``: per output edge, the
    largest delay of the cell's arcs at the slews the NLDM timer propagates to its inputs and the
    net's load (a flip-flop's from its clock arc, slew 0) — the delays the timer's arrival times
    are sums of."""
    if timer == "nldm":
        return _nldm_propagate(netlist, timing)[1]
    if timer != "linear":
        raise ValueError(f"timer must be 'linear' or 'nldm', not {timer!r}")
    delays = np.zeros((2, netlist.net_count))
    for entry in netlist.flops + netlist.gates:
        for pin in entry["cell"].outputs:
            out = entry["pins"].get(pin)
            if out is not None and not isinstance(out, tuple):
                delays[:, out] = output_delay_ns(netlist, entry["cell"], out)
    return delays


def _nldm_propagate(netlist: GateNetlist, timing: dict | str | None) -> tuple[np.ndarray, np.ndarray]:
    """Rise and fall arrivals (2, nets) and each driven net's largest rise and fall delay (2, nets)."""
    from rtl.tech.nldm import load_timing

    if timing is None or isinstance(timing, str):
        timing = load_timing(timing or netlist.library.name)
    nets = netlist.net_count
    arrival = np.zeros((2, nets))  # [rise, fall]
    slew = np.zeros((2, nets))
    delays = np.zeros((2, nets))
    load = netlist.load_pf

    def arcs_of(cell):
        arcs = timing.get(cell.name)
        if arcs is None:
            raise ValueError(f"no timing tables for cell {cell.name} of {netlist.library.name}")
        return arcs

    def drive(entry, clocked: bool):
        for pin, arcs in arcs_of(entry["cell"]).items():
            out = entry["pins"].get(pin)
            if out is None or isinstance(out, tuple):
                continue
            c = load[out]
            best, worst_slew, longest = [-np.inf, -np.inf], [0.0, 0.0], [0.0, 0.0]
            for arc in arcs:
                if arc.edge != clocked:
                    continue
                if clocked:  # the clock edge: ideal, slew 0
                    sources = {0: (0.0, 0.0), 1: (0.0, 0.0)}
                else:
                    src = entry["pins"].get(arc.pin)
                    if src is None:
                        continue
                    if isinstance(src, tuple):  # a constant input starts nothing
                        continue
                    sources = {0: (arrival[0, src], slew[0, src]), 1: (arrival[1, src], slew[1, src])}
                for edge in (0, 1):  # the output's rise (0) and fall (1)
                    if clocked or arc.sense == "non_unate":
                        inputs = (0, 1)
                    else:
                        inputs = (edge,) if arc.sense == "positive_unate" else (1 - edge,)
                    for i in inputs:
                        at, s = sources[i]
                        delay = arc.value(edge, s, c)
                        if delay is None:
                            continue
                        best[edge] = max(best[edge], at + delay)
                        longest[edge] = max(longest[edge], delay)
                        worst_slew[edge] = max(worst_slew[edge], arc.value(2 + edge, s, c) or 0.0)
            for edge in (0, 1):
                if best[edge] > -np.inf:
                    arrival[edge, out], slew[edge, out] = best[edge], worst_slew[edge]
                    delays[edge, out] = longest[edge]

    for f in netlist.flops:
        drive(f, True)
    for g in netlist.gates:
        drive(g, False)
    return arrival, delays


def _endpoints(netlist: GateNetlist, arrival) -> list:
    """Arrivals where paths end: flip-flop data pins, output ports, clock gates' enables."""
    ends = [arrival[f["pins"][p]] for f in netlist.flops for p in f["cell"].inputs
            if p != f["cell"].flip_flop["clocked_on"] and p in f["pins"] and not isinstance(f["pins"][p], tuple)]
    ends += [arrival[netlist._net_index(b)] for d, bits in netlist.ports.values() if d == "output"
             for b in bits if not isinstance(b, str)]
    ends += [arrival[g["pins"][p]] for g in netlist.clock_gates
             for p in (g["cell"].clock_gate["enable"], g["cell"].clock_gate["test"])
             if p and p in g["pins"] and not isinstance(g["pins"][p], tuple)]
    return ends
