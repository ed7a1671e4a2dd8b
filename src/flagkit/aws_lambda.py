"""flagkit in AWS Lambda: a handler decorator that keeps flags fresh across freeze and thaw.

Between invocations Lambda freezes the sandbox: no thread runs, so a background poller alone
serves flags that may be minutes or hours old after a thaw. ``with_flags`` checks the flags'
age by the wall clock at the start of every invocation and, when they are older than
``max_age``, refreshes within a small budget, serving the last good flags if the refresh fails
or is slow::

    from flagkit import Flags
    from flagkit.aws_lambda import current, with_flags

    # Module level: runs once per cold start. start=False: no background thread at all.
    flags = Flags(AgentSource("shop", "prod", "flags"), start=False,
                  backup_path="/tmp/flags.backup")

    @with_flags(flags, max_age=30)
    def handler(event, context):
        view = current()          # a FlagsView pinned to one version for this invocation
        if view.enabled("new-checkout", event["user"]):
            ...

Two modes, chosen by how the client is made:

* ``Flags(..., start=False)``: no thread; a refresh happens only at invocation start when the
  flags are stale. Cheapest in Lambda (nothing runs, or is billed, between requests).
* ``Flags(...)`` (poller running): the thread polls while the sandbox is thawed, and the
  decorator still catches what it missed while frozen.

Both work for ``def`` and ``async def`` handlers. The handler's return value and exceptions
pass through untouched; flagkit's own problems are logged, never raised into the handler.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._lambda_refresh import Attempt, Refresher, refresher_for

if TYPE_CHECKING:
    from ._client import Flags
    from ._evaluating import FlagsView

__all__ = ["current", "with_flags"]

log = logging.getLogger("flagkit")
H = TypeVar("H", bound=Callable[..., Any])

_CURRENT: contextvars.ContextVar[FlagsView] = contextvars.ContextVar("flagkit_lambda_view")


def current() -> FlagsView:
    """The flags of the running invocation: a view pinned to one document version.

    Every read through it sees the same version, even if a late refresh swaps in a new one
    mid-invocation. Raises LookupError outside a handler decorated with :func:`with_flags`
    (and in threads the handler starts, which do not inherit context variables: pass the view).
    """
    try:
        return _CURRENT.get()
    except LookupError:
        raise LookupError(
            "flagkit.aws_lambda.current() is only available inside a handler decorated "
            "with @with_flags(...)"
        ) from None


class _Gate:
    """The per-invocation policy: is a refresh due, and how long may this invocation wait."""

    __slots__ = ("budget", "budget_fraction", "flags", "max_age", "refresher")

    def __init__(
        self,
        flags: Flags,
        refresher: Refresher,
        *,
        max_age: float,
        budget: float,
        budget_fraction: float,
    ) -> None:
        self.flags = flags
        self.refresher = refresher
        self.max_age = max_age
        self.budget = budget
        self.budget_fraction = budget_fraction

    def budget_for(self, context: Any) -> float:
        """The fixed budget, cut to a fraction of the invocation's remaining time if known."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return self.budget
        try:
            millis = float(remaining())
        except Exception:  # a context we do not understand must not fail the invocation
            return self.budget
        if not math.isfinite(millis):
            return self.budget
        return max(0.0, min(self.budget, self.budget_fraction * millis / 1000.0))

    def begin(self, context: Any) -> tuple[Attempt | None, float]:
        """Start a refresh if one is due; the attempt to wait for (own attempts only)."""
        if not self.refresher.due(self.max_age):
            return None, 0.0
        budget = self.budget_for(context)
        attempt, new = self.refresher.start(backoff_cap=self.max_age)
        # An attempt started by an earlier invocation has had its wait already: waiting for it
        # again would charge every invocation the budget while a source hangs.
        return (attempt if new else None), budget

    def before(self, context: Any) -> FlagsView:
        try:
            attempt, budget = self.begin(context)
            if attempt is not None and budget > 0:
                attempt.done.wait(budget)
        except Exception:
            log.exception(
                "flagkit: checking flag freshness failed; serving the flags already loaded, if any"
            )
        return self.flags.view()

    async def before_async(self, context: Any) -> FlagsView:
        try:
            attempt, budget = self.begin(context)
            if attempt is not None and budget > 0 and not attempt.done.is_set():
                await _wait_async(attempt, budget)
        except Exception:
            log.exception(
                "flagkit: checking flag freshness failed; serving the flags already loaded, if any"
            )
        return self.flags.view()


