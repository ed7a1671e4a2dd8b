"""Fuzzing every parser and the evaluation API (issue 9.1).

Properties:

* whatever arrives (random bytes, random JSON-shaped values, mutated valid documents, rule text
  built from the grammar's tokens, random Ion text and mutated binary Ion), loading raises
  nothing but flagkit's own :class:`~flagkit.FlagkitError`, and no example runs past the
  deadline;
* a snapshot built from a random *valid* document, evaluated through ``Flags`` with any Python
  values as user id and attributes, never raises and never needs its catch-all (no
  ``ErrorCode.GENERAL``): plain data cannot make a compiled rule raise;
* random ``flagkit-*`` settings (ramp schedules, start instants, alarm names, policies) load or
  are refused with a DocumentError, and what loads evaluates at any instant without raising.

CI runs a fixed, derandomized profile (about 15 s). For a longer, random run:
``FLAGKIT_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/test_fuzz.py -p no:cacheprovider --timeout=1800``
(the per-test timeout must grow with the examples; a hang still ends in a failure).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from flagkit import DocumentError, ErrorCode, FlagkitError, Flags, RuleError, StaticSource
from flagkit._document.appconfig import load_document, parse_json
from flagkit._document.ion import load_ion
from flagkit._rules.bucketing import hash_threshold, seed_of
from flagkit._rules.closures import all_of, text_value
from flagkit._rules.compile import OverBudget, compile_rule
from flagkit._rules.fast import compile_fast
from flagkit._rules.fused import (
    check,
    compare_check,
    conjunction,
    member_check,
    single,
    split_leaf,
)
from flagkit._rules.parse import parse
from flagkit._rules.patterns import compile_pattern
from flagkit._snapshot import snapshot_from_bytes

simpleion = pytest.importorskip("amazon.ion.simpleion")

_RANDOM_RUN = int(os.environ.get("FLAGKIT_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> Callable[[Any], Any]:
    """The fixed CI profile: derandomized, ``examples`` examples, a 2 s deadline per example.

    too_slow / data_too_large: the strategies build whole documents on purpose (large draws
    are the point), so hypothesis' generation-speed heuristics do not apply here.
    """
    return settings(
        max_examples=_RANDOM_RUN or examples,
        deadline=timedelta(seconds=2),
        derandomize=not _RANDOM_RUN,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Imports and first compilations happen here, not inside the first timed example.
compile_pattern("warm-up")
load_ion("'w'::'''{\"enabled\": true}'''")

CONTENT_TYPES = [
    "application/json",
    "application/ion",
    "application/vnd.aws-lambda-powertools.feature-flags+json",
]
JSON_FORMS = ["application/json", "application/vnd.aws-lambda-powertools.feature-flags+json"]


def loads_or_refuses(body: bytes | str, content_type: str = "application/json") -> None:
    """The property: the whole load path raises FlagkitError or nothing."""
    try:
        snapshot_from_bytes(body, content_type=content_type)
    except FlagkitError:
        pass


# --- valid seeds -----------------------------------------------------------------------------


def constrained(kind: str, **more: Any) -> dict[str, Any]:
    return {"constraints": {"type": kind, **more}}


def variant(
    name: str, rule: str | None = None, *, on: bool = True, **values: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "enabled": on, "attributeValues": values}
    return out if rule is None else {**out, "rule": rule}


STORED: dict[str, Any] = {  # every constraint type, every operator family, a deprecation
    "version": "1",
    "flags": {
        "pricing": {
            "name": "Pricing",
            "attributes": {
                "limit": constrained("number", minimum=1, maximum=100, required=True),
                "plan": constrained("string", enum=["free", "pro"]),
                "sku": constrained("string", pattern="^[A-Z]{3}-[0-9]+$"),
                "zones": constrained("array", elements={"type": "string", "pattern": "^[a-z]{2}$"}),
                "trial": constrained("boolean"),
            },
        },
        "tiered": {"attributes": {"color": constrained("string")}, "_deprecation": {"status": "planned"}},
        "off": {"name": "Off"},
    },
    "values": {
        "pricing": {"enabled": True, "limit": 10, "plan": "pro", "sku": "ABC-1", "zones": ["eu"], "trial": False},
        "tiered": {
            "_variants": [
                variant("qa", '(or (ends_with $email "@qa.example") (matches in::$email pattern::"^t[0-9]+@"))', color="green"),
                variant("new", '(and (gte $signup 2024-01-01T) (in $country ["DE", "FR", 49]))', color="blue"),
                variant("split", '(split pct::12.5 by::$userId seed::"s")'),
                variant("default", on=False),
            ]
        },
    },
}  # fmt: skip
DATA_VIEW: dict[str, Any] = {
    "background_worker": {"enabled": True, "num_threads": 4, "queue_name": "MyWorkQueue"},
    "ratio": {"enabled": False, "r": 0.25, "tags": ["a", "b"], "ns": [1, 2.5]},
}
ION = (
    "'tiered_release'::[\n"
    '  [ (or (and (eq $group "Tier1") (split by::$userId pct::1 seed::"2025.01.01"))\n'
    '        (matches in::$email pattern::"^a.*z$")),\n'
    '    \'\'\'{"_variant": "Show", "enabled": true, "color": "green"}\'\'\' ],\n'
    "  [ (gte $signup 2024-01-01T), '''{\"_variant\": \"New\", \"enabled\": true}''' ],\n"
    "  '''{\"_variant\": \"Hide\", \"enabled\": false}''' ]\n"
    "'button_color'::'''{\"enabled\": true, \"color\": \"orange\"}'''\n"
)
POWERTOOLS: dict[str, Any] = {
    "premium": {
        "default": False,
        "rules": {
            "tier": {
                "when_match": True,
                "conditions": [{"action": "EQUALS", "key": "tier", "value": "premium"}],
            }
        },
    }
}
for _seed, _type in [
    (STORED, "application/json"),
    (DATA_VIEW, "application/json"),
    (ION, "application/ion"),
    (POWERTOOLS, JSON_FORMS[1]),
]:  # the seeds are valid, so mutations start from documents that reach every stage
    snapshot_from_bytes(_seed if isinstance(_seed, str) else json.dumps(_seed), content_type=_type)

_ion_values = simpleion.loads(ION, single_value=False)
simpleion.c_ext = False  # the pure-Python writer (ion-c's writer crashes on some values)
try:
    ION_BINARY: bytes = simpleion.dumps(_ion_values, binary=True, sequence_as_stream=True)
finally:
    simpleion.c_ext = True
# ion-c (amazon-ion's C extension) loops for ever, holding the GIL, on this 108-byte mutation
# of a binary document: every thread of the process froze. flagkit refuses binary Ion before any
# reader runs since (tests/test_ion.py: AWS serves Ion text); the mutations below keep checking
# that no binary body gets past that refusal to a reader.
ION_C_HANG = bytes.fromhex(
    "e00100eaeea08183de9c87be998166826f72826571822478826774822474696e8224798167eef5818abef1be"
    "cacea4710bc6710c710d2101cc710e710f67800fe88154818a80cd71107111b852c10f52830281738ea27b22"
    "5f76617269616e74223a202261222c2022656e61"
)


# --- random bytes ------------------------------------------------------------------------------


@fuzz(300)
@given(body=st.binary(max_size=400), content_type=st.sampled_from(CONTENT_TYPES))
@example(body=ION_C_HANG, content_type="application/ion")
@example(body=b"\xe0\x01\x00\xea" + b"\xee" * 40, content_type="application/ion")
@example(body=b"\xef\xbb\xbf{}", content_type="application/json")
def test_random_bytes_only_raise_flagkit_errors(body: bytes, content_type: str) -> None:
    loads_or_refuses(body, content_type)


@fuzz(150)
@given(text=st.text(st.characters(codec=None, exclude_categories=()), max_size=200))
def test_random_text_only_raises_flagkit_errors(text: str) -> None:
    """A str body (lone surrogates included) through parse_json, the Ion loader and both."""
    for content_type in CONTENT_TYPES:
        loads_or_refuses(text, content_type)
    try:
        parse_json(text)
    except FlagkitError:
        pass


# --- random JSON-shaped values -----------------------------------------------------------------

FIELD_NAMES = [
    "version", "flags", "values", "enabled", "_variants", "name", "rule", "attributeValues",
    "attributes", "constraints", "type", "pattern", "enum", "minimum", "maximum", "required",
    "elements", "description", "_createdAt", "_updatedAt", "_deprecation", "status", "date",
    "_variant", "default", "rules", "when_match", "conditions", "action", "key", "value",
    "number", "string", "array", "boolean", "f", "g", "EQUALS", "IN", "SCHEDULE_BETWEEN_TIME_RANGE",
]  # fmt: skip
REGEX_ATOMS = [
    "a", "é", ".", "^", "$", "\\d", "\\w", "\\s", "\\pL", "[a-z]", "[^0-9]", "(a+)+", "(x|y)",
    "\\\\", "\\1", "(?=a)", "(?P<n>a)", "{2,3}", "*", "+?", "(", ")", "[", "\\Z", "\\z", "(?i)",
    "a{1001}", "[[:alpha:]]", "\\x{10FFFF}", "\\Q.*\\E", "(?<n>a)", "\x00", "\ud800",
]  # fmt: skip
regex_text = st.lists(st.sampled_from(REGEX_ATOMS), max_size=8).map("".join)
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and Infinity are written as such by json.dumps
    any_text,
    st.sampled_from(FIELD_NAMES),
    regex_text,
)


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=25,
    )


document_keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=6)
json_documents = json_values(document_keys)


@fuzz(300)
@given(value=json_documents, content_type=st.sampled_from(JSON_FORMS))
@example(value={"f": {"enabled": True, "n": float("inf")}}, content_type="application/json")
def test_random_json_values_only_raise_flagkit_errors(value: Any, content_type: str) -> None:
    loads_or_refuses(json.dumps(value), content_type)


@fuzz(300)
@given(
    flags=st.dictionaries(document_keys, json_documents, max_size=3),
    values=st.dictionaries(document_keys, json_documents, max_size=3),
)
@example(
    flags={"f": {"attributes": {"a": {"constraints": {"type": "array", "elements": {
        "type": "string", "pattern": "("}}}}}},
    values={"f": {"enabled": True, "a": ["x"]}},
)  # fmt: skip
def test_random_stored_documents_only_raise_flagkit_errors(flags: Any, values: Any) -> None:
    """Stored-form documents with junk in the right places reach validation's every branch.

    The explicit example is a regression: an array-element pattern was never compiled at
    load, so a broken one escaped as ``re.error`` from the value check.
    """
    document = {"version": "1", "flags": flags, "values": values}
    loads_or_refuses(json.dumps(document))
    try:
        load_document(document)
    except FlagkitError:
        pass


# --- mutated valid documents -------------------------------------------------------------------

JSON_TOKENS = [
    "{", "}", "[", "]", ",", ":", '"', "\\", "\\u", "\\ud800", "\\udc00\\ud800", "null", "true",
    "false", "NaN", "-Infinity", "1e999", "-0", "1.5", "9" * 30, '"version"', '"1"', '"flags"',
    '"values"', '"_variants"', '"rule"', '"enabled"', '"pattern"', '"(a+)+$"', '"(a)\\\\1"',
    '"(not (not (eq $x 1)))"', '"(matches in::$x pattern::\\"[\\")"', "\xff", "\x00", " ", "é",
]  # fmt: skip


def text_mutations(tokens: list[str], *, width: int, most: int) -> st.SearchStrategy[Any]:
    """Lists of (operation, where as a fraction of the length, width, token) for mutate()."""
    step = st.tuples(
        st.sampled_from(["replace", "insert", "delete", "duplicate", "truncate"]),
        st.floats(min_value=0, max_value=1),
        st.integers(min_value=1, max_value=width),
        st.sampled_from(tokens),
    )
    return st.lists(step, min_size=1, max_size=most)


mutations = text_mutations(JSON_TOKENS, width=12, most=6)


def mutate(text: str, steps: list[tuple[str, float, int, str]]) -> str:
    for op, where, width, token in steps:
        at = int(where * len(text))
        if op == "replace":
            text = text[:at] + token + text[at + width :]
        elif op == "insert":
            text = text[:at] + token + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + width :]
        elif op == "duplicate":
            text = text[:at] + text[at : at + width * 4] + text[at:]
        else:
            text = text[:at]
    return text


SEEDS = [
    (json.dumps(STORED), "application/json"),
    (json.dumps(DATA_VIEW), "application/json"),
    (ION, "application/ion"),
    (json.dumps(POWERTOOLS), JSON_FORMS[1]),
]


@fuzz(400)
@given(seed=st.sampled_from(SEEDS), steps=mutations)
def test_mutated_documents_only_raise_flagkit_errors(
    seed: tuple[str, str], steps: list[tuple[str, float, int, str]]
) -> None:
    text, content_type = seed
    mutated = mutate(text, steps)
    loads_or_refuses(mutated.encode("utf-8", "surrogatepass"), content_type)


def replace_at(document: Any, choices: list[int], replacement: Any) -> Any:
    """``document`` with the node that ``choices`` walk to replaced (a structural mutation)."""
    if not choices or not isinstance(document, (dict, list)) or not document:
        return replacement
    if isinstance(document, dict):
        key = list(document)[choices[0] % len(document)]
        return {**document, key: replace_at(document[key], choices[1:], replacement)}
    i = choices[0] % len(document)
    return [*document[:i], replace_at(document[i], choices[1:], replacement), *document[i + 1 :]]


@fuzz(400)
@given(
    seed=st.sampled_from([STORED, DATA_VIEW, POWERTOOLS]),
    paths=st.lists(
        st.tuples(st.lists(st.integers(0, 50), max_size=7), json_documents),
        min_size=1,
        max_size=3,
    ),
)
def test_structurally_mutated_documents_only_raise_flagkit_errors(
    seed: dict[str, Any], paths: list[tuple[list[int], Any]]
) -> None:
    """A valid document with a node or two (a rule, a constraint, a value...) replaced."""
    document: Any = seed
    for choices, replacement in paths:
        document = replace_at(document, choices, replacement)
    for content_type in JSON_FORMS:
        loads_or_refuses(json.dumps(document), content_type)


# --- rule text built from the grammar's tokens -------------------------------------------------

CONTEXT_KEYS = ["userId", "k", "country", "n", "tags", "when", "email"]


def rule_string(s: str) -> str:
    """``s`` as a rule string literal (Ion text escapes)."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


