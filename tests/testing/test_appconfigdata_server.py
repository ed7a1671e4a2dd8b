"""LocalAppConfigData, driven by a real boto3 client over loopback HTTP (no mocks)."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from flagkit._exceptions import MissingExtraError
from flagkit.testing import LocalAppConfigData

APP, ENV, PROFILE = "shop", "prod", "flags"
FLAGS = {"dark-mode": {"enabled": True}}
THREAD_PREFIX = "flagkit-local-appconfigdata"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[LocalAppConfigData]:
    with LocalAppConfigData(poll_interval=0, clock=clock) as srv:
        srv.publish(APP, ENV, PROFILE, FLAGS, version_label="v1")
        yield srv


@pytest.fixture
def client(server: LocalAppConfigData) -> Any:
    return server.client()


def start(client: Any, **extra: Any) -> str:
    response = client.start_configuration_session(
        ApplicationIdentifier=extra.pop("app", APP),
        EnvironmentIdentifier=extra.pop("env", ENV),
        ConfigurationProfileIdentifier=extra.pop("profile", PROFILE),
        **extra,
    )
    token: str = response["InitialConfigurationToken"]
    return token


def poll(client: Any, token: str) -> tuple[dict[str, Any], bytes]:
    response = client.get_latest_configuration(ConfigurationToken=token)
    return response, response["Configuration"].read()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, dict[str, Any]]:
    response: dict[str, Any] = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def problem_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    status, code, response = error_of(excinfo)
    assert (status, code, response["Reason"]) == (400, "BadRequestException", "InvalidParameters")
    problem: str = response["Details"]["InvalidParameters"]["ConfigurationToken"]["Problem"]
    return problem


# -- the happy path ---------------------------------------------------------------------------


def test_start_session_answers_201_with_a_token(server: LocalAppConfigData, client: Any) -> None:
    response = client.start_configuration_session(
        ApplicationIdentifier=APP, EnvironmentIdentifier=ENV, ConfigurationProfileIdentifier=PROFILE
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert response["InitialConfigurationToken"]
    [session] = server.sessions
    assert (session.application, session.environment, session.profile) == (APP, ENV, PROFILE)


def test_first_poll_returns_body_and_headers_botocore_parses(client: Any) -> None:
    response, body = poll(client, start(client))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert json.loads(body) == FLAGS
    assert response["NextPollConfigurationToken"]
    assert response["NextPollIntervalInSeconds"] == 0
    assert response["ContentType"] == "application/json"
    assert response["VersionLabel"] == "v1"


def test_second_poll_with_new_token_is_empty_when_unchanged(client: Any) -> None:
    first, _ = poll(client, start(client))
    second, body = poll(client, first["NextPollConfigurationToken"])
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body == b""
    assert "VersionLabel" not in second
    assert second["NextPollConfigurationToken"] not in (first["NextPollConfigurationToken"], "")


def test_publish_is_served_on_the_next_poll(server: LocalAppConfigData, client: Any) -> None:
    first, _ = poll(client, start(client))
    number = server.publish(APP, ENV, PROFILE, "a: 1", content_type="application/x-yaml")
    second, body = poll(client, first["NextPollConfigurationToken"])
    assert (number, body, second["ContentType"]) == (2, b"a: 1", "application/x-yaml")
    assert "VersionLabel" not in second  # unlabelled versions send no label
    _, third = poll(client, second["NextPollConfigurationToken"])
    assert third == b""


def test_each_session_gets_a_new_version_once(server: LocalAppConfigData, client: Any) -> None:
    a, b = start(client), start(client)
    a_response, _ = poll(client, a)
    server.publish(APP, ENV, PROFILE, b"\x00raw", content_type="application/octet-stream")
    _, a_body = poll(client, a_response["NextPollConfigurationToken"])
    _, b_body = poll(client, b)
    assert a_body == b_body == b"\x00raw"
    assert [s.id for s in server.sessions] == [1, 2]


def test_recorded_calls_chain_each_token_to_the_next(
    server: LocalAppConfigData, client: Any
) -> None:
    response, _ = poll(client, start(client))
    poll(client, response["NextPollConfigurationToken"])
    started, got1, got2 = server.calls
    assert (started.operation, started.status, started.session) == (
        "StartConfigurationSession",
        201,
        1,
    )
    assert [c.operation for c in (got1, got2)] == ["GetLatestConfiguration"] * 2
    assert got1.token == started.next_token and got2.token == got1.next_token
    tokens = [c.token for c in server.calls if c.token]
    assert len(tokens) == len(set(tokens))


# -- tokens -----------------------------------------------------------------------------------


def test_reused_token_is_refused_as_corrupted(client: Any) -> None:
    token = start(client)
    poll(client, token)
    with pytest.raises(ClientError) as excinfo:
        poll(client, token)
    assert problem_of(excinfo) == "Corrupted"


def test_reuse_is_tolerated_when_not_strict(server: LocalAppConfigData, client: Any) -> None:
    """Non-strict: a reused token answers as if fresh, judged by the version its holder had."""
    server.strict_tokens = False
    token = start(client)
    poll(client, token)
    _, again = poll(client, token)
    assert json.loads(again) == FLAGS


@pytest.mark.parametrize("token", ["garbage", "a.b", "x" * 300])
def test_malformed_token_is_corrupted(client: Any, token: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        poll(client, token)
    assert problem_of(excinfo) == "Corrupted"


def test_token_from_another_server_is_corrupted(client: Any) -> None:
    with LocalAppConfigData(poll_interval=0) as other:
        other.publish(APP, ENV, PROFILE, FLAGS)
        foreign = start(other.client())
    with pytest.raises(ClientError) as excinfo:
        poll(client, foreign)
    assert problem_of(excinfo) == "Corrupted"


def test_token_expires_after_ttl_on_the_injected_clock(client: Any, clock: FakeClock) -> None:
    fresh, stale = start(client), start(client)
    clock.advance(86400 - 0.5)
    poll(client, fresh)  # still valid just before 24 h
    clock.advance(0.5)
    with pytest.raises(ClientError) as excinfo:
        poll(client, stale)
    assert problem_of(excinfo) == "Expired"


def test_token_ttl_is_configurable(clock: FakeClock) -> None:
    with LocalAppConfigData(poll_interval=0, clock=clock, token_ttl=10) as server:
        server.publish(APP, ENV, PROFILE, FLAGS)
        client = server.client()
        token = start(client)
        clock.advance(10)
        with pytest.raises(ClientError) as excinfo:
            poll(client, token)
    assert problem_of(excinfo) == "Expired"


# -- poll interval ----------------------------------------------------------------------------


def test_polling_before_the_interval_is_too_early_even_after_an_empty_answer(
    server: LocalAppConfigData, client: Any, clock: FakeClock
) -> None:
    server.poll_interval = 30
    first, _ = poll(client, start(client))
    assert first["NextPollIntervalInSeconds"] == 30
    clock.advance(30)
    second, body = poll(client, first["NextPollConfigurationToken"])
    assert body == b""
    clock.advance(29.9)
    with pytest.raises(ClientError) as excinfo:
        poll(client, second["NextPollConfigurationToken"])
    assert problem_of(excinfo) == "PollIntervalNotSatisfied"
    assert excinfo.value.response["Error"]["Message"] == "Request too early"
    clock.advance(0.1)  # the refused token was not used up
    poll(client, second["NextPollConfigurationToken"])


def test_early_polls_pass_when_enforcement_is_off(server: LocalAppConfigData, client: Any) -> None:
    server.poll_interval = 30
    server.enforce_poll_interval = False
    first, _ = poll(client, start(client))
    second, _ = poll(client, first["NextPollConfigurationToken"])
    assert second["NextPollIntervalInSeconds"] == 30


def test_required_minimum_interval_raises_the_announced_interval(
    server: LocalAppConfigData, client: Any
) -> None:
    server.poll_interval = 1
    response, _ = poll(client, start(client, RequiredMinimumPollIntervalInSeconds=120))
    assert response["NextPollIntervalInSeconds"] == 120
    assert server.sessions[0].required_minimum_poll_interval == 120


@pytest.mark.parametrize("seconds", [14, 86401, 0])
def test_out_of_range_minimum_interval_is_a_bad_request(
    server: LocalAppConfigData, seconds: int
) -> None:
    """The server validates 15..86400 itself (botocore's own check is switched off here)."""
    client = server.client(parameter_validation=False)
    with pytest.raises(ClientError) as excinfo:
        start(client, RequiredMinimumPollIntervalInSeconds=seconds)
    status, code, response = error_of(excinfo)
    assert (status, code) == (400, "BadRequestException")
    assert "requiredMinimumPollIntervalInSeconds" in response["Error"]["Message"]
    assert server.sessions == ()


@pytest.mark.parametrize("seconds", [15, 86400])
def test_minimum_interval_bounds_are_accepted(client: Any, seconds: int) -> None:
    assert start(client, RequiredMinimumPollIntervalInSeconds=seconds)


def test_overlong_identifier_is_a_bad_request(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        start(client, app="a" * 129)
    assert error_of(excinfo)[:2] == (400, "BadRequestException")


def test_poll_interval_rejects_fractions_and_negatives(server: LocalAppConfigData) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="poll_interval"):
            server.poll_interval = bad  # type: ignore[assignment]
    with pytest.raises(ValueError, match="poll_interval"):
        LocalAppConfigData(poll_interval=-1)


# -- missing resources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "resource_type", "referenced_by"),
    [
        ({"app": "nope"}, "Application", {}),
        ({"env": "nope"}, "Environment", {"Application": APP}),
        ({"profile": "nope"}, "ConfigurationProfile", {"Application": APP}),
    ],
)
def test_unknown_resource_is_404_with_type_and_referrer(
    client: Any, where: dict[str, str], resource_type: str, referenced_by: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as excinfo:
        start(client, **where)
    status, code, response = error_of(excinfo)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert response["ResourceType"] == resource_type
    assert response["ReferencedBy"] == referenced_by


def test_created_profile_without_deployment_is_404_until_published(
    server: LocalAppConfigData, client: Any
) -> None:
    server.create(APP, ENV, "empty", profile_type="AWS.Freeform")  # served byte for byte
    token = start(client, profile="empty")
    with pytest.raises(ClientError) as excinfo:
        poll(client, token)
    assert error_of(excinfo)[2]["ResourceType"] == "Deployment"
    server.publish(APP, ENV, "empty", "{}")
    _, body = poll(client, token)  # the refused token is still good
    assert body == b"{}"


# -- injected faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("throttle", 429, "ThrottlingException"),
        ("internal", 500, "InternalServerException"),
        ("not_found", 404, "ResourceNotFoundException"),
    ],
)
def test_injected_error_reaches_boto3_as_its_modelled_exception(
    server: LocalAppConfigData, client: Any, kind: Any, status: int, code: str
) -> None:
    token = start(client)
    server.inject(kind)
    with pytest.raises(ClientError) as excinfo:
        poll(client, token)
    assert error_of(excinfo)[:2] == (status, code)
    assert isinstance(excinfo.value, getattr(client.exceptions, code))
    _, body = poll(client, token)  # a faulted request uses up nothing
    assert json.loads(body) == FLAGS
    assert server.calls[-2].injected and not server.calls[-1].injected


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("expired", "Expired"), ("corrupted", "Corrupted"), ("too_early", "PollIntervalNotSatisfied")],
)
def test_injected_token_problem_is_a_bad_request(
    server: LocalAppConfigData, client: Any, kind: Any, problem: str
) -> None:
    token = start(client)
    server.inject(kind)
    with pytest.raises(ClientError) as excinfo:
        poll(client, token)
    assert problem_of(excinfo) == problem
    assert server.calls[-1].problem == problem


