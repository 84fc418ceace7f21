"""Prometheus metrics: what the service is doing, in the text format at /metrics."""
