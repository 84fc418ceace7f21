"""A known tick stream and what PostgreSQL must hold for it afterwards."""

import fcntl
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from app.adapters.feeds.wire_line import encode_line
from app.domain.tick import minute_start
from app.domain.time_grid import MS_PER_MINUTE

RECORD = Path(__file__).resolve().parents[2] / "artifacts" / "fault-record.json"


@dataclass(frozen=True)
class PlannedTick:
    symbol: str
    price: float
    ts_ms: int

    @property
    def line(self) -> bytes:
        return encode_line(self.symbol, self.price, self.ts_ms)


def plan(count: int, minutes: int = 3, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> list[PlannedTick]:
    """``count`` ticks spread over the last ``minutes`` closed minutes (inside the raw window)."""
    first = minute_start(int(time.time() * 1000)) - minutes * MS_PER_MINUTE
    span = minutes * MS_PER_MINUTE
    ticks = []
    for i in range(count):
        symbol = symbols[i % len(symbols)]
        base = 96_000.0 if symbol == "BTCUSDT" else 3_500.0
        ticks.append(PlannedTick(symbol, round(base + ((i * 37) % 101) / 4, 2), first + (i * 7919) % span))
    return ticks


def expected_rows(ticks: list[PlannedTick], exchange: str) -> dict[tuple, tuple]:
    groups: dict[tuple, list[float]] = {}
    for tick in ticks:
        groups.setdefault((tick.symbol, exchange, minute_start(tick.ts_ms)), []).append(tick.price)
    return {key: (len(p), min(p), max(p), math.fsum(p) / len(p)) for key, p in groups.items()}


def stored_rows(dsn: str) -> dict[tuple, tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pair_name, exchange, (extract(epoch FROM timestamp) * 1000)::bigint, sample_count,"
            " min_price, max_price, average_price FROM market_data"
        )
        rows = cur.fetchall()
    conn.close()
    return {(s, e, m): (n, lo, hi, avg) for s, e, m, n, lo, hi, avg in rows}


def rows_match(expected: dict[tuple, tuple], stored: dict[tuple, tuple]) -> bool:
    """Same keys (no gap, no extra row), exact count/min/max, mean to 1e-12 (merged in float)."""
    if expected.keys() != stored.keys():
        return False
    for key, (n, lo, hi, mean) in expected.items():
        got = stored[key]
        if got[:3] != (n, lo, hi) or not math.isclose(got[3], mean, rel_tol=1e-12):
            return False
    return True


def record(fault: str, **figures: object) -> None:
    """Append one scenario's figures to artifacts/fault-record.json (the README's table).

    Under a lock: scenarios running at once in other pytest-xdist workers write the same file.
    """
    RECORD.parent.mkdir(exist_ok=True)
    with RECORD.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = json.loads(RECORD.read_text()) if RECORD.exists() else {}
        runs[fault] = figures
        RECORD.write_text(json.dumps(runs, indent=2) + "\n")
