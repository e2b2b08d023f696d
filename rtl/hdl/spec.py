"""MacSpec: one multiply-accumulate design point (operand formats, accumulator, lanes, stages).

One spec → one Amaranth component → one Verilog module. The accumulator is one of the golden
model's accumulators (:class:`rtl.numerics.arith.FixedAccumulator`, :class:`rtl.numerics.arith.FloatAccumulator`), so
the hardware and its golden model share a single definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtl.numerics.arith import (FixedAccumulator, FloatAccumulator, accumulator_width, product_lsb_exponent,
                    product_width)
from rtl.numerics.formats import Format, get_format

__all__ = ["MacSpec", "parse_accumulator", "LANE_COUNTS", "MAX_STAGES", "standard_specs"]

LANE_COUNTS = (1, 2, 4, 8, 16, 32)
MAX_STAGES = 2  # pipeline cuts before the accumulation loop: after the multipliers, after the lane sum


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
    """

    a: Format
    b: Format
    acc: FixedAccumulator | FloatAccumulator
    lanes: int = 1
    stages: int = 0

    def __post_init__(self):
        for name in ("a", "b"):
            fmt = get_format(getattr(self, name))
            object.__setattr__(self, name, fmt)
            if fmt.is_float and not fmt.subnormals:
                raise ValueError(f"{name}: {fmt.name} has no zero and cannot be a MAC operand")
            if fmt.bits > 16:
                raise ValueError(f"{name}: operands of at most 16 bits are supported, not {fmt.name}")
        if not isinstance(self.acc, (FixedAccumulator, FloatAccumulator)):
            raise TypeError(f"acc must be a FixedAccumulator or FloatAccumulator, not {self.acc!r}")
        if not isinstance(self.lanes, int) or self.lanes not in LANE_COUNTS:
            raise ValueError(f"lanes must be one of {LANE_COUNTS}, not {self.lanes!r}")
        if not isinstance(self.stages, int) or not 0 <= self.stages <= MAX_STAGES:
            raise ValueError(f"stages must be an integer in 0..{MAX_STAGES}, not {self.stages!r}")
        if isinstance(self.acc, FixedAccumulator):
            if self.acc.width is None:
                raise ValueError("acc: a hardware accumulator needs a finite width")
            if self.acc.lsb_exponent > self.product_lsb_exponent:
                raise ValueError(f"acc: LSB 2**{self.acc.lsb_exponent} is coarser than the product "
                                 f"LSB 2**{self.product_lsb_exponent}")
            need = self.product_width + self.product_lsb_exponent - self.acc.lsb_exponent
            if self.acc.width < need:
                raise ValueError(f"acc: width {self.acc.width} is narrower than one exact "
                                 f"{self.a.name} × {self.b.name} product ({need} bits)")

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
        """Clock edges from inputs to the accumulator register reflecting them."""
        return self.stages + 1

    @property
    def name(self) -> str:
        """A Verilog-safe module name that identifies the spec."""
        acc = self.acc.name
        if isinstance(self.acc, FixedAccumulator):
            acc += "_sat" if self.acc.overflow == "saturate" else ""
            if self.acc.lsb_exponent != self.product_lsb_exponent:
                acc += f"_lsb{self.acc.lsb_exponent}".replace("-", "m")
        return f"mac_{self.a.name}_x_{self.b.name}_{acc}_l{self.lanes}_s{self.stages}"

    def describe(self) -> dict:
        acc = {"kind": "fixed" if isinstance(self.acc, FixedAccumulator) else "float",
               "name": self.acc.name, "width": self.acc_width}
        if isinstance(self.acc, FixedAccumulator):
            acc.update(lsb_exponent=self.acc.lsb_exponent, lsb_weight=2.0 ** self.acc.lsb_exponent,
                       overflow=self.acc.overflow)
        else:
            acc.update(flush_to_zero=self.acc.flush_to_zero)
        return {"module": self.name, "a": self.a.name, "b": self.b.name, "acc": acc,
                "lanes": self.lanes, "stages": self.stages, "latency": self.latency,
                "product_width": self.product_width,
                "product_lsb_exponent": self.product_lsb_exponent}


def parse_accumulator(text: str, a: Format | str, b: Format | str, *, flush_to_zero: bool = False,
                      saturate: bool = False, guard_bits: int = 12):
    """Accumulator from its command-line spelling.

    ``float16`` / ``bfloat16`` / ``float32``: IEEE float; an integer format such as ``int32``: a
    fixed register of that width whose LSB is the product LSB; ``fixed``: the exact width for
    2**guard_bits products; ``fixed:WIDTH``: a given width.
    """
    a, b = get_format(a), get_format(b)
    overflow = "saturate" if saturate else "wrap"
    lsb = product_lsb_exponent(a, b)
    if text in ("float16", "bfloat16", "float32"):
        if saturate:
            raise ValueError(f"--saturate applies to fixed accumulators, not {text}")
        return FloatAccumulator(get_format(text), flush_to_zero=flush_to_zero)
    if flush_to_zero:
        raise ValueError(f"flush-to-zero applies to float accumulators, not {text!r}")
    if text == "fixed":
        return FixedAccumulator(accumulator_width(a, b, guard_bits), lsb, overflow)
    match = re.fullmatch(r"fixed:(-?\d+)", text)
    if match:
        width = int(match.group(1))
        if width < 2:
            raise ValueError(f"acc: fixed width must be at least 2, not {width}")
        return FixedAccumulator(width, lsb, overflow)
    match = re.fullmatch(r"int(\d+)", text)
    if match:
        return FixedAccumulator(int(match.group(1)), lsb, overflow)
    raise ValueError(f"unknown accumulator {text!r}: use float16, bfloat16, float32, intN "
                     "(e.g. int32), fixed or fixed:WIDTH")


def standard_specs() -> list[MacSpec]:
    """The standard set: every pair the whitepaper studied, plus int4/int16, OCP FP8, FP4 and
    dot products."""
    specs: list[MacSpec] = []

    def add(a, b, acc_text, lanes=1, **options):
        specs.append(MacSpec(get_format(a), get_format(b), parse_accumulator(acc_text, a, b, **options), lanes))

    paper = ["int8_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz", "float8_e5m2fnuz"]
    for fmt in paper:  # van Baalen et al. Figure 3: FX+12, FP16 and FP32 accumulators
        for acc in ("fixed", "float16", "float32"):
            add(fmt, fmt, acc)
    for fmt in ("int4_sym", "int16_sym"):
        add(fmt, fmt, "fixed")
    add("int4_sym", "int8_sym", "fixed")  # W4A8
    for fmt in ("float8_e4m3fn", "float8_e5m2"):  # OCP FP8
        for acc in ("fixed", "float16", "float32"):
            add(fmt, fmt, acc)
    add("float8_e4m3fn", "float8_e5m2", "float32")
    add("float8_e4m3fn", "float8_e4m3fn", "float16", flush_to_zero=True)
    add("float8_e4m3fnuz", "float8_e4m3fnuz", "float32", flush_to_zero=True)
    add("float4_e2m1fn", "float4_e2m1fn", "fixed")
    add("float4_e2m1fn", "float4_e2m1fn", "float32")
    add("bfloat16", "bfloat16", "float32")
    add("float16", "float16", "float32")
    for lanes in (4, 16):  # dot-product units
        add("int8_sym", "int8_sym", "fixed", lanes)
        add("float8_e4m3fn", "float8_e4m3fn", "float32", lanes)
        add("float8_e4m3fnuz", "float8_e4m3fnuz", "fixed", lanes)
    return specs
