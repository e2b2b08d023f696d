"""Standard-cell data: the compact per-cell table derived from a liberty file.

Per cell: its boolean function (or flip-flop behaviour), area, input pin capacitances, internal
energy per output transition (and per input transition, e.g. a flip-flop's clock), leakage, and
a linear delay model ``delay = delay_ns + delay_ns_per_pf · load``. All values are read from the
liberty's NLDM tables at one reference point — the input slew and the fanout-of-4 load of the
library's smallest inverter — and held in common units (µm², pF, pJ, nW, ns, V).

The project ships two such tables in ``rtl/data`` (SkyWater sky130_fd_sc_hd tt 25 °C 1.80 V,
Nangate45 typical), each recording its source file's SHA-256 and the reference point; they are
regenerated with ``hwmodel data cells LIBERTY -o rtl/tech/data/NAME.json``. Any full liberty can be
used directly instead (:func:`load_library` with a path).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
import types
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from rtl.tech.liberty import Group, LibertyError, parse_boolean, parse_liberty, read_liberty_text

__all__ = ["Cell", "CellLibrary", "derive_library", "load_library", "write_minimal_liberty",
           "EMBEDDED_LIBRARIES", "DONT_USE"]

EMBEDDED_LIBRARIES = {"sky130hd_tt": "sky130hd_tt.json", "nangate45_typ": "nangate45_typ.json"}

# Cells a real flow keeps out of technology mapping (isolation/retention, probes, delay cells,
# the strongest drivers, fill/tap/decap/antenna cells, tie cells, clock gates).
DONT_USE = {
    "sky130": ["*lpflow_*", "*probe*", "*clkdly*", "*dlygate*", "*dlymetal*", "*_16", "*_12",
               "*fill*", "*tap*", "*decap*", "*diode*", "*conb*", "*macro_sparecell*",
               "*clkinvlp*", "*dlclkp*", "*sdlclkp*"],
    "nangate": ["FILLCELL*", "ANTENNA*", "TAPCELL*", "LOGIC0*", "LOGIC1*", "CLKGATE*", "*_X32",
                "*_X16"],
}


@dataclass(frozen=True)
class Cell:
    """One standard cell in common units."""

    name: str
    area_um2: float
    inputs: dict            # pin → capacitance_pf
    input_energy_pj: dict   # pin → internal energy per transition of that input (clock pins)
    outputs: dict           # pin → liberty function (of inputs, or of the flip-flop state)
    leakage_nw: float
    internal_energy_pj: float
    delay_ns: float
    delay_ns_per_pf: float
    flip_flop: dict | None = None  # state, state_inverted, clocked_on, next_state, clear, preset
    dont_use: bool = False
    clock_gate: dict | None = None  # an integrated clock gate: kind, clock, enable, test ("" if none), output

    @property
    def is_sequential(self) -> bool:
        return self.flip_flop is not None

    @property
    def is_clock_gate(self) -> bool:
        return self.clock_gate is not None


@dataclass(frozen=True)
class CellLibrary:
    name: str
    voltage_v: float
    cells: dict
    provenance: dict = field(default_factory=dict)

    @property
    def nand2(self) -> Cell:
        """The smallest two-input NAND, the unit of NAND2-equivalent gate counts."""
        nands = [c for c in self.cells.values() if not c.is_sequential and len(c.inputs) == 2
                 and len(c.outputs) == 1 and _is_nand2(next(iter(c.outputs.values())), list(c.inputs))]
        if not nands:
            raise ValueError(f"library {self.name} has no two-input NAND cell")
        return min(nands, key=lambda c: (c.area_um2, c.name))

    def cell(self, name: str) -> Cell:
        try:
            return self.cells[name]
        except KeyError:
            raise ValueError(f"library {self.name} has no cell {name!r}") from None

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "voltage_v": self.voltage_v,
                           "provenance": self.provenance,
                           "cells": [asdict(c) for c in self.cells.values()]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "CellLibrary":
        data = json.loads(text)
        cells = {c["name"]: Cell(**c) for c in data["cells"]}
        return cls(data["name"], data["voltage_v"], types.MappingProxyType(cells), data["provenance"])


def _is_nand2(function: str, pins: list[str]) -> bool:
    from itertools import product
    tree = parse_boolean(function)
    return all(evaluate_boolean(tree, dict(zip(pins, bits))) == (not all(bits))
               for bits in product([False, True], repeat=2))


def evaluate_boolean(tree, values: dict):
    """Evaluate a parsed boolean function on plain bools or numpy integer words."""
    op = tree[0]
    if op == "var":
        return values[tree[1]]
    if op == "const":
        return bool(tree[1])
    if op == "not":
        v = evaluate_boolean(tree[1], values)
        return (not v) if isinstance(v, bool) else ~v
    a, b = evaluate_boolean(tree[1], values), evaluate_boolean(tree[2], values)
    if op == "and":
        return a & b
    if op == "or":
        return a | b
    return a ^ b


# ----- derivation from a full liberty -----------------------------------------------------
_UNIT = re.compile(r"\s*([0-9.eE+-]*)\s*([a-zA-Z]+)\s*")
_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15,
          "w": 1.0, "mw": 1e-3, "uw": 1e-6, "nw": 1e-9, "pw": 1e-12,
          "f": 1.0, "pf": 1e-12, "ff": 1e-15, "nf": 1e-9, "v": 1.0, "mv": 1e-3}


def _unit(text: str, target: str) -> float:
    match = _UNIT.fullmatch(str(text).strip('"'))
    if not match or match.group(2).lower() not in _SCALE:
        raise ValueError(f"unrecognised unit {text!r}")
    number = float(match.group(1) or 1.0)
    return number * _SCALE[match.group(2).lower()] / _SCALE[target]


def _floats(text) -> list[float]:
    if isinstance(text, tuple):
        text = ",".join(text)
    return [float(v) for v in str(text).replace("\\", " ").replace('"', " ").replace(",", " ").split()]


class _Tables:
    """NLDM table lookup with the library's templates (bilinear, clamped to the table)."""

    def __init__(self, library: Group):
        self.templates = {}
        for kind in ("lu_table_template", "power_lut_template"):
            for t in library.children(kind):
                self.templates[t.name] = t

    def value(self, table: Group, slew: float, load: float) -> float:
        template = self.templates.get(table.name)
        variables = []
        for i in (1, 2):
            var = (template.attributes.get(f"variable_{i}") if template else None) or ""
            index = table.attributes.get(f"index_{i}") or (template.attributes.get(f"index_{i}") if template else None)
            if index is not None:
                variables.append((var, _floats(index)))
        values = _floats(table.attributes.get("values", ()))
        if not values:
            raise LibertyError(f"line {table.line}: table {table.kind} has no values")
        if not variables or len(values) == 1:
            return values[0]

        def point(var):
            return load if "capacitance" in var else slew

        if len(variables) == 1:
            return _interp(variables[0][1], values, point(variables[0][0]))
        (v1, i1), (v2, i2) = variables
        rows = [values[r * len(i2):(r + 1) * len(i2)] for r in range(len(i1))]
        along = [_interp(i2, row, point(v2)) for row in rows]
        return _interp(i1, along, point(v1))


