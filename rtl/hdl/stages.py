"""The stages of a MAC, each its own Amaranth component so its area can be attributed.

decode → multiply (:class:`Multiply`, holding the two :class:`Decode` s) → to fixed point and
lane sum (:class:`ToFixed`, :class:`LaneSum`) → alignment and addition (:class:`FixedAdd`, or
:class:`ProductNormalize` + :class:`AccumulatorDecode` + :class:`FloatAlignAdd`) → normalize /
round / encode (:class:`FixedWrap`, :class:`FloatRound`). Widths are derived from the formats, so
every intermediate value is exact until the single rounding in :class:`FloatRound`.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.numerics.formats import Format, get_format

__all__ = ["Decode", "Multiply", "has_specials", "ToFixed", "LaneSum", "FixedAdd", "FixedWrap", "ProductNormalize",
           "AccumulatorDecode", "FloatAlignAdd", "FloatRound", "leading_zeros", "signed_width",
           "significand_width", "product_magnitude_width", "product_exponent_max", "lane_fixed_width"]


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
    from rtl.numerics.arith import product_width
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


# ----- decode and multiply ----------------------------------------------------------------
class Decode(wiring.Component):
    """Operand decode: sign, exponent in LSB units (``max(field, 1) − 1``), significand with its
    hidden bit (an integer's magnitude), and the zero / NaN / Inf classes of the format."""

    def __init__(self, *, fmt: Format | str):
        self._fmt = get_format(fmt)
        super().__init__({
            "code": In(self._fmt.bits), "sign": Out(1), "exp": Out(_exp_width(self._fmt)),
            "sig": Out(significand_width(self._fmt)), "zero": Out(1), "nan": Out(1), "inf": Out(1),
        })

    @property
    def fmt(self) -> Format:
        return self._fmt

    def elaborate(self, platform):
        m = Module()
        f, code = self._fmt, self.code
        if f.kind == "int":
            negative = code[-1] if f.signed else C(0, 1)
            value = code.as_signed() if f.signed else code
            m.d.comb += [self.sign.eq(negative), self.sig.eq(Mux(negative, -value, value)),
                         self.zero.eq(code == 0)]
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
            self.sign.eq(code[-1] if f.signed else 0),
            self.exp.eq(Mux(field == 0, 0, field - 1)),
            self.sig.eq(Cat(man, field != 0)),
            self.zero.eq((field == 0) & (man == 0) & ~nan),
            self.nan.eq(nan), self.inf.eq(inf),
        ]
        return m


def has_specials(a: Format, b: Format) -> bool:
    """Whether a product of the pair can be NaN or Inf."""
    return a.has_nan or a.has_inf or b.has_nan or b.has_inf


class Multiply(wiring.Component):
    """One exact product: significand multiplier, exponent adder and special-value logic.

    ``value = ±mag · 2**(exp + product LSB)``. Integer × integer instead gives the
    two's-complement product ``fixed`` straight from a signed multiplier (the cheapest integer
    datapath), plus its magnitude when ``magnitude`` is set (for a float accumulator). Ports exist
    only where the pair needs them, so no logic is left without a reader.
    """

    def __init__(self, *, a: Format | str, b: Format | str, magnitude: bool = True):
        self._a, self._b = get_format(a), get_format(b)
        self._int = self._a.kind == self._b.kind == "int"
        self._magnitude = magnitude or not self._int
        ports = {"a": In(self._a.bits), "b": In(self._b.bits), "sign": Out(1), "zero": Out(1),
                 "negative_zero": Out(1)}
        if self._int:
            ports["fixed"] = Out(signed(self._a.bits + self._b.bits + 1))
        else:
            ports["exp"] = Out(signed_width(0, product_exponent_max(self._a, self._b)))
        if self._magnitude:
            ports["mag"] = Out(product_magnitude_width(self._a, self._b))
        if has_specials(self._a, self._b):
            ports |= {"nan": Out(1), "inf": Out(1)}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self._int:
            a = self.a.as_signed() if self._a.signed else self.a
            b = self.b.as_signed() if self._b.signed else self.b
            zero = (self.a == 0) | (self.b == 0)
            sign = (a < 0) ^ (b < 0)
            product = Signal(signed(len(self.fixed)))
            m.d.comb += [product.eq(a * b), self.fixed.eq(product)]
            if self._magnitude:
                m.d.comb += self.mag.eq(Mux(product < 0, -product, product))
            m.d.comb += [self.zero.eq(zero), self.sign.eq(sign), self.negative_zero.eq(zero & sign)]
            return m
        m.submodules.decode_a = da = Decode(fmt=self._a)
        m.submodules.decode_b = db = Decode(fmt=self._b)
        m.d.comb += [da.code.eq(self.a), db.code.eq(self.b)]
        nan = da.nan | db.nan | (da.inf & db.zero) | (db.inf & da.zero)
        zero = (da.zero | db.zero) & ~nan
        sign = da.sign ^ db.sign
        if has_specials(self._a, self._b):
            m.d.comb += [self.nan.eq(nan), self.inf.eq((da.inf | db.inf) & ~nan)]
        m.d.comb += [self.zero.eq(zero), self.sign.eq(sign), self.negative_zero.eq(zero & sign),
                     self.mag.eq(da.sig * db.sig), self.exp.eq(da.exp + db.exp)]
        return m


