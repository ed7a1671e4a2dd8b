"""Call-site timing of ``flags.enabled`` / ``flags.variant`` and flag handles against the floor.

    .venv/bin/python benchmarks/callsite_quick.py              # ~1 minute
    .venv/bin/python benchmarks/callsite_quick.py --rounds 5   # a quick look

``benchmarks/run.py`` is the full report (peers included). This script answers one question
fast: what does the line an application writes cost, as written? Each timed loop spells its
call out in source, ``flags.enabled("s2", uid, attributes)`` or ``handle.enabled(uid,
attributes)``, so CPython's call-site specialisation applies as it would in the application;
the floor (``benchmarks/peers/floor.py``) is called the same way, one Python call per
evaluation. In each round every (scenario, subject) batch runs once, in a shuffled order, with
the garbage collector paused; a round's ratio is subject time / floor time in that round, and
the report gives the median over rounds. The machine's noise is the floor timed twice per
round: the spread of floor/floor.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns
from typing import Any

if __package__ in (None, ""):
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

from benchmarks.peers import floor
from benchmarks.scenarios import SCENARIOS, User, appconfig_document, make_users
from benchmarks.timing import gc_paused, geomean, quantile

Loop = Callable[[Any, list[User], int], int]

_TEMPLATE = """
def loop(target, users, passes):
    t0 = perf_counter_ns()
    for _ in range(passes):
        for uid, attributes in users:
            {call}
    return perf_counter_ns() - t0
"""


def _loop(call: str) -> Loop:
    """A timing loop whose body is ``call``, compiled as source (so it specialises)."""
    scope: dict[str, Any] = {"perf_counter_ns": perf_counter_ns}
    exec(_TEMPLATE.format(call=call), scope)  # noqa: S102 - fixed templates, no input
    return scope["loop"]  # type: ignore[no-any-return]


def _subjects() -> dict[str, dict[str, tuple[Loop, Any]]]:
    """subject -> scenario -> (loop, target)."""
    import flagkit

    flags = flagkit.Flags(flagkit.StaticSource(appconfig_document()), start=False)
    flags.refresh()
    fl = floor.build().evaluators
    out: dict[str, dict[str, tuple[Loop, Any]]] = {"floor": {}, "floor2": {}, "enabled": {}}
    has_handles = hasattr(flags, "flag")
    if has_handles:
        out["handle"] = {}
    for s in SCENARIOS:
        out["floor"][s.key] = (_loop("target(uid, attributes)"), fl[s.key])
        out["floor2"][s.key] = out["floor"][s.key]
        method = "variant" if s.key == "S5" else "enabled"
        out["enabled"][s.key] = (_loop(f"target.{method}({s.flag!r}, uid, attributes)"), flags)
        if has_handles:
            out["handle"][s.key] = (_loop(f"target.{method}(uid, attributes)"), flags.flag(s.flag))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--passes", type=int, default=3, help="sweeps of 10,000 users per batch")
    args = parser.parse_args(argv)
    logging.getLogger("flagkit").setLevel(logging.ERROR)  # S4's one "no flag" warning
    users = make_users()
    subjects = _subjects()
    names = list(subjects)
    rng = random.Random(7)
    ns: dict[tuple[str, str], list[float]] = {}
    ratio: dict[tuple[str, str], list[float]] = {}
    for loop_target in (x for per in subjects.values() for x in per.values()):  # warm up
        loop_target[0](loop_target[1], users[:2000], 1)
    for r in range(args.rounds):
        rotated = users[r * 997 % len(users) :] + users[: r * 997 % len(users)]
        calls = len(rotated) * args.passes
        for s in SCENARIOS:
            order = names[:]
            rng.shuffle(order)
            took: dict[str, float] = {}
            with gc_paused():
                for name in order:
                    loop, target = subjects[name][s.key]
                    took[name] = loop(target, rotated, args.passes) / calls
            for name in names:
                ns.setdefault((name, s.key), []).append(took[name])
                ratio.setdefault((name, s.key), []).append(took[name] / took["floor"])
    keys = [s.key for s in SCENARIOS]
    print(f"{args.rounds} rounds x {args.passes} x {len(users):,} calls per batch; median ns/call")
    print(f"{'subject':10}" + "".join(f"{k:>16}" for k in keys) + f"{'geomean':>10}")
    for name in names:
        cells = []
        med = []
        for k in keys:
            m = statistics.median(ratio[(name, k)])
            med.append(m)
            cells.append(f"{statistics.median(ns[(name, k)]):6.1f}ns {m:5.2f}x")
        print(f"{name:10}" + "".join(f"{c:>16}" for c in cells) + f"{geomean(med):9.2f}x")
    print("noise: floor2/floor per round, p10..p90 per scenario:")
    for k in keys:
        vals = ratio[("floor2", k)]
        print(f"  {k}: {quantile(vals, 0.1):.3f}..{quantile(vals, 0.9):.3f}", end="")
    print()
    for name in names[2:]:
        print(f"{name} ratio p25..p75:", end="")
        for k in keys:
            vals = ratio[(name, k)]
            print(f"  {k} {quantile(vals, 0.25):.2f}..{quantile(vals, 0.75):.2f}", end="")
        print()


if __name__ == "__main__":
    main()
