"""AgentSource against the fake AppConfig Agent: the source contract, every error, the token."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flagkit import (
    ErrorCode,
    Fetched,
    Flags,
    FlagsView,
    PermanentSourceError,
    Polling,
    Reason,
    RetryableSourceError,
)
from flagkit._sources.agent import DEFAULT_PORT, PORT_ENV, AgentSource, classify_status
from flagkit.testing import LocalAppConfigAgent

ON = {"checkout": {"enabled": True, "limit": 3}}
OFF = {"checkout": {"enabled": False}}
BAD = {"checkout": {"enabled": "yes"}}


class _ClosingAgent(LocalAppConfigAgent):
    """The fake agent, closing every source it made when it closes (no unclosed sockets)."""

    made: list[AgentSource]

    def source(self, *args: Any, **options: Any) -> AgentSource:
        made = super().source(*args, **options)
        self.__dict__.setdefault("made", []).append(made)
        return made

    def close(self, timeout: float = 5.0) -> None:
        for source in self.__dict__.get("made", []):
            source.close()
        super().close(timeout)


@pytest.fixture
def agent() -> Iterator[LocalAppConfigAgent]:
    with _ClosingAgent() as server:
        server.publish("shop", "prod", "flags", ON)
        yield server


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the source contract ----------------------------------------------------------------------


def test_first_document_is_served_with_the_agents_version(agent: LocalAppConfigAgent) -> None:
    """The agent's document is delivered; Configuration-Version becomes the version."""
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        assert flags.refresh() is True
        assert flags.enabled("checkout") is True
        assert flags.get_int("checkout", "limit", 0) == 3
        assert flags.version == "v1"


def test_unchanged_document_is_not_swapped(agent: LocalAppConfigAgent) -> None:
    """The agent resends the whole document; the same bytes and version are 'unchanged'."""
    source = agent.source("shop", "prod", "flags")
    first = source.fetch()
    assert first.body is not None
    again = source.fetch()
    assert again.body is None and again.version == "v1"
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        flags.refresh()
        assert flags.refresh() is False
        assert flags.status().swaps == 1


def test_published_change_is_swapped_in(agent: LocalAppConfigAgent) -> None:
    """A new deployment replaces the snapshot and listeners hear old and new versions."""
    seen: list[tuple[str | None, str | None]] = []
    source = agent.source("shop", "prod", "flags")
    with Flags(source, start=False, on_change=lambda o, n: seen.append((o, n))) as flags:
        flags.refresh()
        agent.publish("shop", "prod", "flags", OFF)
        assert flags.refresh() is True
        assert flags.enabled("checkout", default=True) is False
        assert seen == [(None, "v1"), ("v1", "v2")]


def test_bad_document_never_replaces_a_good_snapshot(agent: LocalAppConfigAgent) -> None:
    """Schema-invalid or malformed documents are refused; the next good one is taken."""
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        flags.refresh()
        agent.publish("shop", "prod", "flags", BAD)
        assert flags.refresh() is False
        agent.publish("shop", "prod", "flags", b'{"checkout": {"enabled": tru')
        assert flags.refresh() is False
        assert flags.version == "v1" and flags.enabled("checkout") is True
        assert flags.status().rejected == 2
        agent.publish("shop", "prod", "flags", OFF)
        assert flags.refresh() is True and flags.version == "v4"


def test_without_version_header_the_content_hash_versions(agent: LocalAppConfigAgent) -> None:
    """No Configuration-Version: a content hash is the version; equal bytes are unchanged."""
    agent.publish("shop", "prod", "flags", ON, version_header=False)
    source = agent.source("shop", "prod", "flags")
    first = source.fetch()
    assert first.body is not None and (first.version or "").startswith("sha256:")
    agent.publish("shop", "prod", "flags", ON, version_header=False)  # same bytes again
    assert source.fetch().body is None
    agent.publish("shop", "prod", "flags", OFF, version_header=False)
    changed = source.fetch()
    assert changed.body is not None and changed.version != first.version


def test_same_version_with_other_bytes_is_a_change(agent: LocalAppConfigAgent) -> None:
    """Only the same version *and* the same bytes count as unchanged."""
    source = agent.source("shop", "prod", "flags")
    source.fetch()
    agent.publish("shop", "prod", "flags", OFF, version="v1")
    assert source.fetch().body == json.dumps(OFF).encode()


