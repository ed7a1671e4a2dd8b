"""Hostile endpoints and files (issue 19, points 8-12): every fetch and every read is bounded.

- ``AgentSource.fetch()`` has a total deadline: a peer that drips bytes, or sends 1xx answers or
  trailers for ever, is cut off (the socket timeout alone restarts with each byte);
- the loopback HTTP client parses strictly (ASCII digits and hex only, no negative sizes) and
  buffers chunked bodies in one ``bytearray``; nothing but a ``SourceError`` leaves ``fetch()``;
- ``FileSource`` opens only regular files, never blocks on a FIFO or reads a device, and reads
  at most its cap + 1 bytes;
- a bad or unreachable backup is logged and ignored; the client starts all the same.

The hostile peers are 127.0.0.1 socket servers, one connection each, bounded in how much they
send and for how long; a peer's ``pace`` is the attack's rhythm, not synchronisation (the test
waits on events the peer sets).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flagkit import (
    AgentSource,
    Fetched,
    FileSource,
    Flags,
    PermanentSourceError,
    RetryableSourceError,
    SourceError,
    StaticSource,
)
from flagkit._sources import http as loopback_http

ON = {"checkout": {"enabled": True}}
DOC = json.dumps(ON).encode()


# -- hostile peers ----------------------------------------------------------------------------


def read_request(conn: socket.socket) -> bool:
    """Read up to the end of the request head; False if the client hung up first."""
    request = b""
    while b"\r\n\r\n" not in request:
        data = conn.recv(4096)
        if not data:
            return False
        request += data
    return True


class Peer:
    """A one-connection peer on 127.0.0.1 that answers the request with ``pieces``.

    It sends at most ``limit`` pieces, ``pace`` seconds apart, then closes: it is bounded in
    count and in time. ``hung_up`` is set when the client closes the connection first,
    ``exhausted`` when the peer ran out of pieces; ``done`` when its thread ends.
    """

    def __init__(self, pieces: Iterable[bytes], *, pace: float, limit: int) -> None:
        self.pieces = itertools.islice(pieces, limit)
        self.pace = pace
        self.hung_up = threading.Event()
        self.exhausted = threading.Event()
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, name="hostile-peer", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            self.done.set()
            return
        with conn:
            try:
                if not read_request(conn):
                    return
                for piece in self.pieces:
                    conn.sendall(piece)
                    if self._client_left(conn):
                        return
                self.exhausted.set()
            except OSError:  # reset by the client: it hung up
                self.hung_up.set()
            finally:
                self.done.set()

    def _client_left(self, conn: socket.socket) -> bool:
        """Wait ``pace`` s for the client to hang up (the attack's rhythm)."""
        readable, _, _ = select.select([conn], [], [], self.pace)
        if readable and not conn.recv(4096):
            self.hung_up.set()
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(10)


@contextlib.contextmanager
def peer(pieces: Iterable[bytes], *, pace: float, limit: int) -> Iterator[Peer]:
    server = Peer(pieces, pace=pace, limit=limit)
    try:
        yield server
    finally:
        server.close()


def agent(port: int, **options: Any) -> AgentSource:
    return AgentSource("shop", "prod", "flags", host="127.0.0.1", port=port, **options)


def one_byte_at_a_time(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


def drip() -> Iterator[bytes]:
    return one_byte_at_a_time(b"HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n" + b" " * 9999)


def endless_continue(batch: int = 1) -> Iterator[bytes]:
    return itertools.repeat(b"HTTP/1.1 100 Continue\r\n\r\n" * batch)


def endless_trailers(batch: int = 1) -> Iterator[bytes]:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n"
    return itertools.chain([head], itertools.repeat(b"X-Trailer: more\r\n" * batch))


# -- point 8: a total deadline on AgentSource.fetch() -----------------------------------------


def test_a_dripping_agent_is_cut_off_at_the_deadline() -> None:
    """One byte per pace never trips the 5 s read timeout; the total deadline ends the fetch."""
    with peer(drip(), pace=0.02, limit=500) as server:
        source = agent(server.port, timeout=5, fetch_timeout=0.3)
        with pytest.raises(RetryableSourceError, match=r"within the fetch deadline of 0\.3 s"):
            source.fetch()
        assert server.done.wait(15)
    assert server.hung_up.is_set() and not server.exhausted.is_set()


@pytest.mark.parametrize("endless", [endless_continue, endless_trailers])
def test_endless_interim_answers_or_trailers_end_the_fetch(
    endless: Callable[[], Iterator[bytes]],
) -> None:
    """A paced stream of 1xx answers or of trailers ends (deadline or count cap), as retryable."""
    with peer(endless(), pace=0.02, limit=500) as server:
        source = agent(server.port, timeout=5, fetch_timeout=0.3)
        with pytest.raises(RetryableSourceError):
            source.fetch()
        assert server.done.wait(15)
    assert server.hung_up.is_set() and not server.exhausted.is_set()


@pytest.mark.parametrize("endless", [endless_continue, endless_trailers])
def test_a_flood_of_interim_answers_or_trailers_is_capped(
    endless: Callable[[int], Iterator[bytes]],
) -> None:
    """Sent as fast as the socket takes them, they are refused by count long before a deadline."""
    with peer(endless(1000), pace=0, limit=1000) as server:  # up to 25 MB
        source = agent(server.port, timeout=5, fetch_timeout=60)
        with pytest.raises(RetryableSourceError, match="ProtocolError"):
            source.fetch()
        assert server.done.wait(30)
    assert server.hung_up.is_set() and not server.exhausted.is_set()


def test_every_loopback_request_has_a_deadline_even_without_one_given() -> None:
    """A request made without ``deadline=`` (per-call lookups) ends after ``total`` seconds."""
    with peer(drip(), pace=0.02, limit=500) as server:
        conn = loopback_http.LoopbackConnection("127.0.0.1", server.port, timeout=5, total=0.3)
        with pytest.raises(loopback_http.DeadlineExceeded):
            conn.get("/", {})
        assert server.done.wait(15)
    assert server.hung_up.is_set() and not server.exhausted.is_set()
    assert loopback_http.LoopbackConnection("127.0.0.1", 1, timeout=1.5).total == 3.0


def test_the_fetch_timeout_is_a_setting_defaulting_to_twice_the_timeout() -> None:
    """``fetch_timeout`` covers the whole fetch (retry included); default 2 x ``timeout``."""
    assert agent(2772).fetch_timeout == 10.0
    assert agent(2772, timeout=1.5).fetch_timeout == 3.0
    assert agent(2772, fetch_timeout=0.5).fetch_timeout == 0.5
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="fetch_timeout"):
            agent(2772, fetch_timeout=bad)


def test_a_fetch_within_the_deadline_still_works() -> None:
    """A slow-but-finite answer inside the deadline is delivered."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(DOC), DOC)
    with peer([answer], pace=0, limit=1) as server:
        source = agent(server.port, fetch_timeout=30)
        fetched = source.fetch()
        source.close()
    assert fetched.body == DOC


# -- point 9: strict HTTP parsing -------------------------------------------------------------


@contextlib.contextmanager
def answering(*answers: bytes) -> Iterator[int]:
    """A peer serving one answer per connection, in order; it stops when they run out."""
    pending: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    for answer in answers:
        pending.put(answer)
    with serving(pending) as port:
        yield port


@contextlib.contextmanager
def serving(pending: queue.SimpleQueue[bytes | None]) -> Iterator[int]:
    """Accept a connection per queued answer; send it after the request head, then close."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while (answer := pending.get()) is not None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                read_request(conn)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, name="scripted-peer", daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        pending.put(None)
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)