rule_texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
timestamps = st.sampled_from(
    ["2024T", "2024-01", "2024-01T", "2024-01-01", "2024-02-29T", "2024-01-01T10:00Z",
     "2012-03-04T05:06:07.123456789-08:00", "0001-01-01T00:00+23:59", "9999-12-31T23:59:59Z"]
)  # fmt: skip
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False).map(repr)
literals = st.one_of(
    rule_texts.map(rule_string),
    ints.map(str),
    floats,
    st.sampled_from(["true", "false"]),
    timestamps,
)
refs = st.sampled_from(CONTEXT_KEYS).map(lambda k: "$" + k)
patterns = st.lists(
    st.sampled_from(["a", "é", ".", "\\d", "[a-z]", "(a+)+", "(x|y)", "^", "$", "\\pL", "a*"]),
    max_size=6,
).map("".join)


def _compare(op: str, ref: str, lit: str, flip: bool) -> str:
    return f"({op} {lit} {ref})" if flip else f"({op} {ref} {lit})"


ordered_literals = st.one_of(ints.map(str), floats, timestamps)
leaf_rules = st.one_of(
    st.builds(_compare, st.just("eq"), refs, literals, st.booleans()),
    st.builds(_compare, st.sampled_from(["gt", "gte", "lt", "lte"]), refs, ordered_literals, st.booleans()),
    st.builds(lambda op, r, s: f"({op} {r} {s})", st.sampled_from(["begins_with", "ends_with"]), refs, rule_texts.map(rule_string)),
    st.builds(lambda r, lit: f"(contains {r} {lit})", refs, literals),
    st.builds(lambda r, items: f"(in {r} [{', '.join(items)}])", refs, st.lists(literals, max_size=4)),
    st.builds(lambda lit, r: f"(in {lit} {r})", literals, refs),
    st.builds(lambda r, p: f"(matches in::{r} pattern::{rule_string(p)})", refs, patterns),
    st.builds(lambda k: f'(exists key::"{k}")', st.sampled_from(CONTEXT_KEYS)),
    st.builds(
        lambda p, r, seed: f"(split pct::{p} by::{r}{seed})",
        st.sampled_from(["0", "0.001", "1", "12.5", "50", "99.999", "100"]) | st.integers(0, 100).map(str),
        refs,
        st.none().map(lambda _: "") | rule_texts.map(lambda s: " seed::" + rule_string(s)),
    ),
)  # fmt: skip