# ----- fixed-point path -------------------------------------------------------------------
class ToFixed(wiring.Component):
    """Align one float product into its two's-complement Kulisch frame (NaN and Inf add 0)."""

    def __init__(self, *, a: Format | str, b: Format | str):
        self._a, self._b = get_format(a), get_format(b)
        ports = {"sign": In(1), "mag": In(product_magnitude_width(self._a, self._b)),
                 "exp": In(signed_width(0, product_exponent_max(self._a, self._b))),
                 "value": Out(signed(lane_fixed_width(self._a, self._b)))}
        if has_specials(self._a, self._b):
            ports["special"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        aligned = Signal(_uint(len(self.value)))
        m.d.comb += aligned.eq(self.mag << self.exp)
        value = Mux(self.sign, -aligned, aligned)
        if has_specials(self._a, self._b):
            value = Mux(self.special, 0, value)
        m.d.comb += self.value.eq(value)
        return m


class LaneSum(wiring.Component):
    """Exact sum of the lanes' fixed-point products: a balanced adder tree."""

    def __init__(self, *, lanes: int, width: int):
        self._lanes, self._width = lanes, width
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
        self._acc_width, self._saturate = acc_width, saturate
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
    """Normalize the exact product (sign-magnitude with exponent) or lane sum (two's complement):
    sign, significand with its leading one on top, and the exponent of that one."""

    def __init__(self, *, width: int, exp_width: int, offset: int, top_shape, twos_complement: bool):
        self._offset = offset  # product LSB exponent + magnitude width − 1
        self._twos = twos_complement
        ports = {"sig": Out(width), "top": Out(top_shape), "sign": Out(1), "zero": Out(1)}
        if twos_complement:
            ports["value"] = In(signed(width))
        else:
            ports |= {"mag": In(width), "sign_in": In(1)}
            if exp_width:
                ports["exp"] = In(exp_width)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        magnitude = Signal(len(self.sig))
        if self._twos:
            m.d.comb += [self.sign.eq(self.value < 0),
                         magnitude.eq(Mux(self.value < 0, -self.value, self.value))]
            exp = 0
        else:
            m.d.comb += [self.sign.eq(self.sign_in), magnitude.eq(self.mag)]
            exp = getattr(self, "exp", 0)
        lz = Signal(range(len(magnitude) + 1))
        m.d.comb += lz.eq(leading_zeros(magnitude))
        m.d.comb += [self.sig.eq(magnitude << lz), self.top.eq(exp + self._offset - lz),
                     self.zero.eq(magnitude == 0)]
        return m


class AccumulatorDecode(wiring.Component):
    """Decode the accumulator register: sign, normalized significand, exponent of its top bit.

    Without flush-to-zero a subnormal accumulator is normalized by a leading-zero count; with it
    the register can never hold a subnormal, so exponent field 0 simply means zero.
    """

    def __init__(self, *, fmt: Format, flush_to_zero: bool, top_shape):
        self._fmt, self._ftz = fmt, flush_to_zero
        super().__init__({"code": In(fmt.bits), "sign": Out(1), "sig": Out(fmt.man_bits + 1),
                          "top": Out(top_shape), "zero": Out(1), "nan": Out(1), "inf": Out(1)})

    def elaborate(self, platform):
        m = Module()
        f = self._fmt
        man, field = self.code[:f.man_bits], self.code[f.man_bits:f.bits - 1]
        all_ones = (1 << f.exp_bits) - 1
        m.d.comb += [self.sign.eq(self.code[-1]),
                     self.nan.eq((field == all_ones) & (man != 0)),
                     self.inf.eq((field == all_ones) & (man == 0))]
        if self._ftz:
            m.d.comb += [self.zero.eq(field == 0), self.sig.eq(Cat(man, C(1, 1))),
                         self.top.eq(field - f.bias)]
            return m
        sig = Cat(man, field != 0)
        lz = Signal(range(f.man_bits + 2))
        m.d.comb += lz.eq(leading_zeros(sig))
        m.d.comb += [self.zero.eq((field == 0) & (man == 0)), self.sig.eq(sig << lz),
                     self.top.eq(Mux(field == 0, 1, field) - f.bias - lz)]
        return m


class FloatAlignAdd(wiring.Component):
    """Align the smaller operand to the larger and add: the exact sum in an F-bit frame.

    The operand with the higher leading one fills the frame from the top; the other is shifted
    right, and bits falling out of the frame are OR-ed into its LSB (sticky). With
    F = max(widths) + 4 the frame keeps guard, round and sticky below any rounding position, so
    the single rounding that follows is correct.
    """

    def __init__(self, *, acc_width: int, product_width: int, top_shape):
        self._p, self._w = acc_width, product_width
        self._frame = max(acc_width, product_width) + 4
        super().__init__({
            "a_sign": In(1), "a_sig": In(acc_width), "a_top": In(top_shape), "a_zero": In(1),
            "p_sign": In(1), "p_sig": In(product_width), "p_top": In(top_shape), "p_zero": In(1),
            "mag": Out(self._frame + 1), "sign": Out(1), "top": Out(top_shape),
        })

    @property
    def frame(self) -> int:
        return self._frame

    def elaborate(self, platform):
        m = Module()
        frame = self._frame
        a_frame = Mux(self.a_zero, 0, self.a_sig << (frame - self._p))
        p_frame = Mux(self.p_zero, 0, self.p_sig << (frame - self._w))
        diff = Signal(signed(len(self.a_top) + 1))
        m.d.comb += diff.eq(self.a_top - self.p_top)
        a_large = Signal()
        m.d.comb += a_large.eq(Mux(self.p_zero, 1, Mux(self.a_zero, 0, diff >= 0)))
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
        large_sign = Mux(a_large, self.a_sign, self.p_sign)
        small_sign = Mux(a_large, self.p_sign, self.a_sign)
        subtract = self.a_sign ^ self.p_sign
        difference = Signal(signed(frame + 2))
        m.d.comb += difference.eq(large - aligned)
        negative = difference < 0
        m.d.comb += [
            self.mag.eq(Mux(subtract, Mux(negative, -difference, difference), large + aligned)),
            self.sign.eq(Mux(subtract & negative, small_sign, large_sign)),
            self.top.eq(Mux(a_large, self.a_top, self.p_top)),
        ]
        return m


class FloatRound(wiring.Component):
    """Normalize, round once to nearest even, and encode — or NaN / ±Inf / a signed zero.

    ``mag · 2**(top − frame + 1)`` is the exact sum (bit ``frame`` is the carry). Results below
    the normal range are shifted right onto the subnormal grid before rounding; with
    flush-to-zero that shifter is absent and such results become zeros, except those that round
    up to the smallest normal.
    """

    def __init__(self, *, fmt: Format, frame: int, flush_to_zero: bool, top_shape):
        self._fmt, self._frame, self._ftz = fmt, frame, flush_to_zero
        super().__init__({
            "mag": In(frame + 1), "sign": In(1), "top": In(top_shape), "zero_negative": In(1),
            "nan": In(1), "pos_inf": In(1), "neg_inf": In(1), "code": Out(fmt.bits),
        })

    def elaborate(self, platform):
        m = Module()
        f, width = self._fmt, self._frame + 1
        p = f.man_bits + 1
        emin, emax = 1 - f.bias, (1 << f.exp_bits) - 2 - f.bias
        lz = Signal(range(width + 1))
        m.d.comb += lz.eq(leading_zeros(self.mag))
        top = Signal(signed(len(self.top) + 1))
        m.d.comb += top.eq(self.top + 1 - lz)
        normalized = Signal(width)
        m.d.comb += normalized.eq(self.mag << lz)
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
        with m.If(self.nan):
            m.d.comb += result.eq(f.nan_code)
        with m.Elif(self.pos_inf):
            m.d.comb += result.eq(inf_code)
        with m.Elif(self.neg_inf):
            m.d.comb += result.eq(inf_code | sign_bit)
        with m.Elif(self.mag == 0):
            m.d.comb += result.eq(Mux(self.zero_negative, sign_bit, 0))
        with m.Elif(overflow):
            m.d.comb += result.eq(Cat(C(inf_code, f.bits - 1), self.sign))
        with m.Else():
            if self._ftz:
                # only a value that rounds up to the smallest normal survives a flush
                to_normal = (top == emin - 1) & (normalized[width - p:] == (1 << p) - 1)
                body = Mux(subnormal, Mux(to_normal, 1 << f.man_bits, 0), magnitude)
            else:
                body = magnitude
            m.d.comb += result.eq(Cat(body[:f.bits - 1], self.sign))
        m.d.comb += self.code.eq(result)
        return m
