"""``hwmodel rtl``, ``hwmodel synth`` and ``hwmodel mac-table``: the MAC as Verilog, as cells,
and the whitepaper's Figure 3 measured."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from rtl.errors import FieldError

from hwmodel.cli.common import (HelpFormatter, add_spec_arguments, add_synthesis_options, cache_from_args, fraction,
                                library_from_args, output_path, positive_float, positive_int, spec_from_args)

__all__ = ["register"]


def cmd_rtl(args) -> int:
    from rtl.hdl.spec import standard_specs
    from rtl.hdl.verilog import emit_verilog, write_standard_set, write_verilog

    if args.standard:
        if not args.output:
            raise ValueError("--standard needs -o DIR")
        output_path(args.output, directory=True)
        paths = write_standard_set(args.output)
        if args.json:
            print(json.dumps([s.describe() for s in standard_specs()], indent=2))
        else:
            print("\n".join(str(p) for p in paths))
        return 0
    spec = spec_from_args(args)
    target = output_path(args.output)
    if target:
        write_verilog(spec, target)
    if args.json:
        print(json.dumps(spec.describe(), indent=2))
    elif not target:
        sys.stdout.write(emit_verilog(spec))
    return 0


def _verilog(args) -> int:
    """``hwmodel synth --verilog FILE.v …``: a user's module through the same flow."""
    from rtl.flow.custom import characterize_verilog

    given = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--acc", args.acc)) if value is not None]
    if given:
        raise FieldError("verilog", f"--verilog synthesizes your module; {', '.join(given)} describe a generated MAC: "
                                    "give one or the other", None)
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FieldError("param", f"--param takes K=V, not {item!r}", item)
        params[key.strip()] = value.strip()
    cost = characterize_verilog(args.verilog, library_from_args(args), top=args.top, params=params,
                                stimulus=args.stimulus, expect=args.expect, cycles=args.cycles,
                                clock_ns=args.clock_ns, seed=0, tool=args.tool, wire_load=args.wire_load,
                                timer=args.timer, glitches=args.glitches)
    if args.json:
        print(cost.to_json())
        return 0
    print(f"{cost.top} on {cost.library}" + (f" ({', '.join(f'{k}={v}' for k, v in cost.parameters.items())})"
                                             if cost.parameters else ""))
    print(f"  area            {cost.area_um2:10.1f} µm²   ({cost.cell_count} cells, sequential "
          f"{cost.sequential_area_um2:.1f} µm²)")
    for name, m in sorted(cost.module_area_um2.items(), key=lambda kv: -kv[1]["area_um2"]):
        print(f"    {name:<28} {m['area_um2']:10.1f} µm²  ({m['instances']} × {m['area_um2_each']:.1f})")
    print("  cells           " + ", ".join(f"{c} {n}" for c, n in cost.cells_by_type.items()))
    print(f"  critical path   {cost.critical_path_ns:10.3f} ns    ({1e3 / max(cost.critical_path_ns, 1e-9):.0f} MHz); "
          f"clock {cost.clock_port or 'none (combinational)'}, reset {cost.reset_port or 'none'}")
    print(f"  energy          {cost.energy_pj_per_cycle:10.4f} pJ/cycle on {cost.stimulus} at {cost.clock_ns:.3f} ns ("
          + ", ".join(f"{k} {v:.4f}" for k, v in cost.energy_breakdown_pj_per_cycle.items()) + ")")
    print("  " + ("verified: the outputs matched every expected row" if cost.verified else
                  "UNVERIFIED energy: no --expect outputs were given, so nobody checked what the netlist computed"))
    print(f"  provenance      {cost.provenance['yosys']}, {cost.provenance['library']}, "
          f"verilog sha256 {cost.provenance['verilog_sha256'][:16]}…")
    return 0


