"""The mapper, the memory hierarchy in TOML, the SRAM tables, transformer serving workloads."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwmodel.arch.accelerator import Accelerator, PeCost, load_accelerator
from hwmodel.arch.evaluate import compute_cycles, evaluate, evaluate_many
from hwmodel.arch.memory import Buffer, buffer_cost
from rtl.errors import FieldError
from rtl.tech.liberty import LibertyError
from rtl.tech.srams import derive_sram_macros, fit_srams, sram_model
from workloads.builders import LLAMAS, llama_trace
from workloads.trace import Trace, gemm_row
from workloads.zoo import load_trace

ROOT = Path(__file__).resolve().parents[1]
PDK = ROOT.parent / "shared" / "pdk"
PE = PeCost("int8", area_um2=838.0, energy_pj_per_mac=1.36, delay_ns=1.21, library="sky130hd_tt")
GEMMS = Trace.from_rows([gemm_row("a", m=3136, n=64, k=576), gemm_row("b", m=128, n=768, k=3072),
                         gemm_row("c", m=49, n=2048, k=512), gemm_row("d", m=1, n=1000, k=2048),
                         gemm_row("e", m=128, n=128, k=64, count=12, weight=False)],
                        network="gemms", source="test")


def _costed(kb: tuple, **kwargs) -> Accelerator:
    """Separate buffers with one fixed energy per word, so only their capacities differ."""
    buffers = tuple(Buffer(name, size, (operand,), 64, read_energy_pj=20.0, write_energy_pj=20.0, leakage_nw=0.0,
                           area_um2=1.0)
                    for name, operand, size in zip(("i", "w", "o"), ("inputs", "weights", "outputs"), kb))
    return Accelerator(32, 32, kwargs.pop("dataflow", "ws"), PE, accumulator_bits=24, memory=buffers, **kwargs)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_with_room_for_everything_each_operand_moves_once_at_scalesims_cycles(dataflow):
    acc = _costed((1 << 16, 1 << 16, 1 << 16), dataflow=dataflow)
    layers = evaluate(acc, GEMMS).layers
    floor = layers.compulsory_dram_bytes.to_numpy()
    assert layers.dram_bytes.to_numpy() == pytest.approx(floor)
    rows = GEMMS.layers
    want = compute_cycles(dataflow, 32, 32, rows.gemm_m, rows.gemm_n, rows.gemm_k, rows.gemm_count)
    assert (layers.compute_cycles.to_numpy() == np.asarray(want)).all()
    assert not layers.psum_spill.any()


def test_smaller_buffers_never_cost_less_at_the_same_energy_per_access():
    """The small configuration's candidates are a subset of the big one's; its optimum cannot be lower."""
    big, small = _costed((256, 256, 128)), _costed((16, 16, 8))
    a, b = evaluate(big, GEMMS).layers, evaluate(small, GEMMS).layers
    assert (b.energy_pj.to_numpy() >= a.energy_pj.to_numpy() * (1 - 1e-12)).all()
    assert b.dram_bytes.sum() > a.dram_bytes.sum()
    assert (b.dram_bytes.to_numpy() >= b.compulsory_dram_bytes.to_numpy() - 1e-6).all()


def test_each_objective_wins_at_what_it_minimizes():
    trace = load_trace("resnet50")
    runs = {o: evaluate(_costed((32, 32, 16), objective=o), trace).layers for o in ("energy", "latency", "edp")}
    energy, latency = runs["energy"], runs["latency"]
    assert (energy.energy_pj.to_numpy() <= latency.energy_pj.to_numpy() * (1 + 1e-9)).all()
    assert (latency.cycles.to_numpy() <= energy.cycles.to_numpy()).all()
    edp = lambda f: f.energy_pj.to_numpy() * f.cycles.to_numpy()  # noqa: E731
    assert (edp(runs["edp"]) <= np.minimum(edp(energy), edp(latency)) * (1 + 1e-9)).all()
    assert (energy.loop_order[energy.macs > 0] != "").all()


def test_partial_sums_reach_dram_only_when_allowed_and_cheaper():
    acc = _costed((64, 64, 32))
    default = evaluate(acc, GEMMS).layers
    assert not default.psum_spill.any()
    free = evaluate(dataclasses.replace(acc, psum_to_dram=True), GEMMS).layers
    assert (free.energy_pj.to_numpy() <= default.energy_pj.to_numpy() * (1 + 1e-12)).all()
    spilled = free[free.psum_spill]
    assert len(spilled) and (spilled.dram_outputs_bytes > spilled.compulsory_dram_bytes * 0).all()


def test_the_legacy_tiling_moved_5_to_25_times_the_compulsory_traffic_and_the_mapper_does_not():
    """The issue's figures: int8 with a 27-bit and a 79-bit accumulator, 256/256/128 KB, ResNet-50."""
    trace = load_trace("resnet50")
    for bits in (27, 79):
        legacy = evaluate(Accelerator(32, 32, "ws", PE, accumulator_bits=bits, mapping="scalesim"), trace).summary
        searched = evaluate(Accelerator(32, 32, "ws", PE, accumulator_bits=bits), trace).summary
        assert legacy["dram_over_compulsory"] > 5
        assert searched["dram_over_compulsory"] < 1.15 and searched["psum_spill_layers"] == 0
    assert legacy["psum_spill_layers"] > 0


