"""``LocalAppConfigData``: an AppConfigData service on 127.0.0.1 that real boto3 talks to.

The public face. The protocol rules live in ``_appconfigdata_service.py``, the bytes in
``_appconfigdata_wire.py`` and the socket in ``_appconfigdata_http.py``. This module owns the
lifecycle: one named daemon thread runs the accept loop, and ``close()`` interrupts injected
delays, drops kept-alive connections and joins every thread the server started.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from flagkit._exceptions import MissingExtraError
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
    """A local AWS AppConfigData endpoint for tests and local development.

    It speaks the API as botocore's service model describes it: ``POST /configurationsessions``
    and ``GET /configuration``, the four response headers, single-use tokens that expire,
    "Request too early", and the modelled error bodies. Point any AppConfigData client at
    ``endpoint_url``, or take a ready boto3 client from ``client()``::

        with LocalAppConfigData(poll_interval=0) as server:
            server.publish("app", "prod", "flags", {"dark-mode": {"enabled": True}})
            client = server.client()

    The server starts serving in the constructor, so ``endpoint_url`` works at once.

    Args:
        poll_interval: seconds sent in ``Next-Poll-Interval-In-Seconds``. A session's
            ``RequiredMinimumPollIntervalInSeconds`` raises it. The default, 60, is what the
            service answers when nothing is requested (observed, not specified). Tests may use
            0 or 1, below AWS's floor of 15. Settable at run time.
        clock: seconds on any monotonic scale. It times token expiry and the poll interval, so
            a test can expire a token by moving a fake clock forward.
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
        strict_tokens: bool = True,
        token_ttl: float = 86400,
        enforce_poll_interval: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._closing = threading.Event()  # set once; wakes injected delays and serve_forever()
        self._close_lock = threading.Lock()
        self._closed = False
        self._service = _Service(
            poll_interval=poll_interval,
            clock=clock,
            strict_tokens=strict_tokens,
            token_ttl=token_ttl,
            enforce_poll_interval=enforce_poll_interval,
            wait=self._closing.wait,
        )
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

    def create(self, application: str, environment: str, profile: str) -> None:
        """Make an application, environment and profile exist, with nothing deployed yet.

        A session can then start; its polls get ResourceNotFoundException (``Deployment``)
        until something is published. ``publish()`` creates what is missing by itself.
        """
        self._service.create(application, environment, profile)

    def publish(
        self,
        application: str,
        environment: str,
        profile: str,
        body: bytes | bytearray | str | Mapping[str, Any],
        *,
        content_type: str = "application/json",
        version_label: str | None = None,
    ) -> int:
        """Deploy a new configuration version and return its number (1, 2, ...).

        Each session gets the new body on its next poll. A mapping is sent as JSON, a str as
        UTF-8. Without ``version_label`` no ``Version-Label`` header is sent, as for an
        unlabelled hosted version. Publishing the same bytes again still makes a new version.
        """
        return self._service.publish(
            application,
            environment,
            profile,
            body,
            content_type=content_type,
            version_label=version_label,
        )

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
        try:
            # Imported by name: boto3 is an optional extra, and ships no type information.
            boto3 = importlib.import_module("boto3")
            config_module = importlib.import_module("botocore.config")
        except ImportError as exc:
            raise MissingExtraError("aws", "boto3") from exc
        options: dict[str, Any] = {
            # One attempt: a fault injected once must reach the code under test, not a retry.
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": 2,
            "read_timeout": 5,
            "proxies": {},  # loopback must never go through an HTTP(S)_PROXY from the env
        }
        options.update(config_overrides)
        return boto3.client(
            "appconfigdata",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106  # a fake for a fake server
            config=config_module.Config(**options),
        )

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
