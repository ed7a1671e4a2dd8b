"""The rule language: every operator, every load-time error, the AWS examples, totality."""

from __future__ import annotations

import datetime as dt
import enum
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flagkit._exceptions import DocumentError, RuleError
from flagkit._rules.bucketing import in_split
from flagkit._rules.compile import (
    MAX_DEPTH,
    MAX_RULE_CHARS,
    MISSING,
    CompiledRule,
    compile_rule,
    resolve,
)

FLAG = "my-flag"


def check(rule: str, attributes: dict[str, Any] | None = None, user_id: object = None) -> bool:
    return compile_rule(rule, flag_key=FLAG).test(user_id, attributes)


# --- the interface the snapshot layer relies on ----------------------------------------------


def test_compiled_rule_carries_text_split_flag_and_context_keys() -> None:
    rule = compile_rule(
        '(and (split pct::10 by::$userId) (exists key::"beta") (eq $country "DE"))', flag_key=FLAG
    )
    assert isinstance(rule, CompiledRule)
    assert rule.text.startswith("(and (split")
    assert rule.has_split is True
    assert rule.context_keys == frozenset({"userId", "beta", "country"})
    assert compile_rule('(eq $country "DE")', flag_key=FLAG).has_split is False


def test_compiled_rule_is_frozen_with_slots() -> None:
    rule = compile_rule('(eq $a "b")', flag_key=FLAG)
    with pytest.raises(AttributeError):
        rule.text = "x"  # type: ignore[misc]
    assert not hasattr(rule, "__dict__")


def test_rule_error_is_a_document_error_with_position_and_rule_text() -> None:
    with pytest.raises(RuleError) as info:
        compile_rule("(eq $x)", flag_key=FLAG)
    err = info.value
    assert isinstance(err, DocumentError)
    assert err.position == 0
    assert err.rule == "(eq $x)"
    assert err.flag is None
    assert err.field is None


def test_user_key_reads_user_id_first_then_attributes() -> None:
    """$userId is the user_id argument when given, else the attribute of that name."""
    rule = compile_rule('(eq $uid "u1")', flag_key=FLAG, user_key="uid").test
    assert rule("u1", None)
    assert rule("u1", {"uid": "other"})
    assert not rule("u2", {"uid": "u1"})
    assert rule(None, {"uid": "u1"})
    assert not rule(None, None)


def test_non_user_keys_never_read_user_id() -> None:
    rule = compile_rule('(eq $other "u1")', flag_key=FLAG).test
    assert not rule("u1", None)
    assert not rule("u1", {})
    assert rule("x", {"other": "u1"})


def test_resolve_spells_out_the_lookup_with_missing_sentinel() -> None:
    assert resolve("userId", "u", {"userId": "a"}, user_key="userId") == "u"
    assert resolve("userId", None, {"userId": "a"}, user_key="userId") == "a"
    assert resolve("k", "u", None, user_key="userId") is MISSING
    assert resolve("k", "u", {"k": None}, user_key="userId") is MISSING
    assert repr(MISSING) == "MISSING"
    assert not MISSING


# --- comparisons -----------------------------------------------------------------------------

EQ_CASES = [
    # (rule, context value, expected)
    ('(eq $x "Virginia")', "Virginia", True),
    ('(eq $x "Virginia")', "virginia", False),
    ('(eq $x "123")', 123, True),  # an int is its decimal text
    ('(eq $x "123")', 123.0, False),  # a float is not text
    ('(eq $x "1")', True, False),  # a bool is not text
    ("(eq $x 65)", 65, True),
    ("(eq $x 65)", 65.0, True),
    ("(eq $x 65)", "65", True),  # numeric string vs numeric literal: numeric
    ("(eq $x 65)", "65.0", True),
    ("(eq $x 65)", "0065", True),
    ("(eq $x 65)", " 65", False),  # no whitespace trimming
    ("(eq $x 65)", "sixty-five", False),
    ("(eq $x 1)", True, False),  # a bool is never a number
    ("(eq $x 0)", False, False),
    ("(eq $x 1.5)", "1.5", True),
    ("(eq $x -2.5e3)", -2500, True),
    ("(eq $x 1_000)", 1000, True),
    ("(eq $x 9223372036854775807)", 2**63 - 1, True),
    ("(eq $x 9223372036854775807)", float(2**63 - 1), False),  # exact int/float comparison
    ("(eq $x true)", True, True),
    ("(eq $x true)", "true", True),
    ("(eq $x true)", "True", False),
    ("(eq $x true)", 1, False),
    ("(eq $x false)", False, True),
    ("(eq $x false)", "false", True),
    ("(eq $x 2024-01-01T00:00:00Z)", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), True),
    ("(eq $x 2024-01-01T00:00:00Z)", dt.datetime(2024, 1, 1), True),  # naive means UTC
    ("(eq $x 2024-01-01T00:00:00Z)", dt.date(2024, 1, 1), True),
    ("(eq $x 2024-01-01T00:00:00Z)", "2024-01-01T01:00:00+01:00", True),
    ("(eq $x 2024-01)", "2024-01-01", True),  # reduced precision: first instant of the period
    ("(eq $x 2024T)", "2024-01-01T00:00Z", True),
    ("(eq $x 2024-01-01T00:00:00Z)", 1704067200, False),  # numbers are never timestamps
    ("(eq $x 2024-01-01T00:00:00-00:00)", "2024-01-01T00:00Z", True),  # unknown offset is UTC
    ("(eq $x 2024-01-01T00:00:00.5Z)", dt.datetime(2024, 1, 1, 0, 0, 0, 500000), True),
]


