"""A TCP proxy on loopback that loses the answer to a COMMIT, for PostgreSQL and MariaDB/MySQL.

It forwards every connection to the server, reading the client's stream as the wire protocol
frames it: PostgreSQL's messages (a simple-query ``Q`` message whose text is ``COMMIT``, or the
binding of the spend's one statement, which commits by itself in autocommit) or MySQL's packets
(a ``COM_QUERY`` of ``COMMIT``).  Once armed, the next COMMIT it sees is
forwarded to the server, and then the connection is dropped: either right after forwarding
(``wait_for_answer=False``: the server may or may not have committed), or once the server has
answered (the default: the server committed, and its answer never reaches the client).

PostgreSQL clients must connect with ``sslmode=disable`` and ``gssencmode=disable``, so that the
stream stays readable.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

from typing_extensions import Self

__all__ = ["CommitDroppingProxy"]

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_COM_QUERY = 3
#: The start of the one statement a spend runs in autocommit on PostgreSQL (its CTEs debit
#: the member, insert the transfer and the event): executing it commits.
_COMMITS_BY_ITSELF = b"WITH DEBIT AS"


class _PostgresFrames:
    """Splits a PostgreSQL client's stream into messages, and spots ``COMMIT``."""

    def __init__(self) -> None:
        self._buffer = b""
        self._untyped = True  # the startup message (and SSL/GSS requests) carry no type byte
        self._committing: set[bytes] = set()  # prepared statements that commit by themselves

    def feed(self, data: bytes) -> bool:
        """Take more of the stream; return whether a COMMIT message is complete in it."""
        self._buffer += data
        found = False
        while True:
            if self._untyped:
                if len(self._buffer) < 8:
                    return found
                length, code = struct.unpack("!ii", self._buffer[:8])
                if len(self._buffer) < length:
                    return found
                self._buffer = self._buffer[length:]
                self._untyped = code in (_SSL_REQUEST, _GSSENC_REQUEST)
                continue
            if len(self._buffer) < 5:
                return found
            kind = self._buffer[:1]
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return found
            body = self._buffer[5 : 1 + length]
            self._buffer = self._buffer[1 + length :]
            if kind == b"Q" and body.rstrip(b"\0").strip().upper() == b"COMMIT":
                found = True
            elif kind == b"P":
                # Parse: the statement's name, then its text.  A statement that commits by
                # itself (the spend's one statement, run in autocommit) counts as a COMMIT.
                name, _, rest = body.partition(b"\0")
                if rest.lstrip().upper().startswith(_COMMITS_BY_ITSELF):
                    self._committing.add(name)
            elif kind == b"B":
                # Bind: the portal's name, then the statement's.
                _portal, _, rest = body.partition(b"\0")
                statement, _, _ = rest.partition(b"\0")
                if statement in self._committing:
                    found = True


class _MysqlFrames:
    """Splits a MySQL client's stream into packets, and spots ``COM_QUERY COMMIT``."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> bool:
        """Take more of the stream; return whether a COMMIT packet is complete in it."""
        self._buffer += data
        found = False
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:3], "little")
            if len(self._buffer) < 4 + length:
                break
            payload = self._buffer[4 : 4 + length]
            self._buffer = self._buffer[4 + length :]
            if payload[:1] == bytes([_COM_QUERY]) and payload[1:].strip().upper() == b"COMMIT":
                found = True
        return found


class _Link:
    """One client connection and its connection to the server, pumped by two threads."""

    def __init__(self, proxy: CommitDroppingProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = socket.create_connection(proxy.target, timeout=30)
        self.server.settimeout(None)
        self.frames = _PostgresFrames() if proxy.protocol == "postgresql" else _MysqlFrames()
        self.dropping = False
        self._noted = threading.Lock()
        self.closed = threading.Event()
        for pump in (self._upstream, self._downstream):
            threading.Thread(target=pump, daemon=True).start()

    def drop(self) -> None:
        """Drop the connection after a COMMIT, and count it (once)."""
        if self._noted.acquire(blocking=False):  # the first of the two pumps to get here
            self.proxy.note_dropped()
        self.close()

    def close(self) -> None:
        """Drop both sides (the client sees the connection closed by the server)."""
        if self.closed.is_set():
            return
        self.closed.set()
        for side in (self.client, self.server):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                side.close()

    def _upstream(self) -> None:
        try:
            while not self.closed.is_set():
                data = self.client.recv(65536)
                if not data:
                    break
                commit = self.frames.feed(data)
                drop = commit and self.proxy.take_drop()
                if drop:
                    self.dropping = True  # before the server can answer
                self.server.sendall(data)
                if drop and not self.proxy.wait_for_answer:
                    self.drop()
                    return
        except OSError:
            pass
        self.close()

    def _downstream(self) -> None:
        try:
            while not self.closed.is_set():
                data = self.server.recv(65536)
                if not data:
                    break
                if self.dropping:  # the answer to COMMIT: lost on the way
                    self.drop()
                    return
                self.client.sendall(data)
        except OSError:
            pass
        self.close()


class CommitDroppingProxy:
    """Forwards loopback connections to ``target``; loses the answer to armed COMMITs.

    Args:
        target: the server's (host, port).
        protocol: ``"postgresql"`` or ``"mysql"``.
        wait_for_answer: drop once the server answered COMMIT (it committed), rather than
            right after forwarding it (it may not have).

    Use it as a context manager; :attr:`port` is where clients connect.
    """

    def __init__(
        self, target: tuple[str, int], protocol: str, *, wait_for_answer: bool = True
    ) -> None:
        if protocol not in ("postgresql", "mysql"):
            raise ValueError(f"unknown protocol {protocol!r}")
        self.target = target
        self.protocol = protocol
        self.wait_for_answer = wait_for_answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed = 0
        self._dropped = 0
        self._links: list[_Link] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._accepting.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, and drop every connection."""
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def arm(self, times: int = 1) -> None:
        """Lose the answer to the next ``times`` COMMITs, whichever connection sends them."""
        with self._lock:
            self._armed += times

    @property
    def dropped(self) -> int:
        """How many connections were dropped after a COMMIT so far."""
        with self._lock:
            return self._dropped

    def take_drop(self) -> bool:
        """Whether this COMMIT is to be lost (and one fewer is armed)."""
        with self._lock:
            if self._armed <= 0:
                return False
            self._armed -= 1
            return True

    def note_dropped(self) -> None:
        """Count a dropped connection."""
        with self._lock:
            self._dropped += 1

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            try:
                link = _Link(self, client)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._links = [k for k in self._links if not k.closed.is_set()]
                self._links.append(link)
