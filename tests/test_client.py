"""The Flags client: typed evaluation, reasons and error codes, pinned views, never raising."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit import ErrorCode, Flags, Reason, StaticSource
from flagkit._rules.bucketing import in_split

DOC: dict[str, Any] = {
    "version": "1",
    "flags": {
        "new-pricing-engine": {
            "name": "Pricing",
            "attributes": {
                "discount": {"constraints": {"type": "number"}},
                "label": {"constraints": {"type": "string"}},
                "ratio": {"constraints": {"type": "number"}},
                "tiers": {"constraints": {"type": "array", "elements": {"type": "string"}}},
                "fast": {"constraints": {"type": "boolean"}},
            },
        },
        "banner": {"name": "Banner", "attributes": {"text": {"constraints": {"type": "string"}}}},
        "off-flag": {"name": "Off", "attributes": {"text": {"constraints": {"type": "string"}}}},
        "tiered": {"name": "Tiered", "attributes": {"color": {"constraints": {"type": "string"}}}},
    },
    "values": {
        "new-pricing-engine": {
            "_variants": [
                {
                    "name": "internal",
                    "enabled": True,
                    "rule": '(ends_with $email "@example.com")',
                    "attributeValues": {
                        "discount": 20,
                        "label": "staff",
                        "ratio": 0.5,
                        "tiers": ["a", "b"],
                        "fast": True,
                    },
                },
                {
                    "name": "canary",
                    "enabled": True,
                    "rule": "(split pct::10 by::$userId)",
                    "attributeValues": {"discount": 5, "label": "canary"},
                },
                {"name": "control", "enabled": False, "attributeValues": {"discount": 0}},
            ]
        },
        "banner": {"enabled": True, "text": "hello"},
        "off-flag": {"enabled": False, "text": "hidden"},
        "tiered": {
            "_variants": [
                {
                    "name": "gold",
                    "enabled": True,
                    "rule": '(eq $tier "gold")',
                    "attributeValues": {"color": "gold"},
                },
                {"name": "plain", "enabled": True, "attributeValues": {"color": "grey"}},
            ]
        },
    },
}


@pytest.fixture
def flags() -> Flags:
    return Flags(StaticSource(DOC))


def canary_user(flag: str = "new-pricing-engine", inside: bool = True) -> str:
    """A user id whose bucket is (or is not) inside the 10 % split."""
    for i in range(10_000):
        uid = f"user-{i}"
        if in_split(uid, flag, 10) is inside:
            return uid
    raise AssertionError("no such user")


def test_basic_flag_enabled_and_static_reason(flags: Flags) -> None:
    """A basic flag answers the same for everyone, with reason STATIC."""
    assert flags.enabled("banner") is True
    assert flags.enabled("off-flag", "anyone") is False
    d = flags.details("banner", "u1")
    assert (d.value, d.reason, d.variant, d.error_code) == (True, Reason.STATIC, None, None)


def test_first_matching_variant_wins(flags: Flags) -> None:
    """Variants are tried top to bottom; the first match wins, else the default."""
    staff = flags.details("new-pricing-engine", canary_user(), {"email": "a@example.com"})
    assert (staff.variant, staff.reason, staff.value) == ("internal", Reason.TARGETING_MATCH, True)
    split = flags.details("new-pricing-engine", canary_user(inside=True))
    assert (split.variant, split.reason, split.value) == ("canary", Reason.SPLIT, True)
    rest = flags.details("new-pricing-engine", canary_user(inside=False))
    assert (rest.variant, rest.reason, rest.value) == ("control", Reason.DEFAULT, False)
    assert flags.variant("new-pricing-engine", canary_user(inside=False)) == "control"
    assert flags.enabled("new-pricing-engine", canary_user(inside=True)) is True
    assert flags.enabled("new-pricing-engine", canary_user(inside=False)) is False


def test_split_share_is_close_to_its_percentage(flags: Flags) -> None:
    """About 10 % of many users land in the 10 % split."""
    n = 20_000
    on = sum(flags.enabled("new-pricing-engine", f"id-{i}") for i in range(n))
    assert abs(on / n - 0.10) < 0.01


def test_typed_getters_return_values_of_the_chosen_variant(flags: Flags) -> None:
    """get_* read the chosen variant's attribute, checked against the asked type."""
    ctx = {"email": "x@example.com"}
    assert flags.get_int("new-pricing-engine", "discount", -1, "u", ctx) == 20
    assert flags.get_str("new-pricing-engine", "label", "", "u", ctx) == "staff"
    assert flags.get_float("new-pricing-engine", "ratio", 0.0, "u", ctx) == 0.5
    assert flags.get_float("new-pricing-engine", "discount", 0.0, "u", ctx) == 20.0
    assert flags.get_bool("new-pricing-engine", "fast", False, "u", ctx) is True
    assert flags.get_json("new-pricing-engine", "tiers", None, "u", ctx) == ("a", "b")
    assert flags.get_str("banner", "text", "default") == "hello"
    assert flags.get_str("tiered", "color", "none", attributes={"tier": "gold"}) == "gold"
    assert flags.get_str("tiered", "color", "none", attributes={"tier": "iron"}) == "grey"