def test_one_shared_buffer_holds_all_three_operands():
    shared = Accelerator(32, 32, "ws", PE, memory=(Buffer("global", 512, ("inputs", "weights", "outputs"), 128),))
    result = evaluate(shared, load_trace("resnet50"))
    assert result.summary["dram_over_compulsory"] < 1.5
    assert len(shared.buffer_costs) == 1 and shared.area_mm2 > 0


def test_mixed_precision_layers_keep_the_mapping_columns():
    trace = load_trace("squeezenet")
    base = Accelerator(16, 16, "os", PE)
    w4 = dataclasses.replace(base, weight_bits=4)
    first = trace.mac_layers["name"].iloc[0]
    mixed = evaluate(w4, trace, {first: base}).layers
    assert mixed.loop_order.iloc[0] != ""


def test_evaluate_many_matches_evaluate_for_both_mappings():
    trace = load_trace("squeezenet")
    accs = [Accelerator(r, c, df, PE, mapping=m) for r, c in ((8, 16), (32, 32)) for df in ("ws", "os")
            for m in ("search", "scalesim")]
    table = evaluate_many(accs, trace)
    for acc, row in zip(accs, table.to_dict("records")):
        single = evaluate(acc, trace).summary
        assert row["energy_uj"] == pytest.approx(single["energy_uj"])
        assert row["cycles"] == single["cycles"] and row["dram_mb"] == pytest.approx(single["dram_mb"])


# ----- the memory hierarchy in TOML ------------------------------------------------------------
def _toml(tmp_path, body: str) -> Path:
    path = tmp_path / "accel.toml"
    path.write_text('array = "32x32"\ndataflow = "ws"\n' + body + '\n[pe]\nname = "x"\narea_um2 = 800.0\n'
                    'energy_pj_per_mac = 1.0\ndelay_ns = 2.0\n')
    return path


def test_memory_levels_load_from_toml(tmp_path):
    acc = load_accelerator(_toml(tmp_path, '''
[[memory]]
name = "acc_buffer"
capacity_kb = 64
operands = ["outputs"]
word_bits = 128
[[memory]]
name = "global"
capacity_kb = 512
operands = ["inputs", "weights"]
bandwidth_words_per_cycle = 8
'''))
    assert [b.name for b in acc.buffers] == ["acc_buffer", "global"]
    assert acc.buffers[1].operands == ("inputs", "weights") and acc.sram_source == "horowitz45"
    assert evaluate(acc, load_trace("squeezenet")).summary["energy_uj"] > 0


