"""flagkit.aws_lambda: freshness by the wall clock, bounded refreshes, both modes, sync and async.

Freeze/thaw is simulated the way it looks from inside the sandbox: no thread ran (start=False,
or a poller whose next poll is an hour away) and the wall clock jumped. Sources block on
Events, never on sleeps; the only timing assertions bound our own budgets, with wide margins.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flagkit import Fetched, Flags, Polling, RetryableSourceError, StaticSource
from flagkit.aws_lambda import current, with_flags

ON = {"checkout": {"enabled": True, "limit": 3}}
OFF = {"checkout": {"enabled": False}}
ROOT = Path(__file__).resolve().parents[1]
MARGIN = 5.0  # seconds added to every budget bound: CI machines stall


class Wall:
    """A wall clock the test moves by hand (a thaw is a jump)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def jump(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Context:
    """Shaped like Lambda's context object (the parts handlers and flagkit use)."""

    remaining_ms: int = 30_000
    function_name: str = "checkout-fn"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Source:
    """A controllable source: serves ``documents`` in turn, can fail, can block on an Event."""

    def __init__(self, document: dict[str, Any] = ON) -> None:
        self.document = document
        self.version = 1
        self.served: int | None = None
        self.fetches = 0
        self.fail = False
        self.gate: threading.Event | None = None  # when set up, fetch() waits for it
        self.entered = threading.Event()

    def publish(self, document: dict[str, Any]) -> None:
        self.document = document
        self.version += 1

    def fetch(self) -> Fetched:
        self.fetches += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "test never released the source"
        if self.fail:
            raise RetryableSourceError("AppConfig unreachable")
        if self.served == self.version:
            return Fetched(None, "application/json", str(self.version), 60.0)
        self.served = self.version
        return Fetched(
            json.dumps(self.document).encode(), "application/json", str(self.version), 60.0
        )


@pytest.fixture
def wall() -> Wall:
    return Wall()


def backup_of(tmp_path: Path, document: dict[str, Any]) -> Path:
    """A backup file as an earlier sandbox would have left it."""
    path = tmp_path / "flags.backup"
    with Flags(StaticSource(document, version="backup-1"), start=False, backup_path=path) as f:
        f.refresh()
    return path


# -- freeze / thaw ----------------------------------------------------------------------------


def test_thaw_past_max_age_refreshes_at_invocation_start(wall: Wall) -> None:
    """No thread ever runs (start=False); a wall-clock jump past max_age refreshes in time."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, max_age=60, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    assert source.fetches == 1  # the cold-start fetch, during init
    assert handler({}, Context()) == "1"
    source.publish(OFF)
    wall.jump(59)
    assert handler({}, Context()) == "1" and source.fetches == 1  # fresh enough: no fetch
    wall.jump(2)  # thawed 61 s after the last check
    assert handler({}, Context()) == "2" and source.fetches == 2
    assert flags.status().state == "new"  # no poller thread was ever started
    flags.close()


def test_poller_mode_frozen_thread_is_caught_up_by_the_decorator(wall: Wall) -> None:
    """A running poller whose next poll is far off (frozen) does not matter after a thaw."""
    source = Source()
    flags = Flags(source, wait=5, wall=wall, polling=Polling(interval=3600))
    source_fetches = source.fetches

    @with_flags(flags, max_age=30, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> bool:
        return current().enabled("checkout", default=True)

    assert source.fetches == source_fetches  # the poller already fetched: no second cold fetch
    assert handler({}, Context()) is True
    source.publish(OFF)
    wall.jump(3600 * 5)
    assert handler({}, Context()) is False
    assert flags.status().state == "running"
    flags.close()


def test_a_clock_stepped_back_counts_as_stale(wall: Wall) -> None:
    """A negative age (wall clock stepped back) is not trusted: the flags are refreshed."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, max_age=60, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    source.publish(OFF)
    wall.jump(-3600)
    assert handler({}, Context()) == "2"
    flags.close()


# -- cold start -------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cold_start_appconfig_unreachable_serves_backup_within_budget(tmp_path: Path) -> None:
    """AppConfigSource at a closed loopback port + a backup: the backup is served, quickly."""
    import boto3
    from botocore.config import Config

    from flagkit._sources.appconfig import AppConfigSource

    backup = backup_of(tmp_path, ON)
    client = boto3.client(
        "appconfigdata",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, proxies={}),
    )
    started = time.monotonic()
    flags = Flags(
        AppConfigSource("shop", "prod", "flags", client=client), start=False, backup_path=backup
    )

    @with_flags(flags, budget=0.5, cold_start_wait=1.0)
    def handler(event: Any, context: Any) -> tuple[bool, str | None]:
        view = current()
        return view.enabled("checkout"), view.version

    assert handler({}, Context()) == (True, "backup-1")
    assert time.monotonic() - started < 1.0 + 0.5 + MARGIN  # cold wait + one budget
    status = flags.status()
    assert status.checked_at is None and "connection failed" in (status.last_error or "")
    flags.close()
    client.close()


