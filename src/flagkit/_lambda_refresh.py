"""Bounded refreshes for Lambda: ``Flags.refresh()`` on a helper thread, waited on for a budget.

``Flags.refresh()`` runs the source in the caller's thread and can take as long as the source
does (a hung connection, a slow cold call). A handler cannot afford that, so a refresh runs on
a short-lived daemon thread and the invocation waits on an Event for at most its budget. If the
budget runs out the invocation goes on with the last good snapshot; the refresh carries on,
and its result still swaps in when it arrives (the swap is one reference assignment, see
``_client.py``). While one refresh is in flight no second one starts, until it has run past
its deadline (``timeout``, by the wall clock, so a sandbox frozen mid-refresh counts too): then
it is abandoned. The source is asked to end its fetch (``Poller.interrupt``) and the next
refresh starts; it queues behind the abandoned fetch for at most the same deadline, so a source
that ignores the request costs one stuck thread, never a growing pile of them.

A failed refresh backs off by the wall clock (1, 2, 4 ... seconds, capped at the max age), so a
source that is down costs one attempt per back-off step rather than one per invocation.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._fork import after_fork_in_child

if TYPE_CHECKING:
    from ._client import Flags

__all__ = ["Attempt", "Refresher", "refresher_for"]

log = logging.getLogger("flagkit")

_BACKOFF_BASE = 1.0  # seconds after the first failure; doubles per consecutive failure


class Attempt:
    """One refresh on its helper thread: ``done`` is set when it ends, ``ok`` says how."""

    __slots__ = ("_callbacks", "_lock", "done", "ok", "started")

    def __init__(self, started: float) -> None:
        self.started = started  # wall clock
        self.done = threading.Event()
        self.ok = False
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the helper thread) when the attempt ends; now if it has."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def finish(self, ok: bool) -> None:
        with self._lock:
            self.ok = ok
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("flagkit: a refresh callback raised")


class Refresher:
    """Decides when a client is stale by the wall clock and refreshes it, one at a time.

    The wall clock, not the monotonic one: while a Lambda sandbox is frozen no thread runs,
    and what matters after a thaw is how old the flags are in real time (``Status.checked_at``
    is stamped with the client's wall clock).
    """

    def __init__(self, flags: Flags, *, wall: Callable[[], float], timeout: float) -> None:
        # A weak reference: the registry below must not keep a client alive.
        self._flags = weakref.ref(flags)
        self.wall = wall
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current: Attempt | None = None
        self._failures = 0
        self._not_before: float | None = None  # wall time before which no retry starts
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # The helper thread of a refresh in flight did not survive the fork: in the child that
        # attempt would never end, and no refresh would start again. Its lock may be held too.
        self._lock = threading.Lock()
        self._current = None

    def due(self, max_age: float) -> bool:
        """Whether the flags are older than ``max_age`` seconds and a refresh may start now,
        or the client's alarm guard is due a poll (its own interval, by the wall clock)."""
        flags = self._flags()
        if flags is None:
            return False
        now = self.wall()
        if flags._guard is not None and flags._guard.due(now):
            return True
        return self._document_due(flags, now, max_age)

    def _document_due(self, flags: Flags, now: float, max_age: float) -> bool:
        checked_at = flags.status().checked_at
        # A negative age means the wall clock was stepped back: do not trust the snapshot.
        if checked_at is not None and 0.0 <= now - checked_at <= max_age:
            return False
        not_before = self._not_before
        return not_before is None or now >= not_before

    def _live(self, attempt: Attempt | None) -> bool:
        """Running, and not yet past its deadline (a negative age: the clock was stepped)."""
        if attempt is None or attempt.done.is_set():
            return False
        return 0.0 <= self.wall() - attempt.started <= self.timeout

    def in_flight(self) -> Attempt | None:
        current = self._current
        return current if self._live(current) else None

    def start(self, *, backoff_cap: float) -> tuple[Attempt, bool]:
        """Start a refresh, or join the one in flight; returns it and whether it is new."""
        with self._lock:
            current = self._current
            if current is not None and self._live(current):
                return current, False
            attempt = Attempt(self.wall())
            self._current = attempt  # first: the abandoned one must see it is no longer current
        if current is not None and not current.done.is_set():
            self._abandon(current)
        thread = threading.Thread(
            target=self._run,
            args=(attempt, backoff_cap),
            name="flagkit-lambda-refresh",
            daemon=True,  # a refresh hung on the network must never hold up shutdown
        )
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: no new threads may start
            attempt.finish(False)
        return attempt, True

    def _abandon(self, attempt: Attempt) -> None:
        log.warning(
            "flagkit: a refresh has run past its %g s deadline; abandoning it and starting anew",
            self.timeout,
        )
        flags = self._flags()
        if flags is not None:
            flags._poller.interrupt()  # a source that can end its fetch does so now

    def _run(self, attempt: Attempt, backoff_cap: float) -> None:
        ok = True
        document = False
        try:
            flags = self._flags()
            if flags is not None:
                now = self.wall()
                # both callers pass the max age as the backoff cap
                document = self._document_due(flags, now, backoff_cap)
                if document:
                    before = flags.status()
                    # Swaps in a new snapshot itself; we only judge the outcome. Queues behind an
                    # abandoned fetch for at most the deadline (then polls stays unchanged).
                    flags._poller.poll_once(wait=self.timeout)
                    status = flags.status()
                    ok = (
                        status.polls > before.polls
                        and status.errors == before.errors
                        and status.checked_at is not None
                    )
                if flags._guard is not None and flags._guard.due(self.wall()):
                    flags.check_rollouts()  # its failures are the guard's own (Status.guard)
        except Exception:  # the source protocol says SourceError, but a bug must not escape
            ok = False
            log.exception(
                "flagkit: refresh failed unexpectedly; serving the flags already loaded, if any"
            )
        finally:
            # an abandoned attempt's late outcome belongs to nobody: the next one decides
            if (document or not ok) and self._current is attempt:
                self._settle(ok, backoff_cap)
            attempt.finish(ok)

    def _settle(self, ok: bool, backoff_cap: float) -> None:
        if ok:
            self._failures = 0
            self._not_before = None
            return
        self._failures += 1
        delay = min(backoff_cap, _BACKOFF_BASE * 2.0 ** min(self._failures - 1, 30))
        self._not_before = self.wall() + delay


_registry: weakref.WeakKeyDictionary[Flags, Refresher] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _registry_lock  # noqa: PLW0603 - the module's one lock, made afresh in a forked child
    _registry_lock = threading.Lock()


after_fork_in_child(_after_fork_in_child)


def refresher_for(flags: Flags, *, wall: Callable[[], float], timeout: float) -> Refresher:
    """The one refresher of ``flags``: handlers sharing a client share its in-flight guard
    (and the clock and deadline of the first decoration)."""
    with _registry_lock:
        refresher = _registry.get(flags)
        if refresher is None:
            refresher = _registry[flags] = Refresher(flags, wall=wall, timeout=timeout)
        return refresher
