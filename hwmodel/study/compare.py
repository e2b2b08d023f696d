"""``hwmodel compare``: the default study — FP8 against INT, from synthesized MACs to accuracy.

Three questions, one grid each, into one store and one report:

1. the whitepaper's Figure 3 and around it: int4 / int8 / int16 and the FP8 formats (the
   paper's E2M5, E3M4, E4M3, E5M2 and OCP's float8_e4m3fn, float8_e5m2) × {fixed (exact integer
   / Kulisch), float16, float32} accumulators, single MACs;
2. where the scales go: INT8 and the FP8 formats into float16 and float32 with the exponent-bias
   port (``bias = power_of_two``), against (1) without it;
3. dot-product units: 4-lane INT8, E4M3 and E5M2 units with their usual accumulators;
4. block-scaled dot-product units: MXFP8 (E4M3, E5M2), MXFP6 (E3M2, E2M3), MXFP4, MXINT8 taking a
   32-element block a cycle and NVFP4 a 16-element block, into float32, beside 32-lane INT8,
   E4M3 and E5M2 dot products (block formats' accuracy on every model, blocked along each
   product's K, convolutions included). They sit on arrays of as many
   MACs as the others' 32×32 (1×32 units of 32 lanes, 2×32 of 16), so per-inference figures
   compare like numbers of MACs; the 4-lane units of (3) are on 32×32 units (4,096 MACs);
5. compression, against the INT8 and FP8 MACs of (1): weights in four bits (W4A8 as int4_sym and
   float4_e2m1fn, beside MXFP4 of (4)), 2:4 sparse INT8 weights on 8-lane N:M units (four
   multipliers each, 8×32 of them: as many multipliers as 32×32 MACs), INT8 weights clustered into
   16 int8 centroids per output channel (4-bit indices), and half the INT8 weights pruned on
   zero-gated MACs with bitmap weight storage.

Each on a 32×32 weight-stationary array with 256/256/128 KB buffers (costed with the SRAM macros
of the MAC's own library) and one LPDDR4-3200 ×32 channel (12.8 GB/s, energy per bit of
``lpddr4``), over ResNet-50, MobileNetV2, EfficientNet-Lite0, PP-OCRv4 recognition, BERT-base, MiniLM-L6 and a
Llama-3.2-1B decode step (batch 1, 1024 cached tokens); every layer mapped by the same search for
every design. Accuracy from MiniLM-L6, EfficientNet-Lite0 (ImageNet weights, crops of real
photographs), PP-OCRv4 (rendered text lines) and the digits networks, every matmul with the
design's own arithmetic: the three real networks judge their own workloads, and stand in, named
as proxies, for the rest.
Everything it needs ships with the package or its dependencies. The whole takes about 40 minutes
cold on 2 cores; ``only`` (``hwmodel compare --only block,compression``) runs some of the five
grids (:data:`GRIDS`), into the same store and report.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd

from rtl.errors import FieldError

from hwmodel.study.run import SweepResult, run_sweep
from hwmodel.study.spec import VARIANT_DEFAULTS, SweepSpec

__all__ = ["default_study", "quick_study", "run_compare", "study_settings", "FORMATS", "GRIDS", "check_grids",
           "check_selection"]

FORMATS = ("int4_sym", "int8_sym", "int16_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz",
           "float8_e5m2fnuz", "float8_e4m3fn", "float8_e5m2")
FP8 = tuple(f for f in FORMATS if f.startswith("float8"))
MX = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8")
WORKLOADS = ("resnet50", "mobilenet_v2", "efficientnet_lite0", "ppocr_rec", "bert_base", "minilm_l6",
             "llama3_2_1b_decode")
ACCURACY = ("minilm", "efficientnet_lite0", "ppocr", "digits")  # the first three: workloads' own networks
MEMORY = {"dram_type": "lpddr4", "dram_gb_s": 12.8}  # one LPDDR4-3200 ×32 channel: 3200 MT/s × 4 bytes


GRIDS = {
    "formats": "(1) INT4/8/16, the whitepaper's FP8 formats and OCP's × fixed, float16 and float32 accumulators, "
               "single MACs",
    "bias": "(2) INT8 and the FP8 formats into float16 and float32 with the exponent-bias port",
    "dot4": "(3) 4-lane INT8, E4M3 and E5M2 dot-product units",
    "block": "(4) the block-scaled units (MXFP8, MXFP6, MXFP4, MXINT8, NVFP4) beside 32-lane INT8, E4M3 and E5M2",
    "compression": "(5) 4-bit, 2:4-sparse, clustered and pruned weights against INT8",
}
"""The default study's grids by name (``hwmodel compare --only``): one question each."""


