"""The real exchanges' WebSocket protocols: endpoint, subscribe, acks, keep-alive, trades."""

from app.adapters.feeds.exchanges.base import ExchangeProtocol
from app.adapters.feeds.exchanges.binance import BinanceProtocol
from app.adapters.feeds.exchanges.bybit import BybitProtocol
from app.adapters.feeds.exchanges.coinbase import CoinbaseProtocol
from app.adapters.feeds.exchanges.kraken import KrakenProtocol
from app.adapters.feeds.exchanges.okx import OkxProtocol

PROTOCOLS: dict[str, type[ExchangeProtocol]] = {
    "binance": BinanceProtocol,
    "bybit": BybitProtocol,
    "okx": OkxProtocol,
    "coinbase": CoinbaseProtocol,
    "kraken": KrakenProtocol,
}
