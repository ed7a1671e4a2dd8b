"""AgentSource: the AppConfig Agent / Lambda extension's local HTTP endpoint, behind ``fetch()``.

The agent (a sidecar on ECS/EKS/EC2, or the AppConfig Lambda extension layer) talks to
AppConfigData itself, caches the deployed document and serves it on localhost::

    GET http://localhost:2772/applications/{app}/environments/{env}/configurations/{profile}

It answers with the whole document every time, so this source remembers what it delivered
last and reports "unchanged" (``body is None``) when the version and the bytes are the same.
The version is the ``Configuration-Version`` header, or a content hash when there is none.

Only ``socket`` is used (see ``_sources/http.py``): no boto3 and not even ``http.client``, so
nothing heavy at a Lambda cold start, and no ``HTTP(S)_PROXY`` from the environment is ever
applied to a loopback call, as ``urllib`` would. HTTP statuses and socket errors are classified
here and only here.

Multi-variant flags. The agent evaluates them itself and serves the chosen variant, named in
``_variant`` (user guide, "Retrieving basic and multi-variant feature flags"). A poll carries no
caller context, so what it returns is the answer for *no* context: normally the default
variant, for every user. flagkit never serves that silently (``bind_snapshot``):

* by default (``evaluate="snapshot"``) each such flag is logged once, as a WARNING naming it,
  with the two ways out;
* ``evaluate="agent"`` asks the agent for such a flag on every evaluation, with the
  evaluation's attributes and user id as ``Context`` and the user id as ``Entity-Id``: one
  loopback round trip per call (docs/agent.md). A failure gives the caller's default with a
  reason; it never raises.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from flagkit._exceptions import (
    PermanentSourceError,
    RetryableSourceError,
    SourceError,
)
from flagkit._types import ErrorCode

from .agent_calls import EvaluationFailed, agent_evaluated, context_headers, outcome
from .base import Fetched, content_version
from .http import DeadlineExceeded, Disconnected, LoopbackConnection, ProtocolError, Response

if TYPE_CHECKING:
    from flagkit._snapshot import CompiledFlag, Outcome, Snapshot

__all__ = ["DEFAULT_PORT", "PORT_ENV", "AgentSource", "classify_status"]

Evaluate = Literal["snapshot", "agent"]
_MAX_IDLE_CONNECTIONS = 8  # per-call connections kept alive for reuse (evaluate="agent")

log = logging.getLogger("flagkit")

DEFAULT_PORT = 2772  # the agent's and the Lambda extension's documented default
PORT_ENV = "AWS_APPCONFIG_EXTENSION_HTTP_PORT"  # the Lambda extension's port setting
# The agent polls AppConfig every 45 s by default; asking the local cache three times as often
# keeps flagkit at most ~15 s behind it for the price of a loopback request.
DEFAULT_POLL_INTERVAL = 15.0
# The agent's own call to AppConfig times out after 3000 ms (REQUEST_TIMEOUT /
# AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS); the first request after a cold start waits for
# that call, so the local timeout must be longer.
DEFAULT_TIMEOUT = 5.0

# The agent's error statuses (its OpenAPI: 400 BadRequest, 404 ResourceNotFound,
# 500 InternalServer, 502 BadGateway, 504 GatewayTimeout), plus what a token mismatch or a
# proxy in front of it may give.
_STATUS_TEXT = {
    400: "request refused (400 Bad Request)",
    401: "access token refused (401 Unauthorized)",
    403: "access token refused (403 Forbidden)",
    404: "not found (404)",
    429: "throttled (429)",
    500: "agent internal error (500)",
    502: "agent could not reach AppConfig (502 Bad Gateway)",
    503: "agent unavailable (503)",
    504: "agent timed out calling AppConfig (504 Gateway Timeout)",
}


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from a local agent; fall back to backoff
    return seconds if seconds >= 0 else None


def classify_status(status: int, *, what: str, retry_after: str | None = None) -> SourceError:
    """Translate an agent's error status into flagkit's error tree (the one place that does).

    5xx and 429 are transient: the agent is starting, or AppConfig is slow or unreachable
    behind it. Other 4xx need a human: a wrong name, a missing deployment, a wrong token.
    """
    text = _STATUS_TEXT.get(status, f"HTTP {status}")
    if status >= 500 or status == 429:
        return RetryableSourceError(f"{what}: {text}", retry_after=_retry_after(retry_after))
    return PermanentSourceError(f"{what}: {text}")


def _port_from_env() -> int:
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"{PORT_ENV}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{PORT_ENV}={raw!r} is not a port number")
    return port


class AgentSource:
    """Reads one configuration profile from the AppConfig Agent or Lambda extension.

    Args:
        application, environment, profile: names or IDs, as the agent accepts them. Each is
            percent-encoded into the path, so a name containing ``/`` works.
        port: the agent's port; default ``$AWS_APPCONFIG_EXTENSION_HTTP_PORT``, else 2772.
        host: where the agent listens; ``localhost`` as AWS documents it.
        token: sent as ``Authorization: Bearer <token>``, for an agent started with
            ``ACCESS_TOKEN``.
        timeout: seconds for connecting and for each read.
        fetch_timeout: seconds one ``fetch()`` may take in all: connecting, every read and
            the one reconnect; default twice ``timeout``. Past it the fetch fails as retryable
            (a peer sending a byte at a time never trips ``timeout``, which restarts per read).
        poll_interval: seconds the poller waits between requests (the agent has its own,
            longer, interval towards AppConfig).
        content_type: read every body as this type, whatever the agent says (a freeform
            profile holding a Powertools schema: ``flagkit.powertools.MEDIA_TYPE``).
        evaluate: who picks the variant of a multi-variant flag. ``"snapshot"`` (default):
            the variant the agent served without context, for everyone, with a one-time
            WARNING per flag. ``"agent"``: the agent, on every evaluation, given the
            evaluation's attributes and user id (one loopback request per call).
    """

    def __init__(
        self,
        application: str,
        environment: str,
        profile: str,
        *,
        port: int | None = None,
        host: str = "localhost",
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        content_type: str | None = None,
        fetch_timeout: float | None = None,
        evaluate: Evaluate = "snapshot",
    ) -> None:
        if evaluate not in ("snapshot", "agent"):
            raise ValueError(f"evaluate must be 'snapshot' or 'agent', not {evaluate!r}")
        if port is None:
            port = _port_from_env()
        if not 0 < port < 65536:
            raise ValueError(f"port must be within 1..65535, not {port}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if fetch_timeout is None:
            fetch_timeout = 2 * timeout
        if not fetch_timeout > 0:
            raise ValueError(f"fetch_timeout must be > 0 seconds, not {fetch_timeout!r}")
        if poll_interval < 0:
            raise ValueError("poll_interval must not be negative")
        self.application = application
        self.environment = environment
        self.profile = profile
        self.host = host
        self.port = port
        self.timeout = timeout
        self.fetch_timeout = float(fetch_timeout)
        self.poll_interval = poll_interval
        self.content_type = content_type
        self.path = "/applications/{}/environments/{}/configurations/{}".format(
            *(quote(part, safe="") for part in (application, environment, profile))
        )
        self._headers = {"Accept": "*/*"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"  # never logged or repr'd
        self._conn = LoopbackConnection(host, port, timeout=timeout, total=self.fetch_timeout)
        self._closes = 0  # close() calls so far: a request it cut short is not retried
        self._last_digest: str | None = None
        self._last_version: str | None = None
        self.evaluate: Evaluate = evaluate
        self._warned: set[str] = set()  # flags already warned about (evaluate="snapshot")
        self._idle: list[LoopbackConnection] = []  # per-call connections (evaluate="agent")
        self._idle_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The URL this source reads (no credentials in it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    @property
    def _what(self) -> str:
        return f"AppConfig agent {self.application}/{self.environment}/{self.profile}"

    def _request(self) -> Response:
        """One GET; a kept-alive connection the agent has dropped is replaced once."""
        reused = self._conn.connected
        closes = self._closes
        deadline = time.monotonic() + self.fetch_timeout  # one deadline for both attempts
        try:
            return self._conn.get(self.path, self._headers, deadline=deadline)
        except (Disconnected, BrokenPipeError, ConnectionResetError):
            if not reused or closes != self._closes:  # new, or close() cut it: no retry
                raise
        # The agent closed an idle keep-alive connection (GET is idempotent): go again, once.
        return self._conn.get(self.path, self._headers, deadline=deadline)

    def fetch(self) -> Fetched:
        """GET the configuration from the agent: the newest document, or ``body=None``.

        Raises RetryableSourceError (agent down, 5xx, the fetch deadline passed) or
        PermanentSourceError (401, 404: a wrong name or token).
        """
        try:
            response = self._request()
        except DeadlineExceeded as exc:
            raise RetryableSourceError(
                f"{self._what}: no complete answer within the fetch deadline of "
                f"{self.fetch_timeout:g} s"
            ) from exc
        except TimeoutError as exc:
            raise RetryableSourceError(f"{self._what}: timed out after {self.timeout} s") from exc
        except ConnectionRefusedError as exc:
            raise RetryableSourceError(
                f"{self._what}: nothing listening on port {self.port} (agent not running yet?)"
            ) from exc
        except (OSError, ProtocolError) as exc:
            raise RetryableSourceError(
                f"{self._what}: connection failed ({type(exc).__name__})"
            ) from exc
        headers = response.headers
        if response.status != 200:
            raise classify_status(
                response.status, what=self._what, retry_after=headers.get("retry-after")
            )
        body = response.body
        content_type = self.content_type or headers.get("content-type") or "application/json"
        digest = content_version(body)
        version = headers.get("configuration-version") or digest
        if digest == self._last_digest and version == self._last_version:
            return Fetched(None, content_type, version, self.poll_interval)
        self._last_digest, self._last_version = digest, version
        return Fetched(body, content_type, version, self.poll_interval)

    # -- multi-variant flags: what the agent evaluated without context ------------------------

    def bind_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Warn about, or bind per-call evaluation to, the flags the agent evaluated.

        Called by the poller on every snapshot built from this source's documents (and from
        its backup). A flag the agent served with ``_variant`` has one variant in the snapshot:
        the one chosen for a request without context.
        """
        served = [key for key, flag in snapshot.flags.items() if agent_evaluated(flag)]
        if not served:
            return snapshot
        if self.evaluate == "snapshot":
            for key in served:
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning(
                        "flagkit: flag %r has variants, and the AppConfig agent evaluated it "
                        "without context: every evaluation gets variant %r. Use "
                        "AppConfigSource to evaluate its rules in process, or "
                        "AgentSource(..., evaluate='agent') to ask the agent on each call",
                        key,
                        snapshot.flags[key].outcomes[0].name,
                    )
            return snapshot
        bound = {key: self._per_call(snapshot.flags[key], snapshot.user_key) for key in served}
        flags = {**snapshot.flags, **bound}
        enabled_fns = {**snapshot.enabled_fns, **{k: f.enabled for k, f in bound.items()}}
        return replace(snapshot, flags=flags, enabled_fns=enabled_fns)

    def _per_call(self, flag: CompiledFlag, user_key: str) -> CompiledFlag:
        key = flag.key
        path = f"{self.path}?flag={quote(key, safe='')}"
        contextless = flag.outcomes[0]

        def select(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
            headers = {**self._headers, **context_headers(user_key, user_id, attributes)}
            try:
                response = self._per_call_request(path, headers)
            except (OSError, ProtocolError) as exc:
                raise EvaluationFailed(
                    f"{self._what}: flag {key!r} not evaluated ({type(exc).__name__})"
                ) from exc
            if response.status != 200:
                error = classify_status(response.status, what=self._what)
                code = ErrorCode.FLAG_NOT_FOUND if response.status == 404 else ErrorCode.GENERAL
                raise EvaluationFailed(f"flag {key!r} not evaluated: {error}", code)
            return outcome(key, response.body, contextless)

        def enabled(user_id: Any, attributes: dict[str, Any] | None) -> bool:
            return select(user_id, attributes).enabled

        return replace(flag, select=select, enabled=enabled, remote=True)

    def _per_call_request(self, path: str, headers: dict[str, str]) -> Response:
        """One GET on a pooled kept-alive connection (evaluations run in many threads)."""
        with self._idle_lock:
            conn = self._idle.pop() if self._idle else None
        reused = conn is not None
        if conn is None:
            conn = LoopbackConnection(self.host, self.port, timeout=self.timeout)
        try:
            response = conn.get(path, headers)
        except (Disconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            response = conn.get(path, headers)  # the agent closed an idle connection: once more
        with self._idle_lock:
            if len(self._idle) < _MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()
        return response

    def _drop_idle(self, *, shutdown: bool) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close(shutdown=shutdown)

    def reset_after_fork(self) -> None:
        """In a forked child the parent's socket is not ours: open a new one on next fetch."""
        # close() without shutdown() releases only this process's copy of the descriptor: the
        # parent's connection is untouched.
        self._conn.close(shutdown=False)
        self._idle_lock = threading.Lock()  # may have been held by another thread at fork
        self._drop_idle(shutdown=False)

    def close(self) -> None:
        """Close the kept-alive connections; a fetch blocked on one fails at once.

        A later fetch opens a new connection (``Flags.refresh()`` still works after close).
        """
        self._closes += 1
        self._conn.close()
        self._drop_idle(shutdown=True)

    def __repr__(self) -> str:
        evaluate = ", evaluate='agent'" if self.evaluate == "agent" else ""
        return (
            f"AgentSource({self.application!r}, {self.environment!r}, {self.profile!r}, "
            f"port={self.port}{evaluate})"
        )
