"""Publishing through the AWS API: what ``LocalAppConfigData.publish()`` does, call by call.

A new document reaches a session the way it does on AWS: CreateHostedConfigurationVersion,
then StartDeployment, made with a real boto3 ``appconfig`` client over loopback HTTP. What
does not exist yet (application, environment, profile, the instant strategy) is created first
with the matching Create call, and found again with the List calls; the IDs are then kept.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flagkit._exceptions import MissingExtraError
from flagkit.testing._appconfig_store import FEATURE_FLAGS, FREEFORM

__all__ = ["INSTANT", "Publisher", "boto3_client", "guess_profile_type"]

# A real custom strategy (CreateDeploymentStrategy), for publish(): everyone at once, no bake.
INSTANT = {
    "Name": "flagkit-instant",
    "Description": "flagkit.testing: 100 % at once, no bake (publish())",
    "DeploymentDurationInMinutes": 0,
    "FinalBakeTimeInMinutes": 0,
    "GrowthFactor": 100.0,
    "GrowthType": "LINEAR",
}


def boto3_client(service: str, endpoint_url: str, overrides: Mapping[str, Any]) -> Any:
    """A real boto3 client for the local server: fake credentials, one attempt, no proxy."""
    try:
        # Imported by name: boto3 is an optional extra, and ships no type information.
        boto3 = importlib.import_module("boto3")
        config_module = importlib.import_module("botocore.config")
    except ImportError as exc:
        raise MissingExtraError("aws", "boto3") from exc
    options: dict[str, Any] = {
        # One attempt: a fault injected once must reach the code under test, not a retry.
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "connect_timeout": 2,
        "read_timeout": 5,
        "proxies": {},  # loopback must never go through an HTTP(S)_PROXY from the env
    }
    options.update(overrides)
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106  # a fake for a fake server
        config=config_module.Config(**options),
    )


def guess_profile_type(body: bytes, content_type: str) -> str:
    """A stored feature-flag document (top-level string ``version``) -> FeatureFlags; else
    Freeform, whose bytes AppConfig serves as they are."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return FREEFORM
    try:
        data = json.loads(body)
    except ValueError:
        return FREEFORM
    is_stored = isinstance(data, dict) and isinstance(data.get("version"), str)
    return FEATURE_FLAGS if is_stored else FREEFORM


class Publisher:
    """Finds or creates resources by name and deploys versions, through one boto3 client."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client_factory = client
        self._client: Any = None
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, ...], str] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def ensure(
        self,
        application: str,
        environment: str,
        profile: str,
        *,
        profile_type: str,
        monitors: tuple[str, ...] = (),
    ) -> tuple[str, str, str]:
        """The IDs of these names, created (with these settings) if missing."""
        with self._lock:
            app_id = self._id(
                ("app", application),
                lambda: self.client.create_application(Name=application),
                application,
                paginate="list_applications",
            )
            env_id = self._id(
                ("env", app_id, environment),
                lambda: self.client.create_environment(
                    ApplicationId=app_id,
                    Name=environment,
                    Monitors=[{"AlarmArn": arn} for arn in monitors],
                ),
                environment,
                paginate="list_environments",
                ApplicationId=app_id,
            )
            profile_id = self._id(
                ("profile", app_id, profile),
                lambda: self.client.create_configuration_profile(
                    ApplicationId=app_id, Name=profile, LocationUri="hosted", Type=profile_type
                ),
                profile,
                paginate="list_configuration_profiles",
                ApplicationId=app_id,
            )
            return app_id, env_id, profile_id

    def _id(
        self,
        key: tuple[str, ...],
        create: Callable[[], Any],
        name: str,
        *,
        paginate: str,
        **params: Any,
    ) -> str:
        if key not in self._ids:
            pages = self.client.get_paginator(paginate).paginate(**params)
            found = next(
                (i["Id"] for page in pages for i in page["Items"] if i["Name"] == name), None
            )
            self._ids[key] = found if found is not None else create()["Id"]
        return self._ids[key]

    def instant_strategy(self) -> str:
        with self._lock:
            if ("strategy",) not in self._ids:
                pages = self.client.get_paginator("list_deployment_strategies").paginate()
                found = next(
                    (s["Id"] for p in pages for s in p["Items"] if s["Name"] == INSTANT["Name"]),
                    None,
                )
                if found is None:
                    found = self.client.create_deployment_strategy(**INSTANT)["Id"]
                self._ids[("strategy",)] = found
            return self._ids[("strategy",)]

    def publish(
        self,
        ids: tuple[str, str, str],
        body: bytes,
        *,
        content_type: str,
        version_label: str | None,
        strategy: str | None,
    ) -> tuple[int, int]:
        """CreateHostedConfigurationVersion + StartDeployment: (version, deployment number)."""
        app_id, env_id, profile_id = ids
        extra = {} if version_label is None else {"VersionLabel": version_label}
        created = self.client.create_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            Content=body,
            ContentType=content_type,
            **extra,
        )
        version = int(created["VersionNumber"])
        deployment = self.client.start_deployment(
            ApplicationId=app_id,
            EnvironmentId=env_id,
            DeploymentStrategyId=strategy or self.instant_strategy(),
            ConfigurationProfileId=profile_id,
            ConfigurationVersion=str(version),
        )
        return version, int(deployment["DeploymentNumber"])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
