"""``flagkit diff OLD NEW``: what a change to a flags document does, before it ships.

Both sides are compiled into real snapshots (the code :class:`~flagkit.Flags` serves from), so
what ``diff`` says about a set of ids cannot disagree with what the client would serve them.
The parsed specs (``CompiledFlag.spec``, the ``flagkit-*`` attributes already taken out into
``CompiledFlag.rollout``) say *what* changed; the snapshots say *who* it changes it for.

OLD may be ``deployed:APP/ENV/PROFILE``: the hosted version of the latest COMPLETE deployment
of that profile to that environment, read through the control plane (ListDeployments,
GetDeployment, GetHostedConfigurationVersion) with boto3's usual credential, region and
endpoint chain.

Enters: two documents (files or the control plane), optionally ids. Leaves: a report and an exit
status (0 equal, 1 different, 2 error, like ``diff``). Names are resolved and botocore's errors
translated by ``release`` (shared with ``flagkit publish``); this module makes the reads only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEPLOYED",
    "FlagDiff",
    "Impact",
    "compare",
    "deployed_document",
    "impact",
    "parse_deployed",
    "render",
]

DEPLOYED = "deployed:"
_SPLIT_PCT = re.compile(r"\(split\s[^()]*?pct::(-?[0-9.]+)")
ABSENT = "(absent)"
NOT_YET = "(not yet in the ramp)"


@dataclass
class Impact:
    """What a change does to a list of ids, for one flag."""

    ids: int
    gained: int  # off before, on after
    lost: int  # on before, off after
    moves: dict[tuple[str, str], int]  # (variant before, variant after) -> ids, moves only

    def as_dict(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "gained": self.gained,
            "lost": self.lost,
            "moves": [{"from": a, "to": b, "ids": n} for (a, b), n in self.moves.items()],
        }


@dataclass
class FlagDiff:
    """One flag's change: ``kind`` is added, removed or changed; ``changes`` are readable lines."""

    key: str
    kind: str
    changes: list[str] = field(default_factory=list)
    impact: Impact | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flag": self.key, "kind": self.kind, "changes": self.changes}
        if self.impact is not None:
            out["impact"] = self.impact.as_dict()
        return out


# -- what changed (the specs) --------------------------------------------------------------------


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=list, ensure_ascii=False)


def _shape(flag: Any) -> str:
    """A flag in a few words: ``on``, ``off`` or its variants in evaluation order."""
    variants = flag.spec.variants
    if not flag.multi_variant:
        return "basic flag, on" if variants[0].enabled else "basic flag, off"
    names = ", ".join(f"{v.name}{'' if v.enabled else ' (off)'}" for v in variants)
    return f"{len(variants)} variants: {names}"


def _split_pct(rule: str | None) -> str | None:
    """The ``pct::`` of the rule's split(s), e.g. ``5`` (several joined with ``+``), or None."""
    found = _SPLIT_PCT.findall(rule or "")
    return "+".join(found) if found else None


def _variant_changes(old: Any, new: Any) -> list[str]:
    out: list[str] = []
    before = {v.name: v for v in old.spec.variants}
    after = {v.name: v for v in new.spec.variants}
    for v in new.spec.variants:
        if v.name not in before:
            rule = f", rule {v.rule}" if v.rule else ", the default"
            pct = _split_pct(v.rule)
            split = f" (a {pct} % split)" if pct else ""
            out.append(f"variant added: {v.name} ({'on' if v.enabled else 'off'}{rule}){split}")
    out.extend(f"variant removed: {v.name}" for v in old.spec.variants if v.name not in after)
    common_old = [v.name for v in old.spec.variants if v.name in after]
    common_new = [v.name for v in new.spec.variants if v.name in before]
    if common_old != common_new:
        out.append(f"variants reordered: {', '.join(common_old)} -> {', '.join(common_new)}")
    for name in common_new:
        a, b = before[name], after[name]
        if a.enabled != b.enabled:
            out.append(f"variant {name}: switched {'on' if b.enabled else 'off'}")
        if a.rule != b.rule:
            out.append(f"variant {name}: rule {a.rule or '(none)'} -> {b.rule or '(none)'}")
            pa, pb = _split_pct(a.rule), _split_pct(b.rule)
            if pa != pb:
                out.append(f"variant {name}: split {pa or 'none'} % -> {pb or 'none'} %")
        if dict(a.values) != dict(b.values):
            out.append(f"variant {name}: values {_j(a.values)} -> {_j(b.values)}")
    return out


