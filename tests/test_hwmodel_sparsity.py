"""Sparse weights in the accelerator model: N:M units against SCALE-Sim 3.0's sparsity support,
and bitmap-compressed unstructured sparsity."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.numerics.sparsity import condensed_length, metadata_bits, parse_nm
from workloads.builders import TransformerConfig, transformer_trace
from workloads.scalesim import read_scalesim, write_scalesim
from workloads.zoo import load_trace

from hwmodel.arch.accelerator import Accelerator, PeCost
from hwmodel.arch.evaluate import evaluate, evaluate_many

from test_hwmodel_evaluate import _per_layer  # SCALE-Sim's per-channel depthwise rows, summed back

SPARSE = Path(__file__).parent / "golden" / "scalesim" / "sparse"
POINTS = sorted(p for p in SPARSE.glob("*_ws_*of*.csv") if not p.name.endswith(".sparse.csv"))
PE = PeCost("int8", area_um2=838.0, energy_pj_per_mac=1.36, delay_ns=1.21, leakage_nw=10.0,
            idle_energy_pj_per_cycle=0.3)


def _report(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text().replace(", ", ","))))


def _golden(path: Path):
    name, rest = path.stem.split("_ws_")
    array, pattern = rest.split("_")
    rows, cols = (int(v) for v in array.split("x"))
    topology = SPARSE / f"{name}_{pattern}.topology.csv"
    trace = read_scalesim(topology)
    # one topology row per layer of the trace (SCALE-Sim splits depthwise rows itself); 1:1 rows are dense
    sparse = np.array([line.rstrip(",").split(",")[-1].strip() != "1:1"
                       for line in topology.read_text().splitlines()[1:] if line.strip()])
    assert len(sparse) == len(trace.layers)
    return trace, rows, cols, pattern.replace("of", ":"), sparse


def test_golden_files_cover_three_networks_and_four_patterns():
    assert {p.stem.split("_ws_")[0] for p in POINTS} >= {"bert_2l_s16", "mobilenet_v2_r32", "minilm_l6_s8"}
    assert {p.stem.rsplit("_", 1)[1] for p in POINTS} >= {"2of4", "1of4", "4of8", "3of8"}


@pytest.mark.parametrize("path", POINTS, ids=lambda p: p.stem)
def test_nm_compute_cycles_equal_scalesim_sparsity(path):
    trace, rows, cols, pattern, sparse = _golden(path)
    theirs = _per_layer(trace, [int(r["Total Cycles"]) for r in _report(path)])
    ours = evaluate(Accelerator(rows, cols, "ws", PE, mapping="scalesim", weight_sparsity=pattern), trace)
    dense = evaluate(Accelerator(rows, cols, "ws", PE, mapping="scalesim"), trace)
    expected = np.where(sparse, ours.layers.compute_cycles, dense.layers.compute_cycles)
    assert np.array_equal(expected, theirs)
    fewer = ours.layers.compute_cycles[sparse] < dense.layers.compute_cycles[sparse]
    assert np.all(ours.layers.compute_cycles <= dense.layers.compute_cycles) and fewer.mean() > 0.5


@pytest.mark.parametrize("path", POINTS, ids=lambda p: p.stem)
def test_nm_weight_storage_and_metadata_equal_scalesim_sparse_report(path):
    trace, rows, cols, pattern, sparse = _golden(path)
    report = _report(path.with_suffix(".sparse.csv"))
    metadata_words = _per_layer(trace, [float(r["Filter Metadata Storage"]) for r in report])
    kept = _per_layer(trace, [float(r["New Storage (Filter+Metadata)"]) - float(r["Filter Metadata Storage"])
                              for r in report])
    n, m = parse_nm(pattern)
    layers = evaluate(Accelerator(rows, cols, "ws", PE, mapping="scalesim", weight_sparsity=pattern,
                                  weight_bits=8), trace).layers
    ours_kept = layers.dram_weights_bytes * 8 / (8 + metadata_bits(m))  # stored: value + index per kept weight
    assert ours_kept[sparse].to_numpy() == pytest.approx(kept[sparse], abs=1e-9)
    assert (ours_kept * metadata_bits(m) / 32)[sparse].to_numpy() == pytest.approx(metadata_words[sparse], abs=1e-9)


def test_condensed_length_by_hand():
    assert condensed_length(768, 2, 4) == 384
    assert condensed_length(9, 2, 4) == 5  # two groups of two and one of min(2, 1)
    assert condensed_length(27, 2, 4) == 14
    assert condensed_length(7, 4, 8) == 4
    assert list(condensed_length(np.array([1, 2, 3]), 2, 4)) == [1, 2, 2]
    assert metadata_bits(4) == 2 and metadata_bits(8) == 3 and metadata_bits(2) == 1


def test_nm_cuts_macs_and_weight_traffic_and_keeps_activation_reads():
    trace = transformer_trace(TransformerConfig("t", 2, 256, 4, 1024, 16), seq=64)
    for mapping in ("scalesim", "search"):
        dense = evaluate(Accelerator(32, 32, "ws", PE, mapping=mapping), trace)
        sparse = evaluate(Accelerator(32, 32, "ws", PE, mapping=mapping, weight_sparsity="2:4"), trace)
        weights = trace.layers.weight_operand.to_numpy() & trace.layers.kind.isin(["linear", "conv"]).to_numpy()
        d, s = dense.layers, sparse.layers
        assert np.array_equal(s.executed_macs[weights], d.macs[weights] // 2)
        assert np.array_equal(s.executed_macs[~weights], d.executed_macs[~weights])  # attention's QKᵀ, AV: dense
        assert sparse.summary["macs"] == dense.summary["macs"]  # the network's work is the same
        assert sparse.summary["energy_mac_uj"] < 0.75 * dense.summary["energy_mac_uj"]
        # weights: half the values, each with a 2-bit index
        assert s.dram_weights_bytes[weights].sum() == pytest.approx(d.dram_weights_bytes[weights].sum() * 10 / 16)
        # activations: every one of a group is read for the unit to select from
        assert s.inputs_sram_bits[weights].sum() == pytest.approx(d.inputs_sram_bits[weights].sum(), rel=0.02)
        assert sparse.summary["cycles"] < dense.summary["cycles"]
        assert 0 < sparse.summary["utilization"] <= 1


def test_bitmap_storage_cuts_weight_traffic_not_cycles():
    trace = load_trace("resnet50")
    dense = evaluate(Accelerator(32, 32, "ws", PE, mapping="scalesim"), trace)
    pruned = evaluate(Accelerator(32, 32, "ws", PE, mapping="scalesim", weight_density=0.3,
                                  weight_storage="bitmap"), trace)
    assert pruned.summary["cycles"] == dense.summary["cycles"]  # a dense array skips nothing
    assert pruned.summary["executed_macs"] == dense.summary["executed_macs"]
    ratio = pruned.layers.dram_weights_bytes.sum() / dense.layers.dram_weights_bytes.sum()
    assert ratio == pytest.approx((1 + 0.3 * 8) / 8)
    unstored = evaluate(Accelerator(32, 32, "ws", PE, mapping="scalesim", weight_density=0.3), trace)
    assert unstored.layers.dram_weights_bytes.sum() == dense.layers.dram_weights_bytes.sum()


def test_many_points_group_by_pattern():
    trace = load_trace("mobilenet_v2")
    accelerators = [Accelerator(32, 32, "ws", PE, mapping="scalesim", weight_sparsity=p) for p in ("", "2:4", "1:4")]
    many = evaluate_many(accelerators, trace)
    one = [evaluate(a, trace).summary for a in accelerators]
    assert list(many.cycles) == [s["cycles"] for s in one]
    assert many.cycles[0] > many.cycles[1] > many.cycles[2]


def test_write_scalesim_marks_weight_layers_with_the_pattern():
    trace = transformer_trace("minilm_l6", seq=8)
    text, _ = write_scalesim(trace, "gemm", weight_sparsity="2:4")
    lines = text.splitlines()
    assert lines[0].endswith("Sparsity,")
    marks = [line.rstrip(",").split(",")[-1].strip() for line in lines[1:]]
    assert set(marks) == {"2:4", "1:1"}
    assert write_scalesim(trace, "gemm")[0].splitlines()[0] == "Layer, M, N, K,"


@pytest.mark.parametrize("fields,field", [
    (dict(weight_sparsity="4:2"), "weight_sparsity"), (dict(weight_sparsity="dense"), "weight_sparsity"),
    (dict(weight_density=0.0), "weight_density"), (dict(weight_density=1.5), "weight_density"),
    (dict(weight_storage="csr"), "weight_storage"),
    (dict(weight_sparsity="2:4", weight_storage="bitmap"), "weight_sparsity"),
])
def test_bad_sparsity_names_the_field(fields, field):
    with pytest.raises(FieldError) as error:
        Accelerator(32, 32, "ws", PE, **fields)
    assert error.value.field == field


@pytest.mark.parametrize("mapping", ["scalesim", "search"])
def test_a_codebook_pe_pays_its_table_loads(mapping):
    """Per channel a codebook PE reloads its table with every weight the array gives it (its next
    weight is another channel's); per layer once in every PE; attention's activations none."""
    import dataclasses

    trace = transformer_trace(TransformerConfig("t", layers=1, hidden=128, heads=2, ffn=256, seq=32))
    plain = Accelerator(16, 16, "ws", PE, weight_bits=4, mapping=mapping)
    table = dataclasses.replace(PE, table_load_pj=50.0)
    per_channel = dataclasses.replace(plain, pe=table)
    per_layer = dataclasses.replace(per_channel, weight_table="layer")
    a, c, y = (evaluate(x, trace).layers for x in (plain, per_channel, per_layer))
    weighted = trace.layers.weight_operand.to_numpy(bool)
    extra_c = (c.energy_mac_pj - a.energy_mac_pj).to_numpy()
    extra_y = (y.energy_mac_pj - a.energy_mac_pj).to_numpy()
    assert (extra_c[~weighted] == 0).all() and (extra_y[~weighted] == 0).all()
    assert extra_y[weighted] == pytest.approx(np.full(weighted.sum(), 16 * 16 * 50.0))
    # every weight is read into the array at least once
    gemm = trace.layers[weighted]
    assert (extra_c[weighted] >= 50.0 * (gemm.gemm_k * gemm.gemm_n * gemm.gemm_count).to_numpy() - 1e-6).all()
    if mapping == "scalesim":  # ws reads each weight once
        assert extra_c[weighted] == pytest.approx(50.0 * (gemm.gemm_k * gemm.gemm_n * gemm.gemm_count).to_numpy())
    with pytest.raises(FieldError, match="weight_table must be one of"):
        dataclasses.replace(plain, weight_table="tensor")
