"""The accelerator: a systolic array of synthesized MACs, its buffers and DRAM.

A frozen :class:`Accelerator` holds the array, its dataflow, the PE cost (a measured
:class:`rtl.flow.characterize.MacCost` or a :class:`PeCost` given by hand for what-if studies), the
operand widths that set traffic and buffer capacity (never a hard-coded byte per word), the
memory hierarchy (:mod:`hwmodel.arch.memory`: buffers that each hold some of the operands, with
costs from the SRAM macros of the PE's own technology) and DRAM by type. It loads from TOML
(``[[memory]]`` tables for the buffers); unknown keys are named with the closest valid one.

Sparse weights: ``weight_sparsity = "2:4"`` runs every weight layer on N:M sparse units — the
reduction condensed to the kept weights (:func:`rtl.numerics.sparsity.condensed_length`), each
stored and moved with its ``ceil(log2 M)``-bit index, the activations still read in full, so
compute cycles and MACs fall by M/N and the PE's cost is per executed MAC. Unstructured sparsity
(``weight_density``) speeds nothing up in a dense array — its zeros save energy only where the PE
gates them, which its measured energy per MAC (on a stream of that sparsity) says — but a
``weight_storage = "bitmap"`` stores one bit per weight plus the nonzeros, cutting weight
traffic and buffer space.

Without ``memory`` the buffers are the three separate ones of SCALE-Sim's configuration
(``ifmap_sram_kb``, ``filter_sram_kb``, ``ofmap_sram_kb``, words of ``sram_word_bits``), so
existing files keep working.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, fields, replace
from pathlib import Path

from rtl.errors import FieldError
from rtl.numerics.sparsity import metadata_bits, parse_nm

from hwmodel import config
from hwmodel.arch.memory import (DRAM_TYPES, HOROWITZ, OPERANDS, Buffer, BufferCost, buffer_cost, dram_energy,
                                 minimum_tile_bits, sram_energy_pj)

__all__ = ["PeCost", "Accelerator", "load_accelerator", "sram_energy_pj", "DATAFLOWS", "DRAM_CHANNELS", "MAPPINGS",
           "OBJECTIVES", "WEIGHT_STORAGES", "WEIGHT_TABLES"]

DATAFLOWS = ("ws", "os", "is")
DRAM_CHANNELS = ("shared", "per_operand")
MAPPINGS = ("search", "scalesim")
OBJECTIVES = ("energy", "latency", "edp")
WEIGHT_STORAGES = ("dense", "bitmap")
WEIGHT_TABLES = ("channel", "layer")  # what a codebook PE's table belongs to: each weight's channel, or the layer


@dataclass(frozen=True)
class PeCost:
    """A processing element's MAC cost, measured or given by hand."""

    name: str
    area_um2: float
    energy_pj_per_mac: float
    delay_ns: float
    leakage_nw: float = 0.0
    idle_energy_pj_per_cycle: float = 0.0   # clock and registers of a PE with nothing to do
    table_load_pj: float = 0.0  # a codebook unit: loading its table, per PE (a P-product unit's load / P)
    register_area_um2_per_bit: float = 4.522  # a flip-flop (Nangate45 DFF_X1) for operand forwarding
    library: str = ""  # the cell library it was synthesized on (its SRAMs are the buffers' default)

    def __post_init__(self):
        config.text(self.name, "", "pe.name")
        if not isinstance(self.library, str):
            raise FieldError("pe.library", f"pe.library must be a text, not {self.library!r}", self.library)
        for name in ("area_um2", "energy_pj_per_mac", "delay_ns"):
            config.number(getattr(self, name), "", f"pe.{name}", positive=True)
        for name in ("leakage_nw", "idle_energy_pj_per_cycle", "register_area_um2_per_bit", "table_load_pj"):
            config.number(getattr(self, name), "", f"pe.{name}", minimum=0)

    @classmethod
    def from_mac_cost(cls, cost) -> "PeCost":
        """From a :class:`rtl.flow.characterize.MacCost` (registers priced with its library's DFF).
        An idle PE pays its unit's clock per MAC slot: the measured clock of the stream, or for a
        clock-gated unit (``en`` low shuts its gates) that of a cycle with every gate shut."""
        dff = cost.sequential_area_um2 / max(1, sum(n for c, n in cost.cells_by_type.items() if "df" in c.lower()))
        return cls(name=cost.spec["module"], area_um2=cost.area_um2, energy_pj_per_mac=cost.energy_pj_per_mac,
                   delay_ns=cost.critical_path_ns, leakage_nw=cost.leakage_nw,
                   idle_energy_pj_per_cycle=cost.idle_pj_per_mac.get(  # a clock-gated unit idles gated
                       "clock", cost.energy_breakdown_pj_per_mac.get("clock", 0.0)),
                   register_area_um2_per_bit=dff, library=cost.library,
                   table_load_pj=cost.load_energy_pj.get("codebook", 0.0))


