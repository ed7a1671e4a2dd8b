"""UnleashClient (v6, Rust ``yggdrasil`` engine), bootstrapped from a dict, never started.

The features are handed over through a bootstrapped in-memory cache, which loads them into the
engine in the constructor. ``initialize_client`` is never called, so no fetch, registration,
metrics or scheduler thread exists; ``is_enabled``/``get_variant`` take the same path as in a
started client. Each call builds ``{"userId", "properties"}``.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.peers import Bench

NAME = "UnleashClient"
DIST = "UnleashClient"
NOTES = "bootstrapped in-memory cache, no fetch/metrics/registration; {userId, properties} per call"


def _rollout(group: str, pct: int, constraints: list[Any] | None = None) -> dict[str, Any]:
    return {
        "name": "flexibleRollout",
        "parameters": {"rollout": str(pct), "stickiness": "userId", "groupId": group},
        "constraints": constraints or [],
    }


FEATURES: dict[str, Any] = {
    "version": 2,
    "features": [
        {"name": "s1", "enabled": True, "strategies": [{"name": "default", "parameters": {}}]},
        {"name": "s2", "enabled": True, "strategies": [_rollout("s2", 10)]},
        {
            "name": "s3",
            "enabled": True,
            "strategies": [
                _rollout(
                    "s3",
                    25,
                    [
                        {"contextName": "country", "operator": "IN", "values": ["US", "CA"]},
                        {"contextName": "plan", "operator": "IN", "values": ["pro"]},
                    ],
                )
            ],
        },
        {
            "name": "s5",
            "enabled": True,
            "strategies": [_rollout("s5", 100)],
            "variants": [
                {"name": n, "weight": w, "weightType": "variable", "stickiness": "userId"}
                for n, w in (("a", 340), ("b", 330), ("c", 330))
            ],
        },
    ],
}


def build() -> Bench:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import BaseCache
    from UnleashClient.constants import FEATURES_URL
    from UnleashClient.utils import InstanceAllowType

    class MemoryCache(BaseCache):
        """A dict-backed cache so the benchmark touches no files."""

        def __init__(self, features: dict[str, Any]) -> None:
            self._data: dict[str, Any] = {FEATURES_URL: json.dumps(features)}
            self.bootstrapped = True

        def set(self, key: str, value: Any) -> None:
            self._data[key] = value

        def mset(self, data: dict[str, Any]) -> None:
            self._data.update(data)

        def get(self, key: str, default: Any = None) -> Any:
            return self._data.get(key, default)

        def exists(self, key: str) -> bool:
            return key in self._data

        def destroy(self) -> None:
            self._data.clear()

    client = UnleashClient(
        url="http://127.0.0.1:9/unused",
        app_name="flagkit-benchmarks",
        disable_metrics=True,
        disable_registration=True,
        cache=MemoryCache(FEATURES),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    is_enabled = client.is_enabled
    get_variant = client.get_variant

    def make(name: str):
        def run(uid: str, attributes: dict[str, Any]) -> bool:
            return is_enabled(name, {"userId": uid, "properties": attributes})

        return run

    def s5(uid: str, attributes: dict[str, Any]) -> str:
        return get_variant("s5", {"userId": uid, "properties": attributes})["name"]

    call = 'client.is_enabled("{}", {{"userId": uid, "properties": attrs}})'
    return Bench(
        {"S1": make("s1"), "S2": make("s2"), "S3": make("s3"), "S4": make("missing"), "S5": s5},
        {
            "S1": call.format("s1"),
            "S2": call.format("s2"),
            "S3": call.format("s3"),
            "S4": call.format("missing"),
            "S5": 'client.get_variant("s5", {"userId": uid, "properties": attrs})["name"]',
        },
        {"client": client},
        close=client.destroy,
    )
