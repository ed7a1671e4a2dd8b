"""AppConfigSource: AWS AppConfigData's session and token chain, behind ``fetch()``.

StartConfigurationSession once (AWS: "once per application, environment, configuration
profile, and client"), then GetLatestConfiguration with each answer's
``NextPollConfigurationToken``. The session lasts as long as the source:

- A call that failed (throttling, 5xx, a timeout, a dropped connection) has not used its token,
  so the same token is sent again: after a short jittered wait, up to ``max_attempts`` times in
  one fetch; then the poller backs off as usual and the next fetch sends it once more. (botocore's
  own retry modes resend the identical request, token included, on exactly these failures.)
- "Request too early" (``PollIntervalNotSatisfied``) keeps the token too: the fetch ends and the
  poller waits the session's interval.
- A new session starts only when the service refuses the token itself (any other
  ``BadRequestException``: ``Expired``, ``Corrupted``), when the configuration is gone
  (``ResourceNotFoundException``), or when a 200's body could not be read whole: the service
  counts that version as delivered to the session [inference], so only a new session sends it
  again. A new session re-sends the current document, which is recognised and reported unchanged.
- No timed renewal: the 24-hour lifetime is per token ("valid for up to 24 hours"), every answer
  carries a fresh one, and a token that did expire (a Lambda sandbox frozen for a day) is answered
  with ``Expired``, which starts a new session in the same fetch.

A token that was answered with a 200 is never sent again. Every fetch has a total deadline
(``fetch_timeout``) covering the session call, every attempt, the waits between them and the
body, which is read in chunks and never past ``max_bytes + 1`` (see ``boto_deadline.py`` for how
a blocked read is ended). The server's ``NextPollIntervalInSeconds`` is passed to the poller as
``poll_after`` and wins over local settings.

botocore errors are classified in ``appconfig_errors.py`` only, by error code (never by message
text). boto3 is imported by this module only, and only when it must make a client.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from flagkit._document.limits import MAX_DOCUMENT_BYTES
from flagkit._exceptions import (
    DocumentError,
    MissingExtraError,
    RetryableSourceError,
    SourceError,
)

from .base import Fetched, content_version

try:
    from botocore.exceptions import ClientError

    from .appconfig_errors import TOO_EARLY, classify, token_problems
    from .boto_deadline import Deadline, instrument
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("aws", "boto3") from exc

__all__ = ["AppConfigSource", "classify"]

log = logging.getLogger("flagkit")

DEFAULT_INTERVAL = 60.0  # observed service default when the response omits one
DEFAULT_FETCH_TIMEOUT = 10.0  # see docs/polling.md: one hung attempt (2 s + 5 s) plus a retry
DEFAULT_MAX_ATTEMPTS = 3  # as botocore's standard retry mode
RETRY_BACKOFF = 0.25  # seconds: the first wait between attempts is up to this; it doubles
_CHUNK = 64 * 1024


class _TokenRefused(RetryableSourceError):
    """The service refused the token itself: the session is over, a new one may succeed."""


def _import_boto3() -> tuple[Any, Any]:
    """boto3 and botocore's ``Config``, or the exact ``pip install`` to run."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - boto3 is the [aws] extra
        raise MissingExtraError("aws", "boto3") from exc
    return boto3, Config


