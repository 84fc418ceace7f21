"""/proxy/status from every process's heartbeat: the same answer on each worker, and no heartbeat can break it."""

from collections.abc import Sequence

from app.application.modes import ModeService
from app.application.ports.feeds import FeedSource
from app.application.process_report import ProcessReport
from app.application.proxy_routing import ProxyRouter
from app.application.proxy_service import ProxyService
from app.domain.proxy_endpoint import parse_proxy_url
from app.domain.proxy_settings import ProxySettings
from tests.support.fakes import ScriptedSource

A = parse_proxy_url("http://alice:pw@10.0.0.1:3128")
B = parse_proxy_url("socks5://10.0.0.2:1080")


class NoFeeds:
    def want(self, sources: Sequence[FeedSource]) -> None: ...

    def restart(self, names: Sequence[str] | None = None) -> None: ...


class NoDirectRoute:
    def __init__(self) -> None:
        self.probed: list[str] = []

    def probe_direct(self, source: str) -> bool:
        self.probed.append(source)
        return False


class Held:
    def __init__(self, *names: str) -> None:
        self.names = list(names)

    def held(self) -> list[str]:
        return self.names


def reports(*heartbeats: object) -> list[ProcessReport]:
    """Heartbeats as another process sent them, read back as this one reads them."""
    return [ProcessReport.from_json(heartbeat) for heartbeat in heartbeats]


def service(
    router: ProxyRouter | None = None, probe: NoDirectRoute | None = None, held: Held | None = None
) -> ProxyService:
    sources = {"test": [], "live": [ScriptedSource(name, []) for name in ("ex1", "ex2", "ex3")]}
    modes = ModeService(NoFeeds(), sources, "live")
    router = router or ProxyRouter(ProxySettings(True, "rotating", "fallback", [A, B], None, 60, 300))
    return ProxyService(router, modes, probe or NoDirectRoute(), held or Held())


def test_only_feeds_read_here_have_their_direct_route_probed() -> None:
    """A feed handed to another process keeps its last route in this router: probing it would connect to its
    exchange for a feed read elsewhere, every second once direct works."""
    router = ProxyRouter(ProxySettings(True, "rotating", "fallback", [A, B], None, 60, 0))
    for name in ("ex1", "ex2"):
        router.failed(name, None)
        router.succeeded(name, A)
    probe, held = NoDirectRoute(), Held("ex2")
    service(router, probe, held).retry_direct()
    assert probe.probed == ["ex2"]


def test_each_feed_shows_its_owners_route_and_failures_and_benches_add_up_over_processes() -> None:
    proxy = service()
    first = {"proxy": {"routes": {"ex1": "direct"}, "failures": {A.masked: 2}, "benched": [A.masked]}}
    second = {"proxy": {"routes": {"ex2": B.masked}, "failures": {A.masked: 1, B.masked: 4}, "benched": []}}
    status = proxy.status(reports(first, second))
    assert status["routes"] == {"ex1": "direct", "ex2": B.masked, "ex3": "none yet: no process reads it"}
    assert status["failures"] == {A.masked: 3, B.masked: 4}
    assert status["benched"] == [A.masked]
    assert status["proxies"] == [A.masked, B.masked]  # never a password


def test_heartbeats_of_the_wrong_shape_are_left_out() -> None:
    proxy = service()
    odd = [
        {"proxy": {"routes": {"ex1": 5, "ex2": "direct"}, "failures": {A.masked: True, B.masked: -1}, "benched": 3}},
        {"proxy": {"routes": ["ex3"], "failures": "many", "benched": "abc"}},
        {"proxy": [1]},
        {"proxy": {"failures": {A.masked: 2}, "benched": [B.masked, 7]}},
        {},
    ]
    status = proxy.status(reports(*odd))
    assert status["routes"] == {
        "ex1": "none yet: no process reads it",
        "ex2": "direct",
        "ex3": "none yet: no process reads it",
    }
    assert status["failures"] == {A.masked: 2}
    assert status["benched"] == [B.masked]
