"""Hostile documents: whoever controls a flags document cannot hang or crash the application.

Each test here is a document (or a context) built to hurt: a regex that backtracks for ever
under Python's ``re``, rules nested past the limit, bodies past the size cap, and JSON that a
lenient parser would accept. Each must be refused at load with a precise DocumentError, or
evaluate promptly through the public API.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from flagkit import DocumentError, Flags, Reason, RuleError, StaticSource
from flagkit import validate as flagkit_validate
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
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 200_000, "nesting too deep at line 1 column 501"),
        (b'{"a":' * 200_000, "nesting too deep at line 1 column 2501"),
        (b"[{" * 100_000, "malformed JSON line 1 column 3"),  # '{' wants a key, not '['
    ],
)
def test_absurdly_deep_json_is_a_document_error(body: bytes, message: str) -> None:
    """JSON nested past the interpreter's recursion limit is refused, with the position."""
    err = refused(body, max_bytes=len(body))
    assert err.message == message


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


# --- what one document may make a load or an evaluation cost (flagkit.Limits) ------------------
#
# The documents are the ones benchmarks/document_limits.py times; here only the computed cost,
# the refusal and memory under a resource limit are asserted, never wall time.

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `src`, not inside the package
    sys.path.insert(0, str(ROOT))

from benchmarks import document_limits as hostile  # noqa: E402


def _cost_refusal(body: bytes) -> DocumentError:
    err = refused(body)
    assert err.message == "the flag's evaluation cost is over its budget"
    assert err.expected == "at most 20,000 steps per evaluation (Limits.max_flag_cost)"
    return err


def test_matches_amplification_is_refused_at_load_by_the_pattern_size_limit() -> None:
    """Issue 19.2: 31 variants of 24 `[\\pL\\pN]{400}!` searches (seconds per evaluation)."""
    err = refused(hostile.matches_amplification())
    assert isinstance(err, RuleError)
    assert (err.flag, err.field) == ("f", "values._variants[0].rule")
    assert err.message == (
        "pattern:: is too large: its RE2 program is over the limit of 10,000 instructions "
        f"at position {err.rule.index('pattern::') + len('pattern::')}"
    )


def test_eq_chains_are_refused_at_the_variant_that_passes_the_flag_budget() -> None:
    """Issue 19.2: 31 variants of 16 KiB `eq` chains; each chain costs 1,092 steps."""
    err = _cost_refusal(hostile.eq_chains())
    # 32 variant steps + 18 chains of 1,092 = 19,688; the 19th chain passes 20,000
    assert (err.flag, err.field) == ("f", "values._variants[18].rule")
    assert err.found is not None and err.found.startswith("20,001 steps by position ")


def test_contains_chains_are_refused_within_the_first_variant() -> None:
    """Issue 19.2: a `contains` walks a context list, counted as 100 elements (101 steps)."""
    err = _cost_refusal(hostile.contains_chains())
    assert (err.flag, err.field) == ("f", "values._variants[0].rule")


def test_each_operator_scan_and_pattern_position_is_counted() -> None:
    """The cost model (docs/security.md): 1 per operator, +100 per list walk, +32 per position."""
    snapshot = snapshot_from_bytes(
        hostile.multi_flag(
            [
                '(eq $a "x")',  # 1
                '(and (eq $a 1) (contains $t "x"))',  # 1 + 1 + 101
                '(in "x" $t)',  # 101
                "(in $a [1, 2, 3])",  # 1: a set lookup
                '(matches in::$ua pattern::"abc")',  # 1 + 32 x 7 positions (RE2's program)
                '(matches in::$ua pattern::"[\\\\pL\\\\pN]")',  # 1 + 32 x 14: not 1,346 UTF-8
            ]
        )
    )
    flag = snapshot.flags["f"]
    assert [r.cost for r in flag.rules if r is not None] == [1, 103, 101, 1, 225, 449]
    assert flag.cost == 7 + 1 + 103 + 101 + 1 + 225 + 449  # a step per variant tried
    basic = snapshot_from_bytes(json.dumps({"f": {"enabled": True}}))
    assert basic.flags["f"].cost == 1


def test_a_document_at_the_flag_budget_is_accepted_and_evaluates() -> None:
    """Just under the budget loads; the costliest flag still answers (and never raises)."""
    snapshot = snapshot_from_bytes(hostile.matches_at_cost_limit())
    flag = snapshot.flags["f"]
    assert flag.cost == 19_363 <= 20_000
    assert flag.select("u1", {"ua": "a" * 600 + "!"}).name == "v0"
    assert flag.select("u1", {"ua": "a" * 599 + "!"}).name == "default"


def test_the_budget_is_configurable_and_a_refusal_keeps_the_last_good_document() -> None:
    """Polling(limits=...) raises the budget; under the default, the old snapshot serves."""
    from flagkit import Fetched, Limits, Polling

    good = json.dumps({"f": {"enabled": True}}).encode()
    costly = hostile.contains_chains()

    class Documents:  # a source that serves its documents one per fetch
        def __init__(self, *bodies: bytes) -> None:
            self.bodies = list(bodies)

        def fetch(self) -> Fetched:
            body = self.bodies.pop(0)
            return Fetched(body, version=str(len(self.bodies)), poll_after=30.0)

    with Flags(Documents(good, costly), start=False) as flags:
        assert flags.refresh()
        assert not flags.refresh()
        status = flags.status()
        assert status.rejected == 1 and status.version == "1"
        assert status.last_error is not None and "Limits.max_flag_cost" in status.last_error
        assert flags.enabled("f") is True
    generous = Polling(limits=Limits(max_flag_cost=10_000_000))
    with Flags(Documents(good, costly), polling=generous, start=False) as flags:
        assert flags.refresh() and flags.refresh()
        assert flags.status().rejected == 0
        assert flags.variant("f", None, {"tags": ["t0"]}) == "v0"