@pytest.mark.parametrize(("rule", "value", "expected"), EQ_CASES)
def test_eq_coerces_the_context_value_towards_the_literal(
    rule: str, value: object, expected: bool
) -> None:
    assert check(rule, {"x": value}) is expected


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("(gt $age 65)", 66, True),
        ("(gt $age 65)", 65, False),
        ("(gt $age 65)", "66", True),
        ("(gt $age 65)", "9", False),  # numeric, not lexicographic
        ("(gte $age 65)", 65, True),
        ("(gte $age 65)", 64.999, False),
        ("(lt $age 65)", 64, True),
        ("(lt $age 65)", 65, False),
        ("(lte $age 65)", "65", True),
        ("(lte $age 65)", 66, False),
        ("(gt $age 65)", True, False),
        ("(gt $age 65)", float("nan"), False),
        ("(lt $age 65)", float("nan"), False),
        ("(gt $age 65)", float("inf"), True),
        ("(gt $age 65)", "1e999", True),  # overflows to inf, still a number
        ("(gt $age 65)", [66], False),
        ("(gt $t 2024-01-01T00:00:00Z)", "2024-01-01T00:00:01Z", True),
        ("(gt $t 2024-01-01T00:00:00Z)", "2023-12-31T23:59:59Z", False),
        ("(lt $t 2024-01-01T00:00:00+02:00)", "2023-12-31T23:00:00Z", False),
        ("(lt $t 2024-01-01T00:00:00+02:00)", "2023-12-31T21:59:59Z", True),
        ("(gte $t 2024-01)", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), True),
        ("(lt $t 2024-01)", dt.date(2023, 12, 31), True),
    ],
)
def test_ordering_compares_numbers_and_timestamps(rule: str, value: object, expected: bool) -> None:
    key = "t" if "$t" in rule else "age"
    assert check(rule, {key: value}) is expected


@pytest.mark.parametrize(
    ("rule", "mirror"),
    [
        ("(lt 65 $age)", "(gt $age 65)"),
        ("(lte 65 $age)", "(gte $age 65)"),
        ("(gt 65 $age)", "(lt $age 65)"),
        ("(gte 65 $age)", "(lte $age 65)"),
        ('(eq "a" $age)', '(eq $age "a")'),
    ],
)
@pytest.mark.parametrize("age", [64, 65, 66, "65", "a", None])
def test_literal_first_comparisons_are_the_mirrored_operator(
    rule: str, mirror: str, age: object
) -> None:
    assert check(rule, {"age": age}) is check(mirror, {"age": age})


@pytest.mark.parametrize("op", ["eq", "gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("attributes", [None, {}, {"x": None}])
def test_missing_or_none_context_makes_every_comparison_false(
    op: str, attributes: dict[str, Any] | None
) -> None:
    assert check(f"({op} $x 1)", attributes) is False
    assert check(f"(not ({op} $x 1))", attributes) is True


def test_enum_subclasses_compare_by_their_base_value() -> None:
    class Tier(enum.Enum):
        pass

    class Color(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    assert check('(eq $c "red")', {"c": Color.RED})
    assert check("(eq $l 3)", {"l": Level.HIGH})
    assert check('(eq $l "3")', {"l": Level.HIGH})
    assert not check('(eq $c "red")', {"c": Tier})


# --- string operators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ('(begins_with $state "A")', "Alabama", True),
        ('(begins_with $state "A")', "alabama", False),
        ('(begins_with $state "")', "", True),
        ('(begins_with $state "12")', 123, True),
        ('(begins_with $state "A")', ["Alabama"], False),
        ('(ends_with $email "amazon.com")', "jeff@amazon.com", True),
        ('(ends_with $email "amazon.com")', "jeff@amazon.co", False),
        ('(ends_with $email "3")', 123, True),
        ('(contains $promoCode "WIN")', "BIGWINNER", True),
        ('(contains $promoCode "WIN")', "win", False),
        ('(contains $promoCode "WIN")', ["A", "WIN"], True),  # a list: element equality
        ('(contains $promoCode "WIN")', ["WINNER"], False),
        ('(contains $promoCode "WIN")', ("WIN",), True),
        ('(contains $promoCode "WIN")', frozenset({"WIN"}), True),
        ('(contains $promoCode "WIN")', {"WIN": 1}, False),  # mappings are not collections
        ("(contains $codes 5)", [1, 5], True),
        ("(contains $codes 5)", ["5"], True),  # element equality uses the literal's coercion
        ("(contains $codes 5)", "15", False),  # a number is not a substring
        ("(contains $codes true)", [True], True),
        ("(contains $codes true)", [1], False),
        ('(matches in::$greeting pattern::"h.*y")', "hey", True),
        ('(matches in::$greeting pattern::"h.*y")', "oh, hey there", True),  # search
        ('(matches in::$greeting pattern::"^h.*y$")', "oh, hey there", False),
        ('(matches pattern::"^[0-9]+$" in::$greeting)', 123, True),
        ('(matches in::$greeting pattern::"h.*y")', b"hey", False),
        ('(matches in::$greeting pattern::"\\\\d")', "a1", True),  # \\d in Ion text is \d
    ],
)
def test_string_operators(rule: str, value: object, expected: bool) -> None:
    key = re.search(r"\$(\w+)", rule)
    assert key is not None
    assert check(rule, {key.group(1): value}) is expected


# --- in / exists -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ('(in $userId ["123","456"])', "123", True),
        ('(in $userId ["123","456"])', 456, True),
        ('(in $userId ["123","456"])', "789", False),
        ('(in $userId ["123","456"])', True, False),
        ("(in $userId [1, 2.5, true, 2024-01])", "2.5", True),
        ("(in $userId [1, 2.5, true, 2024-01])", 1.0, True),
        ("(in $userId [1, 2.5, true, 2024-01])", True, True),
        ("(in $userId [1, 2.5, true, 2024-01])", "2024-01-01T00:00Z", True),
        ("(in $userId [1, 2.5, true, 2024-01])", 2, False),
        ('(in $userId [1, "a"])', "a", True),
        ('(in $userId [1, "a"])', "1", True),
        ("(in $userId [])", "x", False),
        ('(in "admin" $userId)', ["user", "admin"], True),  # literal in a context list
        ('(in "admin" $userId)', "administrator", False),  # a string is not a collection here
        ("(in 3 $userId)", ["3"], True),
    ],
)
def test_in_tests_membership(rule: str, value: object, expected: bool) -> None:
    assert check(rule, {"userId": value}) is expected