def _interp(index: list[float], values: list[float], x: float) -> float:
    if len(index) == 1:
        return values[0]
    x = min(max(x, index[0]), index[-1])
    for k in range(len(index) - 1):
        if x <= index[k + 1]:
            lo, hi = index[k], index[k + 1]
            t = 0.0 if hi == lo else (x - lo) / (hi - lo)
            return values[k] + t * (values[k + 1] - values[k])
    return values[-1]


def _pin_groups(cell: Group):
    for pin in cell.children("pin"):
        for name in pin.args:
            yield name, pin


def derive_library(path: str | Path, name: str | None = None,
                   dont_use: list[str] | None = None) -> CellLibrary:
    """Read a full liberty and reduce it to a :class:`CellLibrary`."""
    path = Path(path)
    text = read_liberty_text(path)
    library = parse_liberty(path, text)
    attrs = library.attributes
    time_ns = _unit(attrs.get("time_unit", "1ns"), "ns")
    cap = attrs.get("capacitive_load_unit", ("1", "pf"))
    cap_pf = float(cap[0]) * _SCALE[cap[1].strip('"').lower()] / _SCALE["pf"]
    leak_nw = _unit(attrs.get("leakage_power_unit", "1nW"), "nw")
    voltage = float(attrs.get("nom_voltage") or library.child("operating_conditions").attributes["voltage"])
    energy_pj = cap_pf * 1.0  # internal power tables hold energy in capacitance unit × V²
    tables = _Tables(library)
    cells = library.children("cell")
    if not cells:
        raise LibertyError(f"{path}: no cells found")
    patterns = dont_use if dont_use is not None else (
        DONT_USE["sky130"] if "sky130" in library.name else DONT_USE["nangate"] if "Nangate" in library.name else [])

    # reference point: fanout-of-4 load and the output slew of the smallest inverter
    inverters = []
    for cell in cells:
        pins = dict(_pin_groups(cell))
        outs = [p for p in pins.values() if p.attributes.get("direction") == "output"]
        ins = [p for p in pins.values() if p.attributes.get("direction") == "input"]
        if len(outs) == 1 and len(ins) == 1 and "function" in outs[0].attributes:
            tree = parse_boolean(outs[0].attributes["function"])
            if tree == ("not", ("var", ins[0].args[0])):
                inverters.append((float(cell.attributes.get("area", 0)), cell, ins[0], outs[0]))
    if not inverters:
        raise LibertyError(f"{path}: no inverter cell to set the reference load")
    _, inv, inv_in, inv_out = min(inverters, key=lambda x: x[0])
    load_ref = 4 * float(inv_in.attributes.get("capacitance", 0))
    slew_ref = 0.0
    for _ in range(3):
        trans = [tables.value(t, slew_ref, load_ref) for tm in inv_out.children("timing")
                 for t in tm.groups if t.kind in ("rise_transition", "fall_transition")]
        if not trans:  # a library without timing: delays will be zero
            break
        slew_ref = sum(trans) / len(trans)

    out = {}
    for cell in cells:
        try:
            out[cell.name] = _derive_cell(cell, tables, slew_ref, load_ref, cap_pf, time_ns, leak_nw,
                                          energy_pj, patterns)
        except (ValueError, KeyError) as error:
            raise LibertyError(f"{path}:{cell.line}: cell {cell.name}: {error}") from None
    out = {k: v for k, v in out.items() if v is not None}
    wire_load = _wire_load(library, cap_pf)
    provenance = {
        "source": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "library": library.name, "voltage_v": voltage,
        "operating_conditions": attrs.get("default_operating_conditions", ""),
        "reference_slew_ns": slew_ref * time_ns, "reference_load_pf": load_ref * cap_pf,
        "reference": f"slew and fanout-of-4 load of {inv.name}",
        "dont_use": patterns,
    }
    if wire_load is not None:
        provenance["wire_load"] = wire_load
    return CellLibrary(name or library.name, voltage, types.MappingProxyType(out), provenance)


