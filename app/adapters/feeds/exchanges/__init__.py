"""The real exchanges, one module each: its WebSocket protocol (endpoint, subscribe, acks, keep-alive, trades)
and, where we use one, its REST trade history.

``REGISTERED`` is the one list of them: adding an exchange is its module plus its class there. A WebSocket
source's ``kind`` in the config is one of ``EXCHANGE_KINDS``.
"""

from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.adapters.feeds.exchanges.binance import BinanceProtocol
from app.adapters.feeds.exchanges.bybit import BybitProtocol
from app.adapters.feeds.exchanges.coinbase import CoinbaseProtocol
from app.adapters.feeds.exchanges.kraken import KrakenProtocol
from app.adapters.feeds.exchanges.okx import OkxProtocol

REGISTERED: tuple[type[ExchangeProtocol], ...] = (
    BinanceProtocol,
    BybitProtocol,
    OkxProtocol,
    CoinbaseProtocol,
    KrakenProtocol,
)
# By their own ``kind``, the ``kind`` of a WebSocket source in the config.
EXCHANGES: dict[str, type[ExchangeProtocol]] = {exchange.kind: exchange for exchange in REGISTERED}
EXCHANGE_KINDS: tuple[str, ...] = tuple(EXCHANGES)
