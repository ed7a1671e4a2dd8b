"""How the CLI prints a refused document: one format for every command (and ``serve``)."""

from __future__ import annotations

from flagkit._exceptions import DocumentError, RuleError

__all__ = ["describe_error"]


def describe_error(exc: DocumentError, path: str) -> str:
    """A refused document, as ``validate`` and every other command print it."""
    message = exc.message
    if isinstance(exc, RuleError):  # the caret below shows the position
        message = message.rsplit(" at position ", 1)[0]
    lines = [f"{path}: refused: {message}"]
    if exc.flag is not None:
        lines.append(f"  flag:     {exc.flag}")
    if exc.field:
        lines.append(f"  field:    {exc.field}")
    if exc.expected is not None:
        lines.append(f"  expected: {exc.expected}")
    if exc.found is not None:
        lines.append(f"  found:    {exc.found}")
    if isinstance(exc, RuleError) and exc.rule:
        lines.append(f"  rule:     {exc.rule}")
        lines.append(f"            {' ' * exc.position}^ position {exc.position}")
    return "\n".join(lines)
