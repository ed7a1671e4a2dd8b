"""What progressive delivery costs per evaluation: ramps, and guarded flags while the guard sleeps.

    .venv/bin/python benchmarks/rollout_cost.py

Interleaved repeats, medians of ns per ``flags.enabled()`` over 20,000 ids, each shown as a
ratio to the same share served by a plain ``split`` rule (what a ramp replaces), all in one
process. A ramp reads the wall clock once per evaluation; a guarded flag whose alarms are OK
is compiled exactly like an unguarded one.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import flagkit  # noqa: E402


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def documents() -> dict[str, object]:
    now = time.time()
    ramp = {"enabled": True, "flagkit-ramp": "Linear10PercentEvery1Hour"}
    return {
        "plain-on": {"enabled": True},
        "guarded-ok": {"enabled": True, "flagkit-alarms": ["checkout-5xx"]},
        "ramp-30": {**ramp, "flagkit-ramp-start": _iso(now - 9000)},  # 2.5 h in: step 3
        "ramp-100": {**ramp, "flagkit-ramp-start": _iso(now - 86400)},
    }


def split_document() -> dict[str, object]:
    variants = [
        {"name": "on", "enabled": True, "rule": "(split pct::30 by::$userId)"},
        {"name": "off", "enabled": False},
    ]
    return {
        "version": "1",
        "flags": {"split-30": {"name": "split-30"}},
        "values": {"split-30": {"_variants": variants}},
    }


def main(repeats: int = 15, n: int = 20_000) -> dict[str, float]:
    ids = [f"user-{i}" for i in range(n)]
    ramps = flagkit.Flags(flagkit.StaticSource(json.dumps(documents())))
    split = flagkit.Flags(flagkit.StaticSource(json.dumps(split_document())))
    cases = {
        "split rule, 30 %": (split, "split-30"),
        "ramp at 30 %": (ramps, "ramp-30"),
        "ramp at 100 %": (ramps, "ramp-100"),
        "basic flag, on": (ramps, "plain-on"),
        "guarded, alarms OK": (ramps, "guarded-ok"),
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, (client, flag) in cases.items():
            enabled = client.enabled
            t0 = time.perf_counter_ns()
            for uid in ids:
                enabled(flag, uid, None)
            samples[name].append((time.perf_counter_ns() - t0) / n)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    base = medians["split rule, 30 %"]
    for name, ns in medians.items():
        print(f"{name:>20}: {ns:7.1f} ns  {ns / base:5.2f}x")
    ramps.close()
    split.close()
    return medians


if __name__ == "__main__":
    main()
