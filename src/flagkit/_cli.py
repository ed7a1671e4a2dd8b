"""The ``flagkit`` command line (argparse, standard library only)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(users=args.users, poll_interval=args.poll_interval, out=sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flagkit", description="flagkit command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="walk a release end to end on a local AppConfigData")
    demo.add_argument("--users", type=int, default=20_000, help="population size (20000)")
    demo.add_argument("--poll-interval", type=int, default=1, help="seconds (1)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
