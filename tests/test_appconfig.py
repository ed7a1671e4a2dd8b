"""AppConfigSource and the poller against the local AppConfigData server, over real boto3.

The fault matrix: every fault leaves evaluating threads untouched, keeps the last good
snapshot, and the next poll after the fault clears recovers.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import flagkit
from flagkit import AppConfigSource, Flags, Polling
from flagkit._sources.appconfig import SESSION_RENEW_AFTER
from flagkit.testing import LocalAppConfigData

APP, ENV, PROFILE = "shop", "prod", "flags"
GOOD = {"checkout": {"enabled": True}}
NEXT = {"checkout": {"enabled": False}}


class Clock:
    """A fake monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[LocalAppConfigData]:
    with LocalAppConfigData(poll_interval=0) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        yield srv


@pytest.fixture
def client(server: LocalAppConfigData) -> Iterator[Any]:
    c = server.client(read_timeout=0.5, connect_timeout=0.5)
    yield c
    c.close()


class Evaluators:
    """Threads evaluating continuously while faults happen; they record what they see."""

    def __init__(self, flags: Flags, n: int = 2) -> None:
        self.flags = flags
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.values: set[bool] = set()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.values.add(self.flags.enabled("checkout", "user-1"))
            except BaseException as exc:  # the point: nothing may reach here
                self.errors.append(exc)

    def __enter__(self) -> Evaluators:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inject(kind: str, **kw: Any) -> Callable[[LocalAppConfigData], None]:
    return lambda srv: srv.inject(kind, **kw)  # type: ignore[arg-type]


def publish_raw(body: bytes) -> Callable[[LocalAppConfigData], None]:
    return lambda srv: srv.publish(APP, ENV, PROFILE, body, version_label="bad")


