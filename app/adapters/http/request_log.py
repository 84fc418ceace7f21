"""A request id on every request, echoed in ``X-Request-ID`` and in every log line."""

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from app.domain.time_grid import MS_PER_SECOND

log = logging.getLogger("marketflow.http")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def register_request_log(app: Flask) -> None:
    @app.before_request
    def assign_id() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path[:200],
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.started) * MS_PER_SECOND, 3),
                },
            )
        return response
