"""Evaluation hooks, counters and exposure events."""

from __future__ import annotations

import gc
import logging
import threading
import tracemalloc
import weakref
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import pytest

import flagkit
from flagkit import ErrorCode, EvaluationDetails, Flags, Reason, StaticSource
from flagkit._hooks import EvaluationCounters, Exposure, Exposures, otel_attributes

DOC: dict[str, Any] = {
    "version": "1",
    "flags": {
        "pricing": {"attributes": {"price": {}, "label": {}, "ratio": {}, "fast": {}}},
        "banner": {"attributes": {"text": {}}},
    },
    "values": {
        "pricing": {
            "_variants": [
                {
                    "name": "gold",
                    "enabled": True,
                    "rule": '(eq $tier "gold")',
                    "attributeValues": {"price": 5, "label": "G", "ratio": 0.5, "fast": True},
                },
                {"name": "normal", "enabled": False, "attributeValues": {"price": 10}},
            ]
        },
        "banner": {"enabled": True, "text": "hi"},
    },
}

EVALUATING = ("enabled", "variant", "get_str", "get_int", "get_float", "get_bool", "get_json")


def make() -> Flags:
    flags = Flags(StaticSource(DOC, version="v1"), start=False, wait=0)
    flags.refresh()
    return flags


Seen = list[tuple[EvaluationDetails[Any], Any, Any]]


def recorder() -> tuple[Seen, Any]:
    seen: Seen = []

    def hook(d: EvaluationDetails[Any], user_id: Any, attributes: Any) -> None:
        seen.append((d, user_id, attributes))

    return seen, hook


def test_without_hooks_the_class_methods_run_unchanged() -> None:
    """Zero cost: no instance attribute shadows any evaluation method."""
    flags = make()
    for name in (*EVALUATING, "details"):
        assert name not in vars(flags)
        assert getattr(flags, name).__func__ is getattr(Flags, name)


def test_first_hook_shadows_and_last_removal_restores() -> None:
    flags = make()
    _, hook = recorder()
    _, other = recorder()
    flags.add_hook(hook)
    flags.add_hook(other)
    assert set(vars(flags)) >= {*EVALUATING, "details"}
    flags.remove_hook(hook)
    assert "enabled" in vars(flags)  # one hook left
    flags.remove_hook(other)
    for name in (*EVALUATING, "details"):
        assert name not in vars(flags)
    flags.remove_hook(other)  # removing an unknown hook is a no-op


def test_hooks_apply_to_one_instance_only() -> None:
    hooked, plain = make(), make()
    seen, hook = recorder()
    hooked.add_hook(hook)
    plain.enabled("banner")
    assert seen == []
    assert "enabled" not in vars(plain)


CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("enabled", ("pricing", "u1", {"tier": "gold"}), {}),
    ("enabled", ("pricing", "u1", {"tier": "tin"}), {"default": True}),
    ("enabled", ("missing",), {"default": True}),
    ("variant", ("pricing", "u1", MappingProxyType({"tier": "gold"})), {}),
    ("variant", ("banner",), {}),
    ("variant", ("missing",), {}),
    ("get_int", ("pricing", "price", 0, "u1", {"tier": "gold"}), {}),
    ("get_int", ("pricing", "price", 0, "u1", {"tier": "tin"}), {}),
    ("get_str", ("pricing", "label", "x", None, {"tier": "gold"}), {}),
    ("get_float", ("pricing", "ratio", 0.0, None, {"tier": "gold"}), {}),
    ("get_bool", ("pricing", "fast", False, None, {"tier": "gold"}), {}),
    ("get_json", ("banner", "text"), {}),
    ("get_int", ("banner", "text", 7), {}),
    ("get_str", ("banner", "nope", "d"), {}),
    ("details", ("pricing", "u", {"tier": "gold"}), {"attribute": "price", "kind": "int"}),
    ("details", ("pricing",), {}),
    ("details", ("banner", None, 42), {}),  # an invalid context
]


