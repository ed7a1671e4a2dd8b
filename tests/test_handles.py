"""Flag handles: the same answers as the client's methods, across swaps, guards, ramps and fork."""

from __future__ import annotations

import copy
import gc
import json
import logging
import random
import threading
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import ErrorCode, Fetched, FlagHandle, Flags, Reason, StaticSource, _misses
from flagkit._context import as_context
from flagkit._handle import HookedFlagHandle
from flagkit._hooks import EvaluationCounters
from flagkit.testing import LocalAppConfigAgent, override
from test_agent_source import QA, UI_REFRESH
from test_fork import fork_while_held
from test_fuzz import contexts, valid_documents, wild_values
from test_guard import make_alarm, set_state
from test_ramp import MIN, START, T0, Clock, stored


def variants(*specs: tuple[str, bool, str | None]) -> dict[str, Any]:
    return {
        "_variants": [
            {"name": n, "enabled": on, **({"rule": r} if r is not None else {})}
            for n, on, r in specs
        ]
    }


def document(
    *, canary: int = 10, ladder: tuple[int, int] = (34, 67), s3: int = 25
) -> dict[str, Any]:
    """A document with one flag of each compiled shape (constant, one rule, inverse, ladders by
    the user id and by an attribute, first-match over mixed rules, and(in, eq, split))."""
    values: dict[str, Any] = {
        "basic-on": {"enabled": True},
        "basic-off": {"enabled": False},
        "pricing": variants(
            ("internal", True, '(ends_with $email "@example.com")'),
            ("canary", True, f"(split pct::{canary} by::$userId)"),
            ("control", False, None),
        ),
        "s3": variants(
            ("on", True, f'(and (in $country ["US","CA"]) (eq $plan "pro") (split pct::{s3} by::$userId))'),
            ("off", False, None),
        ),
        "abc": variants(
            ("a", True, f"(split pct::{ladder[0]} by::$userId)"),
            ("b", False, f"(split pct::{ladder[1]} by::$userId)"),
            ("c", True, None),
        ),
        "four": variants(
            ("w", True, "(split pct::10 by::$userId)"),
            ("x", False, "(split pct::20 by::$userId)"),
            ("y", True, "(split pct::55.5 by::$userId)"),
            ("z", False, None),
        ),
        "by-team": variants(
            ("t1", True, "(split pct::30 by::$team)"),
            ("t2", False, "(split pct::60 by::$team)"),
            ("t3", False, None),
        ),
        "tiered": variants(("gold", True, '(eq $tier "gold")'), ("plain", True, None)),
        "inverse": variants(("blocked", False, '(eq $country "DE")'), ("open", True, None)),
        "gone": {"enabled": True},
    }  # fmt: skip
    return {"version": "1", "flags": {k: {"name": k} for k in values}, "values": values}


class Switchable:
    """A source whose document the test replaces (a new deployment); refresh() swaps it in."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def fetch(self) -> Fetched:
        return Fetched(json.dumps(self.doc).encode(), "application/json", None)


def users(n: int = 1500) -> list[tuple[Any, Any]]:
    rng = random.Random(18)
    out: list[tuple[Any, Any]] = []
    for i in range(n):
        attrs = {
            "email": rng.choice(["a@example.com", "b@other.org"]),
            "country": rng.choice(["US", "CA", "DE", "GB"]),
            "plan": rng.choice(["pro", "free"]),
            "tier": rng.choice(["gold", "silver"]),
            "team": rng.choice(["web", "api", "data", 7]),
        }
        out.append((f"user-{i}", attrs))
    odd_ids: list[Any] = [None, 7, 2**70, "é", "\udc80", 3.5, True, b"x"]
    odd_attrs: list[Any] = [None, MappingProxyType({"team": "web", "tier": "gold"}), [1, 2], 5]
    out += [(u, a) for u in odd_ids for a in odd_attrs]
    return out


USERS = users()
KEYS = [*document()["values"], "added", "never"]


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    _misses.reset()  # "logged once" is per process: each test starts with none logged
    yield
    _misses.reset()


def reference(flags: Flags, key: str, user_id: Any, attributes: Any) -> tuple[bool, str | None]:
    """First match over each variant's own rule closure: no ladder, map or handle involved."""
    compiled = flags._snapshot.flags[key]
    context = as_context(attributes)
    for rule, outcome in zip(compiled.rules, compiled.outcomes, strict=True):
        if rule is None or rule.test(user_id, context):
            return outcome.enabled, outcome.name
    raise AssertionError("the last variant has no rule")