ONE_SPACE = st.just(" ")


def rules(
    depth: int,
    leaves: st.SearchStrategy[str] = leaf_rules,
    spaces: st.SearchStrategy[str] = ONE_SPACE,
    least: int = 1,
) -> st.SearchStrategy[str]:
    """Rules of ``leaves``, at most ``depth`` levels of and/or/not above them, each with at
    least ``least`` operands and ``spaces`` between them."""
    if depth == 0:
        return leaves
    inner = rules(depth - 1, leaves, spaces, least)
    return st.one_of(
        leaves,
        st.builds(
            lambda op, sp, xs: f"({op}{sp}{sp.join(xs)})",
            st.sampled_from(["and", "or"]),
            spaces,
            st.lists(inner, min_size=least, max_size=3),
        ),
        st.builds(lambda sp, x: f"(not{sp}{x})", spaces, inner),
    )


valid_rules = rules(3)
RULE_TOKENS = [
    "(", ")", "[", "]", ",", "::", " ", "\n", '"', "\\", "\\u00e9", "\\ud800", "$", "$k", "-",
    ".", "e", "_", "eq", "gt", "in", "not", "and", "or", "split", "matches", "exists",
    "contains", "pct::", "by::", "seed::", "pattern::", "key::", "in::", "1", "0", "101",
    "1.5", "1e999", "007", "1_000", "9223372036854775808", "true", "false", "null", "nan",
    "2024-01", "2024-02-30T", "2024-01-01T25:00Z", "T", "Z", '"(a)\\\\1"', '"(a+)+$"', "é",
    "\udc80", "'a'", "'''a'''", "/*", "//",
]  # fmt: skip
rule_soup = st.lists(st.sampled_from(RULE_TOKENS), max_size=30).map("".join)
rule_mutations = text_mutations(RULE_TOKENS, width=6, most=4)


