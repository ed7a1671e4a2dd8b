"""Sources: where documents come from, behind one method.

A source is anything with ``fetch() -> Fetched``: it returns the newest document, or says
"unchanged" (``body is None``), and advises when to ask again. It raises
:class:`~flagkit.SourceError` subclasses on failure. Optional extras the poller uses when present:
``reset_after_fork()`` (drop per-process state such as an AppConfigData session),
``close()``, and ``bind_snapshot(snapshot) -> snapshot`` (the source's say on each snapshot
built from its documents: ``AgentSource`` warns about, or binds per-call evaluation to, flags
the AppConfig Agent evaluated without context).

This module holds the protocol and the two local sources; AWS sources live in their own
modules so that boto3 is imported only where it is used.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flagkit._document.limits import MAX_DOCUMENT_BYTES
from flagkit._exceptions import PermanentSourceError

if TYPE_CHECKING:  # loaded by the sources that use them, not by ``import flagkit``
    from pathlib import Path

__all__ = ["Fetched", "FileSource", "Source", "StaticSource", "read_regular_file"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """One answer of a source.

    ``body`` is None when the document is unchanged since the previous fetch (AppConfig's
    empty body). ``poll_after`` is the source's advice in seconds before the next fetch; None
    means the document can never change (a static source): the poller stops.
    """

    body: bytes | None
    content_type: str = "application/json"
    version: str | None = None
    poll_after: float | None = None


@runtime_checkable
class Source(Protocol):
    """Something that returns the newest document or says it is unchanged."""

    def fetch(self) -> Fetched:
        """Return the newest document, or ``Fetched(body=None, ...)`` when unchanged."""
        ...


def content_version(body: bytes) -> str:
    """A version label for sources without one: a short content hash."""
    import hashlib

    return "sha256:" + hashlib.sha256(body).hexdigest()[:16]


_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}
# O_NONBLOCK: should the path become a FIFO between our stat() and open(), open() returns at
# once instead of waiting for a writer (fstat() then refuses it). It does nothing to regular
# files. O_NOCTTY: a terminal never becomes our controlling one.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _regular(st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(st.st_mode), "special")
        raise OSError(errno.EINVAL, f"not a regular file ({kind})")


def read_regular_file(path: str | os.PathLike[str], limit: int) -> tuple[bytes, os.stat_result]:
    """Read at most ``limit + 1`` bytes of the regular file at ``path``, and its ``fstat``.

    A FIFO would block ``open()`` until a writer came and a device can be endless
    (``/dev/zero``), so anything but a regular file is refused with an ``OSError`` before it
    is opened (``stat``) and again once it is (``fstat`` of the descriptor: the path may have
    been swapped meanwhile). Reading stops one byte past ``limit``, so the caller can tell
    "too large" without the rest ever being read.
    """
    _regular(os.stat(path))
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        _regular(st)
        parts: list[bytes] = []
        left = limit + 1
        while left > 0:
            part = os.read(fd, min(left, 1024 * 1024))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    finally:
        os.close(fd)
    return b"".join(parts), st


def _guess_content_type(path: Path) -> str:
    return "application/ion" if path.suffix.lower() == ".ion" else "application/json"


class StaticSource:
    """A document given in code: a dict, a JSON/Ion string or bytes.

    The document is validated here, at construction, so a bad one raises
    :class:`~flagkit.DocumentError` immediately (which flag, which field, expected, found).
    """

    def __init__(
        self,
        document: dict[str, Any] | str | bytes,
        *,
        content_type: str = "application/json",
        version: str | None = None,
    ) -> None:
        from flagkit._snapshot import snapshot_from_bytes

        if isinstance(document, dict):
            import json

            body = json.dumps(document, allow_nan=False).encode("utf-8")
        elif isinstance(document, str):
            body = document.encode("utf-8", "surrogatepass")
        else:
            body = bytes(document)
        self._body = body
        self._content_type = content_type
        self._version = version if version is not None else content_version(body)
        self._served = False
        snapshot_from_bytes(body, content_type=content_type, version=self._version)  # validate now

    def fetch(self) -> Fetched:
        """The document on the first call; "unchanged" (``body=None``) on every later one."""
        if self._served:
            return Fetched(None, self._content_type, self._version, None)
        self._served = True
        return Fetched(self._body, self._content_type, self._version, None)

    def reset_after_fork(self) -> None:
        """Nothing per-process to drop: the child already holds the snapshot."""

    def __repr__(self) -> str:
        return f"StaticSource(version={self._version!r}, bytes={len(self._body)})"


class FileSource:
    """A JSON (or ``.ion``) file on disk, re-read when it changes.

    Change is detected by (mtime, size, inode) first and confirmed by content hash, so a
    ``touch`` does not cause a re-parse. ``poll_interval`` is how often the poller looks.

    Only a regular file is read (a FIFO, a device or a directory is a
    :class:`~flagkit.PermanentSourceError`), and at most ``max_bytes`` + 1 bytes of it: a
    larger file is refused without being read whole. Raise ``max_bytes`` together with
    ``Polling(max_bytes=...)``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll_interval: float = 1.0,
        content_type: str | None = None,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        from pathlib import Path

        self.path = Path(path)
        self.poll_interval = poll_interval
        self.max_bytes = max_bytes
        self._content_type = content_type or _guess_content_type(self.path)
        self._stat_key: tuple[int, int, int] | None = None
        self._version: str | None = None

    def fetch(self) -> Fetched:
        """The file's bytes when it changed since the last call, else ``body=None``.

        Raises PermanentSourceError when the file cannot be read, is not a regular file, or
        is larger than ``max_bytes``.
        """
        try:
            st = os.stat(self.path)
            if _stat_key(st) == self._stat_key:
                return Fetched(None, self._content_type, self._version, self.poll_interval)
            body, st = read_regular_file(self.path, self.max_bytes)
        except OSError as exc:
            raise PermanentSourceError(
                f"cannot read flags file {str(self.path)!r}: {exc.strerror}"
            ) from exc
        if len(body) > self.max_bytes:
            raise PermanentSourceError(
                f"cannot read flags file {str(self.path)!r}: larger than the "
                f"{self.max_bytes}-byte size cap"
            )
        self._stat_key = _stat_key(st)  # of what was read, should the file have changed
        version = content_version(body)
        if version == self._version:
            return Fetched(None, self._content_type, version, self.poll_interval)
        self._version = version
        return Fetched(body, self._content_type, version, self.poll_interval)

    def reset_after_fork(self) -> None:
        """The child re-reads from scratch on its first poll only if the file changes."""

    def __repr__(self) -> str:
        return f"FileSource({str(self.path)!r}, poll_interval={self.poll_interval})"


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)
