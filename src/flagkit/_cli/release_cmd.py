"""``flagkit publish``, ``deployments`` and ``stop``: the commands around release.py.

In: parsed arguments and a :class:`Runtime` (how to sleep, what time it is, whether a person
can be asked). Out: text and an exit status. The AppConfig client follows boto3's usual chain
for credentials and region; ``--endpoint-url``, ``--region`` and ``--profile-name`` override it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from flagkit._exceptions import MissingExtraError

from .release import (
    ACTIVE,
    NO_REGION,
    ReleaseError,
    Target,
    alarm_that_fired,
    find_target,
    list_deployments,
    publish_file,
    stop,
    wait_for,
)

__all__ = ["Progress", "Runtime", "cmd_deployments", "cmd_publish", "cmd_stop"]

INTERRUPTED = 130


def _ask_a_person() -> Callable[[str], str] | None:
    return input if sys.stdin is not None and sys.stdin.isatty() else None


@dataclass(frozen=True)
class Runtime:
    """What a command needs from the world besides AWS; tests inject all of it."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time  # seconds since the epoch, for the bake countdown
    ask: Callable[[str], str] | None = field(default_factory=_ask_a_person)  # None: nobody
    tty: bool | None = None  # None: whether stdout is a terminal
    interval: float = 5.0  # seconds between GetDeployment calls

    def is_tty(self, out: TextIO) -> bool:
        return self.tty if self.tty is not None else out.isatty()


def make_client(args: argparse.Namespace) -> Any:
    """A boto3 ``appconfig`` client: the usual chain, then the --profile-name and --region."""
    try:
        boto3 = importlib.import_module("boto3")  # an optional extra, without type information
    except ImportError as exc:
        raise MissingExtraError("aws", "boto3") from exc
    from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=args.profile_name, region_name=args.region)
        return session.client("appconfig", endpoint_url=args.endpoint_url)
    except ProfileNotFound as exc:
        raise ReleaseError(f"no AWS profile named {args.profile_name!r} ({exc})", 2) from exc
    except NoRegionError as exc:
        raise ReleaseError(NO_REGION, 2) from exc
    except BotoCoreError as exc:  # a malformed endpoint URL, ...
        raise ReleaseError(f"cannot make an AppConfig client: {exc}", 2) from exc
    except ValueError as exc:  # botocore refuses a malformed --endpoint-url with ValueError
        raise ReleaseError(f"--endpoint-url: {exc}", 2) from exc


def _stamp(value: Any) -> float | None:
    return value.timestamp() if hasattr(value, "timestamp") else None


