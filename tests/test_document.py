"""Documents: both AppConfig JSON forms load; every broken rule is refused precisely."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import DocumentError, RuleError
from flagkit._document.appconfig import load_document
from flagkit._snapshot import snapshot_from_bytes

# The multi-variant example of AppConfig's user guide (appconfig.md §2.3), complete.
UI_REFRESH: dict[str, Any] = {
    "version": "1",
    "flags": {
        "ui_refresh": {
            "name": "UI Refresh",
            "attributes": {"dark_mode_support": {"constraints": {"type": "boolean"}}},
        }
    },
    "values": {
        "ui_refresh": {
            "_variants": [
                {
                    "name": "QA",
                    "enabled": True,
                    "rule": '(ends_with $email "qa-testers.mycompany.com")',
                    "attributeValues": {"dark_mode_support": True},
                },
                {
                    "name": "Beta Testers",
                    "enabled": True,
                    "rule": '(exists key::"opted_in_to_beta")',
                    "attributeValues": {"dark_mode_support": True},
                },
                {
                    "name": "Sample Population",
                    "enabled": True,
                    "rule": "(split pct::10 by::$email)",
                    "attributeValues": {"dark_mode_support": False},
                },
                {
                    "name": "Default Variant",
                    "enabled": False,
                    "attributeValues": {"dark_mode_support": False},
                },
            ]
        }
    },
}

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
        ([], "values._variants", "at least 1"),
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
