"""Sweeps over compression: N:M sparse units, pruned and clustered weights, zero-gated MACs and
sparse activation streams, each a design of its own from synthesis to the joined accuracy."""

import pytest

from hwmodel.study.report import design_label
from hwmodel.study.run import _accuracy_params, _mac_params, mac_spec, run_sweep, stream_zeros
from hwmodel.study.spec import SweepSpec, load_sweep


@pytest.mark.parametrize("text,message", [
    ('nm = ["4:4"]\n', r"nm: nm '4:4': N:M sparsity keeps N of every M weights"),
    ('nm = ["2-4"]\n', r"nm must be N:M with whole numbers"),
    ("nm = [\"2:4\"]\n", r"nm '2:4' applies to no design: no lanes in \[1\] is a multiple of 4"),
    ("density = [1.5]\n", r"density is the fraction of weights kept, in \(0, 1\], not 1.5"),
    ("density = [0]\n", r"density is the fraction of weights kept"),
    ("sparsity = [1.0]\n", r"sparsity is the fraction of zero activations, in \[0, 1\), not 1.0"),
    ("codebook_bits = [7]\n", r"codebook_bits must be 0 \(no codebook\) or one of \(2, 3, 4, 5, 6\), not 7"),
    ('formats = ["int4_sym"]\ncodebook_bits = [4]\n', r"codebook_bits 4 applies to no design"),
    ('centroids = ["float9"]\ncodebook_bits = [4]\n', r"centroids: "),
    ('centroids = "float16"\n', r"centroids must be a list of formats"),
    ('zero_gating = ["yes"]\n', r"zero_gating must be true or false, not 'yes'"),
    ('codebook = "tensor"\n', r"codebook must be one of \('layer', 'channel'\)"),
    ('weight_storage = "csr"\n', r"weight_storage must be one of \('dense', 'bitmap'\)"),
])
def test_compression_keys_are_checked_before_any_work(tmp_path, text, message):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_variants_skip_what_no_unit_defines_and_plain_points_keep_their_ids():
    spec = SweepSpec(formats=("int8_sym", "int4_sym"), accumulators=("fixed", "float32"),
                     lanes=(1, 8), nm=("dense", "2:4"), density=(1.0, 0.5), codebook_bits=(0, 4),
                     zero_gating=(False, True))
    seen = {(w, acc, lanes): [(b, tuple(sorted(e.items()))) for b, e in spec.variants(w, acc, lanes)]
            for w, _, acc, _ in spec.designs() for lanes in spec.lanes}
    assert ("int8_sym", (("nm", "2:4"),)) in seen["int8_sym", "fixed", 8]
    assert not any(dict(e).get("nm") for _, e in seen["int8_sym", "fixed", 1])  # 1 lane: no 2:4 unit
    assert not any(dict(e).get("nm") and dict(e).get("density") for v in seen.values() for _, e in v)
    assert not any(dict(e).get("codebook_bits") for _, e in seen["int4_sym", "fixed", 1])  # 15 values < 16
    assert ("int8_sym", (("codebook_bits", 4), ("nm", "2:4"))) in seen["int8_sym", "fixed", 8]  # both at once
    block = SweepSpec(formats=("mxfp8_e4m3", "int8_sym"), accumulators=("float32",), lanes=(8,), nm=("dense", "2:4"),
                      codebook_bits=(0, 4), zero_gating=(False, True))
    assert block.variants("mxfp8_e4m3", "float32", 8) == [("mxfp8_e4m3", {})]  # block units: none of these
    # the default grid's points carry no variant keys: stores written before these keys still match
    assert all(not set(p) & {"nm", "density", "codebook_bits", "zero_gating", "sparsity", "interleave"}
               for p in _mac_params(SweepSpec()))
    gated = next(p for p in _mac_params(spec) if p.get("zero_gating") and p.get("density") == 0.5)
    assert mac_spec(gated).zero_gating and stream_zeros(gated) == {"sparsity": 0.0, "b_sparsity": 0.5}


def test_centroid_formats_replace_the_weights_of_codebook_designs():
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed", "float32"), codebook_bits=(0, 4),
                     centroids=("int8_sym", "float16"), accuracy=("digits",))
    macs = {(p["b"], p["acc"], p.get("codebook_bits", 0)) for p in _mac_params(spec)}
    assert macs == {("int8_sym", "fixed", 0), ("int8_sym", "fixed", 4), ("float16", "fixed", 4),
                    ("int8_sym", "float32", 0), ("int8_sym", "float32", 4), ("float16", "float32", 4)}
    recipes = {p["recipe"] for p in _accuracy_params(spec)}
    assert "W:float16 per-tensor 16 centroids per-channel A:int8_sym acc:fixed" in recipes


