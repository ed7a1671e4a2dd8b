"""Soak: pollers against a local AppConfigData server with random faults and publishes.

    .venv/bin/python benchmarks/soak.py --minutes 3 [--pollers 4 --evaluators 2 --seed 1]

Runs ``--pollers`` :class:`flagkit.Flags` clients, each with an :class:`flagkit.AppConfigSource`
whose real boto3 client talks to one :class:`flagkit.testing.LocalAppConfigData` on 127.0.0.1
(poll interval 1 s), while ``--evaluators`` threads evaluate through them without pause. For
the whole duration the main thread, paced by a seeded random generator, does one of three things
every 0.1-0.9 s (about twice a second, while the pollers make 5-6 requests a second):

* 35 %: publishes a valid document (label ``good-<n>``; flag ``release`` carries ``seq == n``);
* 25 %: publishes an invalid one (label ``bad-<n>``): malformed JSON, a wrong type, a duplicate
  key, NaN, non-UTF-8 bytes, an oversize body, a rule nested too deep, an unknown operator, an
  unknown field, a JSON array;
* 40 %: makes the next request fail (``LocalAppConfigData.inject``): throttling (429), internal
  error (500), not found (404), a dropped connection, a slow answer within the read timeout, a
  hang past it, or the token problems expired, corrupted and too early. About one request in
  seven fails, each failure costing a poller up to 3 s (``permanent_retry``).

Then it stops injecting, publishes one last valid document and waits for every poller to serve
it. The pollers use ``Polling(backoff_cap=2, permanent_retry=3, max_bytes=256 KiB)`` so that a
run of minutes sees many recoveries (the defaults back off for up to 60 s and 300 s).

**Staleness** is how long a poller serves a document older than a valid one the server is
offering. AppConfig serves only its latest deployment, so a valid ``good-n`` is on offer from
just before its ``publish()`` until the next *invalid* publish replaces it (a later valid one
keeps the window open, since serving it serves something at least as new). Per valid publish
and per poller, staleness is the time from that publish to the earlier of the poller's first
swap to ``good-n`` or newer (timed in the ``on_change`` listener) and the end of the window.
The longest staleness is the maximum over all valid publishes and all pollers.

Checks, each a line in ``Result.failures`` (the script exits 1 if any fails):

* no evaluation raised, and every pinned read was whole (``release.seq`` equals the number in
  the view's version label) and no view served a ``bad-`` version or went backwards;
* no poller ever swapped in a ``bad-`` document, and all converged on the last publish;
* longest staleness <= ``--max-staleness`` (default 10 s: about three failed polls in a row);
* threads and open file descriptors at the end (after the final convergence, once the server's
  connection threads have settled) are no more than a small tolerance above the start (after
  the first convergence), and RSS grew by less than ``--max-rss-growth-mb`` (16 MiB);
* after everything is closed, no thread that the soak started is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

import flagkit
from flagkit.testing import LocalAppConfigData

APP, ENV, PROFILE = "soak", "prod", "flags"
POLL_INTERVAL = 1  # seconds, announced by the server (AWS's floor is 15; this is a test)
READ_TIMEOUT = 1.0
POLLING = flagkit.Polling(
    backoff_base=0.25, backoff_cap=2.0, permanent_retry=3.0, max_bytes=256 * 1024
)
FAULTS = (
    *("throttle", "internal", "not_found", "drop", "slow", "hang"),
    *("expired", "corrupted", "too_early"),
)


def _deep_rule() -> str:
    return "(not " * 40 + "(eq $plan 1)" + ")" * 40


def _variant_doc(rule: str) -> bytes:
    variants = [{"name": "a", "enabled": True, "rule": rule}, {"name": "b", "enabled": False}]
    return json.dumps(
        {"version": "1", "flags": {"release": {}}, "values": {"release": {"_variants": variants}}}
    ).encode()


INVALID: dict[str, Callable[[], bytes]] = {
    "malformed-json": lambda: b'{"release": {"enabled": tr',
    "wrong-type": lambda: b'{"release": {"enabled": "yes"}}',
    "duplicate-key": lambda: b'{"release": {"enabled": true}, "release": {"enabled": false}}',
    "nan": lambda: b'{"release": {"enabled": true, "x": NaN}}',
    "non-utf8": lambda: b'{"release": {"enabled": true, "x": "\xff"}}',
    "oversize": lambda: json.dumps({"release": {"enabled": True, "pad": "x" * 300_000}}).encode(),
    "deep-rule": lambda: _variant_doc(_deep_rule()),
    "unknown-operator": lambda: _variant_doc("(frobnicate $plan)"),
    "unknown-field": lambda: b'{"version": "1", "flags": {"release": {"enabeld": true}}}',
    "json-array": lambda: b"[1, 2]",
}


def valid_document(seq: int, rng: random.Random) -> bytes:
    """A stored document of 30 flags; ``release.seq`` is ``seq``, the rest is random."""
    flags: dict[str, Any] = {"release": {"attributes": {"seq": {}}}}
    values: dict[str, Any] = {"release": {"enabled": True, "seq": seq}}
    for i in range(20):
        flags[f"basic-{i}"] = {"attributes": {"n": {}}}
        values[f"basic-{i}"] = {"enabled": rng.random() < 0.5, "n": rng.randrange(100)}
    for i in range(9):
        pct = rng.randrange(101)
        flags[f"exp-{i}"] = {}
        values[f"exp-{i}"] = {
            "_variants": [
                {"name": "pro", "enabled": True, "rule": '(eq $plan "pro")'},
                {"name": "split", "enabled": True, "rule": f"(split pct::{pct} by::$userId)"},
                {"name": "off", "enabled": False},
            ]
        }
    return json.dumps({"version": "1", "flags": flags, "values": values}).encode()


def rss_kib() -> int | None:
    """Resident memory in KiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak
    except ImportError:
        return None


