"""Fork safety: one at-fork hook for the process, over a weak set of objects to reset.

Only the forking thread survives ``fork()``. A lock another thread held at that moment stays
held in the child for ever, and the threads an object owned are gone. So every flagkit object
that owns a lock, a condition, an event or a thread registers a method here; in the child it
replaces all of them (keeping their state) and returns what must start again, or None.

The child runs in two passes: first every registered method, then every restart they returned.
A restarted thread may take another object's lock at once (the poller's thread publishes into
the client), so no thread starts while any lock is still the parent's.

``os.register_at_fork`` registrations cannot be undone, so there is exactly one, made when this
module is imported. Objects are held through weak references whose callbacks drop their entries:
a client that is gone costs nothing at the next fork and nothing in memory (issue 19, point 14).
"""

from __future__ import annotations

import itertools
import logging
import os
import weakref
from collections.abc import Callable

__all__ = ["Restart", "after_fork_in_child"]

log = logging.getLogger("flagkit")

Restart = Callable[[], None]  # what a reset returns: a thread to start once every lock is fresh
Reset = Callable[[], Restart | None]

# key -> a reference that gives the reset, or None once its object is gone. Keys only grow, so
# a weakref callback for a dead entry can never remove a newer one.
_resets: dict[int, Callable[[], Reset | None]] = {}
_keys = itertools.count()


def after_fork_in_child(reset: Reset) -> None:
    """Call ``reset`` in each forked child, as long as its object lives.

    A bound method is held weakly (a registration must not keep a client alive); a plain
    function, for a module's own locks, is held for good. ``reset`` replaces its object's
    locks and returns what to start again once every object's locks are fresh, or None.
    """
    key = next(_keys)  # atomic: itertools.count is implemented in C
    if hasattr(reset, "__self__"):
        _resets[key] = weakref.WeakMethod(reset, lambda _ref: _resets.pop(key, None))
    else:
        _resets[key] = lambda: reset


def _run_in_child() -> None:
    while True:  # a weakref callback (gc) may change the dict while it is being copied
        try:
            refs = list(_resets.values())
            break
        except RuntimeError:
            continue
    restarts: list[Restart] = []
    for ref in refs:
        reset = ref()
        if reset is None:
            continue
        try:
            restart = reset()
        except Exception:  # one broken object must not leave the others locked
            log.exception("flagkit: resetting %r after fork failed", reset)
            continue
        if restart is not None:
            restarts.append(restart)
    for restart in restarts:
        try:
            restart()
        except Exception:
            log.exception("flagkit: restarting %r after fork failed", restart)


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_run_in_child)
