"""Documents: both AppConfig JSON forms load; every broken rule is refused precisely."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import DocumentError, RuleError
from flagkit._document.appconfig import load_document
from flagkit._snapshot import snapshot_from_bytes

# The multi-variant example of AppConfig's user guide (creating multi-variant feature flags,
# procedures), complete: examples/flags/ui-refresh.json.
UI_REFRESH: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "examples" / "flags" / "ui-refresh.json").read_text()
)

STORED: dict[str, Any] = {
    "version": "1",
    "flags": {
        "checkout": {
            "name": "Checkout",
            "attributes": {
                "max_items": {
                    "constraints": {
                        "type": "number",
                        "minimum": 1,
                        "maximum": 100,
                        "required": True,
                    }
                },
                "theme": {"constraints": {"type": "string", "enum": ["light", "dark"]}},
                "code": {"constraints": {"type": "string", "pattern": "^[A-Z]{3}$"}},
                "regions": {"constraints": {"type": "array", "elements": {"type": "string"}}},
                "beta": {"constraints": {"type": "boolean"}},
            },
        },
        "kill-switch": {"name": "Kill switch"},
    },
    "values": {
        "checkout": {
            "enabled": True,
            "max_items": 10,
            "theme": "dark",
            "code": "ABC",
            "regions": ["eu", "us"],
            "beta": False,
        },
        "kill-switch": {"enabled": False},
    },
}


def refused(document: Any) -> DocumentError:
    body = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(DocumentError) as info:
        snapshot_from_bytes(body)
    return info.value


def test_stored_document_loads_with_values_and_states() -> None:
    """A stored document becomes one spec per defined flag, with attribute values as given."""
    specs = {s.key: s for s in load_document(STORED)}
    assert set(specs) == {"checkout", "kill-switch"}
    assert specs["checkout"].variants[0].enabled is True
    assert specs["checkout"].variants[0].values["regions"] == ("eu", "us")
    assert specs["kill-switch"].variants[0].enabled is False


def test_user_guide_multi_variant_example_loads() -> None:
    """AppConfig's own multi-variant example is accepted and keeps its variant order."""
    (spec,) = load_document(UI_REFRESH)
    assert [v.name for v in spec.variants] == [
        "QA",
        "Beta Testers",
        "Sample Population",
        "Default Variant",
    ]
    assert spec.variants[-1].rule is None
    assert spec.multi_variant


def test_data_view_loads() -> None:
    """The data view GetLatestConfiguration returns for basic flags is accepted."""
    doc = {
        "background_worker": {"enabled": True, "num_threads": 4, "queue_name": "MyWorkQueue"},
        "emergency_shutoff_switch": {"enabled": False},
    }
    specs = {s.key: s for s in load_document(doc)}
    assert specs["background_worker"].variants[0].values == {
        "num_threads": 4,
        "queue_name": "MyWorkQueue",
    }
    assert specs["emergency_shutoff_switch"].variants[0].enabled is False


def test_flag_defined_without_values_is_off() -> None:
    """A flag defined under 'flags' but absent from 'values' is served as disabled."""
    doc = {"version": "1", "flags": {"later": {"name": "Later"}}}
    (spec,) = load_document(doc)
    assert spec.variants[0].enabled is False