def test_poll_after_is_the_local_interval_and_the_poller_follows(
    agent: LocalAppConfigAgent,
) -> None:
    """fetch() advises poll_interval; a running poller picks up a change on its own."""
    source = agent.source("shop", "prod", "flags", poll_interval=0.01)
    assert source.fetch().poll_after == 0.01
    swapped = threading.Event()
    with Flags(
        agent.source("shop", "prod", "flags", poll_interval=0.01),
        wait=5,
        polling=Polling(jitter=0),
    ) as flags:
        assert flags.enabled("checkout") is True
        flags.on_change(lambda old, new: swapped.set())
        agent.publish("shop", "prod", "flags", OFF)
        assert swapped.wait(10), "no swap within 10 s"
        assert flags.enabled("checkout", default=True) is False


def test_content_type_parameters_are_accepted(agent: LocalAppConfigAgent) -> None:
    """A Content-Type with parameters (charset) still parses as JSON."""
    agent.publish("shop", "prod", "flags", ON, content_type="application/json; charset=utf-8")
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        assert flags.refresh() is True and flags.enabled("checkout") is True


# -- the request ------------------------------------------------------------------------------


def test_names_are_percent_encoded_into_the_path() -> None:
    """Names with '/', spaces or '%' reach the agent intact (each part is one path segment)."""
    names = ("team/shop", "prod eu", "flags%v2")
    with _ClosingAgent() as agent:
        agent.publish(*names, ON)
        source = agent.source(*names)
        assert source.fetch().body is not None
        request = agent.requests[-1]
        assert request.path == (
            "/applications/team%2Fshop/environments/prod%20eu/configurations/flags%25v2"
        )
        assert request.configuration == names
        assert source.url.endswith(request.path)


