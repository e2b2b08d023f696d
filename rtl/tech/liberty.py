"""A Liberty (.lib) reader: groups, simple and complex attributes, with file and line in errors.

Liberty is nested ``name (args) { ... }`` groups holding ``name : value ;`` (simple) and
``name (args) ;`` (complex) attributes. :func:`parse_liberty` returns the library group as a
tree of :class:`Group`; :mod:`rtl.tech.cells` turns it into the cell data the rest of the project
uses. Plain and gzip-compressed files are read alike.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Group", "LibertyError", "parse_liberty", "read_liberty_text", "parse_boolean"]


class LibertyError(ValueError):
    """The liberty file cannot be read; names the file and line."""


@dataclass
class Group:
    """``kind (args) { attributes; groups }`` — attributes keep their last value; complex
    attributes (``name (a, b) ;``) are stored as tuples."""

    kind: str
    args: tuple[str, ...]
    line: int
    attributes: dict[str, object] = field(default_factory=dict)
    groups: list["Group"] = field(default_factory=list)
    repeated: dict[str, list] = field(default_factory=dict)  # every value of a complex attribute, in order

    @property
    def name(self) -> str:
        return self.args[0] if self.args else ""

    def children(self, kind: str) -> list["Group"]:
        return [g for g in self.groups if g.kind == kind]

    def child(self, kind: str) -> "Group | None":
        found = self.children(kind)
        return found[0] if found else None


_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\f]+|\\\n)
  | (?P<newline>\n)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<punct>[(){}:;,])
  | (?P<word>[^\s(){}:;,"]+)
""", re.VERBOSE | re.DOTALL)


def read_liberty_text(path: str | Path) -> str:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LibertyError(f"{path}: cannot read liberty file: {error.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise LibertyError(f"{path}: truncated or corrupt gzip data ({error})") from None
    return raw.decode("utf-8", errors="replace")


def _tokens(text: str, source: str):
    line = 1
    pos = 0
    n = len(text)
    while pos < n:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise LibertyError(f"{source}:{line}: unexpected character {text[pos]!r}")
        kind = match.lastgroup
        value = match.group()
        pos = match.end()
        if kind in ("space", "newline", "comment"):
            line += value.count("\n")
            continue
        if kind == "string":
            line += value.count("\n")
            yield "word", value[1:-1].replace("\\\n", ""), line
        else:
            yield kind if kind == "word" else value, value, line


def parse_liberty(path: str | Path, text: str | None = None) -> Group:
    """Parse a liberty file (or ``text`` named as ``path``) into its library group."""
    source = str(path)
    if text is None:
        text = read_liberty_text(path)
    tokens = list(_tokens(text, source))
    position = 0

    def peek(offset=0):
        i = position + offset
        return tokens[i] if i < len(tokens) else ("eof", "", tokens[-1][2] if tokens else 1)

    def expect(kind):
        nonlocal position
        token = peek()
        if token[0] != kind:
            where = "end of file" if token[0] == "eof" else repr(token[1])
            raise LibertyError(f"{source}:{token[2]}: expected {kind!r}, found {where}"
                               + (" (truncated file?)" if token[0] == "eof" else ""))
        position += 1
        return token

    def parse_args():
        expect("(")
        args = []
        joined = False  # a ':' inside an argument is part of it: pin(din0[31:0])
        while peek()[0] != ")":
            token = peek()
            if token[0] == "word":
                if joined and args:
                    args[-1] += token[1]
                else:
                    args.append(token[1])
                joined = False
                advance()
            elif token[0] == ":" and args:
                args[-1] += ":"
                joined = True
                advance()
            elif token[0] == ",":
                joined = False
                advance()
            else:
                where = "end of file" if token[0] == "eof" else repr(token[1])
                raise LibertyError(f"{source}:{token[2]}: unexpected {where} in an argument list")
        expect(")")
        return tuple(args)

    def advance():
        nonlocal position
        position += 1

    def parse_body(group: Group):
        while True:
            token = peek()
            if token[0] == "}":
                advance()
                return
            if token[0] == "eof":
                raise LibertyError(f"{source}:{token[2]}: group {group.kind} ({', '.join(group.args)}) "
                                   f"opened on line {group.line} is not closed (truncated file?)")
            name = expect("word")
            nxt = peek()
            if nxt[0] == ":":
                advance()
                value = expect("word")[1]
                while peek()[0] == "word":  # unquoted multi-word values
                    value += " " + peek()[1]
                    advance()
                if peek()[0] == ";":
                    advance()
                group.attributes[name[1]] = value
            elif nxt[0] == "(":
                args = parse_args()
                if peek()[0] == "{":
                    advance()
                    child = Group(name[1], args, name[2])
                    parse_body(child)
                    group.groups.append(child)
                else:
                    if peek()[0] == ";":
                        advance()
                    group.attributes[name[1]] = args
                    group.repeated.setdefault(name[1], []).append(args)
            else:
                where = "end of file" if nxt[0] == "eof" else repr(nxt[1])
                raise LibertyError(f"{source}:{nxt[2]}: expected ':' or '(' after {name[1]!r}, found {where}")

    first = expect("word")
    if first[1] != "library":
        raise LibertyError(f"{source}:{first[2]}: not a liberty file (expected 'library', found {first[1]!r})")
    library = Group("library", parse_args(), first[2])
    expect("{")
    parse_body(library)
    return library


# ----- boolean functions ------------------------------------------------------------------
_BOOL_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\[\]\.]*)|(?P<const>[01])|(?P<op>[!'&*|+^()]))")


def parse_boolean(text: str):
    """Parse a liberty function into a nested tuple: ('var', n), ('const', v), ('not', x),
    ('and', x, y), ('or', x, y), ('xor', x, y). Juxtaposition and ``*``/``&`` are AND, ``+``/``|``
    OR, ``^`` XOR, ``!`` prefix and ``'`` postfix NOT."""
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _BOOL_TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot parse boolean function {text!r} at {text[pos:]!r}")
        pos = match.end()
        tokens.append(match.group("name") or match.group("const") or match.group("op"))
    index = 0

    def peek():
        return tokens[index] if index < len(tokens) else None

    def take():
        nonlocal index
        if index >= len(tokens):
            raise ValueError(f"unexpected end of boolean function {text!r}")
        index += 1
        return tokens[index - 1]

    def primary():
        token = peek()
        if token is None:
            raise ValueError(f"unexpected end of boolean function {text!r}")
        take()
        if token == "!":
            node = ("not", primary())
        elif token == "(":
            node = expr()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses in {text!r}")
        elif token in ("0", "1"):
            node = ("const", int(token))
        elif token[0].isalpha() or token[0] == "_":
            node = ("var", token)
        else:
            raise ValueError(f"unexpected {token!r} in boolean function {text!r}")
        while peek() == "'":
            take()
            node = ("not", node)
        return node

    def term():
        node = primary()
        while peek() is not None and peek() not in ("|", "+", "^", ")"):
            if peek() in ("&", "*"):
                take()
            node = ("and", node, primary())
        return node

    def xor_expr():
        node = term()
        while peek() == "^":
            take()
            node = ("xor", node, term())
        return node

    def expr():
        node = xor_expr()
        while peek() in ("|", "+"):
            take()
            node = ("or", node, xor_expr())
        return node

    tree = expr()
    if index != len(tokens):
        raise ValueError(f"trailing {tokens[index]!r} in boolean function {text!r}")
    return tree
