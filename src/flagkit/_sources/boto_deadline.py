"""A total deadline for botocore calls, and a way to cut a blocked call short from another thread.

botocore has per-operation timeouts only: ``connect_timeout`` bounds each connect and
``read_timeout`` each socket read. A peer that sends one byte per read, or ``100 Continue``
after ``100 Continue``, or a TLS handshake a byte at a time, never trips them, so one call can
last for ever. Nothing in botocore's API hands out the socket of a call, and a blocked read
can only be ended by ``shutdown()`` on its socket.

So :func:`instrument` gives a client connection classes that report each socket they use to
the :class:`Deadline` active on the calling thread (and to nothing when none is active, so the
client behaves exactly as before for every other caller). The deadline keeps a duplicate of
each descriptor, which it owns, and a timer thread that shuts the connection down when time
runs out; :meth:`Deadline.cut` does the same at once, for ``close()``. A duplicate rather than
the socket object: TLS wraps the raw socket and detaches it before the handshake, and a
descriptor number of a connection that urllib3 closed could be reused by an unrelated socket.

This is the only module that reaches into botocore's connection pool (``_endpoint.http_session``
and its ``_pool_classes_by_scheme``). When those are not what botocore 1.x has had since 2015,
:func:`instrument` returns False and leaves the client alone; the deadline then still ends the
call between body chunks and backoff waits, but not inside one blocked read.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)

__all__ = ["Deadline", "instrument"]

log = logging.getLogger("flagkit")

_active = threading.local()  # .deadline: the Deadline of the call running on this thread


class Deadline:
    """The time limit of one fetch, and the switch that ends it early.

    Use as a context manager around the botocore calls of one fetch, on the thread that makes
    them. ``reason`` is None while the fetch may go on, and says why it was cut otherwise.
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []  # duplicates we own; closed on exit
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return 0.0 if self.reason is not None else max(0.0, self.at - self._clock())

    def cut(self, reason: str) -> None:
        """End the fetch now: shut its connections down, waking any read blocked on them."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)

    def attach(self, sock: socket.socket) -> None:
        """Watch a socket of this fetch (called by the instrumented connections)."""
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except (OSError, ValueError):  # already closed: nothing left to watch
            return
        with self._lock:
            self._socks.append(dup)
            cut = self.reason is not None
        if cut:  # cut while connecting: end this connection too
            _shutdown(dup)

    def forget(self) -> None:
        """In a forked child: drop our descriptors without touching the parent's connections.

        No lock: the child has one thread, and the lock may have been held at the fork.
        """
        self._lock = threading.Lock()
        socks, self._socks = self._socks, []
        self.reason = self.reason or "forked"
        for sock in socks:
            sock.close()  # close() of a duplicate releases only this process's descriptor

    def __enter__(self) -> Deadline:
        _active.deadline = self
        timer = threading.Timer(max(0.0, self.seconds), self.cut, args=("deadline",))
        timer.name = "flagkit-fetch-deadline"
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError:  # interpreter shutting down: no new threads; checks still apply
            return self
        self._timer = timer
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _active.deadline = None
        timer = self._timer
        if timer is not None:
            timer.cancel()
            timer.join()  # returns at once after cancel(); no thread outlives the fetch
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()


def _shutdown(sock: socket.socket) -> None:
    # shutdown() acts on the connection, which every descriptor of it shares: the read blocked
    # on urllib3's descriptor returns at once. close() would not wake it.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _report(sock: Any) -> None:
    deadline: Deadline | None = getattr(_active, "deadline", None)
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.attach(sock)


class _Reporting:
    """Connection mixin: report the raw socket when it is made, and the live one per request."""

    sock: Any

    def _new_conn(self) -> Any:  # urllib3's hook for a new TCP connection (1.26 and 2.x)
        sock = super()._new_conn()  # type: ignore[misc]
        _report(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self.sock is not None:  # a kept-alive connection: no _new_conn this time
            _report(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Reporting, AWSHTTPConnection):  # type: ignore[misc]  # botocore is untyped
    pass


class _HTTPSConnection(_Reporting, AWSHTTPSConnection):  # type: ignore[misc]
    pass


class _HTTPConnectionPool(AWSHTTPConnectionPool):  # type: ignore[misc]
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(AWSHTTPSConnectionPool):  # type: ignore[misc]
    ConnectionCls = _HTTPSConnection


_STOCK = {"http": AWSHTTPConnectionPool, "https": AWSHTTPSConnectionPool}
_OURS = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


def instrument(client: Any) -> bool:
    """Let deadlines watch the sockets of ``client``'s calls; True when they can.

    Changes nothing for calls made outside a :class:`Deadline`. Idempotent. A client whose
    pool classes someone else replaced is left alone (False).
    """
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    classes = getattr(session, "_pool_classes_by_scheme", None)
    if not isinstance(classes, dict):
        return False
    if all(classes.get(scheme) is ours for scheme, ours in _OURS.items()):
        return True
    if any(classes.get(scheme) is not stock for scheme, stock in _STOCK.items()):
        return False
    # In place: botocore's pool managers (and the proxy managers it makes later) hold this very
    # dict. Pools made before now keep their classes, so they are dropped (idle connections
    # only; the next call makes new ones).
    classes.update(_OURS)
    closer = getattr(session, "close", None)
    if callable(closer):
        closer()
    return True
