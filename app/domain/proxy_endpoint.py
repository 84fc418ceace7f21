"""Proxy URLs: ``http://[user:pass@]host:port`` (HTTP CONNECT) or ``socks5://...``."""

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from app.domain.errors import DomainError

SCHEMES = ("http", "socks5")


class InvalidProxy(DomainError):
    """A proxy URL we can't use; the message never repeats its credentials."""


@dataclass(frozen=True)
class ProxyEndpoint:
    scheme: str
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def masked(self) -> str:
        """The URL with the password replaced: the only form that is ever shown."""
        credentials = f"{self.username}:***@" if self.username else ""
        return f"{self.scheme}://{credentials}{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The full URL, credentials included: for the shared control state only, never for display."""
        credentials = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@" if self.username else ""
        return f"{self.scheme}://{credentials}{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.masked


def parse_proxy_url(url: str) -> ProxyEndpoint:
    if not isinstance(url, str):
        raise InvalidProxy("a proxy must be a URL string")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidProxy("invalid proxy URL: bad port") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidProxy(f"proxy URL must start with http:// or socks5://, got {scheme or 'no scheme'!r}")
    if not parts.hostname or port is None:
        raise InvalidProxy("proxy URL needs a host and a port, e.g. socks5://proxy.example:1080")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxy("proxy URL must be scheme://[user:pass@]host:port with nothing after the port")
    return ProxyEndpoint(scheme, parts.hostname, port, unquote(parts.username or ""), unquote(parts.password or ""))
