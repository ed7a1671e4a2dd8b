"""Evaluation benchmark: flagkit against peer SDKs and a hand-written floor (issue 4).

    .venv/bin/python benchmarks/run.py            # full run, ~1 minute, markdown tables on stdout
    .venv/bin/python benchmarks/run.py --quick    # a few seconds; the smoke test runs this
    .venv/bin/python benchmarks/run.py --json out.json --only floor,flagkit
    .venv/bin/python benchmarks/run.py --profile flagkit   # where flagkit's time goes

Installs nothing: peers come from ``pip install -r benchmarks/requirements.txt``; a missing one
is skipped with that message. Everything runs offline in this one process.

Method. Every SDK is first checked on the whole user population: its outcome shares must match
each scenario (``benchmarks.scenarios.verify``); an SDK that gets any scenario wrong is
refused, not timed. Then ``rounds`` repeats: in each repeat, for each scenario, every SDK runs
one calibrated batch (same users, same rotation) in a shuffled order, with the garbage
collector paused. A repeat's ratio is SDK time / floor time *in that repeat*, so slow drift of
the machine cancels; the report gives medians over repeats.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import random
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

from benchmarks import peers
from benchmarks.scenarios import SCENARIOS, User, make_users, verify
from benchmarks.timing import calibrate, gc_paused, geomean, median, quantile, time_batch

INSTALL_HINT = "pip install -r benchmarks/requirements.txt"
FLOOR = "floor"
SUBJECT = "flagkit"

# Targets from issue 4, as ratios measured in the same run.
TARGET_GEOMEAN = 1.0  # flagkit geomean over S1-S5 <= 1.0x the floor
TARGET_SIMPLE = 2.5  # S1 and S4 <= 2.5x the floor
TARGET_SPEEDUP = 20.0  # >= 20x faster than the fastest peer, every scenario


@dataclass(frozen=True)
class Settings:
    rounds: int
    target_ms: float
    verify_users: int


FULL = Settings(rounds=25, target_ms=10.0, verify_users=10_000)
QUICK = Settings(rounds=3, target_ms=1.0, verify_users=4_000)


@dataclass
class SdkResult:
    """Everything learnt about one SDK in a run."""

    key: str
    name: str
    version: str
    notes: str
    status: str = "pending"  # ok | missing | refused | error
    message: str = ""
    shares: dict[str, str] = field(default_factory=dict)
    ns: dict[str, list[float]] = field(default_factory=dict)  # scenario -> ns/eval per round
    ratio: dict[str, list[float]] = field(default_factory=dict)  # scenario -> /floor per round

    def median_ns(self, scenario: str) -> float:
        return median(self.ns[scenario])

    def median_ratio(self, scenario: str) -> float:
        return median(self.ratio[scenario])

    def geomean_ratio(self) -> float:
        return geomean(self.median_ratio(s.key) for s in SCENARIOS)


@dataclass
class Report:
    """What ``main`` returns: the smoke test reads it, ``--json`` writes it."""

    settings: Settings
    machine: dict[str, str]
    sdks: dict[str, SdkResult]
    targets: list[tuple[str, str, bool]] = field(default_factory=list)  # (target, measured, met)
    speedup: dict[str, float] = field(default_factory=dict)  # scenario -> fastest peer / flagkit

    @property
    def timed(self) -> list[SdkResult]:
        return [r for r in self.sdks.values() if r.status == "ok"]

    @property
    def verified(self) -> bool:
        """No SDK that was present got a scenario wrong."""
        return all(r.status in ("ok", "missing") for r in self.sdks.values())


def machine_info() -> dict[str, str]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "uname": " ".join(os.uname()),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@contextmanager
def _quiet(key: str) -> Iterator[None]:
    """Peers' own warnings (deprecations and the like) are their business, not this run's;
    flagkit's and the floor's are left alone."""
    if key in (FLOOR, SUBJECT):
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _rotated(users: list[User], offset: int) -> list[User]:
    offset %= len(users)
    return users[offset:] + users[:offset]


def run(
    settings: Settings, only: list[str] | None = None, out: Any = None, seed: int = 4
) -> Report:
    """Verify, then time, every available SDK; print progress to ``out`` (None: silent)."""
    say = (lambda *a: print(*a, file=out, flush=True)) if out is not None else (lambda *a: None)
    keys = [k for k in peers.ADAPTERS if only is None or k in only or k == FLOOR]
    users = make_users()
    report = Report(settings, machine_info(), {})
    benches: dict[str, Any] = {}

    # Peers log warnings on some paths (GrowthBook on every unknown flag); nobody pays for I/O.
    logging.disable(logging.CRITICAL)
    try:
        for key in keys:
            result, bench = _load_and_verify(key, users[: settings.verify_users], say)
            report.sdks[key] = result
            if bench is not None:
                benches[key] = bench
        if FLOOR not in benches:
            raise RuntimeError("the floor failed its own share check; the scenarios are broken")
        _time_all(report, benches, users, settings, random.Random(seed), say)
    finally:
        for key, bench in benches.items():
            with _quiet(key):
                try:
                    bench.close()
                except Exception as exc:  # a peer failing to close must not hide the results
                    say(f"  note: {key} close() raised {type(exc).__name__}: {exc}")
        logging.disable(logging.NOTSET)
    _judge(report)
    return report


def _load_and_verify(key: str, users: list[User], say: Any) -> tuple[SdkResult, Any]:
    module = peers.load(key)
    result = SdkResult(key, module.NAME, peers.version_of(module.DIST), module.NOTES)
    try:
        with _quiet(key):
            bench = module.build()
            if hasattr(module, "version"):
                result.version = module.version()
    except ImportError as exc:
        if key in (FLOOR, SUBJECT):  # our own code failing to import is an error, not a skip
            result.status, result.message = "error", f"import failed: {exc}"
            say(f"ERROR {result.name}: {result.message}")
            return result, None
        result.status, result.version = "missing", "missing"
        result.message = f"{module.DIST} not importable ({exc}); to include it: {INSTALL_HINT}"
        say(f"skipping {result.name}: {result.message}")
        return result, None
    except Exception as exc:
        result.status, result.message = "error", f"setup failed: {type(exc).__name__}: {exc}"
        say(f"skipping {result.name}: {result.message}")
        return result, None
    problems = []
    with _quiet(key):
        for scenario in SCENARIOS:
            try:
                verdict = verify(scenario, bench.evaluators[scenario.key], users)
            except Exception as exc:
                problems.append(f"{scenario.key} raised {type(exc).__name__}: {exc}")
                continue
            result.shares[scenario.key] = verdict.describe()
            problems.extend(f"{scenario.key} {p}" for p in verdict.problems)
    if problems:
        result.status, result.message = "refused", "wrong shares: " + "; ".join(problems)
        say(f"REFUSED {result.name} {result.version}: {result.message}")
        with _quiet(key):
            bench.close()
        return result, None
    result.status = "ok"
    say(f"verified {result.name} {result.version}: shares match in all {len(SCENARIOS)} scenarios")
    return result, bench


def _time_all(
    report: Report,
    benches: dict[str, Any],
    users: list[User],
    settings: Settings,
    rng: random.Random,
    say: Any,
) -> None:
    target_ns = int(settings.target_ms * 1e6)
    shapes: dict[tuple[str, str], tuple[int, int]] = {}
    for key, bench in benches.items():
        with _quiet(key):
            for s in SCENARIOS:
                shapes[key, s.key] = calibrate(bench.evaluators[s.key], users, target_ns)
                report.sdks[key].ns[s.key] = []
                report.sdks[key].ratio[s.key] = []
    say(
        f"timing {len(benches)} SDKs x {len(SCENARIOS)} scenarios x {settings.rounds} rounds "
        f"(~{settings.target_ms:g} ms per batch)"
    )
    order = list(benches)
    for rnd in range(settings.rounds):
        batch_users = _rotated(users, rnd * 7919)  # same users for everyone within a repeat
        with gc_paused():
            for s in SCENARIOS:
                rng.shuffle(order)
                per_call: dict[str, float] = {}
                for key in order:
                    n, passes = shapes[key, s.key]
                    evaluate = benches[key].evaluators[s.key]
                    with _quiet(key):
                        elapsed = time_batch(evaluate, batch_users[:n], passes)
                    per_call[key] = elapsed / (n * passes)
                for key, ns in per_call.items():
                    report.sdks[key].ns[s.key].append(ns)
                    report.sdks[key].ratio[s.key].append(ns / per_call[FLOOR])
    say("done")


def _judge(report: Report) -> None:
    """Fill ``report.targets`` and ``report.speedup`` when flagkit and peers were timed."""
    fk = report.sdks.get(SUBJECT)
    if fk is None or fk.status != "ok":
        return
    peer_rows = [r for r in report.timed if r.key not in (FLOOR, SUBJECT)]
    g = fk.geomean_ratio()
    report.targets.append(
        (f"geomean S1-S5 <= {TARGET_GEOMEAN:g}x floor", f"{g:.2f}x", g <= TARGET_GEOMEAN)
    )
    for key in ("S1", "S4"):
        r = fk.median_ratio(key)
        report.targets.append(
            (f"{key} <= {TARGET_SIMPLE:g}x floor", f"{r:.2f}x", r <= TARGET_SIMPLE)
        )
    if not peer_rows:
        return
    for s in SCENARIOS:
        # Per repeat, like the ratios: drift cancels.
        fastest = [min(col) for col in zip(*(p.ns[s.key] for p in peer_rows), strict=True)]
        per_round = [f / mine for f, mine in zip(fastest, fk.ns[s.key], strict=True)]
        report.speedup[s.key] = median(per_round)
    worst_key = min(report.speedup, key=report.speedup.__getitem__)
    worst = report.speedup[worst_key]
    report.targets.append(
        (
            f">= {TARGET_SPEEDUP:g}x faster than the fastest peer in every scenario",
            f"lowest {worst:.1f}x ({worst_key})",
            worst >= TARGET_SPEEDUP,
        )
    )


# --- output ---------------------------------------------------------------------------------


def render(report: Report) -> str:
    """The markdown tables docs/performance.md carries."""
    m, st = report.machine, report.settings
    lines = [
        f"Machine: {m['cpu']}, nproc {m['nproc']}; {m['python']}; `{m['uname']}`",
        f"Settings: {st.rounds} interleaved repeats, ~{st.target_ms:g} ms batches, "
        f"shares verified on {st.verify_users:,} users.",
        "",
        "Scenarios: " + "; ".join(f"{s.key} {s.title}" for s in SCENARIOS) + ".",
        "",
        "| SDK | version | status | how it is called |",
        "|---|---|---|---|",
    ]
    for r in report.sdks.values():
        status = r.status if not r.message else f"{r.status}: {r.message}"
        lines.append(f"| {r.name} | {r.version} | {status} | {r.notes} |")
    timed = report.timed
    if not timed:
        return "\n".join(lines)
    keys = [s.key for s in SCENARIOS]
    header = "| SDK | " + " | ".join(keys) + " |"
    sep = "|---|" + "---:|" * len(keys)
    lines += ["", "Median ns per evaluation (context built per call):", "", header, sep]
    for r in timed:
        cells = " | ".join(f"{r.median_ns(k):,.0f}" for k in keys)
        lines.append(f"| {r.name} | {cells} |")
    lines += [
        "",
        "Ratio to the floor (median of the per-repeat ratios):",
        "",
        header + " geomean |",
        sep + "---:|",
    ]
    for r in timed:
        cells = " | ".join(f"{r.median_ratio(k):.2f}x" for k in keys)
        lines.append(f"| {r.name} | {cells} | {r.geomean_ratio():.2f}x |")
    if report.speedup:
        cells = " | ".join(f"{report.speedup[k]:.1f}x" for k in keys)
        lines += [
            "",
            "flagkit's speedup over the fastest peer (median over repeats):",
            "",
            header,
            sep,
            f"| fastest peer / flagkit | {cells} |",
        ]
    if report.targets:
        lines += ["", "| target (issue 4) | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in report.targets]
    fk = report.sdks.get(SUBJECT)
    if fk is not None and fk.status == "ok":
        cells = " | ".join(
            f"{quantile(fk.ratio[k], 0.25):.2f}-{quantile(fk.ratio[k], 0.75):.2f}x" for k in keys
        )
        lines += [
            "",
            "Spread of flagkit's per-repeat ratio (interquartile range):",
            "",
            header,
            sep,
            f"| flagkit | {cells} |",
        ]
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    return {
        "settings": report.settings.__dict__,
        "machine": report.machine,
        "sdks": {k: r.__dict__ for k, r in report.sdks.items()},
        "speedup": report.speedup,
        "targets": report.targets,
    }


def profile(key: str, calls: int = 200_000, top: int = 12) -> str:
    """cProfile each scenario of one SDK (the profiler's own cost inflates small functions:
    read the shares of time, not the absolute numbers)."""
    module = peers.load(key)
    users = make_users()
    chunks = []
    with _quiet(key):
        bench = module.build()
        try:
            for s in SCENARIOS:
                evaluate = bench.evaluators[s.key]
                prof = cProfile.Profile()
                prof.enable()
                time_batch(evaluate, users, max(1, calls // len(users)))
                prof.disable()
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
                chunks.append(f"== {module.NAME} {s.key} {s.title}\n{buf.getvalue()}")
        finally:
            bench.close()
    return "\n".join(chunks)


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> Report | None:
    """Command-line entry point; returns the report (None for ``--profile``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 short repeats, 4,000-user share check"
    )
    parser.add_argument("--rounds", type=int, help="interleaved repeats (default 25, quick 3)")
    parser.add_argument("--target-ms", type=float, help="wall time per timed batch (default 10)")
    parser.add_argument(
        "--only",
        help="comma-separated adapters (floor is always included): " + ",".join(peers.ADAPTERS),
    )
    parser.add_argument("--json", metavar="PATH", help="also write every per-repeat number here")
    parser.add_argument(
        "--profile", metavar="ADAPTER", help="cProfile one adapter instead of timing"
    )
    args = parser.parse_args(argv)
    if args.profile:
        logging.disable(logging.CRITICAL)
        try:
            print(profile(args.profile), file=out)
        finally:
            logging.disable(logging.NOTSET)
        return None
    base = QUICK if args.quick else FULL
    settings = Settings(
        rounds=args.rounds or base.rounds,
        target_ms=args.target_ms or base.target_ms,
        verify_users=base.verify_users,
    )
    only = args.only.split(",") if args.only else None
    report = run(settings, only=only, out=out)
    print("\n" + render(report), file=out)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(report), indent=1, default=str))
    return report


if __name__ == "__main__":
    _report = main()
    sys.exit(0 if _report is None or _report.verified else 1)
