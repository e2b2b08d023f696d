"""N:M sparse dot-product units: golden model, both simulators, synthesis and energy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.flow.characterize import characterize
from rtl.flow.energy import make_stream
from rtl.hdl import verify as V
from rtl.hdl.spec import MacSpec
from rtl.hdl.verilog import emit_verilog
from rtl.numerics.formats import decode
from rtl.numerics.sparsity import compress_nm, select_activations

from conftest import stable_seed

UNITS = [("int8_sym", "int32", 4, "2:4", 0), ("int8_sym", "int32", 8, "1:4", 1), ("int8_sym", "fixed", 8, "4:8", 2),
         ("float8_e4m3fn", "float32", 4, "2:4", 0), ("float8_e4m3fn", "float32", 4, "1:4", 2),
         ("float8_e5m2", "float16", 8, "2:4", 1), ("int4_sym", "int32", 16, "2:4", 0)]


def _spec(fmt, acc, lanes, nm, stages, **options):
    return MacSpec.from_names(fmt, fmt, acc, lanes=lanes, stages=stages, nm=nm, **options)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: f"{u[0]}-{u[1]}-l{u[2]}-{u[3]}-s{u[4]}")
def test_nm_unit_is_bit_exact_in_amaranth_and_icarus(unit):
    spec = _spec(*unit)
    stream = V.random_stream(spec, 400, seed=stable_seed(spec.name))
    golden = V.golden_trace(spec, stream)
    assert list(V.amaranth_trace(spec, stream)) == list(golden)
    assert list(V.iverilog_trace(spec, stream)) == list(golden)


def test_interleaved_nm_unit_is_bit_exact():
    spec = _spec("float8_e4m3fn", "float16", 8, "2:4", 0, interleave=3)
    stream = V.random_stream(spec, 300, seed=5)
    assert list(V.iverilog_trace(spec, stream)) == list(V.golden_trace(spec, stream))


def test_every_index_selects_its_own_activation():
    """Exhaustive over one 2:4 group's indices: a one-hot activation pattern shows which lane
    each kept weight met."""
    spec = _spec("int8_sym", "int32", 4, "2:4", 0)
    rows = [(i, j) for i in range(4) for j in range(4)]
    a = np.array([[1, 2, 4, 8]] * len(rows))  # lane p carries 2**p
    b = np.array([[1, 16]] * len(rows))      # kept weight 1 weighs 16
    stream = V.Stream(a, b, np.ones(len(rows), bool), np.ones(len(rows), bool), index=np.array(rows))
    want = [2 ** i + 16 * 2 ** j for i, j in rows]
    assert list(V.amaranth_trace(spec, stream)) == want


@pytest.mark.parametrize("fmt,acc", [("int8_sym", "int32"), ("float8_e4m3fn", "float32")])
def test_nm_unit_computes_the_dense_dot_product_of_its_scattered_weights(fmt, acc):
    """An independent check of the golden model: the kept weights scattered back to their
    positions (zeros elsewhere) and run on the dense unit of the same lanes give the same sums
    (finite operands: a pruned Inf × 0 would be NaN in the dense unit)."""
    sparse, dense = _spec(fmt, acc, 8, "2:4", 0), _spec(fmt, acc, 8, "", 0)
    stream = V.random_stream(sparse, 500, seed=11)
    finite = np.isfinite(decode(stream.a, sparse.a)).all(1) & np.isfinite(decode(stream.b, sparse.b)).all(1)
    a, b, index = stream.a[finite], stream.b[finite], stream.index[finite]
    scattered = np.zeros_like(a)
    base = (np.arange(4) // 2) * 4
    np.put_along_axis(scattered, base + index, b, axis=1)
    ones = np.ones(len(a), bool)
    got = V.golden_trace(sparse, V.Stream(a, b, ones, ones, index=index))
    want = V.golden_trace(dense, V.Stream(a, scattered, ones, ones))
    if fmt.startswith("int"):
        assert list(got) == list(want)
    else:  # ±0 may differ: the dense unit also sums the pruned positions' signed zeros
        as_float = lambda codes: np.array(codes, dtype=np.uint64).astype(np.uint32).view(np.float32)  # noqa: E731
        assert np.array_equal(as_float(got), as_float(want))


def test_select_and_compress_helpers():
    a = np.arange(8).reshape(1, 8) * 10
    assert select_activations(a, np.array([[1, 3, 0, 2]]), 2, 4).tolist() == [[10, 30, 40, 60]]
    values, index = compress_nm(np.array([[0, 5, 0, 7, 9, 0, 0, 0]]), 2, 4)
    assert values.tolist() == [[5, 7, 9, 0]] and index.tolist() == [[1, 3, 0, 1]]
    with pytest.raises(ValueError, match="not 2:4 sparse"):
        compress_nm(np.array([[1, 2, 3, 0]]), 2, 4)
    with pytest.raises(ValueError, match="indices"):
        select_activations(a, np.array([[4, 0, 0, 0]]), 2, 4)


def test_energy_stream_keeps_the_largest_weights_of_each_group():
    spec = _spec("int8_sym", "int32", 8, "2:4", 0)
    stream = make_stream(spec, "gaussian", macs=1 << 14, streams=64)
    assert stream.b.shape[-1] == spec.products == 4 and stream.index.shape == stream.b.shape
    assert stream.macs == np.prod(stream.b.shape)
    groups = stream.index.reshape(stream.index.shape[:-1] + (2, 2))
    assert np.all(groups[..., 0] < groups[..., 1]) and groups.min() >= 0 and groups.max() < 4


def test_nm_unit_area_and_energy_against_dense_units():
    sparse = characterize(_spec("int8_sym", "int32", 8, "2:4", 0), macs=1 << 14, cache_dir=None)
    same_multipliers = characterize(_spec("int8_sym", "int32", 4, "", 0), macs=1 << 14, cache_dir=None)
    same_positions = characterize(_spec("int8_sym", "int32", 8, "", 0), macs=1 << 14, cache_dir=None)
    # four multipliers either way; the sparse unit adds four 8-bit 4:1 multiplexers
    assert same_multipliers.area_um2 < sparse.area_um2 < 1.2 * same_multipliers.area_um2
    assert sparse.stage_area_um2["mpy"] > same_multipliers.stage_area_um2["mpy"]
    assert sparse.area_um2 < 0.7 * same_positions.area_um2  # per dense position it is far cheaper
    # energy per executed product: the multiplexers' switching on top of the dense unit's
    assert 1.0 < sparse.energy_pj_per_mac / same_multipliers.energy_pj_per_mac < 1.5


def test_verilog_header_states_the_index_port():
    text = emit_verilog(_spec("int8_sym", "int32", 8, "2:4", 0))
    assert "index  in   8 bits" in text and "a[g*4 + index_j]" in text and "b      in   32 bits" in text
    assert "input [7:0] index" in text


@pytest.mark.parametrize("fields,field", [
    (dict(lanes=2, nm="2:4"), "lanes"), (dict(lanes=4, nm="4:4"), "nm"), (dict(lanes=4, nm="2/4"), "nm"),
])
def test_bad_nm_units_name_the_field(fields, field):
    with pytest.raises(FieldError) as error:
        MacSpec.from_names("int8_sym", "int8_sym", "int32", **fields)
    assert error.value.field == field


def test_block_units_refuse_nm():
    with pytest.raises(FieldError) as error:
        MacSpec.from_names("mxfp8_e4m3", "mxfp8_e4m3", "float32", lanes=32, nm="2:4")
    assert error.value.field == "nm"


@pytest.mark.parametrize("flags,needle", [(["--lanes", "2", "--nm", "2:4"], "--lanes"),
                                          (["--lanes", "4", "--nm", "5:4"], "--nm")])
def test_cli_refuses_bad_nm(flags, needle):
    proc = subprocess.run([sys.executable, "-m", "hwmodel.cli", "rtl", "--a", "int8_sym", "--b", "int8_sym",
                           "--acc", "int32", *flags], capture_output=True, text=True)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
