"""aws-lambda-powertools ``feature_flags`` over an in-memory store.

Powertools has no hashing: its only percentage tool is ``MODULO_RANGE`` over an integer that
the caller puts in the context. So the per-call context does what an application using it must
do: ``{"user_id", "bucket": mmh3(user_id), **attributes}``. S5 is a non-boolean feature whose
first two rules cut the bucket at 0-33 and 34-66, default "c".
"""

from __future__ import annotations

from typing import Any

import mmh3

from benchmarks.peers import Bench

NAME = "aws-lambda-powertools"
DIST = "aws-lambda-powertools"
NOTES = "FeatureFlags over an in-memory StoreProvider; context dict + mmh3(uid) bucket per call"


def _modulo(start: int, end: int) -> dict[str, Any]:
    value = {"BASE": 100, "START": start, "END": end}
    return {"action": "MODULO_RANGE", "key": "bucket", "value": value}


SCHEMA: dict[str, Any] = {
    "s1": {"default": True},
    "s2": {
        "default": False,
        "rules": {"10 %": {"when_match": True, "conditions": [_modulo(0, 9)]}},
    },
    "s3": {
        "default": False,
        "rules": {
            "US/CA pro 25 %": {
                "when_match": True,
                "conditions": [
                    {"action": "IN", "key": "country", "value": ["US", "CA"]},
                    {"action": "EQUALS", "key": "plan", "value": "pro"},
                    _modulo(0, 24),
                ],
            }
        },
    },
    "s5": {
        "default": "c",
        "boolean_type": False,
        "rules": {
            "a": {"when_match": "a", "conditions": [_modulo(0, 33)]},
            "b": {"when_match": "b", "conditions": [_modulo(34, 66)]},
        },
    },
}


def build() -> Bench:
    from aws_lambda_powertools.utilities.feature_flags import FeatureFlags
    from aws_lambda_powertools.utilities.feature_flags.base import StoreProvider

    class InMemoryStore(StoreProvider):
        """The documented extension point; returns the same dict, as a cache hit would."""

        def __init__(self, schema: dict[str, Any]) -> None:
            self._schema = schema

        @property
        def get_raw_configuration(self) -> dict[str, Any]:
            return self._schema

        def get_configuration(self) -> dict[str, Any]:
            return self._schema

    flags = FeatureFlags(store=InMemoryStore(SCHEMA))
    evaluate = flags.evaluate
    hash32 = mmh3.hash

    def make(name: str, default: object):
        def run(uid: str, attributes: dict[str, Any]) -> Any:
            context = {"user_id": uid, "bucket": hash32(uid, signed=False), **attributes}
            return evaluate(name=name, context=context, default=default)

        return run

    call = """
feature_flags.evaluate(
    name="{}",
    context={{"user_id": uid, "bucket": mmh3.hash(uid, signed=False), **attrs}},
    default={},
)
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
        {"feature_flags": flags, "mmh3": mmh3},
    )