def test_port_comes_from_the_lambda_extension_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_APPCONFIG_EXTENSION_HTTP_PORT sets the port; unset means 2772; an argument wins."""
    monkeypatch.delenv(PORT_ENV, raising=False)
    assert AgentSource("a", "e", "p").port == DEFAULT_PORT == 2772
    assert AgentSource("a", "e", "p").url == (
        "http://localhost:2772/applications/a/environments/e/configurations/p"
    )
    monkeypatch.setenv(PORT_ENV, "2999")
    assert AgentSource("a", "e", "p").port == 2999
    assert AgentSource("a", "e", "p", port=3001).port == 3001
    monkeypatch.setenv(PORT_ENV, "http")
    with pytest.raises(ValueError, match=PORT_ENV):
        AgentSource("a", "e", "p")
    monkeypatch.setenv(PORT_ENV, "70000")
    with pytest.raises(ValueError, match=PORT_ENV):
        AgentSource("a", "e", "p")


def test_bearer_token_is_sent_and_never_shown() -> None:
    """With a token, each request carries 'Authorization: Bearer'; repr never shows it."""
    with _ClosingAgent(token="s3cret") as agent:
        agent.publish("shop", "prod", "flags", ON)
        source = agent.source("shop", "prod", "flags")
        assert source.fetch().body is not None
        assert agent.requests[-1].authorization == "Bearer s3cret"
        assert "s3cret" not in repr(source) and "s3cret" not in source.url


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_token_is_permanent(token: str | None) -> None:
    """An agent started with ACCESS_TOKEN refuses others with 401: a human must fix it."""
    with _ClosingAgent(token="s3cret") as agent:
        agent.publish("shop", "prod", "flags", ON)
        source = agent.source("shop", "prod", "flags", token=token)
        with pytest.raises(PermanentSourceError, match="401") as caught:
            source.fetch()
        assert "s3cret" not in str(caught.value)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "text"),
    [
        (400, PermanentSourceError, "400"),
        (404, PermanentSourceError, "not found"),
        (500, RetryableSourceError, "internal error"),
        (502, RetryableSourceError, "could not reach AppConfig"),
        (503, RetryableSourceError, "503"),
        (504, RetryableSourceError, "Gateway Timeout"),
        (429, RetryableSourceError, "throttled"),
        (418, PermanentSourceError, "HTTP 418"),
    ],
)
def test_each_error_status_is_classified_and_last_good_is_kept(
    agent: LocalAppConfigAgent, status: int, kind: type[Exception], text: str
) -> None:
    """The agent's error statuses map to flagkit's tree; the client keeps its flags."""
    source = agent.source("shop", "prod", "flags")
    agent.inject(status)
    with pytest.raises(kind, match=text):
        source.fetch()
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        flags.refresh()
        agent.inject(status)
        assert flags.refresh() is False
        assert flags.enabled("checkout") is True
        assert flags.status().errors == 1 and text in (flags.status().last_error or "")


def test_unknown_configuration_is_404_permanent(agent: LocalAppConfigAgent) -> None:
    """A configuration the agent does not serve is a PermanentSourceError (404)."""
    with pytest.raises(PermanentSourceError, match="404"):
        agent.source("shop", "prod", "nope").fetch()


def test_retry_after_is_passed_on() -> None:
    """A numeric Retry-After on a 429/5xx becomes retry_after; a date is ignored."""
    error = classify_status(429, what="x", retry_after="3")
    assert isinstance(error, RetryableSourceError) and error.retry_after == 3.0
    error = classify_status(503, what="x", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert isinstance(error, RetryableSourceError) and error.retry_after is None


def test_connection_refused_is_retryable() -> None:
    """No agent listening (not started yet, or crashed) is transient."""
    source = AgentSource("shop", "prod", "flags", host="127.0.0.1", port=closed_port())
    with pytest.raises(RetryableSourceError, match="nothing listening"):
        source.fetch()


def test_a_hung_agent_times_out_within_the_timeout(agent: LocalAppConfigAgent) -> None:
    """A request the agent never answers fails as retryable after ``timeout`` (bounded)."""
    source = agent.source("shop", "prod", "flags", timeout=0.2)
    agent.inject("delay", delay=30)
    started = time.monotonic()
    with pytest.raises(RetryableSourceError, match="timed out"):
        source.fetch()
    assert time.monotonic() - started < 10  # the budget is 0.2 s; generous margin


def test_a_dropped_kept_alive_connection_is_retried_once(agent: LocalAppConfigAgent) -> None:
    """The agent closing an idle keep-alive connection costs one silent retry, not an error."""
    source = agent.source("shop", "prod", "flags")
    source.fetch()
    agent.inject("drop")
    assert source.fetch().body is None  # retried on a new connection: unchanged
    statuses = [r.status for r in agent.requests]
    assert statuses == [200, None, 200]


def test_a_connection_dropped_twice_is_retryable(agent: LocalAppConfigAgent) -> None:
    """A fresh connection that is dropped is not retried again: the poller backs off."""
    source = agent.source("shop", "prod", "flags")
    source.fetch()
    agent.inject("drop", count=2)
    with pytest.raises(RetryableSourceError, match="connection failed"):
        source.fetch()
    assert source.fetch().body is None  # and the next poll works


def test_reset_after_fork_and_close_open_a_new_connection(agent: LocalAppConfigAgent) -> None:
    """After reset_after_fork() or close() the next fetch connects afresh and works."""
    source = agent.source("shop", "prod", "flags")
    source.fetch()
    source.reset_after_fork()
    assert source.fetch().body is None
    source.close()
    source.close()
    assert source.fetch().body is None


def test_close_cuts_a_hung_fetch_short_without_retrying(agent: LocalAppConfigAgent) -> None:
    """Flags.close() -> source.close() wakes a fetch blocked on the agent; no retry follows."""
    source = agent.source("shop", "prod", "flags", timeout=60)
    source.fetch()  # a kept-alive connection, so a retry would be tempting
    agent.inject("delay", delay=60)
    failed = threading.Event()

    def fetch() -> None:
        try:
            source.fetch()
        except RetryableSourceError:
            failed.set()

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    assert agent.wait_until(lambda: agent.in_flight == 1)
    started = time.monotonic()
    source.close()
    assert failed.wait(10), "the blocked fetch did not end"
    assert time.monotonic() - started < 10  # not the 60 s timeout
    worker.join(10)
    assert len(agent.requests) + agent.in_flight == 2  # the first fetch and the cut one


def test_cold_start_with_agent_down_serves_the_backup(tmp_path: Path) -> None:
    """Agent not (yet) running: the backup written earlier is served, and the error counted."""
    backup = tmp_path / "flags.backup"
    with _ClosingAgent() as agent:
        agent.publish("shop", "prod", "flags", ON)
        with Flags(agent.source("shop", "prod", "flags"), start=False, backup_path=backup) as f:
            f.refresh()
    down = AgentSource("shop", "prod", "flags", host="127.0.0.1", port=closed_port())
    with Flags(down, start=False, backup_path=backup) as flags:
        assert flags.refresh() is False
        assert flags.ready and flags.version == "v1" and flags.enabled("checkout") is True


def test_invalid_arguments_are_refused() -> None:
    """Port, timeout and interval are checked at construction."""
    with pytest.raises(ValueError, match="port"):
        AgentSource("a", "e", "p", port=0)
    with pytest.raises(ValueError, match="timeout"):
        AgentSource("a", "e", "p", port=1, timeout=0)
    with pytest.raises(ValueError, match="poll_interval"):
        AgentSource("a", "e", "p", port=1, poll_interval=-1)


# -- the fake agent itself --------------------------------------------------------------------


def test_fake_agent_close_is_bounded_during_a_delay() -> None:
    """close() cuts an injected delay short, drops that connection, and is idempotent."""
    agent = _ClosingAgent()
    agent.publish("shop", "prod", "flags", ON)
    agent.inject("delay", delay=60)
    source = agent.source("shop", "prod", "flags", timeout=30)
    failed = threading.Event()

    def fetch() -> None:
        try:
            source.fetch()
        except RetryableSourceError:
            failed.set()

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    assert agent.wait_until(lambda: agent.in_flight == 1)
    started = time.monotonic()
    agent.close(timeout=5)
    agent.close(timeout=5)
    assert time.monotonic() - started < 5 + 2
    assert failed.wait(10) and agent.closed
    worker.join(10)


def test_fake_agent_refuses_bad_paths_and_records_requests(agent: LocalAppConfigAgent) -> None:
    """A path that is not a configuration is 400; every request is recorded."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=5)
    conn.request("GET", "/applications/shop/environments/prod")
    response = conn.getresponse()
    assert response.status == 400 and b"BadRequest" in response.read()
    conn.close()
    assert agent.requests[-1].configuration is None and agent.requests[-1].status == 400
    agent.remove("shop", "prod", "flags")
    with pytest.raises(PermanentSourceError, match="404"):
        agent.source("shop", "prod", "flags").fetch()
    with pytest.raises(ValueError, match="HTTP status"):
        agent.inject(42)


