"""Typos made visible: an unknown flag, an unknown attribute or a type mismatch, logged once.

Evaluation stays silent by design (the caller gets its default, with a reason, and never an
exception), so a misspelt name would otherwise go unnoticed. Each (kind, flag) is logged once
at WARNING through the ``flagkit`` logger; after ``LIMIT`` distinct ones, one last line says
that further ones are not logged, so names that come from end-user input cannot flood the logs
or grow memory. Only the error paths of evaluation call this module.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._fork import after_fork_in_child

__all__ = ["LIMIT", "reset", "unknown_flag", "warn"]

log = logging.getLogger("flagkit")

LIMIT = 1000  # distinct (kind, flag) pairs logged per process
_NAME_CHARS = 200  # a flag name longer than this is kept and logged truncated

_seen: set[tuple[str, str]] = set()
_capped = False
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock  # noqa: PLW0603 - the module's one lock, made afresh in a forked child
    _lock = threading.Lock()  # an evaluating thread may have held it (first miss) at the fork


after_fork_in_child(_after_fork_in_child)


def warn(flag: Any, kind: str, message: str) -> None:
    """Log ``message`` once for this (kind, flag); never raises."""
    global _capped  # noqa: PLW0603 - one process-wide record, like the logger itself
    try:
        key = (kind, str(flag)[:_NAME_CHARS])
        if key in _seen:  # the common case once logged: no lock
            return
        with _lock:
            if key in _seen or _capped:
                return
            if len(_seen) >= LIMIT:
                _capped = True
                message = f"{LIMIT} distinct unknown names or type mismatches logged; no more"
            else:
                _seen.add(key)
                message += " (logged once; evaluation returned the default)"
        log.warning("flagkit: %s", message)
    except Exception:  # noqa: S110 - a log line must never break an evaluation
        pass


def unknown_flag(snapshot: Any, flag: Any) -> None:
    """A flag the served document lacks (nothing is logged before the first document)."""
    if snapshot.ready:
        warn(flag, "flag", f"no flag {str(flag)[:_NAME_CHARS]!r} in version {snapshot.version!r}")


def reset() -> None:
    """Forget what was logged (tests)."""
    global _capped  # noqa: PLW0603
    with _lock:
        _seen.clear()
        _capped = False
