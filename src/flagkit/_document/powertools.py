"""Powertools ``feature_flags`` schemas: validated as Powertools validates, read into FlagSpecs.

Each feature becomes a :class:`FlagSpec` and each of its rules a variant, compiled by the one
rule compiler like every other format. Every Powertools action is expressed; none is compiled
beside it. A rule is handed over as a syntax tree, not text, because its conditions are data
(any JSON value, any context key) with Python's semantics, which are not AppConfig's: a
condition applies a Python operator to the context value and the condition value (``a == b``,
``a in b``, ``a.startswith(b)``, ...), an operator that raises makes the condition false, and a
key missing from the context fails every condition (aws-lambda-powertools 3.x); there is no
coercion of ``"65"`` to ``65`` and no hashing. So each condition is a call to one of the
compiler's internal operators (``_rules.internal_ops``: ``py.*``, ``py.modulo_range`` and the
``clock.*`` schedule operators, which read the snapshot's injected wall clock), which rule
text cannot name; the conditions of a rule are joined by the ordinary ``and``.

Two deliberate differences from Powertools (docs/powertools.md): ``MODULO_RANGE`` matches
integers only (Powertools computes ``value % BASE`` on whatever the context holds, which for a
string is %-formatting: one request could allocate gigabytes), and a schema is held to the same
limits as AppConfig documents (the size cap; a rule's conditions written out as rule text within
16,384 characters, as an AppConfig rule; values nested at most 32 deep).

A served schema may sit inside a larger document: the content type's ``envelope`` parameter
(a JMESPath expression, Powertools' ``AppConfigStore(envelope=...)``) selects it first
(:func:`unwrap`; ``jmespath`` is imported only then). Load-time warnings (an empty schema,
empty ``rules``) and the operators' warning when one raises carry Powertools 3.37's text, as
:class:`~flagkit._rules.internal_ops.PowertoolsUserWarning`.

A feature's value (``when_match`` or ``default``) is the ``value`` attribute of its variant.
``enabled`` is the value itself for boolean features and always true for the others (their
value is the answer, whatever it is), so ``get_json(name, "value", ...)`` serves every value.
"""

from __future__ import annotations

import contextlib
import copy
import re
import warnings
from datetime import datetime
from types import MappingProxyType
from typing import Any

from flagkit._exceptions import DocumentError, MissingExtraError, RuleError
from flagkit._rules.internal_ops import DAYS, Condition, PowertoolsUserWarning
from flagkit._rules.parse import MAX_DEPTH, Call, ListLit, Lit, Named, Ref, tree_text
from flagkit._rules.parse import value_depth_exceeds as _too_deep

from .limits import MAX_DOCUMENT_BYTES
from .spec import FlagSpec, VariantSpec

__all__ = ["ENVELOPE", "MEDIA_TYPE", "VALUE", "read_schema", "read_schema_bytes", "unwrap"]

MEDIA_TYPE = "application/vnd.aws-lambda-powertools.feature-flags+json"
"""The content type under which a source serves a Powertools schema."""

VALUE = "value"  # the attribute a feature's value is served under

ENVELOPE = "envelope"
"""The media type parameter that carries a JMESPath envelope: ``MEDIA_TYPE; envelope="..."``."""

_TIME_PATTERN = re.compile(r"(?:2[0-3]|[01]\d):[0-5]\d")
_CONDITION_OPERATORS = {
    "EQUALS": "py.eq",
    "NOT_EQUALS": "py.ne",
    "KEY_GREATER_THAN_VALUE": "py.gt",
    "KEY_GREATER_THAN_OR_EQUAL_VALUE": "py.ge",
    "KEY_LESS_THAN_VALUE": "py.lt",
    "KEY_LESS_THAN_OR_EQUAL_VALUE": "py.le",
    "STARTSWITH": "py.startswith",
    "ENDSWITH": "py.endswith",
    "IN": "py.in",
    "NOT_IN": "py.not_in",
    "KEY_IN_VALUE": "py.in",
    "KEY_NOT_IN_VALUE": "py.not_in",
    "VALUE_IN_KEY": "py.contains",
    "VALUE_NOT_IN_KEY": "py.not_contains",
    "ALL_IN_VALUE": "py.all_in",
    "ANY_IN_VALUE": "py.any_in",
    "NONE_IN_VALUE": "py.none_in",
}
_SCHEDULE_KEYS = {
    "SCHEDULE_BETWEEN_TIME_RANGE": "CURRENT_TIME",
    "SCHEDULE_BETWEEN_DATETIME_RANGE": "CURRENT_DATETIME",
    "SCHEDULE_BETWEEN_DAYS_OF_WEEK": "CURRENT_DAY_OF_WEEK",
}
ALL_ACTIONS = (*_CONDITION_OPERATORS, *_SCHEDULE_KEYS, "MODULO_RANGE")


