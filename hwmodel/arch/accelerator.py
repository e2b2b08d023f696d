"""The accelerator: a systolic array of synthesized MACs with SRAM buffers and DRAM.

A frozen :class:`Accelerator` holds the array, its dataflow, the PE cost (a measured
:class:`rtl.flow.characterize.MacCost` or a :class:`PeCost` given by hand for what-if studies), the
operand widths that set traffic and buffer capacity (never a hard-coded byte per word), SRAM
sizes, and DRAM bandwidth and energy. It loads from TOML; unknown keys are named with the
closest valid one.

SRAM energy per access follows Horowitz (ISSCC 2014, 45 nm, 64-bit access): 8 KB 10 pJ,
32 KB 20 pJ, 1 MB 100 pJ — interpolated log-log in capacity, extrapolated with the end slopes,
scaled linearly in word width. SRAM area is 0.346 µm² per bit-cell (a 45 nm 6T cell, Mistry et
al., IEDM 2007) over a 50 % array efficiency. DRAM costs 20 pJ per bit (Horowitz: 640 pJ per
32-bit read). Each of these is a field to override.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from rtl.errors import FieldError

from hwmodel import config

__all__ = ["PeCost", "Accelerator", "load_accelerator", "sram_energy_pj", "DATAFLOWS", "DRAM_CHANNELS"]

DATAFLOWS = ("ws", "os", "is")
DRAM_CHANNELS = ("shared", "per_operand")
_HOROWITZ_SRAM = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))  # bytes, pJ per 64 bits


def sram_energy_pj(capacity_bytes, word_bits: int) -> np.ndarray:
    """Energy of one ``word_bits`` access to an SRAM of ``capacity_bytes`` (Horowitz, log-log)."""
    caps = np.log([c for c, _ in _HOROWITZ_SRAM])
    energy = np.log([e for _, e in _HOROWITZ_SRAM])
    x = np.log(np.maximum(np.asarray(capacity_bytes, dtype=np.float64), 1.0))
    low_slope = (energy[1] - energy[0]) / (caps[1] - caps[0])
    high_slope = (energy[2] - energy[1]) / (caps[2] - caps[1])
    y = np.interp(x, caps, energy)
    y = np.where(x < caps[0], energy[0] + low_slope * (x - caps[0]), y)
    y = np.where(x > caps[-1], energy[-1] + high_slope * (x - caps[-1]), y)
    return np.exp(y) * word_bits / 64.0


@dataclass(frozen=True)
class PeCost:
    """A processing element's MAC cost, measured or given by hand."""

    name: str
    area_um2: float
    energy_pj_per_mac: float
    delay_ns: float
    leakage_nw: float = 0.0
    idle_energy_pj_per_cycle: float = 0.0   # clock and registers of a PE with nothing to do
    register_area_um2_per_bit: float = 4.522  # a flip-flop (Nangate45 DFF_X1) for operand forwarding

    def __post_init__(self):
        config.text(self.name, "", "pe.name")
        for name in ("area_um2", "energy_pj_per_mac", "delay_ns"):
            config.number(getattr(self, name), "", f"pe.{name}", positive=True)
        for name in ("leakage_nw", "idle_energy_pj_per_cycle", "register_area_um2_per_bit"):
            config.number(getattr(self, name), "", f"pe.{name}", minimum=0)

    @classmethod
    def from_mac_cost(cls, cost) -> "PeCost":
        """From a :class:`rtl.flow.characterize.MacCost` (registers priced with its library's DFF)."""
        dff = cost.sequential_area_um2 / max(1, sum(n for c, n in cost.cells_by_type.items() if "df" in c.lower()))
        return cls(name=cost.spec["module"], area_um2=cost.area_um2, energy_pj_per_mac=cost.energy_pj_per_mac,
                   delay_ns=cost.critical_path_ns, leakage_nw=cost.leakage_nw,
                   idle_energy_pj_per_cycle=cost.energy_breakdown_pj_per_mac.get("clock", 0.0),
                   register_area_um2_per_bit=dff)


