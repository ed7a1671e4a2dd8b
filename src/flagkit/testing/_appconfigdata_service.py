"""What the local AppConfigData server answers, with no HTTP in sight.

``_Service`` turns one request (method, path, body) into one ``_Reply`` (status, headers, body)
or into "drop the connection". ``_appconfigdata.py`` puts it behind a socket. Keeping the two
apart keeps the protocol rules in one readable place.

Every rule here comes from botocore's service model for ``appconfigdata`` 2021-11-11
(research/appconfig.md §1). Where the model is silent we chose something and say so. Those
choices are listed in docs/local-server.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Operation = Literal["StartConfigurationSession", "GetLatestConfiguration"]
FaultKind = Literal[
    "throttle", "internal", "delay", "drop", "not_found", "expired", "corrupted", "too_early"
]

_START: Operation = "StartConfigurationSession"
_GET: Operation = "GetLatestConfiguration"
_FAULT_KINDS = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]  # Literal's members
_TOKEN_FAULTS = {
    "expired": "Expired",
    "corrupted": "Corrupted",
    "too_early": "PollIntervalNotSatisfied",
}
# Limits from the service model (OptionalPollSeconds, Identifier).
_MIN_POLL, _MAX_POLL = 15, 86400
_MAX_IDENTIFIER = 128
_IDENTIFIERS = (
    ("ApplicationIdentifier", "applicationIdentifier"),
    ("EnvironmentIdentifier", "environmentIdentifier"),
    ("ConfigurationProfileIdentifier", "configurationProfileIdentifier"),
)


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


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False


@dataclass(frozen=True, slots=True)
class _Version:
    number: int
    body: bytes
    content_type: str
    label: str | None


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int
    delay: float
    operation: Operation | None


@dataclass(slots=True)
class _SessionState:
    info: RecordedSession
    latest_serial: int  # the serial of the only token that is still unused
    next_poll_at: float  # on the injected clock; polling earlier is "Request too early"


@dataclass(frozen=True, slots=True)
class _Token:
    session: int
    serial: int
    issued_at: float
    known_version: int  # the version the holder already has; 0 = none


def _json_reply(status: int, document: Mapping[str, Any], *, error: str | None = None) -> _Reply:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    if error is not None:
        # botocore's rest-json parser reads the error code from this header.
        headers.append(("x-amzn-ErrorType", error))
    return _Reply(status, tuple(headers), json.dumps(document).encode())


def _bad_request(message: str, problem: str | None = None) -> _Reply:
    document: dict[str, Any] = {"Message": message}
    if problem is not None:
        document["Reason"] = "InvalidParameters"
        document["Details"] = {"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}}
    return _json_reply(400, document, error="BadRequestException")


def _not_found(resource_type: str, message: str, referenced_by: Mapping[str, str]) -> _Reply:
    document = {"Message": message, "ResourceType": resource_type, "ReferencedBy": referenced_by}
    return _json_reply(404, document, error="ResourceNotFoundException")


_TOKEN_MESSAGES = {
    "Corrupted": "Invalid configuration token",
    "Expired": "Configuration token expired",
    "PollIntervalNotSatisfied": "Request too early",  # the service's observed wording
}


def _fault_reply(kind: FaultKind) -> _Reply:
    if kind == "throttle":
        return _json_reply(429, {"Message": "Rate exceeded"}, error="ThrottlingException")
    if kind == "internal":
        return _json_reply(500, {"Message": "Internal failure"}, error="InternalServerException")
    if kind == "not_found":
        return _not_found("ConfigurationProfile", "Configuration profile not found", {})
    problem = _TOKEN_FAULTS[kind]
    return _bad_request(_TOKEN_MESSAGES[problem], problem)


def _as_bytes(body: bytes | bytearray | str | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, Mapping):
        return json.dumps(body).encode()
    raise TypeError(f"body must be bytes, str or a mapping, not {type(body).__name__}")


def _check_seconds(name: str, value: int) -> int:
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
    ) -> None:
        self.poll_interval = _check_seconds("poll_interval", poll_interval)
        self.strict_tokens = strict_tokens
        self.enforce_poll_interval = enforce_poll_interval
        if token_ttl <= 0:
            raise ValueError(f"token_ttl must be > 0 seconds, not {token_ttl!r}")
        self._token_ttl = token_ttl
        self._clock = clock
        self._wait = wait  # sleeps for an injected delay; True means "the server is closing"
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._applications: dict[str, tuple[set[str], set[str]]] = {}  # -> (envs, profiles)
        self._deployed: dict[tuple[str, str, str], _Version] = {}
        self._sessions: dict[int, _SessionState] = {}
        self._faults: list[_Fault] = []
        self._calls: list[RecordedCall] = []

    # -- what tests and the CLI call -------------------------------------------------------

    def create(self, application: str, environment: str, profile: str) -> None:
        with self._lock:
            self._create_locked(application, environment, profile)

    def _create_locked(self, application: str, environment: str, profile: str) -> None:
        for name in (application, environment, profile):
            if not isinstance(name, str) or not 1 <= len(name) <= _MAX_IDENTIFIER:
                raise ValueError(f"identifiers are 1..{_MAX_IDENTIFIER} characters, not {name!r}")
        environments, profiles = self._applications.setdefault(application, (set(), set()))
        environments.add(environment)
        profiles.add(profile)

    def publish(
        self,
        application: str,
        environment: str,
        profile: str,
        body: bytes | bytearray | str | Mapping[str, Any],
        *,
        content_type: str,
        version_label: str | None,
    ) -> int:
        data = _as_bytes(body)
        with self._lock:
            self._create_locked(application, environment, profile)
            key = (application, environment, profile)
            previous = self._deployed.get(key)
            number = 1 if previous is None else previous.number + 1
            self._deployed[key] = _Version(number, data, content_type, version_label)
            return number

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

    def sessions(self) -> tuple[RecordedSession, ...]:
        with self._lock:
            return tuple(state.info for state in self._sessions.values())

    def wait_for_calls(self, count: int, operation: str | None, timeout: float) -> bool:
        def enough() -> bool:
            return sum(operation in (None, c.operation) for c in self._calls) >= count

        with self._changed:
            return self._changed.wait_for(enough, timeout)

    # -- requests ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes) -> _Reply:
        """Answer one HTTP request; a reply with ``drop`` set means "close, say nothing"."""
        url = urlsplit(target)
        if method == "POST" and url.path == "/configurationsessions":
            operation: Operation = _START
        elif method == "GET" and url.path == "/configuration":
            operation = _GET
        else:
            reply = _json_reply(404, {"Message": "Unknown operation"}, error="UnknownOperation")
            self._record(RecordedCall(f"{method} {url.path}", 404, "UnknownOperation"))
            return reply
        token = parse_qs(url.query).get("configuration_token", [None])[0]
        answered = self._faulted(operation, token)
        if answered is None:
            answered = self._start(body) if operation == _START else self._get(token)
        reply, call = answered
        self._record(call)
        return reply

    def _faulted(
        self, operation: Operation, token: str | None
    ) -> tuple[_Reply, RecordedCall] | None:
        """Apply the next injected fault for this operation, or return None to answer as usual."""
        with self._lock:
            fault = next((f for f in self._faults if f.operation in (None, operation)), None)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)
        # An injected fault never touches session state: the token stays valid for a retry.
        dropped = _Reply(0, drop=True), RecordedCall(operation, None, token=token, injected=True)
        if fault.delay and self._wait(fault.delay):
            return dropped  # closing: give up on the request
        if fault.kind == "drop":
            return dropped
        if fault.kind == "delay":
            return None  # late, then answered as usual
        reply = _fault_reply(fault.kind)
        error = dict(reply.headers)["x-amzn-ErrorType"]
        problem = _TOKEN_FAULTS.get(fault.kind)
        return reply, RecordedCall(operation, reply.status, error, problem, token, injected=True)

    def _start(self, body: bytes) -> tuple[_Reply, RecordedCall]:
        def failed(reply: _Reply) -> tuple[_Reply, RecordedCall]:
            error = dict(reply.headers)["x-amzn-ErrorType"]
            return reply, RecordedCall(_START, reply.status, error)

        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return failed(_bad_request("Request body is not valid JSON"))
        if not isinstance(request, dict):
            return failed(_bad_request("Request body must be a JSON object"))
        problems = _validate_start(request)
        if problems:
            count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
            return failed(_bad_request(f"{count} detected: " + "; ".join(problems)))
        app, env, profile = (request[member] for member, _ in _IDENTIFIERS)
        interval = request.get("RequiredMinimumPollIntervalInSeconds")
        with self._lock:
            missing = self._find_missing(app, env, profile)
            if missing is not None:
                return failed(missing)
            info = RecordedSession(len(self._sessions) + 1, app, env, profile, interval)
            # The first poll may come at once; only later polls must wait their interval.
            self._sessions[info.id] = _SessionState(info, 0, float("-inf"))
            token = self._encode(_Token(info.id, 0, self._clock(), 0))
        reply = _json_reply(201, {"InitialConfigurationToken": token})
        return reply, RecordedCall(_START, 201, next_token=token, session=info.id)

    def _find_missing(self, app: str, env: str, profile: str) -> _Reply | None:
        if app not in self._applications:
            return _not_found("Application", f"Application {app!r} not found", {})
        environments, profiles = self._applications[app]
        if env not in environments:
            message = f"Environment {env!r} not found in application {app!r}"
            return _not_found("Environment", message, {"Application": app})
        if profile not in profiles:
            message = f"Configuration profile {profile!r} not found in application {app!r}"
            return _not_found("ConfigurationProfile", message, {"Application": app})
        return None

    def _get(self, presented: str | None) -> tuple[_Reply, RecordedCall]:
        def refused(problem: str, session: int | None) -> tuple[_Reply, RecordedCall]:
            reply = _bad_request(_TOKEN_MESSAGES[problem], problem)
            call = RecordedCall(
                _GET, 400, "BadRequestException", problem, presented, session=session
            )
            return reply, call

        token = self._decode(presented)
        with self._lock:
            state = None if token is None else self._sessions.get(token.session)
            if token is None or state is None:
                return refused("Corrupted", None)
            sid = state.info.id
            if self.strict_tokens and token.serial != state.latest_serial:
                return refused("Corrupted", sid)  # used before: each token is good for one call
            now = self._clock()
            if now - token.issued_at >= self._token_ttl:
                return refused("Expired", sid)
            if self.enforce_poll_interval and now < state.next_poll_at:
                return refused("PollIntervalNotSatisfied", sid)
            info = state.info
            version = self._deployed.get((info.application, info.environment, info.profile))
            if version is None:
                # [inference] Nothing deployed yet: the model's ResourceType has "Deployment".
                reply = _not_found(
                    "Deployment",
                    "No configuration has been deployed to this environment",
                    {"Application": info.application, "Environment": info.environment},
                )
                call = RecordedCall(
                    _GET, 404, "ResourceNotFoundException", token=presented, session=sid
                )
                return reply, call
            interval = max(self.poll_interval, info.required_minimum_poll_interval or 0)
            state.latest_serial += 1
            state.next_poll_at = now + interval
            next_token = self._encode(_Token(sid, state.latest_serial, now, version.number))
        headers = [
            ("Next-Poll-Configuration-Token", next_token),
            ("Next-Poll-Interval-In-Seconds", str(interval)),
            ("Content-Type", version.content_type),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        body = b""
        if token.known_version != version.number:
            body = version.body
            if version.label is not None:
                headers.append(("Version-Label", version.label))
        call = RecordedCall(_GET, 200, token=presented, next_token=next_token, session=sid)
        return _Reply(200, tuple(headers), body), call

    def _record(self, call: RecordedCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    # -- tokens -----------------------------------------------------------------------------
    # A token is "session:serial:issued_at:known_version", base64url-encoded and signed with a
    # per-server key. Signed tokens need no table of every token ever issued: a session only
    # remembers the serial of its newest token, and any other serial has been used already.

    def _encode(self, token: _Token) -> str:
        fields = f"{token.session}:{token.serial}:{token.issued_at!r}:{token.known_version}"
        payload = base64.urlsafe_b64encode(fields.encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def _decode(self, text: str | None) -> _Token | None:
        payload, _, signature = (text or "").rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            session, serial, issued_at, known = fields.split(":")
            return _Token(int(session), int(serial), float(issued_at), int(known))
        except (ValueError, binascii.Error):
            return None

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()


def _validate_start(request: Mapping[str, Any]) -> list[str]:
    """Check a StartConfigurationSession body the way the service does (AWS's wording)."""
    problems = []
    for member, wire_name in _IDENTIFIERS:
        value = request.get(member)
        if value is None:
            problems.append(
                f"Value null at '{wire_name}' failed to satisfy constraint: Member must not be null"
            )
        elif not isinstance(value, str) or not 1 <= len(value) <= _MAX_IDENTIFIER:
            problems.append(
                f"Value '{value}' at '{wire_name}' failed to satisfy constraint: "
                f"Member must have length between 1 and {_MAX_IDENTIFIER}"
            )
    interval = request.get("RequiredMinimumPollIntervalInSeconds")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, int)
        or not _MIN_POLL <= interval <= _MAX_POLL
    ):
        problems.append(
            f"Value '{interval}' at 'requiredMinimumPollIntervalInSeconds' failed to "
            f"satisfy constraint: Member must have value between {_MIN_POLL} and "
            f"{_MAX_POLL}"
        )
    return problems
