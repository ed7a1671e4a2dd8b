"""flagkit.powertools: Powertools schemas evaluated with Powertools' results, and conversion.

The differential tests run aws-lambda-powertools itself (a test dependency only) on the same
schemas, contexts and instant, and require identical answers.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("aws_lambda_powertools")

from aws_lambda_powertools.utilities.feature_flags import comparators
from aws_lambda_powertools.utilities.feature_flags import feature_flags as pt_module
from aws_lambda_powertools.utilities.feature_flags.base import StoreProvider
from aws_lambda_powertools.utilities.feature_flags.exceptions import SchemaValidationError
from dateutil.tz import gettz

import flagkit
from flagkit import DocumentError, Reason
from flagkit._snapshot import snapshot_from_bytes
from flagkit.powertools import FeatureFlags, compile_schema, load_snapshot, to_appconfig, view


class DictStore(StoreProvider):
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema

    def get_raw_configuration(self) -> dict[str, Any]:
        return self.schema

    def get_configuration(self) -> dict[str, Any]:
        return self.schema


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Powertools reads datetime.now in one helper; point it at the test's instant."""
    instant = [0.0]

    def now(tz: Any) -> datetime:
        return datetime.fromtimestamp(instant[0], tz if tz is not None else gettz("UTC"))

    monkeypatch.setattr(comparators, "_get_now_from_timezone", now)
    yield instant


def powertools(schema: dict[str, Any]) -> Any:
    return pt_module.FeatureFlags(store=DictStore(schema))


_POWERTOOLS_MODULO = pt_module.RULE_ACTION_MAPPING["MODULO_RANGE"]


def _modulo_integers_only(context_value: Any, condition_value: Any) -> bool:
    """Powertools' MODULO_RANGE with flagkit's one documented difference: ints only."""
    if not isinstance(context_value, int) or isinstance(context_value, bool):
        return False
    return bool(_POWERTOOLS_MODULO(context_value, condition_value))


@pytest.fixture(autouse=True)
def modulo_integers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare against Powertools with MODULO_RANGE limited to integers (docs/powertools.md):
    Powertools computes ``value % BASE`` on any context value, %-formatting a string."""
    monkeypatch.setitem(pt_module.RULE_ACTION_MAPPING, "MODULO_RANGE", _modulo_integers_only)


def quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools warns on operators that raise
        return fn(*args, **kwargs)


# -- strategies -------------------------------------------------------------------------------

KEYS = ["tier", "age", "tags", "uid"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]

texts = st.text(alphabet="abgo1", max_size=4)
scalars = st.one_of(
    texts,
    st.integers(-5, 120),
    st.floats(-10, 10, allow_nan=False),
    st.booleans(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.none())
hhmm = st.builds("{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59))
naive_dt = st.datetimes(datetime(2023, 1, 1), datetime(2027, 12, 31)).map(
    lambda d: d.replace(microsecond=0).isoformat()
)


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(
        st.sampled_from(
            [
                "EQUALS",
                "NOT_EQUALS",
                "KEY_GREATER_THAN_VALUE",
                "KEY_GREATER_THAN_OR_EQUAL_VALUE",
                "KEY_LESS_THAN_VALUE",
                "KEY_LESS_THAN_OR_EQUAL_VALUE",
                "STARTSWITH",
                "ENDSWITH",
                "IN",
                "NOT_IN",
                "KEY_IN_VALUE",
                "KEY_NOT_IN_VALUE",
                "VALUE_IN_KEY",
                "VALUE_NOT_IN_KEY",
                "ALL_IN_VALUE",
                "ANY_IN_VALUE",
                "NONE_IN_VALUE",
                "MODULO_RANGE",
                "SCHEDULE_BETWEEN_TIME_RANGE",
                "SCHEDULE_BETWEEN_DATETIME_RANGE",
                "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
            ]
        )
    )
    key = draw(st.sampled_from(KEYS))
    zone = draw(st.one_of(st.none(), st.sampled_from(ZONES)))
    tz = {"TIMEZONE": zone} if zone else {}
    if action == "MODULO_RANGE":
        base = draw(st.integers(1, 100))
        start = draw(st.integers(0, base - 1))
        end = draw(st.integers(start, base - 1))
        value: Any = {"BASE": base, "START": start, "END": end}
    elif action == "SCHEDULE_BETWEEN_TIME_RANGE":
        key, value = "CURRENT_TIME", {"START": draw(hhmm), "END": draw(hhmm), **tz}
    elif action == "SCHEDULE_BETWEEN_DATETIME_RANGE":
        value = {"START": draw(naive_dt), "END": draw(naive_dt), **tz}
        key = "CURRENT_DATETIME"
    elif action == "SCHEDULE_BETWEEN_DAYS_OF_WEEK":
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        key, value = "CURRENT_DAY_OF_WEEK", {"DAYS": days, **tz}
    elif action in {"ALL_IN_VALUE", "ANY_IN_VALUE", "NONE_IN_VALUE"}:
        value = draw(st.lists(scalars, max_size=4))
    elif action in {"IN", "NOT_IN", "KEY_IN_VALUE", "KEY_NOT_IN_VALUE"}:
        value = draw(st.one_of(st.lists(scalars, max_size=4), texts))
    else:
        value = draw(scalars)
    return {"action": action, "key": key, "value": value}


json_values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(texts, scalars, max_size=2)
)


@st.composite
def features(draw: st.DrawFn) -> dict[str, Any]:
    boolean = draw(st.booleans())
    payload = st.booleans() if boolean else json_values
    feature: dict[str, Any] = {"default": draw(payload)}
    if not boolean:
        feature["boolean_type"] = False
    names = draw(st.lists(texts.map(lambda s: "rule " + s), max_size=3, unique=True))
    if names or draw(st.booleans()):
        feature["rules"] = {
            name: {
                "when_match": draw(payload),
                "conditions": draw(st.lists(conditions(), min_size=1, max_size=3)),
            }
            for name in names
        }
    return feature


schemas = st.dictionaries(st.sampled_from(["f1", "f2", "f3", "f4"]), features(), min_size=1)
contexts = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)
instants = st.integers(1672531200, 1830297600)  # 2023-01-01 .. 2027-12-31


# -- differential -----------------------------------------------------------------------------


# The fixture is shared across examples on purpose: each example sets the instant first.
SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=400, deadline=None, suppress_health_check=SHARED)
@given(schema=schemas, ctxs=st.lists(contexts, min_size=1, max_size=6), instant=instants)
def test_same_answers_as_powertools(
    frozen_now: list[float], schema: dict[str, Any], ctxs: list[dict[str, Any]], instant: int
) -> None:
    """evaluate and get_enabled_features agree with Powertools for every feature and context."""
    frozen_now[0] = instant
    theirs = powertools(schema)
    ours = FeatureFlags(view(schema, clock=lambda: instant))
    for ctx in ctxs:
        for name in [*schema, "missing"]:
            expected = quietly(theirs.evaluate, name=name, context=ctx, default="DEFAULT")
            assert ours.evaluate(name=name, context=ctx, default="DEFAULT") == expected, (
                name,
                ctx,
            )
        expected_on = quietly(theirs.get_enabled_features, context=ctx)
        assert ours.get_enabled_features(context=ctx) == expected_on


@settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
@given(schema=schemas, ctx=contexts, instant=instants)
def test_flagkit_api_reads_the_same_values(
    frozen_now: list[float], schema: dict[str, Any], ctx: dict[str, Any], instant: int
) -> None:
    """Through flagkit's own API: get_json(name, "value") is the Powertools value."""
    frozen_now[0] = instant
    theirs = powertools(schema)
    flags = view(schema, clock=lambda: instant)
    for name, feature in schema.items():
        expected = quietly(theirs.evaluate, name=name, context=ctx, default=None)
        if feature.get("boolean_type", True):
            d = flags.details(name, None, ctx)  # boolean features: the enabled state
            assert flags.enabled(name, attributes=ctx) is expected
        else:
            d = flags.details(name, None, ctx, attribute="value", kind="json")
        assert d.value == expected
        assert d.error_code is None
        if not feature.get("rules"):
            assert (d.reason, d.variant) == (Reason.STATIC, None)
        elif d.variant is None:
            assert d.reason == Reason.DEFAULT
        else:
            assert d.variant in feature["rules"]
            assert d.reason in {Reason.TARGETING_MATCH, Reason.SPLIT}


