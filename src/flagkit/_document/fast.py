"""The fast path: valid JSON documents accepted without pydantic (the models behind it).

AppConfig's two JSON forms are checked here in plain Python against the rules of the models in
``appconfig.py``, for the documents that keep them: every shape and type, every length and key
pattern. What the shapes cannot say (values against their constraints, variant order) is then
checked by the code the models use too (``checks.stored_flag``), and the result is the same
FlagSpecs the models give. Anything in doubt (a problem of any kind, or a shape not handled
here, such as a lone surrogate or a field given by its Python name) gives None, never an
error: the caller then runs the models, whose errors name the problem. So a document is
accepted here only if the models accept it too, with the same result, and every refusal is
the models' (tests/test_document_fast.py holds the two paths to that over the test corpora).

Why: importing pydantic and building the models costs about 90 ms, which a Lambda cold start
pays before its first evaluation; checking a valid 1,000-flag document here is a few
milliseconds.

:func:`load_json` and :func:`check_state` are the doors (the fast path, else the models);
:func:`accept_document` and :func:`accept_state` the fast path alone. In: a parsed JSON
document (``strict_json.parse_json``: no duplicate keys, no NaN), limits and the load's
pattern compiler. Out: FlagSpecs. Imports ``checks``, ``spec`` and ``limits``; ``_rules`` only
for a stored document (its rule limit and patterns); ``appconfig`` (pydantic) on doubt only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from flagkit._exceptions import DocumentError

from .checks import MAX_ATTRIBUTES, MAX_STRING, freeze, stored_flag, undefined_values
from .limits import Limits, patterns_for
from .spec import FlagSpec, VariantSpec

if TYPE_CHECKING:
    from flagkit._rules.patterns import Patterns

__all__ = ["accept_document", "accept_state", "check_state", "load_json"]

# checks.KEY_PATTERN with ASCII digits (AppConfig's \d is ECMA-262's [0-9]); fullmatch, so no
# trailing newline slips past "$"
_KEY = re.compile(r"[a-z][a-zA-Z0-9_-]{0,63}")
_TEXT_MAX = 1 << 62  # an unconstrained string's "limit"


class _Doubt(Exception):
    """Something the fast path does not accept; the models decide."""


def accept_document(
    data: Any, *, limits: Limits | None = None, patterns: Patterns | None = None
) -> tuple[FlagSpec, ...] | None:
    """The FlagSpecs of a valid document (either JSON form), or None when in any doubt.

    Never raises. On None, ``patterns`` may hold the constraint patterns compiled so far,
    counted once each, as the models would count them.
    """
    if type(data) is not dict:
        return None
    limits = limits or Limits()
    try:
        if isinstance(data.get("version"), str):  # checks.detect_format
            if patterns is None:
                patterns = patterns_for(limits)
            return _stored(data, limits, patterns)
        if len(data) > limits.max_flags:
            return None
        return _data_view(data)
    except (_Doubt, DocumentError):
        return None


def accept_state(raw: Any, *, allow_variant: bool) -> tuple[bool, Mapping[str, Any]] | None:
    """A valid retrieval-time flag state as ``appconfig.check_state`` gives it, or None."""
    try:
        enabled, values = _state(raw, allow_variant, set())
    except _Doubt:
        return None
    return enabled, freeze(values)


def load_json(
    data: Any, *, limits: Limits | None = None, patterns: Patterns | None = None
) -> tuple[FlagSpec, ...]:
    """Validate a parsed JSON document (either form) and normalise it into FlagSpecs.

    A valid document passes the fast path (:func:`accept_document`, no pydantic); any other
    goes to the models (``appconfig.load_document``), which give the same FlagSpecs or the
    DocumentError that names the problem.
    """
    specs = accept_document(data, limits=limits, patterns=patterns)
    if specs is None:
        from .appconfig import load_document

        specs = load_document(data, limits=limits, patterns=patterns)
    return specs


def check_state(
    key: str, where: str, raw: Any, *, allow_variant: bool
) -> tuple[bool, Mapping[str, Any]]:
    """A retrieval-time flag state ``{"enabled": bool, "<attr>": value, ...}``, validated.

    The fast path for a valid state (:func:`accept_state`), else the models
    (``appconfig.check_state``), as :func:`load_json` does for whole documents.
    """
    state = accept_state(raw, allow_variant=allow_variant)
    if state is None:
        from .appconfig import check_state as by_models

        state = by_models(key, where, raw, allow_variant=allow_variant)
    return state


# ---------------------------------------------------------------------------------------------
# The data view: {"flag": {"enabled": bool, "<attr>": value, ...}, ...}


def _data_view(data: dict[str, Any]) -> tuple[FlagSpec, ...]:
    keys: set[str] = set()  # keys already matched, flag and attribute keys alike
    specs = []
    for key, raw in data.items():
        _key(key, keys)
        # The Agent's evaluated multi-variant flag names its variant (appconfig._load_data_view)
        name = None
        if type(raw) is dict and "_variant" in raw:
            name = _text(raw["_variant"], 64)
            if not name or "\n" in name:
                raise _Doubt
        enabled, values = _state(raw, name is not None, keys)
        variant = VariantSpec(name=name, enabled=enabled, rule=None, values=freeze(values))
        specs.append(FlagSpec(key, (variant,), frozenset(values), multi_variant=name is not None))
    return tuple(specs)


def _state(raw: Any, allow_variant: bool, keys: set[str]) -> tuple[bool, dict[str, Any]]:
    """``appconfig._DataViewFlag``: ``enabled`` a bool, every other key an attribute."""
    if type(raw) is not dict:
        raise _Doubt
    enabled = raw.get("enabled")
    if type(enabled) is not bool:
        raise _Doubt
    values = {
        name: value
        for name, value in raw.items()
        if name != "enabled" and not (allow_variant and name == "_variant")
    }
    return enabled, _values(values, keys)


# ---------------------------------------------------------------------------------------------
# Shared shapes.


def _key(key: Any, keys: set[str]) -> None:
    """``appconfig.Key``; ``keys`` remembers the keys already matched in this document."""
    if key not in keys:
        if type(key) is not str or _KEY.fullmatch(key) is None:
            raise _Doubt
        keys.add(key)


def _text(value: Any, most: int = _TEXT_MAX) -> str:
    """A string pydantic takes as it is: at most ``most`` characters, valid Unicode."""
    if type(value) is not str or len(value) > most:
        raise _Doubt
    if not value.isascii():
        try:  # a lone surrogate (JSON "\ud800") is refused by pydantic's constrained strings
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Doubt from None
    return value


def _values(values: Any, keys: set[str]) -> dict[str, Any]:
    """Attribute values (``dict[Key, AttrValue]``, at most 25): each a bool, number, string
    or non-empty array of one kind. The common kinds are checked inline (this is the loop
    a large document spends its time in)."""
    if type(values) is not dict or len(values) > MAX_ATTRIBUTES:
        raise _Doubt
    for name, value in values.items():
        if name not in keys:
            _key(name, keys)
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING or not value.isascii():
                _text(value, MAX_STRING)
        elif kind is not bool and kind is not int and kind is not float:
            _array(value)
    return values


def _array(value: Any) -> None:
    """``appconfig.AttrValue``'s arrays: non-empty, all strings or all numbers."""
    if type(value) is not list or not value:
        raise _Doubt
    if type(value[0]) is str:
        for item in value:
            _text(item, MAX_STRING)
        return
    for item in value:
        if type(item) is not int and type(item) is not float:
            raise _Doubt


