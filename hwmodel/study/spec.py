"""A sweep spec: the grid of design points a study covers, validated before any work starts.

Read from TOML (:func:`load_sweep`) or built directly (:class:`SweepSpec`). Every key is a list
except the scalars; every value is checked here — formats, every format × accumulator × lanes
combination as the MAC it names, libraries, workloads, numbers — so a bad spec fails at once,
naming the file and key, and never after an hour of synthesis.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path

from rtl.errors import FieldError
from rtl.flow.energy import NAMED_STREAMS
from rtl.hdl.spec import BIAS_MODES, LANE_COUNTS, MAX_STAGES, MacSpec, operand_format
from rtl.numerics.codebook import CODEBOOK_BITS, check_codebook
from rtl.numerics.interleave import INTERLEAVES
from rtl.numerics.sparsity import parse_nm
from rtl.numerics.scaling import MX_FORMATS
from rtl.numerics.arith import FLOAT_ACCUMULATORS
from rtl.tech.cells import EMBEDDED_LIBRARIES

from hwmodel import config
from hwmodel.accuracy import MODELS
from hwmodel.accuracy.recipes import CODEBOOKS
from hwmodel.arch.accelerator import DATAFLOWS, MAPPINGS, OBJECTIVES, WEIGHT_STORAGES, parse_array
from hwmodel.arch.memory import DRAM_TYPES

__all__ = ["SweepSpec", "load_sweep", "KEYS", "ACCURACY_MODELS", "GRANULARITIES", "VARIANT_DEFAULTS", "variant_suffix",
           "fill_variants"]

ACCURACY_MODELS = MODELS
GRANULARITIES = ("tensor", "channel")

KEYS = {
    "name": "the study's name (default output directory results/NAME)",
    "formats": 'recipes: one format for weights and activations, or "WEIGHTS/ACTIVATIONS" (W4A8: "int4_sym/int8_sym")',
    "accumulators": "fixed (exact), fixed:WIDTH, intN, float16, bfloat16, float32",
    "lanes": f"products per step: 1 (a MAC) or a dot-product unit ({', '.join(map(str, LANE_COUNTS[1:]))})",
    "bias": "where the scales' powers of two go in float-accumulator MACs: none (after the MAC), power_of_two "
            "(into it, through an exponent-offset port); fixed accumulators take none",
    "arrays": 'PE arrays, "ROWSxCOLS"',
    "dataflows": f"{', '.join(DATAFLOWS)}",
    "buffers_kb": "[ifmap, filter, ofmap] SRAM sizes in KB",
    "libraries": f"{', '.join(EMBEDDED_LIBRARIES)} or a liberty file",
    "clock_ns": "clock periods; 0 = each MAC's own critical path",
    "stages": 'pipeline stages before the accumulation loop: 0…3 (3: float accumulators), or "auto" (the fewest meeting each clock_ns, '
              'which must then be > 0; a clock a design cannot meet fails that point, saying by how much)',
    "interleave": "partial sums in a float accumulator's loop: 1, or 2…5 to cut the loop for a faster clock (the "
                  "partial sums round-robin, folded at the end: a different summation order, in the accuracy too); "
                  "fixed accumulators take 1",
    "zero_gating": "MACs that skip zeros (operand isolation, the accumulator clock-gated): false, true",
    "nm": '"dense" or N:M sparse weights ("2:4", "1:4", "4:8"): N:M units (lanes = activations per step, a multiple '
          'of M), pruned along K in the accuracy, K condensed in the accelerator; lanes that M does not divide '
          'are skipped for that pattern',
    "density": "unstructured weight density in (0, 1]: magnitude pruning in the accuracy, zero weights in the MAC's "
               "energy stream, weight_storage in the accelerator (a dense array does not speed up); not with N:M",
    "sparsity": "fraction of zero activations in the MAC's energy stream, in [0, 1) (as hwmodel synth --sparsity)",
    "codebook_bits": f"clustered weights: 0 (none) or {'…'.join(map(str, CODEBOOK_BITS[::len(CODEBOOK_BITS) - 1]))}-bit "
                     "indices into a codebook of 2^k centroids held in the MAC (k-means in the accuracy, indices "
                     "stored and moved in the accelerator); formats a codebook cannot fill and block formats are "
                     "skipped for it",
    "centroids": "centroid formats of codebook designs (default: each recipe's weight format)",
    "codebook": f"what a codebook is shared by: {' or '.join(CODEBOOKS)}",
    "weight_storage": f"how unstructured-sparse weights (density < 1) are stored: {' or '.join(WEIGHT_STORAGES)}",
    "dram_bandwidth": "bytes per cycle; 0 = stall-free (or dram_gb_s)",
    "dram_gb_s": "DRAM bandwidth in GB/s at each design's clock, instead of dram_bandwidth; 0 = not used",
    "dram_type": "DRAM energy per bit by type: " + ", ".join(DRAM_TYPES),
    "mapping": "search (the mapper: tiles and loop order per layer) or scalesim (SCALE-Sim's fixed mapping)",
    "objective": "what the mapping search minimizes: " + ", ".join(OBJECTIVES),
    "workloads": "bundled networks (hwmodel trace NAME), .onnx or trace/SCALE-Sim .csv files",
    "accuracy": f"accuracy models: {', '.join(ACCURACY_MODELS)}",
    "stream": f"operand stream for MAC energy: {', '.join(NAMED_STREAMS)}",
    "minilm_sentences": "MiniLM test sentences",
    "efficientnet_crops": "EfficientNet-Lite0 test crops of real photographs",
    "ppocr_lines": "PP-OCRv4 rendered test text lines (its detector: one page per 8 lines)",
    "digits_seeds": "digits networks trained (splits and initialisations)",
    "granularity": f"weight scales: {' or '.join(GRANULARITIES)}",
}
"""Every key of a sweep file with what it holds (the `hwmodel sweep --help` listing)."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see :data:`KEYS`). ``where`` names the source in error messages."""

    name: str = "sweep"
    formats: tuple = ("int8_sym", "float8_e4m3fn")
    accumulators: tuple = ("fixed", "float16", "float32")
    lanes: tuple = (1,)
    bias: tuple = ("none",)
    arrays: tuple = ("32x32",)
    dataflows: tuple = ("ws",)
    buffers_kb: tuple = ((256, 256, 128),)
    libraries: tuple = ("sky130hd_tt",)
    clock_ns: tuple = (0.0,)
    stages: tuple = (0,)
    interleave: tuple = (1,)
    zero_gating: tuple = (False,)
    nm: tuple = ("dense",)
    density: tuple = (1.0,)
    sparsity: tuple = (0.0,)
    codebook_bits: tuple = (0,)
    centroids: tuple = ()
    codebook: str = "channel"
    weight_storage: str = "bitmap"
    dram_bandwidth: tuple = (0.0,)
    workloads: tuple = ("resnet50",)
    dram_gb_s: float = 0.0
    dram_type: str = "ddr3"
    mapping: str = "search"
    objective: str = "energy"
    accuracy: tuple = ("digits",)
    stream: str = "uniform"
    minilm_sentences: int = 200
    efficientnet_crops: int = 64
    ppocr_lines: int = 200
    digits_seeds: int = 3
    granularity: str = "tensor"
    where: str = dataclasses.field(default="sweep", compare=False, repr=False)

    def __post_init__(self):
        w = self.where
        config.text(self.name, w, "name")
        for key in ("formats", "accumulators", "lanes", "bias", "arrays", "dataflows", "buffers_kb", "libraries",
                    "clock_ns", "stages", "interleave", "dram_bandwidth", "workloads", "accuracy", "zero_gating",
                    "nm", "density", "sparsity", "codebook_bits"):
            value = config.text_list(getattr(self, key), w, key)
            object.__setattr__(self, key, tuple(tuple(v) if isinstance(v, list) else v for v in value))
        for key in ("formats", "accumulators", "bias", "arrays", "dataflows", "libraries", "workloads", "accuracy"):
            for value in getattr(self, key):
                config.text(value, w, key)
        for recipe in self.formats:
            for part, field in zip(recipe.split("/"), ("weights", "activations")):
                try:
                    if part.strip() not in MX_FORMATS:  # block formats: checked as whole designs below
                        operand_format(part.strip(), field)
                except FieldError as error:
                    raise FieldError("formats", f"{w}: formats: {recipe!r}: {error}", recipe) from None
            if recipe.count("/") > 1:
                raise FieldError("formats", f"{w}: formats: {recipe!r} is not FORMAT or WEIGHTS/ACTIVATIONS", recipe)
        for lanes in self.lanes:
            if config.integer(lanes, w, "lanes") not in LANE_COUNTS:
                raise FieldError("lanes", f"{w}: lanes must be among {LANE_COUNTS}, not {lanes!r}", lanes)
        for stages in self.stages:
            if stages != "auto" and (isinstance(stages, bool) or stages not in range(MAX_STAGES + 1)):
                raise FieldError("stages", f"{w}: stages must be among {tuple(range(MAX_STAGES + 1))} or \"auto\", not "
                                           f"{stages!r}", stages)
        for n in self.interleave:
            if isinstance(n, bool) or n not in INTERLEAVES:
                raise FieldError("interleave", f"{w}: interleave must be among {INTERLEAVES}, not {n!r}", n)
        self._check_compression()
        if "auto" in self.stages and any(not c for c in self.clock_ns):
            raise FieldError("stages", f"{w}: stages \"auto\" fits each design to a clock: every clock_ns must be "
                                       f"> 0, not {list(self.clock_ns)}", "auto")
        for bias in self.bias:
            if bias not in BIAS_MODES:
                raise FieldError("bias", f"{w}: bias must be among {BIAS_MODES}, not {bias!r}", bias)
        for weights, activations, acc, bias in self.designs():
            for lanes in self.lanes:
                try:
                    MacSpec.from_names(activations, weights, acc, lanes=lanes, bias=bias)
                except FieldError as error:
                    key = "accumulators" if error.field == "acc" else "formats"
                    raise FieldError(key, f"{w}: {key}: {activations} × {weights} → {acc}: {error}", acc) from None
                for b, extra in self.variants(weights, acc, lanes):
                    try:
                        MacSpec.from_names(activations, b, acc, lanes=lanes, bias=bias,
                                           **{k: v for k, v in extra.items() if k in _MAC_OPTIONS})
                    except FieldError as error:
                        key = _SPEC_KEY.get(error.field, "formats")
                        raise FieldError(key, f"{w}: {key}: {activations} × {b} → {acc} ×{lanes}{variant_suffix(extra)}: "
                                              f"{error}",
                                         getattr(error, "value", None)) from None
        self._check_compression_used()
        for array in self.arrays:
            try:
                parse_array(array)
            except FieldError as error:
                raise FieldError("arrays", f"{w}: arrays: {error}", array) from None
        for dataflow in self.dataflows:
            if dataflow not in DATAFLOWS:
                raise FieldError("dataflows", f"{w}: dataflows: {dataflow!r} is not one of {DATAFLOWS}", dataflow)
        for triple in self.buffers_kb:
            if isinstance(triple, (str, int, float)) or len(triple) != 3:
                raise FieldError("buffers_kb", f"{w}: buffers_kb entries must be [ifmap, filter, ofmap] sizes in KB, "
                                               f"not {triple!r}", triple)
            for value in triple:
                config.number(value, w, "buffers_kb", positive=True)
        for library in self.libraries:
            if library not in EMBEDDED_LIBRARIES and not Path(library).is_file():
                hint = difflib.get_close_matches(library, EMBEDDED_LIBRARIES, 1)
                raise FieldError("libraries", f"{w}: libraries: {library!r} is neither an embedded library "
                                              f"({', '.join(EMBEDDED_LIBRARIES)}) nor a file"
                                              + (f"; did you mean {hint[0]!r}?" if hint else ""), library)
        for key in ("clock_ns", "dram_bandwidth"):
            for value in getattr(self, key):
                config.number(value, w, key, minimum=0)
        _check_workloads(self.workloads, w)
        config.number(self.dram_gb_s, w, "dram_gb_s", minimum=0)
        if self.dram_gb_s and any(self.dram_bandwidth):
            raise FieldError("dram_gb_s", f"{w}: give dram_gb_s or dram_bandwidth, not both", self.dram_gb_s)
        for key, allowed in (("dram_type", tuple(DRAM_TYPES)), ("mapping", MAPPINGS), ("objective", OBJECTIVES)):
            value = config.text(getattr(self, key), w, key)
            if value not in allowed:
                hint = difflib.get_close_matches(value, allowed, 1)
                raise FieldError(key, f"{w}: {key} must be one of {allowed}, not {value!r}"
                                      + (f"; did you mean {hint[0]!r}?" if hint else ""), value)
        for model in self.accuracy:
            if model not in ACCURACY_MODELS:
                hint = difflib.get_close_matches(model, ACCURACY_MODELS, 1)
                raise FieldError("accuracy", f"{w}: accuracy: unknown model {model!r}"
                                             + (f"; did you mean {hint[0]!r}?" if hint else
                                                f" (valid: {', '.join(ACCURACY_MODELS)})"), model)
        if config.text(self.stream, w, "stream") not in NAMED_STREAMS:
            raise FieldError("stream", f"{w}: stream must be one of {NAMED_STREAMS}, not {self.stream!r}", self.stream)
        if config.text(self.granularity, w, "granularity") not in GRANULARITIES:
            raise FieldError("granularity", f"{w}: granularity must be one of {GRANULARITIES}, not "
                                            f"{self.granularity!r}", self.granularity)
        config.integer(self.minilm_sentences, w, "minilm_sentences")
        config.integer(self.digits_seeds, w, "digits_seeds")
        config.integer(self.efficientnet_crops, w, "efficientnet_crops")
        config.integer(self.ppocr_lines, w, "ppocr_lines")

    def designs(self) -> list[tuple[str, str, str, str]]:
        """(weights, activations, accumulator, bias): every recipe with each bias its
        accumulator can have (a fixed register takes none)."""
        return [(w, a, acc, bias) for w, a, acc in self.recipes() for bias in self.bias
                if bias == "none" or acc in FLOAT_ACCUMULATORS]

    def interleaves(self, acc: str) -> tuple:
        """The interleaves a design with accumulator ``acc`` is swept over: a fixed register's
        loop is one adder, so it takes 1 only."""
        return self.interleave if acc in FLOAT_ACCUMULATORS else (1,)

    def _check_compression(self) -> None:
        w = self.where
        for value in self.zero_gating:
            if not isinstance(value, bool):
                raise FieldError("zero_gating", f"{w}: zero_gating must be true or false, not {value!r}", value)
        nm = []
        for value in self.nm:
            config.text(value, w, "nm")
            try:
                parse_nm("" if value == "dense" else value)
            except FieldError as error:
                raise FieldError("nm", f"{w}: nm: {error} (or \"dense\")", value) from None
            nm.append("" if value == "dense" else value)
        object.__setattr__(self, "nm", tuple(nm))
        for value in self.density:
            if not 0 < config.number(value, w, "density") <= 1:
                raise FieldError("density", f"{w}: density is the fraction of weights kept, in (0, 1], not {value!r}",
                                 value)
        for value in self.sparsity:
            if not 0 <= config.number(value, w, "sparsity") < 1:
                raise FieldError("sparsity", f"{w}: sparsity is the fraction of zero activations, in [0, 1), not "
                                             f"{value!r}", value)
        for value in self.codebook_bits:
            if config.integer(value, w, "codebook_bits", minimum=0) and value not in CODEBOOK_BITS:
                raise FieldError("codebook_bits", f"{w}: codebook_bits must be 0 (no codebook) or one of "
                                                  f"{CODEBOOK_BITS}, not {value!r}", value)
        if isinstance(self.centroids, str) or not hasattr(self.centroids, "__iter__"):
            raise FieldError("centroids", f"{w}: centroids must be a list of formats, not {self.centroids!r}",
                             self.centroids)
        object.__setattr__(self, "centroids", tuple(self.centroids))
        for value in self.centroids:
            config.text(value, w, "centroids")
            try:
                operand_format(value, "centroids")
            except FieldError as error:
                raise FieldError("centroids", f"{w}: centroids: {error}", value) from None
        for key, allowed in (("codebook", CODEBOOKS), ("weight_storage", WEIGHT_STORAGES)):
            value = config.text(getattr(self, key), w, key)
            if value not in allowed:
                raise FieldError(key, f"{w}: {key} must be one of {allowed}, not {value!r}", value)

    def _check_compression_used(self) -> None:
        """A pattern or codebook the grid names must reach at least one design (the rules of
        :meth:`variants` skip some combinations; all of them is a mistake in the file)."""
        used = [extra for weights, _, acc, _ in self.designs() for lanes in self.lanes
                for _, extra in self.variants(weights, acc, lanes)]
        for key, values, default in (("nm", self.nm, ""), ("codebook_bits", self.codebook_bits, 0)):
            for value in values:
                if value != default and not any(e.get(key) == value for e in used):
                    why = (f"no lanes in {list(self.lanes)} is a multiple of {value.split(':')[1]}" if key == "nm" else
                           "no recipe's weight (or centroid) format is a scalar format with that many values")
                    raise FieldError(key, f"{self.where}: {key} {value!r} applies to no design: {why}", value)

    def variants(self, weights: str, acc: str, lanes: int) -> list[tuple[str, dict]]:
        """(weight format, the keys that are not their defaults) of each variant of a design
        with weights ``weights``, accumulator ``acc`` and ``lanes``: interleaves (float
        accumulators), N:M patterns (lanes a multiple of M), densities (not with N:M), codebooks
        (each centroid format that can hold them; scalar weights), zero gating
        (scalar units) and activation sparsity. A codebook design's weight format is its
        centroids'."""
        out = []
        block = weights in MX_FORMATS
        for il in self.interleaves(acc):
            for nm in self.nm:
                if nm and (block or lanes % parse_nm(nm)[1]):
                    continue
                for density in self.density:
                    if nm and density < 1:
                        continue
                    for bits in self.codebook_bits:
                        for b in ((self.centroids or (weights,)) if bits else (weights,)):
                            if bits and (b in MX_FORMATS or not _fills(bits, b)):
                                continue
                            for gating in self.zero_gating:
                                if gating and block:
                                    continue
                                for zeros in self.sparsity:
                                    extra = {"interleave": il, "nm": nm, "density": float(density),
                                             "codebook_bits": bits, "zero_gating": gating, "sparsity": float(zeros)}
                                    out.append((b, {k: v for k, v in extra.items() if v != VARIANT_DEFAULTS[k]}))
        return out

    def recipes(self) -> list[tuple[str, str, str]]:
        """(weights, activations, accumulator) combinations."""
        out = []
        for recipe in self.formats:
            weights, _, activations = recipe.partition("/")
            for acc in self.accumulators:
                out.append((weights.strip(), (activations or weights).strip(), acc))
        return out


