"""AppConfig multi-variant rules, compiled once into a predicate (docs/rules.md).

    rule = compile_rule('(split pct::10 by::$userId)', flag_key="my-flag", user_key="userId")
    rule.test(user_id, attributes)   # -> bool, never raises on plain data

Parsing (``_rules_parse``) and type checking happen here, at load time, and raise
:class:`~flagkit._exceptions.RuleError` with the 0-based offset of the offending text. The
result is a tree of closures (``_rules_compile``): evaluation never interprets the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, final

from ._rules_compile import Attributes, Compiler, Predicate
from ._rules_parse import MAX_DEPTH, MAX_RULE_CHARS, parse

__all__ = ["MAX_DEPTH", "MAX_RULE_CHARS", "MISSING", "CompiledRule", "compile_rule"]


@final
class _Missing:
    """The type of :data:`MISSING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
"""What a ``$key`` resolves to when the context has no such key (``None`` counts as missing)."""


def resolve(key: str, user_id: object, attributes: Attributes, *, user_key: str) -> object:
    """What ``$key`` means for this call: the user id for the user key, else the attribute.

    The compiled closures inline this; it exists for tools (``flagkit explain``) and tests.
    """
    if key == user_key and user_id is not None:
        return user_id
    if attributes is None:
        return MISSING
    v = attributes.get(key, MISSING)
    return MISSING if v is None else v


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One variant rule, compiled.

    Attributes:
        text: the rule as written.
        test: ``test(user_id, attributes) -> bool``, the hot-path predicate.
        has_split: the rule contains a ``split`` (reason SPLIT rather than TARGETING_MATCH).
        context_keys: every context key the rule reads (``$key`` and ``exists key::"..."``).
    """

    text: str
    test: Predicate = field(repr=False, compare=False)
    has_split: bool
    context_keys: frozenset[str]


def compile_rule(text: str, *, flag_key: str, user_key: str = "userId") -> CompiledRule:
    """Parse, type-check and compile ``text``; raise ``RuleError`` with the position if invalid.

    Args:
        text: the rule s-expression, e.g. ``(eq $country "DE")``.
        flag_key: the flag the rule belongs to; it seeds ``split`` when the rule gives no
            ``seed::``, so unseeded splits are independent across flags.
        user_key: the context key that means the evaluation's ``user_id`` argument.
    """
    call = parse(text)
    compiler = Compiler(text, flag_key, user_key)
    test = compiler.boolean(call)
    return CompiledRule(text, test, compiler.has_split, frozenset(compiler.keys))
