"""Scheduled ramps: presets, custom steps, load errors, shares at fixed instants, monotonicity."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flagkit
from flagkit._rollout.ramp import RampSyntaxError, parse_start, parse_steps
from flagkit._rules.bucketing import in_split

START = "2026-11-26T10:00:00Z"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc).timestamp()
IDS = [f"user-{i}" for i in range(100_000)]
MIN = 60.0


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client(doc: dict[str, Any], clock: Clock, **kwargs: Any) -> flagkit.Flags:
    flags = flagkit.Flags(flagkit.StaticSource(json.dumps(doc)), start=False, wall=clock, **kwargs)
    assert flags.refresh()
    return flags


def ramped(ramp: str = "Canary10Percent5Minutes", **extra: Any) -> dict[str, Any]:
    return {
        "checkout": {
            "enabled": True,
            "color": "green",
            "flagkit-ramp": ramp,
            "flagkit-ramp-start": START,
            **extra,
        }
    }


def share(flags: flagkit.FlagsView | flagkit.Flags, flag: str = "checkout") -> float:
    return sum(flags.enabled(flag, u) for u in IDS) / len(IDS)


def members(flags: flagkit.Flags, flag: str = "checkout") -> set[str]:
    return {u for u in IDS if flags.enabled(flag, u)}


# --- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("Canary10Percent5Minutes", [(0, 10), (300, 100)]),
        ("CodeDeployDefault.LambdaCanary10Percent30Minutes", [(0, 10), (1800, 100)]),
        ("ECSCanary10Percent15Minutes", [(0, 10), (900, 100)]),
        ("Linear10PercentEvery1Minute", [(60 * k, 10 * (k + 1)) for k in range(10)]),
        (
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
            [(180 * k, 10 * (k + 1)) for k in range(10)],
        ),
        ("Linear30PercentEvery2Minutes", [(0, 30), (120, 60), (240, 90), (360, 100)]),
        ("Linear50PercentEvery30Seconds", [(0, 50), (30, 100)]),
        ("AllAtOnce", [(0, 100)]),
        ("1% 10m, 10% 30m, 50% 1h, 100%", [(0, 1), (600, 10), (2400, 50), (6000, 100)]),
        ("0.5%1h30m,2.25% 1d, 40%", [(0, 0.5), (5400, 2.25), (5400 + 86400, 40)]),
    ],
)
def test_schedules_parse_to_steps(name: str, steps: list[tuple[float, float]]) -> None:
    assert [(a, p) for a, p in parse_steps(name)] == steps


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Canary10Percent", "preset"),
        ("Canary0Percent5Minutes", "between 1 and 99"),
        ("Linear100PercentEvery1Minute", "between 1 and 99"),
        ("50% 5m, 10%", "never fall"),
        ("10%, 100%", "duration on every step"),
        ("10% 5m, 100% 5m", "no duration on the last"),
        ("0% 5m, 100%", "above 0"),
        ("101%", "at most 100"),
        ("10% 0m, 100%", "above zero"),
        (", ".join(["1% 1m"] * 100 + ["100%"]), "at most 100 steps"),
    ],
)
def test_bad_schedules_say_what_was_expected(text: str, why: str) -> None:
    with pytest.raises(RampSyntaxError, match=why):
        parse_steps(text)


def test_start_needs_a_zone() -> None:
    assert parse_start("2026-11-26T11:00:00+01:00") == T0
    assert parse_start(START) == T0
    with pytest.raises(RampSyntaxError, match="time zone"):
        parse_start("2026-11-26T10:00:00")
    with pytest.raises(RampSyntaxError, match="ISO 8601"):
        parse_start("tomorrow")


# --- load errors name the flag and the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        ({"flagkit-ramp": "Canary10Percent"}, "flagkit-ramp", "preset"),
        ({"flagkit-ramp-start": "soon"}, "flagkit-ramp-start", "ISO 8601"),
        ({"flagkit-rmap": "x"}, "flagkit-rmap", "one of flagkit-ramp"),
        ({"flagkit-alarms": [1, 2]}, "flagkit-alarms", "alarm name"),
        ({"flagkit-alarms": [f"a{i}" for i in range(11)]}, "flagkit-alarms", "at most 10"),
        ({"flagkit-alarm-clear": "maybe", "flagkit-alarms": "a"}, "flagkit-alarm-clear", "resume"),
        ({"flagkit-ramp-by": ""}, "flagkit-ramp-by", "non-empty"),
    ],
)
def test_bad_settings_are_refused_precisely(
    extra: dict[str, Any], field: str, expected: str
) -> None:
    doc = ramped(**extra)
    with pytest.raises(flagkit.DocumentError) as info:
        flagkit.validate(doc)
    err = info.value
    assert (err.flag, err.field) == ("checkout", field)
    assert expected in (err.expected or "")


def test_a_ramp_needs_a_start_and_settings_need_a_ramp() -> None:
    with pytest.raises(flagkit.DocumentError) as info:
        flagkit.validate({"f": {"enabled": True, "flagkit-ramp": "AllAtOnce"}})
    assert info.value.field == "flagkit-ramp-start"
    with pytest.raises(flagkit.DocumentError) as info:
        flagkit.validate({"f": {"enabled": True, "flagkit-ramp-start": START}})
    assert info.value.field == "flagkit-ramp"
    with pytest.raises(flagkit.DocumentError) as info:
        flagkit.validate({"f": {"enabled": True, "flagkit-alarm-clear": "resume"}})
    assert info.value.field == "flagkit-alarms"


def stored(variants: list[dict[str, Any]], **defs: Any) -> dict[str, Any]:
    strings = {"constraints": {"type": "string"}}
    attributes = {
        "flagkit-ramp": strings,
        "flagkit-ramp-start": strings,
        "flagkit-alarms": {"constraints": {"type": "array", "elements": {"type": "string"}}},
        "label": strings,
        **defs,
    }
    return {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout", "attributes": attributes}},
        "values": {"checkout": {"_variants": variants}},
    }


def test_multi_variant_settings_sit_on_the_default_variant() -> None:
    misplaced = stored(
        [
            {
                "name": "new",
                "enabled": True,
                "rule": '(eq $team "web")',
                "attributeValues": {"flagkit-ramp": "AllAtOnce", "flagkit-ramp-start": START},
            },
            {"name": "old", "enabled": False},
        ]
    )
    with pytest.raises(flagkit.DocumentError) as info:
        flagkit.validate(misplaced)
    assert info.value.flag == "checkout"
    assert info.value.field == "_variants[0].attributeValues.flagkit-ramp"
    assert "default variant" in str(info.value)


def test_stored_settings_must_be_defined_like_any_attribute() -> None:
    doc = {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout"}},
        "values": {"checkout": {"enabled": True, "flagkit-ramp": "AllAtOnce"}},
    }
    with pytest.raises(flagkit.DocumentError, match="undefined attribute"):
        flagkit.validate(doc)


# --- evaluation ----------------------------------------------------------------------------------


def test_canary_shares_at_fixed_instants() -> None:
    clock = Clock(T0 - 1)
    flags = client(ramped(), clock)
    assert share(flags) == 0.0  # not started
    clock.now = T0
    at_10 = share(flags)
    assert 0.095 < at_10 < 0.105
    clock.now = T0 + 5 * MIN - 0.001
    assert share(flags) == at_10  # a step holds until the next begins
    clock.now = T0 + 5 * MIN
    assert share(flags) == 1.0
    # everyone includes contexts without a user id at 100 %, and no one below it
    assert flags.enabled("checkout")
    clock.now = T0
    assert not flags.enabled("checkout")


def test_the_ramp_admits_exactly_the_users_the_same_split_would() -> None:
    """A ramp at P % with the flag key as seed is ``(split pct::P by::$userId)``."""
    clock = Clock(T0 + 2 * MIN)
    flags = client(ramped("Linear10PercentEvery1Minute"), clock)  # step 3: 30 %
    got = members(flags)
    assert got == {u for u in IDS if in_split(u, "checkout", 30)}
    assert 0.295 < len(got) / len(IDS) < 0.305


def test_linear_ramp_is_monotone_users_only_join() -> None:
    clock = Clock(T0)
    flags = client(ramped("Linear10PercentEvery1Minute"), clock)
    previous: set[str] = set()
    shares = []
    for k in range(11):
        clock.now = T0 + k * MIN + 1
        now_in = members(flags)
        assert previous <= now_in  # no one who was in has left
        shares.append(len(now_in) / len(IDS))
        previous = now_in
    assert shares == sorted(shares)
    assert shares[-1] == 1.0
    for k, s in enumerate(shares[:9]):
        assert abs(s - 0.1 * (k + 1)) < 0.006


@settings(max_examples=25, deadline=None)
@given(
    pcts=st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=6),
    t1=st.floats(min_value=-100, max_value=4000),
    dt=st.floats(min_value=0, max_value=4000),
)
def test_any_schedule_only_ever_adds_users(pcts: list[int], t1: float, dt: float) -> None:
    units = sorted(pcts)
    steps = ", ".join(f"{u / 1000:g}% 10m" for u in units[:-1]) + f", {units[-1] / 1000:g}%"
    clock = Clock(T0 + t1)
    flags = client(ramped(steps.lstrip(", ")), clock)
    sample = IDS[:3000]
    before = {u for u in sample if flags.enabled("checkout", u)}
    clock.now = T0 + t1 + dt
    after = {u for u in sample if flags.enabled("checkout", u)}
    assert before <= after


def test_two_clients_agree_at_the_same_instant_and_a_process_does_too(tmp_path: Path) -> None:
    clock = Clock(T0 + 90)
    doc = ramped("Linear10PercentEvery1Minute")
    one, two = client(doc, clock), client(doc, Clock(T0 + 90))
    sample = IDS[:2000]
    assert [one.enabled("checkout", u) for u in sample] == [
        two.enabled("checkout", u) for u in sample
    ]
    # another process: the CLI evaluates the same document at the same instant
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc))
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(sample))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flagkit",
            "--at",
            "2026-11-26T10:01:30Z",
            "coverage",
            str(path),
            "checkout",
            "--ids",
            str(ids),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report = json.loads(out)
    on = sum(one.enabled("checkout", u) for u in sample)
    assert 300 < on < 500  # 20 % of 2,000
    assert report["enabled"]["users"] == on
    assert [r["users"] for r in report["variants"] if r.get("ramp")] == [len(sample) - on]


def test_ramp_by_another_key_with_a_shared_seed() -> None:
    clock = Clock(T0)
    doc = ramped(
        "Canary25Percent5Minutes", **{"flagkit-ramp-by": "tenant", "flagkit-ramp-seed": "s"}
    )
    flags = client(doc, clock)
    tenants = [f"t{i}" for i in range(20_000)]
    got = {t for t in tenants if flags.enabled("checkout", "anyone", {"tenant": t})}
    assert got == {t for t in tenants if in_split(t, "s", 25)}
    assert not flags.enabled("checkout", "anyone")  # no tenant: out below 100 %


def test_settings_are_not_attributes_and_reasons_say_ramp() -> None:
    clock = Clock(T0)
    flags = client(ramped(), clock)
    inside = next(u for u in IDS if flags.enabled("checkout", u))
    outside = next(u for u in IDS if not flags.enabled("checkout", u))
    assert flags.get_str("checkout", "color", "none", inside) == "green"
    assert flags.get_str("checkout", "flagkit-ramp", "none", inside) == "none"
    d_in = flags.details("checkout", inside)
    d_out = flags.details("checkout", outside)
    assert (d_in.value, d_in.reason) == (True, flagkit.Reason.RAMP)
    assert (d_out.value, d_out.reason) == (False, flagkit.Reason.RAMP)
    assert flags.details("checkout", outside, attribute="color", default="x").reason == (
        flagkit.Reason.DISABLED
    )


def test_multi_variant_ramp_gates_the_rules_and_defaults_the_rest() -> None:
    doc = stored(
        [
            {
                "name": "web",
                "enabled": True,
                "rule": '(eq $team "web")',
                "attributeValues": {"label": "web"},
            },
            {
                "name": "split",
                "enabled": True,
                "rule": "(split pct::50 by::$userId)",
                "attributeValues": {"label": "half"},
            },
            {
                "name": "old",
                "enabled": False,
                "attributeValues": {
                    "flagkit-ramp": "Canary10Percent5Minutes",
                    "flagkit-ramp-start": START,
                    "label": "old",
                },
            },
        ]
    )
    clock = Clock(T0)
    flags = client(doc, clock)
    web = [u for u in IDS[:5000] if flags.variant("checkout", u, {"team": "web"}) == "web"]
    assert 0.09 < len(web) / 5000 < 0.11  # only the ramp's 10 % reach the rules
    outside = next(u for u in IDS if u not in web)
    d = flags.details("checkout", outside, {"team": "web"})
    assert (d.variant, d.reason, d.value) == ("old", flagkit.Reason.RAMP, False)
    d = flags.details("checkout", web[0], {"team": "web"})
    assert (d.variant, d.reason) == ("web", flagkit.Reason.TARGETING_MATCH)
    clock.now = T0 + 5 * MIN
    assert flags.variant("checkout", outside, {"team": "web"}) == "web"
    halves = sum(flags.variant("checkout", u) == "split" for u in IDS[:20_000]) / 20_000
    assert 0.48 < halves < 0.52


# --- explain, events, CLI -----------------------------------------------------------------------


def test_explain_shows_the_step_and_when_the_next_starts() -> None:
    clock = Clock(T0 + 2.5 * MIN)
    flags = client(ramped("Linear10PercentEvery1Minute"), clock)
    text = str(flags.explain("checkout", "user-1"))
    assert "step 3 of 10 at 30 %" in text
    assert "next 40 % at 2026-11-26T10:03:00Z" in text
    assert "bucket" in text
    assert flags.explain("checkout", "user-1").as_dict()["ramp"].startswith("ramp ")
    clock.now = T0 - 60
    assert "starts at 2026-11-26T10:00:00Z" in str(flags.explain("checkout", "user-1"))


def test_ramp_steps_reach_rollout_listeners() -> None:
    clock = Clock(T0 - 1)
    events: list[flagkit.RolloutEvent] = []
    flags = client(ramped("Linear50PercentEvery30Seconds"), clock, on_rollout=events.append)
    assert not flags.check_rollouts()  # nothing changed, nothing announced
    assert events == []
    clock.now = T0
    flags.check_rollouts()
    clock.now = T0 + 29
    flags.check_rollouts()
    clock.now = T0 + 31
    flags.check_rollouts()
    assert [(e.kind, e.flag, e.pct) for e in events] == [
        ("ramp-step", "checkout", 50.0),
        ("ramp-step", "checkout", 100.0),
    ]


def test_the_rollout_thread_announces_a_step(tmp_path: Path) -> None:
    """With threads on, the rollout thread wakes for the next step by itself (real clock)."""
    import threading
    import time

    start = datetime.fromtimestamp(time.time() - 0.2, timezone.utc).isoformat()
    doc = {"f": {"enabled": True, "flagkit-ramp": "1% 1s, 100%", "flagkit-ramp-start": start}}
    seen = threading.Event()
    events: list[flagkit.RolloutEvent] = []

    def on_rollout(event: flagkit.RolloutEvent) -> None:
        events.append(event)
        seen.set()

    with flagkit.Flags(flagkit.StaticSource(json.dumps(doc)), on_rollout=on_rollout) as flags:
        assert seen.wait(10), "no ramp-step event within 10 s"
        assert flags.enabled("f", "anyone")
    assert events[0].pct == 100.0


def test_cli_explain_at_an_instant(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(ramped()))
    run: Callable[..., subprocess.CompletedProcess[str]] = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "flagkit", *a], capture_output=True, text=True, check=False
    )
    out = run("--at", "2026-11-26T10:04:00Z", "explain", str(path), "checkout", "--user", "u1")
    assert out.returncode == 0, out.stderr
    assert "step 1 of 2 at 10 %" in out.stdout
    assert "next 100 % at 2026-11-26T10:05:00Z" in out.stdout
    late = run("--at", "2026-11-26T10:05:00Z", "eval", str(path), "checkout", "--user", "u1")
    assert "True" in late.stdout or "true" in late.stdout
    bad = run("--at", "noon", "eval", str(path), "checkout")
    assert bad.returncode == 2


# --- the JSON Schema covers the extension ----------------------------------------------------


def test_schema_covers_the_settings_and_stored_constraints_accept_valid_ones() -> None:
    from flagkit._cli.schema import document_schema
    from flagkit._document.settings import constraints
    from test_cli import _Draft4

    schema = document_schema()
    v = _Draft4(schema)
    good = ramped(**{"flagkit-alarms": ["checkout-5xx"], "flagkit-alarm-clear": "resume"})
    assert v.ok(schema, good)
    flagkit.validate(good)
    for bad in (
        ramped("Canary10Percent"),
        ramped(**{"flagkit-ramp-start": "noon"}),
        ramped(**{"flagkit-alarm-clear": "later", "flagkit-alarms": "a"}),
        ramped(**{"flagkit-alarms": [f"a{i}" for i in range(11)]}),
    ):
        assert not v.ok(schema, bad), bad
        with pytest.raises(flagkit.DocumentError):
            flagkit.validate(bad)
    # a stored document declaring the settings with flagkit's constraints, as AppConfig checks them
    doc = {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout", "attributes": constraints()}},
        "values": {
            "checkout": {
                "enabled": True,
                "flagkit-ramp": "Linear10PercentEvery1Minute",
                "flagkit-ramp-start": START,
                "flagkit-alarms": ["checkout-5xx"],
                "flagkit-alarm-clear": "resume",
            }
        },
    }
    assert v.ok(schema, doc)
    assert flagkit.validate(doc) == 1
    doc["values"]["checkout"]["flagkit-ramp-start"] = "2026-11-26 10:00"
    with pytest.raises(flagkit.DocumentError, match="constraints"):
        flagkit.validate(doc)
