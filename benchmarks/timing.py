"""Batched timing and the small statistics the reports need.

One evaluation of a fast SDK takes ~100 ns, close to what ``perf_counter_ns`` itself costs, so
calls are timed in batches: the clock is read twice around a loop of ``n`` calls. The batch
size is calibrated per SDK and scenario so every batch lasts about the same wall time.
"""

from __future__ import annotations

import gc
import math
import statistics
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any

from benchmarks.scenarios import Evaluate, User


def time_batch(evaluate: Evaluate, users: Sequence[User], passes: int) -> int:
    """Nanoseconds for ``passes`` sweeps of ``evaluate`` over ``users``."""
    t0 = perf_counter_ns()
    for _ in range(passes):
        for uid, attributes in users:
            evaluate(uid, attributes)
    return perf_counter_ns() - t0


def calibrate(evaluate: Evaluate, users: Sequence[User], target_ns: int) -> tuple[int, int]:
    """A batch shape ``(users per pass, passes)`` that takes about ``target_ns``.

    Grows a probe until it lasts long enough to trust, then scales. The probe also warms
    up whatever the SDK caches on first use.
    """
    n = 16
    while True:
        probe = users[: min(n, len(users))]
        passes = max(1, n // len(users))
        elapsed = time_batch(evaluate, probe, passes)
        calls = len(probe) * passes
        if elapsed >= target_ns // 10 or calls >= 50 * len(users):
            break
        n *= 4
    per_call = max(elapsed / calls, 1.0)
    want = max(32, int(target_ns / per_call))
    if want <= len(users):
        return want, 1
    return len(users), math.ceil(want / len(users))


@contextmanager
def gc_paused() -> Any:
    """No garbage collection inside a timed batch (as ``timeit`` does): a collection
    triggered by one SDK's allocations must not be billed to whichever SDK runs next."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def geomean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between order statistics."""
    s = sorted(values)
    if not s:
        return math.nan
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
