"""Evaluation benchmark: flagkit against peer SDKs and a hand-written floor (issues 4 and 18).

    .venv/bin/python benchmarks/run.py            # full run, ~1 minute, markdown tables on stdout
    .venv/bin/python benchmarks/run.py --quick    # a few seconds; the smoke test runs this
    .venv/bin/python benchmarks/run.py --json out.json --only floor,flagkit
    .venv/bin/python benchmarks/run.py --profile flagkit   # where flagkit's time goes

Installs nothing: peers come from ``pip install -r benchmarks/requirements.txt``; a missing one
is skipped with that message. Everything runs offline in this one process.

Method. Every SDK is timed two ways. **At the call site** (the primary table): the timing loop
itself contains the SDK's call expression, as application code writes it
(``flags.enabled("s2", uid, attrs)``; the floor's ``d.get`` and ``mmh3.hash`` inline), compiled
from one template for everyone (``benchmarks.timing.call_site``), so method lookup, argument
passing and keyword defaults count. **Through an evaluator** (the second table, the method of
issue 4): the loop calls ``evaluate(uid, attrs)``, for flagkit a ``functools.partial`` of the
bound method, which hides those call-site effects behind one extra call.

Every SDK is first checked on the whole user population, both ways: its outcome shares must
match each scenario (``benchmarks.scenarios.verify``); an SDK that gets any scenario wrong is
refused, not timed. Then ``rounds`` repeats: in each repeat, for each scenario, every
(SDK, way) pair runs one calibrated batch (same users, same rotation) in a shuffled order, with
the garbage collector paused. A repeat's ratio is SDK time / floor time, timed the same way *in
that repeat*, so slow drift of the machine cancels; the report gives medians over repeats.
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
from benchmarks.timing import (
    Timer,
    batch_timer,
    calibrate,
    call_site,
    gc_paused,
    geomean,
    median,
    quantile,
)

INSTALL_HINT = "pip install -r benchmarks/requirements.txt"
FLOOR = "floor"  # every ratio's reference: the hand-written check, called as a function
FLOOR_INLINE = "floor_inline"  # the same check pasted into the loop: no call at all
SUBJECT = "flagkit"
HANDLE = "flagkit_handle"
OWN = (FLOOR, FLOOR_INLINE, SUBJECT, HANDLE)  # our code: warnings shown, import errors are errors

# The two ways every SDK is timed; CALL is the primary one.
CALL = "call"
EVALUATOR = "evaluator"
MODES = (CALL, EVALUATOR)

# Targets, as ratios to the floor at the call site, measured in the same run.
TARGET_ENABLED = 1.4  # issue 18: flagkit geomean over S1-S5 <= 1.4x the floor
TARGET_S3 = 1.6  # issue 18: S3 <= 1.6x
TARGET_HANDLE = 1.0  # issue 18: flag handles' geomean <= 1.0x
TARGET_SIMPLE = 2.5  # issue 4: S1 and S4 <= 2.5x the floor
TARGET_SPEEDUP = 20.0  # issue 4: >= 20x faster than the fastest peer, every scenario


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
    # mode -> scenario -> ns/eval per round, and / the floor's (same mode) per round
    ns: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    ratio: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def median_ns(self, scenario: str, mode: str = CALL) -> float:
        return median(self.ns[mode][scenario])

    def median_ratio(self, scenario: str, mode: str = CALL) -> float:
        return median(self.ratio[mode][scenario])

    def geomean_ratio(self, mode: str = CALL) -> float:
        return geomean(self.median_ratio(s.key, mode) for s in SCENARIOS)


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


@dataclass
class _Loaded:
    """An SDK that passed its share check: what to time, and how to let it go."""

    bench: peers.Bench
    timers: dict[str, dict[str, Timer]]  # mode -> scenario -> timer


def machine_info() -> dict[str, str]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "uname": " ".join(os.uname()),
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "load": _load(),
    }


def _load() -> str:
    """The 1-minute load average: on a shared machine, how much else was running."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


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
    if key in OWN:
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
    keys = [k for k in peers.ADAPTERS if only is None or k in only or k in (FLOOR, FLOOR_INLINE)]
    users = make_users()
    report = Report(settings, machine_info(), {})
    loaded: dict[str, _Loaded] = {}

    # Peers log warnings on some paths (GrowthBook on every unknown flag); nobody pays for I/O.
    logging.disable(logging.CRITICAL)
    try:
        for key in keys:
            module = peers.load(key)
            if not peers.available(module):
                continue
            result, sdk = _load_and_verify(key, module, users[: settings.verify_users], say)
            report.sdks[key] = result
            if sdk is not None:
                loaded[key] = sdk
        if FLOOR not in loaded:
            raise RuntimeError("the floor failed its own share check; the scenarios are broken")
        _time_all(report, loaded, users, settings, random.Random(seed), say)
    finally:
        for key, sdk in loaded.items():
            with _quiet(key):
                try:
                    sdk.bench.close()
                except Exception as exc:  # a peer failing to close must not hide the results
                    say(f"  note: {key} close() raised {type(exc).__name__}: {exc}")
        logging.disable(logging.NOTSET)
    report.machine["load after"] = _load()
    _judge(report)
    return report


