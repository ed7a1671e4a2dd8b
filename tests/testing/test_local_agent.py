"""LocalAppConfigAgent over plain HTTP: evaluation per request, as AWS documents the agent.

The requests are made with the standard library's ``http.client``, not flagkit's own client, so
the agent is checked against the wire format the user guide shows (``Context`` headers,
``?flag=``, ``Authorization: Bearer``, ``_variant``). docs/agent.md lists the sources.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flagkit._rules.bucketing import in_split
from flagkit.testing import LocalAppConfigAgent, LocalAppConfigData

APP, ENV, PROFILE = "shop", "prod", "flags"
PATH = f"/applications/{APP}/environments/{ENV}/configurations/{PROFILE}"

# The user guide's multi-variant example ("Creating multi-variant feature flags", procedures).
UI_REFRESH: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "flags" / "ui-refresh.json").read_text()
)
UI_REFRESH["flags"]["checkout"] = {
    "name": "Checkout",
    "attributes": {"limit": {"constraints": {"type": "number"}}},
}
UI_REFRESH["values"]["checkout"] = {"enabled": True, "limit": 3}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def agent() -> Iterator[LocalAppConfigAgent]:
    with LocalAppConfigAgent() as server:
        server.publish(APP, ENV, PROFILE, UI_REFRESH)
        yield server


def get(
    agent: LocalAppConfigAgent,
    path: str = PATH,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One GET with exactly these headers (a name may repeat)."""
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    try:
        conn.putrequest("GET", path)
        for name, value in headers or []:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def flags_of(agent: LocalAppConfigAgent, *context: str, path: str = PATH) -> Any:
    status, _, body = get(agent, path, [("Context", c) for c in context])
    assert status == 200, body
    return json.loads(body)


# -- evaluation per request -------------------------------------------------------------------


def test_without_context_the_default_variant_is_served(agent: LocalAppConfigAgent) -> None:
    """No Context: the default variant, its attributes left out as it is disabled (UG-retrff)."""
    status, headers, body = get(agent)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Configuration-Version"] == "v1"
    assert json.loads(body) == {
        "ui_refresh": {"_variant": "Default Variant", "enabled": False},
        "checkout": {"enabled": True, "limit": 3},
    }


def test_context_picks_the_variant(agent: LocalAppConfigAgent) -> None:
    """A matching Context gives that variant with its attributes (UG-retrff's QA example)."""
    answer = flags_of(agent, "email=jane@qa-testers.mycompany.com")
    assert answer["ui_refresh"] == {"_variant": "QA", "dark_mode_support": True, "enabled": True}
    assert flags_of(agent, "opted_in_to_beta=false")["ui_refresh"]["_variant"] == "Beta Testers"


def test_context_comma_separated_or_repeated_headers_mean_the_same(
    agent: LocalAppConfigAgent,
) -> None:
    """Several context values: repeated headers or commas in one header (UG code sample)."""
    rule = '(and (eq $country "US") (eq $tier "gold"))'
    doc = {
        "version": "1",
        "flags": {"promo": {"name": "Promo"}},
        "values": {
            "promo": {
                "_variants": [
                    {"name": "Gold US", "enabled": True, "rule": rule},
                    {"name": "Off", "enabled": False},
                ]
            }
        },
    }
    agent.publish(APP, ENV, PROFILE, doc)
    one_header = flags_of(agent, "country=US,tier=gold")
    repeated = flags_of(agent, "country=US", "tier=gold")
    spaced = flags_of(agent, " country = US , tier=gold ")
    assert one_header == repeated == spaced == {"promo": {"_variant": "Gold US", "enabled": True}}
    assert flags_of(agent, "country=US")["promo"]["_variant"] == "Off"
    assert agent.requests[-3].context == ("country=US", "tier=gold")


@pytest.mark.parametrize("context", ["country", "=US", "country=US,,tier"])
def test_malformed_context_is_400(agent: LocalAppConfigAgent, context: str) -> None:
    """A Context entry that is not key=value is refused with 400 BadRequest, as text."""
    status, headers, body = get(agent, headers=[("Context", context)])
    assert status == 400 and headers["Content-Type"] == "text/plain"
    assert body.startswith(b"BadRequest")


