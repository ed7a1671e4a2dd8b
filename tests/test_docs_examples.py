"""Every ```python block in docs/*.md and README.md runs, so the docs cannot rot.

Blocks of one file run in order in one namespace (a page may build on its earlier blocks), in a
fresh temporary directory, with tracebacks that name the Markdown file and line. A block opened
with ```python no-run is skipped, and each skip is listed by ``test_skipped_blocks_are_few``, so
skipping stays a visible decision. A ```console check block is run too: each ``$ flagkit ...``
line goes through the CLI in-process, in the page's order, and its output must match the lines
below it (``...`` matches anything, as in doctest). Other fences (```console, ```json, ```sh)
are not run.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*(?P<info>.*?)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the first line of code
    code: str
    run: bool
    kind: str = "python"  # or "console": $ flagkit commands with their expected output


def extract(text: str, path: Path) -> list[Block]:
    """The ```python blocks of a Markdown text, in order (fences inside fences are ignored)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, info = m["fence"], m["lang"].lower(), m["info"].split()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang in ("python", "py"):
            blocks.append(Block(path, start + 1, "\n".join(lines[start:j]), "no-run" not in info))
        elif lang == "console" and "check" in info:
            blocks.append(Block(path, start + 1, "\n".join(lines[start:j]), True, "console"))
        i = j + 1
    return blocks


def run_blocks(blocks: list[Block], namespace: dict[str, Any]) -> int:
    """Execute the runnable blocks in order; returns how many ran."""
    ran = 0
    for block in blocks:
        if not block.run:
            continue
        if block.kind == "console":
            run_console(block)
            ran += 1
            continue
        # pad with newlines so that a traceback's line number is the Markdown file's line
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, f"{block.path.relative_to(ROOT)}", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation is the point
        ran += 1
    return ran


def run_console(block: Block) -> None:
    """Run each ``$ flagkit ...`` line of a console block and compare with its shown output."""
    from flagkit._cli.main import main

    checker = doctest.OutputChecker()
    commands: list[tuple[int, str, list[str]]] = []
    for n, line in enumerate(block.code.splitlines(), block.line):
        if line.startswith("$ "):
            commands.append((n, line[2:], []))
        elif commands:
            commands[-1][2].append(line)
    assert commands, f"{block.path.name}:{block.line}: a console check block without commands"
    for n, command, expected in commands:
        argv = shlex.split(command, comments=True)
        assert argv[0] == "flagkit", f"{block.path.name}:{n}: only flagkit commands are checked"
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(argv[1:])
        want = "\n".join(expected).strip() + "\n"
        got = out.getvalue().strip() + "\n"
        assert checker.check_output(want, got, doctest.ELLIPSIS), (
            f"{block.path.relative_to(ROOT)}:{n}: `{command}` printed\n{got}\nexpected\n{want}"
        )


def _blocks(path: Path) -> list[Block]:
    return extract(path.read_text(encoding="utf-8"), path) if path.exists() else []


RUNNABLE = [p for p in PAGES if any(b.run for b in _blocks(p))]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    assert run_blocks(_blocks(page), namespace) > 0


def test_my_pages_have_runnable_examples() -> None:
    """The pages this suite was written for carry code that runs (or none at all, by design)."""
    for name in ("README.md", "docs/quickstart.md", "docs/concepts.md", "docs/documents.md"):
        path = ROOT / name
        assert path.exists(), name
        assert any(b.run for b in _blocks(path)), f"{name} has no runnable python block"


def test_skipped_blocks_are_few() -> None:
    """``no-run`` is for code that truly cannot run offline; keep it rare and visible."""
    skipped = [
        f"{b.path.relative_to(ROOT)}:{b.line}" for p in PAGES for b in _blocks(p) if not b.run
    ]
    total = sum(len(_blocks(p)) for p in PAGES)
    assert len(skipped) <= max(3, total // 10), skipped


def test_relative_links_resolve() -> None:
    """Every relative Markdown link in the docs and README points at a file that exists."""
    broken = []
    for page in PAGES:
        if not page.exists():
            continue
        text = page.read_text(encoding="utf-8")
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code are not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file_part = target.split("#", 1)[0]
            if not (page.parent / file_part).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


# -- the extractor itself ----------------------------------------------------------------------

SAMPLE = """\
# Title

```python
x = 1
```

```python no-run
raise SystemExit("needs AWS")
```

````markdown
```python
this is quoted, not code
```
````

~~~py
y = x + 1
~~~

```console
$ flagkit demo
```
"""


CONSOLE = """\
```python
import json
with open("f.json", "w") as f:
    json.dump({"dark-mode": {"enabled": True}}, f)
```

```console check
$ flagkit validate f.json   # a comment
f.json: ok: 1 flag ...
$ flagkit eval f.json dark-mode
dark-mode = true
...
```
"""


def test_console_check_blocks_run_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_blocks(extract(CONSOLE, ROOT / "docs" / "c.md"), {}) == 2


def test_console_check_blocks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wrong = CONSOLE.replace("dark-mode = true", "dark-mode = false")
    with pytest.raises(AssertionError, match="printed"):
        run_blocks(extract(wrong, ROOT / "docs" / "c.md"), {})


def test_extract_finds_python_blocks_and_skips_no_run() -> None:
    blocks = extract(SAMPLE, ROOT / "docs" / "sample.md")
    assert [(b.line, b.code, b.run) for b in blocks] == [
        (4, "x = 1", True),
        (8, 'raise SystemExit("needs AWS")', False),
        (18, "y = x + 1", True),
    ]


def test_blocks_share_a_namespace_in_order() -> None:
    namespace: dict[str, Any] = {}
    assert run_blocks(extract(SAMPLE, ROOT / "docs" / "sample.md"), namespace) == 2
    assert namespace["y"] == 2


def test_a_failing_block_fails_with_the_markdown_line() -> None:
    bad = "text\n\n```python\nok = 1\nassert ok == 2, 'docs are wrong'\n```\n"
    with pytest.raises(AssertionError, match="docs are wrong") as exc:
        run_blocks(extract(bad, ROOT / "docs" / "bad.md"), {})
    assert exc.traceback[-1].lineno + 1 == 5  # pytest's lineno is 0-based; line 5 of bad.md
