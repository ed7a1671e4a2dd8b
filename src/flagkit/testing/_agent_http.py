"""The local agent's HTTP face: requests in, ``Answer`` out (``http.server``, loopback only)."""

from __future__ import annotations

from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from flagkit.testing._loopback_server import LoopbackHTTPServer

if TYPE_CHECKING:
    from flagkit.testing._agent import LocalAppConfigAgent

__all__ = ["Answer", "Headers", "Server", "parse_path", "text"]


@dataclass(frozen=True, slots=True)
class Headers:
    """The request headers the agent reads."""

    authorization: str | None = None
    context: tuple[str, ...] = ()
    entity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def text(status: int, message: str) -> Answer:
    # The agent answers errors with text bodies (UG-old OpenAPI for the Lambda extension).
    return Answer(status, (("Content-Type", "text/plain"),), message.encode())


def parse_path(path: str) -> tuple[str, str, str] | None:
    parts = path.split("/")
    if (
        len(parts) != 7
        or parts[0]
        or (parts[1], parts[3], parts[5]) != ("applications", "environments", "configurations")
        or not all(parts[2::2])
    ):
        return None
    return unquote(parts[2]), unquote(parts[4]), unquote(parts[6])


class Server(LoopbackHTTPServer):
    """The loopback server, carrying the agent its handlers answer from."""

    def __init__(self, address: tuple[str, int], agent: LocalAppConfigAgent) -> None:
        self.agent = agent
        super().__init__(address, Handler, "flagkit-local-agent-conn")


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive, as AgentSource reuses its connection
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (~40 ms on Linux) and every kept-alive request would look slow.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "flagkit-local-agent"

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._reply()

    def do_POST(self) -> None:
        self._reply()

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        headers = Headers(
            self.headers.get("Authorization"),
            tuple(self.headers.get_all("Context") or ()),
            self.headers.get("Entity-Id"),
        )
        answer = self.server.agent._answer(self.command, self.path, headers)
        if answer is None:
            self.close_connection = True  # say nothing; the socket closes after this returns
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``LocalAppConfigAgent.requests`` instead of an access log."""
