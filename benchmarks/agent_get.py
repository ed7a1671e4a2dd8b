"""An HTTP GET to the AppConfig Agent per evaluation, against ``flags.enabled()`` (issue 18).

    .venv/bin/python benchmarks/agent_get.py            # ~15 s, a markdown table on stdout
    .venv/bin/python benchmarks/agent_get.py --quick    # ~2 s

Many Lambda functions ask the AppConfig Agent (or its Lambda extension) on every evaluation:
``GET http://localhost:2772/applications/{app}/environments/{env}/configurations/{profile}``,
then read the flag's ``enabled`` out of the JSON. This times that pattern against
``flags.enabled(flag, uid, attrs)`` at the call site, in one process, interleaved:

* **S1** (a basic flag): the whole configuration, no context; ``body["s1"]["enabled"]``.
* **S2** (10 % by user id, a multi-variant flag): ``?flag=s2`` with the user in a ``Context``
  header, which the agent needs to evaluate the variant rules per user
  (``Context: userId=<uid>,country=US,plan=pro``); ``body["s2"]["enabled"]``.

Clients, each with one kept-alive connection: ``http.client.HTTPConnection`` (the standard
library), ``urllib3.HTTPConnectionPool`` and a ``requests.Session`` when installed. The server
is ``flagkit.testing.LocalAppConfigAgent`` (a Python ``http.server``, serving from its cache:
poll interval 45 s, as AWS's default). The real agent is a native binary, so its side of each
request is cheaper; the last row therefore times ``http.client`` against a server that answers
every request with the same canned bytes from a separate process (a raw socket loop, no
parsing): what a GET costs the *caller* with an agent that took no time at all.

Each GET call site is checked first: its answers for the first users must equal
``flags.enabled``'s (the local agent evaluates with flagkit's rules, so they are identical).
Then ``rounds`` repeats; in each, every (client, scenario) batch and flagkit's batch for the
same scenario run in shuffled order with the garbage collector paused, and a repeat's ratio is
GET time / flagkit time in that repeat. Medians over repeats, with the interquartile range and
the extremes as the noise.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` and the working tree's flagkit (src/) importable.
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

import flagkit
from benchmarks.run import machine_info
from benchmarks.scenarios import appconfig_document, make_users
from benchmarks.timing import Timer, calibrate, call_site, gc_paused, median, quantile
from flagkit.testing import LocalAppConfigAgent

APP, ENV, PROFILE = "shop", "prod", "flags"
PATH = f"/applications/{APP}/environments/{ENV}/configurations/{PROFILE}"
SCENARIOS = ("S1", "S2")
CHECKED_USERS = 200

# What each scenario's GET asks for, and how the caller reads the answer.
QUERY = {"S1": PATH, "S2": PATH + "?flag=s2"}
FLAG = {"S1": "s1", "S2": "s2"}
# The Context header, built per call from what the request handler has (S1 sends none).
CONTEXT = '",".join([f"userId={uid}", *(f"{k}={v}" for k, v in attrs.items())])'
HEADERS = {"S1": "{}", "S2": "{'Context': " + CONTEXT + "}"}

CALL_SITES: dict[str, str] = {
    "http.client": """
conn.request("GET", query, headers={headers})
json.loads(conn.getresponse().read())["{flag}"]["enabled"]
""",
    "urllib3": """
json.loads(pool.request("GET", query, headers={headers}).data)["{flag}"]["enabled"]
""",
    "requests": """
