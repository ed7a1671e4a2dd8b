"""growthbook (Python SDK) from a ``features`` dict, no API host, no tracking callback.

One long-lived ``GrowthBook`` instance holds the parsed features; each call builds the
attributes dict and hands it over with ``set_attributes`` before evaluating. That is the
cheapest per-request pattern the synchronous SDK supports (constructing a ``GrowthBook`` per
request, as its docs show, re-parses every feature and is several times slower), so this
favours GrowthBook. It is not safe across threads; the benchmark is single-threaded.
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers import Bench

NAME = "growthbook"
DIST = "growthbook"
NOTES = "GrowthBook(features=...) once; set_attributes({id, country, plan}) + is_on per call"

FEATURES: dict[str, Any] = {
    "s1": {"defaultValue": True},
    "s2": {
        "defaultValue": False,
        "rules": [{"force": True, "coverage": 0.10, "hashAttribute": "id"}],
    },
    "s3": {
        "defaultValue": False,
        "rules": [
            {
                "condition": {"country": {"$in": ["US", "CA"]}, "plan": "pro"},
                "force": True,
                "coverage": 0.25,
                "hashAttribute": "id",
            }
        ],
    },
    "s5": {
        "defaultValue": "c",
        "rules": [
            {
                "key": "s5",
                "variations": ["a", "b", "c"],
                "weights": [0.34, 0.33, 0.33],
                "hashAttribute": "id",
            }
        ],
    },
}


def build() -> Bench:
    from growthbook import GrowthBook

    gb = GrowthBook(features=FEATURES)
    set_attributes = gb.set_attributes
    is_on = gb.is_on
    get_feature_value = gb.get_feature_value

    def make_bool(name: str):
        def run(uid: str, attributes: dict[str, Any]) -> bool:
            set_attributes({"id": uid, **attributes})
            return is_on(name)

        return run

    def s5(uid: str, attributes: dict[str, Any]) -> Any:
        set_attributes({"id": uid, **attributes})
        return get_feature_value("s5", None)

    call = 'gb.set_attributes({{"id": uid, **attrs}})\ngb.is_on("{}")'
    return Bench(
        {
            "S1": make_bool("s1"),
            "S2": make_bool("s2"),
            "S3": make_bool("s3"),
            "S4": make_bool("missing"),
            "S5": s5,
        },
        {
            "S1": call.format("s1"),
            "S2": call.format("s2"),
            "S3": call.format("s3"),
            "S4": call.format("missing"),
            "S5": 'gb.set_attributes({"id": uid, **attrs})\ngb.get_feature_value("s5", None)',
        },
        {"gb": gb},
        close=gb.destroy,
    )