def check_grids(only) -> tuple[str, ...]:
    """``only`` (names of :data:`GRIDS`, or None for all) in the study's order; an unknown or
    empty selection raises a :class:`FieldError` naming the grids there are."""
    if only is None:
        return tuple(GRIDS)
    names = tuple(only)
    unknown = [n for n in names if n not in GRIDS]
    if unknown or not names:
        raise FieldError("only", f"{'unknown grid ' + repr(unknown[0]) if unknown else 'no grid given'}: choose "
                                 f"from {', '.join(GRIDS)}", ",".join(names))
    return tuple(n for n in GRIDS if n in names)


def check_selection(quick: bool, only) -> tuple[str, ...] | None:
    """``only`` checked (:func:`check_grids`), None for the whole study; with ``quick`` — a
    smaller study of its own, whose grids are not these — a :class:`FieldError`."""
    if only is None:
        return None
    if quick:
        raise FieldError("only", "--only picks grids of the full study; --quick is a smaller study of its own",
                         ",".join(only))
    return check_grids(only)


def default_study(only=None) -> list[SweepSpec]:
    """The study's grids (:data:`GRIDS`), or those named in ``only``. Where the single MACs of
    (1) are left out, the INT8 MAC (int8_sym → fixed, one lane) stays: the common clock is its,
    and the compression panel measures against it."""
    common = {"workloads": WORKLOADS, "accuracy": ACCURACY, "minilm_sentences": 32, "efficientnet_crops": 16,
              "ppocr_lines": 32, "digits_seeds": 2, **MEMORY}
    grids = {
        "formats": [SweepSpec(name="compare", formats=FORMATS, accumulators=("fixed", "float16", "float32"),
                              **common)],
        "bias": [SweepSpec(name="compare", formats=("int8_sym",) + FP8, accumulators=("float16", "float32"),
                           bias=("power_of_two",), **common)],
        "dot4": [SweepSpec(name="compare", formats=("int8_sym", "float8_e4m3fnuz", "float8_e5m2fnuz"),
                           accumulators=("fixed", "float32"), lanes=(4,), bias=("none", "power_of_two"), **common)],
        # wide dot products on as many MACs as the 32×32 array of single MACs: 1×32 units of 32 lanes
        "block": [SweepSpec(name="compare", formats=("int8_sym",), accumulators=("fixed",), lanes=(32,),
                            arrays=("1x32",), **common),
                  SweepSpec(name="compare", formats=("float8_e4m3fn", "float8_e5m2") + MX, accumulators=("float32",),
                            lanes=(32,), arrays=("1x32",), **common),
                  SweepSpec(name="compare", formats=("nvfp4",), accumulators=("float32",), lanes=(16,),
                            arrays=("2x32",), **common)],
        "compression": compression_grids(common),
    }
    chosen = check_grids(only)
    reference = [] if "formats" in chosen else [SweepSpec(name="compare", formats=("int8_sym",),
                                                          accumulators=("fixed",), **common)]
    return reference + [spec for name in chosen for spec in grids[name]]


def compression_grids(common: dict, *, name: str = "compare", quick: bool = False) -> list[SweepSpec]:
    """Grid (5): pruned, clustered and 4-bit weights (the quick study: 2:4 and the codebook)."""
    int8 = {"name": name, "formats": ("int8_sym",), "accumulators": ("fixed",)}
    grids = [SweepSpec(**int8, lanes=(8,), nm=("2:4",), arrays=("8x32",), **common),
             SweepSpec(**int8, codebook_bits=(4,), **common)]
    if not quick:
        grids += [SweepSpec(**(int8 | {"formats": ("int4_sym/int8_sym", "float4_e2m1fn/int8_sym")}), **common),
                  SweepSpec(**int8, density=(0.5,), zero_gating=(True,), **common)]
    return grids


def quick_study() -> list[SweepSpec]:
    common = {"workloads": ("resnet50", "efficientnet_lite0", "ppocr_rec", "minilm_l6", "llama3_2_1b_decode"),
              "accuracy": ACCURACY, "minilm_sentences": 16, "efficientnet_crops": 8, "ppocr_lines": 16,
              "digits_seeds": 1, **MEMORY}
    return [SweepSpec(name="compare-quick", formats=("int8_sym", "float8_e4m3fnuz"), accumulators=("fixed", "float16"),
                      **common),
            SweepSpec(name="compare-quick", formats=("float8_e4m3fnuz",), accumulators=("float16",),
                      bias=("power_of_two",), **common),
            SweepSpec(name="compare-quick", formats=("mxfp4_e2m1",), accumulators=("float32",), lanes=(32,),
                      arrays=("1x32",), **common),
            *compression_grids(common, name="compare-quick", quick=True)]


