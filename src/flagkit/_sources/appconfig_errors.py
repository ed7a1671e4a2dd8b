"""botocore's AppConfigData errors in flagkit's terms: the one place they are translated.

By error code (``Error.Code``, from the ``x-amzn-ErrorType`` header), never by message text;
the codes and the ``BadRequestException`` details are those of botocore's ``appconfigdata``
model (2021-11-11). Imported only with the ``[aws]`` extra.
"""

from __future__ import annotations

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

from flagkit._exceptions import PermanentSourceError, RetryableSourceError, SourceError

__all__ = ["TOO_EARLY", "classify", "token_problems"]

_TOO_EARLY_FLOOR = 1.0  # a "too early" with a 0 s interval must not turn into a busy loop
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
TOO_EARLY = "PollIntervalNotSatisfied"


def token_problems(exc: ClientError) -> set[str]:
    """The ``ConfigurationToken`` problems of a BadRequestException (botocore model:
    ``Details.InvalidParameters.<param>.Problem``, one of Corrupted, Expired,
    PollIntervalNotSatisfied)."""
    details = exc.response.get("Details") or {}
    return {
        str(p.get("Problem"))
        for p in (details.get("InvalidParameters") or {}).values()
        if isinstance(p, dict)
    }


def classify(exc: BaseException, *, what: str, interval: float) -> SourceError:
    """Translate a botocore failure into flagkit's error tree (the one place that does)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "BadRequestException":
            problems = token_problems(exc)
            if TOO_EARLY in problems:
                wait = max(interval, _TOO_EARLY_FLOOR)
                return RetryableSourceError(
                    f"{what}: polled too early; waiting {wait:g} s", retry_after=wait
                )
            if problems:
                problem = "/".join(sorted(problems)).lower()
                return RetryableSourceError(f"{what}: configuration token {problem}")
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
