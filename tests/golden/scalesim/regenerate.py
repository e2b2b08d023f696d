"""Regenerate the SCALE-Sim golden files this directory holds (run by hand, not by the tests).

    python tests/golden/scalesim/regenerate.py [--venv /tmp/scalesim-venv] [--jobs 2]

N:M sparse weights (``SPARSE_POINTS``) run SCALE-Sim 3.0's ``[sparsity]`` support (ws, ELLPACK
blocks) on topologies written with a sparsity column; their reports go to ``sparse/``.

SCALE-Sim 3.0.0 (PyPI ``scalesim``) needs numpy < 2.4, so it runs in a virtual environment of its
own, created here on first use. For every workload × dataflow × array below, the workload's
topology is written with :func:`workloads.scalesim.write_scalesim` (``<workload>.topology.csv``),
SCALE-Sim runs it in bandwidth mode CALC (stall-free) — and for a few points USER with a finite
DRAM bandwidth — and its per-layer COMPUTE_REPORT is stored as
``<workload>_<dataflow>_<rows>x<cols>[_bw<B>].csv`` with SCALE-Sim's own column names; USER
points also keep its DETAILED_ACCESS_REPORT (``….access.csv``: DRAM reads and writes per operand).

In USER mode SCALE-Sim 3.0 takes the ifmap and filter DRAM read bandwidths from the ``[layout]``
keys ``IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` and only the ofmap write bandwidth
from ``Bandwidth``; the configuration below sets all three to B words (bytes) per cycle, with one
bank so the bank split stays exact.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from workloads.builders import TransformerConfig, mobilenet_v2_trace, transformer_trace  # noqa: E402
from workloads.scalesim import write_scalesim  # noqa: E402
from workloads.zoo import build_network  # noqa: E402

WORKLOADS = {  # small enough that SCALE-Sim finishes each point in well under a minute
    "mobilenet_v2_r32": (lambda: mobilenet_v2_trace(resolution=32), "conv"),
    "bert_2l_s16": (lambda: transformer_trace(BERT_2L, seq=16), "gemm"),  # BERT-base width, 2 blocks
    "minilm_l6_s8": (lambda: transformer_trace("minilm_l6", seq=8), "conv"),
    "squeezenet": (lambda: build_network("squeezenet"), "conv"),  # ws only: ~2 min a point
}
ONLY_DATAFLOWS = {"squeezenet": ("ws",)}
BERT_2L = TransformerConfig("bert_2l", 2, 768, 12, 3072, 16)
DATAFLOWS = ("ws", "os", "is")
ARRAYS = ((32, 32), (16, 64))
USER_POINTS = (("mobilenet_v2_r32", "ws", (32, 32), 4), ("bert_2l_s16", "os", (32, 32), 2))
SRAM_KB = (256, 256, 128)
# N:M sparse weights (SCALE-Sim 3.0 runs them on ws only, ELLPACK-block metadata, unoptimized mapping):
# stored in sparse/ as <workload>_ws_<rows>x<cols>_<N>of<M>.csv with its SPARSE_REPORT beside it and the
# topology it ran (<workload>_<N>of<M>.topology.csv)
SPARSE_POINTS = (("bert_2l_s16", "2:4", (32, 32)), ("bert_2l_s16", "1:4", (16, 64)),
                 ("mobilenet_v2_r32", "2:4", (32, 32)), ("mobilenet_v2_r32", "4:8", (16, 64)),
                 ("minilm_l6_s8", "1:4", (32, 32)), ("minilm_l6_s8", "3:8", (32, 32)))
SPARSE = HERE / "sparse"

CONFIG = """[general]
run_name = run

[run_presets]
InterfaceBandwidth = {mode}
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
ifmapsramszkB = {ifmap}
filtersramszkB = {filt}
ofmapsramszkB = {ofmap}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32
Bandwidth = {bandwidth}

[layout]
IfmapCustomLayout = False
FilterCustomLayout = False
IfmapSRAMBankBandwidth = {read_bandwidth}
IfmapSRAMBankNum = 1
IfmapSRAMBankPort = 2
FilterSRAMBankBandwidth = {read_bandwidth}
FilterSRAMBankNum = 1
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = {sparse}
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40
"""

RUNNER = """
import contextlib, io, sys
from scalesim.scale_sim import scalesim
config, topology, layout, gemm, out = sys.argv[1:6]
with contextlib.redirect_stdout(io.StringIO()):
    s = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology, layout=layout,
                 input_type_gemm=gemm == "gemm")
    s.run_scale(top_path=out)
