"""The ``hwmodel`` command line.

Each subcommand is a function taking parsed arguments and returning an exit code. Library code
raises ``ValueError`` / ``TypeError``; only :func:`main` turns them into a message on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from rtl import formats as F
from rtl import scaling as S

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


def cmd_rtl(args) -> int:
    from rtl.spec import MacSpec, parse_accumulator, standard_specs
    from rtl.verilog import emit_verilog, write_standard_set, write_verilog

    if args.standard:
        if not args.output:
            raise ValueError("--standard needs -o DIR")
        paths = write_standard_set(args.output)
        if args.json:
            print(json.dumps([s.describe() for s in standard_specs()], indent=2))
        else:
            print("\n".join(str(p) for p in paths))
        return 0
    missing = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--acc", args.acc)) if value is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (or use --standard)")
    spec = MacSpec(F.get_format(args.a), F.get_format(args.b),
                   parse_accumulator(args.acc, args.a, args.b, flush_to_zero=args.ftz,
                                     saturate=args.saturate, guard_bits=args.guard_bits),
                   lanes=args.lanes, stages=args.stages)
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
    p.add_argument("--a", type=_format_name, metavar="FORMAT", help="format of operand a")
    p.add_argument("--b", type=_format_name, metavar="FORMAT", help="format of operand b")
    p.add_argument("--acc", metavar="ACC",
                   help="float16, bfloat16, float32, intN (e.g. int32), fixed (exact width) or fixed:WIDTH")
    p.add_argument("--lanes", type=int, default=1, help="products summed per step (1, 2, 4, 8, 16, 32)")
    p.add_argument("--stages", type=int, default=0, help="pipeline register stages (0..2); latency = stages + 1")
    p.add_argument("--ftz", action="store_true", help="float accumulator flushes subnormal results to zero")
    p.add_argument("--saturate", action="store_true", help="fixed accumulator saturates instead of wrapping")
    p.add_argument("--guard-bits", type=int, default=12, help="guard bits of `--acc fixed` (default 12: 4096 terms)")
    p.add_argument("--standard", action="store_true", help="write the standard set into the -o directory")
    p.add_argument("-o", "--output", metavar="PATH", help="output .v file (or directory with --standard); default stdout")
    p.add_argument("--json", action="store_true", help="print the resolved spec as JSON")
    p.set_defaults(func=cmd_rtl)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as error:
        print(f"hwmodel {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hwmodel formats | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
