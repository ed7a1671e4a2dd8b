"""The closures a rule compiles to, and how they read context values (docs/rules.md).

``flagkit._rules.compile`` checks a parsed rule and picks one of these builders per operator; the
result is a tree of closures ``test(user_id, attributes) -> bool`` that never walks a syntax
tree, looks anything up by operator name, or raises on plain data. A reference to the user
key gets its own closure (it reads ``user_id`` first), so that choice is made once, too.

Types. The literal in a rule decides the comparison, and the context value is coerced
towards it; anything that cannot be coerced makes the comparison false:

* text: a ``str``, or an ``int`` (never a ``bool``) as its decimal digits;
* number: an ``int`` or ``float`` (never a ``bool``), or a ``str`` spelled as a decimal number
  (``"65"``, ``"-1.5e3"``), since context from HTTP headers arrives as strings;
* boolean: a ``bool``, or exactly ``"true"`` / ``"false"``;
* timestamp: a ``datetime`` (naive means UTC), a ``date`` (its midnight UTC), or a ``str`` in the
  rule's own timestamp syntax; numbers are never timestamps (seconds or milliseconds?).

Subclasses (``StrEnum``, ``IntEnum``) are read through the base type's own slot, so an
overridden ``__eq__``/``__str__`` is never called. A context key whose value is ``None`` is
treated exactly like a missing key, and value predicates are never called with ``None``.
"""

from __future__ import annotations

import datetime as _dt
import operator
import re
from collections.abc import Callable, Mapping
from typing import TypeAlias, cast

import mmh3

from .parse import _TIMESTAMP, Scalar, Timestamp, timestamp_ns

Attributes: TypeAlias = "Mapping[str, object] | None"
Predicate: TypeAlias = "Callable[[object, Attributes], bool]"
ValuePredicate: TypeAlias = "Callable[[object], bool]"
Key: TypeAlias = "str | int | float | bool"  # a literal's comparable form

# --- reading context values (total: None instead of raising) -----------------------------

# An int is text only inside the 64-bit range (signed or unsigned): beyond it, ``str(int)`` is
# slow and, past 4300 digits, raises.
_TEXT_INT_MIN, _TEXT_INT_MAX = -(2**63), 2**64 - 1
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_TEXT_MAX = 64  # longer numeric strings are not numbers (keeps int() cheap)
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_NS = 1_000_000_000
COLLECTIONS = (list, tuple, set, frozenset)


def as_text(v: object) -> str | None:
    """``v`` as text, or None."""
    if type(v) is str:
        return v
    if type(v) is int:
        return str(v) if _TEXT_INT_MIN <= v <= _TEXT_INT_MAX else None
    try:
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return as_text(int.__int__(v))
    except Exception:  # a hostile __class__ or slot; the value is simply not text
        return None
    return None


def _parse_number(s: str) -> int | float | None:
    if len(s) > _NUMBER_TEXT_MAX:
        return None
    if s.isascii() and s.isdigit():  # the common header case, "65", without the regex
        return int(s)
    if _NUMBER_TEXT.fullmatch(s) is None:
        return None
    if "." in s or "e" in s or "E" in s:
        return float(s)
    return int(s)


def as_number(v: object) -> int | float | None:
    """``v`` as a number, or None (``bool`` is never a number)."""
    if type(v) is int or type(v) is float:
        return v
    if type(v) is str:
        return _parse_number(v)
    try:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return int.__int__(v)
        if isinstance(v, float):
            return float.__float__(v)
        if isinstance(v, str):
            return _parse_number(str.__str__(v))
    except Exception:  # see as_text
        return None
    return None


def as_bool(v: object) -> bool | None:
    """``v`` as a boolean, or None."""
    if v is True or v is False:
        return v
    if type(v) is str:
        return True if v == "true" else False if v == "false" else None
    return None


def as_timestamp(v: object) -> int | None:
    """``v`` as nanoseconds since 1970-01-01T00:00Z, or None."""
    try:
        if isinstance(v, str):
            m = _TIMESTAMP.fullmatch(str.__str__(v))
            return None if m is None else timestamp_ns(m)
        if isinstance(v, _dt.datetime):
            seconds = (v.toordinal() - _EPOCH_ORDINAL) * 86400 + v.hour * 3600 + v.minute * 60
            ns = (seconds + v.second) * _NS + v.microsecond * 1000
            off = v.utcoffset()  # calls the tzinfo: user code, hence the try
            if off is not None:
                ns -= (off.days * 86400 + off.seconds) * _NS + off.microseconds * 1000
            return ns
        if isinstance(v, _dt.date):
            return (v.toordinal() - _EPOCH_ORDINAL) * 86400 * _NS
    except Exception:  # see as_text
        return None
    return None