@dataclass(frozen=True)
class Accelerator:
    """A rows × cols systolic array with its buffers and a DRAM interface."""

    array_rows: int
    array_cols: int
    dataflow: str
    pe: PeCost
    weight_bits: float = 8  # bits per element as stored (MXFP8: 8.25, its scale's share included)
    activation_bits: float = 8
    accumulator_bits: int = 32
    output_bits: float = 8
    kv_bits: float | None = None  # a KV cache's width (None: activation_bits)
    ifmap_sram_kb: float = 256.0
    filter_sram_kb: float = 256.0
    ofmap_sram_kb: float = 128.0
    sram_word_bits: int = 64
    memory: tuple = ()  # Buffers; empty: separate ifmap / filter / ofmap buffers of the sizes above
    sram_library: str | None = None  # None: the PE's library's SRAM macros (horowitz45 if it has none)
    sram_area_um2_per_bit: float = 0.346 / 0.5  # horowitz45 only: a 45 nm 6T cell at 50 % efficiency
    dram_type: str = "ddr3"
    dram_energy_pj_per_bit: float | None = None  # None: the dram_type's figure
    dram_bandwidth_bytes_per_cycle: float | None = None  # None: stall-free (SCALE-Sim CALC)
    dram_bandwidth_gb_s: float | None = None  # the same in GB/s (bytes per ns), at the clock used
    clock_ns: float | None = None  # None: the PE's critical path
    dram_channels: str = "shared"  # or "per_operand": ifmap, filter, ofmap each at the full bandwidth
    mapping: str = "search"  # or "scalesim": SCALE-Sim's fixed whole-layer mapping
    objective: str = "energy"  # what the mapping search minimizes: energy, latency or edp
    double_buffered: bool = True
    psum_to_dram: bool = False  # True: the search may spill partial sums whenever that costs less
    weight_sparsity: str = ""  # N:M ("2:4"): weights run on N:M sparse units, K condensed, indices stored
    weight_density: float = 1.0  # unstructured: the fraction of weights that are not zero (no speed-up)
    weight_storage: str = "dense"  # or "bitmap": unstructured-sparse weights stored as a bitmap + nonzeros
    weight_table: str = "channel"  # a codebook PE's table: reloaded with each weight ("channel") or per layer

    def __post_init__(self):
        for name in ("array_rows", "array_cols", "accumulator_bits", "sram_word_bits"):
            config.integer(getattr(self, name), "", name)
        # operands' bits per element as stored: a block format's codes plus their share of its scale
        for name in ("weight_bits", "activation_bits", "output_bits"):
            config.number(getattr(self, name), "", name, positive=True)
        if self.kv_bits is not None:
            config.number(self.kv_bits, "", "kv_bits", positive=True)
        for name, allowed in (("dataflow", DATAFLOWS), ("dram_channels", DRAM_CHANNELS), ("mapping", MAPPINGS),
                              ("objective", OBJECTIVES)):
            value = getattr(self, name)
            if value not in allowed:
                hint = difflib.get_close_matches(str(value), allowed, 1)
                raise FieldError(name, f"{name} must be one of {allowed}, not {value!r}"
                                 + (f" (did you mean {hint[0]!r}?)" if hint else ""), value)
        if not isinstance(self.pe, PeCost):
            raise TypeError(f"pe must be a PeCost, not {type(self.pe).__name__}")
        for name in ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "sram_area_um2_per_bit"):
            config.number(getattr(self, name), "", name, positive=True)
        for name in ("dram_bandwidth_bytes_per_cycle", "dram_bandwidth_gb_s", "clock_ns", "dram_energy_pj_per_bit"):
            if getattr(self, name) is not None:
                config.number(getattr(self, name), "", name, positive=True)
        self._check_sparsity()
        config.flag(self.double_buffered, "", "double_buffered")
        config.flag(self.psum_to_dram, "", "psum_to_dram")
        if self.dram_bandwidth_gb_s is not None and self.dram_bandwidth_bytes_per_cycle is not None:
            raise FieldError("dram_bandwidth_gb_s", "give dram_bandwidth_gb_s or dram_bandwidth_bytes_per_cycle, "
                                                    "not both", self.dram_bandwidth_gb_s)
        if self.dram_energy_pj_per_bit is None and self.dram_type not in DRAM_TYPES:
            hint = difflib.get_close_matches(str(self.dram_type), DRAM_TYPES, 1)
            raise FieldError("dram_type", f"dram_type must be one of {tuple(DRAM_TYPES)} (or give "
                                          f"dram_energy_pj_per_bit), not {self.dram_type!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""), self.dram_type)
        if self.sram_library is not None:
            config.text(self.sram_library, "", "sram_library")
        memory = tuple(self.memory)
        if any(not isinstance(b, Buffer) for b in memory):
            raise TypeError("memory must be a sequence of Buffer")
        object.__setattr__(self, "memory", memory)
        object.__setattr__(self, "_buffers", memory or (
            Buffer("ifmap", self.ifmap_sram_kb, ("inputs",), self.sram_word_bits),
            Buffer("filter", self.filter_sram_kb, ("weights",), self.sram_word_bits),
            Buffer("ofmap", self.ofmap_sram_kb, ("outputs",), self.sram_word_bits)))
        names = [b.name for b in memory]
        if len(set(names)) != len(names):
            raise FieldError("memory.name", f"memory levels must have distinct names, not {names}", names)
        buffers = self.buffers
        for operand in OPERANDS:
            if not any(operand in b.operands for b in buffers):
                raise FieldError("memory.operands", f"no memory level holds the {operand} (levels: "
                                 + ", ".join(f"{b.name} holds {list(b.operands)}" for b in buffers) + ")", operand)
        if self.mapping == "scalesim" and [b.operands for b in buffers] != [(o,) for o in OPERANDS]:
            raise FieldError("mapping", "mapping = \"scalesim\" needs SCALE-Sim's three separate buffers (inputs, "
                                        "weights, outputs, in that order)", self.mapping)
        # every buffer must hold the smallest tile of the operands it keeps (twice, double-buffered)
        tile = minimum_tile_bits(self.dataflow, self.array_rows, self.array_cols, self.operand_bits)
        factor = 2 if self.double_buffered else 1
        for b in buffers:
            need = factor * sum(tile[o] for o in b.operands)
            if b.capacity_bytes * 8 < need:
                parts = " + ".join(f"{o} {tile[o]} bits" for o in b.operands)
                field = b.name if memory else {"inputs": "ifmap_sram_kb", "weights": "filter_sram_kb",
                                               "outputs": "ofmap_sram_kb"}[b.operands[0]]
                raise FieldError(field, f"memory level {b.name!r} ({b.capacity_kb:g} KB) is smaller than the smallest "
                                        f"tile it must hold on a {self.array_rows}×{self.array_cols} {self.dataflow} "
                                        f"array: {parts}{', double-buffered' if factor == 2 else ''} = "
                                        f"{need / 8192:.3f} KB", b.capacity_kb)

    def _check_sparsity(self) -> None:
        parse_nm(self.weight_sparsity, "weight_sparsity")
        config.number(self.weight_density, "", "weight_density", positive=True)
        if self.weight_density > 1:
            raise FieldError("weight_density", f"weight_density is the fraction of weights that are not zero, in "
                                               f"(0, 1], not {self.weight_density!r}", self.weight_density)
        if self.weight_table not in WEIGHT_TABLES:
            raise FieldError("weight_table", f"weight_table must be one of {WEIGHT_TABLES}, not {self.weight_table!r}",
                             self.weight_table)
        if self.weight_storage not in WEIGHT_STORAGES:
            raise FieldError("weight_storage", f"weight_storage must be one of {WEIGHT_STORAGES}, not "
                                               f"{self.weight_storage!r}", self.weight_storage)
        if self.weight_sparsity and (self.weight_density < 1 or self.weight_storage != "dense"):
            raise FieldError("weight_sparsity", f"weight_sparsity {self.weight_sparsity!r} stores its kept weights "
                                                "with their indices; weight_density and a bitmap weight_storage "
                                                "describe unstructured sparsity instead — give one or the other",
                             self.weight_sparsity)

    @property
    def stored_weight_bits(self) -> float:
        """Bits per weight element as buffers and DRAM hold it, per *dense* element for a bitmap
        (one bit each, plus the nonzeros), per *kept* element for N:M (value plus index)."""
        if self.weight_storage == "bitmap":
            return 1 + self.weight_density * self.weight_bits
        nm = parse_nm(self.weight_sparsity, "weight_sparsity")
        return self.weight_bits + (metadata_bits(nm[1]) if nm else 0)

    @property
    def operand_bits(self) -> dict:
        """Bits per element as the buffers hold them (outputs: partial sums at accumulator width)."""
        return {"inputs": self.activation_bits, "weights": max(self.stored_weight_bits, self.activation_bits,
                                                               self.kv_bits or 0),
                "outputs": self.accumulator_bits}

    @property
    def buffers(self) -> tuple:
        """The on-chip buffers: ``memory``, or the three SCALE-Sim ones."""
        return self._buffers

    @property
    def sram_source(self) -> str:
        """The SRAM model the buffers are costed with: ``sram_library``, else the PE's library when
        SRAM macros ship for it, else Horowitz's 45 nm figures."""
        if self.sram_library is not None:
            return self.sram_library
        from rtl.tech.srams import EMBEDDED_SRAMS
        return self.pe.library if self.pe.library in EMBEDDED_SRAMS else HOROWITZ

    @property
    def buffer_costs(self) -> tuple[BufferCost, ...]:
        return _buffer_costs(self.buffers, self.sram_source, self.sram_area_um2_per_bit)

    @property
    def dram_pj_per_bit(self) -> float:
        return dram_energy(self.dram_type, self.dram_energy_pj_per_bit)

    @property
    def dram_bytes_per_cycle(self) -> float | None:
        """DRAM bandwidth per cycle of the clock used (None: stall-free)."""
        if self.dram_bandwidth_gb_s is not None:
            return self.dram_bandwidth_gb_s * self.clock
        return self.dram_bandwidth_bytes_per_cycle

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
    def buffer_area_um2(self) -> float:
        return sum(c.area_um2 for c in self.buffer_costs)

    @property
    def area_mm2(self) -> float:
        return (self.array_rows * self.array_cols * self.pe_area_um2 + self.buffer_area_um2) / 1e6


@functools.lru_cache(maxsize=4096)
def _buffer_costs(buffers: tuple, source: str, horowitz_um2_per_bit: float) -> tuple:
    return tuple(buffer_cost(b, source, horowitz_um2_per_bit=horowitz_um2_per_bit) for b in buffers)


_ALLOWED = {f.name for f in fields(Accelerator)} | {"array", "pe"}
_PE_FIELDS = {f.name for f in fields(PeCost)}
_BUFFER_FIELDS = {f.name for f in fields(Buffer)}
_LEGACY_BUFFERS = ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "sram_word_bits")


