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

The targeting key becomes flagkit's ``user_id`` and the attributes its context. Reasons and
error codes are flagkit's own, which are named as OpenFeature names them; resolvers never
raise: errors come back as details with an ``error_code`` (the SDK returns the caller's
default). Requires ``pip install 'flagkit-appconfig[openfeature]'``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._client import FlagsView
from ._exceptions import MissingExtraError
from ._fork import after_fork_in_child
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


class FlagkitProvider(AbstractProvider):
    """OpenFeature provider over one :class:`flagkit.Flags`.

    Args:
        flags: the client; the provider never owns its poller unless ``close_on_shutdown``.
        stale_after: seconds without a successful fetch after which successful evaluations
            report reason ``STALE`` and the provider emits ``PROVIDER_STALE`` (None: never).
        close_on_shutdown: close ``flags`` when OpenFeature shuts the provider down.
        name: the provider's metadata name.
    """

    def __init__(
        self,
        flags: Flags,
        *,
        stale_after: float | None = None,
        close_on_shutdown: bool = False,
        name: str = "flagkit",
    ) -> None:
        super().__init__()
        self.flags = flags
        self.stale_after = stale_after
        self.close_on_shutdown = close_on_shutdown
        self._metadata = Metadata(name=name)
        self._lock = threading.Lock()  # guards lifecycle and event transitions, never reads
        self._active = False
        self._listening = False
        self._announced = False  # READY has been reported (by initialize or an event)
        self._stale = False
        after_fork_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the poller's thread may have held it (an event) at fork

    # -- lifecycle (spec 2.4, 2.5, 2.8) ---------------------------------------------------

    def get_metadata(self) -> Metadata:
        """The provider's metadata (its name, ``flagkit`` unless given)."""
        return self._metadata

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Ready when the client serves a snapshot; raises (status ERROR) when it cannot yet.

        Idempotent. A document that arrives after a failed initialize emits PROVIDER_READY.
        """
        with self._lock:
            self._active = True
            if not self._listening:
                self.flags.on_change(self._on_swap)
                self._listening = True
        if not self.flags.ready:
            self.flags.refresh()
        if not self.flags.ready:
            status = self.flags.status()
            if status.rejected:
                raise ParseError(f"flags document refused: {status.last_error}")
            raise ProviderNotReadyError(
                f"no flags document loaded yet (last error: {status.last_error})"
            )
        with self._lock:
            self._announced = True  # the SDK emits READY when initialize returns

    def shutdown(self) -> None:
        """Stop emitting events (and close the client if asked to). Idempotent."""
        with self._lock:
            was_active, self._active = self._active, False
            self._announced = False
            self._stale = False
        if was_active and self.close_on_shutdown:
            self.flags.close()

    def _on_swap(self, old_version: str | None, new_version: str | None) -> None:
        # The change listener: every snapshot swap is an OpenFeature event (spec 5.3).
        with self._lock:
            if not self._active:
                return
            first, self._announced = not self._announced, True
            was_stale, self._stale = self._stale, False
        details = ProviderEventDetails(
            message=f"flags version {old_version!r} -> {new_version!r}",
            metadata={"version": new_version} if new_version is not None else {},
        )
        if first or was_stale:
            self.emit_provider_ready(details)
        if not first:
            self.emit_provider_configuration_changed(details)

    def _check_stale(self) -> bool:
        """Whether answers are stale now; emits STALE / READY on a transition."""
        limit = self.stale_after
        if limit is None:
            return False
        age = self.flags.status().age
        stale = age is None or age > limit
        if stale is self._stale:
            return stale
        with self._lock:
            if stale is self._stale or not self._active:
                return stale
            self._stale = stale
        details = ProviderEventDetails(
            message=f"no successful fetch for {age:.1f}s" if age is not None else "never fetched"
        )
        if stale:
            self.emit_provider_stale(details)
        else:
            self.emit_provider_ready(details)
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
        else:
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
        if d.error_code is not None:
            return self._fail(default, d.error_code, d.error_message, d.version)
        compiled = snap.flags[flag]
        try:
            outcome = compiled.select(user_id, attrs)
        except Exception as exc:  # evaluation never raises
            return self._fail(default, FkErrorCode.GENERAL, type(exc).__name__, snap.version)
        value: dict[str, Any] = {"enabled": outcome.enabled}
        value.update((k, _thaw(v)) for k, v in outcome.values.items())
        return self._success(value, outcome.reason, outcome.name, snap.version)

    def _answer(self, d: EvaluationDetails[T]) -> FlagResolutionDetails[T]:
        if d.error_code is not None:
            return self._fail(d.value, d.error_code, d.error_message, d.version)
        return self._success(d.value, d.reason, d.variant, d.version)

    def _success(
        self, value: T, reason: FkReason, variant: str | None, version: str | None
    ) -> FlagResolutionDetails[T]:
        # Spec 2.2.6: no error code or message on success. STALE replaces the reason when the
        # snapshot has not been confirmed for longer than ``stale_after``.
        stale = self._check_stale()
        return FlagResolutionDetails(
            value=value,
            variant=variant,
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


def _context(ctx: EvaluationContext | None) -> tuple[Any, dict[str, Any] | None]:
    if ctx is None:
        return None, None
    attrs = dict(ctx.attributes) if ctx.attributes else None
    return ctx.targeting_key, attrs
