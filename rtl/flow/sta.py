"""An independent timer: OpenSTA on a synthesized netlist, with the full liberty's NLDM tables.

hwmodel's own timer (:mod:`rtl.flow.timing`) is a linear delay model at one reference slew, from
the compact cell tables the project ships. :func:`opensta_arrival_ns` asks OpenSTA (Debian
``opensta``, the ``sta`` binary) for the same quantity on the same netlist — the latest data
arrival at any flip-flop D pin or output port, the clock ideal, inputs arriving at 0 with zero
transition, outputs unloaded — propagating slews through the NLDM delay and transition tables of
the full liberty file. The library's setup time is left out, as hwmodel's figure leaves it out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["OpenStaError", "opensta_available", "opensta_arrival_ns"]


class OpenStaError(RuntimeError):
    """OpenSTA is missing or failed; carries the tail of its output."""


def opensta_available() -> bool:
    return shutil.which("sta") is not None


def opensta_arrival_ns(netlist_verilog: str, top: str, liberty: str | Path, *, clock: str | None = "clk",
                       timeout_s: float = 600) -> float:
    """The longest data arrival time (ns) OpenSTA finds in ``netlist_verilog`` (mapped onto the
    cells of ``liberty``, a plain or gzipped liberty file)."""
    if not opensta_available():
        raise OpenStaError("OpenSTA is not installed (Debian: apt-get install opensta)")
    liberty = Path(liberty)
    with tempfile.TemporaryDirectory(prefix="hwmodel-sta-") as tmp:
        work = Path(tmp)
        if liberty.suffix == ".gz":
            import gzip
            (work / "cells.lib").write_bytes(gzip.decompress(liberty.read_bytes()))
            liberty = work / "cells.lib"
        (work / "netlist.v").write_text(netlist_verilog)
        constraints = [f"create_clock -name clk -period 1000 [get_ports {clock}]",
                       f"set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {clock}]]",
                       "set_output_delay 0 -clock clk [all_outputs]"] if clock else \
            ["create_clock -name virtual -period 1000",
             "set_input_delay 0 -clock virtual [all_inputs]", "set_output_delay 0 -clock virtual [all_outputs]"]
        (work / "sta.tcl").write_text("\n".join([
            f"read_liberty {liberty}", "read_verilog netlist.v", f"link_design {top}", *constraints,
            "report_checks -path_delay max -digits 4", "exit"]) + "\n")
        try:
            run = subprocess.run(["sta", "-no_splash", "sta.tcl"], cwd=work, capture_output=True, text=True,
                                 timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise OpenStaError(f"OpenSTA timed out after {timeout_s:g} s") from None
    out = run.stdout + run.stderr
    found = re.findall(r"^\s*(-?\d+\.\d+)\s+data arrival time", out, re.M)
    if run.returncode != 0 or not found:
        tail = "\n".join(out.strip().splitlines()[-20:])
        raise OpenStaError(f"OpenSTA found no path (exit {run.returncode}):\n{tail}")
    return float(found[0])