def test_exists_is_true_for_present_non_none_keys_including_the_user_key() -> None:
    rule = '(exists key::"country")'
    assert check(rule, {"country": ""})
    assert check(rule, {"country": False})
    assert not check(rule, {"country": None})
    assert not check(rule, {})
    assert not check(rule, None)
    assert check('(exists key::"userId")', None, "u1")
    assert check('(exists key::"userId")', {"userId": "a"}, None)
    assert not check('(exists key::"userId")', None, None)


# --- logic -----------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [True, False])
@pytest.mark.parametrize("b", [True, False])
@pytest.mark.parametrize("c", [True, False])
def test_and_or_not_follow_boolean_logic(a: bool, b: bool, c: bool) -> None:
    ctx = {"a": a, "b": b, "c": c}
    terms = "(eq $a true) (eq $b true) (eq $c true)"
    assert check(f"(and {terms})", ctx) is (a and b and c)
    assert check(f"(or {terms})", ctx) is (a or b or c)
    assert check("(and (eq $a true) (eq $b true))", ctx) is (a and b)
    assert check("(or (eq $a true) (eq $b true))", ctx) is (a or b)
    assert check("(and (eq $a true))", ctx) is a
    assert check("(not (eq $a true))", ctx) is (not a)
    assert check(f"(or {terms} (eq $a false) (eq $b false))", ctx) is True


def test_nesting_up_to_the_depth_limit_compiles() -> None:
    rule = "(not " * (MAX_DEPTH - 1) + "(eq $x 1)" + ")" * (MAX_DEPTH - 1)
    assert check(rule, {"x": 1}) is ((MAX_DEPTH - 1) % 2 == 0)


# --- split -----------------------------------------------------------------------------------


@pytest.mark.parametrize("uid", ["u-1", "u-2", "é", "用户-7", "", "🙂"])
@pytest.mark.parametrize("pct", [0, 0.001, 10, 33.333, 100])
def test_split_matches_the_reference_bucketing(uid: str, pct: float) -> None:
    """Seeded by seed::, else by the flag key."""
    seeded = compile_rule(f'(split pct::{pct} by::$userId seed::"abc")', flag_key=FLAG).test
    unseeded = compile_rule(f"(split by::$userId pct::{pct})", flag_key=FLAG).test
    assert seeded(uid, None) is in_split(uid, "abc", pct)
    assert unseeded(uid, None) is in_split(uid, FLAG, pct)
    assert compile_rule(f"(split pct::{pct} by::$k)", flag_key=FLAG).test(
        None, {"k": uid}
    ) is in_split(uid, FLAG, pct)


def test_split_reads_ints_as_decimal_text_and_refuses_other_types() -> None:
    rule = compile_rule("(split pct::100 by::$userId)", flag_key=FLAG).test
    assert rule(12345, None) is True
    for uid in (True, 1.0, b"12345", ["1"], 2**64, object()):
        assert rule(uid, None) is False
    half = compile_rule("(split pct::50 by::$userId)", flag_key=FLAG).test
    assert [half(i, None) for i in range(200)] == [half(str(i), None) for i in range(200)]


def test_split_at_zero_is_never_and_at_hundred_is_every_string() -> None:
    never = compile_rule("(split pct::0 by::$userId)", flag_key=FLAG)
    always = compile_rule("(split pct::100 by::$userId)", flag_key=FLAG)
    assert never.has_split and always.has_split
    for i in range(1000):
        assert never.test(f"u{i}", None) is False
        assert always.test(f"u{i}", None) is True
    assert always.test(None, None) is False  # no id, no split


