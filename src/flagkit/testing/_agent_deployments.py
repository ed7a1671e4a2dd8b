"""``Entity-Id`` during a deployment: which version the local agent serves an entity.

The AppConfig Agent (2.0.136060 and later) reads an ``Entity-Id`` header and, while a
deployment is in progress, "consistently serves either" the new or the previous version to that
entity for the rest of the deployment; it tracks entities only for the deployment's duration,
and the identifier is never sent to AppConfig (user guide, "How to use AWS AppConfig Agent",
entity-based gradual deployments; research §3).

How the agent learns of the deployment is not documented **[inference]**. The local agent
reads it from the ``LocalAppConfigData`` it polls: the newest deployment of the profile, its
state and ``PercentageComplete``. The entity is bucketed by that deployment exactly as a
session is (``_appconfig_deploy.bucket`` on the deployment's key), under its own name space
(``entity-<id>``), so it is stable for the deployment's life and fresh for the next one; as the
percentage only grows, an entity once on the new version stays there. A rolled-back or finished
deployment tracks nobody: the agent serves what its own session was served.

This is the one place that reads the local AppConfig's store; nothing else in the agent does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flagkit.testing._agent_eval import EntityVersion, Served

if TYPE_CHECKING:
    from flagkit.testing._appconfigdata import LocalAppConfigData

__all__ = ["entity_versions"]

_TRACKED = frozenset({"DEPLOYING", "BAKING"})  # a deployment in progress


def entity_versions(data: LocalAppConfigData) -> EntityVersion | None:
    """The ``Entity-Id`` lookup for a local AppConfig, or None when it keeps no deployments."""
    store: Any = getattr(getattr(data, "_service", None), "_store", None)
    if store is None or not callable(getattr(store, "served", None)):
        return None
    from flagkit.testing._appconfig_store import ApiError

    def entity_version(configuration: tuple[str, str, str], entity_id: str) -> Served | None:
        application, environment, profile = configuration
        try:
            with store.lock:
                env = store.environment(application, environment, by_name=True)  # advances it
                prof = store.profile(application, profile, by_name=True)
                deployment = next(
                    (d for d in reversed(env.deployments) if d.profile_id == prof.id), None
                )
                if deployment is None or deployment.state not in _TRACKED:
                    return None
                new = deployment.serves_new(f"entity-{entity_id}")
                number = deployment.version if new else deployment.previous
                if number is None:  # a first deployment: nothing before it to serve
                    return None
                version = prof.versions[number - 1]
        except ApiError:
            return None  # unknown here: the agent's own answer (a 404) stands
        return Served(version.served, version.served_type, version.label)

    return entity_version