def open_fds() -> int | None:
    """Open file descriptors of this process (None where /proc/self/fd does not exist)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


@dataclass(frozen=True)
class Sample:
    threads: int
    rss_kib: int | None
    fds: int | None

    @classmethod
    def now(cls) -> Sample:
        return cls(threading.active_count(), rss_kib(), open_fds())

    def __str__(self) -> str:
        rss = "n/a" if self.rss_kib is None else f"{self.rss_kib / 1024:.1f} MiB"
        return (
            f"threads {self.threads}, RSS {rss}, fds {self.fds if self.fds is not None else 'n/a'}"
        )


@dataclass(frozen=True)
class Limits:
    """The bounds a run is judged against."""

    max_staleness: float = 10.0  # seconds
    max_rss_growth_mb: float = 16.0
    threads: int = 2  # a connection thread of the server may still be winding down
    fds: int = 4


@dataclass
class Result:
    """What a soak run measured, and which checks failed (empty: all passed)."""

    seconds: float
    seed: int
    pollers: int
    evaluators: int
    baseline: Sample  # before the soak started anything
    start: Sample  # after the first convergence
    end: Sample  # after the final convergence, once connection threads settled
    closed: Sample  # after closing everything
    polls: int
    swaps: int
    errors: int
    rejected: int
    evaluations: int
    raised: list[str]  # what escaped an evaluation (must stay empty)
    torn: list[str]  # pinned reads whose parts disagree, or that went backwards
    bad_swaps: list[str]  # versions swapped in that are not good-<n>
    converged: bool  # every poller served the last publish in time
    faults: Counter[str]
    published_valid: int
    published_invalid: Counter[str]
    log_records: Counter[str]
    staleness: list[float]  # one per (valid publish, poller)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def longest_staleness(self) -> float:
        return max(self.staleness, default=0.0)

    def render(self) -> str:
        def fmt(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

        mean = sum(self.staleness) / len(self.staleness) if self.staleness else 0.0
        lines = [
            f"soak: {self.seconds:.0f} s, seed {self.seed}, {self.pollers} pollers, "
            f"{self.evaluators} evaluating threads",
            f"  before: {self.baseline}",
            f"  start:  {self.start}",
            f"  end:    {self.end}",
            f"  closed: {self.closed}",
            f"  polls {self.polls}, swaps {self.swaps}, errors {self.errors}, "
            f"rejected documents {self.rejected}",
            f"  evaluations {self.evaluations}, raised {len(self.raised)}, torn {len(self.torn)}",
            f"  published: {self.published_valid} valid; invalid "
            f"{sum(self.published_invalid.values())} ({fmt(self.published_invalid)})",
            f"  faults injected: {sum(self.faults.values())} ({fmt(self.faults)})",
            f"  flagkit log records: {fmt(self.log_records)}",
            f"  staleness: longest {self.longest_staleness:.2f} s, mean {mean:.2f} s "
            "(a valid document on offer -> each poller serving it or newer)",
            "  checks: " + ("all passed" if self.ok else "FAILED"),
            *(f"    - {f}" for f in self.failures),
        ]
        return "\n".join(lines)


def judge(r: Result, limits: Limits) -> list[str]:
    """The checks of the module docstring, one line per failure."""
    failures = []
    if r.raised:
        failures.append(f"{len(r.raised)} evaluations raised, e.g. {r.raised[0]}")
    if r.torn:
        failures.append(f"{len(r.torn)} reads were torn or went backwards, e.g. {r.torn[0]}")
    if r.bad_swaps:
        failures.append(f"a refused document replaced a good snapshot: {r.bad_swaps[:3]}")
    if not r.converged:
        failures.append("not every poller served the last valid publish")
    if r.longest_staleness > limits.max_staleness:
        failures.append(f"longest staleness {r.longest_staleness:.2f} s > {limits.max_staleness} s")
    if r.end.threads > r.start.threads + limits.threads:
        failures.append(f"threads grew: {r.start.threads} -> {r.end.threads}")
    if r.end.fds is not None and r.start.fds is not None and r.end.fds > r.start.fds + limits.fds:
        failures.append(f"open file descriptors grew: {r.start.fds} -> {r.end.fds}")
    if r.end.rss_kib is not None and r.start.rss_kib is not None:
        growth = (r.end.rss_kib - r.start.rss_kib) / 1024
        if growth > limits.max_rss_growth_mb:
            failures.append(f"RSS grew by {growth:.1f} MiB > {limits.max_rss_growth_mb} MiB")
    if r.closed.threads > r.baseline.threads:
        failures.append(f"threads left after close: {r.baseline.threads} -> {r.closed.threads}")
    if r.swaps < r.pollers:
        failures.append(f"only {r.swaps} swaps for {r.pollers} pollers")
    return failures


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] += 1


def _seq(version: str | None) -> int:
    """The number in ``good-<n>``; -1 for anything else (a ``bad-`` label, None)."""
    if version is None or not version.startswith("good-"):
        return -1
    return int(version[5:])


class _Poller:
    """One Flags client, with the swaps its on_change listener saw: (monotonic time, version)."""

    def __init__(self, server: LocalAppConfigData, backup: Path) -> None:
        self.swaps: list[tuple[float, str | None]] = []
        self.client = server.client(read_timeout=READ_TIMEOUT, connect_timeout=READ_TIMEOUT)
        source = flagkit.AppConfigSource(APP, ENV, PROFILE, client=self.client)
        self.flags = flagkit.Flags(
            source, polling=POLLING, backup_path=backup, on_change=self._changed, wait=0
        )

    def _changed(self, old: str | None, new: str | None) -> None:
        self.swaps.append((time.monotonic(), new))

    def close(self) -> None:
        self.flags.close()
        self.client.close()  # a client given to AppConfigSource is the giver's to close


class _Evaluator:
    """Evaluates through every poller's client until stopped; counts and checks each read."""

    def __init__(self, pollers: list[_Poller], stop: threading.Event, seed: int) -> None:
        self.pollers = pollers
        self.stop = stop
        self.rng = random.Random(seed)
        self.evaluations = 0
        self.raised: list[str] = []
        self.torn: list[str] = []
        self.thread = threading.Thread(target=self._run, name="soak-evaluator", daemon=True)

    def _run(self) -> None:
        rng, last = self.rng, [-1] * len(self.pollers)
        plans = ("pro", "free", None)
        while not self.stop.is_set():
            i = rng.randrange(len(self.pollers))
            flags = self.pollers[i].flags
            uid = f"user-{rng.randrange(10_000)}"
            attrs = {"plan": plans[rng.randrange(3)]}
            try:
                view = flags.view()
                seq = _seq(view.version)
                got = view.get_int("release", "seq", -1)
                for k in range(20):
                    view.enabled(f"basic-{k}")
                for k in range(9):
                    view.variant(f"exp-{k}", uid, attrs)
                flags.enabled("exp-0", uid, attrs)  # unpinned, as most callers do
                self.evaluations += 31
                if view.version is not None and (got != seq or seq < last[i]):
                    self.torn.append(f"poller {i}: version {view.version!r} with seq {got}")
                last[i] = max(last[i], seq)
            except Exception as exc:  # the point: evaluation never raises
                self.raised.append(repr(exc))