VARIANT_DEFAULTS = {"interleave": 1, "nm": "", "density": 1.0, "codebook_bits": 0, "zero_gating": False,
                    "sparsity": 0.0}
"""A design variant's keys and the values a point leaves out (so earlier points keep their ids)."""
_MAC_OPTIONS = ("interleave", "nm", "codebook_bits", "zero_gating")
_SPEC_KEY = {"acc": "accumulators", "interleave": "interleave", "nm": "nm", "codebook_bits": "codebook_bits",
             "zero_gating": "zero_gating", "lanes": "lanes", "bias": "bias"}


def variant_suffix(row) -> str:
    """A variant's keys as a design's name carries them: `` i2`` (interleave), `` 2:4``,
    `` d0.5`` (density), `` cb4`` (a 16-entry codebook), `` zg`` (zero-gated), `` a0.5``
    (activation sparsity of the energy stream); empty for the defaults. ``row`` is any mapping;
    missing or NaN keys are defaults."""
    def get(key):
        value = row.get(key, VARIANT_DEFAULTS[key]) if hasattr(row, "get") else VARIANT_DEFAULTS[key]
        return VARIANT_DEFAULTS[key] if value is None or (isinstance(value, float) and value != value) else value

    interleave, nm, density = int(get("interleave")), get("nm"), float(get("density"))
    bits, gating, zeros = int(get("codebook_bits")), bool(get("zero_gating")), float(get("sparsity"))
    return ((f" i{interleave}" if interleave > 1 else "") + (f" {nm}" if nm else "")
            + (f" d{density:g}" if density < 1 else "") + (f" cb{bits}" if bits else "")
            + (" zg" if gating else "") + (f" a{zeros:g}" if zeros else ""))


def fill_variants(frame):
    """Give a table (a pandas DataFrame) every variant column, defaults where a row left a key out
    or a CSV read it back empty (in place; returned)."""
    for key, default in VARIANT_DEFAULTS.items():
        if key in frame:
            frame[key] = frame[key].where(frame[key].notna(), default).astype(type(default))
        else:
            frame[key] = default
    return frame


def _fills(bits: int, fmt: str) -> bool:
    try:
        check_codebook(bits, fmt)
    except FieldError:
        return False
    return True


def _check_workloads(workloads, where: str) -> None:
    from workloads.zoo import NETWORKS

    for workload in workloads:
        if workload not in NETWORKS and not Path(workload).is_file():
            hint = difflib.get_close_matches(workload, NETWORKS, 1)
            raise FieldError("workloads", f"{where}: workloads: {workload!r} is neither a known network nor a file"
                                          + (f"; did you mean {hint[0]!r}?" if hint else ""), workload)


_FIELDS = {f.name for f in dataclasses.fields(SweepSpec)} - {"where"}


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec; errors name the file, the line or the key."""
    data = config.load_toml(path)
    config.check_keys(data, _FIELDS, str(path))
    return SweepSpec(**data, where=str(path))
