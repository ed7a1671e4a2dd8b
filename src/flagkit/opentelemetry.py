"""OpenTelemetry for flag evaluations: a span event and a counter, each a hook (docs/hooks.md).

    from flagkit.opentelemetry import EvaluationMetrics, SpanEvents

    flags.add_hook(SpanEvents())            # a feature_flag.evaluation event on the current span
    flags.add_hook(EvaluationMetrics())     # counter feature_flag.evaluations, per flag/variant

Requires ``pip install 'flagkit-appconfig[otel]'`` (``opentelemetry-api`` only: flagkit never
configures an SDK or an exporter; the application's tracer and meter providers decide where the
data goes). Both are ordinary evaluation hooks, so they cost nothing until added, and this
module is imported only by code that names it.

Names follow OpenTelemetry's feature-flag semantic conventions: the event is
``feature_flag.evaluation`` with the attributes of :func:`flagkit.otel_attributes`
(https://opentelemetry.io/docs/specs/semconv/feature-flags/feature-flags-events/). The
conventions define no metric, so ``feature_flag.evaluations`` is flagkit's name; its attributes
are the low-cardinality ones only (key, variant, reason, error type), never the user id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._exceptions import MissingExtraError
from ._hooks import otel_attributes
from ._types import EvaluationDetails

try:
    from opentelemetry import metrics, trace
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("otel", "opentelemetry-api") from exc

__all__ = ["EVENT_NAME", "METRIC_NAME", "EvaluationMetrics", "SpanEvents"]

EVENT_NAME = "feature_flag.evaluation"
METRIC_NAME = "feature_flag.evaluations"


class SpanEvents:
    """A hook that records each evaluation as a ``feature_flag.evaluation`` span event.

    The event goes on the span current in the evaluating thread; with no recording span
    (no SDK, or outside any span) the hook returns at once.

    Args:
        context_id: record the user id as ``feature_flag.context.id`` (default). Turn it off
            where user ids must not reach the tracing backend.
    """

    def __init__(self, *, context_id: bool = True) -> None:
        self._context_id = context_id

    def __call__(
        self, details: EvaluationDetails[Any], user_id: Any, attributes: Mapping[str, Any] | None
    ) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.add_event(
            EVENT_NAME, attributes=otel_attributes(details, user_id if self._context_id else None)
        )

    def __repr__(self) -> str:
        return f"SpanEvents(context_id={self._context_id})"


class EvaluationMetrics:
    """A hook that counts evaluations in an OpenTelemetry counter (``feature_flag.evaluations``).

    Attributes: ``feature_flag.key``, ``feature_flag.result.variant`` (when there is one),
    ``feature_flag.result.reason`` and, for errors, ``error.type``. The attribute sets are
    cached per distinct combination, so a steady stream of evaluations allocates nothing new.

    Args:
        meter_provider: the provider to get flagkit's meter from; the global one by default.
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        from . import __version__

        meter = metrics.get_meter("flagkit", __version__, meter_provider=meter_provider)
        self._counter = meter.create_counter(
            METRIC_NAME, unit="{evaluation}", description="feature flag evaluations by flagkit"
        )
        self._attrs: dict[tuple[str, str | None, str, str | None], dict[str, str]] = {}

    def __call__(
        self, details: EvaluationDetails[Any], user_id: Any, attributes: Mapping[str, Any] | None
    ) -> None:
        error = details.error_code.value.lower() if details.error_code is not None else None
        key = (details.flag_key, details.variant, details.reason.value, error)
        attrs = self._attrs.get(key)
        if attrs is None:
            if len(self._attrs) >= 10_000:  # a bound on what a stream of odd flag names can hold
                self._attrs.clear()
            attrs = {
                "feature_flag.key": details.flag_key,
                "feature_flag.result.reason": details.reason.value.lower(),
            }
            if details.variant is not None:
                attrs["feature_flag.result.variant"] = details.variant
            if error is not None:
                attrs["error.type"] = error
            self._attrs[key] = attrs
        self._counter.add(1, attrs)

    def __repr__(self) -> str:
        return "EvaluationMetrics()"
