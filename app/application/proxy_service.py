"""Steering the proxy at runtime: what /proxy/* does.

Every change takes effect on live connections at once: the live sources
reconnect and the router decides their new route. Test mode never uses a
proxy: switching to it turns the proxy off (keeping the settings), and
turning it on in test mode is refused.
"""

import logging
from collections.abc import Sequence
from typing import Protocol

import gevent

from app.application.modes import ModeService
from app.application.owned_loop import OwnedLoop
from app.application.ports.feeds import HeldFeeds
from app.application.process_report import ProcessReport, ProxyRuntime
from app.application.proxy_routing import ProxyRouter
from app.domain.errors import DomainError
from app.domain.proxy_endpoint import parse_proxy_url
from app.domain.secrets import Scrub, mask_secrets

log = logging.getLogger(__name__)

POLICIES = ("fallback", "only")
DIRECT_RETRY_INTERVAL = 1.0


class ProxyConflict(DomainError):
    """The request is valid but not in the current state (the proxy in test mode)."""


class ProxyRequestError(DomainError):
    """A request that makes no sense, e.g. static mode with no proxy."""


class DirectProbe(Protocol):
    def probe_direct(self, source: str) -> bool:
        """Can ``source`` reach its exchange directly now, on a connection of its own?"""
        ...


