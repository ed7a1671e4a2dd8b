"""Bucketing for ``split``: determinism, uniformity, stickiness, independence, the AWS examples."""

from __future__ import annotations

import ast
import enum
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mmh3
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import RuleError
from flagkit._rules.bucketing import BUCKETS, bucket, hash_threshold, in_split, pct_units, seed_of
from flagkit._rules.compile import compile_rule

N = 100_000
IDS = [f"user-{i}" for i in range(N)]
# Chi-square critical value, 99 degrees of freedom, alpha = 0.001 (so a correct hash fails
# about once in a thousand *different* id sets; the ids here are fixed, so never flaky).
CHI2_99_CRIT_0_001 = 148.23

# Text the rule language can carry: valid Unicode (lone surrogates are covered in test_rules).
texts = st.text(st.characters(codec="utf-8"), max_size=24)
units = st.integers(min_value=0, max_value=BUCKETS)


def split_rule(pct: float, seed: str | None = None, flag: str = "my-flag") -> Callable[..., bool]:
    seed_arg = f" seed::{json.dumps(seed)}" if seed is not None else ""
    return compile_rule(f"(split pct::{pct} by::$userId{seed_arg})", flag_key=flag).test


def pct_of(u: int) -> float:
    """``u`` thousandths of a percent as a literal the rule language accepts."""
    return u // 1000 if u % 1000 == 0 else u / 1000


# --- the documented vectors ------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "bucketing.md"
_ROW = re.compile(
    r"^\| (?P<n>\d+) \| (?P<value>\".*\") \| (?P<seed>\".*\") \| (?P<seed_int>\d+) \| "
    r"(?P<h>\d+) \| (?P<bucket>\d+) \| (?P<pct>[\d.]+) \| (?P<units>\d+) \| (?P<t>\d+) \| "
    r"(?P<decision>in|out) \|$"
)


def doc_vectors() -> list[dict[str, str]]:
    return [
        m.groupdict() for line in DOC.read_text("utf-8").splitlines() if (m := _ROW.match(line))
    ]


def test_doc_has_the_promised_vectors() -> None:
    """>= 20 rows, with non-ASCII and empty input, fractional pct, 0 and 100, both decisions."""
    rows = doc_vectors()
    assert len(rows) >= 20
    values = [json.loads(r["value"]) for r in rows]
    assert "" in values
    assert any(not v.isascii() for v in values)
    pcts = {r["pct"] for r in rows}
    assert {"0", "100"} <= pcts
    assert any("." in p for p in pcts)
    assert {r["decision"] for r in rows} == {"in", "out"}


@pytest.mark.parametrize("row", doc_vectors(), ids=lambda r: r["n"])
def test_doc_vectors_match_the_code(row: dict[str, str]) -> None:
    value, seed = json.loads(row["value"]), json.loads(row["seed"])
    pct = float(row["pct"]) if "." in row["pct"] else int(row["pct"])
    seed_int = seed_of(seed)
    h = mmh3.hash(value.encode("utf-8"), seed_int, signed=False)
    assert seed_int == int(row["seed_int"])
    assert h == int(row["h"])
    assert bucket(value, seed) == int(row["bucket"]) == (h * BUCKETS) >> 32
    assert pct_units(pct) == int(row["units"])
    assert hash_threshold(pct) == int(row["t"])
    decision = row["decision"] == "in"
    assert in_split(value, seed, pct) is decision
    assert split_rule(pct, seed)(value, None) is decision


# --- determinism across processes ------------------------------------------------------------

_CHILD = """
import json, sys
from flagkit._rules.bucketing import bucket
from flagkit._rules.compile import compile_rule
batch = json.load(sys.stdin)
rules = {p: compile_rule(f'(split pct::{p} by::$userId seed::"cross")', flag_key="f").test
         for p in (1, 10, 50)}
print(json.dumps([[bucket(v, s), [rules[p](v, None) for p in (1, 10, 50)]] for v, s in batch]))
"""


