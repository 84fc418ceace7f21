"""The listing keeps the exchange's spelling of every pair it named, in the one mapping the trade history reads."""

from app.adapters.feeds.exchanges import EXCHANGES
from app.adapters.feeds.exchanges.base import Listed
from app.adapters.feeds.websocket.listing import ExchangeListing


class Okx(EXCHANGES["okx"]):  # type: ignore[misc, valid-type]
    """OKX whose listing is given, one answer per fetch."""

    answers: list[list[Listed]] = []

    @classmethod
    def listing(cls, client: object) -> list[Listed]:
        return cls.answers.pop(0)


def test_the_history_asks_for_a_pair_as_the_listing_spelled_it_once_listed_and_after_delisting() -> None:
    now = [0.0]
    listing = ExchangeListing(Okx, None, 60.0, lambda: now[0])  # type: ignore[arg-type]
    names = Okx.names(listing.spellings)
    Okx.answers = [[Listed("BTCTRY", "BTC-TRY", "TRY", True)], [Listed("ETHTRY", "ETH-TRY", "TRY", True)]]
    assert names.theirs("BTCTRY") == "BTCTRY"  # before any listing: the spelling rule's guess (no known quote)
    listing.pairs()
    assert names.theirs("BTCTRY") == "BTC-TRY"
    now[0] = 60.0
    listing.pairs()
    # A delisted pair's trades may still be missing from before it went: its spelling stays.
    assert (names.theirs("BTCTRY"), names.theirs("ETHTRY"), names.theirs("SOLUSDT")) == (
        "BTC-TRY",
        "ETH-TRY",
        "SOL-USDT",
    )
