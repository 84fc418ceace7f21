"""What an exchange's public trade history over REST is made of, for the trades a stream missed (no API key).

Each exchange that has one names its ``ExchangeHistory`` on its protocol
class (``ExchangeProtocol.history``): how one span of missed trades is asked
for, over the exchange's REST client (its documented base, and requests far
enough apart to stay well inside its limits). Answers carry
the stream's own fields (price, size, time, id), which go through the same
validation as streamed trades; an answer of the wrong shape is a ``RestError``.
A history that pages by trade id (Binance forward, OKX back) reads a span
through ``Pages``, so each keeps the same bound on its requests and ends a
span on an empty page alike.
"""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from app.adapters.feeds.exchanges.symbol_spelling import PairNames
from app.adapters.net.rest_client import RestClient
from app.domain.missed_trades import Missing, Recovery

Cursor = TypeVar("Cursor")


class ExchangeHistory:
    """One exchange's history endpoint, over the exchange's REST client (``ExchangeProtocol.rest_client``:
    its base and pacing); implements the ``TradeHistory`` port."""

    def __init__(self, exchange: str, client: RestClient, names: PairNames) -> None:
        self._exchange = exchange
        self._client = client
        self._names = names

    def recover(self, missing: Missing) -> Recovery:
        raise NotImplementedError


class Pages(Generic[Cursor]):
    """The pages of one span of a history that pages by cursor (a trade id), at most ``max_pages`` of them: a
    long span costs a bounded number of requests, and the caller counts what lies past them as lost.

    ``fetch(cursor)`` asks for the page at ``cursor`` (an empty one ends the span, and so does ``fetch``
    answering one without asking, when nothing is left); ``after(page)`` is the cursor of the page after it.
    ``cursor`` is the page's own while the caller reads it, and after the last one where a next would begin.
    """

    def __init__(
        self,
        fetch: Callable[[Cursor], list[dict]],
        first: Cursor,
        after: Callable[[list[dict]], Cursor],
        max_pages: int,
    ) -> None:
        self.cursor = first
        self._fetch = fetch
        self._after = after
        self._max_pages = max_pages

    def __iter__(self) -> Iterator[list[dict]]:
        for _ in range(self._max_pages):
            page = self._fetch(self.cursor)
            if not page:
                return
            yield page
            self.cursor = self._after(page)
