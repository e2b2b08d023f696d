"""The ``hwmodel`` command line.

Each subcommand is a function taking parsed arguments and returning an exit code. Library code
raises ``ValueError`` / ``TypeError``; only :func:`main` turns them into a message on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from rtl.numerics import formats as F
from rtl.numerics import scaling as S

__all__ = ["main"]


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table with a header and right-aligned numbers."""
    cells = [[_number(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) for r in rows)
               for c in columns]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


FORMAT_COLUMNS = ["name", "kind", "bits", "exp_bits", "man_bits", "bias", "special", "min", "max",
                  "min_normal", "min_subnormal", "finite_values"]
MX_COLUMNS = ["name", "element", "block_size", "scale", "bits_per_element", "element_emax"]


def cmd_formats(args) -> int:
    scalar_names = [n for n in args.names if n not in S.MX_FORMATS] if args.names else list(F.FORMATS)
    mx_names = [n for n in args.names if n in S.MX_FORMATS] if args.names else list(S.MX_FORMATS)
    scalars = [F.get_format(n).describe() for n in scalar_names]
    mx = [S.get_mx_format(n).describe() for n in mx_names]
    if args.json:
        print(json.dumps(scalars + [dict(m, kind="mx") for m in mx], indent=2))
        return 0
    if scalars:
        print(render_table(scalars, FORMAT_COLUMNS))
    if mx:
        print(("\n" if scalars else "") + "MX block formats (OCP MX v1.0)")
        print(render_table(mx, MX_COLUMNS))
    if not args.names:
        print("\nThe FP8 formats of van Baalen et al. (2023): "
              + ", ".join(f"{k} = {v}" for k, v in F.WHITEPAPER_FP8.items()))
    return 0


def _spec_from_args(args):
    from rtl.hdl.spec import MacSpec

    missing = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--acc", args.acc)) if value is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}" + (" (or use --standard)" if hasattr(args, "standard") else ""))
    return MacSpec.from_names(args.a, args.b, args.acc, lanes=args.lanes, stages=args.stages, flush_to_zero=args.ftz,
                              saturate=args.saturate, guard_bits=args.guard_bits)


def _add_spec_arguments(p):
    p.add_argument("--a", type=_format_name, metavar="FORMAT", help="format of operand a")
    p.add_argument("--b", type=_format_name, metavar="FORMAT", help="format of operand b")
    p.add_argument("--acc", metavar="ACC",
                   help="float16, bfloat16, float32, intN (e.g. int32), fixed (exact width) or fixed:WIDTH")
    p.add_argument("--lanes", type=int, default=1, help="products summed per step (1, 2, 4, 8, 16, 32)")
    p.add_argument("--stages", type=int, default=0, help="pipeline register stages (0..2); latency = stages + 1")
    p.add_argument("--ftz", action="store_true", help="float accumulator flushes subnormal results to zero")
    p.add_argument("--saturate", action="store_true", help="fixed accumulator saturates instead of wrapping")
    p.add_argument("--guard-bits", type=int, default=12, help="guard bits of `--acc fixed` (default 12: 4096 terms)")


def _library_from_args(args) -> str:
    if args.liberty:
        from pathlib import Path
        if not Path(args.liberty).is_file():
            raise ValueError(f"--liberty {args.liberty}: no such file")
        return args.liberty
    return args.library


def cmd_synth(args) -> int:
    from rtl.flow.characterize import DEFAULT_CACHE, characterize

    spec = _spec_from_args(args)
    curve = tuple(float(t) for t in args.curve.split(",")) if args.curve else ()
    cost = characterize(spec, _library_from_args(args), args.stream, tool=args.tool,
                        clock_ns=args.clock_ns, macs=args.macs, sparsity=args.sparsity,
                        delay_targets_ns=curve, cache_dir=None if args.no_cache else (args.cache_dir or DEFAULT_CACHE))
    if args.json:
        print(cost.to_json())
        return 0
    print(f"{spec.name} on {cost.library}")
    print(f"  area            {cost.area_um2:10.1f} µm²   ({cost.nand2_equivalent:.0f} NAND2-equivalents, "
          f"sequential {cost.sequential_area_um2:.1f} µm²)")
    print("  by stage        " + ", ".join(f"{k} {v:.1f}" for k, v in cost.stage_area_um2.items()) + " µm²")
    print(f"  critical path   {cost.critical_path_ns:10.3f} ns    ({1e3 / cost.critical_path_ns:.0f} MHz)")
    print(f"  energy          {cost.energy_pj_per_mac:10.4f} pJ/MAC on the {cost.stream} stream at "
          f"{cost.clock_ns:.3f} ns (" + ", ".join(f"{k} {v:.4f}" for k, v in cost.energy_breakdown_pj_per_mac.items()) + ")")
    print(f"  leakage         {cost.leakage_nw:10.3f} nW")
    for target, area, delay in cost.area_vs_delay:
        print(f"  target {target:6.3f} ns -> {area:10.1f} µm², critical path {delay:.3f} ns")
    print(f"  tools           {cost.provenance['yosys']}, amaranth {cost.provenance['amaranth']}")
    return 0


