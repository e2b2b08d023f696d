"""Static timing of a mapped netlist: the longest path, with the cells' linear delay model
(:func:`critical_path_ns`, the default) or with their NLDM tables, propagating slews
(:func:`nldm_arrival_ns`)."""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from rtl.flow.gatesim import GateNetlist

__all__ = ["critical_path_ns", "output_delay_ns", "nldm_arrival_ns", "switching_delays_ns", "arrival_ns", "TIMERS"]

TIMERS = ("nldm", "linear")
"""The timers, the default first: NLDM tables with slews propagated, or the linear delay model."""


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


def arrival_ns(netlist: GateNetlist, timer: str = "nldm") -> float:
    """A netlist's critical path (ns) with the ``timer`` named (:data:`TIMERS`)."""
    if timer == "nldm":
        return nldm_arrival_ns(netlist)
    if timer == "linear":
        return critical_path_ns(netlist)
    raise ValueError(f"timer must be one of {TIMERS}, not {timer!r}")


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


def switching_delays_ns(netlist: GateNetlist, timer: str = "nldm", timing: dict | str | None = None) -> np.ndarray:
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
    if timing is None or isinstance(timing, str):
        timing, (ids, slews, loads, sizes, tables) = _loaded_tables(timing or netlist.library.name)
    else:
        ids, slews, loads, sizes, tables = _table_arrays(timing)
    senses = {"positive_unate": 0, "negative_unate": 1, "non_unate": 2}
    out_net, starts, arc_src, arc_sense, arc_table = [], [0], [], [], []
    for entries, clocked in ((netlist.flops, True), (netlist.gates, False)):
        for entry in entries:
            arcs_of = timing.get(entry["cell"].name)
            if arcs_of is None:
                raise ValueError(f"no timing tables for cell {entry['cell'].name} of {netlist.library.name}")
            for pin, arcs in arcs_of.items():
                out = entry["pins"].get(pin)
                if out is None or isinstance(out, tuple):
                    continue
                for arc in arcs:
                    if arc.edge != clocked:
                        continue
                    src = -1  # the clock edge: ideal, slew 0, either edge
                    if not clocked:
                        src = entry["pins"].get(arc.pin)
                        if src is None or isinstance(src, tuple):  # a constant input starts nothing
                            continue
                    arc_src.append(src)
                    arc_sense.append(2 if clocked else senses[arc.sense])
                    arc_table.append(ids[id(arc)])
                out_net.append(out)
                starts.append(len(arc_src))
    arrival = np.zeros((2, netlist.net_count))  # [rise, fall]
    delays = np.zeros((2, netlist.net_count))
    _propagate(np.array(out_net, np.int64), np.array(starts, np.int64), np.array(arc_src, np.int64),
               np.array(arc_sense, np.int64), np.array(arc_table, np.int64), slews, loads, sizes, tables,
               np.asarray(netlist.load_pf, float), arrival, delays)
    return arrival, delays


@functools.lru_cache(maxsize=8)
def _loaded_tables(name_or_path: str):
    """An embedded library's (or a liberty file's) timing tables and their arrays, once."""
    from rtl.tech.nldm import load_timing

    timing = load_timing(name_or_path)
    return timing, _table_arrays(timing)


def _table_arrays(timing: dict):
    """The arcs' tables as padded arrays, for :func:`_propagate`: per arc (by ``id``) its row;
    breakpoints (rows, slews) and (rows, loads), their counts (rows, 2), and the tables
    (rows, 4, slews, loads) — rise, fall, rise transition, fall transition, NaN where missing."""
    arcs = [arc for pins in timing.values() for group in pins.values() for arc in group]
    width_s = max((len(a.slews) for a in arcs), default=1)
    width_l = max((len(a.loads) for a in arcs), default=1)
    slews = np.zeros((len(arcs), width_s))
    loads = np.zeros((len(arcs), width_l))
    sizes = np.zeros((len(arcs), 2), np.int64)
    tables = np.full((len(arcs), 4, width_s, width_l), np.nan)
    for row, arc in enumerate(arcs):
        slews[row, :len(arc.slews)] = arc.slews
        loads[row, :len(arc.loads)] = arc.loads
        sizes[row] = len(arc.slews), len(arc.loads)
        for which, grid in enumerate(arc.tables):
            if grid is not None:
                tables[row, which, :len(arc.slews), :len(arc.loads)] = grid
    return {id(arc): row for row, arc in enumerate(arcs)}, slews, loads, sizes, tables


@njit(cache=True, nogil=True)
def _segment(index, count, x):
    """The breakpoints' segment holding ``x`` (the first or last one beyond them) and the
    fraction along it (< 0 or > 1 outside: linear extrapolation)."""
    if count == 1:
        return 0, 0.0
    below = 0
    while below < count and index[below] < x:
        below += 1
    k = min(max(below - 1, 0), count - 2)
    lo, hi = index[k], index[k + 1]
    return k, (0.0 if hi == lo else (x - lo) / (hi - lo))


@njit(cache=True, nogil=True)
def _lookup(slews, loads, sizes, grid, row, slew, load):
    i, tx = _segment(slews[row], sizes[row, 0], slew)
    j, ty = _segment(loads[row], sizes[row, 1], load)
    i1, j1 = min(i + 1, sizes[row, 0] - 1), min(j + 1, sizes[row, 1] - 1)
    low = grid[i, j] + ty * (grid[i, j1] - grid[i, j])
    high = grid[i1, j] + ty * (grid[i1, j1] - grid[i1, j])
    return low + tx * (high - low)


@njit(cache=True, nogil=True)
def _propagate(out_net, starts, arc_src, arc_sense, arc_table, slews, loads, sizes, tables, load, arrival, delays):
    """Arrivals and slews in topological order (flip-flops first): each output keeps the latest
    arrival and the largest slew its arcs give, per edge, each arc read by its sense."""
    slew = np.zeros_like(arrival)
    for k in range(out_net.shape[0]):
        out = out_net[k]
        c = load[out]
        best = np.array([-np.inf, -np.inf])
        worst = np.zeros(2)
        longest = np.zeros(2)
        for a in range(starts[k], starts[k + 1]):
            src, sense, row = arc_src[a], arc_sense[a], arc_table[a]
            for edge in range(2):  # the output's rise (0) and fall (1)
                if np.isnan(tables[row, edge, 0, 0]):
                    continue
                for i in range(2):  # the input edge it follows
                    if (sense == 0 and i != edge) or (sense == 1 and i == edge):
                        continue
                    at = 0.0 if src < 0 else arrival[i, src]
                    s = 0.0 if src < 0 else slew[i, src]
                    delay = _lookup(slews, loads, sizes, tables[row, edge], row, s, c)
                    best[edge] = max(best[edge], at + delay)
                    longest[edge] = max(longest[edge], delay)
                    if not np.isnan(tables[row, 2 + edge, 0, 0]):
                        worst[edge] = max(worst[edge], _lookup(slews, loads, sizes, tables[row, 2 + edge], row, s, c))
        for edge in range(2):
            if best[edge] > -np.inf:
                arrival[edge, out] = best[edge]
                slew[edge, out] = worst[edge]
                delays[edge, out] = longest[edge]


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
