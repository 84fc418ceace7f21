"""``GET /metrics`` (Prometheus text format) and the HTTP request metrics behind it.

The request counter and histogram are this worker's own, kept in a registry
/metrics never serves: the worker's report carries them (``LocalFamilies``),
and /metrics exports them from every process's report of the host, as it
does the rest, so whichever worker answers a scrape shows every worker's
requests, each under its ``process``.
"""

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from app.adapters.http.services import services

metrics_bp = Blueprint("metrics", __name__)

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@metrics_bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(services().registry), mimetype=CONTENT_TYPE_LATEST)


def instrument_requests(app: Flask, registry: CollectorRegistry) -> None:
    """Count and time every request by route template (never the raw path: that would be unbounded) in
    ``registry``, this worker's own (its report names the worker)."""
    requests = Counter(
        "marketflow_http_requests",
        "HTTP requests by route and status",
        ["route", "method", "status"],
        registry=registry,
    )
    seconds = Histogram(
        "marketflow_http_request_seconds",
        "HTTP request latency",
        ["route", "method"],
        buckets=HTTP_BUCKETS,
        registry=registry,
    )

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in {"GET", "POST", "HEAD", "OPTIONS"} else "other"
        requests.labels(route, method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            seconds.labels(route, method).observe(time.perf_counter() - started)
        return response
