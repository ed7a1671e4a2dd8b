"""``flagkit demo``: the README's first command runs end to end and measures what it claims."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

import pytest

from flagkit._cli.demo import FLAG, STEPS, TOTAL_STEPS, DemoResult, population, run_demo
from flagkit._cli.demo_rollout import PARTS
from flagkit._rules.bucketing import in_split

pytest.importorskip("boto3")

USERS = 4000


@pytest.fixture(scope="module")
def demo() -> tuple[DemoResult, str]:
    out = io.StringIO()
    result = run_demo(users=USERS, poll_interval=1, out=out)
    return result, out.getvalue()


def test_every_step_runs_and_is_swapped_in(demo: tuple[DemoResult, str]) -> None:
    """Six publishes, each swapped in through the real poller within the swap timeout."""
    result, _ = demo
    assert [s.label for s in result.steps] == [s.label for s in STEPS]
    for step in result.steps[1:]:
        # one poll interval (1 s) plus 10 % jitter, with room for a loaded CI machine
        assert 0 < step.latency < 3.0, step


def test_measured_shares_are_near_their_targets(demo: tuple[DemoResult, str]) -> None:
    """Rule steps hit their exact share; the 5 % split lands within 1.5 points of its target."""
    result, _ = demo
    shares = {s.label: s for s in result.steps}
    assert shares["v1-deploy"].served == 0
    assert shares["v2-staff"].served == USERS // 200  # exactly the staff
    assert abs(shares["v3-canary"].share - shares["v3-canary"].target) < 0.015
    assert abs(shares["v4-cohort"].share - shares["v4-cohort"].target) < 0.015
    assert shares["v5-everyone"].served == USERS
    assert shares["v6-kill-switch"].served == 0


def test_rollout_is_sticky(demo: tuple[DemoResult, str]) -> None:
    """Nobody served the new engine at one rollout step loses it at the next."""
    result, _ = demo
    assert all(s.lost == 0 for s in result.steps)


def test_traffic_ran_during_the_release_without_errors(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert result.evaluations > USERS
    assert result.traffic_errors == 0


def test_demo_finishes_well_under_thirty_seconds(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert result.elapsed < 30


def test_output_tells_the_story(demo: tuple[DemoResult, str]) -> None:
    _, text = demo
    for phrase in ("Release to staff", "Canary", "Kill switch", "ms after publish", "served:"):
        assert phrase in text
    assert "http://127.0.0.1:" in text  # loopback only


def test_part_two_ramps_and_the_guard_switches_off(demo: tuple[DemoResult, str]) -> None:
    """The canary serves exactly its split, the alarm holds it off, OK keeps it off, and a new
    document re-arms the same users before everyone gets it."""
    result, text = demo
    assert len(STEPS) + PARTS == TOTAL_STEPS
    assert [r.label for r in result.rollout] == [
        "v7-ramp",
        "alarm",
        "alarm-ok",
        "v8-rearm",
        "v8-everyone",
    ]
    exact = sum(1 for uid, _ in population(USERS) if in_split(uid, FLAG, 10))
    ramp, alarm, ok, rearm, everyone = result.rollout
    assert ramp.served == exact == rearm.served
    assert alarm.served == 0 and ok.served == 0
    assert 0 < alarm.latency < 3.0  # the guard polls every 0.2 s; room for a loaded machine
    assert everyone.served == USERS
    assert rearm.lost == 0 and everyone.lost == 0
    assert "the same" in text and ": yes" in text
    assert f"step {TOTAL_STEPS}/{TOTAL_STEPS}" in text


def test_every_publish_goes_through_the_appconfig_api(demo: tuple[DemoResult, str]) -> None:
    """Each document reached the client via CreateHostedConfigurationVersion + StartDeployment."""
    result, _ = demo
    published = [op for op, status in result.api_calls if status == 201]
    versions = published.count("CreateHostedConfigurationVersion")
    assert versions == len(result.steps) + 2  # part one's steps, then v7 and v8
    assert published.count("StartDeployment") == versions
    assert all(status is not None and status < 300 for _, status in result.api_calls)


def test_release_steps_are_published_by_flagkit_publish(demo: tuple[DemoResult, str]) -> None:
    """Steps 2-6 go through ``flagkit publish --wait``'s code: it reads the latest hosted version
    (for LatestVersionNumber) before each create, and follows each deployment with GetDeployment."""
    result, _ = demo
    ops = [op for op, _ in result.api_calls]
    publish = [
        "ListHostedConfigurationVersions",  # the latest version, for LatestVersionNumber
        "ListDeploymentStrategies",  # --strategy flagkit-instant, by name
        "CreateHostedConfigurationVersion",
        "StartDeployment",
        "GetDeployment",  # --wait
    ]
    runs = sum(1 for i in range(len(ops)) if ops[i : i + len(publish)] == publish)
    assert runs == len(STEPS) - 1


def test_population_is_deterministic() -> None:
    assert population(50) == population(50)
    assert sum(1 for _, a in population(1000) if a["email"].endswith("@shop.example")) == 5


def test_demo_leaves_no_threads_behind(demo: tuple[DemoResult, str]) -> None:
    """The traffic thread is joined before run_demo returns."""
    assert not [t for t in threading.enumerate() if t.name.startswith("flagkit-demo")]


@pytest.mark.slow
def test_python_dash_m_flagkit_demo_runs() -> None:
    """``python -m flagkit demo`` (what ``python3 dev.py demo`` runs) exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "flagkit", "demo", "--users", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Kill switch" in proc.stdout
