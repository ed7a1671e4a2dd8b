"""The floor: what a careful engineer would hand-write for each scenario, without any SDK.

A dict lookup for the flag's configuration plus, where a percentage is involved, one
``mmh3.hash(f"{flag}:{uid}")`` reduced to 0..99. Every ratio in the report is "SDK time /
floor time" measured in the same repeat, so this module must stay plain: no tricks that a
hand-written check in an application would not have.

An application calls its hand-written check as a function, ``s2(uid, attrs)``, so that is
this floor's call site. ``floor_inline`` writes the same checks inline in the loop instead.
"""

from __future__ import annotations

from typing import Any

import mmh3

from benchmarks.peers import Bench

NAME = "floor (hand-written)"
DIST = None
NOTES = 'a function per check, s2(uid, attrs): dict.get + mmh3.hash(f"{flag}:{uid}") % 100'

# The "document": flag key -> enabled / percentage / variant cut points.
CONFIG: dict[str, Any] = {
    "s1": True,
    "s2": 10,
    "s3": (("US", "CA"), "pro", 25),
    "s5": (34, 67),
}


def build() -> Bench:
    get = CONFIG.get
    hash32 = mmh3.hash

    def s1(uid: str, attributes: dict[str, Any]) -> bool:
        return get("s1", False)

    def s2(uid: str, attributes: dict[str, Any]) -> bool:
        pct = get("s2")
        return pct is not None and hash32(f"s2:{uid}", signed=False) % 100 < pct

    def s3(uid: str, attributes: dict[str, Any]) -> bool:
        cfg = get("s3")
        if cfg is None:
            return False
        countries, plan, pct = cfg
        return (
            attributes.get("country") in countries
            and attributes.get("plan") == plan
            and hash32(f"s3:{uid}", signed=False) % 100 < pct
        )

    def s4(uid: str, attributes: dict[str, Any]) -> bool:
        return get("missing", False)

    def s5(uid: str, attributes: dict[str, Any]) -> str | None:
        cuts = get("s5")
        if cuts is None:
            return None
        bucket = hash32(f"s5:{uid}", signed=False) % 100
        return "a" if bucket < cuts[0] else "b" if bucket < cuts[1] else "c"

    return Bench(
        {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5},
        {key: f"{key.lower()}(uid, attrs)" for key in ("S1", "S2", "S3", "S4", "S5")},
        {"s1": s1, "s2": s2, "s3": s3, "s4": s4, "s5": s5},
    )
