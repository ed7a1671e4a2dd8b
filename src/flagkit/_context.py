"""The caller's attributes, as the compiled closures read them.

Evaluation takes any mapping (or None) as ``attributes``; the closures a snapshot holds read a
plain ``dict``. The hot paths test ``type(attributes) is dict`` inline and come here only for
anything else. This module imports nothing of flagkit's, so ``import flagkit`` can load the
client and its handles without the snapshot stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["as_context"]


def as_context(attributes: Any) -> dict[str, Any] | None:
    """The attributes as the compiled closures expect them: None or a plain dict.

    Raises TypeError for something that is not a mapping (evaluation turns it into the
    caller's default, and ``details()`` into INVALID_CONTEXT).
    """
    if attributes is None or type(attributes) is dict:
        return attributes
    if isinstance(attributes, Mapping):
        return dict(attributes)
    raise TypeError(f"attributes must be a mapping, not {type(attributes).__name__}")
