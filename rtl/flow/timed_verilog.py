"""A timed netlist as Verilog, for an event-driven simulator written by others.

:func:`timed_testbench` writes the netlist of a :class:`rtl.flow.timedsim.TimedNetlist` with the
very delays it simulates — every gate output a continuous assignment ``assign #(rise, fall)`` in
femtoseconds, Verilog's inertial delay; every flip-flop a register whose outputs follow it by
their clock-to-Q delays; every clock gate's flip-flops taking the edge only where its enable is
high — driven by one stream of the inputs, cycle by cycle, with a clock slower than any path,
and printing each net's transition count from the second cycle on (the first is power-up, where
Verilog's nets start unknown). :func:`icarus_transitions` runs it in Icarus Verilog.

Each gate's function is evaluated at once (an ``always`` block into a register the delayed
assignment reads), not as Icarus's network of zero-delay operators, whose delta-cycle hazards
would reach the delay as pulses no cell makes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from rtl.flow.gatesim import _expression
from rtl.flow.timedsim import TimedNetlist
from rtl.hdl.verify import IverilogError
from rtl.tech.liberty import parse_boolean

__all__ = ["timed_testbench", "icarus_transitions"]


def _verilog(tree, names: dict) -> str:
    return _expression(tree, names).replace("ONES", "1'b1").replace("ZEROS", "1'b0")


def _ref(src) -> str:
    return ("1'b1" if src[1] else "1'b0") if isinstance(src, tuple) else f"n{src}"


def _value(packed: np.ndarray, stream: int) -> int:
    """One stream's value of a packed port, (width, words) uint64."""
    word, bit = divmod(stream, 64)
    return sum(int((packed[b, word] >> np.uint64(bit)) & np.uint64(1)) << b for b in range(packed.shape[0]))


def timed_testbench(timed: TimedNetlist, inputs: list[dict], *, stream: int = 0) -> str:
    """The Verilog testbench (see the module docstring) of ``timed`` on stream ``stream`` of
    ``inputs`` (port → (width, words) packed bits per cycle); it prints ``net count`` lines."""
    netlist = timed.netlist
    delay = timed.delay_fs
    latest = np.zeros(netlist.net_count, np.int64)  # a bound on a net's last transition in a cycle
    lines = ["`timescale 1fs/1fs", "module tb;", "reg clk = 0;", "reg counting = 0;"]
    lines += [f"wire n{i};" for i in range(netlist.net_count)]
    ports = {name: bits for name, (d, bits) in netlist.ports.items() if d == "input"}
    for name, bits in ports.items():
        lines.append(f"reg [{len(bits) - 1}:0] p_{name} = 0;")
        lines += [f"assign n{netlist._net_index(b)} = p_{name}[{i}];" for i, b in enumerate(bits)
                  if not isinstance(b, str)]
    for k, f in enumerate(netlist.flops):
        ff = f["cell"].flip_flop
        state = {ff["state"]: f"s{k}", ff["state_inverted"]: f"~s{k}"}
        names = {pin: _ref(f["pins"].get(pin, ("const", 0))) for pin in f["cell"].inputs} | state
        nxt = _verilog(parse_boolean(ff["next_state"]), names)
        for key, value in (("clear", "1'b0"), ("preset", "1'b1")):
            if ff[key]:  # taken at the edge, as both gate-level simulators take it
                nxt = f"(({_verilog(parse_boolean(ff[key]), names)}) ? {value} : ({nxt}))"
        guard = ""
        if f.get("gate") is not None:
            roles = netlist.clock_gates[f["gate"]]["cell"].clock_gate
            pins = netlist.clock_gates[f["gate"]]["pins"]
            guard = "if (" + " | ".join(_ref(pins.get(p, ("const", 0))) for p in (roles["enable"], roles["test"])
                                        if p) + ") "
        lines += [f"reg s{k} = 0;", f"always @(posedge clk) {guard}s{k} <= {nxt};"]
        for pin, function in f["cell"].outputs.items():
            out = f["pins"].get(pin)
            if out is not None and not isinstance(out, tuple):
                lines.append(f"assign #({delay[0, out]}, {delay[1, out]}) n{out} = "
                             f"{_verilog(parse_boolean(function), state)};")
                latest[out] = delay[:, out].max()
    for g in netlist.gates:
        sources = [g["pins"].get(pin, ("const", 0)) for pin in g["cell"].inputs]
        names = {pin: _ref(src) for pin, src in zip(g["cell"].inputs, sources)}
        driven = [src for src in sources if not isinstance(src, tuple)]
        start = max((latest[src] for src in driven), default=0)
        for pin, function in g["cell"].outputs.items():
            out = g["pins"].get(pin)
            if out is None or isinstance(out, tuple):
                continue
            lines += [f"reg f{out};", f"{'always @*' if driven else 'initial'} f{out} = "
                                      f"{_verilog(parse_boolean(function), names)};",
                      f"assign #({delay[0, out]}, {delay[1, out]}) n{out} = f{out};"]
            latest[out] = start + delay[:, out].max()
    period = 2 * int(latest.max()) + 1000
    lines += [f"integer c{i} = 0;\nalways @(n{i}) if (counting) c{i} = c{i} + 1;" for i in range(netlist.net_count)]

    def drive(cycle, op):
        return [f"p_{name} {op} {len(bits)}'d{_value(cycle[name], stream)};" for name, bits in ports.items()
                if name in cycle]

    body = drive(inputs[0], "=")
    for cycle in inputs[1:]:  # the new inputs after the edge's registers read the old values
        body += [f"#{period // 2} clk = 0;", f"#{period - period // 2} counting = 1; clk = 1;", *drive(cycle, "<=")]
    body += [f"#{period};"] + [f'$display("%0d %0d", {i}, c{i});' for i in range(netlist.net_count)] + ["$finish;"]
    return "\n".join(lines + ["initial begin", *body, "end", "endmodule"]) + "\n"


def icarus_transitions(timed: TimedNetlist, inputs: list[dict], *, stream: int = 0,
                       timeout_s: float = 600) -> np.ndarray:
    """Per net, the transitions Icarus Verilog counts in :func:`timed_testbench` (cycles 1…)."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise IverilogError("iverilog/vvp not found on PATH (Debian: apt-get install iverilog)")
    with tempfile.TemporaryDirectory(prefix="hwmodel-timed-") as tmp:
        tmp = Path(tmp)
        (tmp / "timed.v").write_text(timed_testbench(timed, inputs, stream=stream))
        for cmd in (["iverilog", "-o", str(tmp / "timed.vvp"), str(tmp / "timed.v")], ["vvp", "-n", str(tmp / "timed.vvp")]):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
            if run.returncode != 0:
                raise IverilogError(f"{cmd[0]} failed:\n" + "\n".join((run.stdout + run.stderr).splitlines()[-20:]))
    counts = np.zeros(timed.netlist.net_count, np.int64)
    for line in run.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            counts[int(parts[0])] = int(parts[1])
    return counts