def _compile(key: str, bench: peers.Bench) -> tuple[dict[str, Any], dict[str, dict[str, Timer]]]:
    """Each way of calling each scenario: ``({mode: {scenario: evaluate}}, {mode: timers})``.

    Every adapter has call sites; one with no evaluators (the inline floor) has no second way.
    """
    evaluators: dict[str, Any] = {CALL: {}}
    timers: dict[str, dict[str, Timer]] = {CALL: {}}
    if bench.evaluators:
        evaluators[EVALUATOR], timers[EVALUATOR] = {}, {}
    for s in SCENARIOS:
        evaluate, timer = call_site(bench.call_sites[s.key], bench.names, f"{key} {s.key}")
        evaluators[CALL][s.key], timers[CALL][s.key] = evaluate, timer
        if bench.evaluators:
            evaluators[EVALUATOR][s.key] = bench.evaluators[s.key]
            timers[EVALUATOR][s.key] = batch_timer(bench.evaluators[s.key])
    return evaluators, timers


def _load_and_verify(
    key: str, module: Any, users: list[User], say: Any
) -> tuple[SdkResult, _Loaded | None]:
    result = SdkResult(key, module.NAME, peers.version_of(module.DIST), module.NOTES)
    try:
        with _quiet(key):
            bench = module.build()
            if hasattr(module, "version"):
                result.version = module.version()
    except ImportError as exc:
        if key in OWN:  # our own code failing to import is an error, not a skip
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
    try:
        evaluators, timers = _compile(key, bench)
    except (KeyError, SyntaxError, ValueError) as exc:  # an adapter's call site is broken
        evaluators, timers = {}, {}
        problems.append(f"call sites do not compile: {type(exc).__name__}: {exc}")
    with _quiet(key):
        for mode, by_scenario in evaluators.items():
            for scenario in SCENARIOS:
                label = f"{scenario.key} ({mode})"
                try:
                    verdict = verify(scenario, by_scenario[scenario.key], users)
                except Exception as exc:
                    problems.append(f"{label} raised {type(exc).__name__}: {exc}")
                    continue
                if mode == CALL:
                    result.shares[scenario.key] = verdict.describe()
                problems.extend(f"{label} {p}" for p in verdict.problems)
    if problems:
        result.status, result.message = "refused", "wrong shares: " + "; ".join(problems)
        say(f"REFUSED {result.name} {result.version}: {result.message}")
        with _quiet(key):
            bench.close()
        return result, None
    result.status = "ok"
    ways = " and ".join(
        {CALL: "at the call site", EVALUATOR: "through the evaluator"}[m] for m in evaluators
    )
    say(
        f"verified {result.name} {result.version}: {len(SCENARIOS)} scenarios' shares match, {ways}"
    )
    return result, _Loaded(bench, timers)


