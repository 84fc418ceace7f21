import pytest

from app.application.proxy_routing import DIRECT, ProxyRouter
from app.domain.proxy_endpoint import InvalidProxy, parse_proxy_url
from app.domain.proxy_settings import ProxySettings
from tests.support.fakes import Clock

A = parse_proxy_url("http://alice:pw@10.0.0.1:3128")
B = parse_proxy_url("socks5://10.0.0.2:1080")
C = parse_proxy_url("socks5://bob:x%40y@10.0.0.3:1080")


def router(mode: str = "rotating", policy: str = "fallback", enabled: bool = True) -> tuple[ProxyRouter, Clock]:
    clock = Clock(1000.0)
    settings = ProxySettings(enabled, mode, policy, [A, B, C], A if mode == "static" else None, 60, 300)
    return ProxyRouter(settings, clock), clock


def test_parse_and_mask() -> None:
    assert (A.scheme, A.host, A.port, A.username, A.password) == ("http", "10.0.0.1", 3128, "alice", "pw")
    assert A.masked == "http://alice:***@10.0.0.1:3128"
    assert C.password == "x@y"
    assert C.masked == "socks5://bob:***@10.0.0.3:1080"
    assert B.masked == "socks5://10.0.0.2:1080"
    assert "pw" not in repr(A)
    assert "pw" not in str(A)


@pytest.mark.parametrize("url", ["ftp://h:1", "http://h", "socks5://:1080", "http://h:99999", "h:1", "http://h:1/x", 5])
def test_bad_proxy_urls(url: object) -> None:
    with pytest.raises(InvalidProxy):
        parse_proxy_url(url)


def test_disabled_is_always_direct() -> None:
    r, _ = router(enabled=False)
    assert r.routes("binance") == [DIRECT]


def test_rotation_starts_each_connection_at_the_next_proxy() -> None:
    r, _ = router(policy="only")
    assert r.routes("x") == [A, B, C]
    assert r.routes("x") == [B, C, A]
    assert r.routes("y") == [C, A, B]


def test_a_failed_proxy_is_benched_then_comes_back() -> None:
    r, clock = router(policy="only")
    r.failed("x", A)
    assert r.routes("x") == [B, C]
    assert r.failures == {A: 1}
    assert r.benched() == [A]
    clock.now += 60
    assert A in r.routes("x")


def test_proxy_only_never_offers_direct_even_when_all_are_benched() -> None:
    r, _ = router(policy="only")
    for proxy in (A, B, C):
        r.failed("x", proxy)
    assert r.routes("x") == []


def test_static_uses_the_chosen_proxy_whatever_its_failures() -> None:
    r, _ = router(mode="static", policy="only")
    r.failed("x", A)
    assert r.routes("x") == [A]
    assert r.routes("x") == [A]


def test_fallback_goes_direct_first_then_proxies_and_retries_direct_later() -> None:
    r, clock = router(mode="static")
    assert r.routes("binance") == [DIRECT, A]
    r.failed("binance", DIRECT)
    r.succeeded("binance", A)
    assert r.current("binance") == A
    assert r.routes("binance") == [A, DIRECT]
    assert r.due_for_direct() == []
    clock.now += 300
    assert r.due_for_direct() == ["binance"]
    assert r.routes("binance") == [DIRECT, A]
    r.succeeded("binance", DIRECT)
    assert r.due_for_direct() == []


def test_reset_forgets_routes_and_benches() -> None:
    r, _ = router(policy="only")
    r.failed("x", A)
    r.succeeded("x", B)
    r.reset()
    assert r.current("x") is DIRECT
    assert r.routes("x") == [A, B, C]


def test_with_every_proxy_benched_the_attempt_says_why_each_failed() -> None:
    r, _ = router(policy="only")
    r.failed("x", A, "http://alice:***@10.0.0.1:3128: ProxyRefused: proxy refused CONNECT: 'HTTP/1.1 407'")
    r.failed("x", B)
    r.failed("x", C, "socks5://bob:***@10.0.0.3:1080: ConnectionRefusedError")
    assert r.routes("x") == []
    assert r.no_route() == (
        "proxy only, and every proxy is benched after failing: "
        "http://alice:***@10.0.0.1:3128: ProxyRefused: proxy refused CONNECT: 'HTTP/1.1 407'; "
        "socks5://10.0.0.2:1080; socks5://bob:***@10.0.0.3:1080: ConnectionRefusedError"
    )


def test_the_proxy_that_carried_a_feed_is_known_until_it_is_benched() -> None:
    r, _ = router(policy="only")
    assert r.carried("x") is None
    r.succeeded("x", B)
    assert r.carried("x") == B
    r.failed("y", B)
    assert r.carried("x") is None
    r.succeeded("x", None)
    assert r.carried("x") is None
