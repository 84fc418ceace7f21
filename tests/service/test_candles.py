"""Candles over the real Redis and PostgreSQL, in-process, against brute force over the ticks fed: 1s, 1m
and 5m exact (stored minutes, recent buckets and the current candle), as JSON and CSV, across a restart in
the middle of a minute, and through a Redis outage.

The first scenario also runs through gunicorn (tests/e2e/test_candles_e2e.py)."""

import csv
import io
import json
import math
import random
import time
from collections.abc import Callable
from datetime import datetime

import gevent

from app.adapters.feeds.wire_line import encode_line
from app.domain.time_grid import MS_PER_MINUTE
from tests.support.net import LineExchange, wait_for
from tests.support.service import ServiceUnderTest
from tests.support.throwaway import RedisServer

Start = Callable[[dict], ServiceUnderTest]
Fed = tuple[str, float, int, float | None]  # exchange, price, ts, quantity
INTERVALS = {"1s": 1000, "1m": MS_PER_MINUTE, "5m": 5 * MS_PER_MINUTE}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def feed(exchanges: list[LineExchange], ticks: list[Fed]) -> None:
    """Each exchange's lines in list order: that is their arrival order."""
    for i, exchange in enumerate(exchanges, start=1):
        lines = [encode_line("BTCUSDT", p, ts, q) for name, p, ts, q in ticks if name == f"exchange{i}"]
        if lines:
            exchange.send(*lines)


def connected(service: ServiceUnderTest, exchanges: list[LineExchange]) -> None:
    for exchange in exchanges:
        exchange.wait_connected()
    wait_for(lambda: all(s["state"] == "connected" for s in service.get("/health")[1]["sources"]), message="up")


def settled(service: ServiceUnderTest, total: int, key: str = "cached") -> None:
    def done() -> bool:
        health = service.get("/health")[1]
        aggregator = health["aggregator"]
        return health["pipeline"][key] >= total and not aggregator["open_minutes"] + aggregator["unsent_batches"]

    wait_for(done, timeout=20, message=f"{total} ticks {key} and sealed")


def random_ticks(rng: random.Random, times: list[int]) -> list[Fed]:
    """exchange3 never has a quantity, like the exchange programs; the others sometimes do."""
    ticks = []
    for ts in times:
        exchange = f"exchange{rng.randrange(1, 4)}"
        quantity = None if exchange == "exchange3" else rng.choice([None, 0.5, 1.25, 2.0])
        ticks.append((exchange, rng.choice([100.0, 100.25, 101.0, 99.5]), ts, quantity))
    return ticks


def brute_force(ticks: list[Fed], interval: int, lo: int, hi: int, exchange: str | None) -> list[tuple]:
    """Candles with a start in ``[lo, hi)``: open/close by trade time, then exchange name, then arrival."""
    groups: dict[int, list[tuple[int, Fed]]] = {}
    for order, tick in enumerate(ticks):
        start = tick[2] - tick[2] % interval
        if lo <= start < hi and exchange in (None, tick[0]):
            groups.setdefault(start, []).append((order, tick))
    out = []
    for start, group in sorted(groups.items()):
        ordered = sorted(group, key=lambda item: (item[1][2], item[1][0], item[0]))
        prices = [t[1] for _, t in group]
        quantified = [t for _, t in group if t[3] is not None]
        volume = sum(t[3] for t in quantified) if quantified else None
        vwap = sum(t[1] * t[3] for t in quantified) / volume if quantified else None
        first, last = ordered[0][1][1], ordered[-1][1][1]
        out.append((start, first, max(prices), min(prices), last, len(group), volume, vwap))
    return out


def near(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))


def check(
    service: ServiceUnderTest, ticks: list[Fed], interval: str, exchange: str | None = None, query: str = ""
) -> dict:
    """The answer equals brute force over the ticks for the candle starts it says it covers."""
    path = f"/candles/{exchange}/BTCUSDT" if exchange else "/candles/BTCUSDT"
    status, body = service.get(f"{path}?interval={interval}{query}")
    assert status == 200, body
    assert (body["interval"], body["exchange"]) == (interval, exchange or "all")
    got = [
        (ms(c["time"]), c["open"], c["high"], c["low"], c["close"], c["count"], c["volume"], c["vwap"])
        for c in body["candles"]
    ]
    want = brute_force(ticks, INTERVALS[interval], ms(body["from"]), ms(body["to"]), exchange)
    assert [g[:6] for g in got] == [w[:6] for w in want], (interval, exchange, body)
    assert all(near(g[6], w[6]) and near(g[7], w[7]) for g, w in zip(got, want, strict=True)), (got, want)
    now = int(time.time() * 1000)
    assert all(c["closed"] for c in body["candles"] if ms(c["time"]) + INTERVALS[interval] <= now - 1000)
    return body


