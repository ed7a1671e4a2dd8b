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
from flagkit import AppConfigSource, Flags, Polling, RetryableSourceError
from flagkit.testing import LocalAppConfigData
from hostile_appconfig import Behaviour, HostileAppConfig

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


# Transient faults are injected once per attempt (AppConfigSource resends the token up to
# max_attempts=3 times in one fetch), token refusals twice (one new session per fetch), so that
# each one outlasts the fetch and reaches the poller.
GET = "GetLatestConfiguration"
FAULTS: dict[str, tuple[Callable[[LocalAppConfigData], None], str]] = {
    "throttle-429": (inject("throttle", count=3, operation=GET), "throttled"),
    "internal-500": (inject("internal", count=3, operation=GET), "service error"),
    "hang-past-read-timeout": (
        inject("throttle", count=3, delay=30.0, operation=GET),
        "timed out",
    ),
    "dropped-connection": (inject("drop", count=3, operation=GET), "connection"),
    "expired-token": (inject("expired", count=2), "expired"),
    "corrupted-token": (inject("corrupted", count=2), "corrupted"),
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


def _gets(server: LocalAppConfigData) -> list[Any]:
    return [c for c in server.calls if c.operation == GET]


@pytest.mark.parametrize("fault", ["throttle", "internal", "drop"])
def test_a_failed_call_is_resent_with_the_same_token(
    fault: str, server: LocalAppConfigData, client: Any
) -> None:
    """A 429, a 5xx or a dropped connection used nothing up: the same token goes again, in the
    same fetch, and the session is kept (AWS: one session per client)."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        assert flags.refresh() is True
        server.inject(fault, operation=GET)  # type: ignore[arg-type]
        server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
        assert flags.refresh() is True, flags.status()
        assert flags.status().errors == 0
    first, failed, resent = _gets(server)
    assert failed.injected and failed.token == first.next_token
    assert resent.token == failed.token and resent.status == 200
    assert len(server.sessions) == 1 and source.sessions_started == 1


def test_the_token_is_resent_after_a_timeout() -> None:
    """A call that timed out is resent with its token; the one session is kept."""
    with LocalAppConfigData(poll_interval=0) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        client = srv.client(read_timeout=0.3)
        source = AppConfigSource(APP, ENV, PROFILE, client=client)
        with Flags(source, start=False) as flags:
            assert flags.refresh() is True
            token = source._token
            # answered (with a 429) only after 30 s, or dropped when the server closes
            srv.inject("throttle", delay=30, operation=GET)
            srv.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
            assert flags.refresh() is True, flags.status()
        client.close()
    gets = [c for c in srv.calls if c.operation == GET and c.token == token]
    assert sorted((c.status or 0, c.injected) for c in gets) == [(0, True), (200, False)]
    assert len(srv.sessions) == 1


def test_a_throttled_session_start_is_retried_in_the_same_fetch(
    server: LocalAppConfigData, client: Any
) -> None:
    """StartConfigurationSession throttled or failing: retried within the fetch, and the one
    session that starts is the only one."""
    server.inject("throttle", operation="StartConfigurationSession")
    server.inject("internal", operation="StartConfigurationSession")
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        assert flags.refresh() is True
        assert flags.status().errors == 0
    starts = [c.status for c in server.calls if c.operation == "StartConfigurationSession"]
    assert starts == [429, 500, 201]
    assert len(server.sessions) == 1 and source.sessions_started == 1


def test_too_early_keeps_the_token_and_waits_the_interval(
    server: LocalAppConfigData, client: Any
) -> None:
    """PollIntervalNotSatisfied does not burn the session: the poller waits the session's
    interval, and the next poll presents the same token."""
    server.poll_interval = 7
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        flags.refresh()
        server.inject("too_early")
        assert flags._poller.poll_once() == 7
        assert "too early" in (flags.status().last_error or "")
        server.enforce_poll_interval = False
        server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
        assert flags.refresh() is True
    _first, early, resent = _gets(server)
    assert early.problem == "PollIntervalNotSatisfied" and resent.token == early.token
    assert len(server.sessions) == 1


def test_attempts_are_bounded_then_the_poller_backs_off(
    server: LocalAppConfigData, client: Any
) -> None:
    """max_attempts calls with one token, then the poller's own jittered backoff; the token
    survives and is sent again by the next poll."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client, max_attempts=3)
    with Flags(source, start=False, polling=Polling(backoff_base=1, backoff_cap=8)) as flags:
        flags.refresh()
        server.inject("internal", count=6, operation=GET)
        delay = flags._poller.poll_once()
        assert delay is not None and 0 <= delay <= 2  # the first step of the poller's backoff
        assert flags.status().errors == 1
        assert [c.injected for c in _gets(server)] == [False, True, True, True]
        delay = flags._poller.poll_once()
        assert delay is not None and 0 <= delay <= 4  # and it grows
        assert flags.status().errors == 2
        assert flags.refresh() is False  # faults used up: the same token answers
    tokens = [c.token for c in _gets(server)[1:]]
    assert len(tokens) == 7 and len(set(tokens)) == 1
    assert len(server.sessions) == 1


def test_an_expired_token_starts_a_new_session_in_the_same_fetch(
    server: LocalAppConfigData, client: Any
) -> None:
    """BadRequestException Expired: the token is unusable, so a new session, at once; the
    re-sent document is recognised as unchanged and nothing is reported as an error."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        flags.refresh()
        server.inject("expired")
        assert flags.refresh() is False
        status = flags.status()
        assert (status.errors, status.swaps, status.last_error) == (0, 1, None)
    operations = [(c.operation, c.problem) for c in server.calls]
    assert operations == [
        ("StartConfigurationSession", None),
        (GET, None),
        (GET, "Expired"),
        ("StartConfigurationSession", None),
        (GET, None),
    ]
    assert source.sessions_started == 2


def test_retryable_failures_never_start_a_session(server: LocalAppConfigData, client: Any) -> None:
    """Throttling, 5xx, dropped connections and "too early", many times over: one session."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        for kind in ("throttle", "internal", "drop", "too_early", "throttle", "internal"):
            server.inject(kind, count=3, operation=GET)  # type: ignore[arg-type]
            flags.refresh()
        server.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
        while not flags.refresh():  # the queued faults run out; then the publish arrives
            assert flags.status().polls < 30
    assert len(server.sessions) == 1 and source.sessions_started == 1


def test_no_token_is_sent_again_after_a_successful_call(
    server: LocalAppConfigData, client: Any
) -> None:
    """Whatever the faults around it, a token that got a 200 is never presented again."""
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    with Flags(source, start=False) as flags:
        for kind in ("throttle", "expired", "internal", "drop", "corrupted", "too_early"):
            flags.refresh()
            server.inject(kind, operation=GET)  # type: ignore[arg-type]
            flags.refresh()
        flags.refresh()
    gets = _gets(server)
    answered = [i for i, c in enumerate(gets) if c.status == 200]
    assert len(answered) >= 12
    for i in answered:
        assert all(later.token != gets[i].token for later in gets[i + 1 :])


def test_the_client_flagkit_makes_leaves_resending_to_the_source(
    server: LocalAppConfigData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without client=, AppConfigSource makes its own boto3 client with one attempt per call:
    the source resends the token itself (within its deadline, interruptibly), not botocore."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    source = AppConfigSource(
        APP, ENV, PROFILE, endpoint_url=server.endpoint_url, region_name="us-east-1"
    )
    with Flags(source, start=False) as flags:
        flags.refresh()
        server.inject("throttle", operation=GET)
        server.inject("internal", operation=GET)
        flags.refresh()
        assert flags.enabled("checkout") and flags.status().errors == 0
    assert source._client.meta.config.retries["total_max_attempts"] == 1
    tokens = [c.token for c in _gets(server)]
    assert len(tokens) == 4 and tokens[1] == tokens[2] == tokens[3] != tokens[0]


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


def test_no_timed_renewal_the_token_chain_just_continues() -> None:
    """Four polls 23 h apart: every token is fresh when used, so one session lasts (the 24 h
    limit is per token; AWS never asks for a new session on a timer)."""
    clock = Clock()
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        client = srv.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client, clock=clock)
        with Flags(source, start=False) as flags:
            for _ in range(4):
                flags.refresh()
                clock.now += 23 * 3600
            assert flags.status().errors == 0
        client.close()
    assert len(srv.sessions) == 1 and source.sessions_started == 1