class Progress:
    """Renders GetDeployment answers: new events as lines, and the state as a progress bar that
    redraws in place on a terminal, or as a plain line each time it changes otherwise."""

    WIDTH = 20

    def __init__(self, out: TextIO, *, tty: bool, clock: Callable[[], float]) -> None:
        self.out, self.tty, self.clock = out, tty, clock
        self.seen = 0
        self.last_status = ""
        self.drawn = False

    def __call__(self, deployment: dict[str, Any]) -> None:
        events = list(reversed(deployment.get("EventLog", [])))  # the wire is newest first
        fresh, self.seen = events[self.seen :], len(events)
        if self.drawn and fresh:
            self.out.write("\r\033[K")
            self.drawn = False
        for event in fresh:
            at = event.get("OccurredAt")
            when = at.strftime("%H:%M:%S") if hasattr(at, "strftime") else "--:--:--"
            self.out.write(
                f"  {when}  {event['EventType']:<19} {event.get('Description', '')} "
                f"({event.get('TriggeredBy', '?')})\n"
            )
        status = self.status(deployment)
        # plain lines: one per change of state or percentage (not per tick of the countdown)
        key = f"{deployment['State']} {deployment.get('PercentageComplete')}"
        if self.tty:
            self.out.write(f"\r\033[K{status}")
            self.drawn = True
        elif key != self.last_status:
            self.out.write(status + "\n")
        self.last_status = key
        self.out.flush()

    def status(self, deployment: dict[str, Any]) -> str:
        state, pct = deployment["State"], float(deployment.get("PercentageComplete", 0.0))
        filled = round(pct / 100 * self.WIDTH)
        text = f"deployment #{deployment['DeploymentNumber']} {state:<11} {pct:5.1f}%"
        if self.tty:
            text += f" [{'#' * filled}{'-' * (self.WIDTH - filled)}]"
        if state == "BAKING":
            text += self._bake(deployment)
        return text

    def _bake(self, deployment: dict[str, Any]) -> str:
        started = next(
            (
                _stamp(e.get("OccurredAt"))
                for e in deployment.get("EventLog", [])
                if e["EventType"] == "BAKE_TIME_STARTED"
            ),
            None,
        )
        if started is None:
            return "  baking"
        left = max(0, round(started + deployment["FinalBakeTimeInMinutes"] * 60 - self.clock()))
        return f"  bake: {left // 60}m {left % 60:02d}s left"

    def finish(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.drawn = False
        self.out.flush()


def _where(args: argparse.Namespace) -> str:
    """The options that point another command at the same AppConfig, for hints."""
    parts = [f"--application {args.application}", f"--environment {args.environment}"]
    for option, value in (
        ("--endpoint-url", args.endpoint_url),
        ("--region", args.region),
        ("--profile-name", args.profile_name),
    ):
        if value:
            parts.append(f"{option} {value}")
    return " ".join(parts)


def cmd_publish(args: argparse.Namespace, runtime: Runtime | None = None) -> int:
    runtime = runtime or Runtime()
    out = sys.stdout
    client = None if args.dry_run else make_client(args)
    done = publish_file(
        client,
        args.file,
        args.application,
        args.environment,
        args.profile,
        strategy=args.strategy,
        description=args.description,
        label=args.label,
        dry_run=args.dry_run,
    )
    if done.target is None or done.version is None or done.deployment is None:
        print(f"{args.file}: valid; dry run, nothing was sent.", file=out)
        print(
            f"  would publish it to {args.application}/{args.environment}/{args.profile} "
            f"on top of the latest hosted version, then deploy it with the {done.strategy_note}",
            file=out,
        )
        return 0
    where = f"{args.application}/{args.environment}/{args.profile}"
    print(f"{args.file}: hosted version {done.version} of {where}", file=out)
    print(f"note: {done.strategy_note}", file=out)
    print(f"deployment #{done.deployment} started", file=out)
    if not args.wait:
        print(f"  follow it: flagkit deployments {_where(args)}", file=out)
        return 0
    progress = Progress(out, tty=runtime.is_tty(out), clock=runtime.clock)
    try:
        final = wait_for(
            client,
            done.target,
            done.deployment,
            on_progress=progress,
            sleep=runtime.sleep,
            interval=runtime.interval,
        )
    except KeyboardInterrupt:
        progress.finish()
        return _interrupted(client, done.target, done.deployment, args, runtime)
    progress.finish()
    return _outcome(client, done.target, final, done.version)


def _outcome(client: Any, target: Target, deployment: dict[str, Any], version: int) -> int:
    number, state = deployment["DeploymentNumber"], deployment["State"]
    if state == "COMPLETE":
        print(f"deployment #{number} COMPLETE: version {version} is served to everyone")
        return 0
    why = alarm_that_fired(client, target, deployment) or "no reason recorded"
    print(
        f"flagkit: deployment #{number} {state}: {why}; the previous version is served again",
        file=sys.stderr,
    )
    return 1


def _interrupted(
    client: Any, target: Target, number: int, args: argparse.Namespace, runtime: Runtime
) -> int:
    how = f"flagkit stop {_where(args)} {number}"
    if runtime.ask is None:
        print(f"interrupted: deployment #{number} goes on. To stop it: {how}", file=sys.stderr)
        return INTERRUPTED
    try:
        answer = runtime.ask(f"Stop deployment #{number} (roll it back)? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print(f"deployment #{number} goes on. To stop it later: {how}", file=sys.stderr)
        return INTERRUPTED
    stopped = stop(client, target, number)
    print(f"deployment #{number} stopped: {stopped['State']}", file=sys.stderr)
    return INTERRUPTED


def cmd_deployments(args: argparse.Namespace, runtime: Runtime | None = None) -> int:
    client = make_client(args)
    target = find_target(client, args.application, args.environment, None)
    rows = list_deployments(client, target, args.limit)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print(f"no deployments in {args.application}/{args.environment}")
        return 0
    print(f"{'#':>4}  {'state':<11} {'done':>6}  {'version':<20} {'strategy':<24} started")
    for d in rows:
        version = d["ConfigurationVersion"] + (
            f" ({d['VersionLabel']})" if d.get("VersionLabel") else ""
        )
        shape = (
            f"{d['GrowthType'].lower()} {d['GrowthFactor']:g}%/{d['DeploymentDurationInMinutes']}m"
            f" bake {d['FinalBakeTimeInMinutes']}m"
        )
        started = d["StartedAt"].isoformat(timespec="seconds") if d.get("StartedAt") else "-"
        print(
            f"{d['DeploymentNumber']:>4}  {d['State']:<11} {d['PercentageComplete']:5.1f}%  "
            f"{d['ConfigurationName'] + ' v' + version:<20} {shape:<24} {started}"
        )
    active = [d for d in rows if d["State"] in ACTIVE]
    if active:
        print(f"  in progress: #{active[0]['DeploymentNumber']}; stop it with flagkit stop")
    return 0


def cmd_stop(args: argparse.Namespace, runtime: Runtime | None = None) -> int:
    client = make_client(args)
    target = find_target(client, args.application, args.environment, None)
    stopped = stop(client, target, args.number, revert=args.revert)
    print(f"deployment #{stopped['DeploymentNumber']}: {stopped['State']}")
    return 0
