"""What the CLI reads: exit statuses, argument types, document files and id lists.

Shared by the commands (``documents``, ``main``); raises CliError (exit 2) or NoSuchFlag (exit 1)
for ``main`` to print.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "OK",
    "REFUSED",
    "USAGE",
    "CliError",
    "NoSuchFlag",
    "compiled_flag",
    "load_snapshot",
    "parse_at",
    "parse_attrs",
    "plural",
    "port_number",
    "positive_int",
    "read_ids",
    "seconds_type",
]

OK, REFUSED, USAGE = 0, 1, 2


class CliError(Exception):
    """A usage problem: printed as ``flagkit: error: ...`` with exit status 2."""


class NoSuchFlag(Exception):
    """The document has no such flag: exit status 1, like a refused document."""


def content_type_for(path: Path) -> str:
    return "application/ion" if path.suffix.lower() == ".ion" else "application/json"


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path!r}: {exc.strerror}") from exc


def load_snapshot(path: str, user_key: str, at: float | None = None) -> Any:
    """The compiled snapshot of a document file; DocumentError propagates (exit 1).

    ``at`` (seconds since the epoch) fixes the instant ramps are evaluated at (``--at``).
    """
    import time

    from flagkit._snapshot import snapshot_from_bytes
    from flagkit._sources.base import content_version

    body = read_bytes(path)
    return snapshot_from_bytes(
        body,
        content_type=content_type_for(Path(path)),
        version=content_version(body),
        user_key=user_key,
        wall=time.time if at is None else (lambda: at),
    )


def parse_at(text: str) -> float:
    """``--at``: an ISO 8601 instant with a zone (``2026-11-26T10:05:00Z``)."""
    from flagkit._rollout.ramp import RampSyntaxError, parse_start

    try:
        return parse_start(text)
    except RampSyntaxError as exc:
        raise argparse.ArgumentTypeError(f"expected {exc}") from None


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {port}")
    return port


def seconds_type(*, integer: bool, zero: bool) -> Callable[[str], float]:
    """argparse type: a finite number of seconds, above zero (or at least zero)."""
    kind = int if integer else float
    floor = "0 or more" if zero else "above 0"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"seconds must be {floor}, not {text}")
        return value

    return parse


def parse_attrs(pairs: Sequence[str]) -> dict[str, Any]:
    """``k=v`` gives the string ``v``; ``k:=json`` a typed value (``age:=70``, ``tags:=["a"]``).

    Strings are the default because that is what context arrives as from HTTP headers and the
    AppConfig agent; rules read ``"70"`` as a number where the literal is a number.
    """
    attrs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.rstrip(":"):
            raise CliError(f"--attr {pair!r}: expected KEY=VALUE or KEY:=JSON")
        if key.endswith(":"):
            key = key[:-1]
            try:
                attrs[key] = json.loads(raw)
            except ValueError as exc:
                raise CliError(f"--attr {pair!r}: the value after := is not JSON ({exc})") from exc
        else:
            attrs[key] = raw
    return attrs


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def compiled_flag(snapshot: Any, flag: str) -> Any:
    compiled = snapshot.flags.get(flag)
    if compiled is None:
        known = ", ".join(sorted(snapshot.flags)) or "none"
        raise NoSuchFlag(f"no flag {flag!r} in the document (flags: {known})")
    return compiled


def read_ids(path: str, user_key: str) -> list[tuple[str, dict[str, Any]]]:
    """One id per line; or a JSON object per line with the id under the user key.

    Blank lines and lines starting with ``#`` are skipped.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    data = read_bytes(path)
    if b"\x00" in data:
        raise CliError(f"{path}: binary data (a NUL byte at offset {data.index(0)}), not ids")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start}), not ids") from exc
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()  # noqa: PLW2901 - the stripped line is the line
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise CliError(f"{path}:{n}: not a JSON object ({exc})") from exc
            if not isinstance(obj, dict) or user_key not in obj:
                raise CliError(f"{path}:{n}: a JSON line needs the id under {user_key!r}")
            uid = obj.pop(user_key)
            out.append((str(uid), obj))
        else:
            out.append((line, {}))
    return out


def positive_int(text: str) -> int:
    """argparse type: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
