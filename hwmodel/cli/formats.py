"""``hwmodel formats``: the number-format table."""

from __future__ import annotations

import json

from hwmodel.cli.common import HelpFormatter, format_name, render_table

__all__ = ["register"]

FORMAT_COLUMNS = ["name", "kind", "bits", "exp_bits", "man_bits", "bias", "special", "min", "max",
                  "min_normal", "min_subnormal", "finite_values"]
MX_COLUMNS = ["name", "element", "block_size", "scale", "bits_per_element", "element_emax"]


def cmd_formats(args) -> int:
    from rtl.numerics import formats as F
    from rtl.numerics import scaling as S

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
        print(("\n" if scalars else "") + "Block formats (OCP MX v1.0: E8M0 scales; NVFP4: E4M3 scales and a float32 tensor scale)")
        print(render_table(mx, MX_COLUMNS))
    if not args.names:
        print("\nThe FP8 formats of van Baalen et al. (2023): "
              + ", ".join(f"{k} = {v}" for k, v in F.WHITEPAPER_FP8.items()))
    return 0


def register(sub) -> None:
    p = sub.add_parser("formats", help="print the number-format table", formatter_class=HelpFormatter,
                       description="Print every number format (or the named ones) with its range.")
    p.add_argument("names", nargs="*", type=format_name, metavar="NAME", help="formats to show (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects, for tools")
    p.set_defaults(func=cmd_formats, parser=p)
