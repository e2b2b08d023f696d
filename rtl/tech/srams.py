"""SRAM macros as the memory hierarchy needs them: energy per access, leakage and area, read
from the macros' liberty views and fitted across capacity and word width.

A macro's access energy is the internal energy its clock pin spends in one cycle (rise and fall)
while the macro is selected — averaged over its read and write conditions — plus its inputs'
(address, data, enables) where the view gives them; leakage and area are the cell's own. The
fit is log-linear in total bits and word width, ``log y = c0 + c1·log(bits) + c2·log(width)``,
least squares over every macro of a library; its error over them is kept with the coefficients.

A buffer larger than the largest macro is built of banks of that macro (one bank active per
access; area and leakage add up; the wires between banks are not modelled), and a word wider
than the widest macro of macros side by side (all accessed together).

The project ships the derived tables (``rtl/tech/data/srams_*.json``, each naming its source
files and their SHA-256), so nothing here needs the liberty files at run time;
``hwmodel data srams LIB… -o FILE`` regenerates one.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import types
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from rtl.errors import FieldError
from rtl.tech.liberty import LibertyError, parse_liberty, read_liberty_text

__all__ = ["SramMacro", "SramModel", "derive_sram_macros", "fit_srams", "sram_model", "EMBEDDED_SRAMS"]

EMBEDDED_SRAMS = types.MappingProxyType({"sky130hd_tt": "srams_sky130.json", "nangate45_typ": "srams_nangate45.json"})
"""Cell library → the SRAM table in the same technology."""

_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "w": 1.0, "mw": 1e-3, "uw": 1e-6,
          "nw": 1e-9, "pw": 1e-12, "f": 1.0, "pf": 1e-12, "ff": 1e-15, "nf": 1e-9, "v": 1.0, "mv": 1e-3}


@dataclass(frozen=True)
class SramMacro:
    """One characterized macro."""

    name: str
    words: int
    word_bits: int
    area_um2: float
    leakage_nw: float
    access_energy_pj: float

    @property
    def bits(self) -> int:
        return self.words * self.word_bits


def _unit(text: str) -> float:
    text = str(text).strip('"').strip().lower()
    number = "".join(ch for ch in text if ch.isdigit() or ch in ".eE+-") or "1"
    unit = text[len(number):].strip() if text.startswith(number) else text.lstrip("0123456789.")
    if unit not in _SCALE:
        raise ValueError(f"unrecognised unit {text!r}")
    return float(number) * _SCALE[unit]


def _values(group) -> list[float]:
    raw = group.attributes.get("values", ())
    raw = ",".join(raw) if isinstance(raw, tuple) else str(raw)
    return [float(v) for v in raw.replace('"', " ").replace(",", " ").split()]


def _pin_energy(pin) -> float:
    """One cycle's internal energy of a pin (rise + fall), averaged over its conditions; for a
    clock, over the conditions in which the macro is selected (chip select low), if any."""
    groups = pin.children("internal_power")
    selected = [g for g in groups if "when" not in g.attributes or "!cs" in str(g.attributes["when"]).replace(" ", "")]
    groups = selected or groups
    energies = []
    for g in groups:
        rise = [v for t in g.children("rise_power") for v in _values(t)]
        fall = [v for t in g.children("fall_power") for v in _values(t)]
        if rise or fall:
            energies.append((np.mean(rise) if rise else 0.0) + (np.mean(fall) if fall else 0.0))
    return float(np.mean(energies)) if energies else 0.0


def derive_sram_macros(paths) -> tuple[list[SramMacro], list[dict]]:
    """Every memory cell of the given liberty files, with the files' provenance."""
    macros, sources = [], []
    for path in map(Path, paths):
        text = read_liberty_text(path)
        library = parse_liberty(path, text)
        attrs = library.attributes
        cap = attrs.get("capacitive_load_unit", ("1", "pf"))
        energy_pj = float(cap[0]) * _SCALE[str(cap[1]).strip('"').lower()] / 1e-12  # cap unit · V² in pJ
        leak_nw = _unit(attrs.get("leakage_power_unit", "1nW")) / 1e-9
        found = 0
        for cell in library.children("cell"):
            memory = cell.child("memory")
            if memory is None:
                continue
            try:
                width = int(memory.attributes["word_width"])
                depth = 1 << int(memory.attributes["address_width"])
                area = float(cell.attributes["area"])
                leakage = float(cell.attributes.get("cell_leakage_power", 0.0)) * leak_nw
            except (KeyError, ValueError) as error:
                raise LibertyError(f"{path}:{cell.line}: SRAM cell {cell.name} lacks its {error} "
                                   "(area, word_width, address_width are needed)") from None
            clocks = [p for p in cell.children("pin") if p.attributes.get("clock", "false").strip('"') == "true"]
            if not clocks:
                raise LibertyError(f"{path}:{cell.line}: SRAM cell {cell.name} has no clock pin with internal power")
            clock = _pin_energy(clocks[0]) * energy_pj  # one port: an access uses one
            inputs = sum(_pin_energy(p) for group in ("pin", "bus") for p in cell.children(group)
                         if p.attributes.get("direction", "").strip('"') == "input" and p not in clocks) * energy_pj
            if clock <= 0:
                raise LibertyError(f"{path}:{cell.line}: SRAM cell {cell.name} gives no access energy "
                                   "(internal_power on its clock pin)")
            macros.append(SramMacro(cell.name, depth, width, area, leakage, clock + inputs))
            found += 1
        if not found:
            raise LibertyError(f"{path}: no SRAM cell (a cell with a memory() group)")
        raw = path.read_bytes()
        sources.append({"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()})
    return macros, sources


def _fit(bits, width, y) -> tuple[list[float], float, float]:
    """Least squares of log y on (1, log bits, log width); (coefficients, rms and max relative error)."""
    x = np.column_stack([np.ones(len(bits)), np.log(bits), np.log(width)])
    coef, *_ = np.linalg.lstsq(x, np.log(y), rcond=None)
    predicted = np.exp(x @ coef)
    relative = predicted / np.asarray(y) - 1
    return [float(c) for c in coef], float(np.sqrt(np.mean(relative ** 2))), float(np.max(np.abs(relative)))


def fit_srams(macros: list[SramMacro], *, library: str, technology: str, sources: list[dict], note: str = "") -> dict:
    """The shipped table: every macro and the fits of access energy, area and leakage."""
    bits = [m.bits for m in macros]
    width = [m.word_bits for m in macros]
    table = {"library": library, "technology": technology, "sources": sources, "note": note,
             "macros": [m.__dict__ for m in sorted(macros, key=lambda m: (m.bits, m.word_bits))],
             "max_bits": max(bits), "max_word_bits": max(width), "fits": {}}
    for key in ("access_energy_pj", "area_um2", "leakage_nw"):
        values = [getattr(m, key) for m in macros]
        if min(values) <= 0:
            table["fits"][key] = None  # e.g. no leakage given: the hierarchy then counts none
            continue
        coef, rms, worst = _fit(bits, width, values)
        table["fits"][key] = {"coefficients": coef, "rms_relative_error": rms, "max_relative_error": worst}
    return table


@dataclass(frozen=True, eq=False)
class SramModel:
    """A technology's SRAM: energy per access, area and leakage of a buffer of any size."""

    table: dict

    @property
    def name(self) -> str:
        return self.table["library"]

    def _fitted(self, key: str, bits: float, width: float) -> float:
        fit = self.table["fits"].get(key)
        if fit is None:
            return 0.0
        c0, c1, c2 = fit["coefficients"]
        return math.exp(c0 + c1 * math.log(bits) + c2 * math.log(width))

    def _organization(self, capacity_bytes: float, word_bits: int) -> tuple[int, int, float, int]:
        """(banks, macros side by side, bits per macro, bits per macro word)."""
        if not capacity_bytes > 0 or not word_bits > 0:
            raise FieldError("capacity", f"an SRAM needs a positive capacity and word width, not "
                                         f"{capacity_bytes!r} bytes × {word_bits!r} bits")
        side = max(1, math.ceil(word_bits / self.table["max_word_bits"]))
        macro_word = word_bits / side
        bits = capacity_bytes * 8 / side
        banks = max(1, math.ceil(bits / self.table["max_bits"]))
        return banks, side, bits / banks, macro_word

    def access_energy_pj(self, capacity_bytes: float, word_bits: int) -> float:
        banks, side, bits, width = self._organization(capacity_bytes, word_bits)
        return side * self._fitted("access_energy_pj", bits, width)

    def area_um2(self, capacity_bytes: float, word_bits: int) -> float:
        banks, side, bits, width = self._organization(capacity_bytes, word_bits)
        return banks * side * self._fitted("area_um2", bits, width)

    def leakage_nw(self, capacity_bytes: float, word_bits: int) -> float:
        banks, side, bits, width = self._organization(capacity_bytes, word_bits)
        return banks * side * self._fitted("leakage_nw", bits, width)


@functools.lru_cache(maxsize=8)
def sram_model(library: str) -> SramModel:
    """The SRAM model in a cell library's technology (an embedded name), or from a JSON table
    written by :func:`fit_srams`."""
    if library in EMBEDDED_SRAMS:
        text = resources.files("rtl.tech").joinpath("data", EMBEDDED_SRAMS[library]).read_text()
        return SramModel(json.loads(text))
    path = Path(library)
    if path.suffix == ".json" and path.is_file():
        return SramModel(json.loads(path.read_text()))
    raise FieldError("sram_library", f"no SRAM macros for {library!r}: the embedded ones are "
                                     f"{', '.join(EMBEDDED_SRAMS)}; for another library derive a table with "
                                     "`hwmodel data srams LIBERTY… -o FILE.json` and name that file", library)
