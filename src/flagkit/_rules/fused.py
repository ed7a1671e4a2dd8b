"""Leaves, and an ``and`` of leaves fused into one Python frame.

``compile`` builds a rule as a tree of closures, one Python call per node: S3's
``(and (in $country ["US","CA"]) (eq $plan "pro") (split pct::25 by::$userId))`` is
``all_of -> bind -> member_of``, ``bind -> eq``, ``split``: six frames per evaluation, at
about 30 ns each. The builders here return each leaf's closure together with a description of
it (:class:`Check`, :class:`SplitLeaf`). :func:`conjunction` then builds an ``and`` whose
operands are string checks of attributes (``in``/``eq`` against string literals), optionally
ending in a ``split``, as one closure that reads each value and tests it inline, in the
tree's order, and answers exactly what the tree answers:

* a ``str`` value is tested against the string literals inline (``v in S``), and an ASCII
  ``str`` is hashed inline for the split;
* any other value (an int read as text, a subclass, a float, a non-ASCII key...) goes to the
  leaf's own value predicate, the very function the tree calls; None is missing, as there;
* ``attributes=None`` is False at once: the tree's first leaf answers False, reading nothing.

Any other ``and`` keeps the tree. :func:`single` does the same for a rule that is one string
check. ``compile`` and the text fast path (``fast``) build leaves with these same functions, so
both give the same closures.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias, cast

import mmh3

from .closures import (
    TEXT_ONLY,
    Attributes,
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
    "SCAN_STEPS",
    "Check",
    "Leaf",
    "SplitLeaf",
    "check",
    "compare_check",
    "compare_leaf",
    "conjunction",
    "member_check",
    "member_leaf",
    "single",
    "split_leaf",
    "split_only",
    "tree",
]

SCAN_STEPS = 100  # what a walk over a context list costs, as if the list had 100 elements


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


# Each builder comes in two forms: ``*_leaf`` gives the description alone, and the tree's
# closure is made from it by :func:`tree` only where a caller needs one (``_rules.fast`` builds
# an ``and`` it fuses without ever making its operands' closures); the others give both.


def tree(leaf: Leaf) -> Predicate:
    """The tree's closure for ``leaf``: what the builders below pair it with."""
    if isinstance(leaf, Check):
        return bind(leaf.key, leaf.is_user, leaf.pred)
    if isinstance(leaf, SplitLeaf):
        return split(*leaf)
    return leaf


def check(key: str, is_user: bool, pred: ValuePredicate) -> Built:
    """``$key`` tested by ``pred``: the tree's closure and its description."""
    return bind(key, is_user, pred), Check(key, is_user, pred)


def compare_leaf(op: str, key: str, is_user: bool, lit: Scalar) -> Check:
    """``(op $key lit)`` for ``eq gt gte lt lte``, described."""
    if op != "eq":
        return Check(key, is_user, order_value(op, lit))
    strings = frozenset((lit,)) if type(lit) is str else None
    return Check(key, is_user, eq_value(lit), strings)


def compare_check(op: str, key: str, is_user: bool, lit: Scalar) -> Built:
    """``(op $key lit)`` for ``eq gt gte lt lte``."""
    leaf = compare_leaf(op, key, is_user, lit)
    return bind(key, is_user, leaf.pred), leaf


def member_leaf(key: str, is_user: bool, items: tuple[Scalar, ...]) -> Check:
    """``(in $key [items])``, described."""
    text = TEXT_ONLY.issuperset(map(type, items))
    strings = cast("frozenset[str]", frozenset(items)) if text else None
    return Check(key, is_user, member_of_value(items), strings)


def member_check(key: str, is_user: bool, items: tuple[Scalar, ...]) -> Built:
    """``(in $key [items])``."""
    leaf = member_leaf(key, is_user, items)
    return bind(key, is_user, leaf.pred), leaf


def split_leaf(key: str, is_user: bool, seed: int, threshold: int) -> Built:
    """``(split ...)`` resolved to its hash seed and threshold."""
    pred = split(key, is_user, seed, threshold)
    return pred, SplitLeaf(key, is_user, seed, threshold) if threshold else pred


def split_only(key: str, is_user: bool, seed: int, threshold: int) -> Leaf:
    """``split_leaf``'s description alone (a zero threshold: the constant false closure)."""
    return SplitLeaf(key, is_user, seed, threshold) if threshold else split(key, is_user, 0, 0)


