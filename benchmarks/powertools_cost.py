"""What a Powertools schema costs: per evaluation, and at the limits every format is held to.

    .venv/bin/python benchmarks/powertools_cost.py

Medians of interleaved repeats, in one process:

* ``typical``: ns per ``FeatureFlags.evaluate`` on a three-rule feature (EQUALS, IN over 20
  strings, MODULO_RANGE), for a context that matches the last rule;
* ``worst at the limits``: ns per evaluation of one feature with 31 rules, each an IN over as
  many elements as fit in a 16,384-character rule, for a context that matches none;
* ``load``: ms to read and compile a schema of such features filling the 1 MiB size cap.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from flagkit.powertools import FeatureFlags, load_snapshot  # noqa: E402


def typical() -> dict[str, Any]:
    tiers = [f"tier-{i}" for i in range(20)]
    return {
        "premium": {
            "default": False,
            "rules": {
                "gold": {
                    "when_match": True,
                    "conditions": [{"action": "EQUALS", "key": "tier", "value": "gold"}],
                },
                "listed": {
                    "when_match": True,
                    "conditions": [{"action": "IN", "key": "tier", "value": tiers}],
                },
                "20 percent": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "MODULO_RANGE",
                            "key": "uid",
                            "value": {"BASE": 100, "START": 0, "END": 19},
                        }
                    ],
                },
            },
        }
    }


def at_the_limits(elements: int = 2000, features: int = 1) -> dict[str, Any]:
    """Features of 31 rules, each an IN over ``elements`` six-digit numbers (about 16 KB)."""
    rules = {
        f"r{r}": {
            "when_match": True,
            "conditions": [
                {
                    "action": "IN",
                    "key": "uid",
                    "value": [100000 + r * elements + i for i in range(elements)],
                }
            ],
        }
        for r in range(31)
    }
    return {f"f{n}": {"default": False, "rules": rules} for n in range(features)}


def _ns_per_call(ff: FeatureFlags, name: str, ctx: dict[str, Any], n: int) -> float:
    evaluate = ff.evaluate
    start = time.perf_counter_ns()
    for _ in range(n):
        evaluate(name=name, context=ctx, default=False)
    return (time.perf_counter_ns() - start) / n


def main(repeats: int = 9, n: int = 20_000) -> dict[str, float]:
    typical_ff = FeatureFlags(typical())
    worst_ff = FeatureFlags(at_the_limits())
    assert typical_ff.evaluate(name="premium", context={"uid": 119}, default=None) is True
    assert worst_ff.evaluate(name="f0", context={"uid": 7}, default=None) is False
    body = json.dumps(at_the_limits(features=2), separators=(",", ":")).encode()
    assert len(body) <= 2**20  # two such features fill the 1 MiB size cap
    runs: dict[str, list[float]] = {"typical": [], "worst at the limits": [], "load": []}
    for _ in range(repeats):
        runs["typical"].append(_ns_per_call(typical_ff, "premium", {"uid": 119}, n))
        runs["worst at the limits"].append(_ns_per_call(worst_ff, "f0", {"uid": 7}, n // 10))
        start = time.perf_counter()
        load_snapshot(body)
        runs["load"].append((time.perf_counter() - start) * 1000)
    result = {k: statistics.median(v) for k, v in runs.items()}
    print(f"typical feature:             {result['typical']:10.0f} ns per evaluate")
    print(f"31 x IN at the rule limit:   {result['worst at the limits']:10.0f} ns per evaluate")
    print(f"load, {len(body) / 2**20:.2f} MiB at limits:  {result['load']:10.1f} ms")
    return result


if __name__ == "__main__":
    main()
