"""The stages of a MAC, each its own Amaranth component so its area can be attributed.

decode → multiply (:class:`Multiply`, holding the two :class:`Decode` s) → to fixed point and
lane sum (:class:`ToFixed`, :class:`LaneSum`) → alignment and addition (:class:`FixedAdd`, or
:class:`ProductNormalize` + :class:`AccumulatorDecode` + :class:`FloatAlignAdd`) → normalize /
round / encode (:class:`FixedWrap`, :class:`FloatRound`). Widths are derived from the formats, so
every intermediate value is exact until the single rounding in :class:`FloatRound`.

Values travel between stages as one bundle, :class:`RawFloat` (sign, significand, exponent,
zero — berkeley-hardfloat's raw float), with the NaN / Inf classes of an operand as a second
bundle, :class:`Specials`; stages are joined with ``wiring.connect``. A bundle (or port) exists
only where the formats need it, so no logic is left without a reader.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.numerics.arith import product_width
from rtl.numerics.formats import Format, get_format

__all__ = ["RawFloat", "Specials", "Decode", "Multiply", "has_specials", "ToFixed", "LaneSum", "FixedAdd",
           "FixedWrap", "ProductNormalize", "AccumulatorDecode", "FloatAlignAdd", "FloatRound", "leading_zeros",
           "signed_width", "significand_width", "product_magnitude_width", "product_exponent_max",
           "lane_fixed_width"]


# ----- parameter checks ---------------------------------------------------------------------
def _positive(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    return value


def _shape(name: str, value) -> Shape:
    try:
        shape = Shape.cast(value)
    except TypeError:
        raise TypeError(f"{name} must be a shape (a width or signed(width)), not {value!r}") from None
    if shape.width < 1:
        raise TypeError(f"{name} must be at least one bit wide, not {value!r}")
    return shape


# ----- widths -----------------------------------------------------------------------------
def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's-complement number holding every integer in [lo, hi]."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def significand_width(fmt: Format) -> int:
    """Magnitude bits of a decoded operand: hidden bit + mantissa, or an integer's magnitude."""
    return fmt.man_bits + 1 if fmt.is_float else fmt.bits


def _exp_width(fmt: Format) -> int:
    return max(fmt.exp_bits, 1)


def product_magnitude_width(a: Format, b: Format) -> int:
    return significand_width(a) + significand_width(b)


def product_exponent_max(a: Format, b: Format) -> int:
    """Largest product exponent in units of the product LSB (max(field, 1) − 1 summed)."""
    return sum(max((1 << f.exp_bits) - 2, 0) if f.is_float else 0 for f in (a, b))


def lane_fixed_width(a: Format, b: Format) -> int:
    """Two's-complement width of one product in LSB units (the Kulisch frame of one lane)."""
    width = product_width(a, b)
    if a.kind == b.kind == "int":  # a signed multiplier's natural width also covers −2**(n−1)
        width = max(width, a.bits + b.bits + int(not (a.signed and b.signed)))
    return width


def leading_zeros(value):
    """Leading-zero count of a non-zero value, as a log-depth tree of multiplexers."""
    width = 1
    while width < len(value):
        width *= 2
    padded = Cat(C(0, width - len(value)), value)  # zeros below the LSB leave the count alone

    def tree(bits):
        if len(bits) == 1:
            return bits[0], C(0, 0)
        half = len(bits) // 2
        low_any, low_count = tree(bits[:half])
        high_any, high_count = tree(bits[half:])
        count = Mux(high_any, Cat(high_count, C(0, 1)), Cat(low_count, C(1, 1)))
        return high_any | low_any, count

    return tree(padded)[1]


def _uint(width: int):
    return unsigned(max(width, 1))


