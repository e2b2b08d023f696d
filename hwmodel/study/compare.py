"""``hwmodel compare``: the default study — FP8 against INT, from synthesized MACs to accuracy.

int4 / int8 / int16 and the FP8 formats (the whitepaper's E2M5, E3M4, E4M3, E5M2 and OCP's
float8_e4m3fn, float8_e5m2) × {fixed (exact integer / Kulisch), float16, float32} accumulators,
single MACs and 4-lane dot-product units, on a 32×32 weight-stationary array with 256/256/128 KB
buffers, over ResNet-50, MobileNetV2, BERT-base and MiniLM-L6; accuracy from MiniLM-L6 and the
digits networks. Everything it needs ships with the package or its dependencies.
"""

from __future__ import annotations

import time
from pathlib import Path

from hwmodel.study.run import run_sweep
from hwmodel.study.spec import SweepSpec

__all__ = ["default_study", "quick_study", "run_compare"]

FORMATS = ("int4_sym", "int8_sym", "int16_sym", "float8_e2m5fnuz", "float8_e3m4fnuz", "float8_e4m3fnuz",
           "float8_e5m2fnuz", "float8_e4m3fn", "float8_e5m2")


def default_study() -> SweepSpec:
    return SweepSpec(name="compare", formats=FORMATS, accumulators=("fixed", "float16", "float32"), lanes=(1, 4),
                     workloads=("resnet50", "mobilenet_v2", "bert_base", "minilm_l6"),
                     accuracy=("minilm", "digits"), minilm_sentences=64, digits_seeds=2)


def quick_study() -> SweepSpec:
    return SweepSpec(name="compare-quick", formats=("int8_sym", "float8_e4m3fnuz"),
                     accumulators=("fixed", "float16"), lanes=(1,), workloads=("resnet50", "minilm_l6"),
                     accuracy=("minilm", "digits"), minilm_sentences=24, digits_seeds=1)


def run_compare(output: str | Path = "results", *, quick: bool = False, scheduler=None, processes=None,
                cache_dir=None, progress: bool = True):
    """Run the study into ``output``: CSVs, plots and report.md. Returns (the files written,
    the sweep result)."""
    from hwmodel.study.report import write_results
    from hwmodel.accuracy.sqnr import PAPER_FORMATS, sqnr_table

    started = time.perf_counter()
    spec = quick_study() if quick else default_study()
    output = Path(output)
    result = run_sweep(spec, output, scheduler=scheduler, processes=processes, cache_dir=cache_dir, progress=progress)
    sqnr = sqnr_table(formats=PAPER_FORMATS + (("int4_sym", "float8_e4m3fn", "mxfp8_e4m3") if not quick else ()),
                      n=2 ** 16 if quick else 2 ** 20)
    settings = (f"Study `{spec.name}`: formats {', '.join(spec.formats)}; accumulators {', '.join(spec.accumulators)}; "
                f"lanes {', '.join(map(str, spec.lanes))}; array {', '.join(spec.arrays)} {', '.join(spec.dataflows)}; "
                f"library {', '.join(spec.libraries)}; workloads {', '.join(spec.workloads)}; MiniLM on "
                f"{spec.minilm_sentences} sentences, digits over {spec.digits_seeds} seed(s).")
    written = write_results(result, output, title="FP8 versus INT: what the formats cost, measured",
                            settings=settings, sqnr_results=sqnr, seconds=time.perf_counter() - started)
    return written, result
