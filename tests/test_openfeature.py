"""flagkit.openfeature: the provider, exercised through the real openfeature-sdk client."""

from __future__ import annotations

import gc
import itertools
import json
import queue
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from openfeature.provider._registry import provider_registry

import flagkit
from flagkit import EvaluationCounters, Fetched, RetryableSourceError, StaticSource
from flagkit.openfeature import FlagkitProvider
from flagkit.testing import FlagData

DOC: dict[str, Any] = {
    "version": "1",
    "flags": {
        "checkout": {"attributes": {"color": {}, "limit": {}, "ratio": {}, "tags": {}}},
        "pricing": {"attributes": {"price": {}, "label": {}, "fast": {}}},
        "dark": {"attributes": {"text": {}}},
    },
    "values": {
        "checkout": {
            "enabled": True,
            "color": "blue",
            "limit": 3,
            "ratio": 0.5,
            "tags": ["a", "b"],
        },
        "pricing": {
            "_variants": [
                {
                    "name": "gold",
                    "enabled": True,
                    "rule": '(eq $tier "gold")',
                    "attributeValues": {"price": 5, "label": "G", "fast": True},
                },
                {
                    "name": "beta",
                    "enabled": True,
                    "rule": "(split pct::100 by::$userId)",
                    "attributeValues": {"price": 7},
                },
                {"name": "normal", "enabled": False, "attributeValues": {"price": 10}},
            ]
        },
        "dark": {"enabled": False, "text": "hidden"},
    },
}

DOC_BYTES = json.dumps(DOC).encode()
_domains = itertools.count()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Swappable:
    """A source whose next document the test decides (``failing``: every fetch fails)."""

    def __init__(self, *docs: bytes | None) -> None:
        self.docs = list(docs)
        self.version = 0
        self.failing = False

    def fetch(self) -> Fetched:
        if self.failing:
            raise RetryableSourceError("AppConfig unreachable")
        body = self.docs.pop(0) if self.docs else None
        if body is not None:
            self.version += 1
        return Fetched(body, version=f"v{self.version}", poll_after=60)


class FakeTimer:
    """An injected timer: records what the provider arms; the test fires it."""

    class Handle:
        def __init__(self, delay: float, callback: Any) -> None:
            self.delay, self.callback, self.cancelled = delay, callback, False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.handles: list[FakeTimer.Handle] = []

    def __call__(self, delay: float, callback: Any) -> FakeTimer.Handle:
        handle = FakeTimer.Handle(delay, callback)
        self.handles.append(handle)
        return handle

    def armed(self) -> FakeTimer.Handle:
        (live,) = [h for h in self.handles if not h.cancelled]
        return live


Dispatched = list[tuple[Any, ProviderEvent, ProviderEventDetails]]


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> Dispatched:
    """Every event the SDK's registry dispatches (the provider's and the SDK's own), in order,
    recorded synchronously: handlers run on the SDK's thread pool, in no fixed order."""
    seen: Dispatched = []
    original = provider_registry.dispatch_event

    def record(provider: Any, event: ProviderEvent, details: ProviderEventDetails) -> None:
        seen.append((provider, event, details))
        original(provider, event, details)

    monkeypatch.setattr(provider_registry, "dispatch_event", record)
    return seen


def events_of(dispatched: Dispatched, provider: Any) -> list[ProviderEvent]:
    return [event for p, event, _ in dispatched if p is provider]


@pytest.fixture
def domain() -> Iterator[str]:
    name = f"flagkit-test-{next(_domains)}"
    yield name
    api.clear_providers()


def client_for(flags: flagkit.Flags, domain: str, **options: Any) -> Any:
    provider = FlagkitProvider(flags, **options)
    api.set_provider_and_wait(provider, domain)
    return api.get_client(domain)


def next_other(
    events: queue.Queue[tuple[ProviderEvent, EventDetails]], repeated: ProviderEvent
) -> ProviderEvent:
    """The next event that is not ``repeated`` (waits on the queue, never sleeps)."""
    while True:
        event = events.get(timeout=10)[0]
        if event != repeated:
            return event


def static_flags() -> flagkit.Flags:
    return flagkit.Flags(StaticSource(DOC, version="v1"), start=False, wait=0)


def loaded() -> flagkit.Flags:
    flags = static_flags()
    flags.refresh()
    return flags


def ctx(key: str | None = None, **attrs: Any) -> EvaluationContext:
    return EvaluationContext(key, attrs)


