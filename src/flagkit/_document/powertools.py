"""Powertools ``feature_flags`` schemas: validated and compiled into flagkit snapshots.

Powertools' semantics are Python's: a condition applies a Python operator to the context value
and the condition value (``a == b``, ``a in b``, ``a.startswith(b)``, ...), an operator that
raises makes the condition false, and a key missing from the context fails every condition
(aws-lambda-powertools 3.x). They are not AppConfig's rule semantics (no coercion of ``"65"``
to ``65``, no hashing), so a schema is not translated into rules: each condition compiles,
once, into a closure that applies the same operator, and each feature into a
:class:`~flagkit._snapshot.CompiledFlag`. The schedule actions read an injected wall clock.

A feature's value (``when_match`` or ``default``) is the ``value`` attribute of its outcome.
``enabled`` is the value itself for boolean features and always true for the others (their
value is the answer, whatever it is), so ``get_json(name, "value", ...)`` serves every value.
"""

from __future__ import annotations

import copy
import operator
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from flagkit._exceptions import DocumentError
from flagkit._snapshot import CompiledFlag, Outcome, Predicate, Snapshot
from flagkit._types import Reason

__all__ = ["ACTIONS", "VALUE", "compile_schema"]

VALUE = "value"  # the attribute a feature's value is served under

Context = Mapping[str, Any]
Test = Callable[[Context], bool]
Clock = Callable[[], float]

_TIME_PATTERN = re.compile(r"(?:2[0-3]|[01]\d):[0-5]\d")
_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _all_in(a: Any, b: Any) -> bool:
    if not isinstance(a, list):
        raise TypeError("context value must be a list")
    return all(k in b for k in a)


def _any_in(a: Any, b: Any) -> bool:
    if not isinstance(a, list):
        raise TypeError("context value must be a list")
    return any(k in b for k in a)


def _none_in(a: Any, b: Any) -> bool:
    if not isinstance(a, list):
        raise TypeError("context value must be a list")
    return all(k not in b for k in a)


def _in(a: Any, b: Any) -> bool:
    return a in b


def _not_in(a: Any, b: Any) -> bool:
    return a not in b


def _has(a: Any, b: Any) -> bool:
    return b in a


def _has_not(a: Any, b: Any) -> bool:
    return b not in a


def _starts(a: Any, b: Any) -> bool:
    return bool(a.startswith(b))


def _ends(a: Any, b: Any) -> bool:
    return bool(a.endswith(b))


# (context value, condition value) -> truthy: the operators Powertools applies, action by action.
ACTIONS: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType(
    {
        "EQUALS": operator.eq,
        "NOT_EQUALS": operator.ne,
        "KEY_GREATER_THAN_VALUE": operator.gt,
        "KEY_GREATER_THAN_OR_EQUAL_VALUE": operator.ge,
        "KEY_LESS_THAN_VALUE": operator.lt,
        "KEY_LESS_THAN_OR_EQUAL_VALUE": operator.le,
        "STARTSWITH": _starts,
        "ENDSWITH": _ends,
        "IN": _in,
        "NOT_IN": _not_in,
        "KEY_IN_VALUE": _in,
        "KEY_NOT_IN_VALUE": _not_in,
        "VALUE_IN_KEY": _has,
        "VALUE_NOT_IN_KEY": _has_not,
        "ALL_IN_VALUE": _all_in,
        "ANY_IN_VALUE": _any_in,
        "NONE_IN_VALUE": _none_in,
    }
)
_SCHEDULE_KEYS = {
    "SCHEDULE_BETWEEN_TIME_RANGE": "CURRENT_TIME",
    "SCHEDULE_BETWEEN_DATETIME_RANGE": "CURRENT_DATETIME",
    "SCHEDULE_BETWEEN_DAYS_OF_WEEK": "CURRENT_DAY_OF_WEEK",
}
ALL_ACTIONS = (*ACTIONS, *_SCHEDULE_KEYS, "MODULO_RANGE")


class _Where:
    """Builds precise DocumentErrors for one place in the schema."""

    def __init__(self, feature: str, field: str | None = None) -> None:
        self.feature = feature
        self.field = field

    def at(self, field: str) -> _Where:
        return _Where(self.feature, f"{self.field}.{field}" if self.field else field)

    def error(self, message: str, expected: str, found: Any) -> DocumentError:
        text = repr(found)
        return DocumentError(
            message,
            flag=self.feature,
            field=self.field,
            expected=expected,
            found=text if len(text) <= 80 else text[:77] + "...",
        )


# -- conditions -------------------------------------------------------------------------------


