"""The build's fast paths: rule text straight to closures, fused ``and`` closures, GC paused.

Each fast path must give exactly what the general path gives: the same CompiledRule fields,
the same errors (always raised by the general path), the same answers. tests/test_fuzz.py holds
the property versions over generated rules and hostile values.
"""

from __future__ import annotations

import ast
import gc
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from benchmarks.scenarios import S2_RULE, S3_RULE, S5_RULES
from benchmarks.snapshot_build import document as benchmark_document

from flagkit._document.appconfig import load_document
from flagkit._exceptions import RuleError
from flagkit._rules.bucketing import hash_threshold, seed_of
from flagkit._rules.closures import all_of
from flagkit._rules.compile import CompiledRule, OverBudget, compile_rule
from flagkit._rules.fast import compile_fast
from flagkit._rules.fused import compare_check, conjunction, member_check, split_leaf
from flagkit._rules.parse import MAX_DEPTH, MAX_RULE_CHARS
from flagkit._snapshot import build_snapshot

ROOT = Path(__file__).resolve().parents[1]
FLAG = "my-flag"


def outcome(text: str, *, fast: bool, flag_key: str = FLAG, budget: int | None = None) -> Any:
    """A rule's fields, or the error compiling it raised."""
    try:
        rule = compile_rule(text, flag_key=flag_key, budget=budget, fast=fast)
    except RuleError as exc:
        return ("RuleError", str(exc), exc.position)
    except OverBudget as exc:
        return ("OverBudget", exc.cost, exc.position)
    return (rule.text, rule.has_split, rule.context_keys, rule.bare_split, rule.cost)


class Text(str):
    """A str subclass: never read through the fused closures' exact-str test."""


PALETTE: tuple[object, ...] = (
    "US", "CA", "pro", "DE", "1", "0", "65", "-1.5e3", "true", "é", "a\udfffb", "", "@corp3.example",
    "x@corp3.example", "2024-01-01T00:00Z", 1, 0, 65, -3, 2**64, True, False, 1.5, float("nan"),
    None, b"US", ["a", "US"], ("pro",), Text("US"), Text("pro"),
)  # fmt: skip


def population(keys: frozenset[str], n: int = 300, seed: int = 7) -> Iterator[tuple[object, Any]]:
    """Users with UUID-like ids (or odd ids) and attributes drawn from PALETTE for ``keys``."""
    rng = random.Random(seed)
    names = sorted(keys | {"country", "plan", "userId"})
    for i in range(n):
        uid: object = str(uuid.UUID(int=rng.getrandbits(128)))
        if i % 10 == 0:
            uid = rng.choice(PALETTE)
        if i % 17 == 0:
            yield uid, None
            continue
        yield uid, {k: rng.choice(PALETTE) for k in names if rng.random() < 0.8}


def assert_same(text: str, *, flag_key: str = FLAG, fast_expected: bool | None = None) -> None:
    """``text`` compiles to the same fields, errors and answers with and without the fast path."""
    full = outcome(text, fast=False, flag_key=flag_key)
    assert outcome(text, fast=True, flag_key=flag_key) == full
    built = compile_fast(text, flag_key=flag_key, user_key="userId", budget=None)
    if fast_expected is not None:
        assert (built is not None) is fast_expected, text
    if built is None or full[0] in ("RuleError", "OverBudget"):
        assert built is None  # an error is always the full path's to raise
        return
    slow = compile_rule(text, flag_key=flag_key, fast=False)
    assert built[1:] == (slow.has_split, slow.context_keys, slow.bare_split, slow.cost)
    for user_id, attributes in population(slow.context_keys):
        assert built[0](user_id, attributes) is slow.test(user_id, attributes), (
            user_id,
            attributes,
        )


# --- the text fast path -------------------------------------------------------------------

