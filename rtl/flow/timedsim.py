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
so a shared event list would hold nearly one time per transition anyway. Each net is one word
(value, transitions this cycle, where their times start — 0 for none) and its times are followed
by a sentinel; each gate is one record of unsigned words: the nets it reads, padded with a quiet
net to 2, 4 or 6 (its *lanes*), its output, its truth table over those nets (constant pins folded
in) and its delays. The gates run levelized and, within a level, by lanes, each lane count in
straight code of its own. A gate none of whose inputs moved is passed after reading them. The
time goes to per-gate work and to branches the data decides, not to the events, so the common
cases have no branch of their own: a gate whose inputs made at most two transitions (three
quarters of a MAC's gates in a cycle) takes its one or two input times in order without a loop,
and a gate whose output did not move is written back like one that did. Otherwise, where one or
two of its inputs move, their times are merged two ways; only where three or more move are all
its lanes merged (one merged time per pass: the earliest cursor, every input at it advanced).
Measured against the loop over all lanes that every gate took before: 11–16 % faster; visiting
only the gates an event reaches (a dirty bit per gate, set through fan-out lists) was slower than
passing the quiet ones, as were prefetching each input's next time and interleaving two streams.
:attr:`TimedResult.gate_evaluations` counts, per stream, gate and cycle, each time at which an
input changed — what an event-driven simulator evaluates.

The same kernel also runs eight streams at once, one per 64-bit word of an AVX-512 register
(``timedsim_lanes.c``, compiled on first use by :mod:`rtl.flow.native`; ``kernel="lanes"``).
Each gate then reads its inputs for the eight streams in one load each (per net, the streams'
words side by side), and the transition times through gathers and scatters into each stream's
own pool. A gate all eight streams of which saw at most two input transitions takes them without
a loop; otherwise their times are merged until every stream has passed its last, a finished
stream held by a mask; only where no stream's inputs moved is the gate passed. The branches the
data decides are then taken once per eight streams, which is where the one-stream kernel spends
its time: measured, 1.4–1.9× as many evaluations per second on the MACs, the same transitions
bit for bit (tests/test_rtl_glitches.py). The inputs, flip-flops and counts run stream by stream
in C too. ``auto`` uses it where it compiles and the CPU has AVX-512F, and eight streams or more
run; the numba kernel otherwise.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from numba import njit

from rtl.flow import native
from rtl.flow.gatesim import GateNetlist
from rtl.flow.timing import switching_delays_ns
from rtl.tech.cells import evaluate_boolean
from rtl.tech.liberty import parse_boolean

__all__ = ["TimedNetlist", "TimedResult", "FS_PER_NS"]

_MAX_INPUTS = 6
_BIG = 1 << 62  # no time: past an input's last transition (each net's list ends with it), or none pending
_RECORD = _MAX_INPUTS + 5
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


def _lanes(gate: dict) -> int:
    """The nets a gate reads, padded to the kernel's straight code for 2, 4 or 6."""
    n = sum(1 for p in gate["cell"].inputs if not isinstance(gate["pins"].get(p, ("const", 0)), tuple))
    return 2 if n <= 2 else 4 if n <= 4 else 6


@dataclass(frozen=True)
class TimedResult:
    toggles: np.ndarray        # per net: transitions over every stream and cycle, glitches included
    settled_toggles: np.ndarray  # per net: the transitions the zero-delay view sees (settled changes)
    cycles: int
    streams: int
    gate_evaluations: int      # per stream, gate and cycle: each time at which an input of it changed
    gated_cycles: np.ndarray | None = None  # per clock gate: the stream-cycles it let the clock through
    kernel: str = "numba"      # which kernel ran: "lanes" (C, eight streams per AVX-512 word) or "numba"


KERNELS = ("auto", "lanes", "numba")
_LANES_FLAGS = ("-O3", "-mavx512f")
_LANES = 8  # streams per AVX-512 word


def _capacity(nets: int) -> int:
    """Transition times a stream's pool holds at first (it grows fourfold where a cycle needs more)."""
    return 6 * nets + 1024


def lanes_kernel() -> native.Native:
    """The eight-stream C kernel (``timedsim_lanes.c``), or why this machine cannot run it."""
    return native.load("timedsim_lanes.c", _LANES_FLAGS, "lanes_supported")


class TimedNetlist:
    """A :class:`GateNetlist` compiled for the timed simulation, with the delays of ``timer``
    (``nldm``, the default, or ``linear``; see :func:`rtl.flow.timing.switching_delays_ns`).
    ``kernel``: ``lanes`` (eight streams per AVX-512 word, C), ``numba`` (one stream at a time),
    or ``auto`` (the default: lanes where this machine can compile and run it and at least
    eight streams run — fewer would leave most of its lanes idle). Both give the same
    transitions, bit for bit."""

    def __init__(self, netlist: GateNetlist, *, timer: str = "nldm", kernel: str = "auto"):
        if kernel not in KERNELS:
            raise ValueError(f"kernel={kernel!r}: the timed simulation's kernels are {', '.join(KERNELS)}")
        if kernel == "lanes" and lanes_kernel().library is None:
            raise RuntimeError(f"kernel='lanes' cannot run here: {lanes_kernel().reason}")
        self.kernel = kernel
        self.netlist = netlist
        self.timer = timer
        delays = switching_delays_ns(netlist, timer)
        # a delay rounds to whole femtoseconds and is at least one: every cell takes time
        self.delay_fs = np.maximum(np.rint(delays * FS_PER_NS), 1).astype(np.int64)  # (rise, fall) per net
        outputs = [(g, pin) for g in netlist.gates for pin in g["cell"].outputs
                   if g["pins"].get(pin) is not None and not isinstance(g["pins"].get(pin), tuple)]
        # levelized (a gate after everything it reads), and within a level by how many nets each
        # reads: the kernel's choice of straight code per gate then repeats gate after gate
        level = {}
        for g, pin in outputs:  # netlist.gates is in topological order
            level[g["pins"][pin]] = 1 + max((level.get(n, 0) for p, n in g["pins"].items()
                                             if p in g["cell"].inputs and not isinstance(n, tuple)), default=0)
        outputs.sort(key=lambda e: (level[e[0]["pins"][e[1]]], _lanes(e[0])))
        n_gates = len(outputs)
        count = netlist.net_count  # net `count`: a quiet net (0, never moving) on the unused inputs
        # per gate, one record of _RECORD words: the nets its inputs read (padded with the quiet
        # net to _MAX_INPUTS), its output net, its truth table over those nets alone (constant pins
        # folded in), its rise and fall delays, and its lanes (2, 4 or 6: the nets it reads, padded)
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
            full = _truth_table(cell.outputs[pin], pins)
            fixed = sum(int(consts[j]) << j for j in range(len(pins)) if nets[j] < 0)
            table = 0
            for i in range(1 << len(read)):
                at = fixed | sum(((i >> q) & 1) << j for q, j in enumerate(read))
                table |= ((full >> at) & 1) << i
            out = g["pins"][pin]
            record = self.gate_record[k]
            record[:_MAX_INPUTS] = [nets[j] for j in read] + [count] * (_MAX_INPUTS - len(read))
            record[_MAX_INPUTS:] = (out, table, 0, 0, _lanes(g))  # delays: from delay_fs when it runs
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

    def _records(self) -> np.ndarray:
        """The gate records with the delays ``delay_fs`` holds now (it may have been changed)."""
        records = self.gate_record.reshape(-1, _RECORD).copy()
        out = records[:, _MAX_INPUTS].astype(np.int64)
        records[:, _MAX_INPUTS + 2] = self.delay_fs[0, out]
        records[:, _MAX_INPUTS + 3] = self.delay_fs[1, out]
        return records.ravel()

    def simulate(self, inputs: list[dict], words: int, *, streams: int | None = None, skip: int = 0) -> TimedResult:
        """Inputs as :meth:`GateNetlist.simulate` takes them (port → (width, words) packed bits);
        the first ``streams`` of the 64 × words (default all) are simulated, each on its own. The
        first ``skip`` cycles are simulated and not counted: the result's transitions, evaluations
        and clock-gate openings are those of the cycles after them (``cycles`` counts those)."""
        total = 64 * words
        streams = total if streams is None else min(streams, total)
        cycles = len(inputs)
        nets = sorted({int(n) for port in self.port_nets.values() for n in port if n >= 0})
        row = {n: i for i, n in enumerate(nets)}
        input_nets = np.array(nets, np.int64)
        stimulus = np.zeros((streams, cycles, len(nets)), np.uint8)
        for port, net in self.port_nets.items():  # a port at a time, every cycle that drives it at once
            at = [t for t, cycle in enumerate(inputs) if port in cycle]
            if not at:
                continue
            packed = np.ascontiguousarray(np.stack([inputs[t][port] for t in at]))  # (cycles, width, words)
            bits = np.unpackbits(packed.view(np.uint8).reshape(len(at), packed.shape[1], -1), axis=2,
                                 bitorder="little")[:, :, :streams]  # (cycles, width, streams)
            keep = net >= 0
            rows = np.array([row[int(n)] for n in net[keep]], np.int64)
            stimulus[:, np.array(at)[:, None], rows[None, :]] = bits[:, keep, :].transpose(2, 0, 1)
        count = self.netlist.net_count
        toggles = np.zeros(count, np.uint64)
        settled = np.zeros(count, np.uint64)
        gated = np.zeros(len(self.cg_inputs), np.int64)
        # at least the cycle's opening: two words per input and flip-flop output that moves, the gates checked
        capacity = max(_capacity(count), 2 * (2 + len(input_nets) + self.ff_out.size))
        kernel = "lanes" if self.kernel == "lanes" or (self.kernel == "auto" and streams >= _LANES
                                                       and lanes_kernel().library is not None) else "numba"
        run = _lanes_run if kernel == "lanes" else _run
        while True:
            evaluations = run(stimulus, input_nets, count, self._records(), self.delay_fs, self.ff_out,
                              self.ff_inputs, self.ff_consts, self.ff_table, self.ff_arity, self.ff_gate,
                              self.cg_inputs, self.cg_consts, len(self.netlist.clock_gates), capacity, toggles,
                              settled, gated, skip)
            if evaluations == -2:
                raise MemoryError(f"the timed simulation's buffers ({capacity} transitions per stream) do not fit")
            if evaluations >= 0:
                break
            capacity *= 4  # a cycle made more transitions than the pool held: again, with room
            toggles[:], settled[:], gated[:] = 0, 0, 0
        return TimedResult(toggles.astype(np.int64), settled.astype(np.int64), max(0, cycles - skip), streams,
                           int(evaluations),
                           gated[:len(self.netlist.clock_gates)], kernel)


def _lanes_run(stimulus, input_nets, nets, rec, delay, ff_out, ff_in, ff_const, ff_table, ff_arity, ff_gate,
               cg_in, cg_const, n_cg, capacity, toggles, settled, gated, skip) -> int:
    """:func:`_run` in the C kernel, eight streams at a time: the same arguments and result."""
    run = lanes_kernel().library.timed_run
    run.restype = ctypes.c_int64
    streams, cycles, n_inputs = stimulus.shape
    int64 = [np.ascontiguousarray(a, np.int64) for a in (input_nets, delay[0], delay[1], ff_out, ff_in, ff_const,
                                                         ff_arity, ff_gate, cg_in, cg_const)]
    input_nets, rise, fall, ff_out, ff_in, ff_const, ff_arity, ff_gate, cg_in, cg_const = int64
    rec, ff_table = np.ascontiguousarray(rec, np.uint64), np.ascontiguousarray(ff_table, np.uint64)
    stimulus = np.ascontiguousarray(stimulus, np.uint8)
    for out, kind in ((toggles, np.uint64), (settled, np.uint64), (gated, np.int64)):
        assert out.dtype == kind and out.flags.c_contiguous  # written in place
    pointer = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    n = ctypes.c_int64
    return int(run(pointer(stimulus), n(streams), n(cycles), n(n_inputs), pointer(input_nets), n(nets), pointer(rec),
                   n(rec.size // _RECORD), pointer(rise), pointer(fall), pointer(ff_out), n(ff_out.shape[0]),
                   pointer(ff_in), pointer(ff_const), pointer(ff_table), pointer(ff_arity), pointer(ff_gate),
                   pointer(cg_in), pointer(cg_const), n(n_cg), n(capacity), pointer(toggles), pointer(settled),
                   pointer(gated), n(skip)))


@njit(cache=True, nogil=True, inline="always")
def _open(info, net, bit):
    """One input of a gate: its value before the cycle (at ``bit``), its transitions this cycle
    and where their times start."""
    x = info[net]
    n = (x >> np.uint64(1)) & np.uint64(0x7FFFFFFF)
    return ((x ^ n) & np.uint64(1)) << np.uint64(bit), n, x >> np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _advance(ev_t, c, p, t, bit):
    """Past time ``t`` on one input whose next time is ``c``: its bit (at ``bit``) where it moved
    at t, its cursor and its next time."""
    e = np.uint64(c == t)
    p += e
    return e << np.uint64(bit), p, ev_t[p]


@njit(cache=True, nogil=True, inline="always")
def _step(ev_t, top, t, idx, table, d_rise, d_fall, r, current, due):
    """The gate's inputs read ``idx`` from time ``t`` on: the pending transition takes effect
    first if it falls due by t (``ev_t[top]`` written either way: branch-free); then the new
    value schedules one, or cancels the pending one. Returns (top, r, current, due)."""
    fire = due <= t
    ev_t[top] = due
    top += np.uint64(fire)
    current ^= np.uint64(fire)
    due = np.uint64(_BIG) if fire else due
    v = (table >> idx) & np.uint64(1)
    delay = d_rise if v else d_fall
    due = np.uint64(_BIG) if v == current else (t + delay if v != r else due)
    return top, v, current, due


@njit(cache=True, nogil=True, inline="always")
def _gate(rec, base, info, ev_t, top, capacity, settled, lanes):
    """One gate reading up to ``lanes`` nets (2, 4 or 6: a constant where it is called, so each
    call compiles to straight code for its lanes). Returns (top, evaluations, out, current, first):
    its transitions are in ``ev_t[first:top]``, its value at the end ``current``."""
    U = np.uint64
    ONE = U(1)
    BIG = U(_BIG)
    idx, m, p0 = _open(info, rec[base], 0)
    v, n, p1 = _open(info, rec[base + 1], 1)
    idx, m = idx | v, m + n
    p2 = p3 = p4 = p5 = U(0)
    if lanes > 2:
        v, n, p2 = _open(info, rec[base + 2], 2)
        idx, m = idx | v, m + n
        v, n, p3 = _open(info, rec[base + 3], 3)
        idx, m = idx | v, m + n
    if lanes > 4:
        v, n, p4 = _open(info, rec[base + 4], 4)
        idx, m = idx | v, m + n
        v, n, p5 = _open(info, rec[base + 5], 5)
        idx, m = idx | v, m + n
    out = rec[base + _MAX_INPUTS]
    if m == 0 and settled:  # nothing reaches it and its output already has its value: it holds
        return top, 0, out, info[out] & ONE, top
    if top + m + U(2) > capacity:  # its transitions (at most one more than its inputs') and a sentinel
        return top, -1, out, U(0), top
    table = rec[base + _MAX_INPUTS + 1]
    d_rise = rec[base + _MAX_INPUTS + 2]
    d_fall = rec[base + _MAX_INPUTS + 3]
    r = (table >> idx) & ONE
    current = info[out] & ONE
    first = top
    due = BIG if r == current else (d_rise if r else d_fall)
    evaluations = 0
    # the inputs that move (where a quiet one's times start is 0)
    mask = U(p0 != 0) | (U(p1 != 0) << ONE)
    psum = p0 + p1
    pa = p1 if p1 else p0
    if lanes > 2:
        mask |= (U(p2 != 0) << U(2)) | (U(p3 != 0) << U(3))
        psum += p2 + p3
        pa = p3 if p3 else p2
        pa = pa if pa else p1
        pa = pa if pa else p0
    if lanes > 4:
        mask |= (U(p4 != 0) << U(4)) | (U(p5 != 0) << U(5))
        psum += p4 + p5
        pa = p5 if p5 else p4
        pa = pa if pa else p3
        pa = pa if pa else p2
        pa = pa if pa else p1
        pa = pa if pa else p0
    rest = mask & (mask - ONE)
    single = rest == 0
    if m <= 2:
        # at most two input transitions, branch-free: on one input (its first two times) or on
        # two (one each, perhaps at one time)
        # x on the highest moving input (bit bx), y on the other or x's next time (bit by)
        bx = mask if single else rest
        by = mask if single else mask ^ rest
        x = ev_t[psum if single else pa]
        y = ev_t[psum + ONE if single else psum - pa]
        same = x == y
        t1 = min(x, y)
        t2 = max(x, y)
        b1 = (bx | by) if same else (bx if x < y else by)
        b2 = by if x < y else bx
        t2 = BIG if same else t2
        evaluations = int(t1 != BIG) + int(t2 != BIG)
        # a step at BIG − 1 changes no input: what falls due takes effect, as at the end
        t1 = min(t1, BIG - ONE)
        t2 = min(t2, BIG - ONE)
        b1 = b1 if t1 != BIG - ONE else U(0)
        b2 = b2 if t2 != BIG - ONE else U(0)
        idx ^= b1
        top, r, current, due = _step(ev_t, top, t1, idx, table, d_rise, d_fall, r, current, due)
        idx ^= b2
        top, r, current, due = _step(ev_t, top, t2, idx, table, d_rise, d_fall, r, current, due)
    elif rest & (rest - ONE) == 0:
        # one or two inputs move: their times merged (a single one's partner reads none)
        ma = rest if not single else mask
        mb = mask ^ rest
        pb = ONE if single else psum - pa
        pa = psum if single else pa
        ca = ev_t[pa]
        cb = ev_t[pb]
        while True:
            t = min(ca, cb)
            if t == BIG:
                break
            ea = U(ca == t)
            eb = U(cb == t)
            pa += ea
            pb += eb
            ca = ev_t[pa]
            cb = ev_t[pb]
            idx ^= (ma * ea) | (mb * eb)
            evaluations += 1
            top, r, current, due = _step(ev_t, top, t, idx, table, d_rise, d_fall, r, current, due)
    else:
        c0 = ev_t[p0]
        c1 = ev_t[p1]
        c2 = c3 = c4 = c5 = BIG
        if lanes > 2:
            c2 = ev_t[p2]
            c3 = ev_t[p3]
        if lanes > 4:
            c4 = ev_t[p4]
            c5 = ev_t[p5]
        while True:
            t = min(c0, c1)
            if lanes > 2:
                t = min(t, min(c2, c3))
            if lanes > 4:
                t = min(t, min(c4, c5))
            if t == BIG:
                break
            e, p0, c0 = _advance(ev_t, c0, p0, t, 0)
            idx ^= e
            e, p1, c1 = _advance(ev_t, c1, p1, t, 1)
            idx ^= e
            if lanes > 2:
                e, p2, c2 = _advance(ev_t, c2, p2, t, 2)
                idx ^= e
                e, p3, c3 = _advance(ev_t, c3, p3, t, 3)
                idx ^= e
            if lanes > 4:
                e, p4, c4 = _advance(ev_t, c4, p4, t, 4)
                idx ^= e
                e, p5, c5 = _advance(ev_t, c5, p5, t, 5)
                idx ^= e
            evaluations += 1
            top, r, current, due = _step(ev_t, top, t, idx, table, d_rise, d_fall, r, current, due)
    fire = due != BIG
    ev_t[top] = due
    top += U(fire)
    current ^= U(fire)
    return top, evaluations, out, current, first


@njit(cache=True, nogil=True)
def _gate_loop(rec, n_gates, info, ev_t, touched, top, n_touched, capacity, counters, settled, counted):
    """One cycle of one stream, gate after gate in topological order. ``info`` per net: its value
    (bit 0), its transitions this cycle (bits 1–31) and where their times start in ``ev_t``
    (bits 32–; 0 where it has none), each net's times followed by a BIG sentinel; ``ev_t[0]``
    and ``ev_t[1]`` are BIG too. Unsigned throughout. Returns (status — −1 when ``ev_t`` is
    full —, top, n_touched)."""
    U = np.uint64
    ONE = U(1)
    BIG = U(_BIG)
    evaluations = 0
    for k in range(n_gates):
        base = k * _RECORD
        lanes = rec[base + _MAX_INPUTS + 4]
        if lanes == 2:
            top, ev, out, current, first = _gate(rec, base, info, ev_t, top, capacity, settled, 2)
        elif lanes == 4:
            top, ev, out, current, first = _gate(rec, base, info, ev_t, top, capacity, settled, 4)
        else:
            top, ev, out, current, first = _gate(rec, base, info, ev_t, top, capacity, settled, 6)
        if ev < 0:
            return -1, top, n_touched
        evaluations += ev
        moved = top != first  # branch-free: a net that did not move keeps its value and no times
        n = top - first
        info[out] = ((first if moved else U(0)) << U(32)) | (n << ONE) | current
        ev_t[top] = BIG  # the sentinel after its times
        top += U(moved)
        touched[n_touched] = out
        n_touched += moved
    if counted:
        counters[0] += evaluations
    return 0, top, n_touched


@njit(cache=True, nogil=True)
def _run(stimulus, input_nets, nets, rec, delay, ff_out,
         ff_in, ff_const, ff_table, ff_arity, ff_gate, cg_in, cg_const, n_cg, capacity, toggles, settled, gated,
         skip):
    U = np.uint64
    streams, cycles, n_inputs = stimulus.shape
    n_gates = rec.shape[0] // _RECORD
    n_ff = ff_out.shape[0]
    ev_t = np.zeros(capacity, np.uint64)    # the cycle's transition times (fs), net after net
    info = np.zeros(nets + 1, np.uint64)    # per net (and the quiet one): value, transitions, where they start
    touched = np.zeros(nets, np.uint64)     # the nets that made a transition this cycle
    d_r = delay[0].astype(np.uint64)
    d_f = delay[1].astype(np.uint64)
    state = np.zeros(n_ff, np.uint64)
    open_ = np.zeros(max(1, n_cg), np.int64)
    counters = np.zeros(1, np.int64)
    BIG = U(_BIG)
    ev_t[0] = ev_t[1] = BIG  # where a quiet net's times start: none
    for s in range(streams):
        info[:] = 0
        state[:] = 0
        for c in range(cycles):
            top = U(2)
            n_touched = 0
            for i in range(n_inputs):  # primary inputs change at t = 0
                net = input_nets[i]
                v = U(stimulus[s, c, i])
                if v != (info[net] & U(1)):
                    ev_t[top] = 0
                    ev_t[top + U(1)] = BIG
                    info[net] = (top << U(32)) | U(2) | v
                    top += U(2)
                    touched[n_touched] = net
                    n_touched += 1
            for i in range(n_ff):  # flip-flop outputs: the state, clock-to-Q after the edge
                for side in range(2):
                    net = ff_out[i, side]
                    if net >= 0:
                        v = state[i] ^ U(side)
                        if v != (info[net] & U(1)):
                            ev_t[top] = d_r[net] if v else d_f[net]
                            ev_t[top + U(1)] = BIG
                            info[net] = (top << U(32)) | U(2) | v
                            top += U(2)
                            touched[n_touched] = net
                            n_touched += 1
            status, top, n_touched = _gate_loop(rec, n_gates, info, ev_t, touched, top, n_touched,
                                                U(capacity), counters, c > 0, c >= skip)
            if status < 0:
                return -1
            counted = U(c >= skip)
            for q in range(n_touched):  # what each net did this cycle; then no transitions are left
                net = touched[q]
                x = info[net]
                n = (x >> U(1)) & U(0x7FFFFFFF)
                toggles[net] += n * counted
                settled[net] += n & counted
                info[net] = x & U(1)
            for g in range(n_cg):  # a clock gate's latch holds its enable's settled value at the edge
                v = 0
                for j in range(2):
                    src = cg_in[g, j]
                    v |= np.int64(info[src] & U(1)) if src >= 0 else cg_const[g, j]
                open_[g] = v
                gated[g] += v if c >= skip else 0
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