@pytest.mark.parametrize("body,message", [
    ('[[memory]]\nname = "g"\ncapacity_kb = 512\noperands = ["inputs", "weights"]\n', "no memory level holds the outputs"),
    ('[[memory]]\nname = "g"\ncapacity_kb = 0\n', r"memory\[0\] \(g\): .*capacity_kb must be positive, not 0"),
    ('[[memory]]\nname = "g"\ncapacity_kb = 512\ncapacity_kib = 3\n',
     r"memory\[0\] \(g\): unknown key 'capacity_kib'; did you mean 'capacity_kb'"),
    ('[[memory]]\nname = "g"\ncapacity_kb = 512\nbandwidth_words_per_cycle = -1\n',
     "bandwidth_words_per_cycle must be positive, not -1"),
    ('[[memory]]\nname = "g"\ncapacity_kb = 1\n',
     r"memory level 'g' \(1 KB\) is smaller than the smallest tile it must hold on a 32×32 ws array: inputs 256 bits "
     r"\+ weights 8192 bits \+ outputs 1024 bits, double-buffered = 2.312 KB"),
    ('ifmap_sram_kb = 64\n[[memory]]\nname = "g"\ncapacity_kb = 512\n', "ifmap_sram_kb and \\[\\[memory\\]\\] both"),
    ('[[memory]]\nname = "g"\ncapacity_kb = 512\noperands = ["psums"]\n', "operands must be some of"),
    ('dram_type = "ddr9"\n', "dram_type must be one of"),
    ('mapping = "serch"\n', r"mapping must be one of .*did you mean 'search'"),
])
def test_bad_memory_levels_are_named(tmp_path, body, message):
    with pytest.raises(FieldError, match=message):
        load_accelerator(_toml(tmp_path, body))


