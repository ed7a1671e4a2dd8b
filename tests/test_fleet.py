"""Workers forked from one running client poll and back off on their own schedules (issue 17).

Under ``gunicorn --preload`` the master makes the client and forks every worker from it. A
random stream copied by ``fork()`` gives every worker the same draws: the same jitter, the same
error backoff, so the whole fleet polls and retries as one burst. Each test forks ``CHILDREN``
children with ``os.fork`` from one client whose poller is running; every child reports over a
pipe. A child that has not reported within ``BOUND`` seconds is killed: the suite never hangs.

Time is a frozen clock, so a child's next poll time is read exactly, without waiting for it.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flagkit import AppConfigSource, Fetched, Flags, Polling, RetryableSourceError
from flagkit._poller import Poller

CHILDREN = 12
BOUND = 15.0  # seconds for all the children together; one still running then is hung
NOW = 1000.0  # the frozen monotonic clock every process reads
INTERVAL = 3600.0  # long: no poller thread polls by itself while a test runs
POLLING = Polling(interval=INTERVAL, backoff_base=100.0, backoff_cap=10_000.0)
DOCUMENT = json.dumps({"checkout": {"enabled": True}}).encode()


class FailsInChildren:
    """Answers the parent; in any forked child every fetch fails, as during an outage."""

    def __init__(self) -> None:
        self.parent = os.getpid()

    def fetch(self) -> Fetched:
        if os.getpid() != self.parent:
            raise RetryableSourceError("AppConfig unreachable")
        return Fetched(DOCUMENT, "application/json", "v1", INTERVAL)


def fork_children(child: Callable[[], Any], n: int = CHILDREN) -> list[Any]:
    """Fork ``n`` children that each run ``child`` and send back its JSON result."""
    readers: dict[int, int] = {}  # read end -> pid
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            for _ in range(n):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child: never return into pytest
                    try:
                        os.close(r)
                        try:
                            report = {"ok": child()}
                        except BaseException as exc:
                            report = {"error": repr(exc)}
                        os.write(w, json.dumps(report).encode())
                    finally:
                        os._exit(0)
                os.close(w)
                readers[r] = pid
        results = []
        deadline = time.monotonic() + BOUND  # a bound on the wait, not a measurement
        while readers and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(readers), [], [], left)
            for r in ready:
                data = b""
                while chunk := os.read(r, 65536):
                    data += chunk
                os.close(r)
                os.waitpid(readers.pop(r), 0)
                report = json.loads(data) if data else {"error": "no report"}
                assert "error" not in report, report["error"]
                results.append(report["ok"])
        assert not readers, f"{len(readers)} children hung (killed after {BOUND} s)"
        return results
    finally:
        for r, pid in readers.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)


@pytest.fixture
def flags() -> Iterator[Flags]:
    """A running client, as a gunicorn master holds one after ``--preload``."""
    client = Flags(FailsInChildren(), polling=POLLING, clock=lambda: NOW, wait=BOUND)
    assert client.ready and client.status().state == "running"
    yield client
    client.close()


def test_forked_children_poll_first_at_different_times_within_one_interval(flags: Flags) -> None:
    """Each child's first poll is at its own random point within the interval after the fork.

    Before, every child polled at once and then drew the parent's next jitter: one burst.
    """
    firsts = fork_children(lambda: flags._poller._next_due - NOW)
    assert len(set(firsts)) == CHILDREN, firsts
    assert all(0.0 <= first <= INTERVAL for first in firsts), firsts
    # twelve uniform draws all within a tenth of the interval: odds below 1e-10
    assert max(firsts) - min(firsts) > INTERVAL / 10, firsts


def test_forked_children_back_off_differently_during_an_outage(flags: Flags) -> None:
    """Four failed polls in each child: no two children draw the same backoffs."""

    def backoffs() -> list[float | None]:
        return [flags._poller.poll_once() for _ in range(4)]

    drawn = fork_children(backoffs)
    assert all(None not in waits for waits in drawn), drawn
    assert len({tuple(waits) for waits in drawn}) == CHILDREN, drawn
    assert flags._poller.status().errors == 0  # the parent's own stream was not touched


def test_forked_children_retry_within_a_fetch_differently() -> None:
    """AppConfigSource's own retry waits (between attempts of one fetch) differ per child."""
    source = AppConfigSource("shop", "prod", "flags", region_name="us-east-1")
    client = Flags(source, start=False, wait=0)  # its poller resets the source in a child
    draws = fork_children(lambda: [source._rng.random() for _ in range(3)])
    assert len({tuple(d) for d in draws}) == CHILDREN, draws
    client.close()


def test_an_injected_generator_is_kept_in_forked_children() -> None:
    """A test that passes ``rng=`` keeps its reproducible stream in a forked child."""
    poller = Poller(FailsInChildren(), lambda _snapshot: None, rng=random.Random(17))
    poller.start()
    try:
        assert poller.wait_ready(BOUND)
        draws = fork_children(lambda: [poller._rng.random() for _ in range(3)], n=3)
        expected = random.Random(17)
        expected.random()  # the parent's first poll drew its jitter from the stream,
        expected.random()  # and the child its first poll's offset
        assert draws == [[expected.random() for _ in range(3)]] * 3
    finally:
        poller.close()


# -- a fork while the poller thread imports boto3 (found measuring shutdown, issue 17.2) -------

MID_IMPORT = r"""
import os, signal, socket, sys, threading
import flagkit

importing, forked, parent = threading.Event(), threading.Event(), os.getpid()


class Holding:
    # Holds a poller thread inside boto3's import (its module lock taken) until the fork.
    def find_spec(self, name, path=None, target=None):
        if (
            name == "boto3.session"
            and os.getpid() == parent
            and threading.current_thread() is not threading.main_thread()
        ):
            importing.set()
            forked.wait(10)
        return None


sys.meta_path.insert(0, Holding())
os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
with socket.create_server(("127.0.0.1", 0)) as hang:  # accepts and never answers
    source = flagkit.AppConfigSource(
        "shop", "prod", "flags", region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{hang.getsockname()[1]}",
    )
    flags = flagkit.Flags(source, wait=0)
    importing.wait(2)  # the fixed code imported boto3 in this thread: nothing to wait for
    pid = os.fork()
    if pid == 0:
        signal.alarm(10)  # a child stuck on boto3's import lock ends here (SIGALRM)
        import boto3  # what the child's poller does first
        flags.close(timeout=5)  # ends a fetch hung on its socket at once
        poller = flags._poller._thread
        os._exit(3 if boto3.client is None or poller is None or poller.is_alive() else 0)
    forked.set()
    _, status = os.waitpid(pid, 0)
    flags.close()
    print(os.waitstatus_to_exitcode(status))
"""


def test_a_child_forked_while_boto3_is_imported_polls_and_closes() -> None:
    """A fork just after ``Flags(AppConfigSource(...))`` (gunicorn --preload) must not catch the
    poller thread importing boto3: the child would inherit that import lock held for ever, never
    fetch, and block in ``close()`` for its whole timeout. Before, about half such forks did; here the
    import is held until the fork, so the old code fails every time."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", MID_IMPORT], check=False, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    # -14: the child hung importing boto3 (the lock its dead parent thread held) until SIGALRM
    assert run.stdout.split()[-1] == "0", run.stdout
