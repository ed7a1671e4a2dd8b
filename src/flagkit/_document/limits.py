"""The limits a document is held to, owned by the document stage (docs/security.md lists them).

Light to import: sources and the poller read these without loading pydantic.
"""

from __future__ import annotations

__all__ = ["MAX_DOCUMENT_BYTES"]

MAX_DOCUMENT_BYTES = 1024 * 1024  # AppConfig's hosted-configuration limit: the default size cap
