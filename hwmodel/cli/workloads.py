"""``hwmodel trace`` and ``hwmodel run``: layer traces of real networks, and one of them on an
accelerator of synthesized MACs."""

from __future__ import annotations

import json
import sys

from hwmodel.cli.common import (HelpFormatter, add_spec_arguments, add_synthesis_options, cache_from_args,
                                library_from_args, output_path, positive_int, render_table, spec_from_args)

__all__ = ["register"]

TRACE_COLUMNS = ["name", "kind", "gemm_m", "gemm_n", "gemm_k", "gemm_count", "macs", "weight_elems",
                 "output_elems", "elements"]
RUN_COLUMNS = ["name", "kind", "macs", "compute_cycles", "stall_cycles", "utilization", "dram_bytes",
               "compulsory_dram_bytes", "energy_pj"]
MAPPING_COLUMNS = ["tile_m", "tile_n", "tile_k", "loop_order", "kept"]


def shapes_from_args(args) -> dict | None:
    """``--shape NAME=D0,D1,…`` (repeatable) → {name: dims}; an input named twice is an error."""
    from workloads.onnx_import import parse_shape

    shapes = {}
    for text in args.shape or ():
        name, dims = parse_shape(text)
        if name in shapes:
            raise ValueError(f"--shape {text!r}: input {name!r} is given twice")
        shapes[name] = dims
    return shapes or None


def add_shape_argument(p) -> None:
    p.add_argument("--shape", action="append", metavar="NAME=D0,D1,…",
                   help="an ONNX input's shape, for dynamic dimensions (repeatable, one per input; "
                        "default: the model's own, batch 1)")


def cmd_trace(args) -> int:
    from rtl.files import atomic_write_text
    from workloads.scalesim import write_scalesim
    from workloads.zoo import load_trace

    if args.scalesim and not args.output:
        raise ValueError("--scalesim writes a topology file: give -o FILE.csv")
    target = output_path(args.output)
    trace = load_trace(args.source, batch=args.batch, seq=args.seq, keep_bn=args.keep_bn, strict=args.strict,
                       input_shapes=shapes_from_args(args))
    print(render_table(trace.layers[TRACE_COLUMNS].to_dict("records"), TRACE_COLUMNS))
    totals = trace.totals()
    print(f"\n{totals['network']}: {totals['layers']} layers ({totals['mac_layers']} with MACs), "
          f"{totals['gmacs']:.3f} GMAC, {totals['weights_m']:.3f} M weights, "
          f"{totals['activations_m']:.3f} M activations, {totals['vector_elements_m']:.3f} M vector-op elements")
    for note in trace.notes:
        print(f"note: {note}")
    if target:
        if args.scalesim:
            text, notes = write_scalesim(trace, args.scalesim)
            for note in notes:
                print(f"note: {note}")
        else:
            text = trace.to_csv()
        atomic_write_text(target, text)
        print(f"wrote {target}")
    return 0


