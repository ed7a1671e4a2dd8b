"""``flagkit publish``, ``deployments`` and ``stop`` against the local AppConfig, with real boto3.

Credentials and region come from the environment (boto3's chain) and the endpoint from
``--endpoint-url``, as a user would point the tool at the local AppConfig. Deployments move on
the server's fake clock: the injected ``sleep`` of ``publish --wait`` advances it, so a
30-minute deployment is followed without waiting.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from flagkit._cli.main import main
from flagkit._cli.release import ReleaseError, publish_file
from flagkit._cli.release_cmd import Runtime
from flagkit.testing import LocalAppConfigData

APP, ENV, PROFILE = "shop", "prod", "flags"
START = 5000.0


def document(label: str, *, enabled: bool = True) -> dict[str, Any]:
    return {
        "version": "1",
        "flags": {"checkout": {"name": "Checkout", "attributes": {"v": {}}}},
        "values": {"checkout": {"enabled": enabled, "v": label}},
    }


class Clock:
    """The local AppConfig's clock, and a wall clock that moves with it (the bake countdown)."""

    def __init__(self) -> None:
        self.now = START
        self.wall_at_start = time.time()

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_at_start + (self.now - START)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no region through the environment, as boto3's chain reads them."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[LocalAppConfigData]:
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, document("v1"), version_label="v1")  # flagkit-instant
        yield srv


def write(tmp_path: Path, doc: Any, name: str = "flags.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, runtime: Runtime | None = None
) -> tuple[int, str, str]:
    try:
        code = main(list(argv), runtime=runtime)
    except SystemExit as exc:  # argparse usage errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def at(server: LocalAppConfigData, *more: str) -> list[str]:
    """The options that point a command at the local AppConfig's shop/prod."""
    return ["--application", APP, "--environment", ENV, "--endpoint-url", server.endpoint_url,
            "--region", "us-east-1", *more]  # fmt: skip


def served(server: LocalAppConfigData) -> Any:
    """What a new AppConfigData session is served now (the data view)."""
    data = server.client()
    token = data.start_configuration_session(
        ApplicationIdentifier=APP, EnvironmentIdentifier=ENV, ConfigurationProfileIdentifier=PROFILE
    )["InitialConfigurationToken"]
    return json.loads(
        data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()
    )


def deployment(server: LocalAppConfigData, number: int) -> dict[str, Any]:
    app_id, env_id, _ = server.create(APP, ENV, PROFILE)
    control = server.appconfig_client()
    found: dict[str, Any] = control.get_deployment(
        ApplicationId=app_id, EnvironmentId=env_id, DeploymentNumber=number
    )
    return found


def operations(server: LocalAppConfigData) -> list[str]:
    return [call.operation for call in server.control_calls]


# -- publish ---------------------------------------------------------------------------------


def test_publish_wait_follows_the_deployment_to_complete(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData, clock: Clock
) -> None:
    """Create on top of the latest version, deploy with the named strategy, follow it: exit 0."""
    file = write(tmp_path, document("v2"))
    runtime = Runtime(sleep=clock.sleep, clock=clock.wall, ask=None, tty=False, interval=30)
    code, out, err = run(capsys, "publish", file, *at(server, "--profile", PROFILE),
                         "--strategy", "AppConfig.Linear50PercentEvery30Seconds",
                         "--description", "checkout v2", "--label", "v2", "--wait",
                         runtime=runtime)  # fmt: skip
    assert (code, err) == (0, "")
    assert "hosted version 2 of shop/prod/flags" in out
    assert "strategy AppConfig.Linear50PercentEvery30Seconds" in out
    assert "deployment #2 DEPLOYING    50.0%" in out
    assert "deployment #2 BAKING      100.0%  bake: 1m 00s left" in out
    assert "0m 30s left" not in out  # a plain line per state or percentage, not per tick
    assert "DEPLOYMENT_COMPLETED" in out and "deployment #2 COMPLETE" in out
    assert served(server) == {"checkout": {"enabled": True, "v": "v2"}}
    finished = deployment(server, 2)
    assert finished["Description"] == "checkout v2" and finished["VersionLabel"] == "v2"


