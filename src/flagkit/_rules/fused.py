"""Leaves, and an ``and`` of leaves fused into one Python frame.

``compile`` builds a rule as a tree of closures, one Python call per node: S3's
``(and (in $country ["US","CA"]) (eq $plan "pro") (split pct::25 by::$userId))`` is
``all_of -> bind -> member_of``, ``bind -> eq``, ``split``, four or more frames per evaluation
at about 30 ns each. The builders here return each leaf's closure together with a description
of it (:class:`Check`, :class:`SplitLeaf`); :func:`conjunction` then makes, for an ``and``,
one closure that reads every context value and tests it inline, in the tree's order, and
answers exactly what the tree answers:

* a ``str`` value is tested against a leaf's string literals inline (``v in S``, ``v == s``),
  and an ASCII ``str`` is hashed inline for a split;
* any other value (an int read as text, a subclass, a float, a non-ASCII key...) goes to the
  leaf's own value predicate, the very function the tree calls; None is missing, as there;
* ``attributes=None`` is answered False at once when the first leaf reads an attribute (the
  tree's first leaf answers False there, reading nothing more); otherwise each leaf reads None
  for an attribute, as the tree's leaves do;
* any other operand of the ``and`` (an ``or``, a ``not``...) is called as the tree calls it.

The closure is generated (``exec``) once per *shape*, the kinds of the leaves, and cached.
The generated source holds fixed code and parameter names (``k0``, ``p0``...) only, never a
rule's keys or literals: those are bound as closure variables when the cached factory is
called, as dataclasses and attrs bind an ``__init__``'s defaults. ``compile`` and the text fast
path (``fast``) build leaves with these same functions, so both give the same closures.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, TypeAlias, cast

import mmh3

from .closures import (
    TEXT_ONLY,
    Predicate,
    ValuePredicate,
    all_of,
    bind,
    eq_value,
    member_of_value,
    order_value,
    split,
    split_slow,
)
from .parse import Scalar

__all__ = [
    "MAX_FUSED",
    "SCAN_STEPS",
    "Check",
    "Leaf",
    "SplitLeaf",
    "check",
    "compare_check",
    "conjunction",
    "member_check",
    "single",
    "split_leaf",
]

SCAN_STEPS = 100  # what a walk over a context list costs, as if the list had 100 elements
MAX_FUSED = 8  # operands of one ``and``; a longer one keeps the tree (bounds the shape cache)


class Check(NamedTuple):
    """``$key`` read and tested by ``pred``, a value predicate (called with a present value).

    ``strings``: when not None, ``pred`` of an exact ``str`` is ``value in strings``, so a
    fused closure tests a ``str`` inline and calls ``pred`` for anything else.
    """

    key: str
    is_user: bool
    pred: ValuePredicate
    strings: frozenset[str] | None = None


class SplitLeaf(NamedTuple):
    """``(split ...)`` with a non-zero threshold (a zero one is the constant false closure)."""

    key: str
    is_user: bool
    seed: int
    threshold: int


Leaf: TypeAlias = "Check | SplitLeaf | Predicate"
"""A described leaf, or any other predicate (an operand a fused closure calls as it is)."""
Built: TypeAlias = "tuple[Predicate, Leaf]"


def check(key: str, is_user: bool, pred: ValuePredicate) -> Built:
    """``$key`` tested by ``pred``: the tree's closure and its description."""
    return bind(key, is_user, pred), Check(key, is_user, pred)


def compare_check(op: str, key: str, is_user: bool, lit: Scalar) -> Built:
    """``(op $key lit)`` for ``eq gt gte lt lte``."""
    if op != "eq":
        return check(key, is_user, order_value(op, lit))
    pred = eq_value(lit)
    strings = frozenset((lit,)) if type(lit) is str else None
    return bind(key, is_user, pred), Check(key, is_user, pred, strings)


def member_check(key: str, is_user: bool, items: tuple[Scalar, ...]) -> Built:
    """``(in $key [items])``."""
    pred = member_of_value(items)
    text = TEXT_ONLY.issuperset(map(type, items))
    strings = cast("frozenset[str]", frozenset(items)) if text else None
    return bind(key, is_user, pred), Check(key, is_user, pred, strings)


def split_leaf(key: str, is_user: bool, seed: int, threshold: int) -> Built:
    """``(split ...)`` resolved to its hash seed and threshold."""
    pred = split(key, is_user, seed, threshold)
    return pred, SplitLeaf(key, is_user, seed, threshold) if threshold else pred


def conjunction(preds: list[Predicate], leaves: list[Leaf]) -> Predicate:
    """``(and ...)`` of ``preds`` (described by ``leaves``, in the same order): fused when that
    inlines something, else the tree's ``all_of``."""
    fused = _fuse(leaves) if len(leaves) <= MAX_FUSED else None
    return all_of(preds) if fused is None else fused


def single(pred: Predicate, leaf: Leaf | None) -> Predicate:
    """A whole rule that is one leaf: one frame instead of ``bind`` and its value predicate."""
    fused = _fuse([leaf]) if isinstance(leaf, Check) else None
    return pred if fused is None else fused


# --- code generation ---------------------------------------------------------------------

