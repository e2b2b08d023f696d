"""The ``hwmodel`` command line: one module per command group, and :func:`main`, the only place
that turns an error into a message and an exit status.

Library code raises; here a :class:`rtl.errors.FieldError` is reported under the flag that set
the field, a bad value or a missing input exits 2, a failed tool or a missing package 1, an
unwritable output 1, and Ctrl-C 130 with what was kept — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from hwmodel.cli import accuracy, data, formats, hardware, interop, study, workloads
from hwmodel.cli.common import FLAGS, HelpFormatter

__all__ = ["main", "build_parser"]

GROUPS = (formats, hardware, workloads, accuracy, study, interop, data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwmodel", formatter_class=HelpFormatter,
        description="What a number format really costs: MAC hardware, synthesis, workloads, accuracy.")
    parser.add_argument("--version", action="version", version=f"hwmodel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def _version() -> str:
    try:
        return metadata.version("hwmodel")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _value_flags(parser: argparse.ArgumentParser) -> tuple[set, set]:
    """(flags that take a value, every flag) across all subcommands."""
    takes, every = set(), set()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            every.update(action.option_strings)
            if action.option_strings and action.nargs != 0:
                takes.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
    return takes, every


def _join_values(argv: list[str], parser) -> list[str]:
    """``--array -4x8`` → ``--array=-4x8``: a value that starts with '-' is still a value (argparse
    would read it as an unknown flag), so the value's own check can say what is wrong with it."""
    takes, every = _value_flags(parser)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token in takes and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] not in every \
                and argv[i + 1] != "--":
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(_join_values(list(sys.argv[1:] if argv is None else argv), parser))
        if extra:
            getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit_:  # argparse: --help, --version, or a usage error (already printed)
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    name = f"hwmodel {args.command}"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        note = getattr(args, "interrupt_note", "nothing was written")
        print(f"\n{name}: interrupted; {note}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hwmodel formats | head`
        return 0
    except Exception as error:  # noqa: BLE001 — the one place errors become messages
        code, message = _describe(error)
        print(f"{name}: error: {message}", file=sys.stderr)
        return code


def _describe(error: Exception) -> tuple[int, str]:
    from rtl.errors import FieldError

    if isinstance(error, FieldError):
        flag = FLAGS.get(error.field)
        text = str(error)
        if flag and not text.startswith(flag):
            value = f" {error.value}" if isinstance(error.value, (str, int, float)) and not isinstance(error.value, bool) else ""
            text = f"{flag}{value}: {text}"
        return (1 if error.field == "output" else 2), text
    if isinstance(error, (ValueError, TypeError)):
        return 2, str(error)
    if isinstance(error, ImportError):  # an optional package is missing: the message says what to install
        return 1, str(error)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return 1, f"cannot use{where}: {error.strerror or error}"
    if isinstance(error, RuntimeError):  # YosysError, IverilogError: a tool failed
        return 1, str(error)
    raise error


if __name__ == "__main__":
    sys.exit(main())
