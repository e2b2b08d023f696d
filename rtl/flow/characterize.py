"""``characterize(spec, library, stream) -> MacCost``: synthesis, timing and energy, cached.

The cache is content-addressed: the key hashes everything the result depends on — the spec, the
source of the hardware generator (the Verilog is a pure function of both) and the Amaranth
version, the Yosys version and script, the cell library, the operand stream and the clock — so
nothing is recomputed when nothing changed, and any change misses. Entries are written
atomically; an unreadable or inconsistent entry is reported with a warning and recomputed.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import warnings
import math
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path

from rtl.flow.energy import make_stream, measure_energy
from rtl.hdl.spec import MacSpec
from rtl.flow.synth import prepare_yosys, synthesis_script, synthesize, yosys_version
from rtl.parallel import executor
from rtl.flow.timing import TIMERS, arrival_ns
from rtl.hdl.mac import whitepaper_stages
from rtl.tech.technology import technology
from rtl.files import atomic_write_text
from rtl.hdl.verilog import emit_verilog

__all__ = ["MacCost", "characterize", "characterize_many", "critical_path", "at_clock", "DEFAULT_CACHE", "cache_key"]

DEFAULT_CACHE = Path.home() / ".cache" / "hwmodel" / "mac"
COST_MODEL_VERSION = 1


_FIELD_KINDS = {"library": "str", "stream": "str", "area_vs_delay": "curve",
                **dict.fromkeys(("area_um2", "nand2_equivalent", "sequential_area_um2", "critical_path_ns", "clock_ns",
                                 "energy_pj_per_mac", "leakage_nw"), "number")}


@dataclass(frozen=True)
class MacCost:
    """The measured cost of one MAC design on one library for one operand stream."""

    spec: dict
    library: str
    area_um2: float
    nand2_equivalent: float
    stage_area_um2: dict
    whitepaper_stage_area_um2: dict
    module_area_um2: dict
    cells_by_type: dict
    sequential_area_um2: float
    critical_path_ns: float
    clock_ns: float
    energy_pj_per_mac: float
    energy_breakdown_pj_per_mac: dict
    leakage_nw: float
    stream: str
    provenance: dict = field(default_factory=dict)
    area_vs_delay: tuple = ()
    load_energy_pj: dict = field(default_factory=dict)  # a codebook unit: {"codebook": one whole-table load}
    idle_pj_per_mac: dict = field(default_factory=dict)  # a clock-gated unit: {"clock": per MAC slot, en low}

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _FIELD_KINDS.get(f.name, "dict")
            if kind == "number":
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    and value >= 0
            elif kind == "str":
                ok = isinstance(value, str)
            elif kind == "curve":
                ok = isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 3 for p in value)
            else:
                ok = isinstance(value, dict)
            if not ok:
                raise ValueError(f"MacCost.{f.name} must be a {kind}, not {value!r}")
        if not self.area_um2 > 0:
            raise ValueError(f"MacCost.area_um2 must be positive, not {self.area_um2!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data) -> "MacCost":
        """From :func:`dataclasses.asdict` output (a stored result); checks every field."""
        if not isinstance(data, dict):
            raise ValueError(f"a MacCost is a JSON object, not {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names if n not in data and n not in ("provenance", "area_vs_delay", "load_energy_pj",
                                                                                "idle_pj_per_mac"))
        if missing:
            raise ValueError(f"a MacCost needs {', '.join(missing)}")
        data = {k: v for k, v in data.items() if k in names}
        try:
            data["area_vs_delay"] = tuple(tuple(p) for p in data.get("area_vs_delay", ()))
        except TypeError:
            raise ValueError(f"MacCost.area_vs_delay must be (target, area, delay) points, not "
                             f"{data['area_vs_delay']!r}") from None
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "MacCost":
        return cls.from_dict(json.loads(text))


def dependency_modules(root: str = __name__) -> tuple[str, ...]:
    """Every ``rtl`` module ``root`` imports, directly or through others, itself included.

    Read from the import statements of the sources (those inside functions too), so the cache
    key follows the code: a module that starts to matter is hashed the day it is imported.
    """
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = _find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        package = name if spec.submodule_search_locations else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(Path(spec.origin).read_text(), spec.origin)):
            found = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                    if node.level else node.module
                found = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for module in found:
                if module and module.split(".")[0] == "rtl" and _find_spec(module) is not None:
                    todo.append(module)
    return tuple(sorted(seen))


def _find_spec(name: str):
    """The module spec of ``name``, or None where it names no module (``rtl.x.function``)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):
        return None