def test_split_on_lone_surrogates_hashes_surrogatepass_bytes_without_crashing() -> None:
    """mmh3 5.x segfaults on such a str; the compiled split encodes it itself."""
    rule = compile_rule('(split pct::50 by::$userId seed::"s")', flag_key=FLAG).test
    import mmh3

    from flagkit._rules.bucketing import hash_threshold, seed_of

    for uid in ("\udc80", "a\ud800b", "\udfff\ud800"):
        h = mmh3.hash(uid.encode("utf-8", "surrogatepass"), seed_of("s"), signed=False)
        assert rule(uid, None) is (h < hash_threshold(50))


# --- the AppConfig user guide's examples (appconfig.md §2.3-2.5) ---------------------------


def test_ug_operator_examples_compile_and_evaluate() -> None:
    assert check('(eq $state "Virginia")', {"state": "Virginia"})
    assert check("(gt $age 65)", {"age": "70"})
    assert check('(begins_with $state "A")', {"state": "Arizona"})
    assert check('(ends_with $email "amazon.com")', {"email": "a@amazon.com"})
    assert check('(contains $promoCode "WIN")', {"promoCode": "XWINX"})
    assert check('(in $userId ["123","456"])', None, "456")
    assert check('(matches in::$greeting pattern::"h.*y")', {"greeting": "happy"})
    assert check('(exists key::"country")', {"country": "US"})
    rule = compile_rule('(split pct::10 by::$userId seed::"abc")', flag_key=FLAG)
    assert rule.has_split
    assert rule.test("u1", None) is in_split("u1", "abc", 10)


def test_ui_refresh_rules_pick_the_first_matching_variant() -> None:
    variants = [
        ("QA", '(ends_with $email "qa-testers.mycompany.com")'),
        ("Beta Testers", '(exists key::"opted_in_to_beta")'),
        ("Sample Population", "(split pct::10 by::$email)"),
    ]
    rules = [(name, compile_rule(text, flag_key="ui_refresh")) for name, text in variants]

    def variant(attributes: dict[str, Any] | None) -> str:
        for name, rule in rules:
            if rule.test(None, attributes):
                return name
        return "Default Variant"

    assert variant({"email": "jane@qa-testers.mycompany.com"}) == "QA"
    assert variant({"email": "joe@x.com", "opted_in_to_beta": "false"}) == "Beta Testers"
    assert variant(None) == "Default Variant"
    emails = [f"user{i}@example.com" for i in range(20_000)]
    sampled = [e for e in emails if variant({"email": e}) == "Sample Population"]
    assert sampled == [e for e in emails if in_split(e, "ui_refresh", 10)]
    assert 0.09 < len(sampled) / len(emails) < 0.11


def test_tiered_release_rule_is_tier_and_seeded_split() -> None:
    text = """(or (and (eq $group "Tier1") (split by::$userId pct::1 seed::"2025.01.01"))
        (and (eq $group "Tier2") (split by::$userId pct::7 seed::"2025.01.01")))"""
    rule = compile_rule(text, flag_key="tiered_release")
    assert rule.has_split
    assert rule.context_keys == frozenset({"group", "userId"})
    ids = [f"id-{i}" for i in range(20_000)]
    for group, pct in (("Tier1", 1), ("Tier2", 7), ("Tier3", 0)):
        got = [u for u in ids if rule.test(u, {"group": group})]
        assert got == [u for u in ids if pct and in_split(u, "2025.01.01", pct)]
    tier1 = {u for u in ids if rule.test(u, {"group": "Tier1"})}
    tier2 = {u for u in ids if rule.test(u, {"group": "Tier2"})}
    assert tier1 <= tier2  # one seed: widening the tier keeps its users


# --- syntax accepted -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ('(eq $x "a\\"b\\\\c")', 'a"b\\c'),
        ('(eq $x "\\t\\n\\r\\0\\/\\?\\\'")', "\t\n\r\0/?'"),
        ('(eq $x "\\x41\\u00e9\\U0001F642")', "Aé🙂"),
        ('(eq $x "\\ud83d\\ude42")', "🙂"),  # a surrogate pair escape is one code point
        ('(eq $x "one \\\ntwo")', "one two"),  # Ion line continuation
        ('(eq $x "héllo 用户")', "héllo 用户"),
        ('\n\t (eq\t$x\r\n"a" ) \n', "a"),
        ("(split pct :: 100 by :: $x)", "a"),
        ("(eq $x 1.)", 1),
        ("(eq $x -0.5e-3)", -0.0005),
        ("(in $x [1, 2,])", 2),
        ("(eq $x 2024-01-01T)", "2024-01-01"),
        ("(eq $x 2024-01T)", "2024-01-01"),
        ("(eq $x 2012-03-04T05:06:07-08:00)", "2012-03-04T13:06:07Z"),
        ("(eq $x 2012-03-04T05:06Z)", "2012-03-04T05:06:00.000Z"),
    ],
)
def test_accepted_syntax(rule: str, value: object) -> None:
    assert check(rule, {"x": value}) is True


# --- every load-time error, with its position ------------------------------------------------

LONG = "(eq $x " + '"' + "a" * MAX_RULE_CHARS + '")'
DEEP = "(not " * MAX_DEPTH + "(eq $x 1)" + ")" * MAX_DEPTH