async def _wait_async(attempt: Attempt, budget: float) -> None:
    """Wait for ``attempt`` without blocking the event loop, for at most ``budget`` seconds."""
    import asyncio  # only async handlers pay for importing asyncio

    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not finished.done():
            finished.set_result(None)

    def wake() -> None:  # runs on the helper thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle)

    attempt.add_done_callback(wake)
    _done, pending = await asyncio.wait({finished}, timeout=budget)
    if pending:
        finished.cancel()


def _context_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Lambda calls handler(event, context); keyword use is accepted for tests and wrappers.
    return args[1] if len(args) > 1 else kwargs.get("context")


def _check(name: str, value: float, *, low: float = 0.0, high: float = math.inf) -> float:
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, not {value}")
    return value


def with_flags(
    flags: Flags,
    *,
    max_age: float = 60.0,
    budget: float = 0.2,
    budget_fraction: float = 0.1,
    cold_start_wait: float = 2.0,
    refresh_timeout: float = 20.0,
    wall: Callable[[], float] = time.time,
) -> Callable[[H], H]:
    """Decorate a Lambda handler so each invocation starts with fresh-enough flags.

    Args:
        flags: the client, made at module level (once per sandbox). ``start=False`` for the
            thread-free mode; a running poller for the poller mode.
        max_age: seconds, by the wall clock, after which the flags are refreshed at the start
            of the next invocation. Keep it at or above the source's poll interval
            (AppConfigData refuses earlier polls; its default is 60 s).
        budget: the most seconds an invocation waits for that refresh; past it the
            invocation runs with the last good flags and the refresh finishes in the
            background.
        budget_fraction: the wait is also capped at this fraction of
            ``context.get_remaining_time_in_millis()``.
        cold_start_wait: at decoration (the init phase), if the client has never fetched,
            wait up to this many seconds for a first document. 0: leave it to the first
            invocation. A backup given to ``Flags(backup_path=...)`` is served meanwhile.
        refresh_timeout: seconds, by the wall clock, after which a refresh still running
            (a hung source, or a sandbox frozen mid-refresh) is abandoned: the source is asked
            to end its fetch, and the next invocation that finds the flags stale starts a new
            refresh. Keep it above the source's own deadline (``AppConfigSource`` gives up
            after ``fetch_timeout``, 10 s by default).
        wall: the wall clock; pass the same one given to ``Flags(wall=...)``. Handlers
            sharing one client share one refresher (and its in-flight guard), which keeps the
            clock (and ``refresh_timeout``) of the first decoration.

    The handler gets its flags from :func:`current`.
    """
    _check("max_age", max_age)
    _check("budget", budget)
    _check("budget_fraction", budget_fraction, high=1.0)
    _check("cold_start_wait", cold_start_wait)
    _check("refresh_timeout", refresh_timeout, low=1e-3)
    refresher = refresher_for(flags, wall=wall, timeout=refresh_timeout)
    gate = _Gate(flags, refresher, max_age=max_age, budget=budget, budget_fraction=budget_fraction)
    _cold_start(flags, refresher, cold_start_wait, max_age)

    def decorate(handler: H) -> H:
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _CURRENT.set(await gate.before_async(_context_of(args, kwargs)))
                try:
                    return await handler(*args, **kwargs)
                finally:
                    _CURRENT.reset(token)

            return cast(H, async_wrapper)

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _CURRENT.set(gate.before(_context_of(args, kwargs)))
            try:
                return handler(*args, **kwargs)
            finally:
                _CURRENT.reset(token)

        return cast(H, wrapper)

    return decorate


def _cold_start(flags: Flags, refresher: Refresher, wait: float, max_age: float) -> None:
    """First fetch during init, bounded; skipped when the client has fetched or is polling."""
    if wait <= 0:
        return
    try:
        status = flags.status()
        if status.checked_at is not None:
            return
        if status.polls and refresher.in_flight() is None:
            return  # a poller thread is already trying (and backing off) on its own
        attempt, _new = refresher.start(backoff_cap=max_age)
        attempt.done.wait(wait)
    except Exception:
        log.exception("flagkit: the cold-start fetch failed; serving the backup, if any")
