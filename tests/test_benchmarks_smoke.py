"""The benchmark harness (benchmarks/run.py) runs end to end in quick mode.

Timings are never asserted: machines are shared and noisy. What is asserted is that the run
completes and that every SDK present got every scenario's outcome shares right, at the call
site and through its evaluator (the harness refuses to time an SDK that does not). Peers that
are not installed are skipped here.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` lives beside `src`, not inside the package
    sys.path.insert(0, str(ROOT))

from benchmarks import peers  # noqa: E402
from benchmarks import run as harness  # noqa: E402
from benchmarks.scenarios import SCENARIO_KEYS, appconfig_document, make_users  # noqa: E402
from benchmarks.timing import call_site  # noqa: E402

import flagkit  # noqa: E402


@pytest.fixture(scope="module")
def output_and_report() -> tuple[str, harness.Report]:
    out = io.StringIO()
    result = harness.main(["--quick"], out=out)
    assert result is not None
    return out.getvalue(), result


@pytest.fixture(scope="module")
def report(output_and_report: tuple[str, harness.Report]) -> harness.Report:
    return output_and_report[1]


def test_quick_run_prints_the_call_site_table_first_and_the_evaluator_table_second(
    output_and_report: tuple[str, harness.Report],
) -> None:
    """The primary table times the call site; the issue-4 evaluator table follows it."""
    text = output_and_report[0]
    call, evaluator = text.index("#### At the call site"), text.index("#### Through an evaluator")
    assert call < evaluator
    assert text.count("Ratio to the floor") == 2
    assert "Ratio to the inline floor" in text


@pytest.mark.parametrize("adapter", peers.ADAPTERS)
def test_quick_run_verifies_shares_and_times_every_scenario(
    report: harness.Report, adapter: str
) -> None:
    """Each adapter that is present passes the share check and gets a number per scenario,
    at the call site and (all but the inline floor) through its evaluator."""
    if adapter == harness.HANDLE and not hasattr(flagkit.Flags, "flag"):
        assert adapter not in report.sdks  # no flag handles in this tree: no row at all
        pytest.skip("flagkit.Flags.flag is not in this tree")
    result = report.sdks[adapter]
    if result.status == "missing":
        pytest.skip(result.message)
    assert result.status == "ok", result.message
    modes = {harness.CALL} if adapter == harness.FLOOR_INLINE else set(harness.MODES)
    assert set(result.ns) == modes
    for mode in modes:
        for key in SCENARIO_KEYS:
            assert len(result.ns[mode][key]) == report.settings.rounds
            assert len(result.ratio[mode][key]) == report.settings.rounds


def test_quick_run_judges_flagkit_against_the_issue_18_targets(report: harness.Report) -> None:
    """With flagkit timed, the report states each target as met or missed."""
    assert report.sdks["flagkit"].status == "ok"
    targets = {t: measured for t, measured, _ in report.targets}
    assert set(targets) >= {
        "issue 18: flagkit geomean S1-S5 <= 1.4x floor",
        "issue 18: flagkit S3 <= 1.6x floor",
        "issue 18: flagkit handle geomean S1-S5 <= 1x floor",
        "issue 4: S1 <= 2.5x floor",
        "issue 4: S4 <= 2.5x floor",
    }
    handle = targets["issue 18: flagkit handle geomean S1-S5 <= 1x floor"]
    assert handle.startswith("not measured") != hasattr(flagkit.Flags, "flag")


def test_call_site_runs_the_body_inline_once_per_user_and_pass() -> None:
    """The compiled timer runs the call expression itself, over every user of every pass;
    the compiled evaluator returns the body's last expression."""
    seen: list[tuple[str, object]] = []
    body = """
    seen.append((uid, attrs))
    len(seen)
    """
    evaluate, timer = call_site(body, {"seen": seen}, "test")
    users = [("u1", {"a": 1}), ("u2", {"a": 2})]
    assert timer(users, 3) >= 0
    assert seen == users * 3
    assert evaluate("u3", {}) == 7


def test_call_site_refuses_a_body_without_a_value_or_with_the_loops_names() -> None:
    """A body must end in an expression, and may not rebind the loop's own variables."""
    with pytest.raises(ValueError, match="last statement"):
        call_site("x = 1", {}, "test")
    with pytest.raises(ValueError, match="loop's own"):
        call_site("users", {"users": []}, "test")


def test_a_call_site_with_wrong_shares_is_refused_even_when_the_evaluator_is_right() -> None:
    """The code that is timed is the code whose shares were checked."""
    floor = peers.load("floor")
    bench = floor.build()
    bench.call_sites["S2"] = "True"  # on for everyone instead of 10 %
    module = SimpleNamespace(
        NAME="broken", DIST=None, NOTES="", build=lambda: bench, version=lambda: "-"
    )
    result, loaded = harness._load_and_verify("broken", module, make_users(2_000), lambda *a: None)
    assert loaded is None
    assert result.status == "refused"
    assert "S2 (call)" in result.message
    assert "S2 (evaluator)" not in result.message


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


def test_agent_get_benchmark_checks_and_times_every_client() -> None:
    """benchmarks/agent_get.py answers as flagkit does through each client, then times it."""
    from benchmarks import agent_get

    result = agent_get.main(["--quick", "--rounds", "1"], out=io.StringIO())
    timed = {(r.client, r.scenario) for r in result.rows}
    assert {("flagkit", "S1"), ("flagkit", "S2"), ("http.client", "S1")} <= timed
    assert {("http.client", "S2"), (agent_get.CANNED, "S2")} <= timed
    assert all(len(r.ns) == 1 and len(r.ratio) == 1 for r in result.rows)
    assert result.reconnected == []  # one kept-alive connection per client throughout
    assert result.served > 2 * agent_get.CHECKED_USERS  # S1 and S2 were asked per user


def test_agent_get_refuses_a_call_site_that_answers_differently_from_flagkit() -> None:
    """An S2 GET that ignored the user (always off) is caught before it is timed."""
    from benchmarks import agent_get

    with (
        flagkit.Flags(flagkit.StaticSource(appconfig_document())) as flags,
        pytest.raises(RuntimeError, match="S2"),
    ):
        agent_get._check("broken", "S2", lambda uid, attrs: False, flags)