def test_publish_on_a_terminal_draws_a_progress_bar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData, clock: Clock
) -> None:
    """On a tty the state line redraws in place with a bar and the bake countdown."""
    runtime = Runtime(sleep=clock.sleep, clock=clock.wall, ask=None, tty=True, interval=120)
    code, out, _ = run(capsys, "publish", write(tmp_path, document("v2")),
                       *at(server, "--profile", PROFILE), "--strategy", "AppConfig.AllAtOnce",
                       "--wait", runtime=runtime)  # fmt: skip
    assert code == 0
    assert "\r\033[Kdeployment #2 BAKING      100.0% [####################]  bake: 10m" in out
    assert "\r\033[Kdeployment #2 COMPLETE" in out


def test_the_default_strategy_is_the_environments_last_one_else_all_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """No --strategy: the last deployment's strategy, said aloud; none yet: AllAtOnce, said."""
    file = write(tmp_path, document("v2"))
    code, out, _ = run(capsys, "publish", file, *at(server, "--profile", PROFILE))
    assert code == 0
    last = deployment(server, 1)["DeploymentStrategyId"]  # publish()'s flagkit-instant
    assert f"note: strategy {last}: the one this environment's last deployment (#1) used" in out
    assert deployment(server, 2)["DeploymentStrategyId"] == last
    server.create(APP, "staging", PROFILE)
    staging = at(server, "--profile", PROFILE)
    staging[staging.index(ENV)] = "staging"
    code, out, _ = run(capsys, "publish", file, *staging)
    assert code == 0
    assert "note: strategy AppConfig.AllAtOnce: this environment has no deployment" in out


def test_a_publish_that_raced_another_is_refused_and_names_the_winner(
    tmp_path: Path, server: LocalAppConfigData
) -> None:
    """Someone publishes between our read and our write: LatestVersionNumber refuses ours."""
    client = server.appconfig_client()

    def someone_else(**_: Any) -> None:  # a real second publisher, right before our write
        server.publish(APP, ENV, PROFILE, document("theirs"), version_label="theirs")

    client.meta.events.register_first(
        "before-call.appconfig.CreateHostedConfigurationVersion", someone_else, "race"
    )
    with pytest.raises(ReleaseError) as excinfo:
        publish_file(client, write(tmp_path, document("mine")), APP, ENV, PROFILE)
    client.meta.events.unregister("before-call.appconfig.CreateHostedConfigurationVersion", "race")
    message = str(excinfo.value)
    assert (
        "not published: version 2 (label 'theirs') was created after this publish read" in message
    )
    assert "LatestVersionNumber 1 refused" in message and "nothing was overwritten" in message
    assert served(server) == {"checkout": {"enabled": True, "v": "theirs"}}
    assert operations(server).count("StartDeployment") == 2  # v1 and theirs; never ours


def test_publish_during_a_deployment_says_which_one_is_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """StartDeployment's ConflictException names the deployment in progress."""
    file = write(tmp_path, document("v2"))
    where = at(server, "--profile", PROFILE, "--strategy", "AppConfig.AllAtOnce")
    assert run(capsys, "publish", file, *where)[0] == 0
    code, _, err = run(capsys, "publish", file, *where)
    assert code == 1
    assert "hosted version 3 was created, but StartDeployment was refused: deployment #2" in err


# -- alarms, Ctrl-C, stop ------------------------------------------------------------------------