def _wire_load(library: Group, cap_pf: float) -> dict | None:
    """The library's default wire-load model: capacitance per unit length (pF), the length per
    extra fanout beyond the table (``slope``) and the table of (fanout, length)."""
    chosen = library.attributes.get("default_wire_load")
    models = {g.name.strip('"'): g for g in library.children("wire_load")}
    if not chosen or str(chosen).strip('"') not in models:
        return None
    model = models[str(chosen).strip('"')]
    table = sorted((int(float(f)), float(length)) for f, length in model.repeated.get("fanout_length", []))
    return {"name": str(chosen).strip('"'), "capacitance_pf_per_length": float(model.attributes["capacitance"]) * cap_pf,
            "slope": float(model.attributes.get("slope", 0.0)), "fanout_length": [list(row) for row in table]}


def wire_capacitance_pf(model: dict, fanout: int) -> float:
    """A net's wire capacitance for ``fanout`` receiving pins from a wire-load model (liberty's
    rule: the table's length, or past its end the last length plus ``slope`` per extra pin)."""
    if fanout <= 0 or not model["fanout_length"]:
        return 0.0
    lengths = dict((int(f), length) for f, length in model["fanout_length"])
    if fanout in lengths:
        length = lengths[fanout]
    else:
        below = [f for f in lengths if f < fanout]
        above = [f for f in lengths if f > fanout]
        if below and above:  # between two entries: linear
            lo, hi = max(below), min(above)
            length = lengths[lo] + (lengths[hi] - lengths[lo]) * (fanout - lo) / (hi - lo)
        elif below:
            last = max(below)
            length = lengths[last] + model["slope"] * (fanout - last)
        else:
            length = lengths[min(above)] * fanout / min(above)
    return length * model["capacitance_pf_per_length"]


