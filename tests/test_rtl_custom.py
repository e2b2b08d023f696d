"""A user's own Verilog through the flow (rtl.flow.custom, `hwmodel synth --verilog`)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtl.errors import FieldError
from rtl.flow.custom import characterize_verilog
from rtl.tech.technology import technology

XORREG = """\
module xorreg #(parameter W = 4) (input clk, input rst, input [W-1:0] a, input [W-1:0] b,
                                  output reg [W-1:0] q);
  always @(posedge clk) begin
    if (rst) q <= 0;
    else q <= a ^ b;
  end
endmodule
"""

ADDERS = """\
module adder #(parameter int W = 8) (input logic [W-1:0] a, b, output logic [W:0] s);
  always_comb s = a + b;
endmodule
module pair #(parameter int N = 8) (input logic [N-1:0] x, y, z, output logic [N:0] s0, s1);
  adder #(.W(N)) u0 (.a(x), .b(y), .s(s0));
  adder #(.W(N)) u1 (.a(y), .b(z), .s(s1));
endmodule
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "xorreg.v").write_text(XORREG)
    (tmp_path / "adders.sv").write_text(ADDERS)
    (tmp_path / "bad.v").write_text("module bad(input clk, input [3:0] a, output reg [3:0] q);\n"
                                    "  always @(posedge clk) q <= a +\nendmodule\n")
    (tmp_path / "latch.v").write_text("module latchy(input en, input [3:0] d, output reg [3:0] q);\n"
                                      "  always @* if (en) q = d;\nendmodule\n")
    return tmp_path


@pytest.mark.parametrize("width", [4, 8])
def test_a_known_design_against_its_hand_count(files, width):
    """q <= rst ? 0 : a ^ b: W flip-flops and, per bit, one gate for the XOR and one for the
    reset (sky130 maps them to xnor2 + nor2) — 3W cells, W of them the plain D flip-flop."""
    cost = characterize_verilog(files / "xorreg.v", "sky130hd_tt", params={"W": str(width)}, cycles=50)
    cells = technology("sky130hd_tt").cells.cells
    assert cost.cell_count == 3 * width
    assert cost.cells_by_type["sky130_fd_sc_hd__dfxtp_1"] == width
    assert cost.sequential_area_um2 == pytest.approx(width * cells["sky130_fd_sc_hd__dfxtp_1"].area_um2)
    assert cost.area_um2 == pytest.approx(sum(cells[c].area_um2 * n for c, n in cost.cells_by_type.items()))
    assert cost.clock_port == "clk" and cost.reset_port == "rst" and cost.inputs == {"rst": 1, "a": width, "b": width}
    assert cost.energy_breakdown_pj_per_cycle["clock"] > 0 and not cost.verified
    assert "unverified" in cost.provenance["energy"]


def test_a_stimulus_and_its_expected_outputs_verify_the_energy(files):
    (files / "stim.csv").write_text("rst,a,b\n1,0,0\n0,3,5\n0,0x7,1\n0,7,1\n")
    (files / "expect.csv").write_text("q\n0\n0\n6\n6\n")
    cost = characterize_verilog(files / "xorreg.v", "sky130hd_tt", stimulus=files / "stim.csv",
                                expect=files / "expect.csv")
    assert cost.verified and cost.cycles == 4 and cost.provenance["stimulus_sha256"]
    (files / "wrong.csv").write_text("q\n0\n0\n6\n7\n")
    with pytest.raises(FieldError, match=r"wrong.csv, row 5, column q: the netlist gives 0x6, expected 0x7"):
        characterize_verilog(files / "xorreg.v", "sky130hd_tt", stimulus=files / "stim.csv",
                             expect=files / "wrong.csv")


def test_systemverilog_hierarchy_and_parameters(files):
    cost = characterize_verilog(files / "adders.sv", "nangate45_typ", params={"N": "4"}, cycles=20)
    assert cost.top == "pair" and cost.clock_port is None and cost.energy_breakdown_pj_per_cycle["clock"] == 0
    adder = cost.module_area_um2["adder (W=4)"]
    assert adder["instances"] == 2 and adder["area_um2"] == pytest.approx(2 * adder["area_um2_each"])
    assert cost.area_um2 == pytest.approx(sum(m["area_um2"] for m in cost.module_area_um2.values()))
    assert cost.outputs == {"s0": 5, "s1": 5} and cost.critical_path_ns > 0
    wider = characterize_verilog(files / "adders.sv", "nangate45_typ", params={"N": "16"}, cycles=20)
    assert wider.area_um2 > 2.5 * cost.area_um2


def test_bad_input_names_what_and_where(files):
    with pytest.raises(FieldError, match=r"bad.v:3: ERROR: syntax error"):
        characterize_verilog(files / "bad.v")
    with pytest.raises(FieldError, match=r"no module 'nope' .*; modules: xorreg"):
        characterize_verilog(files / "xorreg.v", top="nope")
    with pytest.raises(FieldError, match=r"xorreg has no parameter 'N'; its parameters: W"):
        characterize_verilog(files / "xorreg.v", params={"N": "3"})
    with pytest.raises(FieldError, match=r"latchy infers 4 latch"):
        characterize_verilog(files / "latch.v")
    (files / "narrow.csv").write_text("rst,a,b\n0,16,1\n")
    with pytest.raises(FieldError, match=r"narrow.csv, row 2, column a: 16 does not fit the port's 4 bit"):
        characterize_verilog(files / "xorreg.v", stimulus=files / "narrow.csv")
    (files / "missing.csv").write_text("a,b,c\n1,1,1\n")
    with pytest.raises(FieldError, match=r"no column for rst; c is not an input of the module"):
        characterize_verilog(files / "xorreg.v", stimulus=files / "missing.csv")
    with pytest.raises(FieldError, match="no such file"):
        characterize_verilog(files / "nothere.v")


def test_cli_reports_and_refuses(files):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hwmodel.cli", "synth", *args], capture_output=True, text=True,
                              env=env, timeout=300)
    out = run("--verilog", str(files / "xorreg.v"), "--param", "W=8", "--cycles", "20")
    assert out.returncode == 0, out.stderr
    assert "24 cells" in out.stdout and "UNVERIFIED energy" in out.stdout and "clock clk, reset rst" in out.stdout
    for args, message in ((["--verilog", str(files / "bad.v")], "bad.v:3: ERROR"),
                          (["--verilog", str(files / "xorreg.v"), "--param", "W"], "--param takes K=V"),
                          (["--verilog", str(files / "xorreg.v"), "--a", "int8_sym"], "give one or the other")):
        out = run(*args)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
