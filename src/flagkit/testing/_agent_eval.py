"""What the local AppConfig Agent answers for one request: context parsing and evaluation.

The agent receives a feature-flag profile in its retrieval-time format (the data view for a
profile of basic flags, Amazon Ion once any flag has variants) and evaluates it per request
(user guide, "Retrieving basic and multi-variant feature flags"):

* ``Context: key=value`` headers, repeated or comma-separated in one header, are the rules'
  context (user guide code sample "Using AWS AppConfig Agent to retrieve a feature flag with
  variants": "Multiple context values may be passed either across multiple headers or as
  comma-separated values in a single header");
* ``?flag=key`` (repeatable) narrows the answer to those flags, for feature-flag profiles
  only (same page, and "Using AWS AppConfig Agent to read a specific feature flag": "the
  configuration's type must be AWS.AppConfig.FeatureFlags");
* a multi-variant flag answers with the variant its rules pick, named in ``_variant``:
  ``{"ui_refresh": {"_variant": "QA", "dark_mode_support": true, "enabled": true}}``.

The rules are flagkit's own compiled rules (``flagkit._snapshot``): there is one rule engine.
flagkit's ramps (``flagkit-*`` attributes) are not applied here; an agent knows nothing of
them and passes them on as attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flagkit._document.spec import FlagSpec
from flagkit._exceptions import DocumentError
from flagkit._rules.compile import CompiledRule

__all__ = [
    "MAX_ENTITY_ID_BYTES",
    "AgentError",
    "EntityVersion",
    "Evaluator",
    "Served",
    "check_entity_id",
    "parse_context",
]

# "The Entity-Id ... can be up to 2 KB" (user guide, "How to use AWS AppConfig Agent",
# entity-based gradual deployments).
MAX_ENTITY_ID_BYTES = 2048


class AgentError(Exception):
    """A request the agent refuses: the HTTP status and the text body it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Served:
    """One configuration version as the data plane delivered it to the agent."""

    body: bytes
    content_type: str
    version: str | None  # the data plane's Version-Label, sent on as Configuration-Version


# (configuration, entity id) -> the version that entity is served now, or None for "whatever
# the agent's own session was served" (no deployment in progress, or nothing known of one).
EntityVersion = Callable[[tuple[str, str, str], str], "Served | None"]


def parse_context(headers: Iterable[str]) -> dict[str, str]:
    """The ``Context`` headers as one mapping; ``AgentError(400)`` when one is malformed.

    Each header holds ``key=value`` pairs separated by commas; blanks around keys and values
    are ignored, and a key given twice keeps its last value **[inference]**: AWS documents
    neither.
    """
    context: dict[str, str] = {}
    for header in headers:
        for part in header.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key:
                raise AgentError(
                    400, f"BadRequest: Context entry {part.strip()!r} is not key=value"
                )
            context[key] = value.strip()
    return context


def check_entity_id(entity_id: str | None) -> str | None:
    """The ``Entity-Id`` header, refused with 400 past the documented 2 KB."""
    if entity_id is not None and len(entity_id.encode("utf-8", "surrogateescape")) > (
        MAX_ENTITY_ID_BYTES
    ):
        raise AgentError(400, f"BadRequest: Entity-Id is longer than {MAX_ENTITY_ID_BYTES} bytes")
    return entity_id


@dataclass(frozen=True, slots=True)
class _Flag:
    spec: FlagSpec
    rules: tuple[CompiledRule | None, ...]


class Evaluator:
    """One served version, compiled once: ``answer()`` renders it for a request.

    A body that is not a feature-flag document (a freeform profile) is passed through as is.
    """

    def __init__(self, served: Served) -> None:
        self.served = served
        self._flags: dict[str, _Flag] | None = _compile(served)

    @property
    def feature_flags(self) -> bool:
        """Whether the body is a feature-flag document (else a freeform profile's bytes)."""
        return self._flags is not None

    def answer(self, flags: Sequence[str], context: Mapping[str, Any]) -> tuple[bytes, str]:
        """The body and content type for one request; ``AgentError`` for a refused one."""
        if self._flags is None:
            if flags:
                raise AgentError(
                    400, "BadRequest: ?flag= needs an AWS.AppConfig.FeatureFlags profile"
                )
            return self.served.body, self.served.content_type
        keys = list(dict.fromkeys(flags)) if flags else list(self._flags)
        missing = [k for k in keys if k not in self._flags]
        if missing:
            # [inference] AWS does not say what an unknown ?flag= key gives; 404 is the
            # agent's "not found" status (UG-old OpenAPI).
            raise AgentError(404, f"ResourceNotFound: no flag {missing[0]!r}")
        out = {key: _evaluate(self._flags[key], context) for key in keys}
        return json.dumps(out).encode(), "application/json"


def _compile(served: Served) -> dict[str, _Flag] | None:
    from flagkit._snapshot import build_snapshot

    media = served.content_type.split(";", 1)[0].strip().lower()
    try:
        if media in {"application/ion", "text/ion"}:
            from flagkit._document.ion import load_ion

            specs = load_ion(served.body)
        else:
            from flagkit._document.appconfig import load_document, parse_json

            specs = load_document(parse_json(served.body))
        snapshot = build_snapshot(specs, version=served.version)
    except DocumentError:
        return None  # not a feature-flag document: a freeform profile, served as is
    return {spec.key: _Flag(spec, snapshot.flags[spec.key].rules) for spec in specs}


def _evaluate(flag: _Flag, context: Mapping[str, Any]) -> dict[str, Any]:
    """The first variant whose rule matches (the default last), rendered as the agent does.

    The attributes of a disabled flag or variant are left out: "If a flag sets enabled to
    true, any attributes of the flag will be present as well" (user guide, feature flag type
    reference), and the agent's answer without context is
    ``{"ui_refresh": {"_variant": "Default Variant", "enabled": false}}`` although that
    variant has attribute values.
    """
    variants = flag.spec.variants
    chosen = variants[-1]
    for variant, rule in zip(variants, flag.rules, strict=True):
        if rule is None or rule.test(None, context):
            chosen = variant
            break
    out: dict[str, Any] = {"enabled": chosen.enabled}
    if chosen.name is not None:
        out["_variant"] = chosen.name
    if chosen.enabled:
        out.update((k, list(v) if isinstance(v, tuple) else v) for k, v in chosen.values.items())
    # AWS's examples list keys in sorted order ("_variant" first) **[inference]**
    return dict(sorted(out.items()))
