"""Bit-parallel, cycle-by-cycle simulation of a mapped gate-level netlist, counting transitions.

The flattened netlist from Yosys (``write_json``) is compiled once into straight-line numpy code:
each net holds ``words`` uint64 words, one bit per independent copy of the circuit (64 streams per
word), gates are evaluated in topological order with their liberty functions, and flip-flops
take their next state at the end of each cycle, so the accumulator's feedback is real. Every
cycle the transitions of every net are counted with a population count. Zero-delay: glitches
are not modelled.

Integrated clock gates (a liberty ``clock_gating_integrated_cell`` of kind ``latch_posedge``,
placed by Yosys's ``clockgate``): the flip-flops on a gate's output clock take their next state
only in cycles whose enable (or test) input is high — the value the gate's latch holds at the
rising edge — and keep it otherwise. Their clock pins, and the gated clock net, switch only in
those cycles, which :attr:`SimulationResult.gated_cycles` counts per gate; the gate's own clock
pin switches every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtl.tech.cells import CellLibrary, wire_capacitance_pf
from rtl.tech.liberty import parse_boolean

__all__ = ["GateNetlist", "SimulationResult", "pack_bits", "unpack_bits"]


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers of shape (streams,) → (width, words) uint64, bit j of word k = stream 64k + j."""
    values = np.asarray(values)
    streams = values.shape[0]
    if streams % 64:
        raise ValueError(f"the number of streams must be a multiple of 64, not {streams}")
    out = np.empty((width, streams // 64), np.uint64)
    for bit in range(width):
        bits = ((values >> bit) & 1).astype(np.uint8) if values.dtype != object else \
            np.array([(int(v) >> bit) & 1 for v in values], np.uint8)
        out[bit] = np.packbits(bits, bitorder="little").view(np.uint64)
    return out


def unpack_bits(words: np.ndarray) -> list[int]:
    """(width, words) uint64 → one Python integer per stream."""
    width = words.shape[0]
    bits = np.unpackbits(words.view(np.uint8).reshape(width, -1), axis=1, bitorder="little")
    out = [0] * bits.shape[1]
    for bit in range(width - 1, -1, -1):
        row = bits[bit]
        out = [(o << 1) | int(b) for o, b in zip(out, row)]
    return out


def _expression(tree, names: dict[str, str]) -> str:
    op = tree[0]
    if op == "var":
        return names[tree[1]]
    if op == "const":
        return "ONES" if tree[1] else "ZEROS"
    if op == "not":
        return f"~({_expression(tree[1], names)})"
    symbol = {"and": "&", "or": "|", "xor": "^"}[op]
    return f"({_expression(tree[1], names)} {symbol} {_expression(tree[2], names)})"


@dataclass(frozen=True, eq=False)
class SimulationResult:
    toggles: np.ndarray        # per net index: transitions summed over streams and cycles
    cycles: int
    streams: int
    outputs: dict              # port name → list of per-stream integers after the last cycle
    recorded: list | None = None  # with ``record``: per cycle, port → per-stream integers before its edge
    gated_cycles: np.ndarray | None = None  # per clock gate: (stream, cycle) pairs its clock was let through


class GateNetlist:
    """A flattened, technology-mapped netlist ready for simulation and energy accounting."""

    def __init__(self, module: dict, library: CellLibrary, *, wire_load: bool = False):
        self.library = library
        self.wire_load = bool(wire_load)
        self.ports = {name: (p["direction"], p["bits"]) for name, p in module["ports"].items()}
        nets = {}

        def net(bit):
            if bit in ("0", "1", "x", "z"):
                return ("const", 1 if bit == "1" else 0)
            if bit not in nets:
                nets[bit] = len(nets)
            return nets[bit]

        for _, bits in self.ports.values():
            for b in bits:
                net(b)
        self.gates, self.flops, self.clock_gates = [], [], []
        for name, cell in module["cells"].items():
            spec = library.cells.get(cell["type"])
            if spec is None:
                raise ValueError(f"netlist cell {name} has type {cell['type']!r}, which library "
                                 f"{library.name} does not have")
            pins = {p: [net(b) for b in bits] for p, bits in cell["connections"].items()}
            entry = {"name": name, "cell": spec, "pins": {p: v[0] for p, v in pins.items()}}
            (self.clock_gates if spec.is_clock_gate else self.flops if spec.is_sequential else self.gates).append(entry)
        self.net_count = len(nets)
        self._nets = nets
        self._gate_flops()
        self._order_gates()
        self._capacitance_and_energy()
        self._compile()

    # -- structure ---------------------------------------------------------------------------
    def _gate_flops(self):
        """Which clock gate (index into :attr:`clock_gates`, or None) clocks each flip-flop."""
        gated = {}
        for i, g in enumerate(self.clock_gates):
            out = g["pins"].get(g["cell"].clock_gate["output"])
            if out is not None and not isinstance(out, tuple):
                gated[out] = i
        for g in self.clock_gates:
            clock = g["pins"].get(g["cell"].clock_gate["clock"])
            if clock in gated:
                raise ValueError(f"clock gate {g['name']} is clocked by another gate's output: chained clock gates "
                                 "are not modelled")
        for f in self.flops:
            clock = f["pins"].get(f["cell"].flip_flop["clocked_on"].strip("()"))
            f["gate"] = gated.get(clock) if not isinstance(clock, tuple) else None
        for g in self.gates:  # a gated clock feeds clock pins only
            hit = next((gated[v] for p, v in g["pins"].items() if p in g["cell"].inputs and v in gated), None)
            if hit is not None:
                raise ValueError(f"the gated clock of {self.clock_gates[hit]['name']} drives logic "
                                 f"({g['name']}), which this simulator does not model")

    def _enable_expression(self, i: int, ref) -> str:
        """The expression of clock gate ``i``'s enable (its test pin ORed in)."""
        g = self.clock_gates[i]
        gate = g["cell"].clock_gate
        terms = [ref(g["pins"].get(gate["enable"], ("const", 0)))]
        if gate["test"]:
            terms.append(ref(g["pins"].get(gate["test"], ("const", 0))))
        return " | ".join(terms)

    def _order_gates(self):
        driver = {}
        for i, g in enumerate(self.gates):
            for pin in g["cell"].outputs:
                if pin in g["pins"]:
                    driver[g["pins"][pin]] = i
        state = [0] * len(self.gates)  # 0 new, 1 visiting, 2 done
        order = []
        for start in range(len(self.gates)):
            stack = [(start, False)]
            while stack:
                i, expanded = stack.pop()
                if expanded:
                    state[i] = 2
                    order.append(i)
                    continue
                if state[i] == 2:
                    continue
                if state[i] == 1:
                    raise ValueError(f"combinational loop through {self.gates[i]['name']}")
                state[i] = 1
                stack.append((i, True))
                g = self.gates[i]
                for pin in g["cell"].inputs:
                    src = g["pins"].get(pin)
                    j = driver.get(src) if not isinstance(src, tuple) else None
                    if j is not None and state[j] != 2:
                        if state[j] == 1:
                            raise ValueError(f"combinational loop through {g['name']}")
                        stack.append((j, False))
        self.gates = [self.gates[i] for i in order]

    def _capacitance_and_energy(self):
        n = self.net_count
        self.load_pf = np.zeros(n)
        self.input_energy_pj = np.zeros(n)   # internal energy of the receiving pins per transition
        self.driver_energy_pj = np.zeros(n)  # internal energy of the driving cell per transition
        self.clock_pf = 0.0  # clock pins that switch every cycle (ungated flip-flops, the gates' own)
        self.clock_energy_pj = 0.0
        self.gated_clock_pf = np.zeros(len(self.clock_gates))  # per gate: what its clock reaches, when let through
        self.gated_clock_energy_pj = np.zeros(len(self.clock_gates))
        for i, g in enumerate(self.clock_gates):
            cell, gate = g["cell"], g["cell"].clock_gate
            self.clock_pf += cell.inputs.get(gate["clock"], 0.0)
            self.clock_energy_pj += cell.input_energy_pj.get(gate["clock"], 0.0)
            self.gated_clock_energy_pj[i] += cell.internal_energy_pj  # its output switching
            for pin in (gate["enable"], gate["test"]):
                src = g["pins"].get(pin) if pin else None
                if src is not None and not isinstance(src, tuple):
                    self.load_pf[src] += cell.inputs.get(pin, 0.0)
                    self.input_energy_pj[src] += cell.input_energy_pj.get(pin, 0.0)
        for entry in self.gates + self.flops:
            cell = entry["cell"]
            clock = cell.flip_flop["clocked_on"] if cell.is_sequential else None
            for pin, cap in cell.inputs.items():
                if pin == clock:
                    if entry.get("gate") is not None:
                        self.gated_clock_pf[entry["gate"]] += cap
                        self.gated_clock_energy_pj[entry["gate"]] += cell.input_energy_pj.get(pin, 0.0)
                    else:
                        self.clock_pf += cap
                        self.clock_energy_pj += cell.input_energy_pj.get(pin, 0.0)
                    continue
                src = entry["pins"].get(pin)
                if src is not None and not isinstance(src, tuple):
                    self.load_pf[src] += cap
                    self.input_energy_pj[src] += cell.input_energy_pj.get(pin, 0.0)
            for pin in cell.outputs:
                out = entry["pins"].get(pin)
                if out is not None and not isinstance(out, tuple):
                    self.driver_energy_pj[out] = cell.internal_energy_pj
        self.leakage_nw = sum(e["cell"].leakage_nw for e in self.gates + self.flops + self.clock_gates)
        self.wire_pf = np.zeros(n)
        if self.wire_load:
            model = self.library.provenance.get("wire_load")
            if model is None:
                raise ValueError(f"library {self.library.name} has no wire-load model")
            fanout = np.zeros(n, np.int64)
            for entry in self.gates + self.flops:
                cell = entry["cell"]
                clock = cell.flip_flop["clocked_on"] if cell.is_sequential else None
                for pin in cell.inputs:
                    src = entry["pins"].get(pin)
                    if pin != clock and src is not None and not isinstance(src, tuple):
                        fanout[src] += 1
            for g in self.clock_gates:  # a clock gate's enable and test pins are pins on their nets too
                for pin in (g["cell"].clock_gate["enable"], g["cell"].clock_gate["test"]):
                    src = g["pins"].get(pin) if pin else None
                    if src is not None and not isinstance(src, tuple):
                        fanout[src] += 1
            for direction, bits in self.ports.values():  # an output port is one more pin on its net
                if direction == "output":
                    for b in bits:
                        if not isinstance(b, str):
                            fanout[self._nets[b]] += 1
            self.wire_pf = np.array([wire_capacitance_pf(model, int(f)) for f in fanout])
            self.load_pf = self.load_pf + self.wire_pf

    def _compile(self):
        def ref(src):
            if isinstance(src, tuple):
                return "ONES" if src[1] else "ZEROS"
            return f"V[{src}]"

        lines = ["def evaluate(V, S, ONES, ZEROS):"]
        for k, f in enumerate(self.flops):  # flip-flop outputs from their state
            ff = f["cell"].flip_flop
            for pin, function in f["cell"].outputs.items():
                out = f["pins"].get(pin)
                if out is None or isinstance(out, tuple):
                    continue
                names = {ff["state"]: f"S[{k}]", ff["state_inverted"]: f"~S[{k}]"}
                lines.append(f"    V[{out}] = {_expression(parse_boolean(function), names)}")
        for g in self.gates:
            cell = g["cell"]
            names = {pin: ref(g["pins"].get(pin, ("const", 0))) for pin in cell.inputs}
            for pin, function in cell.outputs.items():
                out = g["pins"].get(pin)
                if out is None or isinstance(out, tuple):
                    continue
                lines.append(f"    V[{out}] = {_expression(parse_boolean(function), names)}")
        lines.append("def next_state(V, S, ONES, ZEROS):")
        lines.append("    return [")
        for k, f in enumerate(self.flops):
            ff = f["cell"].flip_flop
            names = {pin: ref(f["pins"].get(pin, ("const", 0))) for pin in f["cell"].inputs}
            names |= {ff["state"]: f"S[{k}]", ff["state_inverted"]: f"~S[{k}]"}
            expr = _expression(parse_boolean(ff["next_state"]), names)
            if f.get("gate") is not None:  # a gated clock: the edge only where the gate lets it through
                enable = self._enable_expression(f["gate"], ref)
                expr = f"((({enable}) & ({expr})) | (~({enable}) & S[{k}]))"
            for key, value in (("clear", "ZEROS"), ("preset", "ONES")):
                if ff[key]:  # asynchronous: modelled as taking effect at the edge
                    cond = _expression(parse_boolean(ff[key]), names)
                    expr = f"(({cond}) & {value}) | (~({cond}) & ({expr}))"
            lines.append(f"        {expr},")
        lines.append("    ]")
        lines.append("def enables(V, ONES, ZEROS):")
        lines.append("    return [" + "".join(f"{self._enable_expression(i, ref)}, "
                                             for i in range(len(self.clock_gates))) + "]")
        scope = {}
        exec(compile("\n".join(lines), "<gatesim>", "exec"), scope)  # noqa: S102 - generated from the netlist
        self._evaluate, self._next_state, self._enables = scope["evaluate"], scope["next_state"], scope["enables"]

    # -- simulation --------------------------------------------------------------------------
    def _outputs(self, V, ones, zeros) -> dict:
        out = {}
        for port, (direction, bits) in self.ports.items():
            if direction == "output":
                rows = np.array([V[self._net_index(b)] if not isinstance(b, str) else
                                 (ones if b == "1" else zeros) for b in bits])
                out[port] = unpack_bits(rows)
        return out

    def simulate(self, inputs: list[dict[str, np.ndarray]], words: int, *, record: bool = False) -> SimulationResult:
        """Run one cycle per element of ``inputs`` (port → (width, words) packed bits); with
        ``record``, the outputs of every cycle too (after its inputs, before its edge)."""
        V = np.zeros((self.net_count, words), np.uint64)
        S = [np.zeros(words, np.uint64) for _ in self.flops]
        ones, zeros = np.full(words, np.uint64(0xFFFFFFFFFFFFFFFF)), np.zeros(words, np.uint64)
        previous = V.copy()
        toggles = np.zeros(self.net_count, np.int64)
        gated = np.zeros(len(self.clock_gates), np.int64)
        recorded = []
        for cycle in inputs:
            for port, packed in cycle.items():
                bits = self.ports[port][1]
                for i, b in enumerate(bits):
                    if not isinstance(b, str):
                        V[self._net_index(b)] = packed[i]
            self._evaluate(V, S, ones, zeros)
            toggles += np.bitwise_count(V ^ previous).sum(axis=1, dtype=np.int64)
            previous[...] = V
            if record:
                recorded.append(self._outputs(V, ones, zeros))
            if self.clock_gates:
                gated += [int(np.bitwise_count(np.broadcast_to(e, (words,))).sum()) for e in self._enables(V, ones, zeros)]
            S = self._next_state(V, S, ones, zeros)
        self._evaluate(V, S, ones, zeros)  # outputs after the last edge
        return SimulationResult(toggles, len(inputs), words * 64, self._outputs(V, ones, zeros),
                                recorded if record else None, gated)

    def _net_index(self, bit) -> int:
        return self._nets[bit]

    @property
    def gate_count(self) -> int:
        return len(self.gates) + len(self.flops) + len(self.clock_gates)
