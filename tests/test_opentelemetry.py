"""flagkit.opentelemetry: span events and counters through the real OpenTelemetry SDK."""

from __future__ import annotations

from typing import Any

import pytest

import flagkit

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flagkit.opentelemetry import EVENT_NAME, METRIC_NAME, EvaluationMetrics, SpanEvents

DOC = {
    "version": "1",
    "flags": {"pricing": {"attributes": {"price": {}}}},
    "values": {
        "pricing": {
            "_variants": [
                {
                    "name": "gold",
                    "enabled": True,
                    "rule": '(eq $tier "gold")',
                    "attributeValues": {"price": 5},
                },
                {"name": "normal", "enabled": True, "attributeValues": {"price": 10}},
            ]
        }
    },
}


@pytest.fixture
def flags() -> Any:
    with flagkit.Flags(flagkit.StaticSource(DOC, version="v1")) as f:
        yield f


def test_span_events_record_each_evaluation_on_the_current_span(flags: Any) -> None:
    """One feature_flag.evaluation event per evaluation, with the semantic-convention names."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flags.add_hook(SpanEvents())
    with provider.get_tracer("test").start_as_current_span("checkout"):
        assert flags.get_int("pricing", "price", 0, "user-1", {"tier": "gold"}) == 5
        assert flags.enabled("no-such-flag") is False
    (span,) = exporter.get_finished_spans()
    assert [e.name for e in span.events] == [EVENT_NAME, EVENT_NAME]
    first, second = (dict(e.attributes or {}) for e in span.events)
    assert first == {
        "feature_flag.key": "pricing",
        "feature_flag.provider.name": "flagkit",
        "feature_flag.result.reason": "targeting_match",
        "feature_flag.result.variant": "gold",
        "feature_flag.result.value": 5,
        "feature_flag.version": "v1",
        "feature_flag.context.id": "user-1",
    }
    assert second["error.type"] == "flag_not_found"


def test_span_events_can_leave_out_the_user_id(flags: Any) -> None:
    """context_id=False: no feature_flag.context.id on the event."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flags.add_hook(SpanEvents(context_id=False))
    with provider.get_tracer("test").start_as_current_span("checkout"):
        flags.enabled("pricing", "user-1", {"tier": "gold"})
    (span,) = exporter.get_finished_spans()
    assert "feature_flag.context.id" not in dict(span.events[0].attributes or {})


def test_span_events_outside_a_span_do_nothing(flags: Any) -> None:
    """With no recording span the hook returns; the evaluation is unchanged."""
    flags.add_hook(SpanEvents())
    assert flags.get_int("pricing", "price", 0, "user-1", {"tier": "gold"}) == 5


def test_metrics_count_per_flag_variant_and_reason(flags: Any) -> None:
    """The counter's points: exact counts per (key, variant, reason, error type), no user id."""
    reader = InMemoryMetricReader()
    flags.add_hook(EvaluationMetrics(MeterProvider(metric_readers=[reader])))
    for i in range(3):
        flags.enabled("pricing", f"user-{i}", {"tier": "gold"})
    flags.enabled("pricing", "user-9", {"tier": "tin"})
    flags.enabled("no-such-flag", "user-1")
    data = reader.get_metrics_data()
    points = {
        tuple(sorted(dict(p.attributes).items())): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == METRIC_NAME
        for p in m.data.data_points
    }
    assert points == {
        (
            ("feature_flag.key", "pricing"),
            ("feature_flag.result.reason", "targeting_match"),
            ("feature_flag.result.variant", "gold"),
        ): 3,
        (
            ("feature_flag.key", "pricing"),
            ("feature_flag.result.reason", "default"),
            ("feature_flag.result.variant", "normal"),
        ): 1,
        (
            ("error.type", "flag_not_found"),
            ("feature_flag.key", "no-such-flag"),
            ("feature_flag.result.reason", "error"),
        ): 1,
    }


def test_a_client_without_these_hooks_never_imports_opentelemetry() -> None:
    """Not registered, not loaded: evaluating through flagkit does not import opentelemetry."""
    import subprocess
    import sys

    code = (
        "import sys, flagkit\n"
        "f = flagkit.Flags(flagkit.StaticSource({'a': {'enabled': True}}))\n"
        "assert f.enabled('a')\n"
        "print([m for m in sys.modules if m.startswith(('opentelemetry', 'flagkit.opentelemetry'))])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