@pytest.mark.parametrize(
    ("mutate", "flag", "field", "expected_part"),
    [
        (lambda d: d.update(version="2"), None, "version", "'1'"),
        (lambda d: d.update(extra=1), None, "extra", "not allowed"),
        (lambda d: d["flags"].update({"Bad": {"name": "x"}}), "Bad", "flags (key)", "pattern"),
        (
            lambda d: d["values"]["checkout"].update(max_items=0),
            "checkout",
            "values.max_items",
            ">= 1",
        ),
        (
            lambda d: d["values"]["checkout"].update(max_items=101),
            "checkout",
            "values.max_items",
            "<= 100",
        ),
        (
            lambda d: d["values"]["checkout"].update(max_items="7"),
            "checkout",
            "values.max_items",
            "a number",
        ),
        (
            lambda d: d["values"]["checkout"].update(theme="blue"),
            "checkout",
            "values.theme",
            "one of",
        ),
        (
            lambda d: d["values"]["checkout"].update(code="abcd"),
            "checkout",
            "values.code",
            "matching",
        ),
        (
            lambda d: d["values"]["checkout"].update(regions=["eu", 3]),
            "checkout",
            "values.regions",
            None,
        ),
        (
            lambda d: d["values"]["checkout"].update(beta="yes"),
            "checkout",
            "values.beta",
            "a boolean",
        ),
        (
            lambda d: d["values"]["checkout"].update(colour="red"),
            "checkout",
            "values.colour",
            "one of",
        ),
        (
            lambda d: d["values"]["checkout"].pop("max_items"),
            "checkout",
            "values.max_items",
            "required",
        ),
        (
            lambda d: d["values"]["checkout"].update(enabled="true"),
            "checkout",
            "values.enabled",
            "boolean",
        ),
        (lambda d: d["values"].update(ghost={"enabled": True}), "ghost", "values", "under 'flags'"),
        (lambda d: d["flags"]["checkout"].update(name="x" * 65), "checkout", "flags.name", "64"),
        (
            lambda d: d["flags"]["checkout"]["attributes"]["theme"]["constraints"].update(
                pattern="x"
            ),
            "checkout",
            "flags.attributes.theme.constraints",
            "both",
        ),
        (
            lambda d: d["flags"]["checkout"]["attributes"]["beta"]["constraints"].update(
                type="date"
            ),
            "checkout",
            "flags.attributes.beta.constraints",
            "type",
        ),
    ],
)
def test_stored_document_errors_name_flag_field_and_expectation(
    mutate: Any, flag: str | None, field: str, expected_part: str | None
) -> None:
    """Each broken rule is refused with the flag, the field and what was expected."""
    doc = copy.deepcopy(STORED)
    mutate(doc)
    err = refused(doc)
    assert err.flag == flag
    assert err.field is not None and err.field.startswith(field), err
    if expected_part is not None:
        assert expected_part in (err.expected or ""), err
    assert err.found is not None


@pytest.mark.parametrize(
    ("variants", "field", "message_part"),
    [
        (
            [{"name": "a", "enabled": True}, {"name": "b", "enabled": False}],
            "values._variants[0].rule",
            "only the default",
        ),
        (
            [{"name": "a", "enabled": True, "rule": "(eq $x 1)"}],
            "values._variants[0].rule",
            "must come last",
        ),
        (
            [{"name": "a", "enabled": True, "rule": "(eq $x 1)"}, {"name": "a", "enabled": False}],
            "values._variants[1].name",
            "duplicate",
        ),
        (
            [
                {"name": "a", "enabled": True, "rule": "(frobnicate $x 1)"},
                {"name": "b", "enabled": False},
            ],
            "values._variants[0].rule",
            "position",
        ),
        (
            [{"name": "a", "rule": "(eq $x 1)"}, {"name": "b", "enabled": False}],
            "values._variants[0].enabled",
            "required",
        ),
    ],
)
def test_variant_errors(variants: list[dict[str, Any]], field: str, message_part: str) -> None:
    """Variant ordering, naming and rules are checked; a rule error carries its position."""
    doc = {"version": "1", "flags": {"f": {"name": "F"}}, "values": {"f": {"_variants": variants}}}
    err = refused(doc)
    assert err.flag == "f"
    assert err.field == field, err
    assert message_part in str(err)


def test_rule_error_is_a_document_error_with_position() -> None:
    """A bad rule raises RuleError (a DocumentError) naming the variant's rule field."""
    doc = {
        "version": "1",
        "flags": {"f": {"name": "F"}},
        "values": {
            "f": {
                "_variants": [
                    {"name": "a", "enabled": True, "rule": "(eq $x"},
                    {"name": "b", "enabled": False},
                ]
            }
        },
    }
    with pytest.raises(RuleError) as info:
        snapshot_from_bytes(json.dumps(doc))
    assert info.value.flag == "f"
    assert info.value.field == "values._variants[0].rule"
    assert isinstance(info.value.position, int)