# -- hand-picked semantics --------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "premium": {
        "default": False,
        "rules": {
            "gold tier": {
                "when_match": True,
                "conditions": [{"action": "EQUALS", "key": "tier", "value": "gold"}],
            },
            "20 percent": {
                "when_match": True,
                "conditions": [
                    {
                        "action": "MODULO_RANGE",
                        "key": "uid",
                        "value": {"BASE": 100, "START": 0, "END": 19},
                    }
                ],
            },
        },
    },
    "banner": {"default": {"text": "hi"}, "boolean_type": False},
    "off": {"default": False},
}


def test_reasons_and_variants() -> None:
    flags = view(SCHEMA)
    gold = flags.details("premium", None, {"tier": "gold"})
    assert (gold.value, gold.variant, gold.reason) == (True, "gold tier", Reason.TARGETING_MATCH)
    split = flags.details("premium", None, {"uid": 119})
    assert (split.value, split.variant, split.reason) == (True, "20 percent", Reason.SPLIT)
    miss = flags.details("premium", None, {"uid": 20})
    assert (miss.value, miss.variant, miss.reason) == (False, None, Reason.DEFAULT)
    assert flags.details("off").reason == Reason.STATIC
    assert flags.get_json("banner", "value") == {"text": "hi"}


def test_missing_key_fails_even_negative_conditions() -> None:
    schema = {
        "f": {
            "default": False,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [{"action": "NOT_EQUALS", "key": "tier", "value": "gold"}],
                }
            },
        }
    }
    ff = FeatureFlags(schema)
    assert ff.evaluate(name="f", context={}, default=None) is False
    assert ff.evaluate(name="f", context={"tier": "tin"}, default=None) is True
    assert quietly(powertools(schema).evaluate, name="f", context={}, default=None) is False


def test_schedule_reads_the_injected_clock() -> None:
    schema = {
        "night": {
            "default": False,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_TIME_RANGE",
                            "key": "CURRENT_TIME",
                            "value": {"START": "22:00", "END": "06:00", "TIMEZONE": "Europe/Paris"},
                        }
                    ],
                }
            },
        }
    }
    at = [datetime(2025, 6, 1, 21, 30, tzinfo=timezone.utc).timestamp()]  # 23:30 in Paris
    flags = view(schema, clock=lambda: at[0])
    assert flags.enabled("night") is True
    at[0] = datetime(2025, 6, 1, 10, 0, tzinfo=timezone.utc).timestamp()  # noon in Paris
    assert flags.enabled("night") is False


