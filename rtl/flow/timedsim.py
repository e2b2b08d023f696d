"""Glitch-aware gate-level simulation: every transition, with the cells' delays.

The zero-delay simulator (:mod:`rtl.flow.gatesim`) counts one transition per net and cycle at
most — where a net settles. Real gates switch as their inputs arrive at different times, and the
intermediate transitions (glitches) cost energy too. Here each cycle is simulated in time: the
inputs change at t = 0, the flip-flops' outputs at their clock-to-Q delay, and every gate's output
follows its inputs ``delay`` later (the linear model of the compact tables: intrinsic + slope ×
load, as the timer uses), gate by gate in topological order, so each net's waveform is the list
of its transition times.

Delays are *inertial*: a pulse at a gate's output narrower than the gate's own delay does not
leave it (both of its edges are dropped), as a real gate filters it. The nets settle where the
zero-delay simulation says (checked), and the flip-flops take the settled values at the edge.
Transitions are counted per net; energy is then the zero-delay simulator's accounting
(:func:`rtl.flow.energy.account_energy`) on these counts. An integrated clock gate lets the
edge through to its flip-flops where its enable (or test) input settled at 1, as its latch holds
it before the edge — the flip-flops behind it keep their state otherwise, and the cycles each
gate let through are counted (``gated_cycles``), as the zero-delay simulator counts them.

The kernel runs one stream (one copy of the unit) at a time, compiled with numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from rtl.flow.gatesim import GateNetlist
from rtl.flow.timing import output_delay_ns
from rtl.tech.cells import evaluate_boolean
from rtl.tech.liberty import parse_boolean

__all__ = ["TimedNetlist", "TimedResult"]

_MAX_INPUTS = 6


def _truth_table(function: str, pins: list[str], extra: dict | None = None) -> int:
    """Bit i of the result: the function's value with pin j = bit j of i."""
    tree = parse_boolean(function)
    table = 0
    for i in range(1 << len(pins)):
        values = {p: bool((i >> j) & 1) for j, p in enumerate(pins)} | (extra or {})
        if evaluate_boolean(tree, values):
            table |= 1 << i
    return table


def _connect(entry: dict, pins: list[str], nets: np.ndarray, consts: np.ndarray) -> None:
    """A cell's input pins in order: the net each reads (``nets``), or the constant it is tied
    to (``consts``; −1 where it reads a net)."""
    for j, pin in enumerate(pins):
        src = entry["pins"].get(pin, ("const", 0))
        if isinstance(src, tuple):
            consts[j] = src[1]
        else:
            nets[j], consts[j] = src, -1


@dataclass(frozen=True)
class TimedResult:
    toggles: np.ndarray        # per net: transitions over every stream and cycle, glitches included
    settled_toggles: np.ndarray  # per net: the transitions the zero-delay view sees (settled changes)
    cycles: int
    streams: int
    gate_evaluations: int
    gated_cycles: np.ndarray | None = None  # per clock gate: the stream-cycles it let the clock through


