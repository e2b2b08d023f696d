"""Anyone's RTL through the same flow: area by module, cells, critical path and energy.

:func:`characterize_verilog` reads Verilog (and the SystemVerilog Yosys reads: ``read_verilog
-sv``) from the user's own files, elaborates the top module with the parameters given, and runs
the flow the MACs run — ``synth``, ``dfflibmap`` and ``abc`` onto the library, ``stat -json`` for
area, the flattened netlist for timing (the same timer: NLDM tables with the wire-load model by
default) and for energy (every net's transitions, simulated cycle by cycle, 64 independent runs
per machine word, and the glitches of the timed simulation on top). The stimulus is
either uniformly random bits on every input but the clock (the reset, if there is one, held
active for the first two cycles), or a CSV the user supplies (one row per cycle, a column per
input). Outputs can be checked against a CSV of expected values (sampled in each cycle, after
its inputs, before its clock edge); without one the energy is reported as **unverified** — the
netlist computed something, nobody said what it should be.

One clock domain: every flip-flop clocked by the same input port (a purely combinational design
is evaluated once per cycle, with no clock energy). Latches are refused.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtl.errors import FieldError
from rtl.flow.energy import GLITCH_STREAMS, account_energy, glitch_energy_pj
from rtl.flow.gatesim import GateNetlist, pack_bits
from rtl.flow.synth import YosysError, _tail, run_yosys, yosys_version
from rtl.flow.timing import arrival_ns
from rtl.tech.technology import technology

__all__ = ["VerilogCost", "characterize_verilog", "RESET_NAMES"]

RESET_NAMES = ("rst", "reset", "rst_n", "reset_n", "rstn", "resetn", "nrst", "arst", "arst_n", "areset", "areset_n")
"""Input ports taken for a reset (case-insensitive); a name ending in ``n`` is active low."""


@dataclass(frozen=True)
class VerilogCost:
    """The flow's figures for a user's module (energies per cycle of the stimulus, in pJ)."""

    top: str
    library: str
    parameters: dict
    area_um2: float
    sequential_area_um2: float
    module_area_um2: dict      # module name → {"instances", "area_um2_each", "area_um2"} (own cells)
    cells_by_type: dict
    cell_count: int
    critical_path_ns: float
    clock_port: str | None
    reset_port: str | None
    inputs: dict               # port → width
    outputs: dict
    clock_ns: float
    stimulus: str
    cycles: int
    runs: int
    energy_pj_per_cycle: float
    energy_breakdown_pj_per_cycle: dict
    input_energy_pj_per_cycle: float  # of the total: the input ports' nets (their load, as switched)
    leakage_nw: float
    verified: bool
    provenance: dict

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def _yosys_error(error: YosysError, files) -> FieldError:
    """The first ERROR line of Yosys's log (it names the file and line), as a FieldError naming
    the user's files rather than the copies Yosys read."""
    lines = [line.strip() for line in error.log_tail.splitlines() if "ERROR" in line]
    message = lines[0] if lines else str(error).splitlines()[0]
    for i, f in enumerate(files):
        message = message.replace(_copy_name(i, f), str(f))
    return FieldError("verilog", message, None)


def _copy_name(i: int, f: Path) -> str:
    return f"src{i}/{f.name}"


def _read_lines(files, work: Path) -> list[str]:
    """Copies of the files in the work directory (Yosys compiled to WebAssembly sees only that)
    and the commands reading them."""
    lines = []
    for i, f in enumerate(files):
        (work / f"src{i}").mkdir(exist_ok=True)
        (work / _copy_name(i, f)).write_bytes(f.read_bytes())
        lines.append(f"read_verilog -sv {_copy_name(i, f)}")
    return lines


def _elaborate(files, top: str | None, tool: str, timeout_s: float) -> tuple[str, dict, list[str]]:
    """(the top module's name, its declared parameters, every module's name) from a first pass."""
    with tempfile.TemporaryDirectory(prefix="hwmodel-verilog-") as tmp:
        work = Path(tmp)
        lines = _read_lines(files, work) + [f"hierarchy -check {'-top ' + top if top else '-auto-top'}",
                                      "proc", "write_json design.json"]
        if top:  # say which modules exist when the named one does not
            lines.insert(len(files), "tee -q -o modules.json ls")
        try:
            run_yosys(lines, work, tool, timeout_s)
        except YosysError as error:
            tail = error.log_tail
            if top and re.search(r"Module `\\?%s' not found|does not exist" % re.escape(top), tail):
                names = sorted(set(re.findall(r"^\s+(\S+)$", (work / "modules.json").read_text(), re.M))) \
                    if (work / "modules.json").exists() else []
                raise FieldError("top", f"no module {top!r} in {', '.join(map(str, files))}"
                                 + (f"; modules: {', '.join(n.lstrip(chr(92)) for n in names)}" if names else ""),
                                 None) from None
            raise _yosys_error(error, files) from None
        design = json.loads((work / "design.json").read_text())
    modules = design["modules"]
    name = top or next(n for n, m in modules.items() if m.get("attributes", {}).get("top"))
    name = name.lstrip("\\")
    module = modules.get(name) or modules.get("\\" + name)
    defaults = module.get("parameter_default_values", {}) if module else {}
    return name, defaults, sorted(n.lstrip("\\") for n in modules)


