"""Scheduled ramps: a flag's share of users as a pure function of the document and the clock.

A ramp is a start instant and a list of steps ``(seconds after start, percentage)``. At wall
time ``t`` the share is the percentage of the last step that has begun (0 before the start).
Who is in is decided exactly as ``(split pct::P by::$key seed::S)`` decides it (docs/bucketing.md):
the same hash, the same 0.001 % resolution, the flag key as the default seed. Because the
percentage never falls, the users in at one step are a subset of the users in at the next:
users only ever join. Every process reading the same document at the same instant answers the
same, without talking to each other.

Presets follow CodeDeploy's deployment configurations::

    Canary10Percent5Minutes        10 % now, 100 % after 5 minutes
    Linear10PercentEvery1Minute    10 %, 20 %, ... one step a minute, 100 % after 9 minutes
    AllAtOnce                      100 % from the start

(``Seconds``/``Hours`` work as units, and CodeDeploy's ``CodeDeployDefault.``, ``ECS`` and
``Lambda`` prefixes are accepted.) Custom steps are written ``"1% 10m, 10% 30m, 50% 1h, 100%"``:
each percentage with how long it bakes, the last without a duration (it holds).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import mmh3

from flagkit._rules.bucketing import hash_threshold, pct_units, seed_of
from flagkit._rules.closures import hasher

__all__ = ["Ramp", "RampPosition", "RampSyntaxError", "parse_start", "parse_steps", "ramp_gate"]

Predicate = Callable[[Any, "dict[str, Any] | None"], bool]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WORD_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_PRESET = re.compile(
    r"(?:CodeDeployDefault\.)?(?:ECS|Lambda)?"
    r"(?:(?P<canary>Canary)(?P<cp>\d{1,3})Percent(?P<cn>\d{1,5})(?P<cu>Second|Minute|Hour)s?"
    r"|(?P<linear>Linear)(?P<lp>\d{1,3})PercentEvery(?P<ln>\d{1,5})(?P<lu>Second|Minute|Hour)s?"
    r"|(?P<all>AllAtOnce))"
)
_STEP = re.compile(r"\s*(\d{1,3}(?:\.\d{1,3})?)\s*%\s*((?:\d{1,6}[smhd])+)?\s*")
_DURATION = re.compile(r"(\d{1,6})([smhd])")
MAX_STEPS = 100


@dataclass(frozen=True, slots=True)
class RampPosition:
    """Where a ramp stands at one instant."""

    index: int  # the current step (0-based); -1 before the start
    pct: float  # the share now (0 before the start)
    since: float | None  # when the current step began (wall clock), None before the start
    next_at: float | None  # when the next step begins; None on the last step
    next_pct: float | None


@dataclass(frozen=True, slots=True)
class Ramp:
    """A parsed schedule: ``steps`` are ``(seconds after start, pct)``, pct never falling."""

    text: str
    start: float  # wall clock (seconds since the epoch, UTC)
    start_text: str
    steps: tuple[tuple[float, float], ...]
    by: str  # the context key hashed (the user key by default)
    seed: str  # the seed string (the flag key by default)

    def at(self, now: float, offset: float = 0.0) -> RampPosition:
        """The position at wall time ``now``, the schedule shifted later by ``offset`` seconds."""
        begins = [self.start + offset + at for at, _ in self.steps]
        i = bisect_right(begins, now) - 1
        if i < 0:
            return RampPosition(-1, 0.0, None, begins[0], self.steps[0][1])
        last = i == len(self.steps) - 1
        return RampPosition(
            i,
            self.steps[i][1],
            begins[i],
            None if last else begins[i + 1],
            None if last else self.steps[i + 1][1],
        )

    def describe(self, now: float, offset: float = 0.0) -> str:
        """One line for explain output: the step now and when the next one starts."""
        pos = self.at(now, offset)
        shifted = f", paused {offset:g} s so far" if offset else ""
        if pos.index < 0:
            head = f"ramp {self.text!r} starts at {_iso(pos.next_at)}: 0 % until then"
        else:
            head = (
                f"ramp {self.text!r} from {self.start_text}: step {pos.index + 1} of "
                f"{len(self.steps)} at {pos.pct:g} %"
            )
        if pos.next_at is not None and pos.index >= 0:
            head += f"; next {pos.next_pct:g} % at {_iso(pos.next_at)}"
        elif pos.index >= 0:
            head += " (final)"
        return head + shifted


def _iso(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


class RampSyntaxError(ValueError):
    """Raised by the parsers below; the caller names the flag and the field.

    The text says what was expected; ``problem`` is a headline when there is a better one than
    "invalid flagkit setting" (an unknown preset name).
    """

    def __init__(self, expected: str, *, problem: str | None = None) -> None:
        super().__init__(expected)
        self.problem = problem


_NAME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9.]*")


def parse_start(text: str) -> float:
    """An ISO 8601 instant with an explicit offset (``2026-11-26T10:00:00Z``) as epoch seconds."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise RampSyntaxError("an ISO 8601 date-time such as 2026-11-26T10:00:00Z") from None
    if moment.tzinfo is None:
        raise RampSyntaxError("a date-time with a time zone (Z or +hh:mm)")
    return moment.timestamp()


