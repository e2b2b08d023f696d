"""Design points at a clock: the fewest pipeline stages meeting it, and clocks nothing meets."""

import dataclasses
import types

import pytest

from rtl.flow.clocking import ClockError, fastest_cell_ns, meet_clock
from rtl.hdl.spec import MacSpec

INT8 = MacSpec.from_names("int8_sym", "int8_sym", "fixed")
E4M3 = MacSpec.from_names("float8_e4m3fn", "float8_e4m3fn", "float32")


def _fake(paths):
    """A characterize whose critical path per stage count is ``paths[stages]``; records calls."""
    calls = []

    def characterize(spec, library, *, clock_ns, delay_target_ns, **options):
        calls.append((spec.stages, delay_target_ns))
        return types.SimpleNamespace(critical_path_ns=paths[spec.stages], spec=spec.describe(), clock_ns=clock_ns)
    return characterize, calls


def test_the_fewest_stages_that_meet_the_clock():
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    assert meet_clock(E4M3, "sky130hd_tt", 7.0, characterize=characterize).spec["stages"] == 1
    # unpipelined, then the deepest pipeline for the clock (it meets), then the fewest stages: 0 for the
    # clock, 1 for area
    assert calls == [(0, None), (3, 7.0), (0, 7.0), (1, None)]
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    assert meet_clock(E4M3, "sky130hd_tt", 9.0, characterize=characterize).spec["stages"] == 0
    assert calls == [(0, None)]
    characterize, calls = _fake([9.0, 6.0, 4.0])  # a fixed register's pipeline ends at 2 stages
    assert meet_clock(INT8, "sky130hd_tt", 5.0, characterize=characterize).spec["stages"] == 2
    assert calls[:2] == [(0, None), (2, 5.0)]
    # the deepest pipeline first: the same point, the unpipelined unit timed after it
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    assert meet_clock(E4M3, "sky130hd_tt", 7.0, characterize=characterize, deepest_first=True).spec["stages"] == 1
    assert calls == [(3, 7.0), (0, None), (0, 7.0), (1, None)]
    characterize, calls = _fake([6.0, 5.0, 5.0, 4.0])
    assert meet_clock(E4M3, "sky130hd_tt", 7.0, characterize=characterize, deepest_first=True).spec["stages"] == 0


def test_a_clock_below_the_recurrence_says_by_how_much_and_why():
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    with pytest.raises(ClockError, match=r"cannot meet 3 ns .* shortest critical path is 4.000 ns, 1.000 ns \(33 %\) over"
                                         r".*alignment, addition and rounding.*--interleave 2…5") as error:
        meet_clock(E4M3, "sky130hd_tt", 3.0, characterize=characterize)
    assert error.value.field == "clock_ns" and error.value.best.critical_path_ns == 4.0
    assert "mapped for the clock (more than 25% out of its reach, so not for area too)" in str(error.value)
    # the deepest pipeline misses by a third: neither it mapped for area nor anything shallower is tried
    assert calls == [(0, None), (3, 3.0)]
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    with pytest.raises(ClockError, match=r"mapped for the clock and for area, its shortest critical path is 4.000 ns"):
        meet_clock(E4M3, "sky130hd_tt", 3.5, characterize=characterize)
    assert calls == [(0, None), (3, 3.5), (3, None)]  # within a quarter of the clock: area mapping is tried too
    # the deepest first: where it misses, the unpipelined unit is never synthesized, and the error is the same
    characterize, calls = _fake([9.0, 6.0, 5.0, 4.0])
    with pytest.raises(ClockError, match=r"shortest critical path is 4.000 ns, 1.000 ns \(33 %\) over") as first:
        meet_clock(E4M3, "sky130hd_tt", 3.0, characterize=characterize, deepest_first=True)
    assert calls == [(3, 3.0)] and str(first.value) == str(error.value)
    characterize, _ = _fake([9.0, 6.0, 4.0])
    with pytest.raises(ClockError, match="through the fixed adder back into itself"):
        meet_clock(INT8, "sky130hd_tt", 3.0, characterize=characterize)
    characterize, _ = _fake([9.0, 6.0, 5.0, 4.0])
    with pytest.raises(ClockError, match="slowest of the 5 cycles of the fully interleaved accumulation loop"):
        meet_clock(MacSpec.from_names("float8_e4m3fn", "float8_e4m3fn", "float32", interleave=5), "sky130hd_tt", 3.0,
                   characterize=characterize)


def test_interleaving_meets_a_clock_the_float_recurrence_cannot(tmp_path):
    """Synthesized: E4M3 → float16 misses the INT8 MAC's sky130 clock with any pipeline, and
    comes closer to it with its loop cut into five cycles."""
    spec = MacSpec.from_names("float8_e4m3fn", "float8_e4m3fn", "float16")
    with pytest.raises(ClockError) as plain:
        meet_clock(spec, "sky130hd_tt", 5.0, cache_dir=tmp_path, macs=1 << 12)
    try:
        cut = meet_clock(dataclasses.replace(spec, interleave=5), "sky130hd_tt", 5.0, cache_dir=tmp_path,
                         macs=1 << 12)
    except ClockError as error:
        cut = error.best
    assert cut.critical_path_ns < 0.7 * plain.value.best.critical_path_ns
    assert cut.spec["interleave"] == 5 and cut.sequential_area_um2 > plain.value.best.sequential_area_um2


