"""The fast build gives the snapshot the reference build gives, answer for answer.

``snapshot_from_bytes`` (what ``flagkit.validate`` and the poller run) validates a valid JSON
document without pydantic, compiles rule text through ``_rules.fast`` and builds its records
through their slots. The reference here is the slow road through the same document: the
models (``appconfig.load_document``) for validation, the general parser for every rule
(``compile_rule(fast=False)``), dataclass constructors. Both are compared field by field and
by their answers over a population of users, for the benchmark's document
(benchmarks/snapshot_build.py) and the fuzz corpus of valid documents.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flagkit._document.appconfig import load_document
from flagkit._document.settings import split_rollout
from flagkit._document.strict_json import parse_json
from flagkit._rules.compile import compile_rule
from flagkit._snapshot import CompiledFlag, Snapshot, _compile_flag, snapshot_from_bytes
from test_fuzz import DATA_VIEW, STORED, contexts, fuzz, valid_documents, wild_values

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `src`, not inside the package
    sys.path.insert(0, str(ROOT))

from benchmarks.snapshot_build import COUNTRIES, document  # noqa: E402

_GENERAL = functools.partial(compile_rule, fast=False)


def reference(body: bytes) -> dict[str, CompiledFlag]:
    """Every flag of ``body`` validated by the models and compiled by the general parser."""
    specs = load_document(parse_json(body, max_bytes=len(body)))
    flags = {}
    for spec in specs:
        plain, rollout = split_rollout(spec, user_key="userId")
        flags[spec.key] = _compile_flag(plain, "userId", rollout, compile_rule=_GENERAL)
    return flags


def outcome_fields(o: Any) -> tuple[Any, ...]:
    return (o.name, o.enabled, dict(o.values), o.reason, o.index, o.rule)


def rule_fields(r: Any) -> tuple[Any, ...] | None:
    if r is None:
        return None
    return (r.text, r.has_split, r.context_keys, r.bare_split, r.cost)


def assert_same(snap: Snapshot, ref: dict[str, CompiledFlag], calls: list[Any]) -> None:
    """Same flags, same records, and the same answers for every (user id, attributes)."""
    assert list(snap.flags) == list(ref)
    for key, want in ref.items():
        got = snap.flags[key]
        assert [outcome_fields(o) for o in got.outcomes] == [
            outcome_fields(o) for o in want.outcomes
        ]
        assert [rule_fields(r) for r in got.rules] == [rule_fields(r) for r in want.rules]
        assert (got.attributes, got.multi_variant, got.cost, got.constant) == (
            want.attributes,
            want.multi_variant,
            want.cost,
            want.constant,
        )
        assert got.spec == want.spec
        enabled_fn, variant_fn = snap.enabled_fns[key], snap.variant_fns[key]
        for user_id, attributes in calls:
            chosen = outcome_fields(got.select(user_id, attributes))
            assert chosen == outcome_fields(want.select(user_id, attributes)), (key, user_id)
            answer = want.enabled(user_id, attributes)
            assert got.enabled(user_id, attributes) is answer
            assert (
                enabled_fn if type(enabled_fn) is bool else enabled_fn(user_id, attributes)
            ) is answer
            # the select closure itself (variant() reads the name), or the one name it gives
            name = variant_fn(user_id, attributes).name if callable(variant_fn) else variant_fn
            assert name == chosen[0]


def population(n: int) -> list[tuple[Any, dict[str, Any] | None]]:
    """Users over the benchmark's attributes, with odd values among them (ints, non-ASCII)."""
    calls: list[tuple[Any, dict[str, Any] | None]] = [("u-none", None), (None, {"userId": "x"})]
    for i in range(n):
        attributes = {
            "country": COUNTRIES[i % 8] if i % 11 else i,
            "plan": ("pro", "free", "pró")[i % 3],
            "email": f"user{i}@corp{i % 7}.example",
            "tier": (i % 6) if i % 5 else str(i % 6),
        }
        calls.append((f"user-{i}" if i % 13 else f"üser-{i}", attributes))
    return calls


def test_the_benchmark_document_builds_as_the_reference_builds() -> None:
    """200 flags of benchmarks/snapshot_build.py's shape, over 300 users: the same answers."""
    body = json.dumps(document(200), separators=(",", ":")).encode()
    assert_same(snapshot_from_bytes(body), reference(body), population(300))


def test_the_fuzz_test_documents_build_as_the_reference_builds() -> None:
    """test_fuzz's two hand-written documents (every operator family, every constraint)."""
    calls = population(40)
    for doc in (STORED, DATA_VIEW):
        body = json.dumps(doc).encode()
        assert_same(snapshot_from_bytes(body), reference(body), calls)


@fuzz(150)
@given(
    doc=valid_documents(),
    calls=st.lists(st.tuples(wild_values, contexts), min_size=1, max_size=4),
)
def test_random_valid_documents_build_as_the_reference_builds(
    doc: dict[str, Any], calls: list[Any]
) -> None:
    """Any valid document of the fuzz corpus, any user id and attributes: the same answers."""
    body = json.dumps(doc).encode()
    assert_same(snapshot_from_bytes(body), reference(body), [*calls, *population(5)])
