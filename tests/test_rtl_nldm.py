"""The NLDM timer's pieces, without OpenSTA: table lookup, unate arcs, the shipped tables."""

import numpy as np
import pytest

from rtl.flow.characterize import characterize
from rtl.flow.synth import synthesize
from rtl.flow.timing import critical_path_ns, nldm_arrival_ns
from rtl.hdl.spec import MacSpec
from rtl.tech.nldm import Arc, load_timing


def test_tables_interpolate_inside_and_extrapolate_linearly_outside():
    grid = np.array([[1.0, 2.0], [3.0, 5.0]])  # rows: slew 0, 1; columns: load 0, 1
    arc = Arc("A", "negative_unate", 0, [0.0, 1.0], [0.0, 1.0], grid, grid, grid, grid)
    assert arc.value(0, 0.5, 0.5) == pytest.approx((1 + 2 + 3 + 5) / 4)
    assert arc.value(0, 0.0, 3.0) == pytest.approx(1.0 + 3 * 1.0)  # past the last load: the last slope
    assert arc.value(0, 2.0, 1.0) == pytest.approx(5.0 + 3.0)  # past the last slew
    assert Arc("A", "non_unate", 0, [0.0], [0.0, 1.0], None, [[1.0, 2.0]], None, None).value(0, 0, 0) is None


def test_an_inverter_chains_rise_into_fall():
    """Through an inverter a rising input gives a falling output: a negative-unate arc reads the
    fall table with the input's rise. Every embedded inverter's arc says so."""
    for library in ("sky130hd_tt", "nangate45_typ"):
        timing = load_timing(library)
        inverter = "sky130_fd_sc_hd__inv_1" if library == "sky130hd_tt" else "INV_X1"
        (pin, arcs), = timing[inverter].items()
        assert [a.sense for a in arcs] == ["negative_unate"] and not arcs[0].edge
        flop = "sky130_fd_sc_hd__dfxtp_1" if library == "sky130hd_tt" else "DFF_X1"
        assert any(a.edge for arcs in timing[flop].values() for a in arcs)


@pytest.mark.parametrize("library", ["sky130hd_tt", "nangate45_typ"])
def test_slow_slews_make_the_nldm_path_longer_than_the_linear_one(library):
    netlist = synthesize(MacSpec.from_names("int8_sym", "int8_sym", "fixed"), library).netlist
    linear, nldm = critical_path_ns(netlist), nldm_arrival_ns(netlist)
    assert 1.1 < nldm / linear < 1.6
    wired = synthesize(MacSpec.from_names("int8_sym", "int8_sym", "fixed"), library, wire_load=True).netlist
    assert nldm_arrival_ns(wired) > nldm


def test_characterize_takes_the_timer_and_keys_its_cache_by_it(tmp_path):
    spec = MacSpec.from_names("int4_sym", "int4_sym", "fixed")
    linear = characterize(spec, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path, timer="linear")
    nldm = characterize(spec, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path)  # the default
    assert nldm.critical_path_ns > linear.critical_path_ns and nldm.area_um2 == linear.area_um2
    assert nldm.provenance["cache_key"] != linear.provenance["cache_key"]
    with pytest.raises(ValueError, match="timer must be one of"):
        characterize(spec, "nangate45_typ", macs=1 << 12, cache_dir=None, timer="spice")
