"""``hwmodel sqnr`` and ``hwmodel accuracy``: bits of accuracy in theory, and accuracy of real
models with the MAC's own arithmetic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hwmodel.accuracy import MODELS
from hwmodel.cli.common import HelpFormatter, non_negative_int, output_path, positive_int, render_table

__all__ = ["register"]

SQNR_COLUMNS = ["distribution", "format", "bits", "sqnr_db", "paper_bits"]
ACCURACY_COLUMNS = ["model", "weights", "activations", "accumulator", "weight_granularity", "metric", "value"]
COMPRESSION_COLUMNS = ["density", "nm", "codebook_bits", "codebook"]  # shown when a run compresses


def cmd_sqnr(args) -> int:
    from hwmodel.accuracy.sqnr import DISTRIBUTIONS, SQNR_FORMATS, largest_paper_difference, sqnr_table
    from hwmodel.study.plots import plot_sqnr
    from rtl.numerics import formats as F
    from rtl.numerics import scaling as S

    plot = output_path(args.plot)
    formats = args.formats.split(",") if args.formats else list(SQNR_FORMATS)
    distributions = args.distributions.split(",") if args.distributions else list(DISTRIBUTIONS)
    unknown = [f for f in formats if f not in S.MX_FORMATS and f not in F.FORMATS]
    if unknown:
        F.get_format(unknown[0])  # the format table's own error, with the closest names
    results = sqnr_table(distributions, formats, n=args.samples, seed=args.seed)
    if args.json:
        print(json.dumps([{"distribution": r.distribution, "format": r.format, "bits": r.bits}
                          for r in results], indent=2))
    else:
        rows = [{**r.row(), "paper_bits": "" if r.paper_bits is None else r.paper_bits} for r in results]
        print(render_table(rows, SQNR_COLUMNS))
        print("\nbits = log2(σ / RMSE) with the MSE-optimal per-tensor scale, as an exact expectation over "
              "each distribution (MX formats: their OCP block scales, on sampled data); paper_bits: "
              "van Baalen et al. (2023) Fig. 5, read from the figure (±0.05).")
        worst = largest_paper_difference(results)
        if worst is not None:
            print(f"largest difference from the paper's Figure 5: {worst:.2f} bit")
    if plot:
        for path in plot_sqnr(results, [plot]):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _recipes(args) -> list:
    """Format × accumulator × granularity recipes from the command line; invalid pairs (an
    integer accumulator for floating-point operands) are skipped with a note."""
    from hwmodel.accuracy.qmatmul import auto_accumulator, parse_numerics

    recipes, skipped = [], []
    compressions = [dict(density=d, nm=nm, codebook_bits=bits, codebook=args.codebook)
                    for d in _list(args.density, _density, "--density") for nm in _list(args.nm, _nm, "--nm")
                    for bits in _list(args.codebook_bits, int, "--codebook-bits")
                    if not (d < 1 and nm)]  # one sparsity pattern at a time
    if not compressions:
        raise ValueError("--density below 1 and --nm both prune: give one pattern per recipe (each list may "
                         "include 1 or 'dense')")
    for spec in args.formats.split(","):
        for acc in args.acc.split(","):
            for granularity in args.granularity.split(","):
                for squeeze in compressions:
                    body = spec.strip()
                    acc_name = auto_accumulator(body) if acc.strip() == "auto" else acc.strip()
                    try:
                        recipes.append(parse_numerics(f"{body}@{acc_name}", weight_granularity=granularity.strip(),
                                                      scale_method=args.scale, lanes=args.lanes, bias=args.bias,
                                                      **squeeze))
                    except ValueError as error:
                        if "needs integer operand formats" in str(error):
                            skipped.append(f"{body}@{acc_name}")
                        elif getattr(error, "field", None) == "codebook_bits" and "has only" in str(error):
                            skipped.append(f"{body} with {squeeze['codebook_bits']}-bit codebooks ({error})")
                        else:
                            raise
    if skipped:
        print(f"note: skipped {', '.join(dict.fromkeys(skipped))} (integer accumulators need integer operands — use 'fixed' for an "
              "exact accumulator of floating-point products — and a codebook needs as many values as entries)",
              file=sys.stderr)
    if not recipes:
        raise ValueError("no valid format/accumulator combination was given")
    return recipes


def _density(text: str) -> float:
    return 1.0 if text == "dense" else float(text)


def _nm(text: str) -> str:
    return "" if text == "dense" else text


def _list(text: str, convert, flag: str) -> list:
    """A comma-separated flag's values; one that does not convert names the flag."""
    out = []
    for item in text.split(","):
        try:
            out.append(convert(item.strip()))
        except ValueError:
            raise ValueError(f"{flag}: {item.strip()!r} is not a value it takes") from None
    return list(dict.fromkeys(out))