def test_a_deployment_rolled_back_by_an_alarm_exits_1_naming_the_alarm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, clock: Clock, moto_endpoint: str
) -> None:
    """moto's CloudWatch alarm goes to ALARM mid-deployment: ROLLED_BACK, exit 1, alarm named."""
    cw = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-east-1",
                      config=Config(retries={"total_max_attempts": 1}))  # fmt: skip
    cw.put_metric_alarm(AlarmName="checkout-5xx", MetricName="5XXError", Namespace="AWS/ApiGateway",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    cw.set_alarm_state(AlarmName="checkout-5xx", StateValue="OK", StateReason="test")
    arn = cw.describe_alarms(AlarmNames=["checkout-5xx"])["MetricAlarms"][0]["AlarmArn"]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the 5xx rate climbs seven minutes in
        clock.sleep(seconds)
        sleeps.append(seconds)
        if len(sleeps) == 7:
            cw.set_alarm_state(AlarmName="checkout-5xx", StateValue="ALARM", StateReason="5xx")

    with LocalAppConfigData(poll_interval=0, clock=clock, cloudwatch=cw) as server:
        server.create(APP, ENV, PROFILE, monitors=[arn])
        server.publish(APP, ENV, PROFILE, document("v1"), version_label="v1")
        runtime = Runtime(sleep=sleep, clock=clock.wall, ask=None, tty=False, interval=60)
        code, out, err = run(capsys, "publish", write(tmp_path, document("v2")),
                             *at(server, "--profile", PROFILE),
                             "--strategy", "AppConfig.Linear20PercentEvery6Minutes", "--wait",
                             runtime=runtime)  # fmt: skip
        assert code == 1, err
        assert "deployment #2 DEPLOYING    40.0%" in out
        assert "ROLLBACK_STARTED" in out
        assert err.startswith("flagkit: deployment #2 ROLLED_BACK: CloudWatch alarm checkout-5xx")
        assert "Traceback" not in err
        assert served(server) == {"checkout": {"enabled": True, "v": "v1"}}
    cw.close()


def test_ctrl_c_without_a_terminal_leaves_the_deployment_and_says_how_to_stop_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """No one to ask: nothing is stopped; the exact `flagkit stop` line is printed; exit 130."""

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    runtime = Runtime(sleep=interrupt, ask=None, tty=False)
    code, _, err = run(capsys, "publish", write(tmp_path, document("v2")),
                       *at(server, "--profile", PROFILE), "--strategy",
                       "AppConfig.Linear20PercentEvery6Minutes", "--wait", runtime=runtime)  # fmt: skip
    assert code == 130
    assert f"To stop it: flagkit stop {' '.join(at(server))} 2" in err
    assert "StopDeployment" not in operations(server)
    assert deployment(server, 2)["State"] == "DEPLOYING"


def test_ctrl_c_asks_and_a_yes_stops_the_deployment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """At a terminal, Ctrl-C asks; "y" sends StopDeployment and the deployment rolls back."""
    asked: list[str] = []

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    def answer(question: str) -> str:
        asked.append(question)
        return "y"

    runtime = Runtime(sleep=interrupt, ask=answer, tty=False)
    code, _, err = run(capsys, "publish", write(tmp_path, document("v2")),
                       *at(server, "--profile", PROFILE), "--strategy",
                       "AppConfig.Linear20PercentEvery6Minutes", "--wait", runtime=runtime)  # fmt: skip
    assert code == 130
    assert asked == ["Stop deployment #2 (roll it back)? [y/N] "]
    assert "deployment #2 stopped: ROLLED_BACK" in err
    assert deployment(server, 2)["State"] == "ROLLED_BACK"


def test_stop_rolls_back_the_deployment_in_progress_and_deployments_lists_states(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """`flagkit stop` without a number stops the one in progress; `deployments` shows states."""
    file = write(tmp_path, document("v2"))
    run(capsys, "publish", file, *at(server, "--profile", PROFILE),
        "--strategy", "AppConfig.Linear20PercentEvery6Minutes")  # fmt: skip
    code, out, _ = run(capsys, "deployments", *at(server))
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["2", "DEPLOYING", "20.0%", "flags"]
    assert lines[2].split()[:3] == ["1", "COMPLETE", "100.0%"]
    assert "in progress: #2" in out
    code, out, _ = run(capsys, "stop", *at(server))
    assert (code, out) == (0, "deployment #2: ROLLED_BACK\n")
    assert served(server) == {"checkout": {"enabled": True, "v": "v1"}}
    code, out, _ = run(capsys, "deployments", *at(server), "--json")
    assert [(d["DeploymentNumber"], d["State"]) for d in json.loads(out)] == [
        (2, "ROLLED_BACK"),
        (1, "COMPLETE"),
    ]
    code, _, err = run(capsys, "stop", *at(server))
    assert code == 1 and "no deployment is in progress" in err
    code, out, _ = run(capsys, "stop", *at(server), "1", "--revert")
    assert (code, out) == (0, "deployment #1: REVERTED\n")


# -- nothing sent ------------------------------------------------------------------------------


def test_dry_run_sends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    before = len(server.control_calls)
    code, out, _ = run(capsys, "publish", write(tmp_path, document("v2")),
                       *at(server, "--profile", PROFILE), "--dry-run", "--wait")  # fmt: skip
    assert code == 0 and "dry run, nothing was sent" in out
    assert len(server.control_calls) == before


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        ('{"version": "1", "flags": {"f": {}}, "values": {}', "malformed JSON"),
        ({"version": "1", "flags": {"f": {}}, "values": {"f": {"enabled": "yes"}}}, "enabled"),
        ({"version": "2", "flags": {}, "values": {}}, "version"),
    ],
)
def test_a_bad_file_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    server: LocalAppConfigData,
    doc: Any,
    said: str,
) -> None:
    """Refused locally by AWS's rules: exit 1, the reason, and not one request to AppConfig."""
    before = len(server.control_calls)
    code, out, err = run(capsys, "publish", write(tmp_path, doc),
                         *at(server, "--profile", PROFILE), "--wait")  # fmt: skip
    assert code == 1 and out == ""
    assert "refused" in err and said in err and "Traceback" not in err
    assert len(server.control_calls) == before


