"""Evaluation hooks, evaluation counters and exposure events (docs/hooks.md).

Zero cost until used: ``Flags.add_hook`` installs, on that one instance, instance attributes
that shadow the evaluation methods (``enabled``, ``variant``, ``get_*``, ``details``), and
switches the client's flag handles to a class whose ``enabled``/``variant`` call those methods.
Without hooks nothing is installed and the class methods run exactly as they are; removing the
last hook deletes the shadows and switches the handles back. The decision is made at
registration, never per call.

A hook is ``hook(details, user_id, attributes)``, called in the evaluating thread after each
evaluation; it must be quick. Two hooks ship here:

* :class:`EvaluationCounters` — per-flag and per-variant counts the application reads;
* :class:`Exposures` — one exposure event per (flag, context key, variant), deduplicated in a
  bounded ``cachetools.LRUCache`` of 16-byte digests (never the context keys themselves) and
  delivered in batches by a named daemon thread through a bounded queue; when the queue is
  full the event is dropped and counted.

Attribute names follow OpenTelemetry's feature-flag semantic conventions
(https://opentelemetry.io/docs/specs/semconv/registry/attributes/feature-flag/).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._fork import Restart, after_fork_in_child
from ._types import EvaluationDetails

if TYPE_CHECKING:
    from ._client import Flags

__all__ = [
    "EvaluationCounters",
    "Exposure",
    "Exposures",
    "Hook",
    "add_hook",
    "otel_attributes",
    "remove_hook",
]

log = logging.getLogger("flagkit")

Hook = Callable[[EvaluationDetails[Any], Any, "Mapping[str, Any] | None"], None]
H = TypeVar("H", bound=Callable[..., None])
PROVIDER_NAME = "flagkit"


def otel_attributes(
    details: EvaluationDetails[Any], context_id: Any = None, *, provider: str = PROVIDER_NAME
) -> dict[str, str | bool | int | float]:
    """The evaluation as OpenTelemetry feature-flag attributes (``feature_flag.key``, ...)."""
    out: dict[str, str | bool | int | float] = {
        "feature_flag.key": details.flag_key,
        "feature_flag.provider.name": provider,
        "feature_flag.result.reason": details.reason.value.lower(),
    }
    if details.variant is not None:
        out["feature_flag.result.variant"] = details.variant
    value = details.value
    if isinstance(value, str | bool | int | float):
        out["feature_flag.result.value"] = value
    if details.version is not None:
        out["feature_flag.version"] = details.version
    if context_id is not None:
        out["feature_flag.context.id"] = str(context_id)
    if details.error_code is not None:
        out["error.type"] = details.error_code.value.lower()
        if details.error_message:
            out["feature_flag.error.message"] = details.error_message
    return out


# -- installing hooks on one client -----------------------------------------------------------

_METHODS = ("enabled", "variant", "get_str", "get_int", "get_float", "get_bool", "get_json")


class _HookSet:
    """The hooks of one client; ``hooks`` is replaced whole (readers take no lock)."""

    def __init__(self) -> None:
        self.hooks: tuple[Hook, ...] = ()
        self.failed: set[int] = set()

    def run(self, d: EvaluationDetails[Any], user_id: Any, attributes: Any) -> None:
        for hook in self.hooks:
            try:
                hook(d, user_id, attributes)
            except Exception:  # a hook must never break an evaluation
                if id(hook) not in self.failed:  # log once per hook
                    self.failed.add(id(hook))
                    log.exception("flagkit: evaluation hook %r raised; ignoring it", hook)


_sets: weakref.WeakKeyDictionary[Flags, _HookSet] = weakref.WeakKeyDictionary()
_lock = threading.Lock()  # add_hook and remove_hook


def _after_fork_in_child() -> None:
    global _lock  # noqa: PLW0603 - the module's one lock, made afresh in a forked child
    _lock = threading.Lock()


after_fork_in_child(_after_fork_in_child)


def add_hook(flags: Flags, hook: H) -> H:
    with _lock:
        hooks = _sets.get(flags)
        if hooks is None:
            hooks = _sets[flags] = _HookSet()
        if not hooks.hooks:
            _install(flags, hooks)
            flags._route_handles(hooked=True)  # its handles now run the hooked methods
        hooks.hooks = (*hooks.hooks, hook)
    return hook


def remove_hook(flags: Flags, hook: Hook) -> None:
    with _lock:
        hooks = _sets.get(flags)
        if hooks is None or hook not in hooks.hooks:
            return
        hooks.hooks = tuple(h for h in hooks.hooks if h is not hook)
        if not hooks.hooks:
            for name in (*_METHODS, "details"):
                flags.__dict__.pop(name, None)  # the class methods are back: zero cost
            flags._route_handles(hooked=False)  # and the handles' fast path


def _install(flags: Flags, hooks: _HookSet) -> None:
    """Shadow the evaluation methods of this one instance with hooked versions."""
    cls = type(flags)
    ref = weakref.ref(flags)  # the shadows live on the instance: do not pin it
    resolve = cls._resolve
    details = cls.details
    run = hooks.run

    def _eval(flag: str, attribute: str | None, default: Any, kind: str, u: Any, a: Any) -> Any:
        d = resolve(ref(), flag, attribute, default, kind, u, a)  # type: ignore[arg-type]
        run(d, u, a)
        return d

    def enabled(
        flag: str, user_id: Any = None, attributes: Any = None, default: bool = False
    ) -> bool:
        return _eval(flag, None, default, "bool", user_id, attributes).value  # type: ignore[no-any-return]

    def variant(flag: str, user_id: Any = None, attributes: Any = None) -> str | None:
        return _eval(flag, None, False, "bool", user_id, attributes).variant  # type: ignore[no-any-return]

    def typed(kind: str) -> Callable[..., Any]:
        def get(
            flag: str,
            attribute: str,
            default: Any = None,
            user_id: Any = None,
            attributes: Any = None,
        ) -> Any:
            return _eval(flag, attribute, default, kind, user_id, attributes).value

        get.__name__ = f"get_{kind}"
        return get

    def hooked_details(
        flag: str, user_id: Any = None, attributes: Any = None, **options: Any
    ) -> EvaluationDetails[Any]:
        d = details(ref(), flag, user_id, attributes, **options)  # type: ignore[arg-type]
        run(d, user_id, attributes)
        return d

    shadows: dict[str, Callable[..., Any]] = {
        "enabled": enabled,
        "variant": variant,
        "get_str": typed("str"),
        "get_int": typed("int"),
        "get_float": typed("float"),
        "get_bool": typed("bool"),
        "get_json": typed("json"),
        "details": hooked_details,
    }
    flags.__dict__.update(shadows)


# -- counters ---------------------------------------------------------------------------------


class EvaluationCounters:
    """A hook counting evaluations per flag and per (flag, variant); read at any time.

    Counting takes one uncontended lock per evaluation (only while the hook is registered).
    A forked child gets a fresh lock and keeps the counts it inherited.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, int] = {}
        self._variants: dict[tuple[str, str | None], int] = {}
        self._errors: dict[str, int] = {}
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # An evaluating thread may have held the lock at the fork: the child's first
        # evaluation would wait for it for ever (issue 19, point 13).
        self._lock = threading.Lock()

    def __call__(self, details: EvaluationDetails[Any], user_id: Any, attributes: Any) -> None:
        key = details.flag_key
        with self._lock:
            self._flags[key] = self._flags.get(key, 0) + 1
            pair = (key, details.variant)
            self._variants[pair] = self._variants.get(pair, 0) + 1
            if details.error_code is not None:
                self._errors[key] = self._errors.get(key, 0) + 1

    def by_flag(self) -> dict[str, int]:
        """Evaluations per flag key (a copy)."""
        with self._lock:
            return dict(self._flags)

    def by_variant(self) -> dict[tuple[str, str | None], int]:
        """Evaluations per (flag key, variant name); basic flags count under None."""
        with self._lock:
            return dict(self._variants)

    def errors(self) -> dict[str, int]:
        """Evaluations per flag key that returned the default because of an error."""
        with self._lock:
            return dict(self._errors)

    def reset(self) -> None:
        """Forget every count and start again from zero."""
        with self._lock:
            self._flags.clear()
            self._variants.clear()
            self._errors.clear()