def test_a_bad_level_exits_2_from_the_cli_without_a_traceback(tmp_path):
    path = _toml(tmp_path, '[[memory]]\nname = "g"\ncapacity_kb = 512\noperands = ["inputs"]\n')
    done = subprocess.run([sys.executable, "-m", "hwmodel.cli", "run", "--workload", "squeezenet", "--config", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no memory level holds the weights" in done.stderr


# ----- SRAM tables -----------------------------------------------------------------------------
def test_sram_model_banks_beyond_its_largest_macro():
    model = sram_model("sky130hd_tt")
    largest = model.table["max_bits"] / 8
    assert model.area_um2(4 * largest, 32) == pytest.approx(4 * model.area_um2(largest, 32))
    assert model.leakage_nw(4 * largest, 32) == pytest.approx(4 * model.leakage_nw(largest, 32))
    assert model.access_energy_pj(4 * largest, 32) == pytest.approx(model.access_energy_pj(largest, 32))
    assert model.access_energy_pj(largest, 64) == pytest.approx(2 * model.access_energy_pj(largest / 2, 32))
    small = sram_model("nangate45_typ")
    sizes = [2 ** p for p in range(10, 18)]
    energy = [small.access_energy_pj(s, 64) for s in sizes]
    assert energy == sorted(energy)
    assert small.table["fits"]["access_energy_pj"]["rms_relative_error"] < 0.2


def test_buffers_are_costed_in_the_pes_technology():
    cost = buffer_cost(Buffer("x", 256, ("inputs",), 64), "sky130hd_tt")
    macro = next(m for m in sram_model("sky130hd_tt").table["macros"] if m["words"] == 512)
    assert cost.area_um2 == pytest.approx(128 * macro["area_um2"], rel=1e-6)  # 256 KB = 128 × 2 KB macros
    assert cost.read_energy_pj == pytest.approx(2 * macro["access_energy_pj"], rel=1e-6)  # 64 bits = 2 × 32
    assert Accelerator(32, 32, "ws", PE).sram_source == "sky130hd_tt"
    assert Accelerator(32, 32, "ws", dataclasses.replace(PE, library="")).sram_source == "horowitz45"


@pytest.mark.skipif(not (PDK / "sram_sky130").is_dir(), reason="../shared/pdk/sram_sky130 is not present")
def test_the_shipped_sky130_sram_table_is_what_the_macros_say():
    files = sorted((PDK / "sram_sky130").glob("*.lib*"))
    macros, sources = derive_sram_macros(files)
    fresh = fit_srams(macros, library="sky130hd_tt", technology="x", sources=sources)
    shipped = sram_model("sky130hd_tt").table
    assert {s["sha256"] for s in shipped["sources"]} == {s["sha256"] for s in sources}
    assert fresh["macros"] == shipped["macros"]
    # the least-squares fit is the same to rounding: its last bits follow the machine's BLAS
    assert fresh["fits"].keys() == shipped["fits"].keys()
    for quantity, fit in fresh["fits"].items():
        assert fit["coefficients"] == pytest.approx(shipped["fits"][quantity]["coefficients"], rel=1e-9), quantity
        assert fit["max_relative_error"] == pytest.approx(shipped["fits"][quantity]["max_relative_error"], abs=1e-12)


def test_a_macro_without_area_is_refused(tmp_path):
    lib = tmp_path / "bad.lib"
    lib.write_text('library (x) {\n capacitive_load_unit (1, pf);\n cell (ram) {\n'
                   '  memory () { type : ram; address_width : 4; word_width : 8; }\n'
                   '  pin (clk) { direction : input; clock : true; }\n }\n}\n')
    with pytest.raises(LibertyError, match="SRAM cell ram lacks its 'area'"):
        derive_sram_macros([lib])
    done = subprocess.run([sys.executable, "-m", "hwmodel.cli", "data", "srams", str(lib), "-o", str(tmp_path / "t.json"),
                           "--library", "x", "--technology", "y"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and not (tmp_path / "t.json").exists()


# ----- transformer serving -------------------------------------------------------------------
def test_llama_traces_have_gqa_shapes_and_a_kv_cache_operand():
    cfg = LLAMAS["llama3_8b"]
    decode = llama_trace("llama3_8b", mode="decode", batch=4, seq=2048).layers.set_index("name")
    qk = decode.loc["l0.qk"]
    assert (qk.gemm_m, qk.gemm_n, qk.gemm_k, qk.gemm_count) == (4, 2048, 128, 4 * 8) and qk.kv_cache
    assert decode.loc["l0.k"].gemm_n == cfg.kv_heads * cfg.hidden // cfg.heads == 1024
    assert not decode.loc["l0.q"].kv_cache and decode.loc["l0.gate"].gemm_n == 14336
    prefill = llama_trace("llama3_8b", mode="prefill", seq=512).layers.set_index("name")
    assert not prefill.loc["l0.qk"].kv_cache and prefill.loc["l0.qk"].gemm_m == 512 * 4
    weights = prefill[prefill.weight_operand].weight_elems.sum()
    assert 7.4e9 < weights < 7.6e9  # Llama-3-8B's 8.0 B parameters less its 0.5 B embedding table (a lookup)


def test_decode_is_memory_bound_and_an_fp8_kv_cache_halves_its_traffic():
    """One LPDDR4-3200 ×32 channel (12.8 GB/s) at 2 ns: 25.6 bytes a cycle against an
    output-stationary array that streams 32 weights a cycle."""
    acc = Accelerator(32, 32, "os", dataclasses.replace(PE, delay_ns=2.0), accumulator_bits=24, kv_bits=16,
                      dram_bandwidth_gb_s=12.8)
    d = evaluate(acc, load_trace("llama3_2_1b_decode", seq=4096, batch=8))
    p = evaluate(acc, load_trace("llama3_2_1b_prefill", seq=512))
    stalled = lambda r: r.layers.stall_cycles.sum() / r.summary["cycles"]  # noqa: E731
    assert d.summary["dram_busy"] > 0.95 and stalled(d) > 0.15  # DRAM never idles; the array waits
    assert stalled(p) < 0.05
    assert d.summary["macs"] / (d.summary["dram_mb"] * 1e6) < 10 < p.summary["macs"] / (p.summary["dram_mb"] * 1e6)
    fp8 = evaluate(dataclasses.replace(acc, kv_bits=8), load_trace("llama3_2_1b_decode", seq=4096, batch=8))
    fp8, fp16 = fp8.layers.set_index("name"), d.layers.set_index("name")
    assert fp8.loc["l0.qk"].dram_weights_bytes == pytest.approx(fp16.loc["l0.qk"].dram_weights_bytes / 2)
    assert fp8.loc["l0.q"].dram_weights_bytes == fp16.loc["l0.q"].dram_weights_bytes


def test_old_trace_files_without_the_kv_column_still_read(tmp_path):
    text = load_trace("squeezenet").to_csv()
    header, body = text.split("\n", 1)
    lines = [",".join(line.split(",")[:-1]) for line in body.splitlines()]
    old = tmp_path / "old.csv"
    old.write_text(header + "\n" + "\n".join(lines) + "\n")
    trace = load_trace(str(old))
    assert not trace.layers.kv_cache.any() and len(trace.layers) == len(load_trace("squeezenet").layers)


# ----- ZigZag --------------------------------------------------------------------------------
ZIGZAG = ROOT / "tests" / "golden" / "zigzag"


@pytest.mark.parametrize("name", sorted(p.stem for p in ZIGZAG.glob("*.json")))
def test_our_mapper_is_within_10_percent_of_zigzag_or_lower(name):
    sys.path.insert(0, str(ZIGZAG))
    from compare import LIMIT, comparison

    like = comparison(name, psum_to_dram=True)
    for row in like["rows"]:
        for metric, ratio in row["ratio"].items():
            assert ratio <= LIMIT, (row["layer"], metric, ratio, row["ours"]["mapping"], row["zigzag"]["mapping"])
    for row in comparison(name, psum_to_dram=False)["rows"]:
        assert not row["ours"]["spill"]
        for metric in ("sram_bits", "energy_sram_pj", "energy_pj"):
            assert row["ratio"][metric] <= LIMIT + 0.05, (row["layer"], metric)
        if not row["zigzag"]["spill"]:
            assert row["ratio"]["dram_bytes"] <= LIMIT, row["layer"]
    golden = json.loads((ZIGZAG / f"{name}.json").read_text())
    assert golden["zigzag"] == "3.9.1" and len(golden["layers"]) >= 20


# ----- sweeps --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    ({"mapping": "serch"}, r"mapping must be one of .*did you mean 'search'"),
    ({"dram_type": "hbm3"}, "dram_type must be one of"),
    ({"objective": "power"}, "objective must be one of"),
    ({"dram_gb_s": 12.8, "dram_bandwidth": (4.0,)}, "give dram_gb_s or dram_bandwidth, not both"),
    ({"dram_gb_s": -1}, "dram_gb_s must be at least 0"),
])
def test_sweep_memory_settings_are_checked(kwargs, message):
    from hwmodel.study.spec import SweepSpec

    with pytest.raises(FieldError, match=message):
        SweepSpec(**kwargs)


def test_the_report_states_traffic_against_the_bound_and_the_winner(tmp_path):
    import pandas as pd

    from hwmodel.study.report import _traffic_section

    points = pd.DataFrame([
        {"workload": "w", "a": "int8_sym", "b": "int8_sym", "acc": "fixed", "lanes": 1, "bias": "none",
         "energy_uj": 10.0, "dram_mb": 2.0, "compulsory_dram_mb": 1.0, "dram_over_compulsory": 2.0,
         "psum_spill_layers": 0, "dram_busy": 0.2, "macs": 4e6, "mac_energy_pj": 2.0, "array": "32x32",
         "dram_gb_s": 12.8, "clock_ns_used": 2.0, "utilization": 0.5, "digits_cnn_top1": 0.97},
        {"workload": "w", "a": "float8_e4m3fn", "b": "float8_e4m3fn", "acc": "float16", "lanes": 1, "bias": "none",
         "energy_uj": 8.0, "dram_mb": 1.5, "compulsory_dram_mb": 1.0, "dram_over_compulsory": 1.5,
         "psum_spill_layers": 0, "dram_busy": 0.2, "macs": 4e6, "mac_energy_pj": 1.5, "array": "32x32",
         "dram_gb_s": 12.8, "clock_ns_used": 2.0, "utilization": 0.5, "digits_cnn_top1": 0.60}])
    lines, conclusions = _traffic_section(points)
    text = "\n".join(lines + conclusions)
    assert "| w | 1.50 | 2.00 | 1.00 | 1.50 | 2.00 |" in text
    # the cheaper design lost its accuracy: the winner is the one that keeps it
    assert "is int8_sym→fixed (10.0 µJ) (float8_e4m3fn→float16 costs less, 8.0 µJ" in text
    assert "2.0 MAC per DRAM byte against the array's balance of 40.0" in text and "memory-bound" in text


def test_the_zigzag_export_carries_our_costs_and_the_dataflows_unrolling():
    from hwmodel.interop import zigzag

    acc = Accelerator(16, 64, "os", PE, memory=(Buffer("acc", 32, ("outputs",), 64),
                                                Buffer("global", 512, ("inputs", "weights"), 128)))
    doc = zigzag.hardware(acc)
    assert doc["operational_array"]["sizes"] == [64, 16] and doc["operational_array"]["unit_energy"] == 1.36
    memories = doc["memories"]
    assert set(memories) == {"reg_O", "acc", "global", "dram"} and memories["global"]["operands"] == ["I1", "I2"]
    cost = acc.buffer_costs[1]
    assert memories["global"]["r_cost"] == pytest.approx(cost.read_energy_pj * zigzag.PORT_BITS / 128)
    assert memories["global"]["size"] == 512 * 8192 and memories["dram"]["r_cost"] == pytest.approx(64 * 20.0)
    entry = zigzag.mapping(acc, [{"name": "x", "m": 8, "n": 1000, "k": 64}])[0]
    assert entry["spatial_mapping"] == {"D1": ["K, 64"], "D2": ["B, 8"]}
    layer = zigzag.workload(acc, [{"name": "x", "m": 8, "n": 1000, "k": 64}])[0]
    assert layer["loop_sizes"] == [8, 1000, 64] and layer["operand_precision"]["O"] == 32


def test_the_search_counts_an_nm_layers_full_activation_reads_while_it_chooses():
    """An N:M layer's K counts kept weights, but its units read every activation of a group: the
    search prices those reads for every candidate (it used to choose first and correct after)."""
    from hwmodel.arch.mapping import search
    m, n, k = 128, 768, 1536  # 2:4 of a K = 3072 layer
    layer = {"m": [m], "n": [n], "k": [k], "count": [1], "inputs": [m * 2 * k], "weights": [k * n],
             "outputs": [m * n], "weight_bits": [10.0]}
    costs = {"input_bits": 8, "psum_bits": 24, "output_bits": 8, "capacity_bits": [8.0 * (1 << 22)] * 3,
             "holds": np.eye(3), "op_buffer": [0, 1, 2], "read_pj": [20.0] * 3, "write_pj": [20.0] * 3,
             "word_bits": [64.0] * 3, "port_words": [0.0] * 3, "dram_pj_per_bit": 10.0, "dram_bytes_per_cycle": 0.0,
             "shared_channel": True, "time_pj_per_cycle": 0.0, "objective": "energy", "double_buffered": False}
    dense = search("ws", 32, 32, layer, costs)
    sparse = search("ws", 32, 32, {**layer, "input_reads": [2.0]}, costs)
    assert [dense[t][0] for t in ("tile_m", "tile_n", "tile_k")] == [sparse[t][0] for t in ("tile_m", "tile_n", "tile_k")]
    assert sparse["inputs_reads"][0] == 2 * dense["inputs_reads"][0] > 0
    extra_pj = dense["inputs_reads"][0] * 8 / 64 * 20.0
    assert sparse["energy_sram_pj"][0] == pytest.approx(dense["energy_sram_pj"][0] + extra_pj)


def test_the_verdict_names_idle_pes_where_they_carry_the_difference():
    """A batch-1 decode leaves most PEs idle: their clock and registers, not the formats'
    arithmetic, can decide FP8 against INT8 per inference — the verdict says so, with the
    working energy alone; where idle PEs are a small share it says nothing of them."""
    import pandas as pd

    from hwmodel.study.report import _traffic_section

    def point(a, acc, energy, idle, utilization):
        return {"workload": "w", "a": a, "b": a, "acc": acc, "lanes": 1, "bias": "none", "energy_uj": energy,
                "energy_idle_uj": idle, "dram_mb": 2.0, "compulsory_dram_mb": 1.0, "dram_over_compulsory": 2.0,
                "psum_spill_layers": 0, "dram_busy": 0.2, "macs": 4e6, "mac_energy_pj": 2.0, "array": "32x32",
                "dram_gb_s": 12.8, "clock_ns_used": 2.0, "utilization": utilization}

    idle = pd.DataFrame([point("int8_sym", "fixed", 316.0, 145.0, 0.011),
                         point("float8_e4m3fn", "float16", 268.0, 86.0, 0.011)])
    text = "\n".join(_traffic_section(idle)[1])
    assert "costs -15.2% energy against the best INT one" in text
    assert "are 46% of the INT design's energy and 32% of the FP8 one's" in text
    assert "utilization 1.1%" in text and "the work alone differs by +6.4%" in text
    busy = pd.DataFrame([point("int8_sym", "fixed", 316.0, 10.0, 0.8),
                         point("float8_e4m3fn", "float16", 268.0, 8.0, 0.8)])
    assert "Idle PEs" not in "\n".join(_traffic_section(busy)[1])
