"""One contract, every source: static, file, and AppConfig through the local AppConfigData server.

Each source is driven through a small adapter that can publish a new document, so the same
assertions run against all of them (cachetools' CacheTestMixin idea).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import flagkit
from flagkit import FileSource, Flags, Polling, StaticSource

ON = {"checkout": {"enabled": True, "limit": 3}}
OFF = {"checkout": {"enabled": False}}
BAD = {"checkout": {"enabled": "yes"}}


@dataclass
class Harness:
    """A source plus the means to change the document it serves."""

    source: flagkit.Source
    publish: Callable[[Any], None] | None  # None: the source can never change (static)
    raw_publish: Callable[[bytes], None] | None = None
    # The publisher refuses an invalid document itself, as CreateHostedConfigurationVersion
    # does for a feature-flag profile, so it never reaches the source.
    refuses_invalid: bool = False


def _static(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(StaticSource(ON), None)


def _file(tmp_path: Path) -> Iterator[Harness]:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(ON))
    counter = iter(range(1, 10_000))

    def write(body: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        # force a distinct mtime even on coarse file systems
        n = next(counter)
        os.utime(path, ns=(n * 10**9, n * 10**9))

    yield Harness(
        FileSource(path, poll_interval=0.01), lambda doc: write(json.dumps(doc).encode()), write
    )


def stored(view: dict[str, Any], kind: str) -> dict[str, Any]:
    """The stored feature-flag document that serves ``view``'s ``checkout`` state.

    ``basic``: checkout is a basic flag; ``mixed``: plus a multi-variant flag beside it;
    ``variants``: checkout itself has variants, and ``view`` is its default variant (the tests
    evaluate without context, so no rule matches).
    """
    state = dict(view["checkout"])
    enabled = state.pop("enabled")
    number = {"constraints": {"type": "number"}}
    attributes: dict[str, Any] = {name: {} for name in state} | {"limit": number}
    flags: dict[str, Any] = {"checkout": {"name": "Checkout", "attributes": attributes}}
    values: dict[str, Any] = {"checkout": {"enabled": enabled, **state}}
    if kind == "variants":
        values["checkout"] = {
            "_variants": [
                {"name": "pro", "enabled": True, "rule": '(eq $plan "pro")'},
                {"name": "default", "enabled": enabled, "attributeValues": state},
            ]
        }
    if kind == "mixed":
        flags["banner"] = {"name": "Banner"}
        values["banner"] = {
            "_variants": [
                {"name": "beta", "enabled": True, "rule": "(split pct::10 by::$userId)"},
                {"name": "off", "enabled": False},
            ]
        }
    return {"version": "1", "flags": flags, "values": values}


def _appconfig(kind: str, via: str = "direct") -> Callable[[Path], Iterator[Harness]]:
    """AppConfigSource (or AgentSource) against the local AppConfig; ``kind`` is the profile.

    ``freeform``: an AWS.Freeform profile holding data-view JSON, served byte for byte (so a
    bad document does reach the source). The others are AWS.AppConfig.FeatureFlags profiles
    (see ``stored``): the control plane validates what is published, and the source reads the
    retrieval-time format -- the data view for ``basic``, Ion for ``mixed`` and ``variants``.
    ``via``: ``direct`` is AppConfigSource; ``agent`` is AgentSource reading a
    LocalAppConfigAgent in front of the same AppConfig (what the agent evaluates without
    context; ``evaluate="agent"`` is checked against AppConfigSource in test_agent_source.py).
    """

    def harness(tmp_path: Path) -> Iterator[Harness]:
        from flagkit.testing import LocalAppConfigAgent, LocalAppConfigData

        profile_type = "AWS.Freeform" if kind == "freeform" else "AWS.AppConfig.FeatureFlags"
        counter = iter(range(1, 10_000))

        def to_bytes(doc: Any) -> bytes:
            return json.dumps(doc if kind == "freeform" else stored(doc, kind)).encode()

        with contextlib.ExitStack() as stack:
            server = stack.enter_context(LocalAppConfigData(poll_interval=0))
            server.create("shop", "prod", "flags", profile_type=profile_type)

            def publish_raw(body: bytes) -> None:
                label = f"v{next(counter)}"
                server.publish("shop", "prod", "flags", body, version_label=label)

            publish_raw(to_bytes(ON))
            source: flagkit.Source
            if via == "direct":
                client = server.client()
                stack.callback(client.close)
                source = flagkit.AppConfigSource("shop", "prod", "flags", client=client)
            else:
                agent = stack.enter_context(LocalAppConfigAgent(appconfigdata=server))
                source = agent.source("shop", "prod", "flags", poll_interval=0.01)
                stack.callback(source.close)
            yield Harness(
                source,
                lambda doc: publish_raw(to_bytes(doc)),
                publish_raw,
                refuses_invalid=kind != "freeform",
            )

    return harness


# One row per source and, for AppConfig, per kind of profile. Add a row here and every
# contract test below runs against it.
KINDS = ("basic", "mixed", "variants", "freeform")
SOURCES: dict[str, Callable[[Path], Iterator[Harness]]] = {
    "static": _static,
    "file": _file,
    "appconfig-basic": _appconfig("basic"),
    "appconfig-mixed": _appconfig("mixed"),
    "appconfig-variants": _appconfig("variants"),
    "appconfig-freeform": _appconfig("freeform"),
}
# AgentSource in front of the same local AppConfig, per kind of profile (issue 14).
SOURCES |= {f"agent-{kind}": _appconfig(kind, "agent") for kind in KINDS}
CHANGEABLE = sorted(name for name in SOURCES if name != "static")


@pytest.fixture(params=sorted(SOURCES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from SOURCES[request.param](tmp_path)


@pytest.fixture(params=CHANGEABLE)
def changeable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The sources whose document can change (a static source never does)."""
    yield from SOURCES[request.param](tmp_path)


