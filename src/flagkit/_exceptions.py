"""flagkit's exceptions.

Evaluation never raises; these are raised at load time, by sources, and by configuration.

    FlagkitError                  root: catch this to catch anything flagkit raises
    ├── DocumentError             a document was refused (which flag, which field, expected, found)
    │   └── RuleError             a variant rule does not parse or type-check (with the position)
    ├── SourceError               a source could not fetch a document
    │   ├── RetryableSourceError  transient: throttling, 5xx, timeouts, connection errors
    │   └── PermanentSourceError  needs a human: missing resource, access denied
    └── MissingExtraError         an optional dependency is not installed (names the pip extra)

Foreign errors (botocore, json, pydantic) are translated in exactly one place each and chained
with ``raise ... from exc``; messages never contain credentials or document values beyond the
offending field's short excerpt.
"""

from __future__ import annotations

__all__ = [
    "DocumentError",
    "FlagkitError",
    "MissingExtraError",
    "PermanentSourceError",
    "RetryableSourceError",
    "RuleError",
    "SourceError",
]


class FlagkitError(Exception):
    """Root of every exception flagkit raises."""


class DocumentError(FlagkitError):
    """A flags document was refused as a whole.

    Attributes name the place precisely so that tools (``flagkit validate``) can point at it:
    ``flag`` (the flag key, or None for document-level problems), ``field`` (a dotted path
    inside the flag, e.g. ``_variants[2].rule``), ``expected`` and ``found`` (short text).
    When a document has several problems found together, this error describes the first and
    ``problems`` holds the others, each a DocumentError of its own.
    """

    def __init__(
        self,
        message: str,
        *,
        flag: str | None = None,
        field: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        problems: tuple[DocumentError, ...] = (),
    ) -> None:
        self.flag = flag
        self.problems = problems
        self.field = field
        self.expected = expected
        self.found = found
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.flag is not None:
            where.append(f"flag {self.flag!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f", found {self.found}"
        return text


class RuleError(DocumentError):
    """A rule s-expression is malformed or ill-typed; ``position`` is a 0-based offset."""

    def __init__(
        self,
        message: str,
        *,
        position: int,
        rule: str = "",
        flag: str | None = None,
        field: str | None = None,
    ) -> None:
        self.position = position
        self.rule = rule
        super().__init__(f"{message} at position {position}", flag=flag, field=field)


class SourceError(FlagkitError):
    """A source could not produce a document this time."""


class RetryableSourceError(SourceError):
    """A transient failure; the poller backs off with jitter and tries again.

    ``retry_after`` (seconds) is set when the server said how long to wait.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentSourceError(SourceError):
    """A failure that needs a human (missing resource, access denied); retried slowly."""


class MissingExtraError(FlagkitError, ImportError):
    """An optional dependency is missing; the message gives the exact install command."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"{module!r} is not installed; run: pip install 'flagkit-appconfig[{extra}]'"
        )