def cmd_accuracy(args) -> int:
    from hwmodel.accuracy.studies import (ImageStudy, MinilmStudy, OcrStudy, digits_accuracy, efficientnet_accuracy,
                                          minilm_accuracy, outlier_effect, ppocr_accuracy)
    from rtl.files import atomic_write_text

    if args.model not in MODELS and Path(args.model).suffix.lower() != ".onnx":
        raise ValueError(f"--model {args.model!r} is not a model: use {', '.join(MODELS)} or an .onnx file")
    target = output_path(args.output)
    recipes = _recipes(args)
    layers = None
    if args.model == "minilm":
        study = MinilmStudy(test=args.sentences, calibration=args.calibration_sentences)
        table, layers = minilm_accuracy(recipes, study, progress=lambda i, n, label, s: print(
            f"[{i}/{n}] {label}: {s:.1f} s", file=sys.stderr, flush=True))
    elif args.model == "efficientnet_lite0":
        study = ImageStudy(test=args.crops, calibration=args.calibration_crops)
        table, layers = efficientnet_accuracy(recipes, study, progress=lambda i, n, label, s: print(
            f"[{i}/{n}] {label}: {s:.1f} s", file=sys.stderr, flush=True))
    elif args.model == "ppocr":
        study = OcrStudy(test=args.lines, calibration=args.calibration_lines, pages=args.pages)
        table, layers = ppocr_accuracy(recipes, study, progress=lambda i, n, label, s: print(
            f"[{i}/{n}] {label}: {s:.1f} s", file=sys.stderr, flush=True))
    elif args.model == "digits":
        table = digits_accuracy(recipes, seeds=tuple(range(args.seeds)))
    else:
        from hwmodel.accuracy.models.onnx_model import OnnxStudy, load_arrays, onnx_accuracy
        if not (args.calibration and args.evaluation):
            raise ValueError("an ONNX model needs --calibration X.npy and --evaluation Y.npy (and optionally --labels)")
        table = onnx_accuracy(OnnxStudy(*load_arrays(args.model, args.calibration, args.evaluation, args.labels),
                                        name=Path(args.model).stem), recipes)
    if args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        columns = ACCURACY_COLUMNS + (COMPRESSION_COLUMNS if any(r.compressed for r in recipes) else [])
        print(render_table(table[columns].to_dict("records"), columns))
        if args.model == "minilm":
            print("\n" + outlier_effect(table))
    if target:
        written = [atomic_write_text(target, table.to_csv(index=False))]
        if layers is not None:
            written.append(atomic_write_text(target.with_name(target.stem + "_layers.csv"), layers.to_csv(index=False)))
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def register(sub) -> None:
    from hwmodel.accuracy.qmatmul import SCALE_METHODS
    from rtl.hdl.spec import BIAS_MODES, LANE_COUNTS

    p = sub.add_parser("sqnr", help="bits of accuracy per format on uniform, Gaussian and Student-t data",
                       formatter_class=HelpFormatter,
                       description="The whitepaper's Section 4.1 theory: log2(σ / RMSE) with an MSE-optimal "
                                   "per-tensor scale, beside its Figure 5.")
    p.add_argument("--formats", help="comma-separated formats (default: the paper's five, INT4, FP4, FP6, OCP FP8, MX)")
    p.add_argument("--distributions", help="comma-separated: uniform,gaussian,student_t3 (default: all three)")
    p.add_argument("--samples", type=positive_int, default=2 ** 20, help="samples for the MX formats")
    p.add_argument("--seed", type=int, default=0, help="seed of the MX samples")
    p.add_argument("--plot", default="results/sqnr.png", metavar="FILE.png|FILE.svg",
                   help="where to write the plot ('' for none)")
    p.add_argument("--json", action="store_true", help="distribution, format and bits as JSON")
    p.set_defaults(func=cmd_sqnr, parser=p)

    p = sub.add_parser("accuracy", help="accuracy per format with the MAC's own arithmetic", formatter_class=HelpFormatter,
                       description="Quantize a model's matmuls to each format and accumulate as the hardware "
                                   "does: MiniLM-L6 sentence embeddings, EfficientNet-Lite0 on crops of real "
                                   "photographs (ImageNet weights), PP-OCRv4 on rendered text lines (recognition, "
                                   "direction, detection), the digits MLP/CNN, or your ONNX model.")
    p.add_argument("--model", required=True, metavar="|".join(MODELS) + "|FILE.onnx", help="the model")
    p.add_argument("--formats", default="int8_sym,float8_e4m3fn",
                   help="comma-separated recipes: FORMAT (weights and activations) or WEIGHTS/ACTIVATIONS, "
                        "e.g. int8_sym,int4_sym/int8_sym,mxfp8_e4m3")
    p.add_argument("--acc", default="auto", help="comma-separated accumulators: intN, fixed, float16, bfloat16, "
                                                 "float32, exact; auto = int32 for integer operands up to 8 bits, "
                                                 "fixed for wider ones, else float32")
    p.add_argument("--granularity", default="tensor", help="weight scales: tensor, channel or both (tensor,channel)")
    p.add_argument("--scale", default=SCALE_METHODS[0], choices=SCALE_METHODS, help="how scales are chosen")
    p.add_argument("--lanes", type=int, default=1, choices=LANE_COUNTS, metavar="N",
                   help=f"products per accumulator rounding: the MAC's lanes, one of {', '.join(map(str, LANE_COUNTS))}")
    p.add_argument("--bias", default=BIAS_MODES[0], choices=BIAS_MODES,
                   help="where the scales' powers of two go: after the MAC (none) or into it (power_of_two)")
    p.add_argument("--density", default="1",
                   help="comma-separated fractions of each layer's weights kept by magnitude pruning, in (0, 1] "
                        "(1 or 'dense': none)")
    p.add_argument("--nm", default="dense", metavar="N:M[,…]",
                   help="comma-separated N:M sparsity of the weights along K (2:4, 1:4, 4:8; 'dense': none)")
    p.add_argument("--codebook-bits", default="0", metavar="K[,…]",
                   help="comma-separated k: weights clustered by k-means into 2^k centroids in the weight format "
                        "(2…6; 0: none)")
    p.add_argument("--codebook", default="layer", choices=("layer", "channel"),
                   help="one codebook of centroids per layer or per output channel")
    p.add_argument("--sentences", type=positive_int, default=500, help="MiniLM test sentences")
    p.add_argument("--calibration-sentences", type=positive_int, default=64, help="MiniLM calibration sentences")
    p.add_argument("--crops", type=positive_int, default=64, help="EfficientNet-Lite0: test crops of the test photographs")
    p.add_argument("--calibration-crops", type=positive_int, default=16,
                   help="EfficientNet-Lite0: calibration crops (of other photographs)")
    p.add_argument("--lines", type=positive_int, default=200, help="PP-OCRv4: rendered test text lines")
    p.add_argument("--calibration-lines", type=positive_int, default=32,
                   help="PP-OCRv4: calibration lines (none of them a test line)")
    p.add_argument("--pages", type=non_negative_int, default=4, help="PP-OCRv4: rendered pages for the detector (0: skip it)")
    p.add_argument("--seeds", type=positive_int, default=5, help="digits: seeds (splits and initialisations)")
    p.add_argument("--calibration", metavar="X.npy|X.npz",
                   help="ONNX: calibration inputs, batch first (.npz: one array per input name)")
    p.add_argument("--evaluation", metavar="Y.npy|Y.npz", help="ONNX: evaluation inputs (as --calibration)")
    p.add_argument("--labels", metavar="L.npy", help="ONNX: integer labels of the evaluation inputs")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="write the rows as CSV (MiniLM, EfficientNet-Lite0 and "
                                                                       "PP-OCRv4 also FILE_layers.csv, per site)")
    p.add_argument("--json", action="store_true", help="the rows as JSON")
    p.set_defaults(func=cmd_accuracy, parser=p)
