"""The alarm guard against moto's CloudWatch, over loopback HTTP, with real boto3 calls."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import flagkit
from flagkit.testing import StaticAlarms

START = "2026-11-26T10:00:00Z"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc).timestamp()
IDS = [f"user-{i}" for i in range(20_000)]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Switchable:
    """A source whose document the test replaces (a new AppConfig deployment)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def fetch(self) -> flagkit.Fetched:
        return flagkit.Fetched(json.dumps(self.doc).encode(), "application/json", None)

    def close(self) -> None:
        pass


def make_alarm(cw: Any, name: str) -> None:
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")


def set_state(cw: Any, name: str, value: str) -> float:
    cw.set_alarm_state(AlarmName=name, StateValue=value, StateReason="test")
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return float(alarm["StateUpdatedTimestamp"].timestamp())


def checkout(**extra: Any) -> dict[str, Any]:
    return {
        "checkout": {"enabled": True, "flagkit-alarms": ["checkout-5xx"], **extra},
        "search": {"enabled": True},
    }


def guarded_client(
    cw: Any, doc: dict[str, Any] | Switchable, clock: Clock | None = None, **kwargs: Any
) -> flagkit.Flags:
    source = doc if isinstance(doc, Switchable) else Switchable(doc)
    guard = flagkit.AlarmGuard(flagkit.CloudWatchAlarms(cw), interval=30)
    flags = flagkit.Flags(source, start=False, guard=guard, wall=clock or Clock(T0), **kwargs)
    flags.refresh()
    flags.check_rollouts()
    return flags


def counting(cw: Any) -> list[dict[str, Any]]:
    """Record every DescribeAlarms request the guard makes (botocore's own event hook).

    The test's own describes (``set_state``) ask for no AlarmTypes; the guard's always do.
    """
    seen: list[dict[str, Any]] = []
    cw.meta.events.register(
        "provide-client-params.cloudwatch.DescribeAlarms",
        lambda params, **_: seen.append(dict(params)) if "AlarmTypes" in params else None,
    )
    return seen


def test_alarm_switches_the_flag_off_on_the_next_guard_poll(cloudwatch: Any) -> None:
    make_alarm(cloudwatch, "checkout-5xx")
    changes: list[tuple[str | None, str | None]] = []
    events: list[flagkit.RolloutEvent] = []
    flags = guarded_client(
        cloudwatch,
        checkout(),
        on_change=lambda a, b: changes.append((a, b)),
        on_rollout=events.append,
    )
    assert flags.enabled("checkout", "u1")
    calls = counting(cloudwatch)
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    assert flags.enabled("checkout", "u1")  # not until the guard polls
    assert flags.check_rollouts()  # one poll...
    assert len(calls) == 1
    assert not flags.enabled("checkout", "u1")  # ...and it is off
    d = flags.details("checkout", "u1")
    assert (d.value, d.reason) == (False, flagkit.Reason.GUARDED)
    assert flags.enabled("search", "u1")  # other flags untouched
    assert changes[-1] == (flags.version, flags.version)
    assert [(e.kind, e.flag, e.alarms) for e in events] == [
        ("guard-tripped", "checkout", ("checkout-5xx",))
    ]
    status = flags.status().guard
    assert status is not None
    assert status.alarms == {"checkout-5xx": "ALARM"}
    assert status.held == ("checkout",)
    assert "HELD" in str(flags.explain("checkout", "u1"))


def test_stay_off_holds_until_a_new_document_rearms(cloudwatch: Any) -> None:
    make_alarm(cloudwatch, "checkout-5xx")
    source = Switchable(checkout(color="green"))
    events: list[flagkit.RolloutEvent] = []
    flags = guarded_client(cloudwatch, source, on_rollout=events.append)
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    flags.check_rollouts()
    assert not flags.enabled("checkout", "u1")
    set_state(cloudwatch, "checkout-5xx", "OK")
    assert not flags.check_rollouts()
    assert not flags.enabled("checkout", "u1")  # stays off: the default policy
    # a new document that leaves this flag alone does not re-arm it
    source.doc = {**checkout(color="green"), "search": {"enabled": False}}
    assert flags.refresh()
    assert not flags.enabled("checkout", "u1")
    # one that changes the flag does
    source.doc = checkout(color="blue")
    assert flags.refresh()
    assert flags.enabled("checkout", "u1")
    assert flags.get_str("checkout", "color", "", "u1") == "blue"
    assert [e.kind for e in events] == ["guard-tripped", "guard-rearmed"]


