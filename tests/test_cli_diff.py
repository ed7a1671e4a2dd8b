"""``flagkit diff OLD NEW``: what a change does, checked against ``flagkit coverage`` and the
control plane of the local AppConfig (real boto3 over loopback HTTP)."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from flagkit._cli.demo import RELEASE_FILES, release_document
from flagkit._cli.main import main

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "examples" / "release"
USERS = RELEASE / "users.jsonl"
FLAG = "new-pricing-engine"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; an argparse exit counts as its status. (status, stdout, stderr)"""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def diff_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, "diff", *argv, "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def coverage_on(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, int]:
    """``flagkit coverage --json``: users per variant, and ``*on`` for all enabled ones."""
    code, out, err = run(capsys, "coverage", str(path), FLAG, "--ids", str(USERS), "--json")
    assert code == 0, err
    data = json.loads(out)
    counts = {str(r["variant"]): r["users"] for r in data["variants"]}
    counts["*on"] = data["enabled"]["users"]
    return counts


def flag_entry(data: dict[str, Any], key: str = FLAG) -> dict[str, Any]:
    (entry,) = [f for f in data["flags"] if f["flag"] == key]
    return entry


# -- the release files -----------------------------------------------------------------------------


def test_examples_are_the_files_the_demo_publishes() -> None:
    """examples/release/ holds byte-identical copies of the package data the demo reads."""
    assert sorted(p.name for p in RELEASE.glob("*.json")) == sorted(RELEASE_FILES)
    for name in RELEASE_FILES:
        assert (RELEASE / name).read_bytes() == release_document(name), name


def test_every_release_file_validates(capsys: pytest.CaptureFixture[str]) -> None:
    for name in RELEASE_FILES:
        code, out, err = run(capsys, "validate", str(RELEASE / name))
        assert code == 0, err
        assert "ok: 2 flags" in out


STEPS = list(itertools.pairwise(RELEASE_FILES))


@pytest.mark.parametrize(("old", "new"), STEPS, ids=[f"{a}->{b}" for a, b in STEPS])
def test_gained_and_lost_match_coverage(
    capsys: pytest.CaptureFixture[str], old: str, new: str
) -> None:
    """Each step of the release: exactly as many ids gain the feature as coverage's enabled
    count grows (a rollout step loses nobody), and the kill switch loses exactly everyone."""
    before, after = coverage_on(capsys, RELEASE / old), coverage_on(capsys, RELEASE / new)
    code, data = diff_json(capsys, str(RELEASE / old), str(RELEASE / new), "--ids", str(USERS))
    assert code == 1
    impact = flag_entry(data)["impact"]
    assert impact["ids"] == 1000
    if new == "6-kill-switch.json":
        assert (impact["gained"], impact["lost"]) == (0, before["*on"])
    else:
        assert impact["lost"] == 0
        assert impact["gained"] == after["*on"] - before["*on"] > 0
    # the moves into each new variant add up to coverage's count for it (for a new variant)
    for move in impact["moves"]:
        if move["to"] not in ("on", "off") and move["to"] not in before:
            assert move["ids"] == after[move["to"]]


def test_staff_step_gains_exactly_the_staff_emails(capsys: pytest.CaptureFixture[str]) -> None:
    """Counted without flagkit: the users whose email ends with @shop.example."""
    lines = [json.loads(x) for x in USERS.read_text().splitlines() if x.startswith("{")]
    staff = sum(1 for u in lines if u["email"].endswith("@shop.example"))
    _, data = diff_json(
        capsys, str(RELEASE / "1-dark.json"), str(RELEASE / "2-staff.json"), "--ids", str(USERS)
    )
    entry = flag_entry(data)
    assert entry["impact"]["gained"] == staff == 5
    assert entry["impact"]["moves"] == [{"from": "off", "to": "staff", "ids": staff}]
    assert entry["changes"] == ["basic flag, off -> 2 variants: staff, off (off)"]


def test_non_adjacent_steps_net_out(capsys: pytest.CaptureFixture[str]) -> None:
    """From the kill switch back to the canary: gained - lost is coverage's difference."""
    old, new = RELEASE / "4-cohort.json", RELEASE / "3-canary-5.json"
    before, after = coverage_on(capsys, old), coverage_on(capsys, new)
    _, data = diff_json(capsys, str(old), str(new), "--ids", str(USERS))
    impact = flag_entry(data)["impact"]
    assert impact["gained"] == 0
    assert impact["lost"] == before["*on"] - after["*on"] > 0
    assert "variant removed: cohort" in flag_entry(data)["changes"]


