"""Fork safety: every lock flagkit owns is fresh in a forked child, and fork hooks do not pile up.

Only the forking thread survives ``fork()``, so a lock that another thread holds at that moment
stays held in the child for ever. Each case below holds one of flagkit's locks in a thread of
the parent, forks, and has the child do the public operation that needs the lock. A child that
does not finish within ``BOUND`` seconds is killed and counted as hung: the suite never hangs.

``os.register_at_fork`` registrations cannot be removed. The last test makes and closes
clients in a fresh interpreter and counts what a fork then runs: registrations and Python calls.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from flagkit import AlarmGuard, Fetched, Flags
from flagkit._hooks import EvaluationCounters, Exposures
from flagkit._lambda_refresh import refresher_for
from flagkit.testing import FlagData, StaticAlarms, override

BOUND = 15.0  # seconds a child may take; one still running then is hung
ALARM = "checkout-5xx"


def _document(version: int) -> bytes:
    return json.dumps(
        {"checkout": {"enabled": version % 2 == 0, "flagkit-alarms": [ALARM]}}
    ).encode()


class Counting:
    """A source whose every fetch is a new version, so every ``refresh()`` swaps."""

    def __init__(self) -> None:
        self.fetches = 0

    def fetch(self) -> Fetched:
        self.fetches += 1
        return Fetched(_document(self.fetches), "application/json", f"v{self.fetches}", 60.0)


def fork_while_held(lock: AbstractContextManager[Any], child: Callable[[], None]) -> int | None:
    """Fork while another thread holds ``lock``; the child runs ``child``.

    Returns the child's exit code (0: it finished, 1: an assertion failed), None if it hung.
    """
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(BOUND)

    holder = threading.Thread(target=hold, name="holder")
    holder.start()
    try:
        assert held.wait(BOUND)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            proc = multiprocessing.get_context("fork").Process(target=child)
            proc.start()
    finally:
        release.set()
        holder.join(BOUND)
    proc.join(BOUND)  # waits on the child's sentinel, not a poll loop
    if proc.is_alive():
        proc.kill()
        proc.join(BOUND)
        return None
    return proc.exitcode


# -- one case per lock: (the lock the parent holds at the fork, what the child then does) ----

Case = tuple[AbstractContextManager[Any], Callable[[], None]]


_opened: list[Flags] = []  # closed after each test


def _client(source: Any = None, *, start: bool = False, **kwargs: Any) -> Flags:
    flags = Flags(source or Counting(), start=start, **kwargs)
    _opened.append(flags)
    assert start or flags.refresh()
    return flags


def client_write_lock() -> Case:
    """The poller or rollout thread mid-swap: the child's next swap must not wait for it."""
    flags = _client()
    return flags._write_lock, lambda: _check(flags.refresh())


def poller_fetch_lock() -> Case:
    flags = _client()
    return flags._poller._lock, lambda: _check(flags.refresh())


def guard_lock() -> Case:
    """The guard deciding inside a swap: the child's swaps and rollout checks need it."""
    flags = _client(guard=AlarmGuard(StaticAlarms({ALARM: "OK"}), interval=60))
    assert flags._guard is not None
    return flags._guard._lock, lambda: _check(flags.refresh() and not flags.check_rollouts())


def static_alarms_lock() -> Case:
    alarms = StaticAlarms({ALARM: "OK"})
    flags = _client(guard=AlarmGuard(alarms, interval=60))

    def child() -> None:
        alarms.set(ALARM, "ALARM")
        _check(flags.check_rollouts() and not flags.enabled("checkout", default=True))

    return alarms._lock, child


def rollout_watcher_lock() -> Case:
    flags = _client(start=True, guard=AlarmGuard(StaticAlarms({ALARM: "OK"}), interval=60))
    watcher = flags._watcher
    assert watcher is not None and watcher.running
    return watcher._lock, lambda: _check(watcher.running)


def counters_lock() -> Case:
    """An evaluating thread inside EvaluationCounters: the child's first evaluation needs it
    (3 of 20 children hung this way, issue 19)."""
    flags, counters = _client(), EvaluationCounters()
    flags.add_hook(counters)

    def child() -> None:
        before = counters.by_flag().get("checkout", 0)
        flags.enabled("checkout", "u-1")
        _check(counters.by_flag()["checkout"] == before + 1)

    return counters._lock, child


def exposures_lock() -> Case:
    flags, sent = _client(), []
    exposures = Exposures(sent.extend)
    flags.add_hook(exposures)

    def child() -> None:
        flags.enabled("checkout", "u-1")
        _check(exposures.flush(BOUND) and [e.context_key for e in sent] == ["u-1"])

    return exposures._lock, child


def hooks_module_lock() -> Case:
    from flagkit import _hooks

    flags = _client()

    def child() -> None:
        seen: list[Any] = []
        flags.add_hook(lambda d, u, a: seen.append(u))
        flags.enabled("checkout", "u-1")
        _check(seen == ["u-1"])

    return _hooks._lock, child


def misses_lock() -> Case:
    """Another thread logging its first unknown flag: the child's first miss logs too."""
    from flagkit import _misses

    flags = _client()

    def child() -> None:
        _check(flags.enabled("no-such-flag-in-the-child", default=True))

    return _misses._lock, child


def lambda_refresher_lock() -> Case:
    flags = _client()
    refresher = refresher_for(flags, wall=_Wall(), timeout=20.0)

    def child() -> None:
        attempt, new = refresher.start(backoff_cap=0.0)
        _check(new and attempt.done.wait(BOUND) and attempt.ok)

    return refresher._lock, child


