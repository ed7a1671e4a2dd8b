"""Evaluation: every answer read from one snapshot, lock-free, never raising.

``_Evaluating`` holds the evaluation methods (``enabled``, ``variant``, the typed getters,
``details``, ``explain``) over ``self._snapshot``, one immutable
:class:`~flagkit._snapshot.Snapshot`: each call reads that attribute once and answers from the
object it got, so it sees one version whatever swaps around it. :class:`FlagsView` pins one
snapshot for a request; :class:`~flagkit.Flags` (``_client``) keeps its own fresh. Any problem
gives the caller's default, with a reason in ``details()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _misses
from ._context import as_context
from ._handle import FlagHandle
from ._types import ErrorCode, EvaluationDetails, Reason

if TYPE_CHECKING:
    from ._explain import Explanation
    from ._snapshot import Snapshot

__all__ = ["FlagsView"]

_NOT_READY = "no flags document has been loaded yet"


def _missed(snap: Snapshot, flag: Any) -> None:
    """A flag ``snap`` lacks, evaluated: warn once, and record the miss in its lookup maps.

    This is the one write a snapshot sees after it is built, and it changes no answer: a flag
    it lacks maps to None, which is what ``.get()`` gave before. It lets the next evaluation of
    that flag find None in one dict lookup instead of raising KeyError again. At most
    ``_misses.LIMIT`` misses are recorded per snapshot, so names that come from end-user input
    cannot grow it for ever; past that a miss costs the KeyError, still without a warning.
    """
    if flag in snap.flags:  # a document with the flag was swapped in since the lookup
        return
    _misses.unknown_flag(snap, flag)
    fns, names = snap.enabled_fns, snap.variant_fns
    if type(fns) is dict and type(names) is dict and len(fns) < len(snap.flags) + _misses.LIMIT:
        fns[flag] = None
        names[flag] = None


def _check_str(v: Any) -> Any:
    return v if type(v) is str else _MISMATCH


def _check_int(v: Any) -> Any:
    return v if type(v) is int else _MISMATCH


def _check_float(v: Any) -> Any:
    return float(v) if type(v) in (int, float) else _MISMATCH


def _check_bool(v: Any) -> Any:
    return v if type(v) is bool else _MISMATCH


def _check_json(v: Any) -> Any:
    return v


_MISMATCH = object()
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "str": _check_str,
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "json": _check_json,
}


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"a flag key is a str, not {type(key).__name__}")


class _Evaluating:
    """Evaluation methods over ``self._snapshot`` (shared by the client and pinned views)."""

    __slots__ = ()
    _snapshot: Snapshot

    # -- the hot path ---------------------------------------------------------------------

    def enabled(
        self,
        flag: str,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        default: bool = False,
    ) -> bool:
        """Whether ``flag`` is on for this user; ``default`` on any problem (never raises)."""
        # ``default`` is positional-or-keyword on purpose: CPython 3.11 does not specialise a
        # call to a function with keyword-only defaults (about 10 ns a call).
        try:
            # A flag whose answer is the same for everyone is stored as the bool itself: no
            # call. A missing flag is None once evaluated (_missed): one lookup, no exception.
            try:
                fn = self._snapshot.enabled_fns[flag]
            except KeyError:
                _missed(self._snapshot, flag)
                return default
            if fn is None:
                return default
            if fn is True or fn is False:
                return fn
            if type(attributes) is not dict and attributes is not None:
                attributes = as_context(attributes)
            return fn(user_id, attributes)
        except Exception:
            return default

    def variant(
        self,
        flag: str,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> str | None:
        """The chosen variant's name; None for basic flags and on any problem."""
        try:
            # the name itself when it is the same for everyone (None for a basic flag and for
            # a missing flag once evaluated), else the flag's select closure
            try:
                fn = self._snapshot.variant_fns[flag]
            except KeyError:
                _missed(self._snapshot, flag)
                return None
            if fn is None or type(fn) is str:
                return fn
            if type(attributes) is not dict and attributes is not None:
                attributes = as_context(attributes)
            return fn(user_id, attributes).name  # type: ignore[operator]  # not a str: select
        except Exception:
            return None

    # -- typed attribute access -----------------------------------------------------------

    def get_str(
        self,
        flag: str,
        attribute: str,
        default: str,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """A string attribute of the chosen variant (or basic flag), else ``default``."""
        return self._resolve(flag, attribute, default, "str", user_id, attributes).value  # type: ignore[no-any-return]

    def get_int(
        self,
        flag: str,
        attribute: str,
        default: int,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> int:
        """An integer attribute (booleans and floats are a TYPE_MISMATCH), else ``default``."""
        return self._resolve(flag, attribute, default, "int", user_id, attributes).value  # type: ignore[no-any-return]

    def get_float(
        self,
        flag: str,
        attribute: str,
        default: float,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> float:
        """A numeric attribute as float (integers widen), else ``default``."""
        return self._resolve(flag, attribute, default, "float", user_id, attributes).value  # type: ignore[no-any-return]

    def get_bool(
        self,
        flag: str,
        attribute: str,
        default: bool,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """A boolean attribute, else ``default``."""
        return self._resolve(flag, attribute, default, "bool", user_id, attributes).value  # type: ignore[no-any-return]

    def get_json(
        self,
        flag: str,
        attribute: str,
        default: Any = None,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Any:
        """Any attribute value as stored (arrays as tuples), else ``default``."""
        return self._resolve(flag, attribute, default, "json", user_id, attributes).value

    def details(
        self,
        flag: str,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        *,
        attribute: str | None = None,
        default: Any = None,
        kind: str = "json",
    ) -> EvaluationDetails[Any]:
        """The full answer: value, variant, reason, error code and document version.

        Without ``attribute`` the value is the flag's enabled state (``default`` defaults to
        False); with it, the attribute's value checked against ``kind`` (str, int, float,
        bool or json).
        """
        if attribute is None:
            return self._resolve(
                flag, None, False if default is None else default, "bool", user_id, attributes
            )
        return self._resolve(flag, attribute, default, kind, user_id, attributes)

    @property
    def version(self) -> str | None:
        """The version label of the document being served (None before the first)."""
        return self._snapshot.version

    def explain(
        self, flag: str, user_id: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> Explanation:
        """Why ``flag`` gives this answer: each rule, each split's bucket, the ramp's step and
        the next one, the guard. A tool, not the hot path; ``str()`` of it is the report
        ``flagkit explain`` prints. Raises KeyError for a flag the snapshot lacks.
        """
        from ._explain import explain

        snap = self._snapshot
        compiled = snap.flags[flag]
        context = as_context(attributes)
        return explain(
            compiled,
            user_id,
            context,
            user_key=snap.user_key,
            now=snap.wall(),
            version=snap.version,
        )

    def _resolve(
        self,
        flag: str,
        attribute: str | None,
        default: Any,
        kind: str,
        user_id: Any,
        attributes: Any,
    ) -> EvaluationDetails[Any]:
        snap = self._snapshot  # one read: the whole answer comes from this version
        version = snap.version
        try:
            if not snap.ready:
                return EvaluationDetails(
                    flag,
                    default,
                    Reason.ERROR,
                    None,
                    ErrorCode.PROVIDER_NOT_READY,
                    _NOT_READY,
                    version,
                )
            compiled = snap.flags.get(flag)
            if compiled is None:
                _misses.unknown_flag(snap, flag)
                return EvaluationDetails(
                    flag,
                    default,
                    Reason.ERROR,
                    None,
                    ErrorCode.FLAG_NOT_FOUND,
                    f"no flag {flag!r} in version {version!r}",
                    version,
                )
            try:
                context = as_context(attributes)
            except TypeError as exc:
                return EvaluationDetails(
                    flag, default, Reason.ERROR, None, ErrorCode.INVALID_CONTEXT, str(exc), version
                )
            outcome = compiled.select(user_id, context)
            if attribute is None:
                value: Any = outcome.enabled
            elif not outcome.enabled:
                return EvaluationDetails(
                    flag, default, Reason.DISABLED, outcome.name, None, None, version
                )
            elif attribute in outcome.values:
                value = outcome.values[attribute]
            elif attribute in compiled.attributes:
                return EvaluationDetails(
                    flag, default, Reason.DEFAULT, outcome.name, None, None, version
                )
            else:
                message = f"flag {flag!r} has no attribute {attribute!r}"
                _misses.warn(flag, "attribute", message)
                return EvaluationDetails(
                    flag,
                    default,
                    Reason.ERROR,
                    outcome.name,
                    ErrorCode.FLAG_NOT_FOUND,
                    message,
                    version,
                )
            checked = _CHECKS[kind](value)
            if checked is _MISMATCH:
                message = f"expected {kind}, found {type(value).__name__}"
                _misses.warn(flag, "type", f"flag {flag!r} attribute {attribute!r}: {message}")
                return EvaluationDetails(
                    flag,
                    default,
                    Reason.ERROR,
                    outcome.name,
                    ErrorCode.TYPE_MISMATCH,
                    message,
                    version,
                )
            return EvaluationDetails(
                flag, checked, outcome.reason, outcome.name, None, None, version
            )
        except Exception as exc:  # evaluation never raises: the default, with a reason
            # a flag evaluated elsewhere (AgentSource(evaluate="agent")) says what failed
            code = getattr(exc, "error_code", None)
            if isinstance(code, ErrorCode):
                return EvaluationDetails(flag, default, Reason.ERROR, None, code, str(exc), version)
            return EvaluationDetails(
                flag,
                default,
                Reason.ERROR,
                None,
                ErrorCode.GENERAL,
                f"unexpected {type(exc).__name__}",
                version,
            )


class FlagsView(_Evaluating):
    """Evaluations pinned to one snapshot: several flags read within a request agree."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def flag(self, key: str) -> FlagHandle:
        """A handle on ``key`` pinned to this view's snapshot, as every read of the view is.

        A new handle per call (a view lives for one request); it never moves. A key the
        snapshot lacks answers the caller's default, with one warning logged.
        """
        _check_key(key)
        handle = FlagHandle(self, key, self._snapshot)
        if handle._missing:
            _misses.unknown_flag(self._snapshot, key)
        return handle

    def __repr__(self) -> str:
        return f"FlagsView(version={self._snapshot.version!r})"