def _inject(server: LocalAppConfigData, kind: str, rng: random.Random) -> None:
    operation: Any = rng.choice((None, "GetLatestConfiguration"))  # None: either operation
    if kind == "slow":
        delay = rng.uniform(0.05, READ_TIMEOUT * 0.6)
        server.inject("delay", delay=delay, operation=operation)
    elif kind == "hang":
        server.inject("delay", delay=READ_TIMEOUT * 1.5, operation=operation)
    elif kind in ("expired", "corrupted", "too_early"):
        server.inject(kind)  # type: ignore[arg-type]
    else:
        server.inject(kind, operation=operation)  # type: ignore[arg-type]


def staleness(
    publishes: list[tuple[int | None, float]],
    swaps: list[list[tuple[float, str | None]]],
    end: float,
) -> list[float]:
    """Per valid publish and poller: publish -> swap to it or newer, or the next invalid publish.

    ``publishes`` holds, in order, (n, time just before publishing good-<n>) and (None, time
    just after publishing an invalid document); ``swaps`` each poller's (time, version) swaps.
    A window still open and never caught up with counts until ``end``.
    """
    lags = []
    for served in swaps:
        numbered = [(t, _seq(v)) for t, v in served]
        for i, (n, published) in enumerate(publishes):
            if n is None:
                continue
            closed = next((t for m, t in publishes[i + 1 :] if m is None), end)
            caught = next((t for t, s in numbered if s >= n), end)
            lags.append(max(0.0, min(caught, closed) - published))
    return lags


