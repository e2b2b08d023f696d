"""Codebook (clustered-weight) MACs: the lookup's golden model, both simulators, synthesis and
the energy of loading the table."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtl.errors import FieldError
from rtl.flow.characterize import characterize
from rtl.hdl import verify as V
from rtl.hdl.spec import MacSpec
from rtl.hdl.verilog import emit_verilog
from rtl.numerics.codebook import codebook_codes

from conftest import stable_seed

UNITS = [("int8_sym", "int8_sym", "int32", 1, 4, 0), ("int8_sym", "int8_sym", "int32", 4, 2, 1),
         ("float8_e4m3fn", "float8_e4m3fn", "float32", 1, 4, 0), ("int8_sym", "float16", "float32", 4, 6, 2),
         ("float8_e4m3fn", "float8_e4m3fn", "float16", 4, 3, 0)]
SPARSE_UNITS = [("int8_sym", "int8_sym", "int32", 8, 4, 0), ("float8_e4m3fn", "float8_e4m3fn", "float32", 4, 2, 1)]


def _spec(a, b, acc, lanes, bits, stages, **options):
    return MacSpec.from_names(a, b, acc, lanes=lanes, stages=stages, codebook_bits=bits, **options)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: f"{u[1]}-{u[2]}-l{u[3]}-k{u[4]}-s{u[5]}")
def test_codebook_unit_is_bit_exact_in_amaranth_and_icarus(unit):
    spec = _spec(*unit)
    stream = V.random_stream(spec, 400, seed=stable_seed(spec.name))
    assert stream.cb_write.sum() > (1 << spec.codebook_bits)  # the table is rewritten mid-stream too
    golden = V.golden_trace(spec, stream)
    assert list(V.amaranth_trace(spec, stream)) == list(golden)
    assert list(V.iverilog_trace(spec, stream)) == list(golden)


@pytest.mark.parametrize("unit", SPARSE_UNITS, ids=lambda u: f"{u[1]}-{u[2]}-l{u[3]}-k{u[4]}-s{u[5]}-2:4")
def test_a_2_4_codebook_unit_is_bit_exact_and_the_lookup_then_the_select(unit):
    """N:M and a codebook together: ``b`` the kept weights' indices into the table, ``index``
    their positions. Both simulators against the golden model, and that model against an
    independent one: the looked-up codes fed to the plain 2:4 unit."""
    spec = _spec(*unit, nm="2:4")
    stream = V.random_stream(spec, 300, seed=stable_seed(spec.name))
    assert stream.b.shape[1] == spec.products and stream.b.max() < (1 << spec.codebook_bits)
    golden = V.golden_trace(spec, stream)
    assert list(V.amaranth_trace(spec, stream)) == list(golden)
    assert list(V.iverilog_trace(spec, stream)) == list(golden)
    codes = codebook_codes(stream.b, stream.cb_write, stream.cb_addr, stream.cb_data, spec.codebook_bits)
    sparse = MacSpec.from_names(unit[0], unit[1], unit[2], lanes=unit[3], stages=unit[5], nm="2:4")
    looked_up = V.Stream(stream.a, codes, stream.en, stream.clear, index=stream.index)
    assert list(golden) == list(V.amaranth_trace(sparse, looked_up))
    cost = characterize(spec, macs=1 << 12, cache_dir=None)  # the netlist meets the golden model too
    assert cost.module_area_um2["codebook"] > 0


def test_lookup_reads_the_table_before_this_edges_write():
    index = np.array([[0], [0], [1], [1]])
    write = np.array([True, False, True, False])
    address = np.array([0, 0, 1, 0])
    data = np.array([5, 9, 7, 3])
    assert codebook_codes(index, write, address, data, 2).reshape(-1).tolist() == [0, 5, 0, 7]
    with pytest.raises(ValueError, match="out of range"):
        codebook_codes(np.array([[4]]), np.array([False]), np.array([0]), np.array([0]), 2)


def test_codebook_unit_equals_the_plain_mac_on_the_looked_up_codes():
    """An independent check: the codes the table gives, fed to the MAC without a codebook."""
    spec = _spec("float8_e4m3fn", "float8_e4m3fn", "float32", 4, 4, 0)
    stream = V.random_stream(spec, 300, seed=3)
    codes = codebook_codes(stream.b, stream.cb_write, stream.cb_addr, stream.cb_data, 4)
    plain = MacSpec.from_names("float8_e4m3fn", "float8_e4m3fn", "float32", lanes=4)
    looked_up = V.Stream(stream.a, codes, stream.en, stream.clear)
    assert list(V.golden_trace(spec, stream)) == list(V.amaranth_trace(plain, looked_up))


def test_codebook_area_and_load_energy_grow_with_the_table():
    small = characterize(_spec("int8_sym", "int8_sym", "int32", 1, 2, 0), macs=1 << 14, cache_dir=None)
    large = characterize(_spec("int8_sym", "int8_sym", "int32", 1, 5, 0), macs=1 << 14, cache_dir=None)
    plain = characterize(MacSpec.from_names("int8_sym", "int8_sym", "int32"), macs=1 << 14, cache_dir=None)
    # 4 and 32 entries of 8 flip-flops, with their 4:1 and 32:1 multiplexers
    assert small.module_area_um2["codebook"] < large.module_area_um2["codebook"]
    assert large.module_area_um2["codebook"] > 4 * small.module_area_um2["codebook"]
    assert plain.area_um2 < small.area_um2 < large.area_um2
    assert abs(plain.area_um2 + small.module_area_um2["codebook"] - small.area_um2) < 0.1 * plain.area_um2
    assert 0 < small.load_energy_pj["codebook"] < large.load_energy_pj["codebook"]
    assert plain.load_energy_pj == {}


def test_verilog_header_states_the_load_port():
    text = emit_verilog(_spec("int8_sym", "float16", "float32", 4, 4, 0))
    assert "cb_write  in" in text and "16 float16 centroid codes" in text and "b      in   16 bits" in text


@pytest.mark.parametrize("fields,field", [
    (dict(codebook_bits=1), "codebook_bits"), (dict(codebook_bits=7), "codebook_bits"),
])
def test_bad_codebooks_name_the_field(fields, field):
    with pytest.raises(FieldError) as error:
        MacSpec.from_names("int8_sym", "int8_sym", "int32", **fields)
    assert error.value.field == field


def test_a_codebook_larger_than_its_centroid_format_is_refused():
    with pytest.raises(FieldError, match="only 15 values"):
        MacSpec.from_names("int8_sym", "int4_sym", "int32", codebook_bits=4)
    MacSpec.from_names("int8_sym", "int4", "int32", codebook_bits=4)


def test_cli_codebook_unit():
    run = lambda *flags: subprocess.run([sys.executable, "-m", "hwmodel.cli", "rtl", "--a", "int8_sym", "--acc",  # noqa: E731
                                         "float32", *flags], capture_output=True, text=True)
    proc = run("--centroids", "float16", "--codebook-bits", "4")
    assert proc.returncode == 0, proc.stderr
    assert "cb_data" in proc.stdout and "mac_int8_sym_x_float16_float32_l1_s0_cb4" in proc.stdout
    bad = run("--b", "float16", "--centroids", "int8_sym", "--codebook-bits", "4")
    assert bad.returncode == 2 and "--centroids" in bad.stderr and "Traceback" not in bad.stderr
    bad = run("--b", "float16", "--codebook-bits", "9")
    assert bad.returncode == 2 and "--codebook-bits" in bad.stderr


def test_a_multi_lane_codebook_unit_is_measured_on_its_index_port():
    """The energy stream packed a codebook unit's b port at the centroids' width, not the
    indices': lane 1's index landed on lane 0's upper bits and the golden check failed for every
    unit of more than one lane."""
    spec = _spec("int8_sym", "int8_sym", "int32", 2, 2, 0)
    cost = characterize(spec, macs=1 << 12, cache_dir=None)  # raises if the netlist disagrees
    assert cost.provenance["verified_streams"] > 0 and cost.load_energy_pj["codebook"] > 0
