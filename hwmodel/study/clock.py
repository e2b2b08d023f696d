"""Every design at a common clock: the cost per MAC of meeting it, beside each design's own.

A study's MACs are characterized at their own (unpipelined) critical path. Here each is also
fitted to one clock — by default the INT8 MAC's own (``int8_sym`` into its exact fixed
accumulator, one lane), or one the user gives — with :func:`rtl.flow.clocking.meet_clock`: the
fewest pipeline stages that meet it, energy measured at that clock. A design whose accumulation
recurrence is longer than the clock cannot meet it; its row says by how much and gives its
fastest pipelined point instead, so no row is left without numbers and none pretends to meet
the clock. A float-accumulator design that misses gets a second row, its loop cut by
:data:`INTERLEAVE` interleaved partial sums (``MacSpec.interleave``) — labelled, since its
summation order, and so its numerics, differ from the design the study's accuracy measured.
"""

from __future__ import annotations

import dataclasses
import functools

import pandas as pd

from rtl.errors import FieldError
from rtl.numerics.arith import FLOAT_ACCUMULATORS
from rtl.numerics.interleave import INTERLEAVES
from rtl.parallel import executor

from hwmodel.study.progress import Progress
from hwmodel.study.report import design_label, plain
from hwmodel.study.spec import VARIANT_DEFAULTS

__all__ = ["int8_clock_ns", "at_clock", "COLUMNS", "INTERLEAVE"]

COLUMNS = ("design", "own_critical_path_ns", "own_area_um2_per_mac", "own_energy_pj_per_mac", "clock_ns", "meets",
           "stages", "interleave", "critical_path_ns", "area_um2_per_mac", "energy_pj_per_mac", "misses_by_ns")
INTERLEAVE = INTERLEAVES[-1]  # the deepest cut of the loop: the fastest a float register gets


def int8_clock_ns(macs: pd.DataFrame, library: str) -> float:
    """The own critical path of the INT8 MAC (int8_sym → fixed, one lane, no bias) on ``library``."""
    base = plain(macs)
    base = base[(base.a == "int8_sym") & (base.b == "int8_sym") & (base.acc == "fixed") & (base.lanes == 1)
                & (base.library == library)]
    if base.empty:
        raise FieldError("clock_ns", f"no INT8 MAC (int8_sym → fixed, one lane) on {library} in the study to take the "
                                     "common clock from: give one", None)
    return float(base.critical_path_ns.iloc[0])


def _fit(options: dict, spec, library: str, zeros: dict, *, deepest_first: bool = False):
    from rtl.flow.clocking import ClockError, meet_clock

    try:
        return meet_clock(spec, library, options["clock_ns"], stream=options["stream"], tool=options["tool"],
                          cache_dir=options["cache_dir"], deepest_first=deepest_first, **zeros), True
    except ClockError as error:
        if error.best is None:
            raise
        return error.best, False


def _one(options: dict, row: dict) -> list[dict]:
    from hwmodel.study.run import mac_spec, stream_zeros

    spec = mac_spec(row | {"stages": 0, "lanes": int(row["lanes"])})
    clock, zeros = options["clock_ns"], stream_zeros(row)
    fits = [(spec.interleave, *_fit(options, spec, row["library"], zeros))]
    if not fits[0][2] and row["acc"] in FLOAT_ACCUMULATORS and spec.interleave == 1:
        # the interleaved unit is new to the study, and is synthesized for the clock first: where its
        # deepest pipeline misses too, its unpipelined unit (half a minute for 32 lanes) is never made
        fits.append((INTERLEAVE, *_fit(options, dataclasses.replace(spec, interleave=INTERLEAVE), row["library"],
                                       zeros, deepest_first=True)))
    lanes = spec.products  # per MAC = per product the unit computes (an N:M unit's kept weights)
    return [{"design": design_label(row | {"interleave": n}), "own_critical_path_ns": float(row["critical_path_ns"]),
             "own_area_um2_per_mac": float(row["area_um2"]) / lanes,
             "own_energy_pj_per_mac": float(row["energy_pj_per_mac"]), "clock_ns": clock, "meets": meets,
             "stages": int(cost.spec["stages"]), "interleave": n, "critical_path_ns": cost.critical_path_ns,
             "area_um2_per_mac": cost.area_um2 / lanes, "energy_pj_per_mac": cost.energy_pj_per_mac,
             "misses_by_ns": max(0.0, cost.critical_path_ns - clock)} for n, cost, meets in fits]


def at_clock(macs: pd.DataFrame, clock_ns: float, *, library: str, stream: str = "uniform", tool: str = "yowasp",
             cache_dir=None, processes: int | None = None, scheduler=None, progress: bool = False) -> pd.DataFrame:
    """One row per design of ``macs`` (its own-clock rows on ``library``), and one more for each
    float-accumulator design that misses, interleaved: :data:`COLUMNS`, sorted by area per MAC
    at the clock. Synthesis runs in parallel and is cached."""
    from rtl.flow.synth import prepare_yosys

    own = macs[(macs.library == library) & (macs.clock_ns == 0)]
    keys = ["a", "b", "acc", "lanes", "bias"] + [k for k in VARIANT_DEFAULTS if k in own]
    rows = own.drop_duplicates(subset=keys).to_dict("records")
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    from rtl.flow.characterize import DEFAULT_CACHE

    options = {"clock_ns": float(clock_ns), "stream": stream, "tool": tool, "cache_dir": str(cache_dir or DEFAULT_CACHE)}
    bar = Progress(f"designs at {clock_ns:.3f} ns", len(rows)) if progress else None
    out = []
    with executor(scheduler=scheduler, processes=processes, jobs=len(rows),
                  prepare=functools.partial(prepare_yosys, tool)) as pool:
        for fitted in pool.map(functools.partial(_one, options), rows):
            out += fitted
            if bar:
                bar.step(1, fitted[0]["design"])
    if bar:
        bar.close()
    return pd.DataFrame(out, columns=COLUMNS).sort_values(["meets", "area_um2_per_mac"], ascending=[False, True]) \
        .reset_index(drop=True)
