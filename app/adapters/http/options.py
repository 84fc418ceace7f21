"""``OPTIONS`` on any route: the allowed methods as JSON (and in ``Allow``), like every other answer.

Flask's automatic answer is an empty ``text/html`` body. No CORS headers are
sent, so a browser on another origin still can't make a JSON or
authenticated request here.
"""

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue


def register_options(app: Flask) -> None:
    @app.before_request
    def answer_options() -> ResponseReturnValue | None:
        if request.method != "OPTIONS" or request.routing_exception is not None:
            return None
        methods = sorted(current_app.url_map.bind_to_environ(request.environ).allowed_methods())
        response = jsonify(methods=methods)
        response.headers["Allow"] = ", ".join(methods)
        return response
