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
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from flagkit import __version__
from flagkit._exceptions import DocumentError, MissingExtraError

from .documents import (
    cmd_coverage,
    cmd_diff,
    cmd_eval,
    cmd_explain,
    cmd_schema,
    cmd_validate,
)
from .inputs import (
    OK,
    REFUSED,
    USAGE,
    CliError,
    NoSuchFlag,
    parse_at,
    port_number,
    positive_int,
    seconds_type,
)
from .report import describe_error

__all__ = ["main"]


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
    p.add_argument(
        "--port",
        type=port_number,
        default=2773,
        help="TCP port (default 2773; 0: any free)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    p.add_argument("--app", default="app", help="application name (default app)")
    p.add_argument("--env", default="local", help="environment name (default local)")
    p.add_argument("--profile", default="flags", help="profile name (default flags)")
    p.add_argument(
        "--poll-interval",
        type=seconds_type(integer=True, zero=True),
        default=1,
        help="NextPollIntervalInSeconds for sessions that ask for none (default 1; AWS: 60)",
    )
    p.add_argument(
        "--watch-interval",
        type=seconds_type(integer=False, zero=False),
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
    p.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")
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
        type=positive_int,
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
