"""Hostile documents: whoever controls a flags document cannot hang or crash the application.

Each test here is a document (or a context) built to hurt: a regex that backtracks for ever
under Python's ``re``, rules nested past the limit, bodies past the size cap, and JSON that a
lenient parser would accept. Each must be refused at load with a precise DocumentError, or
evaluate promptly through the public API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytest

from flagkit import DocumentError, Flags, Reason, RuleError, StaticSource
from flagkit._rules.parse import MAX_DEPTH
from flagkit._snapshot import snapshot_from_bytes

# Under Python's `re`, `(a+)+$` tries every way of splitting the run of a's before failing at
# the "!": 2**40 paths here, i.e. the evaluating thread never comes back. RE2 answers at once.
CATASTROPHIC = "(a+)+$"
EVIL_TEXT = "a" * 40 + "!"


def matches_flag(pattern: str) -> dict[str, Any]:
    """A stored document with one multi-variant flag whose first variant is a matches rule."""
    rule = f"(matches in::$name pattern::{json.dumps(pattern)})"
    return {
        "version": "1",
        "flags": {"f": {"name": "F"}},
        "values": {
            "f": {
                "_variants": [
                    {"name": "hit", "enabled": True, "rule": rule},
                    {"name": "miss", "enabled": False},
                ]
            }
        },
    }


def constrained(constraints: dict[str, Any], value: Any) -> dict[str, Any]:
    """A stored document whose one attribute has ``constraints`` and the value ``value``."""
    return {
        "version": "1",
        "flags": {"f": {"name": "F", "attributes": {"code": {"constraints": constraints}}}},
        "values": {"f": {"enabled": True, "code": value}},
    }


def refused(document: Any, **kwargs: Any) -> DocumentError:
    body = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(DocumentError) as info:
        snapshot_from_bytes(body, **kwargs)
    return info.value


# --- catastrophic backtracking -----------------------------------------------------------------


@pytest.mark.timeout(10)
def test_catastrophic_matches_pattern_evaluates_promptly_through_the_public_api() -> None:
    """`(a+)+$` on "a"*40+"!" would hang a thread under `re`; under RE2 it is just false."""
    flags = Flags(StaticSource(matches_flag(CATASTROPHIC)), start=False)
    assert flags.refresh()
    context = {"name": EVIL_TEXT}
    assert flags.enabled("f", None, context) is False
    assert flags.variant("f", None, context) == "miss"
    details = flags.details("f", None, context)
    assert (details.value, details.variant, details.reason) == (False, "miss", Reason.DEFAULT)
    assert details.error_code is None
    # the rule really is evaluated, not skipped: the same pattern still matches what it should
    assert flags.variant("f", None, {"name": "a" * 40}) == "hit"
    assert flags.enabled("f", "u", {"name": "x" + "a" * 10_000}) is True
    flags.close()


@pytest.mark.timeout(10)
def test_catastrophic_matches_pattern_on_a_long_text_stays_linear() -> None:
    """A long hostile text (100k characters) against nested quantifiers: still prompt."""
    flags = Flags(StaticSource(matches_flag("(x+x+)+y")), start=False)
    assert flags.refresh()
    assert flags.enabled("f", None, {"name": "x" * 100_000}) is False
    assert flags.enabled("f", None, {"name": "x" * 100_000 + "y"}) is True
    flags.close()


@pytest.mark.timeout(10)
def test_catastrophic_constraint_pattern_is_checked_promptly_at_load() -> None:
    """A constraint pattern is checked on the poller thread at load: it must not hang it."""
    err = refused(constrained({"type": "string", "pattern": CATASTROPHIC}, EVIL_TEXT))
    assert err.flag == "f"
    assert err.field == "values.code"
    assert err.message == "attribute value breaks its constraints"
    assert err.expected == f"a string matching {CATASTROPHIC!r}"
    # and the same constraint accepts a value that matches
    ok = constrained({"type": "string", "pattern": CATASTROPHIC}, "a" * 40)
    assert len(snapshot_from_bytes(json.dumps(ok)).flags) == 1


@pytest.mark.timeout(10)
def test_catastrophic_array_element_pattern_is_checked_promptly_at_load() -> None:
    """Array elements carry their own pattern; it is checked by the same engine."""
    constraints = {"type": "array", "elements": {"type": "string", "pattern": CATASTROPHIC}}
    err = refused(constrained(constraints, ["aaa", EVIL_TEXT]))
    assert (err.flag, err.field) == ("f", "values.code")
    assert err.expected == f"element [1]: a string matching {CATASTROPHIC!r}"


# --- patterns RE2 cannot compile are refused at load, naming flag, field and why ---------------


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a)\\1", "backreferences are not supported"),
        ("(?P<x>a)(?P=x)", "no backreferences"),
        ("a(?=b)", "lookahead and lookbehind are not supported"),
        ("(?<!a)b", "lookahead and lookbehind are not supported"),
        ("(?>a+)b", "atomic groups are not supported"),
        ("a++", "possessive quantifiers are not supported"),
        ("end\\Z", "write \\z for the end of the text"),
        ("a{1001}", "at most {1000}"),
        ("(", "missing )"),
    ],
)
def test_matches_pattern_re2_cannot_compile_is_refused_at_load(pattern: str, why: str) -> None:
    """A RuleError with the flag, the rule's field, the pattern's position and RE2's reason."""
    document = matches_flag(pattern)
    with pytest.raises(RuleError) as info:
        StaticSource(document)
    err = info.value
    rule = document["values"]["f"]["_variants"][0]["rule"]
    assert err.flag == "f"
    assert err.field == "values._variants[0].rule"
    assert err.position == rule.index("pattern::") + len("pattern::")
    assert "pattern:: is not a valid regular expression" in err.message
    assert why in err.message


