"""The alarm guard: CloudWatch alarms that hold flags at their default while a release is bad.

One guard serves every flag of a client. Each poll describes the alarms the current document
names (``DescribeAlarms``, up to 100 names a call) through a one-method seam, :class:`Alarms`:
:class:`CloudWatchAlarms` is the boto3 one, ``flagkit.testing.StaticAlarms`` the fake. From the
last states it knows, :meth:`AlarmGuard.decide` says, per guarded flag, whether it is held and
by how much its ramp has been paused; ``_snapshot.overlay`` turns that into a snapshot.

* A flag trips while any alarm it names is in ``ALARM`` (``INSUFFICIENT_DATA`` does not trip).
* ``stay-off`` (the default): once tripped it stays held until a document changes that flag
  (re-armed), whatever the alarm does next. ``resume``: it is released when every alarm it
  names has left ``ALARM``, and its ramp resumes where it paused: the schedule is shifted by the
  time between the alarm's transitions as CloudWatch stamped them, so every process that saw
  both transitions shifts it alike.
* A failed poll (no permission, throttling, no network) changes nothing: the last known states
  stay in force, the failure is counted and shown in :class:`GuardStatus`. An alarm that does
  not exist never trips anything; it is listed in ``GuardStatus.unknown``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flagkit._fork import after_fork_in_child
from flagkit._snapshot import FlagGuard, Snapshot

__all__ = [
    "AlarmGuard",
    "AlarmState",
    "Alarms",
    "CloudWatchAlarms",
    "GuardStatus",
    "RolloutEvent",
]

log = logging.getLogger("flagkit")
BATCH = 100  # DescribeAlarms takes at most 100 AlarmNames


@dataclass(frozen=True, slots=True)
class AlarmState:
    """One alarm as CloudWatch last described it."""

    name: str
    value: str  # "OK" | "ALARM" | "INSUFFICIENT_DATA"
    since: float  # StateUpdatedTimestamp, seconds since the epoch


class Alarms(Protocol):
    """The seam: describe these alarms (names CloudWatch does not know are left out)."""

    def describe(self, names: Sequence[str]) -> Mapping[str, AlarmState]: ...


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """Something a ramp or the guard did to one flag (``Flags.on_rollout`` listeners get it).

    ``kind`` is ``"ramp-step"``, ``"guard-tripped"``, ``"guard-cleared"`` or ``"guard-rearmed"``.
    """

    kind: str
    flag: str
    at: float  # wall clock
    message: str
    alarms: tuple[str, ...] = ()
    pct: float | None = None  # ramp-step: the share from now on


@dataclass(frozen=True, slots=True)
class GuardStatus:
    """A readable picture of the guard (``Flags.status().guard``)."""

    polls: int
    errors: int
    last_error: str | None
    checked_at: float | None  # wall clock of the last successful poll
    alarms: Mapping[str, str]  # name -> last known state value
    unknown: tuple[str, ...]  # named by the document, not found in CloudWatch
    held: tuple[str, ...]  # flags held at their default right now


class CloudWatchAlarms:
    """:class:`Alarms` over boto3's ``cloudwatch`` client (``DescribeAlarms``, batched).

    Pass ``client`` to reuse one (its region, credentials and endpoint); otherwise one is
    made from ``session`` (or boto3's default) with ``client_kwargs``.
    """

    def __init__(self, client: Any = None, *, session: Any = None, **client_kwargs: Any) -> None:
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:  # pragma: no cover - boto3 is the [aws] extra
                from flagkit._exceptions import MissingExtraError

                raise MissingExtraError("aws", "boto3") from exc
            client_kwargs.setdefault(
                "config",  # the guard owns retrying: one attempt, short timeouts
                Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
            )
            factory = session.client if session is not None else boto3.client
            client = factory("cloudwatch", **client_kwargs)
        self.client = client

    def describe(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        """The states of ``names``: DescribeAlarms, 100 a call, following NextToken."""
        found: dict[str, AlarmState] = {}
        for i in range(0, len(names), BATCH):
            kwargs: dict[str, Any] = {
                "AlarmNames": list(names[i : i + BATCH]),
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                "MaxRecords": BATCH,  # one page per batch (the default page is 50)
            }
            while True:
                page = self.client.describe_alarms(**kwargs)
                for alarm in (*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ())):
                    stamp = alarm.get("StateUpdatedTimestamp")
                    since = stamp.timestamp() if stamp is not None else 0.0
                    found[alarm["AlarmName"]] = AlarmState(
                        alarm["AlarmName"], alarm["StateValue"], since
                    )
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return found


def _describe_failure(exc: BaseException) -> str:
    """A short, credential-free description of a failed poll."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return f"DescribeAlarms failed: {code}"
    return f"DescribeAlarms failed: {type(exc).__name__}"


@dataclass(slots=True)
class _Trip:
    spec: Any  # (FlagSpec, Rollout) that tripped: stay-off re-arms when either changes
    since: float  # when the first alarm entered ALARM (CloudWatch's stamp)
    alarms: tuple[str, ...]


class AlarmGuard:
    """Hold flags at their default while CloudWatch alarms they name are in ``ALARM``.

    Args:
        alarms: the :class:`Alarms` to ask; default :class:`CloudWatchAlarms` (boto3).
        interval: seconds between polls (its own, independent of the document poller).
        **client_kwargs: for the default boto3 client (``region_name``, ``endpoint_url``...).

    Give it to ``Flags(..., guard=AlarmGuard(...))``; the client polls it on its rollout
    thread, ``flagkit.aws_lambda.with_flags`` at invocation starts, or call
    :meth:`Flags.check_rollouts` yourself (``start=False``).
    """

    def __init__(
        self, alarms: Alarms | None = None, *, interval: float = 60.0, **client_kwargs: Any
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        # The boto3 client is made here, in the caller's thread, before any flagkit thread
        # runs: botocore's default session is not safe to make clients from concurrently.
        self.alarms: Alarms = alarms if alarms is not None else CloudWatchAlarms(**client_kwargs)
        self.interval = interval
        self._lock = threading.Lock()
        self._states: dict[str, AlarmState] = {}
        self._asked: tuple[str, ...] = ()
        self._polls = 0
        self._errors = 0
        self._last_error: str | None = None
        self._checked_at: float | None = None
        self._attempted_at: float | None = None
        self._trips: dict[str, _Trip] = {}
        self._latched: dict[str, Any] = {}  # stay-off: flag -> the definition that tripped
        self._offsets: dict[str, tuple[Any, float]] = {}  # resume: flag -> (definition, paused)
        self._held: tuple[str, ...] = ()
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        """A fresh lock: the rollout or poller thread may have held it (in ``decide``) at the
        fork. The states are kept; a ``decide`` the fork cut short is redone by the child's
        next one, and its events belong to the parent, which announces them."""
        self._lock = threading.Lock()

    def poll(self, names: Sequence[str], now: float) -> bool:
        """Describe ``names``; True when it succeeded. A failure keeps the last states."""
        self._attempted_at = now
        if not names:
            return True
        try:
            states = self.alarms.describe(list(names))
        except Exception as exc:
            text = _describe_failure(exc)
            with self._lock:
                self._polls += 1
                self._errors += 1
                self._last_error = text
            if self._errors == 1 or self._errors % 100 == 0:
                log.warning("flagkit: %s; alarm states unchanged", text)
            return False
        with self._lock:
            self._polls += 1
            self._states = {n: s for n, s in states.items() if n in set(names)}
            self._asked = tuple(names)
            self._last_error = None
            self._checked_at = now
        return True

    def due(self, now: float) -> bool:
        """Whether ``interval`` seconds (wall clock) have passed since the last poll began."""
        last = self._attempted_at
        return last is None or not 0.0 <= now - last < self.interval

    def decide(self, base: Snapshot, now: float) -> tuple[dict[str, FlagGuard], list[RolloutEvent]]:
        """Per guarded flag of ``base``: held or not, and its ramp's pause; plus what changed."""
        guards: dict[str, FlagGuard] = {}
        events: list[RolloutEvent] = []
        with self._lock:
            states = self._states
            for key, flag in base.flags.items():
                rollout = flag.rollout
                if rollout is None or not rollout.alarms or flag.spec is None:
                    continue
                firing = tuple(a for a in rollout.alarms if _firing(states.get(a)))
                if rollout.on_clear == "stay-off":
                    ident = (flag.spec, rollout)  # a change to either re-arms
                    held = self._stay_off(key, ident, firing, states, now, events)
                    offset = 0.0
                else:
                    held, offset = self._resume(key, flag, firing, states, now, events)
                if held or offset:
                    trip = self._trips.get(key)
                    guards[key] = FlagGuard(held, offset, trip.alarms if trip else firing)
            for gone in set(self._trips) - set(base.flags):
                del self._trips[gone]
            self._held = tuple(sorted(k for k, g in guards.items() if g.tripped))
        return guards, events

    def _stay_off(
        self,
        key: str,
        spec: Any,
        firing: tuple[str, ...],
        states: Mapping[str, AlarmState],
        now: float,
        events: list[RolloutEvent],
    ) -> bool:
        latched = self._latched.get(key)
        if latched is not None and latched != spec:
            del self._latched[key]
            self._trips.pop(key, None)
            if not firing:
                events.append(
                    RolloutEvent("guard-rearmed", key, now, "a new definition re-armed the flag")
                )
        if firing and key not in self._latched:
            self._latched[key] = spec
            self._trips[key] = _Trip(spec, _since(firing, states, now), firing)
            events.append(_tripped(key, now, firing, "stays off until a new document"))
        return key in self._latched

    def _resume(
        self,
        key: str,
        flag: Any,
        firing: tuple[str, ...],
        states: Mapping[str, AlarmState],
        now: float,
        events: list[RolloutEvent],
    ) -> tuple[bool, float]:
        spec = (flag.spec, flag.rollout)  # pauses belong to this definition and ramp
        kept = self._offsets.get(key)
        offset = kept[1] if kept is not None and kept[0] == spec else 0.0
        trip = self._trips.get(key)
        if trip is not None and trip.spec != spec:
            trip = None
            self._trips.pop(key, None)
        if firing and trip is None:
            self._trips[key] = _Trip(spec, _since(firing, states, now), firing)
            events.append(_tripped(key, now, firing, "resumes when the alarms clear"))
            return True, offset
        if trip is not None and not firing:
            del self._trips[key]
            cleared = max(
                (s.since for a in flag.rollout.alarms if (s := states.get(a)) is not None),
                default=now,
            )
            ramp = flag.rollout.ramp
            began = trip.since if ramp is None else max(trip.since, ramp.start + offset)
            if ramp is not None and cleared > began:
                offset += cleared - began
            self._offsets[key] = (spec, offset)
            message = "released" + (f"; ramp paused {offset:g} s in all" if ramp else "")
            events.append(RolloutEvent("guard-cleared", key, now, message, trip.alarms))
            return False, offset
        return trip is not None, offset

    def status(self) -> GuardStatus:
        """What the guard knows now: polls, failures, the flags it holds, unknown alarm names."""
        with self._lock:
            return GuardStatus(
                polls=self._polls,
                errors=self._errors,
                last_error=self._last_error,
                checked_at=self._checked_at,
                alarms={n: s.value for n, s in self._states.items()},
                unknown=tuple(n for n in self._asked if n not in self._states),
                held=self._held,
            )

    def __repr__(self) -> str:
        return f"AlarmGuard(interval={self.interval!r}, alarms={self.alarms!r})"


def _firing(state: AlarmState | None) -> bool:
    return state is not None and state.value == "ALARM"


def _since(firing: Iterable[str], states: Mapping[str, AlarmState], now: float) -> float:
    return min((states[a].since for a in firing if a in states), default=now)


def _tripped(key: str, now: float, firing: tuple[str, ...], policy: str) -> RolloutEvent:
    return RolloutEvent(
        "guard-tripped",
        key,
        now,
        f"{', '.join(firing)} in ALARM: held at default; {policy}",
        firing,
    )