class _Where:
    """Builds precise DocumentErrors for one place in the schema."""

    def __init__(self, feature: str, field: str | None = None) -> None:
        self.feature = feature
        self.field = field

    def at(self, field: str) -> _Where:
        return _Where(self.feature, f"{self.field}.{field}" if self.field else field)

    def error(self, message: str, expected: str, found: Any) -> DocumentError:
        text = _excerpt(found)
        return DocumentError(
            message, flag=self.feature, field=self.field, expected=expected, found=text
        )


def _excerpt(value: Any) -> str:
    if _too_deep(value, MAX_DEPTH):
        return f"a {type(value).__name__} nested deeper than {MAX_DEPTH} levels"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _value(value: Any, where: _Where, private: bool) -> Any:
    """A schema value, refused past the nesting limit before anything recurses into it.

    Copied unless ``private`` (a document parsed here, which nobody else holds).
    """
    if _too_deep(value, MAX_DEPTH):
        raise where.error(
            "value nested too deeply", f"at most {MAX_DEPTH} levels of lists and objects", value
        )
    return value if private else copy.deepcopy(value)


# -- conditions -------------------------------------------------------------------------------


def _text(value: str) -> Lit:
    return Lit(value, 0)


def _modulo(key: str, value: Any, where: _Where) -> Call:
    if not isinstance(value, dict):
        raise where.error("MODULO_RANGE needs BASE, START, END", "an object", value)
    base, start, end = value.get("BASE"), value.get("START"), value.get("END")
    if not all(isinstance(v, int) for v in (base, start, end)):
        raise where.error("MODULO_RANGE values must be integers", "BASE, START, END", value)
    assert isinstance(base, int) and isinstance(start, int) and isinstance(end, int)
    if not 0 <= start <= end <= base - 1:
        raise where.error("MODULO_RANGE out of range", "0 <= START <= END <= BASE-1", value)
    named = (("base", base), ("start", start), ("end", end))
    return Call(
        "py.modulo_range",
        (Ref(key, 0),),
        tuple(Named(n, Lit(int(v), 0), 0) for n, v in named),  # int(): a bool is 0 or 1
        0,
        0,
    )


def _zone(value: dict[str, Any], where: _Where) -> Named:
    from zoneinfo import ZoneInfo

    name = value.get("TIMEZONE", "UTC")
    if not name:
        # Powertools validates a missing, null or empty TIMEZONE as UTC, but evaluates only a
        # missing one as UTC: ``gettz(None)`` and ``gettz("")`` are the local zone.
        return Named("zone", _text(""), 0)
    if not isinstance(name, str):
        raise where.error("TIMEZONE must be a string", "an IANA time zone name", name)
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError) as exc:
        raise where.error("unknown TIMEZONE", "an IANA time zone name", name) from exc
    return Named("zone", _text(name), 0)


def _range_strings(value: Any, action: str, where: _Where) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise where.error(f"{action} needs START and END", "an object", value)
    start, end = value.get("START", ""), value.get("END", "")
    if not isinstance(start, str) or not isinstance(end, str):
        raise where.error(f"{action} START and END must be strings", "strings", value)
    return start, end


