"""Glitch-aware gate-level simulation: every transition, with the cells' delays.

The zero-delay simulator (:mod:`rtl.flow.gatesim`) counts one transition per net and cycle at
most — where a net settles. Real gates switch as their inputs arrive at different times, and the
intermediate transitions (glitches) cost energy too. Here each cycle is simulated in time: the
inputs change at t = 0, the flip-flops' outputs at their clock-to-Q delay, and every gate's output
follows its inputs by its delay — a rising output by the cell's rise delay, a falling one by its
fall delay (:func:`rtl.flow.timing.switching_delays_ns`: the linear model's, or the NLDM timer's
at the slews it propagates) — gate by gate in topological order, so each net's waveform is the
list of its transition times. Times are integers in femtoseconds (the delays rounded to 1 fs).

Delays are *inertial*, as a Verilog continuous assignment with a (rise, fall) delay: when a gate's
function changes, the new value is scheduled for its output that delay later; when the function
changes again before that, the pending transition is cancelled (a pulse narrower than the gate's
delay does not leave it). A pending transition that falls due at the time an input changes takes
effect first. Every cycle runs until all transitions have taken effect — the clock is slower
than the slowest path — so the nets settle where the zero-delay simulation says (checked), and
the flip-flops take the settled values at the edge; an integrated clock gate lets the edge through
to its flip-flops where its enable (or test) input settled at 1, as its latch holds it before the
edge, and the cycles each gate let through are counted (``gated_cycles``). Transitions are counted
per net; energy is then the zero-delay simulator's accounting
(:func:`rtl.flow.energy.account_energy`) on these counts.

The kernel (numba) runs one stream (one copy of the unit) at a time: for 64 streams sharing a
word, as the zero-delay simulator runs them, their transitions rarely fall at the same instants,
so a shared event list would hold nearly one time per transition anyway. Each gate is one record
of unsigned words (its nets, pin bits, output and truth table) and each net one word (value,
transitions this cycle, where their times start): a gate none of whose inputs moved is passed
after reading them, one input's transitions are taken in order as they are, several are merged
on the fly.
:attr:`TimedResult.gate_evaluations` counts, per stream, gate and cycle, each time at which an
input changed — what an event-driven simulator evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from rtl.flow.gatesim import GateNetlist
from rtl.flow.timing import switching_delays_ns
from rtl.tech.cells import evaluate_boolean
from rtl.tech.liberty import parse_boolean

__all__ = ["TimedNetlist", "TimedResult", "FS_PER_NS"]

_MAX_INPUTS = 6
_RECORD = 4 + 2 * _MAX_INPUTS
FS_PER_NS = 1_000_000


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
    gate_evaluations: int      # per stream, gate and cycle: each time at which an input of it changed
    gated_cycles: np.ndarray | None = None  # per clock gate: the stream-cycles it let the clock through


class TimedNetlist:
    """A :class:`GateNetlist` compiled for the timed simulation, with the delays of ``timer``
    (``nldm``, the default, or ``linear``; see :func:`rtl.flow.timing.switching_delays_ns`)."""

    def __init__(self, netlist: GateNetlist, *, timer: str = "nldm"):
        self.netlist = netlist
        self.timer = timer
        delays = switching_delays_ns(netlist, timer)
        # a delay rounds to whole femtoseconds and is at least one: every cell takes time
        self.delay_fs = np.maximum(np.rint(delays * FS_PER_NS), 1).astype(np.int64)  # (rise, fall) per net
        outputs = [(g, pin) for g in netlist.gates for pin in g["cell"].outputs
                   if g["pins"].get(pin) is not None and not isinstance(g["pins"].get(pin), tuple)]
        n_gates = len(outputs)
        # per gate, one record of _RECORD words: how many nets it reads, its output net, the bits of
        # its constant pins, its truth table, then per net it reads (in pin order) the net and its pin's bit
        self.gate_record = np.zeros((n_gates, _RECORD), np.uint64)
        nets, consts = np.empty(_MAX_INPUTS, np.int64), np.empty(_MAX_INPUTS, np.int64)
        for k, (g, pin) in enumerate(outputs):
            cell = g["cell"]
            pins = list(cell.inputs)
            if len(pins) > _MAX_INPUTS:
                raise ValueError(f"cell {cell.name} has {len(pins)} inputs; the timed simulation takes up to "
                                 f"{_MAX_INPUTS}")
            nets[:], consts[:] = -1, 0
            _connect(g, pins, nets, consts)
            read = [j for j in range(len(pins)) if nets[j] >= 0]
            record = self.gate_record[k]
            record[:4] = (len(read), g["pins"][pin], sum(int(consts[j]) << j for j in range(len(pins)) if nets[j] < 0),
                          _truth_table(cell.outputs[pin], pins))
            for i, j in enumerate(read):
                record[4 + 2 * i], record[5 + 2 * i] = nets[j], 1 << j
        self.gate_record = self.gate_record.ravel()
        # flip-flops: Q (and QN) from the state at clock-to-Q; the next state from the settled inputs
        flops = netlist.flops
        self.ff_out = np.full((len(flops), 2), -1, np.int64)  # [net driven by state, net driven by ~state]
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
        the first ``streams`` of the 64 × words (default all) are simulated, each on its own."""
        total = 64 * words
        streams = total if streams is None else min(streams, total)
        cycles = len(inputs)
        nets = sorted({int(n) for port in self.port_nets.values() for n in port if n >= 0})
        row = {n: i for i, n in enumerate(nets)}
        input_nets = np.array(nets, np.int64)
        stimulus = np.zeros((streams, cycles, len(nets)), np.int64)
        for t, cycle in enumerate(inputs):
            for port, packed in cycle.items():
                if port not in self.port_nets:
                    continue
                net = self.port_nets[port]
                keep = net >= 0
                bits = np.unpackbits(np.ascontiguousarray(packed).view(np.uint8).reshape(packed.shape[0], -1),
                                     axis=1, bitorder="little")[:, :streams]  # (width, streams)
                stimulus[:, t, [row[int(n)] for n in net[keep]]] = bits[keep].T
        count = self.netlist.net_count
        toggles = np.zeros(count, np.uint64)
        settled = np.zeros(count, np.uint64)
        gated = np.zeros(len(self.cg_inputs), np.int64)
        capacity = 4 * count + 1024
        while True:
            evaluations = _run(stimulus, input_nets, count, self.gate_record, self.delay_fs, self.ff_out,
                               self.ff_inputs, self.ff_consts, self.ff_table, self.ff_arity, self.ff_gate,
                               self.cg_inputs, self.cg_consts, len(self.netlist.clock_gates), capacity, toggles,
                               settled, gated)
            if evaluations >= 0:
                break
            capacity *= 4  # a cycle made more transitions than the pool held: again, with room
            toggles[:], settled[:], gated[:] = 0, 0, 0
        return TimedResult(toggles.astype(np.int64), settled.astype(np.int64), cycles, streams, int(evaluations),
                           gated[:len(self.netlist.clock_gates)])


