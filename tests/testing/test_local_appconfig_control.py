"""The local AppConfig's control plane, checked against botocore's ``appconfig`` model.

Real boto3 (and, once, the AWS CLI) over loopback HTTP: status codes, error codes and members,
limits, and what the data plane then serves (the retrieval-time format, or freeform bytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import flagkit
from flagkit._snapshot import snapshot_from_bytes
from flagkit.testing import LocalAppConfigData

APP, ENV, PROFILE = "shop", "prod", "flags"
STORED = {
    "version": "1",
    "flags": {
        "banner": {"name": "Banner", "attributes": {"text": {"constraints": {"type": "string"}}}},
        "legacy": {"name": "Legacy", "attributes": {"level": {}}},
    },
    "values": {"banner": {"enabled": True, "text": "hi"}, "legacy": {"enabled": False, "level": 2}},
}
# The user guide's multi-variant example (appconfig-creating-multi-variant-feature-flags-procedures)
UI_REFRESH = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "flags" / "ui-refresh.json").read_text()
)


@pytest.fixture
def server() -> Iterator[LocalAppConfigData]:
    with LocalAppConfigData(poll_interval=0) as srv:
        yield srv


@pytest.fixture
def control(server: LocalAppConfigData) -> Any:
    return server.appconfig_client()


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, dict[str, Any]]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def latest(server: LocalAppConfigData, profile: str = PROFILE, **start: Any) -> dict[str, Any]:
    data = server.client()
    token = data.start_configuration_session(
        ApplicationIdentifier=APP,
        EnvironmentIdentifier=ENV,
        ConfigurationProfileIdentifier=profile,
        **start,
    )["InitialConfigurationToken"]
    answer = data.get_latest_configuration(ConfigurationToken=token)
    return {**answer, "Body": answer["Configuration"].read()}


def test_basic_profile_serves_the_data_view_and_keeps_the_stored_document(
    server: LocalAppConfigData, control: Any
) -> None:
    """GetLatestConfiguration: flattened JSON; GetHostedConfigurationVersion: the stored bytes."""
    stored = json.dumps(STORED).encode()
    server.publish(APP, ENV, PROFILE, stored, version_label="v1")
    served = latest(server)
    assert served["ContentType"] == "application/json"
    # attributes of a disabled flag are left out ("If a flag sets enabled to true, any
    # attributes of the flag will be present as well")
    assert json.loads(served["Body"]) == {
        "banner": {"enabled": True, "text": "hi"},
        "legacy": {"enabled": False},
    }
    app, _, profile = server.create(APP, ENV, PROFILE)
    hosted = control.get_hosted_configuration_version(
        ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=1
    )
    assert hosted["Content"].read() == stored and hosted["VersionLabel"] == "v1"


def test_multi_variant_profile_serves_ion_that_evaluates_like_the_stored_document(
    server: LocalAppConfigData,
) -> None:
    """At least one multi-variant flag: Amazon Ion with the rules, evaluated the same way."""
    server.publish(APP, ENV, PROFILE, UI_REFRESH, version_label="v1")
    served = latest(server)
    assert served["ContentType"] == "application/ion;type=AWS.AppConfig.FeatureFlags"
    assert b"'ui_refresh'::[" in served["Body"]
    assert b"'''{\"_variant\": \"Default Variant\", \"enabled\": false}'''" in served["Body"]
    from_ion = snapshot_from_bytes(served["Body"], content_type=served["ContentType"])
    from_stored = snapshot_from_bytes(json.dumps(UI_REFRESH))
    contexts = [{"email": f"user{i}@example.com"} for i in range(200)]
    contexts += [{"email": "a@qa-testers.mycompany.com"}, {"opted_in_to_beta": "true"}, {}]
    for context in contexts:
        ion = from_ion.flags["ui_refresh"].select("u", context)
        stored = from_stored.flags["ui_refresh"].select("u", context)
        assert (ion.name, ion.enabled) == (stored.name, stored.enabled), context
        assert dict(ion.values) == (dict(stored.values) if stored.enabled else {})


def test_feature_flag_profile_refuses_what_the_schema_refuses(
    server: LocalAppConfigData, control: Any
) -> None:
    """CreateHostedConfigurationVersion: BadRequestException, Reason InvalidConfiguration."""
    app, _, profile = server.create(APP, ENV, PROFILE)
    bad = {"version": "1", "flags": {"Bad-Key": {"name": "x"}}}
    with pytest.raises(ClientError) as excinfo:
        control.create_hosted_configuration_version(
            ApplicationId=app, ConfigurationProfileId=profile,
            Content=json.dumps(bad).encode(), ContentType="application/json",
        )  # fmt: skip
    status, code, response = error(excinfo)
    assert (status, code, response["Reason"]) == (
        400,
        "BadRequestException",
        "InvalidConfiguration",
    )
    assert "Bad-Key" in response["Details"]["InvalidConfiguration"][0]["Location"]


def test_freeform_profile_keeps_content_and_content_type(server: LocalAppConfigData) -> None:
    server.create(APP, ENV, "yaml", profile_type="AWS.Freeform")
    server.publish(APP, ENV, "yaml", b"a: 1\n", content_type="application/x-yaml")
    served = latest(server, "yaml")
    assert (served["Body"], served["ContentType"]) == (b"a: 1\n", "application/x-yaml")


def test_latest_version_number_is_a_lock(server: LocalAppConfigData, control: Any) -> None:
    """A stale LatestVersionNumber is ConflictException (409); the current one succeeds."""
    app, _, profile = server.create(APP, ENV, PROFILE)
    create = control.create_hosted_configuration_version
    args = {"ApplicationId": app, "ConfigurationProfileId": profile,
            "Content": json.dumps(STORED).encode(), "ContentType": "application/json"}  # fmt: skip
    assert create(**args, LatestVersionNumber=0)["VersionNumber"] == 1
    with pytest.raises(ClientError) as excinfo:
        create(**args, LatestVersionNumber=0)
    assert error(excinfo)[:2] == (409, "ConflictException")
    assert create(**args, LatestVersionNumber=1)["VersionNumber"] == 2


def test_one_megabyte_is_the_limit(server: LocalAppConfigData, control: Any) -> None:
    """1 MB is accepted; a byte more is PayloadTooLargeException (413) in KILOBYTES."""
    app, _, profile = server.create(APP, ENV, "big", profile_type="AWS.Freeform")
    create = control.create_hosted_configuration_version
    args = {"ApplicationId": app, "ConfigurationProfileId": profile, "ContentType": "text/plain"}
    assert create(**args, Content=b"x" * 1024 * 1024)["VersionNumber"] == 1
    with pytest.raises(ClientError) as excinfo:
        create(**args, Content=b"x" * (1024 * 1024 + 1))
    status, code, response = error(excinfo)
    assert (status, code, response["Measure"], response["Limit"]) == (
        413, "PayloadTooLargeException", "KILOBYTES", 1024.0)  # fmt: skip


@pytest.mark.parametrize(("label", "ok"), [("123", False), ("v1.2.0", True), ("2024-01", True)])
def test_version_label_needs_a_non_digit(server: LocalAppConfigData, label: str, ok: bool) -> None:
    """VersionLabel pattern ``.*[^0-9].*``: "must contain at least one non-numeric character"."""
    if ok:
        assert server.publish(APP, ENV, PROFILE, STORED, version_label=label) == 1
        assert latest(server)["VersionLabel"] == label
    else:
        with pytest.raises(ClientError, match="BadRequestException"):
            server.publish(APP, ENV, PROFILE, STORED, version_label=label)


def test_monitors_are_at_most_five(server: LocalAppConfigData, control: Any) -> None:
    app = control.create_application(Name="a")["Id"]
    monitors = [
        {"AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:a{i}"} for i in range(6)
    ]
    with pytest.raises(ClientError) as excinfo:
        control.create_environment(ApplicationId=app, Name="e", Monitors=monitors)
    assert error(excinfo)[:2] == (400, "BadRequestException")
    env = control.create_environment(ApplicationId=app, Name="e", Monitors=monitors[:5])
    assert env["ResponseMetadata"]["HTTPStatusCode"] == 201 and len(env["Monitors"]) == 5


def test_predefined_and_custom_strategies(control: Any) -> None:
    """The AppConfig.* strategies carry the AWS CLI example's values; custom ones get an ID."""
    listed = {s["Id"]: s for s in control.list_deployment_strategies()["Items"]}
    assert {k: (s["GrowthType"], s["GrowthFactor"], s["DeploymentDurationInMinutes"],
                s["FinalBakeTimeInMinutes"]) for k, s in listed.items()} == {
        "AppConfig.Linear20PercentEvery6Minutes": ("LINEAR", 20.0, 30, 30),
        "AppConfig.Canary10Percent20Minutes": ("EXPONENTIAL", 10.0, 20, 10),
        "AppConfig.AllAtOnce": ("LINEAR", 100.0, 0, 10),
        "AppConfig.Linear50PercentEvery30Seconds": ("LINEAR", 50.0, 1, 1),
    }  # fmt: skip
    created = control.create_deployment_strategy(
        Name="slow", DeploymentDurationInMinutes=60, GrowthFactor=25, FinalBakeTimeInMinutes=5
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(created["Id"]) in range(4, 8) and created["Id"].isalnum()
    assert control.get_deployment_strategy(DeploymentStrategyId=created["Id"])["Name"] == "slow"
    with pytest.raises(ClientError, match="BadRequestException"):
        control.create_deployment_strategy(
            Name="x", DeploymentDurationInMinutes=1441, GrowthFactor=10
        )


def test_list_calls_page_with_next_token(control: Any) -> None:
    for name in ("a", "b", "c"):
        control.create_application(Name=name)
    first = control.list_applications(MaxResults=2)
    assert [a["Name"] for a in first["Items"]] == ["a", "b"] and "NextToken" in first
    pages = control.get_paginator("list_applications").paginate(PaginationConfig={"PageSize": 1})
    assert [a["Name"] for page in pages for a in page["Items"]] == ["a", "b", "c"]


def test_unknown_resources_are_404(control: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        control.get_application(ApplicationId="nope123")
    status, code, response = error(excinfo)
    assert (status, code, response["ResourceName"]) == (
        404,
        "ResourceNotFoundException",
        "Application",
    )


def test_required_minimum_poll_interval_sets_the_session_interval() -> None:
    """A session asking 45 s is told 45 (below the 60 s default); one asking none is told 60."""
    with LocalAppConfigData() as server:  # the AWS default rule: 60 s when nothing is asked
        server.publish(APP, ENV, PROFILE, STORED)
        assert (
            latest(server, RequiredMinimumPollIntervalInSeconds=45)["NextPollIntervalInSeconds"]
            == 45
        )
        assert latest(server)["NextPollIntervalInSeconds"] == 60


def test_the_aws_cli_drives_the_control_plane(server: LocalAppConfigData, tmp_path: Path) -> None:
    """A client the project did not write: ``aws appconfig ... --endpoint-url``."""
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed (pip install awscli; part of the dev extra)")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1",
    }

    def cli(*args: str) -> dict[str, Any]:
        command = [str(aws), "appconfig", *args, "--endpoint-url", server.endpoint_url]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    app = cli("create-application", "--name", APP)["Id"]
    env_id = cli("create-environment", "--application-id", app, "--name", ENV)["Id"]
    profile = cli("create-configuration-profile", "--application-id", app, "--name", PROFILE,
                  "--location-uri", "hosted", "--type", "AWS.AppConfig.FeatureFlags")["Id"]  # fmt: skip
    content = tmp_path / "flags.json"
    content.write_text(json.dumps(STORED))
    version = cli("create-hosted-configuration-version", "--application-id", app,
                  "--configuration-profile-id", profile, "--content", f"fileb://{content}",
                  "--content-type", "application/json", "--version-label", "cli-1",
                  str(tmp_path / "out.json"))  # fmt: skip
    assert version["VersionNumber"] == 1
    assert (tmp_path / "out.json").read_bytes() == content.read_bytes()
    deployment = cli("start-deployment", "--application-id", app, "--environment-id", env_id,
                     "--deployment-strategy-id", "AppConfig.AllAtOnce",
                     "--configuration-profile-id", profile, "--configuration-version", "1")  # fmt: skip
    assert (deployment["DeploymentNumber"], deployment["State"]) == (1, "BAKING")
    got = cli("get-deployment", "--application-id", app, "--environment-id", env_id,
              "--deployment-number", "1")  # fmt: skip
    assert got["PercentageComplete"] == 100.0
    source = flagkit.AppConfigSource(APP, ENV, PROFILE, client=server.client())
    with flagkit.Flags(source, start=False) as flags:
        assert flags.refresh() and flags.version == "cli-1"
        assert flags.get_str("banner", "text", "") == "hi"


def test_every_answer_has_only_members_the_model_defines(server: LocalAppConfigData) -> None:
    """Each JSON body and header the control plane sends is a member of the model's output."""
    control = server.appconfig_client()
    seen: dict[str, int] = {}

    def check(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        status = response_dict["status_code"]
        shape = operation_model.output_shape
        if status >= 300 or shape is None:
            return
        seen[operation_model.name] = status
        assert status == operation_model.http.get("responseCode", 200), operation_model.name
        members = shape.members
        payload = shape.serialization.get("payload")
        wire_headers = {
            m.serialization["name"].lower() for m in members.values()
            if m.serialization.get("location") == "header"
        }  # fmt: skip
        if payload is None:
            body = json.loads(response_dict["body"])
            assert set(body) <= set(members), (operation_model.name, set(body) - set(members))
        ours = {k.lower() for k in response_dict["headers"]} - {
            "content-length", "content-type", "x-amzn-requestid", "server", "date", "connection"}  # fmt: skip
        assert ours <= wire_headers, (operation_model.name, ours - wire_headers)

    control.meta.events.register("before-parse.appconfig.*", check)
    app = control.create_application(Name=APP, Description="shop")["Id"]
    monitor = {"AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"}
    env = control.create_environment(ApplicationId=app, Name=ENV, Monitors=[monitor])["Id"]
    profile = control.create_configuration_profile(
        ApplicationId=app, Name=PROFILE, LocationUri="hosted", Type="AWS.AppConfig.FeatureFlags"
    )["Id"]
    control.create_hosted_configuration_version(
        ApplicationId=app, ConfigurationProfileId=profile, Content=json.dumps(STORED).encode(),
        ContentType="application/json", VersionLabel="v1", Description="first",
    )  # fmt: skip
    strategy = control.create_deployment_strategy(
        Name="s", DeploymentDurationInMinutes=10, GrowthFactor=50
    )["Id"]
    start = {"ApplicationId": app, "EnvironmentId": env}
    control.start_deployment(**start, DeploymentStrategyId=strategy,
                             ConfigurationProfileId=profile, ConfigurationVersion="1")  # fmt: skip
    for call, kwargs in [
        (control.get_application, {"ApplicationId": app}),
        (control.list_applications, {}),
        (control.get_environment, start),
        (control.list_environments, {"ApplicationId": app}),
        (control.get_configuration_profile, {"ApplicationId": app, "ConfigurationProfileId": profile}),
        (control.list_configuration_profiles, {"ApplicationId": app}),
        (control.get_hosted_configuration_version,
         {"ApplicationId": app, "ConfigurationProfileId": profile, "VersionNumber": 1}),
        (control.list_hosted_configuration_versions,
         {"ApplicationId": app, "ConfigurationProfileId": profile}),
        (control.get_deployment_strategy, {"DeploymentStrategyId": strategy}),
        (control.list_deployment_strategies, {}),
        (control.get_deployment, {**start, "DeploymentNumber": 1}),
        (control.list_deployments, start),
        (control.stop_deployment, {**start, "DeploymentNumber": 1}),
    ]:  # fmt: skip
        call(**kwargs)
    assert len(seen) == 19 and seen["StopDeployment"] == 202 and seen["StartDeployment"] == 201