def test_context_values_are_coerced_as_the_rules_say(agent: LocalAppConfigAgent) -> None:
    """Header values are strings; a numeric rule literal compares them as numbers."""
    doc = {
        "version": "1",
        "flags": {"senior": {"name": "Senior"}},
        "values": {
            "senior": {
                "_variants": [
                    {"name": "Over 65", "enabled": True, "rule": "(gt $age 65)"},
                    {"name": "Default", "enabled": False},
                ]
            }
        },
    }
    agent.publish(APP, ENV, PROFILE, doc)
    assert flags_of(agent, "age=70")["senior"]["_variant"] == "Over 65"
    assert flags_of(agent, "age=9")["senior"]["_variant"] == "Default"
    assert flags_of(agent, "age=old")["senior"]["_variant"] == "Default"


# -- ?flag= -----------------------------------------------------------------------------------


def test_flag_filter_selects_one_or_several_flags(agent: LocalAppConfigAgent) -> None:
    """?flag=key, repeatable, answers with just those flags (UG-retrff)."""
    assert flags_of(agent, path=PATH + "?flag=checkout") == {
        "checkout": {"enabled": True, "limit": 3}
    }
    both = flags_of(agent, "opted_in_to_beta=1", path=PATH + "?flag=checkout&flag=ui_refresh")
    assert list(both) == ["checkout", "ui_refresh"]
    assert both["ui_refresh"]["_variant"] == "Beta Testers"


def test_unknown_flag_in_filter_is_404(agent: LocalAppConfigAgent) -> None:
    """A ?flag= key the profile lacks is 404 ResourceNotFound **[inference]**."""
    status, _, body = get(agent, PATH + "?flag=nope")
    assert status == 404 and b"nope" in body


def test_flag_filter_needs_a_feature_flag_profile(agent: LocalAppConfigAgent) -> None:
    """A freeform profile passes through unchanged; ?flag= on it is 400 (UG: FeatureFlags only)."""
    agent.publish(APP, ENV, "settings", b"log_level: debug\n", content_type="application/x-yaml")
    status, headers, body = get(agent, PATH.replace(PROFILE, "settings"))
    assert (status, headers["Content-Type"], body) == (
        200,
        "application/x-yaml",
        b"log_level: debug\n",
    )
    status, _, body = get(agent, PATH.replace(PROFILE, "settings") + "?flag=log_level")
    assert status == 400 and body.startswith(b"BadRequest")


# -- the bearer token and other refusals ------------------------------------------------------


def test_bearer_token_is_required_when_set() -> None:
    """Started with a token (ACCESS_TOKEN), only 'Authorization: Bearer <token>' is served."""
    with LocalAppConfigAgent(token="s3cret") as agent:
        agent.publish(APP, ENV, PROFILE, UI_REFRESH)
        assert get(agent)[0] == 401
        assert get(agent, headers=[("Authorization", "Bearer wrong")])[0] == 401
        assert get(agent, headers=[("Authorization", "s3cret")])[0] == 401
        assert get(agent, headers=[("Authorization", "Bearer s3cret")])[0] == 200


def test_an_oversized_entity_id_is_400(agent: LocalAppConfigAgent) -> None:
    """Entity-Id is at most 2 KB (UG-agent); a longer one is refused **[inference: 400]**."""
    assert get(agent, headers=[("Entity-Id", "e" * 2048)])[0] == 200
    status, _, body = get(agent, headers=[("Entity-Id", "e" * 2049)])
    assert status == 400 and b"Entity-Id" in body
    assert agent.requests[-2].entity_id == "e" * 2048


def test_unknown_configuration_is_404(agent: LocalAppConfigAgent) -> None:
    """A configuration AppConfig does not have is the agent's 404 ResourceNotFound."""
    status, _, body = get(agent, PATH.replace(PROFILE, "nope"))
    assert (status, body) == (404, b"ResourceNotFound")


# -- how the agent gets configurations --------------------------------------------------------