def test_fault_limited_to_an_operation_skips_the_other(
    server: LocalAppConfigData, client: Any
) -> None:
    server.inject("throttle", 2, operation="GetLatestConfiguration")
    token = start(client)  # not throttled
    for _ in range(2):
        with pytest.raises(client.exceptions.ThrottlingException):
            poll(client, token)
    poll(client, token)
    assert [c.status for c in server.calls] == [201, 429, 429, 200]


def test_fault_on_start_session(server: LocalAppConfigData, client: Any) -> None:
    server.inject("internal", operation="StartConfigurationSession")
    with pytest.raises(client.exceptions.InternalServerException):
        start(client)
    assert start(client)


def test_drop_is_a_botocore_connection_error(server: LocalAppConfigData, client: Any) -> None:
    token = start(client)
    server.inject("drop")
    with pytest.raises(ConnectionClosedError):
        poll(client, token)
    assert server.calls[-1].status is None
    poll(client, token)


def test_delay_longer_than_read_timeout_is_a_read_timeout(server: LocalAppConfigData) -> None:
    client = server.client(read_timeout=0.2)
    token = start(client)
    server.inject("delay", delay=30)
    with pytest.raises(ReadTimeoutError):
        poll(client, token)


def test_short_delay_then_answers_normally(server: LocalAppConfigData, client: Any) -> None:
    token = start(client)
    server.inject("delay", delay=0.05)
    began = time.monotonic()
    _, body = poll(client, token)
    assert time.monotonic() - began >= 0.05
    assert json.loads(body) == FLAGS