COMMON = [
    S2_RULE,
    S3_RULE,
    *S5_RULES,
    '(eq $plan "pro")',
    "(eq $n 65)",
    "(gte $tier 3)",
    "(lt $score -1.25)",
    '(ends_with $email "@corp3.example")',
    '(begins_with $userId "test-")',
    '(contains $tags "beta")',
    '(in $country ["US", "CA",])',
    "(in $n [1, 2.5, -3])",
    "(in $k [])",
    '(exists key::"beta")',
    '(split pct::12.5 by::$userId seed::"2025.01.01")',
    '(split seed::"s" by::$accountId pct::0.001)',
    "(split by :: $userId  pct ::100)",
    "(split pct::0 by::$userId)",
    '(or (ends_with $email "@corp3.example") (gte $tier 3))',
    '(not (eq $plan "free"))',
    '(and (eq $plan "pro"))',
    '\n\t( and\f(in $country\v["US"] )\r\n(eq $plan"pro")(split pct::25 by::$userId) )  ',
    '(or (and (eq $group "Tier1") (split by::$userId pct::1 seed::"2025.01.01"))'
    ' (and (eq $group "Tier2") (split by::$userId pct::7 seed::"2025.01.01")))',
    '(eq $name "é ☃ 😀 \u00a0\x7f")',
    "(not " * (MAX_DEPTH - 1) + '(eq $k "v")' + ")" * (MAX_DEPTH - 1),
]


@pytest.mark.parametrize("text", COMMON)
def test_the_fast_path_builds_the_common_shapes_as_the_compiler_does(text: str) -> None:
    """Each common shape is built by ``_rules.fast``, with the compiler's fields and answers."""
    assert_same(text, fast_expected=True)


