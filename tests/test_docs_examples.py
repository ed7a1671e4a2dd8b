"""Every ```python block in docs/*.md and README.md runs, so the docs cannot rot.

Blocks of one file run in order in one namespace (a page may build on its earlier blocks), in a
fresh temporary directory, with tracebacks that name the Markdown file and line. A block opened
with ```python no-run is skipped, and each skip is listed by ``test_skipped_blocks_are_few``, so
skipping stays a visible decision. Other fences (```console, ```json, ```sh) are not run.
"""

from __future__ import annotations

import re
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
        i = j + 1
    return blocks


def run_blocks(blocks: list[Block], namespace: dict[str, Any]) -> int:
    """Execute the runnable blocks in order; returns how many ran."""
    ran = 0
    for block in blocks:
        if not block.run:
            continue
        # pad with newlines so that a traceback's line number is the Markdown file's line
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, f"{block.path.relative_to(ROOT)}", "exec")
        exec(code, namespace)  # noqa: S102 - running our own documentation is the point
        ran += 1
    return ran


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