def cmd_mac_table(args) -> int:
    from hwmodel.study.mac_table import build_mac_table, render_mac_table, write_mac_table
    from rtl.flow.characterize import DEFAULT_CACHE

    libraries = tuple(args.libraries.split(","))
    table = build_mac_table(libraries, stream=args.stream, processes=args.processes,
                            cache_dir=None if args.no_cache else (args.cache_dir or DEFAULT_CACHE), tool=args.tool)
    print(render_mac_table(table))
    if args.output:
        for path in write_mac_table(table, args.output):
            print(f"wrote {path}")
    return 0


SQNR_COLUMNS = ["distribution", "format", "bits", "sqnr_db", "paper_bits"]


def cmd_sqnr(args) -> int:
    from hwmodel.study.plots import plot_sqnr
    from hwmodel.accuracy.sqnr import DISTRIBUTIONS, SQNR_FORMATS, sqnr_table

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
    if args.plot:
        for path in plot_sqnr(results, [args.plot]):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _recipes(args) -> list:
    """Format × accumulator × granularity recipes from the command line; invalid pairs (an
    integer accumulator for floating-point operands) are skipped with a note."""
    from hwmodel.accuracy.qmatmul import parse_numerics

    recipes, skipped = [], []
    for spec in args.formats.split(","):
        for acc in args.acc.split(","):
            for granularity in args.granularity.split(","):
                body = spec.strip()
                if acc == "auto":
                    acc_name = _auto_accumulator(body)
                else:
                    acc_name = acc.strip()
                try:
                    recipes.append(parse_numerics(f"{body}@{acc_name}", weight_granularity=granularity.strip(),
                                                  scale_method=args.scale, block=args.block))
                except ValueError as error:
                    if "needs integer operand formats" not in str(error):
                        raise
                    skipped.append(f"{body}@{acc_name}")
    if skipped:
        print(f"note: skipped {', '.join(skipped)} (integer accumulators need integer operands; "
              "use 'fixed' for an exact accumulator of floating-point products)", file=sys.stderr)
    if not recipes:
        raise ValueError("no valid format/accumulator combination was given")
    return recipes


def _auto_accumulator(recipe: str) -> str:
    """int32 where it holds 4096 products exactly (int8 and narrower), the exact fixed-point
    accumulator for wider integers, float32 for floating-point operands."""
    from rtl.numerics.arith import accumulator_width

    weights, _, activations = recipe.partition("/")
    activations = activations or weights
    if all(f in F.FORMATS and F.FORMATS[f].kind == "int" for f in (weights, activations)):
        return "int32" if accumulator_width(activations, weights) <= 32 else "fixed"
    return "float32"


ACCURACY_COLUMNS = ["model", "weights", "activations", "accumulator", "weight_granularity", "metric", "value"]