def conjunction(preds: list[Predicate] | None, leaves: list[Leaf]) -> Predicate:
    """``(and ...)`` of ``preds`` (described by ``leaves``, in the same order): one closure when
    the operands are string checks, optionally ending in a split; else the tree's ``all_of``
    (of ``preds``, or when None of the leaves' :func:`tree` closures)."""
    last = leaves[-1]
    split_ = last if isinstance(last, SplitLeaf) else None
    keyed: list[tuple[str, _Strings, ValuePredicate]] = []
    for c in leaves[:-1] if split_ is not None else leaves:
        if not isinstance(c, Check) or c.strings is None or c.is_user:
            return all_of(preds if preds is not None else [tree(x) for x in leaves])
        keyed.append((c.key, c.strings, c.pred))
    if not keyed:
        return all_of(preds if preds is not None else [tree(x) for x in leaves])
    if split_ is None:
        return _one(*keyed[0]) if len(keyed) == 1 else _checks(tuple(keyed), None)
    key, is_user, seed, threshold = split_
    if len(keyed) == 2:
        return _two_then_split(*keyed[0], *keyed[1], key, is_user, seed, threshold)
    return _checks(tuple(keyed), (key, is_user, seed, threshold))


def single(pred: Predicate | None, leaf: Leaf | None) -> Predicate:
    """A whole rule that is one leaf: one frame instead of ``bind`` and its value predicate.

    ``pred`` is the leaf's tree closure, or None to make it from ``leaf`` if needed."""
    if not isinstance(leaf, Check) or leaf.strings is None:
        if pred is None:
            assert leaf is not None
            return tree(leaf)
        return pred
    if leaf.is_user:
        return _one_user(leaf.key, leaf.strings, leaf.pred)
    return _one(leaf.key, leaf.strings, leaf.pred)


# --- the fused closures --------------------------------------------------------------------
#
# Written out by hand for the common shapes (no code is generated at run time: see
# tests/test_security.py). Each string check reads its attribute once and decides a ``str``
# inline; anything else goes to its predicate, which is what the tree's ``bind`` calls, with
# None meaning missing, as there. Every leaf answers a bool, so "False at the first failing
# leaf, else the last one's answer" is all_of's answer for any number of operands. The first
# leaf reads an attribute, so ``attributes=None`` is False at once, as in the tree.

_Strings: TypeAlias = "frozenset[str]"


def _one(k0: str, s0: _Strings, p0: ValuePredicate) -> Predicate:
    def fused(user_id: object, attributes: Attributes) -> bool:
        if attributes is None:
            return False
        v = attributes.get(k0)
        return (v in s0) if type(v) is str else (v is not None and p0(v))

    return fused


def _one_user(k0: str, s0: _Strings, p0: ValuePredicate) -> Predicate:
    def fused_user(user_id: object, attributes: Attributes) -> bool:
        v = user_id if user_id is not None else (None if attributes is None else attributes.get(k0))
        return (v in s0) if type(v) is str else (v is not None and p0(v))

    return fused_user


def _two_then_split(  # S3's shape: _checks' loop unrolled (about 25 ns less a call)
    k0: str,
    s0: _Strings,
    p0: ValuePredicate,
    k1: str,
    s1: _Strings,
    p1: ValuePredicate,
    key: str,
    is_user: bool,
    seed: int,
    threshold: int,
) -> Predicate:
    hash_, slow = mmh3.hash, split_slow(seed, threshold)

    def fused(user_id: object, attributes: Attributes) -> bool:
        if attributes is None:
            return False
        v = attributes.get(k0)
        if (v not in s0) if type(v) is str else (v is None or not p0(v)):
            return False
        v = attributes.get(k1)
        if (v not in s1) if type(v) is str else (v is None or not p1(v)):
            return False
        v = user_id if is_user and user_id is not None else attributes.get(key)
        if type(v) is str and v.isascii():
            return hash_(v, seed, False) < threshold
        return slow(v)

    return fused


def _checks(
    keyed: tuple[tuple[str, _Strings, ValuePredicate], ...],
    tail: tuple[str, bool, int, int] | None,
) -> Predicate:
    """Any number of string checks, and maybe a split: one frame, a loop over the checks."""
    hash_ = mmh3.hash
    key, is_user, seed, threshold = tail or ("", False, 0, 0)
    slow = split_slow(seed, threshold)
    has_split = tail is not None

    def fused_n(user_id: object, attributes: Attributes) -> bool:
        if attributes is None:
            return False
        for k, s, p in keyed:
            v = attributes.get(k)
            if (v not in s) if type(v) is str else (v is None or not p(v)):
                return False
        if not has_split:
            return True
        v = user_id if is_user and user_id is not None else attributes.get(key)
        if type(v) is str and v.isascii():
            return hash_(v, seed, False) < threshold
        return slow(v)

    return fused_n