def test_agent_source_satisfies_the_source_protocol(agent: LocalAppConfigAgent) -> None:
    """AgentSource is a flagkit Source returning Fetched."""
    import flagkit

    source = agent.source("shop", "prod", "flags")
    assert isinstance(source, flagkit.Source)
    assert isinstance(source.fetch(), Fetched)


# -- the loopback HTTP client, against scripted peers -----------------------------------------


@contextlib.contextmanager
def scripted(*answers: bytes) -> Iterator[int]:
    """A one-shot peer per answer: accept, read the request head, send ``answer``, close."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        for answer in answers:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes a pending accept() on Linux
        listener.close()
        thread.join(10)


def fetch_from(port: int) -> Fetched:
    source = AgentSource("shop", "prod", "flags", host="127.0.0.1", port=port, timeout=5)
    try:
        return source.fetch()
    finally:
        source.close()


DOC = json.dumps(ON).encode()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConfiguration-Version: 7\r\n\r\n%s"
        % (len(DOC), DOC),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConfiguration-Version: 7\r\n\r\n"
        b"5;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n"
        % (DOC[:5], len(DOC) - 5, DOC[5:]),
        b"HTTP/1.0 200 OK\r\nConfiguration-Version: 7\r\n\r\n%s" % DOC,  # body until close
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
        b"configuration-version: 7\r\n\r\n%s" % (len(DOC), DOC),
    ],
    ids=["content-length", "chunked", "http1.0-until-close", "100-continue"],
)
def test_every_body_framing_is_read(answer: bytes) -> None:
    """Content-Length, chunked (with extensions and trailers), read-to-close, 1xx skipped."""
    with scripted(answer) as port:
        fetched = fetch_from(port)
    assert fetched.body == DOC and fetched.version == "7"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not HTTP"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "closed mid-body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", "too many headers"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000, "line too long"),
        (b"", "closed before answering"),
    ],
)
def test_malformed_answers_are_retryable_errors(answer: bytes, why: str) -> None:
    """Whatever a broken peer sends becomes a RetryableSourceError, never a crash or hang."""
    with scripted(answer) as port, pytest.raises(RetryableSourceError, match="connection"):
        fetch_from(port)


def test_oversize_bodies_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body over the guard (by length, by chunks, or until close) is refused."""
    from flagkit._sources import http as _loopback_http

    monkeypatch.setattr(_loopback_http, "MAX_BODY", 10)
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + b"x" * 11,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n"
        + b"x" * 11
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 11,
    ]
    for answer in answers:
        with scripted(answer) as port, pytest.raises(RetryableSourceError, match="Protocol"):
            fetch_from(port)