session.get(url, headers={headers}).json()["{flag}"]["enabled"]
""",
}
CANNED = "http.client, canned-answer server"
FLAGKIT = "flagkit"

# client -> "is it still on the connection it started with?", checked after timing
KEPT_ALIVE: dict[str, Callable[[], bool]] = {}


@dataclass(frozen=True)
class Settings:
    rounds: int
    target_ms: float


FULL = Settings(rounds=15, target_ms=30.0)
QUICK = Settings(rounds=3, target_ms=5.0)


@dataclass
class Row:
    """One way of evaluating one scenario, and its numbers."""

    client: str
    scenario: str
    timer: Timer
    ns: list[float] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)  # / flagkit in the same repeat


# A separate process answering every request on one connection with the same bytes: no HTTP
# parsing beyond finding the end of the headers, so it costs the caller only the round trip.
_CANNED_SERVER = textwrap.dedent(
    """
    import socket, sys
    body = sys.argv[1].encode()
    answer = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
              b"Content-Length: %d\\r\\n\\r\\n" % len(body)) + body
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            pending += data
            while b"\\r\\n\\r\\n" in pending:
                _, pending = pending.split(b"\\r\\n\\r\\n", 1)
                conn.sendall(answer)
        conn.close()
    """
)


@contextmanager
def canned_server(body: bytes) -> Iterator[int]:
    """A subprocess answering every GET with ``body``; yields its port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CANNED_SERVER, body.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _connection(name: str, host: str, port: int) -> http.client.HTTPConnection:
    """A connected ``HTTPConnection`` that the run checks it kept alive throughout."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.connect()
    # http.client sends a GET's request line and headers in one write; TCP_NODELAY all the
    # same, as urllib3 sets it, so no client waits on Nagle's algorithm.
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = conn.sock
    KEPT_ALIVE[name] = lambda: conn.sock is sock
    return conn


def _rows(
    stack: ExitStack, agent: LocalAppConfigAgent, flags: flagkit.Flags, say: Callable[..., None]
) -> list[Row]:
    """Every call site, compiled; clients that are not installed are skipped and named."""
    base = f"http://{agent.host}:{agent.port}"
    conn = _connection("http.client", agent.host, agent.port)
    stack.callback(conn.close)
    names: dict[str, dict[str, Any]] = {"http.client": {"conn": conn}}
    try:
        import urllib3

        pool = urllib3.HTTPConnectionPool(agent.host, agent.port, maxsize=1, retries=False)
        stack.callback(pool.close)
        names["urllib3"] = {"pool": pool}
        KEPT_ALIVE["urllib3"] = lambda: pool.num_connections == 1
    except ImportError:
        say("skipping urllib3: not installed (pip install urllib3)")
    try:
        import requests

        session = requests.Session()
        stack.callback(session.close)
        names["requests"] = {"session": session}
    except ImportError:
        say("skipping requests: not installed (pip install requests)")
    rows = []
    for scenario in SCENARIOS:
        flag = FLAG[scenario]
        rows.append(
            Row(
                FLAGKIT,
                scenario,
                call_site(f'flags.enabled("{flag}", uid, attrs)', {"flags": flags}, scenario)[1],
            )
        )
        for client, given in names.items():
            body = CALL_SITES[client].format(headers=HEADERS[scenario], flag=flag)
            scope = {**given, "json": json, "query": QUERY[scenario], "url": base + QUERY[scenario]}
            evaluate, timer = call_site(body, scope, f"{client} {scenario}")
            _check(client, scenario, evaluate, flags)
            rows.append(Row(client, scenario, timer))
    # The lower bound: the same requests answered instantly with the agent's whole answer
    # without context (it holds s1 and s2), from a server in another process.
    port = stack.enter_context(canned_server(_get(agent.host, agent.port, PATH)))
    conn = _connection(CANNED, "127.0.0.1", port)
    stack.callback(conn.close)
    for scenario in SCENARIOS:
        body = CALL_SITES["http.client"].format(headers=HEADERS[scenario], flag=FLAG[scenario])
        scope = {"conn": conn, "json": json, "query": QUERY[scenario]}
        evaluate, timer = call_site(body, scope, f"{CANNED} {scenario}")
        _check(CANNED, scenario, evaluate, flags, exact=scenario == "S1")
        rows.append(Row(CANNED, scenario, timer))
    return rows


def _get(host: str, port: int, path: str) -> bytes:
    """One GET's body (the canned server's answer is the agent's own)."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def _check(
    client: str, scenario: str, evaluate: Any, flags: flagkit.Flags, *, exact: bool = True
) -> None:
    """A GET call site must answer as flagkit does, user for user, before it is timed (the
    canned server's S2 answer is the same for everyone: there, a bool is all it can be)."""
    flag = FLAG[scenario]
    for uid, attrs in make_users(CHECKED_USERS):
        got, want = evaluate(uid, attrs), flags.enabled(flag, uid, attrs)
        if got is not want and (exact or type(got) is not bool):
            raise RuntimeError(f"{client} {scenario}: {uid} got {got!r}, flagkit {want!r}")