def _parameters(params: dict, declared: dict, top: str) -> dict:
    out = {}
    for key, value in params.items():
        if key not in declared:
            raise FieldError("param", f"{top} has no parameter {key!r}"
                             + (f"; its parameters: {', '.join(sorted(declared))}" if declared else
                                "; it declares none"), None)
        text = str(value).strip()
        if not re.fullmatch(r"-?\d+|'?[bodhBODH][0-9a-fA-FxXzZ_]+|\d+'[sS]?[bodhBODH][0-9a-fA-F_]+|\"[^\"]*\"", text):
            raise FieldError("param", f"parameter {key}: {value!r} is not a Verilog number or string", None)
        out[key] = text
    return out


def _pretty(name: str) -> str:
    """A module name as its source wrote it: ``$paramod\\adder\\W=s32'…1000`` → ``adder (W=8)``."""
    if not name.startswith("$paramod"):
        return name
    parts = name.split("\\")[1:]
    params = []
    for item in parts[1:]:
        key, _, value = item.partition("=")
        bits = value.split("'")[-1]
        params.append(f"{key}={int(bits, 2)}" if bits and set(bits) <= {"0", "1"} else item)
    return f"{parts[0]} ({', '.join(params)})" if parts else name


def _module_areas(stat: dict, top: str, cells) -> tuple[dict, dict, float]:
    """Area by module (own library cells per instance × instances under the top), cells by type
    and the total."""
    modules = {raw.lstrip("\\"): m for raw, m in stat["modules"].items()}
    own, children = {}, {}
    by_type_own = {}
    for name, m in modules.items():
        area, kids, types = 0.0, {}, {}
        for cell, count in m.get("num_cells_by_type", {}).items():
            if cell.lstrip("\\") in modules:
                kids[cell.lstrip("\\")] = kids.get(cell.lstrip("\\"), 0) + count
            elif cell in cells.cells:
                area += cells.cells[cell].area_um2 * count
                types[cell] = count
            else:
                raise FieldError("verilog", f"module {name} keeps a {cell!r} cell after mapping, which library "
                                            f"{cells.name} does not have (an unmapped latch, memory or blackbox?)", cell)
        own[name], children[name], by_type_own[name] = area, kids, types
    instances = dict.fromkeys(modules, 0)

    def visit(name, times):
        instances[name] += times
        for child, count in children[name].items():
            visit(child, times * count)
    visit(top, 1)
    by_module = {_pretty(name): {"instances": n, "area_um2_each": own[name], "area_um2": own[name] * n}
                 for name, n in instances.items() if n}
    by_type = {}
    for name, n in instances.items():
        for cell, count in by_type_own[name].items():
            by_type[cell] = by_type.get(cell, 0) + count * n
    return by_module, dict(sorted(by_type.items())), sum(v["area_um2"] for v in by_module.values())


def _input_nets(netlist: GateNetlist) -> dict:
    """Net index → the input port driving it."""
    return {netlist._net_index(b): name for name, (d, bits) in netlist.ports.items() if d == "input"
            for b in bits if not isinstance(b, str)}


def _clock_and_reset(netlist: GateNetlist) -> tuple[str | None, str | None]:
    inputs = {name: bits for name, (d, bits) in netlist.ports.items() if d == "input"}
    net_of = _input_nets(netlist)
    clocks = set()
    for f in netlist.flops:
        pin = f["cell"].flip_flop["clocked_on"]
        net = f["pins"].get(pin)
        if net is None or isinstance(net, tuple) or net not in net_of:
            raise FieldError("verilog", f"flip-flop {f['name']} is clocked by an internal net (a gated or derived "
                                        "clock): one clock input port drives every flip-flop here", None)
        clocks.add(net_of[net])
    if len(clocks) > 1:
        raise FieldError("verilog", f"flip-flops are clocked by {', '.join(sorted(clocks))}: one clock domain is "
                                    "supported", None)
    clock = clocks.pop() if clocks else None
    resets = [n for n in inputs if n.lower() in RESET_NAMES and n != clock and len(inputs[n]) == 1]
    return clock, (resets[0] if resets else None)


