"""docs/release.md works as written: every ``$ flagkit`` line of its ```console runbook blocks
runs from the repository's root, with the exit status its ``# exit N`` comment names (0 without
one) and the output shown below it (``...`` matches anything, as in doctest).

The block marked ``serve`` runs against ``flagkit serve`` (the local AppConfig) on a free
loopback port, reached through ``AWS_ENDPOINT_URL`` as the page tells the reader to.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
import threading
from pathlib import Path
from typing import Any

import pytest

from flagkit._cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "release.md"
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def runbook_blocks() -> list[tuple[int, list[str], str]]:
    """(line, info words, text) of each ```console runbook block of the page."""
    blocks = []
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        words = lines[i].strip()[3:].split() if lines[i].startswith("```") else []
        if words[:2] == ["console", "runbook"]:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            blocks.append((i + 2, words[2:], "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return blocks


def run_block(line: int, text: str) -> int:
    """Run each command of a block and check its status and output; returns how many ran."""
    checker = doctest.OutputChecker()
    commands: list[tuple[int, str, list[str]]] = []
    for n, row in enumerate(text.splitlines(), line):
        if row.startswith("$ "):
            commands.append((n, row[2:], []))
        else:
            commands[-1][2].append(row)
    for n, command, expected in commands:
        m = _EXIT.search(command)
        want_status = int(m[1]) if m else 0
        argv = shlex.split(command, comments=True)
        assert argv[0] == "flagkit", f"release.md:{n}: only flagkit commands run here"
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                status = main(argv[1:])
            except SystemExit as exc:
                status = int(exc.code or 0)
        got = out.getvalue()
        assert status == want_status, f"release.md:{n}: `{command}` exited {status}\n{got}"
        want = "\n".join(expected).strip() + "\n"
        assert checker.check_output(want, got.strip() + "\n", doctest.ELLIPSIS), (
            f"release.md:{n}: `{command}` printed\n{got}\nexpected\n{want}"
        )
    return len(commands)


BLOCKS = runbook_blocks()


def test_the_page_has_both_runbook_blocks() -> None:
    assert [words for _, words, _ in BLOCKS] == [[], ["serve"]]


def test_diffs_of_the_files_run_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    (line, _, text) = BLOCKS[0]
    assert run_block(line, text) >= 5


@pytest.fixture
def local_appconfig(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``flagkit serve --file examples/release/1-dark.json`` in a thread, on a free port."""
    pytest.importorskip("boto3")
    from flagkit._cli.serve import serve

    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    ready, stop = threading.Event(), threading.Event()
    servers: list[Any] = []

    def on_ready(server: Any) -> None:
        servers.append(server)
        ready.set()

    monkeypatch.chdir(ROOT)
    thread = threading.Thread(
        target=serve,
        args=("examples/release/1-dark.json",),
        kwargs={
            "application": "checkout",
            "environment": "prod",
            "profile": "flags",
            "port": 0,
            "out": io.StringIO(),
            "stop": stop,
            "on_ready": on_ready,
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(10), "flagkit serve did not start"
        # the page's `export` lines, with this server's port for 2773
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", servers[0].endpoint_url)
        yield servers[0]
    finally:
        stop.set()
        thread.join(10)


def test_the_page_exports_what_the_test_sets() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert (
        "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"
        in text
    )
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:2773" in text
    assert (
        "flagkit serve --file examples/release/1-dark.json --app checkout --env prod --profile flags"
        in text
    )


def test_the_release_walks_against_the_local_appconfig(local_appconfig: Any) -> None:
    (line, _, text) = BLOCKS[1]
    assert run_block(line, text) >= 10