ERRORS = [
    # parser
    ("", 0, "empty rule"),
    ("   ", 3, "empty rule"),
    (LONG, MAX_RULE_CHARS, "longer than"),
    (DEEP, 5 * MAX_DEPTH, "deeper than"),
    ('"x"', 0, "must be an s-expression"),
    ("$x", 0, "must be an s-expression"),
    ("(eq $x 1) x", 10, "after the rule"),
    ("(eq $x 1)]", 9, "after the rule"),
    ("()", 0, "empty s-expression"),
    ("(1 2)", 1, "operator name"),
    ("(eq $x 1", 8, "missing ')'"),
    ("(", 1, "missing ')'"),
    ('(in $x ["a"', 11, "missing ']'"),
    ('(in $x ["a" "b"])', 12, "expected ',' or ']'"),
    ("(in $x [,])", 8, "unexpected character ','"),
    ("(in $x [$y])", 8, "list elements must be literals"),
    ("(in $x [[1]])", 8, "list elements must be literals"),
    ('(eq $x "abc', 7, "unterminated string"),
    ('(eq $x "a\nb")', 9, "control character"),
    ('(eq $x "a\\qb")', 9, "unknown escape"),
    ('(eq $x "a\\', 9, "unterminated string"),
    ('(eq $x "\\u12")', 8, "4 hex digits"),
    ('(eq $x "\\xZZ")', 8, "2 hex digits"),
    ('(eq $x "\\U00110000")', 8, "beyond U+10FFFF"),
    ('(eq $x "\\ud800")', 7, "lone surrogate"),
    ("(eq $ 1)", 4, "context key after '$'"),
    ("(eq $1 1)", 4, "context key after '$'"),
    ("(eq $user-id 1)", 4, "malformed context reference '$user-id'"),
    ("(eq $x 10abc)", 7, "malformed number '10abc'"),
    ("(eq $x 0x10)", 7, "malformed number"),
    ("(eq $x 1_)", 7, "malformed number"),
    ("(eq $x 007)", 7, "leading zeros"),
    ("(eq $x 9223372036854775808)", 7, "64-bit range"),
    ("(eq $x -9223372036854775809)", 7, "64-bit range"),
    ("(eq $x 123456789012345678901234567890)", 7, "64-bit range"),
    ("(eq $x 1e999)", 7, "out of range"),
    ("(eq $x -)", 7, "number after '-'"),
    ("(eq $x 2024-02-30)", 7, "invalid date"),
    ("(eq $x 2024-01-01T24:00Z)", 7, "invalid date or time"),
    ("(eq $x 2024-01-01T10:00+24:00)", 7, "invalid date or time"),
    ("(eq $x 2024-01-01T10:00)", 7, "needs an offset"),
    ("(eq $x abc)", 7, "strings must be double-quoted"),
    ("(eq $x null)", 7, "null is not a supported value"),
    ("(eq $x nan)", 7, "nan is not a supported value"),
    ("(eq $x @)", 7, "unexpected character '@'"),
    ("(eq $x 'a')", 7, "unexpected character"),
    ("(eq $x", 6, "missing ')'"),
    ("(eq $x ]", 7, "unexpected ']'"),
    ("(split pct::a::1 by::$u)", 12, "cannot itself be annotated"),
    ("(eq- $x 1)", 1, "malformed operator"),
    # checker: operators and arity
    ("(foo 1)", 1, "unknown operator 'foo'"),
    ("(EQ $x 1)", 1, "unknown operator 'EQ'"),
    ("(or (eq $x 1) [1])", 14, "needs true or false"),
    ("(and 5)", 5, "or a boolean, found an integer"),
    ('(not "true")', 5, "or a boolean, found a string"),
    ("(not (eq $x 1) (eq $x 2))", 15, "exactly 1 argument"),
    ("(not)", 0, "exactly 1 argument"),
    ("(and)", 0, "at least 1 argument"),
    ("(eq $x)", 0, "exactly 2 arguments"),
    ("(eq $x 1 2)", 9, "exactly 2 arguments"),
    ("(begins_with $x)", 0, "exactly 2 arguments"),
    ("(in $x [1] [2])", 11, "exactly 2 arguments"),
    # named arguments
    ("(eq pct::1 $x)", 4, "no named arguments"),
    ("(and x::(eq $x 1))", 5, "no named arguments"),
    ("(split 10 $x)", 7, "only named arguments"),
    ("(exists $x)", 8, "only named arguments"),
    ('(split pct::10 by::$x sed::"a")', 22, "no argument sed::"),
    ("(split pct::1 by::$x pct::2)", 21, "duplicate argument pct::"),
    ("(split by::$x)", 0, "needs pct::"),
    ("(split pct::1)", 0, "needs by::"),
    ("(matches in::$x)", 0, "needs pattern::"),
    ('(matches pattern::"a")', 0, "needs in::"),
    ("(exists)", 0, "needs key::"),
    # operand types
    ("(eq $x [1])", 7, "found a list"),
    ("(eq 1 2)", 4, "two literals"),
    ("(eq (gt $x 1) 5)", 14, "with a boolean, found an integer"),
    ('(gt 2024-01 (exists key::"a"))', 4, "with a boolean, found a timestamp"),
    ("(begins_with $x (eq $y 1))", 16, "must be a string, found an s-expression"),
    ("(contains $x (eq $y 1))", 13, "must be a literal, found an s-expression"),
    ("(matches in::$x pattern::$p)", 25, "pattern:: must be a string"),
    ('(begins_with "a" $x)', 13, "must be a context reference"),
    ("(ends_with $x 1)", 14, "must be a string, found an integer"),
    ("(contains $x [1])", 13, "must be a literal, found a list"),
    ("(contains 1 $y)", 10, "must be a context reference"),
    ('(in $x "abc")', 7, "use (contains"),
    ("(in $x $y)", 7, "needs a list"),
    ("(in (eq $x 1) [1])", 4, "context reference or a literal first"),
    ('(in "a" "b")', 8, "needs a context reference after a literal"),
    ('(matches in::"a" pattern::"a")', 13, "in:: must be a context reference"),
    ("(matches in::$x pattern::1)", 25, "pattern:: must be a string"),
    ('(matches in::$x pattern::"(")', 25, "not a valid regular expression"),
    ('(matches in::$x pattern::"a{2,1}")', 25, "not a valid regular expression"),
    ("(exists key::1)", 13, "key:: must be a string"),
    ("(exists key::$x)", 13, "key:: must be a string"),
    ("(split pct::101 by::$x)", 12, "from 0 to 100"),
    ("(split pct::-1 by::$x)", 12, "from 0 to 100"),
    ("(split pct::100.001 by::$x)", 12, "from 0 to 100"),
    ('(split pct::"10" by::$x)', 12, "must be a number"),
    ("(split pct::true by::$x)", 12, "must be a number"),
    ("(split pct::$p by::$x)", 12, "must be a number"),
    ("(split pct::2024-01 by::$x)", 12, "must be a number"),
    ("(split pct::12.3456 by::$x)", 12, "more than 3 decimals"),
    ("(split pct::0.0001 by::$x)", 12, "more than 3 decimals"),
    ('(split pct::1 by::"x")', 18, "by:: must be a context reference"),
    ("(split pct::1 by::(eq $x 1))", 18, "by:: must be a context reference"),
    ("(split pct::1 by::$x seed::1)", 27, "seed:: must be a string"),
]


