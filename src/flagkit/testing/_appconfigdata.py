"""``LocalAppConfigData``: a local AWS AppConfig on 127.0.0.1 that real boto3 talks to.

One port serves both APIs: the control plane (``appconfig``: applications, environments,
profiles, hosted versions, strategies, deployments) and the data plane (``appconfigdata``).
The public face. The control plane lives in ``_appconfig_store.py`` (state and rules),
``_appconfig_deploy.py`` (strategies and deployments on the injected clock),
``_appconfig_render.py`` (the retrieval-time format) and ``_appconfig_api.py`` (routing); the
data plane's rules in ``_appconfigdata_service.py``, its bytes in ``_appconfigdata_wire.py``;
the socket in ``_appconfigdata_http.py``; ``publish()``'s API calls in
``_appconfig_publish.py``. This module owns the lifecycle: one named daemon thread runs the
accept loop, and ``close()`` interrupts injected delays, drops kept-alive connections and
joins every thread the server started.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from flagkit.testing._appconfig_api import ControlPlane
from flagkit.testing._appconfig_publish import Publisher, boto3_client, guess_profile_type
from flagkit.testing._appconfig_store import Store
from flagkit.testing._appconfigdata_http import HTTPServer
from flagkit.testing._appconfigdata_service import (
    FaultKind,
    Operation,
    RecordedCall,
    RecordedSession,
    _Service,
    check_seconds,
)

# How often the accept loop looks for a shutdown request: close() waits at most this long.
_ACCEPT_POLL_SECONDS = 0.05


class LocalAppConfigData:
    """A local AWS AppConfig, control plane and data plane, for tests and local development.

    Drive it with real boto3 clients (or the AWS CLI with ``--endpoint-url``): ``client()``
    gives an ``appconfigdata`` client, ``appconfig_client()`` an ``appconfig`` one. Calls,
    shapes, status codes, errors and limits follow botocore's service models; what is served is
    what AWS serves -- the retrieval-time format for a feature-flag profile (the data view, or
    Ion when a flag has variants), the stored bytes for a freeform one::

        with LocalAppConfigData(poll_interval=0) as server:
            server.publish("app", "prod", "flags", stored_document)   # via the AWS API
            client = server.client()

    ``publish()`` is CreateHostedConfigurationVersion + StartDeployment, made through boto3.
    Deployments follow their strategy on ``clock``; a monitored CloudWatch alarm in ALARM rolls
    one back when ``cloudwatch`` is given. See docs/local-server.md for every rule and its source.

    The server starts serving in the constructor, so ``endpoint_url`` works at once.

    Args:
        poll_interval: seconds announced to a session that asked for no
            ``RequiredMinimumPollIntervalInSeconds`` (a session that asks is told what it
            asked, as on AWS). The default, 60, is what the service answers when nothing is
            requested (observed, not specified). Tests may use 0 or 1, below AWS's floor of
            15: that is the one deviation from AWS. Settable at run time.
        clock: seconds on any monotonic scale. It times token expiry, the poll interval and
            deployments, so a test expires a token or moves a deployment through its steps
            and bake by moving a fake clock forward.
        cloudwatch: a boto3 ``cloudwatch`` client; the environment's ``Monitors`` are read
            through its DescribeAlarms while a deployment runs or bakes. None: not monitored.
        strict_tokens: a token used once is refused as ``Corrupted``. False tolerates reuse;
            the token then says which version its holder has.
        token_ttl: seconds a token lives (AWS: 24 hours).
        enforce_poll_interval: refuse a poll that comes before the interval announced by the
            previous one (``PollIntervalNotSatisfied``). Settable at run time.
        host, port: where to listen. Port 0 takes a free port.
    """

    def __init__(
        self,
        *,
        poll_interval: int = 60,
        clock: Callable[[], float] = time.monotonic,
        cloudwatch: Any = None,
        strict_tokens: bool = True,
        token_ttl: float = 86400,
        enforce_poll_interval: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._closing = threading.Event()  # set once; wakes injected delays and serve_forever()
        self._close_lock = threading.Lock()
        self._closed = False
        self._cloudwatch = cloudwatch
        # Deployment timestamps: the injected clock, anchored to the wall clock once.
        anchor = time.time() - clock()
        store = Store(clock, self._first_alarm)
        self._service = _Service(
            poll_interval=poll_interval,
            clock=clock,
            strict_tokens=strict_tokens,
            token_ttl=token_ttl,
            enforce_poll_interval=enforce_poll_interval,
            wait=self._closing.wait,
            store=store,
            control=ControlPlane(store, lambda t: anchor + t),
        )
        self._publisher = Publisher(self.appconfig_client)
        self._httpd = HTTPServer((host, port), self._service)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _ACCEPT_POLL_SECONDS},
            name=f"flagkit-local-appconfigdata:{self._httpd.server_port}",
            daemon=True,
        )
        try:
            self._thread.start()
        except BaseException:  # e.g. "can't create new thread at interpreter shutdown"
            self._httpd.server_close()
            raise

    def _first_alarm(self, names: list[str]) -> str | None:
        """The first of ``names`` in ALARM, read from CloudWatch (DescribeAlarms)."""
        if self._cloudwatch is None:
            return None
        pages = self._cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=names)
        for page in pages:
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                if alarm.get("StateValue") == "ALARM":
                    return str(alarm["AlarmName"])
        return None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"<LocalAppConfigData {self.endpoint_url} {state}>"

    @property
    def endpoint_url(self) -> str:
        """The URL to give a client, e.g. ``http://127.0.0.1:49152``."""
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._httpd.server_port

    @property
    def poll_interval(self) -> int:
        """Seconds announced in ``Next-Poll-Interval-In-Seconds`` from the next poll on."""
        return self._service.poll_interval

    @poll_interval.setter
    def poll_interval(self, seconds: int) -> None:
        self._service.poll_interval = check_seconds("poll_interval", seconds)

    @property
    def strict_tokens(self) -> bool:
        """Whether a token used once is refused as ``Corrupted``."""
        return self._service.strict_tokens

    @strict_tokens.setter
    def strict_tokens(self, strict: bool) -> None:
        self._service.strict_tokens = strict

    @property
    def enforce_poll_interval(self) -> bool:
        """Whether an early poll is refused with ``PollIntervalNotSatisfied``."""
        return self._service.enforce_poll_interval

    @enforce_poll_interval.setter
    def enforce_poll_interval(self, enforce: bool) -> None:
        self._service.enforce_poll_interval = enforce

    # -- content ------------------------------------------------------------------------------

    def create(
        self,
        application: str,
        environment: str,
        profile: str,
        *,
        profile_type: str = "AWS.AppConfig.FeatureFlags",
        monitors: Sequence[str] = (),
    ) -> tuple[str, str, str]:
        """Create what is missing of an application, environment and profile; their IDs.

        Made through the control-plane API (CreateApplication, CreateEnvironment with
        ``monitors`` as alarm ARNs, CreateConfigurationProfile of ``profile_type``); existing
        ones are found by name and left as they are. A session can then start; its polls get
        ResourceNotFoundException (``Deployment``) until something is deployed.
        """
        return self._publisher.ensure(
            application, environment, profile, profile_type=profile_type, monitors=tuple(monitors)
        )

    def publish(
        self,
        application: str,
        environment: str,
        profile: str,
        body: bytes | bytearray | str | Mapping[str, Any],
        *,
        content_type: str = "application/json",
        version_label: str | None = None,
        strategy: str | None = None,
    ) -> int:
        """Deploy ``body`` as a new hosted version through the AWS API; its number (1, 2, ...).

        Exactly CreateHostedConfigurationVersion and StartDeployment, made with boto3 (after
        ``create()`` for whatever is missing). A missing profile is created as
        ``AWS.AppConfig.FeatureFlags`` when ``body`` is a stored feature-flag document (a JSON
        object with a string ``version``), else as ``AWS.Freeform``; call ``create()`` first
        to choose. A feature-flag profile validates the document as AWS does, and its sessions
        get the retrieval-time format; a freeform profile serves the bytes as they are.
        ``strategy`` is a deployment strategy ID; the default is ``flagkit-instant``, a real
        custom strategy (LINEAR, 100 %, no duration, no bake), so the next poll of every
        session gets the new version. A mapping is sent as JSON, a str as UTF-8. Errors are
        botocore's ``ClientError`` (e.g. BadRequestException for a refused document).
        """
        data = _as_bytes(body)
        ids = self._publisher.ensure(
            application,
            environment,
            profile,
            profile_type=guess_profile_type(data, content_type),
        )
        version, _ = self._publisher.publish(
            ids, data, content_type=content_type, version_label=version_label, strategy=strategy
        )
        return version

    # -- faults -------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        delay: float = 0.0,
        operation: Operation | None = None,
    ) -> None:
        """Make the next ``count`` matching requests fail in the way ``kind`` names.

        Kinds: ``throttle`` (429 ThrottlingException), ``internal`` (500
        InternalServerException), ``not_found`` (404 ResourceNotFoundException), ``drop``
        (close the connection without answering), ``delay`` (wait ``delay`` seconds, then
        answer as usual), and the token problems ``expired``, ``corrupted`` and ``too_early``
        (400 BadRequestException; GetLatestConfiguration only). ``delay`` also applies before
        any other kind. ``operation`` limits the fault to ``"StartConfigurationSession"`` or
        ``"GetLatestConfiguration"``. Faults queue up and fire in the order injected. A
        faulted request changes no session state, so its token is still good for a retry.
        ``close()`` cuts a pending delay short and drops that connection.
        """
        self._service.inject(kind, count, delay, operation)

    # -- observation --------------------------------------------------------------------------

    @property
    def calls(self) -> tuple[RecordedCall, ...]:
        """Every request received so far, oldest first (a copy)."""
        return self._service.calls()

    @property
    def control_calls(self) -> tuple[RecordedCall, ...]:
        """Every control-plane (``appconfig``) request so far, oldest first (a copy)."""
        return self._service.control_calls()

    @property
    def sessions(self) -> tuple[RecordedSession, ...]:
        """Every session started so far, oldest first (a copy)."""
        return self._service.sessions()

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now (a delayed one counts)."""
        return self._service.in_flight()

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 5.0) -> bool:
        """Block until ``condition()`` is true; False if ``timeout`` seconds pass first.

        The condition is checked now and again whenever a request arrives or is answered,
        so tests synchronise with the server instead of sleeping, e.g.
        ``server.wait_until(lambda: server.in_flight == 1)``. It may read this server.
        """
        return self._service.wait_until(condition, timeout)

    def wait_for_calls(
        self, count: int, *, operation: str | None = None, timeout: float = 5.0
    ) -> bool:
        """Block until ``count`` requests (of ``operation``, if given) have been answered."""

        def enough() -> bool:
            return sum(operation in (None, c.operation) for c in self.calls) >= count

        return self._service.wait_until(enough, timeout)

    # -- clients ------------------------------------------------------------------------------

    def client(self, **config_overrides: Any) -> Any:
        """A real boto3 ``appconfigdata`` client pointed at this server.

        It has fake credentials, region us-east-1, no retries, short timeouts and no proxy.
        Keyword arguments override ``botocore.config.Config`` options, e.g.
        ``read_timeout=0.2`` or ``parameter_validation=False``.
        """
        return boto3_client("appconfigdata", self.endpoint_url, config_overrides)

    def appconfig_client(self, **config_overrides: Any) -> Any:
        """A real boto3 ``appconfig`` (control plane) client pointed at this server."""
        return boto3_client("appconfig", self.endpoint_url, config_overrides)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def serve_forever(self) -> None:
        """Block the calling thread until ``close()`` is called elsewhere, or Ctrl-C.

        Either way the server is closed on return. This is what ``flagkit serve`` wraps.
        """
        try:
            self._closing.wait()
        finally:
            self.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and join every thread the server started; idempotent.

        Pending injected delays end at once and their connections are dropped. Returns within
        about ``timeout`` seconds even if a connection thread is stuck.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + timeout
        self._closing.set()
        self._httpd.shutdown()  # returns within one accept poll
        self._httpd.server_close()
        self._publisher.close()
        threads = [self._thread, *self._httpd.drop_connections()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LocalAppConfigData:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _as_bytes(body: bytes | bytearray | str | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, Mapping):
        return json.dumps(body).encode()
    raise TypeError(f"body must be bytes, str or a mapping, not {type(body).__name__}")