"""


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "scalesim==3.0.0", "numpy<2.4"], check=True)
    return python


def run_scalesim(python: Path, topology: Path, form: str, dataflow: str, rows: int, cols: int,
                 bandwidth: int | None, workdir: Path, sparse: bool = False) -> Path:
    """Run SCALE-Sim on ``topology`` in ``workdir``; returns its COMPUTE_REPORT.csv."""
    (workdir / "run.cfg").write_text(CONFIG.format(
        mode="USER" if bandwidth else "CALC", rows=rows, cols=cols, ifmap=SRAM_KB[0], filt=SRAM_KB[1],
        ofmap=SRAM_KB[2], dataflow=dataflow, bandwidth=bandwidth or 10,
        read_bandwidth=bandwidth or 10, sparse="true" if sparse else "false"))
    names = [line.split(",")[0] for line in topology.read_text().splitlines()[1:] if line.strip()]
    # SCALE-Sim insists on a layout file even without custom layouts: one placeholder row a layer
    (workdir / "layout.csv").write_text("Layer name," + ",".join(["x"] * 20) + ",\n" + "".join(
        f"{n}," + ",".join(["1"] * 6 + ["0", "1", "2"] * 2 + ["0", "1", "2", "3"] * 3) + ",\n" for n in names))
    subprocess.run([str(python), "-c", RUNNER, str(workdir / "run.cfg"), str(topology),
                    str(workdir / "layout.csv"), form, str(workdir / "out")], check=True)
    return workdir / "out" / "run" / "COMPUTE_REPORT.csv"


def run_point(python: Path, name: str, form: str, dataflow: str, array, bandwidth: int | None) -> Path:
    rows, cols = array
    suffix = f"_bw{bandwidth}" if bandwidth else ""
    target = HERE / f"{name}_{dataflow}_{rows}x{cols}{suffix}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        report = run_scalesim(python, HERE / f"{name}.topology.csv", form, dataflow, rows, cols, bandwidth, Path(tmp))
        if bandwidth:  # its DRAM read/write counts explain where the stall cycles come from
            shutil.copy(report.with_name("DETAILED_ACCESS_REPORT.csv"), target.with_suffix(".access.csv"))
        shutil.copy(report, target)
    print(target.name, flush=True)
    return target


def run_sparse_point(python: Path, name: str, form: str, pattern: str, array) -> Path:
    rows, cols = array
    n, m = pattern.split(":")
    target = SPARSE / f"{name}_ws_{rows}x{cols}_{n}of{m}.csv"
    text, _ = write_scalesim(WORKLOADS[name][0](), form, weight_sparsity=pattern)
    (SPARSE / f"{name}_{n}of{m}.topology.csv").write_text(text)  # 1:1 on the layers without weights
    with tempfile.TemporaryDirectory() as tmp:
        topology = Path(tmp) / f"{name}.topology.csv"
        topology.write_text(text)
        report = run_scalesim(python, topology, form, "ws", rows, cols, None, Path(tmp), sparse=True)
        shutil.copy(report.with_name("SPARSE_REPORT.csv"), target.with_suffix(".sparse.csv"))
        shutil.copy(report, target)
    print(target.name, flush=True)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "hwmodel-scalesim-venv")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="regenerate just this workload")
    args = parser.parse_args(argv)
    python = ensure_venv(args.venv)
    points = []
    for name, (build, form) in WORKLOADS.items():
        if args.only and name != args.only:
            continue
        text, _ = write_scalesim(build(), form)
        (HERE / f"{name}.topology.csv").write_text(text)
        points += [(name, form, df, array, None) for df in ONLY_DATAFLOWS.get(name, DATAFLOWS)
                   for array in ARRAYS if not (HERE / f"{name}_{df}_{array[0]}x{array[1]}.csv").exists()]
    points += [(n, WORKLOADS[n][1], df, array, bw) for n, df, array, bw in USER_POINTS
               if (not args.only or n == args.only)
               and not (HERE / f"{n}_{df}_{array[0]}x{array[1]}_bw{bw}.csv").exists()]
    SPARSE.mkdir(exist_ok=True)
    sparse = [(n, WORKLOADS[n][1], pattern, array) for n, pattern, array in SPARSE_POINTS
              if (not args.only or n == args.only) and not (
                  SPARSE / f"{n}_ws_{array[0]}x{array[1]}_{pattern.replace(':', 'of')}.csv").exists()]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda p: run_point(python, *p), points))
        list(pool.map(lambda p: run_sparse_point(python, *p), sparse))


if __name__ == "__main__":
    main()
