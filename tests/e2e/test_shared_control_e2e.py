"""Mode and proxy settings shared by every process: a change through one is seen on all, and survives restarts.

Two masters of one worker each, as two hosts, so which process answers is
known. The proxy is one nothing listens on, with the fallback policy: the
feeds go direct, and what is checked is the settings every process shows.
"""

import time
from collections.abc import Callable

from tests.support.net import free_port, wait_for
from tests.support.service import Service, Starter
from tests.support.throwaway import RedisServer


def seen_within_a_second(service: Service, path: str, check: Callable[[dict], bool]) -> None:
    wait_for(lambda: check(service.get(path)[1]), timeout=1.5, message=f"{path} on {service.port}")


def test_mode_and_proxy_changes_reach_every_process_and_survive_a_restart_with_or_without_redis(
    make_config: Callable[..., dict], start_service: Starter[Service]
) -> None:
    cache = RedisServer().start()
    # Leases of 4 s, as in tests/e2e/test_scale_out_e2e.py: the two hosts share the feeds stably on a busy machine.
    config = make_config(
        redis={"url": cache.url, "socket_timeout": 0.3, "retry_after": 0.5}, leases={"ttl_seconds": 4.0}
    )
    proxy = f"http://127.0.0.1:{free_port()}"
    first, second = start_service.together(config, config)
    try:
        status, body = first.post("/proxy/set-static", {"proxy": proxy, "policy": "fallback"})
        assert (status, body["enabled"], body["static"]) == (200, True, proxy)
        seen_within_a_second(
            second,
            "/proxy/status",
            lambda p: (p["enabled"], p["mode"], p["static"], p["policy"]) == (True, "static", proxy, "fallback"),
        )
        # The whole status alike on both: each feed's route as its owner reports it (the feeds are split
        # between the two processes), the failures and benches of both.
        direct = {f"exchange{i}": "direct" for i in (1, 2, 3)}
        wait_for(
            lambda: (
                first.get("/proxy/status")[1] == second.get("/proxy/status")[1]
                and first.get("/proxy/status")[1]["routes"] == direct
            ),
            timeout=5,
            message="one proxy status on both processes",
        )

        assert second.post("/mode/test")[0] == 200
        seen_within_a_second(first, "/mode", lambda m: m["mode"] == "test")
        # Test mode turns the proxy off everywhere and keeps its settings.
        seen_within_a_second(first, "/proxy/status", lambda p: (p["enabled"], p["static"]) == (False, proxy))

        for _ in range(5):  # quick switches through alternate processes: the last one wins everywhere
            assert first.post("/mode/live")[0] == 200
            assert second.post("/mode/test")[0] == 200
        assert first.post("/mode/live")[0] == 200
        for service in (first, second):
            seen_within_a_second(service, "/mode", lambda m: m["mode"] == "live")
        time.sleep(1.0)  # and it stays so: no late echo undoes it
        assert [s.get("/mode")[1]["mode"] for s in (first, second)] == ["live", "live"]
        assert first.post("/proxy/enable")[0] == 200
        seen_within_a_second(second, "/proxy/status", lambda p: p["enabled"] is True)
    finally:
        first.stop()
        second.stop()

    restarted = start_service(make_config(mode="test", redis=config["redis"]))
    try:  # from Redis: the configuration says test and no proxy
        assert restarted.get("/mode")[1]["mode"] == "live"
        assert restarted.get("/proxy/status")[1]["static"] == proxy
    finally:
        restarted.stop()

    cache.kill()
    without_redis = start_service(make_config(mode="test", redis=config["redis"]))
    try:  # from this host's copy beside the spool
        assert without_redis.get("/mode")[1]["mode"] == "live"
        assert without_redis.get("/proxy/status")[1]["static"] == proxy
    finally:
        without_redis.stop()
