"""Rule text of the common shapes straight to closures, or None for the full parser.

Most rules are a few shapes: ``(split pct::10 by::$userId)``, ``(eq $plan "pro")``,
``(in $country ["US","CA"])``, and ``and``/``or``/``not`` of those. :func:`compile_fast`
recognises each call with one regular expression and builds its closure with the very
builders the compiler uses (``fused``), skipping the syntax tree and the compiler's argument
checks: about a third of the time per rule (benchmarks/snapshot_build.py).

It accepts a strict subset of the grammar (docs/rules.md): string literals without escapes or
surrogates, integers of at most 18 digits and plain decimals (``12.5``), the parser's six
whitespace characters, and these calls:

    (and|or|not <call>...)
    (eq|gt|gte|lt|lte|begins_with|ends_with|contains $key <string or number>)
    (in $key [<string or number>, ...])
    (split pct::<number> by::$key [seed::<string>])    named arguments in any order
    (exists key::<string>)

Anything else returns None, and so does anything wrong (a bad pct, a duplicate argument, a
call nested too deep, a rule over its cost budget, a flag key that is not Unicode text): the
full parser and compiler then run, so every error message and ``OverBudget`` comes from one
place. What it returns equals theirs, field for field (tests/test_fuzz.py compiles every
corpus rule both ways and compares the fields and the answers).
"""

from __future__ import annotations

import re
from typing import TypeAlias

from .bucketing import hash_threshold, pct_problem, seed_of
from .closures import Predicate, any_of, contains_value, exists, none_of, text_value
from .fused import (
    SCAN_STEPS,
    Check,
    Leaf,
    compare_leaf,
    conjunction,
    member_leaf,
    single,
    split_only,
    tree,
)
from .parse import MAX_DEPTH, MAX_RULE_CHARS, Scalar

__all__ = ["FastRule", "compile_fast"]

FastRule: TypeAlias = (
    "tuple[Predicate, bool, frozenset[str], tuple[str, bool, int, int] | None, int]"
)
"""``CompiledRule``'s test, has_split, context_keys, bare_split and cost."""

_W = r"[ \t\r\n\f\v]"  # the parser's whitespace, and only it (not Unicode's)
_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_STR = r'"[^"\\\x00-\x1f\ud800-\udfff]*"'  # no escapes, control characters or surrogates
_NUM = r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]+)?"  # int64 by length; no exponent, no "_"
_LIT = f"(?:{_STR}|{_NUM})"
# Each alternative is one call (or the ")" closing an and/or/not), in an outer named group
# so that ``lastgroup`` names it. A value that ends in a letter or digit is followed by a
# delimiter, as the parser requires; a number is never followed by "-" or "T" (a timestamp).
_STEP = re.compile(
    rf"{_W}*(?:"
    rf"(?P<close>\))"
    rf"|(?P<logic>\({_W}*(?P<lop>and|or|not)(?=[ \t\r\n\f\v(]))"
    rf"|(?P<cmp>\({_W}*(?P<op>eq|gte?|lte?|begins_with|ends_with|contains){_W}+"
    rf"\$(?P<ck>{_KEY})(?:{_W}+|(?=\"))(?P<lit>{_LIT}){_W}*\))"
    # a list of strings (the usual list), then any list of literals
    rf"|(?P<strs>\({_W}*in{_W}+\$(?P<sk>{_KEY}){_W}*"
    rf"\[{_W}*(?P<sl>{_STR}(?:{_W}*,{_W}*{_STR})*){_W}*(?:,{_W}*)?\]{_W}*\))"
    rf"|(?P<in>\({_W}*in{_W}+\$(?P<ik>{_KEY}){_W}*"
    rf"\[(?P<items>{_W}*(?:{_LIT}{_W}*(?:,{_W}*{_LIT}{_W}*)*(?:,{_W}*)?)?)\]{_W}*\))"
    # pct, by and seed in the documented order, then in any order (even repeated: refused)
    rf"|(?P<split>\({_W}*split{_W}+pct{_W}*::{_W}*(?P<pct>{_NUM}){_W}+by{_W}*::{_W}*"
    rf"\$(?P<by>{_KEY})(?:{_W}+seed{_W}*::{_W}*(?P<seed>{_STR}))?{_W}*\))"
    rf"|(?P<splitn>\({_W}*split"
    rf"(?P<named>(?:{_W}+(?:pct|by|seed){_W}*::{_W}*(?:{_NUM}|\${_KEY}|{_STR}))+){_W}*\))"
    rf"|(?P<exists>\({_W}*exists{_W}+key{_W}*::{_W}*(?P<ek>{_STR}){_W}*\))"
    r")"
)
_QUOTED = re.compile(r'"([^"]*)"')
_ITEM = re.compile(f"{_STR}|{_NUM}")
_NAMED = re.compile(rf"(pct|by|seed){_W}*::{_W}*({_NUM}|\${_KEY}|{_STR})")
_END = re.compile(rf"{_W}*\Z")
_TEXT_METHODS = {"begins_with": str.startswith, "ends_with": str.endswith}