def assert_same_answers(flags: Flags, handles: dict[str, FlagHandle]) -> None:
    for key in KEYS:
        handle = handles[key]
        present = key in flags._snapshot.flags
        for user_id, attributes in USERS:
            on = handle.enabled(user_id, attributes)
            name = handle.variant(user_id, attributes)
            assert on is flags.enabled(key, user_id, attributes), (key, user_id, attributes)
            assert name == flags.variant(key, user_id, attributes), (key, user_id, attributes)
            assert handle.enabled(user_id, attributes, True) is flags.enabled(
                key, user_id, attributes, default=True
            )
            assert handle.details(user_id, attributes) == flags.details(key, user_id, attributes)
            if present and (attributes is None or isinstance(attributes, dict | MappingProxyType)):
                assert (on, name) == reference(flags, key, user_id, attributes)
            elif not present:
                assert (on, name) == (False, None)


def test_handles_answer_as_the_client_does_before_and_after_a_swap() -> None:
    """Every shape, 1,500 users plus odd ids and attributes: handle == client == first match
    over the rules; after a swap (percentages moved, a flag removed, one added) again."""
    source = Switchable(document())
    flags = Flags(source, start=False)
    assert flags.refresh()
    handles = {key: flags.flag(key) for key in KEYS}  # held across the swap: re-pointed
    assert_same_answers(flags, handles)
    source.doc = document(canary=50, ladder=(10, 20), s3=75)
    del source.doc["values"]["gone"], source.doc["flags"]["gone"]
    source.doc["values"]["added"] = variants(
        ("yes", True, "(split pct::50 by::$userId)"), ("no", False, None)
    )
    source.doc["flags"]["added"] = {"name": "added"}  # fmt: skip
    assert flags.refresh()
    assert_same_answers(flags, handles)
    share = sum(handles["abc"].variant(f"user-{i}") == "a" for i in range(4000)) / 4000
    assert 0.08 < share < 0.12  # the new ladder (10 %), not the old one (34 %)


@settings(max_examples=150, deadline=None)
@given(
    doc=valid_documents(),
    calls=st.lists(st.tuples(wild_values, contexts), min_size=1, max_size=4),
)
def test_handles_of_random_documents_answer_as_the_client_does(
    doc: dict[str, Any], calls: list[tuple[Any, Any]]
) -> None:
    """Hypothesis documents (test_fuzz's grammar), any user id and context."""
    flags = Flags(StaticSource(doc), start=False)
    assert flags.refresh()
    for key in [*doc.get("flags", doc), "missing-flag"]:
        handle = flags.flag(key)
        for user_id, attributes in calls:
            on, name = handle.enabled(user_id, attributes), handle.variant(user_id, attributes)
            assert on is flags.enabled(key, user_id, attributes)
            assert name == flags.variant(key, user_id, attributes)
            details = handle.details(user_id, attributes)
            assert details == flags.details(key, user_id, attributes)
            if details.error_code is None:
                assert (details.value, details.variant) == (on, name)


@settings(max_examples=200, deadline=None)
@given(
    pcts=st.lists(st.integers(0, 100) | st.sampled_from([0.001, 12.5, 99.999]), min_size=2, max_size=4),
    by=st.sampled_from(["$userId", "$team"]),
    ids=st.lists(st.text(max_size=8) | wild_values, min_size=1, max_size=20),
    team=wild_values,
)  # fmt: skip
def test_split_ladders_agree_with_first_match_over_their_rules(
    pcts: list[float], by: str, ids: list[Any], team: Any
) -> None:
    """Ladders (two steps unrolled, more in a loop; by the user id hashed inline or by an
    attribute) pick what first match over the split rules picks, for any id."""
    specs = [(f"v{i}", i % 2 == 0, f"(split pct::{p} by::{by})") for i, p in enumerate(pcts)]
    doc = {"version": "1", "flags": {"f": {"name": "f"}}, "values": {"f": variants(*specs, ("last", False, None))}}  # fmt: skip
    flags = Flags(StaticSource(doc), start=False)
    assert flags.refresh()
    handle = flags.flag("f")
    for user_id in ids:
        attributes = {"team": team, "userId": team}
        expected = reference(flags, "f", user_id, attributes)
        assert (
            handle.enabled(user_id, attributes),
            handle.variant(user_id, attributes),
        ) == expected
        assert (
            flags.enabled("f", user_id, attributes),
            flags.variant("f", user_id, attributes),
        ) == expected
        assert flags.details("f", user_id, attributes).variant == expected[1]


