"""Liberty reading and the compact cell tables derived from it."""

import gzip
import json
from pathlib import Path

import pytest

from rtl.tech import cells as C
from rtl.tech.liberty import LibertyError, parse_boolean, parse_liberty

PDK = Path(__file__).resolve().parents[2] / "shared" / "pdk"
FULL = {"sky130hd_tt": PDK / "sky130hd_tt.lib.gz", "nangate45_typ": PDK / "nangate45_typ.lib.gz"}
needs_pdk = pytest.mark.skipif(not PDK.is_dir(), reason="../shared/pdk is not present")

SMALL_LIB = """
library (tiny) {
  time_unit : "1ns"; voltage_unit : "1V"; leakage_power_unit : "1nW";
  capacitive_load_unit (1, ff); nom_voltage : 1.0;
  lu_table_template (t) { variable_1 : input_net_transition; variable_2 : total_output_net_capacitance;
    index_1 ("0.1, 0.2"); index_2 ("1, 2"); }
  cell (INV) { area : 1.0; cell_leakage_power : 2.0;
    pin (A) { direction : input; capacitance : 1.5; }
    pin (Y) { direction : output; function : "!A";
      timing () { related_pin : "A"; cell_rise (t) { values ("0.01, 0.02", "0.03, 0.04"); }
        cell_fall (t) { values ("0.01, 0.02", "0.03, 0.04"); }
        rise_transition (t) { values ("0.1, 0.1", "0.1, 0.1"); } fall_transition (t) { values ("0.1, 0.1", "0.1, 0.1"); } }
      internal_power () { related_pin : "A"; rise_power (t) { values ("2, 2", "2, 2"); } fall_power (t) { values ("4, 4", "4, 4"); } }
    }
  }
  cell (NAND) { area : 2.0; pin (A) { direction : input; capacitance : 1; } pin (B) { direction : input; capacitance : 1; }
    pin (Y) { direction : output; function : "(A B)'"; } }
  cell (DFF) { area : 5.0; ff (IQ, IQN) { clocked_on : "CK"; next_state : "D"; }
    pin (D) { direction : input; capacitance : 1; } pin (CK) { direction : input; capacitance : 1; clock : true; }
    pin (Q) { direction : output; function : "IQ"; } }
}
"""


def test_parse_small_library_and_units(tmp_path):
    path = tmp_path / "tiny.lib"
    path.write_text(SMALL_LIB)
    lib = C.derive_library(path, dont_use=[])
    inv = lib.cell("INV")
    assert inv.area_um2 == 1.0 and inv.leakage_nw == 2.0
    assert inv.inputs == {"A": pytest.approx(1.5e-3)}  # fF → pF
    assert inv.internal_energy_pj == pytest.approx(3e-3)  # fF·V² → pJ, mean of rise and fall
    assert lib.nand2.name == "NAND"
    assert lib.cell("DFF").flip_flop["next_state"] == "D"
    # the gzip form reads the same
    gz = tmp_path / "tiny.lib.gz"
    gz.write_bytes(gzip.compress(SMALL_LIB.encode()))
    assert C.derive_library(gz, dont_use=[]).cells.keys() == lib.cells.keys()


def test_truncated_and_foreign_files_name_file_and_line(tmp_path):
    cut = tmp_path / "cut.lib"
    cut.write_text(SMALL_LIB[: SMALL_LIB.index("cell (NAND)") + 20])
    with pytest.raises(LibertyError, match=r"cut\.lib:\d+: .*(not closed|expected).*truncated"):
        parse_liberty(cut)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello: world;\n")
    with pytest.raises(LibertyError, match=r"notes\.txt:1: not a liberty file"):
        parse_liberty(foreign)
    broken_gz = tmp_path / "broken.lib.gz"
    broken_gz.write_bytes(gzip.compress(SMALL_LIB.encode())[:100])
    with pytest.raises(LibertyError, match="broken.lib.gz: truncated or corrupt gzip"):
        parse_liberty(broken_gz)
    with pytest.raises(LibertyError, match="cannot read"):
        parse_liberty(tmp_path / "missing.lib")


@pytest.mark.parametrize("text,truth", [
    ("!A", {(0,): 1, (1,): 0}), ("(A B)'", {(1, 1): 0, (1, 0): 1}), ("A ^ B", {(1, 1): 0, (0, 1): 1}),
    ("(!A) | (!B)", {(1, 1): 0, (0, 1): 1}), ("A*B+!A*C", None),
])
def test_boolean_functions(text, truth):
    tree = parse_boolean(text)
    for bits, want in (truth or {}).items():
        names = ["A", "B", "C"][:len(bits)]
        assert C.evaluate_boolean(tree, dict(zip(names, [bool(b) for b in bits]))) == bool(want)
    with pytest.raises(ValueError):
        parse_boolean("A & (B")


@pytest.mark.parametrize("name", list(C.EMBEDDED_LIBRARIES))
def test_embedded_tables_are_self_consistent(name):
    lib = C.load_library(name)
    assert lib.provenance["sha256"] and lib.provenance["source"].endswith(".lib.gz")
    assert lib.nand2.area_um2 > 0 and lib.voltage_v in (1.8, 1.1)
    seq = [c for c in lib.cells.values() if c.is_sequential and not c.dont_use]
    assert seq and all(c.delay_ns > 0 for c in seq)
    text = C.write_minimal_liberty(lib)
    minimal = parse_liberty("minimal.lib", text)
    assert len(minimal.children("cell")) > 50
    # usable cells for mapping, and the clock gates for Yosys's clockgate (each named as one)
    for cell in minimal.children("cell"):
        if lib.cell(cell.name).is_clock_gate:
            assert cell.attributes["clock_gating_integrated_cell"].startswith("latch_posedge")
            assert not any("function" in p.attributes for p in cell.children("pin"))  # never a mapping target
        else:
            assert not lib.cell(cell.name).dont_use
    assert any(lib.cell(c.name).is_clock_gate for c in minimal.children("cell"))


@needs_pdk
@pytest.mark.parametrize("name", list(C.EMBEDDED_LIBRARIES))
def test_embedded_tables_are_current(name):
    """The shipped table is what `hwmodel data cells` derives from the full liberty today."""
    derived = C.derive_library(FULL[name], name)
    shipped = C.load_library(name)
    assert json.loads(derived.to_json()) == json.loads(shipped.to_json())


def test_unknown_library_is_an_error():
    with pytest.raises(ValueError, match="unknown library 'tsmc7'"):
        C.load_library("tsmc7")
