"""The client: keeps the newest snapshot, swaps it in, and evaluates from it (``_evaluating``).

The design's keystone: ``self._snapshot`` is one reference to an immutable
:class:`~flagkit._snapshot.Snapshot`. The poller builds a complete new snapshot and assigns it
in one statement (:meth:`Flags._publish`); a reader does one attribute read and then works on
that object only. No reader ever takes a lock, and no reader can see half a document. The same
step, under the write lock, re-points the client's flag handles (``_handle``): a handle's
evaluation reads one slot, once, so it too answers from one version.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from . import _misses
from ._evaluating import FlagsView, _check_key, _Evaluating
from ._fork import after_fork_in_child
from ._handle import FlagHandle, HookedFlagHandle

if TYPE_CHECKING:
    # The snapshot stage, the poller and the sources load with the first client (Flags()),
    # not at ``import flagkit``: an application pays for them when it makes one.
    from ._poller import Polling, Status
    from ._rollout.guard import AlarmGuard, RolloutEvent
    from ._rollout.watch import RolloutWatcher
    from ._snapshot import FlagGuard, Snapshot
    from ._sources.base import Source

__all__ = ["Flags"]

log = logging.getLogger("flagkit")
T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., None])  # an evaluation hook (see _hooks)
Listener = Callable[[str | None, str | None], None]
RolloutListener = Callable[["RolloutEvent"], None]
StatusListener = Callable[["Status"], None]


def _not_a_source(source: object) -> str:
    """The TypeError for ``Flags(x)`` with something that is not a source, with the fix."""
    found = type(source).__name__
    if isinstance(source, str | os.PathLike):
        fix = f"flagkit.Flags(flagkit.FileSource({str(source)!r}))"
    elif isinstance(source, dict | bytes | bytearray):
        fix = "flagkit.Flags(flagkit.StaticSource(document))"
    else:
        fix = "flagkit.Flags(flagkit.AppConfigSource(application, environment, profile))"
    return f"Flags() takes a source (an object with fetch()), not {found}; for example: {fix}"


class Flags(_Evaluating):
    """Feature flags for one AppConfig profile, evaluated in this process: create one per process.

    It keeps the newest flags document from ``source`` (a background thread polls it; a bad
    document never replaces a good one) compiled in memory, so that ``enabled()``,
    ``variant()``, the ``get_*`` getters and ``details()`` answer without network, lock or
    exception: any problem gives the caller's default, with a reason in ``details()``.

        flags = flagkit.Flags(flagkit.AppConfigSource("shop", "prod", "flags"))
        if flags.enabled("new-pricing-engine", user_id, {"plan": "pro"}): ...

    Args:
        source: where documents come from (``StaticSource``, ``FileSource``,
            ``AppConfigSource``, ...).
        user_key: the context key ``user_id`` is placed under (AppConfig rules say ``$userId``).
        wait: seconds the constructor waits for the first snapshot; until one arrives every
            evaluation returns its default (reason ERROR, code PROVIDER_NOT_READY).
        backup_path: where to keep the last good document; loaded first at start.
        polling: a :class:`Polling` with intervals, backoff and the size cap.
        on_change: a listener ``(old_version, new_version)`` called after each swap (an
            alarm guard holding or releasing a flag is a swap too, with the same version).
        guard: an :class:`AlarmGuard` holding flags that name CloudWatch alarms
            (``flagkit-alarms``) at their default while an alarm is in ALARM.
        on_rollout: a listener ``(event)`` for ramp steps and guard trips (:class:`RolloutEvent`).
        clock, wall: injectable monotonic and wall clocks (tests, Lambda freeze/thaw); ramps
            read ``wall``.
        start: start the background poller now (False: call :meth:`refresh` yourself, and
            :meth:`check_rollouts` for the guard and ramp-step events).
    """

    def __init__(
        self,
        source: Source,
        *,
        user_key: str = "userId",
        wait: float = 5.0,
        backup_path: str | os.PathLike[str] | None = None,
        polling: Polling | None = None,
        on_change: Listener | None = None,
        guard: AlarmGuard | None = None,
        on_rollout: RolloutListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        start: bool = True,
    ) -> None:
        if not callable(getattr(source, "fetch", None)):
            raise TypeError(_not_a_source(source))
        from ._poller import Poller
        from ._snapshot import EMPTY

        self._snapshot = EMPTY
        self._base = EMPTY  # the document's snapshot, before the guard's decisions
        self._guard = guard
        self._guards: dict[str, FlagGuard] = {}
        self._steps: dict[tuple[str, object], int] = {}  # ramp steps announced
        self._write_lock = threading.RLock()  # writers only: poller, guard, overrides, handles
        # key -> its handle (flag()), held weakly: a handle nobody holds costs nothing at the
        # next swap, and keys that come from end-user input cannot grow it for ever
        self._handles: weakref.WeakValueDictionary[str, FlagHandle] = weakref.WeakValueDictionary()
        self._handle_class: type[FlagHandle] = FlagHandle  # HookedFlagHandle while hooked
        after_fork_in_child(self._after_fork_in_child)
        self._wall = wall
        self._listeners: tuple[Listener, ...] = (on_change,) if on_change is not None else ()
        self._rollout_listeners: tuple[RolloutListener, ...] = (
            (on_rollout,) if on_rollout is not None else ()
        )
        self._status_listeners: tuple[StatusListener, ...] = ()
        self._watcher: RolloutWatcher | None = None
        self._threads = start
        self.source = source
        self._poller = Poller(
            source,
            self._publish,
            user_key=user_key,
            polling=polling,
            backup_path=backup_path,
            clock=clock,
            wall=wall,
            polled=self._polled,
        )
        self._poller.load_backup()
        if start:
            if guard is not None:
                self._start_watcher()
            self._poller.start()
            if wait > 0:
                self._poller.wait_ready(wait)

    def _after_fork_in_child(self) -> None:
        """A fresh write lock: the poller or rollout thread may have held it mid-swap at the
        fork, and no thread of the parent's is left in the child to release it. A half-done
        swap leaves ``_base`` newer than ``_snapshot`` at worst; the child's next swap mends it.
        """
        self._write_lock = threading.RLock()

    # The swap. One reference assignment; readers never lock (see the module docstring).
    def _publish(self, snapshot: Snapshot) -> None:
        """A new document snapshot (poller, backup, overrides): apply the guard, swap it in."""
        with self._write_lock:
            self._base = snapshot
            swapped, events = self._apply_guard(force=True)
            events += self._ramp_steps(self._wall())
        self._notify(swapped, events)
        if self._threads and any(f.ramp is not None for f in snapshot.flags.values()):
            self._start_watcher()
        if self._watcher is not None:
            self._watcher.wake()

    def _apply_guard(
        self, *, force: bool
    ) -> tuple[tuple[Snapshot, Snapshot] | None, list[RolloutEvent]]:
        """Swap in the base with the guard's current decisions (the write lock is held).

        Returns ``(old, new)`` when it swapped, and the guard's events; listeners are told by
        :meth:`_notify` once the lock is released, so no user code runs under it.
        """
        events: list[RolloutEvent] = []
        guards: dict[str, FlagGuard] = {}
        if self._guard is not None:
            guards, events = self._guard.decide(self._base, self._wall())
        if not force and guards == self._guards:
            return None, events
        self._guards = guards
        from ._snapshot import overlay

        old, new = self._snapshot, overlay(self._base, guards)
        self._snapshot = new
        for handle in self._live_handles():  # in the same step: flag() waits for the lock
            handle._point(new)
        return (old, new), events

    def _notify(
        self, swapped: tuple[Snapshot, Snapshot] | None, events: list[RolloutEvent]
    ) -> None:
        if swapped is not None:
            old, new = swapped
            if new.ready:  # a handle whose key the document lacks: one warning per key
                with self._write_lock:
                    unfound = [h.key for h in self._live_handles() if h._missing]
                for key in unfound:
                    _misses.unknown_flag(new, key)
            for listener in self._listeners:
                try:
                    listener(old.version, new.version)
                except Exception:
                    log.exception("flagkit: a change listener raised; the poller carries on")
        for event in events:
            log.info("flagkit: %s %s: %s", event.kind, event.flag, event.message)
            for on_rollout in self._rollout_listeners:
                try:
                    on_rollout(event)
                except Exception:
                    log.exception("flagkit: a rollout listener raised; carrying on")

    def _start_watcher(self) -> None:
        if self._watcher is None:
            from ._rollout.watch import RolloutWatcher

            with self._write_lock:
                if self._watcher is None:
                    self._watcher = RolloutWatcher(self, self._wall)
        self._watcher.start()

    def _rollout_round(self) -> float:
        """One round of the rollout thread; returns the wall time the next one is due."""
        self.check_rollouts()
        now = self._wall()
        due = now + (self._guard.interval if self._guard is not None else 300.0)
        for flag in self._snapshot.flags.values():
            if flag.ramp is not None:
                step = flag.ramp.at(now, flag.ramp_offset)
                if step.next_at is not None:
                    due = min(due, step.next_at)
        return due

    def check_rollouts(self) -> bool:
        """Poll the alarm guard now and announce ramp steps that have begun.

        The rollout thread does this on its own; call it yourself with ``start=False``.
        Returns True when the served snapshot changed (a flag held or released).
        """
        guard = self._guard
        now = self._wall()
        if guard is not None:
            guard.poll(self._base.alarm_names, now)
        with self._write_lock:
            swapped, events = self._apply_guard(force=False)
            events += self._ramp_steps(now)
        self._notify(swapped, events)
        return swapped is not None

    def _ramp_steps(self, now: float) -> list[RolloutEvent]:
        events: list[RolloutEvent] = []
        seen: dict[tuple[str, object], int] = {}
        for key, flag in self._snapshot.flags.items():
            ramp = flag.ramp
            if ramp is None or (flag.guard is not None and flag.guard.tripped):
                continue
            from ._rollout.guard import RolloutEvent

            step = ramp.at(now, flag.ramp_offset)
            ident = (key, ramp)
            seen[ident] = step.index
            if step.index > self._steps.get(ident, step.index):
                events.append(
                    RolloutEvent(
                        "ramp-step",
                        key,
                        now,
                        f"step {step.index + 1} of {len(ramp.steps)}: {step.pct:g} %",
                        pct=step.pct,
                    )
                )
        self._steps = seen
        return events

    def on_rollout(self, listener: RolloutListener) -> RolloutListener:
        """Register ``listener(event)`` for ramp steps and guard trips; returns it."""
        self._rollout_listeners = (*self._rollout_listeners, listener)
        return listener

    def on_change(self, listener: Listener) -> Listener:
        """Register ``listener(old_version, new_version)``; returns it (usable as a decorator)."""
        self._listeners = (*self._listeners, listener)
        return listener

    def on_status(self, listener: StatusListener) -> StatusListener:
        """Register ``listener(status)``, called with :meth:`status` after every poll, whatever
        its outcome (``Status.last_poll``), in the polling thread; returns it."""
        self._status_listeners = (*self._status_listeners, listener)
        return listener

    def remove_listener(self, listener: Callable[..., None]) -> None:
        """Stop calling ``listener`` (change, status or rollout); unknown listeners are ignored.

        Compared by equality, so ``remove_listener(obj.method)`` removes ``on_change(obj.method)``.
        """
        with self._write_lock:
            self._listeners = tuple(x for x in self._listeners if x != listener)
            self._status_listeners = tuple(x for x in self._status_listeners if x != listener)
            self._rollout_listeners = tuple(x for x in self._rollout_listeners if x != listener)

    def _polled(self) -> None:
        listeners = self._status_listeners
        if not listeners:
            return
        status = self.status()
        for listener in listeners:
            try:
                listener(status)
            except Exception:
                log.exception("flagkit: a status listener raised; the poller carries on")

    def add_hook(self, hook: H) -> H:
        """Call ``hook(details, user_id, attributes)`` after every evaluation (docs/hooks.md).

        The first hook switches this one instance to hooked evaluation (instance attributes
        shadow the evaluation methods); with no hooks the class methods run as they are.
        """
        from ._hooks import add_hook

        return add_hook(self, hook)

    def remove_hook(self, hook: Callable[..., None]) -> None:
        """Stop calling ``hook``; removing the last one restores the unhooked methods."""
        from ._hooks import remove_hook

        remove_hook(self, hook)

    def flag(self, key: str) -> FlagHandle:
        """The handle on flag ``key``: evaluations without the flag argument, and faster.

        The client re-points the handle at every swap, so it follows new documents, alarm
        guard holds and overrides; a key the document lacks answers the caller's default
        (one warning logged) until a document adds it. Calls for one key give the same
        object for as long as anyone holds it: declare it once, at module level::

            PRICING = flags.flag("new-pricing-engine")
            if PRICING.enabled(user_id, attributes): ...

        Raises TypeError for a key that is not a str (a declaration, not an evaluation).
        """
        _check_key(key)
        handle = self._handles.get(key)
        if handle is not None:
            return handle
        with self._write_lock:  # no swap between pointing the handle and registering it
            snap = self._snapshot
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = self._handle_class(self, key, snap)
        if handle._missing:  # logged outside the lock: no log handler runs under it
            _misses.unknown_flag(snap, key)
        return handle

    def handles(self) -> tuple[FlagHandle, ...]:
        """The handles declared on this client (:meth:`flag`) and still held, by key."""
        with self._write_lock:
            return tuple(sorted(self._live_handles(), key=lambda h: h.key))

    def _live_handles(self) -> list[FlagHandle]:
        """The registered handles still alive (call with the write lock held).

        ``valuerefs()`` copies the references in one C call. Iterating the weak dictionary
        itself would defer the removal of a handle that dies meanwhile, and a concurrent
        ``flag()`` (which takes no lock to find a handle) would then commit that removal in the
        middle of the iteration: RuntimeError, in the thread swapping the snapshot.
        """
        return [h for ref in self._handles.valuerefs() if (h := ref()) is not None]

    def _route_handles(self, *, hooked: bool) -> None:
        """Hooks added (or the last removed): switch every handle's class, so its evaluations
        run the client's hooked methods (or the plain fast path again). Called by ``_hooks``."""
        with self._write_lock:
            self._handle_class = HookedFlagHandle if hooked else FlagHandle
            for handle in self._live_handles():  # unhooked: back to the class of its shape
                handle.__class__ = HookedFlagHandle if hooked else handle._plain

    def view(self) -> FlagsView:
        """Pin the current snapshot: every read through the view sees this one version."""
        return FlagsView(self._snapshot)

    def refresh(self) -> bool:
        """Fetch now, in the caller's thread; True when a new snapshot was swapped in."""
        before = self._snapshot
        self._poller.poll_once()
        return self._snapshot is not before

    @property
    def ready(self) -> bool:
        """True once a snapshot (fetched or from the backup) is being served."""
        return self._snapshot.ready

    def status(self) -> Status:
        """The poller's state: version served, last fetch and check times, errors, swaps, refusals,
        and the alarm guard's (``Status.guard``) when there is one. Cheap; never raises."""
        status = self._poller.status()
        if self._guard is not None:
            status = replace(status, guard=self._guard.status())
        return status

    def close(self, timeout: float = 5.0) -> None:
        """Stop polling; evaluations keep answering from the last snapshot. Idempotent."""
        if self._watcher is not None:
            self._watcher.close(timeout)
        self._poller.close(timeout)

    def __enter__(self) -> Flags:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Flags(source={self.source!r}, version={self._snapshot.version!r})"