class TimedNetlist:
    """A :class:`GateNetlist` compiled for the timed simulation."""

    def __init__(self, netlist: GateNetlist):
        self.netlist = netlist
        n_gates = sum(len([p for p in g["cell"].outputs if g["pins"].get(p) is not None
                           and not isinstance(g["pins"].get(p), tuple)]) for g in netlist.gates)
        self.gate_inputs = np.full((n_gates, _MAX_INPUTS), -1, np.int64)
        self.gate_consts = np.zeros((n_gates, _MAX_INPUTS), np.int64)  # constant inputs: 0 / 1, or −1 for a net
        self.gate_out = np.zeros(n_gates, np.int64)
        self.gate_table = np.zeros(n_gates, np.uint64)
        self.gate_arity = np.zeros(n_gates, np.int64)
        self.gate_delay = np.zeros(n_gates)
        k = 0
        for g in netlist.gates:
            cell = g["cell"]
            pins = list(cell.inputs)
            if len(pins) > _MAX_INPUTS:
                raise ValueError(f"cell {cell.name} has {len(pins)} inputs; the timed simulation takes up to "
                                 f"{_MAX_INPUTS}")
            for pin, function in cell.outputs.items():
                out = g["pins"].get(pin)
                if out is None or isinstance(out, tuple):
                    continue
                _connect(g, pins, self.gate_inputs[k], self.gate_consts[k])
                self.gate_out[k] = out
                self.gate_table[k] = _truth_table(function, pins)
                self.gate_arity[k] = len(pins)
                self.gate_delay[k] = output_delay_ns(netlist, cell, out)
                k += 1
        # flip-flops: Q (and QN) from the state at clock-to-Q; the next state from the settled inputs
        flops = netlist.flops
        self.ff_out = np.full((len(flops), 2), -1, np.int64)  # [net driven by state, net driven by ~state]
        self.ff_delay = np.zeros((len(flops), 2))
        self.ff_inputs = np.full((len(flops), _MAX_INPUTS), -1, np.int64)
        self.ff_consts = np.zeros((len(flops), _MAX_INPUTS), np.int64)
        self.ff_table = np.zeros(len(flops), np.uint64)  # next state over (inputs…, state)
        self.ff_arity = np.zeros(len(flops), np.int64)
        for i, f in enumerate(flops):
            cell, ff = f["cell"], f["cell"].flip_flop
            for pin, function in cell.outputs.items():
                out = f["pins"].get(pin)
                if out is None or isinstance(out, tuple):
                    continue
                inverted = parse_boolean(function) == ("var", ff["state_inverted"]) or \
                    parse_boolean(function) == ("not", ("var", ff["state"]))
                self.ff_out[i, int(inverted)] = out
                self.ff_delay[i, int(inverted)] = output_delay_ns(netlist, cell, out)
            pins = [p for p in cell.inputs if p != ff["clocked_on"]]
            if len(pins) + 1 > _MAX_INPUTS:
                raise ValueError(f"flip-flop {cell.name} has too many inputs for the timed simulation")
            _connect(f, pins, self.ff_inputs[i], self.ff_consts[i])
            expr = ff["next_state"]
            for key, value in (("clear", "0"), ("preset", "1")):
                if ff[key]:  # asynchronous, taken at the edge, as the zero-delay simulator takes them
                    expr = f"(({ff[key]}) & {value}) | (!({ff[key]}) & ({expr}))"
            names = pins + [ff["state"]]
            self.ff_table[i] = _truth_table(expr.replace(ff["state_inverted"], f"!{ff['state']}")
                                            if ff["state_inverted"] else expr, names)
            self.ff_arity[i] = len(pins)
        # clock gates: the flip-flops each clocks, and its enable and test inputs (net, or a constant)
        self.ff_gate = np.array([-1 if f.get("gate") is None else f["gate"] for f in flops], np.int64)
        self.cg_inputs = np.full((max(1, len(netlist.clock_gates)), 2), -1, np.int64)
        self.cg_consts = np.zeros((max(1, len(netlist.clock_gates)), 2), np.int64)
        for i, g in enumerate(netlist.clock_gates):
            roles = g["cell"].clock_gate
            _connect(g, [p for p in (roles["enable"], roles["test"]) if p], self.cg_inputs[i], self.cg_consts[i])
        inputs = {name: bits for name, (d, bits) in netlist.ports.items() if d == "input"}
        self.port_nets = {name: np.array([netlist._net_index(b) if not isinstance(b, str) else -1 for b in bits])
                          for name, bits in inputs.items()}

    def simulate(self, inputs: list[dict], words: int, *, streams: int | None = None) -> TimedResult:
        """Inputs as :meth:`GateNetlist.simulate` takes them (port → (width, words) packed bits);
        ``streams`` of the 64 × words (default all) are simulated, each on its own."""
        total = 64 * words
        streams = total if streams is None else min(streams, total)
        cycles = len(inputs)
        nets = self.netlist.net_count
        is_input = np.zeros(nets, np.bool_)
        stimulus = np.zeros((streams, cycles, nets), np.int8)
        for t, cycle in enumerate(inputs):
            for port, packed in cycle.items():
                if port not in self.port_nets:
                    continue
                net = self.port_nets[port]
                keep = net >= 0
                is_input[net[keep]] = True
                bits = np.unpackbits(np.ascontiguousarray(packed).view(np.uint8).reshape(packed.shape[0], -1),
                                     axis=1, bitorder="little")[:, :streams]  # (width, streams)
                stimulus[:, t, net[keep]] = bits[keep].T
        toggles = np.zeros(nets, np.int64)
        settled = np.zeros(nets, np.int64)
        gated = np.zeros(len(self.cg_inputs), np.int64)
        evaluations = _run(stimulus, is_input, self.gate_inputs, self.gate_consts, self.gate_out, self.gate_table,
                           self.gate_arity, self.gate_delay, self.ff_out, self.ff_delay, self.ff_inputs,
                           self.ff_consts, self.ff_table, self.ff_arity, toggles, settled, self.ff_gate,
                           self.cg_inputs, self.cg_consts, len(self.netlist.clock_gates), gated)
        if evaluations < 0:
            raise RuntimeError("a net made more transitions in one cycle than the timed simulation holds")
        return TimedResult(toggles, settled, cycles, streams, int(evaluations),
                           gated[:len(self.netlist.clock_gates)])


