"""An OpenFeature provider backed by a :class:`flagkit.Flags` client (docs/openfeature.md).

    from openfeature import api
    from flagkit.openfeature import FlagkitProvider

    api.set_provider_and_wait(FlagkitProvider(flags))
    client = api.get_client()
    client.get_boolean_value("new-checkout", False, EvaluationContext("user-1", {"tier": "gold"}))

Flag keys: ``"flag"`` names a flag, ``"flag.attribute"`` one attribute of the variant the flag
serves (AppConfig keys cannot contain ``.``, so the split is unambiguous; a key that is itself
a flag wins). What each resolver answers:

=========  ======================================  ==========================================
type       ``"flag"``                              ``"flag.attribute"``
=========  ======================================  ==========================================
boolean    the flag's enabled state                a boolean attribute
string     the served variant's name               a string attribute
integer    TYPE_MISMATCH (name an attribute)       an integer attribute (not a bool)
float      TYPE_MISMATCH (name an attribute)       a number attribute, as float
object     ``{"enabled": ..., <attributes>}``      an array or object attribute
=========  ======================================  ==========================================

A basic flag's variant is ``"on"`` or ``"off"`` (spec 2.2.4). Events follow the client's own
status (every poll, every swap, a ``stale_after`` timer), not its evaluations; see the table in
docs/openfeature.md.

The targeting key becomes flagkit's ``user_id`` and the attributes its context. Reasons and
error codes are flagkit's own, which are named as OpenFeature names them; resolvers never
raise: errors come back as details with an ``error_code`` (the SDK returns the caller's
default). Requires ``pip install 'flagkit-appconfig[openfeature]'``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._evaluating import FlagsView
from ._exceptions import MissingExtraError
from ._fork import after_fork_in_child
from ._hooks import _sets as _hook_sets
from ._types import ErrorCode as FkErrorCode
from ._types import EvaluationDetails
from ._types import Reason as FkReason

try:
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode, ParseError, ProviderNotReadyError
    from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("openfeature", "openfeature-sdk") from exc

if TYPE_CHECKING:
    from ._client import Flags
    from ._poller import Status
    from ._snapshot import Snapshot

__all__ = ["FlagkitProvider"]

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]

# flagkit's enums carry OpenFeature's names; these tables are the whole mapping.
# RAMP and GUARDED have no OpenFeature name: the spec allows other strings, so they pass as is
_OF_REASONS = {r.value for r in Reason}
_REASONS: dict[FkReason, Reason | str] = {
    r: Reason(r.value) if r.value in _OF_REASONS else r.value for r in FkReason
}
_CODES: dict[FkErrorCode, ErrorCode] = {c: ErrorCode(c.value) for c in FkErrorCode}


def _thaw(value: Any) -> Any:
    """flagkit hands out arrays as tuples and mappings read-only; OpenFeature wants list/dict."""
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


class Cancellable(Protocol):
    """What a timer returns: something the provider can cancel."""

    def cancel(self) -> None: ...


Timer = Callable[[float, Callable[[], None]], Cancellable]


def _thread_timer(delay: float, callback: Callable[[], None]) -> Cancellable:
    """The default timer: a named daemon ``threading.Timer``."""
    timer = threading.Timer(delay, callback)
    timer.name = "flagkit-openfeature-stale"
    timer.daemon = True
    timer.start()
    return timer


_READY, _STALE, _ERROR = "READY", "STALE", "ERROR"


def _definition(flag: Any) -> Any:
    """What two versions of a flag are compared by for ``flags_changed``: its definition and
    the guard's decision (a compiled flag holds closures, which never compare equal)."""
    return (flag.spec, flag.guard) if flag.spec is not None else flag


def _changed(old: Snapshot, new: Snapshot) -> list[str]:
    """The keys whose definitions differ between two snapshots (added and removed included)."""
    keys = old.flags.keys() | new.flags.keys()
    return sorted(
        k
        for k in keys
        if k not in old.flags
        or k not in new.flags
        or _definition(old.flags[k]) != _definition(new.flags[k])
    )