# ----- the bundles ------------------------------------------------------------------------
class RawFloat(wiring.Signature):
    """One value between stages: ``sign``, significand ``sig``, exponent ``exp`` and ``zero``
    (left out with ``zero=False`` where the consumer tells zero from the significand itself).

    What ``exp`` counts is the producer's frame, stated by each stage: an operand's exponent in
    LSB units (:class:`Decode`, :class:`Multiply`), or the exponent of the significand's top
    bit once normalized (:class:`ProductNormalize`, :class:`AccumulatorDecode`,
    :class:`FloatAlignAdd`).
    """

    def __init__(self, *, sig_width: int, exp_shape, zero: bool = True):
        self._sig_width = _positive("sig_width", sig_width)
        self._exp_shape = _shape("exp_shape", exp_shape)
        self._zero = bool(zero)
        members = {"sign": Out(1), "sig": Out(self._sig_width), "exp": Out(self._exp_shape)}
        super().__init__(members | ({"zero": Out(1)} if zero else {}))

    @property
    def sig_width(self) -> int:
        return self._sig_width

    @property
    def exp_shape(self) -> Shape:
        return self._exp_shape

    def __eq__(self, other):
        return isinstance(other, RawFloat) and (self._sig_width, self._exp_shape, self._zero) == (
            other._sig_width, other._exp_shape, other._zero)

    def __repr__(self):
        return f"RawFloat(sig_width={self._sig_width}, exp_shape={self._exp_shape!r}, zero={self._zero})"


class Specials(wiring.Signature):
    """The NaN and Inf classes of an operand or product (absent where no format has them)."""

    def __init__(self):
        super().__init__({"nan": Out(1), "inf": Out(1)})

    def __eq__(self, other):
        return isinstance(other, Specials)

    def __repr__(self):
        return "Specials()"


def has_specials(a: Format, b: Format) -> bool:
    """Whether a product of the pair can be NaN or Inf."""
    return a.has_nan or a.has_inf or b.has_nan or b.has_inf


# ----- decode and multiply ----------------------------------------------------------------
class Decode(wiring.Component):
    """Operand decode: ``raw`` holds the sign, the exponent in LSB units (``max(field, 1) −
    1``), the significand with its hidden bit (an integer's magnitude) and zero; ``specials``
    the NaN / Inf classes, for formats that have them."""

    def __init__(self, *, fmt: Format | str):
        self._fmt = get_format(fmt)
        ports = {"code": In(self._fmt.bits),
                 "raw": Out(RawFloat(sig_width=significand_width(self._fmt), exp_shape=_exp_width(self._fmt)))}
        if self._fmt.has_nan or self._fmt.has_inf:
            ports["specials"] = Out(Specials())
        super().__init__(ports)

    @property
    def fmt(self) -> Format:
        return self._fmt

    def elaborate(self, platform):
        m = Module()
        f, code, raw = self._fmt, self.code, self.raw
        if f.kind == "int":
            negative = code[-1] if f.signed else C(0, 1)
            value = code.as_signed() if f.signed else code
            m.d.comb += [raw.sign.eq(negative), raw.sig.eq(Mux(negative, -value, value)), raw.zero.eq(code == 0)]
            return m
        man, field = code[:f.man_bits], code[f.man_bits:f.man_bits + f.exp_bits]
        top = (1 << f.exp_bits) - 1
        if f.special == "ieee":
            nan, inf = (field == top) & (man != 0), (field == top) & (man == 0)
        elif f.special == "fn":
            nan, inf = (field == top) & (man == (1 << f.man_bits) - 1), C(0, 1)
        elif f.special == "fnuz":
            nan, inf = code == (1 << (f.bits - 1)), C(0, 1)
        else:
            nan, inf = C(0, 1), C(0, 1)
        m.d.comb += [
            raw.sign.eq(code[-1] if f.signed else 0),
            raw.exp.eq(Mux(field == 0, 0, field - 1)),
            raw.sig.eq(Cat(man, field != 0)),
            raw.zero.eq((field == 0) & (man == 0) & ~nan),
        ]
        if "specials" in self.signature.members:
            m.d.comb += [self.specials.nan.eq(nan), self.specials.inf.eq(inf)]
        return m


