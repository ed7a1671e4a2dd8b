"""The ``flagkit`` command line (argparse, standard library only).

    flagkit validate FILE                        is this document accepted? (exit 1 if not)
    flagkit eval FILE FLAG --user ID --attr k=v  what would this user get?
    flagkit explain FILE FLAG --user ID ...      ... and why: each rule, each split's bucket
    flagkit coverage FILE FLAG --ids FILE        which share of real ids gets each variant
    flagkit diff OLD NEW [--ids FILE]            what a change does, before it ships
    flagkit schema                               JSON Schema (draft 4) of accepted documents
    flagkit serve --file flags.json              a local AppConfig serving it to your app
    flagkit demo                                 a release walked end to end, on loopback
    flagkit publish FILE --application A ...     validate, create a version, deploy (--wait)
    flagkit deployments --application A ...      an environment's deployments, with state
    flagkit stop --application A ...             StopDeployment (roll back, or --revert)

Exit status: 0 success; 1 the document was refused, the flag is missing or evaluation
returned an error; 2 a usage problem (bad arguments, unreadable file, missing extra).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from flagkit import __version__
from flagkit._document.limits import MAX_FLAG_COST
from flagkit._exceptions import DocumentError, MissingExtraError

from .report import describe_error

__all__ = ["main"]

OK, REFUSED, USAGE = 0, 1, 2


class CliError(Exception):
    """A usage problem: printed as ``flagkit: error: ...`` with exit status 2."""


class NoSuchFlag(Exception):
    """The document has no such flag: exit status 1, like a refused document."""


# -- shared helpers ------------------------------------------------------------------------------


def content_type_for(path: Path) -> str:
    return "application/ion" if path.suffix.lower() == ".ion" else "application/json"


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path!r}: {exc.strerror}") from exc


def load_snapshot(path: str, user_key: str, at: float | None = None) -> Any:
    """The compiled snapshot of a document file; DocumentError propagates (exit 1).

    ``at`` (seconds since the epoch) fixes the instant ramps are evaluated at (``--at``).
    """
    import time

    from flagkit._snapshot import snapshot_from_bytes
    from flagkit._sources.base import content_version

    body = read_bytes(path)
    return snapshot_from_bytes(
        body,
        content_type=content_type_for(Path(path)),
        version=content_version(body),
        user_key=user_key,
        wall=time.time if at is None else (lambda: at),
    )


def parse_at(text: str) -> float:
    """``--at``: an ISO 8601 instant with a zone (``2026-11-26T10:05:00Z``)."""
    from flagkit._rollout.ramp import RampSyntaxError, parse_start

    try:
        return parse_start(text)
    except RampSyntaxError as exc:
        raise argparse.ArgumentTypeError(f"expected {exc}") from None


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


def _seconds(*, integer: bool, zero: bool) -> Callable[[str], float]:
    """argparse type: a finite number of seconds, above zero (or at least zero)."""
    kind = int if integer else float
    floor = "0 or more" if zero else "above 0"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"seconds must be {floor}, not {text}")
        return value

    return parse


def parse_attrs(pairs: Sequence[str]) -> dict[str, Any]:
    """``k=v`` gives the string ``v``; ``k:=json`` a typed value (``age:=70``, ``tags:=["a"]``).

    Strings are the default because that is what context arrives as from HTTP headers and the
    AppConfig agent; rules read ``"70"`` as a number where the literal is a number.
    """
    attrs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.rstrip(":"):
            raise CliError(f"--attr {pair!r}: expected KEY=VALUE or KEY:=JSON")
        if key.endswith(":"):
            key = key[:-1]
            try:
                attrs[key] = json.loads(raw)
            except ValueError as exc:
                raise CliError(f"--attr {pair!r}: the value after := is not JSON ({exc})") from exc
        else:
            attrs[key] = raw
    return attrs


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _compiled(snapshot: Any, flag: str) -> Any:
    compiled = snapshot.flags.get(flag)
    if compiled is None:
        known = ", ".join(sorted(snapshot.flags)) or "none"
        raise NoSuchFlag(f"no flag {flag!r} in the document (flags: {known})")
    return compiled


# -- commands ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.file, args.user_key, args.at)
    flags = snapshot.flags
    multi = sum(1 for f in flags.values() if f.multi_variant)
    rules = sum(1 for f in flags.values() for r in f.rules if r is not None)
    print(
        f"{args.file}: ok: {_n(len(flags), 'flag')} ({multi} multi-variant, {_n(rules, 'rule')}), "
        f"version {snapshot.version}"
    )
    if flags:
        costliest = max(flags.values(), key=lambda f: f.cost)
        print(
            f"  costliest flag: {costliest.key!r}, at most {_n(costliest.cost, 'step')} per "
            f"evaluation (limit {MAX_FLAG_COST:,}; docs/security.md)"
        )
    return OK


def cmd_eval(args: argparse.Namespace) -> int:
    from flagkit._client import FlagsView

    snapshot = load_snapshot(args.file, args.user_key, args.at)
    compiled = _compiled(snapshot, args.flag)  # an unknown flag: the list of flags, exit 1
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
    compiled = _compiled(snapshot, args.flag)
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


def read_ids(path: str, user_key: str) -> list[tuple[str, dict[str, Any]]]:
    """One id per line; or a JSON object per line with the id under the user key.

    Blank lines and lines starting with ``#`` are skipped.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    data = read_bytes(path)
    if b"\x00" in data:
        raise CliError(f"{path}: binary data (a NUL byte at offset {data.index(0)}), not ids")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start}), not ids") from exc
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()  # noqa: PLW2901 - the stripped line is the line
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise CliError(f"{path}:{n}: not a JSON object ({exc})") from exc
            if not isinstance(obj, dict) or user_key not in obj:
                raise CliError(f"{path}:{n}: a JSON line needs the id under {user_key!r}")
            uid = obj.pop(user_key)
            out.append((str(uid), obj))
        else:
            out.append((line, {}))
    return out


