"""``GET /symbols``: every pair the feeds follow, where each stands, searchable and paged."""

import re

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services
from app.application.pair_catalogue import InvalidSymbolsRequest
from app.domain.iso_instant import iso_ms

symbols_bp = Blueprint("symbols", __name__)

DEFAULT_LIMIT = 100
_NUMBER = re.compile(r"[0-9]{1,9}")
_SEARCH = re.compile(r"[A-Za-z0-9]{0,40}")


def _count(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not _NUMBER.fullmatch(text):
        raise InvalidSymbolsRequest(f"invalid {name} {text[:40]!r}: digits only, a whole number from 0")
    return int(text)


@symbols_bp.get("/symbols")
def symbols() -> ResponseReturnValue:
    q = request.args.get("q", "")
    if not _SEARCH.fullmatch(q):
        raise InvalidSymbolsRequest(f"invalid q {q[:40]!r}: up to 40 letters and digits")
    page = services().catalogue.page(
        request.args.get("exchange") or None,
        q,
        request.args.get("state") or None,
        _count("limit", DEFAULT_LIMIT),
        _count("offset", 0),
    )
    body: dict[str, object] = {
        "total": page.total,
        "symbols": [
            {
                "exchange": row.exchange,
                "symbol": row.symbol,
                "state": row.state.state,
                "since": iso_ms(row.state.since_ms),
                "detail": row.state.detail,
                "last_tick_at": None if row.last_tick_ms is None else iso_ms(row.last_tick_ms),
                "ticks": row.ticks,
            }
            for row in page.rows
        ],
    }
    if page.partial:
        body.update(partial=True, partial_reason=page.partial)
    return jsonify(body)
