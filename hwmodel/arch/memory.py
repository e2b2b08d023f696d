"""The memory hierarchy: on-chip buffers (separate per operand or shared) and DRAM, with costs
in the MACs' own technology.

A :class:`Buffer` holds some of the three operands — ``inputs`` (activations fed to the array),
``weights`` and ``outputs`` (partial sums at accumulator width, then results) — and costs
energy per word accessed, leakage and area. Unless given by hand, those come from the SRAM
macros of the PE's cell library (:func:`rtl.tech.srams.sram_model`: sky130 OpenRAM macros for
``sky130hd_tt``, FreePDK45 fakeram45 for ``nangate45_typ``); ``horowitz45`` is the older model
(Horowitz, ISSCC 2014, 45 nm: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ per 64-bit access, log-log in
capacity; 0.346 µm² per 6T cell at 50 % array efficiency), kept for comparison with it.

DRAM costs energy per bit by type (:data:`DRAM_TYPES`, each with its source) or a given value.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np

from rtl.errors import FieldError

from hwmodel import config

__all__ = ["Buffer", "OPERANDS", "DRAM_TYPES", "HOROWITZ", "sram_energy_pj", "BufferCost", "buffer_cost"]

OPERANDS = ("inputs", "weights", "outputs")
HOROWITZ = "horowitz45"
_HOROWITZ_SRAM = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))  # bytes, pJ per 64 bits
_HOROWITZ_UM2_PER_BIT = 0.346 / 0.5

DRAM_TYPES = types.MappingProxyType({
    "ddr3": (20.0, "Horowitz, 'Computing's energy problem', ISSCC 2014: 1.3–2.6 nJ per 64-bit DDR3 access "
                   "(the lower end)"),
    "lpddr4": (13.5, "H. Ha, PhD thesis, Stanford 2018: 32 Gb LPDDR4 simulated with DramDSE, 13–14 pJ/bit (as "
                     "collected in github.com/Dongyunkam/DRAM_info)"),
    "hbm2": (3.97, "O'Connor et al., 'Fine-Grained DRAM', MICRO 2017: HBM2 access energy, the baseline its "
                   "FGDRAM halves"),
    "hbm": (7.0, "Yan et al., HyGCN, HPCA 2020: 7 pJ/bit for HBM accesses (as collected in "
                 "github.com/Dongyunkam/DRAM_info)"),
})
"""DRAM type → (energy per bit in pJ, its source). Figures for LPDDR5 and HBM3 are not shipped:
no source at hand states them; give ``dram_energy_pj_per_bit`` for those."""


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
class Buffer:
    """One on-chip buffer: what it holds, how big, how wide; costs by hand or from the
    technology (``None``)."""

    name: str
    capacity_kb: float
    operands: tuple = OPERANDS
    word_bits: int = 64
    read_energy_pj: float | None = None
    write_energy_pj: float | None = None
    leakage_nw: float | None = None
    area_um2: float | None = None
    bandwidth_words_per_cycle: float | None = None

    def __post_init__(self):
        where = f"buffer {self.name!r}"
        config.text(self.name, "", "memory.name")
        config.number(self.capacity_kb, where, "capacity_kb", positive=True)
        config.integer(self.word_bits, where, "word_bits")
        operands = tuple(self.operands) if not isinstance(self.operands, str) else (self.operands,)
        if not operands or any(o not in OPERANDS for o in operands) or len(set(operands)) != len(operands):
            raise FieldError("operands", f"{where}: operands must be some of {OPERANDS}, each once, not "
                                         f"{list(operands)!r}", list(operands))
        object.__setattr__(self, "operands", operands)
        for key in ("read_energy_pj", "write_energy_pj", "leakage_nw", "area_um2"):
            if getattr(self, key) is not None:
                config.number(getattr(self, key), where, key, minimum=0)
        if self.bandwidth_words_per_cycle is not None:
            config.number(self.bandwidth_words_per_cycle, where, "bandwidth_words_per_cycle", positive=True)

    @property
    def capacity_bytes(self) -> float:
        return self.capacity_kb * 1024


@dataclass(frozen=True)
class BufferCost:
    read_energy_pj: float   # per word
    write_energy_pj: float
    leakage_nw: float
    area_um2: float
    source: str


def buffer_cost(buffer: Buffer, sram_library: str, *, horowitz_um2_per_bit: float = _HOROWITZ_UM2_PER_BIT) -> BufferCost:
    """A buffer's costs: what it was given, the rest from ``sram_library`` (an embedded SRAM
    table, a JSON table file, or ``horowitz45``)."""
    if sram_library == HOROWITZ:
        energy = float(sram_energy_pj(buffer.capacity_bytes, buffer.word_bits))
        area, leakage, source = buffer.capacity_bytes * 8 * horowitz_um2_per_bit, 0.0, HOROWITZ
    else:
        from rtl.tech.srams import sram_model
        model = sram_model(sram_library)
        energy = model.access_energy_pj(buffer.capacity_bytes, buffer.word_bits)
        area = model.area_um2(buffer.capacity_bytes, buffer.word_bits)
        leakage = model.leakage_nw(buffer.capacity_bytes, buffer.word_bits)
        source = f"SRAM macros of {model.name}"
    given = [buffer.read_energy_pj, buffer.write_energy_pj, buffer.leakage_nw, buffer.area_um2]
    return BufferCost(
        read_energy_pj=energy if buffer.read_energy_pj is None else buffer.read_energy_pj,
        write_energy_pj=energy if buffer.write_energy_pj is None else buffer.write_energy_pj,
        leakage_nw=leakage if buffer.leakage_nw is None else buffer.leakage_nw,
        area_um2=area if buffer.area_um2 is None else buffer.area_um2,
        source=source if any(v is None for v in given) else "given")


def dram_energy(dram_type: str | None, energy_pj_per_bit: float | None) -> float:
    if energy_pj_per_bit is not None:
        return energy_pj_per_bit
    if dram_type not in DRAM_TYPES:
        raise FieldError("dram_type", f"dram_type must be one of {tuple(DRAM_TYPES)} (or give "
                                      f"dram_energy_pj_per_bit), not {dram_type!r}", dram_type)
    return DRAM_TYPES[dram_type][0]


def minimum_tile_bits(dataflow: str, rows: int, cols: int, bits: dict) -> dict:
    """The smallest tile of each operand a ``rows × cols`` array can run on, in bits: one fold
    of its stationary operand (ws: weights, os: outputs, is: inputs) and one row or column of
    the two that stream."""
    fold = rows * cols
    elements = {"ws": {"inputs": rows, "weights": fold, "outputs": cols},
                "os": {"inputs": rows, "weights": cols, "outputs": fold},
                "is": {"inputs": fold, "weights": rows, "outputs": cols}}[dataflow]
    return {operand: count * bits[operand] for operand, count in elements.items()}
