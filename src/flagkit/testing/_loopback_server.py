"""The HTTP server shared by the loopback fakes (AppConfigData and the AppConfig Agent).

A ``ThreadingHTTPServer`` with one daemon thread per connection that remembers its
connections, so that ``close()`` can end idle keep-alive ones and join their threads within a
deadline, and that treats a client hanging up as normal rather than an error.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

__all__ = ["LoopbackHTTPServer"]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its connections, so close() can end them."""

    daemon_threads = True  # never hold up interpreter exit
    block_on_close = False  # we join our own threads, with a deadline

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], thread_name: str
    ) -> None:
        self._thread_name = thread_name
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self._dropping = False
        super().__init__(address, handler)

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
            name=f"{self._thread_name}:{self.server_port}",
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
        if self._dropping or isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
