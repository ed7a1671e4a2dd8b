"""Documents: bytes -> validated, normalised flag specifications.

Two JSON forms that AWS AppConfig produces for an ``AWS.AppConfig.FeatureFlags`` profile are
accepted (see docs/documents.md):

* the **stored document** ``{"version": "1", "flags": {...}, "values": {...}}`` with attribute
  definitions, constraints and multi-variant ``_variants``;
* the **data view** that GetLatestConfiguration returns for basic flags:
  ``{"flag": {"enabled": bool, "<attr>": value, ...}}``.

Both are validated with pydantic (load time only; this module is imported lazily, never by the
hot path) and normalised into :class:`FlagSpec` tuples, which ``_snapshot`` compiles. Any rule
broken refuses the whole document with a :class:`DocumentError` naming flag, field, what was
expected and what was found.

These models are the reference: a valid document usually passes ``fast.py`` instead, which
checks the same rules in plain Python without importing pydantic and hands every document it
is not sure of to :func:`load_document` here. What both share once the shapes are checked
(values against constraints, variant order) lives in ``checks.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from flagkit._exceptions import DocumentError
from flagkit._rules.parse import MAX_RULE_CHARS
from flagkit._rules.patterns import PatternError, Patterns, PatternTooLarge

from .checks import (
    KEY_PATTERN,
    MAX_ATTRIBUTES,
    MAX_STRING,
    MAX_VARIANTS,
    detect_format,
    freeze,
    stored_flag,
    undefined_values,
    variant_name,
)
from .limits import MAX_DOCUMENT_BYTES, Limits, check_flag_count, patterns_for
from .spec import FlagSpec, VariantSpec
from .strict_json import excerpt, parse_json, place, render_path

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KEY_PATTERN",
    "MAX_VARIANTS",
    "FlagSpec",
    "VariantSpec",
    "check_state",
    "load_document",
    "parse_json",
]

DEFAULT_MAX_BYTES = MAX_DOCUMENT_BYTES  # one definition, in .limits (light to import)


def _ascii_key(key: str) -> str:
    # AppConfig's schema is ECMA-262, where \d is [0-9]; Python's and pydantic's engines let \d
    # match any Unicode digit ("a٣"), so keys are also held to ASCII.
    if not key.isascii():
        raise ValueError(f"String should match pattern '{KEY_PATTERN}' (ASCII only)")
    return key


Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN), AfterValidator(_ascii_key)]
AttrString = Annotated[str, StringConstraints(max_length=MAX_STRING)]
# AWS's attributeValue is a oneOf whose two array branches both match [], so an empty array is
# refused; an array must be all strings or all numbers (user guide, feature flag type reference).
AttrValue = (
    bool
    | int
    | float
    | AttrString
    | Annotated[list[AttrString], Field(min_length=1)]
    | Annotated[list[int | float], Field(min_length=1)]
)
# customerDefinedName: "^[^\n]{1,64}$" (flag and variant names alike)
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\n]*$")]
Description = Annotated[str, StringConstraints(max_length=1024)]


def _whole(value: int | float) -> int:
    # AWS's schema is draft-07, where "integer" means any number with a zero fractional part:
    # 1.0 is an integer there (draft 4 said otherwise), so 1.0 is accepted and read as 1.
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Input should be an integer (a number without a fractional part)")
        return int(value)
    return value


# In ``flagkit schema`` (draft 4, whose "integer" refuses 1.0) this is a number that is a
# multiple of 1.
WholeNumber = Annotated[
    int | float,
    AfterValidator(_whole),
    WithJsonSchema({"type": "number", "multipleOf": 1}),
]


def _re2_compiles(pattern: str, info: ValidationInfo) -> str:
    """A constraint pattern is compiled by RE2 (linear time) at load, or refused with why.

    It is compiled by the load's :class:`Patterns` (the validation context), which counts it
    towards the document's pattern limits and keeps the program for the value checks.
    """
    try:
        _patterns(info.context).compile(pattern)
    except PatternTooLarge as exc:
        raise ValueError(f"pattern is too large: {exc}") from exc
    except PatternError as exc:
        raise ValueError(f"pattern is not a valid regular expression: {exc}") from exc
    return pattern


def _patterns(context: Any) -> Patterns:
    found = context.get("patterns") if isinstance(context, dict) else None
    return found if isinstance(found, Patterns) else Patterns()


Pattern = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_re2_compiles)]


# ---------------------------------------------------------------------------------------------
# pydantic models of the two JSON forms (load time only).

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class _NumberConstraint(BaseModel):
    model_config = _STRICT
    type: Literal["number"]
    required: bool = False
    minimum: WholeNumber | None = None
    maximum: WholeNumber | None = None


class _StringConstraint(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={"not": {"required": ["pattern", "enum"]}},  # AWS's own wording
    )
    type: Literal["string"]
    required: bool = False
    pattern: Pattern | None = None
    # AWS writes "maxLength": 100 on this array; JSON Schema applies maxLength to strings only,
    # so the service's validator takes any number of items, and so does flagkit.
    enum: list[AttrString | WholeNumber] | None = None

    @model_validator(mode="after")
    def _pattern_or_enum(self) -> _StringConstraint:
        if self.pattern is not None and self.enum is not None:
            raise ValueError("pattern and enum cannot both be given")
        return self


class _ArrayConstraint(BaseModel):
    model_config = _STRICT
    type: Literal["array"]
    required: bool = False
    # AWS's elementConstraints reuse numberConstraints and stringConstraints whole, "required"
    # included (it is accepted there and means nothing: an element is present by definition).
    elements: (
        Annotated[_NumberConstraint | _StringConstraint, Field(discriminator="type")] | None
    ) = None


class _BooleanConstraint(BaseModel):
    model_config = _STRICT
    type: Literal["boolean"]
    required: bool = False


_Constraint = Annotated[
    _NumberConstraint | _StringConstraint | _ArrayConstraint | _BooleanConstraint,
    Field(discriminator="type"),
]


class _AttributeDef(BaseModel):
    model_config = _STRICT
    constraints: _Constraint | None = None
    description: Description | None = None


class _Deprecation(BaseModel):
    model_config = _STRICT
    # Neither field is required in AWS's schema; "date" has format "date", which draft-07
    # treats as an annotation, so any string is taken.
    status: Literal["planned"] | None = None
    date: str | None = None


class _FlagDef(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)
    name: Name | None = None
    description: Description | None = None
    created_at: str | None = Field(default=None, alias="_createdAt")
    updated_at: str | None = Field(default=None, alias="_updatedAt")
    deprecation: _Deprecation | None = Field(default=None, alias="_deprecation")
    attributes: Annotated[dict[Key, _AttributeDef], Field(max_length=MAX_ATTRIBUTES)] = Field(
        default_factory=dict
    )


class _Variant(BaseModel):
    model_config = _STRICT
    name: Name
    enabled: bool
    # AWS sets no minimum length: an empty rule is read as no rule (see _stored_flag)
    rule: Annotated[str, StringConstraints(max_length=MAX_RULE_CHARS)] | None = None
    attributeValues: Annotated[dict[Key, AttrValue], Field(max_length=MAX_ATTRIBUTES)] = Field(
        default_factory=dict
    )


class _FlagValue(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, populate_by_name=True)
    __pydantic_extra__: dict[Key, AttrValue]  # attribute values sit beside "enabled"
    enabled: bool | None = None
    created_at: str | None = Field(default=None, alias="_createdAt")
    updated_at: str | None = Field(default=None, alias="_updatedAt")
    # AWS writes "maxLength": 32 on this array, which JSON Schema does not apply to arrays: the
    # service's schema takes any number of variants (and none), so flagkit does too.
    variants: list[_Variant] | None = Field(default=None, alias="_variants")


class _StoredDocument(BaseModel):
    model_config = _STRICT
    version: Literal["1"]
    flags: dict[Key, _FlagDef] = Field(default_factory=dict)
    values: dict[Key, _FlagValue] = Field(default_factory=dict)


class _DataViewFlag(BaseModel):
    # AWS's data-view schema says maxProperties 25 with "enabled" counted, while its stored
    # schema allows 25 attributes, which the service then serves beside "enabled": the pages
    # disagree, and flagkit takes 25 attributes plus "enabled" (check_state), so that no view
    # the service makes is refused.
    model_config = ConfigDict(
        strict=True,
        extra="allow",
        frozen=True,
        json_schema_extra={"maxProperties": MAX_ATTRIBUTES + 1},
    )
    __pydantic_extra__: dict[Key, AttrValue]
    enabled: bool


# ---------------------------------------------------------------------------------------------
# Error translation: pydantic -> DocumentError, in this one place.


_TAGS = {"number", "string", "array", "boolean"}


# pydantic reports an attribute value that fits no member of AttrValue once per member, each
# located under the member's tag; those reports are one problem.
_VALUE_TAGS = frozenset(
    {"bool", "int", "float", "constrained-str", "list[constrained-str]", "list[union[int,float]]"}
)
ATTR_VALUE_EXPECTED = (
    "a string (at most 1024 characters), a number, a boolean, "
    "or a non-empty array of all strings or all numbers"
)


def _problem(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Where a problem is: the location up to the AttrValue member that reported it."""
    for i, part in enumerate(loc):
        if part in _VALUE_TAGS:
            return loc[:i]
    return loc


