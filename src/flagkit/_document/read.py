"""The document stage's one door: bytes and a content type in, validated FlagSpecs out.

    specs = specs_from_bytes(body, "application/json", max_bytes=MAX_DOCUMENT_BYTES)

The content type picks the family and the content the form within it (docs/documents.md):

* ``application/json`` (also ``text/plain``, ``application/octet-stream`` or none): AppConfig's
  stored document when it has a top-level string ``version``, else the data view;
* ``application/ion`` or ``text/ion`` (any parameters): the Ion retrieval form (text only);
* :data:`~flagkit._document.powertools.MEDIA_TYPE`: a Powertools ``feature_flags`` schema
  (inside a larger document when an ``envelope`` parameter says where).

A JSON document that is valid passes the fast path (``fast.py``, no pydantic); any other goes
to the pydantic models (``appconfig.py``), which name what is wrong.

Whatever the format, the same limits hold: the size cap (each reader checks it on the raw
body, before parsing), and the rule limits (length, nesting) in the one rule compiler every
rule passes through, text or tree; whatever else the snapshot build bounds per flag, it bounds
for every format, since every format reaches it as FlagSpecs. Raises DocumentError, and only
that (MissingExtraError when the Ion extra is missing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flagkit._exceptions import DocumentError

from .fast import load_json
from .limits import MAX_DOCUMENT_BYTES
from .spec import FlagSpec

if TYPE_CHECKING:
    from flagkit._rules.patterns import Patterns

    from .limits import Limits

__all__ = ["ION_TYPES", "JSON_TYPES", "specs_from_bytes"]

JSON_TYPES = frozenset({"application/json", "", "application/octet-stream", "text/plain"})
ION_TYPES = frozenset({"application/ion", "text/ion"})


def specs_from_bytes(
    body: bytes | str,
    content_type: str = "application/json",
    max_bytes: int = MAX_DOCUMENT_BYTES,
    *,
    limits: Limits | None = None,
    patterns: Patterns | None = None,
) -> tuple[FlagSpec, ...]:
    """Detect the format, validate the document and normalise it into FlagSpecs.

    ``limits`` and ``patterns`` (the load's pattern compiler) reach the stored form's
    validation, which compiles constraint patterns; ``build_snapshot`` applies the per-flag
    limits to every format.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        from .strict_json import parse_json

        return load_json(parse_json(body, max_bytes=max_bytes), limits=limits, patterns=patterns)
    if media in ION_TYPES:
        from .ion import load_ion

        return load_ion(body, max_bytes=max_bytes)
    # Powertools last: its module loads the rule stack, which a JSON document may not need
    from .powertools import MEDIA_TYPE, read_schema_bytes

    if media == MEDIA_TYPE:
        return read_schema_bytes(body, content_type, max_bytes)
    raise DocumentError(
        "unsupported content type",
        expected=f"application/json, application/ion or {MEDIA_TYPE}",
        found=repr(content_type),
    )
