"""openfeature-sdk with its ``InMemoryProvider``.

The in-memory provider has no targeting language: percentages and conditions are
``context_evaluator`` callables, written here the way the floor writes them. What this row
measures is therefore the OpenFeature client machinery itself (hooks, context merging,
details objects) on top of hand-written rules. Each call builds an ``EvaluationContext``.
"""

from __future__ import annotations

from typing import Any

import mmh3

from benchmarks.peers import Bench

NAME = "openfeature-sdk (InMemoryProvider)"
DIST = "openfeature-sdk"
NOTES = "client.get_*_value with a new EvaluationContext per call; rules are context_evaluators"

DOMAIN = "flagkit-benchmarks"


def build() -> Bench:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    hash32 = mmh3.hash

    def bucket(flag: str, ctx: EvaluationContext) -> int:
        return hash32(f"{flag}:{ctx.targeting_key}", signed=False) % 100

    def split(flag: str, pct: int):
        def evaluator(f: InMemoryFlag[bool], ctx: EvaluationContext) -> FlagResolutionDetails[bool]:
            variant = "on" if bucket(flag, ctx) < pct else "off"
            return FlagResolutionDetails(f.variants[variant], variant=variant, reason=Reason.SPLIT)

        return evaluator

    def s3(f: InMemoryFlag[bool], ctx: EvaluationContext) -> FlagResolutionDetails[bool]:
        attrs = ctx.attributes
        on = (
            attrs.get("country") in ("US", "CA")
            and attrs.get("plan") == "pro"
            and bucket("s3", ctx) < 25
        )
        variant = "on" if on else "off"
        reason = Reason.TARGETING_MATCH
        return FlagResolutionDetails(f.variants[variant], variant=variant, reason=reason)

    def s5(f: InMemoryFlag[str], ctx: EvaluationContext) -> FlagResolutionDetails[str]:
        b = bucket("s5", ctx)
        variant = "a" if b < 34 else "b" if b < 67 else "c"
        return FlagResolutionDetails(f.variants[variant], variant=variant, reason=Reason.SPLIT)

    onoff = {"on": True, "off": False}
    provider = InMemoryProvider(
        {
            "s1": InMemoryFlag("on", onoff),
            "s2": InMemoryFlag("off", onoff, context_evaluator=split("s2", 10)),
            "s3": InMemoryFlag("off", onoff, context_evaluator=s3),
            "s5": InMemoryFlag("c", {"a": "a", "b": "b", "c": "c"}, context_evaluator=s5),
        }
    )
    api.set_provider_and_wait(provider, domain=DOMAIN)
    client = api.get_client(domain=DOMAIN)
    get_bool = client.get_boolean_value
    get_str = client.get_string_value

    def make_bool(name: str):
        def run(uid: str, attributes: dict[str, Any]) -> bool:
            return get_bool(name, False, EvaluationContext(uid, attributes))

        return run

    def run_s5(uid: str, attributes: dict[str, Any]) -> str:
        return get_str("s5", "", EvaluationContext(uid, attributes))

    def close() -> None:
        api.clear_providers()

    call = 'client.get_boolean_value("{}", False, EvaluationContext(uid, attrs))'
    return Bench(
        {
            "S1": make_bool("s1"),
            "S2": make_bool("s2"),
            "S3": make_bool("s3"),
            "S4": make_bool("missing"),
            "S5": run_s5,
        },
        {
            "S1": call.format("s1"),
            "S2": call.format("s2"),
            "S3": call.format("s3"),
            "S4": call.format("missing"),
            "S5": 'client.get_string_value("s5", "", EvaluationContext(uid, attrs))',
        },
        {"client": client, "EvaluationContext": EvaluationContext},
        close=close,
    )
