"""The last-good backup file: written after each accepted document, read once at start-up.

Format: one header line, ``flagkit-backup 1 {"version": ..., "content_type": ...}``, then the
document's bytes as fetched. Writing is atomic and private (a temporary file created ``0600``
and exclusively, ``fsync``, rename). Reading never stops start-up: a backup that is missing is
normal (the first start), and one that is unreachable, not a regular file, too large or
malformed is logged and ignored, so the client starts from its source instead.

In: a path and a :class:`Fetched`. Out: a :class:`Fetched` or None. Imports the sources' file
reader only; the poller builds the snapshot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from ._sources.base import Fetched, read_regular_file

__all__ = ["HEADER_MAX", "read_backup", "write_backup"]

log = logging.getLogger("flagkit")

_MAGIC = b"flagkit-backup 1 "
HEADER_MAX = 4096  # the header line before the document


class _Unusable(Exception):
    """What is wrong with a backup's content, for the log (never quoting the document)."""


def write_backup(path: Path, fetched: Fetched) -> None:
    """Replace the backup at ``path`` with ``fetched``; a failure is logged, never raised."""
    if fetched.body is None:
        return
    header = json.dumps({"version": fetched.version, "content_type": fetched.content_type})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_EXCL (after clearing a leftover of ours): a file or symlink someone planted at the
    # temporary name makes the write fail instead of being followed or overwritten.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + header.encode() + b"\n" + fetched.body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("flagkit: cannot write backup %s: %s", str(path), exc.strerror)
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_backup(path: Path, max_bytes: int) -> Fetched | None:
    """The document backed up at ``path``, or None when there is no usable one.

    Reads at most ``max_bytes`` plus the header, from a regular file only (a FIFO would block
    start-up for ever). Only a missing file is silent; anything else is logged.
    """
    try:
        raw, _ = read_regular_file(path, max_bytes + HEADER_MAX)
    except FileNotFoundError:
        return None  # no backup yet
    except OSError as exc:
        # A directory the service user cannot search, a parent that is a file, a name too
        # long, a loop of symlinks, a FIFO: start from the source instead.
        log.warning("flagkit: cannot read backup %s: %s", str(path), exc.strerror or exc)
        return None
    try:
        return _parse(raw, max_bytes)
    except _Unusable as exc:
        log.warning("flagkit: ignoring unusable backup %s: %s", str(path), exc)
        return None


def _parse(raw: bytes, max_bytes: int) -> Fetched:
    """The header and the document, or _Unusable."""
    if len(raw) > max_bytes + HEADER_MAX:
        raise _Unusable(f"larger than the {max_bytes}-byte size cap")
    end = raw.find(b"\n", 0, HEADER_MAX + 1)
    if not raw.startswith(_MAGIC) or end < 0:
        raise _Unusable("not a flagkit backup")
    try:
        meta = json.loads(raw[len(_MAGIC) : end])
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
        raise _Unusable("its header is not JSON") from None
    if not isinstance(meta, dict):
        raise _Unusable("its header is not a JSON object")
    version = meta.get("version")
    content_type = meta.get("content_type")
    if not isinstance(version, (str, type(None))) or not isinstance(
        content_type, (str, type(None))
    ):
        raise _Unusable("its header's version and content_type are not strings")
    return Fetched(raw[end + 1 :], content_type or "application/json", version)
