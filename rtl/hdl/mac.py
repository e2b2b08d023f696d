"""The MAC / dot-product unit: one :class:`~rtl.hdl.spec.MacSpec` → one Amaranth component.

Ports (fixed, so users and other tools can drive every emitted module the same way): ``clk``,
``rst`` (synchronous, active high: the accumulator and the pipeline clear), ``en``, ``clear``,
``a`` and ``b`` (lane ``i`` in bits ``[i·w, (i+1)·w)``), and ``acc``, the accumulator register.
On a clock edge with ``en`` = 1 the unit computes ``acc ← (clear ? 0 : acc) ⊕ Σ a_i·b_i``; with
``stages`` pipeline registers the update lands ``stages`` edges later (``latency`` = stages + 1
edges from inputs to ``acc``), ``en`` and ``clear`` travelling with their operands.
"""

from __future__ import annotations

from amaranth import C, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.numerics.arith import FixedAccumulator
from rtl.hdl.spec import MacSpec
from rtl.hdl.stages import (AccumulatorDecode, FixedAdd, FixedWrap, FloatAlignAdd, FloatRound, LaneSum,
                    Multiply, ProductNormalize, ToFixed, has_specials, lane_fixed_width,
                    product_exponent_max, product_magnitude_width, signed_width)

__all__ = ["Mac", "STAGE_NAMES"]

STAGE_NAMES = ("mpy", "lanesum", "alignadd", "normacc")
"""Area attribution: submodule name prefixes and the stage each belongs to."""


def _register(m: Module, values: dict[str, object], prefix: str = "") -> dict[str, Signal]:
    """A pipeline stage: one register per value, clocked every cycle (reset with the domain)."""
    registered = {}
    for name, value in values.items():
        reg = Signal(Value.cast(value).shape(), name=f"pipe_{prefix}{name}")
        m.d.sync += reg.eq(value)
        registered[name] = reg
    return registered


