"""The socket around the local AppConfig (control plane and AppConfigData).

A ``ThreadingHTTPServer`` with one daemon thread per connection, which remembers its
connections so that ``close()`` can end idle keep-alive ones and join their threads.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from flagkit.testing._appconfigdata_service import _Service
from flagkit.testing._loopback_server import LoopbackHTTPServer


class HTTPServer(LoopbackHTTPServer):
    """The loopback server, carrying the service its handlers answer from."""

    def __init__(self, address: tuple[str, int], service: _Service) -> None:
        self.service = service
        super().__init__(address, _Handler, "flagkit-local-appconfigdata-conn")


class _Headers(dict[str, str]):
    """Request headers looked up without regard to case, as HTTP means them."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__((k.lower(), v) for k, v in headers.items())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    server: HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    def version_string(self) -> str:
        return "flagkit-local-appconfigdata"

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:  # StopDeployment
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
        headers = {name: self.headers[name] for name in self.headers}  # email.Message: any case
        reply = self.server.service.handle(self.command, self.path, body, _Headers(headers))
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
