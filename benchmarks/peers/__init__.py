"""One adapter module per SDK, all with the same shape.

Each module defines

* ``NAME``: the label in the tables;
* ``DIST``: the PyPI distribution whose version the report prints (``None`` for the floor);
* ``NOTES``: one line on how the SDK is configured and what its evaluator does per call;
* ``build() -> Bench``: construct the SDK fully offline with the five scenario flags loaded.
  It imports the SDK inside, so a missing package raises ``ImportError`` only when that one
  SDK is asked for.

``Bench.evaluators`` maps a scenario key ("S1".."S5") to ``evaluate(user_id, attributes)``
(see ``benchmarks.scenarios``). ``Bench.call_sites`` maps the same keys to the source an
application would write at the call site, over ``uid``, ``attrs`` and ``Bench.names``, with the
evaluation's value as its last expression (``flags.enabled("s2", uid, attrs)``); the harness
compiles it into its timing loop (``benchmarks.timing.call_site``). An adapter with no
``evaluators`` is timed at the call site only. ``Bench.close`` releases threads and files.

A module may also define ``available() -> bool``: when it returns False (flagkit's flag handles
in a tree that does not have them yet), the harness leaves the row out without a word.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from benchmarks.scenarios import Evaluate


@dataclass
class Bench:
    """An SDK set up for every scenario."""

    evaluators: dict[str, Evaluate]
    call_sites: dict[str, str]
    names: dict[str, Any]
    close: Callable[[], None] = field(default=lambda: None)


# Order of the table rows: the floor first, flagkit next, then peers as the issue lists them.
ADAPTERS = (
    "floor",
    "floor_inline",
    "flagkit",
    "flagkit_handle",
    "powertools",
    "growthbook",
    "openfeature",
    "launchdarkly",
    "unleash",
)


def available(module: ModuleType) -> bool:
    """Whether the adapter applies to this tree at all (see the module docstring).

    An import that fails here says yes: ``build()`` then fails the same way, and the harness
    reports it as the error it is.
    """
    check = getattr(module, "available", None)
    try:
        return check is None or bool(check())
    except ImportError:
        return True


def load(name: str) -> ModuleType:
    """The adapter module ``benchmarks.peers.<name>``."""
    return importlib.import_module(f"benchmarks.peers.{name}")


def version_of(dist: str | None) -> str:
    """The installed version of ``dist``, or "-" for hand-written code / "missing"."""
    if dist is None:
        return "-"
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"
