"""Flag handles: one declared place per flag, re-pointed by its client at every swap.

``flags.flag("new-pricing-engine")`` returns a :class:`FlagHandle`. The handle holds what the
served snapshot holds for its key: the ``enabled`` answer (the bool itself, or the compiled
predicate) and the ``variant`` answer (the name itself, or the flag's compiled ``select``). Its
class is chosen by that shape when it is re-pointed (structlog's "decide at build time"): a
missing key's ``enabled`` returns the default, a constant's returns its bool, a rule's calls
the predicate. An evaluation is one slot read and at most one call: no map lookup, no flag
argument, no test of what the slot holds.

The client writes those slots for every live handle under its write lock, in the same step as
it swaps the snapshot (``Flags._apply_guard``): document swaps, alarm-guard overlays and test
overrides alike. Readers take no lock: each evaluation reads one slot, once, so it answers from
one version whatever swaps around it (``FlagHandle._point`` says why switching the class keeps
that true). A ramp needs no re-pointing: its gate reads the wall clock inside the predicate. A
handle of a :class:`~flagkit.FlagsView` is pointed once, at the view's snapshot, and never moves.

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
    from ._evaluating import _Evaluating
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

    Like the client, a handle never raises from an evaluation. Every handle is an instance of
    this class; its exact class (a private subclass per shape) changes as documents change.
    """

    __slots__ = (
        "__weakref__",
        "_fn",
        "_key",
        "_name",
        "_owner",
        "_plain",
        "_select",
        "_value",
    )

    # One slot per shape, each written only with its own type and never cleared: see _point.
    _value: bool  # a constant enabled answer
    _fn: Predicate  # a compiled enabled predicate
    _name: str | None  # a constant variant answer (None for a basic flag)
    _select: Selector  # a compiled select
    _plain: type[FlagHandle]  # the shape class (what the handle is whenever not hooked)

    def __init__(self, owner: _Evaluating, key: str, snapshot: Snapshot) -> None:
        self._key = key
        self._owner = owner
        self._point(snapshot)

    def _point(self, snapshot: Snapshot) -> None:
        """Take this key's answers from ``snapshot`` and switch to the class of their shape.

        Called by the owner only: at creation, and by a client under its write lock at every
        swap (never by two threads at once). An evaluation takes no lock and may run in
        another thread meanwhile: it finds its method on the class the handle has when it
        is called, and reads that class's slot a moment later. Hence three rules. Each shape
        class reads its own slot, which only ever holds that shape's type; a new answer is
        written into its slot before the class changes; no slot is ever cleared. So an
        evaluation racing a swap reads a slot of the type its method expects, holding the
        answer of a version served at some moment during the call (the old one, or the new
        one if it already sees the new class or the shape is unchanged): never a bool
        called as a predicate, never an unset slot. The price: a handle keeps the last
        predicate and select it held until a new one replaces it (one of each at most). A
        hooked handle keeps its class (it evaluates through its owner); ``_plain`` is the
        class it returns to unhooked.
        """
        key = self._key
        on = snapshot.enabled_fns.get(key)
        select = snapshot.variant_fns.get(key)
        plain: type[FlagHandle] = FlagHandle  # the key is missing: both answers are fixed
        if on is not None:
            if isinstance(on, bool):
                self._value = on
            else:
                self._fn = on
            if select is None or isinstance(select, str):
                self._name = select
            else:
                self._select = select
            plain = _SHAPES[isinstance(on, bool), not callable(select)]
        self._plain = plain
        if type(self) is not HookedFlagHandle:
            self.__class__ = plain

    @property
    def _missing(self) -> bool:
        """The snapshot it was last pointed at lacks the key (the client warns; repr says so)."""
        return self._plain is FlagHandle

    @property
    def key(self) -> str:
        """The flag key this handle evaluates."""
        return self._key

    # -- the hot path -------------------------------------------------------------------------
    # This class answers for a key the snapshot lacks; the shape subclasses below override
    # each method with the one that serves their shape, so no call tests what it holds.

    def enabled(
        self,
        user_id: Any = None,
        attributes: Mapping[str, Any] | None = None,
        default: bool = False,
    ) -> bool:
        """Whether the flag is on for this user; ``default`` on any problem (never raises)."""
        return default  # the served document lacks the key (warned once when it went missing)

    def variant(
        self, user_id: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> str | None:
        """The chosen variant's name; None for basic flags, a missing key and on any problem."""
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
        found = ", missing" if self._missing else ""
        return f"FlagHandle({self._key!r}{found}, version={self._owner.version!r})"


# -- one class per shape (the enabled answer x the variant answer) ------------------------------
# All have FlagHandle's slots and add none, so that _point can switch between them. Each method
# is written once, below, and set in the dict of every class that uses it: inherited from a
# shape base class instead, the same code measured 1-2 % slower in a side-by-side call-site
# loop (S2, S3; CPython 3.11). They keep FlagHandle's signatures and docstrings.


def _constant_enabled(
    self: FlagHandle,
    user_id: Any = None,
    attributes: Mapping[str, Any] | None = None,
    default: bool = False,
) -> bool:
    """Whether the flag is on for this user; ``default`` on any problem (never raises)."""
    return self._value


def _rule_enabled(
    self: FlagHandle,
    user_id: Any = None,
    attributes: Mapping[str, Any] | None = None,
    default: bool = False,
) -> bool:
    """Whether the flag is on for this user; ``default`` on any problem (never raises)."""
    try:
        if type(attributes) is not dict and attributes is not None:
            attributes = as_context(attributes)
        return self._fn(user_id, attributes)
    except Exception:
        return default


def _fixed_variant(
    self: FlagHandle, user_id: Any = None, attributes: Mapping[str, Any] | None = None
) -> str | None:
    """The chosen variant's name; None for basic flags, a missing key and on any problem."""
    return self._name


def _selected_variant(
    self: FlagHandle, user_id: Any = None, attributes: Mapping[str, Any] | None = None
) -> str | None:
    """The chosen variant's name; None for basic flags, a missing key and on any problem."""
    try:
        if type(attributes) is not dict and attributes is not None:
            attributes = as_context(attributes)
        return self._select(user_id, attributes).name
    except Exception:
        return None


class _ConstantFixed(FlagHandle):
    __slots__ = ()
    enabled = _constant_enabled
    variant = _fixed_variant


class _ConstantSelected(FlagHandle):
    __slots__ = ()
    enabled = _constant_enabled
    variant = _selected_variant


class _RuleFixed(FlagHandle):
    __slots__ = ()
    enabled = _rule_enabled
    variant = _fixed_variant


class _RuleSelected(FlagHandle):
    __slots__ = ()
    enabled = _rule_enabled
    variant = _selected_variant


# (enabled is constant, variant is fixed) -> the class
_SHAPES: dict[tuple[bool, bool], type[FlagHandle]] = {
    (True, True): _ConstantFixed,
    (True, False): _ConstantSelected,
    (False, True): _RuleFixed,
    (False, False): _RuleSelected,
}


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
