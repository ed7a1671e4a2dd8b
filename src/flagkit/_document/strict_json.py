"""JSON read strictly: duplicate keys, NaN/Infinity, numbers out of range and non-UTF-8 are refused.

Every refusal is a DocumentError, located (flag and field) when the strict read's hooks alone
cannot say where; nesting past the parser's stack is refused with its line and column. Light to
import (no pydantic), so every document format can use it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from flagkit._exceptions import DocumentError

from .limits import MAX_DOCUMENT_BYTES

__all__ = ["excerpt", "parse_json", "place", "render_path"]


def render_path(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += ("." if out else "") + part
    return out


def place(loc: Sequence[int | str], *, data_view: bool) -> tuple[str | None, list[int | str]]:
    """A location inside a document as (flag key, path inside the flag)."""
    if data_view:
        return (str(loc[0]), list(loc[1:])) if loc else (None, [])
    if len(loc) >= 2 and loc[0] in {"flags", "values"}:
        return str(loc[1]), [loc[0], *loc[2:]]
    return None, list(loc)


def excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DocumentError(
                "duplicate JSON key", field=key, expected="each key once", found="it twice"
            )
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise DocumentError("non-standard JSON number", expected="a finite number", found=name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf without ever calling parse_constant
        raise DocumentError(
            "JSON number out of range", expected="a finite number", found=excerpt(text)
        )
    return value


_REFUSED = object()  # what the locating re-read puts where the strict read refused a token


def _located(text: str, err: DocumentError) -> DocumentError:
    """``err`` naming the flag and field of the first token like the one refused.

    The strict read's hooks see a key or a number but not where it sits; on this error path
    only, the text is read again with hooks that mark such tokens instead of raising.
    """
    duplicate = err.message == "duplicate JSON key"

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            out[key] = _REFUSED if duplicate and key in out else value
        return out

    def number(token: str) -> Any:
        value = float(token)
        return value if duplicate or math.isfinite(value) else _REFUSED

    try:
        data = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_float=number,
            parse_constant=lambda _: 0.0 if duplicate else _REFUSED,
        )
    except (ValueError, RecursionError):
        return err
    path = _path_to(data, _REFUSED)
    if path is None:
        return err
    # the stored form's "version" is a string (or the refused token); a data-view flag that
    # happens to be keyed "version" is an object
    stored = isinstance(data, dict) and not isinstance(data.get("version", {}), dict)
    flag, field = place(path, data_view=not stored)
    return DocumentError(
        err.message,
        flag=flag,
        field=render_path(field) or None,
        expected=err.expected,
        found=err.found,
    )


def _path_to(data: Any, target: object) -> list[int | str] | None:
    """The keys and indexes leading to the first ``target`` in document order (no recursion)."""
    parents: list[tuple[int | str, int]] = []  # (key or index, index of the parent entry)
    stack: list[tuple[Any, int]] = [(data, -1)]
    while stack:
        value, at = stack.pop()
        if value is target:
            path: list[int | str] = []
            while at >= 0:
                step, at = parents[at]
                path.append(step)
            return path[::-1]
        children: list[tuple[int | str, Any]]
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        else:
            continue
        for step, child in reversed(children):
            parents.append((step, at))
            stack.append((child, len(parents) - 1))
    return None


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str, limit: int = 500) -> tuple[int, int, int]:
    """Where nesting first passes ``limit`` (else its deepest point): line, column, depth.

    Only for the error message after ``json.loads`` ran out of stack: one scan, strings skipped.
    """
    depth = deepest = at = 0
    for m in _BRACKETS.finditer(text):
        mark = m.group()
        if mark in "[{":
            depth += 1
            if depth > deepest:
                deepest, at = depth, m.start()
            if depth > limit:
                break
        elif mark in "]}":
            depth -= 1
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1, deepest


def parse_json(body: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse a JSON document strictly; raises DocumentError, never anything else."""
    size = len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    if size > max_bytes:
        raise DocumentError(
            "document too large", expected=f"at most {max_bytes} bytes", found=f"{size} bytes"
        )
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                "document is not UTF-8", expected="UTF-8 text", found=f"byte {exc.start}"
            ) from exc
    else:
        text = body
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise DocumentError(
            "empty document",
            expected="a JSON object",
            found=f"{size} bytes of nothing" if size else "0 bytes",
        )
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite
        )
    except DocumentError as exc:
        raise _located(text, exc) from None
    except RecursionError as exc:
        line, column, depth = _too_deep(text)
        raise DocumentError(
            f"nesting too deep at line {line} column {column}",
            expected="objects and arrays nested at most a few hundred levels",
            found=f"more than {depth - 1} levels" if depth > 500 else f"{depth} levels",
        ) from exc
    except ValueError as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise DocumentError(
            f"malformed JSON {where}".strip(), expected="a JSON object", found=str(exc)[:120]
        ) from exc
