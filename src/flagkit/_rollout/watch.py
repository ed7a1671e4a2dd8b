"""The rollout thread: polls the alarm guard at its interval and announces ramp steps.

It exists only on a client that has a guard or serves a ramp. Each round is
:meth:`Flags.check_rollouts` (which callers without threads run themselves); between rounds the
thread sleeps until the next guard poll or the next ramp step, whichever is sooner, and wakes
early when a new document arrives or the client closes. It holds the client weakly, and starts
again in a forked child (gunicorn's preload), as the poller does.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from flagkit._fork import Restart, after_fork_in_child

if TYPE_CHECKING:
    from flagkit._client import Flags

__all__ = ["RolloutWatcher"]

log = logging.getLogger("flagkit")
MAX_SLEEP = 300.0  # re-check at least this often (a clock step, a late document)


class RolloutWatcher:
    def __init__(self, flags: Flags, wall: Callable[[], float]) -> None:
        self._flags = weakref.ref(flags)
        self._wall = wall
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> Restart | None:
        """Only the forking thread survives a fork: fresh events and lock (keeping whether it
        was closed), and start this thread again in the child if it ran in the parent."""
        closed = self._closed.is_set()
        was_running = self._thread is not None and not closed
        self._wake = threading.Event()
        self._closed = threading.Event()
        if closed:
            self._closed.set()
        self._lock = threading.Lock()
        self._thread = None
        return self.start if was_running else None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="flagkit-rollouts", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 5.0) -> None:
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()  # before the round: a wake during it is not lost
            flags = self._flags()
            if flags is None:
                return
            try:
                due = flags._rollout_round()
            except Exception:  # the thread must outlive any bug in a round
                log.exception("flagkit: a rollout round failed; retrying later")
                due = self._wall() + 60.0
            del flags
            self._wake.wait(min(MAX_SLEEP, max(0.0, due - self._wall())))