def cmd_accuracy(args) -> int:
    import pandas as pd

    from hwmodel.accuracy.studies import MinilmStudy, digits_accuracy, minilm_accuracy
    from rtl.files import atomic_write_text

    recipes = _recipes(args)
    layers = None
    if args.model == "minilm":
        study = MinilmStudy(test=args.sentences, calibration=args.calibration_sentences)
        table, layers = minilm_accuracy(recipes, study, progress=lambda i, n, label, s: print(
            f"[{i}/{n}] {label}: {s:.1f} s", file=sys.stderr, flush=True))
    elif args.model == "digits":
        table = digits_accuracy(recipes, seeds=tuple(range(args.seeds)))
    else:
        from hwmodel.accuracy.models.onnx_model import OnnxStudy, load_arrays, onnx_accuracy
        if not (args.calibration and args.evaluation):
            raise ValueError("an ONNX model needs --calibration X.npy and --evaluation Y.npy (and optionally --labels)")
        from pathlib import Path
        table = onnx_accuracy(OnnxStudy(*load_arrays(args.model, args.calibration, args.evaluation, args.labels),
                                        name=Path(args.model).stem), recipes)
    if args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        print(render_table(table[ACCURACY_COLUMNS].to_dict("records"), ACCURACY_COLUMNS))
        if args.model == "minilm":
            print("\n" + outlier_effect(table))
    if args.output:
        written = [atomic_write_text(args.output, table.to_csv(index=False))]
        if layers is not None:
            from pathlib import Path
            target = Path(args.output)
            written.append(atomic_write_text(target.with_name(target.stem + "_layers.csv"), layers.to_csv(index=False)))
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def outlier_effect(table) -> str:
    """Whether FP8-E4M3 beats INT8 with per-tensor scales (the whitepaper's BERT observation)."""
    pick = table[(table.metric == "cosine_mean") & (table.weights == table.activations)]
    def best(formats):
        rows = pick[pick.weights.isin(formats) & (pick.weight_granularity == "tensor")]
        return None if rows.empty else rows.loc[rows.value.idxmax()]
    fp8, int8 = best(["float8_e4m3fn", "float8_e4m3fnuz"]), best(["int8_sym", "int8"])
    if fp8 is None or int8 is None:
        return "outlier effect: needs int8_sym and float8_e4m3fn with per-tensor weights in the formats"
    verdict = "appears" if fp8.value > int8.value else "does not appear"
    return (f"outlier effect (FP8-E4M3 beats INT8 per-tensor, as the whitepaper found on BERT) {verdict} on "
            f"MiniLM: mean cosine {fp8.weights} {fp8.value:.5f} vs {int8.weights} {int8.value:.5f}")