@pytest.mark.parametrize(("rule", "position", "message"), ERRORS)
def test_load_time_errors_name_the_position(rule: str, position: int, message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_rule(rule, flag_key=FLAG)
    assert info.value.position == position
    assert message in str(info.value)
    assert str(info.value).endswith(f"at position {position}")


# --- hypothesis: totality --------------------------------------------------------------------


class Hostile:
    """An object whose every dunder that a careless predicate might call raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __iter__(self) -> Any:
        raise RuntimeError("iter")

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() consults __class__
        raise RuntimeError("class")


class HostileStr(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = str.__hash__

    def __str__(self) -> str:
        raise RuntimeError("str")

    def startswith(self, *args: object) -> bool:
        raise RuntimeError("startswith")


class HostileList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("iter")


class BadTz(dt.tzinfo):
    def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
        raise RuntimeError("tz")

    def dst(self, d: dt.datetime | None) -> dt.timedelta:
        raise RuntimeError("tz")

    def tzname(self, d: dt.datetime | None) -> str:
        raise RuntimeError("tz")


fixed_offsets = st.integers(-1439, 1439).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(5000).map(lambda n: 10**n),  # str() of it raises
    st.floats(),
    any_text,
    st.sampled_from(["65", "-1.5e3", "1e999", "true", "2024-01-01T00:00Z", "2024-13", "9" * 70]),
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | fixed_offsets),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(1, 1, 2)).map(
        lambda d: d.replace(tzinfo=dt.timezone(dt.timedelta(hours=23)))
    ),
    st.dates(),
    st.builds(Hostile),
    st.builds(HostileStr, any_text),
    st.builds(HostileList, st.lists(st.integers(), max_size=2)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(st.one_of(st.integers(), any_text), max_size=3),
        st.dictionaries(any_text, inner, max_size=2),
    ),
    max_leaves=6,
)

CORPUS = [
    '(eq $k "abc")',
    "(eq $k 65)",
    "(eq $k 1.5)",
    "(eq $k true)",
    "(eq $k 2024-01-01T00:00Z)",
    "(gt $k 65)",
    "(lte $k 2024-01)",
    "(lt 1.5 $k)",
    '(begins_with $k "a")',
    '(ends_with $k "a")',
    '(contains $k "a")',
    "(contains $k 1)",
    '(in $k ["a", "b"])',
    '(in $k [1, "a", true, 2024T])',
    '(in "a" $k)',
    '(matches in::$k pattern::"a+b")',
    '(exists key::"k")',
    '(exists key::"userId")',
    "(split pct::50 by::$k)",
    "(split pct::50 by::$userId)",
    '(split pct::100 by::$userId seed::"s")',
    '(in $userId ["a"])',
    '(eq $userId "a")',
    '(not (and (eq $k 1) (or (eq $j "x") (gt $k 2) (contains $j "y"))))',
    "(eq $k $j)",
    "(gte $k $userId)",
    '(lt $k "m")',
    "(contains $k $j)",
    "(ends_with $k $j)",
    '(and $k (not $j) (eq (gt $j 1) (exists key::"k")))',
]
COMPILED = [compile_rule(text, flag_key=FLAG) for text in CORPUS]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    user_id=values,
    attributes=st.none() | st.dictionaries(st.sampled_from(["k", "j", "userId"]), values),
)
@example(user_id="\udc80", attributes={"k": "\ud800"})
@example(user_id=Hostile(), attributes={"k": Hostile(), "j": HostileStr("x")})
@example(user_id=None, attributes={"k": dt.datetime(2024, 1, 1, tzinfo=BadTz())})
def test_no_input_makes_test_raise(user_id: object, attributes: dict[str, Any] | None) -> None:
    for rule in COMPILED:
        assert type(rule.test(user_id, attributes)) is bool


# --- operands that are context values or expressions (UG-mvops: "Operand values can be either
# static, such as a literal number or string, or variable, such as the value found in a context
# or the result of another expression") ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "attributes", "expected"),
    [
        # two context values compare as the first kind both read as: number, timestamp, bool, text
        ("(eq $a $b)", {"a": "65", "b": 65}, True),
        ("(eq $a $b)", {"a": "065", "b": "65.0"}, True),
        ("(eq $a $b)", {"a": "x", "b": "x"}, True),
        ("(eq $a $b)", {"a": "x", "b": "X"}, False),
        ("(eq $a $b)", {"a": "true", "b": True}, True),
        ("(eq $a $b)", {"a": 1, "b": True}, False),
        ("(eq $a $b)", {"a": "x"}, False),
        ("(eq $a $b)", {"a": None, "b": None}, False),
        ("(eq $a $b)", {"a": [1], "b": [1]}, False),
        ("(gt $a $b)", {"a": "10", "b": "9"}, True),
        ("(gt $a $b)", {"a": "b", "b": "a10"}, True),
        ("(lt $a $b)", {"a": "2024-01-31", "b": "2024-02"}, True),
        ("(lt $a $b)", {"a": dt.datetime(2024, 1, 1), "b": "2024-01-01T00:00:01Z"}, True),
        ("(gt $a $b)", {"a": True, "b": False}, True),
        ("(gt $a $b)", {"a": 5, "b": "five"}, False),
        ("(eq $userId $owner)", {"userId": "u1", "owner": "u1"}, True),
        # ordering against a string or boolean literal
        ('(gt $v "1.2")', {"v": "1.3"}, True),
        ('(gt $v "1.2")', {"v": "1.10"}, False),
        ('(lte "b" $v)', {"v": "c"}, True),
        ("(gt $v false)", {"v": "true"}, True),
        ("(gte $v true)", {"v": False}, False),
        # an expression's result (true or false) as an operand
        ("(eq (gt $age 18) false)", {"age": 12}, True),
        ("(eq (gt $age 18) false)", {}, True),
        ("(eq false (gt $age 18))", {"age": 40}, False),
        ('(eq $beta (exists key::"country"))', {"beta": "true", "country": "DE"}, True),
        ('(eq $beta (exists key::"country"))', {"beta": "false"}, True),
        ('(eq (exists key::"a") (exists key::"b"))', {}, True),
        ('(gt (exists key::"a") (exists key::"b"))', {"a": 1}, True),
        # context values and boolean literals as operands of and/or/not
        ('(and $beta (eq $plan "pro"))', {"beta": "true", "plan": "pro"}, True),
        ('(and $beta (eq $plan "pro"))', {"beta": "yes", "plan": "pro"}, False),
        ("(not $beta)", {}, True),
        ("(or false $beta)", {"beta": True}, True),
        ("(and true)", {}, True),
        # a prefix, suffix or substring taken from the context
        ("(begins_with $email $prefix)", {"email": "ann@x.io", "prefix": "ann"}, True),
        ("(ends_with $email $domain)", {"email": "ann@x.io", "domain": "y.io"}, False),
        ("(contains $code $part)", {"code": "BIGWIN", "part": "WIN"}, True),
        ("(contains $roles $role)", {"roles": ["user", "admin"], "role": "admin"}, True),
        ("(contains $ids $id)", {"ids": ["7", "8"], "id": 8}, True),
        ("(contains $roles $role)", {"roles": ["user"]}, False),
    ],
)
def test_operands_may_be_context_values_or_expressions(
    rule: str, attributes: dict[str, Any], expected: bool
) -> None:
    """What AWS's grammar accepts as an operand compiles, with the semantics docs/rules.md gives."""
    assert check(rule, attributes, attributes.get("userId")) is expected


@settings(max_examples=200)
@given(values, values)
def test_comparing_two_context_values_is_symmetric(a: object, b: object) -> None:
    """(eq $a $b) is (eq $b $a), and (lt $a $b) is (gt $b $a), whatever the values."""
    ctx = {"a": a, "b": b}
    assert check("(eq $a $b)", ctx) is check("(eq $b $a)", ctx)
    assert check("(lt $a $b)", ctx) is check("(gt $b $a)", ctx)


# fmt: off
TOKENS = [
    "(", ")", "[", "]", ",", "::", " ", "\n", '"', "\\", "$", "$k", "$userId", "-", ".",
    "eq", "gt", "in", "not", "and", "or", "split", "matches", "exists", "contains",
    "pct", "by", "seed", "pattern", "key", "pct::", "by::", "in::", "key::", "pattern::",
    "1", "0", "101", "1.5", "1e9", "007", "9223372036854775808", "true", "false", "null",
    "2024-01", "2024-01-01T00:00Z", "2024-02-30", "T", "Z", '"a"', '"\\u00e9"', '"\\ud800"',
    '"("', "\udc80", "é",
]
# fmt: on


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(max_size=60),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
        st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
        st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join),
    )
)
@example("(" * 10_000)
@example("(not " * 1000)
@example("[" * 10_000)
@example('(eq $k "' + "\\" * 5000)
def test_no_rule_text_makes_compile_rule_raise_anything_but_rule_error(text: str) -> None:
    try:
        rule = compile_rule(text, flag_key=FLAG)
    except RuleError as err:
        assert 0 <= err.position <= len(text)
    else:
        assert type(rule.test("u", {"k": "v"})) is bool


