"""The retrieval-time format: what GetLatestConfiguration serves for a feature-flag profile.

A hosted version of an ``AWS.AppConfig.FeatureFlags`` profile is stored as the full document
(``{"version": "1", "flags": ..., "values": ...}``); AppConfigData never serves that form
(research/appconfig.md §2.2-2.3; AWS user guide, "Feature flag samples for AWS AppConfig Agent
local development mode"):

* every flag basic -> the flattened **data view**, ``application/json``:
  ``{"flag": {"enabled": true, "<attr>": value}, "off": {"enabled": false}}``. Attributes
  appear only on enabled flags (user guide, "Type reference for AWS.AppConfig.FeatureFlags":
  "If a flag sets enabled to true, any attributes of the flag will be present as well").
* at least one multi-variant flag -> **Amazon Ion** with the rules: a multi-variant flag is a
  list of ``[rule, '''json''']`` pairs ending in the default variant's bare JSON string; a
  basic flag is an annotated JSON string. Its content type is
  ``application/ion;type=AWS.AppConfig.FeatureFlags`` **[inference]** from the local-development
  file extension ``.application%ion%type=AWS.AppConfig.FeatureFlags``.

Validation is flagkit's own stored-document validator (``flagkit._document``), which follows
AWS's published schema; a document it refuses is refused by CreateHostedConfigurationVersion.
"""

from __future__ import annotations

import json
from typing import Any

from flagkit._document.appconfig import load_document, parse_json
from flagkit._exceptions import DocumentError

__all__ = ["DATA_VIEW_TYPE", "ION_TYPE", "render_feature_flags", "validate_feature_flags"]

DATA_VIEW_TYPE = "application/json"
ION_TYPE = "application/ion;type=AWS.AppConfig.FeatureFlags"
_INTERNAL = frozenset({"enabled", "_createdAt", "_updatedAt", "_variants"})


def validate_feature_flags(content: bytes) -> dict[str, Any]:
    """The parsed stored document, or DocumentError naming what AWS's schema refuses."""
    data = parse_json(content)
    if not isinstance(data, dict) or not isinstance(data.get("version"), str):
        # A data view (or any other JSON) is not a stored document: AWS's schema requires
        # "version" at the top and forbids any other unknown key.
        raise DocumentError(
            "not a stored feature-flag document",
            expected='{"version": "1", "flags": {...}, "values": {...}}',
            found="no top-level string 'version'",
        )
    load_document(data)
    return data


def render_feature_flags(document: dict[str, Any]) -> tuple[bytes, str]:
    """The retrieval-time body and content type for a validated stored document."""
    flags: dict[str, Any] = document.get("flags") or {}
    values: dict[str, Any] = document.get("values") or {}
    if not any("_variants" in (values.get(key) or {}) for key in flags):
        view = {key: _state(values.get(key) or {}) for key in flags}
        return json.dumps(view, ensure_ascii=False).encode(), DATA_VIEW_TYPE
    parts = []
    for key in flags:
        value = values.get(key) or {}
        if "_variants" not in value:
            parts.append(f"{_symbol(key)}::{_long_string(_state(value))}")
            continue
        *ruled, default = value["_variants"]
        elements = [f"[ {v['rule']}, {_long_string(_variant(v))} ]" for v in ruled]
        elements.append(_long_string(_variant(default)))
        parts.append(f"{_symbol(key)}::[\n  " + ",\n  ".join(elements) + " ]")
    return ("\n".join(parts) + "\n").encode(), ION_TYPE


def _state(value: dict[str, Any]) -> dict[str, Any]:
    """A basic flag's data-view entry: ``enabled``, and its attributes only when enabled."""
    enabled = value.get("enabled") is True
    state: dict[str, Any] = {"enabled": enabled}
    if enabled:
        state.update((k, v) for k, v in value.items() if k not in _INTERNAL)
    return state


def _variant(variant: dict[str, Any]) -> dict[str, Any]:
    # Like the data view, a disabled variant carries no attributes: the user guide's agent
    # example answers {"_variant": "Default Variant", "enabled": false} for a default variant
    # stored with attributeValues (appconfig-integration-retrieving-feature-flags).
    state: dict[str, Any] = {"_variant": variant["name"], "enabled": variant["enabled"] is True}
    if state["enabled"]:
        state.update(variant.get("attributeValues") or {})
    return state


def _symbol(key: str) -> str:
    return "'" + key + "'"  # flag keys are [a-z][a-zA-Z0-9_-]*: nothing to escape


def _long_string(content: dict[str, Any]) -> str:
    """JSON text as an Ion long string; Ion reads back exactly the JSON text."""
    text = json.dumps(content, ensure_ascii=False)
    # Ion interprets backslash escapes inside the string, so JSON's own escapes are escaped
    # again; a quote is escaped so that no run of three can end the long string early.
    return "'''" + text.replace("\\", "\\\\").replace("'", "\\'") + "'''"