def test_oversized_compiled_pattern_is_refused_at_load() -> None:
    """A short pattern that compiles to a huge program is refused (the program size limit)."""
    err = refused(matches_flag("(?i)[\\pL\\pN]{1000}"))
    assert isinstance(err, RuleError)
    assert "pattern:: is too large" in err.message
    assert "over the limit of 10,000 instructions" in err.message


@pytest.mark.parametrize(
    ("constraints", "field", "why"),
    [
        (
            {"type": "string", "pattern": "(a)\\1"},
            "flags.attributes.code.constraints.pattern",
            "backreferences are not supported",
        ),
        (
            {"type": "array", "elements": {"type": "string", "pattern": "(?=x)"}},
            "flags.attributes.code.constraints.elements.pattern",
            "lookahead and lookbehind are not supported",
        ),
        (
            {"type": "array", "elements": {"type": "string", "pattern": "("}},
            "flags.attributes.code.constraints.elements.pattern",
            "missing )",
        ),
    ],
)
def test_constraint_pattern_re2_cannot_compile_is_refused_at_load(
    constraints: dict[str, Any], field: str, why: str
) -> None:
    """Constraint patterns (including array elements') must compile, or the load says why.

    Before RE2, an element pattern was never compiled at load, and a broken one escaped as
    ``re.error`` from the value check.
    """
    err = refused(constrained(constraints, ["x"] if constraints["type"] == "array" else "x"))
    assert err.flag == "f"
    assert err.field == field
    assert "pattern is not a valid regular expression" in (err.expected or "")
    assert why in (err.expected or "")


def test_constraint_pattern_with_a_lone_surrogate_is_refused_at_load() -> None:
    """JSON can spell a lone surrogate ("\\ud800"); such a pattern is not text."""
    body = json.dumps(constrained({"type": "string", "pattern": "\ud800"}, "x"))
    assert "\\ud800" in body
    err = refused(body)
    assert (err.flag, err.field) == ("f", "flags.attributes.code.constraints.pattern")


def test_re2_dialect_differences_hold() -> None:
    """The differences docs/rules.md lists: ASCII classes, `$` at the very end only, `\\z`."""
    cases = [
        ("^\\d+$", "٣", False),  # Python's re: True (Unicode digit)
        ("^\\pN+$", "٣", True),
        ("^\\w$", "é", False),
        ("^\\pL$", "é", True),
        ("^a$", "a\n", False),  # Python's re: True ($ before a final newline)
        ("a\\z", "a", True),
        ("^[[:alpha:]]+$", "abc", True),  # Python's re: a character set, no match
        ("(?i)ÉTÉ", "été", True),
        ("h.*y", "oh, hey there", True),  # search, not match
    ]
    for pattern, text, expected in cases:
        flags = Flags(StaticSource(matches_flag(pattern)), start=False)
        assert flags.refresh()
        assert flags.enabled("f", None, {"name": text}) is expected, (pattern, text)
        flags.close()


