"""What ``AgentSource(evaluate="agent")`` costs: one loopback round trip per evaluation.

    .venv/bin/python benchmarks/agent_cost.py

Three clients read the same multi-variant flag from the local agent (flagkit.testing, serving
from its cache: poll_interval 45 s, as AWS's agent): the default mode (the context-free
variant, in process), the opt-in (the agent evaluates each call), and AppConfigSource-style
in-process rules (a StaticSource of the stored document) for reference. Medians of interleaved
repeats, microseconds per ``flags.details()``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import flagkit  # noqa: E402
from flagkit.testing import LocalAppConfigAgent  # noqa: E402

DOC = {
    "version": "1",
    "flags": {"ui_refresh": {"attributes": {"dark_mode_support": {}}}},
    "values": {
        "ui_refresh": {
            "_variants": [
                {
                    "name": "QA",
                    "enabled": True,
                    "rule": '(ends_with $email "qa-testers.mycompany.com")',
                    "attributeValues": {"dark_mode_support": True},
                },
                {"name": "Sample", "enabled": True, "rule": "(split pct::10 by::$email)"},
                {"name": "Default Variant", "enabled": False},
            ]
        }
    },
}


def main(repeats: int = 9, n: int = 500) -> dict[str, float]:
    users = [(f"user-{i}", {"email": f"user-{i}@example.com"}) for i in range(n)]
    with LocalAppConfigAgent(poll_interval=45) as agent:
        agent.publish("shop", "prod", "flags", DOC)
        clients = {
            "in process (StaticSource)": flagkit.Flags(flagkit.StaticSource(DOC)),
            "agent, default (contextless)": flagkit.Flags(agent.source("shop", "prod", "flags")),
            "agent, evaluate='agent'": flagkit.Flags(
                agent.source("shop", "prod", "flags", evaluate="agent")
            ),
        }
        samples: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(repeats):
            for name, client in clients.items():
                details = client.details
                t0 = time.perf_counter_ns()
                for uid, attributes in users:
                    details("ui_refresh", uid, attributes)
                samples[name].append((time.perf_counter_ns() - t0) / n / 1000)
        for client in clients.values():
            client.close()
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for name, us in medians.items():
        print(f"{name:>30}: {us:9.2f} µs per details()")
    return medians


if __name__ == "__main__":
    main()
