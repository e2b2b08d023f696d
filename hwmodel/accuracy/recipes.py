"""Recipes: what a model's matmuls are computed with — the formats, the scales, and the MAC.

A :class:`Numerics` names a complete recipe: weight and activation formats, how weight scales
are chosen and at what granularity, and the MAC the hardware sums into — its accumulator (one
spelling with the hardware: :func:`rtl.numerics.arith.parse_accumulator`), its ``lanes``
(products per rounding step) and where the scales' powers of two go (``bias``, named as
:attr:`rtl.hdl.spec.MacSpec.bias`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtl.errors import FieldError
from rtl.hdl.spec import BIAS_MODES, LANE_COUNTS
from rtl.numerics.arith import FixedAccumulator, FloatAccumulator, accumulator_width, parse_accumulator
from rtl.numerics.blocks import BlockScaling
from rtl.numerics.formats import FORMATS, Format, get_format
from rtl.numerics.interleave import INTERLEAVES
from rtl.numerics.codebook import check_codebook
from rtl.numerics.scaling import MX_FORMATS
from rtl.numerics.sparsity import parse_nm

__all__ = ["Numerics", "parse_numerics", "auto_accumulator", "SCALE_METHODS", "GRANULARITIES",
           "UNQUANTIZED", "CODEBOOKS"]

SCALE_METHODS = ("mse", "absmax")
GRANULARITIES = ("tensor", "channel")
CODEBOOKS = ("layer", "channel")  # one codebook per layer, or per output channel
UNQUANTIZED = "float32"  # an operand left in float32: the reference, not a MAC format


def _operand(name: str, field: str) -> str:
    if not isinstance(name, str):
        raise FieldError(field, f"{field} must be a format name, not {name!r}", name)
    if name == UNQUANTIZED or name in MX_FORMATS:
        return name
    try:
        get_format(name)
    except ValueError as error:
        raise FieldError(field, f"{field}: {error}", name) from None
    return name


def element_format(name: str) -> Format:
    """The scalar format an operand's codes are in (an MX format's element type)."""
    return MX_FORMATS[name].element if name in MX_FORMATS else get_format(name)


@dataclass(frozen=True)
class Numerics:
    """One quantization recipe for every matmul of a model.

    ``weights`` / ``activations``: a format name (``int8_sym``, ``float8_e4m3fn``, ``mxfp8_e4m3``
    …) or ``float32`` for no quantization. ``accumulator``: ``exact`` (an unbounded Kulisch
    register), ``fixed`` / ``fixed:W`` / ``intN`` (two's complement, wrapping like the
    hardware), ``float16``, ``bfloat16`` or ``float32`` (one rounding per step). ``lanes``:
    products summed exactly per step (1 = a MAC). ``bias``: ``none`` — the register sums
    products of codes and the scales multiply the result; ``power_of_two`` — the scales' powers
    of two reach the register as an exponent offset (float accumulators only). ``interleave``:
    partial sums of an interleaved float register (:mod:`rtl.numerics.interleave`), steps dealt
    to them round-robin and folded at the end.

    Compression of the weights before they are quantized (:mod:`hwmodel.accuracy.compression`):
    ``density`` (unstructured magnitude pruning: the fraction of each layer's weights kept, in
    (0, 1]), ``nm`` (N:M structured sparsity along K, ``"2:4"``; empty for none — one pattern or
    the other), ``codebook_bits`` (k-means clustering into 2^k centroids in the weight format,
    0 for none) per ``codebook`` (``layer`` or ``channel``).
    """

    weights: str = "int8_sym"
    activations: str = "int8_sym"
    accumulator: str = "int32"
    weight_granularity: str = "channel"
    scale_method: str = "mse"
    lanes: int = 1
    bias: str = "none"
    interleave: int = 1
    density: float = 1.0
    nm: str = ""
    codebook_bits: int = 0
    codebook: str = "layer"

    def __post_init__(self):
        _operand(self.weights, "weights")
        _operand(self.activations, "activations")
        if self.weight_granularity not in GRANULARITIES:
            raise FieldError("weight_granularity", f"weight_granularity must be one of {GRANULARITIES}, not "
                                                   f"{self.weight_granularity!r}", self.weight_granularity)
        if self.scale_method not in SCALE_METHODS:
            raise FieldError("scale_method", f"scale_method must be one of {SCALE_METHODS}, not "
                                             f"{self.scale_method!r}", self.scale_method)
        if not isinstance(self.lanes, int) or isinstance(self.lanes, bool) or self.lanes not in LANE_COUNTS:
            raise FieldError("lanes", f"lanes must be one of {LANE_COUNTS}, not {self.lanes!r}", self.lanes)
        if self.bias not in BIAS_MODES:
            raise FieldError("bias", f"bias must be one of {BIAS_MODES}, not {self.bias!r}", self.bias)
        self._check_blocks()
        acc = self.register
        if self.accumulator.startswith("int") and not all(self._integer(f) for f in (self.weights, self.activations)):
            raise FieldError("accumulator", f"an {self.accumulator} accumulator needs integer operand formats, not "
                                            f"{self.weights} × {self.activations}; use 'fixed' for an exact "
                                            "fixed-point accumulator of floating-point products", self.accumulator)
        if self.bias != "none" and not isinstance(acc, FloatAccumulator):
            raise FieldError("bias", f"bias {self.bias!r} needs a float accumulator (float16, bfloat16, float32), "
                                     f"not {self.accumulator!r}", self.bias)
        if not isinstance(self.interleave, int) or isinstance(self.interleave, bool) \
                or self.interleave not in INTERLEAVES:
            raise FieldError("interleave", f"interleave must be one of {INTERLEAVES}, not {self.interleave!r}",
                             self.interleave)
        if self.interleave > 1 and not isinstance(acc, FloatAccumulator):
            raise FieldError("interleave", f"interleaved partial sums need a float accumulator (float16, bfloat16, "
                                           f"float32), not {self.accumulator!r}", self.interleave)
        block = BlockScaling(self.activations, self.weights).block_size if self.block_scaled else None
        if self.interleave > 1 and block is not None and block % self.lanes:
            raise FieldError("lanes", f"an interleaved {self.weights} unit takes its blocks in chunks of lanes, which "
                                      f"must divide the block of {block}, not {self.lanes}", self.lanes)
        self._check_compression()
        if UNQUANTIZED in (self.weights, self.activations) and isinstance(acc, FixedAccumulator) \
                and acc.width is not None:
            raise FieldError("accumulator", f"a {self.accumulator!r} register needs quantized operands; "
                                            f"{UNQUANTIZED} operands take 'exact' or a float accumulator",
                             self.accumulator)

    def _check_compression(self) -> None:
        density = self.density
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
            raise FieldError("density", f"density is the fraction of weights kept, in (0, 1], not {density!r}",
                             density)
        object.__setattr__(self, "density", float(density))
        if parse_nm(self.nm) is not None and self.density < 1:
            raise FieldError("nm", f"one sparsity pattern at a time: nm {self.nm!r} or density {self.density}, "
                                   "not both", self.nm)
        if self.codebook not in CODEBOOKS:
            raise FieldError("codebook", f"codebook must be one of {CODEBOOKS}, not {self.codebook!r}", self.codebook)
        if self.codebook_bits and self.weights in MX_FORMATS:
            raise FieldError("codebook_bits", f"clustered weights are centroids in a scalar format; {self.weights} "
                                              "scales its own blocks — cluster into int8 or float8_e4m3fn instead",
                             self.codebook_bits)
        check_codebook(self.codebook_bits, self.weight_format)  # the hardware's rule, one definition

    @property
    def nm_pattern(self) -> tuple[int, int] | None:
        """(N, M) of the weights' N:M sparsity, or None."""
        return parse_nm(self.nm)

    @property
    def weight_key(self) -> tuple:
        """Everything that decides a layer's quantized weights (a cache key)."""
        return (self.weights, self.weight_granularity, self.scale_method, self.density, self.nm, self.codebook_bits,
                self.codebook)

    @property
    def compressed(self) -> bool:
        """Pruned or clustered weights."""
        return self.density < 1 or bool(self.nm) or bool(self.codebook_bits)

    @property
    def block_scaled(self) -> bool:
        """Both operands in block formats: the matmuls run on block-scaled units."""
        return self.weights in MX_FORMATS

    def _check_blocks(self) -> None:
        blocks = [f in MX_FORMATS for f in (self.weights, self.activations)]
        if not any(blocks):
            return
        if not all(blocks):
            field = "activations" if blocks[0] else "weights"
            raise FieldError(field, f"{self.weights} × {self.activations}: a block-scaled unit needs both operands in "
                                    f"block formats ({', '.join(MX_FORMATS)}); write e.g. "
                                    f"{self.weights if blocks[0] else self.activations} for both", getattr(self, field))
        try:
            BlockScaling(self.activations, self.weights)
        except FieldError as error:
            raise FieldError("weights", f"{self.weights} × {self.activations}: {error}", self.weights) from None
        if self.accumulator not in ("float16", "bfloat16", "float32"):
            raise FieldError("accumulator", f"block formats accumulate into float16, bfloat16 or float32, not "
                                            f"{self.accumulator!r}", self.accumulator)

    @staticmethod
    def _integer(fmt: str) -> bool:
        return fmt in FORMATS and FORMATS[fmt].kind == "int"

    @property
    def weight_format(self) -> Format:
        return element_format(self.weights)

    @property
    def activation_format(self) -> Format:
        return element_format(self.activations)

    @property
    def register(self) -> FixedAccumulator | FloatAccumulator:
        """The golden model's accumulator for an activations × weights MAC of this recipe."""
        return self.register_for(self.activation_format, self.weight_format)

    def register_for(self, a: Format, b: Format) -> FixedAccumulator | FloatAccumulator:
        """The accumulator of an ``a × b`` MAC of this recipe (activations × activations for
        attention's QKᵀ and AV)."""
        if UNQUANTIZED in (self.weights, self.activations) and self.accumulator.startswith("fixed"):
            raise FieldError("accumulator", f"a {self.accumulator!r} register needs quantized operands",
                             self.accumulator)
        try:
            return parse_accumulator(self.accumulator, a, b)
        except FieldError as error:
            raise FieldError("accumulator", str(error), self.accumulator) from None

    @property
    def label(self) -> str:
        gran = "" if self.weights in MX_FORMATS or self.weights == UNQUANTIZED else f" per-{self.weight_granularity}"
        mac = (f" ×{self.lanes}" if self.lanes > 1 else "") + (" bias" if self.bias != "none" else "") \
            + (f" i{self.interleave}" if self.interleave > 1 else "")
        squeeze = (f" density {self.density:g}" if self.density < 1 else "") + (f" {self.nm}" if self.nm else "") \
            + (f" {2 ** self.codebook_bits} centroids per-{self.codebook}" if self.codebook_bits else "")
        return f"W:{self.weights}{gran}{squeeze} A:{self.activations} acc:{self.accumulator}{mac}"


def parse_numerics(text: str, **defaults) -> Numerics:
    """``"int8_sym"`` (W and A), ``"int4_sym/int8_sym"`` (W/A), optionally ``…@float16``
    (accumulator) — the CLI's and sweep files' spelling of a recipe."""
    body, _, acc = text.partition("@")
    weights, _, activations = body.partition("/")
    fields = dict(defaults)
    fields["weights"] = weights.strip()
    fields["activations"] = (activations or weights).strip()
    if acc:
        fields["accumulator"] = acc.strip()
    return Numerics(**fields)


def auto_accumulator(recipe: str) -> str:
    """The accumulator a recipe gets when none is named: int32 where it holds 4096 products
    exactly (integers of 8 bits and narrower), the exact fixed-point accumulator for wider
    integers, float32 for floating-point operands."""
    weights, _, activations = recipe.partition("/")
    activations = activations or weights
    if all(f in FORMATS and FORMATS[f].kind == "int" for f in (weights, activations)):
        return "int32" if accumulator_width(activations, weights) <= 32 else "fixed"
    return "float32"