def test_first_document_is_served(harness: Harness) -> None:
    """Every source delivers its document; the client is ready and evaluates it."""
    with Flags(harness.source, start=False) as flags:
        assert flags.refresh() is True
        assert flags.ready
        assert flags.enabled("checkout") is True
        assert flags.get_int("checkout", "limit", 0) == 3
        assert flags.version is not None


def test_unchanged_document_is_not_swapped(harness: Harness) -> None:
    """An unchanged document causes no re-parse and no swap."""
    with Flags(harness.source, start=False) as flags:
        flags.refresh()
        assert flags.refresh() is False
        assert flags.status().swaps == 1


def test_published_change_is_swapped_in_and_listeners_hear(changeable: Harness) -> None:
    """A new document replaces the snapshot and listeners get old and new versions."""
    seen: list[tuple[str | None, str | None]] = []
    with Flags(
        changeable.source, start=False, on_change=lambda old, new: seen.append((old, new))
    ) as flags:
        flags.refresh()
        v1 = flags.version
        assert changeable.publish is not None
        changeable.publish(OFF)
        assert flags.refresh() is True
        assert flags.enabled("checkout", default=True) is False
        assert seen == [(None, v1), (v1, flags.version)]


def test_bad_document_never_replaces_a_good_snapshot(changeable: Harness) -> None:
    """A schema-invalid document is refused, counted and logged; the last good one stays."""
    with Flags(changeable.source, start=False) as flags:
        flags.refresh()
        good = flags.version
        assert changeable.publish is not None
        if changeable.refuses_invalid:  # CreateHostedConfigurationVersion says no
            with pytest.raises(ClientError, match="BadRequestException"):
                changeable.publish(BAD)
            assert flags.refresh() is False
            assert flags.status().rejected == 0
        else:
            changeable.publish(BAD)
            assert flags.refresh() is False
            status = flags.status()
            assert status.rejected == 1 and "refused" in (status.last_error or "")
        assert flags.version == good and flags.enabled("checkout") is True
        changeable.publish(OFF)  # and the next good one is taken
        assert flags.refresh() is True and flags.enabled("checkout", default=True) is False