NEAR_MISSES = [
    "",
    "   ",
    "(eq $k 05)",
    "(eq $k -05)",
    "(eq $k 1_000)",
    "(eq $k 1e3)",
    "(eq $k 1.)",
    "(eq $k .5)",
    "(eq $k +1)",
    "(eq $k 2024-01)",
    "(gte $k 2024-01-01T10:00Z)",
    "(eq $k 9223372036854775807)",
    "(eq $k 9223372036854775808)",
    "(eq $k true)",
    "(eq $k null)",
    '(eq $k "a\\nb")',
    '(eq $k "\\u00e9")',
    '(eq $k "\\ud83d\\ude00")',
    '(eq $k "\ud800")',
    '(eq $k "a\tb")',
    '(eq $k "open)',
    '(eq "v" $k)',
    "(eq $a $b)",
    "(eq $k)",
    '(eq $k "a" "b")',
    '(eq$k "v")',
    '(eq $k\u00a0"v")',
    '(eq $k "v")\x1c',
    '(eq $k "v") x',
    '(eq $k "v"))',
    '(eq $k-1 "v")',
    "(eq $k 1\u00a0)",
    "(ends_with $k 5)",
    '(in $k "US")',
    '(in $k ["a" "b"])',
    "(in $k [,])",
    '(in $k ["a",,"b"])',
    "(in $k [$j])",
    '(in "US" $k)',
    "(split pct::101 by::$userId)",
    "(split pct::-1 by::$userId)",
    "(split pct::12.3456 by::$userId)",
    "(split pct::10 pct::20 by::$userId)",
    '(split pct::10 by::$userId seed::"a" seed::"b")',
    "(split pct::10)",
    '(split by::$userId seed::"s")',
    "(split pct::$p by::$userId)",
    '(split pct::"10" by::$userId)',
    '(split pct::10 by::"userId")',
    "(split pct::10 by::$userId seed::5)",
    "(split pct::10 by::$userId extra::1)",
    "(split pct::10by::$userId)",
    "(split pct::by::10 by::$userId)",
    '(matches in::$email pattern::"^a")',
    "(and)",
    "(or)",
    "(not)",
    '(not (eq $a "1") (eq $b "2"))',
    "(and $beta)",
    "(and true)",
    '(and (eq $a "1") $b)',
    "(andx (eq $a 1))",
    "(nope $a 1)",
    '(and (eq $a "1")',
    '(and (eq $a "1")))',
    '(eq $k "v") (eq $k "w")',
    "(not " * MAX_DEPTH + '(eq $k "v")' + ")" * MAX_DEPTH,
    '(eq $k "' + "x" * MAX_RULE_CHARS + '")',
    "// (eq $k 1)",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_the_fast_path_leaves_everything_else_to_the_parser(text: str) -> None:
    """Near misses (escapes, odd numbers, timestamps, Unicode spaces, wrong arguments,
    duplicates, bad pct, depth, length...) are not built fast; the full path decides them."""
    assert_same(text, fast_expected=False)


def test_a_flag_key_that_is_not_text_is_left_to_the_full_path() -> None:
    """An unseeded split hashes the flag key; one with a lone surrogate is the parser's error."""
    assert_same("(split pct::10 by::$userId)", flag_key="bad\udc80", fast_expected=False)
    assert_same('(split pct::10 by::$userId seed::"s")', flag_key="bad\udc80", fast_expected=True)


def test_over_budget_is_raised_as_by_the_full_path() -> None:
    """A rule over its budget: the fast path declines and OverBudget comes from the compiler."""
    for budget in range(5):
        full = outcome(S3_RULE, fast=False, budget=budget)
        assert outcome(S3_RULE, fast=True, budget=budget) == full
        built = compile_fast(S3_RULE, flag_key=FLAG, user_key="userId", budget=budget)
        assert (built is None) is (full[0] == "OverBudget")
    assert outcome(S3_RULE, fast=True, budget=3)[0] == "OverBudget"
    assert outcome('(contains $tags "x")', fast=True, budget=100) == (
        "OverBudget",
        101,
        0,
    )


def test_the_user_key_is_the_one_the_load_names() -> None:
    """``$userId`` reads the user id only when userId is the user key, on both paths."""
    text = '(and (eq $accountId "a1") (split pct::50 by::$accountId))'
    fast = compile_fast(text, flag_key=FLAG, user_key="accountId", budget=None)
    slow = compile_rule(text, flag_key=FLAG, user_key="accountId", fast=False)
    assert fast is not None
    assert fast[3] is None and slow.bare_split is None
    for user_id in ("a1", "a2", None):
        for attributes in (None, {"accountId": "a1"}, {"accountId": "zz"}):
            assert fast[0](user_id, attributes) is slow.test(user_id, attributes)
    assert fast[0]("a1", None) is True  # the user id is the account id here


def corpus() -> list[str]:
    """Every string that looks like a rule in the tests, the benchmarks and the examples."""
    found: dict[str, None] = {}
    for folder in ("tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                    if text.lstrip().startswith("(") and len(text) < 2000:
                        found[text] = None
    return list(found)


def test_every_rule_in_the_corpus_compiles_the_same_both_ways() -> None:
    """Each rule-like string of the repository's tests and benchmarks (and the benchmark
    document's 3,000 rules): the same fields or error, and the same answers over a population."""
    texts = corpus()
    assert len(texts) > 300
    built = 0
    for text in texts:
        assert_same(text)
        built += compile_fast(text, flag_key=FLAG, user_key="userId", budget=None) is not None
    assert built > 100  # the fast path is exercised, not only declined
    doc = benchmark_document(40)
    for key, values in doc["values"].items():
        for variant in values["_variants"]:
            if "rule" in variant:
                assert_same(variant["rule"], flag_key=key, fast_expected=True)


# --- fused closures -------------------------------------------------------------------------


def frames(test: Callable[[object, Any], bool], user_id: object, attributes: Any) -> list[str]:
    """The Python functions one evaluation enters (C functions such as mmh3 are not counted)."""
    entered: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            entered.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        test(user_id, attributes)
    finally:
        sys.setprofile(None)
    return entered


S3_LEAVES = [
    member_check("country", False, ("US", "CA")),
    compare_check("eq", "plan", False, "pro"),
    split_leaf("userId", True, seed_of("s3"), hash_threshold(25)),
]


def test_s3_evaluates_in_one_python_frame() -> None:
    """S3 (in, eq, split) is one closure for str values; its tree of closures is six frames."""
    rule = compile_rule(S3_RULE, flag_key="s3")
    full = compile_rule(S3_RULE, flag_key="s3", fast=False)
    tree = all_of([pred for pred, _ in S3_LEAVES])
    user = ("0f8fad5b-d9cb-469f-a165-70867728950e", {"country": "US", "plan": "pro"})
    assert frames(rule.test, *user) == ["fused"]
    assert frames(full.test, *user) == ["fused"]  # the compiler fuses it too
    assert frames(tree, *user) == ["and_n", "test", "in_strings", "test", "eq_text", "split_user"]
    assert conjunction(*map(list, zip(*S3_LEAVES, strict=True)))(*user) is tree(*user)
    # a value the inline test cannot decide goes to the leaf's own predicate, as the tree does
    assert frames(rule.test, user[0], {"country": Text("US"), "plan": "pro"}) == [
        "fused",
        "in_strings",
        "as_text",
    ]
    assert frames(rule.test, user[0], {"country": "GB", "plan": "pro"}) == ["fused"]
    assert rule.test(user[0], None) is False
    assert frames(compile_rule('(eq $plan "pro")', flag_key=FLAG).test, None, {"plan": "x"}) == [
        "fused"
    ]
    # a list of user ids, asked without attributes: the user id is read inline, too
    staff = compile_rule('(in $userId ["u1", "u2"])', flag_key=FLAG).test
    assert frames(staff, "u1", None) == ["fused_user"]
    assert staff("u1", None) is True and staff("u3", {"userId": "u1"}) is False
    assert staff(None, {"userId": "u2"}) is True


FUSED_SHAPES = {
    '(and (eq $plan "pro") (split pct::50 by::$userId))': "fused_n",
    '(and (in $a ["1"]) (eq $b "2") (eq $c "3"))': "fused_n",
    '(and (in $a ["1"]) (eq $b "2") (eq $c "3") (split pct::50 by::$d seed::"s"))': "fused_n",
    '(and (eq $b "2") (eq $c "3"))': "fused_n",
    '(and (eq $b "2"))': "fused",
    '(in $country ["US", "CA"])': "fused",
    # the tree: a number, a user-key check, a split not last, other operands
    '(and (gt $n 1) (eq $plan "pro"))': "and2",
    '(and (in $userId ["u1"]) (eq $plan "pro"))': "and2",
    '(and (split pct::50 by::$userId) (eq $plan "pro"))': "and2",
    '(and (eq $plan "pro") (or (eq $a "1") (eq $b "2")))': "and2",
    '(and (eq $plan "pro") (split pct::0 by::$userId))': "and2",
    '(and (eq $a "1") (split pct::5 by::$u) (split pct::5 by::$v))': "and_n",
    "(gt $n 1)": "test",
}


@pytest.mark.parametrize(("text", "name"), FUSED_SHAPES.items())
def test_which_shapes_are_fused(text: str, name: str) -> None:
    """String checks of attributes, optionally ending in a split, are one closure; any other
    ``and`` keeps the tree, and answers as it does."""
    rule = compile_rule(text, flag_key=FLAG)
    assert rule.test.__name__ == name
    assert_same(text)


def test_compiled_rule_fields_are_unchanged_by_fusing() -> None:
    """cost, has_split, context_keys and bare_split count the same operators as before."""
    assert compile_rule(S3_RULE, flag_key="s3") == CompiledRule(
        S3_RULE, print, True, frozenset({"country", "plan", "userId"}), None, 4
    )


# --- the build --------------------------------------------------------------------------------


def test_build_snapshot_pauses_the_cyclic_collector_and_restores_it() -> None:
    """No collection runs while flags compile; the collector is on again afterwards, still off
    if the caller had turned it off, and on again after a build that fails."""
    specs = load_document(benchmark_document(300))
    collections: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)

    assert gc.isenabled()
    gc.callbacks.append(seen)
    try:
        build_snapshot(specs, version=None)
    finally:
        gc.callbacks.remove(seen)
    # without the pause, 300 flags see a hundred collections; with it, at most the one that the
    # build's allocations trigger as soon as the collector is back on
    assert collections.count("start") <= 1
    assert gc.isenabled()

    gc.disable()
    try:
        build_snapshot(specs, version=None)
        assert not gc.isenabled()
    finally:
        gc.enable()

    bad = load_document({"version": "1", "flags": {"f": {}}, "values": {"f": {"_variants": [
        {"name": "a", "enabled": True, "rule": "(eq $k 05)"}, {"name": "b", "enabled": False}]}}})  # fmt: skip
    with pytest.raises(RuleError):
        build_snapshot(bad, version=None)
    assert gc.isenabled()