def test_a_data_view_is_not_sent_to_a_feature_flag_profile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: LocalAppConfigData
) -> None:
    """A valid data view, but the profile takes the stored form: refused before any write."""
    code, _, err = run(capsys, "publish", write(tmp_path, {"checkout": {"enabled": True}}),
                       *at(server, "--profile", PROFILE))  # fmt: skip
    assert code == 1 and "is AWS.AppConfig.FeatureFlags, which takes the stored" in err
    assert "CreateHostedConfigurationVersion" not in operations(server)[-5:]
    assert operations(server).count("CreateHostedConfigurationVersion") == 1


# -- errors as one line -----------------------------------------------------------------------


class _Denied(http.server.BaseHTTPRequestHandler):
    """An endpoint that denies everything, as IAM does: 403 AccessDeniedException."""

    def _deny(self) -> None:
        body = json.dumps({"Message": "User is not authorized"}).encode()
        self.send_response(403)
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _deny

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def denying() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Denied)
    thread = threading.Thread(target=httpd.serve_forever, name="denying", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_access_denied_is_one_line_naming_the_iam_action(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, denying: str
) -> None:
    code, _, err = run(capsys, "deployments", "--application", APP, "--environment", ENV,
                       "--endpoint-url", denying, "--region", "us-east-1")  # fmt: skip
    assert code == 2
    assert err == (
        "flagkit: error: appconfig:ListApplications was denied (AccessDeniedException); these "
        "credentials need IAM permission for appconfig:ListApplications on the application\n"
    )


def _app_missing(server: LocalAppConfigData) -> list[str]:
    return ["deployments", "--application", "nope", "--environment", ENV,
            "--endpoint-url", server.endpoint_url, "--region", "us-east-1"]  # fmt: skip


BAD: list[tuple[Callable[[LocalAppConfigData, str], list[str]], int, str]] = [
    (lambda s, f: ["publish", f, "--environment", ENV, "--profile", PROFILE], 2,
     "the following arguments are required: --application"),
    (lambda s, f: ["deployments", *at(s), "--limit", "0"], 2, "must be 1 or more"),
    (lambda s, f: ["stop", *at(s), "two"], 2, "not a whole number"),
    (lambda s, f: ["publish", f, *at(s, "--profile", PROFILE), "--strategy", "Fast"], 1,
     "no deployment strategy named or with the ID 'Fast'"),
    (lambda s, f: _app_missing(s), 1, "no application named or with the ID 'nope'"),
    (lambda s, f: ["deployments", "--application", APP, "--environment", ENV,
                   "--endpoint-url", s.endpoint_url], 2, "no AWS region: pass --region"),
    (lambda s, f: ["deployments", *at(s), "--profile-name", "ghost"], 2,
     "no AWS profile named 'ghost'"),
    (lambda s, f: ["deployments", "--application", APP, "--environment", ENV,
                   "--endpoint-url", "http://127.0.0.1:1", "--region", "us-east-1"], 2,
     "cannot reach AppConfig"),
    (lambda s, f: ["deployments", "--application", APP, "--environment", ENV,
                   "--endpoint-url", "not a url", "--region", "us-east-1"], 2, "endpoint"),
    (lambda s, f: ["publish", str(Path(f).parent / "missing.json"),
                   *at(s, "--profile", PROFILE)], 2, "cannot read"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "status", "said"), BAD)
def test_bad_options_are_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    server: LocalAppConfigData,
    argv: Callable[[LocalAppConfigData, str], list[str]],
    status: int,
    said: str,
) -> None:
    code, _, err = run(capsys, *argv(server, write(tmp_path, document("v2"))))
    assert code == status
    assert said in err and "Traceback" not in err
    # one line of message; argparse's usage lines (indented continuations) may come first
    message = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(message) == 1 and said in message[0]


@pytest.mark.parametrize("command", ["publish", "deployments", "stop"])
def test_help_has_an_example(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"example:\n  flagkit {command} " in out
