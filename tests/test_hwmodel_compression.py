"""Pruning and weight clustering (hwmodel.accuracy.compression) as recipes compute them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.numerics.formats import decode, encode, finite_values, get_format
from rtl.numerics.sparsity import condensed_length

from hwmodel.accuracy.compression import _lloyd, cluster_codes, nm_mask, prune_mask
from hwmodel.accuracy.qmatmul import Numerics, qmatmul, quantize_values, quantize_weight


def _weights(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * np.exp(rng.standard_normal((shape[0], 1)) / 2)).astype(np.float32)


@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.9, 1.0])
def test_prune_keeps_the_largest_magnitudes_in_exact_count(density):
    w = _weights((24, 40))
    keep = prune_mask(w, density)
    assert keep.sum() == round(density * w.size)
    if 0 < keep.sum() < w.size:
        assert np.abs(w[keep]).min() >= np.abs(w[~keep]).max()


def test_prune_ties_keep_the_earlier_position():
    w = np.array([[1.0, -2.0, 2.0, 0.5, 2.0]])
    assert prune_mask(w, 0.4).tolist() == [[False, True, True, False, False]]


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (4, 8), (3, 5)])
def test_nm_keeps_n_of_every_m_along_k_the_largest(n, m):
    w = _weights((7, 4 * m + 3), seed=n * m)  # a last group of 3: padded with zeros, keeps min(n, 3)
    keep = nm_mask(w, n, m)
    for row in range(w.shape[0]):
        for start in range(0, w.shape[1], m):
            group, kept = np.abs(w[row, start:start + m]), keep[row, start:start + m]
            assert kept.sum() == min(n, group.size)
            if kept.sum() < group.size:
                assert group[kept].min() >= group[~kept].max()
    assert np.all(keep.sum(-1) == condensed_length(w.shape[-1], n, m))  # what the accelerator model stores


def test_lloyd_reaches_the_fixed_point_sklearn_reaches_from_the_same_start():
    sklearn = pytest.importorskip("sklearn.cluster")
    u = _weights((1, 5000), seed=3).reshape(-1).astype(np.float64)
    for count in (4, 16):  # no cluster empties here; sklearn moves empty ones, ours stay (both documented)
        ours = _lloyd(u, count)
        start = np.linspace(u.min(), u.max(), count).reshape(-1, 1)
        theirs = sklearn.KMeans(count, init=start, n_init=1, max_iter=300, tol=0.0, algorithm="lloyd") \
            .fit(u.reshape(-1, 1)).cluster_centers_.reshape(-1)
        assert ours == pytest.approx(np.sort(theirs), abs=1e-9)


def test_lloyd_with_a_pinned_zero_equals_the_textbook_iteration():
    u = _weights((1, 3000), seed=12).reshape(-1).astype(np.float64) + 0.3  # off-centre: zero is not a free mean
    free = np.linspace(u.min(), u.max(), 15)
    for _ in range(300):
        table = np.sort(np.append(free, 0.0))
        nearest = np.abs(u[:, None] - table[None, :]).argmin(1)
        zero = int(np.flatnonzero(table == 0.0)[0])
        moved = np.sort([u[nearest == j].mean() if np.any(nearest == j) else table[j]
                         for j in range(16) if j != zero])
        if np.allclose(moved, free, rtol=0, atol=1e-13):
            break
        free = moved
    assert _lloyd(u, 15, zero=True) == pytest.approx(np.sort(np.append(free, 0.0)), abs=1e-9)


def test_lloyd_with_empty_clusters_equals_the_textbook_iteration():
    u = _weights((1, 2000), seed=9).reshape(-1).astype(np.float64) ** 3  # heavy tails: linear spacing leaves gaps
    centroids = np.linspace(u.min(), u.max(), 63)
    for _ in range(300):
        nearest = np.abs(u[:, None] - centroids[None, :]).argmin(1)  # ties: the lower centroid, as documented
        moved = np.sort([u[nearest == j].mean() if np.any(nearest == j) else centroids[j] for j in range(63)])
        if np.allclose(moved, centroids, rtol=0, atol=1e-13):
            break
        centroids = moved
    ours = _lloyd(u, 63)
    assert len(np.unique(np.abs(u[:, None] - ours[None, :]).argmin(1))) < 63  # some did stay empty
    assert ours == pytest.approx(centroids, abs=1e-9)


def test_clustered_codes_are_at_most_2k_values_of_the_format_and_pruned_ones_zero():
    fmt = get_format("float8_e4m3fn")
    u = _weights((1, 3000), seed=4).reshape(-1) * 40
    for bits in (2, 4, 6):
        codes = cluster_codes(u, None, bits, fmt)
        table = np.unique(codes)
        assert len(table) <= 2 ** bits
        assert np.array_equal(decode(encode(table, fmt), fmt), table)  # every centroid is a format value
        assert 0.0 in table  # the exact zero every codebook holds
        assert np.all(codes[np.abs(u) < np.abs(table[table != 0]).min() / 2] == 0)  # small weights take it
        # each value took its nearest centroid
        assert np.all(np.abs(u - codes) <= np.abs(u[:, None] - table[None, :]).min(1) + 1e-12)
    keep = prune_mask(u, 0.5)
    codes = cluster_codes(u, keep, 4, fmt)
    assert np.all(codes[~keep] == 0) and len(np.unique(codes[keep])) <= 15


def test_quantize_weight_per_channel_codebooks_and_per_layer_codebook():
    w = _weights((32, 96), seed=5)
    per_layer = quantize_weight(w, Numerics(codebook_bits=4))  # per-channel int8 scales, one code table
    values, scale = per_layer
    assert np.shape(scale) == (32, 1)
    assert len(np.unique(values)) <= 16
    assert np.array_equal(values, np.round(values)) and np.abs(values).max() <= 127
    values, _ = quantize_weight(w, Numerics(codebook_bits=3, codebook="channel"))
    assert max(len(np.unique(row)) for row in values) <= 8
    assert len(np.unique(values)) > 8  # the channels' codebooks differ
    plain, _ = quantize_weight(w, Numerics())
    assert len(np.unique(plain)) > 100


def test_quantize_weight_prunes_before_choosing_scales_and_keeps_the_density():
    w = _weights((16, 64), seed=6)
    values, scale = quantize_weight(w, Numerics(nm="2:4"))
    assert np.count_nonzero(values) <= values.size // 2
    assert np.all(values.reshape(16, -1, 4)[nm_mask(w, 2, 4).reshape(16, -1, 4) == 0] == 0)
    pruned = np.where(nm_mask(w, 2, 4), w, 0.0).astype(np.float32)
    assert np.array_equal(scale, quantize_values(pruned, "int8_sym", axis=0)[1])  # scales fit the kept weights
    assert not np.array_equal(scale, quantize_values(w, "int8_sym", axis=0)[1])
    values, _ = quantize_weight(w, Numerics(density=0.25, weights="float8_e4m3fn", activations="float8_e4m3fn",
                                            accumulator="float32", codebook_bits=4))
    assert np.count_nonzero(values) <= round(0.25 * w.size) and len(np.unique(values)) <= 16


def test_qmatmul_with_compressed_weights_is_the_exact_product_of_their_codes():
    w = _weights((24, 64), seed=7)
    a = np.random.default_rng(8).integers(-127, 128, (5, 64)).astype(np.float64)
    numerics = Numerics(nm="2:4", codebook_bits=4)
    values, scale = quantize_weight(w, numerics)
    out = qmatmul(a, np.ascontiguousarray(values.T), numerics, a_scale=0.5, b_scale=scale.reshape(-1))
    exact = (a.astype(np.int64) @ values.T.astype(np.int64)) * 0.5 * scale.reshape(-1)
    assert np.array_equal(out, exact)


@pytest.mark.parametrize("fields,field", [
    (dict(density=0.0), "density"), (dict(density=1.2), "density"), (dict(density=float("nan")), "density"),
    (dict(nm="4:4"), "nm"), (dict(nm="2-4"), "nm"), (dict(nm="2:4", density=0.5), "nm"),
    (dict(codebook_bits=1), "codebook_bits"), (dict(codebook_bits=8), "codebook_bits"),
    (dict(codebook="row"), "codebook"),
    (dict(weights="int4_sym", activations="int4_sym", codebook_bits=5), "codebook_bits"),
    (dict(weights="mxfp8_e4m3", activations="mxfp8_e4m3", accumulator="float32", codebook_bits=4), "codebook_bits"),
])
def test_bad_compression_names_its_field(fields, field):
    with pytest.raises(FieldError) as error:
        Numerics(**fields)
    assert error.value.field == field


def test_a_4_bit_codebook_of_int4_fits_only_when_the_format_has_16_values():
    assert len(finite_values("int4_sym")) == 15  # symmetric int4 has 15 values: a 4-bit codebook would waste none
    Numerics(weights="int4_sym", activations="int4_sym", codebook_bits=3)
    Numerics(weights="int4", activations="int4", codebook_bits=4)


def test_label_says_how_the_weights_were_compressed():
    assert "2:4" in Numerics(nm="2:4").label
    assert "density 0.5" in Numerics(density=0.5).label
    assert "16 centroids per-channel" in Numerics(codebook_bits=4, codebook="channel").label
    assert Numerics().label == "W:int8_sym per-channel A:int8_sym acc:int32"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hwmodel.cli", *args], capture_output=True, text=True)


def test_cli_accuracy_prunes_and_clusters_the_digits_models():
    proc = _cli("accuracy", "--model", "digits", "--formats", "int8_sym", "--granularity", "channel",
                "--nm", "dense,1:4", "--codebook-bits", "0,2", "--seeds", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    import json
    rows = {(r["model"], r["nm"], r["codebook_bits"]): r["value"] for r in json.loads(proc.stdout)
            if r["weights"] == "int8_sym"}
    for model in ("digits_mlp", "digits_cnn"):
        dense = rows[(model, "", 0)]
        assert rows[(model, "1:4", 0)] < dense - 0.05  # keeping one weight in four costs accuracy
        assert rows[(model, "1:4", 2)] < dense - 0.05


def test_cli_skips_a_codebook_its_format_cannot_fill_and_runs_the_rest():
    proc = _cli("accuracy", "--model", "digits", "--formats", "int8_sym,int4_sym", "--seeds", "1", "--codebook-bits",
                "0,4", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "int4_sym with 4-bit codebooks" in proc.stderr
    import json
    recipes = {(r["weights"], r["codebook_bits"]) for r in json.loads(proc.stdout)}
    assert {("int8_sym", 0), ("int8_sym", 4), ("int4_sym", 0)} <= recipes and ("int4_sym", 4) not in recipes


@pytest.mark.parametrize("flags,needle", [
    (["--nm", "4:4"], "--nm"), (["--density", "0"], "--density"), (["--density", "half"], "--density"),
    (["--codebook-bits", "9"], "--codebook-bits"), (["--density", "0.5", "--nm", "2:4"], "--density"),
])
def test_cli_refuses_bad_compression_naming_the_flag(flags, needle):
    proc = _cli("accuracy", "--model", "digits", "--formats", "int8_sym", "--seeds", "1", *flags)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
