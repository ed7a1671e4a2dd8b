"""Test data and overrides for application tests: build documents in code, force flags.

Two tools, both built on flagkit's own pipeline (nothing here evaluates differently from
production):

* :class:`FlagData` builds an AppConfig **stored document** in code — basic flags, variants
  with rules, percentage rollouts — and :meth:`FlagData.source` serves it as a
  :class:`~flagkit.Source` whose document changes when the builder does (``flags.refresh()``
  picks the change up). Every change is validated at once: a bad rule raises
  :class:`~flagkit.RuleError` on the line that made it.
* :func:`override` forces flags on an existing :class:`~flagkit.Flags` for the duration of a
  ``with`` block: it swaps in a snapshot with the forced flags laid over the current ones
  and swaps the plain one back on exit.

Thread-safety: a :class:`FlagData` may be changed from one thread while a poller reads it (one
lock guards the builder). :func:`override` changes the whole client, not one thread: every
thread evaluating through that ``Flags`` sees the override (readers stay lock-free and see
either the old or the new snapshot, never a mix). Tests running in parallel threads should
each use their own ``Flags``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from flagkit._client import Flags
from flagkit._document.appconfig import check_state, load_document
from flagkit._document.spec import FlagSpec, VariantSpec
from flagkit._snapshot import Snapshot, build_snapshot
from flagkit._sources.base import Fetched, content_version

__all__ = ["FlagBuilder", "FlagData", "FlagDataSource", "override"]

_MARK = "flagkit.testing.override"  # Snapshot.meta key of an overlaid snapshot


class FlagBuilder:
    """One flag of a :class:`FlagData`; every method changes the data at once and chains."""

    def __init__(self, data: FlagData, key: str) -> None:
        self._data = data
        self.key = key

    def on(self, **values: Any) -> FlagBuilder:
        """A basic flag, enabled, with these attribute values."""
        return self._set({"enabled": True, "values": values})

    def off(self, **values: Any) -> FlagBuilder:
        """A basic flag, disabled, with these attribute values."""
        return self._set({"enabled": False, "values": values})

    def variant(self, name: str, *, rule: str, enabled: bool = True, **values: Any) -> FlagBuilder:
        """Add a variant chosen when ``rule`` (an AppConfig rule) is true; order is kept."""
        return self._add_variant({"name": name, "enabled": enabled, "rule": rule}, values)

    def rollout(
        self,
        name: str,
        pct: float,
        *,
        by: str = "userId",
        seed: str | None = None,
        enabled: bool = True,
        **values: Any,
    ) -> FlagBuilder:
        """Add a variant served to ``pct`` percent of ``by`` (a real ``split`` rule)."""
        rule = f"(split pct::{pct} by::${by}" + (f" seed::{json.dumps(seed)})" if seed else ")")
        return self._add_variant({"name": name, "enabled": enabled, "rule": rule}, values)

    def default(self, name: str, *, enabled: bool = False, **values: Any) -> FlagBuilder:
        """The variant served when no rule matches (AppConfig's last variant)."""
        with self._data._lock:
            state = self._variants_state()
            new = {**state, "default": {"name": name, "enabled": enabled, "values": values}}
            return self._set(new)

    def serve(self, name: str, *, enabled: bool = True, **values: Any) -> FlagBuilder:
        """Serve variant ``name`` to everyone: a multi-variant flag with only a default."""
        return self._set(
            {"variants": [], "default": {"name": name, "enabled": enabled, "values": values}}
        )

    def remove(self) -> None:
        """Take the flag out of the document (evaluations then say FLAG_NOT_FOUND)."""
        self._data._remove(self.key)

    # -- internals ------------------------------------------------------------------------

    def _variants_state(self) -> dict[str, Any]:
        state = self._data._flags.get(self.key)
        if state is None or "variants" not in state:
            return {"variants": [], "default": None}
        return state

    def _add_variant(self, head: dict[str, Any], values: dict[str, Any]) -> FlagBuilder:
        with self._data._lock:
            state = self._variants_state()
            new = {**state, "variants": [*state["variants"], {**head, "values": values}]}
            return self._set(new)

    def _set(self, state: dict[str, Any]) -> FlagBuilder:
        self._data._put(self.key, copy.deepcopy(state))
        return self


class FlagData:
    """Flags declared in code, served as an AppConfig stored document.

    data = FlagData()
    data.flag("checkout").on(color="blue")
    data.flag("pricing").variant("gold", rule='(eq $tier "gold")', price=5)
    data.flag("pricing").rollout("canary", 10, price=7).default("control", price=10)
    flags = flagkit.Flags(data.source())
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._flags: dict[str, dict[str, Any]] = {}

    def flag(self, key: str) -> FlagBuilder:
        """The builder for flag ``key`` (created as a disabled basic flag if new)."""
        with self._lock:
            if key not in self._flags:
                self._put(key, {"enabled": False, "values": {}})
        return FlagBuilder(self, key)

    def document(self) -> dict[str, Any]:
        """The AppConfig stored document (``{"version": "1", "flags": ..., "values": ...}``)."""
        with self._lock:
            return _stored_document(self._flags)

    def source(self) -> FlagDataSource:
        """A source serving :meth:`document`; after a change, ``flags.refresh()`` swaps it in."""
        return FlagDataSource(self)

    def flags(self, **options: Any) -> Flags:
        """A :class:`~flagkit.Flags` over :meth:`source`, loaded, with no poller thread."""

        flags = Flags(self.source(), start=False, wait=0, **options)
        flags.refresh()
        return flags

    def specs(self) -> tuple[FlagSpec, ...]:
        """The document normalised as flagkit loads it."""

        return load_document(self.document())

    # -- internals ------------------------------------------------------------------------

    def _put(self, key: str, state: dict[str, Any]) -> None:
        with self._lock:
            # Validate this one flag now, so a mistake raises where it was made.
            build_snapshot(load_document(_stored_document({key: state})), version=None)
            self._flags[key] = state

    def _remove(self, key: str) -> None:
        with self._lock:
            self._flags.pop(key, None)

    def __repr__(self) -> str:
        with self._lock:
            return f"FlagData(flags={sorted(self._flags)!r})"


def _stored_document(flags: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, state in flags.items():
        if "variants" in state:
            variants = list(state["variants"])
            default = state["default"] or {"name": "off", "enabled": False, "values": {}}
            names = {n for v in [*variants, default] for n in v["values"]}
            values[key] = {
                "_variants": [
                    {
                        "name": v["name"],
                        "enabled": v["enabled"],
                        **({"rule": v["rule"]} if v.get("rule") else {}),
                        "attributeValues": dict(v["values"]),
                    }
                    for v in [*variants, default]
                ]
            }
        else:
            names = set(state["values"])
            values[key] = {"enabled": state["enabled"], **state["values"]}
        defs[key] = {"attributes": {name: {} for name in sorted(names)}}
    return {"version": "1", "flags": defs, "values": values}


class FlagDataSource:
    """A :class:`~flagkit.Source` over a :class:`FlagData`: the newest document, or unchanged.

    ``poll_after`` is None by default (the poller thread stops after the first document and
    tests call ``flags.refresh()``); give a number to have a running poller look again.
    """

    def __init__(self, data: FlagData, *, poll_after: float | None = None) -> None:
        self.data = data
        self.poll_after = poll_after
        self._version: str | None = None

    def fetch(self) -> Fetched:
        """The FlagData's current document as JSON, versioned by its content hash."""
        body = json.dumps(self.data.document(), sort_keys=True).encode()
        version = content_version(body)
        if version == self._version:
            return Fetched(None, "application/json", version, self.poll_after)
        self._version = version
        return Fetched(body, "application/json", version, self.poll_after)

    def __repr__(self) -> str:
        return f"FlagDataSource({self.data!r})"


# -- overrides on a live client ---------------------------------------------------------------


class _Overlays:
    """The override layers active on one client, and the plain snapshot beneath them."""

    def __init__(self, flags: Flags) -> None:
        self.lock = threading.RLock()
        self.layers: list[Snapshot] = []
        self.base: Snapshot = flags._base
        self.flags_ref = weakref.ref(flags)

    def on_swap(self, old_version: str | None, new_version: str | None) -> None:
        """A change listener: the poller swapped in a new document; lay the overrides over it."""
        flags = self.flags_ref()
        if flags is None:
            return
        with self.lock:
            current = flags._base  # the document, not an alarm guard's view of it
            if _MARK in current.meta:
                return  # our own swap
            self.base = current
            if self.layers:
                flags._publish(self._compose())

    def _compose(self) -> Snapshot:

        merged = dict(self.base.flags)
        enabled = dict(self.base.enabled_fns)
        for layer in self.layers:
            merged.update(layer.flags)
            enabled.update(layer.enabled_fns)
        return Snapshot(
            flags=merged,
            enabled_fns=enabled,
            version=self.base.version,
            meta={_MARK: True},
            user_key=self.base.user_key,
            wall=self.base.wall,
        )

    def push(self, layer: Snapshot) -> None:
        flags = self.flags_ref()
        assert flags is not None
        with self.lock:
            if _MARK not in flags._base.meta:
                self.base = flags._base
            self.layers.append(layer)
            flags._publish(self._compose())

    def pop(self, layer: Snapshot) -> None:
        flags = self.flags_ref()
        if flags is None:
            return
        with self.lock:
            self.layers = [lay for lay in self.layers if lay is not layer]
            flags._publish(self._compose() if self.layers else self.base)


_registry: weakref.WeakKeyDictionary[Flags, _Overlays] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _overlays(flags: Flags) -> _Overlays:
    with _registry_lock:
        state = _registry.get(flags)
        if state is None:
            state = _Overlays(flags)
            _registry[flags] = state
            flags.on_change(state.on_swap)
        return state


Forced = bool | str | Mapping[str, Any]


@contextlib.contextmanager
def override(flags: Flags, changes: Mapping[str, Forced] | FlagData) -> Iterator[Flags]:
    """Force flags on ``flags`` inside the ``with`` block; the plain flags return on exit.

    ``changes`` maps flag keys to:

    * ``True`` / ``False`` — the flag becomes a basic flag in that state, keeping the
      attribute values of its default variant (so typed reads keep answering);
    * a variant name (``str``) — everyone gets that existing variant (reason ``DEFAULT``);
    * a mapping ``{"enabled": bool, "<attribute>": value, ...}`` — exactly that state;

    or it is a :class:`FlagData`, whose flags (rules and rollouts included) replace the
    client's flags of the same keys. Flags not named keep evaluating as before. A document
    the poller swaps in meanwhile keeps the overrides on top. Overrides nest; they can also
    be left out of order. A bad change raises here (``ValueError`` or ``DocumentError``).
    """
    state = _overlays(flags)
    specs = _forced_specs(flags, changes)

    layer = build_snapshot(specs, version=None, user_key=flags._poller.user_key)
    state.push(layer)
    try:
        yield flags
    finally:
        state.pop(layer)


def _forced_specs(flags: Flags, changes: Mapping[str, Forced] | FlagData) -> tuple[FlagSpec, ...]:

    if isinstance(changes, FlagData):
        return changes.specs()

    current = flags._snapshot.flags  # what the caller sees now (outer overrides included)
    specs: list[FlagSpec] = []
    for key, forced in changes.items():
        existing = current.get(key)
        if isinstance(forced, bool):
            default = existing.outcomes[-1] if existing is not None else None
            values = default.values if default is not None else {}
            attrs = existing.attributes if existing is not None else frozenset(values)
            only = VariantSpec(None, forced, None, values)
            specs.append(FlagSpec(key, (only,), attrs, multi_variant=False))
        elif isinstance(forced, str):
            if existing is None:
                raise ValueError(f"cannot force variant {forced!r}: there is no flag {key!r}")
            chosen = next((o for o in existing.outcomes if o.name == forced), None)
            if chosen is None:
                names = [o.name for o in existing.outcomes]
                raise ValueError(f"flag {key!r} has no variant {forced!r}; it has {names}")
            only = VariantSpec(chosen.name, chosen.enabled, None, chosen.values)
            specs.append(FlagSpec(key, (only,), existing.attributes, multi_variant=True))
        elif isinstance(forced, Mapping):
            enabled, values = check_state(key, "", dict(forced), allow_variant=False)
            only = VariantSpec(None, enabled, None, values)
            specs.append(FlagSpec(key, (only,), frozenset(values), multi_variant=False))
        else:
            raise TypeError(
                f"override for {key!r} must be a bool, a variant name or a mapping, "
                f"not {type(forced).__name__}"
            )
    return tuple(specs)
