"""How the CLI prints a refused document: one format for every command (and ``serve``)."""

from __future__ import annotations

from flagkit._exceptions import DocumentError, RuleError

__all__ = ["describe_error"]


def describe_error(exc: DocumentError, path: str) -> str:
    """A refused document, as ``validate`` and every other command print it: every problem."""
    message = exc.message
    if isinstance(exc, RuleError):  # the caret below shows the position
        message = message.rsplit(" at position ", 1)[0]
    lines = [f"{path}: refused: {message}", *_place_lines(exc, "  ")]
    if isinstance(exc, RuleError) and exc.rule:
        lines.append(f"  rule:     {exc.rule}")
        lines.append(f"            {' ' * exc.position}^ position {exc.position}")
    for other in exc.problems:
        lines.append(f"  and: {other.message}")
        lines.extend(_place_lines(other, "    "))
    return "\n".join(lines)


def _place_lines(exc: DocumentError, indent: str) -> list[str]:
    named = (("flag", exc.flag), ("field", exc.field), ("expected", exc.expected))
    lines = [f"{indent}{name + ':':<9} {value}" for name, value in named if value is not None]
    if exc.found is not None:
        lines.append(f"{indent}found:    {exc.found}")
    return lines