def _memory(levels, where: str) -> tuple:
    """``[[memory]]`` tables → Buffers; errors name the level and the key."""
    if not isinstance(levels, list) or not all(isinstance(level, dict) for level in levels):
        raise FieldError("memory", f"{where}: memory must be a list of tables ([[memory]]), not {levels!r}", levels)
    if not levels:
        raise FieldError("memory", f"{where}: [[memory]] gives no level")
    buffers = []
    for index, level in enumerate(levels):
        label = f"memory[{index}]" + (f" ({level['name']})" if isinstance(level.get("name"), str) else "")
        config.check_keys(level, _BUFFER_FIELDS, f"{where}: {label}")
        for key in ("name", "capacity_kb"):
            if key not in level:
                raise FieldError(f"memory.{key}", f"{where}: {label} has no {key}")
        try:
            buffers.append(Buffer(**level))
        except FieldError as error:
            raise FieldError(f"memory.{error.field}", f"{where}: {label}: {error}", error.value) from None
    return tuple(buffers)


def load_accelerator(source: str | Path | dict, pe: PeCost | None = None, *, defaults: dict | None = None,
                     **overrides) -> Accelerator:
    """An accelerator from a TOML file (or a dict): top-level keys are :class:`Accelerator`
    fields (``array = "32x32"`` for both sizes), ``[pe]`` a :class:`PeCost`, ``[[memory]]`` one
    table per buffer (:class:`hwmodel.arch.memory.Buffer`: ``name``, ``capacity_kb``,
    ``operands``, ``word_bits``, optional costs and ``bandwidth_words_per_cycle``).

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
    if "memory" in data:
        data["memory"] = _memory(data["memory"], where)
        legacy = [k for k in _LEGACY_BUFFERS if k in data]
        if legacy:
            raise FieldError(legacy[0], f"{where}: {legacy[0]} and [[memory]] both describe the buffers; give one")
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
    if merged.get("memory"):  # buffers given by level: the sweep's legacy sizes do not apply
        for key in _LEGACY_BUFFERS:
            if key not in data and key not in overrides:
                merged.pop(key, None)
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


def spread_products(rows: int, pe: PeCost, products: int) -> tuple[int, PeCost]:
    """(array rows, PE) for a PE that sums ``products`` products a cycle (a dot-product or N:M
    unit): that many PEs along the reduction (rows), each with 1/``products`` of its area."""
    if products == 1:
        return rows, pe
    return rows * products, replace(pe, area_um2=pe.area_um2 / products, table_load_pj=pe.table_load_pj / products)
