"""The poller: one named daemon thread that turns a source's documents into snapshots.

Lifecycle: ``NEW -> RUNNING -> CLOSED`` (``start``/``close``; ``close`` is idempotent and
returns within its bound even while a request hangs: the thread is a daemon and close never
takes the fetch lock). The thread sleeps on an Event, never ``time.sleep``, so ``close`` and
``wake`` interrupt it at once.

Every document goes through :meth:`Poller._accept`: size cap, parse, validate, compile, then
``publish(snapshot)``. A document that fails is logged once (what and where, never its
contents) and the last good snapshot stays. Errors back off with full jitter; the server's own
interval and ``retry_after`` win over local settings.

Fork safety: the poller registers with ``_fork.after_fork_in_child`` (one process-wide at-fork
hook, holding it weakly). The child keeps the inherited snapshot, gets fresh locks and events,
asks the source to drop per-process state (AppConfigData tokens belong to the parent) and
starts its own thread if the parent had one, once every flagkit lock in the child is fresh.
The child also draws a new random stream (the parent's would give every worker the same jitter
and backoff) and, holding the parent's flags, makes its first poll at a random point within the
interval: jitter alone takes hundreds of intervals to spread workers forked together (issue 17,
``benchmarks/fleet_spread.py``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ._exceptions import DocumentError, PermanentSourceError, RetryableSourceError, SourceError
from ._fork import Restart, after_fork_in_child
from ._snapshot import Snapshot, snapshot_from_bytes

if TYPE_CHECKING:  # random, pathlib and the backup load with the first client, not at import
    import random
    from pathlib import Path

    from ._rollout.guard import GuardStatus
from ._document.limits import MAX_DOCUMENT_BYTES, Limits
from ._sources.base import Fetched, Source, content_version

__all__ = ["Poller", "Polling", "Status"]

log = logging.getLogger("flagkit")


MAX_WAIT = 86_400.0  # AppConfig's longest poll interval: no advice makes the poller wait longer


@dataclass(frozen=True, slots=True)
class Polling:
    """How the poller behaves. Times in seconds.

    ``interval`` is used when the source gives no advice of its own; a source's advice (for
    AppConfig, ``NextPollIntervalInSeconds``) wins. ``jitter`` adds up to that fraction of the
    interval, never less, so a poll is never early. ``max_bytes`` (the size cap, checked before
    parsing) and ``limits`` (flags, evaluation cost and patterns, see :class:`Limits`) refuse a
    document; the last good one keeps serving.
    """

    interval: float = 30.0
    jitter: float = 0.1
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    permanent_retry: float = 300.0
    max_bytes: int = MAX_DOCUMENT_BYTES
    limits: Limits = field(default_factory=Limits)  # what one document may cost to load and use


@dataclass(frozen=True, slots=True)
class Status:
    """A readable picture of the poller; all counts since start."""

    state: str
    version: str | None
    fetched_at: float | None  # wall clock (time.time) of the last accepted document
    checked_at: float | None  # wall clock of the last successful fetch (new or unchanged)
    age: float | None  # seconds since the last successful fetch (accepted or unchanged)
    last_error: str | None
    polls: int
    errors: int
    swaps: int
    rejected: int
    guard: GuardStatus | None = None  # the alarm guard's picture, when the client has one
    # how the last poll ended: "ok", "failed" (the fetch failed) or "refused" (the newest
    # document was refused; it stays "refused" until a document is accepted); None before
    # the first poll
    last_poll: str | None = None


@dataclass(slots=True)
class _Counters:
    polls: int = 0
    errors: int = 0
    swaps: int = 0
    rejected: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success: float | None = None
    checked_at: float | None = None
    fetched_at: float | None = None
    version: str | None = None
    last_poll: str | None = None
    refusing: bool = False  # the newest document was refused and none accepted since
    logged: set[str] = field(default_factory=set)


def _refusal(exc: DocumentError) -> str:
    """The refusal for logs and status: where and why, without ``found`` (it may quote a value)."""
    return str(DocumentError(exc.message, flag=exc.flag, field=exc.field, expected=exc.expected))


class Poller:
    def __init__(
        self,
        source: Source,
        publish: Callable[[Snapshot], None],
        *,
        user_key: str = "userId",
        polling: Polling | None = None,
        backup_path: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        name: str = "flagkit-poller",
        polled: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self._publish_ref: Callable[[], Callable[[Snapshot], None] | None]
        if hasattr(publish, "__self__"):
            self._publish_ref = weakref.WeakMethod(publish)
        else:
            self._publish_ref = lambda: publish
        # told after every poll, whatever its outcome (held weakly, like ``publish``)
        self._polled_ref: Callable[[], Callable[[], None] | None]
        if polled is not None and hasattr(polled, "__self__"):
            self._polled_ref = weakref.WeakMethod(polled)
        else:
            self._polled_ref = lambda: polled
        self.user_key = user_key
        self.polling = polling or Polling()
        self.backup_path: Path | None = None
        if backup_path is not None:
            from pathlib import Path

            self.backup_path = Path(backup_path)
        self._clock = clock
        self._wall = wall
        self._own_rng = rng is None  # a generator a test injected is kept across fork
        if rng is None:
            import random

            rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._rng = rng
        self._period = self.polling.interval  # the interval last in effect, before jitter
        self._name = name
        self._state = "new"
        self._counters = _Counters()
        self._init_sync()
        after_fork_in_child(self._after_fork_in_child)

    def _init_sync(self) -> None:
        self._lock = (
            threading.Lock()
        )  # serialises fetches (thread vs refresh()); never taken by readers
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due = -math.inf  # monotonic: when the next poll is due, whoever polled last

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._state != "new":
            return
        self._state = "running"
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: no new threads may start
            self._state = "closed"
            return
        self._thread = thread

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the source; idempotent, returns within ``timeout``.

        The source is closed first: that ends a fetch blocked in the thread (a source with a
        ``close()`` wakes its own blocked reads), so the join below is short, not a wait for
        a hung request.
        """
        if self._state == "closed":
            return
        self._state = "closed"
        self._stop.set()
        self._wake.set()
        closer = getattr(self.source, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # a source's close must not break ours
                log.warning("flagkit: closing the source failed", exc_info=True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def interrupt(self) -> None:
        """End the fetch running now, if the source can (its optional ``interrupt()``)."""
        interrupt = getattr(self.source, "interrupt", None)
        if callable(interrupt):
            try:
                interrupt()
            except Exception:
                log.warning("flagkit: interrupting the source failed", exc_info=True)

    def wake(self) -> None:
        """Poll now instead of at the end of the current wait."""
        self._wake.set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    def _after_fork_in_child(self) -> Restart | None:
        was_running = self._state == "running" and self._thread is not None
        self._init_sync()
        if self._counters.version is not None:
            self._ready.set()
        reset = getattr(self.source, "reset_after_fork", None)
        if callable(reset):
            reset()
        if self._own_rng:
            # Random() seeds itself from os.urandom: without this every forked worker would
            # draw the parent's sequence, the same jitter and backoff, and poll in lock-step
            import random

            self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        if not was_running:
            return None
        if self._counters.version is not None:
            # The inherited flags serve now, so the first poll can wait: at a uniform point in
            # the interval, workers forked together are spread at once (jitter of 10 % per
            # poll needs hundreds of intervals). Without flags, poll at once: they are needed.
            self._next_due = self._clock() + self._rng.uniform(0.0, self._period)
        self._state = "new"
        return self.start  # after every lock is fresh: the thread publishes into the client

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        self._sleep_until_due()  # at once, except in a forked child (its random first poll)
        while not self._stop.is_set():
            delay = self.poll_once()
            if delay is None or self._publish_ref() is None:
                return  # static source, or the client was garbage-collected
            self._sleep_until_due()

    def _sleep_until_due(self) -> None:
        """Wait for ``wake()``, or until the next poll is due.

        The due time is re-read after each wait, because a ``refresh()`` in another thread (a
        Lambda invocation after a thaw) may have polled meanwhile and pushed it later: polling
        again at once would be refused by AppConfigData as too early.
        """
        while not self._stop.is_set():
            remaining = self._next_due - self._clock()
            if remaining <= 0:
                return
            if self._wake.wait(remaining):
                self._wake.clear()
                return

    def poll_once(self, *, wait: float | None = None) -> float | None:
        """Fetch once and publish what is new; returns seconds until the next poll (None: never).

        ``wait`` bounds how long to queue behind a fetch already running in another thread;
        past it nothing is fetched and None is returned (a Lambda refresh must not pile up
        behind a hung one). None waits as long as that fetch takes.
        """
        if not self._lock.acquire(timeout=-1 if wait is None else max(0.0, wait)):
            return None
        try:
            if self._stop.is_set() and self._thread is threading.current_thread():
                return None
            delay = self._poll_locked()
            if delay is not None:
                self._next_due = self._clock() + delay
        finally:
            self._lock.release()
        polled = self._polled_ref()
        if polled is not None:
            try:
                polled()
            except Exception:  # a status listener must not stop the poller
                log.exception("flagkit: a status listener raised; the poller carries on")
        return delay

    def _poll_locked(self) -> float | None:
        c = self._counters
        c.polls += 1
        try:
            fetched = self.source.fetch()
        except DocumentError as exc:  # refused while reading (a body past its size cap)
            self._fetched()
            self._refused(None, exc)
            return self._next_after(self.polling.interval)
        except Exception as exc:
            if self._stop.is_set():
                return None  # closing: the source was closed under this fetch on purpose
            if isinstance(exc, RetryableSourceError):
                return self._failed(exc, retry_after=exc.retry_after)
            if isinstance(exc, PermanentSourceError):
                self._ready.set()  # nothing to wait for: a human must act
                self._failed(exc, retry_after=None)
                return self.polling.permanent_retry
            return self._failed(exc, retry_after=None)  # an unknown failure is transient
        self._fetched()
        if fetched.body is not None:
            self._accept(fetched)
        if fetched.poll_after is None:
            self._ready.set()
            return None
        return self._next_after(fetched.poll_after)

    def _fetched(self) -> None:
        """The source answered (new, unchanged, or a document it refused while reading)."""
        c = self._counters
        c.consecutive_failures = 0
        c.last_poll = "refused" if c.refusing else "ok"
        c.last_success = self._clock()
        c.checked_at = self._wall()

    def _next_after(self, interval: float) -> float:
        if not math.isfinite(interval):  # advice no clock can wait for: the local setting
            interval = self.polling.interval
        interval = min(interval, MAX_WAIT) if interval > 0 else 0.0
        self._period = interval
        return interval * (1.0 + self._rng.random() * self.polling.jitter)

    def _failed(self, exc: BaseException, *, retry_after: float | None) -> float:
        c = self._counters
        c.errors += 1
        c.consecutive_failures += 1
        c.last_poll = "failed"
        text = str(exc) if isinstance(exc, SourceError) else type(exc).__name__
        c.last_error = text
        if text not in c.logged:  # one line per distinct problem, not one per poll
            c.logged.add(text)
            if c.version is None:
                log.warning(
                    "flagkit: fetch failed (%s); no flags loaded yet: evaluations return "
                    "their defaults",
                    text,
                )
            else:
                log.warning("flagkit: fetch failed (%s); serving the last good flags", text)
        if retry_after is not None and math.isfinite(retry_after):
            # a server's Retry-After of 1e999 must not overflow Event.wait: bounded, and an
            # infinite or NaN one is no advice at all (the backoff below decides)
            return min(max(retry_after, 0.0), MAX_WAIT)
        ceiling = min(
            self.polling.backoff_cap,
            self.polling.backoff_base * 2 ** min(c.consecutive_failures, 30),
        )
        return self._rng.uniform(0, ceiling)  # full jitter

    def _accept(self, fetched: Fetched) -> bool:
        body = fetched.body
        assert body is not None
        c = self._counters
        if fetched.version is None:
            fetched = replace(fetched, version=content_version(body))
        try:
            snapshot = snapshot_from_bytes(
                body,
                content_type=fetched.content_type,
                version=fetched.version,
                user_key=self.user_key,
                max_bytes=self.polling.max_bytes,
                limits=self.polling.limits,
                wall=self._wall,
            )
            snapshot = self._bind(snapshot)
        except DocumentError as exc:
            self._refused(fetched.version, exc)
            return False
        except Exception as exc:  # a bug in flagkit must not replace a good snapshot either
            c.rejected += 1
            c.last_poll, c.refusing = "refused", True
            c.last_error = (
                f"document {fetched.version!r} refused: internal error {type(exc).__name__}"
            )
            log.exception("flagkit: %s", c.last_error)
            return False
        c.last_poll, c.refusing = "ok", False  # before the swap: its listeners read it
        if not self._publish(snapshot):
            return False
        c.fetched_at = self._wall()
        self._write_backup(fetched)
        return True

    def _refused(self, version: str | None, exc: DocumentError) -> None:
        c = self._counters
        c.rejected += 1
        c.last_poll, c.refusing = "refused", True
        what = "document" if version is None else f"document {version!r}"
        c.last_error = f"{what} refused: {_refusal(exc)}"
        # no traceback: the message says exactly what is wrong with the document
        log.error("flagkit: %s; keeping version %r", c.last_error, c.version)  # noqa: TRY400

    def _bind(self, snapshot: Snapshot) -> Snapshot:
        """The source's say on a snapshot built from its document (``Source.bind_snapshot``)."""
        bind = getattr(self.source, "bind_snapshot", None)
        return bind(snapshot) if callable(bind) else snapshot

    def _publish(self, snapshot: Snapshot) -> bool:
        publish = self._publish_ref()
        if publish is None:
            return False
        publish(snapshot)
        self._counters.swaps += 1
        self._counters.version = snapshot.version
        self._ready.set()
        return True

    # -- last-good backup -----------------------------------------------------------------

    def _write_backup(self, fetched: Fetched) -> None:
        if self.backup_path is not None:
            from ._backup import write_backup

            write_backup(self.backup_path, fetched)

    def load_backup(self) -> bool:
        """Serve the last good document from disk, if there is a sound one (never raises)."""
        path = self.backup_path
        if path is None:
            return False
        from ._backup import read_backup

        fetched = read_backup(path, self.polling.max_bytes)
        if fetched is None:
            return False
        try:
            snapshot = snapshot_from_bytes(
                fetched.body or b"",
                content_type=fetched.content_type,
                version=fetched.version,
                user_key=self.user_key,
                max_bytes=self.polling.max_bytes,
                limits=self.polling.limits,
                wall=self._wall,
            )
            snapshot = self._bind(snapshot)
        except DocumentError as exc:
            log.warning("flagkit: ignoring unusable backup %s: %s", str(path), _refusal(exc))
            return False
        except Exception as exc:  # a bad backup must not stop start-up, whatever it holds
            log.warning(
                "flagkit: ignoring unusable backup %s: internal error %s",
                str(path),
                type(exc).__name__,
            )
            return False
        snapshot = replace(snapshot, meta={"from_backup": True})
        return self._publish(snapshot)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> Status:
        c = self._counters
        age = None if c.last_success is None else max(0.0, self._clock() - c.last_success)
        return Status(
            state=self._state,
            version=c.version,
            fetched_at=c.fetched_at,
            checked_at=c.checked_at,
            age=age,
            last_error=c.last_error,
            polls=c.polls,
            errors=c.errors,
            swaps=c.swaps,
            rejected=c.rejected,
            last_poll=c.last_poll,
        )
