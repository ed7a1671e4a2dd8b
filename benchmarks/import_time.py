"""``import flagkit`` time, from fresh interpreters.

    .venv/bin/python benchmarks/import_time.py [--quick]

Each sample is a new ``python -X importtime`` process importing flagkit from the working tree;
the report gives the median over samples of

* cold: ``import flagkit`` in a bare interpreter (includes the stdlib modules flagkit needs,
  such as logging, dataclasses and typing);
* marginal: ``import flagkit`` after the stdlib modules almost every application has already
  imported (json, logging, typing, dataclasses, re, threading), i.e. what adding flagkit costs;

and lists the modules that dominate, plus which heavy third-party packages the import pulled in
(pydantic and boto3 should be absent: they load only when a document is parsed / AWS is used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRELOAD = "import json, logging, typing, dataclasses, re, threading"
HEAVY = ("pydantic", "pydantic_core", "boto3", "botocore", "amazon.ion", "mmh3")


def _sample(preload: str) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """One fresh interpreter: {module: (self_us, cumulative_us)} for the flagkit import, and the
    heavy packages present afterwards."""
    probe = (
        f"{preload}\nimport sys\nsys.stderr.write('--flagkit--\\n')\nimport flagkit\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows: dict[str, tuple[int, int]] = {}
    after = done.stderr.split("--flagkit--\n", 1)[1]
    for line in after.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows[name] = (int(self_us), int(cum_us))
    return rows, [m for m in done.stdout.strip().split(",") if m]


def measure(samples: int) -> dict[str, Any]:
    result: dict[str, Any] = {"samples": samples}
    for label, preload in (("cold", ""), ("marginal", PRELOAD)):
        totals, self_times = [], defaultdict(list)
        heavy: list[str] = []
        for _ in range(samples):
            rows, heavy = _sample(preload)
            totals.append(rows["flagkit"][1])
            for name, (self_us, _) in rows.items():
                self_times[name].append(self_us)
        top = sorted(self_times.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
        result[label] = {
            "ms": statistics.median(totals) / 1000,
            "min_ms": min(totals) / 1000,
            "top": [(name, statistics.median(v) / 1000) for name, v in top],
            "heavy": heavy,
        }
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        f"`import flagkit` (median of {r['samples']} fresh interpreters, `-X importtime`)",
        "",
        "| case | median | min | slowest modules (self time) | heavy packages loaded |",
        "|---|---:|---:|---|---|",
    ]
    for label, title in (("cold", "bare interpreter"), ("marginal", f"after `{PRELOAD}`")):
        c = r[label]
        top = ", ".join(f"{name} {ms:.1f} ms" for name, ms in c["top"])
        heavy = ", ".join(c["heavy"]) or "none"
        lines.append(f"| {title} | {c['ms']:.1f} ms | {c['min_ms']:.1f} ms | {top} | {heavy} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 samples instead of 15")
    args = parser.parse_args(argv)
    result = measure(3 if args.quick else 15)
    print(render(result), file=out)
    return result


if __name__ == "__main__":
    main()
