"""The local AppConfig's control plane: applications, environments, profiles, hosted versions,
strategies and deployments, with the rules botocore's ``appconfig`` 2019-10-09 model states.

No HTTP here: ``_appconfig_api.py`` routes requests to these methods and turns ``ApiError``
into the modelled error bodies. Every method takes the store's lock; the data plane
(``_appconfigdata_service.py``) asks ``served()`` which hosted version a session gets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flagkit._document.limits import MAX_DOCUMENT_BYTES
from flagkit._exceptions import DocumentError
from flagkit.testing._appconfig_deploy import PREDEFINED, Deployment, Strategy, alarm_names
from flagkit.testing._appconfig_render import render_feature_flags, validate_feature_flags

__all__ = ["FEATURE_FLAGS", "FREEFORM", "ApiError", "Store", "Version"]

FEATURE_FLAGS = "AWS.AppConfig.FeatureFlags"
FREEFORM = "AWS.Freeform"
MAX_MONITORS = 5  # MonitorList max
MAX_CUSTOM_STRATEGIES = 20  # user guide, "Working with deployment strategies"
_VERSION_LABEL = re.compile(r".*[^0-9].*", re.DOTALL)  # VersionLabel: "at least one non-numeric"


class ApiError(Exception):
    """A modelled error: HTTP status, ``x-amzn-ErrorType`` code and body members."""

    def __init__(self, status: int, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.members = status, code, {"Message": message, **members}


def bad_request(message: str, **members: Any) -> ApiError:
    return ApiError(400, "BadRequestException", message, **members)


def not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(
        404, "ResourceNotFoundException", f"{kind} {ident} not found", ResourceName=kind
    )


def conflict(message: str) -> ApiError:
    return ApiError(409, "ConflictException", message)


@dataclass(frozen=True, slots=True)
class Version:
    """A hosted configuration version: the stored bytes and what GetLatestConfiguration sends."""

    number: int
    content: bytes
    content_type: str
    label: str | None
    description: str | None
    served: bytes  # retrieval-time body
    served_type: str


@dataclass(slots=True)
class Profile:
    id: str
    application_id: str
    name: str
    type: str
    description: str
    versions: list[Version] = field(default_factory=list)


@dataclass(slots=True)
class Environment:
    id: str
    application_id: str
    name: str
    description: str
    monitors: list[dict[str, str]]
    deployments: list[Deployment] = field(default_factory=list)


@dataclass(slots=True)
class Application:
    id: str
    name: str
    description: str
    environments: dict[str, Environment] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)


def _find(items: dict[str, Any], ident: str, *, by_name: bool) -> Any:
    if ident in items:
        return items[ident]
    # [inference] with duplicate names (AWS allows them) the oldest one answers
    return next((i for i in items.values() if by_name and i.name == ident), None)


class Store:
    """All control-plane state of one local AppConfig; thread-safe."""

    def __init__(
        self, clock: Callable[[], float], alarms: Callable[[list[str]], str | None]
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._alarms = alarms  # names in -> the first one in ALARM, or None
        self._apps: dict[str, Application] = {}
        self._strategies: dict[str, Strategy] = dict(PREDEFINED)
        self._ids = 0

    def _new_id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}{self._ids:06d}"  # Id pattern [a-z0-9]{4,7}

    # -- applications, environments, profiles -------------------------------------------------

    def create_application(self, name: str, description: str = "") -> Application:
        with self.lock:
            app = Application(self._new_id("a"), name, description)
            self._apps[app.id] = app
            return app

    def applications(self) -> list[Application]:
        with self.lock:
            return list(self._apps.values())

    def application(self, ident: str, *, by_name: bool = False) -> Application:
        with self.lock:
            app = _find(self._apps, ident, by_name=by_name)
            if app is None:
                raise not_found("Application", ident)
            return app  # type: ignore[no-any-return]

    def create_environment(
        self, app_id: str, name: str, description: str, monitors: list[dict[str, str]]
    ) -> Environment:
        if len(monitors) > MAX_MONITORS:
            raise bad_request(f"Monitors: at most {MAX_MONITORS} alarms, not {len(monitors)}")
        for monitor in monitors:
            if not isinstance(monitor, dict) or not monitor.get("AlarmArn"):
                raise bad_request("Monitors: each monitor needs an AlarmArn")
        with self.lock:
            app = self.application(app_id)
            env = Environment(self._new_id("e"), app.id, name, description, list(monitors))
            app.environments[env.id] = env
            return env

    def environment(self, app_id: str, env_id: str, *, by_name: bool = False) -> Environment:
        with self.lock:
            env = _find(self.application(app_id, by_name=by_name).environments, env_id,
                        by_name=by_name)  # fmt: skip
            if env is None:
                raise not_found("Environment", env_id)
            self._advance(env)
            return env  # type: ignore[no-any-return]

    def create_profile(
        self,
        app_id: str,
        name: str,
        location: str,
        profile_type: str,
        description: str,
        **rest: Any,
    ) -> Profile:
        if location != "hosted":
            raise bad_request(
                "LocationUri: the local AppConfig hosts configurations only ('hosted')"
            )
        if profile_type not in (FEATURE_FLAGS, FREEFORM):
            raise bad_request(f"Type must be {FEATURE_FLAGS} or {FREEFORM}, not {profile_type!r}")
        if rest.get("Validators"):
            raise bad_request("Validators are not supported by the local AppConfig")
        with self.lock:
            app = self.application(app_id)
            profile = Profile(self._new_id("p"), app.id, name, profile_type, description)
            app.profiles[profile.id] = profile
            return profile

    def profile(self, app_id: str, profile_id: str, *, by_name: bool = False) -> Profile:
        with self.lock:
            app = self.application(app_id, by_name=by_name)
            profile = _find(app.profiles, profile_id, by_name=by_name)
            if profile is None:
                raise not_found("ConfigurationProfile", profile_id)
            return profile  # type: ignore[no-any-return]

    # -- hosted configuration versions ----------------------------------------------------------

    def create_version(
        self,
        app_id: str,
        profile_id: str,
        content: bytes,
        content_type: str,
        *,
        label: str | None,
        description: str | None,
        latest: int | None,
    ) -> Version:
        if len(content) > MAX_DOCUMENT_BYTES:
            raise ApiError(
                413,
                "PayloadTooLargeException",
                "Configuration content is too large",
                Measure="KILOBYTES",
                Limit=MAX_DOCUMENT_BYTES / 1024,
                Size=len(content) / 1024,
            )
        if label is not None and not _VERSION_LABEL.fullmatch(label):
            raise bad_request("VersionLabel must contain at least one non-numeric character")
        with self.lock:
            profile = self.profile(app_id, profile_id)
            current = profile.versions[-1].number if profile.versions else 0
            if latest is not None and latest != current:
                raise conflict(f"LatestVersionNumber {latest} is not the latest ({current})")
            served, served_type = content, content_type
            if profile.type == FEATURE_FLAGS:
                served, served_type = _feature_flags(content, content_type)
            version = Version(
                current + 1, content, content_type, label, description, served, served_type
            )
            profile.versions.append(version)
            return version

    def version(self, app_id: str, profile_id: str, number: int) -> Version:
        with self.lock:
            profile = self.profile(app_id, profile_id)
            found = next((v for v in profile.versions if v.number == number), None)
            if found is None:
                raise not_found("HostedConfigurationVersion", number)
            return found

    # -- strategies -----------------------------------------------------------------------------

    def create_strategy(self, request: dict[str, Any]) -> Strategy:
        factor = request["GrowthFactor"]
        duration = request["DeploymentDurationInMinutes"]
        bake = request.get("FinalBakeTimeInMinutes", 0)
        if not 1.0 <= factor <= 100.0:
            raise bad_request("GrowthFactor must be between 1.0 and 100.0")
        for member, minutes in (("DeploymentDurationInMinutes", duration),
                                ("FinalBakeTimeInMinutes", bake)):  # fmt: skip
            if not 0 <= minutes <= 1440:
                raise bad_request(f"{member} must be between 0 and 1440")
        growth = request.get("GrowthType", "LINEAR")
        if growth not in ("LINEAR", "EXPONENTIAL"):
            raise bad_request(f"GrowthType must be LINEAR or EXPONENTIAL, not {growth!r}")
        with self.lock:
            if len(self._strategies) - len(PREDEFINED) >= MAX_CUSTOM_STRATEGIES:
                raise ApiError(402, "ServiceQuotaExceededException", "Too many strategies")
            strategy = Strategy(
                self._new_id("s"),
                request["Name"],
                duration,
                growth,
                float(factor),
                bake,
                request.get("Description", ""),
                request.get("ReplicateTo", "NONE"),
            )
            self._strategies[strategy.id] = strategy
            return strategy

    def strategies(self) -> list[Strategy]:
        with self.lock:
            return list(self._strategies.values())

    def strategy(self, ident: str) -> Strategy:
        with self.lock:
            if ident not in self._strategies:
                raise not_found("DeploymentStrategy", ident)
            return self._strategies[ident]

    # -- deployments ----------------------------------------------------------------------------

    def start_deployment(self, app_id: str, env_id: str, request: dict[str, Any]) -> Deployment:
        with self.lock:
            env = self.environment(app_id, env_id)
            profile = self.profile(app_id, request["ConfigurationProfileId"])
            strategy = self.strategy(request["DeploymentStrategyId"])
            version = _pick_version(profile, str(request["ConfigurationVersion"]))
            active = next((d for d in env.deployments if d.state in ("DEPLOYING", "BAKING")), None)
            if active is not None:
                raise conflict(f"Deployment number {active.number} is already in progress")
            latest = request.get("LatestDeploymentNumber")
            number = len(env.deployments) + 1
            if latest is not None and latest != number - 1:
                raise conflict(f"LatestDeploymentNumber {latest} is not the latest ({number - 1})")
            deployment = Deployment(
                number,
                app_id,
                env.id,
                profile.id,
                profile.name,
                version.number,
                version.label,
                strategy,
                request.get("Description", ""),
                self._clock(),
                _stable(env, profile.id),
            )
            env.deployments.append(deployment)
            return deployment

    def deployment(self, app_id: str, env_id: str, number: int) -> Deployment:
        with self.lock:
            env = self.environment(app_id, env_id)
            if not 1 <= number <= len(env.deployments):
                raise not_found("Deployment", number)
            return env.deployments[number - 1]

    def stop_deployment(self, app_id: str, env_id: str, number: int, *, revert: bool) -> Deployment:
        with self.lock:
            deployment = self.deployment(app_id, env_id, number)
            if deployment.state not in ("DEPLOYING", "BAKING") and not revert:
                # "works only on deployments that have a status of DEPLOYING, unless an
                # AllowRevert parameter is supplied" (StopDeployment documentation)
                raise bad_request(f"Deployment {number} is {deployment.state}, not DEPLOYING")
            deployment.stop(self._clock(), revert=revert)
            return deployment

    def _advance(self, env: Environment) -> None:
        if env.deployments and env.deployments[-1].state in ("DEPLOYING", "BAKING"):
            names = alarm_names([m["AlarmArn"] for m in env.monitors])
            env.deployments[-1].advance(
                self._clock(), lambda: self._alarms(names) if names else None
            )

    def environment_state(self, env: Environment) -> str:
        """``Environment.State``: what the newest deployment left it in."""
        if not env.deployments:
            return "READY_FOR_DEPLOYMENT"
        state = env.deployments[-1].state
        return {"BAKING": "DEPLOYING", "COMPLETE": "READY_FOR_DEPLOYMENT"}.get(state, state)

    # -- the data plane's question ----------------------------------------------------------------

    def served(self, app: str, env: str, profile: str, target: str) -> Version | None:
        """The hosted version ``target`` (a session) is served now, or None if none yet."""
        with self.lock:
            environment = self.environment(app, env, by_name=True)
            prof = self.profile(app, profile, by_name=True)
            number = _stable(environment, prof.id, target)
            return None if number is None else prof.versions[number - 1]


def _pick_version(profile: Profile, wanted: str) -> Version:
    """ConfigurationVersion is a version number or, for hosted versions, a version label."""
    if wanted.isdigit():
        found = next((v for v in profile.versions if v.number == int(wanted)), None)
    else:  # [inference] labels need not be unique; the newest version with it is deployed
        found = next((v for v in reversed(profile.versions) if v.label == wanted), None)
    if found is None:
        raise not_found("HostedConfigurationVersion", wanted)
    return found


def _stable(env: Environment, profile_id: str, target: str | None = None) -> int | None:
    """The version number served for ``profile_id`` in ``env`` (to ``target`` mid-deployment)."""
    for deployment in reversed(env.deployments):
        if deployment.profile_id != profile_id:
            continue
        if deployment.state == "COMPLETE" or (target is not None and deployment.serves_new(target)):
            return deployment.version
        return deployment.previous
    return None


def _feature_flags(content: bytes, content_type: str) -> tuple[bytes, str]:
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        # [inference] a feature-flag profile holds JSON; the schema is a JSON Schema
        raise bad_request(f"A {FEATURE_FLAGS} profile takes application/json, not {content_type}")
    try:
        document = validate_feature_flags(content)
    except DocumentError as exc:
        detail = {
            "Constraint": exc.expected or "",
            "Location": ".".join(p for p in (exc.flag, exc.field) if p) or "$",
            "Reason": f"{exc.message}: found {exc.found}" if exc.found else exc.message,
            "Type": "Validation",
        }
        raise bad_request(
            f"Configuration is not valid for {FEATURE_FLAGS}: {exc}",
            Reason="InvalidConfiguration",
            Details={"InvalidConfiguration": [detail]},
        ) from exc
    return render_feature_flags(document)