def _time_all(
    report: Report,
    loaded: dict[str, _Loaded],
    users: list[User],
    settings: Settings,
    rng: random.Random,
    say: Any,
) -> None:
    target_ns = int(settings.target_ms * 1e6)
    shapes: dict[tuple[str, str, str], tuple[int, int]] = {}
    for key, sdk in loaded.items():
        result = report.sdks[key]
        with _quiet(key):
            for mode in sdk.timers:
                result.ns[mode], result.ratio[mode] = {}, {}
                for s in SCENARIOS:
                    shapes[key, mode, s.key] = calibrate(sdk.timers[mode][s.key], users, target_ns)
                    result.ns[mode][s.key], result.ratio[mode][s.key] = [], []
    say(
        f"timing {len(loaded)} SDKs x {len(MODES)} ways x {len(SCENARIOS)} scenarios x "
        f"{settings.rounds} rounds (~{settings.target_ms:g} ms per batch; the inline floor is "
        "timed at the call site only)"
    )
    order = [(key, mode) for key, sdk in loaded.items() for mode in sdk.timers]
    for rnd in range(settings.rounds):
        batch_users = _rotated(users, rnd * 7919)  # same users for everyone within a repeat
        with gc_paused():
            for s in SCENARIOS:
                rng.shuffle(order)
                per_call: dict[tuple[str, str], float] = {}
                for key, mode in order:
                    n, passes = shapes[key, mode, s.key]
                    timer = loaded[key].timers[mode][s.key]
                    with _quiet(key):
                        elapsed = timer(batch_users[:n], passes)
                    per_call[key, mode] = elapsed / (n * passes)
                for (key, mode), ns in per_call.items():
                    report.sdks[key].ns[mode][s.key].append(ns)
                    report.sdks[key].ratio[mode][s.key].append(ns / per_call[FLOOR, mode])
    say("done")


def _judge(report: Report) -> None:
    """Fill ``report.targets`` and ``report.speedup`` from the call-site numbers."""
    fk = report.sdks.get(SUBJECT)
    if fk is None or fk.status != "ok":
        return
    g = fk.geomean_ratio()
    report.targets.append(
        (
            f"issue 18: flagkit geomean S1-S5 <= {TARGET_ENABLED:g}x floor",
            f"{g:.2f}x",
            g <= TARGET_ENABLED,
        )
    )
    s3 = fk.median_ratio("S3")
    report.targets.append(
        (f"issue 18: flagkit S3 <= {TARGET_S3:g}x floor", f"{s3:.2f}x", s3 <= TARGET_S3)
    )
    handle = report.sdks.get(HANDLE)
    label = f"issue 18: flagkit handle geomean S1-S5 <= {TARGET_HANDLE:g}x floor"
    if handle is not None and handle.status == "ok":
        h = handle.geomean_ratio()
        report.targets.append((label, f"{h:.2f}x", h <= TARGET_HANDLE))
    elif handle is not None:
        report.targets.append((label, f"not timed ({handle.status})", False))
    else:
        report.targets.append((label, "not measured: this tree has no Flags.flag", False))
    for key in ("S1", "S4"):
        r = fk.median_ratio(key)
        report.targets.append(
            (f"issue 4: {key} <= {TARGET_SIMPLE:g}x floor", f"{r:.2f}x", r <= TARGET_SIMPLE)
        )
    peer_rows = [r for r in report.timed if r.key not in OWN]
    if not peer_rows:
        return
    for s in SCENARIOS:
        # Per repeat, like the ratios: drift cancels.
        columns = zip(*(p.ns[CALL][s.key] for p in peer_rows), strict=True)
        fastest = [min(col) for col in columns]
        per_round = [f / mine for f, mine in zip(fastest, fk.ns[CALL][s.key], strict=True)]
        report.speedup[s.key] = median(per_round)
    worst_key = min(report.speedup, key=report.speedup.__getitem__)
    worst = report.speedup[worst_key]
    report.targets.append(
        (
            f"issue 4: >= {TARGET_SPEEDUP:g}x faster than the fastest peer in every scenario",
            f"lowest {worst:.1f}x ({worst_key})",
            worst >= TARGET_SPEEDUP,
        )
    )


# --- output ---------------------------------------------------------------------------------


