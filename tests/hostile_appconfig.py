"""A hostile AppConfigData endpoint on 127.0.0.1, for deadline and size-cap tests.

StartConfigurationSession is answered properly; the first ``hostile`` GetLatestConfiguration
calls get the chosen misbehaviour, later ones a proper 200. Nothing here sleeps: the pace of a
drip is the timeout of a ``recv`` on the client's connection, which also tells the server at once
when the client hangs up (``recv`` returns b""). Every drip is bounded (``max_drips``), so a client
without a deadline still ends, with ``gave_up`` set, and a test can tell the two apart.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from typing import Any, Literal

Behaviour = Literal[
    "drip-body", "drip-headers", "endless-continue", "huge-body", "drip-handshake", "good"
]

GOOD_BODY = json.dumps({"checkout": {"enabled": True}}).encode()


class HostileAppConfig:
    """One listening socket; one thread per connection; ``close()`` ends them all."""

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        hostile: int = 1,
        drip_interval: float = 0.25,
        max_drips: int = 120,
        huge_bytes: int = 32 * 1024 * 1024,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """``tls``: (certificate, key) files to serve HTTPS with; ``drip-handshake`` needs it."""
        self.behaviour = behaviour
        self.cert = tls[0] if tls else None
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*tls)
        self.hostile = hostile
        self.drip_interval = drip_interval
        self.max_drips = max_drips
        self.huge_bytes = huge_bytes
        self.misbehaving = threading.Event()  # the first hostile byte has gone out
        self.client_gone = threading.Event()  # the client hung up while we misbehaved
        self.gave_up = threading.Event()  # we reached max_drips: the client never hung up
        self.bytes_sent = 0
        self.tokens: list[str] = []  # the token of each GetLatestConfiguration, in order
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        scheme = "https" if tls else "http"
        self.endpoint_url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._accepting = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._accepting.start()

    def client(self) -> Any:
        """A real boto3 client for this endpoint: one attempt per call, botocore's timeouts."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "appconfigdata",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # a fake for a fake server
            verify=self.cert or True,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=5,  # each drip comes well within it: only a total deadline helps
                proxies={},
            ),
        )

    # -- plumbing -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if self.behaviour == "drip-handshake":
                conn.recv(65536)  # the ClientHello; then a TLS record header, a byte at a time
                self._drip(conn, b"\x16")
            elif self._tls is not None:
                conn.settimeout(10)
                with self._tls.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(None)
                    self._answer(tls)
            else:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        """Answer the requests of one connection, the hostile way once its turn comes."""
        with contextlib.suppress(OSError):
            reader = conn.makefile("rb")
            while not self._closing.is_set():
                request = reader.readline()
                if not request:
                    return
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                reader.read(length)
                method, target = request.decode("latin-1").split()[:2]
                if method == "POST":
                    self._send(conn, 201, json.dumps({"InitialConfigurationToken": "t0"}).encode())
                    continue
                token = target.partition("configuration_token=")[2]
                with self._lock:
                    self.tokens.append(token)
                    turn = len(self.tokens)
                if turn > self.hostile or self.behaviour == "good":
                    self._send(conn, 200, GOOD_BODY, token=f"t{turn}")
                    continue
                self._misbehave(conn)
                return  # a hostile answer ends the connection

    def _send(self, conn: socket.socket, status: int, body: bytes, token: str = "") -> None:
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
        if token:
            head += [
                f"Next-Poll-Configuration-Token: {token}",
                "Next-Poll-Interval-In-Seconds: 0",
                "Content-Type: application/json",
            ]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _misbehave(self, conn: socket.socket) -> None:
        ok = "HTTP/1.1 200 OK\r\nNext-Poll-Configuration-Token: t-next\r\n"
        if self.behaviour == "drip-body":
            self._push(conn, (ok + "Content-Length: 1000000\r\n\r\n").encode())
            self._drip(conn, b"x")
        elif self.behaviour == "drip-headers":
            self._push(conn, (ok + "X-Padding: ").encode())
            self._drip(conn, b"a")
        elif self.behaviour == "endless-continue":
            self._drip(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        elif self.behaviour == "huge-body":
            self._push(conn, (ok + f"Content-Length: {self.huge_bytes}\r\n\r\n").encode())
            block = b"0" * 65536
            for _ in range(self.huge_bytes // len(block)):
                self._push(conn, block)  # raises once the client has gone: see _serve
            self.gave_up.set()

    def _push(self, conn: socket.socket, data: bytes) -> None:
        try:
            conn.sendall(data)
        except OSError:
            self.client_gone.set()
            raise
        with self._lock:
            self.bytes_sent += len(data)
        self.misbehaving.set()

    def _drip(self, conn: socket.socket, piece: bytes) -> None:
        """Send ``piece`` once per interval until the client hangs up or max_drips is reached."""
        conn.settimeout(self.drip_interval)
        for _ in range(self.max_drips):
            self._push(conn, piece)
            try:
                if conn.recv(1) == b"":  # FIN: the client shut the connection down
                    self.client_gone.set()
                    return
            except (TimeoutError, ssl.SSLWantReadError):
                continue  # the interval passed: drip again
            except OSError:
                self.client_gone.set()
                return
            if self._closing.is_set():
                return
        self.gave_up.set()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        self._accepting.join(5)
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> HostileAppConfig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
