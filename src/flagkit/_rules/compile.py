"""AppConfig multi-variant rules, compiled once into a predicate (docs/rules.md).

    rule = compile_rule('(split pct::10 by::$userId)', flag_key="my-flag", user_key="userId")
    rule.test(user_id, attributes)   # -> bool, never raises on plain data

Three steps, all at load time: ``_rules.parse`` turns text into a small syntax tree; this
module checks each operator's arguments (arity, named arguments, operand types) and raises
:class:`~flagkit._exceptions.RuleError` with the 0-based offset of the offending text; it then
picks, per operator, a closure builder from ``_rules.closures``. Evaluation never interprets
the rule: ``rule.test`` is the root closure itself. An ``and`` of string checks (and a split)
is one closure (``_rules.fused``), and text of the common shapes is built by ``_rules.fast``
first, with the same builders; whatever it declines, errors included, goes through the three
steps.

Cost. While compiling, the most work one evaluation of the rule can do is counted in *steps*
(``CompiledRule.cost``), a step being about one operator call: 1 per operator; plus
:data:`SCAN_STEPS` for an operator that walks a context list element by element
(``contains``, ``in`` with the literal first), counted as a list of that many elements; plus,
for a ``matches``, :data:`MATCH_STEPS` per character position of its pattern
(``Pattern.positions``), RE2's worst case for 256 bytes of text. Longer context values
cost more in proportion: the cost bounds what the *document* chooses. Given a ``budget``,
compiling stops with :class:`OverBudget` as soon as the count passes it, so a costly rule is
refused before the rest of it is compiled.

A format whose conditions are data (a Powertools schema) hands over the tree instead of text
(``compile_rule(text, tree=...)``). Only such a tree may use the internal operators of
``_rules.internal_ops``, and it is held to the text limits first (``parse.tree_text``); its
cost is counted by the same rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, final

from flagkit._exceptions import RuleError

from . import operands
from .bucketing import hash_threshold, pct_problem, seed_of
from .closures import (
    FLIPPED,
    Attributes,
    Predicate,
    any_of,
    collection_has,
    contains_value,
    eq_value,
    exists,
    matches_value,
    none_of,
    text_value,
)
from .fast import FastRule, compile_fast
from .fused import (
    SCAN_STEPS,
    Built,
    Leaf,
    check,
    compare_check,
    conjunction,
    member_check,
    single,
    split_leaf,
)
from .internal_ops import INTERNAL_OPERATORS
from .parse import (
    MAX_DEPTH,
    MAX_RULE_CHARS,
    Call,
    ListLit,
    Lit,
    Named,
    Node,
    Ref,
    Scalar,
    describe,
    parse,
    tree_text,
)
from .patterns import PatternError, Patterns, PatternTooLarge

__all__ = [
    "MATCH_STEPS",
    "MAX_DEPTH",
    "MAX_RULE_CHARS",
    "MISSING",
    "SCAN_STEPS",
    "CompiledRule",
    "OverBudget",
    "compile_rule",
]

# What a matches counts per pattern position. RE2's fallback matcher steps every live position
# for each byte of text, at up to ~25 ns each (measured: benchmarks/document_limits.py; a few ns
# for ordinary patterns, which RE2's DFA runs), against ~0.2 us per step: 32 steps are the worst
# case over 256 bytes of text.
MATCH_STEPS = 32


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
        cost: the most steps one evaluation of the rule takes (see the module docstring).
        tree: the syntax tree when the rule came as one (a Powertools condition list); None
            for rule text, which ``explain`` parses again rather than keep a tree per rule.
    """

    text: str
    test: Predicate = field(repr=False, compare=False)
    has_split: bool
    context_keys: frozenset[str]
    # (key, key is the user key, seed int, hash threshold) when the whole rule is one split
    bare_split: tuple[str, bool, int, int] | None = None
    cost: int = 0
    tree: Call | None = field(default=None, repr=False, compare=False)


def _fast_rule_maker() -> Callable[[str, FastRule], CompiledRule]:
    """``CompiledRule(text, *done)`` for the fast path's ``done`` (no tree), the fields set
    through their slots directly: the frozen dataclass ``__init__`` sets each through
    ``object.__setattr__``, about twice the time, once per rule. The object is the same."""
    new = object.__new__
    setters = [
        getattr(CompiledRule, name).__set__
        for name in ("text", "test", "has_split", "context_keys", "bare_split", "cost", "tree")
    ]
    set_text, set_test, set_split, set_keys, set_bare, set_cost, set_tree = setters

    def fast_rule(text: str, done: FastRule) -> CompiledRule:
        test, has_split, keys, bare, cost = done
        r = new(CompiledRule)
        set_text(r, text)
        set_test(r, test)
        set_split(r, has_split)
        set_keys(r, keys)
        set_bare(r, bare)
        set_cost(r, cost)
        set_tree(r, None)
        return r

    return fast_rule


