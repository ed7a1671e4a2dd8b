"""Cold start: ``import flagkit``, and a first document ready to evaluate, in fresh interpreters.

    .venv/bin/python benchmarks/import_time.py [--quick]

Each sample is a new interpreter running the working tree's flagkit (with bytecode caches,
as an installed package has them). Reported, as the median over samples with the spread:

* targets (issue 18), wall clock with ``time.perf_counter`` (no ``-X importtime`` overhead):
  ``import flagkit`` <= 30 ms, and ``import flagkit`` + the first 100-flag retrieval-format
  document ready to evaluate <= 60 ms. The document is the flattened data view that
  GetLatestConfiguration serves for an ``AWS.AppConfig.FeatureFlags`` profile of basic
  flags, made here by flagkit.testing's renderer and handed to the child in a file: the child
  runs ``Flags(FileSource(path))`` and one ``enabled()``;
* ``-X importtime`` of ``import flagkit``: cold, in a bare interpreter (including the stdlib
  modules flagkit needs, such as logging, dataclasses and typing), and marginal, after the
  stdlib modules almost every application has already imported (json, logging, typing,
  dataclasses, re, threading), i.e. what adding flagkit costs; with the modules that dominate
  and the heavy third-party packages present (pydantic and boto3 should be absent: boto3
  loads when AWS is used, pydantic only for a document the fast path does not take).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the working tree's flagkit (src/) importable for the renderer.
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src")]

ROOT = Path(__file__).resolve().parents[1]
PRELOAD = "import json, logging, typing, dataclasses, re, threading"
HEAVY = ("pydantic", "pydantic_core", "boto3", "botocore", "amazon.ion", "mmh3")
IMPORT_TARGET_MS = 30.0
FIRST_DOCUMENT_TARGET_MS = 60.0
FLAGS = 100
# The child: the timed part runs from before `import flagkit` to the first answer.
IMPORT_PROBE = """
import time
t0 = time.perf_counter()
import flagkit
t1 = time.perf_counter()
REPORT
"""
DOCUMENT_PROBE = """
import time
t0 = time.perf_counter()
import flagkit
flags = flagkit.Flags(flagkit.FileSource(PATH))
answer = flags.enabled(KEY, "user-1")
t1 = time.perf_counter()
assert answer is True and flags.status().swaps == 1
flags.close()
REPORT
"""
# after the timed part: what it took and which heavy packages it loaded
_REPORT = """
import json, sys
print(json.dumps({"ms": (t1 - t0) * 1000, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def _env() -> dict[str, str]:
    """The child's environment: the working tree first on the path, bytecode caches allowed.

    PYTHONDONTWRITEBYTECODE (set in some shells and CI) would make every sample compile
    flagkit from source, which no installed package does; the first sample writes the caches.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def data_view(n_flags: int = FLAGS) -> tuple[bytes, str]:
    """The retrieval-format body of ``n_flags`` basic flags (two in three on, with attributes)
    and the key of an enabled one: what GetLatestConfiguration serves for such a profile."""
    from flagkit.testing._appconfig_render import render_feature_flags

    flags: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for i in range(n_flags):
        key = f"flag-{i:03d}"
        flags[key] = {
            "name": key,
            "attributes": {
                "color": {"constraints": {"type": "string"}},
                "limit": {"constraints": {"type": "number", "minimum": 0}},
                "regions": {"constraints": {"type": "array", "elements": {"type": "string"}}},
            },
        }
        values[key] = {"enabled": i % 3 != 0, "color": "red", "limit": i, "regions": ["eu"]}
    body, content_type = render_feature_flags({"version": "1", "flags": flags, "values": values})
    assert content_type == "application/json", content_type
    return body, "flag-001"


def _wall(probe: str, samples: int) -> dict[str, Any]:
    """``probe`` in ``samples`` fresh interpreters (after one that writes bytecode caches)."""
    code = f"HEAVY = {HEAVY!r}\n" + probe.replace("REPORT", _REPORT)
    runs = []
    for i in range(samples + 1):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
        )
        if i:  # the first run may compile and write caches
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    times = sorted(r["ms"] for r in runs)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {
        "ms": statistics.median(times),
        "min_ms": times[0],
        "max_ms": times[-1],
        "iqr_ms": quartiles[2] - quartiles[0],
        "heavy": runs[-1]["heavy"],
    }


def _sample(preload: str) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """One fresh interpreter: {module: (self_us, cumulative_us)} for the flagkit import, and the
    heavy packages present afterwards."""
    probe = (
        f"{preload}\nimport sys\nsys.stderr.write('--flagkit--\\n')\nimport flagkit\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        env=_env(),
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
    body, key = data_view()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flags.json"
        path.write_bytes(body)
        document_probe = DOCUMENT_PROBE.replace("PATH", repr(str(path))).replace("KEY", repr(key))
        result["import"] = _wall(IMPORT_PROBE, samples)
        result["first_document"] = _wall(document_probe, samples)
    result["document_bytes"] = len(body)
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
        f"Cold start (median of {r['samples']} fresh interpreters, wall clock; the spread is "
        "this machine's noise)",
        "",
        "| measure | median | min - max | IQR | target | met | heavy packages loaded |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, title, target in (
        ("import", "`import flagkit`", IMPORT_TARGET_MS),
        (
            "first_document",
            f"`import flagkit` + a {FLAGS}-flag data view ({r['document_bytes']:,} bytes) "
            "ready to evaluate",
            FIRST_DOCUMENT_TARGET_MS,
        ),
    ):
        c = r[label]
        met = "yes" if c["ms"] <= target else "**no**"
        lines.append(
            f"| {title} | {c['ms']:.1f} ms | {c['min_ms']:.1f} - {c['max_ms']:.1f} ms "
            f"| {c['iqr_ms']:.1f} ms | <= {target:g} ms | {met} "
            f"| {', '.join(c['heavy']) or 'none'} |"
        )
    lines += [
        "",
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