def test_resume_comes_back_when_the_alarm_clears(cloudwatch: Any) -> None:
    make_alarm(cloudwatch, "checkout-5xx")
    flags = guarded_client(cloudwatch, checkout(**{"flagkit-alarm-clear": "resume"}))
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    flags.check_rollouts()
    assert not flags.enabled("checkout", "u1")
    set_state(cloudwatch, "checkout-5xx", "INSUFFICIENT_DATA")
    assert flags.check_rollouts()
    assert flags.enabled("checkout", "u1")  # only ALARM holds a flag
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    flags.check_rollouts()
    set_state(cloudwatch, "checkout-5xx", "OK")
    flags.check_rollouts()
    assert flags.details("checkout", "u1").reason is flagkit.Reason.STATIC


def test_any_named_alarm_trips_and_alarms_are_batched_by_100(cloudwatch: Any) -> None:
    names = [f"alarm-{i:03d}" for i in range(150)]
    for name in names:
        make_alarm(cloudwatch, name)
    doc = {
        f"flag-{i:02d}": {"enabled": True, "flagkit-alarms": names[i * 10 : i * 10 + 10]}
        for i in range(15)
    }
    flags = guarded_client(cloudwatch, doc)
    calls = counting(cloudwatch)
    set_state(cloudwatch, "alarm-137", "ALARM")
    flags.check_rollouts()
    assert [len(c["AlarmNames"]) for c in calls] == [100, 50]
    assert {c["MaxRecords"] for c in calls} == {100}
    held = [k for k in doc if not flags.enabled(k, "u")]
    assert held == ["flag-13"]