_fast_rule = _fast_rule_maker()


class OverBudget(Exception):  # noqa: N818 - a signal to the caller, who reports it as a DocumentError
    """Compiling passed the ``budget`` given to :func:`compile_rule`.

    ``position`` is where in the rule the count went over; ``cost`` the count at that point.
    """

    def __init__(self, cost: int, position: int) -> None:
        super().__init__(f"cost {cost} at position {position}")
        self.cost = cost
        self.position = position


def compile_rule(
    text: str,
    *,
    flag_key: str,
    user_key: str = "userId",
    budget: int | None = None,
    patterns: Patterns | None = None,
    tree: Call | None = None,
    wall: Callable[[], float] = time.time,
    fast: bool = True,
) -> CompiledRule:
    """Parse, type-check and compile ``text``; raise ``RuleError`` with the position if invalid.

    Args:
        text: the rule s-expression, e.g. ``(eq $country "DE")``.
        flag_key: the flag the rule belongs to; it seeds ``split`` when the rule gives no
            ``seed::``, so unseeded splits are independent across flags.
        user_key: the context key that means the evaluation's ``user_id`` argument.
        budget: the most steps the rule may cost; past it, :class:`OverBudget` is raised.
        patterns: the load's pattern compiler, which holds the pattern size limits (by
            default, patterns are held to RE2's own memory budget only).
        tree: the rule already built as a syntax tree by a document reader (a format whose
            conditions are data); compiled instead of ``text``, which it replaces by its own
            rendering. Only a tree may use the internal operators (``_rules.internal_ops``).
        wall: the clock the internal ``clock.*`` operators read (the snapshot's).
        fast: first try ``_rules.fast``, which builds the same rule from the text of the common
            shapes without the general parser (False: always the general path, for tests).
    """
    if tree is None:
        if fast:
            done = compile_fast(text, flag_key=flag_key, user_key=user_key, budget=budget)
            if done is not None:
                return _fast_rule(text, done)
        call = parse(text)
        compiler = Compiler(text, flag_key, user_key, budget, patterns)
    else:
        call = tree
        text = tree_text(tree)  # the limits text is held to, and the text explain shows
        compiler = Compiler(text, flag_key, user_key, budget, patterns, internal=True, wall=wall)
    test = compiler.boolean(call)
    test = single(test, compiler.leaves.get(test))
    bare = compiler.last_split if call.op == "split" else None
    keys = frozenset(compiler.keys)
    return CompiledRule(text, test, compiler.has_split, keys, bare, compiler.cost, tree)