def cmd_coverage(args: argparse.Namespace) -> int:
    snapshot = load_snapshot(args.file, args.user_key, args.at)
    compiled = _compiled(snapshot, args.flag)
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


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return serve(
        args.file,
        application=args.app,
        environment=args.env,
        profile=args.profile,
        port=args.port,
        host=args.host,
        poll_interval=args.poll_interval,
        watch_interval=args.watch_interval,
        out=sys.stdout,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if args.users < 1:
        raise CliError("--users must be at least 1")
    if args.poll_interval < 0:
        raise CliError("--poll-interval must not be negative")
    run_demo(users=args.users, poll_interval=args.poll_interval, out=sys.stdout)
    return OK


def _release(name: str) -> Callable[[argparse.Namespace], int]:
    """publish, deployments, stop: run ``release_cmd.cmd_<name>``, imported on first use."""

    def run(args: argparse.Namespace) -> int:
        from . import release_cmd

        code: int = getattr(release_cmd, f"cmd_{name}")(args, args.runtime)
        return code

    return run


def _positive(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _aws_args(p: argparse.ArgumentParser, *, profile: bool) -> None:
    """Where the application lives, and how to reach it (boto3's chain unless overridden)."""
    p.add_argument("--application", required=True, metavar="A", help="application name or ID")
    p.add_argument("--environment", required=True, metavar="E", help="environment name or ID")
    if profile:
        p.add_argument(
            "--profile", required=True, metavar="P", help="configuration profile name or ID"
        )
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="AppConfig endpoint (default: AWS's; e.g. a local AppConfig on 127.0.0.1)",
    )
    p.add_argument("--region", metavar="REGION", help="AWS region (default: boto3's chain)")
    p.add_argument(
        "--profile-name",
        metavar="NAME",
        help="AWS credentials profile (default: boto3's chain, e.g. AWS_PROFILE)",
    )


# -- the parser ----------------------------------------------------------------------------------


_FILE_HELP = "a flags document: AppConfig's stored form or data view (.json), or Ion (.ion)"
_USER_KEY_HELP = "the context key --user stands for in rules (default: userId)"
_AT_HELP = "evaluate ramps at this instant (ISO 8601 with a zone; default: now)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _context_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help=_FILE_HELP)
    p.add_argument("flag", metavar="FLAG", help="the flag key")
    p.add_argument("--user", metavar="ID", help="the user id ($userId in rules)")
    p.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="K=V",
        help="a context attribute; K=V for a string, K:=JSON for a typed value (repeatable)",
    )