class Shady:
    """A value whose every dunder a careless predicate might call raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = object.__hash__

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __iter__(self) -> Any:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class ShadyStr(str):
    def __str__(self) -> str:
        raise RuntimeError("str")

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encode")


class Colour(enum.Enum):
    RED = "red"


class Tier(enum.IntEnum):
    GOLD = 1


class BadTz(dt.tzinfo):
    def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
        raise RuntimeError("tz")

    def dst(self, d: dt.datetime | None) -> dt.timedelta:
        raise RuntimeError("tz")


weird_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "\udc80" * 3, "é", "٣", "a" * 40 + "!"]),
    st.sampled_from([64, 5000]).map(lambda n: "x" * n),
    st.sampled_from(["65", "-1.5e3", "1e999", "nan", "true", "2024-01-01T00:00Z", "9" * 70]),
)
wild_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([63, 64, 5000]).map(lambda e: 2**e),  # 2**5000: str() of it raises
    st.sampled_from([-1, 1]).map(lambda sign: sign * 10**5000),
    st.floats(),
    weird_text,
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(),
    st.sampled_from([decimal.Decimal("sNaN"), decimal.Decimal("-Infinity")]),
    st.fractions(),
    st.complex_numbers(),
    st.sampled_from([Colour.RED, Tier.GOLD]),
    st.builds(object),
    st.builds(dt.datetime, st.just(2024), st.just(1), st.just(1), tzinfo=st.builds(BadTz)),
    st.builds(Shady),
    st.builds(ShadyStr, weird_text),
)
wild_values = st.recursive(
    wild_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(st.integers() | weird_text, max_size=3),
        st.sets(st.integers() | weird_text, max_size=3),
        st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3),
    ),
    max_leaves=8,
)
contexts = st.none() | st.dictionaries(
    st.sampled_from(CONTEXT_KEYS) | st.text(max_size=4), wild_values, max_size=5
)


@fuzz(400)
@given(text=st.one_of(valid_rules, rule_soup, st.tuples(valid_rules, rule_mutations).map(
    lambda t: mutate(t[0], t[1]))))  # fmt: skip
@example(text='(matches in::$k pattern::"(a+)+$")')
@example(text='(matches in::$k pattern::"[[:alpha:]]")')  # re: a FutureWarning, an error here
@example(text="(" * 20_000)
@example(text="(not " * 40 + "(eq $k 1)" + ")" * 40)
def test_rule_text_only_raises_rule_errors(text: str) -> None:
    """parse and compile_rule refuse with RuleError (with a position inside the text)."""
    for step in (parse, lambda t: compile_rule(t, flag_key="f")):
        try:
            step(text)
        except RuleError as err:
            assert 0 <= err.position <= max(len(text), 16384)


@fuzz(300)
@given(text=valid_rules, user_id=wild_values, attributes=contexts)
@example(text='(matches in::$k pattern::"(a+)+$")', user_id=None, attributes={"k": "a" * 40 + "!"})
@example(text='(matches in::$k pattern::"^a.b$")', user_id=None, attributes={"k": "a\ud800b"})
@example(text='(eq $k "a")', user_id=None, attributes={"k": ShadyStr("a")})
@example(text="(split pct::50 by::$userId)", user_id="\udc80", attributes=None)
def test_valid_rules_compile_and_never_raise(
    text: str, user_id: object, attributes: dict[str, Any] | None
) -> None:
    """Rules built from the grammar compile; their closure answers a bool for any context."""
    rule = compile_rule(text, flag_key="f")
    assert type(rule.test(user_id, attributes)) is bool


# --- the fast paths: rule text straight to closures, and fused and-closures ----------------

SPACES = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", " \r\n ", "\f", "\v", "\u00a0", "\x1c"])
plain_texts = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters='"\\'), max_size=6
)
fast_literals = st.one_of(
    plain_texts.map(lambda s: f'"{s}"'),
    st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1).map(str),
    st.tuples(st.integers(-1000, 1000), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]:03d}"),
    # near misses: literals the fast path must leave to the parser (or read exactly as it does)
    st.sampled_from(
        ["05", "-05", "-0", "-0.0", "1_000", "1e3", "1.", ".5", "+1", "0x1F", "2024-01", "2024T",
         "2024-01-01T10:00Z", "9223372036854775807", "9223372036854775808", "99999999999999999999",
         "1234567890123456789", "0.1234567890123456789", '"a\\n"', '"\\u00e9"', '"\\ud83d\\ude00"',
         '"\\"', "true", "null", "nan", '"\u00a0"', "1\u00a0"]
    ),
)  # fmt: skip
fast_refs = st.sampled_from(["$userId", "$k", "$country", "$plan", "$n"])
pcts = st.sampled_from(["0", "0.001", "1", "12.5", "25", "50", "99.999", "100", "0.0001", "101"])


@st.composite
def fast_splits(draw: st.DrawFn) -> str:
    named = [f"pct::{draw(pcts)}", f"by::{draw(fast_refs)}"]
    if draw(st.booleans()):
        named.append(f"seed::{draw(plain_texts.map(lambda s: chr(34) + s + chr(34)))}")
    if draw(st.booleans()):  # a duplicate: refused by the full path, never built fast
        named.append(draw(st.sampled_from(named)))
    order = draw(st.permutations(named))
    return "(split" + "".join(draw(SPACES) + arg for arg in order) + ")"


fast_leaves = st.one_of(
    st.builds(
        lambda op, sp, ref, lit: f"({op}{sp}{ref} {lit})",
        st.sampled_from(["eq", "gt", "gte", "lt", "lte", "begins_with", "ends_with", "contains"]),
        SPACES,
        fast_refs,
        fast_literals,
    ),
    st.builds(
        lambda ref, items, comma, sp: f"(in {ref}{sp}[{sp}{', '.join(items)}{comma}{sp}])",
        fast_refs,
        st.lists(fast_literals, max_size=4),
        st.sampled_from(["", ","]),
        st.sampled_from(["", " ", "\n"]),
    ),
    fast_splits(),
    st.sampled_from(CONTEXT_KEYS).map(lambda k: f'(exists key::"{k}")'),
)


class Text(str, enum.Enum):  # a StrEnum on every Python flagkit supports
    US = "US"
    PRO = "pro"
    ONE = "1"


# leaves as fused.py's builders make them, over a few keys and literals that values will hit
FUSE_KEYS = ["userId", "country", "plan", "n"]
FUSE_TEXTS = ["US", "CA", "pro", "1", "é", "", "a\udfffb"]
fuse_values = st.one_of(
    st.sampled_from(FUSE_TEXTS),
    st.sampled_from(FUSE_TEXTS),
    st.sampled_from(FUSE_TEXTS),
    st.sampled_from(FUSE_TEXTS).map(ShadyStr),
    st.sampled_from(list(Text)),
    st.sampled_from([1, -1, 0, 2**64, 2**64 + 1, True, False, 1.0, float("nan"), None, b"US"]),
    wild_values,
)
fuse_contexts = st.none() | st.fixed_dictionaries(
    {}, optional=dict.fromkeys(FUSE_KEYS, fuse_values)
)


def _outcome(build: Callable[[], Any]) -> tuple[Any, ...]:
    """A compiled rule's fields, or the error it raised: what the two paths must agree on."""
    try:
        rule = build()
    except RuleError as exc:
        return ("RuleError", str(exc), exc.position)
    except OverBudget as exc:
        return ("OverBudget", exc.cost, exc.position)
    return (rule.text, rule.has_split, rule.context_keys, rule.bare_split, rule.cost, rule.tree)