def _fields(raw: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """An object of a strict model: a dict with no field but ``allowed`` (and no alias)."""
    if type(raw) is not dict or not allowed.issuperset(raw):
        raise _Doubt
    return raw


def _bool(raw: dict[str, Any], name: str) -> bool:
    """An optional strict bool field (false when absent)."""
    value = raw.get(name, False)
    if type(value) is not bool:
        raise _Doubt
    return value


# ---------------------------------------------------------------------------------------------
# The stored document: {"version": "1", "flags": {...}, "values": {...}}

_DOCUMENT = frozenset({"version", "flags", "values"})
_FLAG = frozenset({"name", "description", "_createdAt", "_updatedAt", "_deprecation", "attributes"})
_DEPRECATION = frozenset({"status", "date"})
_ATTRIBUTE = frozenset({"constraints", "description"})
_NUMBER = frozenset({"type", "required", "minimum", "maximum"})
_STRING = frozenset({"type", "required", "pattern", "enum"})
_ARRAY = frozenset({"type", "required", "elements"})
_BOOLEAN = frozenset({"type", "required"})
_VARIANT = frozenset({"name", "enabled", "rule", "attributeValues"})
_STAMPS = frozenset({"_createdAt", "_updatedAt"})
_VALUE = frozenset({"enabled", "_variants", *_STAMPS})  # the rest of a value: attributes
# Python names pydantic also takes (populate_by_name) beside the aliases: left to the models
_BY_NAME = frozenset({"created_at", "updated_at", "variants"})


class _Constraint(NamedTuple):
    """``appconfig``'s constraint models as ``checks._violates`` reads them."""

    type: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    enum: list[Any] | None = None
    elements: _Constraint | None = None


class _Variant(NamedTuple):
    """``appconfig._Variant`` as ``checks.stored_flag`` reads it."""

    name: str
    enabled: bool
    rule: str | None
    attributeValues: dict[str, Any]  # noqa: N815 - AWS's field name


# _Variant(...) and _Constraint(...) from a tuple of every field, without the named tuple's
# Python-level __new__ (once per variant and per attribute definition)
_new_variant = functools.partial(tuple.__new__, _Variant)
_new_constraint = functools.partial(tuple.__new__, _Constraint)


def _stored(data: dict[str, Any], limits: Limits, patterns: Patterns) -> tuple[FlagSpec, ...]:
    from flagkit._rules.parse import MAX_RULE_CHARS

    _fields(data, _DOCUMENT)
    if data["version"] != "1":
        raise _Doubt
    flags = data.get("flags", {})
    values = data.get("values", {})
    if type(flags) is not dict or type(values) is not dict or len(flags) > limits.max_flags:
        raise _Doubt
    keys: set[str] = set()
    # Every shape first, as the models check the whole document before anything else.
    defs = {key: _flag(key, raw, keys) for key, raw in flags.items()}
    states = {key: _flag_value(key, raw, keys, MAX_RULE_CHARS) for key, raw in values.items()}
    # Then constraint patterns, compiled in the models' order (flags, attributes).
    for attrs in defs.values():
        for c in attrs.values():
            if c is not None and c.pattern is not None:
                _compile(c.pattern, patterns)
            elif c is not None and c.elements is not None and c.elements.pattern is not None:
                _compile(c.elements.pattern, patterns)
    undefined_values(defs, states)
    return tuple(stored_flag(key, attrs, states.get(key), patterns) for key, attrs in defs.items())


def _compile(pattern: str, patterns: Patterns) -> None:
    """Compile a constraint pattern as the models do, or doubt leaving ``patterns`` as the
    models would find it (a pattern over the document's total is counted, not kept)."""
    from flagkit._rules.patterns import PatternError

    before = patterns.total
    try:
        patterns.compile(pattern)
    except PatternError:
        patterns.total = before
        raise _Doubt from None


def _flag(key: str, raw: Any, keys: set[str]) -> dict[str, _Constraint | None]:
    """``appconfig._FlagDef``, as its attributes' constraints (all the rest is checked only)."""
    _key(key, keys)
    flag = _fields(raw, _FLAG)
    if "name" in flag:
        name = _text(flag["name"], 64)
        if not name or "\n" in name:
            raise _Doubt
    if "description" in flag:
        _text(flag["description"], 1024)
    for stamp in _STAMPS:
        if stamp in flag:
            _text(flag[stamp])
    if "_deprecation" in flag:
        deprecation = _fields(flag["_deprecation"], _DEPRECATION)
        if "status" in deprecation and deprecation["status"] != "planned":
            raise _Doubt
        if "date" in deprecation:
            _text(deprecation["date"])
    attrs = flag.get("attributes", {})
    if type(attrs) is not dict or len(attrs) > MAX_ATTRIBUTES:
        raise _Doubt
    out: dict[str, _Constraint | None] = {}
    for name, raw_def in attrs.items():
        _key(name, keys)
        definition = _fields(raw_def, _ATTRIBUTE)
        if "description" in definition:
            _text(definition["description"], 1024)
        out[name] = _constraint(definition["constraints"]) if "constraints" in definition else None
    return out


def _constraint(raw: Any, *, element: bool = False) -> _Constraint:
    """One of ``appconfig``'s four constraint models (number or string as an array's
    ``elements``)."""
    kind = raw.get("type") if type(raw) is dict else None
    if kind == "number":
        c = _fields(raw, _NUMBER)
        minimum, maximum = _whole(c, "minimum"), _whole(c, "maximum")
        return _new_constraint(("number", _bool(c, "required"), minimum, maximum, None, None, None))
    if kind == "string":
        c = _fields(raw, _STRING)
        pattern = _text(c["pattern"], 1024) if "pattern" in c else None
        enum = None
        if "enum" in c:
            if pattern is not None or type(c["enum"]) is not list:
                raise _Doubt
            enum = [
                _text(item, MAX_STRING) if type(item) is str else _whole({"v": item}, "v")
                for item in c["enum"]
            ]
        return _new_constraint(("string", _bool(c, "required"), None, None, pattern, enum, None))
    if kind == "array" and not element:
        c = _fields(raw, _ARRAY)
        elements = _constraint(c["elements"], element=True) if "elements" in c else None
        return _new_constraint(("array", _bool(c, "required"), None, None, None, None, elements))
    if kind == "boolean" and not element:
        required = _bool(_fields(raw, _BOOLEAN), "required")
        return _new_constraint(("boolean", required, None, None, None, None, None))
    raise _Doubt


def _whole(raw: dict[str, Any], name: str) -> int | None:
    """``appconfig.WholeNumber``: an int, or a float without a fractional part (as an int)."""
    if name not in raw:
        return None
    value = raw[name]
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _Doubt


def _flag_value(
    key: str, raw: Any, keys: set[str], max_rule: int
) -> tuple[bool | None, dict[str, Any], list[_Variant] | None]:
    """``appconfig._FlagValue`` as (``enabled``, attribute values, ``_variants``)."""
    _key(key, keys)
    if type(raw) is not dict or not _BY_NAME.isdisjoint(raw):
        raise _Doubt
    enabled = None
    if "enabled" in raw:
        enabled = raw["enabled"]
        if type(enabled) is not bool:
            raise _Doubt
    variants = None
    if "_variants" in raw:
        if type(raw["_variants"]) is not list:
            raise _Doubt
        variants = [_variant(v, keys, max_rule) for v in raw["_variants"]]
    extra = {}
    for name, value in raw.items():
        if name not in _VALUE:
            extra[name] = value
        elif name in _STAMPS:
            _text(value)
    return enabled, _values(extra, keys), variants


def _variant(raw: Any, keys: set[str], max_rule: int) -> _Variant:
    """``appconfig._Variant``."""
    if type(raw) is not dict or not _VARIANT.issuperset(raw):
        raise _Doubt
    variant: dict[str, Any] = raw
    name = variant.get("name")
    enabled = variant.get("enabled")
    if type(name) is not str or not 0 < len(name) <= 64 or "\n" in name:
        raise _Doubt
    if type(enabled) is not bool:
        raise _Doubt
    if not name.isascii():
        _text(name)
    rule = None
    if "rule" in variant:
        rule = variant["rule"]
        if type(rule) is not str or len(rule) > max_rule or not rule.isascii():
            _text(rule, max_rule)
    values = _values(variant.get("attributeValues", {}), keys)
    return _new_variant((name, enabled, rule, values))
