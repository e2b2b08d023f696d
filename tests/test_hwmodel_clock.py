"""Designs at a common clock (hwmodel.study.clock): the INT8 MAC's clock, rows that meet it and
rows that say how far they miss."""

import pandas as pd
import pytest

from rtl.errors import FieldError
from hwmodel.study.clock import COLUMNS, at_clock, int8_clock_ns


def _macs(tmp_path):
    from rtl.flow.characterize import characterize
    from rtl.hdl.spec import MacSpec

    rows = []
    for a, acc in (("int8_sym", "fixed"), ("int4_sym", "fixed")):
        cost = characterize(MacSpec.from_names(a, a, acc), "sky130hd_tt", cache_dir=tmp_path)
        rows.append({"a": a, "b": a, "acc": acc, "lanes": 1, "bias": "none", "library": "sky130hd_tt",
                     "clock_ns": 0.0, "area_um2": cost.area_um2, "energy_pj_per_mac": cost.energy_pj_per_mac,
                     "critical_path_ns": cost.critical_path_ns})
    return pd.DataFrame(rows)


def test_every_design_at_the_int8_clock_and_below_it(tmp_path):
    macs = _macs(tmp_path)
    clock = int8_clock_ns(macs, "sky130hd_tt")
    assert clock == pytest.approx(float(macs.critical_path_ns.iloc[0]))
    table = at_clock(macs, clock, library="sky130hd_tt", cache_dir=tmp_path, processes=1)
    assert list(table.columns) == list(COLUMNS) and len(table) == 2
    assert table.meets.all() and (table.critical_path_ns <= clock).all()
    int8 = table[table.design == "int8_sym→fixed"].iloc[0]
    assert int8.stages == 0 and int8.area_um2_per_mac == pytest.approx(int8.own_area_um2_per_mac)
    # below the INT8 MAC's recurrence: rows that miss, with their fastest point and the gap
    tight = at_clock(macs, 2.0, library="sky130hd_tt", cache_dir=tmp_path, processes=1)
    assert not tight.meets.any() and (tight.misses_by_ns > 0).all()
    assert (tight.misses_by_ns == tight.critical_path_ns - 2.0).all() and (tight.stages >= 0).all()


def test_no_int8_mac_to_take_the_clock_from():
    with pytest.raises(FieldError, match="no INT8 MAC"):
        int8_clock_ns(pd.DataFrame({"a": ["float8_e4m3fn"], "b": ["float8_e4m3fn"], "acc": ["float32"], "lanes": [1],
                                    "library": ["sky130hd_tt"], "critical_path_ns": [20.0]}), "sky130hd_tt")


def test_a_float_design_that_misses_gets_an_interleaved_row(tmp_path):
    from rtl.flow.characterize import characterize
    from rtl.hdl.spec import MacSpec

    macs = _macs(tmp_path)
    cost = characterize(MacSpec.from_names("float8_e4m3fn", "float8_e4m3fn", "float16"), "sky130hd_tt",
                        cache_dir=tmp_path)
    macs = pd.concat([macs, pd.DataFrame([{"a": "float8_e4m3fn", "b": "float8_e4m3fn", "acc": "float16", "lanes": 1,
                                           "bias": "none", "library": "sky130hd_tt", "clock_ns": 0.0,
                                           "area_um2": cost.area_um2, "energy_pj_per_mac": cost.energy_pj_per_mac,
                                           "critical_path_ns": cost.critical_path_ns}])], ignore_index=True)
    table = at_clock(macs, int8_clock_ns(macs, "sky130hd_tt"), library="sky130hd_tt", cache_dir=tmp_path,
                     processes=1)
    assert len(table) == 4 and set(table.interleave) == {1, 5}
    plain = table[table.design == "float8_e4m3fn→float16"].iloc[0]
    cut = table[table.design == "float8_e4m3fn→float16 i5"].iloc[0]
    assert not plain.meets and cut.critical_path_ns < plain.critical_path_ns
    assert (table[table.interleave == 1].design.str.startswith("int")).sum() == 2  # INT designs: no interleaved row


def test_the_interleaved_unit_is_fitted_deepest_pipeline_first(monkeypatch):
    """The study has characterized each design's unpipelined unit, not its interleaved one: that
    one's fit times its deepest pipeline first, so a miss never synthesizes its unpipelined unit."""
    import types

    from hwmodel.study import clock

    asked = []

    def fit(options, spec, library, zeros, *, deepest_first=False):
        asked.append((spec.interleave, deepest_first))
        cost = types.SimpleNamespace(spec={"stages": 3}, critical_path_ns=20.0, area_um2=100.0, energy_pj_per_mac=1.0)
        return cost, False

    monkeypatch.setattr(clock, "_fit", fit)
    row = {"a": "float8_e4m3fn", "b": "float8_e4m3fn", "acc": "float16", "lanes": 1, "bias": "none",
           "library": "sky130hd_tt", "clock_ns": 0.0, "area_um2": 90.0, "energy_pj_per_mac": 0.9,
           "critical_path_ns": 21.0}
    rows = clock._one({"clock_ns": 7.0, "stream": "uniform", "tool": "yowasp", "cache_dir": None}, row)
    assert asked == [(1, False), (clock.INTERLEAVE, True)] and [r["interleave"] for r in rows] == [1, clock.INTERLEAVE]