def _read_csv(path: Path, columns: dict, role: str) -> tuple[list[dict], str]:
    """Rows of integers (decimal, 0x hex, 0b binary) for ``columns`` (name → width), checked."""
    try:
        text = path.read_text()
    except OSError as error:
        raise FieldError(role, f"{path}: cannot read it ({error.strerror})", None) from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing or unknown:
        raise FieldError(role, f"{path}: " + "; ".join(
            ([f"no column for {', '.join(missing)}"] if missing else [])
            + ([f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not "
                f"{'an input' if role == 'stimulus' else 'an output'} of the module"] if unknown else []))
            + f" (its {'inputs' if role == 'stimulus' else 'outputs'}: {', '.join(columns)})", None)
    rows = []
    for number, row in enumerate(reader, start=2):
        values = {}
        for name, width in columns.items():
            raw = (row.get(name) or "").strip()
            try:
                value = int(raw, 0)
            except ValueError:
                raise FieldError(role, f"{path}, row {number}, column {name}: {raw!r} is not an integer", None) from None
            if value < -(1 << (width - 1)) or value >= (1 << width):
                raise FieldError(role, f"{path}, row {number}, column {name}: {value} does not fit the port's "
                                       f"{width} bit(s)", None)
            values[name] = value & ((1 << width) - 1)
        rows.append(values)
    if not rows:
        raise FieldError(role, f"{path}: no rows", None)
    return rows, hashlib.sha256(text.encode()).hexdigest()