_DIFF_SUMMARY = (
    "what a change does before it ships: flags added, removed, switched, variants, rules, "
    "splits, ramps, alarms; with --ids, who gains and who loses the feature "
    "(exit 0 equal, 1 different, 2 error)"
)


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "old",
        metavar="OLD",
        help=_FILE_HELP + "; or deployed:APP/ENV/PROFILE, the version the latest COMPLETE "
        "deployment deployed (read with boto3)",
    )
    p.add_argument("new", metavar="NEW", help=_FILE_HELP)
    p.add_argument(
        "--ids",
        metavar="FILE",
        help="ids as for coverage: count, per flag, who gains and loses it, and variant moves",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="for deployed:, the AppConfig endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL)",
    )
    p.add_argument("--region", metavar="REGION", help="for deployed: (default: boto3's chain)")
    p.add_argument(
        "--profile-name",
        metavar="NAME",
        help="for deployed:, the AWS credentials profile (default: boto3's chain)",
    )
    p.set_defaults(func=cmd_diff)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="flagkit",
        description="flagkit: in-process feature flags for AWS AppConfig.",
        epilog="Exit status: 0 ok; 1 document refused, flag missing or evaluation error; "
        "2 usage problem. Start with: flagkit demo",
        allow_abbrev=False,  # `--at` must never be taken for `--attr`
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"flagkit {__version__} (distribution flagkit-appconfig)",
    )
    parser.add_argument(
        "--user-key",
        default="userId",
        metavar="KEY",
        help=_USER_KEY_HELP,
    )
    parser.add_argument(
        "--at",
        type=parse_at,
        default=None,
        metavar="TIME",
        help=_AT_HELP,
    )
    # --user-key and --at may also follow the command (`flagkit eval f.json x --at ...`);
    # SUPPRESS keeps a value given before the command when none is given after it.
    common = _Parser(add_help=False, allow_abbrev=False)
    common.add_argument("--user-key", default=argparse.SUPPRESS, metavar="KEY", help=_USER_KEY_HELP)
    common.add_argument(
        "--at", type=parse_at, default=argparse.SUPPRESS, metavar="TIME", help=_AT_HELP
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
            allow_abbrev=False,
        )

    p = command(
        "validate",
        "check a document; precise errors, exit 1 if refused",
        "flagkit validate flags.json",
    )
    p.add_argument("file", metavar="FILE", help=_FILE_HELP)
    p.set_defaults(func=cmd_validate)

    p = command(
        "eval",
        "evaluate a flag for one user: value, variant, reason",
        "flagkit eval flags.json new-pricing-engine --user u-42 --attr plan=pro",
    )
    _context_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_eval)

    p = command(
        "explain",
        "why: each variant's rule, each split's bucket",
        "flagkit explain flags.json new-pricing-engine --user u-42 --attr email=a@shop.example",
    )
    _context_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_explain)

    p = command(
        "coverage",
        "the share of a list of ids each variant gets",
        "flagkit coverage flags.json new-pricing-engine --ids users.txt",
    )
    p.add_argument("file", metavar="FILE", help=_FILE_HELP)
    p.add_argument("flag", metavar="FLAG", help="the flag key")
    p.add_argument(
        "--ids",
        required=True,
        metavar="FILE",
        help="one id per line, or one JSON object per line with the id under the user key",
    )
    p.add_argument("--attr", action="append", default=[], metavar="K=V", help="for every id")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_coverage)

    _diff_args(
        command(
            "diff",
            _DIFF_SUMMARY,
            "flagkit diff examples/release/2-staff.json examples/release/3-canary-5.json "
            "--ids users.txt",
        )
    )

    p = command(
        "schema",
        "print a JSON Schema (draft 4) of accepted documents",
        "flagkit schema --form stored > flags.schema.json",
    )
    p.add_argument(
        "--form",
        choices=("any", "stored", "data-view", "rollout-attributes"),
        default="any",
        help="the stored document, AppConfig's data view, or either (default); "
        "rollout-attributes: the flagkit-* attribute definitions for a stored document",
    )
    p.set_defaults(func=cmd_schema)

    p = command(
        "serve",
        "a local AppConfig (control plane and AppConfigData) that serves a file",
        "flagkit serve --file flags.json --port 2773",
    )
    p.add_argument("--file", required=True, metavar="FILE", help="re-published when it changes")
    p.add_argument("--port", type=_port, default=2773, help="TCP port (default 2773; 0: any free)")
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    p.add_argument("--app", default="app", help="application name (default app)")
    p.add_argument("--env", default="local", help="environment name (default local)")
    p.add_argument("--profile", default="flags", help="profile name (default flags)")
    p.add_argument(
        "--poll-interval",
        type=_seconds(integer=True, zero=True),
        default=1,
        help="NextPollIntervalInSeconds for sessions that ask for none (default 1; AWS: 60)",
    )
    p.add_argument(
        "--watch-interval",
        type=_seconds(integer=False, zero=False),
        default=0.5,
        help="seconds between file checks (default 0.5)",
    )
    p.set_defaults(func=cmd_serve)

    p = command(
        "demo",
        "walk a release end to end on a local AppConfig",
        "flagkit demo --users 5000",
    )
    p.add_argument("--users", type=int, default=20_000, help="population size (default 20000)")
    p.add_argument("--poll-interval", type=int, default=1, help="seconds (default 1)")
    p.set_defaults(func=cmd_demo)
    _release_commands(command)
    return parser