def _translate(exc: ValidationError, *, data_view: bool) -> DocumentError:
    """One DocumentError for the first problem; every other one rides along in ``problems``."""
    errors = exc.errors(include_url=False)
    distinct: dict[tuple[int | str, ...], Any] = {}
    for error in errors:
        distinct.setdefault(_problem(error["loc"]), error)
    first, *others = (_one(e, data_view=data_view) for e in distinct.values())
    if others:
        first = DocumentError(
            f"{first.message} (and {len(others)} more problem(s))",
            flag=first.flag,
            field=first.field,
            expected=first.expected,
            found=first.found,
            problems=tuple(others),
        )
    return first


def _one(error: Any, *, data_view: bool) -> DocumentError:
    expected = _expected(error)
    raw = error["loc"]
    if raw and raw[-1] == "bool":  # the first member of AttrValue
        expected = ATTR_VALUE_EXPECTED
    loc = [
        p
        for p in raw
        if not (isinstance(p, str) and (p in _TAGS or p.startswith(("list[", "function-"))))
    ]
    loc = [p for p in loc if p not in {"bool", "int", "float", "str", "constrained-str"}]
    flag, field = place(loc, data_view=data_view)
    return DocumentError(
        "invalid value",
        flag=flag,
        field=render_path(field) or None,
        expected=expected,
        found=excerpt(error.get("input")),
    )