@pytest.mark.parametrize(("method", "args", "kwargs"), CALLS)
def test_hooked_answers_equal_unhooked_answers(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, hooked = make(), make()
    seen, hook = recorder()
    hooked.add_hook(hook)
    assert getattr(hooked, method)(*args, **kwargs) == getattr(plain, method)(*args, **kwargs)
    assert len(seen) == 1
    d, user_id, _ = seen[0]
    assert d.flag_key == args[0]
    position = 3 if method.startswith("get_") else 1
    assert user_id == (args[position] if len(args) > position else None)


def test_hook_sees_details_user_and_attributes() -> None:
    flags = make()
    seen, hook = recorder()
    flags.add_hook(hook)
    assert flags.get_int("pricing", "price", 0, "u7", {"tier": "gold"}) == 5
    d, user_id, attributes = seen[0]
    assert (d.value, d.variant, d.reason, d.version) == (5, "gold", Reason.TARGETING_MATCH, "v1")
    assert (user_id, attributes) == ("u7", {"tier": "gold"})


def test_a_raising_hook_never_breaks_evaluation_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flags = make()
    seen, after = recorder()

    def broken(d: Any, u: Any, a: Any) -> None:
        raise RuntimeError("boom")

    flags.add_hook(broken)
    flags.add_hook(after)
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        assert flags.enabled("banner") is True
        assert flags.enabled("banner") is True
    assert len(seen) == 2  # later hooks still run
    assert sum("hook" in r.message for r in caplog.records) == 1


def test_a_hooked_client_is_still_garbage_collected() -> None:
    flags = make()
    flags.add_hook(EvaluationCounters())
    flags.enabled("banner")
    ref = weakref.ref(flags)
    del flags
    gc.collect()
    assert ref() is None


def test_openfeature_provider_evaluations_reach_hooks() -> None:
    pytest.importorskip("openfeature")
    from flagkit.openfeature import FlagkitProvider

    flags = make()
    seen, hook = recorder()
    flags.add_hook(hook)
    FlagkitProvider(flags).resolve_boolean_details("banner", False)
    assert [d.flag_key for d, _, _ in seen] == ["banner"]


# -- counters ---------------------------------------------------------------------------------


def test_counters_per_flag_variant_and_error() -> None:
    flags = make()
    counters = EvaluationCounters()
    flags.add_hook(counters)
    for _ in range(3):
        flags.enabled("pricing", "u", {"tier": "gold"})
    flags.get_int("pricing", "price", 0, "u", {"tier": "tin"})
    flags.enabled("banner")
    flags.enabled("missing")
    assert counters.by_flag() == {"pricing": 4, "banner": 1, "missing": 1}
    assert counters.by_variant() == {
        ("pricing", "gold"): 3,
        ("pricing", "normal"): 1,
        ("banner", None): 1,
        ("missing", None): 1,
    }
    assert counters.errors() == {"missing": 1}
    counters.reset()
    assert counters.by_flag() == {}


def test_counters_are_exact_under_threads() -> None:
    flags = make()
    counters = EvaluationCounters()
    flags.add_hook(counters)
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(2000):
            flags.enabled("banner")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.by_flag() == {"banner": 8000}


# -- exposures --------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[Exposure]] = []
        self.arrived = threading.Event()

    def __call__(self, batch: Sequence[Exposure]) -> None:
        self.batches.append(list(batch))
        self.arrived.set()

    @property
    def events(self) -> list[Exposure]:
        return [e for b in self.batches for e in b]


def test_exposures_are_deduplicated_per_flag_key_and_variant() -> None:
    flags = make()
    sink = Sink()
    exposures = Exposures(sink)
    flags.add_hook(exposures)
    for _ in range(5):
        flags.enabled("pricing", "u1", {"tier": "gold"})
    flags.enabled("pricing", "u1", {"tier": "tin"})  # another variant
    flags.enabled("pricing", "u2", {"tier": "gold"})  # another key
    flags.enabled("missing", "u1")  # errors are not exposures
    assert exposures.flush()
    assert sink.events == [
        Exposure("pricing", "gold", "u1", "v1", "TARGETING_MATCH"),
        Exposure("pricing", "normal", "u1", "v1", "DEFAULT"),
        Exposure("pricing", "gold", "u2", "v1", "TARGETING_MATCH"),
    ]
    assert (exposures.delivered, exposures.dropped) == (3, 0)
    exposures.close()


def test_dedupe_cache_is_bounded() -> None:
    sink = Sink()
    exposures = Exposures(sink, dedupe_size=2)
    flags = make()
    flags.add_hook(exposures)
    for user in ["a", "b", "c", "a"]:  # "a" was evicted by "c": reported again
        flags.enabled("banner", user)
    assert exposures.flush()
    assert [e.context_key for e in sink.events] == ["a", "b", "c", "a"]
    exposures.close()


def test_full_queue_drops_and_counts_without_blocking() -> None:
    entered, release = threading.Event(), threading.Event()
    delivered: list[Exposure] = []

    def slow(batch: Sequence[Exposure]) -> None:
        entered.set()
        release.wait(10)
        delivered.extend(batch)

    exposures = Exposures(slow, max_queue=2, batch_size=1)
    flags = make()
    flags.add_hook(exposures)
    flags.enabled("banner", "u0")
    assert entered.wait(10)  # the worker holds u0 and is stuck delivering it
    for user in ["u1", "u2", "u3", "u4"]:
        flags.enabled("banner", user)  # u1, u2 fill the queue; u3, u4 are dropped
    assert exposures.dropped == 2
    release.set()
    assert exposures.flush()
    assert [e.context_key for e in delivered] == ["u0", "u1", "u2"]
    flags.enabled("banner", "u3")  # a dropped event is reported when seen again
    assert exposures.flush()
    assert [e.context_key for e in delivered][-1] == "u3"
    exposures.close()


def test_partial_batches_go_out_after_flush_every() -> None:
    sink = Sink()
    exposures = Exposures(sink, batch_size=100, flush_every=0.0)
    exposures(make().details("banner"), "u", None)
    assert sink.arrived.wait(10)  # no flush() call: the deadline sent it
    exposures.close()


def test_batches_are_at_most_batch_size() -> None:
    sink = Sink()
    exposures = Exposures(sink, batch_size=3)
    flags = make()
    flags.add_hook(exposures)
    for i in range(10):
        flags.enabled("banner", f"u{i}")
    assert exposures.flush()
    assert all(len(b) <= 3 for b in sink.batches)
    assert len(sink.events) == 10
    exposures.close()


def test_failed_delivery_is_logged_and_the_worker_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def flaky(batch: Sequence[Exposure]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise OSError("collector down")

    exposures = Exposures(flaky)
    flags = make()
    flags.add_hook(exposures)
    with caplog.at_level(logging.ERROR, logger="flagkit"):
        flags.enabled("banner", "a")
        assert exposures.flush()
        flags.enabled("banner", "b")
        assert exposures.flush()
    assert calls == [1, 1]
    assert exposures.delivered == 1
    assert any("exposure delivery failed" in r.message for r in caplog.records)
    exposures.close()


def test_close_delivers_pending_is_idempotent_and_stops_the_thread() -> None:
    sink = Sink()
    exposures = Exposures(sink)
    exposures(make().details("banner"), "u", None)
    exposures.close()
    exposures.close()
    assert [e.context_key for e in sink.events] == ["u"]
    assert exposures.flush() is False
    assert exposures._thread is not None
    assert not exposures._thread.is_alive()


def test_unhashable_context_keys_are_skipped() -> None:
    sink = Sink()
    exposures = Exposures(sink)
    exposures(make().details("banner"), ["not", "hashable"], None)
    assert exposures.flush()
    assert sink.events == []
    exposures.close()


def _retained_per_entry(key_length: int, entries: int) -> float:
    """Bytes the dedupe cache keeps per entry after ``entries`` distinct keys of this length
    were seen, delivered and dropped by everyone else."""
    exposures = Exposures(lambda batch: None, dedupe_size=entries)
    details = make().details("banner")
    padding = "x" * key_length
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(entries):
            exposures(details, f"{i:08d}{padding}", None)  # the key is dropped after the call
        assert exposures.flush()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert exposures.delivered == entries  # every key was new: each one is an entry
    exposures.close()
    return retained / entries


def test_dedupe_memory_per_entry_does_not_grow_with_the_context_key() -> None:
    """Issue 19.15: the cache keeps a 16-byte digest, never the key: an entry for an 8 KiB key
    costs what one for an 8-byte key does (keeping the keys, it cost 8 KiB more)."""
    short = _retained_per_entry(0, 2_000)
    huge = _retained_per_entry(8192, 2_000)
    print(f"dedupe bytes per entry: 8-byte keys {short:.0f}, 8 KiB keys {huge:.0f}")
    assert huge < 512, huge
    assert abs(huge - short) < 64, (short, huge)


def test_dedupe_tells_keys_of_different_types_apart() -> None:
    """The digest covers the key's type: ``1`` and ``"1"`` are two exposures, ``"1"`` twice one."""
    sink = Sink()
    exposures = Exposures(sink)
    details = make().details("banner")
    for key in ("1", 1, "1", 1, "\ud800"):  # a lone surrogate is a key like any other
        exposures(details, key, None)
    assert exposures.flush()
    assert [e.context_key for e in sink.events] == ["1", 1, "\ud800"]
    exposures.close()


# -- OpenTelemetry attribute names ------------------------------------------------------------


def test_otel_attribute_names() -> None:
    flags = make()
    d = flags.details("pricing", "u1", {"tier": "gold"}, attribute="price", kind="int")
    assert otel_attributes(d, "u1") == {
        "feature_flag.key": "pricing",
        "feature_flag.provider.name": "flagkit",
        "feature_flag.result.reason": "targeting_match",
        "feature_flag.result.variant": "gold",
        "feature_flag.result.value": 5,
        "feature_flag.version": "v1",
        "feature_flag.context.id": "u1",
    }
    err = flags.details("missing")
    attrs = otel_attributes(err)
    assert attrs["error.type"] == "flag_not_found"
    assert attrs["feature_flag.result.reason"] == "error"
    assert "feature_flag.error.message" in attrs
    exposure = Exposure("pricing", "gold", "u1", "v1", "TARGETING_MATCH")
    assert exposure.attributes() == {
        "feature_flag.key": "pricing",
        "feature_flag.provider.name": "flagkit",
        "feature_flag.result.reason": "targeting_match",
        "feature_flag.result.variant": "gold",
        "feature_flag.context.id": "u1",
        "feature_flag.version": "v1",
    }
    assert ErrorCode.FLAG_NOT_FOUND.value.lower() == attrs["error.type"]
    assert flagkit.Reason  # the public names stay importable