def fetch_answer(answer: bytes) -> Fetched:
    with answering(answer) as port:
        source = agent(port, timeout=5)
        try:
            return source.fetch()
        finally:
            source.close()


def chunked(*wire: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(wire)


def test_a_negative_chunk_size_cannot_rewind_the_body_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """-FFFFFFFFFFFFFFFF made the running total negative, so 11 bytes passed a 10-byte cap."""
    monkeypatch.setattr(loopback_http, "MAX_BODY", 10)
    answer = chunked(b"-FFFFFFFFFFFFFFFF\r\n\r\n", b"b\r\n", b"x" * 11, b"\r\n0\r\n\r\n")
    with pytest.raises(RetryableSourceError, match="ProtocolError"):
        fetch_answer(answer)


@pytest.mark.parametrize(
    "size", [b"-0", b"+2", b"0x2", b"0_2", b"2 2"], ids=["minus", "plus", "0x", "_", "space"]
)
def test_chunk_sizes_are_plain_hex(size: bytes) -> None:
    """A sign, a 0x prefix or a digit separator (which int(..., 16) accepts) is refused."""
    with pytest.raises(RetryableSourceError, match="ProtocolError"):
        fetch_answer(chunked(size, b"\r\n{}\r\n0\r\n\r\n"))


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n{}",  # "²": str.isdigit() says yes
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb9\xb2\r\n\r\n{}",  # "¹²"
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n{}",  # > int's 4300
        b"HTTP/1.1 \xb2\xb2\xb2 OK\r\nContent-Length: 2\r\n\r\n{}",  # a status of "²²²"
        b"HTTP/1.1 20\r\nContent-Length: 2\r\n\r\n{}",  # two digits
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}",
    ],
    ids=[
        "superscript-2",
        "superscripts",
        "5000-digits",
        "superscript-status",
        "short-status",
        "minus",
        "two-lengths",
    ],
)
def test_lengths_and_statuses_are_ascii_digits(answer: bytes) -> None:
    """A non-ASCII digit, an endless number or a sign is a ProtocolError, never a ValueError."""
    with pytest.raises(RetryableSourceError, match="ProtocolError"):
        fetch_answer(answer)


