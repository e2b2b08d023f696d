"""Synthesized MAC costs in a peer's own input files: ``hwmodel export zigzag``.

A peer takes a MAC's energy and area as numbers typed in; here they come from the synthesized
unit (:func:`rtl.flow.characterize.characterize`), written into ZigZag's (PyPI ``zigzag-dse``)
hardware, mapping and workload documents (:mod:`hwmodel.interop.zigzag`) with their provenance —
the MAC, library, tools, stream and the figures themselves — in comments at the top of each file
and in ``provenance.json``. :func:`run_zigzag` runs ZigZag on them in a Python of its own (a
virtual environment: ``ZIGZAG_VERSION``) and returns what it reports.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from rtl.errors import FieldError
from rtl.files import atomic_write_text

from hwmodel.arch.accelerator import Accelerator
from hwmodel.interop import zigzag

__all__ = ["TOOLS", "ZIGZAG_VERSION", "export_zigzag", "run_zigzag", "trace_layers", "PeerError"]

TOOLS = ("zigzag",)
ZIGZAG_VERSION = "3.9.1"


class PeerError(RuntimeError):
    """The peer tool is missing or failed (the message says how to install it, or its output)."""


def trace_layers(trace, limit: int | None = None) -> list[dict]:
    """A trace's MAC layers as GEMMs (each distinct (M, N, K) once, named by its first layer);
    grouped convolutions and batched products are their single GEMMs."""
    seen, out = set(), []
    for row in trace.mac_layers.itertuples():
        key = (int(row.gemm_m), int(row.gemm_n), int(row.gemm_k))
        if key in seen:
            continue
        seen.add(key)
        out.append({"name": f"{trace.network}.{row.name}".replace(" ", "_"), "m": key[0], "n": key[1], "k": key[2]})
        if limit is not None and len(out) >= limit:
            break
    return out


def _header(provenance: dict) -> str:
    lines = ["# Written by hwmodel export zigzag: the MAC's energy and area are synthesized, not typed in."]
    lines += [f"# {key}: {value}" for key, value in provenance.items()]
    return "\n".join(lines) + "\n"


def export_zigzag(accelerator: Accelerator, layers: list[dict], directory: str | Path, provenance: dict, *,
                  force: bool = False) -> list[Path]:
    """``hardware.yaml``, ``mapping.yaml``, ``workload.yaml`` and ``provenance.json`` in
    ``directory`` (refused if any exists, unless ``force``)."""
    directory = Path(directory)
    names = ("hardware.yaml", "mapping.yaml", "workload.yaml", "provenance.json")
    existing = [n for n in names if (directory / n).exists()]
    if existing and not force:
        raise FieldError("output", f"{directory}: {', '.join(existing)} already exist(s); --force overwrites",
                         str(directory))
    if not layers:
        raise FieldError("workload", "the workload has no matrix-multiply layers to export", None)
    fractional = [f for f in ("weight_bits", "activation_bits", "output_bits")
                  if float(getattr(accelerator, f)) != int(getattr(accelerator, f))]
    if fractional:  # ZigZag's operand precision is a whole number of bits
        raise FieldError("a", f"ZigZag takes whole bits per operand; a block format's elements carry a fraction of "
                              f"their block scale ({', '.join(f'{f} {getattr(accelerator, f)}' for f in fractional)}), "
                              "which it cannot express", None)
    header = _header(provenance)
    documents = {"hardware.yaml": zigzag.hardware(accelerator, name=provenance.get("mac", "hwmodel")),
                 "mapping.yaml": zigzag.mapping(accelerator, layers),
                 "workload.yaml": zigzag.workload(accelerator, layers)}
    directory.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_text(directory / name, header + json.dumps(doc, indent=1) + "\n")
               for name, doc in documents.items()]
    written.append(atomic_write_text(directory / "provenance.json", json.dumps(provenance, indent=2, sort_keys=True)))
    return written


_RUNNER = r'''
import json, logging, sys
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
folder = sys.argv[1]
energy, latency, cmes = get_hardware_performance_zigzag(
    f"{folder}/workload.yaml", f"{folder}/hardware.yaml", f"{folder}/mapping.yaml", opt="energy",
    dump_folder=f"{folder}/zigzag_out", loma_show_progress_bar=False)
layers = []
for cme in (entry[0] for entry in cmes[0][1]):
    layers.append({"layer": str(cme.layer.name), "mac_energy_pj": cme.mac_energy, "energy_pj": cme.energy_total,
                   "latency_cycles": cme.latency_total2, "macs": cme.layer.total_mac_count,
                   "unit_energy_pj": cme.accelerator.operational_array.unit.energy_cost,
                   "unit_area_um2": cme.accelerator.operational_array.unit.area,
                   "array_area_um2": cme.accelerator.operational_array.total_area})
print(json.dumps({"energy_pj": energy, "latency_cycles": latency, "layers": layers}))
'''


def zigzag_python() -> str:
    """The Python that has ZigZag: ``$HWMODEL_ZIGZAG_PYTHON``, else ``.peers/zigzag`` here."""
    root = Path(__file__).resolve().parents[2]
    return os.environ.get("HWMODEL_ZIGZAG_PYTHON") or str(root / ".peers" / "zigzag" / "bin" / "python")


def run_zigzag(directory: str | Path, python: str | None = None, timeout_s: float = 1800) -> dict:
    """ZigZag's figures for the exported files: total energy and latency, and per layer its MAC
    energy, MAC count and the unit energy and area it read."""
    python = python or zigzag_python()
    install = (f"python3 -m venv {Path(python).parents[1]} && {python} -m pip install zigzag-dse=={ZIGZAG_VERSION} six")
    if not Path(python).exists():
        raise PeerError(f"ZigZag's Python {python} does not exist; install ZigZag in an environment of its own: "
                        f"{install} (or set HWMODEL_ZIGZAG_PYTHON)")
    probe = subprocess.run([python, "-c", "import zigzag.api"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        raise PeerError(f"ZigZag is not installed in {python}: {python} -m pip install zigzag-dse=={ZIGZAG_VERSION} six")
    run = subprocess.run([python, "-c", _RUNNER, str(Path(directory).resolve())], capture_output=True, text=True,
                         timeout=timeout_s)
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise PeerError(f"ZigZag failed on {directory} (exit {run.returncode}):\n{tail}")
    return json.loads(run.stdout.strip().splitlines()[-1])