@pytest.mark.parametrize(
    ("flag", "attribute", "kind", "default", "reason", "code"),
    [
        ("missing", "x", "str", "d", Reason.ERROR, ErrorCode.FLAG_NOT_FOUND),
        ("banner", "nope", "str", "d", Reason.ERROR, ErrorCode.FLAG_NOT_FOUND),
        ("banner", "text", "int", 7, Reason.ERROR, ErrorCode.TYPE_MISMATCH),
        ("off-flag", "text", "str", "d", Reason.DISABLED, None),
        (
            "new-pricing-engine",
            "discount",
            "str",
            "d",
            Reason.DISABLED,
            None,
        ),  # default variant is disabled
    ],
)
def test_attribute_errors_return_the_default_with_a_reason(
    flags: Flags,
    flag: str,
    attribute: str,
    kind: str,
    default: Any,
    reason: Reason,
    code: ErrorCode | None,
) -> None:
    """Unknown flags/attributes, wrong types and disabled flags give the caller's default."""
    d = flags.details(
        flag, canary_user(inside=False), attribute=attribute, default=default, kind=kind
    )
    assert (d.value, d.reason, d.error_code) == (default, reason, code)
    assert (d.error_message is None) == (code is None)


def test_attribute_absent_in_chosen_variant_gives_default(flags: Flags) -> None:
    """An attribute the flag defines but the chosen variant lacks gives DEFAULT, not an error."""
    d = flags.details(
        "new-pricing-engine", canary_user(inside=True), attribute="fast", default=False, kind="bool"
    )
    assert (d.value, d.reason, d.variant, d.error_code) == (False, Reason.DEFAULT, "canary", None)


def test_bool_is_not_an_int(flags: Flags) -> None:
    """A boolean attribute read as int is a TYPE_MISMATCH (bool is not a number here)."""
    d = flags.details(
        "new-pricing-engine",
        "u",
        {"email": "a@example.com"},
        attribute="fast",
        default=0,
        kind="int",
    )
    assert d.error_code is ErrorCode.TYPE_MISMATCH and d.value == 0


def test_unknown_flag_default_and_reason(flags: Flags) -> None:
    """An unknown flag gives the default (False or the one asked) with FLAG_NOT_FOUND."""
    assert flags.enabled("nope") is False
    assert flags.enabled("nope", default=True) is True
    assert flags.variant("nope") is None
    d = flags.details("nope")
    assert (d.value, d.reason, d.error_code) == (False, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)


def test_user_id_key_is_configurable() -> None:
    """user_id is placed under the configured context key."""
    doc = {
        "version": "1",
        "flags": {"f": {"name": "F"}},
        "values": {
            "f": {
                "_variants": [
                    {"name": "me", "enabled": True, "rule": '(eq $accountId "42")'},
                    {"name": "rest", "enabled": False},
                ]
            }
        },
    }
    f = Flags(StaticSource(doc), user_key="accountId")
    assert f.enabled("f", "42") is True
    assert f.enabled("f", "41") is False
    assert Flags(StaticSource(doc)).enabled("f", "42") is False  # default key is userId