def test_compressed_designs_from_synthesis_to_joined_accuracy(tmp_path):
    """One grid of 4-lane INT8 units: dense, 2:4, half the weights pruned, 2-bit codebooks, and
    2:4 with a codebook. Each is its own MAC, accelerator point and accuracy recipe, and each
    changes what it should."""
    spec = SweepSpec(formats=("int8_sym",), accumulators=("fixed",), lanes=(4,), nm=("dense", "2:4"),
                     density=(1.0, 0.5), codebook_bits=(0, 2), workloads=("squeezenet",), accuracy=("digits",),
                     digits_seeds=1)
    result = run_sweep(spec, tmp_path / "out", processes=2, progress=False, cache_dir=tmp_path / "cache")
    assert result.failures.empty, result.failures.to_dict("records")
    macs = result.macs.set_index(["nm", "density", "codebook_bits"])
    dense, pruned, sparse = macs.loc["", 1.0, 0], macs.loc["", 0.5, 0], macs.loc["2:4", 1.0, 0]
    clustered = macs.loc["", 1.0, 2]
    assert pruned.area_um2 == dense.area_um2 and pruned.energy_pj_per_mac < 0.9 * dense.energy_pj_per_mac
    assert sparse.area_um2 < 0.7 * dense.area_um2  # two multipliers instead of four, and the selects
    assert clustered.area_um2 > dense.area_um2 and clustered.codebook_load_energy_pj > 0
    points = result.points.set_index(["nm", "density", "codebook_bits"])
    base = points.loc["", 1.0, 0]
    assert points.loc["2:4", 1.0, 0].cycles < base.cycles
    assert points.loc["2:4", 1.0, 0].executed_macs < 0.6 * base.macs
    assert points.loc["", 0.5, 0].cycles == base.cycles  # a dense array does not skip zeros
    assert points.loc["", 0.5, 0].dram_mb < base.dram_mb  # but a bitmap stores half the weights
    assert points.loc["", 1.0, 2].dram_mb < points.loc["", 0.5, 0].dram_mb  # 2-bit indices
    top1 = result.points.set_index(["nm", "density", "codebook_bits"])["digits_cnn_top1"]
    assert top1.notna().all() and len(top1) == 6
    assert top1.loc["2:4", 1.0, 0] != top1.loc["", 1.0, 0] != top1.loc["", 0.5, 0]
    labels = {design_label(r) for r in result.points.to_dict("records")}
    assert labels == {"int8_sym→fixed ×4", "int8_sym→fixed ×4 2:4", "int8_sym→fixed ×4 d0.5",
                      "int8_sym→fixed ×4 cb2", "int8_sym→fixed ×4 d0.5 cb2", "int8_sym→fixed ×4 2:4 cb2"}
    both = points.loc["2:4", 1.0, 2]  # a kept weight stores its 2-bit index and its 2-bit position in 4
    assert both.stored_weight_bits == 4 and both.executed_macs == points.loc["2:4", 1.0, 0].executed_macs


def test_per_inference_at_the_clock_joins_each_variant_to_its_own_point():
    """A clustered INT8 design shares a, b, acc, lanes and bias with plain INT8: its own-clock
    figures were joined from whichever came first."""
    import pandas as pd

    from hwmodel.study.report import _inference_at_clock_section
    from hwmodel.study.spec import fill_variants
    base = {"workload": "w", "a": "int8_sym", "b": "int8_sym", "acc": "fixed", "lanes": 1, "bias": "none", "stages": 0}
    own = fill_variants(pd.DataFrame([base | {"latency_ms": 1.0, "energy_uj": 10.0},
                                      base | {"codebook_bits": 4, "latency_ms": 2.0, "energy_uj": 20.0}]))
    timed = fill_variants(pd.DataFrame([base | {"stages": "auto", "latency_ms": 1.5, "energy_uj": 15.0},
                                        base | {"stages": "auto", "codebook_bits": 4, "latency_ms": 2.5,
                                                "energy_uj": 25.0}]))
    out, notes = _inference_at_clock_section(own, timed, 5.0)
    assert "| int8_sym→fixed cb4 | 2.500 | 2.000 | 25.000 | 20.000 |" in "\n".join(out)
    assert "| int8_sym→fixed | 1.500 | 1.000 | 15.000 | 10.000 |" in "\n".join(out)
    assert notes == ["w at 5.000 ns: fastest int8_sym→fixed (1.500 ms), least energy int8_sym→fixed (15.0 µJ), of "
                     "the 1 uncompressed design that meets it."]
