"""Candles through a real gunicorn: the exact JSON and CSV answers of tests/service/test_candles.py over
real HTTP (content negotiation by header and by parameter included)."""

from collections.abc import Callable

from tests.service.test_candles import candles_are_exact_and_csv_says_the_same
from tests.support.net import LineExchange
from tests.support.service import Service


def test_1s_1m_and_5m_candles_are_exact_and_csv_says_the_same(
    make_config: Callable[..., dict],
    start_service: Callable[[dict], Service],
    exchanges: list[LineExchange],
    pg: object,
) -> None:
    candles_are_exact_and_csv_says_the_same(make_config, start_service, exchanges)