def _tables(timed: list[SdkResult], mode: str, keys: list[str]) -> list[str]:
    timed = [r for r in timed if mode in r.ns]
    header = "| SDK | " + " | ".join(keys) + " |"
    sep = "|---|" + "---:|" * len(keys)
    lines = ["", "Median ns per evaluation (context built per call):", "", header, sep]
    for r in timed:
        cells = " | ".join(f"{r.median_ns(k, mode):,.0f}" for k in keys)
        lines.append(f"| {r.name} | {cells} |")
    lines += [
        "",
        "Ratio to the floor (median of the per-repeat ratios):",
        "",
        header + " geomean |",
        sep + "---:|",
    ]
    for r in timed:
        cells = " | ".join(f"{r.median_ratio(k, mode):.2f}x" for k in keys)
        lines.append(f"| {r.name} | {cells} | {r.geomean_ratio(mode):.2f}x |")
    return lines


def inline_ratio(result: SdkResult, inline: SdkResult, scenario: str) -> float:
    """Median over repeats of ``result``'s call-site time / the inline floor's, per repeat."""
    pairs = zip(result.ns[CALL][scenario], inline.ns[CALL][scenario], strict=True)
    return median(mine / floor for mine, floor in pairs)


def render(report: Report) -> str:
    """The markdown tables docs/performance.md carries."""
    m, st = report.machine, report.settings
    lines = [
        f"Machine: {m['cpu']}, nproc {m['nproc']}; {m['python']}; `{m['uname']}`; "
        f"load average {m['load']} before, {m.get('load after', '?')} after",
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
    lines += [
        "",
        "#### At the call site",
        "",
        'The loop itself contains the call, as application code writes it: `flags.enabled("s2",'
        " uid, attrs)`. The floor's call site is `s2(uid, attrs)`, its hand-written function,"
        " and every ratio is to that floor; the inline floor row pastes the same check"
        " (`d.get(flag)` + `mmh3.hash(...)`) into the loop instead.",
    ]
    lines += _tables(timed, CALL, keys)
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
        lines += ["", "| target (at the call site) | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in report.targets]
    spread = [r for r in timed if r.key in (SUBJECT, HANDLE)]
    inline = report.sdks.get(FLOOR_INLINE)
    if spread and inline is not None and inline.status == "ok":
        lines += [
            "",
            "Ratio to the inline floor instead (median of the per-repeat ratios; no target is set"
            " against it: any Python call costs more than an inline `dict.get`):",
            "",
            header + " geomean |",
            sep + "---:|",
        ]
        for r in spread:
            ratios = [inline_ratio(r, inline, k) for k in keys]
            cells = " | ".join(f"{x:.2f}x" for x in ratios)
            lines.append(f"| {r.name} | {cells} | {geomean(ratios):.2f}x |")
    if spread:
        lines += [
            "",
            "Spread of the per-repeat ratio at the call site (interquartile range):",
            "",
            header,
            sep,
        ]
        for r in spread:
            cells = " | ".join(
                f"{quantile(r.ratio[CALL][k], 0.25):.2f}-{quantile(r.ratio[CALL][k], 0.75):.2f}x"
                for k in keys
            )
            lines.append(f"| {r.name} | {cells} |")
    lines += [
        "",
        "#### Through an evaluator (the issue-4 method)",
        "",
        "The loop calls `evaluate(uid, attrs)`: for flagkit a `functools.partial` of the bound"
        " method, for the floor and the peers a closure; the floor is timed the same way.",
    ]
    lines += _tables(timed, EVALUATOR, keys)
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
    """cProfile each scenario of one SDK at the call site (the profiler's own cost inflates
    small functions: read the shares of time, not the absolute numbers)."""
    module = peers.load(key)
    if not peers.available(module):
        return f"{module.NAME}: not available in this tree"
    users = make_users()
    chunks = []
    with _quiet(key):
        bench = module.build()
        try:
            _, timers = _compile(key, bench)
            for s in SCENARIOS:
                prof = cProfile.Profile()
                prof.enable()
                timers[CALL][s.key](users, max(1, calls // len(users)))
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
        "--profile", metavar="ADAPTER", help="cProfile one adapter at the call site instead"
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
