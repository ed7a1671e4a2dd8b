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
from typing import Any, NamedTuple, TypeAlias, cast

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


# --- regular expressions: RE2, linear in the text, never backtracking ------------------------


class PatternError(ValueError):
    """RE2 cannot compile a pattern; the message says why (the caller adds flag and field)."""


class PatternTooLarge(PatternError):
    """A pattern, or all of a document's patterns together, pass their size limit."""


# RE2's message, and what it means for someone who wrote a Python/PCRE pattern.
_RE2_HINTS = (
    (r"invalid escape sequence: \\[1-9gk]", "backreferences are not supported"),
    (r"invalid perl operator: \(\?P$", "(?P<name>...) groups only; no backreferences"),
    (r"invalid perl operator: \(\?<?[=!]", "lookahead and lookbehind are not supported"),
    (r"invalid perl operator: \(\?>", "atomic groups are not supported"),
    (r"bad repetition operator: .\+", "possessive quantifiers are not supported"),
    (r"invalid escape sequence: \\Z", "write \\z for the end of the text"),
    (r"invalid repetition size", "a counted repetition is at most {1000}"),
)

# RE2's memory budget per pattern (``Options.max_mem``) is what the pattern may ever hold: its
# program, and the cache of DFA states its searches build (a hostile text can fill it).
# Compiling, RE2 gets 64 bytes per instruction of the size limit, and stops a program that
# outgrows about a twentieth of that: a huge pattern is refused after milliseconds, never
# compiled whole. A pattern that fits is compiled again with a budget after its own size: 64 KiB
# plus 256 bytes per instruction, enough for the DFA to run ordinary patterns at full speed
# (measured: benchmarks/document_limits.py), so many small patterns cannot hold 640 KB each.
_COMPILE_BYTES_PER_INSTRUCTION = 64
_HOLD_BASE = 64 * 1024
_HOLD_BYTES_PER_INSTRUCTION = 256
PATTERN_FLOOR = 250  # what the smallest pattern counts towards a document's total


class Pattern(NamedTuple):
    """A compiled pattern: ``found(text) -> bool`` (unanchored search) and what it costs.

    ``size`` is the RE2 program's instructions: its memory and compile time. ``positions`` is
    the same pattern's program compiled for Latin-1 text, about one instruction per character
    position (UTF-8 expands a class such as ``\\pL`` into a tree of byte ranges, of which a scan
    visits one path): the most threads RE2's fallback matcher (the NFA, used when a pattern's
    DFA outgrows its memory) steps for each byte of text, i.e. the scan's worst case per byte.
    """

    found: Callable[[str], bool]
    size: int
    positions: int


def compile_pattern(pattern: str, *, max_size: int | None = None) -> Pattern:
    """``pattern`` compiled with RE2, never through re2's module-level cache.

    RE2 matches in time linear in the text, so no pattern can make an evaluation (or a load
    that checks a constraint) backtrack for ever; the price is that backreferences and
    lookaround do not exist (docs/rules.md lists the dialect). ``re2.compile`` would keep the
    last 128 programs (up to 8 MiB each) alive for the life of the process, after the snapshot
    that used them is gone; here the program lives exactly as long as the returned closure.
    ``max_size`` caps the RE2 program in instructions (RE2's memory budget follows from it).
    ``re2`` is imported here, on the first pattern, never by ``import flagkit``. Raises
    :class:`PatternError`.
    """
    import re2

    options = re2.Options()
    options.log_errors = False  # the reason is raised; nothing goes to stderr
    options.never_capture = True  # a yes/no answer needs no groups, and is faster without
    if max_size is not None:
        options.max_mem = max_size * _COMPILE_BYTES_PER_INSTRUCTION
    # google-re2's Python class, built directly: ``re2.compile`` is this behind an lru_cache
    uncached = getattr(re2, "_Regexp", None)
    make = uncached or re2.compile
    try:
        encoded = pattern.encode("utf-8")
        regexp = make(encoded, options)
    except UnicodeEncodeError as exc:
        raise PatternError("the pattern contains a lone surrogate") from exc
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if reason.startswith("pattern too large"):
            raise PatternTooLarge(_too_large(None, max_size)) from exc
        hint = next((h for p, h in _RE2_HINTS if re.match(p, reason)), None)
        raise PatternError(f"{reason} (RE2: {hint})" if hint else reason) from exc
    size = int(regexp.programsize)
    if max_size is not None and size > max_size:
        raise PatternTooLarge(_too_large(size, max_size))
    hold = _HOLD_BASE + size * _HOLD_BYTES_PER_INSTRUCTION
    if hold < options.max_mem:  # compiled once more, to hold no more than its size calls for
        options.max_mem = hold
        regexp = make(encoded, options)
    search = regexp.search

    def found(text: str) -> bool:
        # bytes in, so a lone surrogate (reachable from Python) cannot make encoding raise
        return search(text.encode("utf-8", "surrogatepass")) is not None

    return Pattern(found, size, _positions(re2, make, encoded, options) or size)


def _positions(re2: Any, make: Any, encoded: bytes, options: Any) -> int | None:
    """The program size of ``encoded`` compiled for Latin-1 text, or None if it will not."""
    options.encoding = re2.Options.Encoding.LATIN1
    try:
        return int(make(encoded, options).programsize)
    except re2.error:  # e.g. an escape past U+00FF: count the UTF-8 program instead
        return None


def _too_large(size: int | None, max_size: int | None) -> str:
    limit = "RE2's memory budget" if max_size is None else f"{max_size:,} instructions"
    has = "is" if size is None else f"has {size:,} instructions,"
    return f"its RE2 program {has} over the limit of {limit}"


class Patterns:
    """One load's patterns: each distinct pattern compiled once, program sizes added up.

    ``compile`` raises :class:`PatternError` for a pattern over ``max_size`` instructions, or
    once the document's patterns together pass ``max_total``: compiling costs time and the
    programs are held for the snapshot's life, so a document of many patterns is refused
    partway instead of compiled whole. A pattern used twice shares one program.
    """

    __slots__ = ("_compiled", "max_size", "max_total", "total")

    def __init__(self, *, max_size: int | None = None, max_total: int | None = None) -> None:
        self.max_size = max_size
        self.max_total = max_total
        self.total = 0  # RE2 program instructions compiled so far
        self._compiled: dict[str, Pattern] = {}

    def compile(self, pattern: str) -> Pattern:
        known = self._compiled.get(pattern)
        if known is not None:
            return known
        compiled = compile_pattern(pattern, max_size=self.max_size)
        self.total += max(compiled.size, PATTERN_FLOOR)
        if self.max_total is not None and self.total > self.max_total:
            raise PatternTooLarge(self._over_total())
        self._compiled[pattern] = compiled
        return compiled

    def _over_total(self) -> str:
        return (
            f"the document's patterns reach {self.total:,} RE2 program instructions (each "
            f"counting at least {PATTERN_FLOOR}), over the limit of {self.max_total:,}"
        )