INVALID: list[Any] = [
    [],
    {"f": {}},
    {"f": {"default": "yes"}},
    {"f": {"default": True, "rules": [1]}},
    {"f": {"default": True, "rules": {"r": {"when_match": "x", "conditions": []}}}},
    {"f": {"default": True, "rules": {"r": {"when_match": True, "conditions": []}}}},
    {"f": {"default": True, "rules": {"r": {"when_match": True, "conditions": [{}]}}}},
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [{"action": "NOPE", "key": "k", "value": 1}],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [{"action": "EQUALS", "key": "", "value": 1}],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [{"action": "EQUALS", "key": "k", "value": None}],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "MODULO_RANGE",
                            "key": "k",
                            "value": {"BASE": 10, "START": 5, "END": 10},
                        }
                    ],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [{"action": "ANY_IN_VALUE", "key": "k", "value": "abc"}],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_TIME_RANGE",
                            "key": "CURRENT_TIME",
                            "value": {"START": "24:00", "END": "01:00"},
                        }
                    ],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_TIME_RANGE",
                            "key": "NOW",
                            "value": {"START": "10:00", "END": "11:00"},
                        }
                    ],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_DATETIME_RANGE",
                            "key": "CURRENT_DATETIME",
                            "value": {
                                "START": "2025-01-01T00:00:00Z",
                                "END": "2026-01-01T00:00:00",
                            },
                        }
                    ],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
                            "key": "CURRENT_DAY_OF_WEEK",
                            "value": {"DAYS": ["FUNDAY"]},
                        }
                    ],
                }
            },
        }
    },
    {
        "f": {
            "default": True,
            "rules": {
                "r": {
                    "when_match": True,
                    "conditions": [
                        {
                            "action": "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
                            "key": "CURRENT_DAY_OF_WEEK",
                            "value": {"DAYS": ["MONDAY"], "TIMEZONE": "Mars/Olympus"},
                        }
                    ],
                }
            },
        }
    },
]


@pytest.mark.parametrize("schema", INVALID)
def test_refuses_what_powertools_refuses(schema: Any) -> None:
    with pytest.raises(SchemaValidationError):
        quietly(powertools(schema).evaluate, name="f", context={}, default=False)
    with pytest.raises(DocumentError) as info:
        compile_schema(schema)
    if isinstance(schema, dict):
        assert info.value.flag == "f"


def test_load_snapshot_parses_json_bytes() -> None:
    snap = load_snapshot(b'{"f": {"default": true}}', version="v9")
    assert snap.version == "v9"
    assert flagkit.FlagsView(snap).enabled("f") is True
    with pytest.raises(DocumentError):
        load_snapshot(b"{")


# -- conversion to AppConfig ------------------------------------------------------------------

CONVERTIBLE: dict[str, Any] = {
    "f-eq": [{"action": "EQUALS", "key": "tier", "value": "gold"}],
    "f-ne": [{"action": "NOT_EQUALS", "key": "tier", "value": "gold"}],
    "f-gt": [{"action": "KEY_GREATER_THAN_VALUE", "key": "age", "value": 30}],
    "f-le": [{"action": "KEY_LESS_THAN_OR_EQUAL_VALUE", "key": "age", "value": 30.5}],
    "f-sw": [{"action": "STARTSWITH", "key": "tier", "value": "go"}],
    "f-ew": [{"action": "ENDSWITH", "key": "tier", "value": "ld"}],
    "f-in": [{"action": "IN", "key": "tier", "value": ["gold", "tin"]}],
    "f-nin": [{"action": "KEY_NOT_IN_VALUE", "key": "tier", "value": ["gold"]}],
    "f-vik": [{"action": "VALUE_IN_KEY", "key": "tags", "value": "beta"}],
    "f-vnik": [{"action": "VALUE_NOT_IN_KEY", "key": "tags", "value": "beta"}],
    "f-any": [{"action": "ANY_IN_VALUE", "key": "tags", "value": ["beta", "alpha"]}],
    "f-none": [{"action": "NONE_IN_VALUE", "key": "tags", "value": ["beta"]}],
    "f-and": [
        {"action": "EQUALS", "key": "tier", "value": "gold"},
        {"action": "KEY_LESS_THAN_VALUE", "key": "age", "value": 18},
    ],
}


def _bool_feature(conds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"default": False, "rules": {"r": {"when_match": True, "conditions": conds}}}


def test_conversion_reports_what_it_cannot_express() -> None:
    schema = {
        "modulo": _bool_feature(
            [{"action": "MODULO_RANGE", "key": "u", "value": {"BASE": 10, "START": 0, "END": 1}}]
        ),
        "all-in": _bool_feature([{"action": "ALL_IN_VALUE", "key": "t", "value": ["a"]}]),
        "clock": _bool_feature(
            [
                {
                    "action": "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
                    "key": "CURRENT_DAY_OF_WEEK",
                    "value": {"DAYS": ["MONDAY"]},
                }
            ]
        ),
        "strorder": _bool_feature(
            [{"action": "KEY_GREATER_THAN_VALUE", "key": "v", "value": "1.2"}]
        ),
        "substr": _bool_feature([{"action": "KEY_IN_VALUE", "key": "v", "value": "abc"}]),
        "Bad_Name": {"default": True},
        "object": {"default": {"a": 1}, "boolean_type": False},
        "ok": {"default": ["x", "y"], "boolean_type": False},
    }
    result = to_appconfig(schema)
    assert set(result.skipped) == set(schema) - {"ok"}
    assert "MODULO_RANGE" in result.skipped["modulo"]
    assert "clock" in result.skipped["clock"]
    assert "numbers only" in result.skipped["strorder"]
    assert flagkit.validate(result.document) == 1
    assert flagkit.FlagsView(_snap(result.document)).get_json("ok", "value") == ("x", "y")


