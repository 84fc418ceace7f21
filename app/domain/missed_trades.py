"""Trades a stream missed: where it stood, the span missing, what history gave back, and what is lost."""

from dataclasses import dataclass

from app.domain.tick import RawTrade, minute_start


@dataclass(frozen=True, slots=True)
class TradeGap:
    """Trades lost strictly between ``from_ms`` and ``to_ms`` (exchange time).

    ``lost`` is how many, when the exchange's ids are sequential and say so; None when nobody can tell.
    """

    exchange: str
    symbol: str
    from_ms: int
    to_ms: int
    lost: int | None

    def overlaps(self, from_ms: int, to_ms: int) -> bool:
        """Whether a window ``from_ms <= ts <= to_ms`` reaches into the gap."""
        return from_ms < self.to_ms and self.from_ms < to_ms

    def touches_minute(self, minute_ms: int) -> bool:
        """Whether the minute starting at ``minute_ms`` holds part of the gap (so its row may be short)."""
        return minute_start(self.from_ms) <= minute_ms <= minute_start(self.to_ms)


@dataclass(frozen=True, slots=True)
class TradeMark:
    """A trade seen on a stream: where the stream stood."""

    trade_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Missing:
    """The trades of one symbol that came between two seen trades (both excluded) and were not seen."""

    symbol: str
    after: TradeMark
    before: TradeMark


@dataclass(frozen=True)
class Recovery:
    """What an exchange's history gave back for a ``Missing``: trades oldest first, and what it no longer has."""

    trades: list[RawTrade]
    lost: TradeGap | None
