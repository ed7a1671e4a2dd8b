"""Flag handles: one declared place per flag, re-pointed by its client at every swap.

``flags.flag("new-pricing-engine")`` returns a :class:`FlagHandle`. The handle holds, in two
slots, what the served snapshot holds for its key: the ``enabled`` answer (the bool itself, or
the compiled predicate) and the ``variant`` answer (the name itself, or the flag's compiled
``select``). An evaluation is one slot read and at most one call: no map lookup, no flag argument.

The client writes those slots for every live handle under its write lock, in the same step as
it swaps the snapshot (``Flags._apply_guard``): document swaps, alarm-guard overlays and test
overrides alike. Readers take no lock: each evaluation reads one slot, once, so it answers from
one version whatever swaps around it. A ramp needs no re-pointing: its gate reads the wall clock
inside the predicate. A handle of a :class:`~flagkit.FlagsView` is pointed once, at the view's
snapshot, and never moves.

With hooks installed (``Flags.add_hook``) the client switches its handles' class to
:class:`HookedFlagHandle`, whose ``enabled``/``variant`` call the client's hooked methods, so a
hook sees a handle's evaluation exactly as it sees ``flags.enabled(key, ...)``. The switch is
made when hooks are added or removed, never per call. ``details`` and the ``get_*`` getters
always go through the owner's methods (hooked or not): they are not the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._context import as_context

if TYPE_CHECKING:
    from ._client import _Evaluating
    from ._snapshot import Predicate, Selector, Snapshot
    from ._types import EvaluationDetails

__all__ = ["FlagHandle", "HookedFlagHandle"]


class FlagHandle:
    """One flag of one client: ``enabled``, ``variant``, ``details`` and the typed getters
    without the flag argument, and faster than the client's own methods.

    Get it from :meth:`Flags.flag <flagkit.Flags.flag>` (the same object for the same key, for
    as long as it is referenced) or :meth:`FlagsView.flag <flagkit.FlagsView.flag>` (pinned to
    the view's snapshot). It follows every document the client swaps in: a key the served
    document lacks answers the caller's default (``details()``: FLAG_NOT_FOUND), with one
    warning logged, and starts answering when a document adds the key.

        PRICING = flags.flag("new-pricing-engine")
        if PRICING.enabled(user_id, {"plan": "pro"}): ...

    Like the client, a handle never raises from an evaluation.
    """

    __slots__ = ("__weakref__", "_key", "_on", "_owner", "_variant")

    _on: Predicate | bool | None  # None: the snapshot lacks the key
    # the flag's select closure, or the variant's name itself when it is the same for every
    # context (None for a basic flag or a missing key)
    _variant: Selector | str | None

    def __init__(self, owner: _Evaluating, key: str, snapshot: Snapshot) -> None:
        self._key = key
        self._owner = owner
        self._point(snapshot)

    def _point(self, snapshot: Snapshot) -> None:
        """Take this key's answers from ``snapshot`` (None in both slots when it lacks the key).

        Called by the owner only: at creation, and by a client under its write lock at every
        swap. Each slot is one reference, and an evaluation reads one of them once.
        """
        key = self._key
        self._on = snapshot.enabled_fns.get(key)
        self._variant = snapshot.variant_fns.get(key)

    @property
    def key(self) -> str:
        """The flag key this handle evaluates."""
        return self._key

    # -- the hot path -------------------------------------------------------------------------

    def enabled(
        self,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        default: bool = False,
    ) -> bool:
        """Whether the flag is on for this user; ``default`` on any problem (never raises)."""
        on = self._on
        if on is None:  # the served document lacks the key (warned once when it went missing)
            return default
        if on is True or on is False:
            return on
        try:
            if type(attributes) is not dict and attributes is not None:
                attributes = as_context(attributes)
            return on(user_id, attributes)
        except Exception:
            return default

    def variant(
        self, user_id: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> str | None:
        """The chosen variant's name; None for basic flags, a missing key and on any problem."""
        select = self._variant
        if select is None or type(select) is str:
            return select
        try:
            if type(attributes) is not dict and attributes is not None:
                attributes = as_context(attributes)
            return select(user_id, attributes).name  # type: ignore[operator]  # not a str
        except Exception:
            return None

    # -- through the owner ----------------------------------------------------------------

    def details(
        self,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        *,
        attribute: str | None = None,
        default: Any = None,
        kind: str = "json",
    ) -> EvaluationDetails[Any]:
        """The full answer (as :meth:`Flags.details <flagkit.Flags.details>` for this key)."""
        return self._owner.details(
            self._key, user_id, attributes, attribute=attribute, default=default, kind=kind
        )

    def get_str(
        self,
        attribute: str,
        default: str,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """A string attribute of the chosen variant (or basic flag), else ``default``."""
        return self._owner.get_str(self._key, attribute, default, user_id, attributes)

    def get_int(
        self,
        attribute: str,
        default: int,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> int:
        """An integer attribute (booleans and floats are a TYPE_MISMATCH), else ``default``."""
        return self._owner.get_int(self._key, attribute, default, user_id, attributes)

    def get_float(
        self,
        attribute: str,
        default: float,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> float:
        """A numeric attribute as float (integers widen), else ``default``."""
        return self._owner.get_float(self._key, attribute, default, user_id, attributes)

    def get_bool(
        self,
        attribute: str,
        default: bool,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """A boolean attribute, else ``default``."""
        return self._owner.get_bool(self._key, attribute, default, user_id, attributes)

    def get_json(
        self,
        attribute: str,
        default: Any = None,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Any:
        """Any attribute value as stored (arrays as tuples), else ``default``."""
        return self._owner.get_json(self._key, attribute, default, user_id, attributes)

    def __copy__(self) -> FlagHandle:
        return self  # a copy would never be re-pointed: there is one handle per key

    def __deepcopy__(self, memo: dict[int, Any]) -> FlagHandle:
        return self

    def __repr__(self) -> str:
        found = "" if self._on is not None else ", missing"
        return f"FlagHandle({self._key!r}{found}, version={self._owner.version!r})"


class HookedFlagHandle(FlagHandle):
    """A handle of a client with hooks: ``enabled``/``variant`` run the client's hooked
    methods, so every hook sees the evaluation as it sees ``flags.enabled(key, ...)``."""

    __slots__ = ()

    def enabled(
        self,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        default: bool = False,
    ) -> bool:
        """Whether the flag is on for this user; ``default`` on any problem (never raises)."""
        return self._owner.enabled(self._key, user_id, attributes, default)

    def variant(
        self, user_id: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> str | None:
        """The chosen variant's name; None for basic flags, a missing key and on any problem."""
        return self._owner.variant(self._key, user_id, attributes)