def test_metadata_names_the_provider(domain: str) -> None:
    client_for(loaded(), domain)
    assert api.get_provider_metadata(domain).name == "flagkit"


def test_boolean_flag_is_the_enabled_state(domain: str) -> None:
    client = client_for(loaded(), domain)
    d = client.get_boolean_details("checkout", False)
    assert (d.value, d.reason, d.variant, d.error_code) == (True, Reason.STATIC, "on", None)
    assert d.flag_metadata == {"version": "v1"}
    assert client.get_boolean_value("dark", True) is False


def test_basic_flags_report_variant_on_or_off(domain: str) -> None:
    """Spec 2.2.4: a basic flag has no variant of its own; the provider says "on" or "off"."""
    client = client_for(loaded(), domain)
    assert client.get_boolean_details("dark", True).variant == "off"
    assert client.get_string_details("checkout.color", "").variant == "on"
    assert client.get_integer_details("checkout.limit", 0).variant == "on"
    assert client.get_float_details("checkout.ratio", 0.0).variant == "on"
    assert client.get_object_details("checkout", {}).variant == "on"
    assert client.get_object_details("dark", {}).variant == "off"
    assert client.get_object_details("checkout.tags", []).variant == "on"
    disabled = client.get_string_details("dark.text", "fallback")
    assert (disabled.reason, disabled.variant) == (Reason.DISABLED, "off")
    named = client.get_boolean_details("pricing", False, ctx("u", tier="gold"))
    assert named.variant == "gold"  # a multi-variant flag keeps its variant's name


def test_targeting_key_and_attributes_reach_the_rules(domain: str) -> None:
    client = client_for(loaded(), domain)
    gold = client.get_string_details("pricing", "x", ctx("u1", tier="gold"))
    assert (gold.value, gold.variant, gold.reason) == ("gold", "gold", Reason.TARGETING_MATCH)
    split = client.get_integer_details("pricing.price", 0, ctx("u1", tier="tin"))
    assert (split.value, split.variant, split.reason) == (7, "beta", Reason.SPLIT)
    default = client.get_boolean_details("pricing", True, ctx(None, tier="tin"))
    assert (default.value, default.variant, default.reason) == (False, "normal", Reason.DEFAULT)


def test_typed_attributes(domain: str) -> None:
    client = client_for(loaded(), domain)
    assert client.get_string_value("checkout.color", "x") == "blue"
    assert client.get_integer_value("checkout.limit", 0) == 3
    assert client.get_float_value("checkout.ratio", 0.0) == 0.5
    widened = client.get_float_details("checkout.limit", 0.0)
    assert (widened.value, type(widened.value)) == (3.0, float)
    assert client.get_object_value("checkout.tags", []) == ["a", "b"]
    assert client.get_boolean_value("pricing.fast", False, ctx("u", tier="gold")) is True


def test_object_without_attribute_is_the_whole_state(domain: str) -> None:
    client = client_for(loaded(), domain)
    d = client.get_object_details("checkout", {})
    assert d.value == {
        "enabled": True,
        "color": "blue",
        "limit": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
    }
    assert d.reason == Reason.STATIC
    v = client.get_object_details("pricing", {}, ctx("u", tier="gold"))
    assert (v.value, v.variant) == (
        {"enabled": True, "price": 5, "label": "G", "fast": True},
        "gold",
    )


def test_disabled_variant_attribute_is_the_default_with_reason_disabled(domain: str) -> None:
    client = client_for(loaded(), domain)
    d = client.get_string_details("dark.text", "fallback")
    assert (d.value, d.reason, d.error_code) == ("fallback", Reason.DISABLED, None)


@pytest.mark.parametrize(
    ("kind", "key", "default", "code"),
    [
        ("boolean", "missing", False, ErrorCode.FLAG_NOT_FOUND),
        ("string", "checkout.nope", "d", ErrorCode.FLAG_NOT_FOUND),
        ("integer", "checkout.color", 1, ErrorCode.TYPE_MISMATCH),
        ("integer", "checkout.ratio", 1, ErrorCode.TYPE_MISMATCH),
        ("boolean", "checkout.limit", False, ErrorCode.TYPE_MISMATCH),
        ("integer", "checkout", 1, ErrorCode.TYPE_MISMATCH),
        ("float", "checkout", 1.0, ErrorCode.TYPE_MISMATCH),
        ("string", "checkout", "d", ErrorCode.TYPE_MISMATCH),  # basic flag: no variant name
        ("object", "checkout.color", {"d": 1}, ErrorCode.TYPE_MISMATCH),
        ("object", "nope", {"d": 1}, ErrorCode.FLAG_NOT_FOUND),
    ],
)
def test_errors_return_the_default_with_the_code(
    domain: str, kind: str, key: str, default: Any, code: ErrorCode
) -> None:
    client = client_for(loaded(), domain)
    d = getattr(client, f"get_{kind}_details")(key, default)
    assert (d.value, d.reason, d.error_code) == (default, Reason.ERROR, code)
    assert d.error_message