def test_one_byte_chunks_cost_about_their_size() -> None:
    """A body in 1-byte chunks is buffered in one bytearray, not one object per chunk."""
    body = b'{"checkout": {"enabled": true, "pad": "' + b"x" * 65_000 + b'"}}'
    answer = chunked(*(b"1\r\n%c\r\n" % byte for byte in body), b"0\r\n\r\n")
    with answering(answer) as port:
        source = agent(port, timeout=5)
        tracemalloc.start()
        try:
            fetched = source.fetch()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            source.close()
    assert fetched.body == body
    assert peak < 8 * len(body), f"peak {peak} bytes for a {len(body)}-byte body"


NUMBERS = [b"0", b"2", b"ff", b"-2", b"+2", b"0x2", b"2_0", b"\xb2", b"9" * 4400, b"inf", b""]
HEADER_NAMES = [
    b"Content-Length",
    b"Transfer-Encoding",
    b"Connection",
    b"Configuration-Version",
    b"Content-Type",
    b"Retry-After",
]
HEADER_VALUES = [b"chunked", b"close", b"keep-alive", b"chunked, gzip", *NUMBERS]


def http_answer() -> st.SearchStrategy[bytes]:
    """HTTP-shaped answers with hostile numbers, names and framing in every slot."""
    version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"ICY"])
    status = st.sampled_from(
        [b"200", b"100", b"204", b"304", b"404", b"503", b"\xb2\xb2\xb2", b"2"]
    )
    header = st.tuples(
        st.sampled_from(HEADER_NAMES) | st.binary(max_size=6),
        st.sampled_from(HEADER_VALUES) | st.binary(max_size=6),
    ).map(lambda pair: pair[0] + b": " + pair[1] + b"\r\n")
    chunk = st.tuples(st.sampled_from(NUMBERS) | st.binary(max_size=4), st.binary(max_size=4)).map(
        lambda pair: pair[0] + b"\r\n" + pair[1] + b"\r\n"
    )
    one = st.tuples(
        version, status, st.lists(header, max_size=4), st.lists(chunk | st.binary(max_size=6))
    ).map(lambda p: p[0] + b" " + p[1] + b" X\r\n" + b"".join(p[2]) + b"\r\n" + b"".join(p[3]))
    return st.lists(one, min_size=1, max_size=3).map(b"".join)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(answers=st.lists(http_answer(), min_size=1, max_size=3))
def test_whatever_a_peer_sends_only_source_errors_leave_fetch(answers: list[bytes]) -> None:
    """Random HTTP-ish answers: fetch() returns or raises a SourceError, nothing else."""
    pending: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    for answer in answers:
        pending.put(answer)
    with serving(pending) as port:
        source = agent(port, timeout=5)
        try:
            for _ in answers:
                with contextlib.suppress(SourceError):
                    source.fetch()
        finally:
            source.close()