def cmd_synth(args) -> int:
    from rtl.flow.characterize import characterize

    if args.verilog:
        return _verilog(args)

    spec = spec_from_args(args, auto_stages=True)
    library = library_from_args(args)
    cache = cache_from_args(args)
    options = dict(tool=args.tool, macs=args.macs, sparsity=args.sparsity, delay_targets_ns=tuple(args.curve or ()),
                   cache_dir=cache, wire_load=args.wire_load, timer=args.timer, glitches=args.glitches)
    if args.stages == "auto":
        from rtl.flow.clocking import meet_clock

        cost = meet_clock(spec, library, args.clock_ns, stream=args.stream, **options)
        spec = dataclasses.replace(spec, stages=cost.spec["stages"])
    else:
        cost = characterize(spec, library, args.stream, clock_ns=args.clock_ns, **options)
    if args.json:
        print(cost.to_json())
        return 0
    print(f"{spec.name} on {cost.library}")
    print(f"  area            {cost.area_um2:10.1f} µm²   ({cost.nand2_equivalent:.0f} NAND2-equivalents, "
          f"sequential {cost.sequential_area_um2:.1f} µm²)")
    print("  by stage        " + ", ".join(f"{k} {v:.1f}" for k, v in cost.stage_area_um2.items()) + " µm²")
    print(f"  critical path   {cost.critical_path_ns:10.3f} ns    ({1e3 / cost.critical_path_ns:.0f} MHz, "
          + ("NLDM tables, slews propagated" if args.timer == "nldm" else "linear delay model")
          + (", wire load" if args.wire_load else "") + ")"
          + (f"; meets {args.clock_ns:g} ns with {spec.stages} pipeline stage(s)" if args.stages == "auto" else ""))
    print(f"  energy          {cost.energy_pj_per_mac:10.4f} pJ/MAC on the {cost.stream} stream at "
          f"{cost.clock_ns:.3f} ns (" + ", ".join(f"{k} {v:.4f}" for k, v in cost.energy_breakdown_pj_per_mac.items())
          + ")")
    print(f"  energy from     {cost.provenance.get('energy', 'zero-delay simulation')}")
    print(f"  leakage         {cost.leakage_nw:10.3f} nW")
    if spec.nm:
        n, m = spec.nm_pattern
        print(f"  N:M             {spec.nm} weights: {spec.products} multipliers for {spec.lanes} activations; "
              f"per dense position {cost.area_um2 / spec.lanes:.1f} µm² and {cost.energy_pj_per_mac * n / m:.4f} pJ "
              "(energy above is per executed product)")
    if spec.codebook_bits:
        module = cost.module_area_um2.get("codebook", 0.0)
        print(f"  codebook        {1 << spec.codebook_bits} {spec.b.name} centroids: register file and lookups "
              f"{module:.1f} µm² (counted in mpy); loading the table once {cost.load_energy_pj['codebook']:.3f} pJ")
    if spec.interleave > 1:
        print(f"  interleave      {spec.interleave} partial sums, updated round-robin (latency {spec.latency} edges); "
              "a dot product is their fold where they are read (rtl.numerics.interleave)")
    for target, area, delay in cost.area_vs_delay:
        print(f"  target {target:6.3f} ns -> {area:10.1f} µm², critical path {delay:.3f} ns")
    print(f"  tools           {cost.provenance['yosys']}, amaranth {cost.provenance['amaranth']}")
    return 0


def cmd_mac_table(args) -> int:
    from hwmodel.study.mac_table import build_mac_table, render_mac_table, write_mac_table

    output_path(args.output, directory=True)
    cache = cache_from_args(args)
    table = build_mac_table(tuple(args.libraries.split(",")), stream=args.stream, processes=args.processes,
                            cache_dir=cache, tool=args.tool)
    print(render_mac_table(table))
    if args.output:
        for path in write_mac_table(table, args.output):
            print(f"wrote {path}")
    return 0


def _curve(text: str) -> list[float]:
    return [positive_float(t) for t in text.split(",")]


