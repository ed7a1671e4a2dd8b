"""``flagkit demo``: deploy is not release, shown end to end on loopback.

The demo starts :class:`~flagkit.testing.LocalAppConfigData` (a local AppConfig, control plane
and AppConfigData, that real boto3 talks to), publishes a checkout flags document with
``new-pricing-engine`` off, and starts a real :class:`~flagkit.Flags` client polling it through
``AppConfigSource``. Every publish goes through the AWS API, as it would on AWS:
CreateHostedConfigurationVersion, then StartDeployment; from step 2 on through the code of
``flagkit publish --wait``, on the files of ``examples/release/``, as docs/release.md does. The
client reads what AppConfigData serves for a feature-flag profile (the data view, or Ion once
a flag has variants). A traffic thread evaluates the flag for a synthetic population without
pause while the demo walks the release as a team would: staff -> 5 % -> a customer cohort ->
everyone -> kill switch.

Each step prints two measurements:

* the share of the population served the new engine (a full pass over every user, pinned to one
  snapshot with ``flags.view()``), against the share the rule was written to reach;
* the time from ``publish`` to the swap in this process (``perf_counter`` before publishing,
  again in an ``on_change`` listener). It is bounded by the poll interval: 1 s here, at least
  15 s against AWS (``RequiredMinimumPollIntervalInSeconds``), plus the deployment strategy.

:func:`run_demo` returns the measurements so that ``tests/test_demo.py`` can check them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .demo_world import (
    APP,
    CANARY_PCT,
    COHORT_COUNTRIES,
    ENV,
    FLAG,
    PROFILE,
    STAFF_DOMAIN,
    StepResult,
    Swaps,
    User,
    measure,
    pct,
    population,
)

__all__ = ["DemoResult", "Step", "StepResult", "population", "run_demo"]

# -- the documents a team would publish, one per step ------------------------------------------

_STAFF_RULE = f'(ends_with $email "{STAFF_DOMAIN}")'
_CANARY_RULE = f"(split pct::{CANARY_PCT} by::$userId)"
_COHORT_RULE = (
    '(or (eq $plan "pro") (in $country [' + ", ".join(f'"{c}"' for c in COHORT_COUNTRIES) + "]))"
)


RELEASE_FILES = (
    "1-dark.json",
    "2-staff.json",
    "3-canary-5.json",
    "4-cohort.json",
    "5-everyone.json",
    "6-kill-switch.json",
)


def _release_file(name: str) -> Any:
    from importlib.resources import files

    return files("flagkit._cli").joinpath("release_docs").joinpath(name)


def release_document(name: str) -> bytes:
    """One stored document of the release, as shipped in the wheel (``examples/release/`` holds
    byte-identical copies for the runbook, docs/release.md; a test keeps them equal)."""
    return bytes(_release_file(name).read_bytes())


def publish_step(client: Any, name: str, label: str) -> int:
    """``flagkit publish FILE --strategy flagkit-instant --wait``, as docs/release.md runs it:
    the same ``release`` code (validate, CreateHostedConfigurationVersion on
    LatestVersionNumber, StartDeployment, GetDeployment until COMPLETE); the version number."""
    from importlib.resources import as_file

    from .release import publish_file, wait_for

    with as_file(_release_file(name)) as path:
        done = publish_file(client, str(path), APP, ENV, PROFILE, strategy=STRATEGY, label=label)
    assert done.target is not None and done.deployment is not None and done.version is not None
    final = wait_for(client, done.target, done.deployment, sleep=time.sleep, interval=0.05)
    if final["State"] != "COMPLETE":
        raise RuntimeError(f"{name}: deployment {done.deployment} ended {final['State']}")
    return done.version


STRATEGY = "flagkit-instant"  # LocalAppConfigData's own: everyone at once, no bake


@dataclass(frozen=True)
class Step:
    """One publish in the release: what it means, the document, and the share it should reach."""

    label: str
    title: str
    why: str
    rule: str
    file: str  # in release_docs/ and examples/release/
    target: Callable[[list[User]], float]  # the share the rule was written to reach
    grows: bool  # a rollout step: nobody who had the new engine may lose it


def _share(users: list[User], pred: Callable[[User], bool]) -> float:
    return sum(1 for u in users if pred(u)) / len(users) if users else 0.0


def _is_staff(u: User) -> bool:
    return str(u[1]["email"]).endswith(STAFF_DOMAIN)


def _in_cohort(u: User) -> bool:
    return u[1]["plan"] == "pro" or u[1]["country"] in COHORT_COUNTRIES


def _union(*shares: float) -> float:
    """The share covered by independent groups (the split is independent of the attributes)."""
    out = 1.0
    for s in shares:
        out *= 1.0 - s
    return 1.0 - out


STEPS: tuple[Step, ...] = (
    Step(
        "v1-deploy",
        "Deploy: the new engine ships dark",
        "pricing-v2 is in every process, behind the flag; nobody gets it yet",
        '{"enabled": false}',
        RELEASE_FILES[0],
        lambda users: 0.0,
        grows=True,
    ),
    Step(
        "v2-staff",
        "Release to staff",
        "employees try it on real checkouts first",
        _STAFF_RULE,
        RELEASE_FILES[1],
        lambda users: _share(users, _is_staff),
        grows=True,
    ),
    Step(
        "v3-canary",
        f"Canary: {CANARY_PCT} % of customers",
        "a sticky hash of $userId picks the same 5 % in every process",
        _CANARY_RULE,
        RELEASE_FILES[2],
        lambda users: _union(_share(users, _is_staff), CANARY_PCT / 100),
        grows=True,
    ),
    Step(
        "v4-cohort",
        "Cohort: pro plan, Ireland and New Zealand",
        "widen to customers chosen by attributes",
        _COHORT_RULE,
        RELEASE_FILES[3],
        lambda users: _union(_share(users, _is_staff), CANARY_PCT / 100, _share(users, _in_cohort)),
        grows=True,
    ),
    Step(
        "v5-everyone",
        "Release to everyone",
        "the flag is on for all; the old engine can be deleted next sprint",
        '{"enabled": true}',
        RELEASE_FILES[4],
        lambda users: 1.0,
        grows=True,
    ),
    Step(
        "v6-kill-switch",
        "Kill switch",
        "an incident: turn it off everywhere without a deploy",
        '{"enabled": false}',
        RELEASE_FILES[5],
        lambda users: 0.0,
        grows=False,
    ),
)


# -- measurements --------------------------------------------------------------------------------


@dataclass
class DemoResult:
    users: int
    poll_interval: int
    steps: list[StepResult] = field(default_factory=list)
    rollout: list[StepResult] = field(default_factory=list)  # part two: ramp and alarm guard
    # (operation, status) of every control-plane call: each publish is
    # CreateHostedConfigurationVersion then StartDeployment, as on AWS
    api_calls: list[tuple[str, int | None]] = field(default_factory=list)
    evaluations: int = 0  # done by the traffic thread while the release went on
    traffic_errors: int = 0
    elapsed: float = 0.0


class _Traffic:
    """A thread that evaluates the flag for the population, round after round, until stopped."""

    def __init__(self, flags: Any, users: list[User]) -> None:
        self._flags = flags
        self._users = users
        self._stop = threading.Event()
        self.evaluations = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="flagkit-demo-traffic", daemon=True)

    def _run(self) -> None:
        enabled = self._flags.enabled
        while not self._stop.is_set():
            for uid, attrs in self._users:
                try:
                    enabled(FLAG, uid, attrs)
                except Exception:  # enabled() never raises; count it if it ever did
                    self.errors += 1
                self.evaluations += 1
                if self._stop.is_set():
                    return

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)


def _print_step(
    say: Callable[[str], None], n: int, step: Step, res: StepResult, users: int
) -> None:
    say("")
    say(f"step {n}/{TOTAL_STEPS}  {step.title}")
    say(f"          why:     {step.why}")
    say(f"          publish: {step.label}  {step.rule}")
    if n == 1:
        say("          swap:    loaded when the client started")
    else:
        say(f"          swap:    {res.latency * 1000:6.0f} ms after publish")
    mix = ", ".join(f"{k} {v:,}" for k, v in res.by_variant.items())
    say(
        f"          served:  {res.served:>6,} of {users:,} users = "
        f"{pct(res.share)}  (target {pct(res.target)})"
        + (f"  [{mix}]" if len(res.by_variant) > 1 else "")
    )
    if n > 1 and step.grows:
        say(f"          sticky:  {res.lost} users who had it lost it")


def _print_summary(say: Callable[[str], None], result: DemoResult) -> None:
    latencies = [s.latency for s in result.steps[1:]]
    say("")
    say("=" * 72)
    if latencies:
        say(
            f"publish -> swap: {min(latencies) * 1000:.0f}..{max(latencies) * 1000:.0f} ms "
            f"with a {result.poll_interval} s poll interval; the kill switch took "
            f"{result.steps[-1].latency * 1000:.0f} ms"
        )
    say(
        f"traffic: {result.evaluations:,} evaluations during the release, "
        f"{result.traffic_errors} errors; readers never waited for a lock"
    )
    say(
        "On AWS the swap comes up to one poll interval (15 s at the least) after AppConfig's"
        " deployment strategy reaches this process's session."
    )
    if result.rollout:
        held = result.rollout[1]
        say(
            f"alarm -> flag off: {held.latency * 1000:.0f} ms with a 0.2 s guard interval,"
            " in-process, with nothing published"
        )
    say(
        "The code was deployed once, at step 1. Every release after it was a document"
        " published to AppConfig."
    )
    say(f"finished in {result.elapsed:.1f} s. Next: flagkit --help, and the quickstart guide")


def _print_intro(say: Callable[[str], None], url: str, users: int, poll_interval: int) -> None:
    say(f"local AppConfig              {url}  (loopback, no AWS account)")
    say(
        "publish                      flagkit publish --wait: CreateHostedConfigurationVersion"
        " + StartDeployment + GetDeployment (boto3)"
    )
    say(f"configuration                {APP}/{ENV}/{PROFILE}, flag {FLAG!r}")
    say("documents                    examples/release/*.json (docs/release.md walks them)")
    say(f"poll interval                {poll_interval} s (AWS allows 15 s at the least)")
    say(
        f"traffic                      {users:,} users (1 in 200 staff, ~12 % pro plan),"
        " evaluated in-process"
    )
    say("")
    say(f"The checkout service already runs the code for {FLAG!r}, off. Each step below")
    say("publishes a new version of the flags document; this process swaps it in at its")
    say("next poll, and the traffic never stops.")


def _require_ion() -> None:
    """The release adds variants, which AppConfigData serves as Ion: amazon-ion reads it."""
    from flagkit._document.ion import _ion

    _ion()  # raises MissingExtraError naming flagkit[ion]


def _record(result: DemoResult, traffic: _Traffic, server: Any) -> None:
    result.evaluations = traffic.evaluations
    result.traffic_errors = traffic.errors
    result.api_calls = [(c.operation, c.status) for c in server.control_calls]


TOTAL_STEPS = len(STEPS) + 5  # part two (_demo_rollout.PARTS steps) follows the publishes


def run_demo(
    *,
    users: int = 20_000,
    poll_interval: int = 1,
    out: TextIO | None = None,
    swap_timeout: float = 10.0,
) -> DemoResult:
    """Run the whole story; print it to ``out`` (None: silent) and return the measurements."""
    from flagkit._client import Flags
    from flagkit._rollout.guard import AlarmGuard
    from flagkit._sources.appconfig import AppConfigSource
    from flagkit.testing import LocalAppConfigData, StaticAlarms

    from .demo_rollout import DemoClock, run_rollout

    def say(text: str) -> None:
        if out is not None:
            print(text, file=out, flush=True)

    _require_ion()
    people = population(users)
    result = DemoResult(users=users, poll_interval=poll_interval)
    started = time.perf_counter()
    say("flagkit demo: deploy is not release\n" + "=" * 72)
    with LocalAppConfigData(poll_interval=poll_interval) as server:
        _print_intro(say, server.endpoint_url, users, poll_interval)
        first = STEPS[0]
        # step 1 is `flagkit serve --file 1-dark.json`; then `flagkit publish` for each step
        server.publish(APP, ENV, PROFILE, release_document(first.file), version_label=first.label)
        control = server.appconfig_client()
        swaps = Swaps()
        clock = DemoClock()
        alarms = StaticAlarms({"checkout-5xx": "OK"}, wall=clock)
        flags = Flags(
            AppConfigSource(APP, ENV, PROFILE, client=server.client()),
            on_change=swaps,
            wait=swap_timeout,
            guard=AlarmGuard(alarms, interval=0.2),
            wall=clock,
        )
        try:
            if flags.version != first.label:
                raise RuntimeError(f"the first document did not load: {flags.status()}")
            previous: set[str] | None = None
            with _Traffic(flags, people) as traffic:
                for n, step in enumerate(STEPS, 1):
                    latency = 0.0  # step 1 was loaded at start-up
                    if n > 1:
                        t0 = time.perf_counter()
                        publish_step(control, step.file, step.label)
                        at = swaps.wait(step.label, swap_timeout)
                        if at is None:
                            raise RuntimeError(f"{step.label} was not swapped in: {flags.status()}")
                        latency = at - t0
                    # one pinned snapshot for the whole pass, so the count is of one version
                    served, by_variant = measure(flags.view(), people)
                    lost = len(previous - served) if previous is not None and step.grows else 0
                    previous = served
                    res = StepResult(
                        label=step.label,
                        target=step.target(people),
                        share=len(served) / users if users else 0.0,
                        served=len(served),
                        latency=latency,
                        lost=lost,
                        by_variant=by_variant,
                    )
                    result.steps.append(res)
                    _print_step(say, n, step, res, users)
                result.rollout = run_rollout(
                    flags,
                    server,
                    alarms,
                    clock,
                    people,
                    swaps,
                    say,
                    first=len(STEPS),
                    total=TOTAL_STEPS,
                    swap_timeout=swap_timeout,
                )
            _record(result, traffic, server)
        finally:
            flags.close()
    result.elapsed = time.perf_counter() - started
    _print_summary(say, result)
    return result
