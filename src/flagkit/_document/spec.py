"""The normalised form every document format becomes, and what ``_snapshot`` compiles.

Kept free of pydantic so that evaluation-side modules can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flagkit._rules.parse import Call

__all__ = ["FlagSpec", "VariantSpec"]


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One variant (or a basic flag's single state). ``rule`` is None for the default.

    ``tree`` is set by a format whose conditions are data rather than rule text (a Powertools
    schema): the rule already built as a syntax tree, which the one rule compiler compiles
    instead of parsing ``rule`` (then only the text shown for it).
    """

    name: str | None
    enabled: bool
    rule: str | None
    values: Mapping[str, Any]
    tree: Call | None = None


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """A flag, ready to compile: variants in evaluation order, the default last."""

    key: str
    variants: tuple[VariantSpec, ...]
    attributes: frozenset[str]  # every attribute name the flag defines or carries
    multi_variant: bool