def _flag(pin: Group, name: str) -> bool:
    return str(pin.attributes.get(name, "false")).strip('"').lower() == "true"


def _derive_cell(cell: Group, tables: _Tables, slew, load, cap_pf, time_ns, leak_nw, energy_pj, patterns):
    pins = dict(_pin_groups(cell))
    gating = str(cell.attributes.get("clock_gating_integrated_cell", "")).strip('"')
    inputs, input_energy, outputs = {}, {}, {}
    delays_ref, delays_2x, energies = [], [], []
    for name, pin in pins.items():
        direction = pin.attributes.get("direction", "").strip('"')
        if direction == "input":
            c = pin.attributes.get("capacitance")
            if c is None:
                c = (float(pin.attributes.get("rise_capacitance", 0)) + float(pin.attributes.get("fall_capacitance", 0))) / 2
            inputs[name] = float(c) * cap_pf
            powers = [tables.value(t, slew, load) for ip in pin.children("internal_power")
                      for t in ip.groups if t.kind in ("rise_power", "fall_power")]
            if powers:
                input_energy[name] = max(sum(powers) / len(powers), 0.0) * energy_pj
        elif direction == "output":
            if "three_state" in pin.attributes:
                return None  # tristate drivers are outside this model
            if gating and _flag(pin, "clock_gate_out_pin"):
                outputs[name] = ""  # a gated clock: its function is set below from the gate's pins
            elif "function" not in pin.attributes:
                return None  # e.g. analog or special outputs
            else:
                outputs[name] = pin.attributes["function"]
            for timing in pin.children("timing"):
                for t in timing.groups:
                    if t.kind in ("cell_rise", "cell_fall"):
                        delays_ref.append(tables.value(t, slew, load))
                        delays_2x.append(tables.value(t, slew, 2 * load))
            powers = [tables.value(t, slew, load) for ip in pin.children("internal_power")
                      for t in ip.groups if t.kind in ("rise_power", "fall_power")]
            energies += powers
    clock_gate = None
    if gating.startswith("latch_posedge"):  # a latch-based gate of rising-edge clocks, modelled by its pins' roles
        role = {key: next((n for n, p in pins.items() if _flag(p, f"clock_gate_{key}_pin")), "")
                for key in ("clock", "enable", "test", "out")}
        if not (role["clock"] and role["enable"] and role["out"] in outputs):
            return None
        clock_gate = {"kind": gating, "clock": role["clock"], "enable": role["enable"], "test": role["test"],
                      "output": role["out"]}
        gate = role["enable"] if not role["test"] else f"({role['enable']}|{role['test']})"
        outputs = {role["out"]: f"({role['clock']}&{gate})"}
    elif not outputs or cell.children("latch") or cell.children("statetable"):
        return None
    flip_flop = None
    ff = cell.child("ff")
    if ff is not None:
        flip_flop = {"state": ff.args[0], "state_inverted": ff.args[1] if len(ff.args) > 1 else "",
                     "clocked_on": ff.attributes.get("clocked_on", ""),
                     "next_state": ff.attributes.get("next_state", ""),
                     "clear": ff.attributes.get("clear", ""), "preset": ff.attributes.get("preset", "")}
    for function in outputs.values():
        parse_boolean(function)  # reject what the simulator could not evaluate
    d_ref = sum(delays_ref) / len(delays_ref) if delays_ref else 0.0
    d_2x = sum(delays_2x) / len(delays_2x) if delays_2x else 0.0
    slope = (d_2x - d_ref) / load if load else 0.0
    return Cell(
        name=cell.name, area_um2=float(cell.attributes.get("area", 0.0)), inputs=inputs,
        input_energy_pj=input_energy, outputs=outputs,
        leakage_nw=float(cell.attributes.get("cell_leakage_power", 0.0)) * leak_nw,
        internal_energy_pj=max(sum(energies) / len(energies), 0.0) * energy_pj if energies else 0.0,
        delay_ns=max(d_ref - slope * load, 0.0) * time_ns, delay_ns_per_pf=slope * time_ns / cap_pf,
        flip_flop=flip_flop,
        dont_use=any(fnmatch.fnmatch(cell.name, p) for p in patterns)
        or cell.attributes.get("dont_use", "false").strip('"') == "true",
        clock_gate=clock_gate,
    )


