"""Which symbols and exchanges exist, and how user spellings map onto them."""

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.errors import UnknownExchange, UnknownSymbol


@dataclass(frozen=True)
class Market:
    """The configured universe: queries and feeds are checked against it.

    Exchange and symbol names are matched case-insensitively because users
    type them by hand; the canonical spelling is the configured one.
    """

    symbols: tuple[str, ...]
    exchanges: tuple[str, ...]

    @classmethod
    def of(cls, symbols: Iterable[str], exchanges: Iterable[str]) -> "Market":
        return cls(tuple(s.upper() for s in symbols), tuple(exchanges))

    def symbol(self, text: str) -> str:
        candidate = text.strip().upper()
        if candidate not in self.symbols:
            raise UnknownSymbol(f"unknown symbol {text[:40]!r}")
        return candidate

    def exchange(self, text: str) -> str:
        wanted = text.strip().lower()
        for name in self.exchanges:
            if name.lower() == wanted:
                return name
        raise UnknownExchange(f"unknown exchange {text[:40]!r}")
