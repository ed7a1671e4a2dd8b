"""Migrating from aws-lambda-powertools ``feature_flags`` (docs/powertools.md).

    from flagkit.powertools import FeatureFlags

    feature_flags = FeatureFlags(schema)          # was: FeatureFlags(store=AppConfigStore(...))
    feature_flags.evaluate(name="premium", context={"tier": "gold"}, default=False)

* :func:`compile_schema` validates a Powertools schema as Powertools does and compiles it into
  a flagkit snapshot with Powertools' semantics (every action, MODULO_RANGE and SCHEDULE_*
  included), through the same document stage and rule compiler as AppConfig documents;
  :func:`view` wraps it in a :class:`~flagkit.FlagsView` with flagkit's API
  (``enabled``, ``details``, ``get_json(name, "value", ...)``).
* :class:`FeatureFlags` keeps Powertools' calls, ``evaluate``, ``get_enabled_features`` and
  ``get_configuration``, over a schema (``envelope=`` selects it in a larger document), a
  Powertools store (``store=``, any :class:`StoreProvider`), a view or any flagkit client.
* :func:`media_type` is the content type a source serves a schema under (with its envelope).
* :func:`to_appconfig` converts what AppConfig's rule language can express into a stored
  document, and says precisely what it cannot.

aws-lambda-powertools itself is not needed at run time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from ._document.powertools import ENVELOPE, MEDIA_TYPE, VALUE, read_schema, unwrap
from ._evaluating import FlagsView, _Evaluating
from ._exceptions import DocumentError
from ._rules.internal_ops import PowertoolsUserWarning
from ._snapshot import Snapshot, build_snapshot, snapshot_from_bytes

__all__ = [
    "MEDIA_TYPE",
    "Conversion",
    "FeatureFlags",
    "PowertoolsUserWarning",
    "StoreProvider",
    "compile_schema",
    "load_snapshot",
    "media_type",
    "to_appconfig",
    "view",
]

log = logging.getLogger("flagkit.powertools")


def media_type(envelope: str | None = None) -> str:
    """The content type of a served schema, with Powertools' ``envelope`` if one is given.

    ``AppConfigSource(..., content_type=media_type("features"))`` polls a freeform profile whose
    schema sits at ``features`` of a larger document, as ``AppConfigStore(envelope=...)`` reads
    it (with Powertools' default JMESPath functions; extra ``[powertools]``).
    """
    if not envelope:
        return MEDIA_TYPE
    quoted = envelope.replace("\\", "\\\\").replace('"', '\\"')
    return f'{MEDIA_TYPE}; {ENVELOPE}="{quoted}"'


def _schema(schema: Any, envelope: str | None, jmespath_options: Mapping[str, Any] | None) -> Any:
    """The schema a document holds: any Mapping as a dict, then the envelope applied."""
    if envelope:
        schema = unwrap(_as_dict(schema), envelope, jmespath_options)
    return _as_dict(schema)  # anything but a Mapping is refused as it is


def _as_dict(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) and not isinstance(value, dict) else value


def compile_schema(
    schema: Any,
    *,
    version: str | None = None,
    clock: Callable[[], float] = time.time,
    envelope: str | None = None,
    jmespath_options: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Validate a Powertools schema as Powertools does and compile it; raises DocumentError.

    ``clock`` is the wall clock the SCHEDULE_* actions read. ``envelope`` (a JMESPath
    expression, with Powertools' ``jmespath_options``) selects the schema inside a larger
    document, as ``AppConfigStore(envelope=...)`` does (extra ``[powertools]``).
    """
    specs = read_schema(_schema(schema, envelope, jmespath_options))
    return build_snapshot(specs, version=version, wall=clock)


def view(
    schema: Mapping[str, Any],
    *,
    clock: Callable[[], float] = time.time,
    envelope: str | None = None,
    jmespath_options: Mapping[str, Any] | None = None,
) -> FlagsView:
    """A :class:`~flagkit.FlagsView` over a Powertools schema (validated and compiled once)."""
    schema = _schema(schema, envelope, jmespath_options)
    snapshot = compile_schema(schema, clock=clock)  # refused before it is hashed
    return FlagsView(replace(snapshot, version=_version_of(schema)))


def load_snapshot(
    body: bytes | str,
    *,
    version: str | None = None,
    max_bytes: int | None = None,
    envelope: str | None = None,
) -> Snapshot:
    """Parse a Powertools schema document (JSON) and compile it; raises DocumentError only.

    The document passes the same door, and limits, as one a source serves as
    :func:`media_type(envelope) <media_type>`.
    """
    return snapshot_from_bytes(
        body, content_type=media_type(envelope), version=version, max_bytes=max_bytes
    )


def _version_of(schema: Any) -> str:
    from ._sources.base import content_version

    return content_version(_canonical(schema).encode())


def _canonical(value: Any) -> str:
    """Text that differs when values differ, for any value a schema can hold (never raises).

    JSON for what JSON can hold; a dict key keeps its type (``{1: "a"}`` is not
    ``{"1": "a"}``), and anything JSON cannot hold is named by its type and ``repr``.
    """
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return json.dumps(value)
    if kind is list:
        return "[" + ",".join(map(_canonical, value)) + "]"
    if kind is dict:
        items = sorted(f"{_canonical(k)}:{_canonical(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    try:
        shown = repr(value)
    except Exception:  # a repr that raises
        shown = f"at {id(value):#x}"
    return f"<{kind.__module__}.{kind.__qualname__} {shown}>"


_NO_FLAGS: Any = object()


@runtime_checkable
class StoreProvider(Protocol):
    """Powertools' store seam: anything with ``get_configuration()`` returning the schema.

    Powertools' own stores (``AppConfigStore``, a subclass of its ``StoreProvider``) qualify,
    and so does any object with this one method.
    """

    def get_configuration(self) -> Any:
        """The schema, as a dict (the store's cache decides how often it fetches)."""


class FeatureFlags:
    """Powertools' ``FeatureFlags`` calls over flagkit (same results, compiled once).

    Args:
        flags: a Powertools schema (a dict), or any flagkit client or view whose flags came
            from one (``view(schema)``, or a ``Flags`` whose source serves :data:`MEDIA_TYPE`).
        store: instead of ``flags``, a Powertools store (:class:`StoreProvider`): asked for the
            schema on every call, as Powertools asks; the schema is compiled again only when
            the store returns a different object.
        envelope, jmespath_options: with a schema, select it inside a larger document, as
            ``AppConfigStore(envelope=..., jmespath_options=...)`` does (extra ``[powertools]``).
    """

    def __init__(
        self,
        flags: Any = _NO_FLAGS,
        *,
        store: StoreProvider | None = None,
        envelope: str | None = None,
        jmespath_options: Mapping[str, Any] | None = None,
    ) -> None:
        if (flags is _NO_FLAGS) == (store is None):
            raise TypeError("FeatureFlags takes a schema or a flagkit client, or store=")
        if store is None and isinstance(flags, StoreProvider) and not isinstance(flags, Mapping):
            store = flags  # FeatureFlags(AppConfigStore(...)), as in Powertools
        self._store = store
        self._schema: Any = None
        # (the store's last object, its view or the last good one, its refusal): one reference
        self._compiled: tuple[Any, FlagsView | None, DocumentError | None] = (None, None, None)
        if store is not None:
            if envelope or jmespath_options:
                raise TypeError("a store applies its own envelope")
            return
        if isinstance(flags, _Evaluating):
            if envelope or jmespath_options:
                raise TypeError("an envelope applies to a schema, not to a flagkit client")
            self.flags: _Evaluating = flags
            return
        self._schema = _schema(flags, envelope, jmespath_options)
        self.flags = view(self._schema)

    def get_configuration(self) -> dict[str, Any]:
        """The validated schema, as Powertools' ``get_configuration()`` returns it.

        Raises DocumentError for a schema Powertools refuses (Powertools:
        SchemaValidationError) and whatever the store raises. A flagkit client holds compiled
        flags, not the schema: ask its source (``TypeError`` here).
        """
        if self._store is not None:
            config = self._store.get_configuration()
            self._load(config, quiet=False)
            return config  # type: ignore[no-any-return]
        if self._schema is None:
            raise TypeError(
                "FeatureFlags over a flagkit client holds compiled flags, not the schema: "
                "read it from the client's source"
            )
        return self._schema  # type: ignore[no-any-return]

    def _view(self) -> _Evaluating | None:
        if self._store is None:
            return self.flags
        try:
            config = self._store.get_configuration()
        except Exception as exc:  # Powertools: the caller's default (evaluation never raises)
            log.warning("flagkit: the Powertools store failed: %s", type(exc).__name__)
            return None
        return self._load(config, quiet=True)

    def _load(self, config: Any, *, quiet: bool) -> FlagsView | None:
        last, compiled, refused = self._compiled
        if config is not last:  # a store's cache hands back the same object until it expires
            try:
                compiled, refused = view(config), None
            except DocumentError as exc:
                # Powertools raises SchemaValidationError from evaluate; flagkit keeps the last
                # good schema, as a polling client does, and remembers this one as refused.
                log.warning("flagkit: refused the Powertools store's schema: %s", exc)
                refused = exc
            self._compiled = (config, compiled, refused)
        if refused is not None and not quiet:
            raise refused
        return compiled

    def evaluate(self, *, name: str, context: Mapping[str, Any] | None = None, default: Any) -> Any:
        """The feature's value for ``context``; ``default`` when there is no such feature."""
        flags = self._view()
        compiled = None if flags is None else flags._snapshot.flags.get(name)
        if compiled is None:
            return default
        try:
            ctx = context if context is None or type(context) is dict else dict(context)
            return compiled.select(None, ctx).values.get(VALUE, default)
        except Exception:  # evaluation never raises
            return default

    def get_enabled_features(self, *, context: Mapping[str, Any] | None = None) -> list[str]:
        """Every feature whose value is truthy for ``context``, in schema order."""
        flags = self._view()
        if flags is None:
            return []
        snap = flags._snapshot  # one read: every feature from the same version
        ctx = context if context is None or type(context) is dict else dict(context)
        enabled = []
        for name, compiled in snap.flags.items():
            try:
                if compiled.select(None, ctx).values.get(VALUE):
                    enabled.append(name)
            except Exception:  # noqa: S112 - one odd feature must not hide the others
                continue
        return enabled


# -- conversion to AppConfig --------------------------------------------------------------------

_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLAG_KEY = re.compile(r"[a-z][a-zA-Z\d_-]{0,63}", re.ASCII)
_ORDER = {
    "KEY_GREATER_THAN_VALUE": "gt",
    "KEY_GREATER_THAN_OR_EQUAL_VALUE": "gte",
    "KEY_LESS_THAN_VALUE": "lt",
    "KEY_LESS_THAN_OR_EQUAL_VALUE": "lte",
}


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`to_appconfig`.

    ``document`` holds every feature that converted; ``skipped`` maps each feature that did not
    to the reason. A converted feature gives the same answers as Powertools for contexts whose
    values have the JSON type of the condition values they meet (strings for string values,
    numbers for numbers, lists for the list actions): AppConfig rules coerce (``"65"`` equals
    ``65``) where Powertools compares Python values strictly (docs/powertools.md).
    """

    document: dict[str, Any]
    skipped: Mapping[str, str] = field(default_factory=dict)


class _Inexpressible(Exception):
    pass


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise _Inexpressible(f"integer {value} is outside the rule language's 64-bit range")
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise _Inexpressible(f"{type(value).__name__} value {value!r:.40} has no rule literal")


def _list(values: Any) -> str:
    if not isinstance(values, list):
        raise _Inexpressible("a string or object as the collection is not expressible")
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _present(key: str, expr: str) -> str:
    # Powertools: a missing key fails every condition, negated ones included.
    return f"(and (exists key::{json.dumps(key)}) {expr})"


def _rule(cond: Mapping[str, Any]) -> str:
    action, key, value = cond["action"], cond["key"], cond["value"]
    if action.startswith("SCHEDULE_"):
        raise _Inexpressible(f"{action}: AppConfig rules cannot read the clock")
    if action == "MODULO_RANGE":
        raise _Inexpressible(
            "MODULO_RANGE: AppConfig has no modulo; (split pct::P by::$key) hashes instead and "
            "would serve different users"
        )
    if action == "ALL_IN_VALUE":
        raise _Inexpressible("ALL_IN_VALUE: the rule language has no 'every element'")
    if not _REF.fullmatch(key):
        raise _Inexpressible(f"context key {key!r} is not a rule identifier")
    ref = f"${key}"
    if action == "EQUALS":
        return f"(eq {ref} {_literal(value)})"
    if action == "NOT_EQUALS":
        return _present(key, f"(not (eq {ref} {_literal(value)}))")
    if action in _ORDER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Inexpressible(f"{action} on a {type(value).__name__}: rules order numbers only")
        return f"({_ORDER[action]} {ref} {_literal(value)})"
    if action in {"STARTSWITH", "ENDSWITH"}:
        if not isinstance(value, str):
            raise _Inexpressible(f"{action} with a non-string value")
        op = "begins_with" if action == "STARTSWITH" else "ends_with"
        return f"({op} {ref} {_literal(value)})"
    if action in {"IN", "KEY_IN_VALUE"}:
        return f"(in {ref} {_list(value)})"
    if action in {"NOT_IN", "KEY_NOT_IN_VALUE"}:
        return _present(key, f"(not (in {ref} {_list(value)}))")
    if action == "VALUE_IN_KEY":
        return f"(contains {ref} {_literal(value)})"
    if action == "VALUE_NOT_IN_KEY":
        return _present(key, f"(not (contains {ref} {_literal(value)}))")
    if action in {"ANY_IN_VALUE", "NONE_IN_VALUE"}:
        items = [f"(contains {ref} {_literal(v)})" for v in value]
        anyof = f"(or {' '.join(items)})" if items else f"(in {ref} [])"  # [] is never true
        return anyof if action == "ANY_IN_VALUE" else _present(key, f"(not {anyof})")
    raise _Inexpressible(f"unknown action {action!r}")  # pragma: no cover - validated before


def _attribute_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and (
        all(isinstance(v, str) for v in value)
        or all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return value
    raise _Inexpressible(
        "a non-boolean value must be a string, number, boolean or a list of strings or of "
        f"numbers to be an AppConfig attribute; found {json.dumps(value)[:60]}"
    )


def _feature(name: str, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if not _FLAG_KEY.fullmatch(name):
        raise _Inexpressible(f"{name!r} is not an AppConfig flag key ({_FLAG_KEY.pattern})")
    boolean = bool(raw.get("boolean_type", True))
    rules = raw.get("rules") or {}

    def state(value: Any) -> tuple[bool, dict[str, Any]]:
        if boolean:
            return bool(value), {}
        return bool(value), {VALUE: _attribute_value(value)}

    definition: dict[str, Any] = {"name": name[:64]}
    if not boolean:
        definition["attributes"] = {VALUE: {}}
    if not rules:
        enabled, values = state(raw["default"])
        return definition, {"enabled": enabled, **values}
    if len(rules) + 1 > 32:
        raise _Inexpressible(f"{len(rules)} rules: AppConfig allows at most 31 plus the default")
    variants = []
    for rule_name, rule in rules.items():
        if len(rule_name) > 64:
            raise _Inexpressible(f"rule name {rule_name[:20]!r}... is over 64 characters")
        exprs = [_rule(c) for c in rule["conditions"]]
        text = exprs[0] if len(exprs) == 1 else f"(and {' '.join(exprs)})"
        enabled, values = state(rule["when_match"])
        variants.append(
            {"name": rule_name, "enabled": enabled, "rule": text, "attributeValues": values}
        )
    enabled, values = state(raw["default"])
    default_name = "default" if "default" not in rules else "default (no rule matched)"
    variants.append({"name": default_name, "enabled": enabled, "attributeValues": values})
    return definition, {"_variants": variants}


def to_appconfig(schema: Mapping[str, Any]) -> Conversion:
    """Convert a Powertools schema to an AppConfig stored document, where expressible.

    The schema is validated first (``DocumentError`` as in :func:`compile_schema`). Each
    feature converts whole or not at all: a feature with one inexpressible condition is left
    out and named in ``Conversion.skipped`` with the reason. Non-boolean values become the
    attribute ``value``; a rule becomes a variant named after the rule.
    """
    schema = _schema(schema, None, None)
    compile_schema(schema)  # validate exactly as the evaluator would
    flags: dict[str, Any] = {}
    values: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name, raw in schema.items():
        try:
            flags[name], values[name] = _feature(name, raw)
        except _Inexpressible as exc:
            skipped[name] = str(exc)
    return Conversion({"version": "1", "flags": flags, "values": values}, skipped)
