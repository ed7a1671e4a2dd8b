"""What ``fork()`` costs before and after 2,000 clients were made and closed (issue 19, point 14).

    .venv/bin/python benchmarks/fork_cost.py [--clients 2000] [--forks 200]

``os.register_at_fork`` registrations cannot be removed. When each client registered its own
hooks, every client ever made added work to every later fork, and memory that stayed for good.
flagkit now registers one hook per process over a weak set, so a closed client costs nothing.

Each sample forks a child that exits at once; shown are the medians of the time the parent
spends in ``os.fork()`` and of the time from just before ``fork()`` to the child's first line
(which includes the at-fork hooks, run in the child). Also shown: the process's peak RSS growth
(``ru_maxrss``) across the clients, per client, after ``gc.collect()``.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import flagkit  # noqa: E402

DOCUMENT = {"checkout": {"enabled": True}}


def fork_once() -> tuple[float, float]:
    """(ms in the parent's os.fork(), ms from before fork() to the child's first line)."""
    r, w = os.pipe()
    started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in parent and child
    pid = os.fork()
    if pid == 0:
        os.write(w, struct.pack("d", time.perf_counter()))
        os._exit(0)
    returned = time.perf_counter()
    os.close(w)
    (child_first_line,) = struct.unpack("d", os.read(r, 8))
    os.close(r)
    os.waitpid(pid, 0)
    return (returned - started) * 1e3, (child_first_line - started) * 1e3


def measure(forks: int) -> tuple[float, float]:
    samples = [fork_once() for _ in range(forks)]
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
    )


def churn(clients: int) -> None:
    for _ in range(clients):
        flags = flagkit.Flags(flagkit.StaticSource(DOCUMENT))
        flags.close()
    gc.collect()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--forks", type=int, default=200)
    args = parser.parse_args(argv)
    churn(1)  # warm: every module a client needs is imported
    parent_before, child_before = measure(args.forks)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    churn(args.clients)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parent_after, child_after = measure(args.forks)
    result = {
        "parent_fork_ms_before": parent_before,
        "parent_fork_ms_after": parent_after,
        "child_first_line_ms_before": child_before,
        "child_first_line_ms_after": child_after,
        "rss_bytes_per_client": (rss_after - rss_before) * 1024 / args.clients,
    }
    print(f"fork() with {args.clients} clients made and closed (medians of {args.forks}):")
    print(f"  parent in os.fork():       {parent_before:6.2f} ms -> {parent_after:6.2f} ms")
    print(f"  fork() to child's 1st line: {child_before:6.2f} ms -> {child_after:6.2f} ms")
    print(f"  peak RSS growth per client: {result['rss_bytes_per_client']:.0f} B")
    return result


if __name__ == "__main__":
    main()
