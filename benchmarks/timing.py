"""Batched timing, call-site loops, and the small statistics the reports need.

One evaluation of a fast SDK takes ~100 ns, close to what ``perf_counter_ns`` itself costs, so
calls are timed in batches: the clock is read twice around a loop of ``n`` calls. The batch
size is calibrated per SDK and scenario so every batch lasts about the same wall time.

Two kinds of batch. :func:`time_batch` calls an ``evaluate(uid, attributes)`` function per
user, so every SDK pays one extra Python call and hides how its own API is called.
:func:`call_site` compiles a loop with the SDK's call expression written *inside* it, as an
application writes ``flags.enabled("s2", uid, attrs)``: method lookup, argument passing and
keyword defaults are then part of the number, and every SDK's loop is the same template.
"""

from __future__ import annotations

import ast
import functools
import gc
import math
import statistics
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any

from benchmarks.scenarios import Evaluate, User

# timer(users, passes) -> nanoseconds for ``passes`` sweeps over ``users``
Timer = Callable[[Sequence[User], int], int]


def time_batch(evaluate: Evaluate, users: Sequence[User], passes: int) -> int:
    """Nanoseconds for ``passes`` sweeps of ``evaluate`` over ``users``."""
    t0 = perf_counter_ns()
    for _ in range(passes):
        for uid, attributes in users:
            evaluate(uid, attributes)
    return perf_counter_ns() - t0


def batch_timer(evaluate: Evaluate) -> Timer:
    """:func:`time_batch` over one evaluator, as a :data:`Timer`."""
    return functools.partial(time_batch, evaluate)


# The names a call-site body may not use: the generated functions' own.
_RESERVED = frozenset({"uid", "attrs", "users", "passes", "_", "_t0", "_clock", "_names"})

_TEMPLATE = """\
def _evaluate(uid, attrs):
{bind}
{returning}

def _timer(users, passes):
{bind}
    _clock = perf_counter_ns
    _t0 = _clock()
    for _ in range(passes):
        for uid, attrs in users:
{looped}
    return _clock() - _t0
"""


def call_site(body: str, names: Mapping[str, Any], label: str = "") -> tuple[Evaluate, Timer]:
    """Compile ``body`` into ``(evaluate, timer)`` with the same code in both.

    ``body`` is Python statements over ``uid`` and ``attrs`` (one user) and the ``names`` given;
    its last statement is an expression, the evaluation's value. ``evaluate(uid, attrs)``
    returns that value (the share check runs it); ``timer(users, passes)`` runs the body
    inline in the same batched loop every call site gets, with the names bound to locals
    before the clock starts, so a name costs one ``LOAD_FAST`` for every SDK alike.
    """
    text = textwrap.dedent(body).strip("\n")
    tree = ast.parse(text)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError(f"call site {label!r}: the last statement must be an expression")
    clash = _RESERVED & set(names)
    if clash:
        raise ValueError(f"call site {label!r}: names {sorted(clash)} are the loop's own")
    lines = text.splitlines()
    last = tree.body[-1].lineno - 1
    returning = [*lines[:last], "return " + lines[last], *lines[last + 1 :]]
    bind = [f"    {name} = _names[{name!r}]" for name in names] or ["    pass"]
    source = _TEMPLATE.format(
        bind="\n".join(bind),
        returning=textwrap.indent("\n".join(returning), " " * 4),
        looped=textwrap.indent(text, " " * 12),
    )
    namespace: dict[str, Any] = {"_names": dict(names), "perf_counter_ns": perf_counter_ns}
    exec(compile(source, f"<call site {label}>", "exec"), namespace)
    return namespace["_evaluate"], namespace["_timer"]


def calibrate(timer: Timer, users: Sequence[User], target_ns: int) -> tuple[int, int]:
    """A batch shape ``(users per pass, passes)`` that takes about ``target_ns``.

    Grows a probe until it lasts long enough to trust, then scales. The probe also warms
    up whatever the SDK caches on first use.
    """
    n = 16
    while True:
        probe = users[: min(n, len(users))]
        passes = max(1, n // len(users))
        elapsed = timer(probe, passes)
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