@fuzz(400)
@given(
    text=st.one_of(
        rules(3, fast_leaves, SPACES, least=0),
        valid_rules,
        st.tuples(rules(2, fast_leaves, SPACES, least=0), rule_mutations).map(
            lambda t: mutate(t[0], t[1])
        ),
    ),
    flag_key=st.sampled_from(["f", "flag-0001", "é", "\udc80"]),
    user_key=st.sampled_from(["userId", "k"]),
    budget=st.none() | st.integers(min_value=0, max_value=300),
    calls=st.lists(
        st.tuples(wild_values, contexts) | st.tuples(st.none() | fuse_values, fuse_contexts),
        min_size=1,
        max_size=4,
    ),
)
@example(
    text='(and (in $country ["US","CA"]) (eq $plan "pro") (split pct::25 by::$userId))',
    flag_key="s3",
    user_key="userId",
    budget=None,
    calls=[("u1", {"country": Text.US, "plan": "pro"}), (7, {"country": "US", "plan": Text.PRO})],
)
def test_fast_path_builds_what_the_full_path_builds(
    text: str,
    flag_key: str,
    user_key: str,
    budget: int | None,
    calls: list[tuple[object, dict[str, Any] | None]],
) -> None:
    """Rule text compiles to the same fields, errors and answers with the fast path as without.

    ``_rules.fast`` builds what it recognises and leaves the rest (and every error, every
    OverBudget) to the parser; compile_rule(fast=False) is the parser and compiler alone.
    """
    full = _outcome(lambda: compile_rule(text, flag_key=flag_key, user_key=user_key, budget=budget, fast=False))  # fmt: skip
    assert _outcome(lambda: compile_rule(text, flag_key=flag_key, user_key=user_key, budget=budget)) == full  # fmt: skip
    fast = compile_fast(text, flag_key=flag_key, user_key=user_key, budget=budget)
    event(
        "built fast" if fast is not None else f"full path ({full[0] if len(full) == 3 else 'ok'})"
    )
    if fast is None:
        return
    slow = compile_rule(text, flag_key=flag_key, user_key=user_key, budget=budget, fast=False)
    assert fast[1:] == (slow.has_split, slow.context_keys, slow.bare_split, slow.cost)
    for user_id, attributes in calls:
        assert fast[0](user_id, attributes) is slow.test(user_id, attributes)


@st.composite
def built_leaves(draw: st.DrawFn) -> Any:
    key = draw(st.sampled_from(FUSE_KEYS))
    is_user = key == "userId"
    kind = draw(st.sampled_from(["in", "eq", "order", "text", "split", "other"]))
    if kind == "in":
        items = draw(st.lists(st.sampled_from([*FUSE_TEXTS, 1, 2.5, True]), max_size=4))
        return member_check(key, is_user, tuple(items))
    if kind == "eq":
        return compare_check("eq", key, is_user, draw(st.sampled_from([*FUSE_TEXTS, 1, 1.5, True])))
    if kind == "order":
        return compare_check(
            draw(st.sampled_from(["gt", "lte"])), key, is_user, draw(st.sampled_from([0, 1.5, "m"]))
        )
    if kind == "text":
        return check(key, is_user, text_value(str.startswith, draw(st.sampled_from(FUSE_TEXTS))))
    if kind == "split":
        pct = draw(st.sampled_from([0, 0.001, 25, 50, 100]))
        return split_leaf(
            key, is_user, seed_of(draw(st.sampled_from(["s3", "x"]))), hash_threshold(pct)
        )
    pred = compile_rule(draw(st.sampled_from(['(or (eq $plan "pro") (exists key::"n"))', "(not (split pct::50 by::$userId))", "(and $n (gt $n 0))"])), flag_key="f").test  # fmt: skip
    return pred, pred  # an operand the fused closure calls as it is


