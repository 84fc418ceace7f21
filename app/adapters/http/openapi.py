"""``GET /openapi.json``: an OpenAPI 3 description of every endpoint and response.

The schemathesis fuzzer in the test suite checks the live service against it,
so it stays true.
"""

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from app.application.pair_catalogue import MAX_PAGE
from app.domain.pair_state import PAIR_STATES

openapi_bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "An error, e.g. a malformed request or an unknown symbol")
# Every control request (README and docs/design.md, "Security"): the admin token, loopback, the origin, a JSON body.
CONTROL_ERRORS = {
    "401": _json(_ref("Error"), "An admin token is set and the request lacks Authorization: Bearer <token>"),
    "403": _json(_ref("Error"), "A cross-site request, or no admin token is set and the peer is not loopback"),
    "415": _json(_ref("Error"), "A body that is not application/json"),
}
STRING = {"type": "string"}
NUMBER = {"type": "number"}
TIMESTAMP = {"type": "string", "format": "date-time", "example": "2026-11-21T10:15:30.123Z"}
SYMBOL = {"name": "symbol", "in": "path", "required": True, "schema": STRING, "example": "BTCUSDT"}
EXCHANGE = {"name": "exchange", "in": "path", "required": True, "schema": STRING, "example": "exchange1"}
PERIOD = {
    "name": "period",
    "in": "query",
    "required": False,
    "description": "A whole number of s, m, h or d, up to 366 days; default 1m",
    "schema": {"type": "string", "pattern": "^[0-9]{1,9}[smhd]$", "default": "1m", "example": "30s"},
}
WINDOW_FIELDS = {
    "symbol": STRING,
    "period": STRING,
    "from": {**TIMESTAMP, "description": "the first instant the answer accounts for"},
    "to": {**TIMESTAMP, "description": "the last instant the answer accounts for (now)"},
    "partial": {"type": "boolean", "description": "present and true when the answer is not exact"},
    "partial_reason": {**STRING, "description": "why the answer is not exact"},
}


def _prices(kind: str, answer: str, with_exchange: bool) -> dict:
    parameters = [EXCHANGE, SYMBOL] if with_exchange else [SYMBOL]
    if kind != "latest":
        parameters = [*parameters, PERIOD]
    scope = "on that exchange" if with_exchange else "across the current mode's exchanges"
    return {
        "get": {
            "summary": f"{kind.capitalize()} price of a symbol {scope}",
            "parameters": parameters,
            "responses": {
                "200": _json(_ref(answer), "The answer"),
                "400": ERROR,
                "404": _json(_ref("Error"), "Unknown symbol or exchange, or no ticks in the window"),
                "default": ERROR,
            },
        }
    }


