"""Why a flag gave a user the answer it gave (``flagkit explain``): tools only, never the hot path.

The answer itself comes from the compiled flag (``CompiledFlag.select`` and each variant's
``CompiledRule.test``), so an explanation cannot disagree with what ``Flags`` serves. To show
*why*, each rule is parsed again with ``_rules.parse`` and every sub-expression is compiled on its
own by the same ``Compiler`` the loader uses, then evaluated for the same context. For each
``split`` the bucket is computed with ``_rules.bucketing.bucket`` and set against the threshold
``pct_units(pct)``: the reference form of the decision the compiled closure makes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ._rules.bucketing import BUCKETS, bucket, pct_units
from ._rules.compile import MISSING, CompiledRule, Compiler, resolve
from ._rules.parse import Call, Lit, Ref, parse, render
from ._snapshot import CompiledFlag, Outcome

__all__ = ["Explanation", "Line", "VariantTrace", "explain", "render"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Line:
    """One sub-expression of a rule: its text, its value for this context, and a note."""

    depth: int
    text: str
    result: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class VariantTrace:
    """One variant, in evaluation order; ``matched`` is None when it was not reached."""

    index: int
    name: str | None
    enabled: bool
    rule: str | None
    matched: bool | None
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    flag: str
    user_id: Any
    attributes: dict[str, Any] | None
    chosen: Outcome
    multi_variant: bool
    variants: tuple[VariantTrace, ...] = field(default=())
    ramp: str | None = None  # the ramp's step now, the next one, and this context's bucket
    guard: str | None = None  # what the alarm guard is doing to the flag
    version: str | None = None
    cost: int = 0  # the most steps one evaluation of the flag takes (CompiledFlag.cost)

    def __str__(self) -> str:
        return format_explanation(self, version=self.version)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``flagkit explain --json``)."""
        return {
            "flag": self.flag,
            "user": self.user_id,
            "attributes": self.attributes,
            "variant": self.chosen.name,
            "enabled": self.chosen.enabled,
            "reason": self.chosen.reason.value,
            "values": dict(self.chosen.values),
            "ramp": self.ramp,
            "guard": self.guard,
            "cost": self.cost,
            "variants": [
                {
                    "index": v.index,
                    "name": v.name,
                    "enabled": v.enabled,
                    "rule": v.rule,
                    "matched": v.matched,
                    "trace": [
                        {"depth": ln.depth, "expr": ln.text, "result": ln.result, "note": ln.note}
                        for ln in v.lines
                    ],
                }
                for v in self.variants
            ],
        }