@st.composite
def fusable_leaves(draw: st.DrawFn) -> list[Any]:
    """String checks of attributes, maybe ending in a split: the shapes that are fused."""
    out = []
    for key in draw(st.lists(st.sampled_from(FUSE_KEYS[1:]), min_size=1, max_size=5)):
        texts = draw(st.lists(st.sampled_from(FUSE_TEXTS), min_size=1, max_size=3))
        out.append(member_check(key, False, tuple(texts)) if len(texts) > 1 else compare_check("eq", key, False, texts[0]))  # fmt: skip
    if draw(st.booleans()):
        key = draw(st.sampled_from(FUSE_KEYS))
        pct = draw(st.sampled_from([0.001, 25, 50, 100]))
        out.append(split_leaf(key, key == "userId", seed_of("s3"), hash_threshold(pct)))
    return out


@fuzz(400)
@given(
    built=st.lists(built_leaves(), min_size=1, max_size=6) | fusable_leaves(),
    calls=st.lists(st.tuples(st.none() | fuse_values, fuse_contexts), min_size=1, max_size=10),
)
@example(
    built=[
        member_check("country", False, ("US", "CA")),
        compare_check("eq", "plan", False, "pro"),
        split_leaf("userId", True, seed_of("s3"), hash_threshold(25)),
    ],
    calls=[
        ("u", {"country": Text.US, "plan": ShadyStr("pro")}),
        (1, {"country": "US", "plan": "pro"}),
        ("é\udfff", {"country": "CA", "plan": "pro"}),
        (None, {"country": "CA", "plan": "pro", "userId": 5}),
        ("u", None),
    ],
)
def test_fused_and_answers_exactly_as_the_closure_tree(
    built: list[tuple[Any, Any]], calls: list[tuple[object, dict[str, Any] | None]]
) -> None:
    """An ``and`` fused into one frame answers what all_of over the leaves' closures answers,
    value for value (``is``), for hostile values: ints as text, subclasses, StrEnum, floats,
    non-ASCII and lone surrogates, bytes, None, missing keys, attributes None, user id None."""
    preds = [pred for pred, _ in built]
    leaves = [leaf for _, leaf in built]
    fused = conjunction(preds, leaves)
    tree = all_of(preds)
    singles = [single(pred, leaf) for pred, leaf in built]
    for user_id, attributes in calls:
        assert fused(user_id, attributes) is tree(user_id, attributes)
        for one, pred in zip(singles, preds, strict=True):
            assert one(user_id, attributes) is pred(user_id, attributes)


# --- Ion -------------------------------------------------------------------------------------

ion_symbols = st.sampled_from(
    ["eq", "gt", "and", "or", "not", "in", "split", "matches", "exists", "$k", "$userId",
     "'a b'", "'$x'", "$0", "'''", "pct", "by", "null", "nan", "a"]
)  # fmt: skip
ion_scalars = st.one_of(
    ion_symbols,
    st.sampled_from(
        ["null", "null.int", "null.sexp", "null.list", "null.string", "null.symbol",
         "null.timestamp", "null.bool", "null.float", "null.decimal", "null.struct", "null.blob",
         "true", "false", "0", "-0", "0x1F", "0b101", "1_000", "9" * 25, "1.5", "1d3", "1d-999",
         "1e308", "-1e-320", "+inf", "-inf", "nan", "2024T", "2024-01-01T10:00Z",
         "2024-01-01T10:00:00.123456789123-00:00", "0001T", "{{aGk=}}", '{{"clob"}}']
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    rule_texts.map(rule_string),
)  # fmt: skip
json_content = st.one_of(
    st.sampled_from(
        ['{"enabled": true}', '{"_variant": "a", "enabled": false, "c": 1}', "[]", "{",
         '{"enabled": true, "enabled": false}', '{"_variant": 1, "enabled": true}',
         '{"_variant": "a", "enabled": true, "x": NaN}']
    ),
    json_values(st.sampled_from(["enabled", "_variant", "color", "x"])).map(json.dumps),
).map(lambda s: "'''" + s.replace("\\", "\\\\").replace("'''", "") + "'''")  # fmt: skip
ion_values = st.recursive(
    ion_scalars | json_content,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, max_size=4).map(lambda xs: "(" + " ".join(xs) + ")"),
        st.lists(st.tuples(ion_symbols, inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
        st.tuples(ion_symbols, inner).map(lambda t: f"{t[0]}::{t[1]}"),
    ),
    max_leaves=15,
)
flag_names = st.sampled_from(["'f'", "'g'", "'F'", "f", "'f'::'g'", "$0", "'tiered_release'"])
ion_variant = st.tuples(valid_rules | ion_values, json_content).map(lambda t: f"[ {t[0]}, {t[1]} ]")
ion_documents = st.lists(
    st.tuples(
        flag_names,
        st.one_of(
            json_content,
            ion_values,
            st.tuples(st.lists(ion_variant, max_size=3), json_content).map(
                lambda t: "[ " + "".join(v + ", " for v in t[0]) + t[1] + " ]"
            ),
        ),
    ),
    max_size=3,
).map(lambda flags: "\n".join(f"{name}::{value}" for name, value in flags))


ION_SHOW = "'''{\"_variant\": \"a\", \"enabled\": true}'''"
ION_HIDE = "'''{\"_variant\": \"b\", \"enabled\": false}'''"


def ion_flag(rule: str) -> str:
    return f"'f'::[ [ {rule}, {ION_SHOW} ], {ION_HIDE} ]"


@fuzz(400)
@given(text=ion_documents)
@example(text=ion_flag("null.sexp"))  # escaped as TypeError before
@example(text=ion_flag("(eq $k null.int)"))  # escaped as TypeError before
@example(text=ion_flag("(eq $k null.string)"))  # rendered as a string before
@example(text=ion_flag("(" * 500 + ")" * 500))  # escaped as RecursionError before
@example(text=ion_flag("(in $k " + "[" * 500 + "]" * 500 + ")"))  # ditto
def test_random_ion_text_only_raises_flagkit_errors(text: str) -> None:
    """Ion text shaped like the retrieval form, with random rules, values and content."""
    loads_or_refuses(text, "application/ion")
    loads_or_refuses(text.encode("utf-8", "surrogatepass"), "application/ion")


@pytest.mark.parametrize(
    "null", ["null.sexp", "null.list", "null.int", "null.string", "null.symbol"]
)
def test_ion_typed_nulls_in_rules_are_refused(null: str) -> None:
    """Found by the Ion fuzzer: a typed null in a rule escaped as TypeError (null.sexp,
    null.int) or was rendered as the repr of amazon-ion's null object (null.string)."""
    for rule in (null, f"(eq $k {null})", f"({null} $k 1)"):
        with pytest.raises(DocumentError) as info:
            load_ion(ion_flag(rule))
        assert info.value.message == "null is not a supported value in a rule"
        assert (info.value.flag, info.value.field) == ("f", "[0].rule")


binary_mutations = st.lists(
    st.tuples(
        st.sampled_from(["set", "insert", "delete", "truncate"]),
        st.integers(min_value=0, max_value=len(ION_BINARY) - 1),
        st.integers(min_value=0, max_value=255),
    ),
    min_size=1,
    max_size=5,
)


@fuzz(400)
@given(steps=binary_mutations)
def test_mutated_binary_ion_only_raises_flagkit_errors(steps: list[tuple[str, int, int]]) -> None:
    """Byte-level mutations of a valid binary Ion document (the found ion-c hang's family)."""
    body = bytearray(ION_BINARY)
    for op, where, byte in steps:
        at = min(where, len(body))
        if op == "set" and at < len(body):
            body[at] = byte
        elif op == "insert":
            body.insert(at, byte)
        elif op == "delete":
            del body[at : at + 1]
        else:
            del body[max(at, 4) :]
    loads_or_refuses(bytes(body), "application/ion")


def test_ion_c_hang_example_is_refused_in_a_subprocess() -> None:
    """The body that froze ion-c: refused promptly, checked in a child so a regression fails
    (by timeout) instead of freezing this process with the GIL held."""
    import subprocess
    import sys

    code = (
        "import sys; from flagkit._document.ion import load_ion; from flagkit import DocumentError\n"
        "try:\n    load_ion(bytes.fromhex(sys.argv[1]))\n"
        "except DocumentError as e:\n    print(e.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, ION_C_HANG.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "binary Ion is not supported"


# --- evaluation through the public API -------------------------------------------------------

flag_keys = st.from_regex(r"[a-z][a-zA-Z0-9_-]{0,8}", fullmatch=True)
# AWS's customerDefinedName is ^[^\n]{1,64}$; an attribute value array is never empty
variant_names = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\n"), min_size=1, max_size=8
)
attr_names = st.sampled_from(["color", "limit", "ratio", "on", "tags", "ns"])
attr_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    st.lists(st.text(max_size=5), min_size=1, max_size=3),
    st.lists(st.integers(-5, 5) | st.floats(-1, 1), min_size=1, max_size=3),
)


