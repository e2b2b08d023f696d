"""The accelerator model: SCALE-Sim-exact compute cycles, formulas, energy, config, the run command."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwmodel.arch.accelerator import Accelerator, PeCost, load_accelerator, sram_energy_pj
from hwmodel.arch.evaluate import compute_cycles, evaluate, evaluate_many, dram_transfer_cycles
from workloads.scalesim import read_scalesim
from workloads.zoo import load_trace

GOLDEN = Path(__file__).parent / "golden" / "scalesim"
CALC = sorted(p for p in GOLDEN.glob("*_*x*.csv") if "_bw" not in p.name and ".topology" not in p.name)
PE = PeCost("int8", area_um2=838.0, energy_pj_per_mac=1.36, delay_ns=1.21, leakage_nw=10.0,
            idle_energy_pj_per_cycle=0.3)


def golden(path: Path):
    workload, dataflow, array = path.stem.split("_bw")[0].rsplit("_", 2)
    rows, cols = (int(v) for v in array.split("x"))
    report = list(csv.DictReader(io.StringIO(path.read_text().replace(", ", ","))))
    trace = read_scalesim(GOLDEN / f"{workload}.topology.csv")
    return trace, dataflow, rows, cols, [int(r["Total Cycles"]) for r in report]


def _per_layer(trace, scalesim_cycles):
    """SCALE-Sim splits a DP layer into one layer per channel: sum those back."""
    out, i = [], 0
    for row in trace.layers.itertuples():
        span = row.gemm_count if row.op == "scalesim_dp" else 1
        out.append(sum(scalesim_cycles[i:i + span]))
        i += span
    assert i == len(scalesim_cycles)
    return np.array(out)


def test_golden_files_cover_three_networks_three_dataflows_two_arrays():
    combos = {(p.name.rsplit("_", 2)[0], p.name.rsplit("_", 2)[1], p.stem.rsplit("_", 1)[1]) for p in CALC}
    networks = {c[0] for c in combos}
    full = [n for n in networks if {(n, d, a) for d in ("ws", "os", "is") for a in ("32x32", "16x64")} <= combos]
    assert len(full) >= 3, sorted(combos)


@pytest.mark.parametrize("path", CALC, ids=lambda p: p.stem)
def test_compute_cycles_equal_scalesim(path):
    trace, dataflow, rows, cols, cycles = golden(path)
    ours = compute_cycles(dataflow, rows, cols, trace.layers.gemm_m, trace.layers.gemm_n,
                          trace.layers.gemm_k, trace.layers.gemm_count)
    assert np.array_equal(ours, _per_layer(trace, cycles))


def test_cycle_formula_by_hand():
    # 100 output pixels, 40 filters, window 72 on 8×8: os 13·5 folds of 72+8+8−2
    assert compute_cycles("os", 8, 8, 100, 40, 72) == 65 * 86 - 1
    assert compute_cycles("ws", 8, 8, 100, 40, 72) == 9 * 5 * (100 + 16 + 8 - 2) - 1
    assert compute_cycles("is", 4, 16, 100, 40, 72) == 18 * 7 * (40 + 8 + 16 - 2) - 1
    assert compute_cycles("ws", 8, 8, 100, 40, 72, count=3) == 3 * (9 * 5 * 122 - 1)


def test_idle_pes_are_their_own_energy():
    """A decode step keeps ~1 % of a 32×32 array busy: the idle PE-cycles' clock energy was
    reported as MAC energy (20× the MACs' own); it is its own part, exactly the idle PE-cycles."""
    result = evaluate(Accelerator(32, 32, "ws", PE), load_trace("llama3_2_1b_decode"))
    layers, s = result.layers, result.summary
    mac = layers[layers.kind.isin(["conv", "linear", "matmul", "depthwise"])]
    assert s["energy_mac_uj"] == pytest.approx(s["macs"] * PE.energy_pj_per_mac * 1e-6)
    idle_cycles = (mac.cycles * 1024 - mac.macs).clip(lower=0).sum()
    assert s["energy_idle_uj"] == pytest.approx(idle_cycles * PE.idle_energy_pj_per_cycle * 1e-6)
    assert s["utilization"] < 0.05 and s["energy_idle_uj"] > 5 * s["energy_mac_uj"]


def test_evaluate_summary_and_components():
    trace = load_trace("resnet50")
    result = evaluate(Accelerator(32, 32, "ws", PE), trace)
    s = result.summary
    assert s["macs"] == trace.layers.macs.sum()
    parts = s["energy_mac_uj"] + s["energy_idle_uj"] + s["energy_sram_uj"] + s["energy_dram_uj"] + s["energy_leakage_uj"]
    assert parts == pytest.approx(s["energy_uj"])
    assert 0 < s["utilization"] <= 1 and s["tops"] > 0 and s["tops_per_w"] > 0
    mac = result.layers[result.layers.kind.isin(["conv", "linear", "matmul", "depthwise"])]
    assert (mac.utilization <= 1).all() and (mac.compute_cycles * 1024 >= mac.macs).all()
    # wider operands move more bits
    wide = evaluate(Accelerator(32, 32, "ws", PE, weight_bits=16, activation_bits=16), trace).summary
    assert wide["energy_sram_uj"] > s["energy_sram_uj"] and wide["energy_dram_uj"] > s["energy_dram_uj"]
    # a finite bandwidth only adds stalls
    slow = evaluate(Accelerator(32, 32, "ws", PE, dram_bandwidth_bytes_per_cycle=1), trace)
    assert (slow.layers.cycles >= result.layers.cycles).all() and slow.layers.stall_cycles.sum() > 0


def test_mixed_precision_and_many_design_points():
    trace = load_trace("mobilenet_v2")
    base = Accelerator(16, 16, "os", PE)
    w4 = Accelerator(16, 16, "os", PeCost("w4a8", 500.0, 0.8, 1.0), weight_bits=4)
    mac_layers = list(trace.mac_layers.name)
    mixed = evaluate(w4, trace, {mac_layers[0]: base, mac_layers[-1]: base})
    assert evaluate(w4, trace).summary["energy_uj"] < mixed.summary["energy_uj"] < evaluate(base, trace).summary["energy_uj"]
    accs = [Accelerator(r, c, df, PE) for r in (8, 32) for c in (16, 64) for df in ("ws", "os", "is")]
    table = evaluate_many(accs, trace)
    for i, acc in enumerate(accs):
        single = evaluate(acc, trace).summary
        assert table.cycles[i] == single["cycles"]
        assert table.energy_uj[i] == pytest.approx(single["energy_uj"])


def test_sram_model_follows_horowitz_points():
    assert sram_energy_pj(8 * 1024, 64) == pytest.approx(10.0)
    assert sram_energy_pj(32 * 1024, 64) == pytest.approx(20.0)
    assert sram_energy_pj(1024 * 1024, 32) == pytest.approx(50.0)
    assert sram_energy_pj(2 * 1024, 64) < 10.0 < sram_energy_pj(16 * 1024, 64) < 20.0


@pytest.mark.parametrize("kwargs,message", [
    ({"array_rows": 0}, "array_rows must be at least 1, not 0"),
    ({"array_rows": True}, "array_rows must be an integer, not True"),
    ({"ifmap_sram_kb": float("inf")}, "ifmap_sram_kb must be a finite number, not inf"),
    ({"dram_energy_pj_per_bit": "20"}, "dram_energy_pj_per_bit must be a number, not '20'"),
    ({"dataflow": "wss"}, r"dataflow must be one of .* \(did you mean 'ws'\?\)"),
    ({"dram_bandwidth_bytes_per_cycle": 0}, "dram_bandwidth_bytes_per_cycle must be positive"),
    ({"dram_channels": "two"}, "dram_channels must be one of"),
    ({"filter_sram_kb": 0.5}, r"memory level .filter. \(0.5 KB\) is smaller than the smallest tile it must hold .*weights 8192 bits, double-buffered"),
])
def test_bad_accelerators(kwargs, message):
    args = {"array_rows": 32, "array_cols": 32, "dataflow": "ws", "pe": PE} | kwargs
    with pytest.raises(ValueError, match=message):
        Accelerator(**args)


def test_toml_config_and_unknown_keys(tmp_path):
    good = tmp_path / "accel.toml"
    good.write_text('array = "16x32"\ndataflow = "is"\nifmap_sram_kb = 64\n\n[pe]\nname = "x"\narea_um2 = 100.0\n'
                    'energy_pj_per_mac = 0.5\ndelay_ns = 2.0\n')
    acc = load_accelerator(good)
    assert (acc.array_rows, acc.array_cols, acc.dataflow, acc.ifmap_sram_kb) == (16, 32, "is", 64)
    bad = tmp_path / "bad.toml"
    bad.write_text('array = "16x32"\ndataflow = "is"\nifmap_sram_kib = 64\n')
    with pytest.raises(ValueError, match="bad.toml: unknown key 'ifmap_sram_kib'; did you mean 'ifmap_sram_kb'"):
        load_accelerator(bad)
    worse = tmp_path / "worse.toml"
    worse.write_text("array = [1,\n")
    with pytest.raises(ValueError, match="worse.toml: malformed TOML"):
        load_accelerator(worse)


@pytest.mark.parametrize("text,message", [
    ("ifmap_sram_kb = inf\n", "ifmap_sram_kb must be a finite number, not inf"),
    ("ifmap_sram_kb = true\n", "ifmap_sram_kb must be a number, not True"),
    ('array_rows = "16"\narray_cols = 4\ndataflow = "ws"\n', "array_rows must be an integer, not '16'"),
    ("array = 16\n", "array must be a string, not 16"),
    ("[pe]\nname = \"x\"\narea_um2 = 1.0\nenergy_pj_per_mac = 0.5\ndelay_ns = 2.0\narea = 3\n",
     "unknown key 'pe.area'; did you mean 'pe.area_um2'"),
])
def test_toml_values_are_checked(tmp_path, text, message):
    path = tmp_path / "a.toml"
    path.write_text(("" if "array" in text else 'array = "8x8"\ndataflow = "ws"\n') + text + ("" if "[pe]" in text else '\n[pe]\nname = "x"\narea_um2 = 1.0\nenergy_pj_per_mac = 0.5\n'
                                                      'delay_ns = 2.0\n'))
    with pytest.raises(ValueError, match=message) as info:
        load_accelerator(path)
    assert str(path) in str(info.value)


def test_a_measured_pe_and_a_pe_table_contradict(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[pe]\nname = "x"\narea_um2 = 1.0\nenergy_pj_per_mac = 0.5\ndelay_ns = 2.0\n')
    with pytest.raises(ValueError, match=r"\[pe\] gives a PE cost, but the PE here is the synthesized MAC"):
        load_accelerator(path, pe=PE)


def test_run_flags_override_the_file_and_the_file_the_defaults(tmp_path):
    """`--config` with array = 16x64 and os was reported as 32×32 ws: CLI defaults won."""
    config = tmp_path / "accel.toml"
    config.write_text('array = "16x64"\ndataflow = "os"\nmapping = "scalesim"\n')  # cycles exactly SCALE-Sim's
    base = [sys.executable, "-m", "hwmodel.cli", "run", "--workload", "squeezenet", "--library", "nangate45_typ",
            "--cache-dir", str(tmp_path / "cache"), "--config", str(config), "--json"]
    from_file = json.loads(subprocess.run(base, capture_output=True, text=True, check=True).stdout)
    trace = load_trace("squeezenet")
    want = sum(int(compute_cycles("os", 16, 64, r.gemm_m, r.gemm_n, r.gemm_k, r.gemm_count))
               for r in trace.mac_layers.itertuples())
    got = sum(layer["compute_cycles"] for layer in from_file["layers"] if layer["kind"] in ("conv", "depthwise", "linear", "matmul"))
    assert got == want
    flagged = json.loads(subprocess.run(base + ["--dataflow", "ws"], capture_output=True, text=True, check=True).stdout)
    want_ws = sum(int(compute_cycles("ws", 16, 64, r.gemm_m, r.gemm_n, r.gemm_k, r.gemm_count))
                  for r in trace.mac_layers.itertuples())
    assert sum(layer["compute_cycles"] for layer in flagged["layers"]
               if layer["kind"] in ("conv", "depthwise", "linear", "matmul")) == want_ws


def test_run_uses_a_pe_table_when_no_mac_is_named(tmp_path):
    config = tmp_path / "accel.toml"
    config.write_text('[pe]\nname = "what-if"\narea_um2 = 500.0\nenergy_pj_per_mac = 0.25\ndelay_ns = 2.0\n')
    out = subprocess.run([sys.executable, "-m", "hwmodel.cli", "run", "--workload", "squeezenet", "--config",
                          str(config), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)["summary"]
    assert summary["energy_mac_uj"] >= summary["macs"] * 0.25e-6


def test_run_command(tmp_path):
    base = [sys.executable, "-m", "hwmodel.cli", "run", "--workload", "minilm_l6", "--array", "16x16",
            "--dataflow", "os", "--a", "int8_sym", "--b", "int8_sym", "--acc", "int32", "--library", "nangate45_typ",
            "--cache-dir", str(tmp_path)]
    out = subprocess.run(base + ["--csv"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows[0].keys() >= {"name", "compute_cycles"} and len(rows) == len(load_trace("minilm_l6").layers)
    summary = json.loads(subprocess.run(base + ["--json"], capture_output=True, text=True).stdout)["summary"]
    assert summary["tops_per_w"] > 0 and summary["area_mm2"] > 0
    bad = subprocess.run(base[:-2] + ["--array", "0x4"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--array 0x4: array rows and columns must be positive" in bad.stderr


USER = sorted(p for p in GOLDEN.glob("*_bw*.csv") if ".access" not in p.name)


def _access(path: Path) -> dict:
    report = list(csv.DictReader(io.StringIO(path.with_suffix(".access.csv").read_text().replace(", ", ","))))
    return {key: np.array([float(r[key]) for r in report])
            for key in ("DRAM IFMAP Reads", "DRAM Filter Reads", "DRAM OFMAP Writes")}


@pytest.mark.parametrize("path", USER, ids=lambda p: p.stem)
def test_bandwidth_stalls_match_scalesim_user_mode_given_its_traffic(path):
    """SCALE-Sim USER mode (a B-byte/cycle interface per operand): with the DRAM traffic its own
    access report records, our overlap model gives its total cycles within 5 %."""
    trace, dataflow, rows, cols, total = golden(path)
    report = list(csv.DictReader(io.StringIO(path.read_text().replace(", ", ","))))
    compute = np.array([int(r["Total Cycles"]) - int(r["Stall Cycles"]) for r in report])
    bandwidth = int(path.stem.split("_bw")[1])
    traffic = _access(path)
    ours = compute + np.maximum(dram_transfer_cycles(list(traffic.values()), bandwidth, "per_operand") - compute, 0)
    assert sum(ours) == pytest.approx(sum(total), rel=0.05)
    # its compute part is the stall-free count we match exactly
    assert (_per_layer(trace, compute) == compute_cycles(dataflow, rows, cols, trace.layers.gemm_m, trace.layers.gemm_n,
                                                          trace.layers.gemm_k, trace.layers.gemm_count)).all()


@pytest.mark.parametrize("path", USER, ids=lambda p: p.stem)
def test_our_traffic_reads_each_operand_at_least_once_and_less_than_scalesim(path):
    """SCALE-Sim's totals are several times ours because its read buffer re-fetches data (its own
    access report shows it); ours must still read every weight and input at least once."""
    trace, dataflow, rows, cols, total = golden(path)
    bandwidth = int(path.stem.split("_bw")[1])
    acc = Accelerator(rows, cols, dataflow, PE, weight_bits=8, activation_bits=8, output_bits=8,
                      dram_bandwidth_bytes_per_cycle=bandwidth, dram_channels="per_operand")
    layers = evaluate(acc, trace).layers
    operands = (trace.layers.weight_elems + trace.layers.input_elems).to_numpy()
    assert (layers.dram_bytes.to_numpy() >= operands).all()
    assert layers.dram_bytes.sum() < sum(v.sum() for v in _access(path).values())
    assert sum(total) >= layers.cycles.sum() >= layers.compute_cycles.sum()


def test_block_formats_move_their_scales_too():
    """An MXFP8 element is stored with its share of the block's E8M0 scale (8 + 8/32 bits), an
    NVFP4 one with its E4M3 scale's (4 + 8/16): the compulsory traffic grows by exactly that."""
    from rtl.hdl.spec import MacSpec

    mx = MacSpec.from_names("mxfp8_e4m3", "mxfp8_e4m3", "float32", lanes=32)
    nv = MacSpec.from_names("nvfp4", "nvfp4", "float32", lanes=16)
    assert mx.storage_bits == (8.25, 8.25) and nv.storage_bits == (4.5, 4.5)
    assert MacSpec.from_names("int8_sym", "int8_sym", "fixed").storage_bits == (8, 8)
    trace = load_trace("resnet50")
    plain = evaluate(Accelerator(32, 32, "ws", PE), trace).summary
    scaled = evaluate(Accelerator(32, 32, "ws", PE, weight_bits=8.25, activation_bits=8.25, output_bits=8.25),
                      trace).summary
    assert scaled["compulsory_dram_mb"] == pytest.approx(plain["compulsory_dram_mb"] * 8.25 / 8)
    assert scaled["dram_mb"] > plain["dram_mb"]