def test_odd_context_values_never_raise(
    domain: str,
) -> None:
    client = client_for(loaded(), domain)
    d = client.get_boolean_details("pricing", False, ctx("u", tier=object()))
    assert d.error_code is None  # a rule reading an odd value is simply false


def test_not_ready_raises_on_initialize_then_ready_event_when_a_document_arrives(
    domain: str,
) -> None:
    source = Swappable(None, DOC_BYTES)
    flags = flagkit.Flags(source, start=False, wait=0)
    provider = FlagkitProvider(flags)
    api.set_provider(provider, domain)
    client = api.get_client(domain)
    events: queue.Queue[tuple[ProviderEvent, EventDetails]] = queue.Queue()
    for event in (ProviderEvent.PROVIDER_ERROR, ProviderEvent.PROVIDER_READY):
        client.add_handler(event, lambda d, e=event: events.put((e, d)))
    assert events.get(timeout=10)[0] == ProviderEvent.PROVIDER_ERROR
    d = client.get_boolean_details("checkout", False)
    assert d.error_code == ErrorCode.PROVIDER_NOT_READY
    assert flags.refresh() is True
    # A handler added while the event is being dispatched may see it twice: skip repeats.
    assert next_other(events, ProviderEvent.PROVIDER_ERROR) == ProviderEvent.PROVIDER_READY
    assert client.get_provider_status() == ProviderStatus.READY
    assert client.get_boolean_value("checkout", False) is True


def test_a_refused_document_reports_parse_error(domain: str) -> None:
    flags = flagkit.Flags(Swappable(b'{"version": "1", "flags": 3}'), start=False, wait=0)
    provider = FlagkitProvider(flags)
    with pytest.raises(Exception, match="refused"):
        api.set_provider_and_wait(provider, domain)
    d = provider.resolve_boolean_details("checkout", False)
    assert (d.value, d.error_code) == (False, ErrorCode.PARSE_ERROR)


def test_configuration_changed_on_every_swap(domain: str) -> None:
    source = Swappable(DOC_BYTES, DOC_BYTES.replace(b'"color": "blue"', b'"color": "red"'))
    flags = flagkit.Flags(source, start=False, wait=0)
    flags.refresh()
    client = client_for(flags, domain)
    changes: queue.Queue[EventDetails] = queue.Queue()
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changes.put)
    assert client.get_string_value("checkout.color", "") == "blue"
    assert flags.refresh() is True
    event = changes.get(timeout=10)
    assert event.metadata == {"version": "v2"}
    assert client.get_string_value("checkout.color", "") == "red"


def test_stale_after_threshold_then_ready_again(domain: str) -> None:
    clock = FakeClock()
    source = Swappable(DOC_BYTES)
    flags = flagkit.Flags(source, start=False, wait=0, clock=clock)
    flags.refresh()
    client = client_for(flags, domain, stale_after=30)
    events: queue.Queue[ProviderEvent] = queue.Queue()
    client.add_handler(
        ProviderEvent.PROVIDER_STALE, lambda d: events.put(ProviderEvent.PROVIDER_STALE)
    )
    assert client.get_boolean_details("checkout", False).reason == Reason.STATIC
    clock.now += 31
    d = client.get_boolean_details("checkout", False)
    assert (d.value, d.reason, d.error_code) == (True, Reason.STALE, None)
    assert events.get(timeout=10) == ProviderEvent.PROVIDER_STALE
    assert client.get_provider_status() == ProviderStatus.STALE
    client.add_handler(
        ProviderEvent.PROVIDER_READY, lambda d: events.put(ProviderEvent.PROVIDER_READY)
    )
    flags.refresh()  # unchanged, but a successful fetch: fresh again
    assert client.get_boolean_details("checkout", False).reason == Reason.STATIC
    assert events.get(timeout=10) == ProviderEvent.PROVIDER_READY
    assert client.get_provider_status() == ProviderStatus.READY


