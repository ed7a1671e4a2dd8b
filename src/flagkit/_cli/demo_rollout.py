"""Part two of ``flagkit demo``: the release on autopilot, a scheduled canary and an alarm guard.

The same client keeps serving the same traffic. A document with a ``Canary10Percent5Minutes``
ramp and a ``checkout-5xx`` alarm is published; the alarm fires two minutes in and the guard
holds the flag off in this process with no publish at all; the alarm clears and the flag stays
off (``stay-off``); a new document re-arms it and the canary runs to everyone.

Minutes pass at once: the client's wall clock is :class:`DemoClock`, which the demo fast-
forwards (ramps are a pure function of the document and that clock). The alarm is
:class:`flagkit.testing.StaticAlarms`, a stand-in for CloudWatch that the demo sets by hand; the
guard polls it on the client's rollout thread, as it would poll ``DescribeAlarms``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flagkit._document.settings import constraints
from flagkit._rules.bucketing import in_split

from .demo_world import APP, ENV, FLAG, PROFILE, StepResult, Swaps, User, measure, pct

__all__ = ["ALARM", "RAMP", "DemoClock", "run_rollout"]

ALARM = "checkout-5xx"
RAMP = "Canary10Percent5Minutes"
MINUTE = 60.0


class DemoClock:
    """``time.time()`` plus a fast-forward: the demo's minutes pass at once."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.time() + self.skew

    def advance(self, seconds: float) -> None:
        self.skew += seconds


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def ramp_document(start: float) -> dict[str, Any]:
    """The stored document: the flag on, ramped from ``start``, guarded by the 5xx alarm."""
    settings = constraints()
    return {
        "version": "1",
        "flags": {
            FLAG: {
                "name": "New pricing engine",
                "attributes": {
                    k: settings[k] for k in ("flagkit-ramp", "flagkit-ramp-start", "flagkit-alarms")
                },
            },
            "express-checkout": {"name": "Express checkout"},
        },
        "values": {
            FLAG: {
                "enabled": True,
                "flagkit-ramp": RAMP,
                "flagkit-ramp-start": _iso(start),
                "flagkit-alarms": [ALARM],
            },
            "express-checkout": {"enabled": True},
        },
    }


@dataclass(frozen=True)
class Phase:
    label: str
    title: str
    why: str


PARTS = 5  # the four phases, and v8 once its canary has baked

PHASES = (
    Phase(
        "v7-ramp",
        f"Canary on a schedule: {RAMP}",
        f"10 % now, everyone after 5 minutes, unless {ALARM} fires",
    ),
    Phase(
        "alarm",
        f"+2 min: {ALARM} goes to ALARM",
        "the guard holds the flag off in every process; nobody published anything",
    ),
    Phase(
        "alarm-ok",
        "+10 min: the alarm is OK again",
        "stay-off: a bad release does not come back because a metric calmed down",
    ),
    Phase(
        "v8-rearm",
        "The fix ships: a new document re-arms the ramp",
        "the same 10 % first, then everyone five minutes later",
    ),
)


def run_rollout(
    flags: Any,
    server: Any,
    alarms: Any,
    clock: DemoClock,
    people: list[User],
    swaps: Swaps,
    say: Callable[[str], None],
    *,
    first: int,
    total: int,
    swap_timeout: float,
) -> list[StepResult]:
    """Walk the phases; returns one measurement each (``PARTS`` of them)."""
    say("")
    say("Part two: the same release on autopilot. The clock fast-forwards; the alarm")
    say("is a stand-in for CloudWatch that the guard polls every 0.2 s.")
    tripped = threading.Event()
    flags.on_rollout(lambda event: tripped.set() if event.kind == "guard-tripped" else None)
    canary = sum(1 for uid, _ in people if in_split(uid, FLAG, 10)) / len(people)
    results: list[StepResult] = []
    previous: set[str] | None = None

    def publish(label: str) -> float:
        t0 = time.perf_counter()
        server.publish(APP, ENV, PROFILE, ramp_document(clock()), version_label=label)
        at = swaps.wait(label, swap_timeout)
        if at is None:
            raise RuntimeError(f"{label} was not swapped in: {flags.status()}")
        return at - t0

    def record(n: int, phase: Phase, target: float, latency: float, what: str) -> set[str]:
        served, by_variant = measure(flags.view(), people)
        lost = len(previous - served) if previous is not None and target >= canary else 0
        res = StepResult(
            phase.label, target, len(served) / len(people), len(served), latency, lost, by_variant
        )
        results.append(res)
        say("")
        say(f"step {first + 1 + n}/{total}  {phase.title}")
        say(f"          why:     {phase.why}")
        say(f"          {what}")
        say(
            f"          served:  {res.served:>6,} of {len(people):,} users = "
            f"{pct(res.share)}  (target {pct(target)})"
        )
        return served

    # v7: the ramp starts as it is published
    latency = publish("v7-ramp")
    previous = record(
        0,
        PHASES[0],
        canary,
        latency,
        f"swap:    {latency * 1000:6.0f} ms after publish; "
        + str(flags.explain(FLAG, people[0][0]).ramp).split(";")[0],
    )
    # +2 min: the alarm fires; the guard's own thread notices within one interval
    clock.advance(2 * MINUTE)
    t0 = time.perf_counter()
    alarms.set(ALARM, "ALARM")
    if not tripped.wait(swap_timeout):
        raise RuntimeError(f"the guard did not trip: {flags.status().guard}")
    held = time.perf_counter() - t0
    record(
        1,
        PHASES[1],
        0.0,
        held,
        f"guard:   held {held * 1000:6.0f} ms after the alarm (reason "
        f"{flags.details(FLAG, people[0][0]).reason.value})",
    )
    # +10 min: OK again, and the schedule says 100 % by now; stay-off keeps it off
    clock.advance(8 * MINUTE)
    alarms.set(ALARM, "OK")
    flags.check_rollouts()  # make sure the guard has seen OK before measuring
    record(
        2,
        PHASES[2],
        0.0,
        0.0,
        f"alarm:   {flags.status().guard.alarms[ALARM]}; the ramp would be at 100 % now",
    )
    # v8: a new document re-arms; the same canary, then everyone
    latency = publish("v8-rearm")
    again = record(
        3, PHASES[3], canary, latency, f"swap:    {latency * 1000:6.0f} ms after publish; re-armed"
    )
    same = "yes" if again == previous else "no"
    say(f"          sticky:  the same {len(again):,} users as at step {first + 1}: {same}")
    clock.advance(5 * MINUTE)
    previous = again
    record(
        4,
        Phase(
            "v8-everyone", "+5 min: the canary's bake is over", "the ramp's second step: everyone"
        ),
        1.0,
        0.0,
        "ramp:    " + str(flags.explain(FLAG, people[0][0]).ramp).split(";")[0],
    )
    return results
