"""Bucketing for ``split``: determinism, uniformity, stickiness, independence, the AWS examples."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mmh3
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import flagkit
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
