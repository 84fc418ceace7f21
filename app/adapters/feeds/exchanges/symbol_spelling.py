"""Our symbols (``BTCUSDT``) in an exchange's spelling and back: ``BTC-USDT`` (OKX, Coinbase), ``BTC/USDT`` (Kraken).

Binance and Bybit spell pairs as we do. The quote currency is told by its
name, from a list of known quotes: our symbols don't mark where the base
currency ends.
"""

from collections.abc import Mapping
from dataclasses import dataclass

QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC", "ETH")


@dataclass(frozen=True)
class PairSpelling:
    """An exchange's way of writing a pair: base and quote currency with ``separator`` between them."""

    separator: str

    def theirs(self, symbol: str) -> str:
        """BTCUSDT -> BTC-USDT, splitting off the longest known quote currency (a symbol without one stays as it is)."""
        for quote in QUOTES:
            if symbol.endswith(quote) and len(symbol) > len(quote):
                return f"{symbol[: -len(quote)]}{self.separator}{quote}"
        return symbol

    def ours(self, symbol: object) -> object:
        """BTC-USDT -> BTCUSDT; anything but text is handed on as it is, for validation to refuse."""
        return symbol.replace(self.separator, "") if isinstance(symbol, str) else symbol


class PairNames:
    """Our symbols in one exchange's spelling: as its listing wrote them where it did, else derived.

    ``listed`` is read at each call, so a listing that keeps it current (``ExchangeListing.spellings``) spells
    the pairs it learns for everyone holding it; ``spelling`` None writes a pair as we do.
    """

    def __init__(self, listed: Mapping[str, str], spelling: PairSpelling | None) -> None:
        self._listed = listed
        self._spelling = spelling

    def theirs(self, symbol: str) -> str:
        spelled = self._listed.get(symbol)
        if spelled is not None:
            return spelled
        return symbol if self._spelling is None else self._spelling.theirs(symbol)


DASHED = PairSpelling("-")
SLASHED = PairSpelling("/")
