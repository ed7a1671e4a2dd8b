"""Evaluation results: reasons, error codes and the details object.

Names follow OpenFeature (``Reason``, ``ErrorCode``) so that the OpenFeature provider is a thin
mapping. Everything here is immutable; the hot path hands out precomputed instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["ErrorCode", "EvaluationDetails", "Reason"]


class Reason(str, Enum):
    """Why a value was returned (OpenFeature's reason names)."""

    STATIC = "STATIC"  # a basic flag: no rules, the same answer for everyone
    TARGETING_MATCH = "TARGETING_MATCH"  # a variant rule without a split matched
    SPLIT = "SPLIT"  # a variant rule containing a split matched
    DEFAULT = "DEFAULT"  # no rule matched: the default (last) variant
    DISABLED = "DISABLED"  # an attribute was asked of a disabled flag/variant: caller's default
    RAMP = "RAMP"  # a scheduled ramp decided: in (the flag's state) or not yet (the default)
    GUARDED = "GUARDED"  # an alarm guard is holding the flag at its default (off) variant
    STALE = "STALE"  # reserved for integrations: the snapshot is older than a threshold
    ERROR = "ERROR"  # the caller's default, because of the error code


class ErrorCode(str, Enum):
    """What went wrong when a caller's default was returned (OpenFeature's names)."""

    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True)
class EvaluationDetails(Generic[T]):
    """The full answer of one evaluation.

    ``value`` is what the caller gets; ``variant`` the chosen variant's name (None for basic
    flags); ``version`` the document version label the answer came from.
    """

    flag_key: str
    value: T
    reason: Reason
    variant: str | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    version: str | None = None

    def __repr__(self) -> str:
        parts = [
            f"flag_key={self.flag_key!r}",
            f"value={self.value!r}",
            f"reason={self.reason.value}",
        ]
        if self.variant is not None:
            parts.append(f"variant={self.variant!r}")
        if self.error_code is not None:
            parts.append(f"error_code={self.error_code.value}")
            parts.append(f"error_message={self.error_message!r}")
        if self.version is not None:
            parts.append(f"version={self.version!r}")
        return f"EvaluationDetails({', '.join(parts)})"


JSONValue = Any
