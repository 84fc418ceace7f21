"""What an exchange's public trade history over REST is made of, for the trades a stream missed (no API key).

Each exchange that has one names its ``ExchangeHistory`` on its protocol
class (``ExchangeProtocol.history``): how one span of missed trades is asked
for, over the exchange's REST client (its documented base, and requests far
enough apart to stay well inside its limits). Answers carry
the stream's own fields (price, size, time, id), which go through the same
validation as streamed trades; an answer of the wrong shape is a ``RestError``.
"""

from app.adapters.net.rest_client import RestClient
from app.domain.missed_trades import Missing, Recovery


class ExchangeHistory:
    """One exchange's history endpoint, over the exchange's REST client (``ExchangeProtocol.rest_client``:
    its base and pacing); implements the ``TradeHistory`` port."""

    def __init__(self, exchange: str, client: RestClient) -> None:
        self._exchange = exchange
        self._client = client

    def recover(self, missing: Missing) -> Recovery:
        raise NotImplementedError
