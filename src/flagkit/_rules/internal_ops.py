"""Internal operators: conditions that no rule text can name, for trees a document reader builds.

A Powertools schema's conditions are data, and they mean what Python means: the context value
and the condition value meet in a Python operator (``a == b``, ``a in b``, ``a.startswith(b)``),
with no coercion; an operator that raises makes the condition false; a key absent from the
context fails every condition, negated ones included (aws-lambda-powertools 3.x). Those are
not AppConfig's semantics (``"65"`` equals ``65`` there; ``None`` counts as absent), so they are
operators of their own. Their names contain a ``.``, which :func:`flagkit._rules.parse.parse`
never accepts in an operator, and the compiler consults this table only for a tree handed to
``compile_rule(tree=...)``, never for text: AppConfig rule text cannot reach them.

    (py.<op> $key <Const>)                        py.eq py.ne py.gt py.ge py.lt py.le
                                                  py.startswith py.endswith py.in py.not_in
                                                  py.contains py.not_contains py.all_in
                                                  py.any_in py.none_in
    (py.modulo_range $key base::B start::S end::E)     S <= value % B <= E, integers only
    (clock.time_between start::"HH:MM" end::"HH:MM" zone::"Z")
    (clock.datetime_between start::"ISO" end::"ISO" zone::"Z")
    (clock.weekday_in days::["MONDAY", ...] zone::"Z")        zone::"" is the local zone

The ``clock.*`` operators read the compiler's wall clock (the snapshot's, injected), never
``datetime.now``. ``py.*`` read the attributes only: a Powertools context has no user id.

Cost, counted as for AppConfig's operators (``compile``'s module docstring): 1 per operator,
and :data:`~flagkit._rules.compile.SCAN_STEPS` more for an operator that walks the context
value (``py.contains``, ``py.not_contains``, ``py.all_in``, ``py.any_in``, ``py.none_in``).
Membership in the condition's own list is a set lookup for a str, number or boolean; for other
context values it scans that list, whose size the rule length bounds.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .parse import Call, Const, ListLit, Lit, Ref, describe

if TYPE_CHECKING:
    from .closures import Attributes, Predicate
    from .compile import Compiler

__all__ = ["DAYS", "INTERNAL_OPERATORS", "PYTHON_OPERATORS", "Condition", "PowertoolsUserWarning"]


class PowertoolsUserWarning(UserWarning):
    """What Powertools 3.37 warns about, under the name of its own category.

    A condition whose operator raised (at evaluation), and a schema or a feature's ``rules``
    that is present but empty (at load). Public as ``flagkit.powertools.PowertoolsUserWarning``.
    """


@dataclass(frozen=True, slots=True)
class Condition(Const):
    """A Powertools condition's value, knowing where it stands in the schema.

    Compiled and shown exactly as a :class:`Const`; ``action`` and ``rule`` only name the
    condition in the warning its operator gives when it raises, as Powertools names it.
    """

    action: str = ""
    rule: str = ""


DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


_SCALARS = frozenset({str, int, float, bool})
_JSON_TYPES = frozenset({str, int, float, bool, type(None), list, dict})


def _membership(b: Any) -> Callable[[Any], bool]:
    """``lambda k: k in b``, in O(1) for a JSON list and a str/int/float/bool ``k``.

    The same answer as the list scan: for those types equal values hash alike (``1``, ``1.0``
    and ``True`` too), and a list or dict element never equals one of them. Anything else (a
    context object with its own ``__eq__``, a list holding non-JSON objects) scans the list.
    """
    types = set(map(type, b)) if isinstance(b, list) else {object}
    if not _JSON_TYPES.issuperset(types):
        return lambda k: k in b
    hashed = frozenset(b if _SCALARS.issuperset(types) else (e for e in b if type(e) in _SCALARS))

    def member(k: Any) -> bool:
        if type(k) in _SCALARS:
            return k in hashed
        return k in b

    return member


def _not_in(b: Any) -> Callable[[Any], bool]:
    member = _membership(b)
    return lambda a: not member(a)


def _listed(check: Callable[[Any, Callable[[Any], bool]], bool]) -> Callable[[Any], Any]:
    def build(b: Any) -> Callable[[Any], bool]:
        member = _membership(b)

        def op(a: Any) -> bool:
            if not isinstance(a, list):  # as Powertools: a non-match, with its warning
                raise ValueError("not a list")  # noqa: TRY004 - Powertools' type, in its warning
            return check(a, member)

        return op

    return build


def _bound(op: Callable[[Any, Any], Any]) -> Callable[[Any], Callable[[Any], Any]]:
    return lambda b: lambda a: op(a, b)


# condition value -> (context value -> truthy): the operator each Powertools action applies,
# bound to its condition value once, at load.
PYTHON_OPERATORS: Mapping[str, Callable[[Any], Callable[[Any], Any]]] = {
    "py.eq": _bound(operator.eq),
    "py.ne": _bound(operator.ne),
    "py.gt": _bound(operator.gt),
    "py.ge": _bound(operator.ge),
    "py.lt": _bound(operator.lt),
    "py.le": _bound(operator.le),
    "py.startswith": _bound(lambda a, b: a.startswith(b)),
    "py.endswith": _bound(lambda a, b: a.endswith(b)),
    "py.in": _membership,
    "py.not_in": _not_in,
    "py.contains": _bound(lambda a, b: b in a),
    "py.not_contains": _bound(lambda a, b: b not in a),
    "py.all_in": _listed(lambda a, member: all(member(k) for k in a)),
    "py.any_in": _listed(lambda a, member: any(member(k) for k in a)),
    "py.none_in": _listed(lambda a, member: not any(member(k) for k in a)),
}


def _keyed(key: str, op: Callable[[Any], Any], warn: Callable[[Exception], None]) -> Predicate:
    def test(user_id: object, attributes: Attributes) -> bool:
        try:
            if attributes is None or key not in attributes:
                return False  # a missing key never matches (not even py.ne)
            return bool(op(attributes[key]))
        except Exception as exc:  # Powertools: an operator that raises is a non-match
            warn(exc)
            return False

    return test


def _warner(feature: str, key: str, value: Const) -> Callable[[Exception], None]:
    """Powertools 3.37's warning for a condition whose operator raised (never raises itself).

    Its text names the condition, never the values or the exception's message, which may hold
    customer data (Powertools ``FeatureFlags._match_by_action``).
    """
    action = value.action if isinstance(value, Condition) else ""
    rule = value.rule if isinstance(value, Condition) else ""

    def warn(exc: Exception) -> None:
        with contextlib.suppress(Exception):  # warnings as errors: evaluation never raises
            warnings.warn(
                f"Failed to evaluate feature flag condition: feature={feature}, rule={rule}, "
                f"key={key}, action={action}, exception_type={type(exc).__name__}",
                category=PowertoolsUserWarning,
                stacklevel=2,
            )

    return warn


def _operands(c: Compiler, node: Call) -> tuple[str, Const]:
    if len(node.args) != 2 or node.named:
        raise c.error(f"{node.op} takes a context reference and a value", node.pos)
    ref, value = node.args
    if not isinstance(ref, Ref) or not isinstance(value, Const):
        raise c.error(f"{node.op} takes $key and a document value, found {describe(ref)}", node.pos)
    c.keys.add(ref.key)
    return ref.key, value


_WALKS_CONTEXT = frozenset(
    {"py.contains", "py.not_contains", "py.all_in", "py.any_in", "py.none_in"}
)


def _c_python(c: Compiler, node: Call) -> Predicate:
    key, value = _operands(c, node)
    if node.op in _WALKS_CONTEXT:
        c.charge_scan(node.pos)
    return _keyed(key, PYTHON_OPERATORS[node.op](value.value), _warner(c.flag_key, key, value))


def _named_ints(c: Compiler, node: Call, names: tuple[str, ...]) -> list[int]:
    got = {n.name: n.value for n in node.named}
    out = []
    for name in names:
        lit = got.get(name)
        if not isinstance(lit, Lit) or type(lit.value) is not int:
            raise c.error(f"{node.op} needs {name}:: as an integer", node.pos)
        out.append(lit.value)
    return out


def _c_modulo(c: Compiler, node: Call) -> Predicate:
    if len(node.args) != 1 or not isinstance(node.args[0], Ref):
        raise c.error(f"{node.op} takes one context reference", node.pos)
    key = node.args[0].key
    c.keys.add(key)
    base, start, end = _named_ints(c, node, ("base", "start", "end"))
    if not 0 <= start <= end <= base - 1:
        raise c.error(f"{node.op} needs 0 <= start <= end <= base - 1", node.pos)
    c.has_split = True  # an allocation of users, like split: reason SPLIT

    # Only an int (never a bool) takes part. Powertools computes ``value % BASE`` on whatever
    # the context holds, and for a str that is %-formatting: "%0400000000d" builds 400 MB.
    def in_range(user_id: object, attributes: Attributes) -> bool:
        try:
            if attributes is None:
                return False
            v = attributes.get(key)
            if type(v) is int:
                return start <= v % base <= end
            if isinstance(v, int) and not isinstance(v, bool):  # IntEnum: int's own slot
                return start <= int.__mod__(v, base) <= end
        except Exception:  # an odd Mapping; evaluation never raises
            return False
        return False

    return in_range


def _named_text(c: Compiler, node: Call, name: str) -> str:
    lit = next((n.value for n in node.named if n.name == name), None)
    if not isinstance(lit, Lit) or type(lit.value) is not str:
        raise c.error(f"{node.op} needs {name}:: as a string", node.pos)
    return lit.value


def _zone(c: Compiler, node: Call) -> Any:
    from zoneinfo import ZoneInfo

    name = _named_text(c, node, "zone")
    if name == "":
        # The local zone: ``datetime.fromtimestamp(t, None)`` is local wall-clock time, as the
        # C library resolves it (``TZ``, else /etc/localtime), which is also the order in
        # which Powertools' ``dateutil.tz.gettz("")`` looks.
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError) as exc:
        raise c.error(f"unknown time zone {name!r}", node.pos) from exc


def _c_time_between(c: Compiler, node: Call) -> Predicate:
    clock, zone = c.wall, _zone(c, node)
    lo, hi = (_minutes(_named_text(c, node, n)) for n in ("start", "end"))

    def minute() -> int:
        now = datetime.fromtimestamp(clock(), zone)
        return now.hour * 60 + now.minute

    if hi < lo:  # crosses midnight

        def overnight(user_id: object, attributes: Attributes) -> bool:
            return not hi < minute() < lo

        return overnight

    def daytime(user_id: object, attributes: Attributes) -> bool:
        return lo <= minute() <= hi

    return daytime


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def _c_datetime_between(c: Compiler, node: Call) -> Predicate:
    # Wall-clock times in the zone, compared naively, as Powertools does (it gives both ends
    # the zone of "now" and compares).
    clock, zone = c.wall, _zone(c, node)
    try:
        lo, hi = (datetime.fromisoformat(_named_text(c, node, n)) for n in ("start", "end"))
    except ValueError as exc:
        raise c.error(f"{node.op} needs ISO 8601 start:: and end::", node.pos) from exc

    def between(user_id: object, attributes: Attributes) -> bool:
        return lo <= datetime.fromtimestamp(clock(), zone).replace(tzinfo=None) <= hi

    return between


def _c_weekday_in(c: Compiler, node: Call) -> Predicate:
    clock, zone = c.wall, _zone(c, node)
    days = next((n.value for n in node.named if n.name == "days"), None)
    if not isinstance(days, ListLit) or not all(d.value in DAYS for d in days.items):
        raise c.error(f"{node.op} needs days:: as a list of {', '.join(DAYS)}", node.pos)
    wanted = frozenset(d.value for d in days.items)

    def on_day(user_id: object, attributes: Attributes) -> bool:
        return DAYS[datetime.fromtimestamp(clock(), zone).weekday()] in wanted

    return on_day


INTERNAL_OPERATORS: Mapping[str, Callable[[Compiler, Call], Predicate]] = {
    **dict.fromkeys(PYTHON_OPERATORS, _c_python),
    "py.modulo_range": _c_modulo,
    "clock.time_between": _c_time_between,
    "clock.datetime_between": _c_datetime_between,
    "clock.weekday_in": _c_weekday_in,
}
