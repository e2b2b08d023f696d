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
import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

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
        for name in ("area_um2", "energy_pj_per_mac", "delay_ns"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"pe.{name} must be a positive number, not {value!r}")

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
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.dataflow not in DATAFLOWS:
            hint = difflib.get_close_matches(str(self.dataflow), DATAFLOWS, 1)
            raise ValueError(f"dataflow must be one of {DATAFLOWS}, not {self.dataflow!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if not isinstance(self.pe, PeCost):
            raise TypeError(f"pe must be a PeCost, not {type(self.pe).__name__}")
        for name in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "sram_area_um2_per_bit",
                     "dram_energy_pj_per_bit"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if self.dram_bandwidth_bytes_per_cycle is not None and not self.dram_bandwidth_bytes_per_cycle > 0:
            raise ValueError(f"dram_bandwidth_bytes_per_cycle must be positive (or absent), "
                             f"not {self.dram_bandwidth_bytes_per_cycle!r}")
        if self.dram_channels not in DRAM_CHANNELS:
            raise ValueError(f"dram_channels must be one of {DRAM_CHANNELS}, not {self.dram_channels!r}")
        if self.clock_ns is not None and not self.clock_ns > 0:
            raise ValueError(f"clock_ns must be positive, not {self.clock_ns!r}")
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


_ALLOWED = {f.name for f in fields(Accelerator)} | {"pe"}
_PE_FIELDS = {f.name for f in fields(PeCost)}


def load_accelerator(source: str | Path | dict, pe: PeCost | None = None, **overrides) -> Accelerator:
    """An accelerator from a TOML file (or a dict): top-level keys are :class:`Accelerator`
    fields, ``[pe]`` a :class:`PeCost`; ``pe`` and ``overrides`` replace what the file says."""
    if isinstance(source, dict):
        data, where = dict(source), "config"
    else:
        where = str(source)
        try:
            data = tomllib.loads(Path(source).read_text())
        except OSError as error:
            raise ValueError(f"{where}: cannot read ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{where}: not valid TOML ({error})") from None
    if "array" in data and isinstance(data["array"], str):  # "32x32"
        data["array_rows"], data["array_cols"] = parse_array(data.pop("array"))
    for key in data:
        if key not in _ALLOWED:
            hint = difflib.get_close_matches(key, sorted(_ALLOWED), 1)
            raise ValueError(f"{where}: unknown key {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    pe_data = data.pop("pe", None)
    if pe is None:
        if not isinstance(pe_data, dict):
            raise ValueError(f"{where}: no [pe] table and no PE cost given")
        for key in pe_data:
            if key not in _PE_FIELDS:
                hint = difflib.get_close_matches(key, sorted(_PE_FIELDS), 1)
                raise ValueError(f"{where}: unknown key pe.{key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
        pe = PeCost(**pe_data)
    data.update(overrides)
    try:
        return Accelerator(pe=pe, **data)
    except TypeError as error:
        raise ValueError(f"{where}: {error}") from None


def parse_array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"array must look like 32x32, not {text!r}") from None
    if rows <= 0 or cols <= 0:
        raise ValueError(f"array sizes must be positive, not {text!r}")
    return rows, cols


def with_pe(accelerator: Accelerator, pe: PeCost) -> Accelerator:
    return replace(accelerator, pe=pe)
