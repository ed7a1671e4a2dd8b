"""flagkit through flag handles: ``h = flags.flag("s2")`` once, ``h.enabled(uid, attrs)`` per call.

A handle is fetched once, where an application declares its flags, and called per request
with no flag key to look up (issue 18, target 2). ``Flags.flag`` is new; in a tree without it
this row is left out (``available()``).
"""

from __future__ import annotations

from benchmarks.peers import Bench
from benchmarks.scenarios import SCENARIOS, appconfig_document

NAME = "flagkit handle"
DIST = "flagkit"
NOTES = "h = flags.flag(key) once; h.enabled(user_id, attributes) / h.variant(...) per call"


def available() -> bool:
    import flagkit

    return hasattr(flagkit.Flags, "flag")


def version() -> str:
    import flagkit

    return str(flagkit.__version__)


def build() -> Bench:
    import flagkit

    flags = flagkit.Flags(flagkit.StaticSource(appconfig_document()))
    # One handle per scenario, named after it: S4's is for the flag no document defines.
    handles = {s.key.lower(): flags.flag(s.flag) for s in SCENARIOS}
    evaluators = {s.key: handles[s.key.lower()].enabled for s in SCENARIOS}
    evaluators["S5"] = handles["s5"].variant
    call_sites = {s.key: f"{s.key.lower()}.enabled(uid, attrs)" for s in SCENARIOS}
    call_sites["S5"] = "s5.variant(uid, attrs)"
    return Bench(evaluators, call_sites, handles, close=flags.close)