@functools.cache
def _generator_digest() -> str:
    digest = hashlib.sha256()
    for name in dependency_modules():
        origin = importlib.util.find_spec(name).origin
        digest.update(name.encode() + b"\0" + Path(origin).read_bytes())
    return digest.hexdigest()


def cache_key(spec: MacSpec, library: str, stream_key: str, clock_ns: float | None, tool: str,
              delay_targets_ns: tuple = (), delay_target_ns: float | None = None, wire_load: bool = True,
              timer: str = "nldm", glitches: bool = True) -> str:
    tech = technology(str(library))
    parts = {
        "model": COST_MODEL_VERSION, "spec": spec.describe(), "generator": _generator_digest(),
        "amaranth": metadata.version("amaranth"), "yosys": yosys_version(tool),
        "script": synthesis_script(spec.name, "cells.lib", tech.dont_use, delay_target_ns), "library": tech.digest,
        "stream": stream_key, "clock_ns": clock_ns, "delay_targets_ns": list(delay_targets_ns),
        "wire_load": bool(wire_load), "timer": timer, "glitches": bool(glitches),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _content_digest(cost: dict) -> str:
    return hashlib.sha256(json.dumps(cost, sort_keys=True).encode()).hexdigest()


def _read_entry(path: Path, key: str, field: str, parse):
    """``parse`` of the cache entry's ``field``, or None (with a warning) when the entry is
    unreadable, for another key, edited since it was written (its content digest no longer
    matches) or not what ``parse`` takes."""
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
        if not isinstance(entry, dict):
            raise ValueError(f"the entry is {type(entry).__name__}, not an object")
        if entry.get("key") != key:
            raise ValueError("key mismatch")
        if entry.get("sha256") != _content_digest(entry.get(field)):
            raise ValueError("its content does not match its digest (edited or damaged)")
        return parse(entry[field])
    except (OSError, ValueError, KeyError, TypeError) as error:
        warnings.warn(f"corrupted cache entry {path} ({error}); recomputing", RuntimeWarning, stacklevel=4)
        return None


def _write_entry(path: Path, key: str, field: str, value) -> None:
    """A cache entry: ``value`` (JSON) under ``field``, with its key and content digest, written atomically."""
    atomic_write_text(path, json.dumps({"key": key, field: value, "sha256": _content_digest(value)}, sort_keys=True))


def _read_cache(path: Path, key: str) -> MacCost | None:
    """The cached cost, or None (with a warning) when the entry is unreadable, for another key,
    edited since it was written (its content digest no longer matches) or not a valid cost."""
    return _read_entry(path, key, "cost", MacCost.from_dict)


def at_clock(cost: "MacCost", clock_ns: float) -> "MacCost":
    """``cost`` with its leakage energy at ``clock_ns`` instead of its own clock."""
    parts = dict(cost.energy_breakdown_pj_per_mac)
    leakage = parts.get("leakage", 0.0) * clock_ns / cost.clock_ns
    energy = cost.energy_pj_per_mac - parts.get("leakage", 0.0) + leakage
    parts["leakage"] = leakage
    return dataclasses.replace(cost, clock_ns=clock_ns, energy_pj_per_mac=energy, energy_breakdown_pj_per_mac=parts)


def characterize(spec: MacSpec, library: str = "sky130hd_tt", stream: str = "uniform", *,
                 tool: str = "yowasp", clock_ns: float | None = None, macs: int = 1 << 18,
                 sparsity: float = 0.0, seed: int = 0, a_values=None, b_values=None,
                 delay_targets_ns: tuple = (), cache_dir: str | os.PathLike | None = DEFAULT_CACHE,
                 timeout_s: float = 600, delay_target_ns: float | None = None, wire_load: bool = True,
                 b_sparsity: float = 0.0, timer: str = "nldm", glitches: bool = True, synthesis=None) -> MacCost:
    """Synthesize ``spec`` on ``library``, time it, and measure its energy on a named stream.

    ``clock_ns`` (for leakage energy) defaults to the critical path. ``delay_target_ns`` maps the
    design for that delay (ABC's delay-driven mapping, each stage's module for it; hierarchy and
    the per-stage areas kept) instead of for area. ``delay_targets_ns`` adds an area-versus-clock
    curve — (target, area, critical path) from one flattened, delay-driven synthesis per target.
    ``sparsity`` / ``b_sparsity``: the fractions of zero ``a`` (activation) and ``b`` (weight)
    operands in the stream (:func:`rtl.flow.energy.make_stream`). ``cache_dir=None`` disables the
    cache. The defaults are the figures hwmodel has checked against independent tools:

    - ``timer="nldm"``: the liberty's delay and transition tables with slews propagated
      (:func:`rtl.flow.timing.nldm_arrival_ns`), within 5 % of OpenSTA on the standard set;
      ``linear`` is each cell's delay linear in its load at one reference slew
      (:func:`rtl.flow.timing.critical_path_ns`, 61–78 % of OpenSTA's arrival);
    - ``wire_load=True``: each net's wire capacitance from the library's wire-load model
      (:func:`rtl.tech.cells.wire_capacitance_pf`), in timing and energy, as OpenSTA applies it;
    - ``glitches=True``: energy counts glitches, from the glitch-aware simulation with the
      timer's rise and fall delays (:func:`rtl.flow.energy.glitch_energy_pj`; its transitions are
      Icarus Verilog's net by net), in the breakdown as ``glitches``; ``False`` gives the
      zero-delay figure alone.

    Only leakage depends on the clock (switching, internal and clock-pin energy are per cycle),
    so a cost at a given ``clock_ns`` is the cost at the design's own critical path with its
    leakage energy rescaled — exactly, and without synthesizing the design again.

    ``synthesis``: the :class:`rtl.flow.synth.Synthesis` of this spec, library, delay target and
    wire-load choice, made already (by :func:`critical_path`), taken instead of synthesizing again.
    """
    if clock_ns is not None:
        if not (isinstance(clock_ns, (int, float)) and not isinstance(clock_ns, bool) and clock_ns > 0):
            raise ValueError(f"clock_ns must be positive, not {clock_ns!r}")
        own = characterize(spec, library, stream, tool=tool, clock_ns=None, macs=macs, sparsity=sparsity, seed=seed,
                           a_values=a_values, b_values=b_values, delay_targets_ns=delay_targets_ns,
                           cache_dir=cache_dir, timeout_s=timeout_s, delay_target_ns=delay_target_ns,
                           wire_load=wire_load, b_sparsity=b_sparsity, timer=timer, glitches=glitches,
                           synthesis=synthesis)
        return at_clock(own, float(clock_ns))
    library = str(library)
    stream_obj = None
    if stream == "tensor":
        stream_obj = make_stream(spec, stream, macs=macs, sparsity=sparsity, seed=seed,
                                 a_values=a_values, b_values=b_values, b_sparsity=b_sparsity)
        stream_key = stream_obj.key
    else:
        stream_key = _stream_key(stream, macs, sparsity, seed, b_sparsity)
    if timer not in TIMERS:
        raise ValueError(f"timer must be one of {TIMERS}, not {timer!r}")
    key = cache_key(spec, library, stream_key, clock_ns, tool, tuple(delay_targets_ns), delay_target_ns, wire_load,
                    timer, glitches)
    path = Path(cache_dir) / key[:2] / f"{key}.json" if cache_dir is not None else None
    if path is not None:
        cached = _read_cache(path, key)
        if cached is not None:
            return cached
    tech = technology(library)
    verilog_text = emit_verilog(spec)
    result = synthesis if synthesis is not None else \
        synthesize(spec, library, tool=tool, verilog_text=verilog_text, timeout_s=timeout_s,
                   delay_target_ns=delay_target_ns, wire_load=wire_load)
    critical = arrival_ns(result.netlist, timer)
    clock = clock_ns if clock_ns is not None else critical
    if stream_obj is None:
        stream_obj = make_stream(spec, stream, macs=macs, sparsity=sparsity, seed=seed, b_sparsity=b_sparsity)
    energy = measure_energy(spec, result.netlist, stream_obj, clock, tech.cells.voltage_v,
                            glitches=timer if glitches else None)
    curve = []
    for target in delay_targets_ns:
        point = synthesize(spec, library, tool=tool, verilog_text=verilog_text,
                           delay_target_ns=target, timeout_s=timeout_s, flatten=True, wire_load=wire_load)
        curve.append((float(target), point.area_um2, arrival_ns(point.netlist, timer)))
    stages = result.stage_area_um2
    cost = MacCost(
        spec=spec.describe(), library=tech.name, area_um2=result.area_um2,
        nand2_equivalent=result.nand2_equivalent, stage_area_um2=stages,
        whitepaper_stage_area_um2=whitepaper_stages(stages), module_area_um2=result.module_area_um2,
        cells_by_type=result.cells_by_type, sequential_area_um2=result.sequential_area_um2,
        critical_path_ns=critical, clock_ns=clock, energy_pj_per_mac=energy.energy_pj_per_mac,
        energy_breakdown_pj_per_mac={"switching": energy.switching_pj_per_mac,
                                     "internal": energy.internal_pj_per_mac,
                                     "clock": energy.clock_pj_per_mac,
                                     "leakage": energy.leakage_pj_per_mac}
                                    | ({"glitches": energy.glitch_pj_per_mac} if glitches else {}),
        leakage_nw=result.netlist.leakage_nw, stream=energy.stream,
        provenance={"yosys": result.tool_version, "amaranth": metadata.version("amaranth"),
                    "library": tech.cells.provenance.get("library", tech.name),
                    "library_source": tech.cells.provenance.get("source", library),
                    "library_sha256": tech.cells.provenance.get("sha256", tech.digest),
                    "voltage_v": tech.cells.voltage_v,
                    "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
                    "stream_macs": energy.macs, "verified_streams": energy.verified_streams,
                    "timer": timer + (" with the library's wire-load model" if wire_load else ""),
                    "energy": (f"glitch-aware ({timer} delays, {energy.glitch_streams} streams) over the zero-delay "
                               "simulation" if glitches else "zero-delay simulation (no glitches)"),
                    "cache_key": key},
        area_vs_delay=tuple(curve),
        load_energy_pj={"codebook": energy.codebook_load_pj} if spec.codebook_bits else {},
        idle_pj_per_mac={"clock": energy.idle_clock_pj_per_mac} if energy.idle_clock_pj_per_mac is not None else {})
    if path is not None:
        _write_entry(path, key, "cost", json.loads(cost.to_json()))
    return cost


def _stream_key(stream: str, macs: int, sparsity: float, seed: int, b_sparsity: float) -> str:
    """A named stream's part of the cache key."""
    return json.dumps({"kind": stream, "macs": macs, "sparsity": sparsity, "seed": seed}
                      | ({"b_sparsity": b_sparsity} if b_sparsity else {}))


def critical_path(spec: MacSpec, library: str = "sky130hd_tt", stream: str = "uniform", *, tool: str = "yowasp",
                  delay_target_ns: float | None = None, wire_load: bool = True, timer: str = "nldm",
                  cache_dir: str | os.PathLike | None = DEFAULT_CACHE, timeout_s: float = 600, macs: int = 1 << 18,
                  sparsity: float = 0.0, seed: int = 0, b_sparsity: float = 0.0, delay_targets_ns: tuple = (),
                  glitches: bool = True, **_unused) -> tuple[float, object]:
    """(critical path in ns, synthesis or None): ``spec``'s critical path as :func:`characterize`
    gives it — the same synthesis and timer — without measuring its energy. Read from
    characterize's cache where the whole cost is there (the other arguments: its key), else from
    an entry of its own; else synthesized, and the synthesis returned too, for
    :func:`characterize` to take (``synthesis=``) should this point be the one wanted. A search
    over design points (:func:`rtl.flow.clocking.meet_clock`) measures the energy of the point
    it returns only."""
    if timer not in TIMERS:
        raise ValueError(f"timer must be one of {TIMERS}, not {timer!r}")
    library = str(library)
    if cache_dir is not None and stream != "tensor":  # a tensor stream's key needs the stream built
        key = cache_key(spec, library, _stream_key(stream, macs, sparsity, seed, b_sparsity), None, tool,
                        tuple(delay_targets_ns), delay_target_ns, wire_load, timer, glitches)
        cost = _read_cache(Path(cache_dir) / key[:2] / f"{key}.json", key)
        if cost is not None:
            return cost.critical_path_ns, None
    key = cache_key(spec, library, "the critical path alone", None, tool, (), delay_target_ns, wire_load, timer, False)
    path = Path(cache_dir) / key[:2] / f"{key}.json" if cache_dir is not None else None
    critical = _read_entry(path, key, "critical_path_ns", float) if path is not None else None
    if critical is not None:
        return critical, None
    result = synthesize(spec, library, tool=tool, timeout_s=timeout_s, delay_target_ns=delay_target_ns,
                        wire_load=wire_load)
    critical = float(arrival_ns(result.netlist, timer))
    if path is not None:
        _write_entry(path, key, "critical_path_ns", critical)
    return critical, result


def characterize_many(specs: list[MacSpec], *, processes: int | None = None, scheduler=None,
                      **kwargs) -> list[MacCost]:
    """Characterize many specs in parallel — local processes or a Dask cluster
    (:func:`rtl.parallel.executor`) — each cached as by :func:`characterize`."""
    specs = list(specs)
    tool = kwargs.get("tool", "yowasp")
    if (processes == 1 and scheduler is None) or len(specs) <= 1:
        return [characterize(s, **kwargs) for s in specs]
    with executor(scheduler=scheduler, processes=processes, jobs=len(specs),
                  prepare=functools.partial(prepare_yosys, tool)) as pool:
        return list(pool.map(functools.partial(_characterize_one, kwargs), specs))


def _characterize_one(kwargs: dict, spec: MacSpec) -> MacCost:
    return characterize(spec, **kwargs)