class ProxyService:
    """Hears every mode switch (a ``ModeListener``, connected by the composition root). ``feeds``: those read
    here, the only ones whose direct route this process probes. ``scrub`` hides every secret from the
    connection errors a route without a connection shows (a ``SecretScrubber``)."""

    def __init__(
        self,
        router: ProxyRouter,
        modes: ModeService,
        probe: DirectProbe,
        feeds: HeldFeeds,
        scrub: Scrub = mask_secrets,
    ) -> None:
        self._router = router
        self._probe = probe
        self._feeds = feeds
        self._scrub = scrub
        self._settings = router.settings
        self._modes = modes
        self._direct_retries = OwnedLoop(self._retry_direct_forever)

    def start(self) -> None:
        """Under ``fallback``, look once a second for feeds on a proxy that may go direct again."""
        self._direct_retries.start()

    def stop(self) -> None:
        self._direct_retries.stop()

    def runtime(self, held: Sequence[str]) -> ProxyRuntime:
        """What this process's router knows, for its report: the routes of the feeds it reads, and its
        proxies' failures and benches."""
        router = self._router
        return ProxyRuntime(
            routes={name: router.route_name(name) for name in held},
            failures={p.masked: n for p, n in router.failures.items()},
            benched=tuple(p.masked for p in router.benched()),
        )

    def status(self, processes: Sequence[ProcessReport]) -> dict[str, object]:
        """Alike on every worker: the shared settings, each feed's route as its owner reports it, and the
        failures and benches of every process."""
        settings = self._settings
        routes: dict[str, str] = {}
        failures: dict[str, int] = {}
        benched: set[str] = set()
        for process in processes:
            routes.update(process.proxy.routes)
            for proxy, count in process.proxy.failures.items():
                failures[proxy] = failures.get(proxy, 0) + count
            benched.update(process.proxy.benched)
        live = self._modes.feeds("live") if self._modes.mode == "live" else []
        return {
            "enabled": self._router.active,
            "mode": settings.mode,
            "policy": settings.policy,
            "proxies": [p.masked for p in settings.proxies],
            "static": settings.static.masked if settings.static else None,
            "routes": {name: self._scrub(routes.get(name, "none yet: no process reads it")) for name in live},
            "failures": dict(sorted(failures.items())),
            "benched": sorted(benched),
        }

    def shared(self) -> dict[str, object]:
        """The settings every process must agree on, as plain values (the shared control state)."""
        settings = self._settings
        return {
            "enabled": settings.enabled,
            "mode": settings.mode,
            "policy": settings.policy,
            "proxies": [p.url for p in settings.proxies],
            "static": settings.static.url if settings.static else None,
        }

    def adopt(self, shared: dict[str, object]) -> None:
        """Take settings another process changed (see ``shared``); reconnects only if anything differs."""
        if shared == self.shared():
            return
        settings = self._settings
        settings.enabled, settings.mode, settings.policy = bool(shared["enabled"]), shared["mode"], shared["policy"]
        settings.proxies[:] = [parse_proxy_url(url) for url in shared["proxies"]]
        settings.static = parse_proxy_url(shared["static"]) if shared["static"] else None
        self._apply("shared")

    def enable(self) -> None:
        self._refuse_in_test_mode()
        if self._settings.mode == "disabled" or not self._settings.proxies:
            raise ProxyRequestError("no proxy is configured: use /proxy/set-static or /proxy/set-rotating")
        self._settings.enabled = True
        self._apply("enabled")

    def disable(self) -> None:
        self._settings.enabled = False
        self._apply("disabled")

    # Each request is checked whole before anything changes: a refused one leaves the settings as they were.

    def set_static(self, proxy: str | None, policy: str | None) -> None:
        self._refuse_in_test_mode()
        settings = self._settings
        chosen = parse_proxy_url(proxy) if proxy is not None else settings.static or next(iter(settings.proxies), None)
        if chosen is None:
            raise ProxyRequestError('static mode needs a proxy: none is configured, give one as {"proxy": url}')
        settings.policy = _policy(policy, settings.policy)
        if chosen not in settings.proxies:
            settings.proxies.append(chosen)
        settings.mode, settings.static, settings.enabled = "static", chosen, True
        self._apply("static")

    def set_rotating(self, proxies: list[str] | None, policy: str | None) -> None:
        self._refuse_in_test_mode()
        settings = self._settings
        if proxies is not None and not isinstance(proxies, list):
            raise ProxyRequestError('"proxies" must be a list of proxy URLs')
        chosen = settings.proxies if proxies is None else [parse_proxy_url(url) for url in proxies]
        if not chosen:
            raise ProxyRequestError('rotating mode needs at least one proxy: give them as {"proxies": [url, ...]}')
        settings.policy = _policy(policy, settings.policy)
        settings.proxies[:] = chosen
        settings.mode, settings.enabled = "rotating", True
        if settings.static not in settings.proxies:
            settings.static = None
        self._apply("rotating")

    def set_disabled(self) -> None:
        settings = self._settings
        settings.mode, settings.enabled, settings.static = "disabled", False, None
        settings.proxies.clear()
        self._apply("cleared")

    def _retry_direct_forever(self) -> None:
        """Move sources on a proxy back to direct once a probe shows direct works.

        The probe is a connection of its own: the proxied one keeps carrying
        data until then, however long direct stays blocked.
        """
        while True:
            gevent.sleep(DIRECT_RETRY_INTERVAL)
            self.retry_direct()

    def retry_direct(self) -> None:
        """Probe direct for each feed read here that is on a proxy and due; reconnect those it works for.

        A feed handed to another process keeps its last route in this router: probing it would open a
        connection to its exchange (every second, once direct works) for a feed this process no longer reads.
        """
        held = set(self._feeds.held())
        for source in self._router.due_for_direct():
            if source in held and self._probe.probe_direct(source):
                log.info("direct route works again: reconnecting", extra={"exchange": source})
                self._modes.restart([source])

    def _refuse_in_test_mode(self) -> None:
        if self._modes.mode == "test":
            raise ProxyConflict("test mode never uses a proxy: switch to live mode first (POST /mode/live)")

    def _apply(self, what: str) -> None:
        self._router.reset()
        log.info("proxy settings changed", extra={"change": what, "mode": self._settings.mode})
        self._modes.restart()

    def mode_switched(self, mode: str) -> None:
        if mode == "test" and self._settings.enabled:
            self._settings.enabled = False
            self._router.reset()
            log.info("proxy turned off for test mode")


def _policy(given: str | None, current: str) -> str:
    if given is None:
        return current
    if given not in POLICIES:
        raise ProxyRequestError(f"policy must be one of {', '.join(POLICIES)}, got {str(given)[:40]!r}")
    return given
