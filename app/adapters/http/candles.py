"""``/candles/[exchange/]symbol``: candles as JSON, or as CSV (``Accept: text/csv`` or ``?format=csv``)."""

from collections.abc import Iterator

import gevent
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services
from app.application.candle_queries import CandleAnswer
from app.domain.candles import DEFAULT_LIMIT, Candle, InvalidCandleRequest, parse_instant, parse_interval, parse_limit
from app.domain.figures import shown
from app.domain.iso_instant import iso_ms

candles_bp = Blueprint("candles", __name__, url_prefix="/candles")

DEFAULT_INTERVAL = "1m"
CSV_HEADER = "time,open,high,low,close,count,volume,vwap,closed"
FORMATS = ("json", "csv")
# Building rows is plain Python: let other greenlets in between chunks of a 5,000-candle answer.
CHUNK = 1000


def _fields(candle: Candle) -> dict[str, object]:
    """One candle as JSON and CSV show it: the sums and ratios (volume, VWAP) as the decimals they are."""
    return {
        "time": iso_ms(candle.start_ms),
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "count": candle.count,
        "volume": shown(candle.volume, candle.count),
        "vwap": shown(candle.vwap, candle.count),
        "closed": candle.closed,
    }


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _csv_lines(answer: CandleAnswer) -> Iterator[str]:
    yield CSV_HEADER + "\n"
    for i, candle in enumerate(answer.candles, start=1):
        yield ",".join(_csv_value(value) for value in _fields(candle).values()) + "\n"
        if i % CHUNK == 0:
            gevent.sleep(0)


def _wants_csv() -> bool:
    chosen = request.args.get("format")
    if chosen is not None:
        if chosen not in FORMATS:
            raise InvalidCandleRequest(f"invalid format {chosen[:40]!r}: json or csv")
        return chosen == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def _instant(name: str) -> int | None:
    text = request.args.get(name)
    return None if text is None else parse_instant(text, name)


@candles_bp.get("/<symbol>")
@candles_bp.get("/<exchange>/<symbol>")
def candles(symbol: str, exchange: str | None = None) -> ResponseReturnValue:
    args = request.args
    interval = parse_interval(args.get("interval", DEFAULT_INTERVAL))
    from_ms, to_ms = _instant("from"), _instant("to")
    limit = parse_limit(args["limit"]) if "limit" in args else DEFAULT_LIMIT
    csv = _wants_csv()
    answer = services().candles.candles(symbol, exchange, interval, from_ms, to_ms, limit)
    reason = "; ".join(answer.partial)
    if csv:
        response = Response("".join(_csv_lines(answer)), mimetype="text/csv")
        if reason:
            response.headers["X-Partial-Reason"] = reason
        return response
    rows = []
    for i, candle in enumerate(answer.candles, start=1):
        rows.append(_fields(candle))
        if i % CHUNK == 0:
            gevent.sleep(0)
    body: dict[str, object] = {
        "symbol": answer.symbol,
        "exchange": answer.exchanges[0] if exchange else "all",
        "interval": answer.interval.text,
        "from": iso_ms(answer.from_ms),
        "to": iso_ms(answer.to_ms),
        "candles": rows,
    }
    if reason:
        body["partial"] = True
        body["partial_reason"] = reason
    return jsonify(body)
