"""The socket around the local AppConfigData service.

A ``ThreadingHTTPServer`` with one daemon thread per connection, which remembers its
connections so that ``close()`` can end idle keep-alive ones and join their threads.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

from flagkit.testing._appconfigdata_service import _Service


class HTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its connections, so close() can end them."""

    daemon_threads = True  # never hold up interpreter exit
    block_on_close = False  # we join our own threads, with a deadline

    def __init__(self, address: tuple[str, int], service: _Service) -> None:
        self.service = service
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self._dropping = False
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look up the host's FQDN, a DNS query we do not need.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        assert isinstance(request, socket.socket)  # TCP only
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"flagkit-local-appconfigdata-conn:{self.server_port}",
            daemon=True,
        )
        with self._connections_lock:
            if self._dropping:
                self.shutdown_request(request)
                return
            self._connections[request] = thread
            # Started under the lock so drop_connections() never sees an unstarted thread.
            thread.start()

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.pop(request, None)
        super().shutdown_request(request)

    def drop_connections(self) -> list[threading.Thread]:
        """Shut every open connection so idle keep-alive handlers return; their threads."""
        with self._connections_lock:
            self._dropping = True
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in connections]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) or a close() mid-answer is not an error.
        error = sys.exc_info()[1]
        if self._dropping or isinstance(error, ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    def version_string(self) -> str:
        return "flagkit-local-appconfigdata"

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        reply = self.server.service.handle(self.command, self.path, body)
        if reply.drop:
            self.close_connection = True  # say nothing; the socket closes after this returns
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read ``LocalAppConfigData.calls`` instead of an access log."""
