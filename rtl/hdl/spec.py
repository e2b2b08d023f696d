"""MacSpec: one multiply-accumulate design point (operand formats, accumulator, lanes, stages).

One spec → one Amaranth component → one Verilog module. The accumulator is one of the golden
model's accumulators (:class:`rtl.numerics.arith.FixedAccumulator`,
:class:`rtl.numerics.arith.FloatAccumulator`), so the hardware and its golden model share a
single definition. :meth:`MacSpec.from_names` is the one way to build a spec from format and
accumulator names; :data:`STANDARD_DESIGNS` is the one list of the standard set.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtl.errors import FieldError
from rtl.numerics.arith import (FixedAccumulator, FloatAccumulator, parse_accumulator, product_lsb_exponent,
                                product_width)
from rtl.numerics.blocks import BlockScaling
from rtl.numerics.interleave import INTERLEAVES, extra_latency
from rtl.numerics.formats import FORMATS, Format, closest_names, get_format
from rtl.numerics.scaling import MX_FORMATS
from rtl.numerics.codebook import check_codebook
from rtl.numerics.sparsity import metadata_bits, parse_nm

__all__ = ["MacSpec", "LANE_COUNTS", "MAX_STAGES", "FIXED_MAX_STAGES", "BIAS_MODES", "BIAS_BITS", "Design", "STANDARD_DESIGNS",
           "standard_specs", "operand_format"]

LANE_COUNTS = (1, 2, 4, 8, 16, 32)
MAX_STAGES = 3
"""Pipeline cuts before the accumulation loop: after the multipliers, after the lane sum (a fixed
register) or the product's normalization (a float one), and — float registers only — between
the lane sum and that normalization."""
FIXED_MAX_STAGES = 2  # a fixed register has no normalization to cut before
BIAS_MODES = ("none", "power_of_two")
"""Where a tensor scale 2**e · r meets the MAC: ``none`` — after it (the register sums products
of codes); ``power_of_two`` — e reaches the accumulator through a programmable exponent offset
(an input port ``bias``), r after it."""
BIAS_BITS = 9  # signed: −256 … 255, every sum of two float32 scale exponents


def operand_format(name: str | Format, field: str) -> Format:
    """The scalar format a MAC operand ``field`` names; a block format is named as such."""
    if isinstance(name, Format):
        return name
    if isinstance(name, str) and name in MX_FORMATS:
        raise FieldError(field, f"{name} is a block format (elements with a shared block scale): it needs a "
                                f"block-scaled unit, both operands block formats (--a {name} --b {name}); a "
                                f"scalar MAC operand takes its element format, {MX_FORMATS[name].element.name}",
                         name)
    if isinstance(name, str) and name not in FORMATS:
        hint = closest_names(name, list(FORMATS) + list(MX_FORMATS))
        raise FieldError(field, f"unknown format {name!r}" + (f"; closest valid names: {', '.join(hint)}" if hint else ""),
                         name)
    return get_format(name)


@dataclass(frozen=True)
class MacSpec:
    """A MAC or N-lane dot-product unit.

    Parameters
    ----------
    a, b : operand formats (any integer format, or a float format with a zero).
    acc : the accumulator — fixed-point (two's complement, LSB at or below the product LSB) or
        IEEE float16 / bfloat16 / float32.
    lanes : products summed exactly per step (1 = a MAC).
    stages : pipeline register stages before the accumulation loop (latency = stages + 1).
    bias : ``none`` or ``power_of_two`` (:data:`BIAS_MODES`); with ``power_of_two`` the unit
        has a ``bias`` input of :data:`BIAS_BITS` signed bits added to every product's
        exponent (float accumulators only).
    scaling : None for a MAC of scalar codes, or the :class:`~rtl.numerics.blocks.BlockScaling`
        of a block-scaled dot-product unit (MX, NVFP4): ``a`` and ``b`` are then its element
        formats, ``lanes`` divides the block, and the unit has ``scale_a`` / ``scale_b``
        inputs; see :mod:`rtl.numerics.blocks` for its arithmetic.
    interleave : partial sums the accumulation loop holds (:data:`INTERLEAVES`): 1, or 2 … 5 for
        a float register whose loop (decode, align, add, normalize, round) is cut by that many
        registers, its partial sums updated round-robin — a different summation order, folded
        where they are read; see :mod:`rtl.numerics.interleave`.
    nm : ``""`` for dense operands, or ``"N:M"`` (:mod:`rtl.numerics.sparsity`) for a unit whose
        ``b`` (weight) operand is N:M sparse: ``lanes`` (a multiple of M) activations arrive on
        ``a``, the lanes·N/M kept weights on ``b`` with their positions on ``index``, and each
        kept weight meets the activation its index selects in its group of M; the
        :attr:`products` are then summed exactly as a dot product's lanes are.
    codebook_bits : 0, or k in :data:`~rtl.numerics.codebook.CODEBOOK_BITS` for a unit whose
        weights are k-bit indices on ``b`` into a register file of 2^k centroids in format
        ``b``, loaded through ``cb_write`` / ``cb_addr`` / ``cb_data``
        (:mod:`rtl.numerics.codebook`); with ``nm``, the kept weights' indices.
    zero_gating : a unit that skips zeros: a lane whose operand value is zero (±0) has its
        multiplier's inputs forced to zero (operand isolation), and a step whose every lane is
        zero — unless it clears — leaves the accumulator as it is, its register's clock gated
        by the library's integrated clock gate. The arithmetic differs from an ungated unit's only
        where a zero meets Inf or NaN (:func:`rtl.hdl.verify.zero_isolation`).
    """

    a: Format
    b: Format
    acc: FixedAccumulator | FloatAccumulator
    lanes: int = 1
    stages: int = 0
    bias: str = "none"
    scaling: BlockScaling | None = None
    interleave: int = 1
    nm: str = ""
    codebook_bits: int = 0
    zero_gating: bool = False

    def __post_init__(self):
        for name in ("a", "b"):
            fmt = operand_format(getattr(self, name), name)
            object.__setattr__(self, name, fmt)
            if fmt.is_float and not fmt.subnormals:
                raise FieldError(name, f"{fmt.name} has no zero and cannot be a MAC operand", fmt.name)
            if fmt.bits > 16:
                raise FieldError(name, f"operands of at most 16 bits are supported, not {fmt.name}", fmt.name)
        if not isinstance(self.acc, (FixedAccumulator, FloatAccumulator)):
            raise TypeError(f"acc must be a FixedAccumulator or FloatAccumulator, not {self.acc!r}")
        if not isinstance(self.lanes, int) or isinstance(self.lanes, bool) or self.lanes not in LANE_COUNTS:
            raise FieldError("lanes", f"lanes must be one of {LANE_COUNTS}, not {self.lanes!r}", self.lanes)
        if not isinstance(self.stages, int) or isinstance(self.stages, bool) or not 0 <= self.stages <= MAX_STAGES:
            raise FieldError("stages", f"stages must be an integer in 0..{MAX_STAGES}, not {self.stages!r}", self.stages)
        if self.bias not in BIAS_MODES:
            raise FieldError("bias", f"bias must be one of {BIAS_MODES}, not {self.bias!r}", self.bias)
        if self.stages > self.max_stages:
            raise FieldError("stages", f"a {self.acc.name} register's pipeline has at most {self.max_stages} stages "
                                       f"(the third cut sits before a float register's normalization), not "
                                       f"{self.stages}", self.stages)
        if self.bias != "none" and isinstance(self.acc, FixedAccumulator):
            raise FieldError("bias", f"bias {self.bias!r} needs a float accumulator (float16, bfloat16, float32), "
                                     f"not {self.acc.name}: a fixed register's LSB is fixed", self.bias)
        if self.scaling is not None:
            self._check_scaling()
        if not isinstance(self.interleave, int) or isinstance(self.interleave, bool) \
                or self.interleave not in INTERLEAVES:
            raise FieldError("interleave", f"interleave must be one of {INTERLEAVES} (partial sums in the "
                                           f"accumulation loop), not {self.interleave!r}", self.interleave)
        if self.interleave > 1 and not isinstance(self.acc, FloatAccumulator):
            raise FieldError("interleave", f"interleaved accumulators cut a float register's loop (decode, align, "
                                           f"add, round); a {self.acc.name} register's loop is one integer adder, and "
                                           f"interleave must be 1", self.interleave)
        self._check_nm()
        self._check_codebook()
        self._check_zero_gating()
        if isinstance(self.acc, FixedAccumulator):
            if self.acc.width is None:
                raise FieldError("acc", "a hardware accumulator needs a finite width ('exact' is a golden model only)",
                                 "exact")
            if self.acc.lsb_exponent > self.product_lsb_exponent:
                raise FieldError("acc", f"LSB 2**{self.acc.lsb_exponent} is coarser than the product "
                                        f"LSB 2**{self.product_lsb_exponent}")
            need = self.product_width + self.product_lsb_exponent - self.acc.lsb_exponent
            if self.acc.width < need:
                raise FieldError("acc", f"width {self.acc.width} is narrower than one exact "
                                        f"{self.a.name} × {self.b.name} product ({need} bits)", self.acc.width)

    def _check_nm(self):
        pattern = parse_nm(self.nm, "nm")
        if pattern is None:
            return
        if self.scaling is not None:
            raise FieldError("nm", f"N:M sparsity applies to scalar MACs and dot products; a {self.scaling.a.name} "
                                   "block unit sums whole blocks", self.nm)
        if self.lanes % pattern[1]:
            valid = [n for n in LANE_COUNTS if n % pattern[1] == 0]
            raise FieldError("lanes", f"an {self.nm} unit takes whole groups of {pattern[1]} activations: lanes must "
                                      f"be a multiple of {pattern[1]} (one of {', '.join(map(str, valid))}), not "
                                      f"{self.lanes}", self.lanes)

    def _check_codebook(self):
        check_codebook(self.codebook_bits, self.b)
        if self.codebook_bits and self.scaling is not None:
            raise FieldError("codebook_bits", "a codebook unit looks up scalar weights; it does not combine with "
                                              "block formats", self.codebook_bits)

    def _check_zero_gating(self):
        if not isinstance(self.zero_gating, bool):
            raise FieldError("zero_gating", f"zero_gating must be True or False, not {self.zero_gating!r}",
                             self.zero_gating)
        if not self.zero_gating:
            return
        if self.scaling is not None:
            raise FieldError("zero_gating", "a block-scaled unit sums whole blocks; zero gating applies to scalar MACs "
                                            "and dot products", self.zero_gating)
        if self.interleave > 1:
            raise FieldError("zero_gating", "an interleaved loop turns every cycle; zero gating holds a plain "
                                            "register (interleave 1)", self.zero_gating)

    @property
    def clock_gated(self) -> bool:
        """Whether synthesis clocks this unit's enabled registers through integrated clock gates:
        a zero-gated unit's accumulator, a codebook unit's table."""
        return self.zero_gating or bool(self.codebook_bits)

    @property
    def b_port_bits(self) -> int:
        """Bits per lane of the ``b`` port: a weight code, or a codebook index."""
        return self.codebook_bits or self.b.bits

    @property
    def nm_pattern(self) -> tuple[int, int] | None:
        """(N, M) of an N:M sparse unit, or None."""
        return parse_nm(self.nm, "nm")

    @property
    def products(self) -> int:
        """Products summed per step: ``lanes``, or the kept weights lanes·N/M of an N:M unit."""
        pattern = self.nm_pattern
        return self.lanes if pattern is None else self.lanes * pattern[0] // pattern[1]

    @property
    def index_bits(self) -> int:
        """Bits of each kept weight's position (0 for a dense unit)."""
        pattern = self.nm_pattern
        return 0 if pattern is None else metadata_bits(pattern[1])

    def _check_scaling(self):
        scaling = self.scaling
        if not isinstance(scaling, BlockScaling):
            raise TypeError(f"scaling must be a BlockScaling or None, not {scaling!r}")
        if (self.a, self.b) != (scaling.a.element, scaling.b.element):
            raise FieldError("a", f"a {scaling.a.name} × {scaling.b.name} unit multiplies {scaling.a.element.name} × "
                                  f"{scaling.b.element.name} elements, not {self.a.name} × {self.b.name}", self.a.name)
        if not isinstance(self.acc, FloatAccumulator):
            raise FieldError("acc", f"a block-scaled unit accumulates into float16, bfloat16 or float32 (its block "
                                    f"scales span 2**±254), not {self.acc.name}", self.acc.name)
        if self.bias != "none":
            raise FieldError("bias", "a block-scaled unit takes its exponent offsets from its block scales; "
                                     f"bias must be 'none', not {self.bias!r}", self.bias)
        size = scaling.block_size
        if size % self.lanes:
            valid = [n for n in LANE_COUNTS if size % n == 0]
            raise FieldError("lanes", f"lanes must divide the {size}-element {scaling.a.name} block: one of "
                                      f"{', '.join(map(str, valid))}, not {self.lanes}", self.lanes)

    @classmethod
    def from_names(cls, a: str | Format, b: str | Format, acc: str, *, lanes: int = 1, stages: int = 0,
                   flush_to_zero: bool = False, saturate: bool = False, guard_bits: int = 12,
                   bias: str = "none", block_size: int | None = None, interleave: int = 1,
                   nm: str = "", codebook_bits: int = 0, zero_gating: bool = False) -> "MacSpec":
        """The spec of an ``a × b`` unit summing into the accumulator spelled ``acc`` (see
        :func:`rtl.numerics.arith.parse_accumulator`). Block formats (``mxfp8_e4m3``, ``nvfp4``,
        …: :data:`rtl.numerics.scaling.MX_FORMATS`) on both sides give a block-scaled unit;
        ``block_size``, if given, must be the one the formats define."""
        blocks = [isinstance(x, str) and x in MX_FORMATS for x in (a, b)]
        if any(blocks):
            if not all(blocks):
                block, plain = (a, b) if blocks[0] else (b, a)
                field = "b" if blocks[0] else "a"
                raise FieldError(field, f"{block} is a block format and {plain} is not: a block-scaled unit needs "
                                        f"both operands in block formats ({', '.join(MX_FORMATS)}); a scalar MAC "
                                        f"takes {MX_FORMATS[block].element.name} codes on both sides", plain)
            scaling = BlockScaling(a, b)
            if block_size is not None and block_size != scaling.block_size:
                raise FieldError("block_size", f"{scaling.a.name} defines blocks of {scaling.block_size} elements, "
                                               f"not {block_size}", block_size)
            register = parse_accumulator(acc, scaling.a.element, scaling.b.element, flush_to_zero=flush_to_zero,
                                         saturate=saturate, guard_bits=guard_bits)
            if not isinstance(register, FloatAccumulator):
                raise FieldError("acc", f"a block-scaled unit accumulates into float16, bfloat16 or float32 (its block "
                                        f"scales span 2**±254), not {acc}", acc)
            return cls(scaling.a.element, scaling.b.element, register, lanes, stages, bias, scaling, interleave, nm,
                       codebook_bits, zero_gating)
        if block_size is not None:
            raise FieldError("block_size", f"block_size applies to block formats ({', '.join(MX_FORMATS)}), not "
                                           f"{getattr(a, 'name', a)} × {getattr(b, 'name', b)}", block_size)
        a, b = operand_format(a, "a"), operand_format(b, "b")
        return cls(a, b, parse_accumulator(acc, a, b, flush_to_zero=flush_to_zero, saturate=saturate,
                                           guard_bits=guard_bits), lanes, stages, bias, None, interleave, nm,
                   codebook_bits, zero_gating)

    @property
    def max_stages(self) -> int:
        """The deepest pipeline this unit has (:data:`MAX_STAGES`, or :data:`FIXED_MAX_STAGES`)."""
        return FIXED_MAX_STAGES if isinstance(self.acc, FixedAccumulator) else MAX_STAGES

    @property
    def chunks(self) -> int:
        """Cycles a block takes (block size / lanes); 1 for a MAC of scalar codes."""
        return 1 if self.scaling is None else self.scaling.block_size // self.lanes

    @property
    def storage_bits(self) -> tuple[float, float]:
        """Bits per element of ``a`` and ``b`` as memory holds them: the code, plus for a block
        format its share of the block scale (MXFP8: 8 + 8/32 = 8.25; NVFP4: 4 + 8/16 = 4.5)."""
        if self.scaling is None:
            return self.a.bits, self.b.bits
        return self.scaling.a.bits_per_element, self.scaling.b.bits_per_element

    @property
    def operand_names(self) -> tuple[str, str]:
        """The operands as a user names them: block formats for a block-scaled unit."""
        if self.scaling is not None:
            return self.scaling.a.name, self.scaling.b.name
        return self.a.name, self.b.name

    @property
    def bias_range(self) -> tuple[int, int]:
        """The offsets the ``bias`` port holds (inclusive); (0, 0) without one."""
        if self.bias == "none":
            return 0, 0
        return -(1 << (BIAS_BITS - 1)), (1 << (BIAS_BITS - 1)) - 1

    def check_bias(self, bias) -> None:
        """Offsets for the ``bias`` port: integers in :attr:`bias_range`."""
        import numpy as np
        values = np.asarray(bias).reshape(-1)
        low, high = self.bias_range
        if values.dtype.kind not in "iu":
            raise FieldError("bias", f"bias offsets must be integers, not {values.dtype} values", bias)
        bad = values[(values < low) | (values > high)]
        if bad.size:
            raise FieldError("bias", f"bias offsets must be integers in {low}..{high} for {self.name}, not "
                                     f"{int(bad[0])}", int(bad[0]))

    @property
    def product_width(self) -> int:
        return product_width(self.a, self.b)

    @property
    def product_lsb_exponent(self) -> int:
        return product_lsb_exponent(self.a, self.b)

    @property
    def acc_width(self) -> int:
        return self.acc.width if isinstance(self.acc, FixedAccumulator) else self.acc.format.bits

    @property
    def latency(self) -> int:
        """Clock edges from inputs to the accumulator register reflecting them (an interleaved
        loop rounds in a cycle of its own)."""
        return self.stages + 1 + extra_latency(self.interleave)

    @property
    def name(self) -> str:
        """A Verilog-safe module name that identifies the spec."""
        acc = self.acc.name
        if isinstance(self.acc, FixedAccumulator):
            acc += "_sat" if self.acc.overflow == "saturate" else ""
            if self.acc.lsb_exponent != self.product_lsb_exponent:
                acc += f"_lsb{self.acc.lsb_exponent}".replace("-", "m")
        a, b = self.operand_names
        return (f"mac_{a}_x_{b}_{acc}_l{self.lanes}_s{self.stages}" + ("_bias" if self.bias != "none" else "")
                + (f"_i{self.interleave}" if self.interleave > 1 else "")
                + (f"_nm{self.nm.replace(':', 'of')}" if self.nm else "")
                + (f"_cb{self.codebook_bits}" if self.codebook_bits else "")
                + ("_zg" if self.zero_gating else ""))

    def describe(self) -> dict:
        acc = {"kind": "fixed" if isinstance(self.acc, FixedAccumulator) else "float",
               "name": self.acc.name, "width": self.acc_width}
        if isinstance(self.acc, FixedAccumulator):
            acc.update(lsb_exponent=self.acc.lsb_exponent, lsb_weight=2.0 ** self.acc.lsb_exponent,
                       overflow=self.acc.overflow)
        else:
            acc.update(flush_to_zero=self.acc.flush_to_zero)
        out = {"module": self.name, "a": self.a.name, "b": self.b.name, "acc": acc,
               "lanes": self.lanes, "stages": self.stages, "latency": self.latency, "bias": self.bias,
               "product_width": self.product_width,
               "product_lsb_exponent": self.product_lsb_exponent}
        if self.scaling is not None:  # only block units carry the key, so earlier specs hash as before
            out["scaling"] = self.scaling.describe() | {"chunks": self.chunks}
        if self.interleave > 1:  # likewise
            out["interleave"] = self.interleave
        if self.nm:  # likewise
            out["nm"] = self.nm
            out["products"] = self.products
        if self.codebook_bits:  # likewise
            out["codebook_bits"] = self.codebook_bits
        if self.zero_gating:  # likewise
            out["zero_gating"] = True
        return out


@dataclass(frozen=True)
class Design:
    """One row of the standard set, by name: ``a × b → acc`` with its options."""

    a: str
    b: str
    acc: str
    lanes: int = 1
    flush_to_zero: bool = False
    bias: str = "none"

    def spec(self) -> MacSpec:
        return MacSpec.from_names(self.a, self.b, self.acc, lanes=self.lanes, flush_to_zero=self.flush_to_zero,
                                  bias=self.bias)

    @property
    def in_whitepaper(self) -> bool:
        """A single MAC of one of van Baalen et al.'s formats and accumulators (their Figure 3)."""
        return self.a == self.b and self.lanes == 1 and not self.flush_to_zero and self.bias == "none" \
            and self.a in _PAPER \
            and self.acc in ("fixed", "float16", "float32")


_PAPER = ("int8_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz")


def _standard() -> tuple[Design, ...]:
    rows = [Design(f, f, acc) for f in _PAPER for acc in ("fixed", "float16", "float32")]  # Figure 3
    rows += [Design("int4_sym", "int4_sym", "fixed"), Design("int16_sym", "int16_sym", "fixed"),
             Design("int4_sym", "int8_sym", "fixed")]  # W4A8
    rows += [Design(f, f, acc) for f in ("float8_e4m3fn", "float8_e5m2") for acc in ("fixed", "float16", "float32")]
    rows += [Design("float8_e4m3fn", "float8_e5m2", "float32"),
             Design("float8_e4m3fn", "float8_e4m3fn", "float16", flush_to_zero=True),
             Design("float8_e4m3fnuz", "float8_e4m3fnuz", "float32", flush_to_zero=True),
             Design("float4_e2m1fn", "float4_e2m1fn", "fixed"), Design("float4_e2m1fn", "float4_e2m1fn", "float32"),
             Design("bfloat16", "bfloat16", "float32"), Design("float16", "float16", "float32")]
    # a programmable exponent bias: the tensor scales' powers of two reach the accumulator
    rows += [Design(f, f, acc, bias="power_of_two") for f in ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2")
             for acc in ("float16", "float32")]
    rows += [Design("float8_e4m3fn", "float8_e4m3fn", "float32", lanes=4, bias="power_of_two")]
    for lanes in (4, 16):  # dot-product units
        rows += [Design("int8_sym", "int8_sym", "fixed", lanes), Design("float8_e4m3fn", "float8_e4m3fn", "float32", lanes),
                 Design("float8_e4m3fnuz", "float8_e4m3fnuz", "fixed", lanes)]
    return tuple(rows)


STANDARD_DESIGNS = _standard()
"""The standard set: every pair the whitepaper studied, plus int4/int16, W4A8, OCP FP8, FP4,
flush-to-zero, float16/bfloat16 and dot products. The MAC table and ``hwmodel rtl --standard``
are this list."""


def standard_specs() -> list[MacSpec]:
    return [d.spec() for d in STANDARD_DESIGNS]
