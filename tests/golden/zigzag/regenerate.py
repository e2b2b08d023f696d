"""Regenerate the ZigZag golden files this directory holds (run by hand, not by the tests).

    python tests/golden/zigzag/regenerate.py [--venv /tmp/zigzag-venv] [--jobs 2]

ZigZag (PyPI ``zigzag-dse`` 3.9.1) runs in a virtual environment of its own, created here on
first use. For every hardware configuration in :data:`CONFIGS` and every layer of
:func:`layers` (ResNet-50's convolutions as their im2col GEMMs, one BERT-base encoder's GEMMs —
each distinct shape once), the accelerator is written as ZigZag's hardware, mapping and
workload documents (:mod:`hwmodel.interop.zigzag`), ZigZag's LOMA search picks its minimal-energy
mapping, and what that mapping costs — accesses and energy per memory level and operand, the
temporal mapping, ZigZag's latency and its run time — is stored as ``<config>.json``.
``compare.py`` prints our mapper's figures beside them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from common import CONFIGS, accelerator, layers  # noqa: E402

from hwmodel.interop import zigzag  # noqa: E402

VERSION = "3.9.1"

RUNNER = r'''
import json, logging, sys, time
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
from zigzag.datatypes import LayerOperand

folder = sys.argv[1]
start = time.perf_counter()
energy, latency, cmes = get_hardware_performance_zigzag(
    f"{folder}/workload.yaml", f"{folder}/hardware.yaml", f"{folder}/mapping.yaml", opt="energy",
    dump_folder=f"{folder}/out", loma_show_progress_bar=False)
seconds = time.perf_counter() - start
cme = cmes[0][1][0][0]
hierarchy = cme.accelerator.memory_hierarchy
out = {"seconds": seconds, "energy_pj": cme.energy_total, "mac_energy_pj": cme.mac_energy,
       "latency_cycles": cme.latency_total2, "levels": {}, "temporal_mapping": str(cme.temporal_mapping),
       "spatial_mapping": str(cme.spatial_mapping)}
for layer_op, accesses in cme.memory_word_access.items():
    mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
    levels = hierarchy.get_memory_levels(mem_op=mem_op)
    for access, energy_pj, level in zip(accesses, cme.mem_energy_breakdown[layer_op], levels):
        name = level.memory_instance.name
        port = max(p.bw_max for p in level.memory_instance.ports)
        entry = out["levels"].setdefault(name, {})
        entry[str(layer_op)] = {"words": {str(k): v for k, v in access.data.items()}, "port_bits": port,
                                "energy_pj": energy_pj}
print(json.dumps(out))
'''


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"zigzag-dse=={VERSION}", "six"], check=True)
    return python


def run_one(python: Path, acc, layer: dict) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        docs = {"hardware": zigzag.hardware(acc), "mapping": zigzag.mapping(acc, [layer]),
                "workload": zigzag.workload(acc, [layer])}
        for name, doc in docs.items():
            Path(folder, f"{name}.yaml").write_text(json.dumps(doc, indent=1))  # JSON is YAML
        Path(folder, "runner.py").write_text(RUNNER)
        done = subprocess.run([str(python), f"{folder}/runner.py", folder], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ZigZag failed on {layer['name']}: {done.stderr[-2000:]}")
        return {"layer": layer, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", default="/tmp/zigzag-venv", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="regenerate one configuration")
    args = parser.parse_args()
    python = ensure_venv(args.venv)
    for name in CONFIGS:
        if args.only and name != args.only:
            continue
        acc = accelerator(name)
        todo = layers()
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda layer: run_one(python, acc, layer), todo))
        payload = {"zigzag": VERSION, "config": name, "hardware": zigzag.hardware(acc), "layers": results}
        (HERE / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
        print(f"{name}: {len(results)} layers, ZigZag {sum(r['seconds'] for r in results):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