@dataclass(frozen=True)
class Accelerator:
    """A rows × cols systolic array with ifmap, filter and ofmap SRAMs and a DRAM interface."""

    array_rows: int
    array_cols: int
    dataflow: str
    pe: PeCost
    weight_bits: int = 8
    activation_bits: int = 8
    accumulator_bits: int = 32
    output_bits: int = 8
    ifmap_sram_kb: float = 256.0
    filter_sram_kb: float = 256.0
    ofmap_sram_kb: float = 128.0
    sram_word_bits: int = 64
    sram_area_um2_per_bit: float = 0.346 / 0.5
    dram_bandwidth_bytes_per_cycle: float | None = None  # None: stall-free (SCALE-Sim CALC)
    dram_energy_pj_per_bit: float = 20.0
    clock_ns: float | None = None  # None: the PE's critical path
    dram_channels: str = "shared"  # or "per_operand": ifmap, filter, ofmap each at the full bandwidth

    def __post_init__(self):
        for name in ("array_rows", "array_cols", "weight_bits", "activation_bits", "accumulator_bits",
                     "output_bits", "sram_word_bits"):
            config.integer(getattr(self, name), "", name)
        if self.dataflow not in DATAFLOWS:
            hint = difflib.get_close_matches(str(self.dataflow), DATAFLOWS, 1)
            raise FieldError("dataflow", f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""), self.dataflow)
        if not isinstance(self.pe, PeCost):
            raise TypeError(f"pe must be a PeCost, not {type(self.pe).__name__}")
        for name in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "sram_area_um2_per_bit",
                     "dram_energy_pj_per_bit"):
            config.number(getattr(self, name), "", name, positive=True)
        for name in ("dram_bandwidth_bytes_per_cycle", "clock_ns"):  # None: stall-free / the PE's path
            if getattr(self, name) is not None:
                config.number(getattr(self, name), "", name, positive=True)
        if self.dram_channels not in DRAM_CHANNELS:
            raise FieldError("dram_channels", f"dram_channels must be one of {DRAM_CHANNELS}, not "
                                              f"{self.dram_channels!r}", self.dram_channels)
        # a buffer must hold at least one tile: a row (or column) of operands, double-buffered
        tile = {"ifmap_sram_kb": self.array_rows * self.activation_bits,
                "filter_sram_kb": self.array_rows * self.array_cols * self.weight_bits,
                "ofmap_sram_kb": self.array_cols * self.accumulator_bits}
        for name, bits in tile.items():
            if getattr(self, name) * 8192 < 2 * bits:
                raise ValueError(f"{name} = {getattr(self, name)} KB is smaller than one double-buffered "
                                 f"tile of {2 * bits / 8192:.3f} KB for a {self.array_rows}×{self.array_cols} array")

    @property
    def clock(self) -> float:
        return self.clock_ns if self.clock_ns is not None else self.pe.delay_ns

    @property
    def pe_area_um2(self) -> float:
        """One PE: its MAC plus the registers that forward operands (and partial sums) to its
        neighbours."""
        forwarded = self.activation_bits + (self.accumulator_bits if self.dataflow != "os" else self.weight_bits)
        return self.pe.area_um2 + forwarded * self.pe.register_area_um2_per_bit

    @property
    def area_mm2(self) -> float:
        sram_bits = (self.ifmap_sram_kb + self.filter_sram_kb + self.ofmap_sram_kb) * 8192
        return (self.array_rows * self.array_cols * self.pe_area_um2 + sram_bits * self.sram_area_um2_per_bit) / 1e6


_ALLOWED = {f.name for f in fields(Accelerator)} | {"array", "pe"}
_PE_FIELDS = {f.name for f in fields(PeCost)}


def load_accelerator(source: str | Path | dict, pe: PeCost | None = None, *, defaults: dict | None = None,
                     **overrides) -> Accelerator:
    """An accelerator from a TOML file (or a dict): top-level keys are :class:`Accelerator`
    fields (``array = "32x32"`` for both sizes), ``[pe]`` a :class:`PeCost`.

    Precedence: ``overrides`` (what a user asked for explicitly) over the file over
    ``defaults`` over the dataclass's own defaults. ``pe`` is the PE when it is measured; a
    file that also gives ``[pe]`` then contradicts it, which is an error.
    """
    if isinstance(source, dict):
        data, where = dict(source), "config"
    else:
        where = str(source)
        data = config.load_toml(source)
    config.check_keys(data, _ALLOWED, where)
    pe_data = data.pop("pe", None)
    if "array" in data:  # "32x32"
        try:
            data["array_rows"], data["array_cols"] = parse_array(config.text(data.pop("array"), where, "array"))
        except FieldError as error:
            raise FieldError("array", f"{where}: {error}", error.value) from None
    if pe_data is not None:
        if not isinstance(pe_data, dict):
            raise FieldError("pe", f"{where}: pe must be a table ([pe]), not {pe_data!r}", pe_data)
        if pe is not None:
            raise FieldError("pe", f"{where}: [pe] gives a PE cost, but the PE here is the synthesized MAC; "
                                   "remove [pe], or run without a MAC so the [pe] table is used", pe_data)
        config.check_keys(pe_data, _PE_FIELDS, where, prefix="pe.")
        try:
            pe = PeCost(**{"name": "pe", **pe_data})
        except FieldError as error:
            raise FieldError(error.field, f"{where}: {error}", error.value) from None
    if pe is None:
        raise FieldError("pe", f"{where}: no [pe] table and no PE cost given")
    merged = {**(defaults or {}), **data, **{k: v for k, v in overrides.items() if v is not None}}
    missing = [k for k in ("array_rows", "array_cols", "dataflow") if k not in merged]
    if missing:
        raise FieldError(missing[0], f"{where}: no {' / '.join(missing)} given (array = \"ROWSxCOLS\", dataflow = ...)")
    try:
        return Accelerator(pe=pe, **merged)
    except FieldError as error:
        raise FieldError(error.field, f"{where}: {error}", error.value) from None


def parse_array(text: str) -> tuple[int, int]:
    """``"32x32"`` → (rows, cols)."""
    try:
        rows, cols = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise FieldError("array", f"array must look like ROWSxCOLS (e.g. 32x32), not {text!r}", text) from None
    if rows <= 0 or cols <= 0:
        raise FieldError("array", f"array rows and columns must be positive, not {text!r}", text)
    return rows, cols


def with_pe(accelerator: Accelerator, pe: PeCost) -> Accelerator:
    return replace(accelerator, pe=pe)