def _schedule(action: str, value: Any, where: _Where) -> Call:
    if action == "SCHEDULE_BETWEEN_DAYS_OF_WEEK":
        days = value.get("DAYS") if isinstance(value, dict) else None
        if not isinstance(days, list) or not all(isinstance(d, str) and d in DAYS for d in days):
            raise where.error("DAYS must list days of the week", f"names from {DAYS}", value)
        assert isinstance(value, dict)
        listed = ListLit(tuple(_text(d) for d in days), 0)
        return Call("clock.weekday_in", (), (Named("days", listed, 0), _zone(value, where)), 0, 0)
    start, end = _range_strings(value, action, where)
    assert isinstance(value, dict)
    zone = _zone(value, where)
    if action == "SCHEDULE_BETWEEN_TIME_RANGE":
        if not (_TIME_PATTERN.fullmatch(start) and _TIME_PATTERN.fullmatch(end)):
            raise where.error("START and END must be times", "HH:MM (24-hour clock)", value)
        op = "clock.time_between"
    else:  # SCHEDULE_BETWEEN_DATETIME_RANGE
        for text in (start, end):
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise where.error(
                    "START/END must be ISO 8601", "an ISO 8601 datetime", text
                ) from exc
            if parsed.tzinfo is not None:
                raise where.error(
                    "START/END must not carry a zone", "no offset (use TIMEZONE)", text
                )
        op = "clock.datetime_between"
    bounds = (Named("start", _text(start), 0), Named("end", _text(end), 0))
    return Call(op, (), (*bounds, zone), 0, 0)


def _condition(raw: Any, rule: str, where: _Where, private: bool) -> Call:
    """One condition as a call to an internal operator of the rule compiler."""
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
    value = _value(value, where.at("value"), private)
    if wanted_key is not None:
        return _schedule(action, value, where.at("value"))
    if action == "MODULO_RANGE":
        return _modulo(key, value, where.at("value"))
    if action in {"ALL_IN_VALUE", "ANY_IN_VALUE", "NONE_IN_VALUE"} and not isinstance(value, list):
        raise where.at("value").error(f"{action} needs a list", "a list", value)
    condition = Condition(value, 0, action, rule)
    return Call(_CONDITION_OPERATORS[action], (Ref(key, 0), condition), (), 0, 0)


# -- features ---------------------------------------------------------------------------------


def _variant(name: str | None, enabled: bool, value: Any, tree: Call | None = None) -> VariantSpec:
    text = None if tree is None else tree_text(tree)
    return VariantSpec(name, enabled, text, MappingProxyType({VALUE: value}), tree)


def _rule(rule_name: Any, rule: Any, boolean: bool, where: _Where, private: bool) -> VariantSpec:
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
    calls = tuple(
        _condition(c, rule_name, at.at(f"conditions[{j}]"), private)
        for j, c in enumerate(conditions)
    )
    tree = calls[0] if len(calls) == 1 else Call("and", calls, (), 0, 0)
    value = bool(match) if boolean else _value(match, at.at("when_match"), private)
    try:
        return _variant(rule_name, bool(value) if boolean else True, value, tree)
    except (TypeError, ValueError) as exc:  # tree_text writes values as JSON text
        raise at.at("conditions").error(
            "a condition value has no JSON text", "values JSON can hold", type(exc).__name__
        ) from exc
    except RuleError as exc:  # a limit on evaluation work (tree_text), placed in the schema
        raise at.at("conditions").error(
            exc.message.rsplit(" at position ", 1)[0],
            "conditions within the limits of an AppConfig rule (docs/powertools.md)",
            f"{len(calls)} condition(s)",
        ) from exc


def _feature(name: str, raw: Any, private: bool) -> FlagSpec:
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
    if not rules and "rules" in raw:  # harmless, but likely a mistake (Powertools 3.37 warns)
        _warn(
            f"Feature has 'rules' but it is empty, feature={name}"
            if rules is None or isinstance(rules, dict)
            else f"Feature 'rules' should be a dictionary but is an empty "
            f"{type(rules).__name__}, feature={name}"
        )
    rules = rules or {}
    variants = [_rule(n, r, boolean, where, private) for n, r in rules.items()]
    # No rule matched: Powertools returns ``default`` as stored (``bool()`` only without rules).
    fallback: Any = (
        bool(default) if boolean and not rules else _value(default, where.at("default"), private)
    )
    variants.append(_variant(None, bool(fallback) if boolean else True, fallback))
    return FlagSpec(name, tuple(variants), frozenset({VALUE}), multi_variant=bool(rules))


