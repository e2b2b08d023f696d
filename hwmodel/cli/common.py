"""What every command shares: argument types that refuse bad numbers at once, the table
printer, the library and output checks, and the spelling of each library field as a flag."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rtl.errors import FieldError
from rtl.files import check_writable

__all__ = ["HelpFormatter", "positive_int", "non_negative_int", "positive_float", "fraction", "render_table", "FLAGS",
           "output_path", "add_spec_arguments", "spec_from_args", "stage_count", "format_name", "library_from_args",
           "add_synthesis_options"]

FLAGS = {
    "a": "--a", "b": "--b", "acc": "--acc", "lanes": "--lanes", "stages": "--stages", "saturate": "--saturate",
    "flush_to_zero": "--ftz", "guard_bits": "--guard-bits", "library": "--library", "output": "-o",
    "processes": "--processes", "array": "--array", "dataflow": "--dataflow", "test": "--sentences",
    "calibration": "--calibration-sentences", "weights": "--formats", "activations": "--formats",
    "accumulator": "--acc", "weight_granularity": "--granularity", "scale_method": "--scale", "block": "--block",
    "batch": "--batch", "seq": "--seq", "clock_ns": "--clock-ns", "macs": "--macs", "sparsity": "--sparsity",
    "bias": "--bias", "block_size": "--block-size", "interleave": "--interleave", "verilog": "--verilog",
    "top": "--top", "param": "--param", "stimulus": "--stimulus", "expect": "--expect", "cycles": "--cycles", "workload": "--workload", "config": "--config",
    "density": "--density", "nm": "--nm", "codebook_bits": "--codebook-bits", "codebook": "--codebook",
    "centroids": "--centroids", "zero_gating": "--zero-gating",
}
"""Library field → the flag that sets it (error messages name what the user typed)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after every flag's help (but not where there is none to show), and
    epilogs kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _argument(convert, valid, wanted: str):
    """An argparse type: ``convert`` the text, refuse what is not ``valid``, saying what was wanted."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text}")
        return value
    parse.__name__ = wanted
    return parse


positive_int = _argument(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _argument(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _argument(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
fraction = _argument(float, lambda v: 0 <= v < 1, "in [0, 1)")


def format_name(text: str) -> str:
    """argparse type: a scalar or MX format name, else the closest names."""
    from rtl.numerics import formats as F
    from rtl.numerics import scaling as S

    if text in F.FORMATS or text in S.MX_FORMATS:
        return text
    hint = F.closest_names(text, list(F.FORMATS) + list(S.MX_FORMATS))
    raise argparse.ArgumentTypeError(
        f"unknown format {text!r}" + (f"; closest valid names: {', '.join(hint)}" if hint else ""))


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table with a header and right-aligned numbers."""
    cells = [[_number(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) for r in rows) for c in columns]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def output_path(path: str | None, *, directory: bool = False, needed_mb: float = 0.0) -> Path | None:
    """``-o`` checked for writing before any work starts (None passes through)."""
    if path is None or path == "":
        return None
    return check_writable(Path(path), directory=directory, needed_mb=needed_mb)


# ----- a MAC on the command line -------------------------------------------------------------
def add_spec_arguments(p, *, required: bool = False) -> None:
    from rtl.hdl.spec import BIAS_MODES, LANE_COUNTS, MAX_STAGES
    from rtl.numerics.arith import ACCUMULATOR_SPELLINGS, MAX_GUARD_BITS
    from rtl.numerics.interleave import INTERLEAVES

    p.add_argument("--a", type=format_name, metavar="FORMAT", help="format of operand a (activations)")
    p.add_argument("--b", type=format_name, metavar="FORMAT", help="format of operand b (weights)")
    p.add_argument("--acc", metavar="ACC", help="accumulator: " + ", ".join(ACCUMULATOR_SPELLINGS[:-1]))
    p.add_argument("--lanes", type=int, default=1, choices=LANE_COUNTS, metavar="N",
                   help=f"products summed per step, one of {', '.join(map(str, LANE_COUNTS))}")
    p.add_argument("--stages", type=stage_count, default=0, metavar="S",
                   help=f"pipeline register stages, 0..{MAX_STAGES} (the third for float accumulators), or auto (synth, "
                        "with --clock-ns: the fewest that meet the clock)")
    p.add_argument("--interleave", type=int, default=1, choices=INTERLEAVES, metavar="N",
                   help="partial sums in a float accumulator's loop, one of "
                        f"{', '.join(map(str, INTERLEAVES))}: registers cut the loop so it meets a faster clock; "
                        "the partial sums are updated round-robin and folded where they are read (a different "
                        "summation order)")
    p.add_argument("--bias", default=BIAS_MODES[0], choices=BIAS_MODES,
                   help="power_of_two: a float accumulator gets an exponent-offset input for the scales' powers of two")
    p.add_argument("--ftz", action="store_true", help="float accumulator flushes subnormal results to zero")
    p.add_argument("--saturate", action="store_true", help="fixed accumulator saturates instead of wrapping")
    p.add_argument("--guard-bits", type=int, default=12, metavar="G",
                   help=f"guard bits of `--acc fixed` (0..{MAX_GUARD_BITS}; 12 holds 4096 products exactly)")
    p.add_argument("--nm", default="", metavar="N:M",
                   help="N:M sparse weights (2:4, 1:4, 4:8): the unit takes --lanes activations (a multiple of M) and "
                        "lanes·N/M kept weights with their indices, one multiplier per kept weight")
    p.add_argument("--codebook-bits", type=int, default=0, metavar="K",
                   help="clustered weights: b carries K-bit indices (2…6) into a register file of 2^K centroids "
                        "in the --b format (0: none)")
    p.add_argument("--zero-gating", action="store_true",
                   help="skip zeros: isolate a zero lane's multiplier and hold the accumulator on an all-zero step, "
                        "its register clocked through the library's integrated clock gate")
    p.add_argument("--centroids", type=format_name, metavar="FORMAT",
                   help="with --codebook-bits: the centroids' format (int8_sym, float8_e4m3fn, float16 …), which is "
                        "the weight operand's, so it stands for --b")
    p.add_argument("--block-size", type=int, metavar="B",
                   help="elements per block of block formats (mxfp8_e4m3 … : 32, nvfp4: 16); checked, not chosen")


