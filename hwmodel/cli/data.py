"""``hwmodel data``: regenerate the data the project ships — the compact cell tables derived
from liberty files, and the bundled layer traces."""

from __future__ import annotations

from pathlib import Path

from hwmodel.cli.common import HelpFormatter, output_path

__all__ = ["register"]


def cmd_cells(args) -> int:
    from rtl.files import atomic_write_text
    from rtl.tech.cells import derive_library

    target = output_path(args.output)
    library = derive_library(args.liberty, args.name)
    atomic_write_text(target, library.to_json() + "\n")
    print(f"{target}: {len(library.cells)} cells from {args.liberty}")
    return 0


def cmd_timing(args) -> int:
    import gzip
    import json

    from rtl.files import atomic_write
    from rtl.tech.nldm import derive_timing

    target = output_path(args.output)
    data = derive_timing(args.liberty)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    payload = gzip.compress(raw, 9, mtime=0) if target.suffix == ".gz" else raw
    atomic_write(target, lambda tmp: tmp.write_bytes(payload))
    arcs = sum(len(a) for pins in data["cells"].values() for a in pins.values())
    print(f"{target}: {arcs} timing arcs of {len(data['cells'])} cells from {args.liberty}")
    return 0


def cmd_srams(args) -> int:
    import json

    from rtl.files import atomic_write_text
    from rtl.tech.srams import derive_sram_macros, fit_srams

    target = output_path(args.output)
    macros, sources = derive_sram_macros(args.liberty)
    table = fit_srams(macros, library=args.library, technology=args.technology, sources=sources, note=args.note)
    atomic_write_text(target, json.dumps(table, indent=1) + "\n")
    fit = table["fits"]["access_energy_pj"]
    print(f"{target}: {len(macros)} macros; access-energy fit within {fit['rms_relative_error']:.1%} rms, "
          f"{fit['max_relative_error']:.1%} at worst")
    return 0


def cmd_traces(args) -> int:
    from workloads.zoo import regenerate

    if args.directory:
        output_path(args.directory, directory=True)
    for path in regenerate(Path(args.directory) if args.directory else None):
        print(path)
    return 0


def register(sub) -> None:
    p = sub.add_parser("data", help="regenerate the shipped cell tables and bundled traces", formatter_class=HelpFormatter,
                       description="Regenerate data the project ships (tests fail when the shipped copies are stale).")
    group = p.add_subparsers(dest="data_command", metavar="WHAT", required=True)
    q = group.add_parser("cells", help="derive a compact cell table from a liberty file", formatter_class=HelpFormatter,
                         description="Derive the compact cell table (rtl/tech/data/NAME.json) from a full liberty.")
    q.add_argument("liberty", metavar="LIBERTY", help="full liberty file (plain or .gz)")
    q.add_argument("-o", "--output", required=True, metavar="FILE.json", help="JSON file to write")
    q.add_argument("--name", help="library name to record (default: the file's)")
    q.set_defaults(func=cmd_cells, parser=q)
    q = group.add_parser("timing", help="derive the NLDM timing tables from a liberty file", formatter_class=HelpFormatter,
                         description="Derive the timing arcs' NLDM tables (rtl/tech/data/NAME_nldm.json.gz) from a full "
                                     "liberty.")
    q.add_argument("liberty", metavar="LIBERTY", help="full liberty file (plain or .gz)")
    q.add_argument("-o", "--output", required=True, metavar="FILE.json.gz", help="file to write (gzipped if .gz)")
    q.set_defaults(func=cmd_timing, parser=q)
    q = group.add_parser("srams", help="derive an SRAM table (energy, area, leakage fits) from macro liberty files",
                         formatter_class=HelpFormatter,
                         description="Derive the SRAM table (rtl/tech/data/srams_NAME.json) from SRAM macros' liberty views.")
    q.add_argument("liberty", nargs="+", metavar="LIBERTY", help="SRAM macro liberty files (plain or .gz)")
    q.add_argument("-o", "--output", required=True, metavar="FILE.json", help="JSON file to write")
    q.add_argument("--library", required=True, help="the cell library these macros go with (e.g. sky130hd_tt)")
    q.add_argument("--technology", required=True, help="where the macros come from, for the provenance")
    q.add_argument("--note", default="", help="anything else the provenance should say")
    q.set_defaults(func=cmd_srams, parser=q)
    q = group.add_parser("traces", help="rebuild the bundled layer traces", formatter_class=HelpFormatter,
                         description="Rebuild every bundled trace CSV (workloads/data).")
    q.add_argument("--directory", metavar="DIR", help="write there instead of workloads/data")
    q.set_defaults(func=cmd_traces, parser=q)
    p.set_defaults(parser=p)
