"""Design points at a given clock: the fewest pipeline stages whose critical path meets it.

``stages`` cuts the feed-forward path of a unit (:data:`rtl.hdl.spec.MAX_STAGES`: after the
multipliers, after the lane sum or product normalization, and before that normalization). What
no such cut can shorten is the accumulation recurrence — the path from the accumulator register
through alignment, addition and rounding (or the fixed adder) back into it. Cutting that loop
changes the numerics (interleaved partial sums, :mod:`rtl.numerics.interleave`), so it is the
user's explicit choice (``MacSpec.interleave``), never made here: a clock the spec as given
cannot meet is refused with the amount it misses by, the path that is left, and — for a float
register — the interleave that would cut it. A candidate that misses when mapped for area is
mapped again for the clock (ABC's delay-driven mapping, per stage module), as a flow given a
clock constraint would try; the deepest pipeline is mapped for the clock first, and for area
only where that comes within :data:`AREA_MARGIN` of the clock.
"""

from __future__ import annotations

import dataclasses

from rtl.errors import FieldError
from rtl.hdl.spec import MacSpec
from rtl.numerics.interleave import INTERLEAVES
from rtl.tech.technology import technology

__all__ = ["ClockError", "fastest_cell_ns", "meet_clock", "AREA_MARGIN"]

AREA_MARGIN = 1.25
"""How far over the clock the deepest pipeline mapped for it may be and still be mapped for area
too. Near the clock, area mapping can come out faster than ABC's delay-driven mapping, whose own
delay model differs from the NLDM timer's (INT8 → fixed on sky130 at 2 stages: 5.416 ns mapped
for area, 5.696 ns mapped for 5.6 ns); where the delay-driven netlist misses by more, area
mapping is slower still (E4M3 → float32 at 3 stages: 35.2 ns against 17.9 ns), and the synthesis
— half a minute for a 32-lane unit — is skipped."""


class ClockError(FieldError):
    """A clock target no design point of the unit meets; ``best`` is the closest one's cost."""

    def __init__(self, message: str, value, best=None):
        super().__init__("clock_ns", message, value)
        self.best = best


def fastest_cell_ns(library: str) -> float:
    """The smallest intrinsic delay of any combinational cell of ``library`` (ns)."""
    cells = technology(library).cells.cells.values()
    delays = [c.delay_ns for c in cells if not c.is_sequential and not c.dont_use and c.delay_ns > 0]
    return min(delays) if delays else 0.0


def meet_clock(spec: MacSpec, library: str, clock_ns: float, *, characterize=None, deepest_first: bool = False,
               **options):
    """The cost of ``spec`` with the fewest pipeline stages (0 … ``spec.max_stages``) whose critical path is
    at most ``clock_ns`` on ``library`` — each stage count mapped for area, and where that misses,
    for the clock (ABC's delay-driven mapping); energy and leakage are measured at ``clock_ns``.

    The unpipelined unit is timed first — a caller has usually characterized it already, so it
    costs nothing and ends the search where it meets the clock. ``deepest_first`` times the
    deepest pipeline first instead, for a unit nobody has synthesized that is likely to miss:
    where the deepest misses, nothing shallower is synthesized at all (the closest point is then
    the deepest, as it would have been); where it meets, the search from 0 stages follows and
    the result is the same.

    ``characterize`` (default :func:`rtl.flow.characterize.characterize`) and ``options`` are
    passed through. With the default, the candidates are timed alone
    (:func:`rtl.flow.characterize.critical_path`) and only the point returned — or, where none
    meets the clock, the closest — has its energy measured, on the synthesis already made.
    Raises :class:`ClockError` for a target ≤ 0, one below the library's fastest cell, or one
    even the deepest pipeline misses (the message says by how much, and why).
    """
    probe = None
    if characterize is None:
        from rtl.flow.characterize import characterize, critical_path as probe
    if not isinstance(clock_ns, (int, float)) or isinstance(clock_ns, bool) or not clock_ns > 0:
        raise ClockError(f"a clock target must be a positive number of ns, not {clock_ns!r}", clock_ns)
    floor = fastest_cell_ns(library)
    if clock_ns < floor:
        raise ClockError(f"a clock of {clock_ns:g} ns is below one cell delay of {library} ({floor:.4f} ns, its "
                         "fastest cell): no register-to-register path is that short", clock_ns)
    seen, timed = {}, {}  # whole costs; critical paths alone (with the synthesis where one was made)

    def point(stages: int, target):
        if (stages, target) not in seen:
            made = timed.get((stages, target), (None, None))[1]
            seen[stages, target] = characterize(dataclasses.replace(spec, stages=stages), library, clock_ns=clock_ns,
                                                delay_target_ns=target, **options,
                                                **({"synthesis": made} if made is not None else {}))
            timed.pop((stages, target), None)
        return seen[stages, target]

    def critical(stages: int, target) -> float:
        if (stages, target) in seen or probe is None:
            return point(stages, target).critical_path_ns
        if (stages, target) not in timed:
            timed[stages, target] = probe(dataclasses.replace(spec, stages=stages), library, delay_target_ns=target,
                                          **options)
        return timed[stages, target][0]

    # the unpipelined unit mapped for area; then the deepest pipeline mapped for the clock, and for
    # area unless the clock is out of its reach by more than AREA_MARGIN: if the deepest misses, no
    # shallower one meets the clock, and the search ends after at most three syntheses
    deepest = spec.max_stages

    def reached() -> bool:
        fastest = critical(deepest, clock_ns)
        return fastest <= clock_ns or (fastest <= AREA_MARGIN * clock_ns and critical(deepest, None) <= clock_ns)

    met = reached() if deepest_first else critical(0, None) <= clock_ns or reached()
    if not met:
        tried = [*seen, *timed]
        best = point(*min(tried, key=lambda at: critical(*at)))  # the closest, its energy measured
        mapped = "for the clock and for area" if (deepest, None) in tried else \
            f"for the clock (more than {AREA_MARGIN - 1:.0%} out of its reach, so not for area too)"
        over = best.critical_path_ns - clock_ns
        if best.spec["acc"]["kind"] == "fixed":
            left = ("the accumulation recurrence (the register through the fixed adder back into itself), which "
                    "pipeline registers cannot cut")
        elif spec.interleave < INTERLEAVES[-1]:
            left = ("the accumulation recurrence (the register through alignment, addition and rounding back into "
                    "itself), which pipeline registers cannot cut; interleaved accumulators cut it (--interleave "
                    f"{spec.interleave + 1}…{INTERLEAVES[-1]}, partial sums updated round-robin: a different "
                    "summation order)")
        else:
            left = (f"the slowest of the {spec.interleave} cycles of the fully interleaved accumulation loop, or the "
                    "feed-forward path between two pipeline registers")
        raise ClockError(
            f"{spec.name} cannot meet {clock_ns:g} ns on {library}: with up to {deepest} pipeline stages (the most "
            f"it has), mapped {mapped}, its shortest critical path is {best.critical_path_ns:.3f} ns, "
            f"{over:.3f} ns ({100 * over / clock_ns:.0f} %) over. What is left is {left}; a slower clock "
            f"(≥ {best.critical_path_ns:.3f} ns) meets it", clock_ns, best)
    for stages in range(deepest + 1):  # the fewest stages that meet it, area-mapped where that suffices
        for target in (None, clock_ns):
            if critical(stages, target) <= clock_ns:
                return point(stages, target)
    raise AssertionError("unreachable: the deepest pipeline met the clock")