def _show(value: object) -> str:
    if value is MISSING:
        return "missing"
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # nan and friends
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _split_text(value: object) -> str | None:
    """The text ``split`` hashes for a context value, or None when it is never in a split."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
        return str(value)
    return None


class _Tracer:
    def __init__(
        self, flag: str, rule: CompiledRule, user_key: str, user_id: Any, attrs: Any, now: Any
    ) -> None:
        # a tree (a Powertools rule) may use the internal operators; clock.* read ``now``
        wall = time.time if now is None else (lambda: now)
        internal = rule.tree is not None
        self.compiler = Compiler(rule.text, flag, user_key, internal=internal, wall=wall)
        self.flag = flag
        self.user_key = user_key
        self.user_id = user_id
        self.attrs = attrs
        self.lines: list[Line] = []

    def value(self, key: str) -> object:
        return resolve(key, self.user_id, self.attrs, user_key=self.user_key)

    def walk(self, node: Call, depth: int) -> None:
        result = bool(self.compiler.boolean(node)(self.user_id, self.attrs))
        self.lines.append(Line(depth, render(node), result, self.note(node)))
        if node.op in ("and", "or", "not"):
            for arg in node.args:
                if isinstance(arg, Call):
                    self.walk(arg, depth + 1)

    def note(self, node: Call) -> str:
        if node.op == "split":
            return self.split_note(node)
        if node.op == "exists":
            key = node.named[0].value if node.named else None
            if isinstance(key, Lit) and isinstance(key.value, str):
                return f"{key.value} = {_show(self.value(key.value))}"
            return ""
        refs = [a for a in node.args if isinstance(a, Ref)]
        refs += [n.value for n in node.named if isinstance(n.value, Ref)]
        return "; ".join(f"${r.key} = {_show(self.value(r.key))}" for r in refs)

    def split_note(self, node: Call) -> str:
        named = {n.name: n.value for n in node.named}
        by, pct_node, seed_node = named.get("by"), named.get("pct"), named.get("seed")
        if not isinstance(by, Ref) or not isinstance(pct_node, Lit):
            return ""
        pct = pct_node.value
        assert isinstance(pct, (int, float))
        seed = seed_node.value if isinstance(seed_node, Lit) else self.flag
        assert isinstance(seed, str)
        seed_what = f'seed "{seed}"' if seed_node is not None else f'seed "{seed}" (the flag key)'
        value = self.value(by.key)
        text = _split_text(value)
        if text is None:
            kind = "missing" if value is MISSING else f"a {type(value).__name__}"
            return f"${by.key} is {kind}: never in a split"
        try:
            b = bucket(text, seed)
        except UnicodeEncodeError:
            return f"${by.key} = {_show(value)} is not valid Unicode text"
        threshold = pct_units(pct)
        verdict = "in" if b < threshold else "out"
        return (
            f"${by.key} = {_show(value)}: bucket {b} of {BUCKETS} under {seed_what}; "
            f"in when bucket < {threshold} (pct {pct}) -> {verdict}"
        )


def _ramp_line(
    compiled: CompiledFlag,
    user_id: Any,
    attributes: dict[str, Any] | None,
    now: float,
    user_key: str,
) -> str | None:
    ramp, offset = compiled.ramp, compiled.ramp_offset
    if ramp is None:
        return None
    line = ramp.describe(now, offset)
    pct = ramp.at(now, offset).pct
    text = _split_text(resolve(ramp.by, user_id, attributes, user_key=user_key))
    if pct >= 100:
        return f"{line}; everyone is in"
    if text is None:
        return f"{line}; ${ramp.by} is missing: not in the ramp below 100 %"
    b = bucket(text, ramp.seed)
    verdict = "in" if b < pct_units(pct) else "not yet in"
    return f"{line}; ${ramp.by} bucket {b} of {BUCKETS} (seed {ramp.seed!r}) -> {verdict}"


def _guard_line(compiled: CompiledFlag) -> str | None:
    rollout = compiled.rollout
    if rollout is None or not rollout.alarms:
        return None
    names = ", ".join(rollout.alarms)
    guard = compiled.guard
    if guard is not None and guard.tripped:
        firing = ", ".join(guard.alarms) or names
        return f"HELD at its default by alarm(s) {firing} ({rollout.on_clear})"
    return f"guarded by alarm(s) {names} ({rollout.on_clear}); not held"


def explain(
    compiled: CompiledFlag,
    user_id: Any,
    attributes: dict[str, Any] | None,
    *,
    user_key: str = "userId",
    now: float | None = None,
    version: str | None = None,
) -> Explanation:
    """Explain ``compiled`` for one context: every variant tried, every sub-expression's value.

    ``now`` (wall clock) places a ramp; it should be the time the snapshot's ramps read.
    """

    chosen = compiled.select(user_id, attributes)
    traces: list[VariantTrace] = []
    reached = True
    # A flag the AppConfig agent evaluates per call: its rules are not known in this process.
    tried = () if compiled.remote else zip(compiled.outcomes, compiled.rules, strict=True)
    for outcome, rule in tried:
        if rule is None:
            matched: bool | None = True if reached else None
            traces.append(VariantTrace(outcome.index, outcome.name, outcome.enabled, None, matched))
            continue
        tracer = _Tracer(compiled.key, rule, user_key, user_id, attributes, now)
        tracer.walk(rule.tree if rule.tree is not None else parse(rule.text), 0)
        hit = bool(rule.test(user_id, attributes))
        traces.append(
            VariantTrace(
                outcome.index,
                outcome.name,
                outcome.enabled,
                rule.text,
                hit if reached else None,
                tuple(tracer.lines),
            )
        )
        if hit:
            reached = False
    at = time.time() if now is None else now
    return Explanation(
        compiled.key,
        user_id,
        attributes,
        chosen,
        compiled.multi_variant,
        tuple(traces),
        ramp=_ramp_line(compiled, user_id, attributes, at, user_key),
        guard=_guard_line(compiled),
        version=version,
        cost=compiled.cost,
    )


def format_explanation(exp: Explanation, *, version: str | None) -> str:
    """The human-readable report ``flagkit explain`` prints."""
    out: list[str] = []
    who = f"user {_show(exp.user_id)}" if exp.user_id is not None else "no user id"
    out.append(f"flag {exp.flag!r} (version {version}), {who}, attributes {_show(exp.attributes)}")
    if exp.guard is not None:
        out.append(exp.guard)
    if exp.ramp is not None:
        out.append(exp.ramp)
    if not exp.multi_variant:
        state = "on" if (exp.variants and exp.variants[0].enabled) else "off"
        ramped = " (for those the ramp admits)" if exp.ramp is not None else " for everyone"
        out.append(f"a basic flag: {state}{ramped}, no rules to evaluate")
    elif not exp.variants:
        out.append("evaluated by the AppConfig agent for this context (its rules are not here)")
    else:
        out.append("variants are tried in order; the first whose rule is true wins")
        for v in exp.variants:
            state = "enabled" if v.enabled else "disabled"
            if v.rule is None:
                status = "chosen (no rule matched)" if v.matched else "not reached"
                out.append(f"  {v.index + 1}. {v.name} [{state}, default]: {status}")
                continue
            status = {True: "MATCH", False: "no match", None: "not reached"}[v.matched]
            out.append(f"  {v.index + 1}. {v.name} [{state}]: {status}")
            if v.matched is None:
                continue
            for ln in v.lines:
                pad = "      " + "  " * ln.depth
                mark = "true " if ln.result else "false"
                out.append(f"{pad}{mark} {ln.text}")
                if ln.note:
                    out.append(f"{pad}      {ln.note}")
    c = exp.chosen
    name = f"variant {c.name!r}" if c.name is not None else "the flag's state"
    values = f", values {_show(dict(c.values))}" if c.values else ""
    out.append(f"result: {name}, enabled {str(c.enabled).lower()}, reason {c.reason.value}{values}")
    steps = "step" if exp.cost == 1 else "steps"
    out.append(f"cost: at most {exp.cost:,} {steps} per evaluation (docs/security.md)")
    return "\n".join(out)
