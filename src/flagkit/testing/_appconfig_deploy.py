"""Deployments on the local AppConfig: strategies, the growth schedule and the state machine.

Time is the server's injected clock, so a test moves a deployment through its steps, its bake
and its rollback by moving that clock; nothing here sleeps or runs a thread. A deployment is
brought up to date whenever it is observed (a control-plane call or a data-plane poll), and
that is also when its environment's CloudWatch alarms are read **[inference]**: AWS watches
them continuously; observing is the only moment a local fake can tell a difference.

Sources (research/appconfig.md §4): botocore's ``appconfig`` 2019-10-09 model
(``CreateDeploymentStrategyRequest``, ``Deployment``, ``DeploymentEvent``) and the user guide's
"Working with deployment strategies" and "Predefined deployment strategies" pages.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PREDEFINED", "Deployment", "Strategy", "bucket", "percentage_at"]

MINUTE = 60.0
ACTIVE = frozenset({"DEPLOYING", "BAKING"})


@dataclass(frozen=True, slots=True)
class Strategy:
    """A deployment strategy as ``DeploymentStrategy`` describes it."""

    id: str
    name: str
    duration_minutes: int
    growth_type: str  # LINEAR | EXPONENTIAL
    growth_factor: float
    bake_minutes: int
    description: str = ""
    replicate_to: str = "NONE"

    def wire(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "DeploymentDurationInMinutes": self.duration_minutes,
            "GrowthType": self.growth_type,
            "GrowthFactor": self.growth_factor,
            "FinalBakeTimeInMinutes": self.bake_minutes,
            "ReplicateTo": self.replicate_to,
        }


def _predefined(name: str, growth_type: str, factor: float, minutes: int, bake: int) -> Strategy:
    return Strategy(name, name, minutes, growth_type, factor, bake, f"{name} (predefined)")


# The values of the AWS CLI example list-deployment-strategies (aws-cli,
# awscli/examples/appconfig/list-deployment-strategies.rst) and the user guide's predefined list.
PREDEFINED = {
    s.id: s
    for s in (
        _predefined("AppConfig.Linear20PercentEvery6Minutes", "LINEAR", 20.0, 30, 30),
        _predefined("AppConfig.Canary10Percent20Minutes", "EXPONENTIAL", 10.0, 20, 10),
        _predefined("AppConfig.AllAtOnce", "LINEAR", 100.0, 0, 10),
        _predefined("AppConfig.Linear50PercentEvery30Seconds", "LINEAR", 50.0, 1, 1),
    )
}


def _steps(strategy: Strategy) -> list[float]:
    """The percentages a deployment goes through, the last one 100."""
    g = strategy.growth_factor
    if strategy.growth_type == "EXPONENTIAL":  # G*(2^N): 2, 4, 8, ... (the model's example)
        out = [g * 2**n for n in range(math.ceil(math.log2(100 / g)) + 1)]
    else:  # increments of the growth factor
        out = [g * n for n in range(1, math.ceil(100 / g - 1e-9) + 1)]
    return [min(100.0, p) for p in out]


def percentage_at(strategy: Strategy, elapsed: float) -> float:
    """``PercentageComplete`` ``elapsed`` seconds after the start; 100 once the window ends.

    The steps are spread evenly over ``DeploymentDurationInMinutes`` and the first one is
    reached at once: the SDK's model text says a 20 % linear deployment "initially makes the
    configuration available to 20 percent of the targets", and ``PercentageComplete`` has a
    minimum of 1. (The user guide's timeline starts at 0 % instead; docs/local-server.md.)
    """
    steps = _steps(strategy)
    window = strategy.duration_minutes * MINUTE
    if elapsed >= window:
        return 100.0
    return steps[min(len(steps) - 1, int(elapsed / (window / len(steps))))]


def bucket(deployment_key: str, target: str) -> float:
    """Where a target falls in 0..100 for one deployment: stable within it, fresh for the next.

    An AWS re:Post answer describes this for the pre-session API (a client "probabilistically
    assigned" to a bucket 0-99 per deployment) **[inference]** that sessions are bucketed alike.
    """
    digest = hashlib.sha256(f"{deployment_key}\0{target}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


@dataclass(slots=True)
class Event:
    type: str
    triggered_by: str
    description: str
    at: float  # on the server clock


@dataclass(slots=True)
class Deployment:
    """One StartDeployment: its strategy, its progress and its event log."""

    number: int
    application_id: str
    environment_id: str
    profile_id: str
    profile_name: str
    version: int
    version_label: str | None
    strategy: Strategy
    description: str
    started: float  # server clock
    previous: int | None  # the hosted version served before it, if any
    state: str = "DEPLOYING"
    percentage: float = 0.0
    completed: float | None = None
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._log("DEPLOYMENT_STARTED", "USER", "Deployment started", self.started)
        self.advance(self.started, lambda: None)

    @property
    def key(self) -> str:
        return f"{self.application_id}/{self.environment_id}/{self.number}"

    def _log(self, kind: str, by: str, description: str, at: float) -> None:
        self.events.append(Event(kind, by, description, at))

    def advance(self, now: float, alarm: Callable[[], str | None]) -> None:
        """Bring the state up to ``now``; ``alarm()`` names a monitor in ALARM, if any."""
        if self.state not in ACTIVE:
            return
        fired = alarm()
        if fired is not None:
            self._log("ROLLBACK_STARTED", "CLOUDWATCH_ALARM", f"Alarm {fired} in ALARM", now)
            self._end("ROLLED_BACK", "ROLLBACK_COMPLETED", "APPCONFIG", now)
            return
        elapsed = max(0.0, now - self.started)
        window = self.strategy.duration_minutes * MINUTE
        steps = _steps(self.strategy)
        for i, pct in enumerate(steps):  # log each step reached, at the time it was reached
            at = self.started + i * window / len(steps)
            if pct > self.percentage and (elapsed >= i * window / len(steps)):
                self.percentage = pct
                self._log("PERCENTAGE_UPDATED", "APPCONFIG", f"Deployed to {pct:g}%", at)
        if elapsed >= window and self.state == "DEPLOYING":
            self.percentage = 100.0
            self.state = "BAKING"
            self._log("BAKE_TIME_STARTED", "APPCONFIG", "Bake time started", self.started + window)
        if self.state == "BAKING" and elapsed >= window + self.strategy.bake_minutes * MINUTE:
            at = self.started + window + self.strategy.bake_minutes * MINUTE
            self._end("COMPLETE", "DEPLOYMENT_COMPLETED", "APPCONFIG", at)

    def stop(self, now: float, *, revert: bool) -> None:
        """StopDeployment: an active one is ROLLED_BACK; a COMPLETE one REVERTED if allowed."""
        if self.state in ACTIVE:
            self._log("ROLLBACK_STARTED", "USER", "Deployment stopped", now)
            self._end("ROLLED_BACK", "ROLLBACK_COMPLETED", "USER", now)
        elif revert and self.state == "COMPLETE":
            self._end("REVERTED", "REVERT_COMPLETED", "USER", now)

    def _end(self, state: str, kind: str, by: str, at: float) -> None:
        self.state = state
        self.completed = at
        self._log(kind, by, f"Deployment {state.lower().replace('_', ' ')}", at)

    def serves_new(self, target: str) -> bool:
        """Whether ``target`` (a session) gets this deployment's version now."""
        if self.state == "COMPLETE":
            return True
        if self.state not in ACTIVE:
            return False
        return bucket(self.key, target) < self.percentage

    def wire(self, stamp: Callable[[float], str], *, summary: bool = False) -> dict[str, Any]:
        """``Deployment`` (or ``DeploymentSummary``) as the model shapes it."""
        s = self.strategy
        out: dict[str, Any] = {
            "DeploymentNumber": self.number,
            "ConfigurationName": self.profile_name,
            "ConfigurationVersion": str(self.version),
            "DeploymentDurationInMinutes": s.duration_minutes,
            "GrowthType": s.growth_type,
            "GrowthFactor": s.growth_factor,
            "FinalBakeTimeInMinutes": s.bake_minutes,
            "State": self.state,
            "PercentageComplete": max(1.0, self.percentage),
            "StartedAt": stamp(self.started),
        }
        if self.completed is not None:
            out["CompletedAt"] = stamp(self.completed)
        if self.version_label is not None:
            out["VersionLabel"] = self.version_label
        if summary:
            out["ConfigurationProfileId"] = self.profile_id
            out["Type"] = "USER"
            return out
        out.update(
            ApplicationId=self.application_id,
            EnvironmentId=self.environment_id,
            DeploymentStrategyId=s.id,
            ConfigurationProfileId=self.profile_id,
            ConfigurationLocationUri="hosted",
            Description=self.description,
            EventLog=[  # "The most recent events are displayed first."
                {
                    "EventType": e.type,
                    "TriggeredBy": e.triggered_by,
                    "Description": e.description,
                    "OccurredAt": stamp(e.at),
                }
                for e in reversed(self.events)
            ],
            AppliedExtensions=[],
        )
        return out


def alarm_names(arns: Sequence[str]) -> list[str]:
    """CloudWatch alarm names from ``arn:aws:cloudwatch:<region>:<account>:alarm:<name>``."""
    return [arn.split(":alarm:", 1)[1] if ":alarm:" in arn else arn for arn in arns]
