"""The Amazon Ion retrieval form of a feature-flag profile with multi-variant flags.

AppConfig serves a profile that holds at least one multi-variant flag as Ion (appconfig.md
§2.3)::

    'tiered_release'::[
      [ (or (eq $group "Tier1") (split by::$userId pct::1)),
        '''{"_variant": "Show", "enabled": true}''' ],
      '''{"_variant": "Hide", "enabled": false}''' ]
    'button_color'::'''{"enabled": true, "color": "orange"}'''

Each top-level value is annotated with its flag key. A multi-variant flag is a list whose
elements are ``[rule-sexp, json]`` pairs, the last a bare JSON string (the default variant); a
basic flag is a bare JSON string. The rule s-expression is rendered back to rule text and
compiled by the same rule compiler as the JSON forms, so both forms mean the same thing.

Only Ion *text* is read. Every Ion document AWS documents for feature flags is text (the
user guide's local-development samples, served as ``application/ion``); binary Ion appears in
none of them, so binary is refused before any reader runs. Reading it cost too much to keep:
amazon-ion's C reader loops for ever on some malformed binary bodies (holding the GIL), and its
pure-Python reader builds a placeholder for every symbol of an imported shared table it does
not know, so a 26-byte body importing ``max_id: 2000000000`` allocates until the process is
killed (tests/test_ion.py runs both in a child with a memory limit).

Needs the optional ``amazon-ion`` package: ``pip install 'flagkit-appconfig[ion]'``.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

from flagkit._exceptions import DocumentError, MissingExtraError
from flagkit._rules.parse import MAX_DEPTH

from .checks import KEY_PATTERN, MAX_VARIANTS
from .fast import check_state
from .limits import MAX_DOCUMENT_BYTES
from .spec import FlagSpec, VariantSpec
from .strict_json import parse_json

__all__ = ["load_ion"]

_BINARY_VERSION_MARKER = b"\xe0\x01\x00\xea"


def _ion() -> Any:
    try:
        from amazon.ion import simpleion
    except ImportError as exc:
        raise MissingExtraError("ion", "amazon-ion") from exc
    return simpleion


def load_ion(body: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[FlagSpec, ...]:
    """Parse and validate the Ion form; raises DocumentError (or MissingExtraError)."""
    size = len(body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DocumentError(
            "document too large", expected=f"at most {max_bytes} bytes", found=f"{size} bytes"
        )
    if isinstance(body, bytes) and body.startswith(_BINARY_VERSION_MARKER):
        raise DocumentError(
            "binary Ion is not supported",
            expected="Ion text (the form AppConfig serves for multi-variant flags)",
            found="the binary Ion version marker E0 01 00 EA",
        )
    simpleion = _ion()
    try:
        values = simpleion.loads(body, single_value=False)
    except Exception as exc:  # amazon-ion raises several unrelated types for bad input
        raise DocumentError("malformed Ion", expected="Ion text", found=type(exc).__name__) from exc
    import re

    specs: list[FlagSpec] = []
    seen: set[str] = set()
    for value in values:
        annotations = [getattr(a, "text", a) for a in getattr(value, "ion_annotations", ())]
        if len(annotations) != 1 or not isinstance(annotations[0], str):
            raise DocumentError(
                "each top-level Ion value must be annotated with its flag key",
                expected="one annotation",
                found=f"{len(annotations)} annotation(s)",
            )
        key = annotations[0]
        if not re.fullmatch(KEY_PATTERN, key, re.ASCII):
            raise DocumentError(
                "invalid flag key",
                flag=key,
                expected=f"a key matching {KEY_PATTERN}",
                found=repr(key),
            )
        if key in seen:
            raise DocumentError(
                "duplicate flag", flag=key, expected="each flag once", found="twice"
            )
        seen.add(key)
        specs.append(_flag(key, value))
    return tuple(specs)


def _flag(key: str, value: Any) -> FlagSpec:
    if isinstance(value, str):
        enabled, values = check_state(key, "", _content(key, "", value), allow_variant=False)
        return FlagSpec(key, (VariantSpec(None, enabled, None, values),), frozenset(values), False)
    if not isinstance(value, list) or not value:
        raise DocumentError(
            "a flag must be a JSON string or a non-empty list of variants",
            flag=key,
            expected="string or list",
            found=_kind(value),
        )
    if len(value) > MAX_VARIANTS:
        raise DocumentError(
            "too many variants", flag=key, expected=f"at most {MAX_VARIANTS}", found=str(len(value))
        )
    variants: list[VariantSpec] = []
    last = len(value) - 1
    for i, element in enumerate(value):
        where = f"[{i}]"
        if i == last:
            if not isinstance(element, str):
                raise DocumentError(
                    "the default variant must come last, without a rule",
                    flag=key,
                    field=where,
                    expected="a JSON string",
                    found=_kind(element),
                )
            rule = None
            content = element
        else:
            if not (
                isinstance(element, list) and len(element) == 2 and isinstance(element[1], str)
            ):
                raise DocumentError(
                    "a variant must be [rule, JSON]",
                    flag=key,
                    field=where,
                    expected="a two-element list",
                    found=_kind(element),
                )
            rule = _render(element[0], key, where)
            content = element[1]
        state = _content(key, where, content)
        name = state.get("_variant")
        if not isinstance(name, str) or not name:
            raise DocumentError(
                "variant content needs a _variant name",
                flag=key,
                field=f"{where}._variant",
                expected="a non-empty string",
                found=repr(name),
            )
        enabled, values = check_state(key, where, state, allow_variant=True)
        variants.append(VariantSpec(name, enabled, rule, values))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise DocumentError(
            "duplicate variant name", flag=key, expected="unique names", found=repr(names)
        )
    attributes = frozenset(k for v in variants for k in v.values)
    return FlagSpec(key, tuple(variants), attributes, True)


def _content(key: str, where: str, text: str) -> dict[str, Any]:
    try:
        data = parse_json(text)
    except DocumentError as exc:
        raise DocumentError(
            exc.message, flag=key, field=where or None, expected=exc.expected, found=exc.found
        ) from exc
    if not isinstance(data, dict):
        raise DocumentError(
            "flag content must be a JSON object",
            flag=key,
            field=where or None,
            expected="an object",
            found=type(data).__name__,
        )
    return data


def _kind(value: Any) -> str:
    ion_type = getattr(value, "ion_type", None)
    return ion_type.name.lower() if ion_type is not None else type(value).__name__


def _render(node: Any, key: str, where: str, depth: int = 1) -> str:
    """An Ion rule value back to flagkit's rule text (which is Ion's text syntax)."""
    ion_type = getattr(node, "ion_type", None)
    name = ion_type.name if ion_type is not None else ""
    # The rule parser refuses nesting past MAX_DEPTH s-expressions (a list adds one level);
    # refuse past that here, before Python's recursion limit is reached.
    if depth > MAX_DEPTH + 1 and name in {"SEXP", "LIST"}:
        raise DocumentError(
            f"rule nested deeper than {MAX_DEPTH} levels",
            flag=key,
            field=f"{where}.rule",
            expected=f"at most {MAX_DEPTH} levels of s-expressions",
            found="more",
        )
    prefix = "".join(f"{getattr(a, 'text', a)}::" for a in getattr(node, "ion_annotations", ()))
    if type(node).__name__ == "IonPyNull":  # a typed null (null.int, null.sexp, ...)
        raise DocumentError(
            "null is not a supported value in a rule",
            flag=key,
            field=f"{where}.rule",
            expected="a non-null value",
            found=f"null.{name.lower()}",
        )
    if name == "SEXP":
        return prefix + "(" + " ".join(_render(x, key, where, depth + 1) for x in node) + ")"
    if name == "LIST":
        return prefix + "[" + ", ".join(_render(x, key, where, depth + 1) for x in node) + "]"
    if name == "SYMBOL":
        return prefix + str(getattr(node, "text", node))
    if name == "STRING":
        return prefix + json.dumps(str(node), ensure_ascii=False)
    if name == "BOOL":
        return prefix + ("true" if node else "false")
    if name == "INT":
        return prefix + str(int(node))
    if name in {"FLOAT", "DECIMAL"}:
        number = Decimal(str(node)) if name == "DECIMAL" else float(node)
        return prefix + str(number)
    if name == "TIMESTAMP":
        out = io.BytesIO()  # pure-Python writer: ion-c's has segfaulted on document values
        _ion().dump_python(node, out, binary=False, omit_version_marker=True)
        return prefix + out.getvalue().decode("utf-8").rsplit("::", maxsplit=1)[-1]
    raise DocumentError(
        "unsupported value in a rule",
        flag=key,
        field=f"{where}.rule",
        expected="symbols, strings, numbers, booleans, timestamps, lists, s-expressions",
        found=name.lower() or type(node).__name__,
    )
