"""The floor's checks written inline where the application asks: no function call at all.

The same logic as ``floor`` (``d.get(flag)`` + ``mmh3.hash(f"{flag}:{uid}") % 100``, with
``d`` the config dict and ``mmh3`` the module), pasted into the loop. It is a call-site row
only: an evaluator for it would be ``floor``'s function again. It shows what the one Python
call every API pays (``floor``'s ``s2(uid, attrs)`` included) costs on its own.
"""

from __future__ import annotations

import mmh3

from benchmarks.peers import Bench
from benchmarks.peers.floor import CONFIG

NAME = "floor, inline (no call)"
DIST = None
NOTES = 'd.get(flag) + mmh3.hash(f"{flag}:{uid}") % 100 written in the loop itself'

CALL_SITES: dict[str, str] = {
    "S1": 'd.get("s1", False)',
    "S2": """
pct = d.get("s2")
pct is not None and mmh3.hash(f"s2:{uid}", signed=False) % 100 < pct
""",
    "S3": """
cfg = d.get("s3")
(
    cfg is not None
    and attrs.get("country") in cfg[0]
    and attrs.get("plan") == cfg[1]
    and mmh3.hash(f"s3:{uid}", signed=False) % 100 < cfg[2]
)
""",
    "S4": 'd.get("missing", False)',
    "S5": """
cuts = d.get("s5")
if cuts is None:
    variant = None
else:
    bucket = mmh3.hash(f"s5:{uid}", signed=False) % 100
    variant = "a" if bucket < cuts[0] else "b" if bucket < cuts[1] else "c"
variant
""",
}


def build() -> Bench:
    return Bench({}, CALL_SITES, {"d": CONFIG, "mmh3": mmh3})
