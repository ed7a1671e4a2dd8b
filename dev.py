#!/usr/bin/env python3
"""The project's commands, on a machine that has only Python.

    python3 dev.py demo    # the end-to-end demo on an embedded local AppConfig
    python3 dev.py test    # the whole test suite (what .ci/run runs)
    python3 dev.py lint    # ruff and mypy, as CI runs them
    python3 dev.py docs    # serve the documentation site on 127.0.0.1:8000 (`docs build`: build it)

Each creates ``.venv`` beside this file on first use and installs flagkit into it (editable,
with the ``dev`` extra); it re-installs only when ``pyproject.toml`` changes. The first run
takes about a minute with pip (seconds with ``uv``, used when it is on PATH). Extra arguments
are passed on: ``python3 dev.py test -k bucketing``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".flagkit-installed"
COMMANDS = ("demo", "test", "lint", "docs")


def _say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def _ensure_env() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and PY.exists():
        return
    started = time.monotonic()
    uv = shutil.which("uv")
    if not PY.exists():
        _say("creating .venv (first run only)")
        if uv:
            subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], check=True)
        else:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if uv:
        _say("installing flagkit[dev] into .venv with uv")
        subprocess.run(
            [uv, "pip", "install", "--python", str(PY), "-e", f"{ROOT}[dev]"], check=True
        )
    else:
        _say("installing flagkit[dev] into .venv with pip (about a minute the first time)")
        pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check"]
        subprocess.run([*pip, "-q", "--upgrade", "pip"], check=True)
        # pip's own "Collecting ..." lines are the progress report
        subprocess.run([*pip, "--progress-bar", "off", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(want)
    _say(f"environment ready in {time.monotonic() - started:.0f} s")


def _run(*cmd: str) -> int:
    return subprocess.run(list(cmd), cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    _ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return _run(str(PY), "-m", "flagkit", "demo", *rest)
    if command == "lint":
        ruff = _run(str(BIN / "ruff"), "check", "src", "tests", "benchmarks", *rest)
        mypy = _run(str(BIN / "mypy"))
        return ruff or mypy
    if command == "docs":
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
        if rest[:1] == ["build"]:
            return _run(str(BIN / "mkdocs"), "build", "--strict", *rest[1:])
        return _run(str(BIN / "mkdocs"), "serve", "--dev-addr", "127.0.0.1:8000", *rest)
    code = _run(str(PY), "-m", "pytest", *rest)
    if code == 5:  # pytest: "no tests were collected" must never count as success
        print("dev.py: pytest collected no tests; failing", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
