"""``/prices/{latest,highest,lowest,average}/[exchange/]symbol``."""

from collections.abc import Callable

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services
from app.application.price_queries import WindowAnswer
from app.domain.figures import shown
from app.domain.iso_instant import iso_ms
from app.domain.period import parse_period
from app.domain.stats import PriceStats

prices_bp = Blueprint("prices", __name__, url_prefix="/prices")

DEFAULT_PERIOD = "1m"


def _window(symbol: str, exchange: str | None) -> WindowAnswer:
    period = parse_period(request.args.get("period", DEFAULT_PERIOD))
    return services().queries.window(symbol, exchange, period)


def _window_fields(answer: WindowAnswer) -> dict[str, object]:
    fields: dict[str, object] = {
        "symbol": answer.symbol,
        "period": answer.period.text,
        "from": iso_ms(answer.from_ms),
        "to": iso_ms(answer.to_ms),
    }
    if answer.partial:
        fields["partial"] = True
        fields["partial_reason"] = "; ".join(answer.partial)
    return fields


PickExtreme = Callable[[PriceStats], tuple[str, float, int]]
"""Picks one extreme of a window's stats: ``(exchange, price, ts_ms)`` where and when it was seen."""


def _extreme(symbol: str, exchange: str | None, pick: PickExtreme) -> ResponseReturnValue:
    """One view for both extremes: highest and lowest differ only in which one ``pick`` takes."""
    answer = _window(symbol, exchange)
    seen_on, price, ts_ms = pick(answer.stats)
    return jsonify(exchange=seen_on, price=price, timestamp=iso_ms(ts_ms), **_window_fields(answer))


@prices_bp.get("/latest/<symbol>")
@prices_bp.get("/latest/<exchange>/<symbol>")
def latest(symbol: str, exchange: str | None = None) -> ResponseReturnValue:
    canonical, price = services().queries.latest(symbol, exchange)
    return jsonify(symbol=canonical, exchange=price.exchange, price=price.price, timestamp=iso_ms(price.ts_ms))


@prices_bp.get("/highest/<symbol>")
@prices_bp.get("/highest/<exchange>/<symbol>")
def highest(symbol: str, exchange: str | None = None) -> ResponseReturnValue:
    return _extreme(symbol, exchange, lambda stats: (stats.high_exchange, stats.high, stats.high_ts))


@prices_bp.get("/lowest/<symbol>")
@prices_bp.get("/lowest/<exchange>/<symbol>")
def lowest(symbol: str, exchange: str | None = None) -> ResponseReturnValue:
    return _extreme(symbol, exchange, lambda stats: (stats.low_exchange, stats.low, stats.low_ts))


@prices_bp.get("/average/<symbol>")
@prices_bp.get("/average/<exchange>/<symbol>")
def average(symbol: str, exchange: str | None = None) -> ResponseReturnValue:
    answer = _window(symbol, exchange)
    return jsonify(
        exchange=answer.exchanges[0] if exchange else "all",
        price=shown(answer.stats.mean, answer.stats.count),  # a mean: as the decimal it is, not its binary noise
        count=answer.stats.count,
        **_window_fields(answer),
    )
