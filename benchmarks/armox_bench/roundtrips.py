"""A loopback TCP proxy that counts round trips and statements between a driver and its server.

A *round trip* is a turn of the conversation: the client sends something after having
received something (or for the first time).  Whatever the client sends before the server
answers (a pipeline, a message split over several packets) is one turn.  That is what a client
pays a network's latency for, whatever the protocol, so turns are counted on the bytes alone.

*Statements* are counted on the client's stream, framed as the wire protocol frames it, so the
count does not depend on how the client sends them (through SQLAlchemy or its driver directly):

* PostgreSQL: each simple-query message (``Q``) and each ``Execute`` of the extended protocol
  (``E``).  Clients must connect with ``sslmode=disable`` and ``gssencmode=disable`` so that
  the stream stays readable.
* MariaDB/MySQL: each ``COM_QUERY`` and ``COM_STMT_EXECUTE`` command packet.

A statement whose text is ``BEGIN``, ``START TRANSACTION``, ``COMMIT`` or ``ROLLBACK`` counts as
*control*, apart from the others.

Use the proxy only to count, in a pass of its own: its forwarding threads share the interpreter
with the code being measured, so nothing timed should go through it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["RoundTripProxy", "Tally"]

_CHUNK = 65536
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_COM_QUERY = 0x03
_COM_STMT_EXECUTE = 0x17
_CONTROL = (b"BEGIN", b"START TRANSACTION", b"COMMIT", b"ROLLBACK")


def _is_control(text: bytes) -> bool:
    return text.strip().rstrip(b"\0").strip().upper().startswith(_CONTROL)


class Tally:
    """What the proxy has counted so far (every connection's, added up)."""

    def __init__(self, turns: int = 0, statements: int = 0, control: int = 0) -> None:
        self.turns = turns
        self.statements = statements
        self.control = control

    def __sub__(self, other: Tally) -> Tally:
        return Tally(
            self.turns - other.turns,
            self.statements - other.statements,
            self.control - other.control,
        )


class _PostgresClient:
    """Frames a PostgreSQL client's stream into messages and counts its statements."""

    def __init__(self, tally: Tally) -> None:
        self._buffer = b""
        self._untyped = True  # the startup message (and SSL/GSS requests) carry no type byte
        self._tally = tally

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._untyped:
                if len(self._buffer) < 8:
                    return
                length, code = struct.unpack("!ii", self._buffer[:8])
                if len(self._buffer) < length:
                    return
                self._buffer = self._buffer[length:]
                self._untyped = code in (_SSL_REQUEST, _GSSENC_REQUEST)
                continue
            if len(self._buffer) < 5:
                return
            kind = self._buffer[:1]
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return
            body = self._buffer[5 : 1 + length]
            self._buffer = self._buffer[1 + length :]
            if kind == b"Q":
                if _is_control(body):
                    self._tally.control += 1
                else:
                    self._tally.statements += 1
            elif kind == b"E":
                self._tally.statements += 1


class _MysqlClient:
    """Frames a MySQL client's stream into packets and counts its command packets."""

    def __init__(self, tally: Tally) -> None:
        self._buffer = b""
        self._tally = tally

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:3], "little")
            sequence = self._buffer[3]
            if len(self._buffer) < 4 + length:
                return
            payload = self._buffer[4 : 4 + length]
            self._buffer = self._buffer[4 + length :]
            if sequence != 0 or not payload:
                continue  # the handshake's answers, or a continuation
            if payload[0] == _COM_QUERY:
                if _is_control(payload[1:]):
                    self._tally.control += 1
                else:
                    self._tally.statements += 1
            elif payload[0] == _COM_STMT_EXECUTE:
                self._tally.statements += 1


class _Conversation:
    """One client connection: its turns, and the framer of its client's stream."""

    def __init__(self, protocol: str, tally: Tally, lock: threading.Lock) -> None:
        self.lock = lock
        self.tally = tally
        self.server_spoke_last = True  # so the client's first message counts as a turn
        framer = _PostgresClient if protocol == "postgresql" else _MysqlClient
        self.framer = framer(tally)

    def client_sends(self, data: bytes) -> None:
        with self.lock:
            if self.server_spoke_last:
                self.tally.turns += 1
                self.server_spoke_last = False
            self.framer.feed(data)

    def server_sends(self, data: bytes) -> None:
        with self.lock:
            self.server_spoke_last = True


class RoundTripProxy:
    """Forward connections from a port on 127.0.0.1 to ``host:port``, counting as it goes.

    Use as a context manager; point the driver at :attr:`port` on 127.0.0.1, and read
    :meth:`tally` before and after the work to count.

    Args:
        host: the server's address (a local server: the proxy listens on loopback only).
        port: the server's port.
        protocol: ``postgresql`` or ``mariadb`` (how to find statements in the stream).
    """

    def __init__(self, host: str, port: int, protocol: str) -> None:
        if protocol not in ("postgresql", "mariadb"):
            raise ValueError(f"no wire protocol {protocol!r}")
        self._target = (host, port)
        self._protocol = protocol
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._tally = Tally()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name="round-trip-proxy", daemon=True)

    def __enter__(self) -> RoundTripProxy:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def tally(self) -> Tally:
        """A copy of the counts so far."""
        with self._lock:
            return Tally(self._tally.turns, self._tally.statements, self._tally.control)

    def close(self) -> None:
        """Stop accepting and close every forwarded connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conversation = _Conversation(self._protocol, self._tally, self._lock)
            with self._lock:
                self._sockets.extend((client, server))
            for source, sink, note in (
                (client, server, conversation.client_sends),
                (server, client, conversation.server_sends),
            ):
                threading.Thread(target=_pump, args=(source, sink, note), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, note: Callable[[bytes], None]) -> None:
    """Copy ``source`` to ``sink``, noting each chunk *before* forwarding it (so a turn is
    counted before the other side can answer it)."""
    try:
        while True:
            data = source.recv(_CHUNK)
            if not data:
                break
            note(data)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