@st.composite
def multi_variant_flags(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(variant_names, min_size=1, max_size=4, unique=True))
    variants = []
    for i, name in enumerate(names):
        variant: dict[str, Any] = {
            "name": name,
            "enabled": draw(st.booleans()),
            "attributeValues": draw(st.dictionaries(attr_names, attr_values, max_size=3)),
        }
        if i < len(names) - 1:
            variant["rule"] = draw(valid_rules)
        variants.append(variant)
    return {"_variants": variants}


basic_flags = st.builds(
    lambda enabled, values: {"enabled": enabled, **values},
    st.booleans(),
    st.dictionaries(attr_names, attr_values, max_size=3),
)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(flag_keys, min_size=1, max_size=4, unique=True))
    if draw(st.booleans()):  # the data view
        return {key: draw(basic_flags) for key in keys}
    values = {key: draw(multi_variant_flags() | basic_flags) for key in keys}
    flags = {
        key: {"name": key, "attributes": {a: {} for a in ["color", "limit", "ratio", "on", "tags", "ns"]}}
        for key in keys
    }  # fmt: skip
    return {"version": "1", "flags": flags, "values": values}


KINDS = ["str", "int", "float", "bool", "json"]
ALLOWED_CODES = {None, ErrorCode.TYPE_MISMATCH, ErrorCode.FLAG_NOT_FOUND}


@fuzz(200)
@given(
    document=valid_documents(),
    calls=st.lists(st.tuples(wild_values, contexts), min_size=1, max_size=4),
    odd_attributes=st.sampled_from([[1, 2], "k=v", 5, Shady(), {"k"}]),
)
def test_evaluating_a_random_valid_document_never_raises(
    document: dict[str, Any],
    calls: list[tuple[object, dict[str, Any] | None]],
    odd_attributes: object,
) -> None:
    """enabled/variant/get_*/details answer for any user id and attributes, never raising.

    With a dict (or None) as attributes the answer is a real one: no ErrorCode.GENERAL (the
    client's catch-all), and enabled/variant agree with details.
    """
    flags = Flags(StaticSource(document), start=False)
    assert flags.refresh()
    view = flags.view()
    keys = [*document.get("flags", document), "missing-flag"]
    for user_id, attributes in calls:
        for client in (flags, view):
            for key in keys:
                on = client.enabled(key, user_id, attributes)
                assert type(on) is bool
                name = client.variant(key, user_id, attributes)
                details = client.details(key, user_id, attributes)
                if key == "missing-flag":
                    assert details.error_code is ErrorCode.FLAG_NOT_FOUND
                    continue
                assert details.error_code is None, details
                assert (details.value, details.variant) == (on, name)
                for attribute, kind in zip(
                    ["color", "limit", "ratio", "nope", "tags"], KINDS, strict=True
                ):
                    got = client.details(key, user_id, attributes, attribute=attribute, kind=kind)
                    assert got.error_code in ALLOWED_CODES, got
                client.get_str(key, "color", "d", user_id, attributes)
                client.get_int(key, "limit", 0, user_id, attributes)
                client.get_float(key, "ratio", 0.0, user_id, attributes)
                client.get_bool(key, "on", False, user_id, attributes)
                client.get_json(key, "tags", None, user_id, attributes)
            # attributes that are not a mapping: the default, or INVALID_CONTEXT, never a raise
            assert client.enabled(keys[0], user_id, odd_attributes, default=True) in (True, False)  # type: ignore[arg-type]
            client.variant(keys[0], user_id, odd_attributes)  # type: ignore[arg-type]
            odd = client.details(keys[0], user_id, odd_attributes)  # type: ignore[arg-type]
            assert odd.error_code in {ErrorCode.INVALID_CONTEXT, ErrorCode.GENERAL, None}
    flags.close()


