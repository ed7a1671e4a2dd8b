"""Rule text -> a small syntax tree (specified in docs/rules.md).

The grammar is the subset of Ion text that AppConfig's multi-variant rules use::

    rule     = ws call ws EOF
    call     = "(" ws operator { ws arg } ws ")"           nesting depth <= MAX_DEPTH
    arg      = name ws "::" ws value | value
    value    = string | int | float | bool | timestamp | ref | list | call
    list     = "[" ws [ value ws { "," ws value ws } [ "," ws ] ] "]"   (scalar literals only)
    ref      = "$" [A-Za-z_] [A-Za-z0-9_]*

Every node keeps the 0-based offset of its first character, so the compiler's type errors can
point at the operand that is wrong. Nothing here knows what an operator means.

A document format whose conditions are structured data rather than text (a Powertools schema)
builds the same tree directly, holding its values in :class:`Const` nodes that rule text can
never produce; :func:`tree_text` holds such a tree to the limits text is held to
(:data:`MAX_RULE_CHARS`, :data:`MAX_DEPTH`) and renders the text ``explain`` shows for it.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from flagkit._exceptions import RuleError

MAX_RULE_CHARS = 16384  # AppConfig's schema limit on a variant's rule (appconfig.md §2.1)
MAX_DEPTH = 32  # parenthesis nesting; deeper rules are refused, never recursed into
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Timestamp:
    """An instant as integer nanoseconds since 1970-01-01T00:00Z, plus its source text."""

    ns: int
    text: str


Scalar: TypeAlias = "str | int | float | bool | Timestamp"


@dataclass(frozen=True, slots=True)
class Lit:
    value: Scalar
    pos: int

    @property
    def kind(self) -> str:
        """One of ``string``, ``integer``, ``float``, ``boolean``, ``timestamp``."""
        return _KIND_NAMES[type(self.value)]


_KIND_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    Timestamp: "timestamp",
}


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Lit, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Ref:
    key: str
    pos: int


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    value: Node
    pos: int  # of the name


@dataclass(frozen=True, slots=True)
class Call:
    op: str
    args: tuple[Node, ...]
    named: tuple[Named, ...]
    pos: int  # of the "("
    op_pos: int


@dataclass(frozen=True, slots=True)
class Const:
    """A value from a structured document (any JSON value), compared as Python compares it.

    Never produced by :func:`parse`: only a document reader that builds a tree makes one.
    """

    value: Any
    pos: int = 0


Node: TypeAlias = "Lit | ListLit | Ref | Call | Const"

# --- lexing ------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\r\n\f\v]*")
_DIGITS = r"\d+(?:_\d+)*"  # Ion allows single underscores between digits
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(?:(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2}))?)?"
    r"|(\d{4})-(\d{2})T?"
    r"|(\d{4})T",
    re.ASCII,
)
_NUMBER = re.compile(rf"-?{_DIGITS}(\.(?:{_DIGITS})?)?([eE][+-]?\d+)?", re.ASCII)
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REF_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DELIMITERS = frozenset(' \t\r\n\f\v()[],"')
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "'": "'",
    "?": "?",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def timestamp_ns(m: re.Match[str]) -> int | None:
    """Nanoseconds since the epoch for a :data:`_TIMESTAMP` match; None if no such date/time.

    A reduced-precision timestamp (``2024-01``) is the first instant of its period; a
    timestamp without an offset, or with ``-00:00`` (Ion's "unknown offset"), is UTC.
    """
    g = m.groups()
    if g[10] is not None:
        y, mo, d = int(g[10]), 1, 1
    elif g[8] is not None:
        y, mo, d = int(g[8]), int(g[9]), 1
    else:
        y, mo, d = int(g[0]), int(g[1]), int(g[2])
    try:
        days = _dt.date(y, mo, d).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    hh = int(g[3] or 0)
    mi = int(g[4] or 0)
    ss = int(g[5] or 0)
    if hh > 23 or mi > 59 or ss > 59:
        return None
    frac = (g[6] or "")[:9].ljust(9, "0")
    offset = 0
    if g[7] and g[7] != "Z":
        oh, om = int(g[7][1:3]), int(g[7][4:6])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * (-1 if g[7][0] == "-" else 1)
    seconds = days * 86400 + hh * 3600 + mi * 60 + ss - offset * 60
    return seconds * _NS + int(frac)


class _Parser:
    __slots__ = ("depth", "i", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.depth = 0

    def error(self, message: str, pos: int) -> RuleError:
        return RuleError(message, position=pos, rule=self.text)

    def ws(self) -> None:
        m = _WS.match(self.text, self.i)
        assert m is not None  # the pattern matches the empty string
        self.i = m.end()

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def end_of_atom(self, start: int, what: str) -> None:
        j = self.i
        if j < len(self.text) and self.text[j] not in _DELIMITERS:
            while j < len(self.text) and self.text[j] not in _DELIMITERS:
                j += 1
            hint = (
                " (a time of day needs an offset, e.g. Z or +02:00)" if what == "timestamp" else ""
            )
            raise self.error(f"malformed {what} {self.text[start:j]!r}{hint}", start)

    # --- grammar ---

    def rule(self) -> Call:
        self.ws()
        if self.i == len(self.text):
            raise self.error(
                'empty rule; expected an s-expression such as (eq $key "value")', self.i
            )
        if self.peek() != "(":
            start = self.i
            node = self.value()
            raise self.error(
                f"a rule must be an s-expression such as (eq $key 1), found {_describe(node)}",
                start,
            )
        call = self.call()
        self.ws()
        if self.i != len(self.text):
            raise self.error("unexpected text after the rule's closing ')'", self.i)
        return call

    def call(self) -> Call:
        pos = self.i
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"rule nested deeper than {MAX_DEPTH} levels", pos)
        self.i += 1
        self.ws()
        op_pos = self.i
        m = _SYMBOL.match(self.text, self.i)
        if m is None:
            if self.peek() == ")":
                raise self.error("empty s-expression; expected an operator such as eq", pos)
            if not self.peek():
                raise self.error(f"missing ')' to close the '(' opened at offset {pos}", self.i)
            raise self.error("expected an operator name after '('", op_pos)
        self.i = m.end()
        self.end_of_atom(op_pos, "operator")
        op = m.group()
        args: list[Node] = []
        named: list[Named] = []
        while True:
            self.ws()
            c = self.peek()
            if c == ")":
                self.i += 1
                self.depth -= 1
                return Call(op, tuple(args), tuple(named), pos, op_pos)
            if not c:
                raise self.error(f"missing ')' to close the '(' opened at offset {pos}", self.i)
            name_pos = self.i
            m = _SYMBOL.match(self.text, self.i)
            if m is not None and self._annotation_follows(m.end()):
                self.ws()
                self.i += 2  # "::"
                self.ws()
                value_pos = self.i
                if (v := _SYMBOL.match(self.text, self.i)) and self._annotation_follows(v.end()):
                    raise self.error(
                        "a named argument's value cannot itself be annotated", value_pos
                    )
                named.append(Named(m.group(), self.value(), name_pos))
            else:
                args.append(self.value())

    def _annotation_follows(self, j: int) -> bool:
        m = _WS.match(self.text, j)
        assert m is not None
        if self.text.startswith("::", m.end()):
            self.i = j
            return True
        return False

    def value(self) -> Node:
        c = self.peek()
        start = self.i
        if c == "(":
            return self.call()
        if c == "[":
            return self.list_()
        if c == '"':
            return Lit(self.string(), start)
        if c == "$":
            m = _REF_KEY.match(self.text, self.i + 1)
            if m is None:
                raise self.error("expected a context key after '$' (letters, digits, '_')", start)
            self.i = m.end()
            self.end_of_atom(start, "context reference")
            return Ref(m.group(), start)
        if c == "-" or "0" <= c <= "9":
            return Lit(self.number_or_timestamp(), start)
        m = _SYMBOL.match(self.text, self.i)
        if m is not None:
            self.i = m.end()
            self.end_of_atom(start, "symbol")
            word = m.group()
            if word in ("true", "false"):
                return Lit(word == "true", start)
            if word in ("null", "nan"):
                raise self.error(f"{word} is not a supported value", start)
            raise self.error(f"unexpected symbol {word!r}; strings must be double-quoted", start)
        if not c:
            raise self.error("unexpected end of rule; expected a value", start)
        if c in ")]":
            raise self.error(f"unexpected {c!r}; expected a value", start)
        raise self.error(f"unexpected character {c!r}", start)

    def list_(self) -> ListLit:
        pos = self.i
        self.i += 1
        items: list[Lit] = []
        while True:
            self.ws()
            c = self.peek()
            if c == "]":
                self.i += 1
                return ListLit(tuple(items), pos)
            if not c:
                raise self.error(f"missing ']' to close the '[' opened at offset {pos}", self.i)
            item_pos = self.i
            if c in "([":  # refuse before descending: lists do not count towards MAX_DEPTH
                what = "a list" if c == "[" else "an s-expression"
                raise self.error(f"list elements must be literals, found {what}", item_pos)
            node = self.value()
            if not isinstance(node, Lit):
                raise self.error(
                    f"list elements must be literals, found {_describe(node)}", item_pos
                )
            items.append(node)
            self.ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "]":
                if not c:
                    raise self.error(f"missing ']' to close the '[' opened at offset {pos}", self.i)
                raise self.error("expected ',' or ']' in a list", self.i)

    def string(self) -> str:
        text, start = self.text, self.i
        out: list[str] = []
        i = start + 1
        n = len(text)
        while True:
            j = i
            while j < n and text[j] not in '"\\' and text[j] >= " ":
                j += 1
            out.append(text[i:j])
            if j >= n:
                raise self.error("unterminated string", start)
            c = text[j]
            if c == '"':
                self.i = j + 1
                return self._join(out, start)
            if c != "\\":
                raise self.error("control character in a string (use an escape such as \\n)", j)
            e = text[j + 1] if j + 1 < n else ""
            if e in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[e])
                i = j + 2
            elif e in _HEX_ESCAPES:
                width = _HEX_ESCAPES[e]
                digits = text[j + 2 : j + 2 + width]
                if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise self.error(f"\\{e} needs {width} hex digits", j)
                cp = int(digits, 16)
                if cp > 0x10FFFF:
                    raise self.error("escape beyond U+10FFFF", j)
                out.append(chr(cp))
                i = j + 2 + width
            elif e == "\n":
                i = j + 2  # Ion's line continuation
            elif e == "\r":
                i = j + 3 if text.startswith("\r\n", j + 1) else j + 2
            else:
                raise self.error(f"unknown escape \\{e}" if e else "unterminated string", j)

    def _join(self, parts: list[str], start: int) -> str:
        s = "".join(parts)
        try:
            # \uD83D\uDE00 pairs become one code point; a lone surrogate is not text.
            return s.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError as exc:
            raise self.error("string contains a lone surrogate", start) from exc

    def number_or_timestamp(self) -> int | float | Timestamp:
        start = self.i
        m = _TIMESTAMP.match(self.text, start)
        if m is not None:
            self.i = m.end()
            self.end_of_atom(start, "timestamp")
            ns = timestamp_ns(m)
            if ns is None:
                raise self.error(f"invalid date or time in timestamp {m.group()!r}", start)
            return Timestamp(ns, m.group())
        m = _NUMBER.match(self.text, start)
        if m is None:
            raise self.error("expected a number after '-'", start)
        self.i = m.end()
        self.end_of_atom(start, "number")
        raw = m.group()
        digits = raw.lstrip("-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            raise self.error(f"leading zeros are not allowed in {raw!r}", start)
        clean = raw.replace("_", "")
        if m.group(1) is None and m.group(2) is None:
            if len(clean) > 21:  # far beyond 64 bits; also keeps int() away from huge inputs
                raise self.error(f"integer {raw[:24]!r}... is out of the 64-bit range", start)
            value = int(clean)
            if not INT64_MIN <= value <= INT64_MAX:
                raise self.error(f"integer {raw!r} is out of the 64-bit range", start)
            return value
        f = float(clean + ("0" if clean.endswith(".") else ""))
        if f in (float("inf"), float("-inf")):
            raise self.error(f"float {raw!r} is out of range", start)
        return f


def _describe(node: Node) -> str:
    if isinstance(node, Lit):
        return f"an {node.kind}" if node.kind == "integer" else f"a {node.kind}"
    if isinstance(node, ListLit):
        return "a list"
    if isinstance(node, Const):
        return "a document value"
    if isinstance(node, Ref):
        return f"the context reference ${node.key}"
    return f"an s-expression ({node.op} ...)"


def describe(node: Node) -> str:
    """A short phrase naming what ``node`` is, for error messages."""
    return _describe(node)


def parse(text: str) -> Call:
    """Parse rule text; raise :class:`RuleError` (with the offset) if it is not a rule."""
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(
            f"rule longer than {MAX_RULE_CHARS} characters", position=MAX_RULE_CHARS, rule=text
        )
    return _Parser(text).rule()


def render(node: Node) -> str:
    """Rule text for a syntax-tree node (normalised spacing; the same meaning)."""
    if isinstance(node, Call):
        parts = [node.op, *(render(a) for a in node.args)]
        parts += [f"{n.name}::{render(n.value)}" for n in node.named]
        return "(" + " ".join(parts) + ")"
    if isinstance(node, Ref):
        return "$" + (node.key if _REF_KEY.fullmatch(node.key) else json.dumps(node.key))
    if isinstance(node, ListLit):
        return "[" + ", ".join(render(i) for i in node.items) + "]"
    if isinstance(node, Const):
        return json.dumps(node.value, ensure_ascii=False, default=repr)
    v = node.value
    if isinstance(v, Timestamp):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


_ATOMS = frozenset({str, int, float, bool, type(None)})


def value_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and dicts (tuples too) nest deeper than ``limit`` in ``value``.

    Level by level, without recursion; a self-containing list ends at the limit too.
    """
    containers = (dict, list, tuple)
    level = [value] if isinstance(value, containers) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            if _ATOMS.issuperset(map(type, children)):  # all scalars: a C-speed look
                continue
            deeper += [c for c in children if isinstance(c, containers)]
        level = deeper
    return False


def tree_text(call: Call) -> str:
    """The text of a built tree, held to the limits :func:`parse` holds text to.

    Raises :class:`RuleError` when s-expressions or a value nest deeper than
    :data:`MAX_DEPTH`, or when the text is longer than :data:`MAX_RULE_CHARS`: a document that
    arrives as data is held to the same bounds on evaluation work as one that arrives as text.
    """
    stack: list[tuple[Node, int]] = [(call, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Call):
            if depth > MAX_DEPTH:
                raise RuleError(f"rule nested deeper than {MAX_DEPTH} levels", position=0)
            stack.extend((a, depth + 1) for a in node.args)
            stack.extend((n.value, depth + 1) for n in node.named)
        elif isinstance(node, Const) and value_depth_exceeds(node.value, MAX_DEPTH):
            raise RuleError(f"a value nested deeper than {MAX_DEPTH} levels", position=0)
    text = render(call)
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(
            f"rule longer than {MAX_RULE_CHARS} characters (found {len(text)})",
            position=MAX_RULE_CHARS,
            rule=text[:200],
        )
    return text
