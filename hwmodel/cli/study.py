"""``hwmodel compare`` (the default FP8-versus-INT study) and ``hwmodel sweep`` (any study from a
TOML file)."""

from __future__ import annotations

import sys
from pathlib import Path

from hwmodel.cli.common import HelpFormatter, output_path, positive_float, positive_int

__all__ = ["register"]


def _report_outcome(result, output: Path) -> int:
    counts = result.counts.get("mac", {})
    print(f"{len(result.points)} points, {len(result.macs)} MACs ({counts.get('computed', 0)} characterized now, "
          f"{counts.get('stored', 0)} from the store, {counts.get('by_others', 0)} by another run), "
          f"{len(result.failures)} failures → {output}/", file=sys.stderr)
    if len(result.failures):
        transient = int(result.failures.transient.sum())
        print(f"{len(result.failures)} point(s) failed (listed in {output}/failures.csv and the report)"
              + (f"; {transient} of them because of the machine, and a re-run retries those" if transient else ""),
              file=sys.stderr)
        return 1
    return 0


def _resumable(args, output: Path) -> None:
    args.interrupt_note = (f"every finished point is kept in {output / 'sweep.sqlite'}; run the same command "
                           "again to resume")


def cmd_compare(args) -> int:
    from hwmodel.study.compare import check_selection, run_compare

    check_selection(args.quick, args.only)  # before the output folder is made
    output = output_path(args.output, directory=True, needed_mb=50)
    _resumable(args, output)
    written, result = run_compare(output, quick=args.quick, scheduler=args.scheduler, processes=args.processes,
                                  cache_dir=args.cache_dir, clock_ns=args.clock_ns, only=args.only)
    report = [p for p in written if p.name == "report.md"][0]
    print(report.read_text())
    print(f"wrote {len(written)} files to {report.parent}/ (report.md, CSVs, plots)", file=sys.stderr)
    return _report_outcome(result, output)


def cmd_sweep(args) -> int:
    from hwmodel.study.report import write_results
    from hwmodel.study.run import run_sweep
    from hwmodel.study.spec import load_sweep

    spec = load_sweep(args.spec)
    output = output_path(args.output or Path("results") / spec.name, directory=True, needed_mb=50)
    _resumable(args, output)
    result = run_sweep(spec, output, scheduler=args.scheduler, processes=args.processes, cache_dir=args.cache_dir)
    write_results(result, output, title=f"Sweep {spec.name}", settings=f"Spec: `{args.spec}`.")
    return _report_outcome(result, output)


_RESUME = """\
Resuming: every finished point is committed to OUTPUT/sweep.sqlite as it finishes. Run the same
command again after Ctrl-C, kill -9 or a crash and it computes only what is missing; two runs on
one store share the work (the second waits for what the first is computing).

Failed points: a point that fails on its own (Yosys rejects a design, say) is stored with its
error, listed in failures.csv and the report, and the command exits 1; a point that failed
because of the machine (a worker killed, memory or disk exhausted) is tried again, twice in the
run and then by the next run."""


def _grids(text: str) -> tuple[str, ...]:
    """``--only``: grid names, comma-separated, each one of the study's."""
    import argparse

    from hwmodel.study.compare import check_grids
    from rtl.errors import FieldError

    try:
        return check_grids(n.strip() for n in text.split(",") if n.strip())
    except FieldError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(sub) -> None:
    from hwmodel.study.compare import GRIDS
    from hwmodel.study.spec import KEYS

    keys = "\n".join(f"  {key:18s}{text}" for key, text in KEYS.items())
    for name, helptext in (("compare", "the default FP8-versus-INT study: results/ with CSVs, plots, report.md"),
                           ("sweep", "run a sweep spec (TOML): synthesis, accelerator model, accuracy")):
        epilog = _RESUME if name == "compare" else f"Keys of SPEC.toml (each a list but name, stream and the counts):\n{keys}\n\n{_RESUME}"
        p = sub.add_parser(name, help=helptext, description=helptext, epilog=epilog, formatter_class=HelpFormatter)
        if name == "compare":
            p.add_argument("--quick", action="store_true", help="a smaller version of the study (about five minutes cold on 2 cores, seconds once cached)")
            p.add_argument("--only", type=_grids, metavar="GRID[,GRID…]",
                           help="run only these grids of the study (the whole takes about 40 minutes cold on 2 "
                                "cores): " + "; ".join(f"{name}: {text}" for name, text in GRIDS.items()))
            p.add_argument("--clock-ns", type=positive_float, metavar="NS",
                           help="the common clock every design is also fitted to (default: the INT8 MAC's own)")
            p.add_argument("-o", "--output", default="results", metavar="DIR", help="output directory")
        else:
            p.add_argument("spec", metavar="SPEC.toml", help="the sweep spec")
            p.add_argument("-o", "--output", metavar="DIR", help="output directory (default results/NAME)")
        p.add_argument("--scheduler", metavar="ADDRESS", help="run synthesis on this Dask scheduler (tcp://host:8786)")
        p.add_argument("--processes", type=positive_int, help="local synthesis processes (default: one per core)")
        p.add_argument("--cache-dir", metavar="DIR", help="MAC characterization cache (default ~/.cache/hwmodel/mac)")
        p.set_defaults(func=cmd_compare if name == "compare" else cmd_sweep, parser=p)
