"""The document rules that need no pydantic: what a flag's values must satisfy, in which order.

Both validators of the JSON forms end here: the models in ``appconfig.py`` (which check shapes
and types, and name every problem) and the fast path in ``fast.py`` (which checks the same
shapes without pydantic, for documents that are valid). Once a document's shapes are known to
be right, :func:`stored_flag` checks what the shapes cannot say (values against the flag's
attribute definitions and constraints, variant order and names) and builds the FlagSpec, the
same code for both, so both give the same FlagSpecs and the same errors.

Light to import: the poller's first document may pass through here without pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from flagkit._exceptions import DocumentError

from .spec import FlagSpec, VariantSpec, variant_spec
from .strict_json import excerpt

if TYPE_CHECKING:
    from flagkit._rules.patterns import Patterns

__all__ = [
    "KEY_PATTERN",
    "MAX_ATTRIBUTES",
    "MAX_STRING",
    "MAX_VARIANTS",
    "detect_format",
    "freeze",
    "stored_flag",
    "undefined_values",
    "variant_name",
]

KEY_PATTERN = r"^[a-z][a-zA-Z\d_-]{0,63}$"
MAX_ATTRIBUTES = 25
MAX_VARIANTS = 32  # the Ion retrieval form's cap (ion.py); the stored form has none
MAX_STRING = 1024


class Variant(Protocol):
    """A stored ``_variants`` entry whose shape is checked."""

    @property
    def name(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def rule(self) -> str | None: ...
    @property
    def attributeValues(self) -> Mapping[str, Any]: ...  # noqa: N802 - AWS's field name


def detect_format(data: Any) -> Literal["stored", "data_view"]:
    """The stored form has a top-level string ``version``; a data-view flag is an object."""
    if isinstance(data, dict) and isinstance(data.get("version"), str):
        return "stored"
    return "data_view"


def variant_name(key: str, where: str, raw: Any) -> str | None:
    """The ``_variant`` of a retrieval-time flag state, checked as AWS checks variant names.

    None when there is none. AWS's schema: a variant ``name`` matches ``^[^\\n]{1,64}$``.
    """
    if not isinstance(raw, dict) or "_variant" not in raw:
        return None
    name = raw["_variant"]
    if not (isinstance(name, str) and 0 < len(name) <= 64 and "\n" not in name):
        raise DocumentError(
            "invalid variant name",
            flag=key,
            field=f"{where}._variant" if where else "_variant",
            expected="a string of 1 to 64 characters without a newline",
            found=excerpt(name),
        )
    return name


def undefined_values(flags: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Refuse values given for a flag that ``flags`` does not define."""
    for key in values:
        if key not in flags:
            raise DocumentError(
                "values given for an undefined flag",
                flag=key,
                field="values",
                expected="a flag of the same key under 'flags'",
                found="none",
            )


def stored_flag(
    key: str,
    attrs: Mapping[str, Any],
    value: tuple[bool | None, Mapping[str, Any], Sequence[Variant] | None] | None,
    patterns: Patterns,
) -> FlagSpec:
    """One stored flag whose shapes are checked: its values checked, as a FlagSpec.

    ``attrs`` maps each attribute the flag defines to its constraints, None when it has none
    (an object with the fields of AWS's constraint of its ``type``: a model, or fast.py's);
    ``value`` is the flag's entry under ``values`` as (``enabled``, attribute values,
    ``_variants``), None when it has none.
    """
    names = frozenset(attrs)
    # required attributes must have a value wherever the flag (or a variant) is enabled
    required = [n for n, c in attrs.items() if c is not None and c.required]
    if value is None:
        only = VariantSpec(name=None, enabled=False, rule=None, values=freeze({}))
        return FlagSpec(key, (only,), names, multi_variant=False)
    enabled, extra, variants = value
    if not variants:
        # an empty _variants passes AWS's schema, though UG-mvconc says every multi-variant
        # flag has a default variant: the pages disagree, so flagkit takes it and serves the
        # flag as one without variants (off, when nothing else is given) rather than refuse
        _check_values(key, None, attrs, extra, patterns, required if enabled else ())
        only = VariantSpec(name=None, enabled=bool(enabled), rule=None, values=freeze(extra))
        return FlagSpec(key, (only,), names, multi_variant=False)
    if enabled is not None or extra:
        found = "enabled" if enabled is not None else f"attribute {next(iter(extra))!r}"
        raise DocumentError(
            "a multi-variant flag carries its state in its variants",
            flag=key,
            field="values",
            expected="only _variants (and _createdAt/_updatedAt)",
            found=found,
        )
    seen: set[str] = set()
    out = []
    last = len(variants) - 1
    plain = _plain(attrs)
    for i, variant in enumerate(variants):
        rule = variant.rule or None  # "" passes AWS's schema; it is read as no rule
        if variant.name in seen:
            raise DocumentError(
                "duplicate variant name",
                flag=key,
                field=f"values._variants[{i}].name",
                expected="unique names",
                found=excerpt(variant.name),
            )
        seen.add(variant.name)
        if i == last and rule is not None:
            raise DocumentError(
                "the default variant must come last and have no rule",
                flag=key,
                field=f"values._variants[{i}].rule",
                expected="no rule on the last variant",
                found=excerpt(rule),
            )
        if i != last and rule is None:
            raise DocumentError(
                "only the default (last) variant may omit its rule",
                flag=key,
                field=f"values._variants[{i}].rule",
                expected="a rule",
                found=excerpt(variant.rule) if variant.rule == "" else "none",
            )
        values = variant.attributeValues
        for name, val in values.items():  # the common values at once; the rest are checked
            kind = plain.get(name, _CHECK)
            if kind is not None and type(val) is not kind:
                _check_values(key, i, attrs, values, patterns, required if variant.enabled else ())
                break
        else:
            if variant.enabled and required:
                _check_values(key, i, attrs, {}, patterns, [n for n in required if n not in values])
        out.append(variant_spec(variant.name, variant.enabled, rule, freeze(values)))
    return FlagSpec(key, tuple(out), names, multi_variant=True)