def test_cold_start_source_down_serves_backup_then_recovers(tmp_path: Path, wall: Wall) -> None:
    """RetryableSourceError at cold start: backup served; once the source is back, its flags."""
    source = Source(OFF)
    source.fail = True
    flags = Flags(source, start=False, backup_path=backup_of(tmp_path, ON), wall=wall)

    @with_flags(flags, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> bool:
        return current().enabled("checkout")

    assert flags.ready and handler({}, Context()) is True
    source.fail = False
    wall.jump(10)  # past the back-off after the failure
    assert handler({}, Context()) is False
    flags.close()


def test_cold_start_wait_zero_leaves_the_fetch_to_the_first_invocation(wall: Wall) -> None:
    """cold_start_wait=0: nothing is fetched at decoration; the first invocation fetches."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, cold_start_wait=0, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> bool:
        return current().enabled("checkout")

    assert source.fetches == 0 and not flags.ready
    assert handler({}, Context()) is True and source.fetches == 1
    flags.close()


def test_failures_back_off_by_the_wall_clock(wall: Wall) -> None:
    """A source that keeps failing is tried at 1, 2, 4 ... s, not on every invocation."""
    source = Source()
    source.fail = True
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, cold_start_wait=0, budget=5, max_age=60, wall=wall)
    def handler(event: Any, context: Any) -> bool:
        return current().enabled("checkout", default=True)

    assert handler({}, Context()) is True and source.fetches == 1  # the default: not ready
    assert handler({}, Context()) is True and source.fetches == 1
    wall.jump(1.0)
    handler({}, Context())
    assert source.fetches == 2
    wall.jump(1.5)
    handler({}, Context())
    assert source.fetches == 2  # second back-off is 2 s
    wall.jump(0.5)
    source.fail = False
    handler({}, Context())
    assert source.fetches == 3 and flags.ready
    flags.close()


# -- the budget -------------------------------------------------------------------------------


def test_budget_is_honoured_when_the_source_hangs(wall: Wall) -> None:
    """A hung refresh: the invocation goes on with last good within its budget; the late
    result swaps in when it arrives, and no second refresh starts meanwhile."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)
    swapped = threading.Event()
    flags.on_change(lambda old, new: swapped.set())

    @with_flags(flags, max_age=60, budget=0.2, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    source.publish(OFF)
    source.gate = threading.Event()
    source.entered.clear()
    swapped.clear()  # the cold-start fetch was a swap too
    wall.jump(120)
    started = time.monotonic()
    assert handler({}, Context()) == "1"
    assert time.monotonic() - started < 0.2 + MARGIN
    assert source.entered.wait(10)

    @with_flags(flags, max_age=60, budget=60, wall=wall)
    def patient(event: Any, context: Any) -> str | None:
        return current().version

    started = time.monotonic()
    assert handler({}, Context()) == "1"  # still in flight: no new refresh, and no new wait
    assert patient({}, Context(remaining_ms=900_000)) == "1"  # shared by all its handlers
    assert time.monotonic() - started < MARGIN  # waiting again would take 30 s here
    assert source.fetches == 2
    source.gate.set()
    assert swapped.wait(10), "the late refresh never swapped in"
    assert handler({}, Context()) == "2" and source.fetches == 2
    flags.close()


def test_budget_is_capped_by_the_remaining_time(wall: Wall) -> None:
    """With no time left in the invocation, flagkit does not wait at all (even budget=60)."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, budget=60, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    source.gate = threading.Event()
    source.publish(OFF)
    wall.jump(120)
    started = time.monotonic()
    assert handler({}, Context(remaining_ms=0)) == "1"
    assert time.monotonic() - started < MARGIN  # budget 60 s would have blown this
    source.gate.set()
    flags.close()


def test_budget_with_local_appconfigdata_delay(wall: Wall) -> None:
    """Real AppConfigSource, server delaying 5 s: the invocation runs on last good in budget."""
    from flagkit._sources.appconfig import AppConfigSource
    from flagkit.testing import LocalAppConfigData

    with LocalAppConfigData(poll_interval=0) as server:
        server.publish("shop", "prod", "flags", ON, version_label="v1")
        client = server.client()
        flags = Flags(
            AppConfigSource("shop", "prod", "flags", client=client), start=False, wall=wall
        )

        @with_flags(flags, budget=0.3, wall=wall)
        def handler(event: Any, context: Any) -> tuple[str | None, bool]:
            view = current()
            return view.version, view.enabled("checkout")

        assert handler({}, Context()) == ("v1", True)
        server.publish("shop", "prod", "flags", OFF, version_label="v2")
        server.inject("delay", delay=5)
        wall.jump(600)
        started = time.monotonic()
        assert handler({}, Context()) == ("v1", True)
        assert time.monotonic() - started < 0.3 + 4.0  # well under the server's 5 s delay
        flags.close()
    client.close()


# -- the handler contract ---------------------------------------------------------------------


class Boom(Exception):
    pass


def test_return_values_and_exceptions_pass_through_untouched() -> None:
    """The exact return object comes back; the exact exception propagates; names are kept."""
    flags = Flags(StaticSource(ON), start=False)
    result = object()
    error = Boom("handler failed")

    @with_flags(flags)
    def ok(event: Any, context: Any) -> object:
        """Doc."""
        return result

    @with_flags(flags)
    def bad(event: Any, context: Any) -> None:
        raise error

    assert ok({}, Context()) is result
    assert ok.__name__ == "ok" and ok.__doc__ == "Doc." and ok.__wrapped__ is not None
    with pytest.raises(Boom) as caught:
        bad({}, Context())
    assert caught.value is error
    with pytest.raises(LookupError):
        current()  # reset after the handler, even after it raised
    flags.close()


def test_async_handler_refreshes_and_propagates(wall: Wall) -> None:
    """async def handlers get fresh flags without blocking the loop; errors propagate."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, max_age=60, budget=5, wall=wall)
    async def handler(event: Any, context: Any) -> str | None:
        await asyncio.sleep(0)
        return current().version

    @with_flags(flags, wall=wall)
    async def failing(event: Any, context: Any) -> None:
        raise Boom("async")

    assert asyncio.run(handler({}, Context())) == "1"
    source.publish(OFF)
    wall.jump(61)
    assert asyncio.run(handler({}, Context())) == "2"
    with pytest.raises(Boom, match="async"):
        asyncio.run(failing({}, Context()))
    flags.close()


def test_async_budget_does_not_block_the_event_loop(wall: Wall) -> None:
    """While an async invocation waits for a hung refresh, other tasks on the loop run."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, budget=0.3, wall=wall)
    async def handler(event: Any, context: Any) -> str | None:
        return current().version

    async def main() -> tuple[str | None, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        version = await handler({}, Context())
        task.cancel()
        return version, ticks

    source.publish(OFF)
    source.gate = threading.Event()
    wall.jump(120)
    started = time.monotonic()
    version, ticks = asyncio.run(main())
    assert version == "1" and ticks > 1
    assert time.monotonic() - started < 0.3 + MARGIN
    source.gate.set()
    flags.close()


def test_the_view_is_pinned_for_the_invocation(wall: Wall) -> None:
    """A swap during the invocation does not change what current() answers."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, wall=wall)
    def handler(event: Any, context: Any) -> tuple[bool, bool]:
        before = current().enabled("checkout")
        source.publish(OFF)
        flags.refresh()
        return before, current().enabled("checkout")

    assert handler({}, Context()) == (True, True)
    assert flags.enabled("checkout") is False
    flags.close()


def test_current_outside_a_handler_says_how_to_fix_it() -> None:
    with pytest.raises(LookupError, match="with_flags"):
        current()


def test_a_context_that_misbehaves_does_not_break_the_invocation(wall: Wall) -> None:
    """No context, or one whose clock raises: the fixed budget is used; the handler runs."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    class Broken:
        def get_remaining_time_in_millis(self) -> int:
            raise RuntimeError("no deadline")

    @with_flags(flags, budget=5, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    source.publish(OFF)
    wall.jump(120)
    assert handler({}, Broken()) == "2"
    source.publish(ON)
    wall.jump(120)
    assert handler({}, None) == "3"
    flags.close()


@pytest.mark.parametrize(
    "options",
    [{"max_age": -1}, {"budget": -0.1}, {"budget_fraction": 1.5}, {"cold_start_wait": -1}],
)
def test_invalid_options_are_refused(options: dict[str, float]) -> None:
    flags = Flags(StaticSource(ON), start=False)
    with pytest.raises(ValueError, match=next(iter(options))):
        with_flags(flags, **options)  # type: ignore[arg-type]
    flags.close()


def test_importing_aws_lambda_stays_light() -> None:
    """`import flagkit.aws_lambda` pulls in neither boto3, pydantic nor asyncio."""
    code = (
        "import sys, flagkit.aws_lambda\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'pydantic', 'asyncio') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


# -- the example ------------------------------------------------------------------------------


@pytest.fixture
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from flagkit.testing import LocalAppConfigAgent

    with LocalAppConfigAgent() as agent:
        agent.publish(
            "shop",
            "prod",
            "flags",
            {
                "new-pricing": {"enabled": True},
                "checkout": {"enabled": True, "max_items": 25},
            },
        )
        monkeypatch.setenv("AWS_APPCONFIG_EXTENSION_HTTP_PORT", str(agent.port))
        monkeypatch.setenv("FLAGS_BACKUP_PATH", str(tmp_path / "example.backup"))
        yield agent


def test_lambda_example_runs_with_a_lambda_shaped_context(agent_env: Any) -> None:
    """examples/lambda_handler.py answers from the agent's flags, as Lambda would call it."""
    spec = importlib.util.spec_from_file_location(
        "lambda_handler_example", ROOT / "examples" / "lambda_handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        context = Context(remaining_ms=3000)
        reply = module.handler({"user_id": "user-42"}, context)
        assert reply["statusCode"] == 200
        assert json.loads(reply["body"]) == {
            "pricing": "new",
            "max_items": 25,
            "flags_version": "v1",
            "request_id": context.aws_request_id,
        }
        assert (Path(os.environ["FLAGS_BACKUP_PATH"])).exists()
    finally:
        module.flags.close()


def test_lambda_example_runs_as_a_script(agent_env: Any) -> None:
    """`python examples/lambda_handler.py` invokes the handler once against the agent."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lambda_handler.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=dict(os.environ),
    )
    reply = json.loads(done.stdout)
    assert json.loads(reply["body"])["pricing"] == "new"


def test_docs_lambda_code_blocks_compile_and_name_real_api() -> None:
    """docs/lambda.md's Python blocks compile, and the aws_lambda names they use exist."""
    import ast
    import re

    import flagkit.aws_lambda

    text = (ROOT / "docs" / "lambda.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flagkit.aws_lambda":
                for alias in node.names:
                    assert hasattr(flagkit.aws_lambda, alias.name), alias.name
    assert set(flagkit.aws_lambda.__all__) == {"current", "with_flags"}


# -- the alarm guard under Lambda ----------------------------------------------------------------


def test_the_decorator_polls_the_alarm_guard_at_its_interval() -> None:
    """No thread runs in the sandbox: invocations poll the guard when its interval has passed."""
    import flagkit
    from flagkit.testing import StaticAlarms

    wall = Wall()
    alarms = StaticAlarms({"checkout-5xx": "OK"}, wall=wall)
    guarded = {"checkout": {"enabled": True, "flagkit-alarms": ["checkout-5xx"]}}
    flags = Flags(
        StaticSource(json.dumps(guarded)),
        start=False,
        wall=wall,
        guard=flagkit.AlarmGuard(alarms, interval=30),
    )

    @with_flags(flags, max_age=300, wall=wall, budget=MARGIN)
    def handler(event: dict[str, Any], context: Context) -> bool:
        return current().enabled("checkout", "u1")

    assert handler({}, Context()) is True
    polls = alarms.calls
    assert polls >= 1
    alarms.set("checkout-5xx", "ALARM")
    wall.jump(10)  # within the guard's interval: no poll, still on
    assert handler({}, Context()) is True
    assert alarms.calls == polls
    wall.jump(25)  # past it: this invocation polls (within its budget) and sees the alarm
    assert handler({}, Context()) is False
    assert alarms.calls == polls + 1
    assert flags.status().fetched_at is not None
    flags.close()


# -- no double poll after a thaw ----------------------------------------------------------------


class Monotonic:
    """A monotonic clock the test sets; it counts the reads the poller thread makes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.poller_reads = 0
        self.read = threading.Condition()

    def __call__(self) -> float:
        if threading.current_thread().name == "flagkit-poller":
            with self.read:
                self.poller_reads += 1
                self.read.notify_all()
        return self.now

    def wait_for_poller_reads(self, n: int) -> None:
        with self.read:
            assert self.read.wait_for(lambda: self.poller_reads >= n, 10), "poller stalled"


def test_a_refresh_pushes_the_pollers_next_poll_back() -> None:
    """The decorator's refresh after a thaw counts as the poll: the poller waits a full
    interval from it instead of polling again at once (AppConfigData: "too early")."""
    mono = Monotonic()
    fetches: list[tuple[str, float]] = []
    third = threading.Event()

    class Recording:
        def fetch(self) -> Fetched:
            fetches.append((threading.current_thread().name, mono.now))
            if len(fetches) >= 3:
                third.set()
            return Fetched(json.dumps(ON).encode(), poll_after=0.02)

    flags = Flags(Recording(), clock=mono, polling=Polling(jitter=0), wait=5)
    assert len(fetches) == 1  # the poller's first poll
    flags.refresh()  # an invocation's refresh, at the same (frozen) monotonic instant
    reads = mono.poller_reads
    mono.wait_for_poller_reads(reads + 5)  # the poller woke several times meanwhile...
    assert [who for who, _ in fetches].count("flagkit-poller") == 1  # ...and never polled
    mono.now = 0.02  # a full interval after the refresh
    assert third.wait(10)
    assert fetches[2] == ("flagkit-poller", 0.02)
    flags.close()


# -- refresh deadlines ------------------------------------------------------------------------


def test_a_refresh_past_its_deadline_is_abandoned_and_a_later_one_starts(wall: Wall) -> None:
    """A refresh hung past refresh_timeout (20 s by the wall clock) no longer counts as in
    flight: the next stale invocation starts another, which fetches once the old fetch lets go
    (before, that sandbox never refreshed again)."""
    source = Source()
    flags = Flags(source, start=False, wall=wall)

    @with_flags(flags, max_age=60, budget=0.2, wall=wall)
    def handler(event: Any, context: Any) -> str | None:
        return current().version

    source.publish(OFF)
    source.gate = threading.Event()
    source.entered.clear()
    wall.jump(120)
    assert handler({}, Context()) == "1"  # refresh A starts, and hangs in the source
    assert source.entered.wait(10)
    source.entered.clear()
    wall.jump(10)
    assert handler({}, Context()) == "1"  # A is within its deadline: no second refresh
    wall.jump(11)
    assert handler({}, Context()) == "1"  # A is past it: abandoned; B starts and queues
    source.gate.set()  # A's fetch returns at last; B gets its turn
    assert source.entered.wait(10), "no later refresh ever fetched"
    assert source.fetches == 3  # cold start, A, B
    flags.close()


def test_a_refresh_hung_on_a_dripping_appconfig_is_interrupted_and_replaced(wall: Wall) -> None:
    """AppConfigSource, body dripping one byte per 0.25 s: once the refresh is past its
    deadline the next invocation interrupts it (the endpoint sees the hang-up) and the new
    refresh fetches the document."""
    from flagkit._sources.appconfig import AppConfigSource
    from hostile_appconfig import HostileAppConfig

    with HostileAppConfig("drip-body", max_drips=240) as server:
        client = server.client()
        source = AppConfigSource("shop", "prod", "flags", client=client)
        source.fetch_timeout = 600.0  # only the refresher's deadline can end it in this test
        flags = Flags(source, start=False, wall=wall)
        swapped = threading.Event()
        flags.on_change(lambda old, new: swapped.set())

        @with_flags(flags, budget=0.2, cold_start_wait=0, wall=wall)
        def handler(event: Any, context: Any) -> bool:
            return current().enabled("checkout", default=False)

        assert handler({}, Context()) is False  # refresh A: stuck in the dripping body
        assert server.misbehaving.wait(10)
        wall.jump(21)
        handler({}, Context())  # A abandoned and interrupted; B fetches a proper answer
        assert swapped.wait(10), flags.status()
        assert handler({}, Context()) is True
        assert server.client_gone.is_set() and not server.gave_up.is_set()
        flags.close()
        client.close()
