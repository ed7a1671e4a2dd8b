"""flagkit: in-process feature flags for AWS AppConfig.

Documents are validated once, compiled once into an immutable snapshot and swapped in with one
reference assignment; evaluation reads that snapshot without locks and never raises.

    import flagkit
    flags = flagkit.Flags(flagkit.AppConfigSource("shop", "prod", "flags"))
    if flags.enabled("new-pricing-engine", user_id):
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import Flags, FlagsView
from ._document.limits import Limits
from ._exceptions import (
    DocumentError,
    FlagkitError,
    MissingExtraError,
    PermanentSourceError,
    RetryableSourceError,
    RuleError,
    SourceError,
)
from ._handle import FlagHandle
from ._poller import Polling, Status
from ._sources.base import Fetched, FileSource, Source, StaticSource
from ._types import ErrorCode, EvaluationDetails, Reason

if TYPE_CHECKING:
    from ._hooks import EvaluationCounters, Exposure, Exposures, otel_attributes
    from ._rollout.guard import AlarmGuard, AlarmState, CloudWatchAlarms, GuardStatus, RolloutEvent
    from ._sources.agent import AgentSource
    from ._sources.appconfig import AppConfigSource

# Loaded on first use (by the clients that use them), not by `import flagkit`.
_GUARD_NAMES = ("AlarmGuard", "AlarmState", "CloudWatchAlarms", "GuardStatus", "RolloutEvent")
_HOOK_NAMES = ("EvaluationCounters", "Exposure", "Exposures", "otel_attributes")

__all__ = [
    "AgentSource",
    "AlarmGuard",
    "AlarmState",
    "AppConfigSource",
    "CloudWatchAlarms",
    "DocumentError",
    "ErrorCode",
    "EvaluationCounters",
    "EvaluationDetails",
    "Exposure",
    "Exposures",
    "Fetched",
    "FileSource",
    "FlagHandle",
    "FlagkitError",
    "Flags",
    "FlagsView",
    "GuardStatus",
    "Limits",
    "MissingExtraError",
    "PermanentSourceError",
    "Polling",
    "Reason",
    "RetryableSourceError",
    "RolloutEvent",
    "RuleError",
    "Source",
    "SourceError",
    "StaticSource",
    "Status",
    "__version__",
    "otel_attributes",
    "validate",
]

__version__ = "0.1.0.dev0"


def validate(
    document: dict[str, Any] | str | bytes,
    *,
    content_type: str = "application/json",
    limits: Limits | None = None,
) -> int:
    """Validate and compile a document; returns the number of flags, raises DocumentError.

    ``limits`` are the :class:`Limits` to hold it to (by default, the defaults a client uses).
    """
    import json

    from ._snapshot import snapshot_from_bytes

    if isinstance(document, dict):
        try:
            body: str | bytes = json.dumps(document, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise DocumentError(
                "document is not JSON", expected="JSON values only", found=str(exc)
            ) from exc
    elif isinstance(document, str | bytes | bytearray):
        body = bytes(document) if isinstance(document, bytearray) else document
    else:
        raise DocumentError(
            "not a document", expected="a dict, str or bytes", found=type(document).__name__
        )
    return len(snapshot_from_bytes(body, content_type=content_type, limits=limits).flags)


def __getattr__(name: str) -> Any:
    # AWS sources are imported on first use so that `import flagkit` never imports boto3; the
    # alarm guard's and the hooks' names likewise.
    if name == "AppConfigSource":
        from ._sources.appconfig import AppConfigSource

        return AppConfigSource
    if name == "AgentSource":
        from ._sources.agent import AgentSource

        return AgentSource
    if name in _GUARD_NAMES:
        from ._rollout import guard as _guard

        return getattr(_guard, name)
    if name in _HOOK_NAMES:
        from . import _hooks

        return getattr(_hooks, name)
    raise AttributeError(f"module 'flagkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