FAULTS: dict[str, tuple[Callable[[LocalAppConfigData], None], str]] = {
    "throttle-429": (inject("throttle", operation="GetLatestConfiguration"), "throttled"),
    "internal-500": (inject("internal", operation="GetLatestConfiguration"), "service error"),
    "hang-past-read-timeout": (
        inject("delay", delay=3.0, operation="GetLatestConfiguration"),
        "timed out",
    ),
    "dropped-connection": (inject("drop", operation="GetLatestConfiguration"), "connection"),
    "expired-token": (inject("expired"), "expired"),
    "corrupted-token": (inject("corrupted"), "corrupted"),
    "poll-too-early": (inject("too_early"), "too early"),
    "malformed-json": (publish_raw(b'{"checkout": {"enabled": tr'), "malformed JSON"),
    "schema-invalid": (publish_raw(b'{"checkout": {"enabled": "yes"}}'), "invalid value"),
    "oversize": (
        publish_raw(json.dumps({"checkout": {"enabled": True, "pad": "x" * 5000}}).encode()),
        "too large",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_keeps_last_good_and_recovers(
    fault: str, server: LocalAppConfigData, client: Any
) -> None:
    """The fault is absorbed: evaluators see no exception and only the good value; then recovery."""
    cause, message = FAULTS[fault]
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False, polling=Polling(max_bytes=4096)) as flags:
        assert flags.refresh() is True
        with Evaluators(flags) as ev:
            cause(server)
            assert flags.refresh() is False
            assert message in (flags.status().last_error or ""), flags.status()
            assert flags.enabled("checkout") is True
        assert ev.errors == [] and ev.values == {True}
        server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
        assert flags.refresh() is True, flags.status()
        assert flags.enabled("checkout", default=True) is False


def test_connection_refused_then_recovers() -> None:
    """Nothing listening: the error is retryable; once the server is up the source recovers."""
    port = _refused_port()
    source = AppConfigSource(
        APP, ENV, PROFILE, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1"
    )
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with Flags(source, start=False) as flags:
        assert flags.refresh() is False
        assert "connection failed" in (flags.status().last_error or "")
        with LocalAppConfigData(poll_interval=0, port=port) as srv:
            srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
            assert flags.refresh() is True
            assert flags.enabled("checkout") is True


def test_tokens_are_never_reused_and_one_session_is_started(
    server: LocalAppConfigData, client: Any
) -> None:
    """StartConfigurationSession once, then each GetLatestConfiguration with a fresh token."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        for _ in range(5):
            flags.refresh()
    calls = server.calls
    starts = [c for c in calls if c.operation == "StartConfigurationSession"]
    tokens = [c.token for c in calls if c.operation == "GetLatestConfiguration"]
    assert len(starts) == 1
    assert len(tokens) == 5 and len(set(tokens)) == 5


def test_a_failed_call_never_resends_its_token(server: LocalAppConfigData, client: Any) -> None:
    """After a failure the source starts a new session instead of reusing the old token."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        flags.refresh()
        server.inject("internal", operation="GetLatestConfiguration")
        flags.refresh()
        flags.refresh()
    tokens = [c.token for c in server.calls if c.operation == "GetLatestConfiguration"]
    assert len(tokens) == len(set(tokens))
    assert source.sessions_started == 2


def test_the_client_flagkit_makes_sends_a_failed_token_once(
    server: LocalAppConfigData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without client=, AppConfigSource makes its own boto3 client: one attempt per call, so a
    throttled or failed GetLatestConfiguration is not retried by botocore with the same token
    (botocore's ``"max_attempts": 1`` would mean one *retry*)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    source = AppConfigSource(
        APP, ENV, PROFILE, endpoint_url=server.endpoint_url, region_name="us-east-1"
    )
    with Flags(source, start=False) as flags:
        flags.refresh()
        for fault in ("internal", "throttle"):
            server.inject(fault, operation="GetLatestConfiguration")
            flags.refresh()
        assert flags.enabled("checkout")
    assert source._client.meta.config.retries["total_max_attempts"] == 1
    tokens = [c.token for c in server.calls if c.operation == "GetLatestConfiguration"]
    assert len(tokens) == 3  # one per refresh: no botocore retries
    assert len(tokens) == len(set(tokens))


def test_unchanged_after_new_session_is_not_swapped(
    server: LocalAppConfigData, client: Any
) -> None:
    """A fresh session re-sends the current document; it is reported unchanged (no swap)."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        flags.refresh()
        server.inject("expired")
        flags.refresh()
        assert flags.refresh() is False
        assert flags.status().swaps == 1


def test_session_is_renewed_before_the_token_lifetime_ends(
    server: LocalAppConfigData, client: Any
) -> None:
    """After 23 h on the source's clock a new session starts on its own."""
    clock = Clock()
    source = AppConfigSource(APP, ENV, PROFILE, client=client, clock=clock)
    with Flags(source, start=False) as flags:
        flags.refresh()
        flags.refresh()
        assert source.sessions_started == 1
        clock.now += SESSION_RENEW_AFTER
        flags.refresh()
        assert source.sessions_started == 2


def test_server_expiry_on_its_clock_starts_a_new_session() -> None:
    """A token the server deems expired (24 h on its clock) leads to a new session, not an outage."""
    clock = Clock()
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        client = srv.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client)
        with Flags(source, start=False) as flags:
            flags.refresh()
            clock.now += 86_401
            assert flags.refresh() is False
            assert "expired" in (flags.status().last_error or "")
            srv.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
            assert flags.refresh() is True
        client.close()


def test_server_interval_wins_and_jitter_only_delays(
    client: Any, server: LocalAppConfigData
) -> None:
    """The poller waits the interval the service returns (plus up to 10 % jitter), never less."""
    server.poll_interval = 7
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    flags = Flags(source, start=False, polling=Polling(interval=1000))
    delays = [flags._poller.poll_once() for _ in range(20)]
    assert all(d is not None and 7 <= d <= 7.7 for d in delays), delays
    flags.close()


def test_required_minimum_interval_is_sent(server: LocalAppConfigData, client: Any) -> None:
    """RequiredMinimumPollIntervalInSeconds is passed to StartConfigurationSession."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client, required_minimum_poll_interval=30)
    assert source.fetch().poll_after == 30
    with pytest.raises(ValueError, match=r"15\.\.86400"):
        AppConfigSource(APP, ENV, PROFILE, required_minimum_poll_interval=5)


def test_missing_profile_is_permanent_and_named(server: LocalAppConfigData, client: Any) -> None:
    """ResourceNotFound is logged once with what is missing; retried slowly; not ready."""
    source = AppConfigSource(APP, ENV, "nope", client=client)
    with Flags(source, start=False, polling=Polling(permanent_retry=123)) as flags:
        assert flags._poller.poll_once() == 123
        status = flags.status()
        assert "not found" in (status.last_error or "") and "nope" in (status.last_error or "")
        assert not flags.ready


def test_backoff_is_exponential_with_full_jitter(server: LocalAppConfigData, client: Any) -> None:
    """Consecutive transient failures back off within a growing, capped ceiling."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    flags = Flags(source, start=False, polling=Polling(backoff_base=1, backoff_cap=8))
    server.inject("internal", count=6, operation="GetLatestConfiguration")
    delays = [flags._poller.poll_once() for _ in range(6)]
    ceilings = [min(8, 2**n) for n in range(1, 7)]
    assert all(d is not None and 0 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert flags.refresh() is True  # faults used up: recovered
    flags.close()


def test_publish_reaches_enabled_through_the_poller_thread(
    server: LocalAppConfigData, client: Any
) -> None:
    """With the background thread, a publish reaches flags.enabled() without any call from the test."""
    swapped = threading.Event()
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, wait=5, polling=Polling(jitter=0)) as flags:
        assert flags.enabled("checkout") is True
        flags.on_change(lambda old, new: swapped.set())
        started = time.perf_counter()
        server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
        assert swapped.wait(10)
        elapsed = time.perf_counter() - started
        assert flags.enabled("checkout", default=True) is False
    print(f"publish -> enabled(): {elapsed * 1000:.1f} ms")  # reported, never asserted


def test_close_returns_within_its_bound_during_a_hanging_request() -> None:
    """close(timeout) returns in time even while GetLatestConfiguration hangs."""
    with LocalAppConfigData(poll_interval=0) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        client = srv.client(read_timeout=30)
        srv.inject("delay", delay=20, operation="GetLatestConfiguration")
        inner = AppConfigSource(APP, ENV, PROFILE, client=client)
        entered = threading.Event()

        class Signalling:
            def fetch(self) -> flagkit.Fetched:
                entered.set()
                return inner.fetch()

        flags = Flags(Signalling(), wait=0)
        assert entered.wait(10)
        assert srv.wait_for_calls(1, operation="StartConfigurationSession", timeout=10)
        started = time.monotonic()
        flags.close(timeout=0.5)
        assert time.monotonic() - started < 3.0
        assert flags.status().state == "closed"
    client.close()


def test_closed_client_is_garbage_collected_and_thread_ends(
    server: LocalAppConfigData, client: Any
) -> None:
    """No reference cycle through the thread or the fork hook keeps a closed client alive."""
    flags = Flags(
        AppConfigSource(APP, ENV, PROFILE, client=client), wait=5, polling=Polling(jitter=0)
    )
    thread = flags._poller._thread
    ref = weakref.ref(flags)
    flags.close()
    del flags
    gc.collect()
    assert ref() is None
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()


def test_dropped_client_without_close_lets_its_thread_end() -> None:
    """A client dropped without close() is collected, and its poller thread stops by itself."""
    server = LocalAppConfigData(poll_interval=0)
    server.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
    client = server.client()
    flags = Flags(
        AppConfigSource(APP, ENV, PROFILE, client=client), wait=5, polling=Polling(jitter=0)
    )
    thread = flags._poller._thread
    ref = weakref.ref(flags)
    del flags
    gc.collect()
    assert ref() is None
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    client.close()
    server.close()


def _child(endpoint: str, queue: Any, flags_holder: list[Flags]) -> None:
    flags = flags_holder[0]  # inherited from the parent through fork
    got = threading.Event()
    flags.on_change(lambda old, new: got.set())
    queue.put(("started", flags.enabled("checkout")))
    ok = got.wait(15) or not flags.enabled("checkout", default=True)
    queue.put(("after", ok, flags.enabled("checkout", default=True), flags.version))


def test_forked_child_polls_on_its_own(server: LocalAppConfigData) -> None:
    """A fork child keeps the inherited snapshot and sees a version published after the fork."""
    server.poll_interval = 1
    client = server.client()
    flags = Flags(AppConfigSource(APP, ENV, PROFILE, client=client), wait=5)
    assert flags.enabled("checkout") is True
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        proc = ctx.Process(target=_child, args=(server.endpoint_url, queue, [flags]))
        proc.start()
    assert queue.get(timeout=15) == ("started", True)
    server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="after-fork")
    _, ok, value, version = queue.get(timeout=30)
    proc.join(10)
    assert (ok, value, version) == (True, False, "after-fork")
    assert proc.exitcode == 0
    # the parent's poller is untouched by the fork and sees the publish too
    got = threading.Event()
    flags.on_change(lambda old, new: got.set())
    assert got.wait(10) or flags.version == "after-fork"
    sessions = [c for c in server.calls if c.operation == "StartConfigurationSession"]
    assert len(sessions) >= 2  # the child opened its own session
    flags.close()
    client.close()


def test_missing_boto3_extra_is_named() -> None:
    """The MissingExtraError text gives the exact pip command."""
    err = flagkit.MissingExtraError("aws", "boto3")
    assert "pip install 'flagkit-appconfig[aws]'" in str(err)