def check_all(service: ServiceUnderTest, ticks: list[Fed]) -> None:
    for interval in INTERVALS:
        assert "partial" not in check(service, ticks, interval), interval
        check(service, ticks, interval, "exchange1")
        check(service, ticks, interval, "exchange3")


def candles_are_exact_and_csv_says_the_same(
    make_config: Callable[..., dict], start: Start, exchanges: list[LineExchange]
) -> None:
    """Needs an empty ``market_data`` (the ``pg`` fixture): no stored minute of another test may count here."""
    service = start(make_config(aggregator={"checkpoint_seconds": 0.5}))
    connected(service, exchanges)
    rng = random.Random(14)
    now = int(time.time() * 1000)
    # Four minutes back: minutes stored in PostgreSQL, the one at the retention's edge (late ticks of it
    # too) and the later ones from the recent buckets, and the current one; equal milliseconds on purpose.
    times = [now - rng.randrange(240_000) for _ in range(500)]
    ticks = random_ticks(rng, [*times, *times[:40]])
    feed(exchanges, ticks)
    settled(service, len(ticks))
    check_all(service, ticks)
    stored = service.get("/candles/BTCUSDT?interval=1m")[1]
    assert len(stored["candles"]) >= 4
    assert any(c["volume"] is None for c in check(service, ticks, "1m", "exchange3")["candles"])
    # The same answer as CSV, by parameter and by Accept header.
    csv_answer = service.request("GET", "/candles/BTCUSDT?interval=1m", {"Accept": "text/csv"})
    assert (csv_answer.status, csv_answer.headers["Content-Type"].startswith("text/csv")) == (200, True)
    by_header = csv_answer.body.decode()
    assert service.request("GET", "/candles/BTCUSDT?interval=1m&format=csv").body.decode() == by_header
    rows = list(csv.DictReader(io.StringIO(by_header)))
    assert list(rows[0]) == ["time", "open", "high", "low", "close", "count", "volume", "vwap", "closed"]
    for row, candle in zip(rows, stored["candles"], strict=True):
        assert (row["time"], float(row["open"]), int(row["count"])) == (candle["time"], candle["open"], candle["count"])
        assert row["closed"] == ("true" if candle["closed"] else "false")
    # Explicit spans: ms and ISO, [from, to) on candle starts; limit bounds the intervals.
    first = ms(stored["candles"][0]["time"])
    span = check(service, ticks, "1m", query=f"&from={first}&to={first + 2 * MS_PER_MINUTE}")
    assert [ms(c["time"]) for c in span["candles"]] == [first, first + MS_PER_MINUTE]
    iso = stored["candles"][1]["time"].replace(".000Z", "Z")
    assert [c["time"] for c in check(service, ticks, "1m", query=f"&from={iso}&limit=1")["candles"]] == [
        stored["candles"][1]["time"]
    ]
    for bad in ("interval=7m", "interval=1w", "limit=5001", "limit=0", "from=yesterday", "from=5&to=5", "format=xml"):
        status, body = service.get(f"/candles/BTCUSDT?{bad}")
        assert (status, "error" in body) == (400, True), bad
    assert service.get("/candles/nowhere/BTCUSDT")[0] == 404


def test_1s_1m_and_5m_candles_are_exact_and_csv_says_the_same(
    make_config: Callable[..., dict], start_in_process: Start, exchanges: list[LineExchange], pg: object
) -> None:
    candles_are_exact_and_csv_says_the_same(make_config, start_in_process, exchanges)


def test_candles_stay_exact_across_a_restart_in_the_middle_of_a_minute(
    make_config: Callable[..., dict],
    start_in_process: Start,
    exchanges: list[LineExchange],
    pg,
) -> None:
    config = make_config(aggregator={"checkpoint_seconds": 0.5})
    rng = random.Random(15)
    now = int(time.time() * 1000)
    # Distinct times, so that no tie between the two processes' ticks is left to chance; the minute the
    # restart falls in gets ticks from both processes (at ``now`` and just after).
    pool = rng.sample(range(now - 200_000, now), 400)
    before = [*random_ticks(rng, pool[:250]), ("exchange1", 100.0, now, 1.0)]
    after = [*random_ticks(rng, pool[250:]), ("exchange1", 101.0, now + 1, 3.0)]
    first = start_in_process(config)
    connected(first, exchanges)
    feed(exchanges, before)
    settled(first, len(before))
    first.stop()  # the unfinished minute is sealed as a delta
    for exchange in exchanges:
        exchange.drop_clients()
    second = start_in_process(config)
    connected(second, exchanges)
    feed(exchanges, after)
    settled(second, len(after))
    check_all(second, [*before, *after])


