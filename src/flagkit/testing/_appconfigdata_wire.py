"""What the local AppConfigData server puts on the wire: replies, error bodies, tokens.

Shapes follow botocore's service model for ``appconfigdata`` 2021-11-11
(research/appconfig.md §1.5). The model names error members but not their messages; the
messages here are ours, except AWS's observed "Request too early".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Limits from the service model (OptionalPollSeconds, Identifier).
MIN_POLL, MAX_POLL = 15, 86400
MAX_IDENTIFIER = 128
IDENTIFIERS = (  # (JSON member, the name AWS uses in validation messages)
    ("ApplicationIdentifier", "applicationIdentifier"),
    ("EnvironmentIdentifier", "environmentIdentifier"),
    ("ConfigurationProfileIdentifier", "configurationProfileIdentifier"),
)

_TOKEN_MESSAGES = {
    "Corrupted": "Invalid configuration token",
    "Expired": "Configuration token expired",
    "PollIntervalNotSatisfied": "Request too early",  # the service's observed wording
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer; ``drop`` means "close the connection and say nothing"."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False

    @property
    def error(self) -> str | None:
        """The error code this reply carries, if it is an error."""
        return dict(self.headers).get("x-amzn-ErrorType")


DROP = Reply(0, drop=True)


def request_id() -> tuple[str, str]:
    """The header botocore reads into ``ResponseMetadata.RequestId``."""
    return ("x-amzn-RequestId", str(uuid.uuid4()))


def json_reply(status: int, document: Mapping[str, Any], *, error: str | None = None) -> Reply:
    headers = [("Content-Type", "application/json"), request_id()]
    if error is not None:
        # botocore's rest-json parser takes the error code from this header.
        headers.append(("x-amzn-ErrorType", error))
    return Reply(status, tuple(headers), json.dumps(document).encode())


def bad_request(message: str) -> Reply:
    return json_reply(400, {"Message": message}, error="BadRequestException")


def token_problem(problem: str) -> Reply:
    """BadRequestException for a ``ConfigurationToken`` that is Corrupted, Expired or early."""
    document = {
        "Message": _TOKEN_MESSAGES[problem],
        "Reason": "InvalidParameters",
        "Details": {"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}},
    }
    return json_reply(400, document, error="BadRequestException")


def not_found(resource_type: str, message: str, referenced_by: Mapping[str, str]) -> Reply:
    document = {"Message": message, "ResourceType": resource_type, "ReferencedBy": referenced_by}
    return json_reply(404, document, error="ResourceNotFoundException")


def throttled() -> Reply:
    return json_reply(429, {"Message": "Rate exceeded"}, error="ThrottlingException")


def internal_error() -> Reply:
    return json_reply(500, {"Message": "Internal failure"}, error="InternalServerException")


def validate_start(request: Mapping[str, Any]) -> str | None:
    """Check a StartConfigurationSession body as the service does; the message, or None.

    The wording follows AWS's usual "N validation errors detected: Value ... at ..." form.
    """
    problems = []
    for member, wire_name in IDENTIFIERS:
        value = request.get(member)
        if value is None:
            problems.append(f"Value null at '{wire_name}' failed to satisfy constraint: "
                            "Member must not be null")  # fmt: skip
        elif not isinstance(value, str) or not 1 <= len(value) <= MAX_IDENTIFIER:
            problems.append(f"Value '{value}' at '{wire_name}' failed to satisfy constraint: "
                            f"Member must have length between 1 and {MAX_IDENTIFIER}")  # fmt: skip
    interval = request.get("RequiredMinimumPollIntervalInSeconds")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, int)
        or not MIN_POLL <= interval <= MAX_POLL
    ):
        problems.append(f"Value '{interval}' at 'requiredMinimumPollIntervalInSeconds' failed "
                        f"to satisfy constraint: Member must have value between {MIN_POLL} and "
                        f"{MAX_POLL}")  # fmt: skip
    if not problems:
        return None
    plural = "s" if len(problems) > 1 else ""
    return f"{len(problems)} validation error{plural} detected: " + "; ".join(problems)


@dataclass(frozen=True, slots=True)
class Token:
    """What a configuration token says once decoded."""

    session: int
    serial: int  # 0 for the initial token, then +1 per answered poll
    issued_at: float  # on the server's injected clock
    known_version: int  # the version its holder already has; 0 = none


class TokenCodec:
    """Opaque tokens: ``session:serial:issued_at:known_version``, base64url, signed.

    Signing means the server keeps no table of every token it issued: a session remembers
    only the serial of its newest token, and a valid signature on any other serial means
    "used already". Anything that does not verify is ``Corrupted``, including a token from
    another server instance (each has its own key).
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def encode(self, token: Token) -> str:
        fields = f"{token.session}:{token.serial}:{token.issued_at!r}:{token.known_version}"
        payload = base64.urlsafe_b64encode(fields.encode()).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def decode(self, text: str | None) -> Token | None:
        payload, _, signature = (text or "").rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            session, serial, issued_at, known = fields.split(":")
            return Token(int(session), int(serial), float(issued_at), int(known))
        except (ValueError, binascii.Error):
            return None

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()
