"""``GET /metrics`` (Prometheus text format) and the HTTP request metrics behind it.

The request counter and histogram are the answering worker's own, labelled
with it, unlike every other series (which any worker shows for every process
of its host, from their reports): clients decide how many of their series
there are (routes x methods x statuses), and a report is written every lease
poll and read by every process, so a client must not be able to make it large.
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


def instrument_requests(app: Flask, registry: CollectorRegistry, process: str) -> None:
    """Count and time every request by route template (never the raw path: that would be unbounded), labelled
    with the worker (``host:pid``) that answered, since a scrape reaches one worker of the host."""
    requests = Counter(
        "marketflow_http_requests",
        "HTTP requests by route and status",
        ["process", "route", "method", "status"],
        registry=registry,
    )
    seconds = Histogram(
        "marketflow_http_request_seconds",
        "HTTP request latency",
        ["process", "route", "method"],
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
        requests.labels(process, route, method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            seconds.labels(process, route, method).observe(time.perf_counter() - started)
        return response