def test_malformed_json_never_replaces_a_good_snapshot(changeable: Harness) -> None:
    """Bytes that are not JSON are refused; the last good snapshot stays."""
    with Flags(changeable.source, start=False) as flags:
        flags.refresh()
        assert changeable.raw_publish is not None
        if changeable.refuses_invalid:
            with pytest.raises(ClientError, match="BadRequestException"):
                changeable.raw_publish(b'{"checkout": {"enabled": tru')
        else:
            changeable.raw_publish(b'{"checkout": {"enabled": tru')
        assert flags.refresh() is False
        assert flags.enabled("checkout") is True


def test_oversize_document_is_refused(changeable: Harness) -> None:
    """A document over the size cap is refused before parsing."""
    with Flags(changeable.source, start=False, polling=Polling(max_bytes=400)) as flags:
        flags.refresh()
        good = flags.version
        assert changeable.publish is not None
        changeable.publish({"checkout": {"enabled": True, "pad": "x" * 500}})
        assert flags.refresh() is False
        assert "too large" in (flags.status().last_error or "")
        assert flags.version == good and flags.get_int("checkout", "limit", 0) == 3


def test_background_poller_picks_up_a_change(changeable: Harness) -> None:
    """With the thread running, a published change arrives without any call from the test."""
    swapped = threading.Event()
    with Flags(changeable.source, wait=5, polling=Polling(interval=0.01, jitter=0)) as flags:
        assert flags.enabled("checkout") is True
        flags.on_change(lambda old, new: swapped.set())
        assert changeable.publish is not None
        changeable.publish(OFF)
        assert swapped.wait(10), "no swap within 10 s"
        assert flags.enabled("checkout", default=True) is False


def test_listener_exception_does_not_stop_the_poller(changeable: Harness) -> None:
    """A listener that raises is logged; the swap happens and later swaps still do."""

    def bad(old: str | None, new: str | None) -> None:
        raise RuntimeError("listener bug")

    with Flags(changeable.source, start=False, on_change=bad) as flags:
        flags.refresh()
        assert changeable.publish is not None
        changeable.publish(OFF)
        assert flags.refresh() is True
        changeable.publish(ON)
        assert flags.refresh() is True


def test_backup_serves_last_good_at_cold_start(harness: Harness, tmp_path: Path) -> None:
    """Every accepted document is backed up (0600); a new client starts from it."""
    backup = tmp_path / "flags.backup"
    with Flags(harness.source, start=False, backup_path=backup) as flags:
        flags.refresh()
        version = flags.version
    assert backup.stat().st_mode & 0o777 == 0o600

    class Down:
        def fetch(self) -> flagkit.Fetched:
            raise flagkit.RetryableSourceError("unreachable")

    with Flags(Down(), wait=0, backup_path=backup) as cold:
        assert cold.ready and cold.version == version
        assert cold.enabled("checkout") is True


def test_corrupt_backup_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A corrupt backup is ignored with a warning; the source's document is used."""
    backup = tmp_path / "flags.backup"
    backup.write_bytes(b"flagkit-backup 1 {not json\n{}")
    with Flags(StaticSource(ON), wait=5, backup_path=backup) as flags:
        assert flags.enabled("checkout") is True
    assert any("unusable backup" in r.getMessage() for r in caplog.records)


def test_close_is_idempotent_and_bounded(harness: Harness) -> None:
    """close() may be called twice; the thread is gone afterwards."""
    flags = Flags(harness.source, wait=5, polling=Polling(interval=0.01))
    flags.close(timeout=5)
    flags.close(timeout=5)
    assert flags.status().state == "closed"
    thread = flags._poller._thread
    assert thread is None or not thread.is_alive()
