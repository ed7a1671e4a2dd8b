"""How far apart workers forked together poll, round after round (issue 17, point 1).

    .venv/bin/python benchmarks/fleet_spread.py [--children 12] [--rounds 20] [--interval 1]
    .venv/bin/python benchmarks/fleet_spread.py --no-offset      # reseeded jitter alone
    .venv/bin/python benchmarks/fleet_spread.py --src /work/main/src   # another checkout

One running client (its poller has fetched and is waiting, as under ``gunicorn --preload``)
forks ``--children`` children, as a master forks its workers. Each child's poller records the
monotonic time (one clock for every process on the host) of each of its fetches; after
``--rounds`` fetches it sends them to the parent through a pipe. A child that has not
reported within the bound is killed.

The run uses a short interval (``--interval``, 1 s) so that 20 rounds take 20 s, and projects
each poll onto the production interval (``--project``, 30 s, ``Polling``'s default): a child's
poll at ``t`` is placed at ``fork_i + (t - fork_i) x project / interval``, where ``fork_i`` is
the child's first line after ``fork()``, so the real stagger of the forks is kept and only the
waits are scaled. For the k-th poll after the fork, over the children, shown are the range
(latest minus earliest) and the largest number of children polling within ``--window`` (100 ms)
of each other: 12 means the whole fleet polls as one burst, 1 means no two children do.

``--no-offset`` wakes each child's poller at once after the fork, which is what the code did
before its first poll got a random offset: that shows what reseeded jitter alone achieves.
``--shutdown`` measures the other half of a fleet's life instead: a master whose AppConfig
hangs (a loopback socket that accepts and never answers) forks ``--children`` workers, whose
pollers all hang in a fetch; each worker is sent SIGTERM and calls ``flags.close()`` in its
handler, as a shutdown hook does, then the master closes its own. Shown are the slowest
worker's close, the master's, and the whole shutdown, for AppConfigSource and for a source that
cannot be closed (a wrapper without ``close()``), where ``close(timeout)`` is what bounds it.

``--simulate K`` adds the same two figures for polls K intervals out, drawn from the poller's
formula (each wait is the interval times 1 + U(0, jitter)), for jitter alone and children that
all polled at the same instant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

_here = Path(__file__).resolve().parents[1] / "src"
if "--src" in sys.argv:  # measure another checkout (the code before a change) with this script
    _here = Path(sys.argv[sys.argv.index("--src") + 1])
sys.path.insert(0, str(_here))

import flagkit  # noqa: E402

DOCUMENT = json.dumps({"checkout": {"enabled": True}}).encode()


class Recording:
    """A source that answers 'unchanged' after the first fetch and records when it was asked."""

    def __init__(self, interval: float, rounds: int) -> None:
        self.interval = interval
        self.rounds = rounds
        self.times: list[float] = []
        self.done = threading.Event()

    def fetch(self) -> flagkit.Fetched:
        self.times.append(time.monotonic())
        if len(self.times) >= self.rounds + 1:
            self.done.set()
        body = DOCUMENT if len(self.times) == 1 else None  # the child's first fetch is new
        return flagkit.Fetched(body, "application/json", "v1", self.interval)

    def reset_after_fork(self) -> None:
        self.times = []
        self.done = threading.Event()


def largest_group(times: list[float], window: float) -> int:
    """The most of ``times`` that fall within one window of ``window``."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_children(args: argparse.Namespace) -> list[list[float]]:
    source = Recording(args.interval, args.rounds)
    flags = flagkit.Flags(
        source, polling=flagkit.Polling(interval=args.interval, jitter=args.jitter), wait=5.0
    )
    assert flags.ready
    children: dict[int, tuple[int, int]] = {}  # read end -> (pid, index)
    for _ in range(args.children):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report its poll times, then leave without cleanup
            os.close(r)
            code = 1
            try:
                forked = time.monotonic()
                if args.no_offset:
                    flags._poller.wake()  # poll at once, as before the random first poll
                if source.done.wait(args.rounds * args.interval * 3 + 30):
                    os.write(w, json.dumps([forked, *source.times[: args.rounds]]).encode())
                    code = 0
            finally:
                os._exit(code)
        os.close(w)
        children[r] = (pid, len(children))
    results: list[list[float]] = [[] for _ in range(args.children)]
    bound = time.monotonic() + args.rounds * args.interval * 3 + 60
    pending = dict(children)
    while pending and time.monotonic() < bound:
        ready, _, _ = select.select(list(pending), [], [], max(0.0, bound - time.monotonic()))
        for r in ready:
            pid, index = pending.pop(r)
            data = b""
            while chunk := os.read(r, 65536):
                data += chunk
            os.close(r)
            os.waitpid(pid, 0)
            results[index] = json.loads(data) if data else []
    for r, (pid, _) in pending.items():  # hung: kill, never wait for ever
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
    flags.close()
    return results