def test_explicit_user_id_wins_over_attributes(flags: Flags) -> None:
    """When both are given, user_id beats attributes['userId']."""
    inside, outside = canary_user(inside=True), canary_user(inside=False)
    assert flags.enabled("new-pricing-engine", inside, {"userId": outside}) is True
    assert flags.enabled("new-pricing-engine", None, {"userId": inside}) is True


def test_mapping_attributes_are_accepted(flags: Flags) -> None:
    """Any Mapping works as attributes, not only dict."""
    from types import MappingProxyType

    assert flags.variant("tiered", attributes=MappingProxyType({"tier": "gold"})) == "gold"


def test_invalid_context_is_reported(flags: Flags) -> None:
    """Attributes that are not a mapping give INVALID_CONTEXT (and enabled() gives the default)."""
    d = flags.details("tiered", attributes=["tier", "gold"])  # type: ignore[arg-type]
    assert d.error_code is ErrorCode.INVALID_CONTEXT
    assert flags.enabled("tiered", attributes=42, default=True) is True  # type: ignore[arg-type]


def test_view_pins_one_version() -> None:
    """A view keeps answering from its snapshot after the client swaps to a new one."""
    docs = iter([b'{"a": {"enabled": true}}', b'{"a": {"enabled": false}}'])

    class Two:
        def fetch(self) -> flagkit.Fetched:
            return flagkit.Fetched(next(docs, None), poll_after=60)

    f = Flags(Two(), start=False)
    f.refresh()
    view = f.view()
    assert f.refresh() is True
    assert view.enabled("a") is True and f.enabled("a") is False
    assert view.version != f.version


def test_not_ready_serves_defaults_with_provider_not_ready() -> None:
    """Before any snapshot, evaluations give defaults with PROVIDER_NOT_READY."""

    class Never:
        def fetch(self) -> flagkit.Fetched:
            raise flagkit.RetryableSourceError("down")

    f = Flags(Never(), start=False)
    assert f.ready is False
    assert f.enabled("a", default=True) is True
    d = f.get_str("a", "b", "dflt")
    assert d == "dflt"
    assert f.details("a").error_code is ErrorCode.PROVIDER_NOT_READY


def test_public_api_exports() -> None:
    """Every export is a decision: the public names are exactly these."""
    assert sorted(flagkit.__all__) == flagkit.__all__
    assert set(flagkit.__all__) >= {
        "Flags",
        "FlagsView",
        "StaticSource",
        "FileSource",
        "AppConfigSource",
        "DocumentError",
        "RuleError",
        "FlagkitError",
        "Reason",
        "ErrorCode",
        "EvaluationDetails",
        "Source",
        "Fetched",
        "Polling",
        "Status",
    }
    for name in flagkit.__all__:
        assert getattr(flagkit, name) is not None


def test_import_flagkit_does_not_import_boto3_or_pydantic() -> None:
    """`import flagkit` stays light: boto3 and pydantic load only when needed."""
    import subprocess
    import sys

    code = "import sys, flagkit; print('boto3' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


_SHARED = Flags(StaticSource(DOC))


class Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    def __hash__(self) -> int:
        return 7

    def __str__(self) -> str:
        raise RuntimeError("boom")


junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.just(math.nan)
    | st.just(Weird())
    | st.integers(1, 2).map(lambda n: "x" * (n * 60_000)),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None)
@given(
    flag=st.one_of(
        st.sampled_from(["new-pricing-engine", "banner", "off-flag", "tiered", "nope"]), junk
    ),
    user_id=junk,
    attributes=st.one_of(
        st.none(), junk, st.dictionaries(st.sampled_from(["email", "tier", "userId"]), junk)
    ),
    attribute=st.one_of(st.none(), st.sampled_from(["discount", "label", "color", "text"]), junk),
)
def test_no_input_makes_evaluation_raise(
    flag: Any, user_id: Any, attributes: Any, attribute: Any
) -> None:
    """Whatever the caller passes, evaluation returns (a value or the default), never raises."""
    f = _SHARED
    assert isinstance(f.enabled(flag, user_id, attributes), bool)
    f.variant(flag, user_id, attributes)
    for getter in (f.get_str, f.get_int, f.get_float, f.get_bool, f.get_json):
        getter(flag, attribute, None, user_id, attributes)  # type: ignore[operator]
    d = f.details(flag, user_id, attributes, attribute=attribute)
    assert isinstance(d.reason, Reason)


