"""Publishing a document through the AppConfig control plane: a small function API.

In: a boto3 ``appconfig`` client (any endpoint: AWS, or ``flagkit.testing.LocalAppConfigData``)
and names or IDs. Out: plain results (:class:`Published`, the ``Deployment`` dict) or a
:class:`ReleaseError` with a one-line message. ``flagkit publish``, ``deployments`` and
``stop`` are thin wrappers (``release_cmd.py``); ``flagkit demo`` and ``flagkit diff`` may call
these functions directly.

The calls, in order (botocore ``appconfig`` 2019-10-09 model):

1. the file is validated locally by the validator the local AppConfig uses for
   ``AWS.AppConfig.FeatureFlags`` (AWS's schema) and by the client's loader; a bad file sends
   nothing;
2. names become IDs through ListApplications / ListEnvironments / ListConfigurationProfiles;
3. ListHostedConfigurationVersions reads the latest version number, which is passed as
   ``LatestVersionNumber`` to CreateHostedConfigurationVersion: the model calls it "an optional
   locking token used to prevent race conditions from overwriting configuration updates", so a
   publish that raced another is refused with ConflictException instead of silently winning;
4. StartDeployment with a strategy given by ID or name, or else the strategy of the
   environment's newest deployment (ListDeployments + GetDeployment, since
   ``DeploymentSummary`` has no strategy ID), or else ``AppConfig.AllAtOnce``;
5. :func:`wait_for` polls GetDeployment until COMPLETE, ROLLED_BACK or REVERTED.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVE",
    "DEFAULT_STRATEGY",
    "NO_REGION",
    "TERMINAL",
    "Published",
    "ReleaseError",
    "Target",
    "alarm_that_fired",
    "api_errors",
    "find_target",
    "list_deployments",
    "publish_file",
    "stop",
    "validate_file",
    "wait_for",
]

DEFAULT_STRATEGY = "AppConfig.AllAtOnce"
NO_REGION = "no AWS region: pass --region, or set AWS_DEFAULT_REGION or region in ~/.aws/config"
# The model's DeploymentState: these three do not change any more.
TERMINAL = frozenset({"COMPLETE", "ROLLED_BACK", "REVERTED"})
ACTIVE = frozenset({"DEPLOYING", "BAKING", "VALIDATING", "ROLLING_BACK"})
# Error codes that mean "these credentials may not do this" (IAM) or "these are no credentials".
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)


class ReleaseError(Exception):
    """A one-line reason the release step did not happen; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@contextmanager
def api_errors() -> Iterator[None]:
    """Translate botocore's errors into :class:`ReleaseError`, by error code, in one place."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
    )

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or code
        action = f"appconfig:{exc.operation_name}"
        if code in _DENIED:
            raise ReleaseError(
                f"{action} was denied ({code}); these credentials need IAM permission for "
                f"{action} on the application",
                2,
            ) from exc
        raise ReleaseError(f"{exc.operation_name}: {code}: {message}") from exc
    except NoRegionError as exc:
        raise ReleaseError(NO_REGION, 2) from exc
    except NoCredentialsError as exc:
        raise ReleaseError(
            "no AWS credentials: set AWS_PROFILE (or --profile-name), or the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY pair",
            2,
        ) from exc
    except ParamValidationError as exc:  # botocore refused a value before sending it
        raise ReleaseError(f"invalid request: {' '.join(str(exc).split())}", 2) from exc
    except BotoCoreError as exc:  # connection refused, bad endpoint, timeouts ...
        raise ReleaseError(f"cannot reach AppConfig: {exc}", 2) from exc


# -- local validation ----------------------------------------------------------------------------


def validate_file(path: str) -> tuple[bytes, str]:
    """The file's bytes and content type, or DocumentError; nothing is sent.

    A stored feature-flag document (a JSON object with a string ``version``) is held to the
    validator the local AppConfig runs for ``AWS.AppConfig.FeatureFlags`` profiles (AWS's
    schema); every document is also loaded as a client would load it (``flagkit.validate``).
    """
    from flagkit import validate
    from flagkit.testing._appconfig_render import validate_feature_flags

    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        raise ReleaseError(f"cannot read {path!r}: {exc.strerror}", 2) from exc
    content_type = "application/ion" if path.lower().endswith(".ion") else "application/json"
    if content_type == "application/json" and _is_stored(body):
        validate_feature_flags(body)
    validate(body, content_type=content_type)
    return body, content_type


def _is_stored(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("version"), str)


# -- names to IDs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The IDs an application, environment and (optionally) profile name resolved to."""

    application_id: str
    environment_id: str
    profile_id: str | None = None
    profile_type: str | None = None

    @property
    def app_env(self) -> dict[str, str]:
        return {"ApplicationId": self.application_id, "EnvironmentId": self.environment_id}


