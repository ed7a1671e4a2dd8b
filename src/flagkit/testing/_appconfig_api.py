"""HTTP routing for the local AppConfig control plane (``appconfig`` 2019-10-09, rest-json).

Each route is the model's ``http.method`` and ``requestUri``; members travel where the model
puts them (URI, query string, headers, JSON body, or the raw payload for hosted versions), and
success codes are the model's ``responseCode``. ``route()`` returns None for a path that is not
the control plane's, so the data plane can answer it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flagkit.testing import _appconfigdata_wire as wire
from flagkit.testing._appconfig_store import (
    FREEFORM,
    ApiError,
    Application,
    Environment,
    Profile,
    Store,
    Version,
    bad_request,
)

__all__ = ["ControlPlane"]

_MAX_RESULTS = 50  # MaxResults max, and the default ("returns the maximum of 50")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _app(a: Application) -> dict[str, Any]:
    return {"Id": a.id, "Name": a.name, "Description": a.description}


def _profile(p: Profile, *, summary: bool = False) -> dict[str, Any]:
    out = {"ApplicationId": p.application_id, "Id": p.id, "Name": p.name,
           "LocationUri": "hosted", "Type": p.type}  # fmt: skip
    if summary:
        return {**out, "ValidatorTypes": []}
    return {**out, "Description": p.description, "Validators": []}


def _version_summary(app_id: str, profile_id: str, v: Version) -> dict[str, Any]:
    out: dict[str, Any] = {"ApplicationId": app_id, "ConfigurationProfileId": profile_id,
                           "VersionNumber": v.number, "ContentType": v.content_type}  # fmt: skip
    if v.description is not None:
        out["Description"] = v.description
    if v.label is not None:
        out["VersionLabel"] = v.label
    return out


@dataclass(frozen=True, slots=True)
class _Request:
    parts: list[str]  # the path's segments, decoded
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: dict[str, Any]  # the JSON body ({} for a raw payload)
    body: bytes


class ControlPlane:
    """Turns one control-plane request into one reply, recording ``(operation, status)``."""

    def __init__(self, store: Store, wall: Callable[[float], float]) -> None:
        self.store = store
        self._wall = wall  # server clock -> epoch seconds, for timestamps

    def route(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, wire.Reply] | None:
        url = urlsplit(target)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        match = self._match(method, parts)
        if match is None:
            return None
        operation, handler = match
        try:
            request = json.loads(body) if body and not operation.startswith("CreateHosted") else {}
            if not isinstance(request, dict):
                raise bad_request("Request body must be a JSON object")
            return operation, handler(_Request(parts, query, headers, request, body))
        except ApiError as exc:
            return operation, wire.json_reply(exc.status, exc.members, error=exc.code)
        except (KeyError, TypeError, ValueError) as exc:
            reply = wire.json_reply(400, {"Message": f"Invalid request: {exc}"},
                                    error="BadRequestException")  # fmt: skip
            return operation, reply

    def _match(self, method: str, parts: list[str]) -> tuple[str, Any] | None:
        shape = tuple(p if i % 2 == 0 else "*" for i, p in enumerate(parts))
        return _ROUTES.get((method, shape)) and (
            _ROUTES[(method, shape)][0],
            getattr(self, _ROUTES[(method, shape)][1]),
        )

    # -- handlers: one request in, one reply out -------------------------------------------------

    def create_application(self, req: _Request) -> wire.Reply:
        return wire.json_reply(
            201,
            _app(self.store.create_application(req.json["Name"], req.json.get("Description", ""))),
        )

    def list_applications(self, req: _Request) -> wire.Reply:
        return _page([_app(a) for a in self.store.applications()], req.query)

    def get_application(self, req: _Request) -> wire.Reply:
        return wire.json_reply(200, _app(self.store.application(req.parts[1])))

    def _env(self, env: Environment) -> dict[str, Any]:
        return {"ApplicationId": env.application_id, "Id": env.id, "Name": env.name,
                "Description": env.description, "State": self.store.environment_state(env),
                "Monitors": env.monitors}  # fmt: skip

    def create_environment(self, req: _Request) -> wire.Reply:
        env = self.store.create_environment(
            req.parts[1],
            req.json["Name"],
            req.json.get("Description", ""),
            list(req.json.get("Monitors", [])),
        )
        return wire.json_reply(201, self._env(env))

    def list_environments(self, req: _Request) -> wire.Reply:
        app = self.store.application(req.parts[1])
        envs = [self.store.environment(app.id, e) for e in list(app.environments)]
        return _page([self._env(e) for e in envs], req.query)

    def get_environment(self, req: _Request) -> wire.Reply:
        return wire.json_reply(200, self._env(self.store.environment(req.parts[1], req.parts[3])))

    def create_profile(self, req: _Request) -> wire.Reply:
        profile = self.store.create_profile(
            req.parts[1], req.json["Name"], req.json["LocationUri"], req.json.get("Type", FREEFORM),
            req.json.get("Description", ""), Validators=req.json.get("Validators"),
        )  # fmt: skip
        return wire.json_reply(201, _profile(profile))

    def list_profiles(self, req: _Request) -> wire.Reply:
        profiles = self.store.application(req.parts[1]).profiles.values()
        wanted = req.query.get("type")
        items = [_profile(p, summary=True) for p in profiles if wanted in (None, p.type)]
        return _page(items, req.query)

    def get_profile(self, req: _Request) -> wire.Reply:
        return wire.json_reply(200, _profile(self.store.profile(req.parts[1], req.parts[3])))

    def create_version(self, req: _Request) -> wire.Reply:
        latest = req.headers.get("Latest-Version-Number")
        version = self.store.create_version(
            req.parts[1], req.parts[3], req.body, req.headers.get("Content-Type") or "",
            label=req.headers.get("VersionLabel"), description=req.headers.get("Description"),
            latest=None if latest is None else int(latest),
        )  # fmt: skip
        return _hosted(201, req.parts[1], req.parts[3], version)

    def list_versions(self, req: _Request) -> wire.Reply:
        versions = self.store.profile(req.parts[1], req.parts[3]).versions
        label = req.query.get("version_label")
        if label is not None:  # "supports filtering by prefix using a wildcard, for example v2*"
            versions = [v for v in versions if _label_matches(v.label, label)]
        items = [_version_summary(req.parts[1], req.parts[3], v) for v in reversed(versions)]
        return _page(items, req.query)

    def get_version(self, req: _Request) -> wire.Reply:
        return _hosted(
            200,
            req.parts[1],
            req.parts[3],
            self.store.version(req.parts[1], req.parts[3], int(req.parts[5])),
        )

    def create_strategy(self, req: _Request) -> wire.Reply:
        return wire.json_reply(201, self.store.create_strategy(req.json).wire())

    def list_strategies(self, req: _Request) -> wire.Reply:
        return _page([s.wire() for s in self.store.strategies()], req.query)

    def get_strategy(self, req: _Request) -> wire.Reply:
        return wire.json_reply(200, self.store.strategy(req.parts[1]).wire())

    def _deployment(self, status: int, deployment: Any) -> wire.Reply:
        return wire.json_reply(status, deployment.wire(lambda t: _stamp(self._wall(t))))

    def start_deployment(self, req: _Request) -> wire.Reply:
        return self._deployment(
            201, self.store.start_deployment(req.parts[1], req.parts[3], req.json)
        )

    def list_deployments(self, req: _Request) -> wire.Reply:
        env = self.store.environment(
            req.parts[1], req.parts[3]
        )  # "in descending deployment number order"
        stamp = lambda t: _stamp(self._wall(t))  # noqa: E731
        return _page([d.wire(stamp, summary=True) for d in reversed(env.deployments)], req.query)

    def get_deployment(self, req: _Request) -> wire.Reply:
        return self._deployment(
            200, self.store.deployment(req.parts[1], req.parts[3], int(req.parts[5]))
        )

    def stop_deployment(self, req: _Request) -> wire.Reply:
        revert = (req.headers.get("Allow-Revert") or "").lower() == "true"
        deployment = self.store.stop_deployment(
            req.parts[1], req.parts[3], int(req.parts[5]), revert=revert
        )
        return self._deployment(202, deployment)


def _label_matches(label: str | None, wanted: str) -> bool:
    if label is None:
        return False
    return label.startswith(wanted[:-1]) if wanted.endswith("*") else label == wanted


def _hosted(status: int, app_id: str, profile_id: str, v: Version) -> wire.Reply:
    """``HostedConfigurationVersion``: the content is the payload, the rest are headers."""
    headers = [("Application-Id", app_id), ("Configuration-Profile-Id", profile_id),
               ("Version-Number", str(v.number)), ("Content-Type", v.content_type),
               wire.request_id()]  # fmt: skip
    if v.description is not None:
        headers.append(("Description", v.description))
    if v.label is not None:
        headers.append(("VersionLabel", v.label))
    return wire.Reply(status, tuple(headers), v.content)


def _page(items: list[dict[str, Any]], query: Mapping[str, str]) -> wire.Reply:
    """``Items`` and ``NextToken`` (an offset, opaque to callers), at most MaxResults a page."""
    try:
        size = int(query.get("max_results", _MAX_RESULTS))
        start = int(query.get("next_token", "0"))
    except ValueError:
        raise bad_request("Invalid MaxResults or NextToken") from None
    if not 1 <= size <= _MAX_RESULTS or not 0 <= start <= len(items):
        raise bad_request("Invalid MaxResults or NextToken")
    out: dict[str, Any] = {"Items": items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return wire.json_reply(200, out)


_A, _E, _P, _V, _D = (
    "applications",
    "environments",
    "configurationprofiles",
    "hostedconfigurationversions",
    "deployments",
)
_ROUTES: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("POST", (_A,)): ("CreateApplication", "create_application"),
    ("GET", (_A,)): ("ListApplications", "list_applications"),
    ("GET", (_A, "*")): ("GetApplication", "get_application"),
    ("POST", (_A, "*", _E)): ("CreateEnvironment", "create_environment"),
    ("GET", (_A, "*", _E)): ("ListEnvironments", "list_environments"),
    ("GET", (_A, "*", _E, "*")): ("GetEnvironment", "get_environment"),
    ("POST", (_A, "*", _P)): ("CreateConfigurationProfile", "create_profile"),
    ("GET", (_A, "*", _P)): ("ListConfigurationProfiles", "list_profiles"),
    ("GET", (_A, "*", _P, "*")): ("GetConfigurationProfile", "get_profile"),
    ("POST", (_A, "*", _P, "*", _V)): ("CreateHostedConfigurationVersion", "create_version"),
    ("GET", (_A, "*", _P, "*", _V)): ("ListHostedConfigurationVersions", "list_versions"),
    ("GET", (_A, "*", _P, "*", _V, "*")): ("GetHostedConfigurationVersion", "get_version"),
    ("POST", ("deploymentstrategies",)): ("CreateDeploymentStrategy", "create_strategy"),
    ("GET", ("deploymentstrategies",)): ("ListDeploymentStrategies", "list_strategies"),
    ("GET", ("deploymentstrategies", "*")): ("GetDeploymentStrategy", "get_strategy"),
    ("POST", (_A, "*", _E, "*", _D)): ("StartDeployment", "start_deployment"),
    ("GET", (_A, "*", _E, "*", _D)): ("ListDeployments", "list_deployments"),
    ("GET", (_A, "*", _E, "*", _D, "*")): ("GetDeployment", "get_deployment"),
    ("DELETE", (_A, "*", _E, "*", _D, "*")): ("StopDeployment", "stop_deployment"),
}
