"""launchdarkly-server-sdk, offline: flags come from a JSON file, events are off.

The file holds full flag representations (the same JSON LaunchDarkly streams), so rollouts
and rules use LaunchDarkly's own bucketing (SHA-1 of ``key.salt.id``, weights in 1/1000 %).
``send_events=False`` and ``diagnostic_opt_out=True`` keep the event pipeline off; the file
data source does not poll. Each call builds a ``Context`` with the user's attributes.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from benchmarks.peers import Bench

NAME = "launchdarkly-server-sdk"
DIST = "launchdarkly-server-sdk"
NOTES = "LDClient with Files data source, send_events=False; Context.builder(...).build() per call"


def _flag(key: str, variations: list[Any], **parts: Any) -> dict[str, Any]:
    flag = {
        "key": key,
        "version": 1,
        "on": True,
        "salt": f"{key}-salt",
        "variations": variations,
        "offVariation": len(variations) - 1,
        "targets": [],
        "contextTargets": [],
        "rules": [],
        "prerequisites": [],
        "fallthrough": {"variation": 0},
        "trackEvents": False,
        "trackEventsFallthrough": False,
        "clientSide": False,
        "deleted": False,
    }
    flag.update(parts)
    return flag


def _rollout(*weights: int) -> dict[str, Any]:
    """Percent weights -> LaunchDarkly's 100,000-unit weights over variations 0..n-1."""
    variations = [{"variation": i, "weight": w * 1000} for i, w in enumerate(weights)]
    return {"rollout": {"variations": variations}}


FLAGS: dict[str, Any] = {
    "s1": _flag("s1", [True, False]),
    "s2": _flag("s2", [True, False], fallthrough=_rollout(10, 90)),
    "s3": _flag(
        "s3",
        [True, False],
        fallthrough={"variation": 1},
        rules=[
            {
                "id": "us-ca-pro",
                "clauses": [
                    {"attribute": "country", "op": "in", "values": ["US", "CA"], "negate": False},
                    {"attribute": "plan", "op": "in", "values": ["pro"], "negate": False},
                ],
                **_rollout(25, 75),
                "trackEvents": False,
            }
        ],
    ),
    "s5": _flag("s5", ["a", "b", "c"], fallthrough=_rollout(34, 33, 33)),
}


def build() -> Bench:
    from ldclient.client import LDClient
    from ldclient.config import Config
    from ldclient.context import Context
    from ldclient.integrations import Files

    fd, path = tempfile.mkstemp(prefix="flagkit-bench-ld-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"flags": FLAGS}, fh)
    config = Config(
        sdk_key="offline-benchmark",
        update_processor_class=Files.new_data_source(paths=[path]),
        send_events=False,
        diagnostic_opt_out=True,
    )
    client = LDClient(config=config, start_wait=5)
    if not client.is_initialized():
        client.close()
        os.unlink(path)
        raise RuntimeError("LaunchDarkly file data source did not initialize")
    variation = client.variation
    builder = Context.builder

    def make(name: str, default: object):
        def run(uid: str, attributes: dict[str, Any]) -> Any:
            b = builder(uid)
            for attr, value in attributes.items():
                b.set(attr, value)
            return variation(name, b.build(), default)

        return run

    def close() -> None:
        client.close()
        os.unlink(path)

    call = """
builder = Context.builder(uid)
for attr, value in attrs.items():
    builder.set(attr, value)
client.variation("{}", builder.build(), {})
"""
    return Bench(
        {
            "S1": make("s1", False),
            "S2": make("s2", False),
            "S3": make("s3", False),
            "S4": make("missing", False),
            "S5": make("s5", None),
        },
        {
            "S1": call.format("s1", False),
            "S2": call.format("s2", False),
            "S3": call.format("s3", False),
            "S4": call.format("missing", False),
            "S5": call.format("s5", None),
        },
        {"client": client, "Context": Context},
        close=close,
    )
