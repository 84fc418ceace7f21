"""HTTP CONNECT tunnels, done here rather than by PySocks.

Exchange programs speak first: their first lines can reach us in the same
read as the proxy's ``200`` reply. PySocks reads that reply through a
buffered file and throws the buffer away, and those lines with it. This reads
the reply with ``MSG_PEEK`` and then takes exactly the reply's bytes off the
socket, so whatever follows the blank line stays in the socket for the feed,
or for TLS on top of it.
"""

import base64

from gevent import socket

from app.domain.proxy_endpoint import ProxyEndpoint

# A CONNECT reply is a status line and a few headers; anything longer is not a proxy talking.
MAX_REPLY_BYTES = 16_384
END_OF_HEADERS = b"\r\n\r\n"


class ProxyRefused(OSError):
    """The proxy answered the CONNECT with something other than 2xx, or not as an HTTP proxy."""


def open_tunnel(proxy: ProxyEndpoint, host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected through ``proxy`` to ``host:port``, with nothing of the tunnel's data consumed."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    try:
        sock.sendall(_request(proxy, host, port))
        status_line = _read_reply(sock).split(b"\r\n", 1)[0].decode("latin-1")
    except BaseException:
        sock.close()
        raise
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].startswith("2"):
        sock.close()
        raise ProxyRefused(f"proxy refused CONNECT: {status_line[:100]!r}")
    return sock


def _request(proxy: ProxyEndpoint, host: str, port: int) -> bytes:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.username:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_reply(sock: socket.socket) -> bytes:
    """The reply head up to and including its blank line, leaving every later byte unread.

    Peek at what has arrived; if the blank line is in it, take exactly up to
    there, else take all of it (it is all head) and wait for more.
    """
    head = b""
    while True:
        peeked = sock.recv(MAX_REPLY_BYTES, socket.MSG_PEEK)
        if not peeked:
            raise ProxyRefused("proxy closed the connection before answering CONNECT")
        end = (head + peeked).find(END_OF_HEADERS)
        wanted = end + len(END_OF_HEADERS) - len(head) if end >= 0 else len(peeked)
        head += _recv_exactly(sock, wanted)
        if end >= 0:
            return head
        if len(head) > MAX_REPLY_BYTES:
            raise ProxyRefused("proxy reply to CONNECT is too long")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ProxyRefused("proxy closed the connection while answering CONNECT")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
