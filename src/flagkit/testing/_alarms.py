"""A fake for the alarm guard's one-method seam: alarm states you set by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from flagkit._rollout.guard import AlarmState

__all__ = ["StaticAlarms"]


class StaticAlarms:
    """:class:`flagkit.Alarms` whose states the test sets: ``alarms.set("checkout-5xx", "ALARM")``.

    ``fail_with`` makes the next describes raise (a guard failure); ``calls`` counts describes.
    Unknown names are left out of the answer, as CloudWatch leaves them out.
    """

    def __init__(
        self, states: Mapping[str, str] | None = None, *, wall: Callable[[], float] = time.time
    ) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._states = {n: AlarmState(n, v, wall()) for n, v in (states or {}).items()}
        self.fail_with: BaseException | None = None
        self.calls = 0

    def set(self, name: str, value: str, *, since: float | None = None) -> None:
        """Put ``name`` in state ``value`` (OK, ALARM, INSUFFICIENT_DATA), stamped ``since``."""
        with self._lock:
            self._states[name] = AlarmState(name, value, self._wall() if since is None else since)

    def describe(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        """The states set for ``names`` (unknown names are left out, as CloudWatch does).

        Counts the call; raises ``fail_with`` when it is set, to stand for a failing API.
        """
        with self._lock:
            self.calls += 1
            if self.fail_with is not None:
                raise self.fail_with
            return {n: self._states[n] for n in names if n in self._states}