# --- hypothesis: literals mean what they say -------------------------------------------------


def ion_string(s: str) -> str:
    """``s`` as a double-quoted rule literal, escaping with \\U so any text round-trips."""
    out = []
    for ch in s:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append(f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@given(st.text(max_size=30), st.text(max_size=5))
def test_string_literals_round_trip_through_escapes(s: str, extra: str) -> None:
    lit = ion_string(s)
    assert check(f"(eq $k {lit})", {"k": s})
    assert check(f"(eq $k {lit})", {"k": s + extra}) is (extra == "")
    assert check(f"(begins_with $k {lit})", {"k": s + extra})
    assert check(f"(ends_with $k {lit})", {"k": extra + s})
    assert check(f"(contains $k {lit})", {"k": extra + s + extra})
    assert check(f"(in $k [{lit}])", {"k": s})


numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(numbers, numbers)
def test_numeric_comparisons_agree_with_python(a: float, b: float) -> None:
    lit = repr(b)
    for op, expected in (("eq", a == b), ("gt", a > b), ("gte", a >= b), ("lt", a < b),
                         ("lte", a <= b)):  # fmt: skip
        assert check(f"({op} $k {lit})", {"k": a}) is expected
        assert check(f"({op} $k {lit})", {"k": repr(a)}) is expected  # as a header string


aware = st.datetimes(
    min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 1, 1), timezones=fixed_offsets
)