def parse_steps(text: str) -> tuple[tuple[float, float], ...]:
    """A preset name or custom steps as ``(seconds after start, pct)``."""
    preset = _PRESET.fullmatch(text.strip())
    if preset is not None:
        return _preset_steps(preset)
    if _NAME_LIKE.fullmatch(text.strip()):  # a name, not steps: say so rather than "step 1"
        raise RampSyntaxError(
            "a preset: CanaryNPercentMMinutes, LinearNPercentEveryMMinutes (or Seconds, Hours; "
            "CodeDeployDefault. and ECS/Lambda prefixes accepted) or AllAtOnce",
            problem=f"unknown ramp preset {text.strip()!r}",
        )
    steps: list[tuple[float, float]] = []
    at = 0.0
    parts = text.split(",")
    if len(parts) > MAX_STEPS:
        raise RampSyntaxError(f"at most {MAX_STEPS} steps")
    for n, part in enumerate(parts):
        m = _STEP.fullmatch(part)
        if m is None:
            raise RampSyntaxError(
                "a preset such as Canary10Percent5Minutes or Linear10PercentEvery1Minute, "
                f"or steps such as '10% 5m, 50% 10m, 100%' (step {n + 1} is {part.strip()!r})"
            )
        pct = float(m.group(1))
        if not 0 < pct <= 100:
            raise RampSyntaxError(f"a percentage above 0 and at most 100 (step {n + 1})")
        if steps and pct_units(pct) < pct_units(steps[-1][1]):
            raise RampSyntaxError(f"percentages that never fall (step {n + 1} is lower)")
        last = n == len(parts) - 1
        if m.group(2) is None and not last:
            raise RampSyntaxError(f"a duration on every step but the last (step {n + 1})")
        if m.group(2) is not None and last:
            raise RampSyntaxError("no duration on the last step (it holds)")
        steps.append((at, pct))
        if m.group(2) is not None:
            seconds = sum(int(k) * _UNITS[u] for k, u in _DURATION.findall(m.group(2)))
            if seconds <= 0:
                raise RampSyntaxError(f"a duration above zero (step {n + 1})")
            at += seconds
    return tuple(steps)


def _preset_steps(m: re.Match[str]) -> tuple[tuple[float, float], ...]:
    if m.group("all"):
        return ((0.0, 100.0),)
    kind = "c" if m.group("canary") else "l"
    pct = int(m.group(f"{kind}p"))
    every = int(m.group(f"{kind}n")) * _WORD_UNITS[m.group(f"{kind}u").lower()]
    if not 0 < pct < 100 or every <= 0:
        raise RampSyntaxError("a preset percentage between 1 and 99 and a period above zero")
    if kind == "c":
        return ((0.0, float(pct)), (float(every), 100.0))
    count = -(-100 // pct)  # steps until 100 %
    return tuple((float(k * every), float(min(100, (k + 1) * pct))) for k in range(count))


def ramp_gate(
    ramp: Ramp, *, user_key: str, wall: Callable[[], float], offset: float = 0.0
) -> Predicate:
    """The in-the-ramp-now predicate: one clock read and one hash.

    The current step's window ``(from, until, threshold)`` is kept in a one-slot cell and
    replaced whole (one reference assignment) when the clock leaves it, so concurrent readers
    always see a consistent triple, and a reader between steps never bisects. At 100 % everyone
    is in, contexts without the key included; below 100 % a context without a usable key value
    is out (as ``split`` treats it).
    """
    begins = tuple(ramp.start + offset + at for at, _ in ramp.steps)
    thresholds = (0, *(-1 if pct >= 100 else hash_threshold(pct) for _, pct in ramp.steps))
    inf = float("inf")
    window = [(-inf, begins[0], 0)]
    is_user = ramp.by == user_key
    seed = seed_of(ramp.seed)
    hash_of = hasher(ramp.by, is_user, seed)
    hash_ = mmh3.hash

    def step(now: float) -> int:
        i = bisect_right(begins, now)
        lo = begins[i - 1] if i else -inf
        hi = begins[i] if i < len(begins) else inf
        window[0] = (lo, hi, thresholds[i])
        return thresholds[i]

    def in_ramp(user_id: Any, attributes: dict[str, Any] | None) -> bool:
        now = wall()
        lo, hi, threshold = window[0]
        if not lo <= now < hi:
            threshold = step(now)
        if threshold <= 0:
            return threshold < 0
        if is_user and type(user_id) is str and user_id.isascii():
            return hash_(user_id, seed, False) < threshold
        return 0 <= hash_of(user_id, attributes) < threshold

    return in_ramp