@njit(cache=True, nogil=True)
def _run(stimulus, is_input, g_in, g_const, g_out, g_table, g_arity, g_delay, ff_out, ff_delay, ff_in, ff_const,
         ff_table, ff_arity, toggles, settled, ff_gate, cg_in, cg_const, n_cg, gated):
    streams, cycles, nets = stimulus.shape
    n_gates = g_out.shape[0]
    n_ff = ff_out.shape[0]
    cap = 512
    times = np.zeros((nets, cap))      # transition times of each net this cycle (ascending)
    counts = np.zeros(nets, np.int64)
    start = np.zeros(nets, np.int8)    # value before the cycle's first transition
    value = np.zeros(nets, np.int8)    # settled value
    state = np.zeros(n_ff, np.int8)
    ev_t = np.zeros(_MAX_INPUTS * cap)
    ev_j = np.zeros(_MAX_INPUTS * cap, np.int64)
    evaluations = 0
    open_ = np.zeros(max(1, n_cg), np.int8)  # each clock gate this cycle: lets the edge through
    for s in range(streams):
        value[:] = 0
        state[:] = 0
        for c in range(cycles):
            counts[:] = 0
            start[:] = value
            for net in range(nets):  # primary inputs change at t = 0
                if is_input[net] and stimulus[s, c, net] != value[net]:
                    times[net, 0] = 0.0
                    counts[net] = 1
                    value[net] = stimulus[s, c, net]
            for i in range(n_ff):  # flip-flop outputs: the state, clock-to-Q after the edge
                for side in range(2):
                    net = ff_out[i, side]
                    if net >= 0:
                        v = state[i] if side == 0 else 1 - state[i]
                        if v != value[net]:
                            times[net, 0] = ff_delay[i, side]
                            counts[net] = 1
                            value[net] = v
            for k in range(n_gates):
                arity = g_arity[k]
                idx = 0
                m = 0
                for j in range(arity):  # the inputs' values before the cycle, and their transitions
                    src = g_in[k, j]
                    if src >= 0:
                        idx |= np.int64(start[src]) << j
                        for e in range(counts[src]):
                            t = times[src, e]
                            p = m  # insertion in time order
                            while p > 0 and ev_t[p - 1] > t:
                                ev_t[p] = ev_t[p - 1]
                                ev_j[p] = ev_j[p - 1]
                                p -= 1
                            ev_t[p] = t
                            ev_j[p] = j
                            m += 1
                    else:
                        idx |= np.int64(g_const[k, j]) << j
                out = g_out[k]
                d = g_delay[k]
                table = g_table[k]
                prev = np.int8((table >> np.uint64(idx)) & np.uint64(1))
                base = start[out]  # the value it settled at last cycle (0 at power-up)
                n_out = 0
                if prev != base:  # only at power-up: its inputs' settled values give another value
                    times[out, 0] = d
                    n_out = 1
                e = 0
                while e < m:
                    t = ev_t[e]
                    while e < m and ev_t[e] == t:  # every input changing at t
                        idx ^= np.int64(1) << ev_j[e]
                        e += 1
                    evaluations += 1
                    v = np.int8((table >> np.uint64(idx)) & np.uint64(1))
                    current = base if n_out % 2 == 0 else 1 - base
                    if v != current:
                        tt = t + d
                        if n_out > 0 and tt - times[out, n_out - 1] < d:
                            n_out -= 1  # inertial: a pulse narrower than the gate's delay is filtered
                        elif n_out < cap:
                            times[out, n_out] = tt
                            n_out += 1
                        else:
                            return -1
                counts[out] = n_out
                value[out] = base if n_out % 2 == 0 else 1 - base
            for net in range(nets):
                toggles[net] += counts[net]
                if value[net] != start[net]:
                    settled[net] += 1
            for g in range(n_cg):  # a clock gate's latch holds its enable's settled value at the edge
                v = 0
                for j in range(2):
                    src = cg_in[g, j]
                    v |= value[src] if src >= 0 else cg_const[g, j]
                open_[g] = v
                gated[g] += v
            for i in range(n_ff):  # the edge: next state from the settled values
                if ff_gate[i] >= 0 and open_[ff_gate[i]] == 0:
                    continue  # its clock gate kept the edge away: the state holds
                idx = 0
                for j in range(ff_arity[i]):
                    src = ff_in[i, j]
                    bitv = value[src] if src >= 0 else ff_const[i, j]
                    idx |= np.int64(bitv) << j
                idx |= np.int64(state[i]) << ff_arity[i]
                state[i] = np.int8((ff_table[i] >> np.uint64(idx)) & np.uint64(1))
    return evaluations
