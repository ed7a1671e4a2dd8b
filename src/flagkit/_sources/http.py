"""A minimal HTTP/1.1 GET client for a service on the same host (the AppConfig agent).

Why not ``http.client``: importing it costs 15-20 ms (it pulls in ``email`` and ``ssl``), paid
at every Lambda cold start, while this needs only ``socket``. It speaks exactly what a local
agent needs: GET on one kept-alive connection, ``Content-Length``, chunked or read-to-close
bodies, with caps on header and body sizes so a misbehaving peer cannot exhaust memory. No TLS,
no proxies, no redirects: none apply on localhost.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

__all__ = ["Disconnected", "LoopbackConnection", "ProtocolError", "Response"]

_MAX_LINE = 64 * 1024
_MAX_HEADERS = 100
# A guard against a runaway response only: the poller's Polling.max_bytes (1 MiB by default)
# refuses large documents with a precise error long before this.
MAX_BODY = 32 * 1024 * 1024


class ProtocolError(Exception):
    """The peer did not speak HTTP/1.x as expected."""


class Disconnected(ConnectionError):
    """The peer closed the connection before answering (e.g. an idle keep-alive timed out)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes


class LoopbackConnection:
    """One kept-alive connection, opened on first use and after the peer closes it."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()  # received, not yet consumed
        host_header = f"[{host}]" if ":" in host else host
        self._host_header = f"{host_header}:{port}"

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def get(self, path: str, headers: dict[str, str]) -> Response:
        """Send one GET and read the whole answer; on any error the connection is closed."""
        try:
            sock = self._sock
            if sock is None:
                sock = self._sock = socket.create_connection((self.host, self.port), self.timeout)
                self._buffer.clear()
            lines = [f"GET {path} HTTP/1.1", f"Host: {self._host_header}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            response, keep_alive = self._read_response()
        except BaseException:
            self.close(shutdown=False)
            raise
        if not keep_alive:
            self.close()
        return response

    def close(self, *, shutdown: bool = True) -> None:
        """Close the connection; ``shutdown`` also wakes a request blocked on it elsewhere.

        A forked child passes ``shutdown=False``: shutdown() would end the connection for the
        parent too, while close() releases only this process's descriptor.
        """
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if shutdown:
            with contextlib.suppress(OSError):  # already reset by the peer
                sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    # -- reading ------------------------------------------------------------------------------

    def _fill(self) -> bool:
        sock = self._sock
        if sock is None:  # closed by another thread mid-request
            raise Disconnected("connection closed locally")
        chunk = sock.recv(65536)
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end]).rstrip(b"\r")
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise ProtocolError("header line too long")
            if not self._fill():
                raise Disconnected("connection closed mid-response")

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise Disconnected("connection closed mid-body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read_response(self) -> tuple[Response, bool]:
        if not self._buffer and not self._fill():
            raise Disconnected("connection closed before any answer")
        while True:
            status_line = self._line().decode("latin-1")
            version, _, rest = status_line.partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:40]!r}")
            status = int(code)
            headers = self._headers()
            if not 100 <= status < 200:
                break  # 1xx interim answers (100 Continue) are skipped
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        if status in (204, 304):
            return Response(status, headers, b""), keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Response(status, headers, self._chunked()), keep_alive
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise ProtocolError(f"bad Content-Length {length[:20]!r}")
            size = int(length)
            if size > MAX_BODY:
                raise ProtocolError(f"response of {size} bytes is over {MAX_BODY}")
            return Response(status, headers, self._exactly(size)), keep_alive
        return Response(status, headers, self._until_closed()), False

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self._line()
            if not line:
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError("malformed header line")
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError(f"more than {_MAX_HEADERS} headers")

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ProtocolError(f"response over {MAX_BODY} bytes")
            parts.append(self._exactly(size))
            if self._exactly(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")

    def _until_closed(self) -> bytes:
        while True:
            if len(self._buffer) > MAX_BODY:
                raise ProtocolError(f"response over {MAX_BODY} bytes")
            if not self._fill():
                break
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
