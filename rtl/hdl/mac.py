"""The MAC / dot-product unit: one :class:`~rtl.hdl.spec.MacSpec` → one Amaranth component.

Ports (fixed, so users and other tools can drive every emitted module the same way): ``clk``,
``rst`` (synchronous, active high: the accumulator and the pipeline clear), ``en``, ``clear``,
``a`` and ``b`` (lane ``i`` in bits ``[i·w, (i+1)·w)``), and ``acc``, the accumulator register.
On a clock edge with ``en`` = 1 the unit computes ``acc ← (clear ? 0 : acc) ⊕ Σ a_i·b_i``; with
``stages`` pipeline registers the update lands ``stages`` edges later (``latency`` = stages + 1
edges from inputs to ``acc``), ``en`` and ``clear`` travelling with their operands.

An interleaved unit (``spec.interleave`` = N ≥ 2, float registers) cuts its accumulation loop
into N register stages, so it holds N partial sums updated round-robin; ``acc`` shows the one
each cycle updated, and a dot product is their fold (:mod:`rtl.numerics.interleave`).

A block-scaled unit (``spec.scaling``: MX, NVFP4) has two more inputs, ``scale_a`` and
``scale_b`` (one block scale code each), and takes a block of B elements over ``chunks`` = B /
lanes enabled cycles; on the block's last chunk — the cycle whose scales and ``clear`` it
reads — ``acc ← (clear ? 0 : acc) ⊕ X_a·X_b·Σ_block a_i·b_i`` with one rounding
(:mod:`rtl.numerics.blocks`).

An N:M sparse unit (``spec.nm``) takes ``lanes`` activations on ``a``, the ``products`` =
lanes·N/M kept weights on ``b`` and their positions in their groups of M on ``index`` (kept
weight j in bits ``[j·x, (j+1)·x)``, x = ``spec.index_bits``); multiplexers (``select{j}``,
counted with the multipliers they feed) give kept weight j of group g the activation
``a[g·M + index_j]``, and the products are summed as a dense unit's lanes.

A codebook unit (``spec.codebook_bits`` = k) takes k-bit indices on ``b``; its ``codebook``
submodule (counted with the multipliers) holds 2^k centroid codes of format ``b``, written one
per edge with ``cb_write`` = 1 at ``cb_addr`` from ``cb_data`` (a write lands after the edge;
``rst`` clears the table), and gives each product the centroid its index selects. With N:M
sparsity too (``nm`` and ``codebook_bits``), ``b`` carries the kept weights' indices into the
codebook and ``index`` their positions: the lookup, then the select.

The stages' names are defined here once: :data:`STAGES` (how synthesis attributes area),
:func:`stage_of` (which stage a submodule belongs to) and :func:`whitepaper_stages` (our stages
folded onto van Baalen et al.'s three).
"""

from __future__ import annotations

from amaranth import C, Module, Mux, ResetSignal, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.numerics.arith import FixedAccumulator
from rtl.hdl.blocks import FLAGS, ChunkSum, ScaleMultiply, ScaleProduct
from rtl.hdl.spec import BIAS_BITS, MacSpec
from rtl.hdl.stages import (AccumulatorDecode, FixedAdd, FixedWrap, FloatAlignAdd, FloatRound, LaneSum, Multiply,
                            ProductNormalize, ToFixed, has_specials, lane_fixed_width, product_exponent_max,
                            product_magnitude_width, signed_width)

__all__ = ["Mac", "STAGES", "WHITEPAPER_STAGES", "stage_of", "whitepaper_stages"]

STAGES = ("mpy", "lanesum", "alignadd", "normacc", "top")
"""Area attribution: the multipliers, the exact lane sum, alignment and addition, normalize /
round / encode, and the top module's own cells (the registers and glue)."""

WHITEPAPER_STAGES = ("mpy", "alignadd", "normacc")
"""van Baalen et al.'s Figure 3 stages."""


