"""A span of one (exchange, symbol)'s trades that was missed and could not be recovered."""

from dataclasses import dataclass

from app.domain.tick import minute_start


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