def literal_key(lit: Scalar) -> Key:
    """The comparable form of a literal: a timestamp compares by its nanoseconds."""
    return lit.ns if isinstance(lit, Timestamp) else lit


def coercer_for(lit: Scalar) -> Callable[[object], Key | None]:
    """The coercion that a literal of this type applies to a context value."""
    if isinstance(lit, bool):
        return as_bool
    if isinstance(lit, str):
        return as_text
    if isinstance(lit, Timestamp):
        return as_timestamp
    return as_number


# --- value predicates: called only with a present, non-None context value ------------------


def _never(_: object) -> bool:
    return False


def eq_value(lit: Scalar) -> ValuePredicate:
    """``value == lit`` under the literal's coercion."""
    if type(lit) is str:
        s = lit

        def eq_text(v: object) -> bool:
            if type(v) is str:
                return v == s
            t = as_text(v)
            return t is not None and t == s

        return eq_text
    return _coerced(coercer_for(lit), operator.eq, literal_key(lit))


def _coerced(
    coerce: Callable[[object], Key | None], op: Callable[[Key, Key], bool], key: Key
) -> ValuePredicate:
    def pred(v: object) -> bool:
        x = coerce(v)
        return x is not None and op(x, key)

    return pred


def order_value(op: str, lit: Scalar) -> ValuePredicate:
    """``value <op> lit``: numbers by value, timestamps by instant, text by code point,
    ``false < true``."""
    return _coerced(coercer_for(lit), _ORDER[op], literal_key(lit))