def lambda_registry_lock() -> Case:
    from flagkit import _lambda_refresh

    flags = _client()
    return _lambda_refresh._registry_lock, lambda: _check(
        refresher_for(flags, wall=_Wall(), timeout=20.0) is not None
    )


def overrides_locks() -> Case:
    """The testing overrides: the registry's lock (the per-client and FlagData locks below)."""
    from flagkit.testing import _overrides

    flags = _client()

    def child() -> None:
        with override(flags, {"checkout": True}):
            _check(flags.enabled("checkout"))

    return _overrides._registry_lock, child


def override_layers_lock() -> Case:
    flags = _client()
    with override(flags, {"checkout": True}):
        pass
    layers = _overrides_of(flags)

    def child() -> None:
        with override(flags, {"checkout": False}):
            _check(not flags.enabled("checkout", default=True))

    return layers.lock, child


def flag_data_lock() -> Case:
    data = FlagData()
    data.flag("checkout").on()
    return data._lock, lambda: _check("checkout" in data.document()["values"])


def openfeature_provider_lock() -> Case:
    pytest.importorskip("openfeature")
    from flagkit.openfeature import FlagkitProvider

    provider = FlagkitProvider(_client())
    return provider._lock, provider.shutdown


CASES = [
    client_write_lock,
    poller_fetch_lock,
    guard_lock,
    static_alarms_lock,
    rollout_watcher_lock,
    counters_lock,
    exposures_lock,
    hooks_module_lock,
    misses_lock,
    lambda_refresher_lock,
    lambda_registry_lock,
    overrides_locks,
    override_layers_lock,
    flag_data_lock,
    openfeature_provider_lock,
]


class _Wall:
    """A wall clock that moves a minute each read, so every refresh is due."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def _overrides_of(flags: Flags) -> Any:
    from flagkit.testing import _overrides

    return _overrides._registry[flags]


def _check(ok: object) -> None:
    if not ok:
        raise AssertionError("the child's operation did not do what it should")


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_a_lock_held_at_fork_is_fresh_in_the_child(case: Callable[[], Case]) -> None:
    """Issue 19.13: the child's operation finishes although the parent held the lock."""
    lock, child = case()
    code = fork_while_held(lock, child)
    assert code is not None, f"the child hung on {case.__name__} (killed after {BOUND} s)"
    assert code == 0


def test_a_refresh_in_flight_at_fork_does_not_stop_the_childs_refreshes() -> None:
    """The Lambda refresher's helper thread is gone in the child: its attempt would never end,
    and while one is in flight no other starts. The child must start and finish its own."""
    parent, entered, gate = os.getpid(), threading.Event(), threading.Event()

    class Blocking(Counting):
        def fetch(self) -> Fetched:
            if os.getpid() == parent and self.fetches:  # the parent's second fetch hangs
                entered.set()
                gate.wait(BOUND)
            return super().fetch()

    flags = _client(Blocking())
    refresher = refresher_for(flags, wall=_Wall(), timeout=20.0)
    attempt, new = refresher.start(backoff_cap=0.0)
    assert new and entered.wait(BOUND)

    def child() -> None:
        mine, started = refresher.start(backoff_cap=0.0)
        _check(started and mine.done.wait(BOUND) and mine.ok)

    try:
        code = fork_while_held(contextlib.nullcontext(), child)
    finally:
        gate.set()
    assert attempt.done.wait(BOUND) and attempt.ok  # the parent's own refresh was unharmed
    assert code == 0, "hung" if code is None else code


# -- one at-fork hook, whatever the number of clients made (issue 19, point 14) ---------------

CHURN = r"""
import gc, json, os, sys

registrations = 0
register = os.register_at_fork


def counting(**hooks):
    global registrations
    registrations += 1
    register(**hooks)


os.register_at_fork = counting

import flagkit
from flagkit._hooks import EvaluationCounters
from flagkit.testing import StaticAlarms


def churn(n):
    for _ in range(n):
        guard = flagkit.AlarmGuard(StaticAlarms({"a": "OK"}), interval=60)
        flags = flagkit.Flags(flagkit.StaticSource({"f": {"enabled": True}}), guard=guard)
        flags.add_hook(EvaluationCounters())
        assert flags.enabled("f")
        flags.close()
    gc.collect()


def calls_in_child():
    # Python calls made inside fork() up to the child's first line: the at-fork hooks' work.
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    r, w = os.pipe()
    sys.setprofile(profile)
    pid = os.fork()
    sys.setprofile(None)
    if pid == 0:
        os.write(w, str(calls).encode())
        os._exit(0)
    os.close(w)
    got = int(os.read(r, 64))
    os.waitpid(pid, 0)
    return got


churn(1)
before = (registrations, calls_in_child())
churn(int(sys.argv[1]))
after = (registrations, calls_in_child())
print(json.dumps({"before": before, "after": after}))
"""


def test_closed_clients_add_no_fork_hooks_and_no_work_at_fork() -> None:
    """Make and close 300 clients (each with a guard and counters): no new at-fork registration,
    and the next fork makes exactly as many Python calls in the child as before them."""
    out = subprocess.run(
        [sys.executable, "-c", CHURN, "300"],
        capture_output=True,
        text=True,
        timeout=120 - 10,  # a hung fork fails the test instead of stalling the suite
        check=True,
    )
    counts = json.loads(out.stdout)
    (registered_before, calls_before), (registered_after, calls_after) = (
        counts["before"],
        counts["after"],
    )
    assert registered_after == registered_before, counts
    assert calls_after == calls_before, counts