def test_text_report_names_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "diff",
        str(RELEASE / "2-staff.json"),
        str(RELEASE / "3-canary-5.json"),
        "--ids",
        str(USERS),
    )
    assert code == 1
    assert "variant added: canary (on, rule (split pct::5 by::$userId)) (a 5 % split)" in out
    assert "gain the feature, 0 lose it" in out
    assert out.rstrip().endswith("1 flag differs: 0 added, 0 removed, 1 changed")


# -- what changed ----------------------------------------------------------------------------------


def _stored() -> dict[str, Any]:
    return json.loads(release_document("4-cohort.json"))


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_each_kind_of_change_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = _stored()
    new = copy.deepcopy(old)
    variants = new["values"][FLAG]["_variants"]
    variants[0], variants[1] = variants[1], variants[0]  # canary before staff
    variants[0]["rule"] = "(split pct::10 by::$userId)"
    del variants[2]  # cohort
    variants.insert(2, {"name": "beta", "enabled": True, "rule": '(eq $plan "beta")'})
    new["values"]["express-checkout"]["enabled"] = False
    new["flags"]["dark-mode"] = {"name": "Dark mode"}
    new["values"]["dark-mode"] = {"enabled": True}
    code, data = diff_json(capsys, _write(tmp_path, "a.json", old), _write(tmp_path, "b.json", new))
    assert code == 1
    changes = {f["flag"]: f["changes"] for f in data["flags"]}
    assert changes["dark-mode"] == ["added: basic flag, on"]
    assert changes["express-checkout"] == ["switched off"]
    assert changes[FLAG] == [
        'variant added: beta (on, rule (eq $plan "beta"))',
        "variant removed: cohort",
        "variants reordered: staff, canary, off -> canary, staff, off",
        "variant canary: rule (split pct::5 by::$userId) -> (split pct::10 by::$userId)",
        "variant canary: split 5 % -> 10 %",
    ]
    code, data = diff_json(capsys, _write(tmp_path, "b.json", new), _write(tmp_path, "a.json", old))
    assert {f["flag"]: f["kind"] for f in data["flags"]}["dark-mode"] == "removed"


def _ramped(ramp: str, alarms: list[str]) -> dict[str, Any]:
    doc = json.loads(release_document("5-everyone.json"))
    doc["flags"][FLAG]["attributes"] = {
        "flagkit-ramp": {"constraints": {"type": "string"}},
        "flagkit-ramp-start": {"constraints": {"type": "string"}},
        "flagkit-alarms": {"constraints": {"type": "array"}},
    }
    doc["values"][FLAG].update({"flagkit-ramp": ramp, "flagkit-ramp-start": "2026-11-26T10:00:00Z"})
    if alarms:
        doc["values"][FLAG]["flagkit-alarms"] = alarms
    else:
        del doc["flags"][FLAG]["attributes"]["flagkit-alarms"]
    return doc


def test_ramps_and_alarms_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _ramped("Linear10PercentEvery1Minute", ["checkout-5xx"]))
    b = _write(tmp_path, "b.json", _ramped("Canary10Percent5Minutes", ["checkout-p99"]))
    _, data = diff_json(capsys, a, b)
    (line, added, removed) = flag_entry(data)["changes"]
    assert line.startswith("ramp: Linear10PercentEvery1Minute from 2026-11-26T10:00:00Z")
    assert "-> Canary10Percent5Minutes from" in line
    assert (added, removed) == ("alarms added: checkout-p99", "alarms removed: checkout-5xx")
    _, data = diff_json(capsys, str(RELEASE / "5-everyone.json"), a)
    assert flag_entry(data)["changes"][0].startswith("ramp added: Linear10PercentEvery1Minute")