def test_limits_are_positive_ints_with_a_readable_repr() -> None:
    from flagkit import Limits

    assert repr(Limits()) == (
        "Limits(max_flags=25000, max_flag_cost=20000, max_pattern_size=10000, "
        "max_pattern_total=200000)"
    )
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"Limits\.max_flags must be a positive int"):
            Limits(max_flags=bad)  # type: ignore[arg-type]


def test_validate_and_explain_print_the_flag_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`flagkit validate` names the costliest flag; `flagkit explain` prints the flag's cost."""
    from flagkit._cli.main import main

    path = tmp_path / "doc.json"
    path.write_bytes(hostile.matches_at_cost_limit())
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "costliest flag: 'f', at most 19363 steps per evaluation (limit 20,000;" in out
    assert main(["explain", str(path), "f", "--user", "u1", "--attr", "ua=x"]) == 0
    assert "cost: at most 19,363 steps per evaluation" in capsys.readouterr().out


# Issue 19.4: patterns


def test_patterns_are_compiled_without_re2s_module_cache() -> None:
    """Nothing a snapshot compiled outlives it in re2's process-wide LRU cache."""
    import re2

    cache = re2._Regexp._make  # re2.compile's cache: up to 128 programs of up to 8 MiB each
    before = cache.cache_info().currsize
    document = constrained({"type": "string", "pattern": "^[a-z]{3}-x1$"}, "abc-x1")
    document["values"]["g"] = matches_flag("^[0-9]{5}-y1$")["values"]["f"]
    document["flags"]["g"] = {}
    snapshot = snapshot_from_bytes(json.dumps(document))
    assert snapshot.flags["g"].select(None, {"name": "12345-y1"}).name == "hit"
    assert cache.cache_info().currsize == before


def _limited(builder: str, headroom_mib: int) -> subprocess.CompletedProcess[str]:
    """Load ``hostile.<builder>()`` in a child whose address space may grow ``headroom_mib``."""
    code = f"""
import resource, sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "src")!r}]
import re2
from benchmarks import document_limits as hostile
from flagkit import DocumentError
from flagkit._snapshot import snapshot_from_bytes
body = hostile.{builder}()
snapshot_from_bytes(hostile.multi_flag(['(matches in::$x pattern::"warm")']))  # imports
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + {headroom_mib} * 2**20, resource.RLIM_INFINITY))
try:
    snapshot_from_bytes(body)
except DocumentError as exc:
    print("refused:", exc)
else:
    print("accepted")
"""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=100, check=False
    )


@pytest.mark.timeout(110)
def test_the_650_byte_pattern_document_loads_within_64_mib() -> None:
    """Issue 19.4: 8 patterns of 537,000 instructions took 114 MiB; now refused at the first."""
    child = _limited("constraint_patterns", headroom_mib=64)
    assert child.returncode == 0, child.stderr[-500:]
    assert child.stdout.startswith("refused: flag 'f', field 'flags.attributes.a0")
    assert "pattern is too large: its RE2 program is over the limit of 10,000" in child.stdout


def test_patterns_over_the_document_total_are_refused_where_the_total_passes() -> None:
    """Constraint and rule patterns share one total; each counts at least 250 instructions."""
    from flagkit import Limits

    document = constrained({"type": "string", "pattern": "^c1$"}, "c1")
    document["flags"]["f"]["attributes"]["more"] = {
        "constraints": {"type": "string", "pattern": "^c2$"}
    }
    document["flags"]["g"] = {}
    document["values"]["g"] = {
        "_variants": [
            *(
                {"name": f"v{i}", "enabled": True, "rule": f'(matches in::$a pattern::"^m{i}$")'}
                for i in range(3)
            ),
            {"name": "off", "enabled": False},
        ]
    }
    body = json.dumps(document)
    assert len(snapshot_from_bytes(body, limits=Limits(max_pattern_total=1250)).flags) == 2
    err = refused(body, limits=Limits(max_pattern_total=1000))
    assert (err.flag, err.field) == ("g", "values._variants[2].rule")
    assert "the document's patterns reach 1,250 RE2 program instructions" in err.message
    assert "over the limit of 1,000" in err.message


# Issue 19.5: flag count


def test_a_document_of_more_flags_than_the_limit_is_refused_before_validation() -> None:
    """106,496 empty definitions (958 KB) took 3.4 s and 192 MiB; AWS accepts them."""
    for body in (hostile.empty_flags(), hostile.data_view_at_limit(25_001)):
        err = refused(body)
        assert err.message == "too many flags"
        assert err.expected == "at most 25,000 flags (Limits.max_flags)"
    assert refused(hostile.empty_flags()).found == "106,496 flags"


def test_the_flag_limit_is_configurable() -> None:
    from flagkit import Limits

    body = json.dumps({"a": {"enabled": True}, "b": {"enabled": False}, "c": {"enabled": True}})
    assert flagkit_validate(body, limits=Limits(max_flags=3)) == 3
    with pytest.raises(DocumentError, match="at most 2 flags"):
        flagkit_validate(body, limits=Limits(max_flags=2))


@pytest.mark.timeout(110)
def test_958_kb_of_empty_definitions_is_refused_within_96_mib() -> None:
    """Issue 19.5: the load itself, measured under a resource limit in a child process."""
    child = _limited("empty_flags", headroom_mib=96)
    assert child.returncode == 0, child.stderr[-500:]
    assert child.stdout.startswith("refused: too many flags")