_ORDER: dict[str, Callable[[Key, Key], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
FLIPPED = {"eq": "eq", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def text_value(method: Callable[[str, str], bool], s: str) -> ValuePredicate:
    """``method(text(value), s)``, e.g. ``str.startswith``."""

    def pred(v: object) -> bool:
        if type(v) is str:
            return method(v, s)
        t = as_text(v)
        return t is not None and method(t, s)

    return pred


TEXT_ONLY = frozenset({str})  # ``TEXT_ONLY.issuperset(map(type, items))``: all strings


def member_of_value(items: tuple[Scalar, ...]) -> ValuePredicate:
    """``value`` equals one of ``items`` (each under its own coercion)."""
    if TEXT_ONLY.issuperset(map(type, items)):  # the usual list of strings (or none at all)
        return one_of_strings(cast("frozenset[str]", frozenset(items))) if items else _never
    strings = frozenset(x for x in items if type(x) is str)
    groups: list[tuple[Callable[[object], Key | None], frozenset[Key]]] = []
    for coerce in (as_number, as_bool, as_timestamp):
        keys = frozenset(literal_key(x) for x in items if coercer_for(x) is coerce)
        if keys:
            groups.append((coerce, keys))

    def in_items(v: object) -> bool:
        if strings:
            t = v if type(v) is str else as_text(v)
            if t is not None and t in strings:
                return True
        for coerce, keys in groups:
            x = coerce(v)
            if x is not None and x in keys:
                return True
        return False

    return in_items


def one_of_strings(strings: frozenset[str]) -> ValuePredicate:
    """``value``, read as text, is one of ``strings``."""

    def in_strings(v: object) -> bool:
        if type(v) is str:
            return v in strings
        t = as_text(v)
        return t is not None and t in strings

    return in_strings


def collection_has(member: ValuePredicate) -> ValuePredicate:
    """``value`` is a list/tuple/set with an element that satisfies ``member``."""

    def pred(v: object) -> bool:
        if type(v) in COLLECTIONS:
            return any(member(e) for e in v)  # type: ignore[attr-defined]
        try:
            return isinstance(v, COLLECTIONS) and any(member(e) for e in v)
        except Exception:  # a hostile __iter__; not a collection we can read
            return False

    return pred


def contains_value(lit: Scalar) -> ValuePredicate:
    """A substring of text (string literal only), or an element of a collection."""
    has = collection_has(eq_value(lit))
    if type(lit) is not str:
        return has
    s = lit

    def pred(v: object) -> bool:
        if type(v) is str:
            return s in v
        t = as_text(v)
        if t is not None:
            return s in t
        return has(v)

    return pred


# --- binding a value predicate to a context reference ----------------------------------------


def bind(key: str, is_user: bool, pred: ValuePredicate) -> Predicate:
    """Resolve ``$key`` once per call and test it; absent or None is false without a call."""
    if is_user:

        def test_user(user_id: object, attributes: Attributes) -> bool:
            if user_id is not None:
                return pred(user_id)
            if attributes is None:
                return False
            v = attributes.get(key)
            return v is not None and pred(v)

        return test_user

    def test(user_id: object, attributes: Attributes) -> bool:
        if attributes is None:
            return False
        v = attributes.get(key)
        return v is not None and pred(v)

    return test


def exists(key: str, is_user: bool) -> Predicate:
    if is_user:

        def test_user(user_id: object, attributes: Attributes) -> bool:
            return user_id is not None or (
                attributes is not None and attributes.get(key) is not None
            )

        return test_user

    def test(user_id: object, attributes: Attributes) -> bool:
        return attributes is not None and attributes.get(key) is not None

    return test


def split(key: str, is_user: bool, seed: int, threshold: int) -> Predicate:
    """The hot path: one closure, one mmh3 call on the str itself (no encode) when ASCII.

    Non-ASCII strings take the slow path because mmh3 5.x dereferences NULL (segfaults) on a
    ``str`` with a lone surrogate; there the UTF-8 bytes are made with ``surrogatepass``.
    """
    if threshold == 0:
        return _false
    hash_ = mmh3.hash
    slow = split_slow(seed, threshold)

    if is_user:

        def split_user(user_id: object, attributes: Attributes) -> bool:
            v = (
                user_id
                if user_id is not None
                else (None if attributes is None else attributes.get(key))
            )
            if type(v) is str and v.isascii():
                return hash_(v, seed, False) < threshold
            return slow(v)

        return split_user

    def split_key(user_id: object, attributes: Attributes) -> bool:
        v = None if attributes is None else attributes.get(key)
        if type(v) is str and v.isascii():
            return hash_(v, seed, False) < threshold
        return slow(v)

    return split_key


def split_slow(seed: int, threshold: int) -> ValuePredicate:
    """What :func:`split` decides for a value that is not an ASCII ``str`` (None included)."""
    hash_ = mmh3.hash

    def slow(v: object) -> bool:
        if type(v) is int and _TEXT_INT_MIN <= v <= _TEXT_INT_MAX:
            return hash_(str(v), seed, False) < threshold  # decimal digits: ASCII, no encode
        t = as_text(v)  # None for None, bool, float, bytes, containers, ...
        if t is None:
            return False
        return hash_(t.encode("utf-8", "surrogatepass"), seed, False) < threshold

    return slow


def hasher(key: str, is_user: bool, seed: int) -> Callable[[object, Attributes], int]:
    """The 32-bit split hash of the ``by`` value, or -1 when the value is never in a split.

    The same value rules as :func:`split`, so a flag whose variants are all bare splits on one
    key and seed can hash once and compare against each variant's threshold.
    """
    hash_ = mmh3.hash

    def slow(v: object) -> int:
        if type(v) is int and _TEXT_INT_MIN <= v <= _TEXT_INT_MAX:
            return hash_(str(v), seed, False)
        t = as_text(v)
        if t is None:
            return -1
        return hash_(t.encode("utf-8", "surrogatepass"), seed, False)

    def of(user_id: object, attributes: Attributes) -> int:
        v = (
            user_id
            if is_user and user_id is not None
            else (None if attributes is None else attributes.get(key))
        )
        if type(v) is str and v.isascii():
            return hash_(v, seed, False)
        return slow(v)

    return of


def _false(user_id: object, attributes: Attributes) -> bool:
    return False


def all_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds

        def and2(user_id: object, attributes: Attributes) -> bool:
            return a(user_id, attributes) and b(user_id, attributes)

        return and2
    ps = tuple(preds)

    def and_n(user_id: object, attributes: Attributes) -> bool:
        for p in ps:  # noqa: SIM110 - a plain loop beats all() over a generator here
            if not p(user_id, attributes):
                return False
        return True

    return and_n


def any_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds

        def or2(user_id: object, attributes: Attributes) -> bool:
            return a(user_id, attributes) or b(user_id, attributes)

        return or2
    ps = tuple(preds)

    def or_n(user_id: object, attributes: Attributes) -> bool:
        for p in ps:  # noqa: SIM110 - see and_n
            if p(user_id, attributes):
                return True
        return False

    return or_n


def none_of(pred: Predicate) -> Predicate:
    def not_(user_id: object, attributes: Attributes) -> bool:
        return not pred(user_id, attributes)

    return not_


def matches_value(found: Callable[[str], bool]) -> ValuePredicate:
    """``found(text(value))``: a compiled pattern's unanchored search (see compile_pattern)."""

    def matches(v: object) -> bool:
        if type(v) is str:
            return found(v)
        t = as_text(v)
        return t is not None and found(t)

    return matches
