"""The benchmark harness (benchmarks/run.py) runs end to end in quick mode.

Timings are never asserted: machines are shared and noisy. What is asserted is that the run
completes and that every SDK present got every scenario's outcome shares right (the harness
refuses to time an SDK that does not). Peers that are not installed are skipped here.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `src`, not inside the package
    sys.path.insert(0, str(ROOT))

from benchmarks import peers  # noqa: E402
from benchmarks import run as harness  # noqa: E402
from benchmarks.scenarios import SCENARIO_KEYS  # noqa: E402


@pytest.fixture(scope="module")
def report() -> harness.Report:
    out = io.StringIO()
    result = harness.main(["--quick"], out=out)
    assert result is not None
    assert "Ratio to the floor" in out.getvalue()
    return result


@pytest.mark.parametrize("adapter", peers.ADAPTERS)
def test_quick_run_verifies_shares_and_times_every_scenario(
    report: harness.Report, adapter: str
) -> None:
    """Each adapter that is present passes the share check and gets a number per scenario."""
    result = report.sdks[adapter]
    if result.status == "missing":
        pytest.skip(result.message)
    assert result.status == "ok", result.message
    for key in SCENARIO_KEYS:
        assert len(result.ns[key]) == report.settings.rounds
        assert len(result.ratio[key]) == report.settings.rounds


def test_quick_run_judges_flagkit_against_the_targets(report: harness.Report) -> None:
    """With flagkit timed, the report states each issue-4 target as met or missed."""
    assert report.sdks["flagkit"].status == "ok"
    assert {t for t, _, _ in report.targets} >= {
        "geomean S1-S5 <= 1x floor",
        "S1 <= 2.5x floor",
        "S4 <= 2.5x floor",
    }


def test_snapshot_build_benchmark_runs() -> None:
    """benchmarks/snapshot_build.py builds the 1,000-flag document and reports its measures."""
    from benchmarks import snapshot_build

    result = snapshot_build.main(["--quick", "--flags", "100"], out=io.StringIO())
    assert result["flags"] == 100
    assert result["retained_mb"] > 0


def test_import_time_benchmark_runs() -> None:
    """benchmarks/import_time.py imports flagkit in fresh interpreters and reads -X importtime."""
    from benchmarks import import_time

    result = import_time.main(["--quick"], out=io.StringIO())
    assert result["cold"]["ms"] > 0
    assert "pydantic" not in result["cold"]["heavy"]  # parsed documents only, never at import


def test_swap_under_load_never_serves_a_torn_snapshot() -> None:
    """Readers racing a swapper thread only ever see answers of one of the two documents."""
    from benchmarks import swap_under_load

    result = swap_under_load.main(["--quick"], out=io.StringIO())
    assert result["swap"]["wrong"] == 0
    assert result["steady"]["wrong"] == 0


def test_rollout_cost_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/rollout_cost.py times ramps and guarded flags against a plain split."""
    from benchmarks import rollout_cost

    result = rollout_cost.main(repeats=1, n=200)
    assert set(result) == {
        "split rule, 30 %",
        "ramp at 30 %",
        "ramp at 100 %",
        "basic flag, on",
        "guarded, alarms OK",
    }
    assert all(ns > 0 for ns in result.values())
    assert "1.00x" in capsys.readouterr().out
