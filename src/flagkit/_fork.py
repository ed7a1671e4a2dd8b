"""Fork safety: run a method in the child after ``os.fork``, without keeping its object alive.

Only the forking thread survives a fork, so every object that owns a thread (the poller, the
rollout watcher, the exposure sender) restarts it in the child. The hook holds the method
weakly: a client dropped before a fork is not resurrected by it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

__all__ = ["after_fork_in_child"]


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in each forked child while its object is alive."""
    ref = weakref.WeakMethod(method)

    def _child() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=_child)
