"""The soak (benchmarks/soak.py) in a seconds-long run, and its checks, which must be able to fail.

The full run is ``python benchmarks/soak.py --minutes N``; this runs the same code for 8 s of
faults and publishes against the local AppConfigData server.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `src`, not inside the package
    sys.path.insert(0, str(ROOT))

from benchmarks.soak import Limits, Result, Sample, judge, soak, staleness  # noqa: E402


def test_short_soak_passes_every_check() -> None:
    """3 pollers, 2 evaluating threads, 8 s of random faults and publishes: every check holds."""
    result = soak(8, pollers=3, evaluators=2, seed=3)
    assert result.ok, result.render()
    # the run did what it says: faults reached the pollers and bad documents were refused
    assert sum(result.faults.values()) > 0 and result.errors > 0, result.render()
    assert sum(result.published_invalid.values()) > 0 and result.rejected > 0, result.render()
    assert result.swaps >= result.published_valid and result.evaluations > 0, result.render()
    assert "checks: all passed" in result.render()


def test_staleness_is_publish_to_first_swap_to_it_or_newer() -> None:
    """A publish counts until the poller serves it or a later one; never caught: until the end."""
    publishes: list[tuple[int | None, float]] = [(1, 10.0), (2, 11.0), (3, 20.0)]
    quick = [(10.5, "good-1"), (12.0, "good-2"), (21.0, "good-3")]
    skipped = [(15.0, "good-2")]  # never saw good-1 itself, nor good-3
    lags = staleness(publishes, [quick, skipped], end=30.0)
    assert lags == [0.5, 1.0, 1.0, 5.0, 4.0, 10.0]


def test_staleness_stops_when_an_invalid_publish_replaces_the_document() -> None:
    """Serving good-1 after bad documents replaced good-2 on the server is not staleness."""
    publishes: list[tuple[int | None, float]] = [(1, 10.0), (2, 11.0), (None, 13.0), (3, 20.0)]
    slow = [(10.5, "good-1"), (24.0, "good-3")]
    assert staleness(publishes, [slow], end=30.0) == [0.5, 2.0, 4.0]


GOOD = Result(
    seconds=8,
    seed=1,
    pollers=2,
    evaluators=1,
    baseline=Sample(1, 30_000, 6),
    start=Sample(8, 50_000, 12),
    end=Sample(8, 51_000, 12),
    closed=Sample(1, 51_000, 6),
    polls=20,
    swaps=10,
    errors=3,
    rejected=2,
    evaluations=1000,
    raised=[],
    torn=[],
    bad_swaps=[],
    converged=True,
    faults=Counter(throttle=2),
    published_valid=4,
    published_invalid=Counter(nan=1),
    log_records=Counter(error=2),
    staleness=[0.5, 1.5],
)


def test_judge_passes_a_clean_run_and_fails_each_breach() -> None:
    """Each check of the soak reports its own breach (so the CI variant can fail)."""
    limits = Limits(max_staleness=5.0, max_rss_growth_mb=8.0)
    assert judge(GOOD, limits) == []
    breaches = {
        "evaluations raised": replace(GOOD, raised=["RuntimeError()"]),
        "torn": replace(GOOD, torn=["poller 0: version 'good-3' with seq 2"]),
        "refused document replaced": replace(GOOD, bad_swaps=["poller 1: bad-4"]),
        "last valid publish": replace(GOOD, converged=False),
        "staleness": replace(GOOD, staleness=[0.5, 6.0]),
        "threads grew": replace(GOOD, end=Sample(11, 51_000, 12)),
        "descriptors grew": replace(GOOD, end=Sample(8, 51_000, 17)),
        "RSS grew": replace(GOOD, end=Sample(8, 60_000, 12)),
        "left after close": replace(GOOD, closed=Sample(2, 51_000, 6)),
        "swaps": replace(GOOD, swaps=1),
    }
    for words, result in breaches.items():
        failures = judge(result, limits)
        assert len(failures) == 1 and words in failures[0], (words, failures)