def test_candles_through_a_redis_outage_come_from_memory_and_say_when_they_can_t_be_exact(
    own_redis: RedisServer,
    make_config: Callable[..., dict],
    start_in_process: Start,
    exchanges: list[LineExchange],
    pg,
) -> None:
    # Checkpoints every 0.5 s: the open minute's ticks are sealed (``settled``) within a second.
    config = make_config(redis={"url": own_redis.url, "retry_after": 0.3}, aggregator={"checkpoint_seconds": 0.5})
    service = start_in_process(config)
    connected(service, exchanges)
    up = int(time.time() * 1000) + 1000  # the process holds everything received from here on
    gevent.sleep(1.5)
    rng = random.Random(16)
    seen = random_ticks(rng, [int(time.time() * 1000) - rng.randrange(400) for _ in range(60)])
    feed(exchanges, seen)
    settled(service, len(seen))
    own_redis.kill()
    gevent.sleep(0.2)
    more = random_ticks(rng, [int(time.time() * 1000) - rng.randrange(100) for _ in range(40)])
    feed(exchanges, more)
    everything = [*seen, *more]
    settled(service, len(everything), key="ticks")
    lifetime = f"&from={up - up % 1000 + 1000}"
    # Seconds inside this process's lifetime: exact, from the in-process window.
    assert "partial" not in check(service, everything, "1s", query=lifetime)
    # Reaching back before the process started: the counts are right (nothing older was fed), but the
    # answer can't know that, and says so.
    for interval in ("1s", "1m", "5m"):
        body = check(service, everything, interval)
        assert body["partial"] is True
        assert "Redis is unavailable" in body["partial_reason"]
    own_redis.start()  # empty, on the same port
    wait_for(
        lambda: service.get("/health")[1]["pipeline"]["cache_consistent"],
        timeout=15,
        message="the window written back to the new Redis",
    )
    # Queries trust Redis again once their own breaker lets them try it.
    wait_for(
        lambda: "Redis lost its data" in check(service, everything, "1m").get("partial_reason", ""),
        message="answers from the new Redis, which says what it lost",
    )
    assert "partial" not in check(service, everything, "1s", query=lifetime)


def test_sums_and_vwaps_print_as_the_decimals_they_are_in_json_and_csv(
    make_config: Callable[..., dict], start_in_process: Start, exchanges: list[LineExchange], pg: object
) -> None:
    """Quantities and prices arrive as decimals: 0.1 + 0.2 + 0.3 is 0.6 to a trader, not 0.6000000000000001.
    Computed figures (volume, VWAP, average price) print to the digits a float sum of so few keeps (15
    significant), in a stored minute and in the current one alike."""
    service = start_in_process(make_config(aggregator={"checkpoint_seconds": 0.5}))
    connected(service, exchanges)
    now = int(time.time() * 1000)
    stored_minute = now - now % MS_PER_MINUTE - 3 * MS_PER_MINUTE  # past the 60 s retention: from PostgreSQL
    ticks = [
        ("exchange1", price, start + i, quantity)
        for start in (stored_minute, now - 900)
        for i, (price, quantity) in enumerate([(100.1, 0.1), (100.2, 0.2), (100.4, 0.3)])
    ]
    feed(exchanges, ticks)
    settled(service, len(ticks))
    json_answer = service.request("GET", "/candles/exchange1/BTCUSDT?interval=1m&limit=5").body.decode()
    shown = [(c["volume"], c["vwap"]) for c in json.loads(json_answer)["candles"]]
    assert shown == [(0.6, 100.283333333333), (0.6, 100.283333333333)]
    assert "0.6000000000000001" not in json_answer
    rows = list(
        csv.DictReader(
            io.StringIO(service.request("GET", "/candles/exchange1/BTCUSDT?limit=5&format=csv").body.decode())
        )
    )
    assert [(row["volume"], row["vwap"]) for row in rows] == [("0.6", "100.283333333333")] * 2
    average = service.get("/prices/average/exchange1/BTCUSDT?period=1m")[1]
    assert (average["count"], average["price"]) == (3, 100.233333333333)
