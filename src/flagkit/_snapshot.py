"""Snapshots: normalised flag specs compiled once into immutable closures.

A :class:`Snapshot` is never mutated after :func:`build_snapshot` returns it. The client swaps
the whole object with one reference assignment, so a reader that did ``snap = self._snapshot``
sees one complete version for as long as it holds ``snap``.

Each flag compiles to two closures chosen at build time by the flag's shape:

* ``select(user_id, attributes) -> Outcome`` — the variant and reason (precomputed objects, so
  an evaluation allocates nothing);
* ``enabled(user_id, attributes) -> bool`` — for the common "one rule, then default" flag with
  ``enabled`` true/false this *is* the rule's predicate: no extra call on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._exceptions import DocumentError, RuleError
from ._rules import CompiledRule, compile_rule
from ._rules_compile import hasher
from ._spec import FlagSpec, VariantSpec
from ._types import Reason

__all__ = ["EMPTY", "CompiledFlag", "Outcome", "Snapshot", "build_snapshot"]

Predicate = Callable[[Any, "dict[str, Any] | None"], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A variant with the reason it is chosen for; one instance per variant per snapshot."""

    name: str | None
    enabled: bool
    values: Mapping[str, Any]
    reason: Reason
    index: int  # position in the flag's variant list (for explain)
    rule: str | None


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    key: str
    select: Callable[[Any, dict[str, Any] | None], Outcome]
    enabled: Predicate
    outcomes: tuple[Outcome, ...]
    rules: tuple[CompiledRule | None, ...]
    attributes: frozenset[str]
    multi_variant: bool

    @property
    def constant(self) -> bool:
        """Every variant gives the same ``enabled``: no rule can change the answer."""
        return len({o.enabled for o in self.outcomes}) == 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One immutable version of all flags."""

    flags: Mapping[str, CompiledFlag]
    # flag key -> the enabled closure, or the bool itself when the answer is the same for every
    # context (basic flags, and variants that all agree): the hot path's one lookup
    enabled_fns: Mapping[str, Predicate | bool]
    version: str | None
    ready: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Snapshot(version={self.version!r}, flags={len(self.flags)}, ready={self.ready})"


EMPTY = Snapshot(
    flags=MappingProxyType({}), enabled_fns=MappingProxyType({}), version=None, ready=False
)


def build_snapshot(
    specs: tuple[FlagSpec, ...], *, version: str | None, user_key: str = "userId"
) -> Snapshot:
    """Compile every flag; a rule error names the flag and the variant."""
    flags: dict[str, CompiledFlag] = {}
    for spec in specs:
        flags[spec.key] = _compile_flag(spec, user_key)
    enabled: dict[str, Predicate | bool] = {
        key: flag.outcomes[0].enabled if flag.constant else flag.enabled
        for key, flag in flags.items()
    }
    return Snapshot(flags=flags, enabled_fns=enabled, version=version)


def _compile_flag(spec: FlagSpec, user_key: str) -> CompiledFlag:
    rules: list[CompiledRule | None] = []
    outcomes: list[Outcome] = []
    for i, variant in enumerate(spec.variants):
        rule = _compile_variant_rule(spec, i, variant, user_key)
        rules.append(rule)
        if not spec.multi_variant:
            reason = Reason.STATIC
        elif rule is None:
            reason = Reason.DEFAULT
        else:
            reason = Reason.SPLIT if rule.has_split else Reason.TARGETING_MATCH
        outcomes.append(
            Outcome(variant.name, variant.enabled, variant.values, reason, i, variant.rule)
        )
    ladder = _ladder(rules, tuple(outcomes))
    if ladder is not None:
        select, enabled = ladder
    else:
        select, enabled = _closures(tuple(r.test if r else None for r in rules), tuple(outcomes))
    return CompiledFlag(
        key=spec.key,
        select=select,
        enabled=enabled,
        outcomes=tuple(outcomes),
        rules=tuple(rules),
        attributes=spec.attributes | frozenset(k for o in outcomes for k in o.values),
        multi_variant=spec.multi_variant,
    )


def _compile_variant_rule(
    spec: FlagSpec, i: int, variant: VariantSpec, user_key: str
) -> CompiledRule | None:
    if variant.rule is None:
        return None
    try:
        return compile_rule(variant.rule, flag_key=spec.key, user_key=user_key)
    except RuleError as exc:
        raise RuleError(
            exc.message.rsplit(" at position ", 1)[0],
            position=exc.position,
            rule=variant.rule,
            flag=spec.key,
            field=f"values._variants[{i}].rule",
        ) from exc


def _ladder(
    rules: list[CompiledRule | None], outcomes: tuple[Outcome, ...]
) -> tuple[Callable[[Any, dict[str, Any] | None], Outcome], Predicate] | None:
    """Variants that are all bare splits on one key and seed: hash once, compare per variant.

    First-match semantics are kept exactly: variant i matches iff ``h < threshold_i``, tried in
    order. Returns None when the flag has another shape (or a single split, where the rule's
    own closure is already one call).
    """
    splits = [r.bare_split if r is not None else None for r in rules[:-1]]
    if len(splits) < 2 or any(s is None for s in splits):
        return None
    keys = {(s[0], s[1], s[2]) for s in splits if s is not None}
    if len(keys) != 1:
        return None
    key, is_user, seed = keys.pop()
    hash_of = hasher(key, is_user, seed)
    steps = tuple((s[3], o) for s, o in zip(splits, outcomes[:-1], strict=True) if s is not None)
    enabled_steps = tuple((t, o.enabled) for t, o in steps)
    default = outcomes[-1]
    default_on = default.enabled

    def select_ladder(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
        h = hash_of(user_id, attributes)
        if h >= 0:
            for threshold, outcome in steps:
                if h < threshold:
                    return outcome
        return default

    def enabled_ladder(user_id: Any, attributes: dict[str, Any] | None) -> bool:
        h = hash_of(user_id, attributes)
        if h >= 0:
            for threshold, on in enabled_steps:
                if h < threshold:
                    return on
        return default_on

    return select_ladder, enabled_ladder


def _closures(
    tests: tuple[Predicate | None, ...], outcomes: tuple[Outcome, ...]
) -> tuple[Callable[[Any, dict[str, Any] | None], Outcome], Predicate]:
    """Pick the select/enabled closures for this flag's shape (decided once, here)."""
    default = outcomes[-1]
    if len(outcomes) == 1:
        on = default.enabled

        def select_static(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
            return default

        def enabled_static(user_id: Any, attributes: dict[str, Any] | None) -> bool:
            return on

        return select_static, enabled_static

    if len(outcomes) == 2:
        test, first = tests[0], outcomes[0]
        assert test is not None  # only the last variant lacks a rule (checked at load)

        def select_one(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
            return first if test(user_id, attributes) else default

        if first.enabled and not default.enabled:
            return select_one, test  # the rule *is* the answer: one call on the hot path
        if first.enabled == default.enabled:
            return select_one, (lambda u, a, _on=first.enabled: _on)

        def enabled_inverse(user_id: Any, attributes: dict[str, Any] | None) -> bool:
            return not test(user_id, attributes)

        return select_one, enabled_inverse

    pairs = tuple((t, o) for t, o in zip(tests[:-1], outcomes[:-1], strict=True) if t)
    enabled_pairs = tuple((t, o.enabled) for t, o in pairs)
    default_on = default.enabled

    def select_many(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
        for test, outcome in pairs:
            if test(user_id, attributes):
                return outcome
        return default

    def enabled_many(user_id: Any, attributes: dict[str, Any] | None) -> bool:
        for test, on in enabled_pairs:
            if test(user_id, attributes):
                return on
        return default_on

    return select_many, enabled_many


def snapshot_from_bytes(
    body: bytes | str,
    *,
    content_type: str = "application/json",
    version: str | None = None,
    user_key: str = "userId",
    max_bytes: int | None = None,
) -> Snapshot:
    """Parse, validate and compile one document; raises DocumentError (and only that)."""
    from ._document import DEFAULT_MAX_BYTES, load_document, parse_json

    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    media = content_type.split(";", 1)[0].strip().lower()
    if media in {"application/ion", "text/ion"}:
        from ._ion import load_ion

        specs = load_ion(body, max_bytes=limit)
    elif media == "application/vnd.aws-lambda-powertools.feature-flags+json":
        from .powertools import load_snapshot

        return load_snapshot(body, version=version, max_bytes=limit)
    elif media in {"application/json", "", "application/octet-stream", "text/plain"}:
        specs = load_document(parse_json(body, max_bytes=limit))
    else:
        raise DocumentError(
            "unsupported content type",
            expected="application/json or application/ion",
            found=repr(content_type),
        )
    return build_snapshot(specs, version=version, user_key=user_key)
