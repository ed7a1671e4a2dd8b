"""Snapshots: normalised flag specs compiled once into immutable closures.

A :class:`Snapshot` is never changed after :func:`build_snapshot` returns it. The client swaps
the whole object with one reference assignment, so a reader that did ``snap = self._snapshot``
sees one complete version for as long as it holds ``snap``. (One write changes no answer: a
flag key the snapshot lacks is recorded as None in its two lookup maps once evaluated, so that
a missing flag costs a dict lookup rather than an exception; see ``_evaluating._missed``.)

Each flag compiles to two closures chosen at build time by the flag's shape:

* ``select(user_id, attributes) -> Outcome`` — the variant and reason (precomputed objects, so
  an evaluation allocates nothing);
* ``enabled(user_id, attributes) -> bool`` — for the common "one rule, then default" flag with
  ``enabled`` true/false this *is* the rule's predicate: no extra call on the hot path.

A flag whose variants are all splits on one key hashes once, inline, and compares (a ladder).
The snapshot keeps the hot path's two maps, flag key -> ``enabled`` and flag key -> ``select``
(what ``variant()`` calls), each holding the answer itself instead of a closure when it is the
same for every context.

A flag with a scheduled ramp (``_document.settings``) is wrapped once more: a gate that reads the
wall clock and admits the ramp's current share, the rest getting the default. An alarm guard never
touches these closures: when it trips, :func:`overlay` builds a new snapshot in which the flag
is the constant default (reason GUARDED), and the client swaps that in like any other.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from ._document.limits import Limits, check_flag_count, patterns_for
from ._exceptions import DocumentError, RuleError
from ._types import Reason

if TYPE_CHECKING:  # loaded when a document is built, not at ``import flagkit``
    from ._document.settings import Rollout
    from ._document.spec import FlagSpec, VariantSpec
    from ._rollout.ramp import Ramp
    from ._rules.compile import CompiledRule
    from ._rules.patterns import Patterns

__all__ = [
    "EMPTY",
    "CompiledFlag",
    "FlagGuard",
    "Outcome",
    "Snapshot",
    "build_snapshot",
    "overlay",
    "patterns_for",
]

Predicate = Callable[[Any, "dict[str, Any] | None"], bool]
Selector = Callable[[Any, "dict[str, Any] | None"], "Outcome"]
RuleCompiler = Callable[..., "CompiledRule"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A variant with the reason it is chosen for; one instance per variant per snapshot."""

    name: str | None
    enabled: bool
    values: Mapping[str, Any]
    reason: Reason
    index: int  # position in the flag's variant list (for explain)
    rule: str | None


def _outcome_maker() -> Callable[
    [str | None, bool, Mapping[str, Any], Reason, int, str | None], Outcome
]:
    """``Outcome(...)`` with its six fields set through their slots directly: the frozen
    dataclass ``__init__`` sets each through ``object.__setattr__``, about twice the time
    (a build makes one per variant). The object is the same, its reads slot reads."""
    new = object.__new__
    set_name, set_enabled, set_values, set_reason, set_index, set_rule = (
        getattr(Outcome, name).__set__
        for name in ("name", "enabled", "values", "reason", "index", "rule")
    )

    def outcome(
        name: str | None,
        enabled: bool,
        values: Mapping[str, Any],
        reason: Reason,
        index: int,
        rule: str | None,
    ) -> Outcome:
        o = new(Outcome)
        set_name(o, name)
        set_enabled(o, enabled)
        set_values(o, values)
        set_reason(o, reason)
        set_index(o, index)
        set_rule(o, rule)
        return o

    return outcome


_outcome = _outcome_maker()


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    key: str
    select: Callable[[Any, dict[str, Any] | None], Outcome]
    enabled: Predicate
    outcomes: tuple[Outcome, ...]
    rules: tuple[CompiledRule | None, ...]
    attributes: frozenset[str]
    multi_variant: bool
    spec: FlagSpec | None = None  # what it was compiled from (guard overlays recompile)
    rollout: Rollout | None = None  # its ramp and alarms (the flagkit-* attributes)
    off: Outcome | None = None  # served outside the ramp: the default variant (or off)
    guard: FlagGuard | None = None  # set on the copies an alarm-guard overlay makes
    # the most steps one evaluation takes: a step per variant tried, plus each rule's cost
    cost: int = 0
    # answered per call by another process (AgentSource(evaluate="agent")): never constant
    remote: bool = False

    @property
    def ramp(self) -> Ramp | None:
        return self.rollout.ramp if self.rollout is not None else None

    @property
    def ramp_offset(self) -> float:
        """Seconds the ramp's schedule is shifted by past alarm pauses (resume policy)."""
        return self.guard.offset if self.guard is not None else 0.0

    @property
    def constant(self) -> bool:
        """Every variant gives the same ``enabled``: no rule can change the answer."""
        if self.remote:
            return False
        answer = self.outcomes[0].enabled  # a loop that stops at the first other answer
        for outcome in self.outcomes:
            if outcome.enabled != answer:
                return False
        return self.off is None or self.off.enabled == answer