def test_initialize_and_shutdown_are_idempotent() -> None:
    flags = loaded()
    provider = FlagkitProvider(flags, close_on_shutdown=True)
    provider.initialize(EvaluationContext())
    provider.initialize(EvaluationContext())
    assert len(flags._listeners) == 1  # one listener however often initialize runs
    provider.shutdown()
    provider.shutdown()
    assert flags.status().state == "closed"
    emitted: list[Any] = []
    provider.attach(lambda *a: emitted.append(a))
    provider._on_swap("v1", "v2")  # after shutdown: silent
    assert emitted == []
    provider.initialize(EvaluationContext())  # may be initialised again
    provider._on_swap("v1", "v2")
    assert [a[1] for a in emitted] == [ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]


def test_works_with_flag_data(domain: str) -> None:
    data = FlagData()
    data.flag("beta").rollout("on", 100).default("off")
    client = client_for(data.flags(), domain)
    assert client.get_boolean_details("beta", False, ctx("anyone")).reason == Reason.SPLIT


def test_ramp_and_guard_reasons_and_a_guard_swap_is_a_configuration_change(domain: str) -> None:
    """RAMP and GUARDED reach OpenFeature as reason strings; a trip emits CONFIGURATION_CHANGED."""
    from flagkit.testing import StaticAlarms

    doc = {
        "checkout": {
            "enabled": True,
            "flagkit-ramp": "AllAtOnce",
            "flagkit-ramp-start": "2020-01-01T00:00:00Z",
            "flagkit-alarms": ["checkout-5xx"],
        }
    }
    alarms = StaticAlarms({"checkout-5xx": "OK"})
    flags = flagkit.Flags(
        StaticSource(json.dumps(doc)), start=False, guard=flagkit.AlarmGuard(alarms, interval=5)
    )
    flags.refresh()
    client = client_for(flags, domain)
    changes: queue.Queue[EventDetails] = queue.Queue()
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changes.put)
    d = client.get_boolean_details("checkout", False, ctx("u1"))
    assert (d.value, d.reason) == (True, "RAMP")
    alarms.set("checkout-5xx", "ALARM")
    assert flags.check_rollouts()
    changes.get(timeout=10)
    d = client.get_boolean_details("checkout", True, ctx("u1"))
    assert (d.value, d.reason) == (False, "GUARDED")


# -- issue 17: hooks, listeners, status-driven events, flags_changed, READY once -------------


def test_whole_flag_object_evaluations_are_hooked(domain: str) -> None:
    """get_object_*("flag") reaches the client's hooks like every other evaluation."""
    flags = loaded()
    counters = flags.add_hook(EvaluationCounters())
    client = client_for(flags, domain)
    value = client.get_object_value("pricing", {}, ctx("u", tier="gold"))
    assert value == {"enabled": True, "price": 5, "label": "G", "fast": True}
    client.get_object_value("checkout", {})
    client.get_object_value("nope", {})
    assert counters.by_flag() == {"pricing": 1, "checkout": 1, "nope": 1}
    assert counters.by_variant()[("pricing", "gold")] == 1
    assert counters.errors() == {"nope": 1}


def test_shutdown_removes_the_listeners_and_a_dead_provider_is_collected(domain: str) -> None:
    """20 initialize/shutdown cycles leave no listener behind, and nothing pins the provider."""
    flags = loaded()
    for _ in range(20):
        api.set_provider_and_wait(FlagkitProvider(flags, stale_after=30), domain)
        assert (len(flags._listeners), len(flags._status_listeners)) == (1, 1)
        api.clear_providers()
    assert (len(flags._listeners), len(flags._status_listeners)) == (0, 0)
    provider = FlagkitProvider(flags, stale_after=30)
    provider.initialize(EvaluationContext())
    provider.shutdown()
    ref = weakref.ref(provider)
    del provider
    gc.collect()
    assert ref() is None
    assert flags.refresh() is False  # the client carries on without its listeners


def test_remove_listener_forgets_change_status_and_rollout_listeners() -> None:
    flags = loaded()
    calls: list[object] = []
    for register in (flags.on_change, flags.on_status, flags.on_rollout):
        register(calls.append)
    flags.remove_listener(calls.append)  # a fresh bound method, equal to the registered ones
    flags.remove_listener(print)  # never registered: ignored
    assert (flags._listeners, flags._status_listeners, flags._rollout_listeners) == ((), (), ())