def cmd_run(args) -> int:
    from dataclasses import replace

    from hwmodel.arch.accelerator import PeCost, load_accelerator, parse_array, spread_products
    from hwmodel.arch.evaluate import evaluate
    from hwmodel.config import load_toml
    from rtl.errors import FieldError
    from rtl.flow.characterize import characterize
    from workloads.zoo import load_trace

    data = load_toml(args.config) if args.config else {}
    hand_pe = "pe" in data and args.a is None and args.b is None and args.acc is None
    overrides = {"dataflow": args.dataflow, "mapping": args.mapping, "objective": args.objective,
                 "kv_bits": args.kv_bits, "dram_type": args.dram_type}
    if args.array is not None:
        overrides["array_rows"], overrides["array_cols"] = parse_array(args.array)
    defaults = {"array_rows": 32, "array_cols": 32, "dataflow": "ws"}
    trace = load_trace(args.workload, batch=args.batch, seq=args.seq, input_shapes=shapes_from_args(args))
    if hand_pe:
        spec, library = None, "the [pe] table"
        accelerator = load_accelerator(data, defaults=defaults, **overrides)
    else:
        args.a, args.b, args.acc = args.a or "int8_sym", args.b or "int8_sym", args.acc or "int32"
        spec = spec_from_args(args)
        cost = characterize(spec, library_from_args(args), args.stream, tool=args.tool, cache_dir=cache_from_args(args))
        library = cost.library
        a_bits, b_bits = spec.storage_bits  # a block format's elements with their share of the block scale
        widths = {"activation_bits": a_bits, "weight_bits": b_bits, "accumulator_bits": spec.acc_width,
                  "output_bits": a_bits, "weight_sparsity": spec.nm}
        accelerator = load_accelerator(data, pe=PeCost.from_mac_cost(cost), defaults={**defaults, **widths},
                                       **overrides)
        if accelerator.weight_sparsity != spec.nm:
            raise FieldError("weight_sparsity", f"{args.config}: weight_sparsity {accelerator.weight_sparsity!r} "
                                                f"contradicts the PE, a {spec.nm or 'dense'} unit (--nm)",
                             accelerator.weight_sparsity)
        rows, pe = spread_products(accelerator.array_rows, accelerator.pe, spec.products)
        accelerator = replace(accelerator, array_rows=rows, pe=pe)
    result = evaluate(accelerator, trace)
    if args.csv:
        sys.stdout.write(result.layers.to_csv(index=False))
        return 0
    if args.json:
        print(json.dumps({"summary": result.summary, "layers": result.layers.to_dict("records")}, default=float))
        return 0
    columns = RUN_COLUMNS[:-1] + (MAPPING_COLUMNS if accelerator.mapping == "search" else ["psum_spill"]) \
        + RUN_COLUMNS[-1:]
    print(render_table(result.layers[columns].to_dict("records"), columns))
    s = result.summary
    shape = f"{accelerator.array_rows}x{accelerator.array_cols} {accelerator.dataflow}"
    if spec is not None and spec.products > 1:
        shape = (f"{accelerator.array_rows // spec.products}x{accelerator.array_cols} {accelerator.dataflow} "
                 f"({spec.products} products per PE: {accelerator.array_rows}x{accelerator.array_cols} multipliers)")
    print(f"\n{trace.network} on {shape}, PE {spec.name if spec else accelerator.pe.name} ({library}):")
    executed = "" if s["executed_macs"] == s["macs"] else \
        f" ({s['executed_macs'] / 1e9:.3f} G executed: {accelerator.weight_sparsity} weights)"
    print(f"  {s['macs'] / 1e9:.3f} GMAC{executed} in {s['cycles']:,} cycles = {s['latency_ms']:.3f} ms at "
          f"{accelerator.clock:.3f} ns; utilization {s['utilization']:.1%}")
    print(f"  energy {s['energy_uj']:.1f} µJ/inference (MAC {s['energy_mac_uj']:.1f}, idle PEs {s['energy_idle_uj']:.1f}, SRAM {s['energy_sram_uj']:.1f}, "
          f"DRAM {s['energy_dram_uj']:.1f}, leakage {s['energy_leakage_uj']:.3f})")
    print(f"  DRAM {s['dram_mb']:.2f} MB/inference, {s['dram_over_compulsory']:.2f}× the compulsory "
          f"{s['compulsory_dram_mb']:.2f} MB (every operand once); partial sums to DRAM in "
          f"{s['psum_spill_layers']} layers; mapping {accelerator.mapping}"
          + (f" ({accelerator.objective})" if accelerator.mapping == "search" else ""))
    print(f"  buffers: " + ", ".join(f"{b.name} {b.capacity_kb:g} KB ({'+'.join(b.operands)})" for b in accelerator.buffers)
          + f", costed with {accelerator.sram_source}; DRAM {accelerator.dram_pj_per_bit:g} pJ/bit")
    print(f"  {s['tops']:.3f} TOPS, {s['tops_per_w']:.3f} TOPS/W, {s['tops_per_mm2']:.3f} TOPS/mm², "
          f"{s['inferences_per_s']:.1f} inferences/s, area {s['area_mm2']:.3f} mm²")
    return 0


