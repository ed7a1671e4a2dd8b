"""One contract, every source: static, file, and AppConfig through the local AppConfigData server.

Each source is driven through a small adapter that can publish a new document, so the same
assertions run against all of them (cachetools' CacheTestMixin idea).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


def _appconfig(tmp_path: Path) -> Iterator[Harness]:
    from flagkit.testing import LocalAppConfigData

    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("shop", "prod", "flags", json.dumps(ON), version_label="1")
        counter = iter(range(2, 10_000))

        def publish_raw(body: bytes) -> None:
            server.publish("shop", "prod", "flags", body, version_label=str(next(counter)))

        client = server.client()
        source = flagkit.AppConfigSource("shop", "prod", "flags", client=client)
        yield Harness(source, lambda doc: publish_raw(json.dumps(doc).encode()), publish_raw)
        client.close()


def _agent(tmp_path: Path) -> Iterator[Harness]:
    from flagkit.testing import LocalAppConfigAgent

    with LocalAppConfigAgent() as agent:
        agent.publish("shop", "prod", "flags", ON)
        source = agent.source("shop", "prod", "flags", poll_interval=0.01)

        def publish_raw(body: bytes) -> None:
            agent.publish("shop", "prod", "flags", body)

        yield Harness(source, lambda doc: publish_raw(json.dumps(doc).encode()), publish_raw)
        source.close()


SOURCES = {"static": _static, "file": _file, "appconfig": _appconfig, "agent": _agent}


@pytest.fixture(params=sorted(SOURCES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from SOURCES[request.param](tmp_path)


@pytest.fixture(params=["agent", "appconfig", "file"])
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
        changeable.publish(BAD)
        assert flags.refresh() is False
        assert flags.version == good and flags.enabled("checkout") is True
        status = flags.status()
        assert status.rejected == 1 and "refused" in (status.last_error or "")
        changeable.publish(OFF)  # and the next good one is taken
        assert flags.refresh() is True and flags.enabled("checkout", default=True) is False


def test_malformed_json_never_replaces_a_good_snapshot(changeable: Harness) -> None:
    """Bytes that are not JSON are refused; the last good snapshot stays."""
    with Flags(changeable.source, start=False) as flags:
        flags.refresh()
        assert changeable.raw_publish is not None
        changeable.raw_publish(b'{"checkout": {"enabled": tru')
        assert flags.refresh() is False
        assert flags.enabled("checkout") is True


def test_oversize_document_is_refused(changeable: Harness) -> None:
    """A document over the size cap is refused before parsing."""
    with Flags(changeable.source, start=False, polling=Polling(max_bytes=200)) as flags:
        flags.refresh()
        assert changeable.raw_publish is not None
        changeable.raw_publish(
            json.dumps({"checkout": {"enabled": True, "pad": "x" * 300}}).encode()
        )
        assert flags.refresh() is False
        assert "too large" in (flags.status().last_error or "")
        assert flags.enabled("checkout") is True


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
