"""How long a hostile AppConfigData endpoint can hold AppConfigSource, and what a huge body costs.

Run: ``.venv/bin/python -m benchmarks.hostile_fetch`` (about a minute). Uses the hostile loopback
endpoint of the test suite (tests/hostile_appconfig.py), real boto3, default settings unless
named. Prints one line per case; nothing is asserted (the machine is shared and noisy).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from flagkit import AppConfigSource, Flags  # noqa: E402
from hostile_appconfig import Behaviour, HostileAppConfig  # noqa: E402


def hold(behaviour: Behaviour) -> None:
    """Seconds one fetch lasts against the endpoint, with the default 10 s deadline."""
    with HostileAppConfig(behaviour, max_drips=400) as server:
        client = server.client()
        source = AppConfigSource("a", "e", "p", client=client)
        started = time.perf_counter()
        try:
            source.fetch()
            outcome = "answered"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        held = time.perf_counter() - started
        print(f"{behaviour:17} held {held:6.2f} s  ({outcome})")
        client.close()


def close_latency() -> None:
    """Seconds Flags.close() takes while the poller thread is stuck in a dripping body."""
    with HostileAppConfig("drip-body", max_drips=400) as server:
        client = server.client()
        flags = Flags(AppConfigSource("a", "e", "p", client=client), wait=0)
        server.misbehaving.wait(10)
        thread = flags._poller._thread
        started = time.perf_counter()
        flags.close()
        took = time.perf_counter() - started
        alive = thread is not None and thread.is_alive()
        print(f"{'close() mid-drip':17} took {took * 1000:6.1f} ms (poller thread alive: {alive})")
        client.close()


def huge_body(size: int) -> None:
    """Peak traced memory and RSS growth for one fetch of a ``size``-byte body."""
    with HostileAppConfig("huge-body", huge_bytes=size) as server:
        client = server.client()
        source = AppConfigSource("a", "e", "p", client=client)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.perf_counter()
        try:
            source.fetch()
            outcome = "accepted"
        except Exception as exc:
            outcome = type(exc).__name__
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        server.client_gone.wait(5)
        print(
            f"{size / 1e6:5.0f} MB body   {outcome}: traced peak {peak / 2**20:5.2f} MiB, "
            f"max RSS +{rss_growth / 1024:6.1f} MiB, server sent {server.bytes_sent / 2**20:5.1f}"
            f" MiB, {took * 1000:6.1f} ms"
        )
        client.close()


def main() -> None:
    for behaviour in ("drip-body", "drip-headers", "endless-continue"):
        hold(behaviour)
    close_latency()
    huge_body(300_000_000)


if __name__ == "__main__":
    main()