class FlagkitProvider(AbstractProvider):
    """OpenFeature provider over one :class:`flagkit.Flags`.

    Args:
        flags: the client; the provider never owns its poller unless ``close_on_shutdown``.
        stale_after: seconds without a successful fetch after which successful evaluations
            report reason ``STALE`` and the provider emits ``PROVIDER_STALE`` (None: never).
        close_on_shutdown: close ``flags`` when OpenFeature shuts the provider down.
        name: the provider's metadata name.
        emit_init_events: emit ``PROVIDER_READY`` (or ``PROVIDER_ERROR``) from ``initialize``
            itself, as spec 2.8.2/2.8.3 ask of providers for SDKs that no longer infer the
            status from ``initialize``'s return. openfeature-sdk 0.10 does infer it (and would
            then send READY twice), so the default is False.
        timer: ``timer(delay, callback) -> handle with cancel()``, which runs the staleness
            check when ``stale_after`` runs out (default: a daemon ``threading.Timer``).
    """

    def __init__(
        self,
        flags: Flags,
        *,
        stale_after: float | None = None,
        close_on_shutdown: bool = False,
        name: str = "flagkit",
        emit_init_events: bool = False,
        timer: Timer | None = None,
    ) -> None:
        super().__init__()
        self.flags = flags
        self.stale_after = stale_after
        self.close_on_shutdown = close_on_shutdown
        self.emit_init_events = emit_init_events
        self._timer = timer or _thread_timer
        self._metadata = Metadata(name=name)
        self._lock = threading.Lock()  # guards lifecycle and event transitions, never reads
        self._active = False
        self._listening = False
        self._initializing = False
        self._state: str | None = None  # the status last announced (None: not initialised)
        self._backup_only = False  # serving a backup file, AppConfig not reached yet
        self._pending: Cancellable | None = None  # the scheduled staleness check
        self._seen: Snapshot = flags._snapshot  # the snapshot the last event described
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the poller's thread may have held it (an event) at fork
        self._pending = None  # the parent's timer thread did not survive the fork

    # -- lifecycle (spec 2.4, 2.5, 2.8) ---------------------------------------------------

    def get_metadata(self) -> Metadata:
        """The provider's metadata (its name, ``flagkit`` unless given)."""
        return self._metadata

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Ready when the client serves a fetched snapshot; raises (status ERROR) otherwise.

        Fetches once when the client has nothing, or only a backup file. Idempotent. From then
        on the client's own poll results and the ``stale_after`` timer drive the events.
        """
        with self._lock:
            self._active = True
            self._initializing = True  # transitions wait: this call reports the state
            if not self._listening:
                self.flags.on_change(self._on_swap)
                self.flags.on_status(self._on_status)
                self._listening = True
        try:
            if not self.flags.ready or self.flags.status().age is None:
                self.flags.refresh()
            state, details = self._health()
            with self._lock:
                self._seen = self.flags._snapshot
                # what the SDK announces when this returns (or raises); a stale client is
                # READY here and turns STALE on the timer's first check
                self._state = _ERROR if state is _ERROR else _READY
        finally:
            with self._lock:
                self._initializing = False
        if state is _ERROR:
            if self.emit_init_events:
                self.emit_provider_error(details)
            if details.error_code is ErrorCode.PARSE_ERROR:
                raise ParseError(details.message)
            raise ProviderNotReadyError(details.message)
        if self.emit_init_events:
            self.emit_provider_ready(details)
        self._schedule()

    def shutdown(self) -> None:
        """Stop emitting events, stop listening to the client (and close it if asked to).

        Idempotent; afterwards the client holds no reference to this provider.
        """
        with self._lock:
            was_active, self._active = self._active, False
            listening, self._listening = self._listening, False
            self._state = None
            pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()
        if listening:
            self.flags.remove_listener(self._on_swap)
            self.flags.remove_listener(self._on_status)
        if was_active and self.close_on_shutdown:
            self.flags.close()

    def _health(self) -> tuple[str, ProviderEventDetails]:
        """The state the client's status calls for, with the event details that explain it."""
        status = self.flags.status()
        self._backup_only = status.age is None
        if not self.flags.ready:
            code = ErrorCode.PARSE_ERROR if status.rejected else ErrorCode.PROVIDER_NOT_READY
            message = f"no flags document loaded (last error: {status.last_error})"
            return _ERROR, ProviderEventDetails(message=message, error_code=code)
        if status.last_poll in ("failed", "refused"):
            code = ErrorCode.PARSE_ERROR if status.last_poll == "refused" else ErrorCode.GENERAL
            message = (
                f"last poll {status.last_poll}: {status.last_error}; serving {status.version!r}"
            )
            return _ERROR, ProviderEventDetails(message=message, error_code=code)
        if status.age is None:
            return _STALE, ProviderEventDetails(message="serving a backup file only")
        if self.stale_after is not None and status.age >= self.stale_after:
            return _STALE, ProviderEventDetails(
                message=f"no successful fetch for {status.age:.1f}s"
            )
        return _READY, ProviderEventDetails(message=f"serving {status.version!r}")

    def _transition(self, *, reschedule: bool = True) -> str:
        """Emit the event for a change of state (spec 2.8.1); returns the state now."""
        state, details = self._health()
        with self._lock:
            if not self._active or self._initializing or self._state is None:
                return state
            changed, self._state = state is not self._state, state
        if changed:
            if state is _READY:
                self.emit_provider_ready(details)
            elif state is _STALE:
                self.emit_provider_stale(details)
            else:
                self.emit_provider_error(details)
        if changed or reschedule:
            self._schedule()
        return state

    def _schedule(self) -> None:
        """Arm the timer for the moment ``stale_after`` runs out (nothing to arm otherwise)."""
        limit = self.stale_after
        if limit is None:
            return
        age = self.flags.status().age
        delay = None if age is None else limit - age
        ref = weakref.WeakMethod(self._on_timer)  # a pending timer must not pin the provider

        def fire() -> None:
            method = ref()
            if method is not None:
                method()

        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.cancel()
            if self._active and delay is not None and delay > 0:
                self._pending = self._timer(delay, fire)

    def _on_timer(self) -> None:
        self._transition()

    def _on_status(self, status: Status) -> None:
        # After every poll (the polling thread): a failure, a refusal or a recovery.
        self._transition()

    def _on_swap(self, old_version: str | None, new_version: str | None) -> None:
        # The change listener: a swap of one usable snapshot for another is
        # CONFIGURATION_CHANGED (spec 5.3), naming the flags whose definitions differ.
        snapshot = self.flags._snapshot
        with self._lock:
            if not self._active or self._initializing:
                return
            old, self._seen = self._seen, snapshot
        state = self._transition()
        if old.ready and state is not _ERROR:
            self.emit_provider_configuration_changed(
                ProviderEventDetails(
                    flags_changed=_changed(old, snapshot),
                    message=f"flags version {old_version!r} -> {new_version!r}",
                    metadata={"version": new_version} if new_version is not None else {},
                )
            )

    def _check_stale(self) -> bool:
        """Whether answers are stale now (a backup only, or past ``stale_after``).

        With ``stale_after`` this also moves the state at once, should an evaluation come
        before the timer.
        """
        limit = self.stale_after
        if limit is None:
            return self._backup_only
        age = self.flags.status().age
        stale = age is None or age >= limit
        state = self._state
        if (stale and state is _READY) or (not stale and state is _STALE):  # before the timer
            self._transition(reschedule=False)
        return stale

    # -- resolvers (spec 2.2) -------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """``flag`` -> whether it is enabled; ``flag.attr`` -> a boolean attribute."""
        flag, attribute = self._split(flag_key)
        user_id, attrs = _context(evaluation_context)
        if attribute is None:
            d = self.flags.details(flag, user_id, attrs, default=default_value)
            return self._answer(d, enabled=d.value)
        d = self.flags.details(
            flag, user_id, attrs, attribute=attribute, default=default_value, kind="bool"
        )
        return self._answer(d)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        """``flag`` -> the variant's name (multi-variant flags); ``flag.attr`` -> a string."""
        flag, attribute = self._split(flag_key)
        user_id, attrs = _context(evaluation_context)
        if attribute is not None:
            return self._answer(
                self.flags.details(
                    flag, user_id, attrs, attribute=attribute, default=default_value, kind="str"
                )
            )
        d = self.flags.details(flag, user_id, attrs)
        if d.error_code is not None:
            return self._fail(default_value, d.error_code, d.error_message, d.version)
        if d.variant is None:
            return self._fail(
                default_value,
                FkErrorCode.TYPE_MISMATCH,
                f"{flag!r} is a basic flag without variants; ask for '{flag}.<attribute>'",
                d.version,
            )
        return self._success(d.variant, d.reason, d.variant, d.version)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        """``flag.attr`` -> an integer attribute (a boolean or float is TYPE_MISMATCH)."""
        return self._typed(flag_key, default_value, evaluation_context, "int")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """``flag.attr`` -> a numeric attribute as float."""
        return self._typed(flag_key, default_value, evaluation_context, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        """``flag`` -> the chosen variant's attributes; ``flag.attr`` -> an array or object."""
        flag, attribute = self._split(flag_key)
        user_id, attrs = _context(evaluation_context)
        if attribute is not None:
            d = self.flags.details(
                flag, user_id, attrs, attribute=attribute, default=default_value, kind="json"
            )
            if d.error_code is None and d.value is not default_value:
                if not isinstance(d.value, tuple | list | Mapping):
                    return self._fail(
                        default_value,
                        FkErrorCode.TYPE_MISMATCH,
                        f"expected an array or object, found {type(d.value).__name__}",
                        d.version,
                    )
                return self._success(_thaw(d.value), d.reason, d.variant, d.version)
            return self._answer(d)
        return self._whole_flag(flag, default_value, user_id, attrs)

    # -- helpers --------------------------------------------------------------------------

    def _split(self, flag_key: str) -> tuple[str, str | None]:
        if "." not in flag_key or flag_key in self.flags._snapshot.flags:
            return flag_key, None
        flag, _, attribute = flag_key.rpartition(".")
        return flag, attribute

    def _typed(
        self, flag_key: str, default: T, context: EvaluationContext | None, kind: str
    ) -> FlagResolutionDetails[T]:
        flag, attribute = self._split(flag_key)
        user_id, attrs = _context(context)
        if attribute is None:
            d = self.flags.details(flag, user_id, attrs)
            if d.error_code is not None:
                return self._fail(default, d.error_code, d.error_message, d.version)
            return self._fail(
                default,
                FkErrorCode.TYPE_MISMATCH,
                f"a flag is a boolean; ask for '{flag}.<attribute>' to read a {kind}",
                d.version,
            )
        d = self.flags.details(
            flag, user_id, attrs, attribute=attribute, default=default, kind=kind
        )
        return self._answer(d)

    def _whole_flag(
        self, flag: str, default: ObjectValue, user_id: Any, attrs: dict[str, Any] | None
    ) -> FlagResolutionDetails[ObjectValue]:
        snap = self.flags._snapshot  # one read: the answer comes from one version
        d = FlagsView(snap).details(flag, user_id, attrs)
        _report(self.flags, d, user_id, attrs)  # hooks see it as any evaluation (docs/hooks.md)
        if d.error_code is not None:
            return self._fail(default, d.error_code, d.error_message, d.version)
        # the view's details carry the enabled state and the variant, not the values: select
        # again on the same snapshot (the same answer: selection is deterministic)
        try:
            outcome = snap.flags[flag].select(user_id, attrs)
        except Exception as exc:  # evaluation never raises
            return self._fail(default, FkErrorCode.GENERAL, type(exc).__name__, snap.version)
        value: dict[str, Any] = {"enabled": outcome.enabled}
        value.update((k, _thaw(v)) for k, v in outcome.values.items())
        return self._success(value, outcome.reason, outcome.name, snap.version, outcome.enabled)

    def _answer(
        self, d: EvaluationDetails[T], enabled: bool | None = None
    ) -> FlagResolutionDetails[T]:
        """An attribute's details (``enabled``: the whole flag's, which is its value)."""
        if d.error_code is not None:
            return self._fail(d.value, d.error_code, d.error_message, d.version)
        if enabled is None:  # an attribute is read from an enabled flag, else it is DISABLED
            enabled = d.reason is not FkReason.DISABLED
        return self._success(d.value, d.reason, d.variant, d.version, enabled)

    def _success(
        self,
        value: T,
        reason: FkReason,
        variant: str | None,
        version: str | None,
        enabled: bool = True,
    ) -> FlagResolutionDetails[T]:
        # Spec 2.2.6: no error code or message on success. STALE replaces the reason when the
        # snapshot has not been confirmed for longer than ``stale_after``, or is a backup's.
        # Spec 2.2.4 (SHOULD): a variant; a basic flag has none of its own: "on" or "off".
        stale = self._check_stale()
        return FlagResolutionDetails(
            value=value,
            variant=variant if variant is not None else ("on" if enabled else "off"),
            reason=Reason.STALE if stale else _REASONS[reason],
            flag_metadata={"version": version} if version is not None else {},
        )

    def _fail(
        self, default: T, code: FkErrorCode, message: str | None, version: str | None
    ) -> FlagResolutionDetails[T]:
        if code is FkErrorCode.PROVIDER_NOT_READY:
            status = self.flags.status()
            if status.rejected:  # the only document there was could not be parsed
                code, message = FkErrorCode.PARSE_ERROR, status.last_error
        return FlagResolutionDetails(
            value=default,
            reason=Reason.ERROR,
            error_code=_CODES[code],
            error_message=message,
            flag_metadata={"version": version} if version is not None else {},
        )


def _report(flags: Flags, d: EvaluationDetails[Any], user_id: Any, attrs: Any) -> None:
    """Run the client's evaluation hooks for an answer computed on a pinned view."""
    hooks = _hook_sets.get(flags)
    if hooks is not None and hooks.hooks:
        hooks.run(d, user_id, attrs)


def _context(ctx: EvaluationContext | None) -> tuple[Any, dict[str, Any] | None]:
    if ctx is None:
        return None, None
    attrs = dict(ctx.attributes) if ctx.attributes else None
    return ctx.targeting_key, attrs
