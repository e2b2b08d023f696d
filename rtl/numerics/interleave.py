"""Golden interleaved accumulators: N partial sums updated round-robin, reduced at the end.

A float accumulator's recurrence — decode the register, align, add, round, write it back — is one
register-to-register path that pipeline registers in front of it cannot shorten. An
*interleaved* unit (``MacSpec.interleave`` = N ≥ 2) cuts that loop itself: N registers in the
loop (:data:`INTERLEAVES`) make it N cycles long, so it holds N partial sums in flight, and the
partial sum a cycle updates is the one that left the loop N cycles before. Its numerics, exactly
(they depend on N, not on where the cuts are):

* the loop turns every cycle: cycle ``c`` (counted from reset, after the unit's feed-forward
  pipeline) updates partial sum ``c mod N`` — ``s ← round(s + contribution)`` with the MAC's or
  block unit's own one rounding (:mod:`rtl.numerics.arith`, :mod:`rtl.numerics.blocks`) — and a
  cycle without a step (``en`` low, or a block's non-final chunk) leaves its partial sum as it is;
* ``clear`` on a step starts every partial sum from +0: the step's own, and each of the next N − 1
  cycles' (so each partial sum once) — the cycles the loop takes to bring them all past the adder;
* ``acc`` shows each cycle's partial sum :func:`extra_latency` edges later than an uninterleaved
  unit would (the loop's registers after the adder's input); so the N partial sums of a dot
  product whose last step is at cycle ``e`` appear on ``acc`` for the cycles ``e − N + 1 … e``,
  one per cycle, unaffected by the next dot product's clear sweeping the loop;
* the dot product is their left fold in that order, each addition rounded once in the register's
  format (:func:`reduce_partials`) — done where the partial sums are read, by the array's output
  stage, not inside the unit.

A dense dot product of S steps from a clear therefore sums steps ``t ≡ j (mod N)`` into partial
sum ``j`` in order, and folds them starting from partial sum ``S mod N`` (:func:`partial_order`):
the summation order, and so the rounding, differ from the uninterleaved unit's; with N = 1
everything reduces to that unit.
"""

from __future__ import annotations

import numpy as np

from rtl.numerics import arith
from rtl.numerics.arith import FloatAccumulator
from rtl.numerics.formats import decode_parts

__all__ = ["INTERLEAVES", "extra_latency", "ring_steps", "partial_order", "reduce_partials", "interleaved_dot"]

INTERLEAVES = (1, 2, 3, 4, 5)
"""Partial sums an accumulation loop can hold — its registers: 1 (the accumulator alone), 2 (and
one after the addition), 3 (and one after the register's decode), 4 (and one between the
normalization and the rounding), 5 (and one between the alignment and the addition)."""


def extra_latency(interleave: int) -> int:
    """Edges an interleaved loop adds between a step's operands and ``acc``: its registers after
    the point where the product enters (the addition's, the normalization's, the alignment's)."""
    return (interleave >= 2) + (interleave >= 4) + (interleave >= 5)


def ring_steps(acc: FloatAccumulator, interleave: int, shape, updates):
    """The ``acc`` port after every cycle of an interleaved unit fed ``updates`` (one per cycle,
    from :func:`rtl.numerics.arith.step_updates` or :func:`rtl.numerics.blocks.block_updates`):
    the partial sum the cycle updated (see the module docstring)."""
    slots = [arith.zeros(acc, shape) for _ in range(interleave)]
    window = 0  # cycles left in which a clear still zeroes the partial sum passing the adder
    for c, update in enumerate(updates):
        j = c % interleave
        if update is not None and update[0]:
            window = interleave
        zero = window > 0
        start = arith.zeros(acc, shape) if zero else slots[j]
        if update is not None:
            slots[j] = update[1](start)
        elif zero:
            slots[j] = start
        window = max(window - 1, 0)
        yield slots[j]


def partial_order(steps: int, interleave: int, spacing: int = 1) -> list[int]:
    """The partial sums' indices in the order they reach ``acc`` at the end of a dot product of
    ``steps`` steps issued every ``spacing`` cycles from a clear (partial sum ``j`` holds the
    steps whose cycle is ``≡ j (mod interleave)``, cycle 0 being the first step's)."""
    last = (steps - 1) * spacing
    return [(last + 1 + i) % interleave for i in range(interleave)]


def _as_products(acc: FloatAccumulator, codes) -> arith.Products:
    """Register codes as one-lane exact "products" (multiples of the register's subnormal LSB),
    so a partial sum adds into another with :func:`rtl.numerics.arith.accumulate`'s rounding."""
    fmt = acc.format
    codes = np.asarray(codes, np.int64)
    sig, exp, nan, inf = decode_parts(fmt, codes)
    lsb = fmt.emin - fmt.man_bits
    finite = ~(nan | inf)
    multiple = np.array([int(s) << int(e - lsb) if f else 0 for s, e, f in
                         zip(sig.ravel(), exp.ravel(), finite.ravel())], dtype=object).reshape(codes.shape)
    negative_zero = (sig == 0) & finite & (((codes >> (fmt.bits - 1)) & 1) == 1)
    one = lambda x: np.asarray(x)[..., None]
    return arith.Products(multiple=one(multiple), lsb_exponent=lsb, width=fmt.emax + 2 - lsb + 1,
                          nan=one(nan), inf=one(np.where(inf, np.sign(sig), 0)).astype(np.int8),
                          negative_zero=one(negative_zero))


def reduce_partials(acc: FloatAccumulator, partials) -> np.ndarray:
    """The left fold ``round(round(p0 + p1) + p2)…`` of partial sums (register codes, in the order
    given), each addition rounded once in the register's format."""
    if not isinstance(acc, FloatAccumulator):
        raise TypeError(f"interleaved partial sums are float registers, not {acc!r}")
    partials = list(partials)
    out = np.asarray(partials[0], np.int64)
    for p in partials[1:]:
        out = arith.accumulate(acc, out, _as_products(acc, p)).astype(np.int64)
    return out


def interleaved_dot(acc: FloatAccumulator, interleave: int, shape, updates):
    """A dot product's result on an interleaved unit: the ring run over ``updates`` (cycle by
    cycle, the first step clearing), its partial sums read off ``acc`` over the N cycles that end
    with the last step's, and folded in that order (:func:`reduce_partials`)."""
    updates = list(updates)
    trace = list(ring_steps(acc, interleave, shape, updates))
    last = max(c for c, update in enumerate(updates) if update is not None)
    zero = arith.zeros(acc, shape)  # cycles before the first: partial sums never touched
    return reduce_partials(acc, [trace[c] if c >= 0 else zero for c in range(last - interleave + 1, last + 1)])