@njit(cache=True, nogil=True)
def _gate_loop(rec, n_gates, info, ev_t, d_r, d_f, touched, top, n_touched, c, capacity, counters, scratch):
    """One cycle of one stream, gate after gate in topological order. ``info`` per net: its value
    (bit 0), its transitions this cycle (bits 1–31) and where their times start in ``ev_t``
    (bits 32–). Unsigned throughout: indices need no wrap-around. Returns (status — −1 when
    ``ev_t`` is full —, top, n_touched)."""
    U = np.uint64
    ptr, end, cur, bit = scratch[0], scratch[1], scratch[2], scratch[3]  # the moving inputs' cursors
    BIG = U(1) << U(62)  # no time: an exhausted input, or no pending transition
    evaluations = 0
    for k in range(n_gates):
        base = k * _RECORD
        nin = rec[base]
        idx = rec[base + 2]
        n_in = 0
        m = U(0)
        for j in range(nin):
            x = info[rec[base + 4 + 2 * j]]
            b = rec[base + 5 + 2 * j]
            n = (x >> U(1)) & U(0x7FFFFFFF)
            if (x ^ n) & U(1):  # its value before the cycle
                idx |= b
            if n:  # it moves: its transitions, in time order
                b0 = x >> U(32)
                bit[n_in] = b
                ptr[n_in] = b0
                end[n_in] = b0 + n
                cur[n_in] = ev_t[b0]
                n_in += 1
                m += n
        out = rec[base + 1]
        table = rec[base + 3]
        r = (table >> idx) & U(1)
        current = info[out] & U(1)
        if n_in == 0:
            if c > 0 or r == current:  # nothing reaches it (at power-up: its value is right): it holds
                continue
        if top + m + U(1) > capacity:
            return -1, top, n_touched
        d_rise = d_r[out]
        d_fall = d_f[out]
        first = top
        due = BIG  # a pending transition's time, or BIG for none
        if r != current:
            due = d_rise if r else d_fall
        if n_in == 1:  # one input moves: its times in order already (the merge below, without its
            # bookkeeping: 5–7 % of the kernel's time; a shared helper for the step costs 13 %)
            b = bit[0]
            for e in range(ptr[0], end[0]):
                t = ev_t[e]
                if due <= t:  # the pending transition takes effect first
                    ev_t[top] = due
                    top += U(1)
                    current ^= U(1)
                    due = BIG
                idx ^= b
                evaluations += 1
                v = (table >> idx) & U(1)
                if v != r:
                    r = v
                    if due != BIG:
                        due = BIG  # it changed back before its last change took effect: cancelled
                    else:
                        due = t + (d_rise if v else d_fall)
        elif n_in > 1:  # several: merged on the fly, every input changing at t at once
            while True:
                t = cur[0]
                for j in range(1, n_in):
                    if cur[j] < t:
                        t = cur[j]
                if t == BIG:
                    break
                for j in range(n_in):
                    if cur[j] == t:
                        idx ^= bit[j]
                        p = ptr[j] + U(1)
                        ptr[j] = p
                        cur[j] = ev_t[p] if p < end[j] else BIG
                if due <= t:  # the pending transition takes effect first
                    ev_t[top] = due
                    top += U(1)
                    current ^= U(1)
                    due = BIG
                evaluations += 1
                v = (table >> idx) & U(1)
                if v != r:
                    r = v
                    if due != BIG:
                        due = BIG
                    else:
                        due = t + (d_rise if v else d_fall)
        if due != BIG:
            ev_t[top] = due
            top += U(1)
            current ^= U(1)
        if top > first:
            info[out] = (first << U(32)) | ((top - first) << U(1)) | current
            touched[n_touched] = out
            n_touched += 1
    counters[0] += evaluations
    return 0, top, n_touched


