"""Synthetic trades: a random walk per symbol with random quantities, emitted as exchange-program lines.

Skewed as a real market is: the symbol ranked k-th in the list trades 1/k as
often as the first (Zipf), so a few pairs carry most trades and the long tail
trades rarely, at ``rate_per_symbol`` per symbol on average.

Test mode uses it as a source; ``flask marketflow simulate`` serves it over
TCP in place of the exchange programs. Either way the lines go through the
very decoder and validation live data goes through.
"""

import itertools
import math
import random
import time

import gevent

from app.adapters.feeds.wire_line import decode_line, encode_line
from app.application.ports.feeds import Emit
from app.application.source_status import SourceStatus
from app.domain.pair_state import LIVE
from app.domain.time_grid import seconds_to_ms

# Rough late-2026 levels; an unknown symbol starts at 100.
START_PRICES = {"BTCUSDT": 96_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 180.0, "TONUSDT": 5.5, "DOGEUSDT": 0.38}
# Per-tick volatility of the log price: about 0.02 %.
SIGMA = 0.0002
TICK_INTERVAL = 0.02
# Trades of about this much quote currency on average, so volumes look like a real book's.
QUANTITY_SCALE = 500.0


def _decimals(price: float) -> int:
    """Quote precision like a real book: cents for BTC, 5-6 decimals for DOGE."""
    return max(2, 4 - math.floor(math.log10(price)))


class RandomWalk:
    """Lines at ``rate_per_symbol`` per symbol per second on average, the k-th symbol 1/k as often as the first."""

    def __init__(self, symbols: list[str], rate_per_symbol: float, seed: int | None = None) -> None:
        self._symbols = symbols
        self._rate = rate_per_symbol * len(symbols)
        self._weights = list(itertools.accumulate(1 / rank for rank in range(1, len(symbols) + 1)))
        self._random = random.Random(seed)
        skew = 1 + self._random.uniform(-0.001, 0.001)  # each venue trades a little apart
        self._prices = {s: START_PRICES.get(s, 100.0) * skew for s in symbols}
        self._owed = 0.0

    def lines_due(self, elapsed: float) -> list[bytes]:
        """The lines owed for ``elapsed`` seconds (at most one second's worth: no bursts after a stall)."""
        self._owed += self._rate * min(elapsed, 1.0)
        due = int(self._owed)
        self._owed -= due
        ts_ms = seconds_to_ms(time.time())
        lines = []
        for symbol in self._random.choices(self._symbols, cum_weights=self._weights, k=due):
            price = self._prices[symbol] * math.exp(self._random.gauss(0.0, SIGMA))
            self._prices[symbol] = price
            quantity = round(self._random.expovariate(1.0) * QUANTITY_SCALE / price, 6) or 1e-6
            lines.append(encode_line(symbol, round(price, _decimals(price)), ts_ms, quantity))
        return lines

    def run(self, send: Emit) -> None:
        """Call ``send`` with the lines due every ``TICK_INTERVAL``, forever."""
        last = time.monotonic()
        while True:
            gevent.sleep(TICK_INTERVAL)
            now = time.monotonic()
            lines = self.lines_due(now - last)
            last = now
            if lines:
                send(lines)


class SyntheticSource:
    """One feed of a synthetic exchange: ``name`` is the feed (the exchange, or a shard of it holding ``symbols``)."""

    decode = staticmethod(decode_line)

    def __init__(
        self, name: str, exchange: str, symbols: list[str], rate_per_symbol: float, seed: int | None = None
    ) -> None:
        self.name, self.exchange = name, exchange
        self.symbols = frozenset(symbols)
        self._walk = RandomWalk(symbols, rate_per_symbol, seed)

    def run(self, emit: Emit, status: SourceStatus) -> None:
        status.connected(time.time())
        status.pairs(self.symbols, LIVE)
        self._walk.run(emit)
