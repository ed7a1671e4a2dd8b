"""A parsed rule -> one closure ``test(user_id, attributes) -> bool`` (docs/rules.md).

Every decision is taken here, once per document: which operator, which side is the context
reference, how the context value is coerced (the literal's type decides, see "Types" below),
whether the reference is the user key. The closures never walk a tree, look anything up by
operator name, or raise on plain data.

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
treated exactly like a missing key.
"""

from __future__ import annotations

import datetime as _dt
import operator
import re
from collections.abc import Callable, Mapping
from typing import TypeAlias

import mmh3

from ._bucketing import hash_threshold, pct_units, seed_of
from ._exceptions import RuleError
from ._rules_parse import (
    _TIMESTAMP,
    Call,
    ListLit,
    Lit,
    Named,
    Node,
    Ref,
    Scalar,
    Timestamp,
    describe,
    timestamp_ns,
)

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
    if len(s) > _NUMBER_TEXT_MAX or _NUMBER_TEXT.fullmatch(s) is None:
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


def order_value(op: str, lit: int | float | Timestamp) -> ValuePredicate:
    """``value <op> lit`` for a number or timestamp literal."""
    return _coerced(coercer_for(lit), _ORDER[op], literal_key(lit))


_ORDER: dict[str, Callable[[Key, Key], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_FLIPPED = {"eq": "eq", "gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def text_value(method: Callable[[str, str], bool], s: str) -> ValuePredicate:
    """``method(text(value), s)``, e.g. ``str.startswith``."""

    def pred(v: object) -> bool:
        if type(v) is str:
            return method(v, s)
        t = as_text(v)
        return t is not None and method(t, s)

    return pred


def member_of_value(items: tuple[Scalar, ...]) -> ValuePredicate:
    """``value`` equals one of ``items`` (each under its own coercion)."""
    strings = frozenset(x for x in items if type(x) is str)
    groups: list[tuple[Callable[[object], Key | None], frozenset[Key]]] = []
    for coerce in (as_number, as_bool, as_timestamp):
        keys = frozenset(literal_key(x) for x in items if coercer_for(x) is coerce)
        if keys:
            groups.append((coerce, keys))
    if not groups:
        if not strings:
            return _never

        def in_strings(v: object) -> bool:
            if type(v) is str:
                return v in strings
            t = as_text(v)
            return t is not None and t in strings

        return in_strings

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

    def slow(v: object) -> bool:
        t = as_text(v)  # None for None, bool, float, bytes, containers, ...
        if t is None:
            return False
        return hash_(t.encode("utf-8", "surrogatepass"), seed, False) < threshold

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


# --- the compiler: type checks with positions, then closures ---------------------------------


class Compiler:
    """Compile one parsed rule; collects ``has_split`` and ``context_keys`` on the way."""

    def __init__(self, text: str, flag_key: str, user_key: str) -> None:
        self.text = text
        self.flag_key = flag_key
        self.user_key = user_key
        self.has_split = False
        self.keys: set[str] = set()

    def error(self, message: str, pos: int) -> RuleError:
        return RuleError(message, position=pos, rule=self.text)

    def boolean(self, node: Node) -> Predicate:
        if not isinstance(node, Call):
            raise self.error(
                f"expected a boolean expression such as (eq $key 1), found {describe(node)}",
                node.pos,
            )
        handler = _OPERATORS.get(node.op)
        if handler is None:
            raise self.error(
                f"unknown operator {node.op!r}; expected one of {', '.join(_OPERATORS)}",
                node.op_pos,
            )
        return handler(self, node)

    def ref(self, node: Ref) -> tuple[str, bool]:
        self.keys.add(node.key)
        return node.key, node.key == self.user_key

    # --- argument shapes ---

    def positional(self, node: Call, least: int, most: int | None) -> tuple[Node, ...]:
        if node.named:
            raise self.error(f"{node.op} takes no named arguments", node.named[0].pos)
        n = len(node.args)
        if most is not None and n > most:
            raise self.error(
                f"{node.op} takes {_count(least, most)}, found {n}", node.args[most].pos
            )
        if n < least:
            raise self.error(f"{node.op} takes {_count(least, most)}, found {n}", node.pos)
        return node.args

    def named(
        self, node: Call, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Named]:
        allowed = required + optional
        spelled = " ".join(f"{n}::" for n in allowed)
        if node.args:
            raise self.error(f"{node.op} takes only named arguments ({spelled})", node.args[0].pos)
        got: dict[str, Named] = {}
        for arg in node.named:
            if arg.name not in allowed:
                raise self.error(
                    f"{node.op} has no argument {arg.name}::; expected {spelled}", arg.pos
                )
            if arg.name in got:
                raise self.error(f"duplicate argument {arg.name}:: in {node.op}", arg.pos)
            got[arg.name] = arg
        for name in required:
            if name not in got:
                raise self.error(f"{node.op} needs {name}::", node.pos)
        return got

    def ref_and_literal(self, node: Call) -> tuple[Ref, Lit, str]:
        """Both operands of a comparison; the operator is flipped if the literal came first."""
        a, b = self.positional(node, 2, 2)
        for x in (a, b):
            if isinstance(x, ListLit):
                raise self.error(
                    f"{node.op} compares single values, found a list "
                    "(use (in $key [...]) for membership)",
                    x.pos,
                )
            if isinstance(x, Call):
                raise self.error(
                    f"{node.op} compares a context reference with a literal, found {describe(x)}",
                    x.pos,
                )
        if isinstance(a, Ref) and isinstance(b, Lit):
            return a, b, node.op
        if isinstance(a, Lit) and isinstance(b, Ref):
            return b, a, _FLIPPED.get(node.op, node.op)
        if isinstance(a, Ref):
            raise self.error(
                f"{node.op} compares a context reference with a literal, found two "
                "context references",
                b.pos,
            )
        raise self.error(f"{node.op} needs a context reference ($key), found two literals", a.pos)

    def string_literal(self, node: Node, what: str) -> str:
        if not isinstance(node, Lit) or type(node.value) is not str:
            raise self.error(f"{what} must be a string, found {describe(node)}", node.pos)
        return node.value

    def context_ref(self, node: Node, what: str) -> Ref:
        if not isinstance(node, Ref):
            raise self.error(
                f"{what} must be a context reference ($key), found {describe(node)}", node.pos
            )
        return node


def _count(least: int, most: int | None) -> str:
    if most is None:
        return f"at least {least} argument{'s' if least != 1 else ''}"
    if least == most:
        return f"exactly {least} argument{'s' if least != 1 else ''}"
    return f"{least} to {most} arguments"


def _c_logic(c: Compiler, node: Call) -> Predicate:
    if node.op == "not":
        (arg,) = c.positional(node, 1, 1)
        return none_of(c.boolean(arg))
    preds = [c.boolean(a) for a in c.positional(node, 1, None)]
    return all_of(preds) if node.op == "and" else any_of(preds)


def _c_compare(c: Compiler, node: Call) -> Predicate:
    ref, lit, op = c.ref_and_literal(node)
    value = lit.value
    if op == "eq":
        pred = eq_value(value)
    elif isinstance(value, (str, bool)):
        raise c.error(
            f"{node.op} compares numbers or timestamps, found a {lit.kind} "
            "(strings and booleans are not ordered)",
            lit.pos,
        )
    else:
        pred = order_value(op, value)
    return bind(*c.ref(ref), pred)


def _c_text(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    ref = c.context_ref(a, f"the first argument of {node.op}")
    s = c.string_literal(b, f"the second argument of {node.op}")
    method = str.startswith if node.op == "begins_with" else str.endswith
    return bind(*c.ref(ref), text_value(method, s))


def _scalar(c: Compiler, node: Node, what: str) -> Scalar:
    if not isinstance(node, Lit):
        raise c.error(f"{what} must be a literal, found {describe(node)}", node.pos)
    return node.value


def _c_contains(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    ref = c.context_ref(a, "the first argument of contains")
    return bind(*c.ref(ref), contains_value(_scalar(c, b, "the second argument of contains")))


def _c_in(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    if isinstance(a, Ref) and isinstance(b, ListLit):
        return bind(*c.ref(a), member_of_value(tuple(x.value for x in b.items)))
    if isinstance(a, Lit) and isinstance(b, Ref):
        return bind(*c.ref(b), collection_has(eq_value(a.value)))
    if isinstance(a, Ref):
        if isinstance(b, Lit) and type(b.value) is str:
            raise c.error('in needs a list; for a substring use (contains $key "text")', b.pos)
        raise c.error(f"in needs a list after a context reference, found {describe(b)}", b.pos)
    if isinstance(a, Lit):
        raise c.error(f"in needs a context reference after a literal, found {describe(b)}", b.pos)
    raise c.error(f"in needs a context reference or a literal first, found {describe(a)}", a.pos)


def _c_matches(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("in", "pattern"))
    ref = c.context_ref(args["in"].value, "in::")
    pattern_node = args["pattern"].value
    pattern = c.string_literal(pattern_node, "pattern::")
    try:
        search = re.compile(pattern).search
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise c.error(
            f"pattern:: is not a valid regular expression: {exc}", pattern_node.pos
        ) from exc

    def matches(v: object) -> bool:
        if type(v) is str:
            return search(v) is not None
        t = as_text(v)
        return t is not None and search(t) is not None

    return bind(*c.ref(ref), matches)


def _c_exists(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("key",))
    key = c.string_literal(args["key"].value, "key::")
    c.keys.add(key)
    return exists(key, key == c.user_key)


def _c_split(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("pct", "by"), ("seed",))
    pct_node = args["pct"].value
    if not isinstance(pct_node, Lit) or type(pct_node.value) not in (int, float):
        raise c.error(
            f"pct:: must be a number from 0 to 100, found {describe(pct_node)}", pct_node.pos
        )
    pct = pct_node.value
    assert isinstance(pct, (int, float))
    if not 0 <= pct <= 100:
        raise c.error(f"pct:: must be from 0 to 100, found {pct}", pct_node.pos)
    if abs(pct * 1000 - pct_units(pct)) > 1e-6:  # tolerance for binary floats like 12.345
        raise c.error(
            f"pct:: {pct} has more than 3 decimals (the resolution is 0.001 %)", pct_node.pos
        )
    ref = c.context_ref(args["by"].value, "by::")
    seed = c.string_literal(args["seed"].value, "seed::") if "seed" in args else c.flag_key
    c.has_split = True
    return split(*c.ref(ref), seed_of(seed), hash_threshold(pct))


_OPERATORS: dict[str, Callable[[Compiler, Call], Predicate]] = {
    "eq": _c_compare,
    "gt": _c_compare,
    "gte": _c_compare,
    "lt": _c_compare,
    "lte": _c_compare,
    "begins_with": _c_text,
    "ends_with": _c_text,
    "contains": _c_contains,
    "in": _c_in,
    "matches": _c_matches,
    "exists": _c_exists,
    "split": _c_split,
    "and": _c_logic,
    "or": _c_logic,
    "not": _c_logic,
}
