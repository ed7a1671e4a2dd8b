"""What a hostile agent or file can cost: how long it holds a fetch, how much memory it takes.

    .venv/bin/python benchmarks/hostile_endpoints.py [--quick] [--src DIR]

Reported (issue 19, points 8-11), with flagkit's default settings unless said otherwise:

* hold time: how long ``AgentSource.fetch()`` runs against a 127.0.0.1 peer that drips one
  byte every 0.25 s, sends ``100 Continue`` every 0.25 s, sends a trailer line every 0.25 s,
  or floods either as fast as the socket takes them. Each peer gives up after 60 s, so an
  unbounded fetch shows as ">= 60 s";
* memory for a 1 MiB body in 1-byte chunks: the tracemalloc peak during ``fetch()``, and the
  growth of the process's peak RSS (a fresh interpreter per measure);
* memory for ``FileSource.fetch()`` of a 200 MB file: peak RSS growth.

``--src DIR`` measures another checkout's flagkit (e.g. ``/work/main/src``) for a before/after.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

PEER_LIMIT_S = 60.0  # a peer never sends for longer than this


def _serve(listener: socket.socket, pieces: Iterator[bytes], pace: float) -> None:
    conn, _ = listener.accept()
    started = time.monotonic()
    with conn:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            for piece in pieces:
                conn.sendall(piece)
                readable, _, _ = select.select([conn], [], [], pace)
                if readable and not conn.recv(4096):
                    return  # the client hung up
                if time.monotonic() - started > PEER_LIMIT_S:
                    return
        except OSError:
            return


def hold_time(pieces: Iterator[bytes], pace: float) -> tuple[float, str]:
    """Seconds a default AgentSource's fetch() lasts against this peer, and how it ended."""
    from flagkit import AgentSource, SourceError

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = threading.Thread(target=_serve, args=(listener, pieces, pace), daemon=True)
    server.start()
    source = AgentSource("shop", "prod", "flags", host="127.0.0.1", port=port)
    started = time.monotonic()
    try:
        source.fetch()
        outcome = "returned"
    except SourceError as exc:
        outcome = str(exc).split(": ", 1)[-1]
    except Exception as exc:  # noqa: BLE001 - the unfixed code lets others escape
        outcome = f"escaped {type(exc).__name__}"
    elapsed = time.monotonic() - started
    source.close()
    server.join(PEER_LIMIT_S + 5)
    listener.close()
    return elapsed, outcome


def hostile_peers(quick: bool) -> dict[str, tuple[Iterator[bytes], float]]:
    drip = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b" " * 100_000
    trailers_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    peers = {
        "drip 1 byte / 0.25 s": ((drip[i : i + 1] for i in range(len(drip))), 0.25),
        "100 Continue / 0.25 s": (itertools.repeat(b"HTTP/1.1 100 Continue\r\n\r\n"), 0.25),
        "trailer line / 0.25 s": (
            itertools.chain([trailers_head], itertools.repeat(b"X-T: 1\r\n")),
            0.25,
        ),
        "100 Continue flood": (itertools.repeat(b"HTTP/1.1 100 Continue\r\n\r\n" * 1000), 0.0),
        "trailer flood": (
            itertools.chain([trailers_head], itertools.repeat(b"X-T: 1\r\n" * 1000)),
            0.0,
        ),
    }
    if quick:
        peers = dict(itertools.islice(peers.items(), 1))
    return peers


def one_byte_chunks(body_size: int) -> dict[str, float]:
    """tracemalloc peak and RSS growth of one fetch of a body sent in 1-byte chunks."""
    from flagkit import AgentSource

    body = b"x" * body_size
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = head + b"1\r\nx\r\n" * body_size + b"0\r\n\r\n"
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    options = {"fetch_timeout": 600.0} if _has_fetch_timeout() else {}
    source = AgentSource(
        "shop", "prod", "flags", host="127.0.0.1", port=listener.getsockname()[1], **options
    )
    rss_before = _peak_rss()
    trace = os.environ.get("HOSTILE_TRACE") == "1"
    if trace:
        tracemalloc.start()
    started = time.monotonic()
    fetched = source.fetch()
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    assert fetched.body == body
    return {
        "seconds": elapsed,
        "peak_traced_mib": peak / 2**20,
        "rss_growth_mib": (_peak_rss() - rss_before) / 2**20,
    }


def file_source(size: int) -> dict[str, float]:
    """Peak RSS growth of FileSource.fetch() on a (sparse) file of ``size`` bytes."""
    from flagkit import FileSource, SourceError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flags.json"
        with path.open("wb") as fh:
            fh.truncate(size)
        rss_before = _peak_rss()
        started = time.monotonic()
        try:
            FileSource(path).fetch()
            outcome = 0.0
        except SourceError:
            outcome = 1.0
        elapsed = time.monotonic() - started
        return {
            "seconds": elapsed,
            "refused": outcome,
            "rss_growth_mib": (_peak_rss() - rss_before) / 2**20,
        }


def _has_fetch_timeout() -> bool:
    from flagkit import AgentSource

    return "fetch_timeout" in inspect.signature(AgentSource).parameters


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _in_child(measure: str, src: str | None, trace: bool = False) -> dict[str, float]:
    env = dict(os.environ, HOSTILE_TRACE="1" if trace else "0")
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(  # noqa: S603 - this script, in our interpreter
        [sys.executable, __file__, "--measure", measure, *(["--src", src] if src else [])],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--src", help="measure the flagkit in this directory instead")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.src:
        sys.path.insert(0, args.src)
    if args.measure == "chunks":
        print(json.dumps(one_byte_chunks(1 << 20)))
        return
    if args.measure == "file":
        print(json.dumps(file_source(200_000_000)))
        return

    import flagkit

    print(f"flagkit from {Path(flagkit.__file__).parent}")
    results: dict[str, tuple[float, str]] = {}
    threads = [
        threading.Thread(
            target=lambda name=name, p=p, pace=pace: results.__setitem__(name, hold_time(p, pace))
        )
        for name, (p, pace) in hostile_peers(args.quick).items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"\nHold time of AgentSource.fetch() (defaults; peers give up after {PEER_LIMIT_S} s):")
    for name, (elapsed, outcome) in sorted(results.items()):
        shown = f">= {elapsed:5.1f} s" if elapsed >= PEER_LIMIT_S else f"{elapsed:8.2f} s"
        print(f"  {name:24} {shown}  {outcome}")
    if args.quick:
        return
    chunks = _in_child("chunks", args.src)
    traced = _in_child("chunks", args.src, trace=True)
    print("\n1 MiB body in 1-byte chunks (6 MiB on the wire):")
    print(f"  peak RSS growth        {chunks['rss_growth_mib']:8.1f} MiB")
    print(f"  tracemalloc peak       {traced['peak_traced_mib']:8.1f} MiB")
    print(f"  fetch time             {chunks['seconds']:8.2f} s (untraced)")
    file = _in_child("file", args.src)
    print("\nFileSource.fetch() of a 200 MB file:")
    print(f"  peak RSS growth        {file['rss_growth_mib']:8.1f} MiB")
    print(f"  refused                {'yes' if file['refused'] else 'no (returned the body)'}")
    print(f"  time                   {file['seconds']:8.2f} s")


if __name__ == "__main__":
    main()