def _snap(document: dict[str, Any]) -> Any:
    return snapshot_from_bytes(json.dumps(document).encode())


tiers = st.sampled_from(["gold", "tin", "go", "old", "", "silver"])
tag_lists = st.lists(st.sampled_from(["beta", "alpha", "gamma"]), max_size=3)
typed_contexts = st.fixed_dictionaries(
    {},
    optional={
        "tier": tiers,
        "age": st.one_of(st.integers(0, 60), st.floats(0, 60, allow_nan=False)),
        "tags": tag_lists,
    },
)


@settings(max_examples=300, deadline=None)
@given(ctx=typed_contexts, when=st.booleans())
def test_converted_documents_agree_with_powertools_on_typed_contexts(
    ctx: dict[str, Any], when: bool
) -> None:
    """Every convertible action gives Powertools' answer under AppConfig rules."""
    schema = {
        key: {"default": not when, "rules": {"r": {"when_match": when, "conditions": conds}}}
        for key, conds in CONVERTIBLE.items()
    }
    result = to_appconfig(schema)
    assert result.skipped == {}
    ours = flagkit.FlagsView(_snap(result.document))
    theirs = powertools(schema)
    for name in schema:
        expected = quietly(theirs.evaluate, name=name, context=ctx, default=None)
        assert ours.enabled(name, None, ctx) is expected, (name, ctx)