class Mac(wiring.Component):
    """Multiply-accumulate (``lanes`` = 1) or N-lane dot-product unit for a :class:`MacSpec`.

    Submodules, named by stage for area attribution: ``mpy{i}`` (decode, significand multiplier,
    exponent adder — one per lane), ``tofixed{i}`` and ``lanesum`` (exact lane sum),
    ``alignadd`` (normalize the product and the accumulator, align, add) and ``normacc``
    (normalize, round, encode; the register itself sits in the top module).
    """

    def __init__(self, spec: MacSpec):
        if not isinstance(spec, MacSpec):
            raise TypeError(f"spec must be a MacSpec, not {type(spec).__name__}")
        self._spec = spec
        super().__init__({
            "en": In(1), "clear": In(1),
            "a": In(spec.a.bits * spec.lanes), "b": In(spec.b.bits * spec.lanes),
            "acc": Out(spec.acc_width),
        })

    @property
    def spec(self) -> MacSpec:
        return self._spec

    @property
    def latency(self) -> int:
        """Clock edges from operands to the accumulator holding their contribution."""
        return self._spec.latency

    def elaborate(self, platform):
        m = Module()
        spec = self._spec
        float_acc = not isinstance(spec.acc, FixedAccumulator)
        lanes = []
        for i in range(spec.lanes):
            mpy = Multiply(a=spec.a, b=spec.b, magnitude=float_acc and spec.lanes == 1)
            m.submodules[f"mpy{i}"] = mpy
            m.d.comb += [mpy.a.eq(self.a[i * spec.a.bits:(i + 1) * spec.a.bits]),
                         mpy.b.eq(self.b[i * spec.b.bits:(i + 1) * spec.b.bits])]
            lanes.append({name: getattr(mpy, name) for name in mpy.signature.members
                          if mpy.signature.members[name].flow == Out})
        control = {"en": self.en, "clear": self.clear}
        if spec.stages >= 1:
            control = _register(m, control)
            lanes = [_register(m, lane, prefix=f"lane{i}_") for i, lane in enumerate(lanes)]
        specials = has_specials(spec.a, spec.b)
        flags = {
            "nan": _any([lane["nan"] for lane in lanes]) if specials else C(0, 1),
            "pos_inf": _any([lane["inf"] & ~lane["sign"] for lane in lanes]) if specials else C(0, 1),
            "neg_inf": _any([lane["inf"] & lane["sign"] for lane in lanes]) if specials else C(0, 1),
            "negative_zero": _all([lane["negative_zero"] for lane in lanes]),
        }
        if float_acc:
            self._float_path(m, lanes, flags, control)
        else:
            self._fixed_path(m, lanes, control)
        return m

    # -- fixed-point accumulator ---------------------------------------------------------------
    def _lane_sum(self, m: Module, lanes) -> Signal:
        spec = self._spec
        width = lane_fixed_width(spec.a, spec.b)
        values = []
        for i, lane in enumerate(lanes):
            if "fixed" in lane:  # integer × integer: the signed product is already fixed point
                values.append(lane["fixed"])
                continue
            to_fixed = ToFixed(a=spec.a, b=spec.b)
            m.submodules[f"tofixed{i}"] = to_fixed
            m.d.comb += [to_fixed.sign.eq(lane["sign"]), to_fixed.mag.eq(lane["mag"]),
                         to_fixed.exp.eq(lane["exp"])]
            if "nan" in lane:
                m.d.comb += to_fixed.special.eq(lane["nan"] | lane["inf"])
            values.append(to_fixed.value)
        if len(values) == 1:
            return values[0]
        m.submodules.lanesum = tree = LaneSum(lanes=len(values), width=width)
        m.d.comb += [getattr(tree, f"value{i}").eq(v) for i, v in enumerate(values)]
        return tree.sum

    def _fixed_path(self, m: Module, lanes, control):
        spec = self._spec
        total = self._lane_sum(m, lanes)
        if spec.stages >= 2:
            staged = _register(m, {"sum": total, **control})
            total, control = staged["sum"], {"en": staged["en"], "clear": staged["clear"]}
        width = spec.acc.width
        m.submodules.alignadd = add = FixedAdd(
            acc_width=width, sum_width=len(total),
            shift=spec.product_lsb_exponent - spec.acc.lsb_exponent)
        m.submodules.normacc = wrap = FixedWrap(acc_width=width, total_width=len(add.total),
                                                saturate=spec.acc.overflow == "saturate")
        m.d.comb += [add.acc.eq(Mux(control["clear"], 0, self.acc.as_signed())),
                     add.addend.eq(total), wrap.total.eq(add.total)]
        with m.If(control["en"]):
            m.d.sync += self.acc.eq(wrap.next)

    # -- floating-point accumulator ------------------------------------------------------------
    def _float_path(self, m: Module, lanes, flags, control):
        spec, fmt = self._spec, self._spec.acc.format
        p = fmt.man_bits + 1
        if spec.lanes == 1:
            lane = lanes[0]
            width = product_magnitude_width(spec.a, spec.b)
            exp_max = product_exponent_max(spec.a, spec.b)
        else:
            total = self._lane_sum(m, lanes)
            width, exp_max = len(total), 0
        frame = max(width, p) + 4
        lsb = spec.product_lsb_exponent
        low = min(lsb, 1 - fmt.bias - p) - frame - 4
        high = max(lsb + exp_max + width, (1 << fmt.exp_bits) - fmt.bias) + 4
        top_shape = signed(signed_width(low, high))
        m.submodules.pnorm = pnorm = ProductNormalize(
            width=width, exp_width=signed_width(0, exp_max) if exp_max else 0,
            offset=lsb + width - 1, top_shape=top_shape, twos_complement=spec.lanes > 1)
        if spec.lanes == 1:
            m.d.comb += [pnorm.mag.eq(lane["mag"]), pnorm.sign_in.eq(lane["sign"])]
            if exp_max:
                m.d.comb += pnorm.exp.eq(lane["exp"])
        else:
            m.d.comb += pnorm.value.eq(total)
        product = {"sign": pnorm.sign, "sig": pnorm.sig, "top": pnorm.top, "zero": pnorm.zero, **flags}
        if spec.stages >= 2:
            staged = _register(m, {**product, **control})
            product = {k: staged[k] for k in product}
            control = {"en": staged["en"], "clear": staged["clear"]}
        m.submodules.accdecode = acc = AccumulatorDecode(
            fmt=fmt, flush_to_zero=spec.acc.flush_to_zero, top_shape=top_shape)
        m.d.comb += acc.code.eq(Mux(control["clear"], 0, self.acc))
        m.submodules.alignadd = add = FloatAlignAdd(acc_width=p, product_width=width, top_shape=top_shape)
        m.d.comb += [add.a_sign.eq(acc.sign), add.a_sig.eq(acc.sig), add.a_top.eq(acc.top),
                     add.a_zero.eq(acc.zero), add.p_sign.eq(product["sign"]),
                     add.p_sig.eq(product["sig"]), add.p_top.eq(product["top"]),
                     add.p_zero.eq(product["zero"])]
        m.submodules.normacc = rnd = FloatRound(fmt=fmt, frame=add.frame,
                                                flush_to_zero=spec.acc.flush_to_zero, top_shape=top_shape)
        acc_negative_zero = acc.zero & acc.sign
        m.d.comb += [
            rnd.mag.eq(add.mag), rnd.sign.eq(add.sign), rnd.top.eq(add.top),
            rnd.zero_negative.eq(acc_negative_zero & product["negative_zero"]),
            rnd.nan.eq(product["nan"] | acc.nan | ((product["pos_inf"] | (acc.inf & ~acc.sign))
                                                   & (product["neg_inf"] | (acc.inf & acc.sign)))),
            rnd.pos_inf.eq(product["pos_inf"] | (acc.inf & ~acc.sign)),
            rnd.neg_inf.eq(product["neg_inf"] | (acc.inf & acc.sign)),
        ]
        with m.If(control["en"]):
            m.d.sync += self.acc.eq(rnd.code)


def _any(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


def _all(values):
    out = values[0]
    for v in values[1:]:
        out = out & v
    return out