def test_guard_failures_never_switch_flags_and_show_in_status(cloudwatch: Any) -> None:
    make_alarm(cloudwatch, "checkout-5xx")
    # a CloudWatch nobody listens on: connection refused, on loopback
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    unreachable = boto3.client(
        "cloudwatch",
        endpoint_url=dead,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",  # noqa: S106
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    flags = guarded_client(unreachable, checkout())
    assert flags.enabled("checkout", "u1")
    status = flags.status().guard
    assert status is not None and status.errors >= 1
    assert "DescribeAlarms failed" in (status.last_error or "")
    assert "y" not in (status.last_error or "").split()  # no credentials in the message


def test_a_failing_guard_keeps_the_last_known_states() -> None:
    alarms = StaticAlarms({"checkout-5xx": "OK"})
    guard = flagkit.AlarmGuard(alarms, interval=5)
    flags = flagkit.Flags(flagkit.StaticSource(json.dumps(checkout())), start=False, guard=guard)
    flags.refresh()
    alarms.set("checkout-5xx", "ALARM")
    flags.check_rollouts()
    assert not flags.enabled("checkout", "u")
    # permission lost, then throttled: nothing changes, both are counted
    for code in ("AccessDenied", "Throttling"):
        alarms.fail_with = ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeAlarms")
        alarms.set("checkout-5xx", "OK")
        assert not flags.check_rollouts()
        assert not flags.enabled("checkout", "u")
        assert flags.status().guard.last_error == f"DescribeAlarms failed: {code}"  # type: ignore[union-attr]
    assert flags.status().guard.errors == 2  # type: ignore[union-attr]
    # and a guard that never succeeded does not switch anything off either
    fresh = StaticAlarms({"checkout-5xx": "ALARM"})
    fresh.fail_with = ClientError({"Error": {"Code": "AccessDenied", "Message": "m"}}, "X")
    other = flagkit.Flags(
        flagkit.StaticSource(json.dumps(checkout())),
        start=False,
        guard=flagkit.AlarmGuard(fresh, interval=5),
    )
    other.refresh()
    other.check_rollouts()
    assert other.enabled("checkout", "u")


def test_unknown_alarms_are_listed_and_never_trip(cloudwatch: Any) -> None:
    flags = guarded_client(cloudwatch, checkout(**{"flagkit-alarms": ["no-such-alarm"]}))
    assert flags.enabled("checkout", "u1")
    status = flags.status().guard
    assert status is not None and status.unknown == ("no-such-alarm",)


def test_the_guard_thread_polls_on_its_own(cloudwatch: Any) -> None:
    make_alarm(cloudwatch, "checkout-5xx")
    off = threading.Event()
    guard = flagkit.AlarmGuard(flagkit.CloudWatchAlarms(cloudwatch), interval=0.05)
    with flagkit.Flags(
        Switchable(checkout()),
        guard=guard,
        on_rollout=lambda e: off.set() if e.kind == "guard-tripped" else None,
    ) as flags:
        assert flags.enabled("checkout", "u1")
        set_state(cloudwatch, "checkout-5xx", "ALARM")
        assert off.wait(10), "the guard thread never tripped the flag"
        assert not flags.enabled("checkout", "u1")


# --- ramp and alarm together -------------------------------------------------------------------


def ramped_checkout(policy: str) -> dict[str, Any]:
    return checkout(
        **{
            "flagkit-ramp": "Linear10PercentEvery1Minute",
            "flagkit-ramp-start": START,
            "flagkit-alarm-clear": policy,
        }
    )


def on_share(flags: flagkit.Flags) -> float:
    return sum(flags.enabled("checkout", u) for u in IDS) / len(IDS)


def test_an_alarm_pauses_a_ramp_and_resume_picks_up_where_it_stopped() -> None:
    clock = Clock(T0 + 150)  # step 3: 30 %
    alarms = StaticAlarms({"checkout-5xx": "OK"}, wall=clock)
    events: list[flagkit.RolloutEvent] = []
    flags = flagkit.Flags(
        flagkit.StaticSource(json.dumps(ramped_checkout("resume"))),
        start=False,
        wall=clock,
        guard=flagkit.AlarmGuard(alarms, interval=10),
        on_rollout=events.append,
    )
    flags.refresh()
    before = {u for u in IDS if flags.enabled("checkout", u)}
    assert 0.28 < len(before) / len(IDS) < 0.32
    alarms.set("checkout-5xx", "ALARM", since=T0 + 160)
    clock.now = T0 + 170
    flags.check_rollouts()
    assert on_share(flags) == 0.0
    clock.now = T0 + 400  # the ramp would be at 70 % by now; held, it shows nothing
    flags.check_rollouts()
    assert on_share(flags) == 0.0
    alarms.set("checkout-5xx", "OK", since=T0 + 400)  # 240 s in ALARM
    flags.check_rollouts()
    # resumes at the step it paused in (30 %), the same users, and moves on 240 s late
    after = {u for u in IDS if flags.enabled("checkout", u)}
    assert after == before
    assert "paused 240 s" in str(flags.explain("checkout", "u"))
    clock.now = T0 + 180 + 240  # step 4 begins 240 s late
    assert 0.38 < on_share(flags) < 0.42
    flags.check_rollouts()
    assert [e.kind for e in events] == ["guard-tripped", "guard-cleared", "ramp-step"]
    assert events[-1].pct == 40.0


def test_stay_off_ramp_restarts_only_with_a_new_document() -> None:
    clock = Clock(T0 + 150)
    alarms = StaticAlarms({"checkout-5xx": "OK"}, wall=clock)
    source = Switchable(ramped_checkout("stay-off"))
    flags = flagkit.Flags(
        source, start=False, wall=clock, guard=flagkit.AlarmGuard(alarms, interval=10)
    )
    flags.refresh()
    alarms.set("checkout-5xx", "ALARM")
    flags.check_rollouts()
    alarms.set("checkout-5xx", "OK")
    clock.now = T0 + 3600
    flags.check_rollouts()
    assert on_share(flags) == 0.0  # the ramp would be at 100 %; it stays off
    restart = ramped_checkout("stay-off")
    restart["checkout"]["flagkit-ramp-start"] = "2026-11-26T11:00:00Z"
    source.doc = restart
    flags.refresh()
    assert 0.08 < on_share(flags) < 0.12  # re-armed: the new ramp's first step


def test_moto_timestamps_drive_the_pause(cloudwatch: Any) -> None:
    """The pause is CloudWatch's own ALARM -> OK interval, read back through boto3."""
    make_alarm(cloudwatch, "checkout-5xx")
    tripped_at = set_state(cloudwatch, "checkout-5xx", "ALARM")
    clock = Clock(tripped_at - 150)
    doc = ramped_checkout("resume")
    doc["checkout"]["flagkit-ramp-start"] = datetime.fromtimestamp(
        tripped_at - 300, timezone.utc
    ).isoformat()
    flags = guarded_client(cloudwatch, doc, clock)
    assert on_share(flags) == 0.0
    cleared_at = set_state(cloudwatch, "checkout-5xx", "OK")
    flags.check_rollouts()
    guard = flags._snapshot.flags["checkout"].guard
    assert guard is not None
    assert guard.offset == pytest.approx(cleared_at - tripped_at)


def _forked_child(queue: Any, holder: list[Any]) -> None:
    flags, alarms = holder
    off = threading.Event()
    flags.on_rollout(lambda e: off.set() if e.kind == "guard-tripped" else None)
    alarms.set("checkout-5xx", "ALARM")  # the child's own copy of the fake
    queue.put((off.wait(15), flags._watcher.running, flags.enabled("checkout", "u1")))


def test_the_rollout_thread_runs_again_in_a_forked_child() -> None:
    """gunicorn's preload: a client made before fork keeps guarding in the worker."""
    import multiprocessing
    import warnings

    alarms = StaticAlarms({"checkout-5xx": "OK"})
    flags = flagkit.Flags(
        flagkit.StaticSource(json.dumps(checkout())),
        guard=flagkit.AlarmGuard(alarms, interval=0.05),
    )
    assert flags._watcher is not None and flags._watcher.running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        proc = ctx.Process(target=_forked_child, args=(queue, [flags, alarms]))
        proc.start()
    tripped, running, enabled = queue.get(timeout=30)
    proc.join(10)
    assert (tripped, running, enabled) == (True, True, False)
    assert flags.enabled("checkout", "u1")  # the parent's alarms never changed
    flags.close()


def test_listeners_run_outside_the_clients_write_lock() -> None:
    """A listener may call back into the client from any thread (refresh(), check_rollouts())
    without deadlocking against the poller: no user code runs under the write lock."""
    alarms = StaticAlarms({"checkout-5xx": "OK"})
    flags = flagkit.Flags(
        flagkit.StaticSource(json.dumps(checkout())),
        start=False,
        guard=flagkit.AlarmGuard(alarms, interval=5),
    )
    flags.refresh()
    free: list[bool] = []

    def lock_is_free(*_: object) -> None:
        got: list[bool] = []

        def try_lock() -> None:  # from another thread, as the poller would
            got.append(flags._write_lock.acquire(timeout=5))
            if got[0]:
                flags._write_lock.release()

        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
        free.append(got[0])
        flags.refresh()  # calling back in works

    flags.on_change(lock_is_free)
    flags.on_rollout(lock_is_free)
    alarms.set("checkout-5xx", "ALARM")
    assert flags.check_rollouts()
    assert free == [True, True]  # the change listener and the rollout listener
    assert not flags.enabled("checkout", "u1")


def test_cloudwatch_alarms_follows_next_token() -> None:
    """Pages are followed to the end (moto answers in one page; CloudWatch may not)."""
    from datetime import timedelta

    stamp = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)

    class Paging:  # the shape of boto3's cloudwatch client, two pages per call
        def __init__(self) -> None:
            self.requests: list[dict[str, Any]] = []

        def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
            self.requests.append(kwargs)
            names = kwargs["AlarmNames"]
            half = len(names) // 2
            page = names[half:] if "NextToken" in kwargs else names[:half]
            alarms = [
                {
                    "AlarmName": n,
                    "StateValue": "OK",
                    "StateUpdatedTimestamp": stamp + timedelta(seconds=i),
                }
                for i, n in enumerate(page)
            ]
            out: dict[str, Any] = {"MetricAlarms": alarms, "CompositeAlarms": []}
            if "NextToken" not in kwargs:
                out["NextToken"] = "page-2"
            return out

    client = Paging()
    states = flagkit.CloudWatchAlarms(client).describe([f"a{i}" for i in range(6)])
    assert sorted(states) == [f"a{i}" for i in range(6)]
    assert [r.get("NextToken") for r in client.requests] == [None, "page-2"]
    assert states["a3"].since == stamp.timestamp()


def test_the_default_guard_makes_its_boto3_client_up_front(
    moto_endpoint: str, cloudwatch: Any
) -> None:
    """AlarmGuard(**client kwargs) builds CloudWatchAlarms in the caller's thread, with short
    timeouts and one attempt (the guard owns retrying), and polls through it."""
    make_alarm(cloudwatch, "checkout-5xx")
    guard = flagkit.AlarmGuard(
        interval=30,
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    assert isinstance(guard.alarms, flagkit.CloudWatchAlarms)
    config = guard.alarms.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    assert config.retries["total_max_attempts"] == 1
    flags = flagkit.Flags(Switchable(checkout()), start=False, guard=guard)
    flags.refresh()
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    assert flags.check_rollouts()
    assert not flags.enabled("checkout", "u1")