# -- points 10 and 11: FileSource reads regular files, at most the cap ------------------------


def test_a_huge_file_is_refused_after_reading_at_most_the_cap(tmp_path: Path) -> None:
    """A 64 MiB file costs about the 1 MiB cap, not 64 MiB, and is refused by size."""
    path = tmp_path / "flags.json"
    with path.open("wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: no disk, but read() would return it all
    source = FileSource(path)
    tracemalloc.start()
    try:
        with pytest.raises(PermanentSourceError, match="larger than the 1048576-byte size cap"):
            source.fetch()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


def test_the_file_cap_is_a_setting_and_a_file_at_it_loads(tmp_path: Path) -> None:
    """``FileSource(max_bytes=...)``: a file of exactly the cap loads; one byte more does not."""
    path = tmp_path / "flags.json"
    path.write_bytes(DOC)
    assert FileSource(path).max_bytes == 1024 * 1024
    assert FileSource(path, max_bytes=len(DOC)).fetch().body == DOC
    with pytest.raises(PermanentSourceError, match=f"larger than the {len(DOC) - 1}-byte"):
        FileSource(path, max_bytes=len(DOC) - 1).fetch()
    with pytest.raises(ValueError, match="max_bytes"):
        FileSource(path, max_bytes=0)


@contextlib.contextmanager
def fifo(path: Path) -> Iterator[Path]:
    """A named pipe nobody writes to; a reader blocked in open() on it is released at the end."""
    os.mkfifo(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):  # ENXIO: no reader is waiting
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def bounded(call: Callable[[], object], timeout: float = 10) -> BaseException | object:
    """Run ``call`` in a daemon thread; what it returned or raised, or fail if it blocks."""
    outcome: list[object] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which checks it
            outcome.append(exc)
        finished.set()

    threading.Thread(target=run, name="bounded-call", daemon=True).start()
    assert finished.wait(timeout), "the call blocked"
    return outcome[0]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """FileSource on a named pipe refuses it at once instead of waiting for a writer."""
    with fifo(tmp_path / "flags.json") as path:
        outcome = bounded(FileSource(path).fetch)
    assert isinstance(outcome, PermanentSourceError), outcome
    assert "not a regular file (a FIFO)" in str(outcome)


def test_a_device_is_refused_without_reading_it() -> None:
    """FileSource('/dev/zero') is refused unread (today: read until MemoryError).

    Run in a child with a 2 GiB address-space limit, so the unfixed code fails fast and alone.
    """
    code = (
        "import resource, flagkit\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "try:\n"
        "    flagkit.FileSource('/dev/zero').fetch()\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    child = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert child.stdout.startswith("PermanentSourceError"), child.stdout + child.stderr
    assert "not a regular file (a character device)" in child.stdout


# -- points 11 and 12: backups that are bad, unreachable or not files ------------------------


def warnings_of(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        r.getMessage() for r in caplog.records if r.name == "flagkit" and r.levelname == "WARNING"
    )


def test_a_backup_path_on_a_fifo_does_not_block_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Flags(backup_path=<a FIFO>) starts at once; the FIFO is ignored with a warning."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    with fifo(tmp_path / "flags.backup") as path:
        outcome = bounded(lambda: Flags(StaticSource(ON), start=False, backup_path=path))
    assert isinstance(outcome, Flags), outcome
    outcome.close()
    assert not outcome.ready
    assert "not a regular file (a FIFO)" in warnings_of(caplog)


def backup(header: bytes, body: bytes = DOC) -> bytes:
    return b"flagkit-backup 1 " + header + b"\n" + body


@pytest.mark.parametrize(
    "content",
    [
        backup(b"[]"),
        backup(b'"v1"'),
        backup(b"null"),
        backup(b"7"),
        backup(b'{"version": 5}'),
        backup(b'{"version": "v1", "content_type": ["application/json"]}'),
        backup(b"[" * 4000),
        backup(b'{"version": "v1"}' + b" " * 5000),
    ],
    ids=["list", "string", "null", "number", "int-version", "list-type", "deep", "long-header"],
)
def test_a_backup_with_a_bad_header_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    """A header that is not a JSON object of strings is logged and ignored; start-up goes on."""
    path = tmp_path / "flags.backup"
    path.write_bytes(content)
    caplog.set_level(logging.WARNING, logger="flagkit")
    with Flags(StaticSource(ON), start=False, backup_path=path) as flags:
        assert not flags.ready
        assert flags.refresh() and flags.enabled("checkout")
    assert "ignoring unusable backup" in warnings_of(caplog)


@pytest.mark.parametrize("where", ["parent-is-a-file", "name-too-long", "symlink-loop"])
def test_an_unreachable_backup_is_logged_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """A backup path the process cannot reach (a real filesystem condition) does not stop
    start-up: it is logged, and the client serves what the source fetches.
    """
    if where == "parent-is-a-file":
        (tmp_path / "file").write_bytes(b"")
        path = tmp_path / "file" / "flags.backup"  # ENOTDIR
    elif where == "name-too-long":
        path = tmp_path / ("b" * 300)  # ENAMETOOLONG: Path.exists() raises it
    else:
        path = tmp_path / "loop"
        path.symlink_to(path)  # ELOOP
    caplog.set_level(logging.WARNING, logger="flagkit")
    with Flags(StaticSource(ON), start=False, backup_path=path) as flags:
        assert not flags.ready
        assert flags.refresh() and flags.enabled("checkout")
    assert "cannot read backup" in warnings_of(caplog)


def test_a_backup_in_a_directory_the_user_cannot_search_is_ignored(tmp_path: Path) -> None:
    """EACCES on the backup's directory (Path.exists() raised PermissionError from Flags()).

    Root searches any directory, so as root the client runs in a child as ``nobody``, under a
    directory of root's that is mode 0700; otherwise the directory is made mode 0000.
    """
    code = (
        "import logging, sys, flagkit\n"
        "logging.basicConfig(stream=sys.stdout, format='%(levelname)s %(message)s')\n"
        "flags = flagkit.Flags(flagkit.StaticSource({'beta': {'enabled': True}}),\n"
        "                      start=False, backup_path=sys.argv[1])\n"
        "print('started', flags.ready, flags.refresh(), flags.enabled('beta'))\n"
    )
    if os.geteuid() != 0:
        private = tmp_path / "private"
        private.mkdir(mode=0o000)
        try:
            run = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-c", code, str(private / "flags.backup")],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            private.chmod(0o700)
    else:
        base = Path(tempfile.mkdtemp(prefix="flagkit-eacces-"))
        try:
            base.chmod(0o755)  # nobody may enter base, not base/private
            (base / "private").mkdir(mode=0o700)
            run = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-c", code, str(base / "private" / "flags.backup")],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                user=65534,
                group=65534,
                extra_groups=[],
            )
        finally:
            shutil.rmtree(base)
        if "No module named" in run.stderr:
            pytest.skip("the interpreter or flagkit is not readable by nobody here")
    assert run.returncode == 0, run.stderr
    assert "WARNING flagkit: cannot read backup" in run.stdout
    assert "Permission denied" in run.stdout
    assert run.stdout.rstrip().endswith("started False True True")


def test_a_missing_backup_is_not_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first start has no backup yet: that is normal, not worth a warning."""
    caplog.set_level(logging.WARNING, logger="flagkit")
    with Flags(StaticSource(ON), start=False, backup_path=tmp_path / "flags.backup") as flags:
        assert not flags.ready
    assert warnings_of(caplog) == ""


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the file is rewritten each time
)
@given(
    header=st.one_of(
        st.binary(max_size=64),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["version", "content_type", "x"]), inner)
            ),
        ).map(lambda value: json.dumps(value).encode()),
    ),
    body=st.sampled_from([DOC, b"", b"{", b"\xff", b"[]", b'{"a": {"enabled": 1}}']),
)
def test_no_backup_content_stops_start_up(tmp_path: Path, header: bytes, body: bytes) -> None:
    """Whatever the backup holds, Flags() constructs; what it serves came from a valid document."""
    path = tmp_path / "flags.backup"
    path.write_bytes(backup(header, body))
    with Flags(StaticSource(ON), start=False, backup_path=path) as flags:
        assert flags.version is None or isinstance(flags.version, str)