def stage_of(path: str, lanes: int) -> str:
    """The stage a submodule (by its hierarchical path below the top, "" for the top) belongs to."""
    top = path.split(".")[0]
    if top == "":
        return "top"
    if top.startswith(("mpy", "select")) or top == "codebook":
        return "mpy"
    if top.startswith("tofixed") or top in ("lanesum", "chunksum"):
        return "lanesum" if lanes > 1 or top == "chunksum" else "alignadd"
    if top in ("scale", "scalemul"):  # the block scales' product (a multiplier for E4M3, an exponent adder for
        return "mpy"                   # E8M0) and, for E4M3, the block sum times it
    if top in ("pnorm", "accdecode", "alignadd"):
        return "alignadd"
    if top == "normacc":
        return "normacc"
    raise ValueError(f"submodule {path!r} belongs to no stage of {STAGES}")


def whitepaper_stages(stage_area: dict) -> dict:
    """Our stages folded onto the whitepaper's mpy / alignadd / normacc (the accumulator
    register and the lane sum counted where that paper counts them)."""
    return {"mpy": stage_area["mpy"], "alignadd": stage_area["alignadd"] + stage_area["lanesum"],
            "normacc": stage_area["normacc"] + stage_area["top"]}


def _register(m: Module, value, name: str):
    """A pipeline register for one value or one interface (clocked every cycle, reset with the
    domain); returns the registered copy."""
    if isinstance(value, wiring.PureInterface) or hasattr(value, "signature"):
        copy = value.signature.create(path=(f"pipe_{name}",))
        for member in value.signature.members:
            m.d.sync += getattr(copy, member).eq(getattr(value, member))
        return copy
    reg = Signal(Value.cast(value).shape(), name=f"pipe_{name}")
    m.d.sync += reg.eq(value)
    return reg


