"""The cells' NLDM timing tables, compact: per timing arc, delay and output transition against
input slew and output load, for the slew-propagating timer (:func:`rtl.flow.timing.nldm_arrival_ns`).

Per output pin of each cell and each input it depends on (an arc: ``related_pin``, its
``timing_sense`` and ``timing_type``), the ``cell_rise`` / ``cell_fall`` delays and the
``rise_transition`` / ``fall_transition`` it drives, sampled at the breakpoints of the arc's
first delay table and held in ns and pF. Between breakpoints and past them the timer
interpolates and extrapolates linearly, as OpenSTA does. Arcs of setup, hold, recovery and
removal checks are not delays and are left out; so are asynchronous clear and preset arcs
(their paths start at the reset input, not at a clock edge).

The project ships the tables of its two embedded libraries in ``rtl/tech/data/NAME_nldm.json.gz``
(each with its source file's SHA-256), regenerated with ``hwmodel data timing LIBERTY -o FILE``;
any full liberty can be read directly (:func:`load_timing` with a path).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np

from rtl.tech.cells import _SCALE, _floats, _pin_groups, _unit
from rtl.tech.liberty import Group, LibertyError, parse_liberty, read_liberty_text

__all__ = ["derive_timing", "load_timing", "Arc", "EMBEDDED_TIMING", "SENSES"]

EMBEDDED_TIMING = {"sky130hd_tt": "sky130hd_tt_nldm.json.gz", "nangate45_typ": "nangate45_typ_nldm.json.gz"}
_SKIPPED = ("setup", "hold", "recovery", "removal", "skew", "min_pulse", "minimum_period", "nochange", "clear",
            "preset", "three_state")
SENSES = ("positive_unate", "negative_unate", "non_unate")


class Arc:
    """One timing arc: from input ``pin`` (``sense``: positive_unate, negative_unate or
    non_unate; ``edge``: a flip-flop's clock arc) to an output, its four tables on (slew, load)
    breakpoints, in ns and pF; a missing table is None."""

    __slots__ = ("pin", "sense", "edge", "slews", "loads", "tables")

    def __init__(self, pin, sense, edge, slews, loads, rise, fall, rise_transition, fall_transition):
        self.pin, self.sense, self.edge = pin, sense, bool(edge)
        self.slews, self.loads = np.asarray(slews, float), np.asarray(loads, float)
        self.tables = [None if t is None else np.asarray(t, float) for t in (rise, fall, rise_transition,
                                                                               fall_transition)]

    def value(self, which: int, slew: float, load: float) -> float | None:
        """Table ``which`` (0 rise, 1 fall, 2 rise transition, 3 fall transition) at (slew, load)."""
        grid = self.tables[which]
        return None if grid is None else _bilinear(self.slews, self.loads, grid, slew, load)


def _segment(index: np.ndarray, x: float) -> tuple[int, float]:
    """The breakpoints' segment holding ``x`` (the first or last one beyond them) and the
    fraction along it (< 0 or > 1 outside: linear extrapolation)."""
    if len(index) == 1:
        return 0, 0.0
    k = int(np.clip(np.searchsorted(index, x) - 1, 0, len(index) - 2))
    lo, hi = index[k], index[k + 1]
    return k, (0.0 if hi == lo else (x - lo) / (hi - lo))


def _bilinear(xs: np.ndarray, ys: np.ndarray, grid: np.ndarray, x: float, y: float) -> float:
    i, tx = _segment(xs, x)
    j, ty = _segment(ys, y)
    i1, j1 = min(i + 1, len(xs) - 1), min(j + 1, len(ys) - 1)
    low = grid[i, j] + ty * (grid[i, j1] - grid[i, j])
    high = grid[i1, j] + ty * (grid[i1, j1] - grid[i1, j])
    return float(low + tx * (high - low))


class _Axes:
    """A table's values as a (slew, load) grid, with the library's templates."""

    def __init__(self, library: Group):
        self.templates = {t.name: t for t in library.children("lu_table_template")}

    def grid(self, table: Group) -> tuple[list, list, np.ndarray]:
        template = self.templates.get(table.name)
        axes = []
        for i in (1, 2):
            var = (template.attributes.get(f"variable_{i}") if template else "") or ""
            index = table.attributes.get(f"index_{i}") or (template.attributes.get(f"index_{i}") if template else None)
            if index is not None:
                axes.append(("load" if "capacitance" in var else "slew", _floats(index)))
        values = _floats(table.attributes.get("values", ()))
        if not values:
            raise LibertyError(f"line {table.line}: table {table.kind} has no values")
        named = dict(axes)
        slews, loads = named.get("slew", [0.0]), named.get("load", [0.0])
        grid = np.asarray(values, float).reshape([len(v) for _, v in axes] or [1])
        if [k for k, _ in axes] == ["load", "slew"]:
            grid = grid.T
        return slews, loads, grid.reshape(len(slews), len(loads))


def _sample(axes: _Axes, table, slews: list, loads: list):
    """``table`` at the (slew, load) breakpoints given, extrapolated past its own."""
    if table is None:
        return None
    s, c, g = axes.grid(table)
    return [[round(_bilinear(np.asarray(s), np.asarray(c), g, x, y), 6) for y in loads] for x in slews]


def derive_timing(path: str | Path) -> dict:
    """The compact timing tables of a full liberty file (see the module docstring)."""
    path = Path(path)
    library = parse_liberty(path, read_liberty_text(path))
    time_ns = _unit(library.attributes.get("time_unit", "1ns"), "ns")
    cap = library.attributes.get("capacitive_load_unit", ("1", "pf"))
    cap_pf = float(cap[0]) * _SCALE[str(cap[1]).strip('"').lower()] / _SCALE["pf"]
    axes = _Axes(library)
    cells = {}
    for cell in library.children("cell"):
        pins = {}
        for name, pin in _pin_groups(cell):
            if str(pin.attributes.get("direction", "")).strip('"') != "output":
                continue
            arcs = []
            for timing in pin.children("timing"):
                kind = str(timing.attributes.get("timing_type", "combinational")).strip('"')
                if any(k in kind for k in _SKIPPED):
                    continue
                groups = {g.kind: g for g in timing.groups}
                first = groups.get("cell_rise") or groups.get("cell_fall")
                if first is None:
                    continue
                slews, loads, _ = axes.grid(first)
                sense = str(timing.attributes.get("timing_sense", "non_unate")).strip('"')
                tables = [_sample(axes, groups.get(k), slews, loads)
                          for k in ("cell_rise", "cell_fall", "rise_transition", "fall_transition")]
                scaled = [None if t is None else (np.asarray(t) * time_ns).round(6).tolist() for t in tables]
                for related in str(timing.attributes.get("related_pin", "")).strip('"').split():
                    arcs.append([related, sense if sense in SENSES else "non_unate", int("edge" in kind),
                                 [round(x * time_ns, 6) for x in slews], [round(c * cap_pf, 7) for c in loads],
                                 *scaled])
            if arcs:
                pins[name] = arcs
        if pins:
            cells[cell.name] = pins
    if not cells:
        raise LibertyError(f"{path}: no cell has delay tables")
    return {"library": library.name, "source": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "rule": "per arc: related pin, sense, clock edge, slew and load breakpoints (ns, pF), cell_rise, "
                    "cell_fall, rise_transition, fall_transition",
            "cells": cells}


@functools.lru_cache(maxsize=8)
def load_timing(name_or_path: str) -> dict:
    """``{cell: {output pin: [Arc, …]}}`` of an embedded library (by name) or a liberty file."""
    key = str(name_or_path)
    if key in EMBEDDED_TIMING:
        raw = resources.files("rtl.tech").joinpath("data", EMBEDDED_TIMING[key]).read_bytes()
        data = json.loads(gzip.decompress(raw))
    elif Path(key).is_file():
        data = derive_timing(key)
    else:
        raise ValueError(f"no timing tables for {key!r}: not an embedded library ({', '.join(EMBEDDED_TIMING)}) "
                         "and no such liberty file")
    return {cell: {pin: [Arc(*arc) for arc in arcs] for pin, arcs in pins.items()}
            for cell, pins in data["cells"].items()}