class Multiply(wiring.Component):
    """One exact product: significand multiplier, exponent adder and special-value logic.

    ``product`` (with ``raw``): ``value = ±sig · 2**(exp + product LSB)``, plus ``specials``
    where the pair has NaN or Inf. Integer × integer can instead (or also) give ``fixed``, the
    two's-complement product straight from a signed multiplier (the cheapest integer datapath).
    ``negative_zero`` (with ``signed_zero``, for float accumulators): the product is a zero
    whose sign is negative.
    """

    def __init__(self, *, a: Format | str, b: Format | str, raw: bool = True, fixed: bool = False,
                 signed_zero: bool = False):
        self._a, self._b = get_format(a), get_format(b)
        self._int = self._a.kind == self._b.kind == "int"
        if fixed and not self._int:
            raise ValueError(f"a fixed-point product needs integer operands, not {self._a.name} × {self._b.name}")
        if not (raw or fixed):
            raise ValueError("a multiplier needs an output: raw, fixed or both")
        self._raw, self._fixed, self._signed_zero = raw, fixed, signed_zero
        ports = {"a": In(self._a.bits), "b": In(self._b.bits)}
        if fixed:
            ports["fixed"] = Out(signed(self._a.bits + self._b.bits + 1))
        if raw:
            ports["product"] = Out(RawFloat(
                sig_width=product_magnitude_width(self._a, self._b),
                exp_shape=signed_width(0, product_exponent_max(self._a, self._b))))
            if has_specials(self._a, self._b):
                ports["specials"] = Out(Specials())
        if signed_zero:
            ports["negative_zero"] = Out(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self._int:
            a = self.a.as_signed() if self._a.signed else self.a
            b = self.b.as_signed() if self._b.signed else self.b
            product = Signal(signed(self._a.bits + self._b.bits + 1))
            m.d.comb += product.eq(a * b)
            zero, sign = (self.a == 0) | (self.b == 0), (a < 0) ^ (b < 0)
            if self._fixed:
                m.d.comb += self.fixed.eq(product)
            if self._raw:
                m.d.comb += [self.product.sig.eq(Mux(product < 0, -product, product)),
                             self.product.zero.eq(zero), self.product.sign.eq(sign), self.product.exp.eq(0)]
            if self._signed_zero:
                m.d.comb += self.negative_zero.eq(zero & sign)
            return m
        m.submodules.decode_a = da = Decode(fmt=self._a)
        m.submodules.decode_b = db = Decode(fmt=self._b)
        m.d.comb += [da.code.eq(self.a), db.code.eq(self.b)]
        nan_a, inf_a = (da.specials.nan, da.specials.inf) if "specials" in da.signature.members else (C(0, 1), C(0, 1))
        nan_b, inf_b = (db.specials.nan, db.specials.inf) if "specials" in db.signature.members else (C(0, 1), C(0, 1))
        nan = nan_a | nan_b | (inf_a & db.raw.zero) | (inf_b & da.raw.zero)
        zero = (da.raw.zero | db.raw.zero) & ~nan
        sign = da.raw.sign ^ db.raw.sign
        if "specials" in self.signature.members:
            m.d.comb += [self.specials.nan.eq(nan), self.specials.inf.eq((inf_a | inf_b) & ~nan)]
        m.d.comb += [self.product.zero.eq(zero), self.product.sign.eq(sign),
                     self.product.sig.eq(da.raw.sig * db.raw.sig), self.product.exp.eq(da.raw.exp + db.raw.exp)]
        if self._signed_zero:
            m.d.comb += self.negative_zero.eq(zero & sign)
        return m


# ----- fixed-point path -------------------------------------------------------------------
class ToFixed(wiring.Component):
    """Align one float product into its two's-complement Kulisch frame (NaN and Inf add 0)."""

    def __init__(self, *, a: Format | str, b: Format | str):
        self._a, self._b = get_format(a), get_format(b)
        ports = {"product": In(RawFloat(sig_width=product_magnitude_width(self._a, self._b),
                                        exp_shape=signed_width(0, product_exponent_max(self._a, self._b)))),
                 "value": Out(signed(lane_fixed_width(self._a, self._b)))}
        if has_specials(self._a, self._b):
            ports["specials"] = In(Specials())
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        aligned = Signal(_uint(len(self.value)))
        m.d.comb += aligned.eq(self.product.sig << self.product.exp)
        value = Mux(self.product.sign, -aligned, aligned)
        if "specials" in self.signature.members:
            value = Mux(self.specials.nan | self.specials.inf, 0, value)
        m.d.comb += self.value.eq(value)
        return m


class LaneSum(wiring.Component):
    """Exact sum of the lanes' fixed-point products: a balanced adder tree."""

    def __init__(self, *, lanes: int, width: int):
        if _positive("lanes", lanes) < 2:
            raise ValueError(f"a lane sum needs at least 2 lanes, not {lanes}")
        self._lanes, self._width = lanes, _positive("width", width)
        self._out = width + (lanes - 1).bit_length()
        super().__init__({f"value{i}": In(signed(width)) for i in range(lanes)}
                         | {"sum": Out(signed(self._out))})

    def elaborate(self, platform):
        m = Module()
        level = [getattr(self, f"value{i}") for i in range(self._lanes)]
        while len(level) > 1:
            pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        m.d.comb += self.sum.eq(level[0])
        return m


class FixedAdd(wiring.Component):
    """acc + lane sum (shifted onto the register's LSB), at full width before wrap or clamp."""

    def __init__(self, *, acc_width: int, sum_width: int, shift: int):
        _positive("acc_width", acc_width), _positive("sum_width", sum_width)
        if not isinstance(shift, int) or shift < 0:
            raise TypeError(f"shift must be a non-negative integer, not {shift!r}")
        self._shift = shift
        self._full = max(acc_width, sum_width + shift) + 1
        super().__init__({"acc": In(signed(acc_width)), "addend": In(signed(sum_width)),
                          "total": Out(signed(self._full))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.total.eq(self.acc + (self.addend << self._shift))
        return m


class FixedWrap(wiring.Component):
    """Reduce the full-width total to the register: modulo 2**width, or clamped."""

    def __init__(self, *, acc_width: int, total_width: int, saturate: bool):
        self._acc_width, self._saturate = _positive("acc_width", acc_width), bool(saturate)
        if _positive("total_width", total_width) < acc_width:
            raise ValueError(f"total_width {total_width} is narrower than the register ({acc_width})")
        super().__init__({"total": In(signed(total_width)), "next": Out(signed(acc_width))})

    def elaborate(self, platform):
        m = Module()
        if not self._saturate:
            m.d.comb += self.next.eq(self.total[:self._acc_width].as_signed())
            return m
        hi, lo = (1 << (self._acc_width - 1)) - 1, -(1 << (self._acc_width - 1))
        m.d.comb += self.next.eq(Mux(self.total > hi, hi, Mux(self.total < lo, lo, self.total)))
        return m


# ----- floating-point path ----------------------------------------------------------------
class ProductNormalize(wiring.Component):
    """Normalize the exact product (a :class:`RawFloat` from :class:`Multiply`) or a lane sum
    (two's complement): ``raw`` with the leading one on top of ``sig`` and ``exp`` the exponent
    of that one — plus ``bias``, where the unit has a programmable exponent offset."""

    def __init__(self, *, width: int, exp_width: int, offset: int, top_shape, twos_complement: bool,
                 bias_width: int = 0):
        self._offset = offset  # product LSB exponent + magnitude width − 1
        self._twos = twos_complement
        if not isinstance(bias_width, int) or bias_width < 0:
            raise TypeError(f"bias_width must be a non-negative integer, not {bias_width!r}")
        self._bias_width = bias_width
        ports = {"raw": Out(RawFloat(sig_width=_positive("width", width), exp_shape=top_shape))}
        if bias_width:
            ports["bias"] = In(signed(bias_width))  # the programmable exponent offset
        if twos_complement:
            ports["value"] = In(signed(width))
        else:
            ports["product"] = In(RawFloat(sig_width=width, exp_shape=max(exp_width, 1)))
        self._exp_width = exp_width
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        magnitude = Signal(self.raw.signature.sig_width)
        if self._twos:
            m.d.comb += [self.raw.sign.eq(self.value < 0), magnitude.eq(Mux(self.value < 0, -self.value, self.value))]
            exp = 0
        else:
            m.d.comb += [self.raw.sign.eq(self.product.sign), magnitude.eq(self.product.sig)]
            exp = self.product.exp if self._exp_width else 0
        lz = Signal(range(len(magnitude) + 1))
        m.d.comb += lz.eq(leading_zeros(magnitude))
        if self._bias_width:
            exp = exp + self.bias
        m.d.comb += [self.raw.sig.eq(magnitude << lz), self.raw.exp.eq(exp + self._offset - lz),
                     self.raw.zero.eq(magnitude == 0)]
        return m


class AccumulatorDecode(wiring.Component):
    """Decode the accumulator register into ``raw`` (normalized, ``exp`` of its top bit) and
    its ``specials``.

    Without flush-to-zero a subnormal accumulator is normalized by a leading-zero count; with it
    the register can never hold a subnormal, so exponent field 0 simply means zero.
    """

    def __init__(self, *, fmt: Format, flush_to_zero: bool, top_shape):
        self._fmt, self._ftz = get_format(fmt), bool(flush_to_zero)
        if not (self._fmt.is_float and self._fmt.special == "ieee"):
            raise ValueError(f"an accumulator register holds an IEEE format, not {self._fmt.name}")
        super().__init__({"code": In(self._fmt.bits),
                          "raw": Out(RawFloat(sig_width=self._fmt.man_bits + 1, exp_shape=top_shape)),
                          "specials": Out(Specials())})

    def elaborate(self, platform):
        m = Module()
        f, raw = self._fmt, self.raw
        man, field = self.code[:f.man_bits], self.code[f.man_bits:f.bits - 1]
        all_ones = (1 << f.exp_bits) - 1
        m.d.comb += [raw.sign.eq(self.code[-1]),
                     self.specials.nan.eq((field == all_ones) & (man != 0)),
                     self.specials.inf.eq((field == all_ones) & (man == 0))]
        if self._ftz:
            m.d.comb += [raw.zero.eq(field == 0), raw.sig.eq(Cat(man, C(1, 1))), raw.exp.eq(field - f.bias)]
            return m
        sig = Cat(man, field != 0)
        lz = Signal(range(f.man_bits + 2))
        m.d.comb += lz.eq(leading_zeros(sig))
        m.d.comb += [raw.zero.eq((field == 0) & (man == 0)), raw.sig.eq(sig << lz),
                     raw.exp.eq(Mux(field == 0, 1, field) - f.bias - lz)]
        return m


class FloatAlignAdd(wiring.Component):
    """Align the smaller operand to the larger and add: the exact ``sum`` in an F-bit frame.

    ``a`` (the accumulator) and ``p`` (the product) are normalized :class:`RawFloat` s. The one
    with the higher leading one fills the frame from the top; the other is shifted right, and
    bits falling out of the frame are OR-ed into its LSB (sticky). With F = max(widths) + 4 the
    frame keeps guard, round and sticky below any rounding position, so the single rounding
    that follows is correct. ``sum.exp`` is the exponent of frame bit F − 1 (bit F is the carry).
    """

    def __init__(self, *, acc_width: int, product_width: int, top_shape, cut: bool = False):
        self._p, self._w = _positive("acc_width", acc_width), _positive("product_width", product_width)
        self._frame = max(acc_width, product_width) + 4
        self._cut = bool(cut)  # a register between the alignment and the addition (one cycle more)
        super().__init__({"a": In(RawFloat(sig_width=acc_width, exp_shape=top_shape)),
                          "p": In(RawFloat(sig_width=product_width, exp_shape=top_shape)),
                          "sum": Out(RawFloat(sig_width=self._frame + 1, exp_shape=top_shape, zero=False))})

    @property
    def frame(self) -> int:
        return self._frame

    def elaborate(self, platform):
        m = Module()
        frame, a, p = self._frame, self.a, self.p
        a_frame = Mux(a.zero, 0, a.sig << (frame - self._p))
        p_frame = Mux(p.zero, 0, p.sig << (frame - self._w))
        diff = Signal(signed(len(a.exp) + 1))
        m.d.comb += diff.eq(a.exp - p.exp)
        a_large = Signal()
        m.d.comb += a_large.eq(Mux(p.zero, 1, Mux(a.zero, 0, diff >= 0)))
        distance = Signal(range(frame + 1))
        magnitude = Mux(a_large, diff, -diff)
        m.d.comb += distance.eq(Mux(magnitude > frame, frame, magnitude))
        large = Signal(frame)
        small = Signal(frame)
        m.d.comb += [large.eq(Mux(a_large, a_frame, p_frame)), small.eq(Mux(a_large, p_frame, a_frame))]
        shifted = Signal(2 * frame)
        m.d.comb += shifted.eq(Cat(C(0, frame), small) >> distance)
        aligned = Signal(frame)
        m.d.comb += aligned.eq(shifted[frame:] | (shifted[:frame] != 0))
        large_sign = Mux(a_large, a.sign, p.sign)
        small_sign = Mux(a_large, p.sign, a.sign)
        subtract = a.sign ^ p.sign
        exp = Mux(a_large, a.exp, p.exp)
        if self._cut:
            held = {}
            for name, value in (("large", large), ("aligned", aligned), ("large_sign", large_sign),
                                ("small_sign", small_sign), ("subtract", subtract), ("exp", exp)):
                held[name] = Signal(Value.cast(value).shape(), name=f"cut_{name}")
                m.d.sync += held[name].eq(value)
            large, aligned, large_sign, small_sign, subtract, exp = (
                held[k] for k in ("large", "aligned", "large_sign", "small_sign", "subtract", "exp"))
        difference = Signal(signed(frame + 2))
        m.d.comb += difference.eq(large - aligned)
        negative = difference < 0
        total = Signal(frame + 1)
        m.d.comb += [
            total.eq(Mux(subtract, Mux(negative, -difference, difference), large + aligned)),
            self.sum.sig.eq(total),
            self.sum.sign.eq(Mux(subtract & negative, small_sign, large_sign)),
            self.sum.exp.eq(exp),
        ]
        return m


class FloatRound(wiring.Component):
    """Normalize, round once to nearest even, and encode — or NaN / ±Inf / a signed zero.

    ``sum.sig · 2**(sum.exp − frame + 1)`` is the exact sum (bit ``frame`` is the carry).
    Results below the normal range are shifted right onto the subnormal grid before rounding;
    with flush-to-zero that shifter is absent and such results become zeros, except those that
    round up to the smallest normal.
    """

    def __init__(self, *, fmt: Format, frame: int, flush_to_zero: bool, top_shape, cut: bool = False):
        self._fmt, self._frame, self._ftz = get_format(fmt), _positive("frame", frame), bool(flush_to_zero)
        self._cut = bool(cut)  # a register between the normalization and the rounding (one cycle more)
        if not (self._fmt.is_float and self._fmt.special == "ieee"):
            raise ValueError(f"an accumulator register holds an IEEE format, not {self._fmt.name}")
        super().__init__({
            "sum": In(RawFloat(sig_width=frame + 1, exp_shape=top_shape, zero=False)), "zero_negative": In(1),
            "nan": In(1), "pos_inf": In(1), "neg_inf": In(1), "code": Out(self._fmt.bits),
        })

    def elaborate(self, platform):
        m = Module()
        f, width = self._fmt, self._frame + 1
        p = f.man_bits + 1
        emin, emax = 1 - f.bias, (1 << f.exp_bits) - 2 - f.bias
        mag = self.sum.sig
        lz = Signal(range(width + 1))
        m.d.comb += lz.eq(leading_zeros(mag))
        top = Signal(signed(len(self.sum.exp) + 1))
        m.d.comb += top.eq(self.sum.exp + 1 - lz)
        normalized = Signal(width)
        m.d.comb += normalized.eq(mag << lz)
        sign, is_zero = self.sum.sign, mag == 0
        nan, pos_inf, neg_inf, zero_negative = self.nan, self.pos_inf, self.neg_inf, self.zero_negative
        if self._cut:
            held = {}
            for name, value in (("normalized", normalized), ("top", top), ("sign", sign), ("is_zero", is_zero),
                                ("nan", nan), ("pos_inf", pos_inf), ("neg_inf", neg_inf),
                                ("zero_negative", zero_negative)):
                held[name] = Signal(Value.cast(value).shape(), name=f"cut_{name}")
                m.d.sync += held[name].eq(value)
            normalized, top, sign, is_zero, nan, pos_inf, neg_inf, zero_negative = (
                held[k] for k in ("normalized", "top", "sign", "is_zero", "nan", "pos_inf", "neg_inf",
                                  "zero_negative"))
        subnormal = top < emin
        if self._ftz:
            rounded_source, far_sticky = normalized, C(0, 1)
        else:
            below = Signal(range(p + 2))
            gap = emin - top
            m.d.comb += below.eq(Mux(subnormal, Mux(gap > p + 1, p + 1, gap), 0))
            spread = Signal(2 * width)
            m.d.comb += spread.eq(Cat(C(0, width), normalized) >> below)
            rounded_source, far_sticky = spread[width:], spread[:width] != 0
        significand = rounded_source[width - p:]
        guard = rounded_source[width - p - 1]
        sticky = (rounded_source[:width - p - 1] != 0) | far_sticky
        rounded = Signal(p + 1)
        m.d.comb += rounded.eq(significand + (guard & (sticky | significand[0])))
        # hidden bit and a rounding carry add into the exponent field: code = (field−1)·2**M + sig
        field_base = Signal(signed(len(top) + 1))
        m.d.comb += field_base.eq(Mux(subnormal, 0, top + f.bias - 1))
        magnitude = Signal(signed(len(field_base) + f.man_bits + 2))
        m.d.comb += magnitude.eq((field_base << f.man_bits) + rounded)
        inf_code = ((1 << f.exp_bits) - 1) << f.man_bits
        overflow = (top > emax) | (magnitude >= inf_code)
        sign_bit = 1 << (f.bits - 1)
        result = Signal(f.bits)
        with m.If(nan):
            m.d.comb += result.eq(f.nan_code)
        with m.Elif(pos_inf):
            m.d.comb += result.eq(inf_code)
        with m.Elif(neg_inf):
            m.d.comb += result.eq(inf_code | sign_bit)
        with m.Elif(is_zero):
            m.d.comb += result.eq(Mux(zero_negative, sign_bit, 0))
        with m.Elif(overflow):
            m.d.comb += result.eq(Cat(C(inf_code, f.bits - 1), sign))
        with m.Else():
            if self._ftz:
                # only a value that rounds up to the smallest normal survives a flush
                to_normal = (top == emin - 1) & (normalized[width - p:] == (1 << p) - 1)
                body = Mux(subnormal, Mux(to_normal, 1 << f.man_bits, 0), magnitude)
            else:
                body = magnitude
            m.d.comb += result.eq(Cat(body[:f.bits - 1], sign))
        m.d.comb += self.code.eq(result)
        return m