def cmd_compare(args) -> int:
    from hwmodel.study.compare import run_compare

    written = run_compare(args.output, quick=args.quick, scheduler=args.scheduler, processes=args.processes,
                          cache_dir=args.cache_dir)
    report = [p for p in written if p.name == "report.md"][0]
    print(report.read_text())
    print(f"wrote {len(written)} files to {report.parent}/ (report.md, CSVs, plots)", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    from pathlib import Path

    from hwmodel.study.report import write_results
    from hwmodel.study.run import load_sweep, run_sweep

    spec = load_sweep(args.spec)
    output = Path(args.output or Path("results") / spec.name)
    result = run_sweep(spec, output, scheduler=args.scheduler, processes=args.processes, cache_dir=args.cache_dir)
    write_results(result, output, title=f"Sweep {spec.name}", settings=f"Spec: `{args.spec}`.")
    print(f"{len(result.points)} points, {len(result.macs)} MACs, {len(result.failures)} failures → {output}/")
    return 0


TRACE_COLUMNS = ["name", "kind", "gemm_m", "gemm_n", "gemm_k", "gemm_count", "macs", "weight_elems",
                 "output_elems", "elements"]


def cmd_trace(args) -> int:
    from workloads.scalesim import write_scalesim
    from workloads.zoo import load_trace

    trace = load_trace(args.source, batch=args.batch, seq=args.seq, keep_bn=args.keep_bn, strict=args.strict)
    rows = trace.layers[TRACE_COLUMNS].to_dict("records")
    print(render_table(rows, TRACE_COLUMNS))
    totals = trace.totals()
    print(f"\n{totals['network']}: {totals['layers']} layers ({totals['mac_layers']} with MACs), "
          f"{totals['gmacs']:.3f} GMAC, {totals['weights_m']:.3f} M weights, "
          f"{totals['activations_m']:.3f} M activations, {totals['vector_elements_m']:.3f} M vector-op elements")
    for note in trace.notes:
        print(f"note: {note}")
    if args.output:
        from rtl.files import atomic_write_text
        if args.scalesim:
            text, notes = write_scalesim(trace, args.scalesim)
            for note in notes:
                print(f"note: {note}")
        else:
            text = trace.to_csv()
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    return 0


RUN_COLUMNS = ["name", "kind", "macs", "compute_cycles", "stall_cycles", "utilization", "dram_bytes", "energy_pj"]


def cmd_run(args) -> int:
    from hwmodel.arch.accelerator import PeCost, load_accelerator, parse_array
    from hwmodel.arch.evaluate import evaluate
    from rtl.flow.characterize import DEFAULT_CACHE, characterize
    from workloads.zoo import load_trace

    rows, cols = parse_array(args.array)
    trace = load_trace(args.workload, batch=args.batch, seq=args.seq)
    spec = _spec_from_args(args)
    cost = characterize(spec, _library_from_args(args), tool=args.tool,
                        cache_dir=None if args.no_cache else (args.cache_dir or DEFAULT_CACHE))
    widths = {"array_rows": rows, "array_cols": cols, "dataflow": args.dataflow,
              "activation_bits": spec.a.bits, "weight_bits": spec.b.bits,
              "accumulator_bits": spec.acc_width, "output_bits": spec.a.bits}
    accelerator = load_accelerator(args.config or {}, pe=PeCost.from_mac_cost(cost), **widths)
    result = evaluate(accelerator, trace)
    if args.csv:
        sys.stdout.write(result.layers.to_csv(index=False))
        return 0
    if args.json:
        print(json.dumps({"summary": result.summary, "layers": result.layers.to_dict("records")}, default=float))
        return 0
    print(render_table(result.layers[RUN_COLUMNS].to_dict("records"), RUN_COLUMNS))
    s = result.summary
    print(f"\n{trace.network} on {rows}x{cols} {args.dataflow}, PE {spec.name} ({cost.library}):")
    print(f"  {s['macs'] / 1e9:.3f} GMAC in {s['cycles']:,} cycles = {s['latency_ms']:.3f} ms at "
          f"{accelerator.clock:.3f} ns; utilization {s['utilization']:.1%}")
    print(f"  energy {s['energy_uj']:.1f} µJ/inference (MAC {s['energy_mac_uj']:.1f}, SRAM {s['energy_sram_uj']:.1f}, "
          f"DRAM {s['energy_dram_uj']:.1f}, leakage {s['energy_leakage_uj']:.3f})")
    print(f"  {s['tops']:.3f} TOPS, {s['tops_per_w']:.3f} TOPS/W, {s['tops_per_mm2']:.3f} TOPS/mm², "
          f"{s['inferences_per_s']:.1f} inferences/s, area {s['area_mm2']:.3f} mm²")
    return 0


def cmd_rtl(args) -> int:
    from rtl.hdl.spec import standard_specs
    from rtl.hdl.verilog import emit_verilog, write_standard_set, write_verilog

    if args.standard:
        if not args.output:
            raise ValueError("--standard needs -o DIR")
        paths = write_standard_set(args.output)
        if args.json:
            print(json.dumps([s.describe() for s in standard_specs()], indent=2))
        else:
            print("\n".join(str(p) for p in paths))
        return 0
    spec = _spec_from_args(args)
    if args.output:
        write_verilog(spec, args.output)
    if args.json:
        print(json.dumps(spec.describe(), indent=2))
    elif not args.output:
        sys.stdout.write(emit_verilog(spec))
    return 0


def _format_name(text: str) -> str:
    """argparse type: accept scalar or MX format names, reject others with suggestions."""
    if text in F.FORMATS or text in S.MX_FORMATS:
        return text
    hint = F.closest_names(text, list(F.FORMATS) + list(S.MX_FORMATS))
    raise argparse.ArgumentTypeError(
        f"unknown format {text!r}" + (f"; closest valid names: {', '.join(hint)}" if hint else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwmodel",
        description="What a number format really costs: MAC hardware, synthesis, workloads, accuracy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("formats", help="print the number-format table",
                       description="Print every number format (or the named ones) with its range.")
    p.add_argument("names", nargs="*", type=_format_name, metavar="NAME",
                   help="formats to show (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects, for tools")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser(
        "rtl", help="emit Verilog for a MAC or dot-product unit",
        description="Emit the Verilog module of a multiply-accumulate (or N-lane dot-product) unit.")
    _add_spec_arguments(p)
    p.add_argument("--standard", action="store_true", help="write the standard set into the -o directory")
    p.add_argument("-o", "--output", metavar="PATH", help="output .v file (or directory with --standard); default stdout")
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON")
    p.set_defaults(func=cmd_rtl)

    def add_synthesis_options(p):
        p.add_argument("--library", default="sky130hd_tt", choices=["sky130hd_tt", "nangate45_typ"],
                       help="embedded cell library (default sky130hd_tt)")
        p.add_argument("--liberty", metavar="PATH", help="a full liberty file (plain or .gz) instead")
        p.add_argument("--stream", default="uniform", choices=["uniform", "gaussian", "laplace", "student_t"],
                       help="operand stream for energy (default uniform random codes)")
        p.add_argument("--tool", default="yowasp", choices=["yowasp", "native"], help="which Yosys to run")
        p.add_argument("--no-cache", action="store_true", help="recompute instead of using the cache")
        p.add_argument("--cache-dir", metavar="DIR", help="cache directory (default ~/.cache/hwmodel/mac)")

    p = sub.add_parser("synth", help="synthesize a MAC: area, timing, energy",
                       description="Synthesize a MAC onto standard cells and measure its area by stage, "
                                   "critical path and energy per MAC on an operand stream.")
    _add_spec_arguments(p)
    add_synthesis_options(p)
    p.add_argument("--sparsity", type=float, default=0.0, help="fraction of zero a-operands in the stream")
    p.add_argument("--macs", type=int, default=1 << 18, help="MACs simulated for energy (default 262144)")
    p.add_argument("--clock-ns", type=float, help="clock period for leakage energy (default: critical path)")
    p.add_argument("--curve", metavar="NS,NS,...", help="also synthesize at these delay targets (area vs clock)")
    p.add_argument("--json", action="store_true", help="print the MacCost as JSON")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("trace", help="layer trace of a network (name, .onnx or .csv)",
                       description="Print the per-layer trace and totals of a bundled network, an ONNX "
                                   "model, or a trace / SCALE-Sim topology CSV.")
    p.add_argument("source", metavar="NAME|FILE.onnx|FILE.csv")
    p.add_argument("--batch", type=int, help="batch size (default 1)")
    p.add_argument("--seq", type=int, help="sequence length (transformers)")
    p.add_argument("--keep-bn", action="store_true", help="keep BatchNormalization as its own op")
    p.add_argument("--strict", action="store_true", help="unsupported ONNX ops are an error")
    p.add_argument("--scalesim", choices=["conv", "gemm"], help="write -o as a SCALE-Sim topology")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="write the trace")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("run", help="a workload on an accelerator of synthesized MACs",
                       description="Evaluate a workload on a systolic array whose PE is the synthesized MAC: "
                                   "per-layer cycles, traffic and energy, and the per-inference summary.")
    p.add_argument("--workload", required=True, metavar="NAME|FILE.onnx|FILE.csv")
    p.add_argument("--array", default="32x32", help="rows x cols (default 32x32)")
    p.add_argument("--dataflow", default="ws", choices=["ws", "os", "is"])
    p.add_argument("--config", metavar="accel.toml", help="accelerator fields (buffers, DRAM, clock …)")
    p.add_argument("--batch", type=int)
    p.add_argument("--seq", type=int)
    _add_spec_arguments(p)
    add_synthesis_options(p)
    p.add_argument("--csv", action="store_true", help="one row per layer with its compute cycles, for tools")
    p.add_argument("--json", action="store_true", help="summary and layers as JSON")
    p.set_defaults(func=cmd_run, a="int8_sym", b="int8_sym", acc="int32")

    p = sub.add_parser("sqnr", help="bits of accuracy per format on uniform, Gaussian and Student-t data",
                       description="The whitepaper's Section 4.1 theory: log2(σ / RMSE) with an MSE-optimal "
                                   "per-tensor scale, beside its Figure 5.")
    p.add_argument("--formats", help="comma-separated formats (default: the paper's five, INT4, FP4, FP6, OCP FP8, MX)")
    p.add_argument("--distributions", help="comma-separated: uniform,gaussian,student_t3 (default all)")
    p.add_argument("--samples", type=int, default=2 ** 20, help="samples for the MX formats (default 2^20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="results/sqnr.png", metavar="FILE.png|FILE.svg",
                   help="where to write the plot (default results/sqnr.png; '' for none)")
    p.add_argument("--json", action="store_true", help="distribution, format and bits as JSON")
    p.set_defaults(func=cmd_sqnr)

    p = sub.add_parser("accuracy", help="accuracy per format with the MAC's own arithmetic",
                       description="Quantize a model's matmuls to each format and accumulate as the hardware "
                                   "does: MiniLM-L6 sentence embeddings, the digits MLP/CNN, or your ONNX model.")
    p.add_argument("--model", required=True, metavar="minilm|digits|FILE.onnx")
    p.add_argument("--formats", default="int8_sym,float8_e4m3fn",
                   help="comma-separated recipes: FORMAT (weights and activations) or WEIGHTS/ACTIVATIONS, "
                        "e.g. int8_sym,int4_sym/int8_sym,mxfp8_e4m3")
    p.add_argument("--acc", default="auto", help="comma-separated accumulators: intN, fixed, float16, bfloat16, "
                                                 "float32, exact; auto = int32 for integer operands up to 8 bits, "
                                                 "fixed for wider ones, else float32")
    p.add_argument("--granularity", default="tensor", help="weight scales: tensor, channel or both (tensor,channel)")
    p.add_argument("--scale", default="mse", choices=["mse", "absmax"])
    p.add_argument("--block", type=int, default=1, help="products per accumulator rounding (MAC lanes; default 1)")
    p.add_argument("--sentences", type=int, default=500, help="MiniLM test sentences (default 500)")
    p.add_argument("--calibration-sentences", type=int, default=64)
    p.add_argument("--seeds", type=int, default=5, help="digits: seeds (splits and initialisations)")
    p.add_argument("--calibration", metavar="X.npy", help="ONNX: calibration inputs (batch first)")
    p.add_argument("--evaluation", metavar="Y.npy", help="ONNX: evaluation inputs")
    p.add_argument("--labels", metavar="L.npy", help="ONNX: integer labels of the evaluation inputs")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="write the rows as CSV (MiniLM also FILE_layers.csv)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_accuracy)

    for name, helptext in (("compare", "the default FP8-versus-INT study: results/ with CSVs, plots, report.md"),
                           ("sweep", "run a sweep spec (TOML): synthesis, accelerator model, accuracy")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        if name == "compare":
            p.add_argument("--quick", action="store_true", help="a one-minute version of the study")
            p.add_argument("-o", "--output", default="results", metavar="DIR")
        else:
            p.add_argument("spec", metavar="SPEC.toml")
            p.add_argument("-o", "--output", metavar="DIR", help="default results/<name>")
        p.add_argument("--scheduler", metavar="ADDRESS", help="run synthesis on this Dask scheduler (tcp://host:8786)")
        p.add_argument("--processes", type=int, help="local synthesis processes (default: cores)")
        p.add_argument("--cache-dir", metavar="DIR", help="MAC characterization cache (default ~/.cache/hwmodel/mac)")
        p.set_defaults(func=cmd_compare if name == "compare" else cmd_sweep)

    p = sub.add_parser("mac-table", help="the whitepaper's Figure 3 measured, and more rows",
                       description="Synthesize INT8 and the FP8 formats with fixed, float16 and float32 "
                                   "accumulators (and rows the paper lacks) and compare with the paper.")
    p.add_argument("--libraries", default="sky130hd_tt,nangate45_typ", help="comma-separated libraries or liberty paths")
    p.add_argument("--stream", default="uniform", choices=["uniform", "gaussian", "laplace", "student_t"])
    p.add_argument("--processes", type=int, default=None, help="parallel synthesis processes (default: cores)")
    p.add_argument("--tool", default="yowasp", choices=["yowasp", "native"])
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--cache-dir", metavar="DIR")
    p.add_argument("-o", "--output", metavar="DIR", help="write mac_table.csv/.txt/.png here")
    p.set_defaults(func=cmd_mac_table)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as error:
        print(f"hwmodel {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # an optional package is missing: the message says what to install
        print(f"hwmodel {args.command}: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # YosysError, IverilogError: a tool failed
        print(f"hwmodel {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `hwmodel formats | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