@dataclass(frozen=True, slots=True)
class FlagGuard:
    """What the alarm guard decided for one flag: held at its default, and/or a paused ramp."""

    tripped: bool
    offset: float = 0.0  # seconds the ramp's schedule is shifted by past pauses
    alarms: tuple[str, ...] = ()  # the alarms in ALARM when it tripped


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One immutable version of all flags."""

    flags: Mapping[str, CompiledFlag]
    # flag key -> the enabled closure, or the bool itself when the answer is the same for every
    # context (basic flags, and variants that all agree): the hot path's one lookup. A key the
    # snapshot lacks maps to None once evaluated (``_evaluating._missed``: a memo that changes
    # no answer)
    enabled_fns: Mapping[str, Predicate | bool | None]
    version: str | None
    ready: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)
    user_key: str = "userId"
    wall: Callable[[], float] = time.time  # the clock ramps read
    # flag key -> the flag's select closure (variant() reads the chosen outcome's name), or the
    # name itself (None for a basic flag) when it is the same for every context: variant()'s
    # one lookup (missing keys: as in ``enabled_fns``). Derived from ``flags`` on every
    # construction, ``replace()`` included, so no copy can carry a stale one.
    variant_fns: Mapping[str, Selector | str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant_fns", _variant_fns(self.flags))

    @property
    def alarm_names(self) -> tuple[str, ...]:
        """Every alarm a flag of this snapshot names, once each (what the guard describes)."""
        names: dict[str, None] = {}
        for flag in self.flags.values():
            if flag.rollout is not None:
                names.update(dict.fromkeys(flag.rollout.alarms))
        return tuple(names)

    def __repr__(self) -> str:
        return f"Snapshot(version={self.version!r}, flags={len(self.flags)}, ready={self.ready})"


def _variant_fns(flags: Mapping[str, CompiledFlag]) -> dict[str, Selector | str | None]:
    return {key: _variant_fn(flag) for key, flag in flags.items()}


def _variant_fn(flag: CompiledFlag) -> Selector | str | None:
    if flag.remote:
        return flag.select
    name = flag.outcomes[0].name  # a loop that stops at the first other name, not a set
    for outcome in flag.outcomes:
        if outcome.name != name:
            return flag.select
    if flag.off is not None and flag.off.name != name:
        return flag.select
    return name


EMPTY = Snapshot(
    flags=MappingProxyType({}), enabled_fns=MappingProxyType({}), version=None, ready=False
)


def build_snapshot(
    specs: tuple[FlagSpec, ...],
    *,
    version: str | None,
    user_key: str = "userId",
    wall: Callable[[], float] = time.time,
    limits: Limits | None = None,
    patterns: Patterns | None = None,
) -> Snapshot:
    """Compile every flag; a rule error names the flag and the variant.

    ``limits`` (by default :class:`Limits`' defaults) refuses a document of too many flags, a
    flag whose evaluation could cost more than ``max_flag_cost`` steps, and patterns past their
    size limits. ``patterns`` is the load's pattern compiler when the document stage has already
    compiled constraint patterns with it, so that every pattern counts towards one total.
    """
    from ._document.settings import split_rollout

    limits = limits or _DEFAULT_LIMITS
    check_flag_count(len(specs), limits)
    patterns = patterns or patterns_for(limits)
    flags: dict[str, CompiledFlag] = {}
    # The build allocates tens of thousands of objects that all live on in the snapshot: the
    # cyclic collector, triggered by the allocations, would only walk them again and again
    # (about 30 ms of 1,000 flags). Paused, and resumed only if it was running, so a caller's
    # own gc.disable() is left alone (one made during a build is undone when it ends).
    # The rule compiler, imported once per build rather than once per rule, and only by a
    # document with variant rules: a data view never loads the rule stack (or mmh3).
    compile_rule: RuleCompiler | None = None
    with _gc_paused():
        for spec in specs:
            if compile_rule is None and len(spec.variants) > 1:
                from ._rules.compile import compile_rule
            plain, rollout = split_rollout(spec, user_key=user_key)
            flags[spec.key] = _compile_flag(
                plain,
                user_key,
                rollout,
                wall,
                budget=limits.max_flag_cost,
                patterns=patterns,
                compile_rule=compile_rule,
            )
    return Snapshot(
        flags=flags,
        enabled_fns=_enabled_fns(flags),
        version=version,
        user_key=user_key,
        wall=wall,
    )


_DEFAULT_LIMITS = Limits()


class _gc_paused:  # noqa: N801 - used as a function, in a with statement
    """The cyclic collector off for the block, and back on after it only if it was running
    (a caller's own ``gc.disable()`` is left alone; one made inside the block is undone)."""

    __slots__ = ("collecting",)

    def __enter__(self) -> None:
        self.collecting = gc.isenabled()
        if self.collecting:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.collecting:
            gc.enable()


def _enabled_fns(flags: Mapping[str, CompiledFlag]) -> dict[str, Predicate | bool | None]:
    return {
        key: flag.outcomes[0].enabled if flag.constant else flag.enabled
        for key, flag in flags.items()
    }


def overlay(base: Snapshot, guards: Mapping[str, FlagGuard]) -> Snapshot:
    """``base`` with the guard's decisions applied: tripped flags held at their default.

    Returns ``base`` itself when no decision changes anything. Only the flags named are
    rebuilt; the rest are shared with ``base``.
    """
    changed: dict[str, CompiledFlag] = {}
    for key, guard in guards.items():
        flag = base.flags.get(key)
        if flag is None or flag.spec is None or (not guard.tripped and not guard.offset):
            continue
        if guard.tripped:
            changed[key] = _held(flag, guard)
        elif flag.rollout is not None and flag.ramp is not None:
            recompiled = _compile_flag(
                flag.spec, base.user_key, flag.rollout, base.wall, guard.offset
            )
            changed[key] = replace(recompiled, guard=guard)
    if not changed:
        return base
    flags = {**base.flags, **changed}
    return replace(base, flags=flags, enabled_fns=_enabled_fns(flags))


def _held(flag: CompiledFlag, guard: FlagGuard) -> CompiledFlag:
    if flag.multi_variant:  # the default variant, attributes and all
        held = replace(flag.outcomes[-1], reason=Reason.GUARDED, rule=None)
    else:  # a basic flag: off
        held = Outcome(None, False, MappingProxyType({}), Reason.GUARDED, 0, None)
    # every outcome is the held one, so ``constant`` holds and the hot path stores the bool
    return replace(
        flag,
        select=_constant(held),
        enabled=_constant(held.enabled),
        outcomes=(held,),
        off=None,
        guard=guard,
    )


def _compile_flag(
    spec: FlagSpec,
    user_key: str,
    rollout: Rollout | None = None,
    wall: Callable[[], float] = time.time,
    offset: float = 0.0,
    *,
    budget: int | None = None,
    patterns: Patterns | None = None,
    compile_rule: RuleCompiler | None = None,
) -> CompiledFlag:
    """One flag compiled; ``compile_rule`` is ``_rules.compile.compile_rule``, imported once
    per build by the caller (else here, per rule)."""
    rules: list[CompiledRule | None] = []
    outcomes: list[Outcome] = []
    cost = len(spec.variants)  # first match: every variant may be tried
    for i, variant in enumerate(spec.variants):
        rule = (
            None
            if variant.rule is None
            else _compile_variant_rule(
                spec, i, variant, user_key, cost, budget, patterns, wall, compile_rule
            )
        )
        if rule is not None:
            cost += rule.cost
        rules.append(rule)
        if not spec.multi_variant:
            reason = Reason.STATIC
        elif rule is None:
            reason = Reason.DEFAULT
        else:
            reason = Reason.SPLIT if rule.has_split else Reason.TARGETING_MATCH
        outcomes.append(
            _outcome(variant.name, variant.enabled, variant.values, reason, i, variant.rule)
        )
    off: Outcome | None = None
    if rollout is not None and rollout.ramp is not None:
        last = outcomes[-1]
        if spec.multi_variant:
            off = replace(last, reason=Reason.RAMP)
        else:  # a basic flag: in the ramp, its state; not yet, off
            outcomes[0] = replace(last, reason=Reason.RAMP)
            off = Outcome(None, False, MappingProxyType({}), Reason.RAMP, 0, None)
    answers = tuple(outcomes)
    ladder = _ladder(rules, answers)
    if ladder is not None:
        select, enabled = ladder
    else:
        select, enabled = _closures(tuple([r.test if r else None for r in rules]), answers)
    if off is not None and rollout is not None and rollout.ramp is not None:
        from ._rollout.ramp import ramp_gate

        gate = ramp_gate(rollout.ramp, user_key=user_key, wall=wall, offset=offset)
        inside = outcomes[0] if len(outcomes) == 1 else None  # a basic flag: one answer
        select, enabled = _gated(gate, select, enabled, off, inside)
    return CompiledFlag(
        spec.key,
        select,
        enabled,
        answers,
        tuple(rules),
        spec.attributes.union(*[o.values for o in outcomes]),  # and their values' keys
        spec.multi_variant,
        spec,
        rollout,
        off,
        None,
        cost,
    )


def _gated(
    gate: Predicate,
    select: Selector,
    enabled: Predicate,
    off: Outcome,
    inside: Outcome | None,
) -> tuple[Selector, Predicate]:
    """Outside the ramp's current share: ``off``; inside: the flag's own rules.

    A basic flag that is on has one answer inside, so its ``enabled`` *is* the gate.
    """
    off_on = off.enabled
    if inside is not None and inside.enabled and not off_on:

        def select_basic(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
            return inside if gate(user_id, attributes) else off

        return select_basic, gate

    def select_ramped(user_id: Any, attributes: dict[str, Any] | None) -> Outcome:
        return select(user_id, attributes) if gate(user_id, attributes) else off

    if not off_on:

        def enabled_ramped(user_id: Any, attributes: dict[str, Any] | None) -> bool:
            return gate(user_id, attributes) and enabled(user_id, attributes)

    else:

        def enabled_ramped(user_id: Any, attributes: dict[str, Any] | None) -> bool:
            return enabled(user_id, attributes) if gate(user_id, attributes) else True

    return select_ramped, enabled_ramped


def _compile_variant_rule(
    spec: FlagSpec,
    i: int,
    variant: VariantSpec,
    user_key: str,
    spent: int,
    budget: int | None,
    patterns: Patterns | None,
    wall: Callable[[], float],
    compile_rule: RuleCompiler | None = None,
) -> CompiledRule:
    """The variant's rule compiled (the caller passes only variants that have one)."""
    assert variant.rule is not None
    if compile_rule is None:
        from ._rules.compile import compile_rule as imported

        compile_rule = imported
    left = None if budget is None else budget - spent
    try:
        return compile_rule(
            variant.rule,
            flag_key=spec.key,
            user_key=user_key,
            budget=left,
            patterns=patterns,
            tree=variant.tree,  # a format whose conditions are data (Powertools)
            wall=wall,
        )
    except RuleError as exc:
        raise RuleError(
            exc.message.rsplit(" at position ", 1)[0],
            position=exc.position,
            rule=variant.rule,
            flag=spec.key,
            field=f"values._variants[{i}].rule",
        ) from exc
    except Exception as exc:
        from ._rules.compile import OverBudget  # imported here, where it is rare

        if not isinstance(exc, OverBudget):
            raise
        raise DocumentError(
            "the flag's evaluation cost is over its budget",
            flag=spec.key,
            field=f"values._variants[{i}].rule",
            expected=f"at most {budget:,} steps per evaluation (Limits.max_flag_cost)",
            found=f"{spent + exc.cost:,} steps by position {exc.position} of this rule",
        ) from None


def _ladder(
    rules: list[CompiledRule | None], outcomes: tuple[Outcome, ...]
) -> tuple[Selector, Predicate] | None:
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
    from ._rules.closures import hasher

    hash_of = hasher(key, is_user, seed)
    thresholds = tuple(s[3] for s in splits if s is not None)
    firsts, default = outcomes[:-1], outcomes[-1]

    def ladder(answers: tuple[T, ...], otherwise: T) -> Callable[[Any, dict[str, Any] | None], T]:
        steps = tuple(zip(thresholds, answers, strict=True))
        return _ladder_closure(steps, otherwise, hash_of, seed, inline=is_user)

    return ladder(firsts, default), ladder(tuple(o.enabled for o in firsts), default.enabled)


def _ladder_closure(
    steps: tuple[tuple[int, T], ...],
    default: T,
    hash_of: Callable[[Any, dict[str, Any] | None], int],
    seed: int,
    *,
    inline: bool,
) -> Callable[[Any, dict[str, Any] | None], T]:
    """One ladder answering ``T`` (an Outcome or a bool): the first step whose threshold is
    above the hash, else ``default``.

    With ``inline`` (splits by the user id) an ASCII str id is hashed right here, as the
    ``split`` closure hashes it: one frame, not two. Anything else goes through ``hash_of``,
    which holds the exact value rules (and gives -1 for a value never in a split).

    Two steps (three variants, the common shape) are compared one after the other rather than
    in a loop: on CPython 3.11 the tuple loop cost about 60 ns a call more, more than the hash.
    """
    import mmh3  # a build-time import (the rules stage has loaded it): not at import flagkit

    hash_ = mmh3.hash
    if len(steps) == 2:
        (first, answer1), (second, answer2) = steps

        def ladder2(user_id: Any, attributes: dict[str, Any] | None) -> T:
            if inline and type(user_id) is str and user_id.isascii():
                h = hash_(user_id, seed, False)
            else:
                h = hash_of(user_id, attributes)
                if h < 0:
                    return default
            if h < first:
                return answer1
            if h < second:
                return answer2
            return default

        return ladder2

    def ladder(user_id: Any, attributes: dict[str, Any] | None) -> T:
        if inline and type(user_id) is str and user_id.isascii():
            h = hash_(user_id, seed, False)
        else:
            h = hash_of(user_id, attributes)
            if h < 0:
                return default
        for threshold, answer in steps:
            if h < threshold:
                return answer
        return default

    return ladder


def _closures(
    tests: tuple[Predicate | None, ...], outcomes: tuple[Outcome, ...]
) -> tuple[Selector, Predicate]:
    """Pick the select/enabled closures for this flag's shape (decided once, here)."""
    default = outcomes[-1]
    if len(outcomes) == 1:
        return _constant(default), _constant(default.enabled)

    if len(outcomes) == 2:
        test, first = tests[0], outcomes[0]
        assert test is not None  # only the last variant lacks a rule (checked at load)
        select_one = _one(test, first, default)
        if first.enabled and not default.enabled:
            return select_one, test  # the rule *is* the answer: one call on the hot path
        if first.enabled == default.enabled:
            return select_one, _constant(first.enabled)
        return select_one, _one(test, False, True)

    pairs = tuple((t, o) for t, o in zip(tests[:-1], outcomes[:-1], strict=True) if t)
    enabled_pairs = tuple((t, o.enabled) for t, o in pairs)
    return _first_match(pairs, default), _first_match(enabled_pairs, default.enabled)


def _constant(answer: T) -> Callable[[Any, dict[str, Any] | None], T]:
    def constant(user_id: Any, attributes: dict[str, Any] | None) -> T:
        return answer

    return constant


def _one(test: Predicate, matched: T, otherwise: T) -> Callable[[Any, dict[str, Any] | None], T]:
    def one(user_id: Any, attributes: dict[str, Any] | None) -> T:
        return matched if test(user_id, attributes) else otherwise

    return one


def _first_match(
    pairs: tuple[tuple[Predicate, T], ...], default: T
) -> Callable[[Any, dict[str, Any] | None], T]:
    def first_match(user_id: Any, attributes: dict[str, Any] | None) -> T:
        for test, answer in pairs:
            if test(user_id, attributes):
                return answer
        return default

    return first_match


def snapshot_from_bytes(
    body: bytes | str,
    *,
    content_type: str = "application/json",
    version: str | None = None,
    user_key: str = "userId",
    max_bytes: int | None = None,
    wall: Callable[[], float] = time.time,
    limits: Limits | None = None,
) -> Snapshot:
    """Read one document through the document stage's door, then compile it.

    ``_document.read.specs_from_bytes`` picks the format from the content type and the content;
    every format arrives here as FlagSpecs, held to the same ``limits``. Raises DocumentError
    (and only that).
    """
    from ._document.limits import MAX_DOCUMENT_BYTES
    from ._document.read import specs_from_bytes

    limits = limits or _DEFAULT_LIMITS
    patterns = patterns_for(limits)  # constraint and rule patterns count towards one total
    limit = MAX_DOCUMENT_BYTES if max_bytes is None else max_bytes
    # The parsed JSON and the FlagSpecs are tens of thousands of young objects too: the cyclic
    # collector stays paused from the parse to the end of the build (as in build_snapshot,
    # whose own pause then nests), about 10 ms of 1,000 flags.
    with _gc_paused():
        specs = specs_from_bytes(body, content_type, limit, limits=limits, patterns=patterns)
        return build_snapshot(
            specs, version=version, user_key=user_key, wall=wall, limits=limits, patterns=patterns
        )
