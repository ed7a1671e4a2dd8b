"""Every benchmark of issues 4 and 18 in one go, printed as the markdown docs/performance.md
carries.

    .venv/bin/python benchmarks/report.py [--quick] > /tmp/perf.md

Runs, in this order: a GET to the AppConfig Agent per evaluation against ``flags.enabled()``
(agent_get.py), the evaluation comparison at the call site and through evaluators (run.py),
its layer-by-layer anatomy (anatomy.py), snapshot build (snapshot_build.py), import time
(import_time.py) and swap under load (swap_under_load.py). Installs nothing; peers missing
from the virtualenv are skipped and named.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

from benchmarks import agent_get, anatomy, import_time, run, snapshot_build, swap_under_load

ROOT = Path(__file__).resolve().parents[1]


def _git_head() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    quick = ["--quick"] if argv and "--quick" in argv else []
    sections = (
        ("A GET to the AppConfig Agent per evaluation", agent_get.main),
        ("Evaluation: flagkit, peers and the floor", run.main),
        ("Where flagkit's evaluation time goes", anatomy.main),
        ("Snapshot build", snapshot_build.main),
        ("Import time", import_time.main),
        ("Swapping under load", swap_under_load.main),
    )
    print(f"Working tree at `{_git_head()}`" + (" (quick mode)" if quick else ""))
    verified = True
    for title, entry in sections:
        buf = io.StringIO()
        try:
            result = entry(list(quick), out=buf)
        except Exception as exc:  # one broken section must not lose the others' tables
            print(f"\n### {title}\n\nfailed: {type(exc).__name__}: {exc}")
            verified = False
            continue
        if isinstance(result, run.Report):
            verified = result.verified
            text = buf.getvalue().split("\n\n", 1)[1] if "\n\n" in buf.getvalue() else ""
            progress = [
                line
                for line in buf.getvalue().splitlines()
                if line.startswith(("skipping", "REFUSED", "ERROR"))
            ]
            text = "\n".join(progress + ([""] if progress else [])) + text.lstrip("\n")
        else:
            text = buf.getvalue()
        print(f"\n### {title}\n\n{text.rstrip()}")
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