def test_the_agent_reads_appconfigdata_with_one_session_and_its_token_chain() -> None:
    """The agent starts one session per configuration and polls with each new token."""
    with (
        LocalAppConfigData(poll_interval=0) as data,
        LocalAppConfigAgent(appconfigdata=data) as agent,
    ):
        data.publish(APP, ENV, PROFILE, UI_REFRESH, version_label="v1")
        for _ in range(3):
            get(agent)
        assert [c.operation for c in data.calls] == [
            "StartConfigurationSession",
            *["GetLatestConfiguration"] * 3,
        ]
        assert len(data.sessions) == 1
        off = {
            "version": "1",
            "flags": {"checkout": {}},
            "values": {"checkout": {"enabled": False}},
        }
        data.publish(APP, ENV, PROFILE, off, version_label="v2")
        _, headers, body = get(agent)
        assert headers["Configuration-Version"] == "v2"
        assert json.loads(body) == {"checkout": {"enabled": False}}


def test_the_agent_polls_no_sooner_than_its_interval() -> None:
    """Between polls (AWS default 45 s) the cached version is served; then the new one."""
    clock = FakeClock()
    with LocalAppConfigAgent(poll_interval=45, clock=clock) as agent:
        agent.publish(APP, ENV, PROFILE, {"checkout": {"enabled": True}})
        assert flags_of(agent) == {"checkout": {"enabled": True}}
        agent.publish(APP, ENV, PROFILE, {"checkout": {"enabled": False}})
        clock.now += 44
        assert flags_of(agent) == {"checkout": {"enabled": True}}
        clock.now += 1
        assert flags_of(agent) == {"checkout": {"enabled": False}}


def test_a_failing_data_plane_keeps_the_cached_copy_else_502() -> None:
    """A failed poll serves the last version (UG-lambda); with none cached the agent is 502."""
    with (
        LocalAppConfigData(poll_interval=0) as data,
        LocalAppConfigAgent(appconfigdata=data) as agent,
    ):
        data.publish(APP, ENV, PROFILE, UI_REFRESH, version_label="v1")
        assert get(agent)[0] == 200
        data.inject("internal", 2)
        status, headers, _ = get(agent)
        assert status == 200 and headers["Configuration-Version"] == "v1"
        data.publish(APP, ENV, "other", UI_REFRESH)
        status, _, body = get(agent, PATH.replace(PROFILE, "other"))  # nothing cached for it
        assert status == 502 and body.startswith(b"BadGateway")
        assert get(agent, PATH.replace(PROFILE, "other"))[0] == 200  # and it recovers


def test_the_agent_restarts_a_session_whose_token_expired() -> None:
    """BadRequest (an expired token) makes the agent start a new session and go on."""
    with (
        LocalAppConfigData(poll_interval=0) as data,
        LocalAppConfigAgent(appconfigdata=data) as agent,
    ):
        data.publish(APP, ENV, PROFILE, UI_REFRESH)
        assert get(agent)[0] == 200
        data.inject("expired", operation="GetLatestConfiguration")
        assert get(agent)[0] == 200
        assert len(data.sessions) == 2


# -- the user guide's examples, served by the agent -------------------------------------------

# "Feature flag samples for AWS AppConfig Agent local development mode": basic samples 1 and 2
# (JSON), and multi-variant sample 1 (Ion), verbatim.
BASIC_SAMPLES = [
    {"ui_refresh": {"enabled": True, "new_styleguide_colors": True}},
    {
        "background_worker": {"enabled": True, "num_threads": 4, "queue_name": "MyWorkQueue"},
        "emergency_shutoff_switch": {"enabled": False},
        "logger_settings": {"enabled": True, "level": "INFO"},
    },
]
ION_SAMPLE = """
'tiered_release'::[
  [ (or (and (eq $group "Tier1") (split by::$userId pct::1 seed::"2025.01.01"))
        (and (eq $group "Tier2") (split by::$userId pct::7 seed::"2025.01.01"))),
    '''{"_variant": "ShowFeature", "enabled": true}''' ],
  '''{"_variant": "HideFeature", "enabled": false}''' ]
'button_color'::'''{"enabled": true, "color": "orange"}'''
"""
ION_TYPE = "application/ion;type=AWS.AppConfig.FeatureFlags"


@pytest.mark.parametrize("sample", BASIC_SAMPLES, ids=["sample1", "sample2"])
def test_local_development_basic_samples_are_served_as_they_are(sample: Any) -> None:
    """A basic sample in the retrieval-time format comes back as the same JSON."""
    with LocalAppConfigAgent() as agent:
        agent.publish(APP, ENV, PROFILE, sample)
        assert flags_of(agent) == sample


