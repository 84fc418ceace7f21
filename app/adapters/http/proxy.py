"""``/proxy/status`` and the ``POST /proxy/*`` controls; every answer is the new status."""

from collections.abc import Callable

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services
from app.application.proxy_service import ProxyRequestError

proxy_bp = Blueprint("proxy", __name__, url_prefix="/proxy")


def _body() -> dict:
    """The JSON object of the request, ``{}`` when there is no body."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProxyRequestError("the body must be a JSON object")
    unknown = sorted(set(body) - {"proxy", "proxies", "policy"})
    if unknown:
        raise ProxyRequestError(f"unknown field {unknown[0][:40]!r}")
    return body


def _status() -> ResponseReturnValue:
    http = services()
    return jsonify(http.proxy.status(http.health.processes()))


def _change(action: Callable[[], None]) -> ResponseReturnValue:
    """Make the change here, tell every process, and answer with the new status."""
    services().control.change(action)
    return _status()


@proxy_bp.get("/status")
def status() -> ResponseReturnValue:
    return _status()


@proxy_bp.post("/enable")
def enable() -> ResponseReturnValue:
    return _change(services().proxy.enable)


@proxy_bp.post("/disable")
def disable() -> ResponseReturnValue:
    return _change(services().proxy.disable)


@proxy_bp.post("/set-static")
def set_static() -> ResponseReturnValue:
    body = _body()
    return _change(lambda: services().proxy.set_static(body.get("proxy"), body.get("policy")))


@proxy_bp.post("/set-rotating")
def set_rotating() -> ResponseReturnValue:
    body = _body()
    return _change(lambda: services().proxy.set_rotating(body.get("proxies"), body.get("policy")))


@proxy_bp.post("/set-disabled")
def set_disabled() -> ResponseReturnValue:
    return _change(services().proxy.set_disabled)