def test_at_evaluates_the_ramp_at_that_instant(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before the ramp starts nobody gains; after its last step everyone does."""
    ramped = _write(tmp_path, "r.json", _ramped("Linear10PercentEvery1Minute", []))
    dark = str(RELEASE / "1-dark.json")
    gained = {}
    for at in ("2026-11-26T09:00:00Z", "2026-11-26T10:04:30Z", "2026-11-26T11:00:00Z"):
        _, data = diff_json(capsys, dark, ramped, "--ids", str(USERS), "--at", at)
        gained[at] = flag_entry(data)["impact"]["gained"]
    assert gained["2026-11-26T09:00:00Z"] == 0
    assert 0 < gained["2026-11-26T10:04:30Z"] < 1000  # 50 % of the way
    assert gained["2026-11-26T11:00:00Z"] == 1000


# -- exit codes and errors -------------------------------------------------------------------------


def test_equal_is_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "diff", str(RELEASE / "1-dark.json"), str(RELEASE / "6-kill-switch.json")
    )
    assert code == 0
    assert "no difference" in out


def test_a_refused_document_is_two(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1", "flags": {"x": {}}, "values": {"x": {"enabled": "yes"}}}')
    code, _, err = run(capsys, "diff", str(RELEASE / "1-dark.json"), str(bad))
    assert code == 2
    assert "refused" in err and "Traceback" not in err


def _bad_options(tmp_path: Path) -> list[list[str]]:
    dark = str(RELEASE / "1-dark.json")
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"a\x00b")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody\n")
    return [
        ["diff"],
        ["diff", dark],
        ["diff", dark, dark, "--ids"],
        ["diff", dark, dark, "--at", "yesterday"],
        ["diff", dark, dark, "--bogus"],
        ["diff", dark, str(tmp_path / "missing.json")],
        ["diff", dark, str(tmp_path)],
        ["diff", dark, dark, "--ids", str(binary)],
        ["diff", dark, dark, "--ids", str(empty)],
        ["diff", dark, dark, "--ids", str(tmp_path / "missing.txt")],
        ["diff", "deployed:", dark],
        ["diff", "deployed:a/b", dark],
        ["diff", "deployed:a//c", dark],
        ["diff", "deployed:a/b/c", dark, "--endpoint-url", "not a url", "--region", "us-east-1"],
        ["diff", "deployed:a/b/c", dark, "--endpoint-url", "http://127.0.0.1:1", "--region", "x-1"],
    ]


def test_no_traceback_for_any_bad_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # connection refused: fail at once
    for argv in _bad_options(tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert "Traceback" not in err, argv
        assert err.strip(), argv


# -- deployed: against the local AppConfig ---------------------------------------------------------


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("boto3")
    from flagkit.testing import LocalAppConfigData

    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with LocalAppConfigData(poll_interval=0) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
        yield server


def test_deployed_reads_the_latest_complete_deployment(
    capsys: pytest.CaptureFixture[str], local: Any
) -> None:
    """Of three deployments to checkout/prod, the newest COMPLETE one of *this* profile wins:
    not an older version, not another profile's deployment, not one still DEPLOYING."""
    local.publish("checkout", "prod", "flags", release_document("1-dark.json"))
    local.publish("checkout", "prod", "flags", release_document("2-staff.json"))
    local.publish("checkout", "prod", "other", release_document("5-everyone.json"))
    client = local.appconfig_client()
    slow = client.create_deployment_strategy(
        Name="slow",
        DeploymentDurationInMinutes=60,
        GrowthFactor=10.0,
        GrowthType="LINEAR",
        ReplicateTo="NONE",
    )
    local.publish(
        "checkout", "prod", "flags", release_document("4-cohort.json"), strategy=slow["Id"]
    )
    staff = str(RELEASE / "2-staff.json")
    code, out, err = run(capsys, "diff", "deployed:checkout/prod/flags", staff)
    assert code == 0, err
    assert "deployment 2, version 2" in out  # not 3 (the other profile), not 4 (DEPLOYING)
    assert "no difference" in out
    code, data = diff_json(
        capsys,
        "deployed:checkout/prod/flags",
        str(RELEASE / "3-canary-5.json"),
        "--ids",
        str(USERS),
    )
    assert code == 1
    assert flag_entry(data)["impact"]["gained"] > 0


def test_deployed_with_explicit_endpoint_and_region(
    capsys: pytest.CaptureFixture[str], local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.publish("checkout", "prod", "flags", release_document("5-everyone.json"))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    code, out, err = run(
        capsys,
        "diff",
        "deployed:checkout/prod/flags",
        str(RELEASE / "6-kill-switch.json"),
        "--endpoint-url",
        local.endpoint_url,
        "--region",
        "eu-west-1",
    )
    assert code == 1, err
    assert "switched off" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("deployed:nope/prod/flags", "no application named or with the ID 'nope'"),
        ("deployed:checkout/nope/flags", "no environment named or with the ID 'nope'"),
        ("deployed:checkout/prod/nope", "no configuration profile named or with the ID 'nope'"),
        (
            "deployed:checkout/staging/flags",
            "no COMPLETE deployment of this profile to checkout/staging",
        ),
    ],
)
def test_deployed_names_what_is_missing(
    capsys: pytest.CaptureFixture[str], local: Any, target: str, message: str
) -> None:
    local.publish("checkout", "prod", "flags", release_document("1-dark.json"))
    local.create("checkout", "staging", "flags")
    code, _, err = run(capsys, "diff", target, str(RELEASE / "1-dark.json"))
    assert code == 2
    assert message in err and "Traceback" not in err
