"""flagkit itself, from a ``StaticSource`` holding the AppConfig document of the five flags.

Each call passes the user id and the request's attributes dict as they are: flagkit's
context *is* that dict, so there is nothing else to build. At the call site that is
``flags.enabled("s2", uid, attrs)`` / ``flags.variant("s5", uid, attrs)``; the evaluator table
calls a ``functools.partial`` of the bound method instead.
"""

from __future__ import annotations

import functools

from benchmarks.peers import Bench
from benchmarks.scenarios import appconfig_document

NAME = "flagkit"
DIST = "flagkit"
NOTES = "Flags(StaticSource(doc)); enabled/variant(flag, user_id, attributes) per call"


def version() -> str:
    """flagkit is run from the working tree (not installed), so report its ``__version__``."""
    import flagkit

    return str(flagkit.__version__)


def build() -> Bench:
    import flagkit

    flags = flagkit.Flags(flagkit.StaticSource(appconfig_document()))
    enabled = flags.enabled
    variant = flags.variant

    def make(name: str):
        # functools.partial, not a Python wrapper: the floor is one Python call per evaluation,
        # and an application calls flags.enabled(...) directly, so flagkit pays one call too
        # (partial adds only a C-level argument prepend).
        return functools.partial(enabled, name)

    s5 = functools.partial(variant, "s5")

    return Bench(
        {"S1": make("s1"), "S2": make("s2"), "S3": make("s3"), "S4": make("missing"), "S5": s5},
        {
            "S1": 'flags.enabled("s1", uid, attrs)',
            "S2": 'flags.enabled("s2", uid, attrs)',
            "S3": 'flags.enabled("s3", uid, attrs)',
            "S4": 'flags.enabled("missing", uid, attrs)',
            "S5": 'flags.variant("s5", uid, attrs)',
        },
        {"flags": flags},
        close=flags.close,
    )
