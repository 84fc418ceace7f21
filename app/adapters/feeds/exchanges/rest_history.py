"""What an exchange's public trade history over REST is made of, for the trades a stream missed (no API key).

Each exchange that has one names its ``ExchangeHistory`` on its protocol
class (``ExchangeProtocol.history``): the endpoint's documented base URL, how
far apart its requests go (``min_interval``, well inside the exchange's
request limits), and how one span of missed trades is asked for. Answers carry
the stream's own fields (price, size, time, id), which go through the same
validation as streamed trades; an answer of the wrong shape is a ``RestError``.
"""

from typing import ClassVar

from app.adapters.net.rest_client import RestClient, RestError
from app.domain.missed_trades import Missing, Recovery


class ExchangeHistory:
    """One exchange's history endpoint; implements the ``TradeHistory`` port."""

    default_base: ClassVar[str]
    min_interval: ClassVar[float]

    def __init__(self, exchange: str, client: RestClient) -> None:
        self._exchange = exchange
        self._client = client

    def recover(self, missing: Missing) -> Recovery:
        raise NotImplementedError


def rows_at(answer: object, *path: str) -> list[dict]:
    """The list of trade objects at ``path`` inside ``answer``; ``RestError`` if it is not there."""
    for key in path:
        answer = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(answer, list) or not all(isinstance(row, dict) for row in answer):
        raise RestError(f"no list of trades at {'.'.join(path) or 'the top'}")
    return answer


def row_field(row: dict, name: str) -> object:
    if name not in row:
        raise RestError(f"a trade without {name!r}")
    return row[name]


def as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RestError(f"not an integer: {value!r:.40}") from None
