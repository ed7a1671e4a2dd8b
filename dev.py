#!/usr/bin/env python3
"""The project's two commands, on a machine that has only Python.

    python3 dev.py demo    # the end-to-end demo on an embedded local AppConfigData server
    python3 dev.py test    # the whole test suite (what .ci/run runs)

Each creates ``.venv`` beside this file on first use and installs flagkit into it (editable,
with the ``dev`` extra); it re-installs only when ``pyproject.toml`` changes. Extra arguments
are passed on: ``python3 dev.py test -k bucketing``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".flagkit-installed"


def _ensure_env() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PY.exists():
        return
    if not PY.exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("dev.py: installing flagkit[dev] into .venv", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    _ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return subprocess.run([str(PY), "-m", "flagkit", "demo", *rest], cwd=ROOT).returncode
    code = subprocess.run([str(PY), "-m", "pytest", *rest], cwd=ROOT).returncode
    if code == 5:  # pytest: "no tests were collected" must never count as success
        print("dev.py: pytest collected no tests; failing", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
