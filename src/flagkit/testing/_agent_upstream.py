"""The local agent's side of AppConfigData: one session per configuration, polled when due.

The AppConfig Agent reads configurations the way any client does: StartConfigurationSession
once, then GetLatestConfiguration with the newest token, no sooner than the interval the
service announced (user guide, "How AWS AppConfig Agent works"; research §3). It caches the
last body and keeps serving it when a poll fails ("the extension skips this poll interval
and returns the previously updated cached data", Lambda extension configuration page).

The calls are made with the standard library's ``http.client`` over loopback to a
``LocalAppConfigData`` (no signing: the local data plane does not check it). Failures become
the agent's own statuses: no data plane answering 502 BadGateway, a timeout 504
GatewayTimeout, an unknown configuration 404 (UG-old OpenAPI).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from flagkit.testing._agent_eval import AgentError, Evaluator, Served

__all__ = ["Upstream"]

Key = tuple[str, str, str]


@dataclass(slots=True)
class _Session:
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str | None = None
    due: float = 0.0  # clock time from which the next poll may go out
    evaluator: Evaluator | None = None  # the last version delivered, compiled


class Upstream:
    """Fetches configurations from an AppConfigData endpoint for the local agent.

    Args:
        endpoint_url: the data plane, e.g. ``LocalAppConfigData.endpoint_url``.
        poll_interval: the agent's own interval (AWS: ``POLL_INTERVAL``, 45 s); the data
            plane's ``Next-Poll-Interval-In-Seconds`` is never undercut.
        clock: monotonic seconds (tests move a fake clock).
        timeout: seconds for each call.
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        poll_interval: float,
        clock: Callable[[], float],
        timeout: float = 5.0,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self.poll_interval = poll_interval
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sessions: dict[Key, _Session] = {}

    def get(self, key: Key) -> Evaluator:
        """The newest version of ``key`` (polled when due), or ``AgentError``."""
        with self._lock:
            session = self._sessions.setdefault(key, _Session())
        with session.lock:
            if session.evaluator is None or self._clock() >= session.due:
                try:
                    self._poll(key, session)
                except AgentError:
                    if session.evaluator is None:
                        raise
                    # the last good version is served on; the next request tries again
            assert session.evaluator is not None
            return session.evaluator

    def forget(self, key: Key) -> None:
        """Drop what is cached for ``key``: the next request starts a new session."""
        with self._lock:
            self._sessions.pop(key, None)

    def _poll(self, key: Key, session: _Session) -> None:
        for attempt in (1, 2):
            if session.token is None:
                session.token = self._start(key)
            status, headers, body = self._call(
                "GET", f"/configuration?configuration_token={quote(session.token, safe='')}"
            )
            if status == 400 and attempt == 1:
                session.token = None  # expired or refused: a new session, once
                continue
            break
        if status != 200:
            session.token = None
            raise _error(status, headers, body)
        session.token = headers.get("next-poll-configuration-token") or None
        try:
            interval = float(headers.get("next-poll-interval-in-seconds", "0"))
        except ValueError:
            interval = 0.0
        session.due = self._clock() + max(interval, self.poll_interval)
        if body:  # empty: unchanged since the last poll
            served = Served(
                body,
                headers.get("content-type") or "application/octet-stream",
                headers.get("version-label") or None,
            )
            session.evaluator = Evaluator(served)

    def _start(self, key: Key) -> str:
        application, environment, profile = key
        request = {
            "ApplicationIdentifier": application,
            "EnvironmentIdentifier": environment,
            "ConfigurationProfileIdentifier": profile,
        }
        status, headers, body = self._call(
            "POST", "/configurationsessions", json.dumps(request).encode()
        )
        if status != 201:
            raise _error(status, headers, body)
        try:
            token = json.loads(body)["InitialConfigurationToken"]
        except (ValueError, KeyError, TypeError):
            raise AgentError(
                502, "BadGateway: unreadable StartConfigurationSession answer"
            ) from None
        return str(token)

    def _call(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except TimeoutError:
            raise AgentError(504, "GatewayTimeout: AppConfig did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            raise AgentError(
                502, f"BadGateway: AppConfig unreachable ({type(exc).__name__})"
            ) from None
        finally:
            conn.close()


def _error(status: int, headers: dict[str, str], body: bytes) -> AgentError:
    """The agent's answer for a data-plane error (by its ``x-amzn-ErrorType`` code)."""
    code = headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if code == "ResourceNotFoundException" or status == 404:
        return AgentError(404, "ResourceNotFound")
    if code == "ThrottlingException" or status == 429 or status >= 500:
        return AgentError(502, f"BadGateway: AppConfig answered {status} {code}".rstrip())
    return AgentError(500, f"InternalServer: AppConfig answered {status} {code}".rstrip())
