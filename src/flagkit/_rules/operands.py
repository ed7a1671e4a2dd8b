"""Closures for operands that are only known at evaluation time (docs/rules.md, "Operands").

AWS's rule grammar lets an operand be "static, such as a literal number or string, or variable,
such as the value found in a context or the result of another expression" (user guide,
"Defining rules for multi-variant feature flags"). A comparison of a context value with a
literal is compiled by ``closures`` with the literal's coercion chosen once; this module covers
the rest, where neither side is a literal of known type: two context values (``(eq $a $b)``),
a context value and an expression's result (``(eq $beta (gt $age 18))``), two results, and a
context value or boolean literal used as an operand of ``and``/``or``/``not``.

Two values compare as the first kind both can be read as, in this order: number, timestamp,
boolean, text (each read as ``closures`` reads a context value for a literal of that kind).
Values with no kind in common are unequal and unordered, so the comparison is false. An absent
context value makes the comparison false, as everywhere in the rule language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from .closures import (
    _ORDER,
    COLLECTIONS,
    Attributes,
    Key,
    Predicate,
    as_bool,
    as_number,
    as_text,
    as_timestamp,
)

__all__ = ["Getter", "compare", "constant", "contains", "context", "outcome", "text", "truth"]

Getter: TypeAlias = "Callable[[object, Attributes], object]"
"""An operand's value for one call, or None when a context value is absent."""

_READERS: tuple[Callable[[object], Key | None], ...] = (as_number, as_timestamp, as_bool, as_text)


def constant(value: object) -> Getter:
    def get(user_id: object, attributes: Attributes) -> object:
        return value

    return get


def context(key: str, is_user: bool) -> Getter:
    """``$key``: the user id for the user key, else the attribute (None when absent)."""
    if is_user:

        def get_user(user_id: object, attributes: Attributes) -> object:
            if user_id is not None:
                return user_id
            return None if attributes is None else attributes.get(key)

        return get_user

    def get(user_id: object, attributes: Attributes) -> object:
        return None if attributes is None else attributes.get(key)

    return get


def outcome(pred: Predicate) -> Getter:
    """The result of a nested expression: always True or False."""

    def get(user_id: object, attributes: Attributes) -> object:
        return pred(user_id, attributes)

    return get


def same_kind(x: object, y: object) -> tuple[Key, Key] | None:
    """``x`` and ``y`` read as the first kind both can be read as, or None."""
    for read in _READERS:
        a = read(x)
        if a is not None:
            b = read(y)
            if b is not None:
                return a, b
    return None


def compare(op: str, left: Getter, right: Getter) -> Predicate:
    """``left <op> right`` (``eq gt gte lt lte``) for two operands known only per call."""
    cmp = _ORDER[op]

    def test(user_id: object, attributes: Attributes) -> bool:
        x = left(user_id, attributes)
        if x is None:
            return False
        y = right(user_id, attributes)
        if y is None:
            return False
        pair = same_kind(x, y)
        return pair is not None and cmp(pair[0], pair[1])

    return test


def text(method: Callable[[str, str], bool], left: Getter, right: Getter) -> Predicate:
    """``method(text(left), text(right))``, e.g. ``str.startswith`` with a prefix from context."""

    def test(user_id: object, attributes: Attributes) -> bool:
        x = left(user_id, attributes)
        y = right(user_id, attributes)
        if x is None or y is None:
            return False
        s, t = as_text(x), as_text(y)
        return s is not None and t is not None and method(s, t)

    return test


def contains(left: Getter, right: Getter) -> Predicate:
    """Text ``left`` contains text ``right``, or collection ``left`` has an element equal to it."""
    equal = _ORDER["eq"]

    def test(user_id: object, attributes: Attributes) -> bool:
        x = left(user_id, attributes)
        y = right(user_id, attributes)
        if x is None or y is None:
            return False
        s = as_text(x)
        if s is not None:
            t = as_text(y)
            return t is not None and t in s
        try:
            if not isinstance(x, COLLECTIONS):
                return False
            for e in x:
                pair = same_kind(e, y)
                if pair is not None and equal(pair[0], pair[1]):
                    return True
        except Exception:  # a hostile __iter__; not a collection we can read
            return False
        return False

    return test


def truth(get: Getter) -> Predicate:
    """An operand of ``and``/``or``/``not`` that is not an expression: true when it reads as
    the boolean true (``True`` or ``"true"``), false otherwise, absent included."""

    def test(user_id: object, attributes: Attributes) -> bool:
        return as_bool(get(user_id, attributes)) is True

    return test