@dataclass
class Result:
    rows: list[Row]
    served: int  # requests the local agent answered
    reconnected: list[str]  # clients that did not keep their one connection throughout


def measure(settings: Settings, say: Callable[..., None]) -> Result:
    users = make_users()
    document = appconfig_document()
    with ExitStack() as stack:
        agent = stack.enter_context(LocalAppConfigAgent(poll_interval=45))
        agent.publish(APP, ENV, PROFILE, document)
        flags = stack.enter_context(flagkit.Flags(flagkit.StaticSource(document)))
        rows = _rows(stack, agent, flags, say)
        target = int(settings.target_ms * 1e6)
        shapes = {id(row): calibrate(row.timer, users, target) for row in rows}
        say(f"timing {len(rows)} call sites x {settings.rounds} rounds")
        rng = random.Random(18)
        for rnd in range(settings.rounds):
            offset = (rnd * 7919) % len(users)
            batch = users[offset:] + users[:offset]
            order = list(rows)
            rng.shuffle(order)
            per_call: dict[int, float] = {}
            with gc_paused():
                for row in order:
                    n, passes = shapes[id(row)]
                    per_call[id(row)] = row.timer(batch[:n], passes) / (n * passes)
            fk = {r.scenario: per_call[id(r)] for r in rows if r.client == FLAGKIT}
            for row in rows:
                row.ns.append(per_call[id(row)])
                row.ratio.append(per_call[id(row)] / fk[row.scenario])
        served = len(agent.requests)
        reconnected = [name for name, kept in KEPT_ALIVE.items() if not kept()]
    say(f"the local agent answered {served:,} requests")
    if reconnected:
        say(f"note: not kept alive throughout: {', '.join(reconnected)}")
    return Result(rows, served, reconnected)


def render(rows: list[Row], settings: Settings) -> str:
    m = machine_info()
    lines = [
        f"Machine: {m['cpu']}, nproc {m['nproc']}; {m['python']}; load average {m['load']}"
        f" at the start. {settings.rounds} interleaved repeats, ~{settings.target_ms:g} ms"
        " batches.",
        "",
        "| scenario | per evaluation | time | ratio to `flags.enabled()` (median) "
        "| interquartile range | min - max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: r.scenario):  # stable: flagkit first, canned last
        t = median(row.ns)
        time_text = f"{t:,.0f} ns" if t < 10_000 else f"{t / 1000:,.1f} µs"
        what = (
            f'`flags.enabled("{FLAG[row.scenario]}", uid, attrs)`'
            if row.client == FLAGKIT
            else f"GET, {row.client}"
        )
        if row.client == FLAGKIT:
            lines.append(f"| {row.scenario} | {what} | {time_text} | 1x | | |")
            continue
        q1, q3 = quantile(row.ratio, 0.25), quantile(row.ratio, 0.75)
        lines.append(
            f"| {row.scenario} | {what} | {time_text} | **{median(row.ratio):,.0f}x** "
            f"| {q1:,.0f}-{q3:,.0f}x | {min(row.ratio):,.0f}-{max(row.ratio):,.0f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, out: Any = sys.stdout) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 short repeats")
    parser.add_argument("--rounds", type=int, help="interleaved repeats (default 15)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    settings = Settings(rounds=args.rounds or base.rounds, target_ms=base.target_ms)

    def say(*parts: object) -> None:
        print(*parts, file=out, flush=True)

    result = measure(settings, say)
    say("\n" + render(result.rows, settings))
    return result


if __name__ == "__main__":
    main()
