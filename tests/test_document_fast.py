"""The fast path (``_document.fast``) and the pydantic models agree on every document.

The property: a document the fast path accepts, the models accept too, with the same FlagSpecs
(types included: 1, 1.0 and True are three answers); every document the models refuse, the
fast path leaves to them, so the error a user sees is the models' own. It is checked on every
document that the document, hostile-document and fuzz tests load (recorded by running them
again, see document_corpus.py), on examples/flags/, on random valid documents, and on the
edge cases below; and the fast path must actually take the valid ones, or it is no path.
"""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from flagkit import DocumentError, Limits
from flagkit._document import appconfig, fast
from flagkit._document.spec import FlagSpec, VariantSpec
from flagkit._rules.patterns import Patterns
from test_fuzz import DATA_VIEW, STORED, valid_documents

TESTS = Path(__file__).resolve().parent
EXAMPLES = sorted((TESTS.parent / "examples" / "flags").glob("*.json"))


def canon(value: Any) -> Any:
    """``value`` with every type spelled out, for an equality that tells 1, 1.0 and True apart
    (and keeps the order of attribute values)."""
    if isinstance(value, FlagSpec):
        return ("FlagSpec", value.key, canon(value.variants), sorted(value.attributes), value.multi_variant)  # fmt: skip
    if isinstance(value, VariantSpec):
        return ("VariantSpec", value.name, value.enabled, value.rule, canon(value.values), value.tree)  # fmt: skip
    if isinstance(value, Mapping):
        return (type(value).__name__, tuple((k, canon(v)) for k, v in value.items()))
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(canon(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def described(error: DocumentError) -> Any:
    return (
        type(error).__name__,
        str(error),
        error.message,
        error.flag,
        error.field,
        error.expected,
        error.found,
        tuple(described(p) for p in error.problems),
    )


def patterns_for(limits: Limits | None) -> Patterns:
    limits = limits or Limits()
    return Patterns(max_size=limits.max_pattern_size, max_total=limits.max_pattern_total)


def by_models(data: Any, limits: Limits | None) -> tuple[Any, int]:
    """What the models make of ``data``: FlagSpecs or the error, and the patterns counted."""
    patterns = patterns_for(limits)
    try:
        return canon(
            appconfig.load_document(data, limits=limits, patterns=patterns)
        ), patterns.total
    except DocumentError as exc:
        return described(exc), patterns.total


def disagreement(data: Any, limits: Limits | None = None) -> str | None:
    """Why the fast path and the door (fast, then models) differ from the models, or None."""
    expected, total = by_models(data, limits)
    refused = expected[0] in ("DocumentError", "RuleError")
    accepted = fast.accept_document(data, limits=limits, patterns=patterns_for(limits))
    if accepted is not None and (refused or canon(accepted) != expected):
        return f"fast path accepted {data!r:.200}: {canon(accepted)!r:.300} != {expected!r:.300}"
    patterns = patterns_for(limits)
    try:
        door = canon(fast.load_json(data, limits=limits, patterns=patterns))
    except DocumentError as exc:
        door = described(exc)
    if door != expected:
        return f"the door differs on {data!r:.200}: {door!r:.300} != {expected!r:.300}"
    if patterns.total != total:
        return f"patterns counted {patterns.total} != {total} on {data!r:.200}"
    return None


def state_disagreement(raw: Any, allow_variant: bool) -> str | None:
    try:
        expected: Any = canon(appconfig.check_state("k", "", raw, allow_variant=allow_variant))
    except DocumentError as exc:
        expected = described(exc)
    accepted = fast.accept_state(raw, allow_variant=allow_variant)
    if accepted is not None and canon(accepted) != expected:
        return (
            f"fast path accepted state {raw!r:.200}: {canon(accepted)!r:.300} != {expected!r:.300}"
        )
    try:
        door: Any = canon(fast.check_state("k", "", raw, allow_variant=allow_variant))
    except DocumentError as exc:
        door = described(exc)
    return None if door == expected else f"state {raw!r:.200}: {door!r:.300} != {expected!r:.300}"


# --- every document the document, hostile-document and fuzz tests load ------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("corpus") / "documents.pickle"
    modules = ["tests/test_document.py", "tests/test_hostile_documents.py", "tests/test_fuzz.py"]
    done = subprocess.run(
        [sys.executable, str(TESTS / "document_corpus.py"), str(out), *modules],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with out.open("rb") as fh:
        recorded: dict[str, Any] = pickle.load(fh)  # noqa: S301 - written just above
    return recorded


@pytest.mark.timeout(115)
def test_the_fast_path_agrees_with_the_models_on_every_document_the_tests_load(
    corpus: dict[str, Any],
) -> None:
    documents = corpus["documents"]
    problems = [p for data, limits in documents if (p := disagreement(data, limits))]
    assert problems == []
    accepted = sum(fast.accept_document(d, limits=lim) is not None for d, lim in documents)
    # about 2,000 documents, mostly broken ones (fuzzing); over 400 valid, all taken fast
    assert len(documents) > 1000, len(documents)
    assert accepted > 300, accepted


def test_the_fast_path_agrees_with_the_models_on_every_flag_state_the_tests_read(
    corpus: dict[str, Any],
) -> None:
    states = corpus["states"]
    problems = [p for raw, allow in states if (p := state_disagreement(raw, allow))]
    assert problems == []
    # mostly junk the data-view fuzzing reaches the models with; the Ion states are valid
    assert sum(fast.accept_state(raw, allow_variant=a) is not None for raw, a in states) > 5


# --- valid documents are taken by the fast path ------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_pass_the_fast_path(path: Path) -> None:
    document = json.loads(path.read_text())
    assert fast.accept_document(document) is not None
    assert disagreement(document) is None


@pytest.mark.parametrize("document", [STORED, DATA_VIEW], ids=["stored", "data-view"])
def test_every_constraint_type_and_attribute_kind_passes_the_fast_path(
    document: dict[str, Any],
) -> None:
    assert fast.accept_document(document) is not None
    assert disagreement(document) is None


@settings(
    max_examples=150, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(document=valid_documents())
def test_random_valid_documents_pass_the_fast_path_with_the_models_result(
    document: dict[str, Any],
) -> None:
    assert fast.accept_document(document) is not None
    assert disagreement(document) is None


# --- edge cases: each either taken with the models' result, or left to the models -------------


def stored(
    flag: dict[str, Any] | None = None, value: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stored document of one flag ``f``."""
    document: dict[str, Any] = {"version": "1", "flags": {"f": flag or {}}}
    if value is not None:
        document["values"] = {"f": value}
    return document


def attr(constraints: dict[str, Any], value: Any, **more: Any) -> dict[str, Any]:
    """Flag ``f`` defining attribute ``a`` with ``constraints`` and giving it ``value``."""
    return stored(
        {"attributes": {"a": {"constraints": constraints}}}, {"enabled": True, "a": value, **more}
    )


ALL = 2**70
TAKEN = [  # valid, and the fast path must take them
    pytest.param({"f": {"enabled": True, "n": 1, "x": 1.0, "b": True}}, id="int-float-bool-kept-apart"),
    pytest.param({"f": {"enabled": True, "n": ALL, "m": -ALL}}, id="big-ints"),
    pytest.param({"f": {"enabled": True, "s": "é" * 1024, "l": ["a", "ü"], "ns": [1, 2.5]}}, id="unicode-and-arrays"),
    pytest.param({"f": {"_variant": "Default Variant", "enabled": False}}, id="agent-evaluated-variant"),
    pytest.param({"f": {"enabled": True, **{f"a{i}": i for i in range(25)}}}, id="25-attributes"),
    pytest.param({"version": {"enabled": True}}, id="data-view-flag-named-version"),
    pytest.param({"f": {"enabled": True, "a": math.nan}}, id="nan-as-the-models-take-it"),
    pytest.param({}, id="empty-data-view"),
    pytest.param({"version": "1"}, id="empty-stored"),
    pytest.param(stored({"name": "F", "description": "d", "_createdAt": "x", "_updatedAt": "y", "_deprecation": {"status": "planned", "date": "2026-01-01"}}), id="every-flag-field"),
    pytest.param(attr({"type": "number", "minimum": 1.0, "maximum": 5}, 3), id="whole-float-minimum"),
    pytest.param(attr({"type": "number", "minimum": 1}, 1.5), id="float-over-minimum"),
    pytest.param(attr({"type": "string", "enum": ["x", 2, 3.0]}, "x"), id="enum-with-numbers"),
    pytest.param(attr({"type": "string", "pattern": "^x+$", "required": True}, "xx"), id="pattern"),
    pytest.param(attr({"type": "string", "pattern": ""}, "x"), id="empty-pattern"),
    pytest.param(stored({"attributes": {"a": {"constraints": {"type": "string", "pattern": "^[a-z]$"}}}}), id="pattern-without-a-value"),
    pytest.param(attr({"type": "array", "elements": {"type": "number", "required": True, "minimum": 0}}, [1, 2]), id="array-elements"),
    pytest.param(attr({"type": "boolean"}, False), id="boolean"),
    pytest.param(stored({"attributes": {"a": {"description": "no constraints"}}}, {"enabled": True, "a": [1]}), id="unconstrained"),
    pytest.param(stored({}, {"_variants": []}), id="empty-variants"),
    pytest.param(stored({}, {"enabled": False, "_createdAt": "t"}), id="timestamps-in-values"),
    pytest.param(stored({"attributes": {"a": {}}}, {"_variants": [{"name": "v", "enabled": True, "rule": "(eq $a 1)", "attributeValues": {"a": 1}}, {"name": "d", "enabled": False, "rule": ""}]}), id="empty-default-rule"),
]  # fmt: skip
LEFT = [  # the models decide: refused, or a shape the fast path does not take
    pytest.param({"f": {"enabled": 1}}, id="int-as-enabled"),
    pytest.param({"f": {"enabled": None}}, id="null-enabled"),
    pytest.param({"f": {"enabled": True, "a": None}}, id="null-value"),
    pytest.param({"f": {"n": 1}}, id="no-enabled"),
    pytest.param({"f": {"enabled": True, "a": []}}, id="empty-array"),
    pytest.param({"f": {"enabled": True, "a": [1, "x"]}}, id="mixed-array"),
    pytest.param({"f": {"enabled": True, "a": [True]}}, id="bool-array"),
    pytest.param({"f": {"enabled": True, "a": {}}}, id="object-value"),
    pytest.param({"f": {"enabled": True, "a": "x" * 1025}}, id="long-string"),
    pytest.param({"f": {"enabled": True, "a": "\ud800"}}, id="lone-surrogate"),
    pytest.param({"f": {"enabled": True, "Bad": 1}}, id="bad-attribute-key"),
    pytest.param({"f": {"enabled": True, "a\u0663": 1}}, id="non-ascii-digit-key"),
    pytest.param({"f\n": {"enabled": True}}, id="key-with-newline"),
    pytest.param({"f": {"enabled": True, "_createdAt": "x"}}, id="timestamp-in-data-view"),
    pytest.param({"f": {"enabled": True, **{f"a{i}": i for i in range(26)}}}, id="26-attributes"),
    pytest.param({"f": {"_variant": "", "enabled": True}}, id="empty-variant-name"),
    pytest.param({"f": {"_variant": None, "enabled": True}}, id="null-variant-name"),
    pytest.param({"f": []}, id="array-flag"),
    pytest.param({"version": "2"}, id="version-2"),
    pytest.param({"version": "1", "extra": {}}, id="extra-top-level-field"),
    pytest.param({"version": "1", "flags": None}, id="null-flags"),
    pytest.param(stored({"name": None}), id="null-name"),
    pytest.param(stored({"name": ""}), id="empty-name"),
    pytest.param(stored({"name": "a\nb"}), id="name-with-newline"),
    pytest.param(stored({"created_at": "x"}), id="python-field-name"),
    pytest.param(stored({}, {"variants": []}), id="python-variants-name"),
    pytest.param(stored({"unknown": 1}), id="extra-flag-field"),
    pytest.param(stored({"_deprecation": {"status": "soon"}}), id="bad-deprecation"),
    pytest.param(stored({"attributes": {"a": {"constraints": None}}}), id="null-constraints"),
    pytest.param(stored({"attributes": {"a": {"constraints": {"type": "date"}}}}), id="unknown-constraint-type"),
    pytest.param(stored({"attributes": {"a": {"constraints": {"type": "array", "elements": {"type": "boolean"}}}}}), id="boolean-elements"),
    pytest.param(attr({"type": "number", "minimum": True}, 1), id="bool-minimum"),
    pytest.param(attr({"type": "number", "minimum": 1.5}, 2), id="fractional-minimum"),
    pytest.param(attr({"type": "number", "required": 1}, 1), id="int-required"),
    pytest.param(attr({"type": "string", "pattern": "x", "enum": ["x"]}, "x"), id="pattern-and-enum"),
    pytest.param(attr({"type": "string", "enum": [True]}, "x"), id="bool-in-enum"),
    pytest.param(attr({"type": "string", "pattern": "("}, "x"), id="broken-pattern"),
    pytest.param(attr({"type": "string", "pattern": "^x$"}, "y"), id="value-breaks-pattern"),
    pytest.param(attr({"type": "number", "maximum": 1}, 2), id="value-over-maximum"),
    pytest.param(attr({"type": "number", "required": True}, 1, b=2), id="undefined-attribute"),
    pytest.param(stored({"attributes": {"a": {"constraints": {"type": "number", "required": True}}}}, {"enabled": True}), id="required-missing"),
    pytest.param({"version": "1", "values": {"g": {"enabled": True}}}, id="values-for-an-undefined-flag"),
    pytest.param(stored({}, {"enabled": True, "_variants": [{"name": "d", "enabled": True}]}), id="enabled-beside-variants"),
    pytest.param(stored({}, {"_variants": [{"name": "d", "enabled": True, "rule": "(eq $a 1)"}]}), id="rule-on-the-default"),
    pytest.param(stored({}, {"_variants": [{"name": "v", "enabled": True}, {"name": "d", "enabled": True}]}), id="ruleless-non-default"),
    pytest.param(stored({}, {"_variants": [{"name": "d", "enabled": True, "rule": "(eq $a 1)"}, {"name": "d", "enabled": True}]}), id="duplicate-variant-names"),
    pytest.param(stored({}, {"_variants": [{"name": "d"}]}), id="variant-without-enabled"),
    pytest.param(stored({}, {"_variants": [{"name": "v", "enabled": True, "rule": "x" * 16385}, {"name": "d", "enabled": False}]}), id="rule-too-long"),
    pytest.param(stored({}, {"_variants": [{"name": "d", "enabled": True, "weight": 1}]}), id="extra-variant-field"),
]  # fmt: skip


@pytest.mark.parametrize("document", TAKEN)
def test_valid_edge_cases_pass_the_fast_path_with_the_models_result(document: Any) -> None:
    assert fast.accept_document(document) is not None
    assert disagreement(document) is None


@pytest.mark.parametrize("document", LEFT)
def test_other_edge_cases_are_left_to_the_models(document: Any) -> None:
    assert fast.accept_document(document) is None
    assert disagreement(document) is None


def pattern_document(sizes: list[int]) -> dict[str, Any]:
    """One constrained attribute per pattern, each pattern ``a{n}`` (RE2 grows with n)."""
    attributes = {f"a{i}": {"constraints": {"type": "string", "pattern": f"^a{{{n}}}$"}} for i, n in enumerate(sizes)}  # fmt: skip
    return stored({"attributes": attributes})


@pytest.mark.parametrize(
    "limits",
    [
        Limits(max_flags=1),
        Limits(max_pattern_total=600),
        Limits(max_pattern_size=300),
    ],
    ids=["flags", "pattern-total", "pattern-size"],
)
def test_limits_are_left_to_the_models_and_patterns_counted_as_they_count_them(
    limits: Limits,
) -> None:
    document = pattern_document([1, 100, 400, 2])
    document["flags"]["g"] = {}
    assert fast.accept_document(document, limits=limits) is None
    assert disagreement(document, limits) is None
    assert fast.accept_document(document) is not None
    assert disagreement(document) is None


def test_too_many_flags_in_the_data_view_are_left_to_the_models() -> None:
    document = {f"f{i}": {"enabled": True} for i in range(3)}
    assert fast.accept_document(document, limits=Limits(max_flags=2)) is None
    assert disagreement(document, Limits(max_flags=2)) is None


def test_a_refusal_reads_as_the_models_wrote_it() -> None:
    """The door's error for a broken document is the models' error, field for field."""
    with pytest.raises(DocumentError) as models:
        appconfig.load_document({"f": {"enabled": "yes"}})
    with pytest.raises(DocumentError) as door:
        fast.load_json({"f": {"enabled": "yes"}})
    assert described(door.value) == described(models.value)
    assert door.value.flag == "f"
    assert door.value.field == "enabled"
