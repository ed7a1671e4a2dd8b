"""Deployments on the local AppConfig, driven by real boto3 over loopback and a fake clock.

A linear 20 % deployment reaches about 20 % more sessions per step; a CloudWatch alarm (moto's,
over real boto3) rolls a deployment back; StopDeployment rolls back or reverts. Each session is
a deployment target, bucketed stably for the whole deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from flagkit.testing import LocalAppConfigData
from test_guard import make_alarm  # tests/ is on the path (its conftest.py)

APP, ENV, PROFILE = "shop", "prod", "flags"
MINUTE = 60.0
SESSIONS = 200


def document(label: str) -> dict[str, Any]:
    """A stored feature-flag document whose one attribute says which version it is."""
    return {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout", "attributes": {"v": {}}}},
        "values": {"checkout": {"enabled": True, "v": label}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * MINUTE


class Sessions:
    """``n`` configuration sessions, each remembering the version label it was last sent."""

    def __init__(self, server: LocalAppConfigData, n: int) -> None:
        self.client = server.client()
        self.tokens: list[str] = []
        self.labels: list[str | None] = [None] * n
        for _ in range(n):
            started = self.client.start_configuration_session(
                ApplicationIdentifier=APP,
                EnvironmentIdentifier=ENV,
                ConfigurationProfileIdentifier=PROFILE,
            )
            self.tokens.append(started["InitialConfigurationToken"])

    def poll(self) -> float:
        """Every session polls once; the share now holding ``v2``."""
        for i, token in enumerate(self.tokens):
            answer = self.client.get_latest_configuration(ConfigurationToken=token)
            self.tokens[i] = answer["NextPollConfigurationToken"]
            if answer["Configuration"].read():
                self.labels[i] = answer.get("VersionLabel")
        return self.labels.count("v2") / len(self.labels)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[LocalAppConfigData]:
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, document("v1"), version_label="v1")
        yield srv


def ids(server: LocalAppConfigData) -> dict[str, str]:
    app, env, _ = server.create(APP, ENV, PROFILE)
    return {"ApplicationId": app, "EnvironmentId": env}


def test_linear_20_percent_reaches_the_sessions_step_by_step(
    server: LocalAppConfigData, clock: Clock
) -> None:
    """AppConfig.Linear20PercentEvery6Minutes: 20, 40, ... 100 % of 200 sessions; none go back."""
    sessions = Sessions(server, SESSIONS)
    assert sessions.poll() == 0.0
    server.publish(APP, ENV, PROFILE, document("v2"), version_label="v2",
                   strategy="AppConfig.Linear20PercentEvery6Minutes")  # fmt: skip
    control = server.appconfig_client()
    on_new: set[int] = set()
    for step in range(1, 6):
        share = sessions.poll()
        deployment = control.get_deployment(**ids(server), DeploymentNumber=2)
        assert deployment["State"] == "DEPLOYING"
        assert deployment["PercentageComplete"] == 20.0 * step
        assert abs(share - 0.2 * step) <= 0.07, (step, share)
        now_new = {i for i, label in enumerate(sessions.labels) if label == "v2"}
        assert on_new <= now_new  # a session on the new version stays on it
        on_new = now_new
        clock.advance(6)
    assert sessions.poll() == 1.0
    baking = control.get_deployment(**ids(server), DeploymentNumber=2)
    assert baking["State"] == "BAKING" and baking["PercentageComplete"] == 100.0
    clock.advance(30)  # FinalBakeTimeInMinutes
    done = control.get_deployment(**ids(server), DeploymentNumber=2)
    assert done["State"] == "COMPLETE"
    events = [e["EventType"] for e in reversed(done["EventLog"])]  # most recent first on the wire
    assert events == ["DEPLOYMENT_STARTED"] + ["PERCENTAGE_UPDATED"] * 5 + [
        "BAKE_TIME_STARTED",
        "DEPLOYMENT_COMPLETED",
    ]


def test_exponential_growth_doubles_the_growth_factor(
    server: LocalAppConfigData, clock: Clock
) -> None:
    """AppConfig.Canary10Percent20Minutes: G*(2^N) -> 10, 20, 40, 80, 100 over the duration."""
    server.publish(APP, ENV, PROFILE, document("v2"), version_label="v2",
                   strategy="AppConfig.Canary10Percent20Minutes")  # fmt: skip
    control = server.appconfig_client()
    seen = []
    for _ in range(5):
        seen.append(control.get_deployment(**ids(server), DeploymentNumber=2)["PercentageComplete"])
        clock.advance(4)
    assert seen == [10.0, 20.0, 40.0, 80.0, 100.0]


def test_a_second_deployment_during_one_in_progress_conflicts(server: LocalAppConfigData) -> None:
    """One deployment per environment at a time: StartDeployment answers ConflictException."""
    server.publish(
        APP, ENV, PROFILE, document("v2"), version_label="v2", strategy="AppConfig.AllAtOnce"
    )  # fmt: skip (bakes for 10 minutes)
    control = server.appconfig_client()
    with pytest.raises(ClientError) as excinfo:
        control.start_deployment(
            **ids(server),
            DeploymentStrategyId="AppConfig.AllAtOnce",
            ConfigurationProfileId=server.create(APP, ENV, PROFILE)[2],
            ConfigurationVersion="v1",  # a version label names the version, too
        )
    assert excinfo.value.response["Error"]["Code"] == "ConflictException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


# -- rollback on a CloudWatch alarm --------------------------------------------------------------


def alarm_arn(cw: Any, name: str) -> str:
    make_alarm(cw, name)
    return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])


@pytest.mark.parametrize(
    ("strategy", "minutes", "phase"),
    [
        ("AppConfig.Linear20PercentEvery6Minutes", 13, "DEPLOYING"),  # at 60 %
        ("AppConfig.AllAtOnce", 5, "BAKING"),  # halfway through the 10-minute bake
    ],
)
def test_alarm_rolls_back_and_every_session_gets_the_previous_version(
    cloudwatch: Any, clock: Clock, strategy: str, minutes: int, phase: str
) -> None:
    """A monitored alarm in ALARM during deployment or bake: ROLLED_BACK, v1 for everyone."""
    name = f"checkout-5xx-{phase.lower()}"
    arn = alarm_arn(cloudwatch, name)
    with LocalAppConfigData(poll_interval=0, clock=clock, cloudwatch=cloudwatch) as server:
        server.create(APP, ENV, PROFILE, monitors=[arn])
        server.publish(APP, ENV, PROFILE, document("v1"), version_label="v1")
        sessions = Sessions(server, 50)
        sessions.poll()
        server.publish(APP, ENV, PROFILE, document("v2"), version_label="v2", strategy=strategy)
        clock.advance(minutes)
        assert sessions.poll() > 0.3
        control = server.appconfig_client()
        assert control.get_deployment(**ids(server), DeploymentNumber=2)["State"] == phase
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
        assert sessions.poll() == 0.0
        assert set(sessions.labels) == {"v1"}
        deployment = control.get_deployment(**ids(server), DeploymentNumber=2)
        assert deployment["State"] == "ROLLED_BACK"
        started = next(e for e in deployment["EventLog"] if e["EventType"] == "ROLLBACK_STARTED")
        assert started["TriggeredBy"] == "CLOUDWATCH_ALARM" and name in started["Description"]
        environment = control.get_environment(**ids(server))
        assert environment["State"] == "ROLLED_BACK"
        assert environment["Monitors"] == [{"AlarmArn": arn}]


def test_an_alarm_that_stays_ok_lets_the_deployment_complete(cloudwatch: Any, clock: Clock) -> None:
    arn = alarm_arn(cloudwatch, "calm")
    with LocalAppConfigData(poll_interval=0, clock=clock, cloudwatch=cloudwatch) as server:
        server.create(APP, ENV, PROFILE, monitors=[arn])
        server.publish(APP, ENV, PROFILE, document("v1"), version_label="v1",
                       strategy="AppConfig.AllAtOnce")  # fmt: skip
        clock.advance(10)
        control = server.appconfig_client()
        assert control.get_deployment(**ids(server), DeploymentNumber=1)["State"] == "COMPLETE"


# -- StopDeployment ------------------------------------------------------------------------------


def test_stop_deployment_rolls_back_an_active_one(server: LocalAppConfigData, clock: Clock) -> None:
    """StopDeployment is DELETE answering 202; the deployment is ROLLED_BACK, v1 served again."""
    sessions = Sessions(server, 40)
    server.publish(APP, ENV, PROFILE, document("v2"), version_label="v2",
                   strategy="AppConfig.Linear50PercentEvery30Seconds")  # fmt: skip
    assert 0.0 < sessions.poll() < 1.0
    control = server.appconfig_client()
    stopped = control.stop_deployment(**ids(server), DeploymentNumber=2)
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert stopped["State"] == "ROLLED_BACK"
    assert sessions.poll() == 0.0
    clock.advance(10)  # a stopped deployment does not resume
    assert sessions.poll() == 0.0


def test_stop_deployment_on_a_complete_one_needs_allow_revert(server: LocalAppConfigData) -> None:
    """COMPLETE: refused (BadRequestException) unless AllowRevert, which makes it REVERTED."""
    server.publish(APP, ENV, PROFILE, document("v2"), version_label="v2")
    sessions = Sessions(server, 5)
    assert sessions.poll() == 1.0
    control = server.appconfig_client()
    with pytest.raises(ClientError) as excinfo:
        control.stop_deployment(**ids(server), DeploymentNumber=2)
    assert excinfo.value.response["Error"]["Code"] == "BadRequestException"
    reverted = control.stop_deployment(**ids(server), DeploymentNumber=2, AllowRevert=True)
    assert reverted["State"] == "REVERTED"
    assert sessions.poll() == 0.0 and set(sessions.labels) == {"v1"}
    listed = control.list_deployments(**ids(server))["Items"]
    assert [d["DeploymentNumber"] for d in listed] == [2, 1]  # descending
    assert [d["State"] for d in listed] == ["REVERTED", "COMPLETE"]