def stage_count(text: str):
    """``--stages``: an integer in 0..MAX_STAGES, or ``auto``."""
    from rtl.hdl.spec import MAX_STAGES

    if text == "auto":
        return text
    if not text.isdigit() or int(text) > MAX_STAGES:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from 0..{MAX_STAGES} or auto)")
    return int(text)


def spec_from_args(args, *, auto_stages: bool = False):
    """The MacSpec the flags name (``--stages auto`` gives 0 stages, for a caller that fits
    them: ``auto_stages``; elsewhere it is an error)."""
    from rtl.hdl.spec import MacSpec

    centroids = getattr(args, "centroids", None)
    if centroids is not None:
        if not getattr(args, "codebook_bits", 0):
            raise FieldError("centroids", "--centroids names a codebook's format: give --codebook-bits K too",
                             centroids)
        if args.b is not None and args.b != centroids:
            raise FieldError("centroids", f"--centroids {centroids} and --b {args.b} disagree: a codebook unit's "
                                          "weights are its centroids (give one of them)", centroids)
        args.b = centroids
    missing = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--acc", args.acc)) if value is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}" + (" (or use --standard)" if hasattr(args, "standard") else ""))
    stages = getattr(args, "stages", 0)
    if stages == "auto":
        if not auto_stages:
            raise FieldError("stages", "--stages auto chooses the pipeline by synthesis: use it with `hwmodel synth "
                                       "--clock-ns T`", stages)
        if getattr(args, "clock_ns", None) is None:
            raise FieldError("stages", "--stages auto needs --clock-ns T, the clock to meet", stages)
        stages = 0
    return MacSpec.from_names(args.a, args.b, args.acc, lanes=args.lanes, stages=stages, flush_to_zero=args.ftz,
                              saturate=args.saturate, guard_bits=args.guard_bits, bias=args.bias,
                              block_size=getattr(args, "block_size", None),
                              interleave=getattr(args, "interleave", 1), nm=getattr(args, "nm", ""),
                              codebook_bits=getattr(args, "codebook_bits", 0),
                              zero_gating=getattr(args, "zero_gating", False))


def add_synthesis_options(p) -> None:
    from rtl.flow.energy import NAMED_STREAMS
    from rtl.flow.synth import TOOLS
    from rtl.tech.cells import EMBEDDED_LIBRARIES

    p.add_argument("--library", default=next(iter(EMBEDDED_LIBRARIES)), choices=list(EMBEDDED_LIBRARIES),
                   help="embedded cell library")
    p.add_argument("--liberty", metavar="PATH", help="a full liberty file (plain or .gz) instead of --library")
    p.add_argument("--stream", default=NAMED_STREAMS[0], choices=NAMED_STREAMS,
                   help="operand stream for energy (uniform: random codes; others: values quantized with their "
                        "MSE-optimal scale)")
    p.add_argument("--tool", default=TOOLS[0], choices=TOOLS, help="which Yosys to run (native: `yosys` on PATH)")
    p.add_argument("--no-cache", action="store_true", help="recompute instead of using the cache")
    p.add_argument("--cache-dir", metavar="DIR", help="characterization cache (default ~/.cache/hwmodel/mac)")


def library_from_args(args) -> str:
    if args.liberty:
        if not Path(args.liberty).is_file():
            raise ValueError(f"--liberty {args.liberty}: no such file")
        return args.liberty
    return args.library


def cache_from_args(args):
    from rtl.flow.characterize import DEFAULT_CACHE

    if args.no_cache:
        return None
    return output_path(args.cache_dir or DEFAULT_CACHE, directory=True)