def test_server_expiry_on_its_clock_starts_a_new_session() -> None:
    """A token the server deems expired (a sandbox frozen for a day) is replaced by a new
    session in the same fetch: no outage, no error."""
    clock = Clock()
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, json.dumps(GOOD), version_label="v1")
        client = srv.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client)
        with Flags(source, start=False) as flags:
            flags.refresh()
            clock.now += 86_401
            srv.publish(APP, ENV, PROFILE, json.dumps(NEXT), version_label="v2")
            assert flags.refresh() is True
            assert flags.status().errors == 0
        client.close()
    assert [c.problem for c in srv.calls if c.operation == GET] == [None, "Expired", None]
    assert source.sessions_started == 2


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
    source = AppConfigSource(APP, ENV, PROFILE, client=client, max_attempts=1)
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


# -- hostile endpoints: the fetch deadline, close() and the size cap ------------------------


@pytest.mark.parametrize("behaviour", ["drip-body", "drip-headers", "endless-continue"])
def test_a_dripping_endpoint_is_cut_off_at_the_fetch_deadline(behaviour: Behaviour) -> None:
    """One byte every 0.25 s (in the body, in a header, or as endless 100 Continue) never trips
    a per-read timeout; the total deadline ends the fetch, and the endpoint sees us hang up
    long before it would have stopped by itself."""
    with HostileAppConfig(behaviour, max_drips=120) as server:
        _assert_cut_off_at_one_second(server)