def _one(client: Any, paginator: str, kind: str, wanted: str, **params: Any) -> dict[str, Any]:
    items = [
        item
        for page in client.get_paginator(paginator).paginate(**params)
        for item in page["Items"]
        if wanted in (item["Id"], item["Name"])
    ]
    by_id = [i for i in items if i["Id"] == wanted]
    if by_id:
        return by_id[0]  # type: ignore[no-any-return]
    if not items:
        raise ReleaseError(f"no {kind} named or with the ID {wanted!r}")
    if len(items) > 1:  # AWS allows equal names
        ids = ", ".join(i["Id"] for i in items)
        raise ReleaseError(f"{len(items)} {kind}s are named {wanted!r} ({ids}): pass the ID")
    return items[0]  # type: ignore[no-any-return]


def find_target(client: Any, application: str, environment: str, profile: str | None) -> Target:
    """Resolve names (or IDs) through the List calls; ReleaseError names what is missing."""
    with api_errors():
        app = _one(client, "list_applications", "application", application)
        env = _one(client, "list_environments", "environment", environment, ApplicationId=app["Id"])
        prof = None
        if profile is not None:
            prof = _one(
                client,
                "list_configuration_profiles",
                "configuration profile",
                profile,
                ApplicationId=app["Id"],
            )
    return Target(
        app["Id"],
        env["Id"],
        None if prof is None else prof["Id"],
        None if prof is None else prof.get("Type"),
    )


# -- publish -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Published:
    """What :func:`publish_file` did (or, with ``dry_run``, would do)."""

    target: Target | None
    version: int | None  # the new hosted version; None on a dry run
    deployment: int | None  # its DeploymentNumber; None on a dry run
    strategy: str | None  # the strategy ID used; None on a dry run without --strategy
    strategy_note: str  # how the strategy was chosen, for the user
    notes: tuple[str, ...] = ()


def _latest_version(client: Any, target: Target) -> int:
    pages = client.get_paginator("list_hosted_configuration_versions").paginate(
        ApplicationId=target.application_id, ConfigurationProfileId=target.profile_id
    )
    return max((int(v["VersionNumber"]) for p in pages for v in p["Items"]), default=0)


def _strategy(client: Any, target: Target, wanted: str | None) -> tuple[str, str]:
    """(strategy ID, how it was chosen)."""
    if wanted is not None:
        found = _one(client, "list_deployment_strategies", "deployment strategy", wanted)
        name, sid = found["Name"], found["Id"]
        named = name if name == sid else f"{name} ({sid})"
        return sid, f"strategy {named}, as asked"
    newest = client.list_deployments(**target.app_env, MaxResults=1)["Items"]
    if newest:
        number = newest[0]["DeploymentNumber"]
        last = client.get_deployment(**target.app_env, DeploymentNumber=number)
        strategy_id = last["DeploymentStrategyId"]
        return strategy_id, (
            f"strategy {strategy_id}: the one this environment's last deployment "
            f"(#{number}) used; pass --strategy to choose"
        )
    return DEFAULT_STRATEGY, (
        f"strategy {DEFAULT_STRATEGY}: this environment has no deployment to take a usual "
        "strategy from; pass --strategy to choose"
    )


def publish_file(
    client: Any,
    file: str,
    application: str,
    environment: str,
    profile: str,
    *,
    strategy: str | None = None,
    description: str | None = None,
    label: str | None = None,
    dry_run: bool = False,
) -> Published:
    """Validate ``file``, create a hosted version on top of the latest one, start deploying it.

    Raises DocumentError for a bad file (before any request), ReleaseError for everything the
    service refuses: a publish that lost a race names the version that won. ``dry_run``
    validates and sends nothing at all.
    """
    body, content_type = validate_file(file)
    if dry_run:
        chosen = (
            f"strategy {strategy}"
            if strategy
            else f"strategy of the environment's last deployment (else {DEFAULT_STRATEGY})"
        )
        return Published(None, None, None, strategy, chosen)
    target = find_target(client, application, environment, profile)
    if target.profile_type == "AWS.AppConfig.FeatureFlags" and not (
        content_type == "application/json" and _is_stored(body)
    ):
        raise ReleaseError(
            f"profile {profile!r} is AWS.AppConfig.FeatureFlags, which takes the stored "
            '{"version": "1", "flags": ..., "values": ...} JSON document, not this form'
        )
    with api_errors():
        latest = _latest_version(client, target)
        strategy_id, note = _strategy(client, target, strategy)
    extra: dict[str, Any] = {} if description is None else {"Description": description}
    if label is not None:
        extra["VersionLabel"] = label
    with api_errors():
        try:
            created = client.create_hosted_configuration_version(
                ApplicationId=target.application_id,
                ConfigurationProfileId=target.profile_id,
                Content=body,
                ContentType=content_type,
                LatestVersionNumber=latest,
                **extra,
            )
        except client.exceptions.ConflictException as exc:
            raise _lost_race(client, target, latest) from exc
    version = int(created["VersionNumber"])
    with api_errors():
        try:
            started = client.start_deployment(
                **target.app_env,
                DeploymentStrategyId=strategy_id,
                ConfigurationProfileId=target.profile_id,
                ConfigurationVersion=str(version),
                **({} if description is None else {"Description": description}),
            )
        except client.exceptions.ConflictException as exc:
            running = client.list_deployments(**target.app_env, MaxResults=1)["Items"]
            which = f"deployment #{running[0]['DeploymentNumber']}" if running else "another one"
            raise ReleaseError(
                f"hosted version {version} was created, but StartDeployment was refused: "
                f"{which} is still in progress in this environment (one at a time); wait "
                "for it or `flagkit stop` it, then deploy again"
            ) from exc
    return Published(target, version, int(started["DeploymentNumber"]), strategy_id, note)