def _expected(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", ""))
    if kind == "missing":
        return "this field (it is required)"
    if kind == "extra_forbidden":
        return "no such field (it is not allowed here)"
    if kind == "literal_error":
        return msg.replace("Input should be ", "")
    if kind == "union_tag_invalid":
        return msg.replace("Input tag", "a known 'type'; tag")
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else kind


# ---------------------------------------------------------------------------------------------
# Loading.


def load_document(
    data: Any, *, limits: Limits | None = None, patterns: Patterns | None = None
) -> tuple[FlagSpec, ...]:
    """Validate a parsed JSON document (either form) and normalise it.

    ``limits.max_flags`` is checked before any flag is validated; constraint patterns are
    compiled by ``patterns`` (the load's, shared with the rule compiler) or a fresh one.
    """
    if not isinstance(data, dict):
        raise DocumentError(
            "not a flags document", expected="a JSON object", found=type(data).__name__
        )
    limits = limits or Limits()
    if patterns is None:
        patterns = patterns_for(limits)
    if detect_format(data) == "stored":
        flags = data.get("flags")
        check_flag_count(len(flags) if isinstance(flags, dict) else 0, limits)
        return _load_stored(data, patterns)
    check_flag_count(len(data), limits)
    return _load_data_view(data)


def _load_data_view(data: dict[str, Any]) -> tuple[FlagSpec, ...]:
    specs = []
    for key, raw in data.items():
        if not isinstance(key, str) or not re.fullmatch(KEY_PATTERN, key, re.ASCII):
            raise DocumentError(
                "invalid flag key",
                flag=key,
                expected=f"a key matching {KEY_PATTERN}",
                found=excerpt(key),
            )
        # The AppConfig Agent serves a multi-variant flag evaluated, naming the variant it
        # chose: {"flag": {"_variant": "Default Variant", "enabled": false}} (user guide:
        # "Retrieving basic and multi-variant feature flags"). One variant, named.
        name = variant_name(key, "", raw)
        enabled, values = check_state(key, "", raw, allow_variant=name is not None)
        variant = VariantSpec(name=name, enabled=enabled, rule=None, values=values)
        specs.append(FlagSpec(key, (variant,), frozenset(values), multi_variant=name is not None))
    return tuple(specs)


def check_state(
    key: str, where: str, raw: Any, *, allow_variant: bool
) -> tuple[bool, Mapping[str, Any]]:
    """Validate a retrieval-time flag state ``{"enabled": bool, "<attr>": value, ...}``.

    Used for the data view and for the JSON contents of the Ion form (where a ``_variant``
    name may sit beside ``enabled``).
    """
    if allow_variant and isinstance(raw, dict) and "_variant" in raw:
        raw = {k: v for k, v in raw.items() if k != "_variant"}
    try:
        model = _DataViewFlag.model_validate(raw)
    except ValidationError as exc:
        err = _translate(exc, data_view=True)
        field = render_path([p for p in (where, err.flag, err.field) if p])
        raise DocumentError(
            err.message, flag=key, field=field or None, expected=err.expected, found=err.found
        ) from exc
    values = freeze(model.__pydantic_extra__ or {})
    if len(values) > MAX_ATTRIBUTES:
        raise DocumentError(
            "too many attributes",
            flag=key,
            field=where or None,
            expected=f"at most {MAX_ATTRIBUTES}",
            found=str(len(values)),
        )
    return model.enabled, values


def _null_in(node: Any, path: list[int | str]) -> list[int | str] | None:
    """The path of a null directly inside the JSON object ``node`` (a C-speed scan), or None."""
    if isinstance(node, dict) and None in node.values():
        return [*path, next(k for k, v in node.items() if v is None)]
    return None


def _null_path(data: dict[str, Any]) -> list[int | str] | None:
    """Where the first JSON null is among the stored form's objects, or None.

    Only the objects the schema defines are scanned, one ``None in dict.values()`` each, so a
    1 MiB document costs about a millisecond; malformed shapes are left to the models.
    """
    found = _null_in(data, [])
    for key, definition in _items(data.get("flags")):
        where: list[int | str] = ["flags", key]
        found = found or _null_in(definition, where)
        if isinstance(definition, dict):
            found = found or _null_in(definition.get("_deprecation"), [*where, "_deprecation"])
            for name, attr in _items(definition.get("attributes")):
                at: list[int | str] = [*where, "attributes", name]
                constraints = attr.get("constraints") if isinstance(attr, dict) else None
                found = (
                    found
                    or _null_in(attr, at)
                    or _null_in(constraints, [*at, "constraints"])
                    or _null_in(
                        constraints.get("elements") if isinstance(constraints, dict) else None,
                        [*at, "constraints", "elements"],
                    )
                )
        if found:
            return found
    for key, value in _items(data.get("values")):
        where = ["values", key]
        found = found or _null_in(value, where)
        variants = value.get("_variants") if isinstance(value, dict) else None
        for i, variant in enumerate(variants if isinstance(variants, list) else ()):
            at = [*where, "_variants", i]
            found = (
                found
                or _null_in(variant, at)
                or _null_in(
                    variant.get("attributeValues") if isinstance(variant, dict) else None,
                    [*at, "attributeValues"],
                )
            )
        if found:
            return found
    return found


def _items(node: Any) -> Any:
    return node.items() if isinstance(node, dict) else ()


def _load_stored(data: dict[str, Any], patterns: Patterns) -> tuple[FlagSpec, ...]:
    # AppConfig's schema allows null nowhere: an optional field is left out, never nulled
    # (pydantic's `X | None` fields would let an explicit null through).
    null = _null_path(data)
    if null is not None:
        flag, field = place(null, data_view=False)
        raise DocumentError(
            "null value",
            flag=flag,
            field=render_path(field) or None,
            expected="a value (leave an optional field out rather than null it)",
            found="null",
        )
    try:
        doc = _StoredDocument.model_validate(data, context={"patterns": patterns})
    except ValidationError as exc:
        raise _translate(exc, data_view=False) from exc
    undefined_values(doc.flags, doc.values)
    specs = []
    for key, definition in doc.flags.items():
        attrs = {name: d.constraints for name, d in definition.attributes.items()}
        value = doc.values.get(key)
        if value is None:
            specs.append(stored_flag(key, attrs, None, patterns))
            continue
        state = (value.enabled, value.__pydantic_extra__ or {}, value.variants)
        specs.append(stored_flag(key, attrs, state, patterns))
    return tuple(specs)