def register(sub) -> None:
    p = sub.add_parser("rtl", help="emit Verilog for a MAC or dot-product unit", formatter_class=HelpFormatter,
                       description="Emit the Verilog module of a multiply-accumulate (or N-lane dot-product) unit.")
    add_spec_arguments(p)
    p.add_argument("--standard", action="store_true", help="write the standard set into the -o directory")
    p.add_argument("-o", "--output", metavar="PATH", help="output .v file (a directory with --standard); "
                                                          "without it the Verilog goes to stdout")
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON")
    p.set_defaults(func=cmd_rtl, parser=p)

    p = sub.add_parser("synth", help="synthesize a MAC: area, timing, energy", formatter_class=HelpFormatter,
                       description="Synthesize a MAC onto standard cells and measure its area by stage, "
                                   "critical path and energy per MAC on an operand stream.")
    add_spec_arguments(p)
    add_synthesis_options(p)
    p.add_argument("--sparsity", type=fraction, default=0.0, help="fraction of zero a-operands in the stream")
    p.add_argument("--macs", type=positive_int, default=1 << 18, help="MACs simulated for energy")
    p.add_argument("--clock-ns", type=positive_float,
                   help="clock period (ns) for leakage energy (default: the critical path); with --stages auto, the "
                        "clock to meet")
    p.add_argument("--curve", type=_curve, metavar="NS,NS,...", help="also synthesize at these delay targets (area vs clock)")
    p.add_argument("--json", action="store_true", help="print the MacCost as JSON")
    p.add_argument("--wire-load", action=argparse.BooleanOptionalAction, default=True,
                   help="each net's wire capacitance from the library's wire-load model (by fanout), in timing and "
                        "energy, as OpenSTA applies it")
    p.add_argument("--timer", choices=("nldm", "linear"), default="nldm",
                   help="critical path and glitch delays: nldm (the liberty's delay and transition tables, slews "
                        "propagated; with the wire load within 5 %% of OpenSTA) or linear (each cell's delay linear in "
                        "its load at one reference slew: 61-78 %% of OpenSTA)")
    p.add_argument("--glitches", action=argparse.BooleanOptionalAction, default=True,
                   help="energy with glitches (the timed gate-level simulation with the timer's delays) or, "
                        "--no-glitches, the zero-delay figure")
    byo = p.add_argument_group("your own RTL (instead of --a/--b/--acc)")
    byo.add_argument("--verilog", nargs="+", metavar="FILE.v", help="Verilog / SystemVerilog files to synthesize")
    byo.add_argument("--top", metavar="NAME", help="top module (default: the one nothing instantiates)")
    byo.add_argument("--param", action="append", default=[], metavar="K=V", help="top-module parameter (repeatable)")
    byo.add_argument("--stimulus", metavar="CSV", help="inputs per cycle, a column per input port (default: random bits)")
    byo.add_argument("--expect", metavar="CSV", help="expected outputs per cycle (sampled before each edge): checks "
                                                     "the netlist; without it the energy is reported unverified")
    byo.add_argument("--cycles", type=positive_int, default=1000, help="cycles of random stimulus")
    p.set_defaults(func=cmd_synth, parser=p)

    p = sub.add_parser("mac-table", help="the whitepaper's Figure 3 measured, and more rows", formatter_class=HelpFormatter,
                       description="Synthesize the standard set (INT8 and the FP8 formats with fixed, float16 and "
                                   "float32 accumulators, and rows the paper lacks) and compare with the paper.")
    from rtl.flow.energy import NAMED_STREAMS
    from rtl.flow.synth import TOOLS
    p.add_argument("--libraries", default="sky130hd_tt,nangate45_typ", help="comma-separated libraries or liberty paths")
    p.add_argument("--stream", default=NAMED_STREAMS[0], choices=NAMED_STREAMS, help="operand stream for energy")
    p.add_argument("--processes", type=positive_int, help="parallel synthesis processes (default: one per core)")
    p.add_argument("--tool", default=TOOLS[0], choices=TOOLS, help="which Yosys to run")
    p.add_argument("--no-cache", action="store_true", help="recompute instead of using the cache")
    p.add_argument("--cache-dir", metavar="DIR", help="characterization cache (default ~/.cache/hwmodel/mac)")
    p.add_argument("-o", "--output", metavar="DIR", help="write mac_table.csv/.txt/.png here")
    p.set_defaults(func=cmd_mac_table, parser=p)
