"""Snapshot build cost: parse + validate + compile of 1,000 flags x 4 variants with rules.

    .venv/bin/python benchmarks/snapshot_build.py [--quick] [--flags 1000]

Targets: build <= 90 ms (issue 18; 100 ms in issue 4), memory <= 10 MB. Reported:

* build time: median (and min / max) over repeats of ``flagkit.validate(body)``, the public
  call that parses the JSON bytes, validates them and compiles every rule, as the poller does
  for each new document;
* retained memory: what the compiled snapshot keeps alive (tracemalloc, after the build, with
  the bytes, the parsed JSON and all temporaries gone);
* peak memory: the high-water mark *during* one build, above the starting point;
* where the time goes (each stage timed on its own, with the cyclic collector running
  where ``flagkit.validate`` pauses it from the parse to the end of the build, so the stages
  add up to more than the build): parse JSON, validate, build the snapshot (which compiles
  the rules), and
  the rules alone, compiled as the build compiles them (with ``_rules.fast``), and through the
  general parser only (``compile_rule(fast=False)``), for comparison.

The document is generated deterministically; every flag gets different literals, seeds and
percentages so nothing is shared between flags by accident, and it stays under AppConfig's
1 MiB hosted-configuration limit.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

TARGET_MS = 90.0
TARGET_MB = 10.0
COUNTRIES = ("US", "CA", "MX", "GB", "DE", "FR", "JP", "BR")


def document(n_flags: int = 1000) -> dict[str, Any]:
    """``n_flags`` multi-variant flags, 4 variants each (3 ruled, 1 default), 2 attributes."""
    flags: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for i in range(n_flags):
        key = f"flag-{i:04d}"
        c1, c2 = COUNTRIES[i % 8], COUNTRIES[(i + 3) % 8]
        flags[key] = {
            "name": key,
            "attributes": {
                "color": {"constraints": {"type": "string"}},
                "limit": {"constraints": {"type": "number"}},
            },
        }
        values[key] = {
            "_variants": [
                {
                    "name": "pilot",
                    "enabled": True,
                    "rule": f'(and (in $country ["{c1}","{c2}"]) (eq $plan "pro") '
                    f"(split pct::{5 + i % 20} by::$userId))",
                    "attributeValues": {"color": "red", "limit": i},
                },
                {
                    "name": "staff",
                    "enabled": True,
                    "rule": f'(or (ends_with $email "@corp{i % 7}.example") (gte $tier {i % 5}))',
                    "attributeValues": {"color": "blue", "limit": i + 1},
                },
                {
                    "name": "ramp",
                    "enabled": True,
                    "rule": f'(split pct::{10 + i % 40} by::$userId seed::"ramp-{i}")',
                    "attributeValues": {"color": "green", "limit": i + 2},
                },
                {
                    "name": "off",
                    "enabled": False,
                    "attributeValues": {"color": "grey", "limit": 0},
                },
            ]
        }
    return {"version": "1", "flags": flags, "values": values}


def measure(n_flags: int, repeats: int) -> dict[str, Any]:
    import flagkit
    from flagkit._snapshot import snapshot_from_bytes  # for the retained-memory measurement

    body = json.dumps(document(n_flags), separators=(",", ":")).encode()
    flagkit.validate(body)  # warm: imports pydantic models, regex caches, etc.

    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter_ns()
        count = flagkit.validate(body)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    assert count == n_flags, count

    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    snap = snapshot_from_bytes(body)
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(snap.flags) == n_flags
    del snap

    return {
        "phases_ms": _phases(body, repeats),
        "flags": n_flags,
        "variants_per_flag": 4,
        "document_bytes": len(body),
        "repeats": repeats,
        "build_ms_median": statistics.median(times),
        "build_ms_min": min(times),
        "build_ms_max": max(times),
        "retained_mb": (held - base) / 2**20,
        "peak_mb": (peak - base) / 2**20,
    }


def _phases(body: bytes, repeats: int) -> dict[str, float]:
    """Median ms of each stage, through flagkit's private functions (where the time goes).

    Private names move; if they have, the breakdown is skipped rather than the benchmark."""
    try:
        from flagkit._document.fast import load_json  # the poller's path (no pydantic if valid)
        from flagkit._document.strict_json import parse_json
        from flagkit._snapshot import build_snapshot
    except ImportError:
        return {}
    stages: dict[str, list[float]] = {
        "parse JSON": [],
        "validate": [],
        "build the snapshot": [],
        "rules alone (fast path)": [],
        "rules alone (general parser only)": [],
    }
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter_ns()
        data = parse_json(body, max_bytes=len(body))
        t1 = time.perf_counter_ns()
        specs = load_json(data)
        t2 = time.perf_counter_ns()
        build_snapshot(specs, version=None)
        t3 = time.perf_counter_ns()
        fast_ms = _rules_ms(specs, fast=True)
        full_ms = _rules_ms(specs, fast=False)
        for name, ms in zip(
            stages,
            ((t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, fast_ms, full_ms),
            strict=True,
        ):
            stages[name].append(ms)
    return {name: statistics.median(v) for name, v in stages.items()}


def _rules_ms(specs: Any, *, fast: bool) -> float:
    """Every variant rule compiled as the build compiles it (the cyclic GC paused, as there)."""
    from flagkit._rules.compile import compile_rule

    rules = [(spec.key, v.rule) for spec in specs for v in spec.variants if v.rule is not None]
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for key, rule in rules:
            compile_rule(rule, flag_key=key, budget=10_000, fast=fast)
        return (time.perf_counter_ns() - t0) / 1e6
    finally:
        gc.enable()


def render(r: dict[str, Any]) -> str:
    ok_t = r["build_ms_median"] <= TARGET_MS
    ok_m = r["retained_mb"] <= TARGET_MB
    return "\n".join(
        [
            f"Snapshot build: {r['flags']:,} flags x {r['variants_per_flag']} variants, "
            f"{r['document_bytes']:,} bytes of JSON, {r['repeats']} repeats",
            "",
            "| measure | value | target | met |",
            "|---|---:|---:|---|",
            f"| build (parse + validate + compile), median | {r['build_ms_median']:.1f} ms "
            f"(min {r['build_ms_min']:.1f}, max {r['build_ms_max']:.1f}) | <= {TARGET_MS:g} ms "
            f"| {'yes' if ok_t else '**no**'} |",
            f"| memory retained by the snapshot | {r['retained_mb']:.2f} MB | <= {TARGET_MB:g} MB "
            f"| {'yes' if ok_m else '**no**'} |",
            f"| peak memory during a build | {r['peak_mb']:.2f} MB | - | - |",
            *(
                f"| - of which {name} (median) | {ms:.1f} ms | - | - |"
                for name, ms in r["phases_ms"].items()
            ),
        ]
    )


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    parser.add_argument("--flags", type=int, default=1000)
    args = parser.parse_args(argv)
    result = measure(args.flags, 3 if args.quick else 15)
    print(render(result), file=out)
    return result


if __name__ == "__main__":
    main()