def _lost_race(client: Any, target: Target, read: int) -> ReleaseError:
    """The ConflictException of CreateHostedConfigurationVersion, told as who won."""
    with api_errors():
        winner = _latest_version(client, target)
        detail = ""
        if winner:
            won = client.get_hosted_configuration_version(
                ApplicationId=target.application_id,
                ConfigurationProfileId=target.profile_id,
                VersionNumber=winner,
            )
            said = [f"label {won['VersionLabel']!r}"] if won.get("VersionLabel") else []
            said += [f"description {won['Description']!r}"] if won.get("Description") else []
            detail = f" ({', '.join(said)})" if said else ""
    return ReleaseError(
        f"not published: version {winner}{detail} was created after this publish read "
        f"version {read} as the latest (LatestVersionNumber {read} refused); nothing was "
        f"overwritten. Compare your file with version {winner}, then publish again"
    )


# -- watch, list, stop ---------------------------------------------------------------------------


def wait_for(
    client: Any,
    target: Target,
    deployment_number: int,
    *,
    on_progress: Callable[[dict[str, Any]], None] = lambda deployment: None,
    sleep: Callable[[float], None],
    interval: float = 5.0,
) -> dict[str, Any]:
    """Poll GetDeployment every ``interval`` seconds until a terminal state; that Deployment.

    ``sleep`` is injected: tests pass one that moves the local AppConfig's clock, so a
    30-minute deployment is followed without waiting. KeyboardInterrupt propagates.
    """
    while True:
        with api_errors():
            deployment: dict[str, Any] = client.get_deployment(
                **target.app_env, DeploymentNumber=deployment_number
            )
        on_progress(deployment)
        if deployment["State"] in TERMINAL:
            return deployment
        sleep(interval)


def alarm_that_fired(client: Any, target: Target, deployment: dict[str, Any]) -> str | None:
    """Why a ROLLED_BACK deployment rolled back, naming the alarm when one did it.

    The ROLLBACK_STARTED event says who (``TriggeredBy``: CLOUDWATCH_ALARM, USER, ...); the
    environment's ``Monitors`` say which alarms could have, and a monitor whose name the
    event's description mentions is the one.
    """
    started = next(
        (e for e in deployment.get("EventLog", []) if e["EventType"] == "ROLLBACK_STARTED"), None
    )
    if started is None:
        return None
    if started.get("TriggeredBy") != "CLOUDWATCH_ALARM":
        return f"stopped by {started.get('TriggeredBy', 'someone').lower()}"
    with api_errors():
        monitors = client.get_environment(**target.app_env).get("Monitors", [])
    names = [m["AlarmArn"].rsplit(":alarm:", 1)[-1] for m in monitors]
    said = started.get("Description", "")
    named = [n for n in names if n in said] or names
    alarms = ", ".join(named) or "unknown"
    return f"CloudWatch alarm {alarms} ({said})"


def list_deployments(client: Any, target: Target, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` deployments of the environment (ListDeployments), newest first."""
    out: list[dict[str, Any]] = []
    with api_errors():
        for page in client.get_paginator("list_deployments").paginate(**target.app_env):
            out.extend(page["Items"])
            if len(out) >= limit:
                break
    return out[:limit]


def stop(
    client: Any, target: Target, deployment_number: int | None, *, revert: bool = False
) -> dict[str, Any]:
    """StopDeployment; with no number, the environment's deployment in progress."""
    if deployment_number is None:
        running = [d for d in list_deployments(client, target, 5) if d["State"] in ACTIVE]
        if not running:
            raise ReleaseError(
                "no deployment is in progress in this environment; name one to revert it "
                "(flagkit stop ... NUMBER --revert)"
            )
        deployment_number = int(running[0]["DeploymentNumber"])
    with api_errors():
        extra = {"AllowRevert": True} if revert else {}
        return client.stop_deployment(  # type: ignore[no-any-return]
            **target.app_env, DeploymentNumber=deployment_number, **extra
        )