def test_multi_variant_flag_with_top_level_state_is_refused() -> None:
    """A flag with _variants may not also carry enabled/attributes at the top level."""
    doc = copy.deepcopy(UI_REFRESH)
    doc["values"]["ui_refresh"]["enabled"] = True
    err = refused(doc)
    assert err.flag == "ui_refresh" and err.found == "enabled"


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (b'{"a": {"enabled": true}, "a": {"enabled": false}}', "duplicate JSON key"),
        (b'{"a": {"enabled": true, "n": NaN}}', "non-standard"),
        (b'{"a": {"enabled": true, "n": Infinity}}', "non-standard"),
        (b'{"a": {"enabled": tr', "malformed JSON"),
        (b'\xff\xfe{"a": 1}', "not UTF-8"),
        (b"[1, 2]", "not a flags document"),
        (b'{"a": {"enabled": 1}}', "invalid value"),
        (b'{"a": {"on": true}}', "invalid value"),
        (b'{"A": {"enabled": true}}', "invalid flag key"),
    ],
)
def test_malformed_json_is_refused(body: bytes, message_part: str) -> None:
    """Duplicate keys, NaN/Infinity, bad UTF-8, wrong shapes: each gets a precise error."""
    with pytest.raises(DocumentError) as info:
        snapshot_from_bytes(body)
    assert message_part in str(info.value)


def test_oversize_document_is_refused_before_parsing() -> None:
    """The size cap applies to the raw bytes, before any parsing."""
    body = b"{" + b" " * 2000 + b"}"
    with pytest.raises(DocumentError, match="too large"):
        snapshot_from_bytes(body, max_bytes=1000)


def test_unsupported_content_type() -> None:
    """An unknown content type is refused by name."""
    with pytest.raises(DocumentError, match="content type"):
        snapshot_from_bytes(b"{}", content_type="text/yaml")


def test_validate_counts_flags() -> None:
    """flagkit.validate accepts a good document and reports its size."""
    assert flagkit.validate(STORED) == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_no_json_value_makes_the_loader_raise_anything_but_document_error(value: Any) -> None:
    """Whatever JSON arrives, loading either succeeds or raises DocumentError."""
    try:
        snapshot_from_bytes(json.dumps(value))
    except DocumentError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["version", "flags", "values", "x"]), json_values, max_size=4)
)
def test_no_stored_shape_makes_the_loader_raise_anything_but_document_error(
    value: dict[str, Any],
) -> None:
    """Documents shaped like the stored form, with junk inside, only ever raise DocumentError."""
    value["version"] = "1"
    try:
        snapshot_from_bytes(json.dumps(value))
    except DocumentError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_no_bytes_make_the_loader_raise_anything_but_document_error(body: bytes) -> None:
    """Arbitrary bytes are refused with DocumentError, never another exception."""
    try:
        snapshot_from_bytes(body)
    except DocumentError:
        pass


# -- parity with AWS's published schema ----------------------------------------------------------
#
# One entry per rule of the AWS.AppConfig.FeatureFlags JSON schema (user guide, "Understanding the
# type reference for AWS.AppConfig.FeatureFlags"; research appconfig.md §2.1, §8.5) and of the
# data-view schema on the same page, plus the two checks the service makes beyond the schema
# (UG-mvproc: constraints; UG-mvconc: the default variant). Each rule lists documents with AWS's
# verdict: True accepted, False refused. docs/documents.md has the same table with its sources.
# ``schema`` says whether a JSON Schema can decide the rule (tests/test_cli.py checks
# ``flagkit schema`` against those).


