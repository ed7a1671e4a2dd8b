"""What the local AppConfigData server answers, with no HTTP in sight.

``_Service`` turns one request (method, path, body) into one ``Reply`` (status, headers, body,
or "drop the connection") and records it. ``_appconfigdata.py`` puts it behind a socket;
``_appconfigdata_wire.py`` builds the bytes. The protocol rules all live here.

The rules come from botocore's service model for ``appconfigdata`` 2021-11-11
(research/appconfig.md §1). Where the model is silent, the choice is marked [inference] and
listed in docs/local-server.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import parse_qs, urlsplit

from flagkit.testing import _appconfigdata_wire as wire
from flagkit.testing._appconfig_api import ControlPlane
from flagkit.testing._appconfig_store import ApiError, Store

Operation = Literal["StartConfigurationSession", "GetLatestConfiguration"]
FaultKind = Literal[
    "throttle", "internal", "delay", "drop", "not_found", "expired", "corrupted", "too_early"
]

_START: Operation = "StartConfigurationSession"
_GET: Operation = "GetLatestConfiguration"
_FAULT_KINDS = frozenset(get_args(FaultKind))
_TOKEN_FAULTS = {
    "expired": "Expired",
    "corrupted": "Corrupted",
    "too_early": "PollIntervalNotSatisfied",
}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request the local server received, for tests to assert on.

    ``status`` is None when the server closed the connection without answering (an injected
    ``drop``, or ``close()`` during an injected delay). ``token`` is the token a
    GetLatestConfiguration presented; ``next_token`` the token the answer carried, if any.
    ``error`` is the error code sent (``x-amzn-ErrorType``); ``problem`` the
    ``ConfigurationToken`` problem of a BadRequestException. ``injected`` marks a faked fault.
    """

    operation: str
    status: int | None
    error: str | None = None
    problem: str | None = None
    token: str | None = None
    next_token: str | None = None
    session: int | None = None
    injected: bool = False


@dataclass(frozen=True, slots=True)
class RecordedSession:
    """A configuration session that StartConfigurationSession opened; ``id`` counts from 1."""

    id: int
    application: str
    environment: str
    profile: str
    required_minimum_poll_interval: int | None


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int
    delay: float
    operation: Operation | None


@dataclass(slots=True)
class _SessionState:
    info: RecordedSession
    latest_serial: int  # the serial of the one token that is still unused
    next_poll_at: float  # on the injected clock; polling earlier is "Request too early"