@pytest.mark.parametrize("clock", [0, -1.0, float("nan"), "5"])
def test_clock_targets_must_be_positive_numbers(clock):
    with pytest.raises(ClockError, match="must be a positive number of ns"):
        meet_clock(INT8, "sky130hd_tt", clock, characterize=_fake([1, 1, 1])[0])


def test_a_clock_below_one_cell_delay_is_refused():
    floor = fastest_cell_ns("nangate45_typ")
    assert 0.001 < floor < 0.1
    with pytest.raises(ClockError, match="below one cell delay of nangate45_typ"):
        meet_clock(INT8, "nangate45_typ", floor / 2, characterize=_fake([1, 1, 1])[0])


def test_int8_pipelined_to_a_clock_it_could_not_meet_unpipelined(tmp_path):
    """Synthesized: the unpipelined INT8 MAC misses 6 ns on sky130 (7.2 ns by the NLDM timer);
    one stage meets it, and its energy is measured (and checked against the golden model) at 6 ns."""
    from rtl.flow.characterize import characterize

    plain = characterize(INT8, "sky130hd_tt", cache_dir=tmp_path)
    assert plain.critical_path_ns > 6.0
    cost = meet_clock(INT8, "sky130hd_tt", 6.0, cache_dir=tmp_path)
    assert cost.spec["stages"] >= 1 and cost.critical_path_ns <= 6.0 and cost.clock_ns == 6.0
    assert cost.sequential_area_um2 > plain.sequential_area_um2  # the pipeline registers are real


def test_clock_errors_cross_a_process_pool_whole():
    """A sweep's worker raises it; the parent must get the field, the value and the best point
    (pickling the message alone broke the pool)."""
    import pickle

    error = pickle.loads(pickle.dumps(ClockError("misses", 5.0, best={"critical_path_ns": 7.0})))
    assert (type(error), str(error), error.field, error.value, error.best) == (
        ClockError, "misses", "clock_ns", 5.0, {"critical_path_ns": 7.0})


def test_a_cost_at_another_clock_is_its_own_with_leakage_rescaled(tmp_path):
    """Only leakage depends on the period: energy measured at 7 ns on the netlist equals the
    own-clock cost with its leakage rescaled, which is what characterize returns at 7 ns."""
    from rtl.flow.characterize import at_clock, characterize
    from rtl.flow.energy import make_stream, measure_energy
    from rtl.flow.synth import synthesize
    from rtl.tech.technology import technology

    spec = MacSpec.from_names("int4_sym", "int4_sym", "fixed")
    own = characterize(spec, "sky130hd_tt", cache_dir=tmp_path, macs=1 << 14)
    derived = characterize(spec, "sky130hd_tt", cache_dir=tmp_path, macs=1 << 14, clock_ns=7.0)
    assert derived == at_clock(own, 7.0) and derived.clock_ns == 7.0 and derived.area_um2 == own.area_um2
    netlist = synthesize(spec, "sky130hd_tt", wire_load=True).netlist  # characterize's defaults
    measured = measure_energy(spec, netlist, make_stream(spec, "uniform", macs=1 << 14), 7.0,
                              technology("sky130hd_tt").cells.voltage_v, glitches="nldm")
    assert derived.energy_pj_per_mac == pytest.approx(measured.energy_pj_per_mac, rel=1e-9)
    assert derived.energy_breakdown_pj_per_mac["leakage"] == pytest.approx(measured.leakage_pj_per_mac, rel=1e-9)
    assert derived.energy_breakdown_pj_per_mac["leakage"] > own.energy_breakdown_pj_per_mac["leakage"]


def test_only_the_point_returned_has_its_energy_measured(tmp_path, monkeypatch):
    """The search times its candidates alone and measures the energy of the point it returns —
    the same cost, field for field, as characterizing every candidate whole; and a second search
    reads every candidate from the cache."""
    import rtl.flow.characterize as characterization
    from rtl.flow.characterize import characterize

    measured, synthesized = [], []
    measure, synthesize = characterization.measure_energy, characterization.synthesize
    monkeypatch.setattr(characterization, "measure_energy", lambda spec, *a, **k: measured.append(spec.stages)
                        or measure(spec, *a, **k))
    monkeypatch.setattr(characterization, "synthesize", lambda spec, *a, **k: synthesized.append(spec.stages)
                        or synthesize(spec, *a, **k))
    clock = 6.0  # between INT8's unpipelined path (7.2 ns) and its two-stage one
    fast = meet_clock(INT8, "sky130hd_tt", clock, cache_dir=tmp_path / "a", macs=1 << 10)
    assert len(measured) == 1 and measured[0] == fast.spec["stages"] > 0 and len(synthesized) > 1
    candidates = sorted(synthesized)  # each synthesized once: the returned one's synthesis is reused
    measured.clear(), synthesized.clear()
    whole = meet_clock(INT8, "sky130hd_tt", clock, cache_dir=tmp_path / "b", macs=1 << 10, characterize=characterize)
    assert sorted(measured) == sorted(synthesized) == candidates  # every candidate characterized whole
    assert fast.to_json() == whole.to_json().replace(str(tmp_path / "b"), str(tmp_path / "a"))
    measured.clear(), synthesized.clear()
    assert meet_clock(INT8, "sky130hd_tt", clock, cache_dir=tmp_path / "a", macs=1 << 10).to_json() == fast.to_json()
    assert measured == synthesized == []
