"""The demo's world: the flag, the synthetic population, and how a step is measured.

Shared by both parts of ``flagkit demo`` (``demo``: the publishes; ``demo_rollout``: the ramp and
the alarm guard), so neither imports the other's internals.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APP",
    "ENV",
    "FLAG",
    "PROFILE",
    "StepResult",
    "Swaps",
    "User",
    "measure",
    "pct",
    "population",
]

APP, ENV, PROFILE = "checkout", "prod", "flags"
FLAG = "new-pricing-engine"
STAFF_DOMAIN = "@shop.example"
COHORT_COUNTRIES = ("IE", "NZ")
COUNTRIES = ("US", "DE", "GB", "FR", "JP", "BR", "IN", "IE", "NZ", "CA")
CANARY_PCT = 5

User = tuple[str, dict[str, Any]]


def population(size: int, *, seed: int = 7) -> list[User]:
    """``size`` synthetic users: 1 in 200 is staff, ~12 % are on the pro plan.

    Deterministic for a given ``seed``, so the demo's numbers repeat from run to run.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
    users: list[User] = []
    for i in range(size):
        uid = f"user-{i:06d}"
        staff = i % 200 == 0
        email = f"{uid}{STAFF_DOMAIN}" if staff else f"{uid}@mail.example"
        users.append(
            (
                uid,
                {
                    "email": email,
                    "plan": "pro" if rng.random() < 0.12 else "free",
                    "country": rng.choice(COUNTRIES),
                },
            )
        )
    return users


@dataclass(frozen=True)
class StepResult:
    label: str
    target: float
    share: float
    served: int
    latency: float  # seconds from publish() to the swap in this process
    lost: int  # users who had the new engine in the previous step and lost it
    by_variant: dict[str, int]


class Swaps:
    """An ``on_change`` listener: the perf_counter time each version was swapped in."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._at: dict[str | None, float] = {}

    def __call__(self, old: str | None, new: str | None) -> None:
        now = time.perf_counter()
        with self._cond:
            self._at.setdefault(new, now)
            self._cond.notify_all()

    def wait(self, version: str, timeout: float) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: version in self._at, timeout)
            return self._at.get(version)


def pct(x: float) -> str:
    return f"{x * 100:5.2f} %"


def measure(view: Any, people: list[User]) -> tuple[set[str], dict[str, int]]:
    """Who is served the new engine under one pinned snapshot, and by which variant."""
    served: set[str] = set()
    by_variant: dict[str, int] = {}
    for uid, attrs in people:
        if view.enabled(FLAG, uid, attrs):
            served.add(uid)
            name = view.variant(FLAG, uid, attrs) or "on"
            by_variant[name] = by_variant.get(name, 0) + 1
    return served, by_variant