def check_seconds(name: str, value: int) -> int:
    """Accept a whole number of seconds >= 0, as the Next-Poll-Interval header carries."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of seconds >= 0, not {value!r}")
    return value


class _Service:
    """The state and rules of one local AppConfigData service; every method is thread-safe."""

    def __init__(
        self,
        *,
        poll_interval: int,
        clock: Callable[[], float],
        strict_tokens: bool,
        token_ttl: float,
        enforce_poll_interval: bool,
        wait: Callable[[float], bool],
        store: Store,
        control: ControlPlane,
    ) -> None:
        if token_ttl <= 0:
            raise ValueError(f"token_ttl must be > 0 seconds, not {token_ttl!r}")
        # Plain attributes: one read or write of a reference, so no lock is needed for them.
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.strict_tokens = strict_tokens
        self.enforce_poll_interval = enforce_poll_interval
        self._token_ttl = token_ttl
        self._clock = clock
        self._wait = wait  # sleeps for an injected delay; True means "the server is closing"
        self._tokens = wire.TokenCodec()
        # Re-entrant, so a wait_until() condition may read calls() while the lock is held.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # notified on every request and reply
        self._store = store  # the control plane: what is deployed where
        self._control = control
        self._control_calls: list[RecordedCall] = []
        self._sessions: dict[int, _SessionState] = {}
        self._faults: list[_Fault] = []
        self._calls: list[RecordedCall] = []
        self._in_flight = 0

    # -- what tests and the CLI call ---------------------------------------------------------

    def inject(
        self, kind: FaultKind, count: int, delay: float, operation: Operation | None
    ) -> None:
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        if operation not in (None, _START, _GET):
            raise ValueError(f"operation must be {_START!r}, {_GET!r} or None, not {operation!r}")
        if count < 1 or delay < 0:
            raise ValueError(f"count must be >= 1 and delay >= 0, not {count!r} and {delay!r}")
        if kind == "delay" and delay == 0:
            raise ValueError("a 'delay' fault needs delay= seconds > 0")
        if kind in _TOKEN_FAULTS:
            if operation == _START:
                raise ValueError(f"{kind!r} is a token problem; only {_GET} takes a token")
            operation = _GET
        with self._lock:
            self._faults.append(_Fault(kind, count, delay, operation))

    def calls(self) -> tuple[RecordedCall, ...]:
        with self._lock:
            return tuple(self._calls)

    def control_calls(self) -> tuple[RecordedCall, ...]:
        with self._lock:
            return tuple(self._control_calls)

    def sessions(self) -> tuple[RecordedSession, ...]:
        with self._lock:
            return tuple(state.info for state in self._sessions.values())

    def in_flight(self) -> int:
        return self._in_flight

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until ``condition()`` holds, re-checking whenever a request comes or goes."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    # -- requests -----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, body: bytes, headers: Mapping[str, str]
    ) -> wire.Reply:
        """Answer one HTTP request and record it."""
        control = self._control.route(method, target, headers, body)
        if control is not None:  # the control plane: never faulted, recorded on its own
            operation, reply = control
            with self._changed:
                self._control_calls.append(RecordedCall(operation, reply.status, reply.error))
                self._changed.notify_all()
            return reply
        with self._changed:
            self._in_flight += 1
            self._changed.notify_all()
        try:
            reply, call = self._answer(method, target, body)
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        return reply

    def _answer(self, method: str, target: str, body: bytes) -> tuple[wire.Reply, RecordedCall]:
        url = urlsplit(target)
        if method == "POST" and url.path == "/configurationsessions":
            operation: Operation = _START
        elif method == "GET" and url.path == "/configuration":
            operation = _GET
        else:
            reply = wire.json_reply(404, {"Message": "Unknown operation"}, error="UnknownOperation")
            return reply, RecordedCall(f"{method} {url.path}", 404, reply.error)
        token = parse_qs(url.query).get("configuration_token", [None])[0]
        answered = self._faulted(operation, token)
        if answered is None:
            answered = self._start(body) if operation == _START else self._get(token)
        return answered

    def _faulted(
        self, operation: Operation, token: str | None
    ) -> tuple[wire.Reply, RecordedCall] | None:
        """Apply the next injected fault for this operation, or return None to answer as usual."""
        with self._lock:
            fault = next((f for f in self._faults if f.operation in (None, operation)), None)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)
        # An injected fault never touches session state: the token stays good for a retry.
        dropped = wire.DROP, RecordedCall(operation, None, token=token, injected=True)
        if fault.delay and self._wait(fault.delay):
            return dropped  # the server is closing: give up on this request
        if fault.kind == "drop":
            return dropped
        if fault.kind == "delay":
            return None  # late, then answered as usual
        if fault.kind == "throttle":
            reply = wire.throttled()
        elif fault.kind == "internal":
            reply = wire.internal_error()
        elif fault.kind == "not_found":
            reply = wire.not_found("ConfigurationProfile", "Configuration profile not found", {})
        else:
            reply = wire.token_problem(_TOKEN_FAULTS[fault.kind])
        problem = _TOKEN_FAULTS.get(fault.kind)
        call = RecordedCall(operation, reply.status, reply.error, problem, token, injected=True)
        return reply, call

    def _start(self, body: bytes) -> tuple[wire.Reply, RecordedCall]:
        def failed(reply: wire.Reply) -> tuple[wire.Reply, RecordedCall]:
            return reply, RecordedCall(_START, reply.status, reply.error)

        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return failed(wire.bad_request("Request body is not valid JSON"))
        if not isinstance(request, dict):
            return failed(wire.bad_request("Request body must be a JSON object"))
        invalid = wire.validate_start(request)
        if invalid is not None:
            return failed(wire.bad_request(invalid))
        app, env, profile = (request[member] for member, _ in wire.IDENTIFIERS)
        interval = request.get("RequiredMinimumPollIntervalInSeconds")
        with self._lock:
            missing = self._find_missing(app, env, profile)
            if missing is not None:
                return failed(missing)
            info = RecordedSession(len(self._sessions) + 1, app, env, profile, interval)
            # The first poll may come at once; only later polls wait for their interval.
            self._sessions[info.id] = _SessionState(info, 0, float("-inf"))
            token = self._tokens.encode(wire.Token(info.id, 0, self._clock(), 0))
        reply = wire.json_reply(201, {"InitialConfigurationToken": token})
        return reply, RecordedCall(_START, 201, next_token=token, session=info.id)

    def _find_missing(self, app: str, env: str, profile: str) -> wire.Reply | None:
        # Identifiers are IDs or names (StartConfigurationSessionRequest).
        # [inference] ReferencedBy names the resource the missing one was looked up in.
        try:
            self._store.application(app, by_name=True)
        except ApiError:
            return wire.not_found("Application", f"Application {app!r} not found", {})
        try:
            self._store.environment(app, env, by_name=True)
        except ApiError:
            message = f"Environment {env!r} not found in application {app!r}"
            return wire.not_found("Environment", message, {"Application": app})
        try:
            self._store.profile(app, profile, by_name=True)
        except ApiError:
            message = f"Configuration profile {profile!r} not found in application {app!r}"
            return wire.not_found("ConfigurationProfile", message, {"Application": app})
        return None

    def _get(self, presented: str | None) -> tuple[wire.Reply, RecordedCall]:
        def refused(problem: str, session: int | None) -> tuple[wire.Reply, RecordedCall]:
            reply = wire.token_problem(problem)
            return reply, RecordedCall(_GET, 400, reply.error, problem, presented, session=session)

        token = self._tokens.decode(presented)
        with self._lock:
            state = None if token is None else self._sessions.get(token.session)
            if token is None or state is None:
                return refused("Corrupted", None)
            info = state.info
            if self.strict_tokens and token.serial != state.latest_serial:
                return refused("Corrupted", info.id)  # each token is good for one call only
            now = self._clock()
            if now - token.issued_at >= self._token_ttl:
                return refused("Expired", info.id)
            # Measured from the previous answered poll, empty or not (aws-samples issue #2).
            if self.enforce_poll_interval and now < state.next_poll_at:
                return refused("PollIntervalNotSatisfied", info.id)
            try:
                version = self._store.served(
                    info.application, info.environment, info.profile, f"session-{info.id}"
                )
            except ApiError:  # [inference] the profile went away under the session
                version = None
            if version is None:
                # [inference] Nothing deployed yet; the model's ResourceType has "Deployment".
                reply = wire.not_found(
                    "Deployment",
                    "No configuration has been deployed to this environment",
                    {"Application": info.application, "Environment": info.environment},
                )
                return reply, RecordedCall(_GET, 404, reply.error, token=presented, session=info.id)
            # AWS: the session's RequiredMinimumPollIntervalInSeconds *sets* its interval
            # (appconfigdata model: "Use RequiredMinimumPollIntervalInSeconds to set the
            # desired poll interval"); unset -> the server's default, 60 s as observed.
            interval = info.required_minimum_poll_interval
            if interval is None:
                interval = self.poll_interval
            state.latest_serial += 1
            state.next_poll_at = now + interval
            issued = wire.Token(info.id, state.latest_serial, now, version.number)
            next_token = self._tokens.encode(issued)
        headers = [
            ("Next-Poll-Configuration-Token", next_token),
            ("Next-Poll-Interval-In-Seconds", str(interval)),
            ("Content-Type", version.served_type),
            wire.request_id(),
        ]
        body = b""
        if token.known_version != version.number:  # new to this holder: send it
            body = version.served
            if version.label is not None:
                headers.append(("Version-Label", version.label))
        call = RecordedCall(_GET, 200, token=presented, next_token=next_token, session=info.id)
        return wire.Reply(200, tuple(headers), body), call