def test_one_handle_per_key_held_weakly_and_listed() -> None:
    flags = Flags(StaticSource(document()), start=False)
    flags.refresh()
    abc = flags.flag("abc")
    assert flags.flag("abc") is abc and isinstance(abc, FlagHandle)
    assert abc.key == "abc"
    assert repr(abc) == f"FlagHandle('abc', version={flags.version!r})"
    assert repr(flags.flag("never")) == f"FlagHandle('never', missing, version={flags.version!r})"
    pricing = flags.flag("pricing")
    assert [h.key for h in flags.handles()] == ["abc", "pricing"]
    del pricing
    gc.collect()
    assert flags.handles() == (abc,)
    assert copy.copy(abc) is abc and copy.deepcopy({"h": abc})["h"] is abc  # never a stale twin
    with pytest.raises(TypeError, match="a flag key is a str"):
        flags.flag(42)  # type: ignore[arg-type]


def test_default_is_positional_or_keyword() -> None:
    """Callers pass it either way; the positional form is the one 3.11 specialises."""
    flags = Flags(StaticSource(document()), start=False)
    flags.refresh()
    assert flags.enabled("never", "u", None, True) is True
    assert flags.enabled("never", "u", None, default=True) is True
    assert flags.flag("never").enabled("u", None, True) is True
    assert flags.view().enabled("never", "u", {}, True) is True
    flags.add_hook(lambda d, u, a: None)  # the hooked methods take it positionally too
    assert flags.enabled("never", "u", None, True) is True
    assert flags.flag("never").enabled("u", None, True) is True