class _NotFast(Exception):  # noqa: N818 - a signal inside this module, never raised out of it
    """The text is not (or not certainly) a shape this module builds: use the full path."""


def compile_fast(text: str, *, flag_key: str, user_key: str, budget: int | None) -> FastRule | None:
    """``compile_rule``'s result for ``text`` if it is one of the common shapes, else None."""
    if len(text) > MAX_RULE_CHARS:
        return None
    try:
        return _Build(flag_key, user_key).rule(text, budget)
    except (_NotFast, UnicodeEncodeError):  # UnicodeEncodeError: a flag key seeds a split
        return None


def _literal(raw: str) -> Scalar:
    if raw[0] == '"':
        return raw[1:-1]  # no escapes: the characters are the value
    return float(raw) if "." in raw else int(raw)


class _Build:
    __slots__ = ("cost", "flag_key", "has_split", "keys", "last_split", "user_key")

    def __init__(self, flag_key: str, user_key: str) -> None:
        self.flag_key = flag_key
        self.user_key = user_key
        self.cost = 0
        self.has_split = False
        self.keys: set[str] = set()
        self.last_split: tuple[str, bool, int, int] | None = None

    def rule(self, text: str, budget: int | None) -> FastRule:
        # The open and/or/not calls: (operator, operands' leaves). Only leaves are built; a
        # leaf's tree closure (fused.tree) only where an operator keeps the tree, so an ``and``
        # that is fused never makes the closures of its operands.
        stack: list[tuple[str, list[Leaf]]] = []
        pos = 0
        step = _STEP.match
        while True:
            m = step(text, pos)
            if m is None:
                raise _NotFast
            pos = m.end()
            kind = m.lastgroup
            if kind == "logic":
                if len(stack) >= MAX_DEPTH:
                    raise _NotFast
                self.cost += 1
                stack.append((m["lop"], []))
                continue
            if kind == "close":
                if not stack:
                    raise _NotFast
                leaf: Leaf = _logic(*stack.pop())
            else:
                if len(stack) >= MAX_DEPTH:
                    raise _NotFast
                self.cost += 1
                leaf = self.call(kind, m)
            if not stack:
                break
            stack[-1][1].append(leaf)
        if (pos != len(text) and _END.match(text, pos) is None) or (
            budget is not None and self.cost > budget
        ):
            raise _NotFast
        bare = self.last_split if kind in ("split", "splitn") else None
        return single(None, leaf), self.has_split, frozenset(self.keys), bare, self.cost

    def ref(self, key: str) -> tuple[str, bool]:
        self.keys.add(key)
        return key, key == self.user_key

    def call(self, kind: str | None, m: re.Match[str]) -> Leaf:
        if kind == "cmp":
            op, value = m["op"], _literal(m["lit"])
            if op in _TEXT_METHODS:
                if type(value) is not str:
                    raise _NotFast
                return Check(*self.ref(m["ck"]), text_value(_TEXT_METHODS[op], value))
            if op == "contains":
                self.cost += SCAN_STEPS
                return Check(*self.ref(m["ck"]), contains_value(value))
            return compare_leaf(op, *self.ref(m["ck"]), value)
        if kind == "strs":
            return member_leaf(*self.ref(m["sk"]), tuple(_QUOTED.findall(m["sl"])))
        if kind == "in":
            items = tuple(_literal(x) for x in _ITEM.findall(m["items"]))
            return member_leaf(*self.ref(m["ik"]), items)
        if kind == "split":
            return self.split(m["pct"], m["by"], m["seed"])
        if kind == "splitn":
            pairs = _NAMED.findall(m["named"])
            args = dict(pairs)
            pct, by, seed = args.get("pct"), args.get("by"), args.get("seed")
            if (
                len(args) != len(pairs)  # a duplicate argument
                or pct is None
                or pct[0] in '$"'
                or by is None
                or by[0] != "$"
                or (seed is not None and seed[0] != '"')
            ):
                raise _NotFast
            return self.split(pct, by[1:], seed)
        key = m["ek"][1:-1]
        self.keys.add(key)
        return exists(key, key == self.user_key)

    def split(self, pct: str, by: str, seed: str | None) -> Leaf:
        """``pct`` a number's text, ``by`` a key, ``seed`` a string literal or None."""
        value = _literal(pct)
        assert isinstance(value, (int, float))
        # a whole percentage has no decimals to check: its range alone (pct_problem's first test)
        whole = type(value) is int
        if (not 0 <= value <= 100) if whole else (pct_problem(value) is not None):
            raise _NotFast
        seed_int = seed_of(self.flag_key if seed is None else seed[1:-1])
        self.has_split = True
        self.last_split = (*self.ref(by), seed_int, hash_threshold(value))
        return split_only(*self.last_split)


def _logic(op: str, leaves: list[Leaf]) -> Predicate:
    if not leaves or (op == "not" and len(leaves) != 1):
        raise _NotFast
    if op == "and":
        return conjunction(None, leaves)
    return any_of([tree(x) for x in leaves]) if op == "or" else none_of(tree(leaves[0]))
