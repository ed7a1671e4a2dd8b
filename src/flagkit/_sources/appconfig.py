"""AppConfigSource: AWS AppConfigData's session and token chain, behind ``fetch()``.

StartConfigurationSession once, then GetLatestConfiguration with each response's
``NextPollConfigurationToken``. Tokens are single-use and are never reused: the token is
dropped before each call, so any failed call leads to a fresh session on the next fetch
(the body of a fresh session is compared with the last delivered one, so an unchanged
document is still reported as unchanged). Sessions are renewed before the 24 h token
lifetime runs out. The server's ``NextPollIntervalInSeconds`` is passed to the poller as
``poll_after`` and wins over local settings.

botocore errors are classified here and only here, by error code (never by message text).
boto3 is imported by this module only, and only when it must make a client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flagkit._exceptions import (
    MissingExtraError,
    PermanentSourceError,
    RetryableSourceError,
    SourceError,
)

from .base import Fetched, content_version

try:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectTimeoutError as BotoConnectTimeout
    from botocore.exceptions import ReadTimeoutError as BotoReadTimeout
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("aws", "boto3") from exc

__all__ = ["AppConfigSource", "classify"]

log = logging.getLogger("flagkit")

TOKEN_LIFETIME = 24 * 3600.0  # AppConfigData: "valid for up to 24 hours"
SESSION_RENEW_AFTER = 23 * 3600.0  # renew with an hour to spare
DEFAULT_INTERVAL = 60.0  # observed service default when the response omits one

_RETRYABLE_CODES = {
    "ThrottlingException": "throttled",
    "Throttling": "throttled",
    "TooManyRequestsException": "throttled",
    "InternalServerException": "service error",
    "ServiceUnavailable": "service unavailable",
    "ServiceUnavailableException": "service unavailable",
    "RequestTimeout": "request timeout",
    "RequestTimeoutException": "request timeout",
}
_PERMANENT_CODES = {
    "ResourceNotFoundException": "not found",
    "AccessDeniedException": "access denied",
    "AccessDenied": "access denied",
    "UnrecognizedClientException": "credentials not recognised",
    "InvalidSignatureException": "request signature refused",
    "ExpiredTokenException": "AWS credentials expired",
}


def classify(exc: BaseException, *, what: str, interval: float) -> SourceError:
    """Translate a botocore failure into flagkit's error tree (the one place that does)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "BadRequestException":
            details = exc.response.get("Details") or {}
            problems = {
                str(p.get("Problem"))
                for p in (details.get("InvalidParameters") or {}).values()
                if isinstance(p, dict)
            }
            if "PollIntervalNotSatisfied" in problems:
                return RetryableSourceError(f"{what}: polled too early", retry_after=interval)
            if problems & {"Expired", "Corrupted"}:
                problem = "/".join(sorted(problems)).lower()
                return RetryableSourceError(
                    f"{what}: configuration token {problem}; starting a new session",
                    retry_after=0.0,
                )
            return PermanentSourceError(f"{what}: request refused ({code})")
        if code in _RETRYABLE_CODES:
            return RetryableSourceError(f"{what}: {_RETRYABLE_CODES[code]} ({code})")
        if code in _PERMANENT_CODES:
            extra = ""
            if code == "ResourceNotFoundException":
                resource = exc.response.get("ResourceType") or error.get("ResourceType")
                extra = f"; missing {resource}" if resource else ""
            return PermanentSourceError(f"{what}: {_PERMANENT_CODES[code]} ({code}){extra}")
        if status >= 500 or status == 429:
            return RetryableSourceError(f"{what}: HTTP {status} ({code or 'no code'})")
        return PermanentSourceError(f"{what}: refused with {code or 'HTTP ' + str(status)}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, NoRegionError)):
        return PermanentSourceError(f"{what}: {type(exc).__name__}")
    if isinstance(exc, (BotoReadTimeout, BotoConnectTimeout)):
        return RetryableSourceError(f"{what}: timed out ({type(exc).__name__})")
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        return RetryableSourceError(f"{what}: connection failed ({type(exc).__name__})")
    if isinstance(exc, BotoCoreError):
        return RetryableSourceError(f"{what}: {type(exc).__name__}")
    return RetryableSourceError(f"{what}: unexpected {type(exc).__name__}")


class AppConfigSource:
    """Polls one AppConfig configuration profile through AppConfigData.

    Args:
        application, environment, profile: names or IDs, as AppConfig accepts them.
        client: a ready boto3 ``appconfigdata`` client (tests and custom set-ups point it
            anywhere); otherwise one is made from ``session`` or the default chain.
        session: a ``boto3.Session`` to make the client from.
        endpoint_url, region_name: passed to the client that is made.
        required_minimum_poll_interval: ``RequiredMinimumPollIntervalInSeconds`` (15..86400).
        connect_timeout, read_timeout: botocore timeouts for the client that is made.
        content_type: read every body as this type, whatever the service says: a freeform
            profile holding a Powertools schema is served as ``application/json``, so pass
            ``flagkit.powertools.MEDIA_TYPE``.
        clock: monotonic clock for session age (injectable for tests).
    """

    def __init__(
        self,
        application: str,
        environment: str,
        profile: str,
        *,
        client: Any = None,
        session: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        required_minimum_poll_interval: int | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        content_type: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            required_minimum_poll_interval is not None
            and not 15 <= required_minimum_poll_interval <= 86400
        ):
            raise ValueError("required_minimum_poll_interval must be within 15..86400 seconds")
        self.application = application
        self.environment = environment
        self.profile = profile
        self._given_client = client
        self._session = session
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._required_interval = required_minimum_poll_interval
        self._timeouts = (connect_timeout, read_timeout)
        self._clock = clock
        self._content_type = content_type  # overrides the service's (a freeform profile)
        self._client: Any = client
        self._token: str | None = None
        self._session_started: float | None = None
        self._interval = float(required_minimum_poll_interval or DEFAULT_INTERVAL)
        self._last_hash: str | None = None
        self._last_version: str | None = None
        self.sessions_started = 0

    @property
    def _what(self) -> str:
        return f"AppConfig {self.application}/{self.environment}/{self.profile}"

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is the [aws] extra
            raise MissingExtraError("aws", "boto3") from exc
        config = Config(
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
            # one attempt in all: the poller owns retrying, and a botocore retry would send the
            # same single-use token twice ("max_attempts": 1 means one *retry*)
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        factory = self._session.client if self._session is not None else boto3.client
        return factory(
            "appconfigdata",
            endpoint_url=self._endpoint_url,
            region_name=self._region_name,
            config=config,
        )

    def _start_session(self) -> None:
        if self._client is None:
            try:
                self._client = self._make_client()
            except SourceError:
                raise
            except Exception as exc:
                raise classify(exc, what=self._what, interval=self._interval) from exc
        request: dict[str, Any] = {
            "ApplicationIdentifier": self.application,
            "EnvironmentIdentifier": self.environment,
            "ConfigurationProfileIdentifier": self.profile,
        }
        if self._required_interval is not None:
            request["RequiredMinimumPollIntervalInSeconds"] = self._required_interval
        try:
            response = self._client.start_configuration_session(**request)
        except Exception as exc:
            raise classify(exc, what=self._what, interval=self._interval) from exc
        self._token = response["InitialConfigurationToken"]
        self._session_started = self._clock()
        self.sessions_started += 1

    def fetch(self) -> Fetched:
        started = self._session_started
        if self._token is None or started is None or self._clock() - started >= SESSION_RENEW_AFTER:
            self._start_session()
        token, self._token = self._token, None  # single use: never sent twice, even after a failure
        try:
            response = self._client.get_latest_configuration(ConfigurationToken=token)
            body: bytes = response["Configuration"].read()
        except Exception as exc:
            raise classify(exc, what=self._what, interval=self._interval) from exc
        self._token = response.get("NextPollConfigurationToken")
        interval = response.get("NextPollIntervalInSeconds")
        if isinstance(interval, int) and interval >= 0:
            self._interval = float(interval)
        content_type = self._content_type or response.get("ContentType") or "application/json"
        if not body:
            return Fetched(None, content_type, self._last_version, self._interval)
        digest = content_version(body)
        version = response.get("VersionLabel") or digest
        if digest == self._last_hash and version == self._last_version:
            # a fresh session re-sends the current document: unchanged, no re-parse
            return Fetched(None, content_type, version, self._interval)
        self._last_hash, self._last_version = digest, version
        return Fetched(body, content_type, version, self._interval)

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's tokens and pooled connections are not ours."""
        self._token = None
        self._session_started = None
        client, self._client = self._client, self._given_client
        if client is not None:
            try:
                client.close()  # closes this process's copies of the pooled sockets only
            except Exception:
                log.debug("flagkit: closing the inherited client failed", exc_info=True)
        if self._given_client is None:
            self._client = None  # made afresh on the next fetch

    def close(self) -> None:
        client = self._client
        if client is not None and self._given_client is None:
            try:
                client.close()
            except Exception:
                log.debug("flagkit: closing the client failed", exc_info=True)

    def __repr__(self) -> str:
        return f"AppConfigSource({self.application!r}, {self.environment!r}, {self.profile!r})"