class Mac(wiring.Component):
    """Multiply-accumulate (``lanes`` = 1) or N-lane dot-product unit for a :class:`MacSpec`.

    Submodules, named by stage for area attribution: ``mpy{i}`` (decode, significand multiplier,
    exponent adder — one per lane), ``tofixed{i}`` and ``lanesum`` (exact lane sum),
    ``pnorm``, ``accdecode`` and ``alignadd`` (normalize the product and the accumulator, align,
    add) and ``normacc`` (normalize, round, encode; the register itself sits in the top module).
    """

    def __init__(self, spec: MacSpec):
        if not isinstance(spec, MacSpec):
            raise TypeError(f"spec must be a MacSpec, not {type(spec).__name__}")
        self._spec = spec
        ports = {"en": In(1), "clear": In(1),
                 "a": In(spec.a.bits * spec.lanes), "b": In(spec.b_port_bits * spec.products),
                 "acc": Out(spec.acc_width)}
        if spec.nm:
            ports["index"] = In(spec.index_bits * spec.products)
        if spec.codebook_bits:
            ports.update(cb_write=In(1), cb_addr=In(spec.codebook_bits), cb_data=In(spec.b.bits))
        if spec.bias != "none":
            ports["bias"] = In(signed(BIAS_BITS))
        if spec.scaling is not None:
            ports["scale_a"] = In(spec.scaling.scale_format.bits)
            ports["scale_b"] = In(spec.scaling.scale_format.bits)
        super().__init__(ports)

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
        integer = spec.a.kind == spec.b.kind == "int"
        single = float_acc and spec.products == 1 and spec.scaling is None  # one product normalized as it is
        raw = not integer or single
        lanes = []
        self._register = self.acc
        if spec.zero_gating:  # reset through the enable, so one clock gate can hold the register
            self._register = Signal(spec.acc_width, name="acc_reg", reset_less=True)
            m.d.comb += self.acc.eq(self._register)
        zeros = []
        weights = self.b
        if spec.codebook_bits:
            m.submodules.codebook = book = Codebook(width=spec.b.bits, bits=spec.codebook_bits, lanes=spec.products)
            m.d.comb += [book.write.eq(self.cb_write), book.address.eq(self.cb_addr), book.data.eq(self.cb_data),
                         book.index.eq(self.b)]
            weights = book.codes
        for i in range(spec.products):
            mpy = Multiply(a=spec.a, b=spec.b, raw=raw, fixed=integer and not single, signed_zero=float_acc)
            m.submodules[f"mpy{i}"] = mpy
            a, b = self._activation(m, i), weights[i * spec.b.bits:(i + 1) * spec.b.bits]
            if spec.zero_gating:  # operand isolation: a zero lane's multiplier sees zeros and stays still
                zero = Signal(name=f"zero{i}")
                m.d.comb += zero.eq(_is_zero(a, spec.a) | _is_zero(b, spec.b))
                a, b = Mux(zero, 0, a), Mux(zero, 0, b)
                zeros.append(zero)
            m.d.comb += [mpy.a.eq(a), mpy.b.eq(b)]
            lanes.append({name: getattr(mpy, name) for name in mpy.signature.members
                          if mpy.signature.members[name].flow == Out})
        control = {"en": self.en, "clear": self.clear}
        if spec.zero_gating:  # a step of zeros only (that does not clear) leaves the register alone
            control["en"] = self.en & (self.clear | ~_all(zeros))
        if spec.bias != "none":
            control["bias"] = self.bias
        if spec.scaling is not None:
            control.update(scale_a=self.scale_a, scale_b=self.scale_b)
        if spec.stages >= 1:
            control = {k: _register(m, v, k) for k, v in control.items()}
            lanes = [{k: _register(m, v, f"lane{i}_{k}") for k, v in lane.items()} for i, lane in enumerate(lanes)]
        if spec.scaling is not None:
            self._block_path(m, lanes, control)
        elif float_acc:
            self._float_path(m, lanes, control)
        else:
            self._fixed_path(m, lanes, control)
        return m

    def _activation(self, m: Module, i: int):
        """The activation product ``i`` multiplies: lane i, or for an N:M unit the one its
        weight's index selects in its group of M."""
        spec = self._spec
        bits = spec.a.bits
        if not spec.nm:
            return self.a[i * bits:(i + 1) * bits]
        n, group = spec.nm_pattern
        g = i // n
        m.submodules[f"select{i}"] = select = Select(width=bits, ways=group)
        m.d.comb += [select.inputs.eq(self.a[g * group * bits:(g + 1) * group * bits]),
                     select.index.eq(self.index[i * spec.index_bits:(i + 1) * spec.index_bits])]
        return select.output

    # -- fixed-point accumulator ---------------------------------------------------------------
    def _lane_sum(self, m: Module, lanes) -> Signal:
        spec = self._spec
        values = []
        for i, lane in enumerate(lanes):
            if "fixed" in lane:  # integer × integer: the signed product is already fixed point
                values.append(lane["fixed"])
                continue
            to_fixed = ToFixed(a=spec.a, b=spec.b)
            m.submodules[f"tofixed{i}"] = to_fixed
            wiring.connect(m, lane["product"], to_fixed.product)
            if "specials" in lane:
                wiring.connect(m, lane["specials"], to_fixed.specials)
            values.append(to_fixed.value)
        if len(values) == 1:
            return values[0]
        m.submodules.lanesum = tree = LaneSum(lanes=len(values), width=lane_fixed_width(spec.a, spec.b))
        m.d.comb += [getattr(tree, f"value{i}").eq(v) for i, v in enumerate(values)]
        return tree.sum

    def _fixed_path(self, m: Module, lanes, control):
        spec = self._spec
        total = self._lane_sum(m, lanes)
        if spec.stages >= 2:
            total = _register(m, total, "sum")
            control = {k: _register(m, v, f"sum_{k}") for k, v in control.items()}
        control.pop("bias", None)  # fixed accumulators take no bias (the spec refuses one)
        width = spec.acc.width
        m.submodules.alignadd = add = FixedAdd(
            acc_width=width, sum_width=len(total), shift=spec.product_lsb_exponent - spec.acc.lsb_exponent)
        m.submodules.normacc = wrap = FixedWrap(acc_width=width, total_width=len(add.total),
                                                saturate=spec.acc.overflow == "saturate")
        m.d.comb += [add.acc.eq(Mux(control["clear"], 0, self.acc.as_signed())),
                     add.addend.eq(total), wrap.total.eq(add.total)]
        self._commit(m, control["en"], wrap.next)

    # -- floating-point accumulator ------------------------------------------------------------
    def _flags(self, lanes) -> dict:
        spec = self._spec
        if not has_specials(spec.a, spec.b):
            return {"nan": C(0, 1), "pos_inf": C(0, 1), "neg_inf": C(0, 1)}
        return {"nan": _any([lane["specials"].nan for lane in lanes]),
                "pos_inf": _any([lane["specials"].inf & ~lane["product"].sign for lane in lanes]),
                "neg_inf": _any([lane["specials"].inf & lane["product"].sign for lane in lanes])}

    def _float_path(self, m: Module, lanes, control):
        spec = self._spec
        flags = self._flags(lanes)
        if spec.products == 1:
            flags["negative_zero"] = lanes[0]["negative_zero"]
            source, width = lanes[0]["product"], product_magnitude_width(spec.a, spec.b)
            exp_max = product_exponent_max(spec.a, spec.b)
        else:
            source = self._lane_sum(m, lanes)
            width, exp_max = len(source), 0
            flags["negative_zero"] = _all([lane["negative_zero"] for lane in lanes])
        bias = control.pop("bias", None)
        self._round_into_register(m, source, twos=spec.products > 1, width=width, exp_max=exp_max,
                                  lsb=spec.product_lsb_exponent,
                                  bias=bias, bias_width=BIAS_BITS if bias is not None else 0,
                                  bias_range=spec.bias_range, flags=flags, control=control)

    def _block_path(self, m: Module, lanes, control):
        """Lane sum → the block's exact sum over its chunks → times the scales' significands, their
        exponent as the normalizer's offset → the float accumulation shared with the MAC."""
        spec = self._spec
        total = self._lane_sum(m, lanes)
        flags = self._flags(lanes)
        flags["negative_zero"] = _all([lane["negative_zero"] for lane in lanes])
        if spec.chunks > 1:
            m.submodules.chunksum = chunk = ChunkSum(width=len(total), chunks=spec.chunks)
            m.d.comb += [chunk.value.eq(total), chunk.en.eq(control["en"])]
            m.d.comb += [getattr(chunk, f"in_{f}").eq(flags[f]) for f in FLAGS]
            total, flags = chunk.sum, {f: getattr(chunk, f"out_{f}") for f in FLAGS}
            control["en"] = control["en"] & chunk.last
        m.submodules.scale = scale = ScaleProduct(scaling=spec.scaling)
        m.d.comb += [scale.scale_a.eq(control.pop("scale_a")), scale.scale_b.eq(control.pop("scale_b"))]
        flags["nan"] = flags["nan"] | scale.nan
        value = total
        if len(scale.sig) > 1:  # E4M3 scales: the block sum times their significands' product
            m.submodules.scalemul = multiply = ScaleMultiply(width=len(total), sig_width=len(scale.sig))
            m.d.comb += [multiply.value.eq(total), multiply.sig.eq(scale.sig)]
            value = multiply.scaled
        lsb = spec.product_lsb_exponent + spec.scaling.element_scale_exponent + scale.offset
        self._round_into_register(m, value, twos=True, width=len(value), exp_max=0, lsb=lsb, bias=scale.exp,
                                  bias_width=len(scale.exp), bias_range=scale.exp_range, flags=flags,
                                  control=control)

    def _round_into_register(self, m: Module, source, *, twos: bool, width: int, exp_max: int, lsb: int, bias,
                             bias_width: int, bias_range: tuple[int, int], flags: dict, control: dict):
        """Normalize ``source`` (a raw product, or with ``twos`` a two's-complement sum), offset by
        ``bias``, and add it into the float register with one rounding."""
        spec, fmt = self._spec, self._spec.acc.format
        p = fmt.man_bits + 1
        frame = max(width, p) + 4
        bias_low, bias_high = bias_range
        low = min(lsb + bias_low, 1 - fmt.bias - p) - frame - 4
        high = max(lsb + exp_max + width + bias_high, (1 << fmt.exp_bits) - fmt.bias) + 4
        top_shape = signed(signed_width(low, high))
        if spec.stages >= 3:  # a cut between the lane sum (or the raw product) and its normalization
            source = _register(m, source, "sum")
            bias = _register(m, bias, "sum_bias") if bias_width else bias
            flags = {k: _register(m, v, f"sum_{k}") for k, v in flags.items()}
            control = {k: _register(m, v, f"sum_{k}") for k, v in control.items()}
        m.submodules.pnorm = pnorm = ProductNormalize(
            width=width, exp_width=signed_width(0, exp_max) if exp_max else 0,
            offset=lsb + width - 1, top_shape=top_shape, twos_complement=twos, bias_width=bias_width)
        if twos:
            m.d.comb += pnorm.value.eq(source)
        else:
            wiring.connect(m, source, pnorm.product)
        if bias_width:
            m.d.comb += pnorm.bias.eq(bias)
        product = pnorm.raw
        if spec.stages >= 2:
            product = _register(m, product, "product")
            flags = {k: _register(m, v, f"product_{k}") for k, v in flags.items()}
            control = {k: _register(m, v, f"product_{k}") for k, v in control.items()}
        m.submodules.accdecode = acc = AccumulatorDecode(
            fmt=fmt, flush_to_zero=spec.acc.flush_to_zero, top_shape=top_shape)
        if spec.interleave == 1:
            m.d.comb += acc.code.eq(Mux(control["clear"], 0, self.acc))
        if spec.interleave > 1:
            m.submodules.alignadd = add = FloatAlignAdd(acc_width=p, product_width=width, top_shape=top_shape,
                                                        cut=spec.interleave >= 5)
            m.submodules.normacc = rnd = FloatRound(fmt=fmt, frame=add.frame, flush_to_zero=spec.acc.flush_to_zero,
                                                    top_shape=top_shape, cut=spec.interleave >= 4)
            self._ring(m, acc, add, rnd, product, flags, control)
            return
        m.submodules.alignadd = add = FloatAlignAdd(acc_width=p, product_width=width, top_shape=top_shape)
        wiring.connect(m, acc.raw, add.a)
        wiring.connect(m, product, add.p)
        m.submodules.normacc = rnd = FloatRound(fmt=fmt, frame=add.frame,
                                                flush_to_zero=spec.acc.flush_to_zero, top_shape=top_shape)
        wiring.connect(m, add.sum, rnd.sum)
        acc_pos_inf = acc.specials.inf & ~acc.raw.sign
        acc_neg_inf = acc.specials.inf & acc.raw.sign
        m.d.comb += [
            rnd.zero_negative.eq(acc.raw.zero & acc.raw.sign & flags["negative_zero"]),
            rnd.nan.eq(flags["nan"] | acc.specials.nan | ((flags["pos_inf"] | acc_pos_inf)
                                                         & (flags["neg_inf"] | acc_neg_inf))),
            rnd.pos_inf.eq(flags["pos_inf"] | acc_pos_inf),
            rnd.neg_inf.eq(flags["neg_inf"] | acc_neg_inf),
        ]
        self._commit(m, control["en"], rnd.code)

    def _commit(self, m: Module, enable, value):
        """The accumulator register takes ``value`` on an edge with ``enable``; for a zero-gated
        unit ``rst`` acts through the enable (reset-less register, one clock gate for all of it)."""
        if not self._spec.zero_gating:
            with m.If(enable):
                m.d.sync += self._register.eq(value)
            return
        load = Signal(name="acc_load")
        m.d.comb += load.eq(enable | ResetSignal())
        with m.If(load):
            m.d.sync += self._register.eq(Mux(ResetSignal(), 0, value))

    def _ring(self, m: Module, acc, add, rnd, product, flags: dict, control: dict):
        """The accumulation loop cut into ``interleave`` cycles (:mod:`rtl.numerics.interleave`):
        the register → decode → [N ≥ 3] → align → [N = 5] → add → a register → normalize →
        [N ≥ 4] → round → the register, turning every cycle. A cycle without a step adds
        nothing (a zero product that keeps −0), and a clear zeroes the partial sum entering the
        alignment for N cycles, so each one once."""
        n = self._spec.interleave
        en = control["en"]
        m.d.comb += acc.code.eq(self.acc)
        raw, specials = acc.raw, acc.specials
        if n >= 3:
            raw, specials = _register(m, raw, "ring_decoded"), _register(m, specials, "ring_specials")
        left = Signal(range(n), init=n - 1, name="ring_clear_left")  # from reset the loop holds nothing
        arm = en & control["clear"]
        zero = Signal(name="ring_zero")
        m.d.comb += zero.eq(arm | (left != 0))
        m.d.sync += left.eq(Mux(arm, n - 1, Mux(left != 0, left - 1, 0)))
        a_sign, a_zero = raw.sign & ~zero, raw.zero | zero
        a_nan, a_inf = specials.nan & ~zero, specials.inf & ~zero
        m.d.comb += [add.a.sign.eq(a_sign), add.a.sig.eq(raw.sig), add.a.exp.eq(raw.exp), add.a.zero.eq(a_zero),
                     add.p.sign.eq(product.sign), add.p.sig.eq(product.sig), add.p.exp.eq(product.exp),
                     add.p.zero.eq(product.zero | ~en)]
        p_nan, p_pos, p_neg = flags["nan"] & en, flags["pos_inf"] & en, flags["neg_inf"] & en
        p_negative_zero = flags["negative_zero"] | ~en
        a_pos, a_neg = a_inf & ~a_sign, a_inf & a_sign
        loop = {"zero_negative": a_zero & a_sign & p_negative_zero,
                "nan": p_nan | a_nan | ((p_pos | a_pos) & (p_neg | a_neg)),
                "pos_inf": p_pos | a_pos, "neg_inf": p_neg | a_neg}
        if n >= 5:  # the addition's own cycle: the flags wait for the sum
            loop = {k: _register(m, v, f"ring_align_{k}") for k, v in loop.items()}
        total = _register(m, add.sum, "ring_sum")
        loop = {k: _register(m, v, f"ring_{k}") for k, v in loop.items()}
        wiring.connect(m, total, rnd.sum)
        m.d.comb += [getattr(rnd, k).eq(v) for k, v in loop.items()]
        m.d.sync += self.acc.eq(rnd.code)