def test_same_buckets_in_a_separate_process() -> None:
    """A fresh interpreter (other hash randomisation) puts a batch of ids in the same buckets."""
    rng = random.Random(20240101)
    alphabet = "abcXYZ019-_@.é用户🙂Ωß "
    batch = [("", "f"), ("user-1", ""), ("é", "abc"), ("🙂", "2025.01.01")]
    batch += [
        ("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20))), f"seed-{i % 7}")
        for i in range(500)
    ]
    src = str(Path(flagkit.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": src, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    theirs = json.loads(out.stdout)
    rules = {p: split_rule(p, "cross", "f") for p in (1, 10, 50)}
    ours = [[bucket(v, s), [rules[p](v, None) for p in (1, 10, 50)]] for v, s in batch]
    assert theirs == ours


# --- distribution ----------------------------------------------------------------------------


def chi_square(buckets: list[int]) -> float:
    counts = [0] * 100
    for b in buckets:
        counts[b * 100 // BUCKETS] += 1
    expected = len(buckets) / 100
    return sum((c - expected) ** 2 / expected for c in counts)


@pytest.mark.parametrize(
    ("ids", "seed"),
    [
        (IDS, "my-flag"),
        (IDS, "2025.01.01"),
        ([str(i) for i in range(N)], "numeric"),
        ([f"{i}@example.com" for i in range(N)], ""),
    ],
    ids=["user-n", "user-n-seeded", "digits", "emails-empty-seed"],
)
def test_buckets_are_uniform(ids: list[str], seed: str) -> None:
    """Chi-square over 100 bins of 1000 buckets stays under the 0.1 % critical value."""
    assert chi_square([bucket(v, seed) for v in ids]) < CHI2_99_CRIT_0_001


def test_chi_square_detects_a_skewed_bucketing() -> None:
    """The uniformity test can fail: 2 % too many ids in one bin is caught."""
    skewed = [bucket(v, "my-flag") for v in IDS]
    skewed[: N // 50] = [0] * (N // 50)
    assert chi_square(skewed) > CHI2_99_CRIT_0_001


# --- stickiness, nesting, independence -------------------------------------------------------


@given(texts, texts, units, units)
@example("", "", 0, BUCKETS)
@example("user-24712", "2025.01.01", 1, 0)
def test_raising_pct_only_adds_users(value: str, seed: str, a: int, b: int) -> None:
    """In at p implies in at every q >= p (same seed)."""
    p, q = sorted((a, b))
    if in_split(value, seed, p / 1000):
        assert in_split(value, seed, q / 1000)
    if split_rule(pct_of(p), seed)(value, None):
        assert split_rule(pct_of(q), seed)(value, None)


@given(texts, texts, units, units)
def test_equal_seeds_nest_across_flags(value: str, seed: str, a: int, b: int) -> None:
    """With one seed::, the smaller split of one flag is inside the larger split of another."""
    p, q = sorted((a, b))
    small = split_rule(pct_of(p), seed, flag="flag-a")
    large = split_rule(pct_of(q), seed, flag="flag-b")
    assert not small(value, None) or large(value, None)


def test_unseeded_flags_split_independently() -> None:
    """Joint share of two unseeded flags is the product of their shares (within 0.5 pp)."""
    a = split_rule(50, flag="checkout-v2")
    b = split_rule(30, flag="dark-mode")
    in_a = [a(u, None) for u in IDS]
    in_b = [b(u, None) for u in IDS]
    share_a, share_b = sum(in_a) / N, sum(in_b) / N
    joint = sum(x and y for x, y in zip(in_a, in_b, strict=True)) / N
    assert abs(share_a - 0.50) < 0.005
    assert abs(share_b - 0.30) < 0.005
    assert abs(joint - share_a * share_b) < 0.005


def test_unseeded_split_uses_the_flag_key_as_seed() -> None:
    """No seed:: means seed string = flag key; other flags hash differently."""
    rule = split_rule(37.5, flag="some-flag")
    seeded = split_rule(37.5, seed="some-flag", flag="other-flag")
    assert [rule(u, None) for u in IDS[:5000]] == [seeded(u, None) for u in IDS[:5000]]
    other = split_rule(37.5, flag="other-flag")
    assert [rule(u, None) for u in IDS[:5000]] != [other(u, None) for u in IDS[:5000]]


# --- the AppConfig user guide's split examples (appconfig.md §2.5) ----------------------------


def first_match(rules: list[Callable[..., bool]]) -> list[float]:
    """Share of ids landing on each rule, then on the default, under first-match evaluation."""
    counts = [0] * (len(rules) + 1)
    for u in IDS:
        for i, rule in enumerate(rules):
            if rule(u, None):
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return [100 * c / N for c in counts]


def close(shares: list[float], want: list[float]) -> bool:
    return all(abs(s - w) <= 0.5 for s, w in zip(shares, want, strict=True))


def test_same_seed_20_then_25_gives_20_5_75() -> None:
    shares = first_match([split_rule(20, "s"), split_rule(25, "s")])
    assert close(shares, [20, 5, 75]), shares


def test_different_seeds_20_then_25_give_20_20_60() -> None:
    shares = first_match([split_rule(20, "seed_one"), split_rule(25, "seed_two")])
    assert close(shares, [20, 20, 60]), shares


def test_unseeded_20_then_20_in_one_flag_gives_the_second_nobody() -> None:
    shares = first_match([split_rule(20, flag="ui"), split_rule(20, flag="ui")])
    assert shares[1] == 0
    assert close(shares, [20, 0, 80]), shares


# --- the hot path's threshold is the bucket comparison ---------------------------------------


@given(units, st.integers(min_value=0, max_value=2**32 - 1))
@example(0, 0)
@example(BUCKETS, 2**32 - 1)
@example(1, 42949)
@example(1, 42950)
def test_hash_threshold_agrees_with_bucket_exactly(p: int, h: int) -> None:
    """(h * BUCKETS) >> 32 < P  iff  h < hash_threshold(P), at random h and at T-1, T."""
    pct = p / 1000
    assert pct_units(pct) == p
    t = hash_threshold(pct)
    for x in (h, t - 1, t):
        if 0 <= x < 2**32:
            assert (((x * BUCKETS) >> 32) < p) is (x < t)


@given(texts, texts, units)
def test_compiled_split_agrees_with_reference(value: str, seed: str, p: int) -> None:
    """The compiled closure decides exactly as in_split, for str and for int ids."""
    pct = pct_of(p)
    assert split_rule(pct, seed)(value, None) is in_split(value, seed, pct)
    assert split_rule(pct, seed)(None, {"userId": value}) is in_split(value, seed, pct)
    n = len(value) * 7919
    assert split_rule(pct, seed)(n, None) is in_split(str(n), seed, pct)


# --- an independent implementation, written from docs/bucketing.md alone ---------------------
# Nothing below imports flagkit: MurmurHash3, the text of a value, the seed string and P are
# re-derived from the page's words, then compared with the code.

_M32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix_k(k: int) -> int:
    return (_rotl32((k * 0xCC9E2D51) & _M32, 15) * 0x1B873593) & _M32


def spec_murmur3_32(data: bytes, seed: int) -> int:
    """MurmurHash3_x86_32 as in Austin Appleby's reference (little-endian blocks and tail)."""
    h = seed & _M32
    body = len(data) - len(data) % 4
    for i in range(0, body, 4):
        h ^= _mix_k(int.from_bytes(data[i : i + 4], "little"))
        h = (_rotl32(h, 13) * 5 + 0xE6546B64) & _M32
    if body < len(data):
        h ^= _mix_k(int.from_bytes(data[body:], "little"))
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _code_point_bytes(cp: int) -> bytes:
    if 0xD800 <= cp <= 0xDFFF:  # "each such code point on its own, as its 3-byte form"
        return bytes((0xE0 | cp >> 12, 0x80 | (cp >> 6) & 0x3F, 0x80 | cp & 0x3F))
    return chr(cp).encode("utf-8")


def spec_bytes(value: object) -> bytes | None:
    """The bytes hashed for a context value ("Which text"), or None: never in a split."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return b"".join(_code_point_bytes(ord(c)) for c in str.__str__(value))
    if isinstance(value, int):
        n = int.__int__(value)
        if not -(2**63) <= n <= 2**64 - 1:
            return None
        return (("-" if n < 0 else "") + str(abs(n))).encode("ascii")
    return None


_SPEC_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "'": "'", "?": "?", "0": "\0", "a": "\a"}
_SPEC_ESCAPES |= {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SPEC_HEX = {"x": 2, "u": 4, "U": 8}
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def spec_seed(argument: str, flag_key: str) -> str:
    """S for a rule's seed argument (``seed::"..."``, or "" for none) in flag ``flag_key``."""
    if not argument:
        return flag_key
    body, out, i = argument[len('seed::"') : -1], [], 0
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
        elif body[i + 1] in _SPEC_ESCAPES:
            out.append(_SPEC_ESCAPES[body[i + 1]])
            i += 2
        else:
            width = _SPEC_HEX[body[i + 1]]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width

    def join(m: re.Match[str]) -> str:
        hi, lo = ord(m[0][0]), ord(m[0][1])
        return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))

    return _SURROGATE_PAIR.sub(join, "".join(out))


def spec_units(literal: str) -> int | None:
    """P for a pct literal ("Which pct"), or None when the document is refused."""
    x = float(literal)  # the nearest IEEE-754 double
    if not 0 <= x <= 100:
        return None
    m = x * 1000
    p = round(m)
    return p if abs(m - p) <= 1e-6 else None


def spec_threshold(p: int) -> int:
    return (p * 2**32 + 99_999) // 100_000  # ceil(P * 2^32 / 100000)


def spec_bucket(value: object, seed: str) -> int | None:
    data = spec_bytes(value)
    if data is None:
        return None
    h = spec_murmur3_32(data, spec_murmur3_32(seed.encode("utf-8"), 0))
    return (h * 100_000) >> 32


def spec_in_split(value: object, seed: str, p: int) -> bool:
    b = spec_bucket(value, seed)
    return b is not None and b < p


class Plan(str, enum.Enum):
    GOLD = "gold"


class Level(enum.IntEnum):
    TOP = 7


class UserId(str):
    __slots__ = ()

    def __str__(self) -> str:
        return "masked"


class Count(int):
    def __str__(self) -> str:
        return "many"


_DOC_CLASSES: dict[str, Any] = {"Plan": Plan, "Level": Level, "UserId": UserId, "Count": Count}


def doc_value(source: str) -> object:
    """A context value written as Python source in the doc: a literal, Cls(literal), Cls.MEMBER."""
    if m := re.fullmatch(r"(\w+)\((.*)\)", source):
        return _DOC_CLASSES[m[1]](ast.literal_eval(m[2]))
    if m := re.fullmatch(r"([A-Z]\w*)\.(\w+)", source):
        return getattr(_DOC_CLASSES[m[1]], m[2])
    return ast.literal_eval(source)


def doc_table(heading: str) -> list[list[str]]:
    """The body rows of the first table under ``heading`` in docs/bucketing.md, as cells."""
    lines = DOC.read_text("utf-8").splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith(("| # ", "| User id ")):
            rows.append([cell.strip() for cell in line.strip()[2:-2].split(" | ")])
    return rows


def code(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def test_spec_implementation_reproduces_the_hash_vectors() -> None:
    """The independent implementation gives every documented seed int, h, bucket and T."""
    for row in doc_vectors():
        value, seed = json.loads(row["value"]), json.loads(row["seed"])
        seed_int = spec_murmur3_32(seed.encode("utf-8"), 0)
        assert seed_int == int(row["seed_int"])
        assert spec_murmur3_32(value.encode("utf-8"), seed_int) == int(row["h"])
        assert spec_bucket(value, seed) == int(row["bucket"])
        p = spec_units(row["pct"])
        assert p == int(row["units"])
        assert spec_threshold(p) == int(row["t"])


@pytest.mark.parametrize("row", doc_table("### Context values"), ids=lambda r: r[0])
def test_doc_context_values_match_the_code(row: list[str]) -> None:
    """Each documented value hashes the documented bytes; the code decides by that bucket."""
    _, source, hexbytes, h, b = row
    value = doc_value(code(source))
    if hexbytes == "—":
        assert spec_bytes(value) is None
        assert split_rule(100, "my-flag")(value, None) is False
        assert split_rule(100, "my-flag")(None, {"userId": value}) is False
        return
    data = spec_bytes(value)
    assert data is not None
    assert data.hex() == code(hexbytes)
    assert spec_murmur3_32(data, spec_murmur3_32(b"my-flag", 0)) == int(h)
    assert spec_bucket(value, "my-flag") == int(b)
    for p, decision in ((int(b), False), (int(b) + 1, True)):
        assert split_rule(pct_of(p), "my-flag")(value, None) is decision
        assert split_rule(pct_of(p), "my-flag")(None, {"userId": value}) is decision


@pytest.mark.parametrize("row", doc_table("### Seeds"), ids=lambda r: r[0])
def test_doc_seeds_match_the_code(row: list[str]) -> None:
    """The seed string a rule uses: seed:: even when "", else the flag key; escapes decoded."""
    _, argument, flag, s, seed_int, h, b = row
    argument = "" if argument == "`(none)`" else code(argument)
    flag, s = json.loads(flag), json.loads(s)
    assert spec_seed(argument, flag) == s
    assert spec_murmur3_32(s.encode("utf-8"), 0) == int(seed_int)
    compiled = compile_rule(f"(split pct::50 by::$userId {argument})", flag_key=flag)
    assert compiled.bare_split is not None
    assert compiled.bare_split[2] == int(seed_int)
    assert spec_murmur3_32(b"user-1", int(seed_int)) == int(h)
    for p, decision in ((int(b), False), (int(b) + 1, True)):
        rule = compile_rule(f"(split pct::{pct_of(p)} by::$userId {argument})", flag_key=flag)
        assert rule.test("user-1", None) is decision


@pytest.mark.parametrize("row", doc_table("### pct literals"), ids=lambda r: r[0])
def test_doc_pct_literals_match_the_code(row: list[str]) -> None:
    """Accepted iff the value is within 10^-6 units of a whole unit; P and T as documented."""
    _, literal, p, t, accepted = row
    rule = f"(split pct::{code(literal)} by::$userId)"
    if accepted == "refused":
        assert spec_units(code(literal)) is None
        with pytest.raises(RuleError, match="pct::"):
            compile_rule(rule, flag_key="f")
        return
    assert spec_units(code(literal)) == int(p)
    assert spec_threshold(int(p)) == int(t)
    compiled = compile_rule(rule, flag_key="f")
    assert compiled.bare_split is not None
    assert compiled.bare_split[3] == int(t)


def worked_example() -> dict[str, Any]:
    text = DOC.read_text("utf-8").split("### Worked example: 34 / 33 / 33", 1)[1]
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    document: dict[str, Any] = json.loads(block)
    return document


def spec_variant_34_33_33(user: str) -> str:
    b = spec_bucket(user, "pricing-2026")
    assert b is not None
    return "a" if b < 34_000 else "b" if b < 67_000 else "c"


def test_worked_34_33_33_example() -> None:
    """The doc's document puts each id in exactly the variant its bucket says, 34/33/33."""
    flags = flagkit.Flags(flagkit.StaticSource(worked_example()))
    try:
        for cell, h, b, variant in doc_table("### Worked example: 34 / 33 / 33"):
            user = json.loads(cell)
            assert spec_murmur3_32(user.encode(), spec_murmur3_32(b"pricing-2026", 0)) == int(h)
            assert spec_bucket(user, "pricing-2026") == int(b)
            assert spec_variant_34_33_33(user) == variant
            assert flags.variant("checkout-layout", user) == variant
            assert flags.variant("checkout-layout", None, {"userId": user}) == variant
        counts = {"a": 0, "b": 0, "c": 0}
        for user in IDS[:30_000]:
            got = flags.variant("checkout-layout", user)
            assert got == spec_variant_34_33_33(user), user
            counts[got] += 1
    finally:
        flags.close()
    assert [round(100 * counts[v] / 30_000) for v in "abc"] == [34, 33, 33], counts


def test_writing_the_shares_instead_of_running_totals_starves_a_variant() -> None:
    """pct::34 then pct::33 (same seed) is the documented mistake: the second gets nobody."""
    document = worked_example()
    variants = document["values"]["checkout-layout"]["_variants"]
    variants[1]["rule"] = variants[1]["rule"].replace("pct::67", "pct::33")
    flags = flagkit.Flags(flagkit.StaticSource(document))
    try:
        assert {flags.variant("checkout-layout", u) for u in IDS[:5000]} == {"a", "c"}
    finally:
        flags.close()


# Values of every kind the doc names: text with lone and paired surrogates, ints across both
# range ends, subclasses, and the types that are never in a split.
_BOUNDS = (-(2**63), 2**64 - 1)
spec_ints = st.integers(min_value=-(2**65), max_value=2**65) | st.sampled_from(
    [b + d for b in _BOUNDS for d in (-1, 0, 1)]
)
spec_texts = st.text(st.characters(codec="utf-8") | st.characters(categories=["Cs"]), max_size=12)
spec_values = st.one_of(
    spec_texts,
    spec_ints,
    spec_texts.map(UserId),
    spec_ints.map(Count),
    st.sampled_from([Plan.GOLD, Level.TOP, True, False, None, 1.0, b"user-1", ("a",)]),
    st.floats(allow_nan=False),
)
flag_keys = st.from_regex(r"[a-z][a-zA-Z0-9_-]{0,20}", fullmatch=True)


@settings(max_examples=3000, deadline=None)
@given(spec_values, st.one_of(st.none(), texts), flag_keys, units)
def test_spec_implementation_agrees_with_the_code(
    value: object, seed: str | None, flag: str, p: int
) -> None:
    """Random values, seeds (or none), flag keys and pct: the re-implementation and the code."""
    argument = "" if seed is None else f"seed::{json.dumps(seed)}"
    s = spec_seed(argument, flag)
    assert s == (flag if seed is None else seed)
    rule = compile_rule(f"(split pct::{pct_of(p)} by::$userId {argument})", flag_key=flag)
    assert rule.test(value, None) is spec_in_split(value, s, p)
    assert rule.test(None, {"userId": value}) is spec_in_split(value, s, p)
    if isinstance(value, str):  # the reference (explain's bucket) agrees, surrogates included
        assert bucket(value, s) == spec_bucket(value, s)


pct_literals = st.one_of(
    st.from_regex(r"(0|[1-9][0-9]{0,2})(\.[0-9]{1,12})?", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{0,5}e-[0-9]", fullmatch=True),
    st.decimals(min_value=0, max_value=100, places=3).map(str),
)


@settings(max_examples=2000, deadline=None)
@given(pct_literals)
def test_spec_pct_rule_agrees_with_the_code(literal: str) -> None:
    """Whether a literal is accepted, and its P and T, as the "Which pct" steps say."""
    p = spec_units(literal)
    rule = f"(split pct::{literal} by::$userId)"
    if p is None:
        with pytest.raises(RuleError):
            compile_rule(rule, flag_key="f")
        return
    compiled = compile_rule(rule, flag_key="f")
    assert compiled.bare_split is not None
    assert compiled.bare_split[3] == spec_threshold(p)


def test_explain_reports_the_bucket_of_a_str_with_surrogates() -> None:
    """The reference bucket encodes surrogates as split does, so explain agrees with the decision.

    It used to encode strictly and report "not valid Unicode text" while the split decided.
    """
    document = worked_example()
    flags = flagkit.Flags(flagkit.StaticSource(document))
    try:
        for user in ("\ud800", "a\udfff", "\ud83d\ude42", "\udc80x"):
            trace = flags.explain("checkout-layout", user).variants[0].lines[0]
            m = re.search(r"bucket (\d+) of", trace.note)
            assert m is not None, trace.note
            assert int(m[1]) == spec_bucket(user, "pricing-2026")
            assert trace.result is (flags.variant("checkout-layout", user) == "a")
    finally:
        flags.close()
