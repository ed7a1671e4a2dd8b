"""The commands that read flags documents: validate, eval, explain, coverage, diff, schema.

Each takes the parsed arguments and returns the exit status; errors are raised for ``main`` to
print (DocumentError: exit 1, CliError: exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flagkit._document.limits import MAX_FLAG_COST
from flagkit._exceptions import DocumentError

from .inputs import (
    OK,
    REFUSED,
    USAGE,
    CliError,
    compiled_flag,
    load_snapshot,
    parse_attrs,
    plural,
    read_ids,
)
from .report import describe_error

__all__ = ["cmd_coverage", "cmd_diff", "cmd_eval", "cmd_explain", "cmd_schema", "cmd_validate"]


def cmd_validate(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.file, args.user_key, args.at)
    flags = snapshot.flags
    multi = sum(1 for f in flags.values() if f.multi_variant)
    rules = sum(1 for f in flags.values() for r in f.rules if r is not None)
    print(
        f"{args.file}: ok: {plural(len(flags), 'flag')} ({multi} multi-variant, "
        f"{plural(rules, 'rule')}), version {snapshot.version}"
    )
    if flags:
        costliest = max(flags.values(), key=lambda f: f.cost)
        print(
            f"  costliest flag: {costliest.key!r}, at most {plural(costliest.cost, 'step')} per "
            f"evaluation (limit {MAX_FLAG_COST:,}; docs/security.md)"
        )
    return OK


def cmd_eval(args: argparse.Namespace) -> int:
    from flagkit._evaluating import FlagsView

    snapshot = load_snapshot(args.file, args.user_key, args.at)
    compiled = compiled_flag(snapshot, args.flag)  # an unknown flag: the list of flags, exit 1
    attrs = parse_attrs(args.attr)
    details = FlagsView(snapshot).details(args.flag, args.user, attrs)
    values = dict(compiled.select(args.user, attrs).values)
    if args.json:
        print(
            json.dumps(
                {
                    "flag": details.flag_key,
                    "value": details.value,
                    "variant": details.variant,
                    "reason": details.reason.value,
                    "error_code": details.error_code.value if details.error_code else None,
                    "error_message": details.error_message,
                    "version": details.version,
                    "values": values,
                },
                default=list,  # attribute arrays are tuples
            )
        )
    else:
        print(f"{details.flag_key} = {json.dumps(details.value)}")
        if details.variant is not None:
            print(f"  variant: {details.variant}")
        else:
            print("  variant: none (a basic flag)")
        print(f"  reason:  {details.reason.value}")
        if details.error_code is not None:
            print(f"  error:   {details.error_code.value}: {details.error_message}")
        if values:
            print(f"  values:  {json.dumps(values, default=list)}")
        print(f"  version: {details.version}")
    return REFUSED if details.error_code is not None else OK


def cmd_explain(args: argparse.Namespace) -> int:
    from flagkit._explain import explain, format_explanation

    snapshot = load_snapshot(args.file, args.user_key, args.at)
    compiled = compiled_flag(snapshot, args.flag)
    exp = explain(
        compiled,
        args.user,
        parse_attrs(args.attr),
        user_key=args.user_key,
        now=snapshot.wall(),
        version=snapshot.version,
    )
    if args.json:
        print(json.dumps({**exp.as_dict(), "version": snapshot.version}, default=list))
    else:
        print(format_explanation(exp, version=snapshot.version))
    return OK


def cmd_coverage(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.file, args.user_key, args.at)
    compiled = compiled_flag(snapshot, args.flag)
    base = parse_attrs(args.attr)
    ids = read_ids(args.ids, args.user_key)
    if not ids:
        raise CliError(f"{args.ids}: no ids")
    # a ramp's "not yet" outcome gets its own row (ramp: true) beside the variants
    choices = [*compiled.outcomes, *([compiled.off] if compiled.off is not None else [])]
    counts = [0] * len(choices)
    for uid, own in ids:
        chosen = compiled.select(uid, {**base, **own} if own else base)
        counts[next(i for i, o in enumerate(choices) if o is chosen)] += 1
    total = len(ids)
    rows = [
        {
            "variant": o.name,
            "enabled": o.enabled,
            "users": counts[i],
            "share": counts[i] / total,
            **({"ramp": True} if o is compiled.off else {}),
        }
        for i, o in enumerate(choices)
    ]
    on = sum(r["users"] for r in rows if r["enabled"])
    if args.json:
        print(
            json.dumps(
                {
                    "flag": args.flag,
                    "version": snapshot.version,
                    "ids": total,
                    "variants": rows,
                    "enabled": {"users": on, "share": on / total},
                }
            )
        )
        return OK
    print(f"{args.flag} over {total:,} ids from {args.ids} (version {snapshot.version})")
    width = max([len(str(r["variant"])) for r in rows] + [len("(not yet in the ramp)"), 7])
    print(f"  {'variant':<{width}}  enabled  {'users':>9}  {'share':>8}")
    for r in rows:
        name = r["variant"] if r["variant"] is not None else "(basic flag)"
        name = "(not yet in the ramp)" if r.get("ramp") else name
        flag_on = "on" if r["enabled"] else "off"
        print(f"  {name:<{width}}  {flag_on:<7}  {r['users']:>9,}  {r['share'] * 100:7.2f}%")
    print(f"  {'enabled, all variants':<{width + 9}}  {on:>9,}  {on / total * 100:7.2f}%")
    return OK


def _diff_side(arg: str, args: argparse.Namespace) -> tuple[Any, str]:
    """A compiled snapshot of one side of ``diff`` and its name: a file or ``deployed:...``."""
    import time

    from flagkit._snapshot import snapshot_from_bytes
    from flagkit._sources.base import content_version

    from .diff import DEPLOYED, deployed_document, parse_deployed
    from .release import ReleaseError, api_errors, find_target
    from .release_cmd import make_client

    if not arg.startswith(DEPLOYED):
        return load_snapshot(arg, args.user_key, args.at), arg
    try:
        application, environment, profile = parse_deployed(arg)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:  # botocore's errors are translated by release.api_errors, as for publish
        client = make_client(args)
        target = find_target(client, application, environment, profile)
        with api_errors():
            body, content_type, where = deployed_document(client, target)
    except ReleaseError as exc:  # every failure to read the deployed side is an error: 2
        raise CliError(f"{arg}: {exc}") from exc
    except LookupError as exc:
        raise CliError(f"{arg}: {exc.args[0]} to {application}/{environment}") from exc
    snapshot = snapshot_from_bytes(
        body,
        content_type=content_type,
        version=content_version(body),
        user_key=args.user_key,
        wall=time.time if args.at is None else (lambda: args.at),
    )
    return snapshot, f"{arg} ({application}/{environment}/{profile} {where})"


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import compare, impact, render

    snapshots = []
    for arg in (args.old, args.new):
        try:
            snapshots.append(_diff_side(arg, args))
        except DocumentError as exc:  # like diff(1): trouble is 2, "different" is 1
            print(describe_error(exc, arg), file=sys.stderr)
            return USAGE
    (old, old_name), (new, new_name) = snapshots
    ids = read_ids(args.ids, args.user_key) if args.ids else None
    if ids is not None and not ids:
        raise CliError(f"{args.ids}: no ids")
    diffs = compare(old, new)
    if ids is not None:
        for d in diffs:
            d.impact = impact(old, new, d.key, ids)
    if args.json:
        print(json.dumps({"old": old_name, "new": new_name, "flags": [d.as_dict() for d in diffs]}))
    else:
        print(render(diffs, old_name, new_name, args.ids))
    return REFUSED if diffs else OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import document_schema

    if args.form == "rollout-attributes":
        from flagkit._document.settings import constraints

        print(json.dumps(constraints(), indent=2))
        return OK
    print(json.dumps(document_schema(args.form), indent=2, ensure_ascii=False))
    return OK