def merge(results: list[SweepResult]) -> SweepResult:
    """One result from the grids' (points, MACs and accuracy rows each once)."""
    def union(frames, keys):
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        keys = [k for k in keys if k in frame]
        return frame.drop_duplicates(subset=keys or None, keep="last").reset_index(drop=True)

    variants = list(VARIANT_DEFAULTS)
    point_keys = ["workload", "a", "b", "acc", "lanes", "bias", "library", "clock_ns", "stages", *variants, "array",
                  "dataflow", "buffers_kb", "dram_bandwidth", "dram_gb_s", "dram_type", "mapping", "objective"]
    counts = {}
    for r in results:
        for stage, c in r.counts.items():
            total = counts.setdefault(stage, dict.fromkeys(c, 0))
            for k, v in c.items():
                total[k] += v
    return SweepResult(union([r.points for r in results], point_keys),
                       union([r.macs for r in results], ["a", "b", "acc", "lanes", "bias", "library", "clock_ns",
                                                         "stages", *variants]),
                       union([r.accuracy for r in results], ["model", "recipe", "size"]),
                       union([r.failures for r in results], ["stage", "params"]), counts)


def study_settings(specs: list[SweepSpec], only=None) -> str:
    """The report's account of what ran: each grid (its variant keys where they are not a plain
    MAC's), the array, library, workloads and accuracy samples; with ``only``, which grids."""
    plain_spec = SweepSpec()  # a grid's variant keys are named where they are not a plain MAC's
    parts = [f"formats {', '.join(s.formats)} × accumulators {', '.join(s.accumulators)}, lanes "
             f"{', '.join(map(str, s.lanes))}, bias {', '.join(s.bias)}"
             + "".join(f", {key} {', '.join(map(str, getattr(s, key)))}"
                       for key in ("nm", "codebook_bits", "density", "zero_gating", "interleave")
                       if getattr(s, key) != getattr(plain_spec, key))
             + (f" on {', '.join(s.arrays)} units" if s.arrays != specs[0].arrays else "") for s in specs]
    first = specs[0]
    chosen = None if only is None else check_grids(only)
    part_of = "" if chosen is None else (
        f" (only {', '.join(chosen)} of its grids {', '.join(GRIDS)}"
        + ("" if "formats" in chosen else ", with the INT8 MAC the common clock is taken from") + ")")
    return (f"Study `{first.name}`{part_of}, {len(specs)} grids: " + "; ".join(parts) + f"; weight scales per "
            f"{first.granularity}, activation scales static per tensor. Array {', '.join(first.arrays)} "
            f"{', '.join(first.dataflows)}; library {', '.join(first.libraries)}; workloads "
            f"{', '.join(first.workloads)}; MiniLM-L6 on {first.minilm_sentences} sentences, EfficientNet-Lite0 "
            f"on {first.efficientnet_crops} photograph crops, PP-OCRv4 on {first.ppocr_lines} rendered lines, "
            f"digits over {first.digits_seeds} seed(s). Each workload with a network of its own is judged on "
            "that network's accuracy; the others on a named proxy.")


def run_compare(output: str | Path = "results", *, quick: bool = False, scheduler=None, processes=None,
                cache_dir=None, progress: bool = True, clock_ns: float | None = None, only=None):
    """Run the study into ``output``: CSVs, plots and report.md. Returns (the files written,
    the sweep result). Every design is also fitted to one clock — ``clock_ns``, or the INT8
    MAC's own critical path — and reported there (:mod:`hwmodel.study.clock`). ``only``: the
    grids of the default study to run (:data:`GRIDS`; not with ``quick``, a study of its own)."""
    from hwmodel.accuracy.sqnr import PAPER_FORMATS, sqnr_table
    from hwmodel.study.clock import at_clock, int8_clock_ns
    from hwmodel.study.report import write_results

    started = time.perf_counter()
    only = check_selection(quick, only)
    specs = quick_study() if quick else default_study(only)
    output = Path(output)
    result = merge([run_sweep(spec, output, scheduler=scheduler, processes=processes, cache_dir=cache_dir,
                              progress=progress) for spec in specs])
    library = specs[0].libraries[0]
    common = clock_ns if clock_ns is not None else int8_clock_ns(result.macs, library)
    clocked = at_clock(result.macs, common, library=library, stream=specs[0].stream, cache_dir=cache_dir,
                       processes=processes, scheduler=scheduler, progress=progress)
    # per inference at the common clock: the same grids, every design fitted to it (the fits above
    # are in the synthesis cache, the accuracy in the store; a design that misses is a failed point)
    timed = merge([run_sweep(dataclasses.replace(spec, clock_ns=(common,), stages=("auto",)), output,
                             scheduler=scheduler, processes=processes, cache_dir=cache_dir, progress=progress)
                   for spec in specs])
    sqnr = sqnr_table(formats=PAPER_FORMATS + (("int4_sym", "float8_e4m3fn", "mxfp8_e4m3") if not quick else ()),
                      n=2 ** 16 if quick else 2 ** 20)
    settings = study_settings(specs, only)
    written = write_results(result, output, title="FP8 versus INT: what the formats cost, measured",
                            settings=settings, sqnr_results=sqnr, seconds=time.perf_counter() - started,
                            clocked=clocked, clocked_points=timed.points)
    return written, result