def test_a_missing_key_warns_once_answers_the_default_and_follows_documents(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Declared before the first document: no warning until a document lacks the key, then
    exactly one, whatever the evaluations and swaps; a document that adds it makes it answer,
    and one that removes it again gives the default with FLAG_NOT_FOUND."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    doc = document()
    source = Switchable(doc)
    flags = Flags(source, start=False)
    late = flags.flag("late")
    assert late.enabled("u", default=True) is True
    assert late.details("u").error_code is ErrorCode.PROVIDER_NOT_READY
    assert not caplog.records
    assert flags.refresh()
    for i in range(50):
        assert late.enabled(f"u{i}") is False and late.enabled(f"u{i}", None, True) is True
        assert late.variant(f"u{i}") is None
        assert flags.enabled("late", f"u{i}") is False
    source.doc = document(canary=20)  # a swap that still lacks it
    assert flags.refresh()
    assert late.details("u").error_code is ErrorCode.FLAG_NOT_FOUND
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'late'" in warnings[0], warnings
    source.doc = document(canary=30)
    source.doc["values"]["late"] = variants(("on", True, '(eq $plan "pro")'), ("off", False, None))
    source.doc["flags"]["late"] = {"name": "late"}
    assert flags.refresh()
    assert late.enabled("u", {"plan": "pro"}) is True and late.variant("u", {"plan": "pro"}) == "on"
    assert late.enabled("u", {"plan": "free"}, True) is False
    assert late.details("u", {"plan": "pro"}).reason is Reason.TARGETING_MATCH
    source.doc = document(canary=40)
    assert flags.refresh()
    assert late.enabled("u", {"plan": "pro"}) is False and late.variant("u") is None
    d = late.details("u", {"plan": "pro"})
    assert (d.reason, d.error_code) == (Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_key_missing_at_declaration_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flagkit")
    flags = Flags(StaticSource(document()), start=False)
    flags.refresh()
    handle = flags.flag("typo-d")
    assert flags.flag("typo-d") is handle
    for _ in range(20):
        assert handle.enabled("u") is False
        assert flags.enabled("typo-d", "u") is False
        assert flags.variant("typo-d", "u") is None
    assert flags.view().flag("typo-d").enabled("u", None, True) is True
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'typo-d'" in warnings[0], warnings


def test_views_pin_their_handles_to_the_views_snapshot() -> None:
    source = Switchable({"a": {"enabled": True}})
    flags = Flags(source, start=False)
    assert flags.refresh()
    view = flags.view()
    pinned, live = view.flag("a"), flags.flag("a")
    source.doc = {"a": {"enabled": False}}
    assert flags.refresh()
    assert pinned.enabled() is True and view.enabled("a") is True
    assert live.enabled() is False and flags.enabled("a") is False
    assert pinned.details().version == view.version != flags.version
    assert repr(pinned) == f"FlagHandle('a', version={view.version!r})"


def test_handles_follow_test_overrides() -> None:
    flags = Flags(StaticSource(document()), start=False)
    flags.refresh()
    handle = flags.flag("basic-off")
    with override(flags, {"basic-off": True}):
        assert handle.enabled("u") is True and flags.enabled("basic-off", "u") is True
    assert handle.enabled("u") is False


# -- the alarm guard (moto CloudWatch over loopback), ramps, fork, hooks ----------------------


def guarded_doc() -> dict[str, Any]:
    """A multi-variant flag guarded by one alarm, released when it clears (``resume``)."""
    guard = {"flagkit-alarms": ["checkout-5xx"], "flagkit-alarm-clear": "resume"}
    return stored(
        [
            {"name": "web", "enabled": True, "rule": '(eq $team "web")'},
            {"name": "half", "enabled": True, "rule": "(split pct::50 by::$userId)"},
            {"name": "old", "enabled": False, "attributeValues": guard},
        ],
        **{"flagkit-alarm-clear": {"constraints": {"type": "string"}}},
    )


def test_guard_overlays_re_point_handles(cloudwatch: Any) -> None:
    """A tripped alarm holds the flag at its default variant: the handle answers so on the
    guard's next poll, exactly as the client does, and returns to the rules on release."""
    make_alarm(cloudwatch, "checkout-5xx")
    guard = flagkit.AlarmGuard(flagkit.CloudWatchAlarms(cloudwatch), interval=30)
    flags = Flags(Switchable(guarded_doc()), start=False, guard=guard, wall=Clock(T0))
    flags.refresh()
    flags.check_rollouts()
    handle = flags.flag("checkout")
    team = {"team": "web"}
    assert (handle.enabled("u1", team), handle.variant("u1", team)) == (True, "web")
    set_state(cloudwatch, "checkout-5xx", "ALARM")
    assert handle.variant("u1", team) == "web"  # not until the guard polls
    assert flags.check_rollouts()
    for user_id in [f"u{i}" for i in range(200)]:
        assert (handle.enabled(user_id, team), handle.variant(user_id, team)) == (False, "old")
        assert handle.variant(user_id) == flags.variant("checkout", user_id) == "old"
    d = handle.details("u1", team)
    assert (d.value, d.variant, d.reason) == (False, "old", Reason.GUARDED)
    set_state(cloudwatch, "checkout-5xx", "OK")
    assert flags.check_rollouts()
    assert handle.variant("u1", team) == "web"
    halves = sum(handle.variant(f"u{i}") == "half" for i in range(4000)) / 4000
    assert 0.45 < halves < 0.55


def test_ramps_move_with_the_wall_clock_through_handles() -> None:
    """No swap at a ramp step: the gate in the compiled predicate reads the injected clock, so
    handles and the client agree at every instant and the share follows the schedule."""
    doc = stored(
        [
            {"name": "web", "enabled": True, "rule": '(eq $team "web")'},
            {
                "name": "old",
                "enabled": False,
                "attributeValues": {
                    "flagkit-ramp": "Linear10PercentEvery1Minute",
                    "flagkit-ramp-start": START,
                },
            },
        ]
    )
    clock = Clock(T0 - MIN)
    flags = Flags(StaticSource(doc), start=False, wall=clock)
    assert flags.refresh()
    handle = flags.flag("checkout")
    team = {"team": "web"}
    ids = [f"user-{i}" for i in range(5000)]
    for step, expected in ((-1, 0.0), (0, 0.10), (4, 0.50), (9, 1.0)):
        clock.now = T0 + step * MIN
        on = [handle.enabled(u, team) for u in ids]
        assert on == [flags.enabled("checkout", u, team) for u in ids]
        names = [handle.variant(u, team) for u in ids]
        assert names == [flags.variant("checkout", u, team) for u in ids]
        assert names == ["web" if x else "old" for x in on]
        assert abs(sum(on) / len(ids) - expected) < 0.02, (step, sum(on) / len(ids))


def _counting_source() -> Any:
    class Counting:
        fetches = 0

        def fetch(self) -> Fetched:
            self.fetches += 1
            body = json.dumps({"checkout": {"enabled": self.fetches % 2 == 0}}).encode()
            return Fetched(body, "application/json", f"v{self.fetches}", 60.0)

    return Counting()


def test_a_forked_child_swaps_and_its_handles_follow() -> None:
    """The parent's write lock held at the fork: the child's refresh swaps all the same, and the
    handle it inherited answers from the child's new document."""
    flags = Flags(_counting_source(), start=False)
    assert flags.refresh()
    handle = flags.flag("checkout")
    assert handle.enabled() is False

    def child() -> None:
        ok = flags.refresh() and handle.enabled() is True and flags.flag("checkout") is handle
        if not ok:
            raise AssertionError("the child's handle did not follow its swap")

    assert fork_while_held(flags._write_lock, child) == 0
    assert handle.enabled() is False  # the parent never swapped
    flags.close()


def test_hooks_see_handle_evaluations_as_client_ones() -> None:
    """With a hook installed, every handle evaluation reaches it with the details the client's
    own call gives; handles declared before and after the hook alike; removing the last hook
    restores the fast class."""
    flags = Flags(StaticSource(document()), start=False)
    flags.refresh()
    early = flags.flag("pricing")
    seen: list[tuple[Any, Any, Any]] = []

    def hook(d: Any, user_id: Any, attributes: Any) -> None:
        seen.append((d, user_id, attributes))

    counters = EvaluationCounters()
    flags.add_hook(hook)
    flags.add_hook(counters)
    late = flags.flag("abc")
    assert type(early) is HookedFlagHandle and type(late) is HookedFlagHandle
    attrs = {"email": "x@example.com"}
    assert early.enabled("u1", attrs) is True
    assert early.variant("u1", attrs) == "internal"
    assert late.variant("u2") == flags.variant("abc", "u2")  # two evaluations, two calls
    assert early.get_str("label", "none", "u1", attrs) == "none"
    early.details("u1", attrs)
    through_handles = seen[:]
    seen.clear()
    flags.enabled("pricing", "u1", attrs)
    flags.variant("pricing", "u1", attrs)
    flags.variant("abc", "u2")
    flags.variant("abc", "u2")
    flags.get_str("pricing", "label", "none", "u1", attrs)
    flags.details("pricing", "u1", attrs)
    assert len(seen) == 6 and through_handles == seen
    assert counters.by_flag() == {"pricing": 8, "abc": 4}
    flags.remove_hook(hook)
    flags.remove_hook(counters)
    assert type(early) is not HookedFlagHandle and type(late) is not HookedFlagHandle
    assert isinstance(early, FlagHandle) and isinstance(late, FlagHandle)
    seen.clear()
    early.enabled("u1", attrs)
    assert seen == [] and counters.by_flag() == {"pricing": 8, "abc": 4}


def test_handles_dying_while_another_thread_declares_never_break_a_swap() -> None:
    """Handles dropped and declared in one thread while another swaps documents: every swap
    completes and re-points every live handle (iterating the weak registry while a concurrent
    flag() commits a removal raised RuntimeError inside the swap)."""
    import sys

    keys = [f"k{i}" for i in range(400)]
    source = Switchable({k: {"enabled": True} for k in keys})
    flags = Flags(source, start=False)
    assert flags.refresh()
    kept = [flags.flag(k) for k in keys[::2]]  # a long re-pointing loop in every swap
    stop, errors = threading.Event(), []

    def churn() -> None:
        i = 0
        while not stop.is_set():
            flags.flag(keys[2 * (i % 200) + 1]).enabled()  # a temporary handle: dies at once
            i += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for n in range(300):
            source.doc = {k: {"enabled": (i + n) % 2 == 0} for i, k in enumerate(keys)}
            try:
                assert flags.refresh()
            except RuntimeError as exc:  # pragma: no cover - the failure this test guards
                errors.append(exc)
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(interval)
    assert errors == []
    assert all(h.enabled() is flags.enabled(h.key) for h in kept)


def test_handles_of_flags_the_agent_evaluates_per_call() -> None:
    """AgentSource(evaluate="agent"): a handle asks the agent on each call, as the client does
    (its variant is never taken for a constant)."""
    with LocalAppConfigAgent() as agent:
        agent.publish("shop", "prod", "flags", UI_REFRESH)
        source = agent.source("shop", "prod", "flags", evaluate="agent")
        with Flags(source, start=False) as flags:
            flags.refresh()
            handle = flags.flag("ui_refresh")
            for user_id, attributes in (("u1", QA), ("beta-2", None), ("u9", None)):
                before = len(agent.requests)
                on, name = handle.enabled(user_id, attributes), handle.variant(user_id, attributes)
                assert len(agent.requests) == before + 2
                assert on is flags.enabled("ui_refresh", user_id, attributes)
                assert name == flags.variant("ui_refresh", user_id, attributes)
            assert handle.variant("u1", QA) == "QA" and handle.variant("beta-2") == "Beta Testers"
        source.close()


# -- the handle's class follows its key's shape -------------------------------------------------

WEB = '(eq $team "web")'
SHAPES: dict[str, list[tuple[str, bool, str | None]] | dict[str, Any] | None] = {
    "missing": None,
    "constant, fixed name": [("web", True, None)],
    "constant, selected name": [("web", True, WEB), ("rest", True, None)],
    "rule, selected name": [("web", True, WEB), ("rest", False, None)],
    "ramp (rule), no name": {
        "enabled": True,
        "flagkit-ramp": "Linear10PercentEvery1Minute",
        "flagkit-ramp-start": START,
    },
}


def shaped(shape: str, name: str = "web") -> dict[str, Any]:
    """A document whose flag 'checkout' has ``shape``, its 'web' variant called ``name`` (and a
    flag 'other' that never changes)."""
    doc = stored([{"name": "on", "enabled": True}])
    doc["flags"]["other"] = {"name": "other"}
    doc["values"]["other"] = {"enabled": True}
    value = SHAPES[shape]
    if value is None:
        del doc["flags"]["checkout"], doc["values"]["checkout"]
    else:
        doc["values"]["checkout"] = (
            value
            if isinstance(value, dict)
            else variants(*((name if n == "web" else n, on, r) for n, on, r in value))
        )
    return doc


SHAPE_USERS = [*USERS[:150], *USERS[-32:]]


def assert_handle_is_client(flags: Flags, handle: FlagHandle) -> None:
    for user_id, attributes in SHAPE_USERS:
        for default in (False, True):
            assert handle.enabled(user_id, attributes, default) is flags.enabled(
                "checkout", user_id, attributes, default
            ), (user_id, attributes, default)
        assert handle.variant(user_id, attributes) == flags.variant("checkout", user_id, attributes)


def test_handles_answer_as_the_client_does_through_every_change_of_shape() -> None:
    """Every ordered pair of shapes (missing, constant or rule ``enabled`` x fixed or selected
    ``variant``), each swap done from the first to the second: the handle answers as the
    client, defaults and odd attributes included, and each shape has a class of its own."""
    clock = Clock(T0 + 4 * MIN)  # mid-ramp: the ramp's predicate answers both ways
    source = Switchable(shaped("missing"))
    flags = Flags(source, start=False, wall=clock)
    handle = flags.flag("checkout")
    classes: dict[str, type[FlagHandle]] = {}
    for first in SHAPES:
        for second in SHAPES:
            for shape in (first, second):
                source.doc = shaped(shape)
                assert flags.refresh() or first == second
                assert_handle_is_client(flags, handle)
                assert classes.setdefault(shape, type(handle)) is type(handle)
    assert len(set(classes.values())) == len(SHAPES)


def test_hooked_handles_stay_hooked_through_every_shape() -> None:
    """With a hook installed, a swap to any shape leaves the handle hooked (the hook sees every
    evaluation); removing the hook gives the class of the current shape, and swaps go on
    switching it."""
    clock = Clock(T0 + 4 * MIN)
    source = Switchable(shaped("rule, selected name"))
    flags = Flags(source, start=False, wall=clock)
    assert flags.refresh()
    handle = flags.flag("checkout")
    counters = EvaluationCounters()
    flags.add_hook(counters)
    seen = 0
    for shape in [*SHAPES, "rule, selected name"]:
        source.doc = shaped(shape)
        flags.refresh()
        assert type(handle) is HookedFlagHandle, shape
        handle.enabled("u1", {"team": "web"})
        handle.variant("u1", {"team": "web"})
        seen += 2
        assert sum(counters.by_flag().values()) == seen
    flags.remove_hook(counters)
    for shape in ("rule, selected name", "constant, fixed name", "missing", "ramp (rule), no name"):
        source.doc = shaped(shape)
        flags.refresh()
        assert type(handle) is not HookedFlagHandle
        assert_handle_is_client(flags, handle)
    assert sum(counters.by_flag().values()) == seen  # the hook is gone


@pytest.mark.parametrize("swap", ["refresh", "re-point only"])
def test_an_evaluation_racing_a_change_of_shape_answers_from_one_version(swap: str) -> None:
    """One thread evaluates while another swaps the flag between constant and rule ``enabled``
    and between fixed and selected ``variant``, switching threads as often as possible. Version
    n names its variant f"v{n}": every answer comes from a version served during the call. A
    method reading another shape's slot (a bool called as a predicate) would answer the
    default or None; a class switched before its slot is written, an older version's name.
    "re-point only" swaps prebuilt snapshots as ``_apply_guard`` does, so that nearly all of
    the swapping thread's time is spent re-pointing: the window a race needs."""
    import sys

    shapes = ["constant, fixed name", "rule, selected name", "constant, selected name"]
    source = Switchable(shaped(shapes[0], "v0"))
    flags = Flags(source, start=False)
    snapshots = []
    for n in range(600):
        source.doc = shaped(shapes[n % 3], f"v{n}")
        assert flags.refresh()
        snapshots.append(flags._snapshot)
    source.doc = shaped(shapes[0], "v0")
    assert flags.refresh()
    handle = flags.flag("checkout")
    team = {"team": "web"}
    served = [0]  # the version the swapping thread last finished swapping in
    stop = threading.Event()
    seen: list[tuple[int, Any, Any, int]] = []

    def evaluate() -> None:  # a short loop: each thread switch lands in or near an evaluation
        record = seen.append
        while not stop.is_set():
            before = served[0]
            on = handle.enabled("u1", team, None)  # type: ignore[arg-type]  # no version's answer
            name = handle.variant("u1", team)
            record((before, on, name, served[0] + 1))  # version served[0] + 1 may answer already

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    thread = threading.Thread(target=evaluate)
    thread.start()
    try:
        for k in range(1, 600 if swap == "refresh" else 20 * 600):
            n = k % 600  # version k is the n-th snapshot, named f"v{n}"
            if swap == "refresh":
                source.doc = shaped(shapes[n % 3], f"v{n}")
                assert flags.refresh()
            else:
                with flags._write_lock:
                    flags._snapshot = snapshots[n]
                    for live in flags._live_handles():
                        live._point(snapshots[n])
            served[0] = k
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(interval)
    assert seen
    wrong = [
        (before, on, name, after)
        for before, on, name, after in seen
        if on is not True or name not in {f"v{k % 600}" for k in range(before, after + 1)}
    ]
    assert wrong == []
