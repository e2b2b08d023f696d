"""``hwmodel export``: a synthesized MAC's costs in the files a peer tool reads."""

from __future__ import annotations

import sys

from hwmodel.cli.common import (HelpFormatter, add_spec_arguments, add_synthesis_options, cache_from_args,
                                library_from_args, positive_int, spec_from_args)

__all__ = ["register"]


def cmd_export(args) -> int:
    from importlib import metadata

    from hwmodel.arch.accelerator import PeCost, load_accelerator, parse_array
    from hwmodel.config import load_toml
    from hwmodel.interop.export import ZIGZAG_VERSION, export_zigzag, run_zigzag, trace_layers
    from rtl.errors import FieldError
    from rtl.flow.characterize import characterize
    from rtl.flow.synth import YosysError
    from workloads.zoo import load_trace

    missing = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--acc", args.acc)) if value is None]
    if missing:
        raise FieldError("a", f"export needs the MAC: missing {', '.join(missing)}", None)
    spec = spec_from_args(args)
    library = library_from_args(args)
    if any(bits != int(bits) for bits in spec.storage_bits):  # before a synthesis that could not be exported
        raise FieldError("a", f"ZigZag takes whole bits per operand; a {spec.operand_names[0]} element carries a "
                              f"fraction of its block scale ({spec.storage_bits[0]:g} bits), which it cannot express",
                         None)
    try:
        cost = characterize(spec, library, args.stream, tool=args.tool, cache_dir=cache_from_args(args))
    except (YosysError, AssertionError) as error:
        raise FieldError("a", f"{spec.name} did not synthesize on {library}, so there is nothing to export: "
                              f"{str(error).splitlines()[0]}", None) from None
    data = load_toml(args.config) if args.config else {}
    if "pe" in data:
        raise FieldError("config", f"{args.config}: a [pe] table contradicts the synthesized MAC being exported", None)
    a_bits, b_bits = spec.storage_bits
    defaults = {"array_rows": 32, "array_cols": 32, "dataflow": "ws", "activation_bits": a_bits, "weight_bits": b_bits,
                "accumulator_bits": spec.acc_width, "output_bits": a_bits}
    overrides = {}
    if args.array:
        overrides["array_rows"], overrides["array_cols"] = parse_array(args.array)
    if spec.lanes > 1:  # an N-lane unit: N virtual PEs along the reduction, each 1/N of it (as the sweeps model it)
        rows = overrides.get("array_rows", data.get("array_rows", 32))
        overrides["array_rows"] = rows * spec.lanes
    pe = PeCost.from_mac_cost(cost)
    if spec.lanes > 1:
        import dataclasses
        pe = dataclasses.replace(pe, area_um2=pe.area_um2 / spec.lanes)
    accelerator = load_accelerator(data, pe=pe, defaults=defaults, **overrides)
    layers = trace_layers(load_trace(args.workload), limit=args.layers)
    provenance = {"mac": spec.name, "library": cost.library, "energy_pj_per_mac": cost.energy_pj_per_mac,
                  "area_um2_per_mac": pe.area_um2, "critical_path_ns": cost.critical_path_ns,
                  "stream": cost.stream, "yosys": cost.provenance.get("yosys"),
                  "amaranth": cost.provenance.get("amaranth"), "hwmodel": metadata.version("hwmodel"),
                  "library_sha256": cost.provenance.get("library_sha256"),
                  "verified_streams": cost.provenance.get("verified_streams"),
                  "workload": f"{args.workload}: {len(layers)} distinct GEMM layer(s)",
                  "zigzag": f"zigzag-dse {ZIGZAG_VERSION}"}
    written = export_zigzag(accelerator, layers, args.output, provenance, force=args.force)
    for path in written:
        print(f"wrote {path}")
    if args.run:
        result = run_zigzag(args.output)
        macs = sum(layer["macs"] for layer in result["layers"])
        mac_energy = sum(layer["mac_energy_pj"] for layer in result["layers"])
        print(f"ZigZag: {result['energy_pj'] / 1e6:.3f} µJ, {result['latency_cycles']:,.0f} cycles over {macs:,} MACs; "
              f"its MAC energy {mac_energy / macs:.4f} pJ/MAC (given {cost.energy_pj_per_mac:.4f}), unit area "
              f"{result['layers'][0]['unit_area_um2']:.1f} µm² (given {pe.area_um2:.1f})")
    return 0


def register(sub) -> None:
    from hwmodel.interop.export import TOOLS

    p = sub.add_parser("export", help="a synthesized MAC's costs in a peer tool's input files",
                       formatter_class=HelpFormatter,
                       description="Synthesize a MAC and write its energy and area, with their provenance, into the "
                                   "input files of a peer tool (ZigZag: hardware, mapping and workload YAML).")
    p.add_argument("peer", metavar="TOOL", choices=TOOLS, help=f"the peer tool: {', '.join(TOOLS)}")
    add_spec_arguments(p)
    add_synthesis_options(p)
    p.add_argument("--array", metavar="ROWSxCOLS", help="PE array (default 32x32, or the --config's)")
    p.add_argument("--config", metavar="accel.toml", help="accelerator description (buffers, DRAM, dataflow)")
    p.add_argument("--workload", default="resnet50", help="bundled network, .onnx or trace .csv (default resnet50)")
    p.add_argument("--layers", type=positive_int, help="export only the first N distinct GEMM layers")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory for the files")
    p.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    p.add_argument("--run", action="store_true", help="then run the peer on them (ZigZag from "
                                                      "$HWMODEL_ZIGZAG_PYTHON or .peers/zigzag)")
    p.set_defaults(func=cmd_export, parser=p)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: hwmodel export …")