def test_matches_reads_text_like_the_other_string_operators() -> None:
    """Same coercion as before RE2: str, or an int in the 64-bit range as its digits."""
    flags = Flags(StaticSource(matches_flag("^[0-9]{3}$")), start=False)
    assert flags.refresh()
    assert flags.enabled("f", None, {"name": 123}) is True
    assert flags.enabled("f", None, {"name": "123"}) is True
    assert flags.enabled("f", None, {"name": 12.0}) is False
    assert flags.enabled("f", None, {"name": True}) is False
    assert flags.enabled("f", None, {"name": b"123"}) is False
    assert flags.enabled("f", None, {"name": 10**30}) is False  # beyond 64 bits: not text
    lone = Flags(StaticSource(matches_flag("^a.b$")), start=False)
    assert lone.refresh()
    assert lone.enabled("f", None, {"name": "a\ud800b"}) is True  # one character, no raise
    flags.close()
    lone.close()


def test_re2_is_imported_on_the_first_pattern_not_by_import_flagkit() -> None:
    """`import flagkit` (and loading a document without patterns) does not import re2."""
    import subprocess

    code = (
        "import sys, flagkit\n"
        "flagkit.validate({'f': {'enabled': True}})\n"
        "print('re2' in sys.modules)\n"
        "flagkit.validate({'version': '1', 'flags': {'f': {'attributes': {'a': {'constraints':"
        " {'type': 'string', 'pattern': 'x'}}}}}})\n"
        "print('re2' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split() == ["False", "True"]


# --- nesting, size, and strict JSON ------------------------------------------------------------


def test_rule_nested_past_the_depth_limit_is_refused_at_load_naming_flag_and_field() -> None:
    """MAX_DEPTH + 1 levels: a RuleError at the offending '(' with the flag and the field."""
    depth = MAX_DEPTH + 1
    rule = "(not " * (depth - 1) + "(eq $x 1)" + ")" * (depth - 1)
    document = matches_flag("x")
    document["values"]["f"]["_variants"][0]["rule"] = rule
    err = refused(document)
    assert isinstance(err, RuleError)
    assert (err.flag, err.field) == ("f", "values._variants[0].rule")
    assert f"nested deeper than {MAX_DEPTH} levels" in err.message
    assert err.position == len("(not ") * MAX_DEPTH
    # one level less loads
    document["values"]["f"]["_variants"][0]["rule"] = rule[len("(not ") : -1]
    assert len(snapshot_from_bytes(json.dumps(document)).flags) == 1


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "rule", ["(" * 100_000, "(not " * 3000, "(and " * 3000 + ")" * 3000, "[" * 16_000]
)
def test_absurdly_deep_rules_are_refused_without_recursing(rule: str) -> None:
    """Far past the limit (and past Python's recursion limit): a RuleError, never RecursionError."""
    document = matches_flag("x")
    document["values"]["f"]["_variants"][0]["rule"] = rule[:16384]
    err = refused(document)
    assert isinstance(err, RuleError)
    assert err.flag == "f"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"a":' * 200_000, b"[{" * 100_000])
def test_absurdly_deep_json_is_a_document_error(body: bytes) -> None:
    """JSON nested past the interpreter's recursion limit is refused as malformed JSON."""
    err = refused(body, max_bytes=len(body))
    assert "malformed JSON" in err.message