def _assert_cut_off_at_one_second(server: HostileAppConfig) -> None:
    client = server.client()
    source = AppConfigSource(APP, ENV, PROFILE, client=client)
    source.fetch_timeout = 1.0  # an attribute: on code without deadlines the test still runs
    with pytest.raises(RetryableSourceError, match="deadline of 1 s"):
        source.fetch()
    assert server.client_gone.wait(10)
    assert not server.gave_up.is_set()
    assert [t.name for t in threading.enumerate() if "deadline" in t.name] == []
    client.close()


def test_after_a_cut_body_a_new_session_fetches_the_document() -> None:
    """The service counts a 200 as delivered, so a body cut short is fetched again through a
    new session (a next token would only ever answer "unchanged")."""
    with HostileAppConfig("drip-body", max_drips=120) as server:
        client = server.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client)
        source.fetch_timeout = 1.0
        with Flags(source, start=False) as flags:
            assert flags.refresh() is False
            assert flags.refresh() is True  # the second GET is answered properly
            assert flags.enabled("checkout") is True
        assert server.tokens == ["t0", "t0"]  # both from StartConfigurationSession
        assert source.sessions_started == 2
        client.close()


def test_close_wakes_a_blocked_fetch_and_leaks_no_thread() -> None:
    """Flags.close() closes the source first: the poller thread's fetch, blocked on a dripping
    body, ends at once, and the thread has ended when close() returns."""
    with HostileAppConfig("drip-body", max_drips=120) as server:
        client = server.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client)  # deadline: 10 s
        flags = Flags(source, wait=0)
        thread = flags._poller._thread
        assert thread is not None
        assert server.misbehaving.wait(10)
        flags.close()
        assert not thread.is_alive()
        assert server.client_gone.wait(10) and not server.gave_up.is_set()
        assert flags.status().errors == 0  # a fetch ended by close() is not a failure
        assert [t.name for t in threading.enumerate() if t.name.startswith("flagkit")] == []
        client.close()


def test_a_huge_body_is_read_only_to_the_cap() -> None:
    """A 32 MiB body against a 1 MiB cap: at most cap + 1 bytes are read, the connection is
    dropped, the document is refused, and memory stays near the cap."""
    import tracemalloc

    with HostileAppConfig("huge-body", huge_bytes=32 * 1024 * 1024) as server:
        client = server.client()
        source = AppConfigSource(APP, ENV, PROFILE, client=client)
        with Flags(source, start=False) as flags:
            tracemalloc.start()
            try:
                assert flags.refresh() is False
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            status = flags.status()
            assert status.rejected == 1 and "too large" in (status.last_error or "")
            assert status.errors == 0
        assert server.client_gone.wait(10) and not server.gave_up.is_set()
        assert server.bytes_sent < 32 * 1024 * 1024
        assert peak < 8 * 1024 * 1024, peak
        client.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command line)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    command = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    san = "subjectAltName=IP:127.0.0.1"
    subprocess.run(
        ["openssl", *command.split(), "-keyout", key, "-out", cert, "-addext", san],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("behaviour", ["drip-handshake", "drip-body"])
def test_the_deadline_cuts_tls_connections_too(
    behaviour: Behaviour, certificate: tuple[str, str]
) -> None:
    """Over HTTPS (as AppConfig is reached), a TLS handshake dripped a byte at a time, or a
    body dripped inside TLS, is cut off at the deadline as well."""
    with HostileAppConfig(behaviour, max_drips=120, tls=certificate) as server:
        _assert_cut_off_at_one_second(server)
