"""The stages only a block-scaled dot-product unit has (MX, NVFP4): see :mod:`rtl.numerics.blocks`.

* :class:`ChunkSum` — a block that arrives ``lanes`` elements a cycle over several cycles keeps
  its exact partial sum (and its NaN / Inf / −0 flags) in a register until the block's last
  chunk, which it marks with ``last``;
* :class:`ScaleProduct` — the two block scales' product as a significand and an exponent:
  E8M0 scales are an exponent add (``scale_a + scale_b``, the −254 folded into the constant
  offset downstream), E4M3 scales (NVFP4) a 4 × 4-bit significand multiplier and an exponent
  adder; NaN where either scale is NaN;
* :class:`ScaleMultiply` — for E4M3 scales, the block's exact sum times that significand
  product (an exact, wider sum for the one rounding).

The rest of the unit is the MAC's own: multipliers and lane sum before, normalize / align / add
/ round after (:mod:`rtl.hdl.stages`).
"""

from __future__ import annotations

from amaranth import C, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.hdl.stages import Multiply, signed_width
from rtl.numerics.blocks import BlockScaling

__all__ = ["ChunkSum", "ScaleProduct", "ScaleMultiply", "FLAGS"]

FLAGS = ("nan", "pos_inf", "neg_inf", "negative_zero")
"""What a block carries besides its sum: any NaN, any +Inf, any −Inf, every product −0."""


class ChunkSum(wiring.Component):
    """Exact sum of a block's ``chunks`` consecutive enabled inputs.

    On an enabled cycle that is not the block's last, the partial sum and flags are stored; on
    the last (``last`` = 1), ``sum`` and the flag outputs are the whole block's (this cycle's
    chunk included) and the register starts over. ``rst`` empties it.
    """

    def __init__(self, *, width: int, chunks: int):
        if not isinstance(chunks, int) or chunks < 2:
            raise ValueError(f"a chunked block needs at least 2 chunks, not {chunks!r}")
        self._chunks = chunks
        self._out = width + (chunks - 1).bit_length()
        super().__init__({"value": In(signed(width)), "en": In(1), "last": Out(1), "sum": Out(signed(self._out))}
                         | {f"in_{f}": In(1) for f in FLAGS} | {f"out_{f}": Out(1) for f in FLAGS})

    @property
    def chunks(self) -> int:
        return self._chunks

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._chunks))
        partial = Signal(signed(self._out))
        held = {f: Signal(1, name=f"held_{f}", init=1 if f == "negative_zero" else 0) for f in FLAGS}
        m.d.comb += [self.last.eq(count == self._chunks - 1), self.sum.eq(partial + self.value)]
        for f in FLAGS:
            combine = (held[f] & getattr(self, f"in_{f}")) if f == "negative_zero" else (
                held[f] | getattr(self, f"in_{f}"))
            m.d.comb += getattr(self, f"out_{f}").eq(combine)
        with m.If(self.en):
            with m.If(self.last):
                m.d.sync += [count.eq(0), partial.eq(0)] + [held[f].eq(1 if f == "negative_zero" else 0)
                                                            for f in FLAGS]
            with m.Else():
                m.d.sync += [count.eq(count + 1), partial.eq(self.sum)] + [
                    held[f].eq(getattr(self, f"out_{f}")) for f in FLAGS]
        return m


class ScaleProduct(wiring.Component):
    """``|X_a · X_b| = sig · 2**(exp + offset)``: ``sig`` unsigned (1 bit, always 1, for E8M0),
    ``exp`` signed, ``nan`` for a NaN scale. :attr:`offset` is the constant the consumer adds
    (−254 for E8M0 biases; the E4M3 product's LSB, −18, for NVFP4)."""

    def __init__(self, *, scaling: BlockScaling):
        if not isinstance(scaling, BlockScaling):
            raise TypeError(f"scaling must be a BlockScaling, not {scaling!r}")
        self._scaling = scaling
        fmt = scaling.scale_format
        if scaling.a.power_of_two_scale:
            exp_low, exp_high, self._offset = 0, 2 * 254, -2 * fmt.bias
        else:
            span = (1 << fmt.exp_bits) - 2  # the largest biased field, less one: Decode's exponent frame
            exp_low, exp_high, self._offset = 0, 2 * span, 2 * fmt.lsb_exponent
        self._exp_range = (exp_low, exp_high)
        super().__init__({"scale_a": In(fmt.bits), "scale_b": In(fmt.bits),
                          "sig": Out(scaling.scale_product_width), "exp": Out(signed(signed_width(exp_low, exp_high))),
                          "nan": Out(1)})

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def exp_range(self) -> tuple[int, int]:
        """The values ``exp`` takes (inclusive)."""
        return self._exp_range

    def elaborate(self, platform):
        m = Module()
        fmt = self._scaling.scale_format
        if self._scaling.a.power_of_two_scale:
            top = (1 << fmt.bits) - 1
            m.d.comb += [self.sig.eq(1), self.exp.eq(self.scale_a + self.scale_b),
                         self.nan.eq((self.scale_a == top) | (self.scale_b == top))]
            return m
        magnitude = fmt.bits - 1  # the sign bit is not read: NVFP4 scales are positive
        m.submodules.mpy = mpy = Multiply(a=fmt, b=fmt, raw=True)
        m.d.comb += [mpy.a.eq(self.scale_a[:magnitude]), mpy.b.eq(self.scale_b[:magnitude]),
                     self.sig.eq(mpy.product.sig), self.exp.eq(mpy.product.exp),
                     self.nan.eq(mpy.specials.nan if "specials" in mpy.signature.members else C(0, 1))]
        return m


class ScaleMultiply(wiring.Component):
    """``value`` (a two's-complement block sum) times ``sig`` (the unsigned product of the two
    scales' significands), exactly: ``scaled``, ``len(value) + len(sig) + 1`` bits."""

    def __init__(self, *, width: int, sig_width: int):
        super().__init__({"value": In(signed(width)), "sig": In(sig_width),
                          "scaled": Out(signed(width + sig_width + 1))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.scaled.eq(self.value * self.sig.as_unsigned())
        return m