class AppConfigSource:
    """Polls one AppConfig configuration profile through AppConfigData.

    Args:
        application, environment, profile: names or IDs, as AppConfig accepts them.
        client: a ready boto3 ``appconfigdata`` client (tests and custom set-ups point it
            anywhere); otherwise one is made from ``session`` or the default chain.
        session: a ``boto3.Session`` to make the client from.
        endpoint_url, region_name: passed to the client that is made.
        required_minimum_poll_interval: ``RequiredMinimumPollIntervalInSeconds`` (15..86400).
        connect_timeout, read_timeout: botocore timeouts for the client that is made; they
            bound each connect and each socket read, not a call.
        fetch_timeout: seconds one ``fetch()`` may take in all: the session call, every
            attempt, the waits between them and the body. Past it the fetch fails as
            retryable and the last good flags stay.
        max_attempts: GetLatestConfiguration attempts with the same token in one fetch, on
            throttling, 5xx, timeouts and connection errors (1: no retry in the fetch).
        max_bytes: the body is read up to this many bytes plus one; a larger one is refused
            as a document without being read further. Raise it together with
            ``Polling(max_bytes=...)``.
        content_type: read every body as this type, whatever the service says: a freeform
            profile holding a Powertools schema is served as ``application/json``, so pass
            ``flagkit.powertools.MEDIA_TYPE``.
        clock: the monotonic clock the fetch deadline is reckoned on (injectable for tests).
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
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        content_type: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            required_minimum_poll_interval is not None
            and not 15 <= required_minimum_poll_interval <= 86400
        ):
            raise ValueError("required_minimum_poll_interval must be within 15..86400 seconds")
        if not fetch_timeout > 0:
            raise ValueError(f"fetch_timeout must be > 0 seconds, not {fetch_timeout!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number >= 1, not {max_attempts!r}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, not {max_bytes!r}")
        self.application = application
        self.environment = environment
        self.profile = profile
        self._given_client = client
        if client is None:
            # Import boto3 here, in the constructing thread, not lazily in the poller's: a
            # process forked while that thread is importing it (gunicorn --preload forking just
            # after Flags()) inherits the module's import lock held for ever, so the child's
            # poller never fetches and its close() waits out its timeout (issue 17).
            _import_boto3()
        self._session = session
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._required_interval = required_minimum_poll_interval
        self._timeouts = (connect_timeout, read_timeout)
        self.fetch_timeout = float(fetch_timeout)
        self.max_attempts = max_attempts
        self.max_bytes = max_bytes
        self._clock = clock
        self._content_type = content_type  # overrides the service's (a freeform profile)
        self._client: Any = client
        self._instrumented: Any = None  # the client instrument() last looked at
        self._token: str | None = None
        self._interval = float(required_minimum_poll_interval or DEFAULT_INTERVAL)
        self._last_hash: str | None = None
        self._last_version: str | None = None
        self._deadline: Deadline | None = None  # of the fetch running now, if any
        self._closed = threading.Event()  # set by close(); wakes a wait between attempts
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self.sessions_started = 0

    @property
    def _what(self) -> str:
        return f"AppConfig {self.application}/{self.environment}/{self.profile}"

    # -- the client -----------------------------------------------------------------------

    def _make_client(self) -> Any:
        boto3, Config = _import_boto3()  # noqa: N806 - a class
        config = Config(
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
            # one attempt per botocore call: this source resends the token itself, within the
            # fetch deadline and interruptibly ("max_attempts": 1 would mean one *retry*)
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        factory = self._session.client if self._session is not None else boto3.client
        return factory(
            "appconfigdata",
            endpoint_url=self._endpoint_url,
            region_name=self._region_name,
            config=config,
        )

    def _ready_client(self) -> Any:
        if self._client is None:
            try:
                self._client = self._make_client()
            except SourceError:
                raise
            except Exception as exc:
                raise classify(exc, what=self._what, interval=self._interval) from exc
        client = self._client
        if self._instrumented is not client:
            self._instrumented = client
            if not instrument(client):
                log.debug("flagkit: cannot watch this client's sockets; deadline between reads")
        return client

    # -- one fetch ------------------------------------------------------------------------

    def fetch(self) -> Fetched:
        """GetLatestConfiguration with the session's token: the new document, or ``body=None``.

        Starts the session on the first call (and again only when the service says the token
        is expired or unusable). A throttled, failed or timed-out call is sent again with the
        same token up to ``max_attempts`` times, all within ``fetch_timeout``; then
        RetryableSourceError.
        """
        with Deadline(self.fetch_timeout, clock=self._clock) as deadline:
            self._deadline = deadline
            try:
                if self._closed.is_set():  # after publishing the deadline: close() sees one
                    raise RetryableSourceError(f"{self._what}: source closed")
                return self._attempts(deadline)
            finally:
                self._deadline = None

    def _attempts(self, deadline: Deadline) -> Fetched:
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._token is None:
                    self._start_session(deadline)
                return self._poll(deadline)
            except _TokenRefused as exc:
                if renewed or attempt >= self.max_attempts:
                    # the next fetch starts the new session, after the poller's usual backoff
                    raise RetryableSourceError(str(exc)) from exc
                renewed = True  # once per fetch: a fresh token refused too is not our doing
                log.info("flagkit: %s; starting a new session", exc)
                continue
            except RetryableSourceError as exc:
                if exc.retry_after is not None or deadline.reason is not None:
                    raise  # "too early" waits the interval; a cut fetch is over
                if attempt >= self.max_attempts:
                    raise
                delay = self._rng.uniform(0, RETRY_BACKOFF * 2 ** (attempt - 1))  # full jitter
                if delay >= deadline.remaining():
                    raise
                if self._closed.wait(delay):
                    raise RetryableSourceError(f"{self._what}: source closed") from exc

    def _start_session(self, deadline: Deadline) -> None:
        client = self._ready_client()
        request: dict[str, Any] = {
            "ApplicationIdentifier": self.application,
            "EnvironmentIdentifier": self.environment,
            "ConfigurationProfileIdentifier": self.profile,
        }
        if self._required_interval is not None:
            request["RequiredMinimumPollIntervalInSeconds"] = self._required_interval
        try:
            response = client.start_configuration_session(**request)
        except Exception as exc:
            raise self._failure(exc, deadline) from exc
        self._token = response["InitialConfigurationToken"]
        self.sessions_started += 1

    def _poll(self, deadline: Deadline) -> Fetched:
        client = self._ready_client()
        try:
            response = client.get_latest_configuration(ConfigurationToken=self._token)
        except Exception as exc:
            raise self._failure(exc, deadline, token_call=True) from exc
        # Answered: that token is spent, whatever becomes of the body. No next token (a
        # malformed answer) means a new session next time, never the old token again.
        self._token = response.get("NextPollConfigurationToken") or None
        interval = response.get("NextPollIntervalInSeconds")
        if isinstance(interval, int) and interval >= 0:
            self._interval = float(interval)
        content_type = self._content_type or response.get("ContentType") or "application/json"
        label = response.get("VersionLabel")
        try:
            body = self._read(response["Configuration"], deadline, label)
        except DocumentError:
            raise  # too large: refused as a document; the session goes on
        except Exception as exc:
            self._token = None  # the service counts this version as delivered: new session
            raise self._failure(exc, deadline) from exc
        if not body:
            return Fetched(None, content_type, self._last_version, self._interval)
        digest = content_version(body)
        version = label or digest
        if digest == self._last_hash and version == self._last_version:
            # a fresh session re-sends the current document: unchanged, no re-parse
            return Fetched(None, content_type, version, self._interval)
        self._last_hash, self._last_version = digest, version
        return Fetched(body, content_type, version, self._interval)

    def _read(self, stream: Any, deadline: Deadline, label: str | None) -> bytes:
        """The body, read in chunks: never past ``max_bytes + 1``, never past the deadline."""
        cap = self.max_bytes
        data = bytearray()
        complete = False
        try:
            while len(data) <= cap and deadline.reason is None:
                chunk = stream.read(min(_CHUNK, cap + 1 - len(data)))
                if not chunk:
                    complete = True
                    break
                data += chunk
        finally:
            if not complete:  # stop here: the rest is never read, and the connection is dropped
                stream.close()
        if deadline.reason is not None:  # a cut can look like the end of a chunked body
            raise RetryableSourceError(f"{self._what}: body cut short")
        if not complete:
            raise DocumentError(
                f"document too large (version {label!r})" if label else "document too large",
                expected=f"at most {cap} bytes (AppConfigSource max_bytes)",
                found=f"more than {cap} bytes",
            )
        return bytes(data)

    def _failure(
        self, exc: Exception, deadline: Deadline, *, token_call: bool = False
    ) -> SourceError:
        """The SourceError for a failed call; forgets a token the service will not take."""
        reason = deadline.reason
        if reason == "deadline":
            return RetryableSourceError(
                f"{self._what}: no answer within the fetch deadline of {self.fetch_timeout:g} s"
            )
        if reason is not None:
            return RetryableSourceError(f"{self._what}: fetch {reason}")
        error = classify(exc, what=self._what, interval=self._interval)
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                self._token = None  # gone: a later fetch starts over once it is back
            elif (
                token_call
                and code == "BadRequestException"
                and TOO_EARLY not in token_problems(exc)
            ):
                self._token = None
                return _TokenRefused(str(error))
        return error

    # -- lifecycle ------------------------------------------------------------------------

    def interrupt(self) -> None:
        """End a fetch running in another thread now (it fails as retryable); stays usable."""
        deadline = self._deadline
        if deadline is not None:
            deadline.cut("interrupted")

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's tokens and pooled connections are not ours."""
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            deadline.forget()
        self._token = None
        self._rng = random.Random()  # noqa: S311 - the parent's stream would retry in lock-step
        closed = self._closed.is_set()
        self._closed = threading.Event()
        if closed:
            self._closed.set()
        client, self._client = self._client, self._given_client
        if client is not None:
            try:
                client.close()  # closes this process's copies of the pooled sockets only
            except Exception:
                log.debug("flagkit: closing the inherited client failed", exc_info=True)
        if self._given_client is None:
            self._client = None  # made afresh on the next fetch

    def close(self) -> None:
        """Stop for good: a fetch running in another thread ends at once, later ones fail."""
        self._closed.set()
        deadline = self._deadline
        if deadline is not None:
            deadline.cut("closed")
        client = self._client
        if client is not None and self._given_client is None:
            try:
                client.close()
            except Exception:
                log.debug("flagkit: closing the client failed", exc_info=True)

    def __repr__(self) -> str:
        return f"AppConfigSource({self.application!r}, {self.environment!r}, {self.profile!r})"