def test_split_ladder_agrees_with_rule_by_rule_evaluation() -> None:
    """A flag of nested splits (hashed once) picks exactly what first-match over the rules picks."""
    doc = {
        "version": "1",
        "flags": {"abc": {"name": "ABC"}, "mixed": {"name": "M"}},
        "values": {
            "abc": {
                "_variants": [
                    {"name": "a", "enabled": True, "rule": "(split pct::34 by::$userId)"},
                    {"name": "b", "enabled": False, "rule": "(split pct::67 by::$userId)"},
                    {"name": "c", "enabled": True},
                ]
            },
            "mixed": {
                "_variants": [  # different seeds: no ladder, the general path
                    {"name": "a", "enabled": True, "rule": '(split pct::34 by::$userId seed::"x")'},
                    {"name": "b", "enabled": False, "rule": "(split pct::67 by::$userId)"},
                    {"name": "c", "enabled": True},
                ]
            },
        },
    }
    flags = Flags(StaticSource(doc))
    from flagkit._snapshot import _ladder

    compiled = flags._snapshot.flags["abc"]
    assert _ladder(list(compiled.rules), compiled.outcomes) is not None
    ids: list[Any] = [f"u{i}" for i in range(3000)] + [7, None, "é", "\udc80", 3.5, True]
    counts = {"a": 0, "b": 0, "c": 0}
    for flag in ("abc", "mixed"):
        rules = flags._snapshot.flags[flag].rules
        for uid in ids:
            expected = next(
                (n for n, r in zip("ab", rules[:2], strict=True) if r and r.test(uid, None)), "c"
            )
            assert flags.variant(flag, uid) == expected
            assert flags.enabled(flag, uid) == (expected != "b")
            if flag == "abc" and isinstance(uid, str) and uid.startswith("u"):
                counts[expected] += 1
    assert abs(counts["a"] / 3000 - 0.34) < 0.03 and abs(counts["b"] / 3000 - 0.33) < 0.03


def test_progressive_delivery_loads_only_when_used() -> None:
    """A client without ramps or a guard never loads their modules; the public names still work."""
    import subprocess
    import sys

    lazy = [
        "flagkit._rollout.guard",
        "flagkit._rollout.ramp",
        "flagkit._document.settings",
        "flagkit._rollout.watch",
        "re2",
    ]
    code = (
        "import sys, flagkit\n"
        "f = flagkit.Flags(flagkit.StaticSource({'a': {'enabled': True}}))\n"
        "assert f.enabled('a')\n"
        f"print([m for m in {lazy!r} if m in sys.modules])\n"
        "print(flagkit.AlarmGuard.__module__, flagkit.RolloutEvent.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["['flagkit._document.settings']", "flagkit._rollout.guard RolloutEvent"]


def test_a_missing_flag_warns_once_and_its_miss_is_remembered_within_a_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One warning per missing flag, whatever the calls; the snapshot remembers a miss (None in
    its lookup maps, the answer .get() gave anyway) for at most _misses.LIMIT names, so names
    from end-user input cannot grow it for ever, and every answer stays the default."""
    import logging

    from flagkit import _misses

    _misses.reset()
    caplog.set_level(logging.WARNING, logger="flagkit")
    flags = Flags(StaticSource(DOC), start=False)
    flags.refresh()
    snap = flags._snapshot
    for _ in range(3):
        assert flags.enabled("nope-1", "u", None, True) is True
        assert flags.variant("nope-1", "u") is None
        assert flags.details("nope-1").error_code is ErrorCode.FLAG_NOT_FOUND
    assert snap.enabled_fns["nope-1"] is None and snap.variant_fns["nope-1"] is None
    assert len([r for r in caplog.records if "nope-1" in r.getMessage()]) == 1
    for i in range(_misses.LIMIT + 200):
        assert flags.enabled(f"user-input-{i}", default=True) is True
        assert flags.variant(f"user-input-{i}") is None
    assert len(snap.enabled_fns) == len(snap.variant_fns) == len(snap.flags) + _misses.LIMIT
    assert (
        flags.enabled("banner") is True
        and flags.variant("tiered", None, {"tier": "gold"}) == "gold"
    )
    _misses.reset()
