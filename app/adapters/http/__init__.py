"""The REST API: one blueprint per resource, JSON everywhere."""

from flask import Flask

from app.adapters.http.access import register_access
from app.adapters.http.candles import candles_bp
from app.adapters.http.dashboard import dashboard_bp
from app.adapters.http.errors import register_error_handlers
from app.adapters.http.health import health_bp
from app.adapters.http.metrics import metrics_bp
from app.adapters.http.mode import mode_bp
from app.adapters.http.openapi import openapi_bp
from app.adapters.http.options import register_options
from app.adapters.http.prices import prices_bp
from app.adapters.http.proxy import proxy_bp
from app.adapters.http.request_log import register_request_log
from app.adapters.http.stream import stream_bp
from app.adapters.http.symbols import symbols_bp


def register_http(app: Flask) -> None:
    for blueprint in (
        dashboard_bp,
        prices_bp,
        candles_bp,
        symbols_bp,
        mode_bp,
        proxy_bp,
        health_bp,
        stream_bp,
        metrics_bp,
        openapi_bp,
    ):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    register_request_log(app)
    register_options(app)
    register_access(app)
