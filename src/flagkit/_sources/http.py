"""A minimal HTTP/1.1 GET client for a service on the same host (the AppConfig agent).

Why not ``http.client``: importing it costs 15-20 ms (it pulls in ``email`` and ``ssl``), paid
at every Lambda cold start, while this needs only ``socket``. It speaks exactly what a local
agent needs: GET on one kept-alive connection, ``Content-Length``, chunked or read-to-close
bodies. No TLS, no proxies, no redirects: none apply on localhost.

A misbehaving peer is bounded three ways: in memory (line, header and body caps; a chunked body
grows one ``bytearray``, not one object per chunk), in time (a total deadline per request: the
socket timeout alone restarts with every byte that arrives), and in what it can make us raise
(numbers are ASCII digits or hex only, never signed; everything wrong is a ``ProtocolError``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

__all__ = ["DeadlineExceeded", "Disconnected", "LoopbackConnection", "ProtocolError", "Response"]

_MAX_LINE = 64 * 1024
_MAX_HEADERS = 100  # and as many trailer lines after a chunked body
_MAX_INTERIM = 8  # 1xx answers before the real one (RFC 9110 15.2 allows several; 8 is plenty)
_DIGITS = b"0123456789"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
# A guard against a runaway response only: the poller's Polling.max_bytes (1 MiB by default)
# refuses large documents with a precise error long before this.
MAX_BODY = 32 * 1024 * 1024


class ProtocolError(Exception):
    """The peer did not speak HTTP/1.x as expected."""


class Disconnected(ConnectionError):
    """The peer closed the connection before answering (e.g. an idle keep-alive timed out)."""


class DeadlineExceeded(TimeoutError):
    """The whole answer did not arrive before the request's deadline."""


def _number(text: bytes, digits: bytes, base: int, what: str) -> int:
    """``text`` as a non-negative integer of ASCII ``digits``, else ProtocolError.

    ``int()`` alone is too lenient for the wire: it takes signs, ``0x``, ``_`` separators and
    non-ASCII digits (``str.isdigit()`` says yes to "²", which ``int()`` then refuses with a
    ValueError). At most 16 digits: enough for any size, and far below int's 4,300-digit limit.
    """
    if not text or len(text) > 16 or text.translate(None, digits):
        raise ProtocolError(f"bad {what} {text[:20]!r}")
    return int(text, base)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes


class LoopbackConnection:
    """One kept-alive connection, opened on first use and after the peer closes it."""

    def __init__(self, host: str, port: int, *, timeout: float, total: float | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout  # per connect, send or read
        self.total = 2 * timeout if total is None else total  # per request, unless get() says
        self._sock: socket.socket | None = None
        self._buffer = bytearray()  # received, not yet consumed
        self._deadline = 0.0  # the current request's, as time.monotonic()
        host_header = f"[{host}]" if ":" in host else host
        self._host_header = f"{host_header}:{port}"

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def get(self, path: str, headers: dict[str, str], *, deadline: float | None = None) -> Response:
        """Send one GET and read the whole answer; on any error the connection is closed.

        ``deadline`` is a ``time.monotonic()`` instant (default: ``total`` seconds from now):
        connecting, sending and every read wait at most ``timeout`` and never past it (then
        :class:`DeadlineExceeded`).
        """
        if deadline is None:
            deadline = time.monotonic() + self.total
        self._deadline = deadline
        try:
            sock = self._sock
            if sock is None:
                sock = socket.create_connection((self.host, self.port), self._wait())
                self._sock = sock
                self._buffer.clear()
            lines = [f"GET {path} HTTP/1.1", f"Host: {self._host_header}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            sock.settimeout(self._wait())
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            response, keep_alive = self._read_response()
        except TimeoutError as exc:
            self.close(shutdown=False)
            if isinstance(exc, DeadlineExceeded) or time.monotonic() < deadline:
                raise
            raise DeadlineExceeded("no complete answer before the deadline") from exc
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

    def _wait(self) -> float:
        """How long the next socket operation may block: ``timeout``, cut at the deadline."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("no complete answer before the deadline")
        return min(self.timeout, remaining)

    def _fill(self) -> bool:
        sock = self._sock
        if sock is None:  # closed by another thread mid-request
            raise Disconnected("connection closed locally")
        sock.settimeout(self._wait())
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

    def _take(self, size: int, into: bytearray, end: bytes = b"") -> None:
        """Move the next ``size`` bytes of the stream to the end of ``into``.

        ``end`` must follow them (a chunk's CRLF); it is checked and dropped.
        """
        buffer = self._buffer
        need = size + len(end)
        while len(buffer) < need:
            if not self._fill():
                raise Disconnected("connection closed mid-body")
        if end and buffer[size:need] != end:
            raise ProtocolError(f"data not followed by {end!r}")
        if size <= 4096:
            into += buffer[:size]
        else:  # no temporary copy of a large piece
            with memoryview(buffer) as view:
                into += view[:size]
        del buffer[:need]

    def _read_response(self) -> tuple[Response, bool]:
        if not self._buffer and not self._fill():
            raise Disconnected("connection closed before any answer")
        for _ in range(_MAX_INTERIM + 1):
            status_line = self._line()
            # HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 4): peers often drop the last SP
            version, _, rest = status_line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or len(code) != 3 or rest[3:4] not in (b"", b" "):
                raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:40]!r}")
            status = _number(code, _DIGITS, 10, "status code")
            headers = self._headers()
            if not 100 <= status < 200:
                break  # 1xx interim answers (100 Continue) are skipped
        else:
            raise ProtocolError(f"more than {_MAX_INTERIM} interim (1xx) answers")
        connection = headers.get("connection", "").lower()
        if version == b"HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        if status in (204, 304):
            return Response(status, headers, b""), keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Response(status, headers, self._chunked()), keep_alive
        length = headers.get("content-length")
        if length is not None:
            size = _number(length.encode("latin-1"), _DIGITS, 10, "Content-Length")
            if size > MAX_BODY:
                raise ProtocolError(f"response of {size} bytes is over {MAX_BODY}")
            body = bytearray()
            self._take(size, body)
            return Response(status, headers, bytes(body)), keep_alive
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
        # One buffer for the whole body: a list of chunks cost ~140 times the body in 1-byte
        # chunks (an object, a list slot and allocator overhead per byte).
        body = bytearray()
        while True:
            # chunk-size [ BWS ";" chunk-ext ]; the size is 1*HEXDIG (RFC 9112 7.1)
            size_text = self._line().split(b";", 1)[0].rstrip(b" \t")
            size = _number(size_text, _HEX_DIGITS, 16, "chunk size")
            if size == 0:
                self._headers()  # trailers, up to the blank line, capped like headers
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise ProtocolError(f"response over {MAX_BODY} bytes")
            self._take(size, body, b"\r\n")

    def _until_closed(self) -> bytes:
        while True:
            if len(self._buffer) > MAX_BODY:
                raise ProtocolError(f"response over {MAX_BODY} bytes")
            if not self._fill():
                break
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