@contextmanager
def calls_into(*modules: str) -> Iterator[list[str]]:
    """Record the Python functions called from ``modules`` while the block runs."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_globals.get("__name__", "").startswith(modules):
            seen.append(f"{frame.f_globals['__name__']}.{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff" + b"[" * 5000, "application/json"),  # not UTF-8 and malformed: neither is said
        (b'{"f": {"enabled": true}}' + b" " * 5000, "application/json"),
        ("'f'::'''{\"enabled\": true}''' " + " " * 5000, "application/ion"),
    ],
)
def test_oversize_body_is_refused_before_any_parser_runs(
    body: bytes | str, content_type: str
) -> None:
    """The size cap is checked on the raw body: json, pydantic and amazon-ion are not called."""
    with (
        calls_into("json", "pydantic", "amazon", "flagkit._rules.compile") as seen,
        pytest.raises(DocumentError) as info,
    ):
        snapshot_from_bytes(body, content_type=content_type, max_bytes=1000)
    assert info.value.message == "document too large"
    assert info.value.expected == "at most 1000 bytes"
    assert seen == []
    # the profiler does see the parsers when the body is within the cap (the test can fail)
    with calls_into("json", "pydantic") as seen, pytest.raises(DocumentError):
        snapshot_from_bytes(b'{"f": {"enabled": 1}}', max_bytes=1000)
    assert any(name.startswith("json.") for name in seen)


def test_oversize_source_document_is_refused_by_the_client() -> None:
    """Through the public API: a StaticSource over the default 1 MiB cap is refused."""
    big = {"f": {"enabled": True, "s": "x"}, **{f"k{i}": {"enabled": True} for i in range(40_000)}}
    with pytest.raises(DocumentError, match="too large"):
        StaticSource(big)


@pytest.mark.parametrize(
    ("body", "message", "flag", "field"),
    [
        (b'{"f": {"enabled": true}, "f": {"enabled": false}}', "duplicate JSON key", "f", None),
        (b'{"f": {"enabled": true, "enabled": false}}', "duplicate JSON key", "f", "enabled"),
        (
            b'{"version": "1", "flags": {"g": {}, "f": {"name": "a", "name": "b"}}}',
            "duplicate JSON key",
            "f",
            "flags.name",
        ),
        (b'{"version": "1", "version": "1"}', "duplicate JSON key", None, "version"),
        (b'{"version": {"enabled": true, "n": NaN}}', "non-standard JSON number", "version", "n"),
        (b'{"f": {"enabled": true, "n": NaN}}', "non-standard JSON number", "f", "n"),
        (b'{"f": {"enabled": true, "n": [1, -Infinity]}}', "non-standard JSON number", "f", "n[1]"),
        (b'{"f": {"enabled": true, "n": 1e999}}', "JSON number out of range", "f", "n"),
        (
            b'{"version": "1", "flags": {"f": {}}, "values": {"f": {"enabled": true, "x": -1E400}}}',
            "JSON number out of range",
            "f",
            "values.x",
        ),
    ],
)
def test_strict_json_errors_name_flag_and_field(
    body: bytes, message: str, flag: str | None, field: str | None
) -> None:
    """Duplicate keys, NaN/Infinity and overflow to infinity: refused, saying where and why.

    Before, ``1e999`` loaded as ``inf`` (json never calls parse_constant for it), and these
    errors named neither the flag nor the field.
    """
    err = refused(body)
    assert err.message == message, err
    assert (err.flag, err.field) == (flag, field), err
    assert err.expected in {"each key once", "a finite number"}
    assert err.found is not None


@pytest.mark.parametrize(
    "body", [b'{"f": {"enabled": true, "s": "\xc3\x28"}}', b'{"f": {"s": "\xed\xa0\x80"}}']
)
def test_non_utf8_bytes_are_refused(body: bytes) -> None:
    """Invalid UTF-8 (including an encoded surrogate) is refused before JSON parsing."""
    err = refused(body)
    assert (err.message, err.expected) == ("document is not UTF-8", "UTF-8 text")


def test_non_utf8_error_names_the_byte() -> None:
    """The offset of the first byte that is not UTF-8 is reported."""
    body = b'{"f": {"enabled": true, "s": "ok\xff"}}'
    err = refused(body)
    assert err.found == "byte " + str(body.index(b"\xff"))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"beta\n": {"enabled": True}}), "application/json"),
        (json.dumps({"version": "1", "flags": {"beta\n": {}}}), "application/json"),
        ("'beta\\n'::'''{\"enabled\": true}'''", "application/ion"),
    ],
)
def test_flag_key_with_a_trailing_newline_is_refused_in_every_form(
    body: str, content_type: str
) -> None:
    """The key pattern ends in `$`, which Python's re lets match before a final newline: the
    data view and the Ion form accepted "beta\\n" as a key (the stored form, checked by
    pydantic, did not). Keys are matched whole now."""
    err = refused(body, content_type=content_type)
    assert err.flag == "beta\n"
    assert "key" in err.message or "(key)" in (err.field or ""), err


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"beta\u0663": {"enabled": True}}), "application/json"),
        (json.dumps({"version": "1", "flags": {"beta\u0663": {}}}), "application/json"),
        (
            json.dumps(
                {
                    "version": "1",
                    "flags": {"beta": {"attributes": {"n\u0663": {}}}},
                    "values": {"beta": {"enabled": True, "n\u0663": 1}},
                }
            ),
            "application/json",
        ),
        ("'beta\u0663'::'''{\"enabled\": true}'''", "application/ion"),
    ],
)
def test_keys_with_non_ascii_digits_are_refused_in_every_form(body: str, content_type: str) -> None:
    """AppConfig's key pattern is ECMA-262, where \\d is [0-9]: "beta\u0663" (an Arabic-Indic
    three) is not a key, though Python's and pydantic's \\d would match it."""
    err = refused(body, content_type=content_type)
    assert "\u0663" in f"{err.flag} {err.field} {err.found}", err
    assert "pattern" in f"{err.expected}" or "key" in err.message, err


@pytest.mark.parametrize(
    ("document", "flag", "field", "expected"),
    [
        ({"f": {"enabled": "true"}}, "f", "enabled", "input should be a valid boolean"),
        ({"f": {"enabled": True, "n": {"x": 1}}}, "f", "n", None),
        ({"f": {"enabled": True, "s": "x" * 1025}}, "f", "s", None),
        (
            {"version": "1", "flags": {"f": {"name": 7}}},
            "f",
            "flags.name",
            "input should be a valid string",
        ),
        (
            {"version": "1", "flags": {"f": {}}, "values": {"f": {"enabled": 1}}},
            "f",
            "values.enabled",
            "input should be a valid boolean",
        ),
        (
            {
                "version": "1",
                "flags": {"f": {}},
                "values": {"f": {"_variants": [{"name": "a", "enabled": True, "rule": 5}]}},
            },
            "f",
            "values._variants[0].rule",
            "input should be a valid string",
        ),
        (
            constrained({"type": "number", "minimum": "0"}, 1),
            "f",
            "flags.attributes.code.constraints.minimum",
            "input should be a valid integer",
        ),
        (constrained({"type": "number"}, "7"), "f", "values.code", "a number"),
        (constrained({"type": "string"}, 7), "f", "values.code", "a string"),
    ],
)
def test_wrong_types_name_flag_field_and_expectation(
    document: dict[str, Any], flag: str, field: str, expected: str | None
) -> None:
    """A value of the wrong type: the flag, the dotted field and what was expected."""
    err = refused(document)
    assert err.flag == flag, err
    assert err.field == field, err
    assert err.expected is not None
    if expected is not None:
        assert err.expected.startswith(expected), err


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"version": "1", "flags": {"f": {"name": None}}}, "flags.name"),
        ({"version": "1", "flags": {"f": {"_deprecation": None}}}, "flags._deprecation"),
        (
            {"version": "1", "flags": {"f": {}}, "values": {"f": {"enabled": None}}},
            "values.enabled",
        ),
        (
            {
                "version": "1",
                "flags": {"f": {}},
                "values": {"f": {"_variants": [{"name": "x", "enabled": True, "rule": None}]}},
            },
            "values._variants[0].rule",
        ),
    ],
)
def test_null_is_refused_where_appconfig_allows_none(document: dict[str, Any], field: str) -> None:
    """AppConfig's schema has no null anywhere; an optional field is left out, never nulled."""
    err = refused(json.dumps(document))
    assert (err.flag, err.field, err.found) == ("f", field, "null")
    assert "leave an optional field out" in (err.expected or "")