def _keyed(key: str, op: Callable[[Any, Any], Any], value: Any) -> Test:
    def test(ctx: Context) -> bool:
        if key not in ctx:  # a missing key never matches (not even NOT_EQUALS)
            return False
        try:
            return bool(op(ctx[key], value))
        except Exception:  # Powertools: an operator that raises is a non-match
            return False

    return test


def _modulo(key: str, value: Any, where: _Where) -> Test:
    if not isinstance(value, dict):
        raise where.error("MODULO_RANGE needs BASE, START, END", "an object", value)
    base, start, end = value.get("BASE"), value.get("START"), value.get("END")
    if not all(isinstance(v, int) for v in (base, start, end)):
        raise where.error("MODULO_RANGE values must be integers", "BASE, START, END", value)
    assert isinstance(base, int) and isinstance(start, int) and isinstance(end, int)
    if not 0 <= start <= end <= base - 1:
        raise where.error("MODULO_RANGE out of range", "0 <= START <= END <= BASE-1", value)
    return _keyed(key, lambda a, _: start <= a % base <= end, None)


def _zone(value: Mapping[str, Any], where: _Where) -> Any:
    from zoneinfo import ZoneInfo

    name = value.get("TIMEZONE") or "UTC"
    if not isinstance(name, str):
        raise where.error("TIMEZONE must be a string", "an IANA time zone name", name)
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError) as exc:
        raise where.error("unknown TIMEZONE", "an IANA time zone name", name) from exc


def _range_strings(value: Any, action: str, where: _Where) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise where.error(f"{action} needs START and END", "an object", value)
    start, end = value.get("START", ""), value.get("END", "")
    if not isinstance(start, str) or not isinstance(end, str):
        raise where.error(f"{action} START and END must be strings", "strings", value)
    return start, end


def _schedule(action: str, value: Any, clock: Clock, where: _Where) -> Test:
    if action == "SCHEDULE_BETWEEN_DAYS_OF_WEEK":
        days = value.get("DAYS") if isinstance(value, dict) else None
        if not isinstance(days, list) or not all(d in _DAYS for d in days):
            raise where.error("DAYS must list days of the week", f"names from {_DAYS}", value)
        wanted = frozenset(days)
        zone = _zone(value, where)
        return lambda ctx: _DAYS[datetime.fromtimestamp(clock(), zone).weekday()] in wanted
    start, end = _range_strings(value, action, where)
    zone = _zone(value, where)
    if action == "SCHEDULE_BETWEEN_TIME_RANGE":
        if not (_TIME_PATTERN.fullmatch(start) and _TIME_PATTERN.fullmatch(end)):
            raise where.error("START and END must be times", "HH:MM (24-hour clock)", value)
        lo = int(start[:2]) * 60 + int(start[3:])
        hi = int(end[:2]) * 60 + int(end[3:])

        def minute() -> int:
            now = datetime.fromtimestamp(clock(), zone)
            return now.hour * 60 + now.minute

        if hi < lo:  # crosses midnight
            return lambda ctx: not hi < minute() < lo
        return lambda ctx: lo <= minute() <= hi
    # SCHEDULE_BETWEEN_DATETIME_RANGE: wall-clock times in the zone, compared naively, as
    # Powertools does (it gives both ends the zone of "now" and compares).
    bounds = []
    for text in (start, end):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise where.error("START/END must be ISO 8601", "an ISO 8601 datetime", text) from exc
        if parsed.tzinfo is not None:
            raise where.error("START/END must not carry a zone", "no offset (use TIMEZONE)", text)
        bounds.append(datetime.fromisoformat(text))
    lo_dt, hi_dt = bounds
    return lambda ctx: lo_dt <= datetime.fromtimestamp(clock(), zone).replace(tzinfo=None) <= hi_dt


def _condition(raw: Any, clock: Clock, where: _Where) -> tuple[Test, bool]:
    """One condition's closure, and whether it is a MODULO_RANGE (reason SPLIT)."""
    if not isinstance(raw, dict) or not raw:
        raise where.error("a condition must be an object", "action, key, value", raw)
    action = raw.get("action", "")
    if action not in ALL_ACTIONS:
        raise where.at("action").error("unknown action", f"one of {list(ALL_ACTIONS)}", action)
    key = raw.get("key", "")
    if not key or not isinstance(key, str):
        raise where.at("key").error("key must be a non-empty string", "a context key", key)
    wanted_key = _SCHEDULE_KEYS.get(action)
    if wanted_key is not None and key != wanted_key:
        raise where.at("key").error(f"{action} reads the clock", repr(wanted_key), key)
    value = raw.get("value")
    if value is None:
        raise where.at("value").error("value must not be null", "a value", value)
    value = copy.deepcopy(value)
    if wanted_key is not None:
        return _schedule(action, value, clock, where.at("value")), False
    if action == "MODULO_RANGE":
        return _modulo(key, value, where.at("value")), True
    if action in {"ALL_IN_VALUE", "ANY_IN_VALUE", "NONE_IN_VALUE"} and not isinstance(value, list):
        raise where.at("value").error(f"{action} needs a list", "a list", value)
    return _keyed(key, ACTIONS[action], value), False


