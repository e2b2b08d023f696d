"""Wire-load estimates: the liberty's default wire-load model, per net by its fanout, added to
capacitance for timing and energy (`--wire-load`; off by default)."""

import numpy as np
import pytest

from rtl.flow.characterize import characterize
from rtl.flow.synth import synthesize
from rtl.flow.timing import critical_path_ns
from rtl.hdl.spec import MacSpec
from rtl.tech.cells import load_library, wire_capacitance_pf


def test_the_wire_load_tables_shipped_with_each_library():
    ng = load_library("nangate45_typ").provenance["wire_load"]
    sky = load_library("sky130hd_tt").provenance["wire_load"]
    assert ng["name"] == "5K_hvratio_1_1" and sky["name"] == "Small"  # each liberty's default_wire_load
    # fanout 1 and 4 from the tables: length × capacitance per length (Nangate45's in fF, as pF here)
    assert wire_capacitance_pf(ng, 1) == pytest.approx(1.7460 * 0.1774e-3)
    assert wire_capacitance_pf(sky, 4) == pytest.approx(64.0974 * 1.42e-5)
    # between entries (Nangate45 skips 10): linear; past the table: the last length + slope per pin
    assert wire_capacitance_pf(ng, 10) == pytest.approx((25.4842 + 27.0320) / 2 * 0.1774e-3)
    assert wire_capacitance_pf(ng, 15) == pytest.approx((27.0320 + 5.0 * 4) * 0.1774e-3)
    assert wire_capacitance_pf(ng, 0) == 0.0


def test_wires_add_capacitance_delay_and_energy(tmp_path):
    spec = MacSpec.from_names("int4_sym", "int4_sym", "fixed")
    plain = synthesize(spec, "nangate45_typ").netlist
    wired = synthesize(spec, "nangate45_typ", wire_load=True).netlist
    assert np.all(wired.load_pf >= plain.load_pf) and wired.wire_pf.sum() > 0
    assert np.allclose(wired.load_pf - plain.load_pf, wired.wire_pf)
    assert critical_path_ns(wired) > critical_path_ns(plain)
    # zero-delay energy: the wires' own effect, not the glitches their delays move
    a = characterize(spec, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path, wire_load=False, glitches=False)
    b = characterize(spec, "nangate45_typ", macs=1 << 12, cache_dir=tmp_path, wire_load=True, glitches=False)
    assert b.energy_pj_per_mac > a.energy_pj_per_mac and b.area_um2 == a.area_um2
    assert b.energy_breakdown_pj_per_mac["switching"] > a.energy_breakdown_pj_per_mac["switching"]
    assert b.energy_breakdown_pj_per_mac["internal"] == pytest.approx(a.energy_breakdown_pj_per_mac["internal"])


def test_a_clock_gates_enable_is_a_pin_on_its_net():
    """The fanout that sizes a net's wire counted gates' and flip-flops' pins but not a clock
    gate's enable: a zero-gated MAC's enable net had the wire of one pin fewer."""
    spec = MacSpec.from_names("int4_sym", "int4_sym", "int32", zero_gating=True)
    wired = synthesize(spec, "nangate45_typ", wire_load=True).netlist
    model = wired.library.provenance["wire_load"]
    assert wired.clock_gates
    for g in wired.clock_gates:
        net = g["pins"][g["cell"].clock_gate["enable"]]
        pins = sum(src == net for e in wired.gates + wired.flops for pin, src in e["pins"].items()
                   if pin in e["cell"].inputs and not (e["cell"].is_sequential
                                                       and pin == e["cell"].flip_flop["clocked_on"]))
        pins += sum(src == net for c in wired.clock_gates for role in ("enable", "test")
                    for src in [c["pins"].get(c["cell"].clock_gate[role])] if c["cell"].clock_gate[role])
        pins += sum(b == net for d, bits in wired.ports.values() if d == "output" for b in
                    [wired._nets.get(x) for x in bits if not isinstance(x, str)])
        assert wired.wire_pf[net] == pytest.approx(wire_capacitance_pf(model, pins))