def _rollout_changes(old: Any, new: Any) -> list[str]:
    out: list[str] = []
    ra, rb = old.rollout, new.rollout
    ramp_a = ra.ramp if ra is not None else None
    ramp_b = rb.ramp if rb is not None else None

    def ramp_text(r: Any) -> str:
        return f"{r.text} from {r.start_text} by ${r.by} seed {r.seed!r}"

    if ramp_a is None and ramp_b is not None:
        out.append(f"ramp added: {ramp_text(ramp_b)}")
    elif ramp_a is not None and ramp_b is None:
        out.append(f"ramp removed (was {ramp_text(ramp_a)})")
    elif ramp_a is not None and ramp_b is not None and ramp_text(ramp_a) != ramp_text(ramp_b):
        out.append(f"ramp: {ramp_text(ramp_a)} -> {ramp_text(ramp_b)}")
    alarms_a = ra.alarms if ra is not None else ()
    alarms_b = rb.alarms if rb is not None else ()
    added = [a for a in alarms_b if a not in alarms_a]
    removed = [a for a in alarms_a if a not in alarms_b]
    if added:
        out.append(f"alarms added: {', '.join(added)}")
    if removed:
        out.append(f"alarms removed: {', '.join(removed)}")
    clear_a = ra.on_clear if ra is not None and ra.alarms else None
    clear_b = rb.on_clear if rb is not None and rb.alarms else None
    if clear_a is not None and clear_b is not None and clear_a != clear_b:
        out.append(f"on alarm clear: {_name(clear_a)} -> {_name(clear_b)}")
    return out


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def flag_changes(old: Any, new: Any) -> list[str]:
    """Readable lines for what differs between two compiled flags of the same key."""
    out: list[str] = []
    if old.multi_variant != new.multi_variant:
        out.append(f"{_shape(old)} -> {_shape(new)}")
    elif not new.multi_variant:
        a, b = old.spec.variants[0], new.spec.variants[0]
        if a.enabled != b.enabled:
            out.append(f"switched {'on' if b.enabled else 'off'}")
        if dict(a.values) != dict(b.values):
            out.append(f"values {_j(a.values)} -> {_j(b.values)}")
    else:
        out.extend(_variant_changes(old, new))
    out.extend(_rollout_changes(old, new))
    return out


def compare(old: Any, new: Any) -> list[FlagDiff]:
    """Every flag that was added, removed or changed between two snapshots, in key order."""
    diffs: list[FlagDiff] = []
    for key in sorted(set(old.flags) | set(new.flags)):
        a, b = old.flags.get(key), new.flags.get(key)
        if a is None:
            diffs.append(FlagDiff(key, "added", [f"added: {_shape(b)}"]))
        elif b is None:
            diffs.append(FlagDiff(key, "removed", [f"removed (was {_shape(a)})"]))
        else:
            changes = flag_changes(a, b)
            if changes:
                diffs.append(FlagDiff(key, "changed", changes))
    return diffs


# -- who it changes it for (the snapshots) -------------------------------------------------------


def _label(flag: Any, outcome: Any) -> str:
    if flag.off is not None and outcome is flag.off and flag.ramp is not None:
        return NOT_YET
    if outcome.name is not None:
        return str(outcome.name)
    return "on" if outcome.enabled else "off"


