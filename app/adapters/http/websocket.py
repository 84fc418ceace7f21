"""The server side of a WebSocket: the handshake checks and a frame reader that enforces the size limit.

gevent-websocket 0.10.1 reads a whole frame, however large it claims to be,
before anyone can look at it: one 100 MB frame costs 100 MB of memory and
seconds of pure-Python unmasking in the worker that every client shares.
``ServerWebSocket`` checks the length in the frame header first, so a frame
(or a fragmented message, in total) over ``MAX_MESSAGE_BYTES`` is refused
with close code 1009 before a byte of its payload is read. Its ``close``
also sends the code and reason, which the library's own drops.
"""

import base64
import binascii
import contextlib
import hashlib
import socket
import struct
from collections.abc import Mapping

import gevent
from geventwebsocket.exceptions import ProtocolError, WebSocketError
from geventwebsocket.websocket import Header, WebSocket

# The environ key under which the server offers the upgrade to the application.
UPGRADE_KEY = "marketflow.switch_protocols"
VERSION = "13"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 4096
MESSAGE_TOO_BIG = 1009
# After refusing a message: what we read and drop so our close frame isn't lost to a reset.
LINGER_BYTES, LINGER_SECONDS = 1024 * 1024, 1.0


class HandshakeError(Exception):
    """A request that can't become a WebSocket: answered with ``status`` and a JSON error."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def accept_key(protocol: str, headers: Mapping[str, str]) -> str:
    """``Sec-WebSocket-Accept`` for a valid RFC 6455 opening handshake; ``HandshakeError`` otherwise.

    The routing already required ``GET``, ``Upgrade: websocket`` and ``Connection: Upgrade``.
    """
    if protocol != "HTTP/1.1":
        raise HandshakeError(400, f"a WebSocket handshake needs HTTP/1.1, not {protocol[:20]}")
    version = headers.get("Sec-WebSocket-Version")
    if version != VERSION:
        problem = "missing Sec-WebSocket-Version" if version is None else f"unsupported version {version[:20]!r}"
        raise HandshakeError(
            426, f"{problem}: this server speaks WebSocket version {VERSION}", {"Sec-WebSocket-Version": VERSION}
        )
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        what = "missing Sec-WebSocket-Key" if not key else "invalid Sec-WebSocket-Key"
        raise HandshakeError(400, f"{what}: it must be 16 random bytes in base64")
    return base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")


class MessageTooBig(Exception):
    """Not a socket error, so it passes through the library's ``receive`` to ours."""


class ServerWebSocket(WebSocket):
    __slots__ = ("_message_bytes",)

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._message_bytes = 0

    def read_frame(self) -> tuple[Header, bytes]:
        header = Header.decode_header(self.stream)
        if header.flags:
            raise ProtocolError("reserved bits set")
        if not header.mask:
            raise ProtocolError("client frames must be masked")
        if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY):
            self._message_bytes = 0
        if header.opcode in (self.OPCODE_TEXT, self.OPCODE_BINARY, self.OPCODE_CONTINUATION):
            self._message_bytes += header.length
            if self._message_bytes > MAX_MESSAGE_BYTES:
                raise MessageTooBig(f"message too big (limit {MAX_MESSAGE_BYTES} bytes)")
        payload = self.raw_read(header.length) if header.length else b""
        if len(payload) != header.length:
            raise WebSocketError("unexpected end of stream in a frame payload")
        return header, header.unmask_payload(payload) if header.length else payload

    def receive(self) -> str | bytes | None:
        """The next message; None once the connection is closed (a message too big closes it with 1009)."""
        try:
            return super().receive()
        except MessageTooBig as exc:
            self.close(MESSAGE_TOO_BIG, str(exc))
            self._linger()
            return None

    def _linger(self) -> None:
        """Half-close, then drop what the client is still sending, within bounds.

        Closing a socket with unread data resets the connection, and the
        reset can discard our close frame before the client reads it. Every
        chunk yields, so a fast sender can't hold the worker.
        """
        sock = self.handler.socket
        drained = 0
        with contextlib.suppress(OSError), gevent.Timeout(LINGER_SECONDS, False):
            sock.shutdown(socket.SHUT_WR)
            while drained < LINGER_BYTES and (chunk := sock.recv(65536)):
                drained += len(chunk)
                gevent.sleep(0)

    def close(self, code: int = 1000, message: bytes | str = b"") -> None:
        """Send one close frame with ``code`` and ``message``; the socket is the handler's to close."""
        if self.closed:
            return
        reason = message.encode() if isinstance(message, str) else bytes(message or b"")
        try:
            self.send_frame(struct.pack("!H", code) + reason[:123], self.OPCODE_CLOSE)
        except WebSocketError:
            pass
        finally:
            self.closed = True
