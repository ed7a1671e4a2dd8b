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

from ._client import Flags
from ._evaluating import FlagsView
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
from ._types import ErrorCode, EvaluationDetails, Reason

if TYPE_CHECKING:
    from ._document.limits import Limits
    from ._hooks import EvaluationCounters, Exposure, Exposures, otel_attributes
    from ._poller import Polling, Status
    from ._rollout.guard import AlarmGuard, AlarmState, CloudWatchAlarms, GuardStatus, RolloutEvent
    from ._sources.agent import AgentSource
    from ._sources.appconfig import AppConfigSource
    from ._sources.base import Fetched, FileSource, Source, StaticSource

# Loaded on first use, not by `import flagkit` (docs/performance.md, cold start): the AWS
# sources (so that boto3 loads only where AppConfig is used), the alarm guard and the hooks,
# and the snapshot stage's names, which the first Flags() loads anyway.
_LAZY = {
    "AppConfigSource": "_sources.appconfig",
    "AgentSource": "_sources.agent",
    "Fetched": "_sources.base",
    "FileSource": "_sources.base",
    "Source": "_sources.base",
    "StaticSource": "_sources.base",
    "Limits": "_document.limits",
    "Polling": "_poller",
    "Status": "_poller",
    **dict.fromkeys(
        ("AlarmGuard", "AlarmState", "CloudWatchAlarms", "GuardStatus", "RolloutEvent"),
        "_rollout.guard",
    ),
    **dict.fromkeys(("EvaluationCounters", "Exposure", "Exposures", "otel_attributes"), "_hooks"),
}

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
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flagkit' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