def test_delay_can_precede_another_fault(server: LocalAppConfigData, client: Any) -> None:
    token = start(client)
    server.inject("throttle", delay=0.05)
    with pytest.raises(client.exceptions.ThrottlingException):
        poll(client, token)


def test_faults_fire_in_injection_order(server: LocalAppConfigData, client: Any) -> None:
    token = start(client)
    server.inject("internal")
    server.inject("throttle")
    for expected in (500, 429, 200):
        try:
            poll(client, token)
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == expected
    assert [c.status for c in server.calls[1:]] == [500, 429, 200]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("explode",), {}),
        (("throttle", 0), {}),
        (("delay",), {}),
        (("throttle",), {"delay": -1}),
        (("expired",), {"operation": "StartConfigurationSession"}),
        (("throttle",), {"operation": "ListApplications"}),
    ],
)
def test_inject_rejects_nonsense(
    server: LocalAppConfigData, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        server.inject(*args, **kwargs)


# -- lifecycle --------------------------------------------------------------------------------


def test_close_while_a_delayed_request_is_pending_returns_promptly() -> None:
    server = LocalAppConfigData(poll_interval=0)
    server.publish(APP, ENV, PROFILE, FLAGS)
    client = server.client(read_timeout=30)
    token = start(client)
    server.inject("delay", delay=60)
    outcome: list[BaseException] = []

    def blocked_poll() -> None:
        try:
            poll(client, token)
        except Exception as exc:
            outcome.append(exc)

    poller = threading.Thread(target=blocked_poll)
    poller.start()
    assert server.wait_until(lambda: server.in_flight == 1)
    began = time.monotonic()
    server.close()
    assert time.monotonic() - began < 1.0
    poller.join(5)
    assert not poller.is_alive()
    assert isinstance(outcome[0], ConnectionClosedError)
    assert server.calls[-1].status is None


def test_no_thread_is_left_after_close() -> None:
    """Kept-alive client connections must not keep handler threads alive after close()."""
    before = set(threading.enumerate())
    with LocalAppConfigData(poll_interval=0) as server:
        server.publish(APP, ENV, PROFILE, FLAGS)
        clients = [server.client() for _ in range(3)]
        for client in clients:
            poll(client, start(client))
        assert any(t.name.startswith(THREAD_PREFIX) for t in threading.enumerate())
    assert set(threading.enumerate()) <= before
    assert not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_close_is_idempotent_and_refuses_new_connections() -> None:
    server = LocalAppConfigData(poll_interval=0)
    client = server.client(connect_timeout=0.5)
    server.close()
    server.close()
    assert server.closed
    with pytest.raises(EndpointConnectionError):
        start(client)


def test_serve_forever_blocks_until_closed_elsewhere() -> None:
    server = LocalAppConfigData(poll_interval=0)
    done = threading.Event()

    def serve() -> None:
        server.serve_forever()
        done.set()

    thread = threading.Thread(target=serve)
    thread.start()
    assert not done.wait(0.05)
    server.close()
    assert done.wait(5)
    thread.join(5)


def test_wait_for_calls_sees_calls_from_another_thread(server: LocalAppConfigData) -> None:
    client = server.client()
    assert not server.wait_for_calls(1, timeout=0.01)
    thread = threading.Thread(target=lambda: poll(client, start(client)))
    thread.start()
    assert server.wait_for_calls(1, operation="GetLatestConfiguration")
    thread.join(5)


def test_endpoint_url_is_loopback_with_the_bound_port(server: LocalAppConfigData) -> None:
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert "serving" in repr(server)


def test_unknown_route_is_404_and_recorded(server: LocalAppConfigData) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/nowhere")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperation"
    assert server.calls[-1].operation == "GET /nowhere"


def test_publish_accepts_bytes_str_and_mappings_only(server: LocalAppConfigData) -> None:
    assert server.publish(APP, ENV, PROFILE, b"1") == 2
    assert server.publish(APP, ENV, PROFILE, "2") == 3
    with pytest.raises(TypeError):
        server.publish(APP, ENV, PROFILE, 4)  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError):  # boto3 checks Name's length before sending
        server.publish("", ENV, PROFILE, "{}")


def test_client_without_boto3_names_the_extra(
    server: LocalAppConfigData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingExtraError, match=r"flagkit\[aws\]"):
        server.client()


def test_docs_example_runs() -> None:
    """The python blocks in docs/local-server.md run as written."""
    text = (Path(__file__).parents[2] / "docs" / "local-server.md").read_text()
    blocks = [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/local-server.md", "exec"), {})