def _stored(flags: dict[str, Any] | None = None, values: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": "1", "flags": flags or {}}
    if values is not None:
        doc["values"] = values
    return doc


def _flag(**fields: Any) -> dict[str, Any]:
    return _stored({"f": fields})


def _attr(constraints: Any) -> dict[str, Any]:
    return _stored({"f": {"attributes": {"a": {"constraints": constraints}}}})


def _value(value: Any) -> dict[str, Any]:
    """A basic flag whose attribute ``a`` (no constraints) holds ``value``."""
    return _stored({"f": {"attributes": {"a": {}}}}, {"f": {"enabled": True, "a": value}})


def _variants(*variants: dict[str, Any], attrs: int = 1) -> dict[str, Any]:
    names = {f"a{i}": {} for i in range(attrs)}
    return _stored({"f": {"attributes": names}}, {"f": {"_variants": list(variants)}})


DEFAULT = {"name": "Default", "enabled": False}


def _rule(length: int) -> str:
    """A valid rule of exactly ``length`` characters."""
    head = '(eq $a "'
    return head + "x" * (length - len(head) - 2) + '")'


def _many(n: int, make: Any) -> dict[str, Any]:
    return {f"k{i}": make(i) for i in range(n)}


AWS_RULES: dict[str, tuple[bool, list[tuple[Any, bool]]]] = {
    # flagSetDefinition
    "version-required": (True, [({"version": "1"}, True), ({"flags": {}, "values": {}}, False)]),
    "version-enum": (True, [({"version": "2"}, False), ({"version": 1}, False)]),
    "top-level-closed": (True, [({"version": "1", "extra": {}}, False)]),
    # flagDefinitions / flagValues / attributeDefinitions / attributeValues: one key pattern
    "key-pattern": (
        True,
        [
            (_stored({"a" * 64: {}}), True),
            (_stored({"aB9_-": {}}), True),
            (_stored({"a" * 65: {}}), False),
            (_stored({"Flag": {}}), False),
            (_stored({"9flag": {}}), False),
            (_stored({"a\u0663": {}}), False),  # \d is ASCII in ECMA-262, AWS's regex dialect
            (_stored({"f": {"attributes": {"Bad": {}}}}), False),
            (_stored({"f": {}}, {"F": {"enabled": True}}), False),
        ],
    ),
    "flag-count-unlimited": (True, [(_stored(_many(101, lambda i: {})), True)]),
    # flagDefinition
    "flag-definition-closed": (True, [(_flag(enabled=True), False)]),
    "name-length": (
        True,
        [(_flag(name="x" * 64), True), (_flag(name=""), False), (_flag(name="x" * 65), False)],
    ),
    "name-no-newline": (
        True,
        [
            (_flag(name="a\rb\tc"), True),
            (_flag(name="a\nb"), False),
            (_flag(name="Beta\n"), False),
        ],
    ),
    "description-length": (
        True,
        [
            (_flag(description=""), True),
            (_flag(description="é" * 1024), True),
            (_flag(description="x" * 1025), False),
        ],
    ),
    "created-updated-strings": (
        True,
        [
            (_flag(_createdAt="2024-05-01T10:00:00Z", _updatedAt="any text"), True),
            (_stored({"f": {}}, {"f": {"_createdAt": "x", "_updatedAt": "y"}}), True),
            (_flag(_createdAt=1714557600), False),
        ],
    ),
    "deprecation-fields-optional": (
        True,
        [
            (_flag(_deprecation={}), True),
            (_flag(_deprecation={"date": "2026-01-01"}), True),
            (_flag(_deprecation={"status": "planned", "date": "2026-01-01"}), True),
        ],
    ),
    "deprecation-status-enum": (True, [(_flag(_deprecation={"status": "done"}), False)]),
    "deprecation-date-format-not-asserted": (True, [(_flag(_deprecation={"date": "soon"}), True)]),
    "deprecation-closed": (True, [(_flag(_deprecation={"reason": "x"}), False)]),
    # attributeDefinitions / attributeDefinition
    "attributes-max-25": (
        True,
        [
            (_flag(attributes=_many(25, lambda i: {})), True),
            (_flag(attributes=_many(26, lambda i: {})), False),
        ],
    ),
    "attribute-definition-closed": (
        True,
        [
            (_flag(attributes={"a": {"description": "d" * 1024}}), True),
            (_flag(attributes={"a": {"type": "string"}}), False),
            (_flag(attributes={"a": {"description": "d" * 1025}}), False),
        ],
    ),
    # constraints: oneOf number / string / array / boolean
    "constraints-one-of-four-types": (
        True,
        [(_attr({"type": "date"}), False), (_attr({}), False), (_attr({"type": "object"}), False)],
    ),
    "number-bounds-integers": (
        True,
        [
            (_attr({"type": "number", "minimum": -3, "maximum": 10**20}), True),
            (_attr({"type": "number", "minimum": 1.0, "maximum": 2.0}), True),
            (_attr({"type": "number", "minimum": 1.5}), False),
            (_attr({"type": "number", "maximum": "5"}), False),
            (_attr({"type": "number", "minimum": True}), False),
        ],
    ),
    "number-constraints-closed": (True, [(_attr({"type": "number", "pattern": "x"}), False)]),
    "string-pattern-length": (
        True,
        [
            (_attr({"type": "string", "pattern": "a" * 1024}), True),
            (_attr({"type": "string", "pattern": "a" * 1025}), False),
        ],
    ),
    "string-pattern-or-enum": (
        True,
        [(_attr({"type": "string", "pattern": "^a$", "enum": ["a"]}), False)],
    ),
    "string-enum-items": (
        True,
        [
            (_attr({"type": "string", "enum": ["a", 1, 2.0, "x" * 1024]}), True),
            (_attr({"type": "string", "enum": [1.5]}), False),
            (_attr({"type": "string", "enum": [True]}), False),
            (_attr({"type": "string", "enum": ["x" * 1025]}), False),
            (_attr({"type": "string", "enum": "a"}), False),
        ],
    ),
    "string-enum-count-not-enforced": (
        True,
        [(_attr({"type": "string", "enum": [f"v{i}" for i in range(101)]}), True)],
    ),
    "array-elements-number-or-string": (
        True,
        [
            (_attr({"type": "array", "elements": {"type": "number", "minimum": 0}}), True),
            (_attr({"type": "array", "elements": {"type": "boolean"}}), False),
            (_attr({"type": "array", "elements": {"type": "array"}}), False),
        ],
    ),
    "array-elements-take-required": (
        True,
        [
            (_attr({"type": "array", "elements": {"type": "string", "required": True}}), True),
            (_attr({"type": "array", "elements": {"type": "number", "required": False}}), True),
        ],
    ),
    "boolean-constraints": (
        True,
        [
            (_attr({"type": "boolean", "required": True}), True),
            (_attr({"type": "boolean", "enum": [True]}), False),
        ],
    ),
    "required-is-boolean": (True, [(_attr({"type": "string", "required": "yes"}), False)]),
    # flagValue
    "value-closed": (
        True,
        [
            (_stored({"f": {}}, {"f": {}}), True),  # enabled is optional
            (_stored({"f": {}}, {"f": {"_variant": "x"}}), False),
            (_stored({"f": {}}, {"f": {"enabled": "true"}}), False),
        ],
    ),
    "variants-array": (
        True,
        [
            (_stored({"f": {}}, {"f": {"_variants": {}}}), False),
            (_stored({"f": {}}, {"f": {"_variants": []}}), True),  # see documents.md
        ],
    ),
    "variant-count-not-enforced": (
        True,
        [
            (
                _variants(
                    *[{"name": f"v{i}", "enabled": True, "rule": "(eq $a 1)"} for i in range(32)],
                    DEFAULT,
                ),
                True,
            )
        ],
    ),
    # attributeValue: string <= 1024 | number | boolean | array of all strings or all numbers
    "attribute-value-types": (
        True,
        [
            (_value("x" * 1024), True),
            (_value(-1.5e300), True),
            (_value(False), True),
            (_value(["x" * 1024, ""]), True),
            (_value([1, 2.5]), True),
            (_value("x" * 1025), False),
            (_value({"k": 1}), False),
            (_value(None), False),
        ],
    ),
    "attribute-value-array-not-empty": (True, [(_value([]), False)]),
    "attribute-value-array-one-type": (
        True,
        [
            (_value([1, "a"]), False),
            (_value([True]), False),
            (_value([["a"]]), False),
            (_value(["x" * 1025]), False),
        ],
    ),
    # variant
    "variant-name-and-enabled-required": (
        True,
        [
            (_variants({"name": "d"}), False),
            (_variants({"enabled": False}), False),
        ],
    ),
    "variant-name-pattern": (
        True,
        [
            (_variants({"name": "x" * 64, "enabled": False}), True),
            (_variants({"name": "a\nb", "enabled": False}), False),
            (_variants({"name": "x" * 65, "enabled": False}), False),
            (_variants({"name": "", "enabled": False}), False),
        ],
    ),
    "variant-rule-length": (
        True,
        [
            (_variants({"name": "r", "enabled": True, "rule": _rule(16384)}, DEFAULT), True),
            (_variants({"name": "r", "enabled": True, "rule": _rule(16385)}, DEFAULT), False),
        ],
    ),
    "variant-rule-may-be-empty": (True, [(_variants({**DEFAULT, "rule": ""}), True)]),
    "variant-closed": (True, [(_variants({**DEFAULT, "_createdAt": "x"}), False)]),
    "variant-attribute-values-max-25": (
        True,
        [
            (
                _variants(
                    {**DEFAULT, "attributeValues": {f"a{i}": 1 for i in range(26)}}, attrs=25
                ),
                False,
            ),
            (
                _variants(
                    {**DEFAULT, "attributeValues": {f"a{i}": 1 for i in range(25)}}, attrs=25
                ),
                True,
            ),
            (_variants({**DEFAULT, "attributeValues": {"Bad": 1}}), False),
        ],
    ),
    # beyond the schema: the service's own checks
    "constraints-are-checked": (
        False,
        [
            (
                _stored(
                    {"f": {"attributes": {"a": {"constraints": {"type": "number", "maximum": 5}}}}},
                    {"f": {"enabled": True, "a": 6}},
                ),
                False,
            ),
            (
                _stored(
                    {"f": {"attributes": {"a": {"constraints": {"type": "number", "maximum": 5}}}}},
                    {"f": {"enabled": True, "a": 5}},
                ),
                True,
            ),
        ],
    ),
    "default-variant-last-without-rule": (
        False,
        [
            (_variants({"name": "a", "enabled": True, "rule": "(eq $a 1)"}), False),
            (_variants(DEFAULT, {"name": "a", "enabled": True, "rule": "(eq $a 1)"}), False),
        ],
    ),
}

# The data view's own schema (same page): keys, "enabled" required, attribute values.
AWS_DATA_VIEW_RULES: dict[str, list[tuple[Any, bool]]] = {
    "data-view-key-pattern": [
        ({"Flag": {"enabled": True}}, False),
        ({"f-1": {"enabled": True}}, True),
    ],
    "data-view-enabled-required": [({"f": {}}, False), ({"f": {"enabled": "true"}}, False)],
    "data-view-attribute-values": [
        ({"f": {"enabled": True, "a": ["x"], "b": 2, "c": "s", "d": False}}, True),
        ({"f": {"enabled": True, "a": []}}, False),
        ({"f": {"enabled": True, "a": [1, "x"]}}, False),
        ({"f": {"enabled": True, "A": 1}}, False),
    ],
    "data-view-25-attributes-plus-enabled": [
        ({"f": {"enabled": True, **_many(25, lambda i: i)}}, True),
        ({"f": {"enabled": True, **_many(26, lambda i: i)}}, False),
    ],
}


def _accepted(document: Any) -> bool:
    try:
        load_document(json.loads(json.dumps(document)))
    except DocumentError:
        return False
    return True


@pytest.mark.parametrize("rule", list(AWS_RULES))
def test_aws_schema_rule(rule: str) -> None:
    """flagkit validate accepts and refuses what AWS's feature-flag schema does, rule by rule."""
    _, cases = AWS_RULES[rule]
    for document, aws in cases:
        assert _accepted(document) is aws, (rule, document)


@pytest.mark.parametrize("rule", list(AWS_DATA_VIEW_RULES))
def test_aws_data_view_rule(rule: str) -> None:
    """The data view is held to AWS's data-view schema (25 attributes beside enabled)."""
    for document, aws in AWS_DATA_VIEW_RULES[rule]:
        assert _accepted(document) is aws, (rule, document)


def test_docs_parity_table_lists_every_rule_tested() -> None:
    """docs/documents.md's per-rule table and the tests above name the same rules."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "documents.md").read_text("utf-8")
    listed = set(re.findall(r"^\| `([a-z0-9]+(?:-[a-z0-9]+)+)`(?: †)? \|", text, re.MULTILINE))
    assert listed == set(AWS_RULES) | set(AWS_DATA_VIEW_RULES)
