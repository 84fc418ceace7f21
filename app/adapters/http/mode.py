"""``GET /mode`` and ``POST /mode/{test,live}``."""

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.errors import error_response
from app.adapters.http.services import services
from app.application.modes import MODES

mode_bp = Blueprint("mode", __name__, url_prefix="/mode")


@mode_bp.get("")
def current() -> ResponseReturnValue:
    modes = services().modes
    return jsonify(mode=modes.mode, exchanges=modes.exchanges())


@mode_bp.post("/<mode>")
def switch(mode: str) -> ResponseReturnValue:
    if mode not in MODES:
        return error_response(f"unknown mode {mode[:40]!r}: use one of {', '.join(MODES)}", 404)
    if request.get_data().strip() and request.get_json(silent=True) != {}:  # meant for another request: nothing done
        return error_response("a mode switch takes no body (or {})", 400)
    modes = services().modes
    changed = services().control.change(lambda: modes.switch(mode))
    return jsonify(mode=modes.mode, changed=changed, exchanges=modes.exchanges())