# ----- loading ----------------------------------------------------------------------------
def load_library(name_or_path: str | Path) -> CellLibrary:
    """An embedded library by name (``sky130hd_tt``, ``nangate45_typ``) or a liberty file path."""
    key = str(name_or_path)
    if key in EMBEDDED_LIBRARIES:
        text = resources.files("rtl.tech").joinpath("data", EMBEDDED_LIBRARIES[key]).read_text()
        return CellLibrary.from_json(text)
    path = Path(key)
    if not path.exists():
        raise ValueError(f"unknown library {key!r}: not an embedded library "
                         f"({', '.join(EMBEDDED_LIBRARIES)}) and no such file")
    return derive_library(path)


# ----- a minimal liberty for Yosys and ABC ------------------------------------------------
def write_minimal_liberty(library: CellLibrary, include_dont_use: bool = False) -> str:
    """A liberty holding just what mapping needs: functions, areas, capacitances, flip-flops
    and a two-point delay table per arc from the linear delay model."""
    lines = [f"library ({re.sub(r'[^A-Za-z0-9_]', '_', library.name)}) {{",
             '  delay_model : table_lookup;', '  time_unit : "1ns";', '  voltage_unit : "1V";',
             '  current_unit : "1mA";', '  leakage_power_unit : "1nW";',
             '  pulling_resistance_unit : "1kohm";', '  capacitive_load_unit (1, pf);',
             f"  nom_voltage : {library.voltage_v};", "  nom_temperature : 25;", "  nom_process : 1;",
             "  default_max_transition : 10;",
             "  lu_table_template (hwmodel_delay) {", "    variable_1 : input_net_transition;",
             "    variable_2 : total_output_net_capacitance;",
             f'    index_1 ("{_SLEWS}");', f'    index_2 ("{_LOADS}");', "  }"]
    slew = library.provenance.get("reference_slew_ns", 0.05)
    for cell in library.cells.values():
        if cell.is_clock_gate:  # kept out of mapping (dont_use), but there for `clockgate -liberty`
            lines += _clock_gate_liberty(cell)
            continue
        if cell.dont_use and not include_dont_use:
            continue
        if not cell.is_sequential and len(cell.outputs) != 1:
            continue  # multi-output combinational cells (adders) are not used by ABC
        lines.append(f"  cell ({cell.name}) {{")
        lines.append(f"    area : {cell.area_um2:.6g};")
        lines.append(f"    cell_leakage_power : {cell.leakage_nw:.6g};")
        if cell.is_sequential:
            ff = cell.flip_flop
            lines.append(f'    ff ({ff["state"]}, {ff["state_inverted"] or ff["state"] + "_N"}) {{')
            for key in ("clocked_on", "next_state", "clear", "preset"):
                if ff[key]:
                    lines.append(f'      {key} : "{ff[key]}";')
            lines.append("    }")
        clock = cell.flip_flop["clocked_on"] if cell.is_sequential else ""
        for pin, c in cell.inputs.items():
            flags = " clock : true;" if pin in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", clock) else ""
            lines.append(f"    pin ({pin}) {{ direction : input; capacitance : {c:.6g};{flags} }}")
        delay = _linear_table(cell.delay_ns, cell.delay_ns_per_pf)
        transition = _linear_table(slew, 2 * cell.delay_ns_per_pf)
        for pin, function in cell.outputs.items():
            lines.append(f"    pin ({pin}) {{")
            lines.append("      direction : output; max_capacitance : 1.0; max_transition : 10;")
            lines.append(f'      function : "{function}";')
            related = [clock] if cell.is_sequential else list(cell.inputs)
            for rel in related:
                if not rel:
                    continue
                rel = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rel)[0]
                kind = ("timing_type : rising_edge;" if cell.is_sequential
                        else f"timing_sense : {_unateness(function, list(cell.inputs), rel)};")
                lines.append(f'      timing () {{ related_pin : "{rel}"; {kind}')
                for arc in ("cell_rise", "cell_fall"):
                    lines.append(f"        {arc} (hwmodel_delay) {{ {delay} }}")
                for arc in ("rise_transition", "fall_transition"):
                    lines.append(f"        {arc} (hwmodel_delay) {{ {transition} }}")
                lines.append("      }")
            lines.append("    }")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _clock_gate_liberty(cell: Cell) -> list[str]:
    """An integrated clock gate as Yosys's ``clockgate -liberty`` reads one: its kind and the
    roles of its pins."""
    gate = cell.clock_gate
    # not marked dont_use here: `clockgate` skips such cells; mapping never picks a cell without a function
    lines = [f"  cell ({cell.name}) {{", f"    area : {cell.area_um2:.6g};",
             f"    clock_gating_integrated_cell : {gate['kind']};"]
    for role in ("clock", "enable", "test"):
        if gate[role]:
            lines.append(f"    pin ({gate[role]}) {{ direction : input; capacitance : {cell.inputs[gate[role]]:.6g}; "
                         f"clock_gate_{role}_pin : true; }}")
    lines.append(f"    pin ({gate['output']}) {{ direction : output; clock_gate_out_pin : true; }}")
    lines.append("  }")
    return lines


_SLEWS = "0.01, 0.1, 1.0"
_LOADS = "0.001, 0.01, 0.1"


def _linear_table(intercept: float, slope: float) -> str:
    """A 3×3 NLDM table of the linear model (ABC's mappers need more than one point per axis)."""
    row = ", ".join(f"{intercept + slope * float(load):.6g}" for load in _LOADS.split(","))
    rows = ", ".join(f'"{row}"' for _ in _SLEWS.split(","))
    return f'index_1 ("{_SLEWS}"); index_2 ("{_LOADS}"); values ({rows});'


def _unateness(function: str, pins: list[str], pin: str) -> str:
    from itertools import product
    tree = parse_boolean(function)
    others = [p for p in pins if p != pin]
    rising = falling = False
    for bits in product([False, True], repeat=len(others)):
        values = dict(zip(others, bits))
        low = evaluate_boolean(tree, {**values, pin: False})
        high = evaluate_boolean(tree, {**values, pin: True})
        rising |= high and not low
        falling |= low and not high
    return "non_unate" if rising and falling else "negative_unate" if falling else "positive_unate"