def read_schema(schema: Any, *, private: bool = False) -> tuple[FlagSpec, ...]:
    """Validate a Powertools schema as Powertools does and read it; raises DocumentError.

    Values are copied, so the caller may change ``schema`` afterwards, unless ``private`` says
    nobody else holds it (a document this stage parsed itself).
    """
    if not isinstance(schema, dict):
        raise DocumentError(
            "not a Powertools feature flags schema",
            expected="an object",
            found=type(schema).__name__,
        )
    if not schema:  # often an envelope that matched nothing but an empty object
        _warn("Feature flags schema is empty, no features to validate")
    return tuple(_feature(name, raw, private) for name, raw in schema.items())


def _warn(message: str) -> None:
    """A load-time warning with Powertools 3.37's text and category name.

    Never raised, even where warnings are errors: this stage raises DocumentError only.
    """
    with contextlib.suppress(PowertoolsUserWarning):
        warnings.warn(message, category=PowertoolsUserWarning, stacklevel=4)


def read_schema_bytes(
    body: bytes | str, content_type: str, max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[FlagSpec, ...]:
    """A served schema: JSON, unwrapped by the content type's ``envelope`` parameter if any."""
    from .strict_json import parse_json

    document = parse_json(body, max_bytes=max_bytes)
    envelope = _parameter(content_type, ENVELOPE)
    if envelope:
        document = unwrap(document, envelope, max_bytes=max_bytes)
    return read_schema(document, private=True)


def _parameter(content_type: str, name: str) -> str | None:
    if ";" not in content_type:
        return None
    from email.message import Message
    from email.utils import collapse_rfc2231_value

    header = Message()
    header["content-type"] = content_type
    value = header.get_param(name)
    return None if value is None else collapse_rfc2231_value(value)


def unwrap(
    document: Any,
    envelope: str,
    options: Any = None,
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Any:
    """The part of ``document`` that the JMESPath ``envelope`` selects, as Powertools selects it.

    ``options`` is Powertools' ``jmespath_options`` (keyword arguments of ``jmespath.Options``);
    when it is empty, Powertools' functions ``powertools_json``, ``powertools_base64`` and
    ``powertools_base64_gzip`` are available, the last one decompressing at most ``max_bytes``.
    An expression that fails is a DocumentError (Powertools: InvalidEnvelopeExpressionError
    from ``evaluate``). Needs ``jmespath`` (extra ``[powertools]``).
    """
    try:
        import jmespath
        from jmespath.exceptions import JMESPathError
    except ImportError as exc:
        raise MissingExtraError("powertools", "jmespath") from exc
    import binascii
    import zlib

    try:
        given = dict(options) if options else {"custom_functions": _functions(max_bytes)}
        return jmespath.search(envelope, document, options=jmespath.Options(**given))
    except (JMESPathError, TypeError, ValueError, binascii.Error, zlib.error) as exc:
        raise DocumentError(
            "the envelope does not apply to the document",
            field=ENVELOPE,
            expected="a JMESPath expression that selects the schema",
            found=f"{_excerpt(envelope)} ({type(exc).__name__})",
        ) from exc


def _functions(max_bytes: int) -> Any:
    """Powertools' JMESPath functions (``jmespath_utils.PowertoolsFunctions``)."""
    import base64
    import json
    import zlib

    from jmespath.functions import Functions, signature

    class PowertoolsFunctions(Functions):  # type: ignore[misc]  # jmespath is untyped
        @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
        def _func_powertools_json(self, value: str) -> Any:
            return json.loads(value)

        @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
        def _func_powertools_base64(self, value: str) -> str:
            return base64.b64decode(value).decode()

        @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
        def _func_powertools_base64_gzip(self, value: str) -> str:
            # Bounded, unlike gzip.decompress: a small document must not expand without limit.
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = inflate.decompress(base64.b64decode(value), max_bytes + 1)
            if len(data) > max_bytes or inflate.unconsumed_tail:
                raise ValueError(f"decompressed past {max_bytes} bytes")
            return data.decode()

    return PowertoolsFunctions()