def soak(
    seconds: float,
    *,
    pollers: int = 4,
    evaluators: int = 2,
    seed: int = 1,
    limits: Limits | None = None,
) -> Result:
    """Run the soak for ``seconds`` and return what it measured (see the module docstring)."""
    limits = limits or Limits()
    rng = random.Random(seed)
    log = logging.getLogger("flagkit")
    handler, propagate = _CountingHandler(), log.propagate
    log.addHandler(handler)
    log.propagate = False  # a refused document logs an error by design: count, do not print
    baseline = Sample.now()
    stop = threading.Event()
    faults: Counter[str] = Counter()
    invalid: Counter[str] = Counter()
    publishes: list[tuple[int | None, float]] = []  # (n, time) for good-<n>, (None, time) bad
    seq = 0

    def publish_valid(server: LocalAppConfigData) -> None:
        nonlocal seq
        seq += 1
        body = valid_document(seq, rng)
        publishes.append((seq, time.monotonic()))  # before: a poller may swap before we return
        server.publish(APP, ENV, PROFILE, body, version_label=f"good-{seq}")

    def converged(clients: list[_Poller]) -> Callable[[], bool]:
        want = f"good-{seq}"
        return lambda: all(p.flags.version == want for p in clients)

    try:
        with (
            tempfile.TemporaryDirectory(prefix="flagkit-soak-") as tmp,
            LocalAppConfigData(poll_interval=POLL_INTERVAL) as server,
        ):
            # Freeform: the control plane would refuse the invalid documents of a feature-flag
            # profile, and the soak is about pollers meeting them.
            server.create(APP, ENV, PROFILE, profile_type="AWS.Freeform")
            publish_valid(server)
            clients = [_Poller(server, Path(tmp) / f"backup-{i}.json") for i in range(pollers)]
            workers = [_Evaluator(clients, stop, seed * 1000 + i) for i in range(evaluators)]
            started = server.wait_until(converged(clients), timeout=10)
            publishes.clear()  # the first load is start-up, not staleness
            for w in workers:
                w.thread.start()
            start = Sample.now()
            began = time.monotonic()
            while time.monotonic() < began + seconds:
                roll = rng.random()
                if roll < 0.35:
                    publish_valid(server)
                elif roll < 0.6:
                    kind = rng.choice(sorted(INVALID))
                    invalid[kind] += 1
                    label = f"bad-{sum(invalid.values())}"
                    server.publish(APP, ENV, PROFILE, INVALID[kind](), version_label=label)
                    publishes.append((None, time.monotonic()))  # after: the window closes now
                else:
                    kind = rng.choice(FAULTS)
                    faults[kind] += 1
                    _inject(server, kind, rng)
                stop.wait(rng.uniform(0.1, 0.9))  # pacing the load, not synchronising
            publish_valid(server)  # no more faults; every poller must arrive here
            done = server.wait_until(converged(clients), timeout=limits.max_staleness + 5)
            finished = time.monotonic()

            def settled() -> bool:
                now = Sample.now()
                return now.threads <= start.threads + limits.threads and (
                    now.fds is None or start.fds is None or now.fds <= start.fds + limits.fds
                )

            server.wait_until(settled, timeout=10)  # re-checked on every poll, ~4 a second
            end = Sample.now()
            stop.set()
            for w in workers:
                w.thread.join(10)
            statuses = [p.flags.status() for p in clients]
            for p in clients:
                p.close()
        closed = Sample.now()
    finally:
        stop.set()
        log.removeHandler(handler)
        log.propagate = propagate

    result = Result(
        seconds=finished - began,
        seed=seed,
        pollers=pollers,
        evaluators=evaluators,
        baseline=baseline,
        start=start,
        end=end,
        closed=closed,
        polls=sum(s.polls for s in statuses),
        swaps=sum(s.swaps for s in statuses),
        errors=sum(s.errors for s in statuses),
        rejected=sum(s.rejected for s in statuses),
        evaluations=sum(w.evaluations for w in workers),
        raised=[e for w in workers for e in w.raised],
        torn=[e for w in workers for e in w.torn],
        bad_swaps=[
            f"poller {i}: {v}" for i, p in enumerate(clients) for _, v in p.swaps if _seq(v) < 0
        ],
        converged=started and done,
        faults=faults,
        published_valid=sum(n is not None for n, _ in publishes),
        published_invalid=invalid,
        log_records=handler.counts,
        staleness=staleness(publishes, [p.swaps for p in clients], finished),
    )
    result.failures = judge(result, limits)
    return result


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long (default 1)")
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--evaluators", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-staleness", type=float, default=10.0, help="seconds (check)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=16.0, help="MiB (check)")
    args = parser.parse_args(argv)
    result = soak(
        args.minutes * 60,
        pollers=args.pollers,
        evaluators=args.evaluators,
        seed=args.seed,
        limits=Limits(args.max_staleness, args.max_rss_growth_mb),
    )
    print(result.render(), file=out)
    return result


if __name__ == "__main__":
    sys.exit(0 if main().ok else 1)