# -- multi-variant flags: what the agent evaluated --------------------------------------------

# The agent's answer for a multi-variant flag without context (UG-retrff), beside a basic flag.
AGENT_BODY = {
    "ui_refresh": {"_variant": "Default Variant", "enabled": False},
    "checkout": {"enabled": True, "limit": 3},
}


def _variants(*rules: tuple[str, str, dict[str, Any]], default: str = "Default") -> dict[str, Any]:
    """A multi-variant flag's value: (name, rule, attributes) each, then a disabled default."""
    out = [{"name": n, "enabled": True, "rule": r, "attributeValues": a} for n, r, a in rules]
    out.append({"name": default, "enabled": False})
    return {"_variants": out}


# The stored document behind it: the user guide's ui_refresh (UG-mvproc), and checkout.
UI_REFRESH: dict[str, Any] = {
    "version": "1",
    "flags": {
        "ui_refresh": {"attributes": {"dark_mode_support": {"constraints": {"type": "boolean"}}}},
        "checkout": {"attributes": {"limit": {"constraints": {"type": "number"}}}},
    },
    "values": {
        "ui_refresh": _variants(
            ("QA", '(ends_with $email "qa-testers.mycompany.com")', {"dark_mode_support": True}),
            ("Beta Testers", '(in $userId ["beta-1", "beta-2"])', {"dark_mode_support": True}),
            default="Default Variant",
        ),
        "checkout": {"enabled": True, "limit": 3},
    },
}
QA = {"email": "jane@qa-testers.mycompany.com"}


def test_an_agent_answer_with_variant_is_read_not_refused(agent: LocalAppConfigAgent) -> None:
    """{"_variant": ...} is the variant's name, not an attribute: the document loads (issue 14).

    Before, '_variant' failed the attribute-key pattern and every flag was refused.
    """
    agent.publish("shop", "prod", "flags", AGENT_BODY)
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        assert flags.refresh() is True, flags.status().last_error
        d = flags.details("ui_refresh")
        assert (d.value, d.variant, d.reason) == (False, "Default Variant", Reason.DEFAULT)
        assert flags.variant("ui_refresh") == "Default Variant"
        assert flags.enabled("checkout") and flags.get_int("checkout", "limit", 0) == 3
        assert flags.details("checkout").variant is None


@pytest.mark.parametrize(
    ("value", "found"),
    [("", "''"), ("x" * 65, "xxx"), ("a\nb", "'a\\nb'"), (7, "7")],
)
def test_a_bad_variant_name_is_refused_precisely(value: Any, found: str) -> None:
    """A _variant that is not a 1-64 character name without newline is a DocumentError."""
    from flagkit import DocumentError, StaticSource

    with pytest.raises(DocumentError) as caught:
        StaticSource({"ui_refresh": {"_variant": value, "enabled": True}})
    err = caught.value
    assert (err.flag, err.field) == ("ui_refresh", "_variant")
    assert found in (err.found or "")


def test_the_variant_reaches_openfeature(agent: LocalAppConfigAgent) -> None:
    """The OpenFeature provider reports the agent's variant for the flag and its attributes."""
    pytest.importorskip("openfeature")
    from openfeature import api

    from flagkit.openfeature import FlagkitProvider

    agent.publish("shop", "prod", "flags", UI_REFRESH)
    with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as flags:
        flags.refresh()
        api.set_provider_and_wait(FlagkitProvider(flags), "agent-variant")
        try:
            client = api.get_client("agent-variant")
            from openfeature.evaluation_context import EvaluationContext

            qa = EvaluationContext("u1", QA)
            details = client.get_boolean_details("ui_refresh", False, qa)
            assert (details.value, details.variant) == (True, "QA")
            assert client.get_string_value("ui_refresh", "", qa) == "QA"
            assert client.get_string_value("ui_refresh", "", EvaluationContext("u2")) == (
                "Default Variant"
            )
            attr = client.get_boolean_details("ui_refresh.dark_mode_support", False, qa)
            assert (attr.value, attr.variant) == (True, "QA")
        finally:
            api.clear_providers()


