"""Configuration files (TOML): one loader, one key check with the closest valid key, one set of
value checks — for every file hwmodel reads (accelerators, sweeps).

Every error is a :class:`rtl.errors.FieldError` whose message names the file, the key (dotted
for tables: ``pe.area_um2``) and the value, and says what was wanted.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path

from rtl.errors import FieldError

__all__ = ["load_toml", "check_keys", "number", "integer", "text", "flag", "text_list"]


def load_toml(path: str | Path) -> dict:
    """The file's table; unreadable files and malformed TOML are errors naming file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FieldError("file", f"{path}: cannot read ({error.strerror})", str(path)) from None
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise FieldError("file", f"{path}: not UTF-8 text ({error.reason} at byte {error.start})", str(path)) from None
    except tomllib.TOMLDecodeError as error:
        raise FieldError("file", f"{path}: malformed TOML: {error}", str(path)) from None


def check_keys(table: dict, allowed, where: str, prefix: str = "") -> None:
    """Every key of ``table`` is one of ``allowed``; else an error naming the closest valid key."""
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, 1)
            raise FieldError(prefix + key, f"{where}: unknown key {prefix + key!r}"
                             + (f"; did you mean {prefix + hint[0]!r}?" if hint else f" (valid: {', '.join(allowed)})"),
                             key)


def _name(where: str, key: str) -> str:
    return f"{where}: {key}" if where else key


def number(value, where: str, key: str, *, positive: bool = False, minimum: float | None = None) -> float:
    """A finite real number (not a boolean, not a string), optionally > 0 or ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(key, f"{_name(where, key)} must be a number, not {value!r} ({type(value).__name__})", value)
    if not math.isfinite(value):
        raise FieldError(key, f"{_name(where, key)} must be a finite number, not {value!r}", value)
    if positive and not value > 0:
        raise FieldError(key, f"{_name(where, key)} must be positive, not {value!r}", value)
    if minimum is not None and value < minimum:
        raise FieldError(key, f"{_name(where, key)} must be at least {minimum:g}, not {value!r}", value)
    return float(value) if isinstance(value, float) else value


def integer(value, where: str, key: str, *, minimum: int | None = 1) -> int:
    """A whole number (not a boolean, not 2.0) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(key, f"{_name(where, key)} must be an integer, not {value!r} ({type(value).__name__})", value)
    if minimum is not None and value < minimum:
        raise FieldError(key, f"{_name(where, key)} must be at least {minimum}, not {value!r}", value)
    return value


def text(value, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise FieldError(key, f"{_name(where, key)} must be a string, not {value!r} ({type(value).__name__})", value)
    return value


def flag(value, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(key, f"{_name(where, key)} must be true or false, not {value!r}", value)
    return value


def text_list(value, where: str, key: str) -> tuple:
    """A non-empty list (one string or number is not a list)."""
    if isinstance(value, (str, bytes, int, float, dict)) or not hasattr(value, "__len__") or not len(value):
        raise FieldError(key, f"{_name(where, key)} must be a non-empty list, not {value!r}", value)
    return tuple(value)