_CHECK = object()  # a name whose value _check_values checks (undefined, or constrained)


def _plain(attrs: Mapping[str, Any]) -> dict[str, type | None]:
    """Attribute -> the type whose values break none of its constraints (None: any value).

    For the attributes whose constraints only name a type (no pattern, enum or bounds); a
    value of exactly that type needs no further check (``_violates`` would find nothing).
    """
    plain: dict[str, type | None] = {}
    for name, c in attrs.items():
        if c is None:
            plain[name] = None
        elif c.type == "string" and c.pattern is None and c.enum is None:
            plain[name] = str
        elif c.type == "number" and c.minimum is None and c.maximum is None:
            plain[name] = int  # a float may be NaN or infinite: checked
        elif c.type == "boolean":
            plain[name] = bool
    return plain


def _check_values(
    key: str,
    variant: int | None,
    attrs: Mapping[str, Any],
    values: Mapping[str, Any],
    patterns: Patterns,
    required: Sequence[str],
) -> None:
    for name, val in values.items():
        if name not in attrs:
            raise DocumentError(
                "value for an undefined attribute",
                flag=key,
                field=_field(variant, name),
                expected=f"one of {sorted(attrs)}"
                if attrs
                else "no attributes (the flag defines none)",
                found=excerpt(name),
            )
        constraints = attrs[name]
        if constraints is not None:
            problem = _violates(constraints, val, patterns)
            if problem:
                raise DocumentError(
                    "attribute value breaks its constraints",
                    flag=key,
                    field=_field(variant, name),
                    expected=problem,
                    found=excerpt(val),
                )
    for name in required:
        if name not in values:
            raise DocumentError(
                "required attribute missing",
                flag=key,
                field=_field(variant, name),
                expected="a value (the attribute is required)",
                found="none",
            )


def _field(variant: int | None, name: str) -> str:
    """Where an attribute value is: a basic flag's, or the ``variant``-th variant's."""
    if variant is None:
        return f"values.{name}"
    return f"values._variants[{variant}].attributeValues.{name}"


def _violates(c: Any, v: Any, patterns: Patterns) -> str | None:
    """Why ``v`` breaks constraint ``c`` (an expected-text), or None when it holds."""
    if c.type == "boolean":
        return None if isinstance(v, bool) else "a boolean"
    if c.type == "number":
        if not isinstance(v, int | float) or isinstance(v, bool):
            return "a number"
        if isinstance(v, float) and not math.isfinite(v):
            return "a number"
        if c.minimum is not None and v < c.minimum:
            return f"a number >= {c.minimum}"
        if c.maximum is not None and v > c.maximum:
            return f"a number <= {c.maximum}"
        return None
    if c.type == "string":
        if not isinstance(v, str):
            return "a string"
        if c.pattern is not None and not patterns.compile(c.pattern).found(v):
            return f"a string matching {c.pattern!r}"
        if c.enum is not None and v not in c.enum:
            return f"one of {c.enum!r}"
        return None
    if c.type == "array":
        if not isinstance(v, list):
            return "an array"
        if c.elements is not None:
            for i, item in enumerate(v):
                problem = _violates(c.elements, item, patterns)
                if problem:
                    return f"element [{i}]: {problem}"
        return None
    return None  # pragma: no cover - the discriminated union admits no other type


def freeze(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Attribute values as the hot path hands them out: arrays become tuples (immutable)."""
    frozen = dict(values)  # a copy in C, then arrays replaced (a value set keeps the size)
    for k, v in frozen.items():
        if isinstance(v, list):
            frozen[k] = tuple(v)
    return MappingProxyType(frozen)
