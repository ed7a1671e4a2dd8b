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

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flagkit._exceptions import PermanentSourceError

__all__ = ["Fetched", "FileSource", "Source", "StaticSource"]


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
    return "sha256:" + hashlib.sha256(body).hexdigest()[:16]


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
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll_interval: float = 1.0,
        content_type: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._content_type = content_type or _guess_content_type(self.path)
        self._stat_key: tuple[int, int, int] | None = None
        self._version: str | None = None

    def fetch(self) -> Fetched:
        try:
            st = os.stat(self.path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            if key == self._stat_key:
                return Fetched(None, self._content_type, self._version, self.poll_interval)
            body = self.path.read_bytes()
        except OSError as exc:
            raise PermanentSourceError(
                f"cannot read flags file {str(self.path)!r}: {exc.strerror}"
            ) from exc
        self._stat_key = key
        version = content_version(body)
        if version == self._version:
            return Fetched(None, self._content_type, version, self.poll_interval)
        self._version = version
        return Fetched(body, self._content_type, version, self.poll_interval)

    def reset_after_fork(self) -> None:
        """The child re-reads from scratch on its first poll only if the file changes."""

    def __repr__(self) -> str:
        return f"FileSource({str(self.path)!r}, poll_interval={self.poll_interval})"
