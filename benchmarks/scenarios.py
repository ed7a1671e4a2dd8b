"""The five benchmark scenarios, the user population, and the share check every SDK must pass.

Every SDK is asked the same questions about the same users:

* S1 ``s1`` boolean flag, on for everyone.
* S2 ``s2`` on for 10 % of users, bucketed by user id.
* S3 ``s3`` on for 25 % of users whose country is US or CA and whose plan is "pro"; off for
  everyone else.
* S4 ``missing`` is not defined anywhere: the caller's default (``False``) comes back.
* S5 ``s5`` three-way variant "a" / "b" / "c" at 34 / 33 / 33 %, bucketed by user id.

An evaluator is ``evaluate(user_id, attributes) -> value``: it receives what an application
has per request (the id string and a plain attributes dict) and builds whatever context
object its SDK wants *inside* the call, as a request handler would. S1-S4 return a bool,
S5 the variant name.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Evaluate = Callable[[str, dict[str, Any]], object]
User = tuple[str, dict[str, Any]]

N_USERS = 10_000
COUNTRIES = ("US", "CA", "GB", "DE")  # half the users are in a targeted country
PLANS = ("pro", "free")  # half are on the targeted plan -> a quarter match S3's condition
TARGET_COUNTRIES = ("US", "CA")
TARGET_PLAN = "pro"


@dataclass(frozen=True)
class Scenario:
    """One question asked of every SDK."""

    key: str  # "S1".."S5"
    flag: str  # the flag key the SDKs are asked for
    title: str
    # Expected share of each outcome, per population ("all" or, for S3, "match"/"rest").
    expected: dict[str, dict[object, float]]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("S1", "s1", "boolean on", {"all": {True: 1.0}}),
    Scenario("S2", "s2", "10 % by user id", {"all": {True: 0.10, False: 0.90}}),
    Scenario(
        "S3",
        "s3",
        "country in [US, CA] and plan == pro -> 25 %",
        {"match": {True: 0.25, False: 0.75}, "rest": {False: 1.0}},
    ),
    Scenario("S4", "missing", "missing flag -> default", {"all": {False: 1.0}}),
    Scenario("S5", "s5", "34/33/33 three-way variant", {"all": {"a": 0.34, "b": 0.33, "c": 0.33}}),
)
SCENARIO_KEYS = tuple(s.key for s in SCENARIOS)
BY_KEY = {s.key: s for s in SCENARIOS}


def make_users(n: int = N_USERS, seed: int = 20240611) -> list[User]:
    """``n`` users with UUID-shaped ids and ``{"country", "plan"}`` attributes, reproducibly."""
    rng = random.Random(seed)
    users = []
    for _ in range(n):
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        users.append((uid, {"country": rng.choice(COUNTRIES), "plan": rng.choice(PLANS)}))
    return users


def matches_s3(attributes: dict[str, Any]) -> bool:
    """Whether a user satisfies S3's targeting condition."""
    return attributes["country"] in TARGET_COUNTRIES and attributes["plan"] == TARGET_PLAN


def _population(scenario: Scenario, attributes: dict[str, Any]) -> str:
    if "all" in scenario.expected:
        return "all"
    return "match" if matches_s3(attributes) else "rest"


@dataclass(frozen=True)
class Verdict:
    """The outcome of the share check for one SDK and scenario."""

    ok: bool
    observed: dict[str, dict[object, float]]
    problems: tuple[str, ...]

    def describe(self) -> str:
        parts = []
        for pop, shares in self.observed.items():
            shown = ", ".join(f"{k!r}: {v:.1%}" for k, v in sorted(shares.items(), key=repr))
            parts.append(f"{pop} {{{shown}}}")
        return "; ".join(parts)


def verify(scenario: Scenario, evaluate: Evaluate, users: Sequence[User]) -> Verdict:
    """Evaluate every user once and compare the outcome shares with the scenario's expectation.

    The allowed deviation is 4 binomial standard deviations plus half a point, so a correct
    hash-based SDK passes with certainty in practice while an SDK that inverts a percentage,
    ignores the condition or mislabels a variant fails by a wide margin. Outcomes that are not
    expected at all (a variant named "on", ``None`` where a bool belongs) must not appear.
    """
    counts: dict[str, Counter[object]] = {pop: Counter() for pop in scenario.expected}
    for uid, attributes in users:
        counts[_population(scenario, attributes)][evaluate(uid, attributes)] += 1
    observed: dict[str, dict[object, float]] = {}
    problems: list[str] = []
    for pop, expected in scenario.expected.items():
        total = sum(counts[pop].values())
        if total == 0:
            problems.append(f"no users in population {pop!r}")
            continue
        observed[pop] = {value: n / total for value, n in counts[pop].items()}
        # bool is an int subclass: 1 == True would let a 1 pass for True, so compare types too.
        problems.extend(
            f"{pop}: unexpected outcome {value!r}"
            for value in counts[pop]
            if not any(value == e and type(value) is type(e) for e in expected)
        )
        for value, share in expected.items():
            got = counts[pop][value] / total
            sigma = math.sqrt(share * (1 - share) / total)
            if abs(got - share) > 4 * sigma + 0.005:
                problems.append(f"{pop}: {value!r} expected {share:.1%}, got {got:.1%}")
    return Verdict(not problems, observed, tuple(problems))


# --- the flagkit / AppConfig document for the same five flags --------------------------------

S2_RULE = "(split pct::10 by::$userId)"
S3_RULE = '(and (in $country ["US","CA"]) (eq $plan "pro") (split pct::25 by::$userId))'
S5_RULES = ("(split pct::34 by::$userId)", "(split pct::67 by::$userId)")


def appconfig_document(s2_pct: int = 10) -> dict[str, Any]:
    """The AppConfig feature-flag document (stored form) that defines S1, S2, S3 and S5.

    S5's nested splits share the flag's seed, so the 34 % bucket set sits inside the 67 % one:
    a / b / c get 34 / 33 / 33 %. ``s2_pct`` lets the swap benchmark alternate two documents.
    """
    return {
        "version": "1",
        "flags": {key: {"name": key} for key in ("s1", "s2", "s3", "s5")},
        "values": {
            "s1": {"enabled": True},
            "s2": {
                "_variants": [
                    {"name": "on", "enabled": True, "rule": f"(split pct::{s2_pct} by::$userId)"},
                    {"name": "off", "enabled": False},
                ]
            },
            "s3": {
                "_variants": [
                    {"name": "on", "enabled": True, "rule": S3_RULE},
                    {"name": "off", "enabled": False},
                ]
            },
            "s5": {
                "_variants": [
                    {"name": "a", "enabled": True, "rule": S5_RULES[0]},
                    {"name": "b", "enabled": True, "rule": S5_RULES[1]},
                    {"name": "c", "enabled": True},
                ]
            },
        },
    }