def test_local_development_ion_sample_is_evaluated_per_request() -> None:
    """The Ion multi-variant sample: Tier2 users inside the seeded 7 % split see the feature."""
    users = [f"user-{i}" for i in range(400)]
    with LocalAppConfigAgent(poll_interval=3600) as agent:
        agent.publish(APP, ENV, PROFILE, ION_SAMPLE, content_type=ION_TYPE)
        assert flags_of(agent) == {
            "tiered_release": {"_variant": "HideFeature", "enabled": False},
            "button_color": {"color": "orange", "enabled": True},
        }
        for user in users:
            tier2 = flags_of(
                agent, f"group=Tier2,userId={user}", path=PATH + "?flag=tiered_release"
            )
            tier3 = flags_of(
                agent, f"group=Tier3,userId={user}", path=PATH + "?flag=tiered_release"
            )
            expected = "ShowFeature" if in_split(user, "2025.01.01", 7) else "HideFeature"
            assert tier2["tiered_release"]["_variant"] == expected
            assert tier3["tiered_release"]["_variant"] == "HideFeature"


def split_flag(*variants: tuple[str, int, str | None]) -> dict[str, Any]:
    """A flag whose variants are bare splits on $email, the default last."""
    values = []
    for name, pct, seed in variants:
        seeded = f' seed::"{seed}"' if seed else ""
        values.append(
            {"name": name, "enabled": True, "rule": f"(split pct::{pct} by::$email{seeded})"}
        )
    values.append({"name": "Default", "enabled": False})
    return {
        "version": "1",
        "flags": {"rollout": {"name": "Rollout"}},
        "values": {"rollout": {"_variants": values}},
    }


@pytest.mark.parametrize(
    ("variants", "shares"),
    [
        ([("A", 20, None), ("B", 20, None)], {"A": 20, "B": 0, "Default": 80}),
        ([("A", 20, None), ("B", 25, None)], {"A": 20, "B": 5, "Default": 75}),
        ([("A", 20, "seed_one"), ("B", 25, "seed_two")], {"A": 20, "B": 20, "Default": 60}),
    ],
    ids=["same-pct", "growing-pct", "two-seeds"],
)
def test_split_operator_page_examples(
    variants: list[tuple[str, int, str | None]], shares: dict[str, int]
) -> None:
    """The split operator page ("Understanding multi-variant feature flag rules"), via the agent.

    Splits on one seed (or none) nest: a second 20 % split after a first gets nobody, a 25 %
    one gets the 5 % beyond the first 20 %. Different seeds are independent: 25 % of the
    remaining 80 % is 20 %.
    """
    emails = [f"person{i}@example.com" for i in range(1000)]
    with LocalAppConfigAgent(poll_interval=3600) as agent:
        agent.publish(APP, ENV, PROFILE, split_flag(*variants))
        seen = dict.fromkeys(shares, 0)
        for email in emails:
            seen[flags_of(agent, f"email={email}")["rollout"]["_variant"]] += 1
    for name, pct in shares.items():
        assert abs(seen[name] / 10 - pct) <= 3.5, (name, seen)
    if shares["B"] == 0:
        assert seen["B"] == 0  # nested exactly, not just about


# -- Entity-Id during a deployment ------------------------------------------------------------


def stored_flag(color: str) -> dict[str, Any]:
    """A one-flag stored document whose attribute tells the versions apart."""
    return {
        "version": "1",
        "flags": {"banner": {"attributes": {"color": {"constraints": {"type": "string"}}}}},
        "values": {"banner": {"enabled": True, "color": color}},
    }