def test_mapping_attributes_that_are_not_dicts_are_read_too() -> None:
    """A Mapping that is not a dict is copied once; the answer is the same as for the dict."""
    from types import MappingProxyType

    rules = [variant("a", '(matches in::$k pattern::"^a+$")'), variant("b", on=False)]
    document = {"version": "1", "flags": {"f": {}}, "values": {"f": {"_variants": rules}}}
    flags = Flags(StaticSource(document), start=False)
    assert flags.refresh()
    proxy: Mapping[str, Any] = MappingProxyType({"k": "aaa"})
    assert flags.enabled("f", None, proxy) is True
    assert flags.details("f", None, proxy).variant == "a"
    flags.close()


def test_fuzz_helpers_mutate_for_real() -> None:
    """The mutation helpers change documents (a fuzzer that mutates nothing proves nothing)."""
    text = json.dumps(STORED)
    assert mutate(text, [("delete", 0.0, 1, "")]) == text[1:]
    assert mutate(text, [("truncate", 0.5, 1, "")]) == text[: len(text) // 2]
    assert mutate(text, [("insert", 0.0, 1, "NaN")]) == "NaN" + text
    changed = replace_at(STORED, [1, 0], None)  # flags -> pricing
    assert changed["flags"]["pricing"] is None
    assert changed["values"] == STORED["values"]
    assert STORED["flags"]["pricing"] is not None  # the seed itself is untouched
    assert ION_BINARY.startswith(b"\xe0\x01\x00\xea")


# --- the progressive-delivery extension (flagkit-* settings) ----------------------------------

ROLLOUT_NAMES = [
    "flagkit-ramp",
    "flagkit-ramp-start",
    "flagkit-ramp-by",
    "flagkit-ramp-seed",
    "flagkit-alarms",
    "flagkit-alarm-clear",
    "flagkit-other",
]
ramp_texts = st.one_of(
    st.sampled_from(
        [
            "Canary10Percent5Minutes",
            "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
            "AllAtOnce",
            "Linear0PercentEvery1Minute",
            "Canary99Percent99999Hours",
            "1% 10m, 10% 30m, 100%",
            "0.001% 1s, 100%",
        ]
    ),
    st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=120).map(str),
            st.sampled_from(["", "s", "m", "h", "d", "1h30m", "0m", "999999d"]),
        ),
        min_size=1,
        max_size=5,
    ).map(lambda steps: ", ".join(f"{p}% {d}".strip() for p, d in steps)),
    st.text(max_size=40),
)
rollout_values = st.one_of(
    ramp_texts,
    st.sampled_from(
        [
            "2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00",
            "9999-12-31T23:59:59+14:00",
            "0001-01-01T00:00:00-12:00",
            "stay-off",
            "resume",
        ]
    ),
    st.lists(st.text(min_size=0, max_size=300), max_size=12),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


likely_ramps = st.fixed_dictionaries(
    {
        "flagkit-ramp": ramp_texts,
        "flagkit-ramp-start": st.datetimes(
            min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)
        ).map(lambda t: t.isoformat() + "Z"),
    }
)


@fuzz(300)
@given(
    ramp=st.none() | likely_ramps,
    extra=st.just({}) | st.dictionaries(st.sampled_from(ROLLOUT_NAMES), rollout_values, max_size=6),
    instants=st.lists(st.floats(min_value=-1e11, max_value=1e11), min_size=1, max_size=3),
    multi=st.booleans(),
)
def test_rollout_settings_only_raise_document_errors_and_never_break_evaluation(
    ramp: dict[str, Any] | None, extra: dict[str, Any], instants: list[float], multi: bool
) -> None:
    """Any flagkit-* values load or are refused with a DocumentError; what loads evaluates at
    any instant (ramps read the clock) without raising or needing the catch-all."""
    settings_ = {**extra, **(ramp or {})}
    if multi:
        values: dict[str, Any] = {
            "_variants": [
                {"name": "on", "enabled": True, "rule": "(split pct::50 by::$userId)"},
                {"name": "off", "enabled": False, "attributeValues": settings_},
            ]
        }
    else:
        values = {"enabled": True, **settings_}
    definitions = {name: {} for name in settings_}
    document = {
        "version": "1",
        "flags": {"f": {"name": "f", "attributes": definitions}},
        "values": {"f": values},
    }
    clock = [0.0]
    try:
        snap = snapshot_from_bytes(json.dumps(document), wall=lambda: clock[0])
    except DocumentError:
        event("refused")
        return
    event(
        "loaded"
        + (" with a ramp" if snap.flags["f"].rollout and snap.flags["f"].rollout.ramp else "")
    )
    flags = Flags(StaticSource(document), start=False, wall=lambda: clock[0])
    assert flags.refresh()
    assert len(snap.flags) == 1
    for instant in instants:
        clock[0] = instant
        for user in ("u1", None, 7, "\udcff"):
            details = flags.details("f", user)
            assert details.error_code is None, details
            assert flags.enabled("f", user) is details.value
        str(flags.explain("f", "u1"))
        flags.check_rollouts()
    flags.close()