@njit(cache=True, nogil=True)
def _run(stimulus, input_nets, nets, rec, delay, ff_out,
         ff_in, ff_const, ff_table, ff_arity, ff_gate, cg_in, cg_const, n_cg, capacity, toggles, settled, gated):
    U = np.uint64
    streams, cycles, n_inputs = stimulus.shape
    n_gates = rec.shape[0] // _RECORD
    n_ff = ff_out.shape[0]
    ev_t = np.zeros(capacity, np.uint64)    # the cycle's transition times (fs), net after net
    info = np.zeros(nets, np.uint64)        # per net: value, transitions this cycle, where they start
    touched = np.zeros(nets, np.uint64)     # the nets that made a transition this cycle
    d_r = delay[0].astype(np.uint64)
    d_f = delay[1].astype(np.uint64)
    state = np.zeros(n_ff, np.uint64)
    open_ = np.zeros(max(1, n_cg), np.int64)
    counters = np.zeros(1, np.int64)
    scratch = np.zeros((4, _MAX_INPUTS), np.uint64)
    for s in range(streams):
        info[:] = 0
        state[:] = 0
        for c in range(cycles):
            top = U(0)
            n_touched = 0
            for i in range(n_inputs):  # primary inputs change at t = 0
                net = input_nets[i]
                v = U(stimulus[s, c, i])
                if v != (info[net] & U(1)):
                    ev_t[top] = 0
                    info[net] = (top << U(32)) | U(2) | v
                    top += U(1)
                    touched[n_touched] = net
                    n_touched += 1
            for i in range(n_ff):  # flip-flop outputs: the state, clock-to-Q after the edge
                for side in range(2):
                    net = ff_out[i, side]
                    if net >= 0:
                        v = state[i] ^ U(side)
                        if v != (info[net] & U(1)):
                            ev_t[top] = d_r[net] if v else d_f[net]
                            info[net] = (top << U(32)) | U(2) | v
                            top += U(1)
                            touched[n_touched] = net
                            n_touched += 1
            status, top, n_touched = _gate_loop(rec, n_gates, info, ev_t, d_r, d_f, touched, top, n_touched, c,
                                                U(capacity), counters, scratch)
            if status < 0:
                return -1
            for q in range(n_touched):  # what each net did this cycle; then no transitions are left
                net = touched[q]
                x = info[net]
                n = (x >> U(1)) & U(0x7FFFFFFF)
                toggles[net] += n
                settled[net] += n & U(1)
                info[net] = x & U(1)
            for g in range(n_cg):  # a clock gate's latch holds its enable's settled value at the edge
                v = 0
                for j in range(2):
                    src = cg_in[g, j]
                    v |= np.int64(info[src] & U(1)) if src >= 0 else cg_const[g, j]
                open_[g] = v
                gated[g] += v
            for i in range(n_ff):  # the edge: next state from the settled values
                if ff_gate[i] >= 0 and open_[ff_gate[i]] == 0:
                    continue  # its clock gate kept the edge away: the state holds
                idx = U(0)
                for j in range(ff_arity[i]):
                    src = ff_in[i, j]
                    idx |= (info[src] & U(1) if src >= 0 else U(ff_const[i, j])) << U(j)
                idx |= state[i] << U(ff_arity[i])
                state[i] = (U(ff_table[i]) >> idx) & U(1)
    return counters[0]