class Compiler:
    """Check and compile one parsed rule, collecting ``has_split`` and ``context_keys``.

    Each ``_c_<op>`` handler below checks its node's arguments and returns the closure; the
    ``_OPERATORS`` table is consulted here, at build time only.
    """

    def __init__(
        self,
        text: str,
        flag_key: str,
        user_key: str,
        budget: int | None = None,
        patterns: Patterns | None = None,
        *,
        internal: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.text = text
        self.flag_key = flag_key
        self.user_key = user_key
        self.operators = _WITH_INTERNAL if internal else _OPERATORS
        self.wall = wall
        self.budget = budget
        self.patterns = patterns or Patterns()
        self.cost = 0
        self.has_split = False
        self.keys: set[str] = set()
        self.last_split: tuple[str, bool, int, int] | None = None
        self.leaves: dict[Predicate, Leaf] = {}  # what fused.conjunction may inline, by closure

    def error(self, message: str, pos: int) -> RuleError:
        return RuleError(message, position=pos, rule=self.text)

    def leaf(self, built: Built) -> Predicate:
        """The closure of a leaf, remembering its description for the ``and`` above it."""
        pred, leaf = built
        self.leaves[pred] = leaf
        return pred

    def charge(self, steps: int, pos: int) -> None:
        """Count ``steps`` of evaluation work; raise OverBudget once past the budget."""
        self.cost += steps
        if self.budget is not None and self.cost > self.budget:
            raise OverBudget(self.cost, pos)

    def charge_scan(self, pos: int) -> None:
        """Count a walk over a context value, element by element (:data:`SCAN_STEPS`)."""
        self.charge(SCAN_STEPS, pos)

    def boolean(self, node: Node) -> Predicate:
        if isinstance(node, Call):
            self.charge(1, node.pos)
        if not isinstance(node, Call):
            raise self.error(
                f"expected a boolean expression such as (eq $key 1), found {describe(node)}",
                node.pos,
            )
        handler = self.operators.get(node.op)
        if handler is None:
            raise self.error(
                f"unknown operator {node.op!r}; expected one of {', '.join(_OPERATORS)}",
                node.op_pos,
            )
        return handler(self, node)

    def ref(self, node: Ref) -> tuple[str, bool]:
        self.keys.add(node.key)
        return node.key, node.key == self.user_key

    # --- argument shapes ---

    def positional(self, node: Call, least: int, most: int | None) -> tuple[Node, ...]:
        if node.named:
            raise self.error(f"{node.op} takes no named arguments", node.named[0].pos)
        n = len(node.args)
        if most is not None and n > most:
            raise self.error(
                f"{node.op} takes {_count(least, most)}, found {n}", node.args[most].pos
            )
        if n < least:
            raise self.error(f"{node.op} takes {_count(least, most)}, found {n}", node.pos)
        return node.args

    def named(
        self, node: Call, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Named]:
        allowed = required + optional
        spelled = " ".join(f"{n}::" for n in allowed)
        if node.args:
            raise self.error(f"{node.op} takes only named arguments ({spelled})", node.args[0].pos)
        got: dict[str, Named] = {}
        for arg in node.named:
            if arg.name not in allowed:
                raise self.error(
                    f"{node.op} has no argument {arg.name}::; expected {spelled}", arg.pos
                )
            if arg.name in got:
                raise self.error(f"duplicate argument {arg.name}:: in {node.op}", arg.pos)
            got[arg.name] = arg
        for name in required:
            if name not in got:
                raise self.error(f"{node.op} needs {name}::", node.pos)
        return got

    def operand(self, node: Node) -> operands.Getter:
        """A comparison operand read per call: a literal, a context value or a result."""
        if isinstance(node, Lit):
            return operands.constant(node.value)
        if isinstance(node, Ref):
            return operands.context(*self.ref(node))
        if isinstance(node, Call):
            return operands.outcome(self.boolean(node))
        raise self.error(f"expected a single value, found {describe(node)}", node.pos)

    def string_literal(self, node: Node, what: str) -> str:
        if not isinstance(node, Lit) or type(node.value) is not str:
            raise self.error(f"{what} must be a string, found {describe(node)}", node.pos)
        return node.value

    def context_ref(self, node: Node, what: str) -> Ref:
        if not isinstance(node, Ref):
            raise self.error(
                f"{what} must be a context reference ($key), found {describe(node)}", node.pos
            )
        return node


def _count(least: int, most: int | None) -> str:
    if most is None:
        return f"at least {least} argument{'s' if least != 1 else ''}"
    if least == most:
        return f"exactly {least} argument{'s' if least != 1 else ''}"
    return f"{least} to {most} arguments"


def _c_logic(c: Compiler, node: Call) -> Predicate:
    if node.op == "not":
        (arg,) = c.positional(node, 1, 1)
        return none_of(_truth(c, node.op, arg))
    preds = [_truth(c, node.op, a) for a in c.positional(node, 1, None)]
    if node.op == "or":
        return any_of(preds)
    return conjunction(preds, [c.leaves.get(p, p) for p in preds])


def _truth(c: Compiler, op: str, node: Node) -> Predicate:
    """An operand of and/or/not: an expression, or (UG-mvops: an operand may be a literal or a
    context value) a boolean literal or a context value read as a boolean."""
    if isinstance(node, Call):
        return c.boolean(node)
    if isinstance(node, Ref) or (isinstance(node, Lit) and type(node.value) is bool):
        return operands.truth(c.operand(node))
    raise c.error(
        f"{op} needs true or false: an expression, a context value or a boolean, "
        f"found {describe(node)}",
        node.pos,
    )


def _c_compare(c: Compiler, node: Call) -> Predicate:
    """eq gt gte lt lte: any two operands, at least one of them read from the context.

    UG-mvops: an operand is a literal, a context value "or the result of another expression";
    each comparison "determines whether a context value is ..." a given value, so two literals
    (a constant rule, certainly a mistake) are refused.
    """
    a, b = c.positional(node, 2, 2)
    for x in (a, b):
        if isinstance(x, ListLit):
            raise c.error(
                f"{node.op} compares single values, found a list "
                "(use (in $key [...]) for membership)",
                x.pos,
            )
    op = node.op
    if isinstance(a, Lit) and isinstance(b, Lit):
        raise c.error(
            f"{op} needs a context reference ($key) or an expression, found two literals", a.pos
        )
    if isinstance(a, Lit):  # (lt 65 $age) means (gt $age 65)
        a, b, op = b, a, FLIPPED[op]
    if isinstance(b, Lit) and isinstance(a, Ref):
        return c.leaf(compare_check(op, *c.ref(a), b.value))
    if isinstance(b, Lit) and type(b.value) is not bool:
        # a is an expression: it gives true or false, which no other literal can equal
        raise c.error(
            f"{node.op} compares an expression's result (true or false) with a boolean, "
            f"found {describe(b)}",
            b.pos,
        )
    return operands.compare(op, c.operand(a), c.operand(b))


def _c_text(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    ref = c.context_ref(a, f"the first argument of {node.op}")
    method = str.startswith if node.op == "begins_with" else str.endswith
    if isinstance(b, Ref):  # a prefix or suffix from the context (UG-mvops: a variable operand)
        return operands.text(method, c.operand(ref), c.operand(b))
    s = c.string_literal(b, f"the second argument of {node.op}")
    return c.leaf(check(*c.ref(ref), text_value(method, s)))


def _scalar(c: Compiler, node: Node, what: str) -> Scalar:
    if not isinstance(node, Lit):
        raise c.error(f"{what} must be a literal, found {describe(node)}", node.pos)
    return node.value


def _c_contains(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    ref = c.context_ref(a, "the first argument of contains")
    c.charge(SCAN_STEPS, node.pos)  # a list value is walked element by element
    if isinstance(b, Ref):  # a substring (or element) from the context
        return operands.contains(c.operand(ref), c.operand(b))
    value = _scalar(c, b, "the second argument of contains")
    return c.leaf(check(*c.ref(ref), contains_value(value)))


def _c_in(c: Compiler, node: Call) -> Predicate:
    a, b = c.positional(node, 2, 2)
    if isinstance(a, Ref) and isinstance(b, ListLit):
        return c.leaf(member_check(*c.ref(a), tuple(x.value for x in b.items)))
    if isinstance(a, Lit) and isinstance(b, Ref):
        c.charge(SCAN_STEPS, node.pos)  # the context list is walked element by element
        return c.leaf(check(*c.ref(b), collection_has(eq_value(a.value))))
    if isinstance(a, Ref):
        if isinstance(b, Lit) and type(b.value) is str:
            raise c.error('in needs a list; for a substring use (contains $key "text")', b.pos)
        raise c.error(f"in needs a list after a context reference, found {describe(b)}", b.pos)
    if isinstance(a, Lit):
        raise c.error(f"in needs a context reference after a literal, found {describe(b)}", b.pos)
    raise c.error(f"in needs a context reference or a literal first, found {describe(a)}", a.pos)


def _c_matches(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("in", "pattern"))
    ref = c.context_ref(args["in"].value, "in::")
    pattern_node = args["pattern"].value
    pattern = c.string_literal(pattern_node, "pattern::")
    try:
        compiled = c.patterns.compile(pattern)
    except PatternError as exc:
        what = (
            "is too large"
            if isinstance(exc, PatternTooLarge)
            else "is not a valid regular expression"
        )
        raise c.error(f"pattern:: {what}: {exc}", pattern_node.pos) from exc
    c.charge(MATCH_STEPS * compiled.positions, pattern_node.pos)  # the scan's worst case
    return c.leaf(check(*c.ref(ref), matches_value(compiled.found)))


def _c_exists(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("key",))
    key = c.string_literal(args["key"].value, "key::")
    c.keys.add(key)
    return exists(key, key == c.user_key)


def _c_split(c: Compiler, node: Call) -> Predicate:
    args = c.named(node, ("pct", "by"), ("seed",))
    pct_node = args["pct"].value
    if not isinstance(pct_node, Lit) or type(pct_node.value) not in (int, float):
        raise c.error(
            f"pct:: must be a number from 0 to 100, found {describe(pct_node)}", pct_node.pos
        )
    pct = pct_node.value
    assert isinstance(pct, (int, float))
    problem = pct_problem(pct)
    if problem is not None:
        raise c.error(f"pct:: {problem}", pct_node.pos)
    ref = c.context_ref(args["by"].value, "by::")
    seed = c.string_literal(args["seed"].value, "seed::") if "seed" in args else c.flag_key
    try:
        seed_int = seed_of(seed)
    except UnicodeEncodeError as exc:  # only a flag key can get here: seed:: literals are text
        raise c.error("the flag key is not valid Unicode text", node.pos) from exc
    c.has_split = True
    key, is_user = c.ref(ref)
    c.last_split = (key, is_user, seed_int, hash_threshold(pct))
    return c.leaf(split_leaf(*c.last_split))


_OPERATORS: dict[str, Callable[[Compiler, Call], Predicate]] = {
    "eq": _c_compare,
    "gt": _c_compare,
    "gte": _c_compare,
    "lt": _c_compare,
    "lte": _c_compare,
    "begins_with": _c_text,
    "ends_with": _c_text,
    "contains": _c_contains,
    "in": _c_in,
    "matches": _c_matches,
    "exists": _c_exists,
    "split": _c_split,
    "and": _c_logic,
    "or": _c_logic,
    "not": _c_logic,
}
# a tree a document reader built may also use the internal operators; rule text never can
_WITH_INTERNAL = {**_OPERATORS, **INTERNAL_OPERATORS}
