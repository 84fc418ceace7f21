"""Which way each feed connection goes: direct, or through which proxy.

Policies:
- ``fallback``: direct first; when the exchange can't be reached directly,
  the same attempt goes on through the proxies, and direct is tried again
  ``direct_retry_seconds`` later.
- ``only``: proxies and nothing else, even when every proxy is down.

Modes: ``static`` always uses one chosen proxy; ``rotating`` starts each
connection at the next proxy of the list and moves on when one fails; a
failed proxy is benched for ``bench_seconds`` before it is tried again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain.proxy_endpoint import ProxyEndpoint
from app.domain.proxy_settings import ProxySettings

Route = ProxyEndpoint | None  # None is the direct path
DIRECT = None


@dataclass
class _SourceRoute:
    route: Route = DIRECT
    connected: bool = False  # ``route`` has carried a connection since the settings last changed
    direct_failed_at: float = float("-inf")
    last_error: str = ""


@dataclass
class ProxyRouter:
    settings: ProxySettings
    clock: Callable[[], float] = time.monotonic
    _next: int = 0
    _benched_until: dict[ProxyEndpoint, float] = field(default_factory=dict)
    failures: dict[ProxyEndpoint, int] = field(default_factory=dict)
    _sources: dict[str, _SourceRoute] = field(default_factory=dict)
    # Why each proxy last failed: what an attempt left without a route says.
    _why: dict[ProxyEndpoint, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.settings.enabled and self.settings.mode != "disabled"

    def routes(self, source: str) -> list[Route]:
        """The routes to try, in order, for one connection attempt of ``source``."""
        if not self.active:
            return [DIRECT]
        proxies = self._candidates()
        if self.settings.policy == "only":
            return list(proxies)
        state = self._sources.setdefault(source, _SourceRoute())
        if self.clock() - state.direct_failed_at >= self.settings.direct_retry_seconds:
            return [DIRECT, *proxies]
        return [*proxies, DIRECT]

    def _candidates(self) -> list[ProxyEndpoint]:
        settings = self.settings
        if settings.mode == "static":
            return [settings.static] if settings.static else []
        now = self.clock()
        count = len(settings.proxies)
        start, self._next = self._next, (self._next + 1) % max(count, 1)
        ordered = [settings.proxies[(start + i) % count] for i in range(count)]
        return [p for p in ordered if self._benched_until.get(p, float("-inf")) <= now]

    def succeeded(self, source: str, route: Route) -> None:
        state = self._sources.setdefault(source, _SourceRoute())
        state.route, state.connected = route, True

    def failed(self, source: str, route: Route, error: str = "") -> None:
        """``error`` says why, for /proxy/status while ``source`` has no working route."""
        state = self._sources.setdefault(source, _SourceRoute())
        state.last_error = error or state.last_error
        if route is DIRECT:
            state.direct_failed_at = self.clock()
            return
        self.failures[route] = self.failures.get(route, 0) + 1
        self._benched_until[route] = self.clock() + self.settings.bench_seconds
        self._why[route] = error or self._why.get(route, "")

    def no_route(self) -> str:
        """Why an attempt has no route left (``only``, every proxy benched): each proxy's own last failure, so
        a proxy refusing our credentials says so however long it sits benched."""
        why = "; ".join(self._why.get(proxy) or proxy.masked for proxy in self.benched())
        return "proxy only, and every proxy is benched after failing" + (f": {why}" if why else "")

    def carried(self, source: str) -> ProxyEndpoint | None:
        """The proxy that carried ``source``'s last connection, if one did since the settings last changed and it
        is not benched already (known to have failed)."""
        state = self._sources.get(source)
        if state is None or not state.connected or state.route is DIRECT or state.route in self.benched():
            return None
        return state.route

    def due_for_direct(self) -> list[str]:
        """Sources on a proxy under ``fallback`` whose direct retry time has come."""
        if not self.active or self.settings.policy != "fallback":
            return []
        now = self.clock()
        return [
            name
            for name, state in self._sources.items()
            if state.connected
            and state.route is not DIRECT
            and now - state.direct_failed_at >= self.settings.direct_retry_seconds
        ]

    def current(self, source: str) -> Route:
        state = self._sources.get(source)
        return state.route if state else DIRECT

    def route_name(self, source: str) -> str:
        """What /proxy/status shows: ``direct``, the masked proxy, or that there is no route yet and why."""
        if not self.active:
            return "direct"
        state = self._sources.get(source)
        if state is None or not state.connected:
            why = state.last_error if state is not None and state.last_error else "no connection attempt has succeeded"
            return f"none yet: {why}"
        return "direct" if state.route is DIRECT else state.route.masked

    def benched(self) -> list[ProxyEndpoint]:
        now = self.clock()
        return [proxy for proxy, until in self._benched_until.items() if until > now]

    def reset(self) -> None:
        """Forget routes, benches and direct failures: the settings changed."""
        self._sources.clear()
        self._benched_until.clear()
        self._why.clear()
        self._next = 0