@st.composite
def schedule_cases(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A schedule condition whose bounds sit on, or a minute/second beside, the instant."""
    instant = draw(instants)
    zone = draw(st.sampled_from(ZONES))
    local = datetime.fromtimestamp(instant, gettz(zone))
    action = draw(
        st.sampled_from(
            [
                "SCHEDULE_BETWEEN_TIME_RANGE",
                "SCHEDULE_BETWEEN_DATETIME_RANGE",
                "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
            ]
        )
    )
    near = st.sampled_from([-61, -60, -1, 0, 1, 60, 61, 3600 * 13])
    if action == "SCHEDULE_BETWEEN_TIME_RANGE":
        bounds = [
            datetime.fromtimestamp(instant + draw(near), gettz(zone)).strftime("%H:%M")
            for _ in range(2)
        ]
        key, value = "CURRENT_TIME", {"START": bounds[0], "END": bounds[1], "TIMEZONE": zone}
    elif action == "SCHEDULE_BETWEEN_DATETIME_RANGE":
        naive = local.replace(tzinfo=None)
        start, end = (
            datetime.fromtimestamp(naive.timestamp() + draw(near)).isoformat() for _ in range(2)
        )
        key, value = "CURRENT_DATETIME", {"START": start, "END": end, "TIMEZONE": zone}
    else:
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=2, unique=True))
        key, value = "CURRENT_DAY_OF_WEEK", {"DAYS": days, "TIMEZONE": zone}
    schema = _bool_feature([{"action": action, "key": key, "value": value}])
    return {"f": schema}, instant


@settings(max_examples=500, deadline=None, suppress_health_check=SHARED)
@given(case=schedule_cases())
def test_schedules_same_as_powertools_at_their_boundaries(
    frozen_now: list[float], case: tuple[dict[str, Any], int]
) -> None:
    schema, instant = case
    frozen_now[0] = instant
    expected = quietly(powertools(schema).evaluate, name="f", context={}, default=None)
    assert view(schema, clock=lambda: instant).enabled("f") is expected


def test_a_freeform_profile_holding_a_powertools_schema_is_polled_through_appconfig() -> None:
    """AppConfig serves a freeform profile as application/json; content_type= says what it is."""
    from flagkit.powertools import MEDIA_TYPE
    from flagkit.testing import LocalAppConfigAgent, LocalAppConfigData

    schema = {
        "premium": {
            "default": False,
            "rules": {
                "gold tier": {
                    "when_match": True,
                    "conditions": [{"action": "EQUALS", "key": "tier", "value": "gold"}],
                }
            },
        }
    }
    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("shop", "prod", "powertools", schema, version_label="v1")
        client = server.client()
        as_is = flagkit.Flags(
            flagkit.AppConfigSource("shop", "prod", "powertools", client=client), start=False
        )
        as_is.refresh()
        assert not as_is.ready  # read as an AppConfig document, a Powertools schema is refused
        assert "refused" in (as_is.status().last_error or "")
        flags = flagkit.Flags(
            flagkit.AppConfigSource(
                "shop", "prod", "powertools", client=client, content_type=MEDIA_TYPE
            ),
            start=False,
        )
        assert flags.refresh()
        assert flags.enabled("premium", "u1", {"tier": "gold"})
        assert not flags.enabled("premium", "u1", {"tier": "free"})
        pt = FeatureFlags(flags)
        assert pt.evaluate(name="premium", context={"tier": "gold"}, default=False) is True
        client.close()
    with LocalAppConfigAgent() as agent:
        agent.publish("shop", "prod", "powertools", schema)
        source = agent.source("shop", "prod", "powertools")
        source.content_type = MEDIA_TYPE
        with flagkit.Flags(source, start=False) as via_agent:
            assert via_agent.refresh()
            assert via_agent.enabled("premium", "u1", {"tier": "gold"})


# -- one door, one compiler, the same limits (issues #13 and #19) ------------------------------


def _modulo_schema(base: int = 100, start: int = 0, end: int = 19) -> dict[str, Any]:
    cond = {
        "action": "MODULO_RANGE",
        "key": "uid",
        "value": {"BASE": base, "START": start, "END": end},
    }
    return {"f": _bool_feature([cond])}


def test_modulo_range_matches_integers_only() -> None:
    """Floats, bools and strings never take part in MODULO_RANGE (Powertools would match
    12.5 % 100 and True % 100; docs/powertools.md names the difference)."""
    ff = FeatureFlags(_modulo_schema(base=100, start=1, end=19))
    assert ff.evaluate(name="f", context={"uid": 112}, default=None) is True
    assert ff.evaluate(name="f", context={"uid": 12.5}, default=None) is False
    assert ff.evaluate(name="f", context={"uid": True}, default=None) is False
    assert ff.evaluate(name="f", context={"uid": "5"}, default=None) is False
    assert quietly(powertools(_modulo_schema(base=100, start=1, end=19)).evaluate,
                   name="f", context={"uid": 112}, default=None) is True  # fmt: skip


def test_modulo_range_never_formats_a_context_string() -> None:
    """``"%020000000d" % 100`` builds a 20 MB string in Powertools; flagkit allocates nothing."""
    import tracemalloc

    ff = FeatureFlags(_modulo_schema())
    tracemalloc.start()
    try:
        answer = ff.evaluate(name="f", context={"uid": "%020000000d"}, default=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer is False
    assert peak < 1_000_000


def test_a_powertools_rule_is_compiled_by_the_one_rule_compiler() -> None:
    """Each rule is a CompiledRule of the shared compiler, shown as rule text of internal
    operators that AppConfig rule text cannot name."""
    from flagkit._rules.compile import Compiler, compile_rule

    snap = compile_schema(SCHEMA)
    gold, split, default = snap.flags["premium"].rules
    assert gold is not None and gold.text == '(py.eq $tier "gold")'
    assert split is not None and split.has_split
    assert split.text == "(py.modulo_range $uid base::100 start::0 end::19)"
    assert default is None
    with pytest.raises(flagkit.RuleError):
        compile_rule('(py.eq $tier "gold")', flag_key="f")
    stored = {
        "version": "1",
        "flags": {"f": {}},
        "values": {"f": {"_variants": [
            {"name": "a", "enabled": True, "rule": '(py.eq $tier "gold")'},
            {"name": "b", "enabled": False},
        ]}},
    }  # fmt: skip
    with pytest.raises(flagkit.RuleError) as info:
        _snap(stored)
    assert "malformed operator 'py.eq'" in info.value.message  # the parser never makes one
    tree = gold.tree
    assert tree is not None  # and the compiler knows them only when handed a tree
    with pytest.raises(flagkit.RuleError, match=r"unknown operator 'py\.eq'"):
        Compiler("", "f", "userId").boolean(tree)


def test_explain_traces_a_powertools_rule() -> None:
    flags = view(SCHEMA)
    text = str(flags.explain("premium", None, {"tier": "gold", "uid": 5}))
    assert '(py.eq $tier "gold")' in text
    assert "MATCH" in text


def _in_schema(size: int) -> bytes:
    cond = {"action": "IN", "key": "uid", "value": [i % 10 for i in range(size)]}
    return json.dumps({"big": _bool_feature([cond])}, separators=(",", ":")).encode()


def test_a_powertools_rule_is_held_to_the_rule_length_limit() -> None:
    """An IN over 500,000 elements (1 MB: 6 ms an evaluation in a list scan) is refused at load
    like an AppConfig rule over 16,384 characters, naming the feature and the rule."""
    from flagkit.powertools import MEDIA_TYPE

    with pytest.raises(DocumentError) as info:
        snapshot_from_bytes(_in_schema(500_000), content_type=MEDIA_TYPE)
    err = info.value
    assert (err.flag, err.field) == ("big", "rules['r'].conditions")
    assert "longer than 16384 characters" in err.message
    assert load_snapshot(_in_schema(5000)).flags["big"].rules[0] is not None  # 15 KB of rule


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("where", ["condition", "when_match", "default"])
def test_deeply_nested_values_are_refused_with_a_document_error(where: str) -> None:
    """A value 700 deep made deepcopy raise RecursionError out of the loader; now the loader
    refuses it (only DocumentError leaves it), here from bytes and from a dict."""
    from flagkit.powertools import MEDIA_TYPE

    deep = _nested(700)
    feature: dict[str, Any] = {"default": deep if where == "default" else 1, "boolean_type": False}
    cond_value = deep if where == "condition" else 1
    feature["rules"] = {
        "r": {
            "when_match": deep if where == "when_match" else 2,
            "conditions": [{"action": "EQUALS", "key": "k", "value": cond_value}],
        }
    }
    body = json.dumps({"f": feature}).encode()
    for load in (
        lambda: snapshot_from_bytes(body, content_type=MEDIA_TYPE),
        lambda: view({"f": feature}),
    ):
        with pytest.raises(DocumentError) as info:
            load()
        assert info.value.flag == "f"
        assert "nested too deeply" in info.value.message
    assert view({"f": {"default": _nested(31), "boolean_type": False}}).get_json("f", "value")


def test_the_content_type_alone_does_not_lift_the_limits() -> None:
    """A freeform profile served as the Powertools media type is refused when a rule is past the
    limits, as the same rule in an AppConfig document would be; the last good flags stay."""
    from flagkit.powertools import MEDIA_TYPE
    from flagkit.testing import LocalAppConfigData

    small = json.loads(_in_schema(10))
    big = json.loads(_in_schema(300_000))
    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("shop", "prod", "pt", small, version_label="v1")
        client = server.client()
        source = flagkit.AppConfigSource(
            "shop", "prod", "pt", client=client, content_type=MEDIA_TYPE
        )
        with flagkit.Flags(source, start=False) as flags:
            assert flags.refresh()
            assert flags.enabled("big", None, {"uid": 3})
            server.publish("shop", "prod", "pt", big, version_label="v2")
            assert not flags.refresh()
            assert "longer than 16384 characters" in (flags.status().last_error or "")
            assert flags.enabled("big", None, {"uid": 3})  # v1 still serves
        client.close()


MEMBERS: list[Any] = [1, "1", True, 2.0, None, [1], {"a": 1}, "", 0.5]
PROBES: list[Any] = [1, 1.0, True, False, 0, "1", 2, 2.0, None, [1], {"a": 1}, "", 0.5, "x", [], ()]


@pytest.mark.parametrize(
    "action", ["IN", "NOT_IN", "KEY_IN_VALUE", "ANY_IN_VALUE", "ALL_IN_VALUE", "NONE_IN_VALUE"]
)
def test_membership_answers_as_the_list_scan(action: str) -> None:
    """Membership in a JSON list is a set lookup for scalars: the same answers as Powertools'
    list scan, mixed types (1 == 1.0 == True) and unhashable members included."""
    schema = {"f": _bool_feature([{"action": action, "key": "k", "value": MEMBERS}])}
    ours, theirs = FeatureFlags(schema), powertools(schema)
    for probe in [*PROBES, *([p] for p in PROBES), [1, "x"], [True, 2.0]]:
        expected = quietly(theirs.evaluate, name="f", context={"k": probe}, default=None)
        assert ours.evaluate(name="f", context={"k": probe}, default=None) is expected, probe


def test_powertools_cost_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/powertools_cost.py times a typical feature, one at the limits, and a load."""
    from benchmarks import powertools_cost

    result = powertools_cost.main(repeats=1, n=200)
    assert set(result) == {"typical", "worst at the limits", "load"}
    assert "31 x IN at the rule limit" in capsys.readouterr().out


def test_a_served_schema_reads_the_snapshots_wall_clock() -> None:
    """Through the door, SCHEDULE_* read the same injected clock as ramps (``wall=``, which
    ``flagkit explain --at`` sets); the Powertools path used to read time.time regardless."""
    from flagkit.powertools import MEDIA_TYPE

    cond = {
        "action": "SCHEDULE_BETWEEN_DAYS_OF_WEEK",
        "key": "CURRENT_DAY_OF_WEEK",
        "value": {"DAYS": ["SUNDAY"], "TIMEZONE": "UTC"},
    }
    body = json.dumps({"f": _bool_feature([cond])}).encode()
    sunday = datetime(2025, 6, 1, 12, tzinfo=timezone.utc).timestamp()
    for instant, expected in ((sunday, True), (sunday + 86400, False)):
        snap = snapshot_from_bytes(body, content_type=MEDIA_TYPE, wall=lambda t=instant: t)
        assert flagkit.FlagsView(snap).enabled("f") is expected


def test_a_served_schema_meets_the_load_and_evaluation_budgets() -> None:
    """flagkit.Limits holds for a Powertools schema as for AppConfig documents: the flag count,
    and the evaluation cost counted by the one compiler (an operator that walks the context
    value, such as VALUE_IN_KEY, costs a scan)."""
    from flagkit.powertools import MEDIA_TYPE

    cond = [{"action": "VALUE_IN_KEY", "key": "tags", "value": "beta"}]
    rules = {f"r{i}": {"when_match": True, "conditions": cond} for i in range(200)}
    body = json.dumps({"f": {"default": False, "rules": rules}, "g": {"default": True}}).encode()
    with pytest.raises(DocumentError) as info:
        snapshot_from_bytes(body, content_type=MEDIA_TYPE)  # 200 x 101 steps > 20,000
    assert info.value.flag == "f"
    assert "evaluation cost is over its budget" in info.value.message
    roomy = flagkit.Limits(max_flag_cost=30_000)
    snap = snapshot_from_bytes(body, content_type=MEDIA_TYPE, limits=roomy)
    assert flagkit.FlagsView(snap).enabled("f", None, {"tags": ["beta"]})
    with pytest.raises(DocumentError, match="too many flags"):
        snapshot_from_bytes(body, content_type=MEDIA_TYPE, limits=flagkit.Limits(max_flags=1))


# -- issue #17: non-dict schemas, the version hash, and what Powertools users rely on ----------

NOT_A_DICT = [[], None, "abc", [("f", {"default": True})]]


@pytest.mark.parametrize("schema", NOT_A_DICT, ids=["list", "null", "string", "pairs"])
def test_a_schema_that_is_not_an_object_is_refused_everywhere(schema: Any) -> None:
    """Powertools refuses them; so does every door of flagkit.powertools, as a DocumentError.

    (Powertools 3.37 never validates null: its cache of the last validated object starts as
    None, so ``evaluate`` fails on ``None.get`` instead.)"""
    with pytest.raises(AttributeError if schema is None else SchemaValidationError):
        powertools(schema).evaluate(name="f", default=False)
    for load in (view, compile_schema, FeatureFlags, to_appconfig):
        with pytest.raises(DocumentError) as info:
            load(schema)
        assert info.value.expected == "an object"


def test_the_version_hash_takes_any_condition_value() -> None:
    """Values JSON cannot produce neither crash the version nor collide with JSON's."""
    versions = {}
    for value in ({1: "a"}, {"1": "a"}, {1: "a", "b": 2}, {None: 1}, float("nan")):
        flags = view({"f": _bool_feature([{"action": "EQUALS", "key": "k", "value": value}])})
        versions[repr(value)] = flags.version
        assert flags.enabled("f", attributes={"k": value}) is (value == value)
    assert len(set(versions.values())) == len(versions)
    tuple_key = {"f": _bool_feature([{"action": "EQUALS", "key": "k", "value": {(1, 2): "a"}}])}
    with pytest.raises(DocumentError) as info:
        view(tuple_key)
    assert info.value.field == "rules['r'].conditions"


def _enveloped() -> dict[str, Any]:
    schema = {
        "premium": _bool_feature([{"action": "EQUALS", "key": "tier", "value": "gold"}]),
        "limits": {"default": {"rpm": 10}, "boolean_type": False},
    }
    packed = base64.b64encode(gzip.compress(json.dumps(schema).encode())).decode()
    return {
        "app": {"features": schema, "other": 1},
        "encoded": json.dumps(schema),
        "packed": packed,
        "feature;flags": {"v2": schema},
    }


ENVELOPES = [
    "app.features",
    "powertools_json(encoded)",
    "powertools_json(powertools_base64_gzip(packed))",
    '"feature;flags".v2',
]


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_an_envelope_selects_the_schema_as_powertools_does(envelope: str) -> None:
    """Powertools' own AppConfigStore(envelope=...), polling the loopback AppConfig, and flagkit
    (in code, and polling the same profile) give the same answers and configuration."""
    from aws_lambda_powertools.utilities.feature_flags import AppConfigStore

    from flagkit.powertools import media_type
    from flagkit.testing import LocalAppConfigData

    document = _enveloped()
    contexts = [{"tier": "gold"}, {"tier": "free"}, {}]
    ours = FeatureFlags(document, envelope=envelope)
    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("shop", "prod", "features", document)
        client = server.client()
        store = AppConfigStore("prod", "shop", "features", envelope=envelope, boto3_client=client)
        theirs = pt_module.FeatureFlags(store=store)
        source = flagkit.AppConfigSource(
            "shop", "prod", "features", client=client, content_type=media_type(envelope)
        )
        with flagkit.Flags(source, start=False) as polled:
            assert polled.refresh()
            for ff in (ours, FeatureFlags(polled)):
                for ctx in contexts:
                    for name in ("premium", "limits", "missing"):
                        got = ff.evaluate(name=name, context=ctx, default="d")
                        assert got == theirs.evaluate(name=name, context=ctx, default="d")
                    assert ff.get_enabled_features(context=ctx) == theirs.get_enabled_features(
                        context=ctx
                    )
        assert ours.get_configuration() == theirs.get_configuration()
        client.close()


def test_jmespath_options_replace_the_functions_as_in_powertools() -> None:
    from jmespath import functions

    class Upper(functions.Functions):  # type: ignore[misc]
        @functions.signature({"types": ["object"]})  # type: ignore[misc]
        def _func_pick(self, value: dict[str, Any]) -> Any:
            return value["features"]

    from aws_lambda_powertools.utilities.jmespath_utils import query

    document = _enveloped()
    options = {"custom_functions": Upper()}
    ours = FeatureFlags(document, envelope="pick(app)", jmespath_options=options)
    theirs = powertools(query(document, "pick(app)", options))
    assert ours.get_configuration() == theirs.get_configuration()
    assert ours.evaluate(name="premium", context={"tier": "gold"}, default=False) is True
    with pytest.raises(DocumentError) as info:  # the options replace Powertools' functions
        FeatureFlags(document, envelope="powertools_json(encoded)", jmespath_options=options)
    assert info.value.field == "envelope"


@pytest.mark.parametrize("envelope", ["app.", "app.nothing", "app.other", "powertools_json(app)"])
def test_an_envelope_that_does_not_give_a_schema_is_refused_at_load(envelope: str) -> None:
    """Powertools raises from evaluate (InvalidEnvelopeExpressionError, SchemaValidationError,
    or jmespath's own error); flagkit refuses the document at load, and a client keeps its
    last good flags."""
    from aws_lambda_powertools.utilities.jmespath_utils import query

    with pytest.raises(Exception):  # noqa: B017, PT011 - each of Powertools' errors
        powertools(query(_enveloped(), envelope)).evaluate(name="premium", default=False)
    with pytest.raises(DocumentError):
        view(_enveloped(), envelope=envelope)
    with pytest.raises(DocumentError):
        load_snapshot(json.dumps(_enveloped()), envelope=envelope)


def test_a_gzip_envelope_decompresses_within_the_document_cap() -> None:
    bomb = base64.b64encode(gzip.compress(b" " * 5_000_000)).decode()
    with pytest.raises(DocumentError) as info:
        load_snapshot(
            json.dumps({"z": bomb}), envelope="powertools_json(powertools_base64_gzip(z))"
        )
    assert info.value.field == "envelope"


class CountingStore(StoreProvider):
    """A Powertools store whose document the test swaps, counting the fetches."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.calls = 0
        self.fail = False

    @property
    def get_raw_configuration(self) -> Any:
        return self.schema

    def get_configuration(self) -> Any:
        self.calls += 1
        if self.fail:
            from aws_lambda_powertools.utilities.feature_flags.exceptions import (
                ConfigurationStoreError,
            )

            raise ConfigurationStoreError("down")
        return self.schema


def test_a_powertools_store_is_read_as_powertools_reads_it() -> None:
    """FeatureFlags(store=...) asks the store on every call, compiles each new object once,
    and answers as Powertools over the same store, through a schema change and an outage."""
    gold = {"premium": _bool_feature([{"action": "EQUALS", "key": "tier", "value": "gold"}])}
    store = CountingStore(gold)
    ours, theirs = FeatureFlags(store=store), pt_module.FeatureFlags(store=store)
    positional = FeatureFlags(store)  # FeatureFlags(AppConfigStore(...)) as written before

    def same(ctx: dict[str, Any]) -> None:
        for ff in (ours, positional):
            want = theirs.evaluate(name="premium", context=ctx, default="d")
            assert ff.evaluate(name="premium", context=ctx, default="d") == want
            assert ff.get_enabled_features(context=ctx) == theirs.get_enabled_features(context=ctx)

    same({"tier": "gold"})
    assert ours.get_configuration() is theirs.get_configuration() is gold
    compiled = ours._compiled[1]
    same({"tier": "free"})
    assert ours._compiled[1] is compiled  # the same object is not compiled again
    store.schema = {"premium": {"default": True}}
    same({"tier": "free"})
    store.fail = True  # Powertools: ConfigurationStoreError -> the caller's default
    same({"tier": "gold"})
    store.fail = False
    store.schema = []  # Powertools raises SchemaValidationError; flagkit keeps the last good
    with pytest.raises(SchemaValidationError):
        theirs.evaluate(name="premium", default="d")
    assert ours.evaluate(name="premium", default="d") is True
    with pytest.raises(DocumentError):
        ours.get_configuration()


def test_get_configuration_returns_the_validated_schema() -> None:
    schema = {"premium": {"default": True}}
    assert FeatureFlags(schema).get_configuration() == powertools(schema).get_configuration()
    with pytest.raises(TypeError):
        FeatureFlags(view(schema)).get_configuration()  # compiled flags hold no schema


@pytest.mark.parametrize("zone", ["", None])
def test_an_empty_timezone_is_the_local_zone_as_in_powertools(
    zone: Any, frozen_now: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools validates an empty or null TIMEZONE as UTC but evaluates it with
    gettz(""), the local zone; flagkit reads the local zone too (it used UTC)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    gettz.cache_clear()
    try:
        value = {"START": "09:00", "END": "10:00", "TIMEZONE": zone}
        cond = {"action": "SCHEDULE_BETWEEN_TIME_RANGE", "key": "CURRENT_TIME", "value": value}
        days = {"DAYS": ["MONDAY"], "TIMEZONE": zone}
        monday = {"action": "SCHEDULE_BETWEEN_DAYS_OF_WEEK", "key": "CURRENT_DAY_OF_WEEK"}
        schema = {"t": _bool_feature([cond]), "d": _bool_feature([{**monday, "value": days}])}
        # 04:00 UTC is 09:30 in Kolkata; 20:00 UTC on a Sunday is 01:30 on Monday there.
        for instant in (
            datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc),
            datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc),
        ):
            frozen_now[0] = instant.timestamp()
            ours = view(schema, clock=lambda: frozen_now[0])
            for name in ("t", "d"):
                assert ours.enabled(name) is powertools(schema).evaluate(name=name, default=None)
            assert ours.enabled("t") or ours.enabled("d")  # each instant proves the zone
    finally:
        monkeypatch.undo()
        time.tzset()
        gettz.cache_clear()


def _warned(fn: Any, *args: Any, **kwargs: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in caught if w.category.__name__ == "PowertoolsUserWarning"]


def test_the_warnings_powertools_gives_are_given_with_the_same_text() -> None:
    """An operator that raises, an empty schema, empty rules: Powertools 3.37's warnings, word
    for word, under flagkit.powertools.PowertoolsUserWarning."""
    from flagkit.powertools import PowertoolsUserWarning

    conditions = [
        {"action": "KEY_GREATER_THAN_VALUE", "key": "age", "value": 18},
        {"action": "ANY_IN_VALUE", "key": "tags", "value": ["a"]},
        {"action": "KEY_IN_VALUE", "key": "tier", "value": "gold"},
        {"action": "STARTSWITH", "key": "tier", "value": "g"},
    ]
    for cond in conditions:
        schema = {"f": _bool_feature([cond])}
        ctx = {"age": "x", "tags": "a", "tier": 5}
        want = _warned(powertools(schema).evaluate, name="f", context=ctx, default=False)
        got = _warned(view(schema).enabled, "f", attributes=ctx)
        assert got == want and len(want) == 1, cond
        assert _warned(view(schema).enabled, "f", attributes={}) == []  # missing: no warning
    for schema in (
        {},
        {"f": {"default": True, "rules": {}}},
        {"f": {"default": True, "rules": None}},
        {"f": {"default": True, "rules": []}},
    ):
        want = _warned(powertools(schema).get_configuration)
        assert _warned(compile_schema, schema) == want and len(want) == 1, schema
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warnings as errors: evaluation still never raises
        schema = {"f": _bool_feature([conditions[0]])}
        assert view(schema).enabled("f", attributes={"age": "x"}) is False
        compile_schema({})
    assert issubclass(PowertoolsUserWarning, UserWarning)


def test_an_envelope_without_jmespath_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """jmespath is imported only for an envelope; missing, it names the extra to install."""
    monkeypatch.setitem(sys.modules, "jmespath", None)
    assert FeatureFlags({"f": {"default": True}}).evaluate(name="f", default=False) is True
    with pytest.raises(flagkit.MissingExtraError, match=r"flagkit-appconfig\[powertools\]"):
        view({"a": {}}, envelope="a")