def impact(old: Any, new: Any, key: str, ids: Iterable[tuple[str, dict[str, Any]]]) -> Impact:
    """Evaluate ``key`` for each id under both snapshots with the compiled ``select`` (what
    Flags serves); a flag missing on one side counts as off there."""
    fa, fb = old.flags.get(key), new.flags.get(key)
    gained = lost = total = 0
    moves: Counter[tuple[str, str]] = Counter()
    for uid, attrs in ids:
        total += 1
        oa = fa.select(uid, attrs) if fa is not None else None
        ob = fb.select(uid, attrs) if fb is not None else None
        on_a = oa is not None and oa.enabled
        on_b = ob is not None and ob.enabled
        gained += on_b and not on_a
        lost += on_a and not on_b
        la = _label(fa, oa) if oa is not None else ABSENT
        lb = _label(fb, ob) if ob is not None else ABSENT
        if la != lb:
            moves[(la, lb)] += 1
    return Impact(total, gained, lost, dict(sorted(moves.items(), key=lambda kv: -kv[1])))


# -- the deployed side ---------------------------------------------------------------------------


def parse_deployed(arg: str) -> tuple[str, str, str]:
    """``deployed:APP/ENV/PROFILE`` -> the three names (or IDs); ValueError when malformed."""
    parts = arg[len(DEPLOYED) :].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{arg!r}: expected deployed:APPLICATION/ENVIRONMENT/PROFILE")
    return parts[0], parts[1], parts[2]


def deployed_document(client: Any, target: Any) -> tuple[bytes, str, str]:
    """(content, content type, where) of the version the latest COMPLETE deployment of the
    target's profile to its environment deployed. ``target`` is a resolved
    ``release.Target``; botocore's errors propagate (the caller translates them).

    AWS: ListDeployments lists "in descending deployment number order"; its summaries carry no
    profile ID, so GetDeployment tells which profile each COMPLETE one deployed
    (``ConfigurationProfileId``); GetHostedConfigurationVersion reads that version's content.
    Raises LookupError when the profile has no COMPLETE deployment there.
    """
    pages = client.get_paginator("list_deployments").paginate(**target.app_env)
    for page in pages:
        for summary in page.get("Items", []):
            if summary.get("State") != "COMPLETE":
                continue
            number = summary["DeploymentNumber"]
            full = client.get_deployment(**target.app_env, DeploymentNumber=number)
            if full.get("ConfigurationProfileId") != target.profile_id:
                continue
            version = int(full["ConfigurationVersion"])
            hosted = client.get_hosted_configuration_version(
                ApplicationId=target.application_id,
                ConfigurationProfileId=target.profile_id,
                VersionNumber=version,
            )
            body = hosted["Content"]
            content = body.read() if hasattr(body, "read") else bytes(body)
            content_type = hosted.get("ContentType") or "application/json"
            return content, content_type, f"deployment {number}, version {version}"
    raise LookupError("no COMPLETE deployment of this profile")


# -- the report ----------------------------------------------------------------------------------


def render(diffs: list[FlagDiff], old_name: str, new_name: str, ids_name: str | None) -> str:
    """The text ``flagkit diff`` prints: one block per changed flag, then a summary line."""
    lines = [f"--- {old_name}", f"+++ {new_name}"]
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for d in diffs:
        lines.append(f"{marks[d.kind]} {d.key}")
        lines.extend(f"    {c}" for c in d.changes)
        if d.impact is not None:
            i = d.impact
            lines.append(
                f"    of {i.ids:,} ids from {ids_name}: {i.gained:,} gain the feature, "
                f"{i.lost:,} lose it"
            )
            if i.moves:
                width = max(len(f"{a} -> {b}") for a, b in i.moves)
                lines.extend(
                    f"      {f'{a} -> {b}':<{width}}  {n:>9,}" for (a, b), n in i.moves.items()
                )
    counts = Counter(d.kind for d in diffs)
    if diffs:
        verb = "flag differs" if len(diffs) == 1 else "flags differ"
        lines.append(
            f"{len(diffs)} {verb}: {counts['added']} added, {counts['removed']} removed, "
            f"{counts['changed']} changed"
        )
    else:
        lines.append("no difference")
    return "\n".join(lines)