def register(sub) -> None:
    from hwmodel.arch.accelerator import DATAFLOWS, MAPPINGS, OBJECTIVES
    from hwmodel.arch.memory import DRAM_TYPES
    from workloads.scalesim import FORMS

    p = sub.add_parser("trace", help="layer trace of a network (name, .onnx or .csv)", formatter_class=HelpFormatter,
                       description="Print the per-layer trace and totals of a bundled network, an ONNX "
                                   "model, or a trace / SCALE-Sim topology CSV.")
    p.add_argument("source", metavar="NAME|FILE.onnx|FILE.csv",
                   help="a bundled network (resnet50, bert_base, …), an ONNX model, or a trace / SCALE-Sim CSV")
    p.add_argument("--batch", type=positive_int, help="batch size (default: the network's, 1)")
    p.add_argument("--seq", type=positive_int, help="sequence length of a transformer (default: its configuration's)")
    add_shape_argument(p)
    p.add_argument("--keep-bn", action="store_true", help="keep BatchNormalization as its own op instead of folding it")
    p.add_argument("--strict", action="store_true", help="unsupported ONNX ops are an error, not a note")
    p.add_argument("--scalesim", choices=FORMS, help="write -o as a SCALE-Sim topology of this form")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="write the trace (or the SCALE-Sim topology)")
    p.set_defaults(func=cmd_trace, parser=p)

    p = sub.add_parser("run", help="a workload on an accelerator of synthesized MACs", formatter_class=HelpFormatter,
                       description="Evaluate a workload on a systolic array whose PE is the synthesized MAC: "
                                   "per-layer cycles, traffic and energy, and the per-inference summary. "
                                   "Flags given here override --config, which overrides the defaults.")
    p.add_argument("--workload", required=True, metavar="NAME|FILE.onnx|FILE.csv",
                   help="a bundled network, an ONNX model, or a trace / SCALE-Sim CSV")
    p.add_argument("--array", metavar="ROWSxCOLS", help="PE array (default: the config's, else 32x32)")
    p.add_argument("--dataflow", choices=DATAFLOWS, help="dataflow (default: the config's, else ws)")
    p.add_argument("--config", metavar="accel.toml", help="accelerator fields (buffers, DRAM, clock …); a [pe] "
                                                          "table there is used when no --a/--b/--acc is given")
    p.add_argument("--mapping", choices=MAPPINGS, help="search: the mapper (tiles, loop order) per layer; "
                                                       "scalesim: SCALE-Sim's fixed mapping (default: search)")
    p.add_argument("--objective", choices=OBJECTIVES, help="what the search minimizes (default: energy)")
    p.add_argument("--dram-type", choices=tuple(DRAM_TYPES), help="DRAM energy per bit by type (default: ddr3)")
    p.add_argument("--kv-bits", type=positive_int, help="bits of a KV cache's elements (default: the activations')")
    p.add_argument("--batch", type=positive_int, help="batch size (default 1)")
    p.add_argument("--seq", type=positive_int, help="sequence length of a transformer (decode: the KV cache)")
    add_shape_argument(p)
    add_spec_arguments(p)
    add_synthesis_options(p)
    p.add_argument("--csv", action="store_true", help="one row per layer with its compute cycles, for tools")
    p.add_argument("--json", action="store_true", help="summary and layers as JSON")
    p.set_defaults(func=cmd_run, parser=p)
    for action in p._actions:  # the MAC defaults to int8_sym × int8_sym → int32, said here once
        if action.dest in ("a", "b"):
            action.help += " (default int8_sym)"
        elif action.dest == "acc":
            action.help += " (default int32)"
