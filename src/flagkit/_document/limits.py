"""The limits a document is held to, owned by the document stage (docs/security.md lists them).

Light to import: sources and the poller read these without loading pydantic. Every limit here
refuses a whole document at load, so the last good snapshot keeps serving: the defaults are
generous, and :class:`Limits` changes them per client (``Polling(limits=Limits(...))``). They
hold for every format, which reaches the snapshot builder as FlagSpecs through
``read.specs_from_bytes``; the rule limits (``MAX_RULE_CHARS``, ``MAX_DEPTH``) live with the
rule parser in ``_rules.parse``, which every rule passes, text or tree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from flagkit._exceptions import DocumentError

if TYPE_CHECKING:
    from flagkit._rules.patterns import Patterns

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_FLAGS",
    "MAX_FLAG_COST",
    "MAX_PATTERN_SIZE",
    "MAX_PATTERN_TOTAL",
    "Limits",
    "check_flag_count",
]

MAX_DOCUMENT_BYTES = 1024 * 1024  # AppConfig's hosted-configuration limit: the default size cap
# Flags per document. AppConfig documents no such limit (only the 1 MiB size); past about
# 25,000 flags the per-flag cost of a load outgrows the documented 0.8 s and 40 MiB.
MAX_FLAGS = 25_000
# The most work one evaluation of one flag may do, in steps (an operator call is 1 step; see
# flagkit._rules.compile.SCAN_STEPS for what a scan of a context value and a pattern count).
MAX_FLAG_COST = 20_000
# RE2 program instructions per pattern (`matches` and constraint patterns alike).
MAX_PATTERN_SIZE = 10_000
# RE2 program instructions over all of a document's distinct patterns, each counting at least
# 250: bounds their compile time and the memory a snapshot's patterns can hold.
MAX_PATTERN_TOTAL = 200_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one document may make a load or an evaluation cost; beyond it, it is refused.

    Pass it as ``Polling(limits=Limits(...))`` (or to :func:`flagkit.validate`). Each field is
    a positive integer; docs/security.md gives the defaults and what they bound.

    Args:
        max_flags: flags in a document.
        max_flag_cost: the most steps one evaluation of one flag may take, as ``flagkit
            validate`` and ``flagkit explain`` print them: 1 per operator, 100 more for each
            walk over a context list (``contains``, ``in`` with the literal first), 32 more
            per character position of a ``matches`` pattern (RE2's worst case for 256 bytes).
        max_pattern_size: RE2 program instructions in one pattern.
        max_pattern_total: RE2 program instructions over all of a document's distinct
            patterns (``matches`` and constraint patterns), each counting at least 250.
    """

    max_flags: int = MAX_FLAGS
    max_flag_cost: int = MAX_FLAG_COST
    max_pattern_size: int = MAX_PATTERN_SIZE
    max_pattern_total: int = MAX_PATTERN_TOTAL

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive int, found {value!r}")


def check_flag_count(count: int, limits: Limits) -> None:
    """Refuse a document of more than ``limits.max_flags`` flags, before any is validated."""
    if count > limits.max_flags:
        raise DocumentError(
            "too many flags",
            expected=f"at most {limits.max_flags:,} flags (Limits.max_flags)",
            found=f"{count:,} flags",
        )


def patterns_for(limits: Limits) -> Patterns:
    """A pattern compiler for one load, held to ``limits``' pattern size limits (the document's
    constraint patterns and its rules' patterns count towards one total)."""
    from flagkit._rules.patterns import Patterns

    return Patterns(max_size=limits.max_pattern_size, max_total=limits.max_pattern_total)