@given(aware, aware)
def test_timestamp_comparisons_agree_with_datetime(a: dt.datetime, b: dt.datetime) -> None:
    lit = b.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert check(f"(eq $t {lit})", {"t": a}) is (a == b)
    assert check(f"(gt $t {lit})", {"t": a}) is (a > b)
    assert check(f"(lte $t {lit})", {"t": a.isoformat()}) is (a <= b)


# --- the examples in docs/rules.md run as tests ----------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
_ROW = re.compile(r"^\| `(?P<rule>[^`]+)` \| `(?P<context>[^`]*)` \| (?P<result>true|false) \|$")


def doc_examples() -> list[tuple[str, str, bool]]:
    rows = [m for line in DOC.read_text("utf-8").splitlines() if (m := _ROW.match(line))]
    return [(m["rule"], m["context"], m["result"] == "true") for m in rows]


def test_docs_have_examples() -> None:
    assert len(doc_examples()) >= 20


@pytest.mark.parametrize(("rule", "context", "expected"), doc_examples())
def test_docs_examples_hold(rule: str, context: str, expected: bool) -> None:
    import json

    ctx = json.loads(context) if context else None
    user_id = ctx.pop("userId", None) if ctx else None
    assert check(rule, ctx, user_id) is expected


def test_compiling_stops_at_the_operator_that_passes_the_budget() -> None:
    """OverBudget carries the count and the position where it passed; under it, no error."""
    from flagkit._rules.compile import OverBudget

    text = '(or (eq $a "x") (contains $t "y") (eq $a "z"))'
    assert compile_rule(text, flag_key=FLAG, budget=104).cost == 104  # 1 + 1 + (1 + 100) + 1
    with pytest.raises(OverBudget) as info:
        compile_rule(text, flag_key=FLAG, budget=102)
    assert info.value.cost == 103
    assert info.value.position == text.index("(contains")


def test_a_pattern_used_twice_in_a_load_is_compiled_once_and_counted_once() -> None:
    """Patterns memoises per load: one program, one share of the total, each use still costs."""
    from flagkit._rules.patterns import PATTERN_FLOOR, Patterns

    patterns = Patterns(max_size=10_000, max_total=10 * PATTERN_FLOOR)
    text = '(and (matches in::$a pattern::"^ab$") (matches in::$b pattern::"^ab$"))'
    rule = compile_rule(text, flag_key=FLAG, patterns=patterns)
    assert patterns.total == PATTERN_FLOOR
    one = compile_rule('(matches in::$a pattern::"^ab$")', flag_key=FLAG).cost
    assert rule.cost == 1 + 2 * one
    assert rule.test(None, {"a": "ab", "b": "ab"}) and not rule.test(None, {"a": "ab", "b": "x"})