@pytest.fixture
def deploying() -> Iterator[tuple[LocalAppConfigData, LocalAppConfigAgent, FakeClock, Any]]:
    """A local AppConfig on a fake clock with v1 deployed, an agent in front of it, and a
    linear strategy: 20 % more every 2 minutes over 10 minutes, then 5 minutes of bake."""
    clock = FakeClock()
    with LocalAppConfigData(poll_interval=0, clock=clock) as data:
        data.publish(APP, ENV, PROFILE, stored_flag("blue"), version_label="v1")
        control = data.appconfig_client()
        strategy = control.create_deployment_strategy(
            Name="linear-20",
            DeploymentDurationInMinutes=10,
            GrowthType="LINEAR",
            GrowthFactor=20.0,
            FinalBakeTimeInMinutes=5,
            ReplicateTo="NONE",
        )["Id"]
        with LocalAppConfigAgent(appconfigdata=data) as agent:
            yield data, agent, clock, strategy
        control.close()


ENTITIES = [f"customer-{i}" for i in range(200)]


def colors(agent: LocalAppConfigAgent) -> dict[str, str]:
    """The color each entity is served now (one request each, with its Entity-Id)."""
    out = {}
    for entity in ENTITIES:
        status, headers, body = get(agent, headers=[("Entity-Id", entity)])
        assert status == 200, body
        out[entity] = json.loads(body)["banner"]["color"]
        assert headers["Configuration-Version"] == {"blue": "v1", "green": "v2"}.get(
            out[entity], "v3"
        )
    return out


def on_new(served: dict[str, str], color: str) -> set[str]:
    return {entity for entity, c in served.items() if c == color}


def test_entity_id_is_sticky_while_a_deployment_grows(deploying: Any) -> None:
    """Each step reaches about its share of entities; an entity on the new version stays.

    UG-agent: the agent "consistently serves either" version to an Entity-Id for the rest of
    the deployment; the share follows the deployment's PercentageComplete.
    """
    data, agent, clock, strategy = deploying
    data.publish(APP, ENV, PROFILE, stored_flag("green"), version_label="v2", strategy=strategy)
    previous: set[str] = set()
    for pct in [20, 40, 60, 80]:
        served = colors(agent)
        assert served == colors(agent)  # the same answer again within the step
        new = on_new(served, "green")
        assert abs(len(new) / len(ENTITIES) * 100 - pct) <= 10, (pct, len(new))
        assert previous <= new, "an entity went back to the previous version"
        assert set(served.values()) <= {"blue", "green"}
        previous = new
        clock.now += 120
    assert on_new(colors(agent), "green") == set(ENTITIES)  # 100 %, baking
    clock.now += 300
    assert on_new(colors(agent), "green") == set(ENTITIES)  # complete: everyone


def test_without_entity_id_the_agent_serves_its_own_version(deploying: Any) -> None:
    """No Entity-Id: the version the agent's own session was served (one, for everyone)."""
    data, agent, _, strategy = deploying
    data.publish(APP, ENV, PROFILE, stored_flag("green"), version_label="v2", strategy=strategy)
    first = flags_of(agent)["banner"]["color"]
    assert {flags_of(agent)["banner"]["color"] for _ in range(20)} == {first}


def test_a_new_deployment_buckets_entities_afresh(deploying: Any) -> None:
    """Stickiness lasts one deployment: the next one draws its share anew."""
    data, agent, clock, strategy = deploying
    data.publish(APP, ENV, PROFILE, stored_flag("green"), version_label="v2", strategy=strategy)
    first = on_new(colors(agent), "green")
    clock.now += 900  # complete
    data.publish(APP, ENV, PROFILE, stored_flag("red"), version_label="v3", strategy=strategy)
    second = on_new(colors(agent), "red")
    assert first and second and first != second


def test_a_stopped_deployment_serves_every_entity_the_previous_version(deploying: Any) -> None:
    """StopDeployment rolls back: entities on the new version get the previous one again."""
    data, agent, _, strategy = deploying
    number = data.publish(APP, ENV, PROFILE, stored_flag("green"), version_label="v2",
                          strategy=strategy)  # fmt: skip
    assert on_new(colors(agent), "green")
    app_id, env_id, _ = data.create(APP, ENV, PROFILE)
    control = data.appconfig_client()
    deployment = control.list_deployments(ApplicationId=app_id, EnvironmentId=env_id)["Items"][0]
    assert deployment["ConfigurationVersion"] == str(number)
    control.stop_deployment(
        ApplicationId=app_id,
        EnvironmentId=env_id,
        DeploymentNumber=deployment["DeploymentNumber"],
    )
    control.close()
    assert set(colors(agent).values()) == {"blue"}