# a leaf's kind in a shape: a Check whose str test is ``==`` ("eq") or ``in`` ("in"), or that
# always calls its predicate ("call"); a split ("split"); any other operand ("other"); and
# whether it reads the user id first
_Kind: TypeAlias = "tuple[str, bool]"


def _fuse(leaves: list[Leaf]) -> Predicate | None:
    """The fused closure for ``leaves``, or None when none of them can be inlined."""
    shape: list[_Kind] = []
    args: list[object] = [mmh3.hash]
    for leaf in leaves:
        if isinstance(leaf, Check):
            if leaf.strings is None:
                shape.append(("call", leaf.is_user))
                args += (leaf.key, leaf.pred)
            elif len(leaf.strings) == 1:
                shape.append(("eq", leaf.is_user))
                args += (leaf.key, *leaf.strings, leaf.pred)
            else:
                shape.append(("in", leaf.is_user))
                args += (leaf.key, leaf.strings, leaf.pred)
        elif isinstance(leaf, SplitLeaf):
            shape.append(("split", leaf.is_user))
            args += (leaf.key, leaf.seed, leaf.threshold, split_slow(leaf.seed, leaf.threshold))
        else:
            shape.append(("other", False))
            args.append(leaf)
    if all(kind == "other" for kind, _ in shape):
        return None
    return _factory(tuple(shape))(*args)


@functools.lru_cache(maxsize=256)
def _factory(shape: tuple[_Kind, ...]) -> Callable[..., Predicate]:
    """``make(hash_, <each leaf's arguments>) -> fused`` for leaves of this shape."""
    params = ["hash_"]
    body = ["def fused(user_id, attributes):"]
    first_kind, first_user = shape[0]
    # attributes=None: when the first leaf reads an attribute, the tree answers False there
    # and reads nothing more; otherwise every leaf reads None for an attribute, as in the tree
    guarded = first_kind != "other" and not first_user
    if guarded:
        body.append("    if attributes is None: return False")
    # all_of of one or two operands answers the last one's own value (``a and b``); of three
    # or more, True or False (its loop). Every leaf here answers a bool, but the fused closure
    # keeps the distinction, so it is the tree's answer whatever an operand returns.
    strict = len(shape) > 2
    for i, (kind, is_user) in enumerate(shape):
        last = i == len(shape) - 1
        params += _PARAMS[kind](i)
        body += _leaf_lines(i, kind, is_user, last=last, strict=strict, guarded=guarded)
    source = "\n".join(
        [f"def make({', '.join(params)}):", *("    " + line for line in body), "    return fused"]
    )
    namespace: dict[str, object] = {}
    # the source is built from the fixed fragments below and parameter names only
    exec(compile(source, f"<flagkit fused {shape}>", "exec"), namespace)  # noqa: S102
    make = namespace["make"]
    assert callable(make)
    return make


_PARAMS: dict[str, Callable[[int], list[str]]] = {
    "eq": lambda i: [f"k{i}", f"s{i}", f"p{i}"],
    "in": lambda i: [f"k{i}", f"s{i}", f"p{i}"],
    "call": lambda i: [f"k{i}", f"p{i}"],
    "split": lambda i: [f"k{i}", f"e{i}", f"t{i}", f"f{i}"],
    "other": lambda i: [f"q{i}"],
}


def _leaf_lines(
    i: int, kind: str, is_user: bool, *, last: bool, strict: bool, guarded: bool
) -> list[str]:
    """The body lines of leaf ``i``: return its answer when it is the tree's last word, else
    return False (or the operand's own falsy answer) when it fails and fall through."""
    if kind == "other":
        call = f"q{i}(user_id, attributes)"
        if last:
            return (
                [f"    return {call}"] if not strict else [f"    return True if {call} else False"]
            )
        if strict:
            return [f"    if not {call}: return False"]
        return [f"    r = {call}", "    if not r: return r"]
    get = (
        f"attributes.get(k{i})"
        if guarded
        else f"None if attributes is None else attributes.get(k{i})"
    )
    read = f"    v = user_id if user_id is not None else {get}" if is_user else f"    v = {get}"
    if kind == "split":
        inline = f"hash_(v, e{i}, False)"
        if last:
            test = [f"        return {inline} < t{i}", f"    return f{i}(v)"]
        else:
            test = [
                f"        if {inline} >= t{i}: return False",
                f"    elif not f{i}(v): return False",
            ]
        return [read, "    if type(v) is str and v.isascii():", *test]
    if kind == "call":
        if last:
            answer = f"v is not None and p{i}(v)"
            return [
                read,
                f"    return True if {answer} else False" if strict else f"    return {answer}",
            ]
        if strict:
            return [read, f"    if v is None or not p{i}(v): return False"]
        return [
            read,
            "    if v is None: return False",
            f"    r = p{i}(v)",
            "    if not r: return r",
        ]
    inline = f"v == s{i}" if kind == "eq" else f"v in s{i}"
    if last:  # the predicate answers a bool: the tree's answer in both modes
        return [
            read,
            "    if type(v) is str:",
            f"        return {inline}",
            f"    return v is not None and p{i}(v)",
        ]
    failed = f"v != s{i}" if kind == "eq" else f"v not in s{i}"
    return [
        read,
        "    if type(v) is str:",
        f"        if {failed}: return False",
        f"    elif v is None or not p{i}(v): return False",
    ]
