"""The proxy settings every process shares: whether and how feed connections go through a proxy."""

from dataclasses import dataclass

from app.domain.proxy_endpoint import ProxyEndpoint


@dataclass
class ProxySettings:
    """Changed in place at runtime (/proxy/*, or another process's change): the router holds this very object, so
    its next route decision follows the change."""

    enabled: bool
    mode: str  # "static", "rotating" or "disabled"
    policy: str  # "fallback" or "only"
    proxies: list[ProxyEndpoint]
    static: ProxyEndpoint | None
    bench_seconds: float
    direct_retry_seconds: float