def _all(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    bound = tuple(tests)

    def test(ctx: Context) -> bool:
        for t in bound:  # noqa: SIM110 - a plain loop is cheaper than all(<genexpr>) here
            if not t(ctx):
                return False
        return True

    return test


# -- features ---------------------------------------------------------------------------------


def _feature(name: str, raw: Any, clock: Clock) -> CompiledFlag:
    where = _Where(name)
    if not isinstance(raw, dict) or not raw:
        raise where.error("a feature must be a non-empty object", "default, rules", raw)
    default = raw.get("default")
    boolean = bool(raw.get("boolean_type", True))
    if default is None or (boolean and not isinstance(default, bool)):
        raise where.at("default").error(
            "default is required", "a boolean" if boolean else "a JSON value", default
        )
    rules = raw.get("rules")
    if rules and not isinstance(rules, dict):
        raise where.at("rules").error("rules must be an object", "an object", rules)
    pairs: list[tuple[Test, Outcome]] = []
    for i, (rule_name, rule) in enumerate((rules or {}).items()):
        at = where.at(f"rules[{rule_name!r}]")
        if not rule or not isinstance(rule, dict):
            raise at.error("a rule must be an object", "when_match, conditions", rule)
        if not rule_name or not isinstance(rule_name, str):
            raise at.error("rule names must be non-empty strings", "a name", rule_name)
        match = rule.get("when_match")
        if boolean and not isinstance(match, bool):
            raise at.at("when_match").error("when_match must be a boolean", "a boolean", match)
        conditions = rule.get("conditions")
        if not conditions or not isinstance(conditions, list):
            raise at.at("conditions").error("conditions are required", "a list", conditions)
        compiled = [
            _condition(c, clock, at.at(f"conditions[{j}]")) for j, c in enumerate(conditions)
        ]
        split = any(is_split for _, is_split in compiled)
        reason = Reason.SPLIT if split else Reason.TARGETING_MATCH
        value = bool(match) if boolean else copy.deepcopy(match)
        on = bool(value) if boolean else True
        outcome = Outcome(rule_name, on, MappingProxyType({VALUE: value}), reason, i, None)
        pairs.append((_all([t for t, _ in compiled]), outcome))
    # No rule matched: Powertools returns ``default`` as stored (``bool()`` only without rules).
    fallback: Any = bool(default) if boolean and not rules else copy.deepcopy(default)
    reason = Reason.DEFAULT if rules else Reason.STATIC
    on = bool(fallback) if boolean else True
    last = Outcome(None, on, MappingProxyType({VALUE: fallback}), reason, len(pairs), None)
    return _compiled(name, tuple(pairs), last)


def _compiled(name: str, pairs: tuple[tuple[Test, Outcome], ...], last: Outcome) -> CompiledFlag:
    def select(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
        ctx = _EMPTY if attributes is None else attributes
        for test, outcome in pairs:
            if test(ctx):
                return outcome
        return last

    enabled_pairs = tuple((t, o.enabled) for t, o in pairs)
    last_on = last.enabled

    def enabled(user_id: Any, attributes: dict[str, Any] | None) -> bool:
        ctx = _EMPTY if attributes is None else attributes
        for test, on in enabled_pairs:
            if test(ctx):
                return on
        return last_on

    outcomes = (*(o for _, o in pairs), last)
    return CompiledFlag(
        key=name,
        select=select,
        enabled=enabled,
        outcomes=outcomes,
        rules=tuple(None for _ in outcomes),
        attributes=frozenset({VALUE}),
        multi_variant=bool(pairs),
    )


def compile_schema(
    schema: Any, *, version: str | None = None, clock: Clock = time.time
) -> Snapshot:
    """Validate a Powertools schema as Powertools does and compile it; raises DocumentError."""
    if not isinstance(schema, dict):
        raise DocumentError(
            "not a Powertools feature flags schema",
            expected="an object",
            found=type(schema).__name__,
        )
    flags: dict[str, CompiledFlag] = {}
    for name, raw in schema.items():
        flags[name] = _feature(name, raw, clock)
    enabled: dict[str, Predicate] = {k: f.enabled for k, f in flags.items()}
    return Snapshot(flags=flags, enabled_fns=enabled, version=version)
