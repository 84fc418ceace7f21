"""Every error leaves as ``{"error": "..."}`` with a 4xx code; never a traceback."""

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from app.application.price_queries import NoData
from app.application.proxy_service import ProxyConflict
from app.domain.errors import DomainError, UnknownExchange, UnknownSymbol

log = logging.getLogger(__name__)

# Any other domain error is a bad request (400).
_STATUS = {UnknownSymbol: 404, UnknownExchange: 404, NoData: 404, ProxyConflict: 409}


def error_response(message: str, status: int) -> ResponseReturnValue:
    return jsonify(error=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> ResponseReturnValue:
        return error_response(str(exc), _STATUS.get(type(exc), 400))

    @app.errorhandler(WebsocketMismatch)
    def websocket_mismatch(exc: WebsocketMismatch) -> ResponseReturnValue:
        return error_response(
            "/ws/prices speaks only WebSocket (Upgrade: websocket, Connection: Upgrade); every other route, "
            "only plain HTTP",
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        response = jsonify(error=f"{exc.name}: {exc.description}" if exc.description else exc.name)
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers[name] = value
        return response, exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return error_response("internal error", 500)
