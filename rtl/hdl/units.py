"""Stand-alone arithmetic units, for setting hwmodel's figures beside published per-operation ones.

* :class:`FloatMultiplier` — ``y = round(a · b)`` in one IEEE format (float16, bfloat16, float32):
  the MAC's own multiplier, normalizer and rounding (:mod:`rtl.hdl.stages`), its alignment fed a
  constant −0 (so ``y`` is the product rounded once, zeros keeping their IEEE sign);
* :class:`FloatAdder` — ``y = round(a + b)``: two register decoders, the MAC's align / add and its
  rounding;
* :func:`integer_verilog` — an N-bit signed multiplier or adder as plain Verilog.

All are combinational (no registers), as Horowitz's per-operation figures are. Round to nearest
even, subnormals kept, NaN the format's canonical quiet NaN, overflow ±Inf.
"""

from __future__ import annotations

from amaranth import Module, signed
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.hdl.stages import (AccumulatorDecode, FloatAlignAdd, FloatRound, Multiply, ProductNormalize,
                            product_exponent_max, product_magnitude_width, signed_width)
from rtl.numerics.arith import product_lsb_exponent
from rtl.numerics.formats import get_format

__all__ = ["FloatMultiplier", "FloatAdder", "integer_verilog", "unit_verilog", "UNIT_FORMATS"]

UNIT_FORMATS = ("float16", "bfloat16", "float32")


def _check(fmt):
    fmt = get_format(fmt)
    if fmt.name not in UNIT_FORMATS:
        raise ValueError(f"an IEEE unit is float16, bfloat16 or float32, not {fmt.name}")
    return fmt


class _Unit(wiring.Component):
    """Two operand codes ``a``, ``b`` and the result ``y``, all in one IEEE format."""

    def __init__(self, fmt):
        self._fmt = _check(fmt)
        super().__init__({"a": In(self._fmt.bits), "b": In(self._fmt.bits), "y": Out(self._fmt.bits)})

    def _round(self, m: Module, add, top_shape, *, zero_negative, nan, pos_inf, neg_inf) -> None:
        """The exact sum of ``add`` rounded once into ``y``, or the special the flags say."""
        m.submodules.normacc = rnd = FloatRound(fmt=self._fmt, frame=add.frame, flush_to_zero=False,
                                                top_shape=top_shape)
        wiring.connect(m, add.sum, rnd.sum)
        m.d.comb += [rnd.zero_negative.eq(zero_negative), rnd.nan.eq(nan), rnd.pos_inf.eq(pos_inf),
                     rnd.neg_inf.eq(neg_inf), self.y.eq(rnd.code)]


class FloatMultiplier(_Unit):
    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        m.submodules.mpy = mpy = Multiply(a=f, b=f, raw=True, signed_zero=True)
        m.d.comb += [mpy.a.eq(self.a), mpy.b.eq(self.b)]
        width, exp_max, lsb = product_magnitude_width(f, f), product_exponent_max(f, f), product_lsb_exponent(f, f)
        p = f.man_bits + 1
        frame = max(width, p) + 4
        top_shape = signed(signed_width(min(lsb, 1 - f.bias - p) - frame - 4,
                                        max(lsb + exp_max + width, (1 << f.exp_bits) - f.bias) + 4))
        m.submodules.pnorm = pnorm = ProductNormalize(width=width, exp_width=signed_width(0, exp_max),
                                                      offset=lsb + width - 1, top_shape=top_shape,
                                                      twos_complement=False)
        wiring.connect(m, mpy.product, pnorm.product)
        m.submodules.alignadd = add = FloatAlignAdd(acc_width=p, product_width=width, top_shape=top_shape)
        m.d.comb += [add.a.sign.eq(1), add.a.zero.eq(1), add.a.sig.eq(0), add.a.exp.eq(0)]  # −0: x + −0 = x
        wiring.connect(m, pnorm.raw, add.p)
        self._round(m, add, top_shape, zero_negative=mpy.negative_zero, nan=mpy.specials.nan,
                    pos_inf=mpy.specials.inf & ~mpy.product.sign, neg_inf=mpy.specials.inf & mpy.product.sign)
        return m


class FloatAdder(_Unit):
    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        p = f.man_bits + 1
        frame = p + 4
        top_shape = signed(signed_width(1 - f.bias - p - frame - 8, (1 << f.exp_bits) - f.bias + 4))
        m.submodules.decode_a = da = AccumulatorDecode(fmt=f, flush_to_zero=False, top_shape=top_shape)
        m.submodules.decode_b = db = AccumulatorDecode(fmt=f, flush_to_zero=False, top_shape=top_shape)
        m.d.comb += [da.code.eq(self.a), db.code.eq(self.b)]
        m.submodules.alignadd = add = FloatAlignAdd(acc_width=p, product_width=p, top_shape=top_shape)
        wiring.connect(m, da.raw, add.a)
        wiring.connect(m, db.raw, add.p)
        a_pos, a_neg = da.specials.inf & ~da.raw.sign, da.specials.inf & da.raw.sign
        b_pos, b_neg = db.specials.inf & ~db.raw.sign, db.specials.inf & db.raw.sign
        self._round(m, add, top_shape, zero_negative=da.raw.zero & da.raw.sign & db.raw.zero & db.raw.sign,
                    nan=da.specials.nan | db.specials.nan | ((a_pos | b_pos) & (a_neg | b_neg)),
                    pos_inf=a_pos | b_pos, neg_inf=a_neg | b_neg)
        return m


def unit_verilog(kind: str, fmt: str) -> tuple[str, str]:
    """(module name, Verilog) of a float ``multiplier`` or ``adder`` in ``fmt``."""
    cls = {"multiplier": FloatMultiplier, "adder": FloatAdder}[kind]
    name = f"{fmt}_{kind}"
    return name, verilog.convert(cls(fmt), name=name, emit_src=False)


def integer_verilog(kind: str, bits: int) -> tuple[str, str]:
    """(module name, Verilog) of an N-bit two's-complement ``multiplier`` (2N-bit product) or
    ``adder`` (N-bit sum, wrapping)."""
    name = f"int{bits}_{kind}"
    if kind == "multiplier":
        body = (f"module {name}(input signed [{bits - 1}:0] a, input signed [{bits - 1}:0] b, "
                f"output signed [{2 * bits - 1}:0] y);\n  assign y = a * b;\nendmodule\n")
    elif kind == "adder":
        body = (f"module {name}(input [{bits - 1}:0] a, input [{bits - 1}:0] b, output [{bits - 1}:0] y);\n"
                "  assign y = a + b;\nendmodule\n")
    else:
        raise ValueError(f"kind must be multiplier or adder, not {kind!r}")
    return name, body