NULLABLE_NUMBER = {"type": "number", "nullable": True}
CANDLES_CSV_EXAMPLE = "time,open,high,low,close,count,volume,vwap,closed\n2026-11-21T10:15:00.000Z,1,2,0.5,1.5,4,,,true"
CANDLE_PARAMETERS = [
    {
        "name": "interval",
        "in": "query",
        "required": False,
        "description": "1s to 1d: a whole number of s, m, h or d that divides a day evenly (1s, 5s, 15s, 1m, 5m,"
        " 15m, 1h, 4h, 1d, ...); default 1m",
        "schema": {"type": "string", "pattern": "^[0-9]{1,9}[smhd]$", "default": "1m", "example": "5m"},
    },
    {
        "name": "from",
        "in": "query",
        "required": False,
        "description": "candles starting at or after this: Unix ms or ISO 8601 with a zone",
        "schema": {**STRING, "example": "2026-11-21T10:00:00Z"},
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": "candles starting before this (default: now, the current candle included)",
        "schema": {**STRING, "example": "1763719200000"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "at most this many intervals, default 500; without from, the last ones before to",
        "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "csv for CSV (as Accept: text/csv does); default json",
        "schema": {"type": "string", "enum": ["json", "csv"]},
    },
]


def _candles(with_exchange: bool) -> dict:
    scope = "on that exchange" if with_exchange else "across the current mode's exchanges"
    return {
        "get": {
            "summary": f"Candles of a symbol {scope}, oldest first (intervals without a trade are left out)",
            "parameters": [*([EXCHANGE, SYMBOL] if with_exchange else [SYMBOL]), *CANDLE_PARAMETERS],
            "responses": {
                "200": {
                    "description": "The candles",
                    "content": {
                        "application/json": {"schema": _ref("Candles")},
                        "text/csv": {"schema": {"type": "string", "example": CANDLES_CSV_EXAMPLE}},
                    },
                },
                "400": _json(_ref("Error"), "A malformed interval, from, to, limit or format, or from not before to"),
                "404": _json(_ref("Error"), "Unknown symbol or exchange"),
                "default": ERROR,
            },
        }
    }


def _proxy_post(summary: str, body: dict | None) -> dict:
    operation: dict = {
        "summary": summary,
        "responses": {
            "200": _json(_ref("ProxyStatus"), "The new proxy status"),
            "400": ERROR,
            "409": _json(_ref("Error"), "Not allowed in test mode"),
            "413": ERROR,
            **CONTROL_ERRORS,
            "default": ERROR,
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return {"post": operation}


POLICY = {"type": "string", "enum": ["fallback", "only"]}

SPEC: dict = {
    "openapi": "3.0.3",
    "info": {
        "title": "marketflow",
        "version": "0.1.0",
        "description": "Real-time cryptocurrency prices: latest, highest, lowest and average over any period,"
        " and candles.",
    },
    "paths": {
        **{
            f"/prices/{kind}/{{symbol}}": _prices(kind, answer, False)
            for kind, answer in (
                ("latest", "Latest"),
                ("highest", "Extreme"),
                ("lowest", "Extreme"),
                ("average", "Average"),
            )
        },
        **{
            f"/prices/{kind}/{{exchange}}/{{symbol}}": _prices(kind, answer, True)
            for kind, answer in (
                ("latest", "Latest"),
                ("highest", "Extreme"),
                ("lowest", "Extreme"),
                ("average", "Average"),
            )
        },
        "/candles/{symbol}": _candles(False),
        "/candles/{exchange}/{symbol}": _candles(True),
        "/symbols": {
            "get": {
                "summary": "The pairs the feeds follow and where each stands, by exchange then symbol",
                "parameters": [
                    {"name": "exchange", "in": "query", "required": False, "schema": STRING, "example": "binance"},
                    {
                        "name": "q",
                        "in": "query",
                        "required": False,
                        "description": "a part of the symbol",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{0,40}$", "example": "BTC"},
                    },
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(PAIR_STATES)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 100},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Symbols"), "A page of pairs, and how many match"),
                    "400": _json(_ref("Error"), "A malformed filter or page"),
                    "404": _json(_ref("Error"), "An unknown exchange"),
                    "default": ERROR,
                },
            }
        },
        "/mode": {"get": {"summary": "The current mode", "responses": {"200": _json(_ref("Mode"), "The mode")}}},
        "/mode/{mode}": {
            "post": {
                "summary": "Switch to test or live mode (repeating a switch changes nothing)",
                "parameters": [{"name": "mode", "in": "path", "required": True, "schema": STRING, "example": "live"}],
                "responses": {
                    "200": _json(_ref("ModeSwitch"), "The mode now"),
                    "400": _json(_ref("Error"), "A body other than none or {}"),
                    "404": _json(_ref("Error"), "Unknown mode"),
                    **CONTROL_ERRORS,
                    "default": ERROR,
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Overall state, dependencies, sources, queues",
                "responses": {
                    "200": _json(_ref("Health"), "ok or degraded"),
                    "503": _json(_ref("Health"), "down: the pipeline is not running"),
                },
            }
        },
        "/proxy/status": {
            "get": {"summary": "Proxy settings and routes", "responses": {"200": _json(_ref("ProxyStatus"), "Status")}}
        },
        "/proxy/enable": _proxy_post("Turn the proxy on with the current settings", None),
        "/proxy/disable": _proxy_post("Turn the proxy off, keeping the settings", None),
        "/proxy/set-static": _proxy_post(
            "Use one proxy",
            {"type": "object", "properties": {"proxy": STRING, "policy": POLICY}, "additionalProperties": False},
        ),
        "/proxy/set-rotating": _proxy_post(
            "Rotate over a list of proxies",
            {
                "type": "object",
                "properties": {"proxies": {"type": "array", "items": STRING}, "policy": POLICY},
                "additionalProperties": False,
            },
        ),
        "/proxy/set-disabled": _proxy_post("Turn the proxy off and clear its settings", None),
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
        "/": {
            "get": {
                "summary": "The live dashboard",
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
            }
        },
        "/ws/prices": {
            "get": {
                "summary": "WebSocket stream of every processed tick (filters: symbols, exchanges)",
                "parameters": [
                    {"name": "symbols", "in": "query", "required": False, "schema": STRING, "example": "BTCUSDT"},
                    {"name": "exchanges", "in": "query", "required": False, "schema": STRING},
                ],
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol"},
                    "400": _json(_ref("Error"), "Not a WebSocket upgrade request, or a malformed handshake"),
                    "403": _json(_ref("Error"), "An Origin that is neither this service's nor allowed"),
                    "426": _json(_ref("Error"), "A Sec-WebSocket-Version other than 13"),
                    "default": ERROR,
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": STRING}},
            "Latest": {
                "type": "object",
                "required": ["symbol", "exchange", "price", "timestamp"],
                "properties": {"symbol": STRING, "exchange": STRING, "price": NUMBER, "timestamp": TIMESTAMP},
            },
            "Extreme": {
                "type": "object",
                "required": ["symbol", "exchange", "price", "timestamp", "period"],
                "properties": {**WINDOW_FIELDS, "exchange": STRING, "price": NUMBER, "timestamp": TIMESTAMP},
            },
            "Average": {
                "type": "object",
                "required": ["symbol", "exchange", "price", "count", "period"],
                "properties": {
                    **WINDOW_FIELDS,
                    "exchange": {"type": "string", "description": "the exchange, or all"},
                    "price": NUMBER,
                    "count": {"type": "integer", "minimum": 1},
                },
            },
            "Candles": {
                "type": "object",
                "required": ["symbol", "exchange", "interval", "from", "to", "candles"],
                "properties": {
                    "symbol": STRING,
                    "exchange": {"type": "string", "description": "the exchange, or all"},
                    "interval": STRING,
                    "from": {**TIMESTAMP, "description": "the first candle start accounted for"},
                    "to": {**TIMESTAMP, "description": "candle starts accounted for are before this"},
                    "candles": {"type": "array", "items": _ref("Candle")},
                    "partial": WINDOW_FIELDS["partial"],
                    "partial_reason": WINDOW_FIELDS["partial_reason"],
                },
            },
            "Candle": {
                "type": "object",
                "required": ["time", "open", "high", "low", "close", "count", "volume", "vwap", "closed"],
                "properties": {
                    "time": {**TIMESTAMP, "description": "the candle's UTC start"},
                    "open": NULLABLE_NUMBER,
                    "high": NUMBER,
                    "low": NUMBER,
                    "close": NULLABLE_NUMBER,
                    "count": {"type": "integer", "minimum": 1},
                    "volume": {
                        **NULLABLE_NUMBER,
                        "description": "sum of the quantities (its real digits), null when no trade had one",
                    },
                    "vwap": {
                        **NULLABLE_NUMBER,
                        "description": "volume-weighted average price (its real digits), null without volume",
                    },
                    "closed": {"type": "boolean", "description": "false for the current candle"},
                },
            },
            "Symbols": {
                "type": "object",
                "required": ["total", "symbols"],
                "properties": {
                    "total": {"type": "integer"},
                    "symbols": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["exchange", "symbol", "state", "since", "detail", "last_tick_at", "ticks"],
                            "properties": {
                                "exchange": STRING,
                                "symbol": STRING,
                                "state": {"type": "string", "enum": list(PAIR_STATES)},
                                "since": {**TIMESTAMP, "description": "when the pair took this state"},
                                "detail": {
                                    **STRING,
                                    "description": "why, where there is more to say: a refusal in the exchange's words",
                                },
                                "last_tick_at": {**TIMESTAMP, "nullable": True},
                                "ticks": {"type": "integer"},
                            },
                        },
                    },
                    "partial": {"type": "boolean"},
                    "partial_reason": STRING,
                },
            },
            "Mode": {
                "type": "object",
                "required": ["mode", "exchanges"],
                "properties": {"mode": {"type": "string", "enum": ["test", "live"]}, "exchanges": {"type": "array"}},
            },
            "ModeSwitch": {
                "type": "object",
                "required": ["mode", "changed", "exchanges"],
                "properties": {
                    "mode": {"type": "string", "enum": ["test", "live"]},
                    "changed": {"type": "boolean"},
                    "exchanges": {"type": "array", "items": STRING},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status", "mode", "redis", "postgres", "sources", "pipeline", "aggregator"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded", "down"]},
                    "mode": STRING,
                    "redis": {"type": "object"},
                    "postgres": {"type": "object"},
                    "sources": {"type": "array", "items": {"type": "object"}},
                    "pipeline": {"type": "object"},
                    "aggregator": {"type": "object"},
                },
            },
            "ProxyStatus": {
                "type": "object",
                "required": ["enabled", "mode", "policy", "proxies", "routes", "failures", "benched"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "mode": {"type": "string", "enum": ["static", "rotating", "disabled"]},
                    "policy": POLICY,
                    "proxies": {"type": "array", "items": STRING},
                    "static": {"type": "string", "nullable": True},
                    "routes": {"type": "object", "additionalProperties": STRING},
                    "failures": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "benched": {"type": "array", "items": STRING},
                },
            },
        }
    },
}


@openapi_bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(SPEC)