def test_stale_is_driven_by_the_timer_and_a_fetch_makes_it_ready(
    domain: str, dispatched: Dispatched
) -> None:
    """No evaluation needed: the timer turns the provider STALE, the next fetch READY."""
    clock, timer = FakeClock(), FakeTimer()
    flags = flagkit.Flags(Swappable(DOC_BYTES), start=False, wait=0, clock=clock)
    flags.refresh()
    provider = FlagkitProvider(flags, stale_after=30, timer=timer)
    api.set_provider_and_wait(provider, domain)
    client = api.get_client(domain)
    handle = timer.armed()
    assert handle.delay == 30
    clock.now += 30
    handle.callback()
    assert client.get_provider_status() == ProviderStatus.STALE
    flags.refresh()  # unchanged, but a successful fetch
    assert client.get_provider_status() == ProviderStatus.READY
    assert timer.armed().delay == 30  # armed again from the new fetch
    assert events_of(dispatched, provider) == [
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_READY,
    ]


def test_failing_fetches_after_startup_emit_error_and_recovery_emits_ready(
    domain: str, dispatched: Dispatched
) -> None:
    source = Swappable(DOC_BYTES)
    flags = flagkit.Flags(source, start=False, wait=0)
    flags.refresh()
    provider = FlagkitProvider(flags)
    api.set_provider_and_wait(provider, domain)
    client = api.get_client(domain)
    source.failing = True
    flags.refresh()
    flags.refresh()  # still failing: no second event
    assert client.get_provider_status() == ProviderStatus.ERROR
    assert client.get_boolean_value("checkout", False) is True  # the last good flags serve
    source.failing = False
    flags.refresh()
    assert client.get_provider_status() == ProviderStatus.READY
    assert events_of(dispatched, provider) == [
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
    ]
    error = dispatched[1][2]
    assert error.error_code == ErrorCode.GENERAL
    assert "AppConfig unreachable" in (error.message or "")


def test_a_refused_document_after_startup_is_an_error_until_a_good_one_arrives(
    domain: str, dispatched: Dispatched
) -> None:
    good = DOC_BYTES.replace(b'"color": "blue"', b'"color": "red"')
    source = Swappable(DOC_BYTES, b'{"version": "1", "flags": 3}', None, good)
    flags = flagkit.Flags(source, start=False, wait=0)
    flags.refresh()
    provider = FlagkitProvider(flags)
    api.set_provider_and_wait(provider, domain)
    client = api.get_client(domain)
    flags.refresh()  # refused
    flags.refresh()  # unchanged: the newest document is still the refused one
    assert client.get_provider_status() == ProviderStatus.ERROR
    assert flags.refresh() is True
    assert client.get_provider_status() == ProviderStatus.READY
    assert events_of(dispatched, provider) == [
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ]
    assert dispatched[1][2].error_code == ErrorCode.PARSE_ERROR


def test_a_client_serving_only_its_backup_is_not_ready(
    domain: str, dispatched: Dispatched, tmp_path: Any
) -> None:
    """AppConfig never reached: the backup serves (reason STALE), the provider is not READY."""
    backup = tmp_path / "flags.json"
    first = flagkit.Flags(Swappable(DOC_BYTES), start=False, wait=0, backup_path=backup)
    first.refresh()
    source = Swappable(None)
    source.failing = True
    flags = flagkit.Flags(source, start=False, wait=0, backup_path=backup)
    assert flags.ready
    provider = FlagkitProvider(flags)
    with pytest.raises(Exception, match="AppConfig unreachable"):
        api.set_provider_and_wait(provider, domain)
    client = api.get_client(domain)
    assert client.get_provider_status() == ProviderStatus.ERROR
    d = client.get_boolean_details("checkout", False)
    assert (d.value, d.reason, d.error_code) == (True, Reason.STALE, None)
    source.failing = False
    flags.refresh()  # AppConfig answers (unchanged): fresh now
    assert client.get_provider_status() == ProviderStatus.READY
    assert client.get_boolean_details("checkout", False).reason == Reason.STATIC
    assert events_of(dispatched, provider) == [
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
    ]