def characterize_verilog(files, library: str = "sky130hd_tt", *, top: str | None = None, params: dict | None = None,
                         stimulus: str | Path | None = None, expect: str | Path | None = None, cycles: int = 1000,
                         clock_ns: float | None = None, seed: int = 0, tool: str = "yowasp",
                         timeout_s: float = 600, wire_load: bool = True, timer: str = "nldm",
                         glitches: bool = True) -> VerilogCost:
    """Synthesize, time and simulate a user's module (see the module docstring); ``wire_load``,
    ``timer`` and ``glitches`` as :func:`rtl.flow.characterize.characterize` takes them."""
    files = [Path(f).resolve() for f in (files if isinstance(files, (list, tuple)) else [files])]
    for f in files:
        if not f.is_file():
            raise FieldError("verilog", "no such file", str(f))
    if not isinstance(cycles, int) or isinstance(cycles, bool) or cycles < 1:
        raise FieldError("cycles", f"cycles must be a positive integer, not {cycles!r}", cycles)
    tech = technology(str(library))
    name, declared, _ = _elaborate(files, top, tool, timeout_s)
    parameters = _parameters(dict(params or {}), declared, name)
    chparam = " ".join(f"-chparam {k} {v}" for k, v in parameters.items())
    excluded = " ".join(f"-dont_use {p}" for p in tech.dont_use)
    with tempfile.TemporaryDirectory(prefix="hwmodel-verilog-") as tmp:
        work = Path(tmp)
        (work / "cells.lib").write_text(tech.liberty_text)
        lines = _read_lines(files, work) + [
            f"hierarchy -check -top {name} {chparam}".rstrip(), f"synth -top {name}",
            "tee -q -o latches.txt select -count t:$_DLATCH_* t:$_DLATCHSR_* t:$_SR_* t:$dlatch t:$adlatch",
            f"dfflibmap -liberty cells.lib {excluded}".rstrip(), f"abc -liberty cells.lib {excluded}".rstrip(),
            "opt_clean -purge", "tee -q -o stat.json stat -json -liberty cells.lib",
            "flatten", "opt_clean -purge", "write_json netlist.json"]
        try:
            run_yosys(lines, work, tool, timeout_s)
        except YosysError as error:
            raise _yosys_error(error, files) from None
        latches = re.search(r"(\d+) objects", (work / "latches.txt").read_text())
        if latches and int(latches.group(1)):
            raise FieldError("verilog", f"{name} infers {latches.group(1)} latch(es) (a combinational always block "
                                        "that does not assign every output on every path?): the flow maps edge-"
                                        "triggered flip-flops only", None)
        stat = json.loads((work / "stat.json").read_text())
        netlist_json = json.loads((work / "netlist.json").read_text())
    by_module, by_type, area = _module_areas(stat, name, tech.cells)
    module = netlist_json["modules"].get(name) or next(iter(netlist_json["modules"].values()))
    netlist = GateNetlist(module, tech.cells, wire_load=wire_load)
    clock, reset = _clock_and_reset(netlist)
    inputs = {n: len(bits) for n, (d, bits) in netlist.ports.items() if d == "input" and n != clock}
    outputs = {n: len(bits) for n, (d, bits) in netlist.ports.items() if d == "output"}
    critical = arrival_ns(netlist, timer)
    clock_used = float(clock_ns) if clock_ns is not None else max(critical, 1e-3)
    if stimulus is None:
        words, rng = 4, np.random.default_rng(seed)
        vectors = []
        for t in range(cycles):
            cycle = {}
            for port, width in inputs.items():
                if port == reset:
                    active = 0 if port.lower().endswith("n") else 1
                    value = np.full(64 * words, active if t < 2 else 1 - active, np.int64)
                elif width <= 62:
                    value = rng.integers(0, 1 << width, 64 * words)
                else:  # wider than int64: Python integers
                    value = np.array([int.from_bytes(rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)
                                      for _ in range(64 * words)], dtype=object)
                cycle[port] = pack_bits(value, width)
            vectors.append(cycle)
        source = f"uniform random bits, {cycles} cycles × {64 * words} runs, seed {seed}" + (
            f", {reset} active for 2 cycles" if reset else "")
        stimulus_digest = None
    else:
        rows, stimulus_digest = _read_csv(Path(stimulus), inputs, "stimulus")
        words = 1
        vectors = [{port: pack_bits(np.full(64, row[port], dtype=object if inputs[port] > 62 else np.int64),
                                    inputs[port]) for port in inputs} for row in rows]
        source = f"{Path(stimulus).name} (sha256 {stimulus_digest[:12]}…), {len(rows)} cycles"
    record = bool(expect)
    result = netlist.simulate(vectors, words, record=record)
    verified = False
    if expect:
        wanted, _ = _read_csv(Path(expect), outputs, "expect")
        if len(wanted) != len(vectors):
            raise FieldError("expect", f"{expect}: {len(wanted)} rows for {len(vectors)} stimulus cycles", None)
        for t, (want, got) in enumerate(zip(wanted, result.recorded)):
            for port in outputs:
                if got[port][0] != want[port]:
                    raise FieldError("expect", f"{expect}, row {t + 2}, column {port}: the netlist gives "
                                               f"{got[port][0]:#x}, expected {want[port]:#x}", None)
        verified = True
    runs = 64 * words
    steps = len(vectors) * runs
    parts = account_energy(netlist, result.toggles, steps, clock_used, tech.cells.voltage_v,
                           clocked=clock is not None, gated_cycles=result.gated_cycles)
    if glitches:  # every stimulus row drives all 64 runs of a word alike: one word is enough then
        glitch, simulated = glitch_energy_pj(netlist, vectors, words, timer, tech.cells.voltage_v,
                                             streams=64 if stimulus else GLITCH_STREAMS)
        parts["glitches"] = glitch * runs / simulated
    total = sum(parts.values())
    # what the input ports' nets take (their wires' and the receiving pins' charge): a stand-alone
    # unit is charged for it here, though whatever drives the unit pays it in a design
    driven = np.zeros(netlist.net_count, bool)
    driven[np.array([net for net, port in _input_nets(netlist).items() if port != clock], np.int64)] = True
    inputs_only = account_energy(netlist, np.where(driven, result.toggles, 0), steps, clock_used,
                                 tech.cells.voltage_v, clocked=False)
    parts_share = {"input_nets": inputs_only["switching"] + inputs_only["internal"]}
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    return VerilogCost(
        top=name, library=tech.name, parameters=parameters, area_um2=area,
        sequential_area_um2=sum(tech.cells.cells[c].area_um2 * n for c, n in by_type.items()
                                if tech.cells.cells[c].is_sequential),
        module_area_um2=by_module, cells_by_type=by_type, cell_count=int(sum(by_type.values())),
        critical_path_ns=critical, clock_port=clock, reset_port=reset, inputs=inputs, outputs=outputs,
        clock_ns=clock_used, stimulus=source, cycles=len(vectors), runs=runs,
        energy_pj_per_cycle=total / steps, energy_breakdown_pj_per_cycle={k: v / steps for k, v in parts.items()},
        input_energy_pj_per_cycle=parts_share["input_nets"] / steps,
        leakage_nw=netlist.leakage_nw, verified=verified,
        provenance={"yosys": yosys_version(tool), "library": tech.cells.provenance.get("library", tech.name),
                    "library_sha256": tech.cells.provenance.get("sha256", tech.digest),
                    "voltage_v": tech.cells.voltage_v, "verilog_files": [str(f) for f in files],
                    "verilog_sha256": digest, "stimulus_sha256": stimulus_digest,
                    "energy": "verified against the expected outputs" if verified else
                              "unverified: no expected outputs were given",
                    "timer": timer + (" with the library's wire-load model" if wire_load else ""),
                    "glitches": f"glitch-aware ({timer} delays)" if glitches else "zero-delay"})
