"""What a source advises can never stop the poller, and failures before any flags say so."""

from __future__ import annotations

import json
import logging
import math

import pytest

import flagkit
from flagkit._poller import MAX_WAIT

DOC = json.dumps({"beta": {"enabled": True}}).encode()


class Scripted:
    """Answers from a script: an exception to raise, or Fetched to return; then the document."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls = 0

    def fetch(self) -> flagkit.Fetched:
        self.calls += 1
        step = self.steps.pop(0) if self.steps else flagkit.Fetched(DOC, poll_after=3600)
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, flagkit.Fetched)
        return step


@pytest.mark.parametrize("advice", [math.inf, 1e999, math.nan, -5.0, 1e12])
def test_any_retry_after_gives_a_finite_bounded_wait(advice: float) -> None:
    """Retry-After of inf, NaN, negative or huge: poll_once returns a wait Event.wait accepts."""
    source = Scripted(flagkit.RetryableSourceError("busy", retry_after=advice))
    with flagkit.Flags(source, start=False, polling=flagkit.Polling(backoff_cap=2.0)) as flags:
        delay = flags._poller.poll_once()
    assert delay is not None
    assert math.isfinite(delay)
    assert 0.0 <= delay <= MAX_WAIT


@pytest.mark.parametrize("advice", [math.inf, math.nan, 1e12])
def test_any_poll_interval_advice_gives_a_finite_bounded_wait(advice: float) -> None:
    """A source's poll_after of inf/NaN/huge is bounded too (inf and NaN: the local interval)."""
    source = Scripted(flagkit.Fetched(DOC, poll_after=advice))
    polling = flagkit.Polling(interval=7.0, jitter=0.0)
    with flagkit.Flags(source, start=False, polling=polling) as flags:
        delay = flags._poller.poll_once()
    assert delay == (MAX_WAIT if advice == 1e12 else 7.0)


def test_the_poller_thread_survives_an_infinite_retry_after() -> None:
    """A 503 with Retry-After: 1e999 used to kill the poller (OverflowError in Event.wait)."""
    source = Scripted(flagkit.RetryableSourceError("busy", retry_after=1e999))
    polling = flagkit.Polling(backoff_base=0.001, backoff_cap=0.002)
    with flagkit.Flags(source, wait=30.0, polling=polling) as flags:
        assert flags.enabled("beta") is True  # the second poll happened: the thread lived on
        assert source.calls >= 2


def test_a_failure_before_any_flags_does_not_claim_last_good_flags(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before the first document the log says defaults are served, not 'the last good flags'."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    source = Scripted(
        flagkit.RetryableSourceError("down"),
        flagkit.Fetched(DOC, poll_after=3600),
        flagkit.RetryableSourceError("down again"),
    )
    with flagkit.Flags(source, start=False) as flags:
        flags.refresh()
        flags.refresh()
        flags.refresh()
    lines = [r.getMessage() for r in caplog.records if "fetch failed" in r.getMessage()]
    assert lines == [
        "flagkit: fetch failed (down); no flags loaded yet: evaluations return their defaults",
        "flagkit: fetch failed (down again); serving the last good flags",
    ]
