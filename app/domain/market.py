"""Which symbols and exchanges exist, and how user spellings map onto them."""

from collections.abc import Iterable

from app.domain.errors import UnknownExchange, UnknownSymbol


class Market:
    """The universe queries are checked against: the configured symbols and exchanges, and every pair a feed has
    followed since (``learn``: a listing adds to it, and a delisting never takes away, as its stored minutes stay).

    Exchange and symbol names are matched case-insensitively because users
    type them by hand; the canonical spelling is the configured one.
    """

    def __init__(self, symbols: Iterable[str], exchanges: Iterable[str]) -> None:
        self._symbols = {s.upper() for s in symbols}
        self.exchanges = tuple(exchanges)

    def learn(self, symbols: Iterable[str]) -> None:
        self._symbols.update(symbols)

    def symbol(self, text: str) -> str:
        candidate = text.strip().upper()
        if candidate not in self._symbols:
            raise UnknownSymbol(f"unknown symbol {text[:40]!r}")
        return candidate

    def exchange(self, text: str) -> str:
        wanted = text.strip().lower()
        for name in self.exchanges:
            if name.lower() == wanted:
                return name
        raise UnknownExchange(f"unknown exchange {text[:40]!r}")
