"""``LocalAppConfigAgent``: the AppConfig Agent / Lambda extension, on 127.0.0.1.

It serves ``GET /applications/{app}/environments/{env}/configurations/{profile}`` as the agent
does (research §3; docs/agent.md lists each behaviour with its AWS source):

* it reads each configuration from AppConfigData the way the agent does (a session, polls no
  sooner than announced), from its own ``LocalAppConfigData`` or one it is given, so it sees
  the retrieval-time format the data plane sends;
* it evaluates feature flags per request: ``Context`` headers, ``?flag=`` filters, and
  ``_variant`` naming the variant chosen (``_agent_eval``); a freeform profile passes through;
* ``Authorization: Bearer`` is required when started with a token (``ACCESS_TOKEN``);
* errors are the agent's statuses with text bodies: 400, 404, 500, 502, 504 (and 401 for a
  wrong token).

Faults are injected by status code, as a delay, or as a dropped connection. Standard library
only on the serving side (``http.server``); one named daemon thread accepts, one per
connection answers, and ``close()`` cuts injected delays short, ends kept-alive connections
and joins every thread it started.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from flagkit.testing._agent_eval import (
    AgentError,
    EntityVersion,
    Evaluator,
    Served,
    check_entity_id,
    parse_context,
)
from flagkit.testing._agent_http import Answer, Headers, Server, parse_path, text
from flagkit.testing._agent_upstream import Upstream

if TYPE_CHECKING:
    from flagkit._sources.agent import AgentSource
    from flagkit.testing._appconfigdata import LocalAppConfigData

__all__ = ["AgentRequest", "LocalAppConfigAgent"]

_ACCEPT_POLL_SECONDS = 0.05  # how long close() may wait for the accept loop to notice
_EVALUATORS_KEPT = 8  # compiled versions kept for Entity-Id answers (new and previous, ...)
_AGENT_ERRORS = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "ResourceNotFound",
    500: "InternalServer",
    502: "BadGateway",
    504: "GatewayTimeout",
}

Fault = int | Literal["drop", "delay"]


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """One request as the local agent saw it (``authorization`` is the raw header, if any).

    ``context`` holds the raw ``Context`` header values in order, ``entity_id`` the
    ``Entity-Id`` header.
    """

    method: str
    path: str
    configuration: tuple[str, str, str] | None  # decoded (app, env, profile); None: bad path
    authorization: str | None
    status: int | None  # None: the connection was dropped without an answer
    context: tuple[str, ...] = ()
    entity_id: str | None = None


class LocalAppConfigAgent:
    """A local AppConfig Agent for tests and local development.

    ::

        with LocalAppConfigAgent(token="s3cret") as agent:
            agent.publish("shop", "prod", "flags", {"dark-mode": {"enabled": True}})
            source = agent.source("shop", "prod", "flags")   # an AgentSource pointed here

    Args:
        token: when given, requests must carry ``Authorization: Bearer <token>`` (the agent's
            ``ACCESS_TOKEN``); others get 401.
        appconfigdata: the data plane to read configurations from. Without one the agent
            starts its own ``LocalAppConfigData`` (closed with the agent), which
            ``publish()`` deploys to.
        poll_interval: seconds between the agent's polls of one configuration (AWS's
            default is 45); 0, the default here, polls on every request, never sooner than
            the data plane allows.
        clock: monotonic seconds for the poll interval (tests move a fake clock).
        entity_version: ``(configuration, entity_id) -> Served | None``, the version an
            ``Entity-Id`` is served during a deployment (None: the agent's own version).
            Without it, the data plane's deployments decide, when it has any.
        host, port: where to listen; port 0 takes a free port.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        appconfigdata: LocalAppConfigData | None = None,
        poll_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        entity_version: EntityVersion | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if poll_interval < 0:
            raise ValueError("poll_interval must not be negative")
        self.token = token
        # Re-entrant: a wait_until() condition may read the properties, which take the lock.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified on every request and answer
        self._closing = threading.Event()
        self._closed = False
        self._owns_data = appconfigdata is None
        if appconfigdata is None:
            from flagkit.testing._appconfigdata import LocalAppConfigData

            appconfigdata = LocalAppConfigData(poll_interval=0, host=host)
        self.appconfigdata = appconfigdata
        self._upstream = Upstream(
            appconfigdata.endpoint_url, poll_interval=poll_interval, clock=clock
        )
        if entity_version is None:
            from flagkit.testing._agent_deployments import entity_versions

            entity_version = entity_versions(appconfigdata)
        self._entity_version = entity_version
        self._evaluators: dict[Served, Evaluator] = {}
        self._counters: dict[tuple[str, str, str], int] = {}
        self._removed: set[tuple[str, str, str]] = set()
        self._faults: deque[tuple[Fault, float]] = deque()
        self._requests: list[AgentRequest] = []
        self._in_flight = 0
        try:
            self._httpd = Server((host, port), self)
        except BaseException:
            self._close_data()
            raise
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _ACCEPT_POLL_SECONDS},
            name=f"flagkit-local-agent:{self._httpd.server_port}",
            daemon=True,
        )
        try:
            self._thread.start()
        except BaseException:
            self._httpd.server_close()
            self._close_data()
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<LocalAppConfigAgent 127.0.0.1:{self.port} {state}>"

    @property
    def port(self) -> int:
        """The TCP port the local agent listens on."""
        return self._httpd.server_port

    @property
    def host(self) -> str:
        """The address the agent listens on (loopback)."""
        return str(self._httpd.server_address[0])

    # -- content ------------------------------------------------------------------------------

    def publish(
        self,
        application: str,
        environment: str,
        profile: str,
        body: bytes | str | Mapping[str, Any],
        *,
        content_type: str = "application/json",
        version: str | None = None,
        version_header: bool = True,
    ) -> str | None:
        """Deploy a new version to the data plane; returns the version it is served as.

        The agent sees it at its next poll (on the next request, with ``poll_interval=0``).
        The data plane's ``publish()`` makes the AWS calls: a stored feature-flag document
        goes to an ``AWS.AppConfig.FeatureFlags`` profile (validated; served in the
        retrieval-time format), anything else to a freeform one. The version label is
        ``version``, else ``v1``, ``v2``, ... per configuration; the agent sends it as
        ``Configuration-Version``. ``version_header=False`` deploys it unlabelled, so the agent
        sends no ``Configuration-Version`` (the source then versions by content hash). A
        mapping is sent as JSON, a str as UTF-8.
        """
        key = (application, environment, profile)
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            # A VersionLabel must contain a non-digit (botocore's model: ".*[^0-9].*")
            label = version if version is not None else f"v{self._counters[key]}"
            self._removed.discard(key)
        served = label if version_header else None
        self.appconfigdata.publish(
            application, environment, profile, body, content_type=content_type, version_label=served
        )
        return served

    def remove(self, application: str, environment: str, profile: str) -> None:
        """Stop serving this configuration (requests for it get 404) until published again."""
        key = (application, environment, profile)
        with self._lock:
            self._removed.add(key)
        self._upstream.forget(key)

    # -- faults -------------------------------------------------------------------------------

    def inject(self, fault: Fault, count: int = 1, *, delay: float = 0.0) -> None:
        """Make the next ``count`` requests fail as ``fault`` says.

        ``fault`` is an HTTP status to answer with (the agent's 400, 404, 500, 502, 504, or
        any other), ``"drop"`` (close the connection without answering) or ``"delay"``
        (answer normally, late). ``delay`` seconds are waited first for every kind;
        ``close()`` cuts a pending delay short. Faults fire in the order injected.
        """
        if isinstance(fault, int) and not 100 <= fault <= 599:
            raise ValueError(f"not an HTTP status: {fault}")
        if count < 1 or delay < 0:
            raise ValueError("count must be >= 1 and delay >= 0")
        with self._lock:
            self._faults.extend([(fault, delay)] * count)

    # -- observation --------------------------------------------------------------------------

    @property
    def requests(self) -> tuple[AgentRequest, ...]:
        """Every request answered (or dropped) so far, oldest first."""
        with self._lock:
            return tuple(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (a delayed one counts)."""
        with self._lock:
            return self._in_flight

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 5.0) -> bool:
        """Block until ``condition()`` holds (checked whenever a request starts or ends).

        ``condition`` may read this agent's properties. False if ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def source(
        self, application: str, environment: str, profile: str, **options: Any
    ) -> AgentSource:
        """An :class:`~flagkit.AgentSource` pointed at this fake agent (and its token)."""
        from flagkit._sources.agent import AgentSource

        options.setdefault("host", self.host)
        options.setdefault("port", self.port)
        options.setdefault("token", self.token)
        return AgentSource(application, environment, profile, **options)

    # -- serving (called on connection threads) -----------------------------------------------

    def _begin(self) -> tuple[Fault, float] | None:
        with self._changed:
            self._in_flight += 1
            self._changed.notify_all()
            return self._faults.popleft() if self._faults else None

    def _end(self, request: AgentRequest) -> None:
        with self._changed:
            self._in_flight -= 1
            self._requests.append(request)
            self._changed.notify_all()

    def _answer(self, method: str, target: str, headers: Headers) -> Answer | None:
        """The reply for one request; None means drop the connection."""
        fault = self._begin()
        configuration = parse_path(urlsplit(target).path)
        answer: Answer | None = None
        try:
            if fault is not None:
                kind, delay = fault
                if delay and self._closing.wait(delay):
                    return None  # closing: drop, as a dying agent would
                if kind == "drop":
                    return None
                if isinstance(kind, int):
                    answer = text(kind, _AGENT_ERRORS.get(kind, "Error"))
                    return answer
            try:
                answer = self._serve(method, target, configuration, headers)
            except AgentError as exc:
                answer = text(exc.status, exc.message)
            return answer
        finally:
            status = None if answer is None else answer.status
            self._end(
                AgentRequest(
                    method,
                    target,
                    configuration,
                    headers.authorization,
                    status,
                    headers.context,
                    headers.entity_id,
                )
            )

    def _serve(
        self,
        method: str,
        target: str,
        configuration: tuple[str, str, str] | None,
        headers: Headers,
    ) -> Answer:
        if self.token is not None and headers.authorization != f"Bearer {self.token}":
            # [inference] AWS names ACCESS_TOKEN's header but not the refusal's status.
            raise AgentError(401, "Unauthorized")
        if method != "GET":
            raise AgentError(405, "MethodNotAllowed")
        if configuration is None:
            raise AgentError(
                400,
                "BadRequest: expected /applications/{app}/environments/{env}/"
                "configurations/{profile}",
            )
        flags = parse_qs(urlsplit(target).query).get("flag", [])
        context = parse_context(headers.context)
        check_entity_id(headers.entity_id)
        with self._lock:
            removed = configuration in self._removed
        if removed:
            raise AgentError(404, "ResourceNotFound")
        evaluator = self._upstream.get(configuration)
        entity_id = headers.entity_id
        if entity_id and self._entity_version is not None:
            served = self._entity_version(configuration, entity_id)
            if served is not None and served != evaluator.served:
                evaluator = self._evaluator(served)
        body, content_type = evaluator.answer(flags, context)
        out = [("Content-Type", content_type)]
        if evaluator.served.version is not None:
            out.append(("Configuration-Version", evaluator.served.version))
        return Answer(200, tuple(out), body)

    def _evaluator(self, served: Served) -> Evaluator:
        """The compiled form of a version an entity is served (a few are kept)."""
        with self._lock:
            found = self._evaluators.get(served)
            if found is None:
                if len(self._evaluators) >= _EVALUATORS_KEPT:
                    self._evaluators.pop(next(iter(self._evaluators)))
                found = self._evaluators[served] = Evaluator(served)
            return found

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and join every thread started; idempotent, bounded by ``timeout``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in [self._thread, *self._httpd.drop_connections()]:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._close_data(max(0.0, deadline - time.monotonic()))

    def _close_data(self, timeout: float = 5.0) -> None:
        if self._owns_data:
            self.appconfigdata.close(timeout)

    def __enter__(self) -> LocalAppConfigAgent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