def simulate(children: int, polls: int, jitter: float, seed: int = 17) -> list[float]:
    """Poll times (in intervals) of the ``polls``-th poll for children that all polled at 0."""
    rng = random.Random(seed)
    return [sum(1.0 + rng.random() * jitter for _ in range(polls)) for _ in range(children)]


def project(results: list[list[float]], args: argparse.Namespace) -> list[list[float]]:
    """Each child's poll times placed on the ``--project`` interval, the forks' stagger kept."""
    first_fork = min(forked for forked, *_ in results)
    scale = args.project / args.interval
    return [
        [forked - first_fork + (t - forked) * scale for t in polls] for forked, *polls in results
    ]


class Unclosable:
    """An AppConfigSource seen through a wrapper without ``close()``: a hung fetch runs on."""

    def __init__(self, inner: flagkit.AppConfigSource) -> None:
        self._inner = inner

    def fetch(self) -> flagkit.Fetched:
        return self._inner.fetch()

    def reset_after_fork(self) -> None:
        self._inner.reset_after_fork()


def shutdown(children: int, closable: bool, timeout: float | None) -> dict[str, float]:
    """Seconds the slowest worker's close(), the master's close() and all of it took."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.create_server(("127.0.0.1", 0), backlog=64) as hang:  # accepts, never answers
        endpoint = f"http://127.0.0.1:{hang.getsockname()[1]}"
        inner = flagkit.AppConfigSource(
            "shop", "prod", "flags", endpoint_url=endpoint, region_name="us-east-1"
        )
        source: flagkit.Source = inner if closable else Unclosable(inner)
        flags = flagkit.Flags(source, wait=0)
        kwargs = {} if timeout is None else {"timeout": timeout}
        workers: dict[int, int] = {}  # pid -> read end
        for _ in range(children):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)

                def on_term(*_: object, w: int = w) -> None:
                    started = time.monotonic()
                    flags.close(**kwargs)
                    os.write(w, json.dumps(time.monotonic() - started).encode())
                    os._exit(0)

                signal.signal(signal.SIGTERM, on_term)
                os.write(w, b"up\n")
                while True:
                    signal.pause()
            os.close(w)
            assert os.read(r, 3) == b"up\n"
            workers[pid] = r
        time.sleep(1.0)  # let every poller reach its hung fetch (a benchmark, not a test)
        started = time.monotonic()
        closes = []
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        for pid, r in workers.items():
            closes.append(float(os.read(r, 64) or "nan"))
            os.close(r)
            os.waitpid(pid, 0)
        master_started = time.monotonic()
        flags.close(**kwargs)
        ended = time.monotonic()
    return {
        "slowest_worker_close": max(closes),
        "master_close": ended - master_started,
        "total": ended - started,
    }


def main_shutdown(children: int) -> None:
    for closable, timeout in ((True, None), (False, None), (False, 1.0)):
        kind = "AppConfigSource" if closable else "source without close()"
        how = "close()" if timeout is None else f"close(timeout={timeout:g})"
        got = shutdown(children, closable, timeout)
        print(
            f"{kind:>24}, {how:>18}: slowest worker {got['slowest_worker_close'] * 1000:7.1f} ms,"
            f" master {got['master_close'] * 1000:7.1f} ms, all {got['total'] * 1000:7.1f} ms"
        )


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds, as run")
    parser.add_argument("--project", type=float, default=30.0, help="seconds, as reported")
    parser.add_argument("--window", type=float, default=0.1, help="seconds: 'together'")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--no-offset", action="store_true")
    parser.add_argument("--simulate", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--src", default=None, help="a flagkit src/ to import instead")
    parser.add_argument("--shutdown", action="store_true")
    args = parser.parse_args(argv)
    if args.shutdown:
        main_shutdown(args.children)
        return {}
    results = run_children(args)
    complete = project([r for r in results if len(r) == args.rounds + 1], args)
    print(
        f"{flagkit.__file__}\n{len(complete)} of {args.children} children reported "
        f"{args.rounds} polls; run at {args.interval:g} s, shown at {args.project:g} s, "
        f"jitter {args.jitter:g}{', no first-poll offset' if args.no_offset else ''}"
    )
    print(f"{'poll':>5} {'range (s)':>10} {f'largest group in {args.window:g} s':>26}")
    rows = []
    for k in range(args.rounds):
        at = [polls[k] for polls in complete]
        if not at:
            break
        row = {"poll": k + 1, "range": max(at) - min(at), "group": largest_group(at, args.window)}
        rows.append(row)
        print(f"{k + 1:>5} {row['range']:>10.3f} {row['group']:>26}")
    simulated = []
    for polls in args.simulate:
        at = [t * args.project for t in simulate(args.children, polls, args.jitter)]
        row = {"poll": polls, "range": max(at) - min(at), "group": largest_group(at, args.window)}
        simulated.append(row)
        print(f"{polls:>5} {row['range']:>10.3f} {row['group']:>26}   (simulated: jitter alone)")
    return {"rows": rows, "simulated": simulated}


if __name__ == "__main__":
    main()