# -- exposures --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exposure:
    """One context seeing one variant of one flag, in one document version."""

    flag_key: str
    variant: str | None
    context_key: Any
    version: str | None
    reason: str

    def attributes(self) -> dict[str, str]:
        """As OpenTelemetry feature-flag attributes."""
        out = {
            "feature_flag.key": self.flag_key,
            "feature_flag.provider.name": PROVIDER_NAME,
            "feature_flag.result.reason": self.reason.lower(),
        }
        if self.variant is not None:
            out["feature_flag.result.variant"] = self.variant
        if self.context_key is not None:
            out["feature_flag.context.id"] = str(self.context_key)
        if self.version is not None:
            out["feature_flag.version"] = self.version
        return out


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


def _dedupe_key(flag: str, variant: str | None, context_key: Any) -> bytes:
    """A 16-byte BLAKE2b digest of (flag, variant, context key): what the dedupe cache keeps.

    Keeping the context key itself let one entry cost as much as the key: at the default
    100,000 entries, 8 KiB keys held about 800 MiB (issue 19, point 15). A digest costs the
    same whatever the key. The type's name is part of it, so ``1`` and ``"1"`` stay apart.

    A collision would only make one exposure look already reported, so it is not sent until
    its twin leaves the cache. With 128 bits and 100,000 entries the odds that any two collide
    are about 1 in 10^28; finding a pair on purpose takes about 2^64 hashes and wins nothing but
    one missing analytics event. Dedupe is an optimisation, not a control, so no secret key.

    Raises TypeError for a key that cannot be hashed (skipped, as before the digest), and
    whatever ``str()`` of a non-string key raises.
    """
    if type(context_key) is str:
        text, kind = context_key, "str"
    else:
        hash(context_key)
        text, kind = str(context_key), type(context_key).__qualname__
    # Every field but the last is length-prefixed, so no two triples give the same bytes.
    head = f"{len(flag)}:{flag}{-1 if variant is None else len(variant)}:{variant or ''}"
    # A new hasher per call: a shared one has a lock of its own that a fork could catch held.
    digest = hashlib.blake2b(
        f"{head}{len(kind)}:{kind}".encode("utf-8", "surrogatepass"), digest_size=16
    )
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest()