def test_a_context_free_variant_is_warned_about_once(
    agent: LocalAppConfigAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """By default each flag the agent evaluated without context gets one WARNING, by name."""
    agent.publish("shop", "prod", "flags", UI_REFRESH)
    caplog.set_level(logging.WARNING, logger="flagkit")
    source = agent.source("shop", "prod", "flags")
    with Flags(source, start=False) as flags:
        flags.refresh()
        agent.publish("shop", "prod", "flags", UI_REFRESH)  # a new version: warned already
        assert flags.refresh() is True
        d = flags.details("ui_refresh", "beta-1", QA)
        assert (d.value, d.variant) == (False, "Default Variant")  # no context went out
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'ui_refresh'" in warnings[0] and "'Default Variant'" in warnings[0]
    assert "AppConfigSource" in warnings[0] and "evaluate='agent'" in warnings[0]
    assert "checkout" not in warnings[0]


def test_basic_flags_and_the_opt_in_give_no_warning(
    agent: LocalAppConfigAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile of basic flags, or evaluate='agent', warns about nothing."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        flags.refresh()
    agent.publish("shop", "prod", "flags", UI_REFRESH)
    with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as flags:
        flags.refresh()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_opt_in_evaluates_each_call_at_the_agent_with_context_and_entity_id(
    agent: LocalAppConfigAgent,
) -> None:
    """evaluate='agent': attributes and the user id go as Context, the user id as Entity-Id."""
    agent.publish("shop", "prod", "flags", UI_REFRESH)
    with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as flags:
        flags.refresh()
        before = len(agent.requests)
        d = flags.details("ui_refresh", "u1", QA, attribute="dark_mode_support", kind="bool")
        assert (d.value, d.variant, d.reason) == (True, "QA", Reason.TARGETING_MATCH)
        request = agent.requests[-1]
        assert request.path.endswith("?flag=ui_refresh")
        assert request.context == ("email=jane@qa-testers.mycompany.com,userId=u1",)
        assert request.entity_id == "u1"
        assert flags.enabled("ui_refresh", "beta-2") is True  # $userId is the user key
        assert flags.variant("ui_refresh", "beta-2") == "Beta Testers"
        d = flags.details("ui_refresh", "u9")
        assert (d.value, d.variant, d.reason) == (False, "Default Variant", Reason.DEFAULT)
        assert flags.enabled("checkout") is True  # a basic flag: answered in process
        assert len(agent.requests) - before == 4  # one round trip per multi-variant evaluation
        report = str(flags.explain("ui_refresh", "u1", QA))
        assert "evaluated by the AppConfig agent" in report and "variant 'QA'" in report


def test_opt_in_sends_the_bearer_token_on_each_call() -> None:
    """The per-call requests carry the token too."""
    with _ClosingAgent(token="s3cret") as agent:
        agent.publish("shop", "prod", "flags", UI_REFRESH)
        with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as f:
            f.refresh()
            assert f.enabled("ui_refresh", "u1", QA) is True
            assert agent.requests[-1].authorization == "Bearer s3cret"


def test_opt_in_never_raises_when_the_agent_fails(agent: LocalAppConfigAgent) -> None:
    """Agent down, erroring, or a context it cannot carry: the caller's default, with why."""
    agent.publish("shop", "prod", "flags", UI_REFRESH)
    source = agent.source("shop", "prod", "flags", evaluate="agent")
    with Flags(source, start=False) as flags:
        flags.refresh()
        agent.inject(502)
        d = flags.details("ui_refresh", "u1", QA, default=True)
        assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, ErrorCode.GENERAL)
        assert "502" in (d.error_message or "")
        agent.inject(404)
        assert flags.details("ui_refresh", "u1", QA).error_code is ErrorCode.FLAG_NOT_FOUND
        d = flags.details("ui_refresh", "u1", {"email": "jane,doe"})
        assert (d.error_code, d.value) == (ErrorCode.INVALID_CONTEXT, False)
        assert "email" in (d.error_message or "") and "jane" not in (d.error_message or "")
        assert flags.details("ui_refresh", "u1", {"tags": ["a"]}).error_code is (
            ErrorCode.INVALID_CONTEXT
        )
        assert flags.details("ui_refresh", "u\r\nX-Injected: 1").error_code is (
            ErrorCode.INVALID_CONTEXT
        )
        agent.inject("drop", count=2)
        assert flags.enabled("ui_refresh", "u1", QA, default=True) is True
        assert flags.variant("ui_refresh", "u1", QA) == "QA"  # and it recovers
        agent.close()
        d = flags.details("ui_refresh", "u1", QA)
        assert (d.value, d.reason, d.error_code) == (False, Reason.ERROR, ErrorCode.GENERAL)
        assert "not evaluated" in (d.error_message or "")
        assert flags.enabled("ui_refresh", "u1", QA, default=True) is True
        assert flags.variant("ui_refresh", "u1", QA) is None


def test_opt_in_survives_an_alarm_guard_overlay(agent: LocalAppConfigAgent) -> None:
    """A snapshot rebuilt for another flag keeps asking the agent (never stored as constant)."""
    from flagkit._snapshot import FlagGuard, overlay

    agent.publish("shop", "prod", "flags", UI_REFRESH)
    with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as flags:
        flags.refresh()
        held = overlay(flags._snapshot, {"checkout": FlagGuard(tripped=True)})
        assert held.enabled_fns["checkout"] is False
        assert FlagsView(held).enabled("ui_refresh", "u1", QA) is True


def test_evaluate_must_be_snapshot_or_agent() -> None:
    """Any other value of evaluate= is refused at construction; repr shows the opt-in."""
    with pytest.raises(ValueError, match="evaluate"):
        AgentSource("a", "e", "p", port=1, evaluate="local")  # type: ignore[arg-type]
    assert "evaluate='agent'" in repr(AgentSource("a", "e", "p", port=1, evaluate="agent"))
    assert "evaluate" not in repr(AgentSource("a", "e", "p", port=1))


def test_opt_in_from_a_backup_asks_the_agent_once_it_is_up(tmp_path: Path) -> None:
    """A snapshot loaded from the backup is bound too: per-call evaluation once the agent is up."""
    backup = tmp_path / "flags.backup"
    with _ClosingAgent() as agent:
        agent.publish("shop", "prod", "flags", UI_REFRESH)
        with Flags(agent.source("shop", "prod", "flags"), start=False, backup_path=backup) as f:
            f.refresh()
        port = agent.port
        source = AgentSource("shop", "prod", "flags", host="127.0.0.1", port=port, evaluate="agent")
        with Flags(source, start=False, backup_path=backup) as flags:
            assert flags.variant("ui_refresh", "u1", QA) == "QA"
            source.close()


# -- the source contract across profile shapes: the agent agrees with in-process rules --------


_TIER = {"tier": {"constraints": {"type": "string"}}}
_MULTI = {
    "flags": {"beta": {"attributes": _TIER}, "rollout": {"attributes": _TIER}},
    "values": {
        "beta": _variants(
            ("Gold", '(eq $plan "gold")', {"tier": "gold"}),
            ("Staff", '(ends_with $email "@example.com")', {"tier": "staff"}),
        ),
        "rollout": _variants(("Half", "(split pct::50 by::$userId)", {"tier": "half"})),
    },
}
_BASIC = {
    "flags": {"checkout": {"attributes": {"limit": {}}}, "banner": {}},
    "values": {"checkout": {"enabled": True, "limit": 3}, "banner": {"enabled": False}},
}
PROFILES = {
    "basic-only": {"version": "1", **_BASIC},
    "mixed": {
        "version": "1",
        "flags": {**_BASIC["flags"], "beta": _MULTI["flags"]["beta"]},
        "values": {**_BASIC["values"], "beta": _MULTI["values"]["beta"]},
    },
    "multi-variant-only": {"version": "1", **_MULTI},
}
CONTEXTS: list[tuple[str | None, dict[str, Any] | None]] = [
    (None, None),
    ("u1", None),
    ("u2", {"plan": "gold"}),
    ("u3", {"email": "kim@example.com", "plan": "free"}),
    *[(f"user-{i}", {"plan": "free"}) for i in range(12)],
]


@pytest.fixture(params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A local data plane serving the profile, read by an agent and by AppConfigSource."""
    from flagkit import AppConfigSource
    from flagkit.testing import LocalAppConfigData

    with LocalAppConfigData(poll_interval=0) as data, _ClosingAgent(appconfigdata=data) as agent:
        data.publish("shop", "prod", "flags", PROFILES[request.param], version_label="v1")
        client = data.client()
        direct = Flags(AppConfigSource("shop", "prod", "flags", client=client), start=False)
        assert direct.refresh(), direct.status().last_error
        yield request.param, (agent, direct)
        direct.close()
        client.close()


def test_profile_opt_in_agrees_with_in_process_rules(profile: tuple[str, Any]) -> None:
    """evaluate='agent' gives the answers AppConfigSource's in-process rules give, per call."""
    _, (agent, direct) = profile
    with Flags(agent.source("shop", "prod", "flags", evaluate="agent"), start=False) as flags:
        assert flags.refresh() is True and flags.refresh() is False  # then unchanged
        for key in direct._snapshot.flags:
            for user_id, attributes in CONTEXTS:
                got = flags.details(key, user_id, attributes)
                want = direct.details(key, user_id, attributes)
                assert (got.value, got.variant) == (want.value, want.variant), (key, user_id)
                got = flags.details(key, user_id, attributes, attribute="tier", kind="str")
                want = direct.details(key, user_id, attributes, attribute="tier", kind="str")
                assert (got.value, got.variant) == (want.value, want.variant), (key, user_id)


def test_profile_snapshot_mode_gives_the_contextless_answer_and_says_so(
    profile: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Default mode: basic flags as in process; multi-variant flags their no-context variant."""
    name, (agent, direct) = profile
    caplog.set_level(logging.WARNING, logger="flagkit")
    with Flags(agent.source("shop", "prod", "flags"), start=False) as flags:
        assert flags.refresh() is True and flags.refresh() is False
        multi = {k for k, f in direct._snapshot.flags.items() if f.multi_variant}
        for key in direct._snapshot.flags:
            for user_id, attributes in CONTEXTS:
                got = flags.details(key, user_id, attributes)
                want = direct.details(
                    key, *((None, None) if key in multi else (user_id, attributes))
                )
                assert (got.value, got.variant) == (want.value, want.variant), (key, user_id)
    warned = {k for k in multi if any(f"'{k}'" in r.getMessage() for r in caplog.records)}
    assert warned == multi and (name == "basic-only") == (not multi)


def test_opt_in_entity_id_keeps_each_user_on_one_version_during_a_deployment() -> None:
    """evaluate='agent' sends the user id as Entity-Id: mid-deployment each user sticks to
    the new or the previous version, and about the deployment's share gets the new one."""
    from flagkit.testing import LocalAppConfigData

    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    def doc(color: str) -> dict[str, Any]:
        variants = _variants(("Staff", '(eq $team "staff")', {"color": "red"}))
        variants["_variants"][-1] = {
            "name": "Default",
            "enabled": True,
            "attributeValues": {"color": color},
        }
        flag = {"attributes": {"color": {"constraints": {"type": "string"}}}}
        return {"version": "1", "flags": {"banner": flag}, "values": {"banner": variants}}

    clock = Clock()
    users = [f"user-{i}" for i in range(150)]
    with LocalAppConfigData(poll_interval=0, clock=clock) as data:
        data.publish("shop", "prod", "flags", doc("blue"), version_label="v1")
        control = data.appconfig_client()
        strategy = control.create_deployment_strategy(
            Name="half",
            DeploymentDurationInMinutes=10,
            GrowthType="LINEAR",
            GrowthFactor=50.0,
            FinalBakeTimeInMinutes=0,
            ReplicateTo="NONE",
        )["Id"]
        control.close()
        with _ClosingAgent(appconfigdata=data) as agent:
            source = agent.source("shop", "prod", "flags", evaluate="agent")
            with Flags(source, start=False) as flags:
                flags.refresh()
                data.publish(
                    "shop", "prod", "flags", doc("green"), version_label="v2", strategy=strategy
                )
                first = {u: flags.get_str("banner", "color", "", u) for u in users}
                again = {u: flags.get_str("banner", "color", "", u) for u in users}
                assert first == again and set(first.values()) == {"blue", "green"}
                share = sum(c == "green" for c in first.values()) / len(users)
                assert 0.4 <= share <= 0.6, share
                assert flags.get_str("banner", "color", "", "user-1", {"team": "staff"}) == "red"
