"""The MAC table (whitepaper Figure 3 measured) and the synth command."""

import json
import subprocess
import sys

import pytest

from hwmodel import cli
from hwmodel.study.mac_table import (BASELINE, build_mac_table, differs_from_paper, render_mac_table,
                                     write_mac_table)
from hwmodel.reference import FIGURE3_GATES
from rtl.hdl.spec import STANDARD_DESIGNS, Design

ROWS = [BASELINE, Design("float8_e4m3fnuz", "float8_e4m3fnuz", "float16"),
        Design("float8_e4m3fn", "float8_e4m3fn", "float32", lanes=4)]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return build_mac_table(("nangate45_typ",), rows=ROWS, processes=2, cache_dir=cache)


def test_the_paper_designs_are_all_in_the_standard_set():
    paper = {(d.a, d.acc) for d in STANDARD_DESIGNS if d.in_whitepaper}
    assert paper == set(FIGURE3_GATES)
    assert not Design("int8_sym", "int8_sym", "fixed", lanes=4).in_whitepaper
    assert not Design("float8_e4m3fnuz", "float8_e4m3fnuz", "float16", flush_to_zero=True).in_whitepaper


def test_table_puts_paper_beside_ours(table, tmp_path):
    assert list(table.design[:2]) == ["int8_sym → fixed27", "float8_e4m3fnuz → float16"]
    # the paper's E4M3 → FP16 MAC is 1.94× its INT8 MAC in gates (1110 / 720 in Figure 3)
    assert table.paper_ratio[1] == pytest.approx(1110 / 720, abs=0.01)
    assert table.paper_gates.isna()[2]  # the paper has no dot-product row
    e4 = table.iloc[1]
    assert 1.0 < e4.nangate45_typ_ratio < 3.0 and e4.nangate45_typ_energy_pj_per_mac > 0
    text = render_mac_table(table)
    assert "van Baalen" in text and "Horowitz" in text and "+53 % gates" in text
    paths = write_mac_table(table, tmp_path)
    assert {p.name for p in paths} == {"mac_table.csv", "mac_table.txt", "mac_table.png"}
    assert (tmp_path / "mac_table.png").read_bytes()[:4] == b"\x89PNG"


def test_differs_from_paper_formula():
    flags = differs_from_paper([1.0, 1.9, 2.6, 1.2], [1.0, 1.5, 2.0, None], tolerance=0.25)
    assert flags.tolist() == [False, True, True, False]  # +27 % and +30 % are flagged; no paper row, no flag
    assert not differs_from_paper([1.24], [1.0], tolerance=0.25)[0]


def test_render_marks_flagged_rows(table):
    marked = [line for line in render_mac_table(table).splitlines() if "<- differs from the paper" in line]
    assert len(marked) == int(table.differs_from_paper.sum())


def test_synth_command_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hwmodel.cli", "synth", "--a", "int4_sym", "--b", "int4_sym",
                          "--acc", "fixed", "--library", "nangate45_typ", "--macs", "4096",
                          "--cache-dir", str(tmp_path), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cost = json.loads(out.stdout)
    assert cost["library"] == "nangate45_typ" and cost["spec"]["acc"]["width"] == 19
    assert cost["area_um2"] > 0 and cost["energy_pj_per_mac"] > 0 and cost["nand2_equivalent"] > 0


@pytest.mark.parametrize("args,message", [
    (["--liberty", "/nonexistent.lib"], "--liberty /nonexistent.lib: no such file"),
    (["--a", "fp8"], "unknown format 'fp8'"),
])
def test_synth_bad_input_exits_2(args, message):
    base = ["synth", "--a", "int8", "--b", "int8", "--acc", "fixed"]
    out = subprocess.run([sys.executable, "-m", "hwmodel.cli", *base, *args], capture_output=True, text=True)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_truncated_liberty_exits_2_naming_file_and_line(tmp_path, capsys):
    lib = tmp_path / "cut.lib"
    lib.write_text('library (x) {\n  time_unit : "1ns";\n  cell (INV) {\n    area : 1;\n')
    code = cli.main(["synth", "--a", "int8", "--b", "int8", "--acc", "fixed", "--liberty", str(lib), "--no-cache"])
    assert code == 2
    assert f"{lib}:4: group cell (INV) opened on line 3 is not closed" in capsys.readouterr().err


@pytest.mark.slow
def test_full_mac_table_command(tmp_path):
    assert cli.main(["mac-table", "-o", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert (tmp_path / "mac_table.csv").exists()
