"""The normalised form every document format becomes, and what ``_snapshot`` compiles.

Kept free of pydantic so that evaluation-side modules can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flagkit._rules.parse import Call

__all__ = ["FlagSpec", "VariantSpec", "variant_spec"]


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


def _variant_maker() -> Callable[[str | None, bool, str | None, Mapping[str, Any]], VariantSpec]:
    """``VariantSpec(name, enabled, rule, values)`` (no tree) with the fields set through their
    slots directly: the frozen dataclass ``__init__`` sets each through ``object.__setattr__``,
    about twice the time, once per variant of a document. The object is the same."""
    new = object.__new__
    set_name, set_enabled, set_rule, set_values, set_tree = (
        getattr(VariantSpec, name).__set__ for name in ("name", "enabled", "rule", "values", "tree")
    )

    def variant(
        name: str | None, enabled: bool, rule: str | None, values: Mapping[str, Any]
    ) -> VariantSpec:
        v = new(VariantSpec)
        set_name(v, name)
        set_enabled(v, enabled)
        set_rule(v, rule)
        set_values(v, values)
        set_tree(v, None)
        return v

    return variant


variant_spec = _variant_maker()