def test_configuration_changed_names_the_flags_whose_definitions_differ(
    domain: str, dispatched: Dispatched
) -> None:
    """flags_changed, as flagd's provider sends it: changed, added and removed keys."""
    doc = json.loads(DOC_BYTES)
    doc["values"]["checkout"]["color"] = "red"
    doc["flags"]["extra"] = {}
    doc["values"]["extra"] = {"enabled": True}
    del doc["flags"]["dark"], doc["values"]["dark"]
    flags = flagkit.Flags(Swappable(DOC_BYTES, json.dumps(doc).encode()), start=False, wait=0)
    flags.refresh()
    provider = FlagkitProvider(flags)
    api.set_provider_and_wait(provider, domain)
    assert flags.refresh() is True
    (changed,) = [d for p, e, d in dispatched if e == ProviderEvent.PROVIDER_CONFIGURATION_CHANGED]
    assert changed.flags_changed == ["checkout", "dark", "extra"]
    assert changed.metadata == {"version": "v2"}


def test_a_loaded_client_sends_one_ready_under_the_current_sdk(
    domain: str, dispatched: Dispatched
) -> None:
    """openfeature-sdk 0.10 emits READY when initialize returns: the provider adds none."""
    provider = FlagkitProvider(loaded())
    api.set_provider_and_wait(provider, domain)
    assert api.get_client(domain).get_provider_status() == ProviderStatus.READY
    assert events_of(dispatched, provider) == [ProviderEvent.PROVIDER_READY]
    # a client that fetches its first document inside initialize: still one READY
    fetching = FlagkitProvider(flagkit.Flags(Swappable(DOC_BYTES), start=False, wait=0))
    api.set_provider_and_wait(fetching, f"{domain}-fetching")
    assert events_of(dispatched, fetching) == [ProviderEvent.PROVIDER_READY]


def test_spec_2_8_2_the_provider_emits_ready_itself_once() -> None:
    """Under spec 2.8.2 the SDK infers nothing: initialize emits READY (or ERROR) itself."""
    emitted: list[ProviderEvent] = []
    provider = FlagkitProvider(loaded(), emit_init_events=True)
    provider.attach(lambda _p, event, _d: emitted.append(event))
    provider.initialize(EvaluationContext())
    assert emitted == [ProviderEvent.PROVIDER_READY]
    failing = FlagkitProvider(
        flagkit.Flags(Swappable(None), start=False, wait=0), emit_init_events=True
    )
    failing.attach(lambda _p, event, _d: emitted.append(event))
    with pytest.raises(Exception, match="no flags document"):
        failing.initialize(EvaluationContext())
    assert emitted == [ProviderEvent.PROVIDER_READY, ProviderEvent.PROVIDER_ERROR]


def test_events_follow_appconfig_over_http(domain: str, dispatched: Dispatched) -> None:
    """Real boto3 against the loopback AppConfigData: a 500, a refused and a new document."""
    from flagkit.testing import LocalAppConfigData

    with LocalAppConfigData(poll_interval=0) as server:
        server.publish(
            "shop", "prod", "flags", json.dumps({"a": {"enabled": True}}), version_label="v1"
        )
        client = server.client(read_timeout=0.5, connect_timeout=0.5)
        source = flagkit.AppConfigSource("shop", "prod", "flags", client=client)
        with flagkit.Flags(source, start=False, wait=0) as flags:
            provider = FlagkitProvider(flags)
            api.set_provider_and_wait(provider, domain)  # initialize fetches the document
            of_client = api.get_client(domain)
            server.inject("internal", count=3, operation="GetLatestConfiguration")
            flags.refresh()
            assert of_client.get_provider_status() == ProviderStatus.ERROR
            flags.refresh()
            assert of_client.get_provider_status() == ProviderStatus.READY
            server.publish(
                "shop", "prod", "flags", b'{"a": {"enabled": "yes"}}', version_label="bad"
            )
            flags.refresh()
            assert of_client.get_provider_status() == ProviderStatus.ERROR
            server.publish(
                "shop",
                "prod",
                "flags",
                json.dumps({"a": {"enabled": False}, "b": {"enabled": True}}),
                version_label="v2",
            )
            assert flags.refresh() is True
            assert of_client.get_provider_status() == ProviderStatus.READY
            assert of_client.get_boolean_details("a", True).variant == "off"
        client.close()
    assert events_of(dispatched, provider) == [
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ]
    codes = [d.error_code for p, e, d in dispatched if e == ProviderEvent.PROVIDER_ERROR]
    assert codes == [ErrorCode.GENERAL, ErrorCode.PARSE_ERROR]
    assert dispatched[-1][2].flags_changed == ["a", "b"]