class Select(wiring.Component):
    """One of ``ways`` words of ``width`` bits on ``inputs``, chosen by ``index`` (an N:M unit's
    activation multiplexer)."""

    def __init__(self, *, width: int, ways: int):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"Width must be a positive integer, not {width!r}")
        if not isinstance(ways, int) or ways < 2:
            raise ValueError(f"Ways must be an integer of at least 2, not {ways!r}")
        self._width, self._ways = width, ways
        super().__init__({"inputs": In(width * ways), "index": In(max(1, (ways - 1).bit_length())),
                          "output": Out(width)})

    @property
    def width(self) -> int:
        return self._width

    @property
    def ways(self) -> int:
        return self._ways

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.output.eq(self.inputs.word_select(self.index, self._width))
        return m


class Codebook(wiring.Component):
    """A register file of 2^``bits`` codes of ``width`` bits, written one entry per edge
    (``write``, ``address``, ``data``; cleared by reset), and ``lanes`` lookups: lane i's
    ``bits``-wide index in ``index`` selects the code it gives in ``codes``."""

    def __init__(self, *, width: int, bits: int, lanes: int):
        for name, value in (("Width", width), ("Bits", bits), ("Lanes", lanes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self._width, self._bits, self._lanes = width, bits, lanes
        super().__init__({"write": In(1), "address": In(bits), "data": In(width), "index": In(bits * lanes),
                          "codes": Out(width * lanes)})

    @property
    def entries(self) -> int:
        return 1 << self._bits

    def elaborate(self, platform):
        m = Module()
        # each entry loads (or resets) through its own enable, so synthesis can clock-gate it
        table = Signal(self._width * self.entries, name="table", reset_less=True)
        for j in range(self.entries):
            entry = table.word_select(j, self._width)
            load = Signal(name=f"load{j}")
            m.d.comb += load.eq((self.write & (self.address == j)) | ResetSignal())
            with m.If(load):
                m.d.sync += entry.eq(Mux(ResetSignal(), 0, self.data))
        for i in range(self._lanes):
            index = self.index[i * self._bits:(i + 1) * self._bits]
            m.d.comb += self.codes[i * self._width:(i + 1) * self._width].eq(table.word_select(index, self._width))
        return m


def _is_zero(code, fmt):
    """Whether a code is ±0 (only +0 in formats whose sign-and-zero code is NaN, fnuz)."""
    if fmt.kind == "int" or fmt.special == "fnuz" or not fmt.signed:
        return code == 0
    return code[:fmt.bits - 1] == 0


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
