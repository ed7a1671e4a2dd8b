"""Evaluating one flag at the AppConfig Agent, per call (``AgentSource(evaluate="agent")``).

Out: the ``Context`` and ``Entity-Id`` headers for one evaluation (the attributes, and the
user id under the client's user key). In: the agent's answer for ``?flag=<key>``, validated
by the document stage and turned into an ``Outcome``. Failures are ``EvaluationFailed``,
carrying the error code ``Flags.details()`` reports: evaluation never raises.

Imports ``_snapshot`` (for ``Outcome``) and ``_document`` lazily, at evaluation time only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flagkit._exceptions import DocumentError, FlagkitError
from flagkit._types import ErrorCode, Reason

if TYPE_CHECKING:
    from flagkit._snapshot import CompiledFlag, Outcome

__all__ = ["EvaluationFailed", "agent_evaluated", "context_headers", "outcome"]


class EvaluationFailed(FlagkitError):
    """A per-call evaluation that could not be made; the client returns the caller's default.

    ``error_code`` is what ``Flags.details()`` reports (evaluation never raises).
    """

    def __init__(self, message: str, error_code: ErrorCode = ErrorCode.GENERAL) -> None:
        super().__init__(message)
        self.error_code = error_code


def agent_evaluated(flag: CompiledFlag) -> bool:
    """A flag the agent served evaluated: one named variant, no rule."""
    return flag.multi_variant and len(flag.outcomes) == 1 and flag.rules == (None,)


def _header_text(what: str, text: str) -> str:
    """``text`` if it can go in the header; ``what`` names it (never a value: it may be private).

    Printable ASCII only, and no comma: commas separate Context entries (AWS: "multiple
    context values may be passed ... as comma-separated values in a single header"), and a
    CR or LF would end the header.
    """
    if not all(" " <= ch <= "~" for ch in text) or "," in text:
        raise EvaluationFailed(
            f"{what} cannot travel in an HTTP header to the agent "
            "(printable ASCII without ',' only)",
            ErrorCode.INVALID_CONTEXT,
        )
    return text


def _context_value(key: str, value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return _header_text(f"context value of {key!r}", value)
    if isinstance(value, int | float):
        return repr(value)
    raise EvaluationFailed(
        f"context value of {key!r} is a {type(value).__name__}; the agent takes strings, "
        "numbers and booleans",
        ErrorCode.INVALID_CONTEXT,
    )


def context_headers(
    user_key: str, user_id: Any, attributes: Mapping[str, Any] | None
) -> dict[str, str]:
    """``Context`` (the attributes, and the user id under ``user_key``) and ``Entity-Id``."""
    context = dict(attributes or {})
    if user_id is not None:
        context[user_key] = user_id
    pairs = []
    for key, value in context.items():
        if value is None:
            continue  # a None value is a missing key, as in flagkit's own rules
        if not isinstance(key, str) or not key or "=" in key:
            raise EvaluationFailed(
                f"context key {key!r} cannot be sent to the agent", ErrorCode.INVALID_CONTEXT
            )
        name = _header_text(f"context key {key[:40]!r}", key)
        pairs.append(f"{name}={_context_value(key, value)}")
    headers = {"Context": ",".join(pairs)} if pairs else {}
    if user_id is not None:
        headers["Entity-Id"] = _header_text("user id", _context_value(user_key, user_id))
    return headers


def outcome(key: str, body: bytes, contextless: Outcome) -> Outcome:
    """The agent's answer for one flag, as an outcome (validated by the document stage)."""
    from flagkit._document.fast import load_json
    from flagkit._document.strict_json import parse_json
    from flagkit._snapshot import Outcome

    try:
        specs = {spec.key: spec for spec in load_json(parse_json(body))}
    except DocumentError as exc:
        raise EvaluationFailed(
            f"flag {key!r}: the agent's answer was refused: {exc.message}",
            ErrorCode.PARSE_ERROR,
        ) from exc
    spec = specs.get(key)
    if spec is None:
        raise EvaluationFailed(f"the agent's answer has no flag {key!r}", ErrorCode.FLAG_NOT_FOUND)
    variant = spec.variants[0]
    # [inference] The agent does not say why it chose a variant. The one it gives without
    # context is the default (no rule matched); any other was chosen by a rule.
    reason = Reason.DEFAULT if variant.name == contextless.name else Reason.TARGETING_MATCH
    return Outcome(variant.name, variant.enabled, variant.values, reason, 0, None)
