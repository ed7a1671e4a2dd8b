"""What evaluation hooks cost: none registered, one added then removed, and one registered.

    .venv/bin/python benchmarks/hooks_cost.py

Interleaved repeats, medians of ns per ``flags.enabled()`` on the 10 % split (S2), and the
ratio of each client to a client that never saw a hook. "added then removed" must be ~1.00x:
with no hooks registered the class methods run unchanged (issue 5).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flagkit  # noqa: E402
from benchmarks.scenarios import appconfig_document  # noqa: E402


def main(repeats: int = 15, n: int = 20_000) -> dict[str, float]:
    ids = [f"user-{i}" for i in range(n)]
    plain = flagkit.Flags(flagkit.StaticSource(appconfig_document()))
    removed = flagkit.Flags(flagkit.StaticSource(appconfig_document()))

    def hook(*args: object) -> None:
        return None

    removed.add_hook(hook)
    removed.remove_hook(hook)
    hooked = flagkit.Flags(flagkit.StaticSource(appconfig_document()))
    hooked.add_hook(hook)
    clients = {"no hooks": plain, "added then removed": removed, "one hook": hooked}
    samples: dict[str, list[float]] = {k: [] for k in clients}
    for _ in range(repeats):
        for name, client in clients.items():
            enabled = client.enabled
            t0 = time.perf_counter_ns()
            for uid in ids:
                enabled("s2", uid, None)
            samples[name].append((time.perf_counter_ns() - t0) / n)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    base = medians["no hooks"]
    for name, ns in medians.items():
        print(f"{name:>20}: {ns:7.1f} ns  {ns / base:5.2f}x")
    for client in clients.values():
        client.close()
    return medians


if __name__ == "__main__":
    main()