class Exposures:
    """A hook sending deduplicated exposure events to ``deliver(batch)`` off the hot path.

    Args:
        deliver: called in the worker thread with a list of :class:`Exposure` (at most
            ``batch_size``); exceptions are logged and the batch is dropped.
        max_queue: events waiting for the worker; beyond it events are dropped (``dropped``).
        dedupe_size: how many (flag, context key, variant) triples are remembered (LRU), each
            as a 16-byte digest whatever the key's length; an evicted triple is reported again
            when seen again.
        batch_size: the largest batch; ``flush_every`` seconds is the longest an event waits.
        include_errors: also report evaluations that returned the default because of an error.
    """

    def __init__(
        self,
        deliver: Callable[[Sequence[Exposure]], None],
        *,
        max_queue: int = 10_000,
        dedupe_size: int = 100_000,
        batch_size: int = 100,
        flush_every: float = 5.0,
        include_errors: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from cachetools import LRUCache

        self._deliver = deliver
        self._max_queue = max_queue
        self._seen: LRUCache[bytes, bool] = LRUCache(dedupe_size)
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.include_errors = include_errors
        self._clock = clock
        self.dropped = 0
        self.delivered = 0
        self._state = "new"
        self._init_sync()
        after_fork_in_child(self._after_fork_in_child)
        self._start()

    def _init_sync(self) -> None:
        self._lock = threading.Lock()  # guards the dedupe cache and the counters
        self._queue: queue.Queue[object] = queue.Queue(self._max_queue)
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        if self._state == "closed":
            return
        thread = threading.Thread(target=self._run, name="flagkit-exposures", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._state = "closed"
            return
        self._thread = thread
        self._state = "running"

    def _after_fork_in_child(self) -> Restart | None:
        # The child inherits a queue whose worker did not survive the fork, and a lock an
        # evaluating thread may have held: start afresh (pending events belong to the parent,
        # which delivers them).
        self._init_sync()
        return self._start if self._state == "running" else None

    # -- the hook (hot path while registered) -------------------------------------------------

    def __call__(self, details: EvaluationDetails[Any], user_id: Any, attributes: Any) -> None:
        if details.error_code is not None and not self.include_errors:
            return
        try:  # outside the lock: a long key is hashed without holding up other threads
            key = _dedupe_key(details.flag_key, details.variant, user_id)
        except (TypeError, ValueError):  # unhashable, or an int too long for str(): skip it
            return
        with self._lock:
            if key in self._seen:
                return
            self._seen[key] = True
        event = Exposure(
            details.flag_key, details.variant, user_id, details.version, details.reason.value
        )
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                self._seen.pop(key, None)  # not delivered: report it when seen again

    # -- the worker -----------------------------------------------------------------------

    def _run(self) -> None:
        batch: list[Exposure] = []
        due = 0.0
        while True:
            timeout = None if not batch else max(0.0, due - self._clock())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                batch = self._send(batch)
                continue
            if item is _STOP:
                self._send(batch)
                return
            if isinstance(item, _Flush):
                batch = self._send(batch)
                item.done.set()
                continue
            assert isinstance(item, Exposure)
            if not batch:
                due = self._clock() + self.flush_every
            batch.append(item)
            if len(batch) >= self.batch_size:
                batch = self._send(batch)

    def _send(self, batch: list[Exposure]) -> list[Exposure]:
        if batch:
            try:
                self._deliver(batch)
            except Exception:
                log.exception("flagkit: exposure delivery failed; %d events lost", len(batch))
            else:
                with self._lock:
                    self.delivered += len(batch)
        return []

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver everything queued so far; True when done within ``timeout``."""
        if self._state != "running":
            return False
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued and stop the worker; idempotent, bounded by ``timeout``."""
        if self._state != "running":
            self._state = "closed"
            return
        self._state = "closed"
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __repr__(self) -> str:
        return (
            f"Exposures(state={self._state!r}, delivered={self.delivered}, dropped={self.dropped})"
        )