def _release_commands(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """publish, deployments, stop: the AppConfig control plane (release_cmd.py)."""
    p = command(
        "publish",
        "validate a document, create a hosted version on the latest, deploy it",
        "flagkit publish flags.json --application shop --environment prod --profile flags "
        "--strategy AppConfig.Canary10Percent20Minutes --wait",
    )
    p.add_argument("file", metavar="FILE", help=_FILE_HELP)
    _aws_args(p, profile=True)
    p.add_argument(
        "--strategy",
        metavar="NAME|ID",
        help="deployment strategy (default: the one the environment's last deployment used, "
        "else AppConfig.AllAtOnce)",
    )
    p.add_argument("--description", metavar="TEXT", help="for the version and the deployment")
    p.add_argument("--label", metavar="LABEL", help="VersionLabel of the hosted version")
    p.add_argument(
        "--wait", action="store_true", help="follow the deployment; exit 1 if it rolls back"
    )
    p.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    p.set_defaults(func=_release("publish"))

    p = command(
        "deployments",
        "list an environment's deployments, newest first, with their state",
        "flagkit deployments --application shop --environment prod",
    )
    _aws_args(p, profile=False)
    p.add_argument("--limit", type=_positive, default=20, help="how many (default 20)")
    p.add_argument("--json", action="store_true", help="print the DeploymentSummary list")
    p.set_defaults(func=_release("deployments"))

    p = command(
        "stop",
        "stop a deployment in progress (it rolls back), or revert a complete one",
        "flagkit stop --application shop --environment prod",
    )
    _aws_args(p, profile=False)
    p.add_argument(
        "number",
        metavar="NUMBER",
        type=_positive,
        nargs="?",
        help="the deployment number (default: the one in progress)",
    )
    p.add_argument(
        "--revert", action="store_true", help="AllowRevert: revert a COMPLETE deployment"
    )
    p.set_defaults(func=_release("stop"))


def main(argv: Sequence[str] | None = None, *, runtime: Any = None) -> int:
    """Run the command line; returns the exit status.

    ``runtime`` (a ``release_cmd.Runtime``) injects sleep, clock and prompt into publish --wait.
    """
    from .release import ReleaseError

    args = build_parser().parse_args(argv)
    args.runtime = runtime
    where = getattr(args, "file", None) or "document"
    try:
        code: int = args.func(args)
    except DocumentError as exc:
        print(describe_error(exc, where), file=sys.stderr)
        return REFUSED
    except NoSuchFlag as exc:
        print(f"flagkit: {exc}", file=sys.stderr)
        return REFUSED
    except ReleaseError as exc:
        prefix = "flagkit: error:" if exc.status == USAGE else "flagkit:"
        print(f"{prefix} {exc}", file=sys.stderr)
        return exc.status
    except (CliError, MissingExtraError) as exc:
        print(f"flagkit: error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `flagkit demo | head`: the reader left; leave quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code
